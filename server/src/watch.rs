//! Docker events: when a decky's base container (re)starts outside an operation, its
//! services are left in a dead network namespace; restart them.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use bollard::query_parameters::EventsOptions;
use futures_util::StreamExt;

use crate::engine::docker::DockerEngine;
use crate::engine::{Engine, LABEL_DECKY, LABEL_HOST, LABEL_MANAGED, LABEL_ROLE};
use crate::runner::Runner;

pub async fn base_restarts(engine: Arc<DockerEngine>, runner: Runner) {
    loop {
        let Ok(docker) = engine.docker().await else {
            tokio::time::sleep(Duration::from_secs(5)).await;
            continue;
        };
        let opts = EventsOptions {
            filters: Some(HashMap::from([
                ("type".to_string(), vec!["container".to_string()]),
                ("event".to_string(), vec!["start".to_string()]),
                (
                    "label".to_string(),
                    vec![
                        format!("{LABEL_MANAGED}=true"),
                        format!("{LABEL_ROLE}=base"),
                        format!("{LABEL_HOST}={}", engine.host()),
                    ],
                ),
            ])),
            ..Default::default()
        };
        let mut events = docker.events(Some(opts));
        while let Some(ev) = events.next().await {
            let Ok(ev) = ev else { break };
            let Some(decky) = ev
                .actor
                .and_then(|a| a.attributes)
                .and_then(|a| a.get(LABEL_DECKY).cloned())
            else {
                continue;
            };
            // During an operation the runner starts the services itself.
            if runner.is_busy(&decky) {
                continue;
            }
            match engine.restart_services(&decky).await {
                Ok(()) => {
                    tracing::info!(%decky, "base restarted: services restarted into its namespace")
                }
                Err(e) => tracing::warn!(%decky, "base restarted, restarting services failed: {e}"),
            }
        }
        tokio::time::sleep(Duration::from_secs(1)).await;
    }
}
