//! The server's side of the console's server functions: [`app::backend::Backend`] implemented
//! with the same services and the same authorisation path as the REST API.

use std::net::SocketAddr;
use std::sync::Arc;

use crate::captured::{parse_query, Table};
use crate::purge::PurgeScope;
use app::backend::PurgeScopeArgs;
use app::backend::{Backend, Failure};
use axum::extract::ConnectInfo;
use decnet_common::dto::{
    AcceptedResponse, ChangePasswordResponse, DeckyDto, DeployResponse, LifecycleRow,
    LoginResponse, Me, MutationRecord, PlanPreview,
};
use decnet_common::dto::{AttackerDto, CapturedPage, CredentialDto, LogDto, PurgeResponse};
use decnet_common::dto::{AuditPage, ConfigResponse, Role, UserDto};
use http::request::Parts;

use crate::auth::{session_cookie, token_from_headers, Need, Principal};
use crate::error::ApiError;
use crate::state::Core;

pub struct UiBackend(pub Arc<Core>);

fn failure(e: ApiError) -> Failure {
    if e.status.is_server_error() {
        // Log it through the one place that does, and keep the detail generic.
        let _ = axum::response::IntoResponse::into_response(e);
        return Failure {
            status: 500,
            detail: "Internal Server Error".into(),
        };
    }
    Failure {
        status: e.status.as_u16(),
        detail: e.detail,
    }
}

impl UiBackend {
    async fn principal(&self, req: &Parts, need: Need) -> Result<Principal, Failure> {
        let token = token_from_headers(&req.headers);
        self.0
            .auth
            .require(token.as_deref(), need)
            .await
            .map_err(failure)
    }
}

#[async_trait::async_trait]
impl Backend for UiBackend {
    async fn me(&self, req: &Parts) -> Result<Me, Failure> {
        Ok(self.principal(req, Need::AnyUser).await?.me())
    }

    async fn login(
        &self,
        req: &Parts,
        username: String,
        password: String,
    ) -> Result<LoginResponse, Failure> {
        let ip = req
            .extensions
            .get::<ConnectInfo<SocketAddr>>()
            .map(|c| c.0.ip());
        self.0
            .auth
            .login(&username, &password, ip)
            .await
            .map_err(failure)
    }

    async fn change_password(
        &self,
        req: &Parts,
        old_password: String,
        new_password: String,
    ) -> Result<ChangePasswordResponse, Failure> {
        let p = self.principal(req, Need::AnyUser).await?;
        self.0
            .auth
            .change_password(&p, &old_password, &new_password)
            .await
            .map_err(failure)
    }

    async fn logout(&self, req: &Parts) -> Result<(), Failure> {
        let p = self.principal(req, Need::AnyUser).await?;
        self.0.auth.logout(&p).await.map_err(failure)
    }

    async fn list_deckies(&self, req: &Parts) -> Result<Vec<DeckyDto>, Failure> {
        self.principal(req, Need::Viewer).await?;
        self.0.fleet.list().await.map_err(failure)
    }

    async fn lifecycle(&self, req: &Parts, ids: Vec<String>) -> Result<Vec<LifecycleRow>, Failure> {
        self.principal(req, Need::Viewer).await?;
        let ids: Vec<String> = ids
            .into_iter()
            .take(crate::fleet::MAX_LIFECYCLE_IDS)
            .collect();
        self.0.fleet.lifecycle(&ids).await.map_err(failure)
    }

    async fn history(&self, req: &Parts, name: String) -> Result<Vec<LifecycleRow>, Failure> {
        self.principal(req, Need::Viewer).await?;
        self.0.fleet.history(&name, 50).await.map_err(failure)
    }

    async fn deploy(
        &self,
        req: &Parts,
        ini: String,
        replace_fleet: bool,
    ) -> Result<DeployResponse, Failure> {
        self.principal(req, Need::Admin).await?;
        self.0
            .fleet
            .deploy(&ini, replace_fleet)
            .await
            .map_err(failure)
    }

    async fn preview(&self, req: &Parts, ini: String) -> Result<Vec<PlanPreview>, Failure> {
        self.principal(req, Need::Admin).await?;
        self.0.fleet.preview(&ini).await.map_err(failure)
    }

    async fn teardown(&self, req: &Parts, name: String) -> Result<AcceptedResponse, Failure> {
        self.principal(req, Need::Admin).await?;
        self.0.fleet.teardown(&name).await.map_err(failure)
    }

    async fn redeploy(&self, req: &Parts, name: String) -> Result<AcceptedResponse, Failure> {
        self.principal(req, Need::Admin).await?;
        self.0.fleet.redeploy(&name).await.map_err(failure)
    }

    async fn mutate(&self, req: &Parts, name: String) -> Result<AcceptedResponse, Failure> {
        let p = self.principal(req, Need::Admin).await?;
        self.0
            .mutator
            .mutate(&name, "api", Some(&p.username))
            .await
            .map_err(failure)
    }

    async fn set_interval(
        &self,
        req: &Parts,
        name: String,
        interval: Option<String>,
    ) -> Result<(), Failure> {
        self.principal(req, Need::Admin).await?;
        let interval = match interval {
            Some(s) => Some(
                decnet_common::interval::MutateInterval::parse(&s).map_err(|e| Failure {
                    status: 422,
                    detail: e.to_string(),
                })?,
            ),
            None => None,
        };
        self.0
            .mutator
            .set_interval(&name, interval)
            .await
            .map_err(failure)
    }

