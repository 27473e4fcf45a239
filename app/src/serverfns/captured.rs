//! Captured data and purging it.

use decnet_common::dto::{AttackerDto, CapturedPage, CredentialDto, LogDto, PurgeResponse};
use leptos::prelude::*;
use leptos::server_fn::codec::Json;

#[cfg(feature = "ssr")]
use super::ssr::{ctx, fail};
use crate::backend_types::PurgeScopeArgs;

#[server]
pub async fn captured_logs(query: String) -> Result<CapturedPage<LogDto>, ServerFnError> {
    let (backend, parts) = ctx()?;
    backend.logs(&parts, query).await.map_err(fail)
}

#[server]
pub async fn captured_credentials(
    query: String,
) -> Result<CapturedPage<CredentialDto>, ServerFnError> {
    let (backend, parts) = ctx()?;
    backend.credentials(&parts, query).await.map_err(fail)
}

#[server]
pub async fn captured_attackers(query: String) -> Result<CapturedPage<AttackerDto>, ServerFnError> {
    let (backend, parts) = ctx()?;
    backend.attackers(&parts, query).await.map_err(fail)
}

#[server(input = Json)]
pub async fn purge_preview(scope: PurgeScopeArgs) -> Result<PurgeResponse, ServerFnError> {
    let (backend, parts) = ctx()?;
    backend.purge_preview(&parts, scope).await.map_err(fail)
}

#[server(input = Json)]
pub async fn purge_data(
    scope: PurgeScopeArgs,
    password: String,
) -> Result<PurgeResponse, ServerFnError> {
    let (backend, parts) = ctx()?;
    backend.purge(&parts, scope, password).await.map_err(fail)
}
