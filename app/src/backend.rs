//! The contract between server functions and the server (ssr only). The server implements
//! it with the same services its REST handlers call and provides it as context.

use std::sync::Arc;

use decnet_common::dto::{
    AcceptedResponse, ChangePasswordResponse, DeckyDto, DeployResponse, LifecycleRow,
    LoginResponse, Me, MutationRecord, PlanPreview,
};
use decnet_common::dto::{AttackerDto, CapturedPage, CredentialDto, LogDto, PurgeResponse};
use decnet_common::dto::{AuditPage, ConfigResponse, Role, UserDto};

pub use crate::backend_types::PurgeScopeArgs;
use http::request::Parts;

/// A failed call: the HTTP status the REST API would answer and its `detail`.
#[derive(Clone, Debug)]
pub struct Failure {
    pub status: u16,
    pub detail: String,
}

#[async_trait::async_trait]
pub trait Backend: Send + Sync + 'static {
    /// The caller, or a 401 failure when not signed in.
    async fn me(&self, req: &Parts) -> Result<Me, Failure>;
    async fn login(
        &self,
        req: &Parts,
        username: String,
        password: String,
    ) -> Result<LoginResponse, Failure>;
    async fn change_password(
        &self,
        req: &Parts,
        old_password: String,
        new_password: String,
    ) -> Result<ChangePasswordResponse, Failure>;
    async fn logout(&self, req: &Parts) -> Result<(), Failure>;
    async fn list_deckies(&self, req: &Parts) -> Result<Vec<DeckyDto>, Failure>;
    async fn lifecycle(&self, req: &Parts, ids: Vec<String>) -> Result<Vec<LifecycleRow>, Failure>;
    async fn history(&self, req: &Parts, name: String) -> Result<Vec<LifecycleRow>, Failure>;
    async fn deploy(
        &self,
        req: &Parts,
        ini: String,
        replace_fleet: bool,
    ) -> Result<DeployResponse, Failure>;
    /// What a deploy of `ini` would create against the current fleet (names, IPs, hostnames).
    async fn preview(&self, req: &Parts, ini: String) -> Result<Vec<PlanPreview>, Failure>;
    async fn teardown(&self, req: &Parts, name: String) -> Result<AcceptedResponse, Failure>;
    async fn redeploy(&self, req: &Parts, name: String) -> Result<AcceptedResponse, Failure>;
    async fn mutate(&self, req: &Parts, name: String) -> Result<AcceptedResponse, Failure>;
    /// `interval`: `"30m"`-style, or `None` for never.
    async fn set_interval(
        &self,
        req: &Parts,
        name: String,
        interval: Option<String>,
    ) -> Result<(), Failure>;
    async fn mutations(&self, req: &Parts, name: String) -> Result<Vec<MutationRecord>, Failure>;
    async fn config(&self, req: &Parts) -> Result<ConfigResponse, Failure>;
    async fn set_deployment_limit(&self, req: &Parts, limit: u32) -> Result<(), Failure>;
    async fn set_global_interval(&self, req: &Parts, interval: String) -> Result<(), Failure>;
    async fn create_user(
        &self,
        req: &Parts,
        username: String,
        password: String,
        role: Role,
    ) -> Result<UserDto, Failure>;
    async fn set_role(&self, req: &Parts, uuid: String, role: Role) -> Result<(), Failure>;
    async fn reset_password(
        &self,
        req: &Parts,
        uuid: String,
        password: String,
    ) -> Result<(), Failure>;
    async fn delete_user(&self, req: &Parts, uuid: String) -> Result<(), Failure>;
    async fn audit(&self, req: &Parts, limit: u64, offset: u64) -> Result<AuditPage, Failure>;
    /// Captured data; `query` is the REST query string (`decky=...&limit=...`).
    async fn logs(&self, req: &Parts, query: String) -> Result<CapturedPage<LogDto>, Failure>;
    async fn credentials(
        &self,
        req: &Parts,
        query: String,
    ) -> Result<CapturedPage<CredentialDto>, Failure>;
    async fn attackers(
        &self,
        req: &Parts,
        query: String,
    ) -> Result<CapturedPage<AttackerDto>, Failure>;
    /// `scope`: `all`, `older_than` (with `days`) or `decky` (with `decky`).
    async fn purge_preview(
        &self,
        req: &Parts,
        scope: PurgeScopeArgs,
    ) -> Result<PurgeResponse, Failure>;
    async fn purge(
        &self,
        req: &Parts,
        scope: PurgeScopeArgs,
        password: String,
    ) -> Result<PurgeResponse, Failure>;
    /// The `Set-Cookie` value for a session token (empty clears it).
    fn session_cookie(&self, token: &str) -> String;
}

pub type SharedBackend = Arc<dyn Backend>;