    async fn mutations(&self, req: &Parts, name: String) -> Result<Vec<MutationRecord>, Failure> {
        self.principal(req, Need::Viewer).await?;
        self.0.mutator.history(&name, 50).await.map_err(failure)
    }

    async fn config(&self, req: &Parts) -> Result<ConfigResponse, Failure> {
        let p = self.principal(req, Need::Viewer).await?;
        crate::settings::config_for(&self.0.db, &self.0.auth, &p)
            .await
            .map_err(failure)
    }

    async fn set_deployment_limit(&self, req: &Parts, limit: u32) -> Result<(), Failure> {
        self.principal(req, Need::Admin).await?;
        crate::settings::set_deployment_limit(&self.0.db, limit)
            .await
            .map_err(failure)
    }

    async fn set_global_interval(&self, req: &Parts, interval: String) -> Result<(), Failure> {
        self.principal(req, Need::Admin).await?;
        crate::settings::set_global_mutation_interval(&self.0.db, &interval)
            .await
            .map_err(failure)
    }

    async fn create_user(
        &self,
        req: &Parts,
        username: String,
        password: String,
        role: Role,
    ) -> Result<UserDto, Failure> {
        self.principal(req, Need::Admin).await?;
        self.0
            .auth
            .create_user(&username, &password, role)
            .await
            .map_err(failure)
    }

    async fn set_role(&self, req: &Parts, uuid: String, role: Role) -> Result<(), Failure> {
        let p = self.principal(req, Need::Admin).await?;
        self.0.auth.set_role(&p, &uuid, role).await.map_err(failure)
    }

    async fn reset_password(
        &self,
        req: &Parts,
        uuid: String,
        password: String,
    ) -> Result<(), Failure> {
        self.principal(req, Need::Admin).await?;
        self.0
            .auth
            .reset_password(&uuid, &password)
            .await
            .map_err(failure)
    }

    async fn delete_user(&self, req: &Parts, uuid: String) -> Result<(), Failure> {
        let p = self.principal(req, Need::Admin).await?;
        self.0.auth.delete_user(&p, &uuid).await.map_err(failure)
    }

    async fn audit(&self, req: &Parts, limit: u64, offset: u64) -> Result<AuditPage, Failure> {
        self.principal(req, Need::Admin).await?;
        let limit = limit.clamp(1, 500);
        let (items, total) = self.0.audit.list(limit, offset).await.map_err(failure)?;
        Ok(AuditPage {
            items,
            total,
            limit,
            offset,
        })
    }

    async fn logs(&self, req: &Parts, query: String) -> Result<CapturedPage<LogDto>, Failure> {
        self.principal(req, Need::Viewer).await?;
        let (f, p) = parse_query(Table::Logs, Some(&query)).map_err(failure)?;
        self.0
            .captured
            .logs(&f, &p)
            .await
            .map_err(|e| failure(e.into()))
    }

    async fn credentials(
        &self,
        req: &Parts,
        query: String,
    ) -> Result<CapturedPage<CredentialDto>, Failure> {
        self.principal(req, Need::Viewer).await?;
        let (f, p) = parse_query(Table::Credentials, Some(&query)).map_err(failure)?;
        self.0
            .captured
            .credentials(&f, &p)
            .await
            .map_err(|e| failure(e.into()))
    }

    async fn attackers(
        &self,
        req: &Parts,
        query: String,
    ) -> Result<CapturedPage<AttackerDto>, Failure> {
        self.principal(req, Need::Viewer).await?;
        let (f, p) = parse_query(Table::Attackers, Some(&query)).map_err(failure)?;
        self.0
            .captured
            .attackers(&f, &p)
            .await
            .map_err(|e| failure(e.into()))
    }

    async fn purge_preview(
        &self,
        req: &Parts,
        scope: PurgeScopeArgs,
    ) -> Result<PurgeResponse, Failure> {
        self.principal(req, Need::Admin).await?;
        let scope = purge_scope(scope)?;
        let deleted = crate::purge::preview(&self.0.db, &scope)
            .await
            .map_err(|e| failure(e.into()))?;
        Ok(PurgeResponse {
            message: "Preview".into(),
            deleted,
        })
    }

    async fn purge(
        &self,
        req: &Parts,
        scope: PurgeScopeArgs,
        password: String,
    ) -> Result<PurgeResponse, Failure> {
        let p = self.principal(req, Need::Admin).await?;
        let scope = purge_scope(scope)?;
        self.0
            .auth
            .confirm_password(&p, &password)
            .await
            .map_err(failure)?;
        let deleted = crate::purge::purge(&self.0.db, &scope)
            .await
            .map_err(|e| failure(e.into()))?;
        Ok(PurgeResponse {
            message: "Data purged".into(),
            deleted,
        })
    }

    fn session_cookie(&self, token: &str) -> String {
        session_cookie(token, self.0.cookie_secure)
    }
}

fn purge_scope(a: PurgeScopeArgs) -> Result<PurgeScope, Failure> {
    let bad = |m: &str| Failure {
        status: 422,
        detail: m.to_owned(),
    };
    match a.scope.as_str() {
        "all" => Ok(PurgeScope::All),
        "older_than" => Ok(PurgeScope::OlderThan {
            days: a.days.ok_or_else(|| bad("days is required"))?,
        }),
        "decky" => {
            let d = a.decky.unwrap_or_default();
            let name =
                decnet_common::name::DeckyName::parse(&d).map_err(|e| bad(&e.to_string()))?;
            Ok(PurgeScope::Decky { decky: name })
        }
        _ => Err(bad("scope must be all, older_than or decky")),
    }
}
