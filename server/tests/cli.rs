//! `decnet validate` and `decnet compose` as a user runs them.

use std::process::Command;

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
