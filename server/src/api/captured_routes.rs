//! `/logs`, `/credentials`, `/attackers`, `/bounties`: captured data, paginated, newest first.

use axum::extract::{RawQuery, State};
use axum::Json;
use decnet_common::dto::{AttackerDto, BountyDto, CapturedPage, CredentialDto, LogDto};

use super::extract::Viewer;
use crate::captured::{parse_query, Table};
use crate::error::ApiResult;
use crate::state::AppState;

pub async fn logs(
    State(state): State<AppState>,
    _: Viewer,
    RawQuery(q): RawQuery,
) -> ApiResult<Json<CapturedPage<LogDto>>> {
    let (filter, page) = parse_query(Table::Logs, q.as_deref())?;
    Ok(Json(state.core.captured.logs(&filter, &page).await?))
}

pub async fn credentials(
    State(state): State<AppState>,
    _: Viewer,
    RawQuery(q): RawQuery,
) -> ApiResult<Json<CapturedPage<CredentialDto>>> {
    let (filter, page) = parse_query(Table::Credentials, q.as_deref())?;
    Ok(Json(state.core.captured.credentials(&filter, &page).await?))
}

pub async fn attackers(
    State(state): State<AppState>,
    _: Viewer,
    RawQuery(q): RawQuery,
) -> ApiResult<Json<CapturedPage<AttackerDto>>> {
    let (filter, page) = parse_query(Table::Attackers, q.as_deref())?;
    Ok(Json(state.core.captured.attackers(&filter, &page).await?))
}

pub async fn bounties(
    State(state): State<AppState>,
    _: Viewer,
    RawQuery(q): RawQuery,
) -> ApiResult<Json<CapturedPage<BountyDto>>> {
    let (filter, page) = parse_query(Table::Bounties, q.as_deref())?;
    Ok(Json(state.core.captured.bounties(&filter, &page).await?))
}
