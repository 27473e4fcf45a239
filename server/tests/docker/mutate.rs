use std::time::Duration;

use crate::support::{docker, ids_of, spawn_real, Cleanup, SETTLE};

#[tokio::test]
async fn mutation_replaces_only_the_services_and_a_real_client_reaches_a_new_one() {
    let app = spawn_real(None).await;
    let admin = app.admin_token().await;
    let ids = app
        .deploy_ok(
            &admin,
            // The archetype's pool (mysql, postgres, redis: all TCP) is what mutation draws
            // from, so the check below can connect to whichever service it picked.
            "[general]\nnet=10.231.5.0/24\ngw=10.231.5.1\n[mt]\narchetype=database-server\nservices=http\n",
            false,
        )
        .await;
    let rows = app.wait_terminal(&admin, &ids, SETTLE).await;
    let _cleanup = Cleanup(rows[0]["host_uuid"].as_str().unwrap().to_owned());
    assert_eq!(rows[0]["status"], "succeeded", "{}", rows[0]);
    let docker = docker().await;
    let base = docker.inspect_container("decnet-mt", None).await.unwrap();

    let r = app
        .post("/deckies/mt/mutate", Some(&admin), serde_json::json!({}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 202);
    let ids = ids_of(&r.json().await.unwrap());
    let rows = app.wait_terminal(&admin, &ids, SETTLE).await;
    assert_eq!(rows[0]["status"], "succeeded", "{}", rows[0]);

    let after = docker.inspect_container("decnet-mt", None).await.unwrap();
    assert_eq!(after.id, base.id, "the base container was replaced");
    assert_eq!(
        after.state.as_ref().unwrap().started_at,
        base.state.as_ref().unwrap().started_at,
        "the base restarted"
    );
    let ip = |c: &bollard::models::ContainerInspectResponse| {
        c.network_settings
            .clone()
            .unwrap()
            .networks
            .unwrap()
            .into_values()
            .filter_map(|e| e.ip_address)
            .collect::<Vec<_>>()
    };
    assert_eq!(ip(&after), ip(&base));

    let d = app
        .deckies(&admin)
        .await
        .into_iter()
        .find(|d| d["name"] == "mt")
        .unwrap();
    let services: Vec<String> = d["services"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| s.as_str().unwrap().to_owned())
        .collect();
    assert_ne!(services, ["http"]);
    let mut expected: Vec<String> = services.iter().map(|s| format!("decnet-mt-{s}")).collect();
    expected.push("decnet-mt".into());
    expected.sort();
    let host = rows[0]["host_uuid"].as_str().unwrap();
    let names: Vec<String> = crate::support::containers_of(&docker, host)
        .await
        .into_iter()
        .map(|c| c.0)
        .collect();
    assert_eq!(names, expected);
    // A new service answers on the decky's unchanged IP.
    let svc = decnet_common::catalogue::service_by_slug(&services[0]).unwrap();
    let port = svc.ports[0];
    let deadline = std::time::Instant::now() + Duration::from_secs(10);
    loop {
        if tokio::time::timeout(
            Duration::from_secs(1),
            tokio::net::TcpStream::connect(("10.231.5.2", port)),
        )
        .await
        .is_ok_and(|r| r.is_ok())
        {
            break;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "{} did not answer on port {port}",
            services[0]
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}
