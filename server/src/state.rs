//! The state every handler and server function shares.

use std::sync::Arc;

use axum::extract::FromRef;
use leptos::config::LeptosOptions;
use sea_orm::DatabaseConnection;

use crate::audit::AuditLog;
use crate::auth::AuthService;
use crate::bus::Bus;
use crate::captured::CapturedService;
use crate::fleet::FleetService;
use crate::mutation::Mutator;

pub struct Core {
    pub db: DatabaseConnection,
    pub auth: AuthService,
    pub audit: Arc<AuditLog>,
    pub fleet: FleetService,
    pub mutator: Arc<Mutator>,
    pub bus: Bus,
    pub captured: CapturedService,
    pub cookie_secure: bool,
    pub docker_host: String,
}

#[derive(Clone)]
pub struct AppState {
    pub core: Arc<Core>,
    pub leptos_options: LeptosOptions,
}

impl FromRef<AppState> for LeptosOptions {
    fn from_ref(s: &AppState) -> Self {
        s.leptos_options.clone()
    }
}
