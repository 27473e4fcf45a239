use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use crate::support::{
    containers_of, docker, netns_sysctl, networks_of, spawn_real, Cleanup, SETTLE,
};

const INI: &str = "[general]\nnet=10.231.1.0/24\ngw=10.231.1.1\n\n\
[rt-web]\nservices=http\nnmap_os=windows\n\n\
[rt-ftp]\nservices=ftp\n\n\
[rt-mix]\nservices=redis,http\nnmap_os=embedded\n";

#[tokio::test]
async fn three_deckies_come_up_hardened_with_their_identity_and_answer_on_their_ip() {
    let app = spawn_real(None).await;
    let admin = app.admin_token().await;
    let docker = docker().await;

    let t = Instant::now();
    let ids = app.deploy_ok(&admin, INI, false).await;
    println!("202 in {:?}", t.elapsed());
    let rows = app.wait_terminal(&admin, &ids, SETTLE).await;
    let host = rows[0]["host_uuid"].as_str().unwrap().to_owned();
    let _cleanup = Cleanup(host.clone());
    println!("3 deckies up in {:?}", t.elapsed());
    for r in &rows {
        assert_eq!(r["status"], "succeeded", "{r}");
    }

    let deckies = app.deckies(&admin).await;
    let by_name: BTreeMap<&str, &serde_json::Value> = deckies
        .iter()
        .map(|d| (d["name"].as_str().unwrap(), d))
        .collect();
    let names: Vec<String> = containers_of(&docker, &host)
        .await
        .into_iter()
        .map(|c| c.0)
        .collect();
    assert_eq!(
        names,
        [
            "decnet-rt-ftp",
            "decnet-rt-ftp-ftp",
            "decnet-rt-mix",
            "decnet-rt-mix-http",
            "decnet-rt-mix-redis",
            "decnet-rt-web",
            "decnet-rt-web-http"
        ]
    );

    for (name, d) in &by_name {
        let base = docker
            .inspect_container(&format!("decnet-{name}"), None)
            .await
            .unwrap();
        let cfg = base.config.unwrap();
        assert_eq!(
            cfg.hostname.as_deref(),
            d["hostname"].as_str(),
            "hostname of {name}"
        );
        assert_eq!(cfg.user.as_deref(), Some("65534:65534"));
        let hc = base.host_config.unwrap();
        assert_eq!(hc.readonly_rootfs, Some(true));
        assert_eq!(hc.cap_drop, Some(vec!["ALL".to_string()]));
        assert!(hc
            .security_opt
            .unwrap()
            .contains(&"no-new-privileges:true".to_string()));
        assert!(hc.memory.unwrap() > 0 && hc.pids_limit.unwrap() > 0);
        // A low CPU weight: a decoy never starves the control plane.
        assert_eq!(hc.cpu_shares, Some(256));
        assert!(hc
            .binds
            .unwrap_or_default()
            .iter()
            .all(|b| !b.contains("docker.sock")));
        let ips: Vec<String> = base
            .network_settings
            .unwrap()
            .networks
            .unwrap()
            .into_values()
            .filter_map(|e| e.ip_address)
            .collect();
        assert_eq!(ips, vec![d["ip"].as_str().unwrap().to_string()]);
        for svc in d["services"].as_array().unwrap() {
            let s = docker
                .inspect_container(&format!("decnet-{name}-{}", svc.as_str().unwrap()), None)
                .await
                .unwrap();
            let shc = s.host_config.unwrap();
            assert_eq!(
                shc.network_mode,
                Some(format!("container:{}", base.id.clone().unwrap()))
            );
            assert_eq!(shc.readonly_rootfs, Some(true));
            assert_eq!(shc.cap_drop, Some(vec!["ALL".to_string()]));
            assert_eq!(shc.cpu_shares, Some(256));
            assert_eq!(shc.nano_cpus, Some(500_000_000), "half a CPU at most");
            assert_eq!(s.config.unwrap().user.as_deref(), Some("65534:65534"));
        }
    }

    // OS fingerprint sysctls, read inside each namespace.
    assert_eq!(
        netns_sysctl(&docker, "decnet-rt-web", "net.ipv4.ip_default_ttl").await,
        "128"
    );
    assert_eq!(
        netns_sysctl(&docker, "decnet-rt-web", "net.ipv4.tcp_timestamps").await,
        "0"
    );
    assert_eq!(
        netns_sysctl(&docker, "decnet-rt-mix", "net.ipv4.ip_default_ttl").await,
        "255"
    );
    assert_eq!(
        netns_sysctl(&docker, "decnet-rt-ftp", "net.ipv4.ip_default_ttl").await,
        "64"
    );

    // The service answers on the decky's own IP (on the bridge this test's server created).
    let web_ip = by_name["rt-web"]["ip"].as_str().unwrap();
    let r = reqwest::Client::new()
        .get(format!("http://{web_ip}/"))
        .timeout(Duration::from_secs(5))
        .send()
        .await
        .unwrap();
    assert!(r.headers().contains_key("server"), "{:?}", r.headers());
    let ftp_ip = by_name["rt-ftp"]["ip"].as_str().unwrap();
    let mut s = tokio::net::TcpStream::connect((ftp_ip, 21)).await.unwrap();
    let mut buf = [0u8; 256];
    let n = tokio::time::timeout(
        Duration::from_secs(5),
        tokio::io::AsyncReadExt::read(&mut s, &mut buf),
    )
    .await
    .unwrap()
    .unwrap();
    assert!(
        String::from_utf8_lossy(&buf[..n]).starts_with("220"),
        "{}",
        String::from_utf8_lossy(&buf[..n])
    );

    // Additive deploy: the existing containers are untouched (same ids, same start time).
    let before = containers_of(&docker, &host).await;
    let started_before = docker
        .inspect_container("decnet-rt-web", None)
        .await
        .unwrap()
        .state
        .unwrap()
        .started_at;
    let ids = app
        .deploy_ok(
            &admin,
            "[general]\nnet=10.231.1.0/24\ngw=10.231.1.1\n[rt-more]\nservices=http\n",
            false,
        )
        .await;
    let rows = app.wait_terminal(&admin, &ids, SETTLE).await;
    assert_eq!(rows[0]["status"], "succeeded", "{}", rows[0]);
    let after = containers_of(&docker, &host).await;
    for c in &before {
        assert!(after.contains(c), "{} changed", c.0);
    }
    assert_eq!(after.len(), before.len() + 2);
    let started_after = docker
        .inspect_container("decnet-rt-web", None)
        .await
        .unwrap()
        .state
        .unwrap()
        .started_at;
    assert_eq!(
        started_before, started_after,
        "an additive deploy restarted rt-web"
    );

    // Teardown of one decky removes exactly its containers.
    app.teardown_ok(&admin, "rt-ftp", SETTLE).await;
    let left = containers_of(&docker, &host).await;
    let expected: Vec<_> = after
        .iter()
        .filter(|c| !c.0.starts_with("decnet-rt-ftp"))
        .cloned()
        .collect();
    assert_eq!(left, expected);

    // Bring it all down through the API.
    for name in ["rt-web", "rt-mix", "rt-more"] {
        app.teardown_ok(&admin, name, SETTLE).await;
    }
    assert!(containers_of(&docker, &host).await.is_empty());
}

