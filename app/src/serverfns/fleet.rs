//! The fleet: list, deploy (with preview), lifecycle polling, teardown and retry.

use decnet_common::dto::{
    AcceptedResponse, DeckyDto, DeployResponse, LifecycleRow, MutationRecord, PlanPreview,
};
use leptos::prelude::*;
use leptos::server_fn::codec::Json;

#[cfg(feature = "ssr")]
use super::ssr::{ctx, fail};

#[server]
pub async fn list_deckies() -> Result<Vec<DeckyDto>, ServerFnError> {
    let (backend, parts) = ctx()?;
    backend.list_deckies(&parts).await.map_err(fail)
}

#[server(input = Json)]
pub async fn lifecycle_rows(ids: Vec<String>) -> Result<Vec<LifecycleRow>, ServerFnError> {
    let (backend, parts) = ctx()?;
    backend.lifecycle(&parts, ids).await.map_err(fail)
}

#[server]
pub async fn decky_history(name: String) -> Result<Vec<LifecycleRow>, ServerFnError> {
    let (backend, parts) = ctx()?;
    backend.history(&parts, name).await.map_err(fail)
}

#[server(input = Json)]
pub async fn deploy_ini(ini: String, replace_fleet: bool) -> Result<DeployResponse, ServerFnError> {
    let (backend, parts) = ctx()?;
    backend
        .deploy(&parts, ini, replace_fleet)
        .await
        .map_err(fail)
}

#[server(input = Json)]
pub async fn preview_ini(ini: String) -> Result<Vec<PlanPreview>, ServerFnError> {
    let (backend, parts) = ctx()?;
    backend.preview(&parts, ini).await.map_err(fail)
}

#[server]
pub async fn teardown_decky(name: String) -> Result<AcceptedResponse, ServerFnError> {
    let (backend, parts) = ctx()?;
    backend.teardown(&parts, name).await.map_err(fail)
}

#[server]
pub async fn redeploy_decky(name: String) -> Result<AcceptedResponse, ServerFnError> {
    let (backend, parts) = ctx()?;
    backend.redeploy(&parts, name).await.map_err(fail)
}

#[server]
pub async fn mutate_decky(name: String) -> Result<AcceptedResponse, ServerFnError> {
    let (backend, parts) = ctx()?;
    backend.mutate(&parts, name).await.map_err(fail)
}

/// `interval`: `"30m"`-style, or `None` to stop automatic mutation.
#[server(input = Json)]
pub async fn set_mutate_interval(
    name: String,
    interval: Option<String>,
) -> Result<(), ServerFnError> {
    let (backend, parts) = ctx()?;
    backend
        .set_interval(&parts, name, interval)
        .await
        .map_err(fail)
}

#[server]
pub async fn decky_mutations(name: String) -> Result<Vec<MutationRecord>, ServerFnError> {
    let (backend, parts) = ctx()?;
    backend.mutations(&parts, name).await.map_err(fail)
}
