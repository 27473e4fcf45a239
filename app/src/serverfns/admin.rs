//! Settings, users and the audit trail (admin only; the server checks the role).

use decnet_common::dto::{AuditPage, ConfigResponse, Role, UserDto};
use leptos::prelude::*;
use leptos::server_fn::codec::Json;

#[cfg(feature = "ssr")]
use super::ssr::{ctx, fail};

#[server]
pub async fn get_config() -> Result<ConfigResponse, ServerFnError> {
    let (backend, parts) = ctx()?;
    backend.config(&parts).await.map_err(fail)
}

#[server]
pub async fn set_deployment_limit(limit: u32) -> Result<(), ServerFnError> {
    let (backend, parts) = ctx()?;
    backend
        .set_deployment_limit(&parts, limit)
        .await
        .map_err(fail)
}

#[server]
pub async fn set_global_interval(interval: String) -> Result<(), ServerFnError> {
    let (backend, parts) = ctx()?;
    backend
        .set_global_interval(&parts, interval)
        .await
        .map_err(fail)
}

#[server(input = Json)]
pub async fn create_user(
    username: String,
    password: String,
    role: Role,
) -> Result<UserDto, ServerFnError> {
    let (backend, parts) = ctx()?;
    backend
        .create_user(&parts, username, password, role)
        .await
        .map_err(fail)
}

#[server(input = Json)]
pub async fn set_user_role(uuid: String, role: Role) -> Result<(), ServerFnError> {
    let (backend, parts) = ctx()?;
    backend.set_role(&parts, uuid, role).await.map_err(fail)
}

#[server(input = Json)]
pub async fn reset_user_password(uuid: String, password: String) -> Result<(), ServerFnError> {
    let (backend, parts) = ctx()?;
    backend
        .reset_password(&parts, uuid, password)
        .await
        .map_err(fail)
}

#[server]
pub async fn delete_user(uuid: String) -> Result<(), ServerFnError> {
    let (backend, parts) = ctx()?;
    backend.delete_user(&parts, uuid).await.map_err(fail)
}

#[server]
pub async fn audit_trail(limit: u64, offset: u64) -> Result<AuditPage, ServerFnError> {
    let (backend, parts) = ctx()?;
    backend.audit(&parts, limit, offset).await.map_err(fail)
}
