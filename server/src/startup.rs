//! Building the application from its configuration, and serving it.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use app::backend::SharedBackend;
use app::{shell, App};
use axum::extract::DefaultBodyLimit;
use axum::http::{header, HeaderValue};
use axum::Router;
use leptos::config::LeptosOptions;
use leptos::prelude::provide_context;
use leptos_axum::{generate_route_list, LeptosRoutes};
use tokio::net::TcpListener;
use tower_http::set_header::SetResponseHeaderLayer;

use crate::audit::AuditLog;
use crate::auth::{anyhow_lite, load_or_create_secret, AuthService};
use crate::bus::Bus;
use crate::captured::CapturedService;
use crate::config::ServeConfig;
use crate::engine::docker::DockerEngine;
use crate::engine::Engine;
use crate::fleet::FleetService;
use crate::mutation::Mutator;
use crate::runner::{Runner, RunnerConfig};
use crate::state::{AppState, Core};
use crate::ui::UiBackend;

/// A built, bound, not yet serving application.
pub struct Server {
    listener: TcpListener,
    router: Router,
    /// Set when the bootstrap admin's password was generated: print it once.
    pub generated_admin_password: Option<String>,
    pub admin_user: String,
    pub state: AppState,
}

/// Data dir, database (migrated), secret, bootstrap admin, the Docker engine, runner
/// (recovered, watched), ingest of the decoys' logs, routes, listener.
pub async fn build(cfg: ServeConfig) -> anyhow_lite::Result<Server> {
    let decoy = cfg
        .decoy_binary
        .clone()
        .unwrap_or_else(crate::engine::image::default_decoy_path);
    let mut docker = None;
    let socket = cfg.docker_host.clone();
    let server = build_with(cfg, |host| {
        let engine = Arc::new(DockerEngine::new(socket, decoy, host.to_owned()));
        docker = Some(engine.clone());
        engine
    })
    .await?;
    let docker = docker.ok_or("engine not built")?;
    let runner = server.state.core.fleet.runner().clone();
    let core = &server.state.core;
    crate::ingest::spawn(docker.clone(), core.db.clone(), core.bus.clone());
    tokio::spawn(crate::watch::base_restarts(docker, runner.clone()));
    tokio::spawn(async move {
        match runner.remove_orphans().await {
            Ok(0) => {}
            Ok(n) => tracing::info!("removed the containers of {n} orphan decky/ies"),
            Err(e) => tracing::warn!("orphan sweep skipped: {e}"),
        }
    });
    Ok(server)
}

/// [`build`] with any engine (tests drive the runner's state machine with a double).
pub async fn build_with_engine(
    cfg: ServeConfig,
    engine: Arc<dyn Engine>,
) -> anyhow_lite::Result<Server> {
    build_with(cfg, |_| engine).await
}