/// The last decky off a network takes the network along, so a later fleet may use an
/// overlapping subnet (Docker refuses overlapping pools); one still on it keeps it.
#[tokio::test]
async fn the_last_decky_off_a_network_takes_it_along_and_frees_its_subnet() {
    let app = spawn_real(None).await;
    let admin = app.admin_token().await;
    let docker = docker().await;
    let ini = "[general]\nnet=10.235.1.0/24\ngw=10.235.1.1\n[nw-a]\nservices=http\n[nw-b]\nservices=http\n";
    let ids = app.deploy_ok(&admin, ini, false).await;
    let rows = app.wait_terminal(&admin, &ids, SETTLE).await;
    let host = rows[0]["host_uuid"].as_str().unwrap().to_owned();
    let _cleanup = Cleanup(host.clone());
    assert!(rows.iter().all(|r| r["status"] == "succeeded"), "{rows:?}");
    assert_eq!(
        networks_of(&docker, &host).await,
        ["decnet-bridge-10_235_1_0_24"]
    );
    let tear_down = |name| app.teardown_ok(&admin, name, SETTLE);
    tear_down("nw-a").await;
    assert_eq!(
        networks_of(&docker, &host).await,
        ["decnet-bridge-10_235_1_0_24"],
        "nw-b is still on it"
    );
    tear_down("nw-b").await;
    assert!(networks_of(&docker, &host).await.is_empty());

    let ini = "[general]\nnet=10.235.0.0/16\ngw=10.235.0.1\n[nw-c]\nservices=http\n";
    let ids = app.deploy_ok(&admin, ini, false).await;
    let rows = app.wait_terminal(&admin, &ids, SETTLE).await;
    assert_eq!(rows[0]["status"], "succeeded", "{}", rows[0]);
    assert_eq!(
        networks_of(&docker, &host).await,
        ["decnet-bridge-10_235_0_0_16"]
    );
    tear_down("nw-c").await;
    assert!(networks_of(&docker, &host).await.is_empty());
    assert!(containers_of(&docker, &host).await.is_empty());
}

#[test]
fn the_catalogue_offers_exactly_what_the_decoy_serves() {
    let out = std::process::Command::new(crate::support::decoy_binary())
        .arg("list")
        .output()
        .unwrap();
    let mut served: Vec<String> = String::from_utf8_lossy(&out.stdout)
        .lines()
        .map(str::to_owned)
        .collect();
    served.sort();
    let mut offered: Vec<String> = decnet_common::catalogue::services()
        .map(|s| s.slug.to_string())
        .collect();
    offered.sort();
    assert_eq!(offered, served, "catalogue and decoy disagree");
}
