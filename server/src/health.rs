//! `GET /api/v1/health`: is the database answering, is the Docker engine reachable.

use std::time::Duration;

use axum::extract::State;
use axum::http::StatusCode;
use axum::Json;
use decnet_common::dto::HealthResponse;

use crate::state::AppState;

pub async fn health(State(state): State<AppState>) -> (StatusCode, Json<HealthResponse>) {
    let db = match state.core.db.ping().await {
        Ok(()) => "ok".to_owned(),
        Err(e) => format!("error: {e}"),
    };
    let docker = match docker_reachable(&state.core.docker_host).await {
        Ok(()) => "ok".to_owned(),
        Err(e) => format!("unreachable: {e}"),
    };
    let healthy = db == "ok";
    let status = if healthy {
        StatusCode::OK
    } else {
        StatusCode::SERVICE_UNAVAILABLE
    };
    (
        status,
        Json(HealthResponse {
            status: if healthy { "ok" } else { "degraded" }.into(),
            db,
            docker,
        }),
    )
}

/// Connects to the configured socket and pings.
pub async fn docker_reachable(socket: &str) -> Result<(), String> {
    let fut = async {
        let path = socket.strip_prefix("unix://").unwrap_or(socket);
        let docker = bollard::Docker::connect_with_unix(path, 5, bollard::API_DEFAULT_VERSION)
            .map_err(|e| e.to_string())?;
        let docker = docker
            .negotiate_version()
            .await
            .map_err(|e| e.to_string())?;
        docker.ping().await.map_err(|e| e.to_string())?;
        Ok::<(), String>(())
    };
    match tokio::time::timeout(Duration::from_secs(3), fut).await {
        Ok(Ok(())) => Ok(()),
        Ok(Err(e)) => Err(format!("{socket}: {e}")),
        Err(_) => Err(format!("{socket}: no answer within 3 s")),
    }
}
