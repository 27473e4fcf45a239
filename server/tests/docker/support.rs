//! Real-engine helpers: the decoy binary, a server on the real socket, inspection, cleanup.

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::time::Duration;

use bollard::Docker;
use serde_json::Value;

use crate::helpers::{spawn_app_with, TestApp};

pub fn decoy_binary() -> PathBuf {
    let p = std::env::var_os("DECNET_DECOY_BIN")
        .map(PathBuf::from)
        .unwrap_or_else(|| {
            let target = std::env::var_os("CARGO_TARGET_DIR")
                .map(PathBuf::from)
                .unwrap_or_else(|| PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../target"));
            target.join("x86_64-unknown-linux-musl/release/decnet-decoy")
        });
    assert!(
        p.is_file(),
        "no decoy binary at {} (make decoy builds it)",
        p.display()
    );
    p
}

pub async fn docker() -> Docker {
    Docker::connect_with_unix_defaults()
        .expect("docker socket")
        .negotiate_version()
        .await
        .expect("dockerd running")
}

pub async fn spawn_real(docker_host: Option<String>) -> TestApp {
    let decoy = decoy_binary();
    spawn_app_with(None, move |c| {
        c.decoy_binary = Some(decoy);
        c.docker_host = docker_host.unwrap_or_else(|| "unix:///var/run/docker.sock".into());
    })
    .await
}

/// Removes everything a server (by host uuid) left on the engine, even when a test fails.
pub struct Cleanup(pub String);

impl Drop for Cleanup {
    fn drop(&mut self) {
        cleanup_host(&self.0);
    }
}

pub fn cleanup_host(host: &str) {
    crate::engine_cleanup::remove_host(host);
}

/// Containers of a host: (name, id, labels, running) sorted by name.
pub async fn containers_of(docker: &Docker, host: &str) -> Vec<(String, String, bool)> {
    use bollard::query_parameters::ListContainersOptions;
    use std::collections::HashMap;
    let opts = ListContainersOptions {
        all: true,
        filters: Some(HashMap::from([(
            "label".to_string(),
            vec![format!("io.decnet.host={host}")],
        )])),
        ..Default::default()
    };
    let mut v: Vec<(String, String, bool)> = docker
        .list_containers(Some(opts))
        .await
        .unwrap()
        .into_iter()
        .map(|c| {
            let name = c
                .names
                .and_then(|n| n.first().cloned())
                .unwrap_or_default()
                .trim_start_matches('/')
                .to_owned();
            let running = c.state.map(|s| s.to_string() == "running").unwrap_or(false);
            (name, c.id.unwrap_or_default(), running)
        })
        .collect();
    v.sort();
    v
}

/// Names of the networks a host (by uuid) owns, sorted.
pub async fn networks_of(docker: &Docker, host: &str) -> Vec<String> {
    use bollard::query_parameters::ListNetworksOptions;
    use std::collections::HashMap;
    let opts = ListNetworksOptions {
        filters: Some(HashMap::from([(
            "label".to_string(),
            vec![format!("io.decnet.host={host}")],
        )])),
    };
    let mut v: Vec<String> = docker
        .list_networks(Some(opts))
        .await
        .unwrap()
        .into_iter()
        .filter_map(|n| n.name)
        .collect();
    v.sort();
    v
}

/// Reads a sysctl inside a container's network namespace from the host.
pub async fn netns_sysctl(docker: &Docker, container: &str, key: &str) -> String {
    let pid = docker
        .inspect_container(container, None)
        .await
        .unwrap()
        .state
        .unwrap()
        .pid
        .unwrap();
    let path = format!("/proc/sys/{}", key.replace('.', "/"));
    let out = std::process::Command::new("nsenter")
        .arg(format!("--net=/proc/{pid}/ns/net"))
        .args(["cat", &path])
        .output()
        .expect("nsenter");
    String::from_utf8_lossy(&out.stdout).trim().to_owned()
}

pub fn ids_of(body: &Value) -> Vec<String> {
    body["lifecycle_ids"]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| v.as_str().unwrap().to_owned())
        .collect()
}

pub const SETTLE: Duration = Duration::from_secs(90);

/// A viewer-readable GET that must answer 200.
pub async fn api_get(app: &crate::helpers::TestApp, token: &str, path: &str) -> Value {
    let r = app.get(path, Some(token)).send().await.unwrap();
    assert_eq!(r.status(), reqwest::StatusCode::OK, "{path}");
    r.json().await.unwrap()
}

/// Deploys `ini` and returns decky name -> IP once every row succeeded, with the cleanup.
pub async fn deploy_and_wait(
    app: &crate::helpers::TestApp,
    admin: &str,
    ini: &str,
) -> (BTreeMap<String, String>, Cleanup) {
    let ids = app.deploy_ok(admin, ini, false).await;
    let rows = app.wait_terminal(admin, &ids, SETTLE).await;
    let cleanup = Cleanup(rows[0]["host_uuid"].as_str().unwrap().to_owned());
    for r in &rows {
        assert_eq!(r["status"], "succeeded", "{r}");
    }
    let ips = app
        .deckies(admin)
        .await
        .iter()
        .map(|d| {
            (
                d["name"].as_str().unwrap().to_owned(),
                d["ip"].as_str().unwrap().to_owned(),
            )
        })
        .collect();
    (ips, cleanup)
}
