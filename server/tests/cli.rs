//! `decnet validate` and `decnet compose` as a user runs them.

use std::process::Command;

#[path = "support/own_session.rs"]
mod own_session;

fn decnet(args: &[&str]) -> (bool, String) {
    let out = Command::new(env!("CARGO_BIN_EXE_decnet"))
        .args(args)
        .output()
        .expect("run decnet");
    (
        out.status.success(),
        String::from_utf8_lossy(&out.stdout).into_owned(),
    )
}

#[test]
fn validate_prints_every_error_with_its_line_and_fails() {
    let dir = tempfile::tempdir().unwrap();
    let bad = dir.path().join("bad.ini");
    std::fs::write(
        &bad,
        "[general]\nnet=10.1.0.0/24\n\n[a]\nservices=nosuch\n\n[b]\nip=10.2.0.9\n",
    )
    .unwrap();
    let (ok, out) = decnet(&["validate", bad.to_str().unwrap()]);
    assert!(!ok);
    assert!(
        out.contains("bad.ini:5: Unknown service(s) in [a]: ['nosuch']"),
        "{out}"
    );
    assert!(
        out.lines().count() >= 2,
        "every error, not just the first: {out}"
    );
    let (ok, json) = decnet(&["validate", "--json", bad.to_str().unwrap()]);
    assert!(!ok);
    let v: serde_json::Value = serde_json::from_str(&json).unwrap();
    assert_eq!(v["valid"], false);
    assert_eq!(v["errors"][0]["line"], 5);
    assert_eq!(v["errors"][1]["line"], 8);
}

#[test]
fn validate_accepts_a_good_fleet() {
    let dir = tempfile::tempdir().unwrap();
    let good = dir.path().join("good.ini");
    std::fs::write(&good, "[web]\namount=3\narchetype=web-server\n").unwrap();
    let (ok, out) = decnet(&["validate", good.to_str().unwrap()]);
    assert!(ok, "{out}");
    assert!(out.contains("valid (3 decky/ies)"), "{out}");
}

#[test]
fn compose_writes_the_fleet_as_compose_services() {
    let dir = tempfile::tempdir().unwrap();
    let f = dir.path().join("fleet.ini");
    std::fs::write(
        &f,
        "[general]\nnet=10.5.0.0/24\ngw=10.5.0.1\n[db]\nservices=mysql\n",
    )
    .unwrap();
    let (ok, out) = decnet(&["compose", f.to_str().unwrap()]);
    assert!(ok, "{out}");
    assert!(out.contains("  decnet-db:\n"), "{out}");
    assert!(out.contains("  decnet-db-mysql:\n"), "{out}");
    assert!(out.contains("network_mode: \"service:decnet-db\""), "{out}");
    assert!(out.contains("- subnet: \"10.5.0.0/24\""), "{out}");
}

/// `decnet serve` in its own session (as under systemd) with `extra` flags: the nice value of
/// each of its threads, and its session's autogroup line when the kernel has one.
fn serve_priorities(extra: &[&str]) -> (Vec<String>, Option<String>) {
    let dir = tempfile::tempdir().unwrap();
    let (mut child, _) = own_session::serve(
        dir.path(),
        extra,
        &[
            ("DECNET_ADMIN_PASSWORD", "cli test initial pass"),
            ("DOCKER_HOST", "unix:///nonexistent/docker.sock"),
        ],
    );
    let pid = child.id();
    let mut nices = Vec::new();
    for task in std::fs::read_dir(format!("/proc/{pid}/task")).unwrap() {
        let stat = std::fs::read_to_string(task.unwrap().path().join("stat")).unwrap();
        let after = stat.rsplit_once(')').unwrap().1;
        nices.push(after.split_whitespace().nth(16).unwrap().to_owned());
    }
    let autogroup = std::fs::read_to_string(format!("/proc/{pid}/autogroup")).ok();
    let _ = child.kill();
    let _ = child.wait();
    assert!(nices.len() > 2, "the runtime's threads: {nices:?}");
    (nices, autogroup)
}

/// `--nice N`: every thread and the session run at N. Unset: -10 where the process may
/// (root here). Out of range: refused before anything starts.
#[test]
fn serve_runs_every_thread_and_its_session_at_its_nice_value() {
    let (nices, autogroup) = serve_priorities(&["--nice", "7"]);
    assert!(nices.iter().all(|n| n == "7"), "{nices:?}");
    if let Some(a) = autogroup {
        assert!(a.trim_end().ends_with("nice 7"), "{a}");
    }

    // SAFETY: geteuid has no preconditions.
    if unsafe { libc::geteuid() } == 0 {
        let (nices, autogroup) = serve_priorities(&[]);
        assert!(nices.iter().all(|n| n == "-10"), "{nices:?}");
        if let Some(a) = autogroup {
            assert!(a.trim_end().ends_with("nice -10"), "{a}");
        }
    }

    let out = Command::new(env!("CARGO_BIN_EXE_decnet"))
        .args(["serve", "--nice", "25"])
        .output()
        .unwrap();
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("--nice"), "{err}");
}
