//! Removing what a decnet server (by host uuid) left on the engine, for tests and benches.
//! Through the `docker` CLI, so it also works from `Drop` while a test unwinds.

use std::process::Command;

/// `docker ARGS`' standard output ("" when it cannot run).
fn docker(args: &[&str]) -> String {
    Command::new("docker")
        .args(args)
        .output()
        .map(|o| String::from_utf8_lossy(&o.stdout).into_owned())
        .unwrap_or_default()
}

/// Removes a host's containers, then its networks.
pub fn remove_host(host: &str) {
    if host.is_empty() {
        return;
    }
    remove_containers(host);
    let label = format!("label=io.decnet.host={host}");
    for net in docker(&["network", "ls", "-q", "--filter", &label]).split_whitespace() {
        docker(&["network", "rm", net]);
    }
}

/// Removes a host's containers: services first, then bases (removing a base under its
/// services can leave Docker counting a dead endpoint on the network).
pub fn remove_containers(host: &str) {
    let label = format!("label=io.decnet.host={host}");
    for role in ["label=io.decnet.role=service", "label=io.decnet.role=base"] {
        let found = docker(&["ps", "-aq", "--filter", &label, "--filter", role]);
        let ids: Vec<&str> = found.split_whitespace().collect();
        if !ids.is_empty() {
            docker(&[&["rm", "-f"][..], &ids].concat());
        }
    }
}

/// The hosts owning containers of the named deckies.
pub fn hosts_of(deckies: &[String]) -> Vec<String> {
    let mut hosts: Vec<String> = deckies
        .iter()
        .flat_map(|d| {
            let label = format!("label=io.decnet.decky={d}");
            let format = "{{.Label \"io.decnet.host\"}}";
            docker(&["ps", "-a", "--filter", &label, "--format", format])
                .split_whitespace()
                .map(str::to_owned)
                .collect::<Vec<_>>()
        })
        .collect();
    hosts.sort();
    hosts.dedup();
    hosts
}
