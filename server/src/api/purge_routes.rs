//! Purging captured data: `DELETE /config/reinit` (everything, one transaction, as DECNET)
//! and the scoped `POST /purge/preview` and `POST /purge` (the latter needs the admin's
//! password again).

use axum::extract::State;
use axum::Json;
use decnet_common::dto::PurgeResponse;
use serde_json::Value;

use super::extract::{Admin, ApiJson};
use crate::error::{ApiError, ApiResult};
use crate::purge::{self, PurgeScope};
use crate::state::AppState;

pub async fn reinit(State(state): State<AppState>, _: Admin) -> ApiResult<Json<PurgeResponse>> {
    let deleted = state.core.captured.purge_all().await?;
    Ok(Json(PurgeResponse {
        message: "Data purged".into(),
        deleted,
    }))
}

pub async fn preview(
    State(state): State<AppState>,
    _: Admin,
    ApiJson(scope): ApiJson<PurgeScope>,
) -> ApiResult<Json<PurgeResponse>> {
    let deleted = purge::preview(&state.core.db, &scope).await?;
    Ok(Json(PurgeResponse {
        message: "Preview".into(),
        deleted,
    }))
}

/// `{scope..., password}`: the scope's own fields plus the admin's password.
pub async fn purge(
    State(state): State<AppState>,
    Admin(p): Admin,
    ApiJson(mut body): ApiJson<serde_json::Map<String, Value>>,
) -> ApiResult<Json<PurgeResponse>> {
    let password = match body.remove("password") {
        Some(Value::String(s)) => s,
        _ => {
            return Err(ApiError::unprocessable(
                "password (string) is required to purge",
            ))
        }
    };
    let scope: PurgeScope = serde_json::from_value(Value::Object(body))
        .map_err(|e| ApiError::unprocessable(format!("Invalid purge scope: {e}")))?;
    state.core.auth.confirm_password(&p, &password).await?;
    let deleted = purge::purge(&state.core.db, &scope).await?;
    tracing::info!(by = %p.username, ?scope, ?deleted, "captured data purged");
    Ok(Json(PurgeResponse {
        message: "Data purged".into(),
        deleted,
    }))
}
