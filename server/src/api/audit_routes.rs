//! `GET /audit` (admin): the trail, newest first.

use axum::extract::{Query, State};
use axum::Json;
use decnet_common::dto::AuditPage;
use serde::Deserialize;

use super::extract::Admin;
use crate::error::{ApiError, ApiResult};
use crate::state::AppState;

#[derive(Deserialize)]
pub struct Page {
    limit: Option<u64>,
    offset: Option<u64>,
}

pub async fn list(
    State(state): State<AppState>,
    _: Admin,
    q: Result<Query<Page>, axum::extract::rejection::QueryRejection>,
) -> ApiResult<Json<AuditPage>> {
    let Query(q) = q.map_err(|e| ApiError::unprocessable(format!("Invalid query: {e}")))?;
    let limit = q.limit.unwrap_or(100);
    if !(1..=500).contains(&limit) {
        return Err(ApiError::unprocessable("limit must be between 1 and 500"));
    }
    let offset = q.offset.unwrap_or(0);
    let (items, total) = state.core.audit.list(limit, offset).await?;
    Ok(Json(AuditPage {
        items,
        total,
        limit,
        offset,
    }))
}
