//! The audit trail: a row for every state-changing request (who, when, what, outcome), and
//! for every login attempt. Recorded by one middleware around the whole router, so REST
//! handlers and the console's server functions are covered alike; logins are recorded by
//! the auth service, which knows the username tried.

use std::net::SocketAddr;
use std::sync::Arc;

use axum::extract::{ConnectInfo, Request, State};
use axum::http::{Method, StatusCode};
use axum::middleware::Next;
use axum::response::Response;
use chrono::{SecondsFormat, Utc};
use decnet_common::dto::AuditEntry;
use sea_orm::{
    ActiveModelTrait, DatabaseConnection, EntityTrait, PaginatorTrait, QueryOrder, QuerySelect, Set,
};

use crate::auth::token_from_headers;
use crate::entities::audit;
use crate::error::ApiResult;
use crate::state::AppState;

#[derive(Clone)]
pub struct AuditLog {
    db: DatabaseConnection,
}

pub fn outcome(status: StatusCode) -> &'static str {
    match status.as_u16() {
        200..=399 => "ok",
        401 | 403 | 429 => "denied",
        400..=499 => "rejected",
        _ => "failed",
    }
}

impl AuditLog {
    pub fn new(db: DatabaseConnection) -> Self {
        AuditLog { db }
    }

    /// Writes one row; a failure is logged, never turned into the caller's error.
    pub async fn record(
        &self,
        actor: Option<&str>,
        action: &str,
        target: Option<&str>,
        status: StatusCode,
        ip: Option<String>,
    ) {
        let row = audit::ActiveModel {
            id: Set(uuid::Uuid::new_v4().to_string()),
            at: Set(Utc::now()),
            actor: Set(actor.map(str::to_owned)),
            action: Set(action.chars().take(200).collect()),
            target: Set(target.map(|t| t.chars().take(200).collect())),
            outcome: Set(outcome(status).to_owned()),
            status: Set(i32::from(status.as_u16())),
            ip: Set(ip),
        };
        if let Err(e) = row.insert(&self.db).await {
            tracing::error!("audit: could not record {action}: {e}");
        }
    }

    pub async fn list(&self, limit: u64, offset: u64) -> ApiResult<(Vec<AuditEntry>, u64)> {
        let total = audit::Entity::find().count(&self.db).await?;
        let rows = audit::Entity::find()
            .order_by_desc(audit::Column::At)
            .limit(limit)
            .offset(offset)
            .all(&self.db)
            .await?;
        let items = rows
            .into_iter()
            .map(|r| AuditEntry {
                at: r.at.to_rfc3339_opts(SecondsFormat::Millis, true),
                actor: r.actor,
                action: r.action,
                target: r.target,
                outcome: r.outcome,
                status: u16::try_from(r.status).unwrap_or(0),
                ip: r.ip,
            })
            .collect();
        Ok((items, total))
    }
}

/// What a state-changing request does, in the trail's words: (action, target).
pub fn describe(method: &Method, path: &str) -> (String, Option<String>) {
    let segs: Vec<&str> = path.trim_matches('/').split('/').collect();
    let m = method.as_str();
    let named = |a: &str, t: &str| (a.to_owned(), Some(t.to_owned()));
    match (m, segs.as_slice()) {
        ("POST", ["api", "v1", "deckies", "deploy"]) => ("deploy".into(), None),
        ("DELETE", ["api", "v1", "deckies", name]) => named("teardown", name),
        ("POST", ["api", "v1", "deckies", name, "mutate"]) => named("mutate", name),
        ("POST", ["api", "v1", "deckies", name, "redeploy"]) => named("redeploy", name),
        ("PUT", ["api", "v1", "deckies", name, "mutate-interval"]) => {
            named("mutate_interval", name)
        }
        ("PUT", ["api", "v1", "config", "deployment-limit"]) => {
            ("settings.deployment_limit".into(), None)
        }
        ("PUT", ["api", "v1", "config", "global-mutation-interval"]) => {
            ("settings.global_mutation_interval".into(), None)
        }
        ("POST", ["api", "v1", "config", "users"]) => ("user.create".into(), None),
        ("PUT", ["api", "v1", "config", "users", id, "role"]) => named("user.role", id),
        ("PUT", ["api", "v1", "config", "users", id, "reset-password"]) => {
            named("user.reset_password", id)
        }
        ("DELETE", ["api", "v1", "config", "users", id]) => named("user.delete", id),
        ("DELETE", ["api", "v1", "config", "reinit"]) => ("purge".into(), Some("all".into())),
        ("POST", ["api", "v1", "purge"]) => ("purge".into(), None),
        ("POST", ["api", "v1", "auth", "change-password"]) => ("password.change".into(), None),
        ("POST", ["api", "v1", "auth", "logout"]) => ("logout".into(), None),
        // Console server functions: /api/<name><hash>.
        (_, ["api", f]) => (
            format!("ui.{}", f.trim_end_matches(|c: char| c.is_ascii_digit())),
            None,
        ),
        _ => (format!("{m} {path}"), None),
    }
}

/// Login attempts are recorded by the auth service (it knows the username tried).
fn is_login(path: &str) -> bool {
    path == "/api/v1/auth/login"
        || path
            .strip_prefix("/api/login")
            .is_some_and(|rest| rest.chars().all(|c| c.is_ascii_digit()))
}

pub async fn middleware(State(state): State<AppState>, req: Request, next: Next) -> Response {
    let method = req.method().clone();
    if matches!(method, Method::GET | Method::HEAD | Method::OPTIONS) {
        return next.run(req).await;
    }
    let path = req.uri().path().to_owned();
    if is_login(&path) {
        return next.run(req).await;
    }
    let ip = req
        .extensions()
        .get::<ConnectInfo<SocketAddr>>()
        .map(|c| c.0.ip().to_string());
    // Resolved before the request runs: a logout revokes the very token.
    let actor = match token_from_headers(req.headers()) {
        Some(t) => state
            .core
            .auth
            .authenticate(&t)
            .await
            .ok()
            .map(|p| p.username),
        None => None,
    };
    let resp = next.run(req).await;
    let (action, target) = describe(&method, &path);
    let audit: Arc<AuditLog> = state.core.audit.clone();
    audit
        .record(
            actor.as_deref(),
            &action,
            target.as_deref(),
            resp.status(),
            ip,
        )
        .await;
    resp
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn requests_are_described_in_the_trails_words() {
        assert_eq!(
            describe(&Method::POST, "/api/v1/deckies/deploy"),
            ("deploy".into(), None)
        );
        assert_eq!(
            describe(&Method::DELETE, "/api/v1/deckies/web-01"),
            ("teardown".into(), Some("web-01".into()))
        );
        assert_eq!(
            describe(&Method::POST, "/api/deploy_ini123456"),
            ("ui.deploy_ini".into(), None)
        );
        assert_eq!(
            describe(&Method::PUT, "/api/v1/config/users/u1/role"),
            ("user.role".into(), Some("u1".into()))
        );
        assert!(
            is_login("/api/v1/auth/login")
                && is_login("/api/login1234")
                && !is_login("/api/logout12")
        );
    }
}