/// `make_engine` gets this server's host uuid.
async fn build_with(
    cfg: ServeConfig,
    make_engine: impl FnOnce(&str) -> Arc<dyn Engine>,
) -> anyhow_lite::Result<Server> {
    std::fs::create_dir_all(&cfg.data_dir)
        .map_err(|e| format!("creating data dir {}: {e}", cfg.data_dir.display()))?;
    let db = crate::db::connect(&cfg.database_url())
        .await
        .map_err(|e| format!("database: {e}"))?;
    let secret = load_or_create_secret(&cfg.data_dir, cfg.jwt_secret.as_deref())?;
    let audit = Arc::new(AuditLog::new(db.clone()));
    let auth = AuthService::new(db.clone(), &secret, audit.clone())?;
    let generated = auth
        .bootstrap_admin(&cfg.admin_user, cfg.admin_password.as_deref())
        .await?;
    let host_uuid = crate::settings::host_uuid(&db)
        .await
        .map_err(|e| e.to_string())?;
    let bus = Bus::default();
    let runner_cfg = RunnerConfig {
        concurrency: cfg.concurrency.max(1),
        docker_parallelism: match cfg.docker_parallelism {
            0 => crate::runner::cpu_count(),
            n => n,
        },
        deadline: Duration::from_secs(cfg.op_deadline.max(1)),
        ..RunnerConfig::default()
    };
    let engine = make_engine(&host_uuid);
    let runner = Runner::new(db.clone(), bus.clone(), engine, host_uuid, runner_cfg);
    let recovered = runner
        .recover()
        .await
        .map_err(|e| format!("recovering lifecycle rows: {e}"))?;
    if recovered > 0 {
        tracing::info!("re-driving {recovered} open lifecycle row(s) from the desired state");
    }
    runner.spawn_watchdog();
    let mutator = Arc::new(Mutator::new(db.clone(), runner.clone(), bus.clone()));
    tokio::spawn(mutator.clone().run_scheduler());
    let fleet = FleetService::new(db.clone(), runner);
    let captured = CapturedService::new(db.clone());
    let core = Arc::new(Core {
        db,
        auth,
        audit,
        fleet,
        mutator,
        bus,
        captured,
        cookie_secure: cfg.cookie_secure,
        docker_host: cfg.docker_host.clone(),
    });

    let listener = TcpListener::bind(cfg.listen)
        .await
        .map_err(|e| format!("binding {}: {e}", cfg.listen))?;
    let addr = listener.local_addr()?;
    let leptos_options = LeptosOptions::builder()
        .output_name("decnet")
        .site_root(cfg.site_root.to_string_lossy().to_string())
        .site_pkg_dir("pkg")
        .site_addr(addr)
        .build();
    let state = AppState {
        core: core.clone(),
        leptos_options,
    };
    let router = router(state.clone());
    Ok(Server {
        listener,
        router,
        generated_admin_password: generated,
        admin_user: cfg.admin_user,
        state,
    })
}

fn router(state: AppState) -> Router {
    let backend: SharedBackend = Arc::new(UiBackend(state.core.clone()));
    let routes = generate_route_list(App);
    let options = state.leptos_options.clone();
    Router::new()
        .nest("/api/v1", crate::api::router())
        .leptos_routes_with_context(
            &state,
            routes,
            move || provide_context(backend.clone()),
            move || shell(options.clone()),
        )
        .fallback(leptos_axum::file_and_error_handler::<AppState, _>(shell))
        .layer(axum::middleware::from_fn(server_timing))
        .layer(axum::middleware::from_fn_with_state(
            state.clone(),
            crate::audit::middleware,
        ))
        // 512 KiB of INI plus JSON escaping.
        .layer(DefaultBodyLimit::max(2 * 1024 * 1024))
        .layer(SetResponseHeaderLayer::overriding(
            header::X_CONTENT_TYPE_OPTIONS,
            HeaderValue::from_static("nosniff"),
        ))
        .layer(SetResponseHeaderLayer::overriding(
            header::X_FRAME_OPTIONS,
            HeaderValue::from_static("DENY"),
        ))
        .layer(SetResponseHeaderLayer::overriding(
            header::REFERRER_POLICY,
            HeaderValue::from_static("no-referrer"),
        ))
        .with_state(state)
}

/// `Server-Timing: app;dur=<ms>`: how long the server spent on a request (auth, handler,
/// audit), shown by browsers' devtools; the fleet benchmark compares it with what clients see.
async fn server_timing(
    req: axum::extract::Request,
    next: axum::middleware::Next,
) -> axum::response::Response {
    let t = std::time::Instant::now();
    let mut res = next.run(req).await;
    let value = format!("app;dur={:.3}", t.elapsed().as_secs_f64() * 1000.0);
    if let Ok(v) = HeaderValue::from_str(&value) {
        res.headers_mut().insert("server-timing", v);
    }
    res
}

impl Server {
    pub fn local_addr(&self) -> std::io::Result<SocketAddr> {
        self.listener.local_addr()
    }

    /// Serves until ctrl-c / SIGTERM.
    pub async fn run(self) -> std::io::Result<()> {
        axum::serve(
            self.listener,
            self.router
                .into_make_service_with_connect_info::<SocketAddr>(),
        )
        .with_graceful_shutdown(shutdown_signal())
        .await
    }
}

async fn shutdown_signal() {
    let ctrl_c = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    #[cfg(unix)]
    let term = async {
        if let Ok(mut s) = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())
        {
            s.recv().await;
        }
    };
    #[cfg(not(unix))]
    let term = std::future::pending::<()>();
    tokio::select! { _ = ctrl_c => {}, _ = term => {} }
}
