//! The REST API under `/api/v1`. Handlers are thin: authorise (extractor), parse (extractor),
//! call the service, shape the response.

mod audit_routes;
mod auth_routes;
mod captured_routes;
mod catalogue_routes;
mod config_routes;
mod deckies_routes;
pub mod extract;
mod purge_routes;

use axum::routing::{delete, get, post, put};
use axum::Router;

use crate::state::AppState;

pub fn router() -> Router<AppState> {
    Router::new()
        .route("/health", get(crate::health::health))
        .route("/auth/login", post(auth_routes::login))
        .route("/auth/change-password", post(auth_routes::change_password))
        .route("/auth/logout", post(auth_routes::logout))
        .route("/auth/me", get(auth_routes::me))
        .route("/archetypes", get(catalogue_routes::archetypes))
        .route("/services", get(catalogue_routes::services))
        .route("/distros", get(catalogue_routes::distros))
        .route("/deckies", get(deckies_routes::list))
        .route("/deckies/deploy", post(deckies_routes::deploy))
        .route("/deckies/lifecycle", get(deckies_routes::lifecycle))
        .route("/deckies/{name}", delete(deckies_routes::teardown))
        .route("/deckies/{name}/lifecycle", get(deckies_routes::history))
        .route("/deckies/{name}/redeploy", post(deckies_routes::redeploy))
        .route("/deckies/{name}/mutate", post(deckies_routes::mutate))
        .route(
            "/deckies/{name}/mutate-interval",
            put(deckies_routes::mutate_interval),
        )
        .route("/deckies/{name}/mutations", get(deckies_routes::mutations))
        .route("/stream", get(deckies_routes::stream))
        .route("/audit", get(audit_routes::list))
        .route("/config/reinit", delete(purge_routes::reinit))
        .route("/purge/preview", post(purge_routes::preview))
        .route("/purge", post(purge_routes::purge))
        .route("/config", get(config_routes::get_config))
        .route(
            "/config/deployment-limit",
            put(config_routes::put_deployment_limit),
        )
        .route(
            "/config/global-mutation-interval",
            put(config_routes::put_global_interval),
        )
        .route(
            "/config/users",
            get(config_routes::list_users).post(config_routes::create_user),
        )
        .route("/config/users/{uuid}/role", put(config_routes::set_role))
        .route(
            "/config/users/{uuid}/reset-password",
            put(config_routes::reset_password),
        )
        .route("/config/users/{uuid}", delete(config_routes::delete_user))
        .route("/logs", get(captured_routes::logs))
        .route("/credentials", get(captured_routes::credentials))
        .route("/attackers", get(captured_routes::attackers))
        .route("/bounties", get(captured_routes::bounties))
        .fallback(extract::not_found)
}
