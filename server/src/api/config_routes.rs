//! `/config/*`: settings and user administration.

use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::IntoResponse;
use axum::Json;
use decnet_common::dto::{
    ConfigResponse, CreateUserRequest, MessageResponse, ResetPasswordRequest, RoleRequest,
};
use serde::Deserialize;

use super::extract::{Admin, ApiJson, Viewer};
use crate::error::ApiResult;
use crate::settings;
use crate::state::AppState;

fn message(m: &str) -> Json<MessageResponse> {
    Json(MessageResponse { message: m.into() })
}

pub async fn get_config(
    State(state): State<AppState>,
    Viewer(p): Viewer,
) -> ApiResult<Json<ConfigResponse>> {
    Ok(Json(
        settings::config_for(&state.core.db, &state.core.auth, &p).await?,
    ))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DeploymentLimitRequest {
    deployment_limit: u32,
}

pub async fn put_deployment_limit(
    State(state): State<AppState>,
    _: Admin,
    ApiJson(req): ApiJson<DeploymentLimitRequest>,
) -> ApiResult<Json<MessageResponse>> {
    settings::set_deployment_limit(&state.core.db, req.deployment_limit).await?;
    Ok(message("Deployment limit updated"))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct GlobalIntervalRequest {
    global_mutation_interval: String,
}

pub async fn put_global_interval(
    State(state): State<AppState>,
    _: Admin,
    ApiJson(req): ApiJson<GlobalIntervalRequest>,
) -> ApiResult<Json<MessageResponse>> {
    settings::set_global_mutation_interval(&state.core.db, &req.global_mutation_interval).await?;
    Ok(message("Global mutation interval updated"))
}

pub async fn list_users(State(state): State<AppState>, _: Admin) -> ApiResult<impl IntoResponse> {
    Ok(Json(state.core.auth.list_users().await?))
}

pub async fn create_user(
    State(state): State<AppState>,
    _: Admin,
    ApiJson(req): ApiJson<CreateUserRequest>,
) -> ApiResult<impl IntoResponse> {
    let u = state
        .core
        .auth
        .create_user(&req.username, &req.password, req.role)
        .await?;
    Ok((StatusCode::CREATED, Json(u)))
}

pub async fn set_role(
    State(state): State<AppState>,
    Admin(p): Admin,
    Path(uuid): Path<String>,
    ApiJson(req): ApiJson<RoleRequest>,
) -> ApiResult<Json<MessageResponse>> {
    state.core.auth.set_role(&p, &uuid, req.role).await?;
    Ok(message("User role updated"))
}

pub async fn reset_password(
    State(state): State<AppState>,
    _: Admin,
    Path(uuid): Path<String>,
    ApiJson(req): ApiJson<ResetPasswordRequest>,
) -> ApiResult<Json<MessageResponse>> {
    state
        .core
        .auth
        .reset_password(&uuid, &req.new_password)
        .await?;
    Ok(message("Password reset"))
}

pub async fn delete_user(
    State(state): State<AppState>,
    Admin(p): Admin,
    Path(uuid): Path<String>,
) -> ApiResult<Json<MessageResponse>> {
    state.core.auth.delete_user(&p, &uuid).await?;
    Ok(message("User deleted"))
}
