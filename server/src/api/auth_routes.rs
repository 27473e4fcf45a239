//! `/auth/*`: login, change-password, logout, and `me` for the UI.

use axum::extract::State;
use axum::http::{header, StatusCode};
use axum::response::IntoResponse;
use axum::Json;
use decnet_common::dto::{ChangePasswordRequest, LoginRequest, Me};

use super::extract::{AnyUser, ApiJson, ClientIp};
use crate::auth::session_cookie;
use crate::error::ApiResult;
use crate::state::AppState;

pub async fn login(
    State(state): State<AppState>,
    ClientIp(ip): ClientIp,
    ApiJson(req): ApiJson<LoginRequest>,
) -> ApiResult<impl IntoResponse> {
    let resp = state
        .core
        .auth
        .login(&req.username, &req.password, ip)
        .await?;
    Ok(Json(resp))
}

pub async fn change_password(
    State(state): State<AppState>,
    AnyUser(p): AnyUser,
    ApiJson(req): ApiJson<ChangePasswordRequest>,
) -> ApiResult<impl IntoResponse> {
    let resp = state
        .core
        .auth
        .change_password(&p, &req.old_password, &req.new_password)
        .await?;
    Ok(Json(resp))
}

pub async fn logout(
    State(state): State<AppState>,
    AnyUser(p): AnyUser,
) -> ApiResult<impl IntoResponse> {
    state.core.auth.logout(&p).await?;
    Ok((
        StatusCode::NO_CONTENT,
        [(
            header::SET_COOKIE,
            session_cookie("", state.core.cookie_secure),
        )],
    ))
}

pub async fn me(AnyUser(p): AnyUser) -> Json<Me> {
    Json(p.me())
}
