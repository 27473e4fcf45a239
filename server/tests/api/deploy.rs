//! Deploy, lifecycle and teardown through HTTP, with the runner driving a Docker double.

use std::sync::Arc;
use std::time::{Duration, Instant};

use reqwest::StatusCode;
use serde_json::{json, Value};

use crate::fake_engine::FakeEngine;
use crate::helpers::{expect, expect_status, spawn_app_with, TestApp};

const THREE: &str = "[general]\nnet=10.77.0.0/24\ngw=10.77.0.1\n\n[web]\nservices=http\n\n[db]\nservices=mysql,redis\n\n[mail]\narchetype=mail-server\n";

async fn app_with_fake() -> (TestApp, Arc<FakeEngine>, String) {
    let engine = Arc::new(FakeEngine::default());
    let app = spawn_app_with(Some(engine.clone()), |_| {}).await;
    let admin = app.admin_token().await;
    (app, engine, admin)
}

#[tokio::test]
async fn deploy_is_202_with_one_row_per_decky_in_ini_order_and_rows_succeed() {
    let (app, engine, admin) = app_with_fake().await;
    let started = Instant::now();
    let r = app.deploy(&admin, THREE, false).await;
    let latency = started.elapsed();
    assert_eq!(r.status(), StatusCode::ACCEPTED);
    let body: Value = r.json().await.unwrap();
    assert_eq!(body["mode"], "unihost");
    assert_eq!(
        body["message"],
        "Deploy accepted (3 decky/ies, mode=unihost). Poll /deckies/lifecycle?ids=... for completion."
    );
    let ids: Vec<String> = body["lifecycle_ids"]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| v.as_str().unwrap().into())
        .collect();
    assert_eq!(ids.len(), 3);
    assert!(latency < Duration::from_secs(2), "202 took {latency:?}");

    let rows = app
        .wait_terminal(&admin, &ids, Duration::from_secs(10))
        .await;
    let names: Vec<&str> = rows
        .iter()
        .map(|r| r["decky_name"].as_str().unwrap())
        .collect();
    assert_eq!(names, ["web", "db", "mail"]);
    for r in &rows {
        assert_eq!(r["status"], "succeeded", "{r}");
        assert_eq!(r["operation"], "deploy");
        assert!(r["completed_at"].as_str().unwrap().ends_with('Z'));
        assert!(chrono::DateTime::parse_from_rfc3339(r["started_at"].as_str().unwrap()).is_ok());
    }
    let calls = engine.calls();
    assert!(
        calls.contains(&"base web 10.77.0.2".to_string()),
        "{calls:?}"
    );
    assert!(calls.contains(&"service db mysql".to_string()), "{calls:?}");
    assert!(
        calls.contains(&"service mail imap".to_string()),
        "{calls:?}"
    );

    let deckies = app.deckies(&admin).await;
    assert_eq!(deckies.len(), 3);
    let db = deckies.iter().find(|d| d["name"] == "db").unwrap();
    assert_eq!(db["state"], "running");
    assert_eq!(db["services"], json!(["mysql", "redis"]));
    assert_eq!(db["ip"], "10.77.0.3");
    assert_eq!(db["mutate_interval"], 30);
}

#[tokio::test]
async fn one_failing_decky_never_fails_its_siblings() {
    let (app, engine, admin) = app_with_fake().await;
    engine.fail_base.lock().unwrap().insert("db".into());
    let ids = app.deploy_ok(&admin, THREE, false).await;
    let rows = app
        .wait_terminal(&admin, &ids, Duration::from_secs(10))
        .await;
    let status: Vec<(&str, &str)> = rows
        .iter()
        .map(|r| {
            (
                r["decky_name"].as_str().unwrap(),
                r["status"].as_str().unwrap(),
            )
        })
        .collect();
    assert_eq!(
        status,
        [
            ("web", "succeeded"),
            ("db", "failed"),
            ("mail", "succeeded")
        ]
    );
    let err = rows[1]["error"].as_str().unwrap();
    assert!(err.contains("Docker answered 500: boom"), "{err}");
    let deckies = app.deckies(&admin).await;
    assert_eq!(
        deckies.iter().find(|d| d["name"] == "db").unwrap()["state"],
        "failed"
    );
}

#[tokio::test]
async fn an_unreachable_engine_fails_rows_with_a_message_that_says_so() {
    let (app, engine, admin) = app_with_fake().await;
    *engine.unreachable.lock().unwrap() = true;
    let ids = app
        .deploy_ok(&admin, "[solo]\nservices=http\n", false)
        .await;
    let rows = app
        .wait_terminal(&admin, &ids, Duration::from_secs(10))
        .await;
    assert_eq!(rows[0]["status"], "failed");
    assert_eq!(
        rows[0]["error"],
        "Docker is unreachable at unix:///fake.sock: connection refused"
    );
    // The desired state is kept: a retry after Docker is back succeeds.
    *engine.unreachable.lock().unwrap() = false;
    let r = app.deploy(&admin, "[solo]\nservices=http\n", true).await;
    assert_eq!(r.status(), StatusCode::ACCEPTED);
    let ids: Vec<String> = r.json::<Value>().await.unwrap()["lifecycle_ids"]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| v.as_str().unwrap().into())
        .collect();
    let rows = app
        .wait_terminal(&admin, &ids, Duration::from_secs(10))
        .await;
    assert_eq!(rows[0]["status"], "succeeded");
}

#[tokio::test]
async fn additive_deploy_collisions_and_the_limit_are_409s_that_create_nothing() {
    let (app, engine, admin) = app_with_fake().await;
    let ids = app.deploy_ok(&admin, THREE, false).await;
    app.wait_terminal(&admin, &ids, Duration::from_secs(10))
        .await;
    let before = engine.calls().len();

    expect(
        app.deploy(
            &admin,
            "[general]\nnet=10.77.0.0/24\n[web]\nservices=http\n",
            false,
        )
        .await,
        409,
        "decky 'web' already exists; submit with replace_fleet=true to overwrite the fleet",
    )
    .await;
    expect(
        app.deploy(
            &admin,
            "[general]\nnet=10.77.0.0/24\ngw=10.77.0.1\n[new]\nip=10.77.0.2\n",
            false,
        )
        .await,
        409,
        "IP 10.77.0.2 is already in use by an existing decky",
    )
    .await;
    expect(
        app.deploy(&admin, "[many]\namount=8\nservices=http\n", false)
            .await,
        409,
        "Deployment would result in 11 deckies, exceeding the configured limit of 10",
    )
    .await;
    assert_eq!(app.deckies(&admin).await.len(), 3);
    tokio::time::sleep(Duration::from_millis(200)).await;
    assert_eq!(
        engine.calls().len(),
        before,
        "a rejected deploy reached the engine"
    );
}

#[tokio::test]
async fn additive_deploy_leaves_existing_deckies_alone() {
    let (app, engine, admin) = app_with_fake().await;
    let ids = app.deploy_ok(&admin, THREE, false).await;
    app.wait_terminal(&admin, &ids, Duration::from_secs(10))
        .await;
    let before = engine.calls().len();
    let ids = app
        .deploy_ok(
            &admin,
            "[general]\nnet=10.77.0.0/24\ngw=10.77.0.1\n[extra]\nservices=ftp\n",
            false,
        )
        .await;
    assert_eq!(ids.len(), 1);
    app.wait_terminal(&admin, &ids, Duration::from_secs(10))
        .await;
    let new_calls = engine.calls()[before..].to_vec();
    assert!(
        new_calls
            .iter()
            .all(|c| !c.contains(" web") && !c.contains(" db") && !c.contains(" mail")),
        "{new_calls:?}"
    );
    assert!(
        new_calls.contains(&"base extra 10.77.0.5".to_string()),
        "{new_calls:?}"
    );
}

#[tokio::test]
async fn replace_fleet_tears_down_what_the_new_ini_drops() {
    let (app, engine, admin) = app_with_fake().await;
    let ids = app.deploy_ok(&admin, THREE, false).await;
    app.wait_terminal(&admin, &ids, Duration::from_secs(10))
        .await;
    let ids = app
        .deploy_ok(
            &admin,
            "[general]\nnet=10.77.0.0/24\ngw=10.77.0.1\n[web]\nservices=ftp\n",
            true,
        )
        .await;
    assert_eq!(
        ids.len(),
        1,
        "rows are returned only for the submitted deckies"
    );
    let rows = app
        .wait_terminal(&admin, &ids, Duration::from_secs(10))
        .await;
    assert_eq!(rows[0]["status"], "succeeded");
    // Teardowns finish on their own rows; wait for the fleet to settle.
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let names: Vec<String> = app
            .deckies(&admin)
            .await
            .iter()
            .map(|d| d["name"].as_str().unwrap().to_owned())
            .collect();
        if names == ["web"] || Instant::now() > deadline {
            assert_eq!(names, ["web"]);
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let calls = engine.calls();
    assert!(
        calls.contains(&"remove db".to_string()) && calls.contains(&"remove mail".to_string()),
        "{calls:?}"
    );
    assert_eq!(app.deckies(&admin).await[0]["services"], json!(["ftp"]));
}

#[tokio::test]
async fn deploy_body_and_ini_errors_get_the_spec_status_and_message() {
    let (app, engine, admin) = app_with_fake().await;
    let schema =
        "Bad Request: Schema structural violation (wrong type, extra fields, or invalid length).";
    let post = |body: Value| app.post("/deckies/deploy", Some(&admin), body).send();
    expect(post(json!({})).await.unwrap(), 400, schema).await;
    expect(post(json!({"ini_content": 5})).await.unwrap(), 400, schema).await;
    expect(
        post(json!({"ini_content": "[a]", "force": true}))
            .await
            .unwrap(),
        400,
        schema,
    )
    .await;
    expect(
        post(json!({"ini_content": "[a]", "replace_fleet": "yes"}))
            .await
            .unwrap(),
        422,
        "Invalid INI config",
    )
    .await;
    expect(
        post(json!({"ini_content": "x".repeat(512 * 1024 + 1)}))
            .await
            .unwrap(),
        422,
        "Invalid INI config",
    )
    .await;
    let r = app
        .client
        .post(app.url("/deckies/deploy"))
        .bearer_auth(&admin)
        .header("content-type", "application/json")
        .body("{broken")
        .send()
        .await
        .unwrap();
    expect(r, 422, "Invalid INI config").await;
    expect(
        app.deploy(&admin, "  \n", false).await,
        409,
        "Configuration conflict: INI content is empty.",
    )
    .await;
    expect(
        app.deploy(&admin, "[a]\nnot a pair\n", false).await,
        409,
        "Configuration conflict: INI syntax or characters are invalid.",
    )
    .await;
    expect(
        app.deploy(&admin, "[general]\nnet=10.0.0.0/24\n", false)
            .await,
        409,
        "Invalid INI config structure: No decky sections found.",
    )
    .await;
    let d = expect_status(
        app.deploy(&admin, "[a]\nservices=nosuch\n", false).await,
        409,
    )
    .await;
    assert!(
        d.starts_with("Unknown service(s) in [a]: ['nosuch']. Available: ["),
        "{d}"
    );
    // A `%` is literal (DECNET answered 500 here).
    let d = expect_status(
        app.deploy(
            &admin,
            "[a]\nservices=http\n[a.http]\nserver_header=100%\n",
            false,
        )
        .await,
        202,
    )
    .await;
    assert!(d.is_empty());
    let names: Vec<String> = app
        .deckies(&admin)
        .await
        .iter()
        .map(|d| d["name"].as_str().unwrap().to_owned())
        .collect();
    assert_eq!(names, ["a"], "only the one valid INI created a decky");
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert!(
        engine
            .calls()
            .iter()
            .all(|c| !c.contains("base") || c.contains(" a ")),
        "{:?}",
        engine.calls()
    );
}

#[tokio::test]
async fn lifecycle_query_rules() {
    let (app, _engine, admin) = app_with_fake().await;
    expect(
        app.get("/deckies/lifecycle", Some(&admin))
            .send()
            .await
            .unwrap(),
        400,
        "At least one lifecycle id is required (?ids=...)",
    )
    .await;
    let many: Vec<(&str, String)> = (0..201).map(|i| ("ids", format!("id-{i}"))).collect();
    let r = app
        .get("/deckies/lifecycle", Some(&admin))
        .query(&many)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::UNPROCESSABLE_ENTITY);
    let ids = app.deploy_ok(&admin, "[one]\nservices=http\n", false).await;
    let rows = app
        .lifecycle(&admin, &[ids[0].clone(), "unknown".into()])
        .await;
    assert_eq!(rows.len(), 1);
    assert_eq!(rows[0]["id"], ids[0].as_str());
}

/// Rows this server drives are served from memory; a row another server (sharing the
/// database) still moves must be read fresh every time.
#[tokio::test]
async fn lifecycle_reads_rows_another_server_moves_fresh_and_ours_current() {
    use decnet_server::entities::lifecycle;
    use sea_orm::{ActiveModelTrait, ActiveValue::Set, EntityTrait, IntoActiveModel};

    let (app, _engine, admin) = app_with_fake().await;
    let ours = app
        .deploy_ok(&admin, "[mine]\nservices=http\n", false)
        .await;
    app.wait_terminal(&admin, &ours, Duration::from_secs(10))
        .await;
    let db = sea_orm::Database::connect(&app.db_url).await.unwrap();
    let mut peer = decnet_server::lifecycle::new_row(
        "elsewhere",
        "peer-host",
        decnet_common::dto::Operation::Deploy,
        "api",
    );
    peer.status = Set("running".into());
    peer.stage = Set(Some("base".into()));
    let peer = peer.insert(&db).await.unwrap();
    let ids = [ours[0].clone(), peer.id.clone()];

    let rows = app.lifecycle(&admin, &ids).await;
    assert_eq!(rows[0]["status"], "succeeded");
    assert_eq!(rows[1]["status"], "running");
    assert_eq!(rows[1]["stage"], "base");

    let mut done = lifecycle::Entity::find_by_id(peer.id.clone())
        .one(&db)
        .await
        .unwrap()
        .unwrap()
        .into_active_model();
    done.status = Set("failed".into());
    done.error = Set(Some("peer gave up".into()));
    done.update(&db).await.unwrap();

    let rows = app.lifecycle(&admin, &ids).await;
    assert_eq!(rows[1]["status"], "failed");
    assert_eq!(rows[1]["error"], "peer gave up");
    assert_eq!(rows[0]["status"], "succeeded");
}

#[tokio::test]
async fn viewers_read_but_cannot_deploy_or_tear_down() {
    let (app, _engine, admin) = app_with_fake().await;
    let viewer = app.user_token(&admin, "observer", "viewer").await;
    expect(
        app.deploy(&viewer, "[a]\n", false).await,
        403,
        "Insufficient permissions",
    )
    .await;
    expect(
        app.delete("/deckies/a", Some(&viewer))
            .send()
            .await
            .unwrap(),
        403,
        "Insufficient permissions",
    )
    .await;
    assert!(app.deckies(&viewer).await.is_empty());
}

#[tokio::test]
async fn teardown_is_202_removes_the_decky_and_knows_its_errors() {
    let (app, engine, admin) = app_with_fake().await;
    let ids = app.deploy_ok(&admin, THREE, false).await;
    app.wait_terminal(&admin, &ids, Duration::from_secs(10))
        .await;
    expect_status(
        app.delete("/deckies/Bad_Name", Some(&admin))
            .send()
            .await
            .unwrap(),
        422,
    )
    .await;
    expect(
        app.delete("/deckies/ghost", Some(&admin))
            .send()
            .await
            .unwrap(),
        404,
        "Decky ghost not found",
    )
    .await;
    let row = app.teardown_ok(&admin, "db", Duration::from_secs(10)).await;
    assert_eq!(row["operation"], "teardown");
    let names: Vec<String> = app
        .deckies(&admin)
        .await
        .iter()
        .map(|d| d["name"].as_str().unwrap().to_owned())
        .collect();
    assert_eq!(names, ["mail", "web"]);
    let calls = engine.calls();
    let svc = calls
        .iter()
        .rposition(|c| c == "remove-services db")
        .unwrap();
    let base = calls.iter().rposition(|c| c == "remove db").unwrap();
    assert!(svc < base, "services must go before the base: {calls:?}");
}

/// Teardowns and additive deploys sent together while the runner writes transitions: each
/// write transaction waits its turn (SQLite: `BEGIN IMMEDIATE`) instead of failing with
/// "database is locked".
#[tokio::test]
async fn teardowns_and_deploys_sent_at_once_while_the_runner_writes_all_get_their_202() {
    let (app, _engine, admin) = app_with_fake().await;
    let r = app
        .put(
            "/config/deployment-limit",
            Some(&admin),
            json!({"deployment_limit": 100}),
        )
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::OK);
    let mut ini = String::from("[general]\nnet=10.78.0.0/24\ngw=10.78.0.1\n");
    for i in 0..16 {
        ini.push_str(&format!("[old{i}]\nservices=http,ftp\n"));
    }
    let ids = app.deploy_ok(&admin, &ini, false).await;
    app.wait_terminal(&admin, &ids, Duration::from_secs(20))
        .await;
    let deletes = (0..16).map(|i| {
        let (app, admin) = (&app, &admin);
        async move {
            app.delete(&format!("/deckies/old{i}"), Some(admin))
                .send()
                .await
                .unwrap()
        }
    });
    let deploys = (0..8).map(|i| {
        let (app, admin) = (&app, &admin);
        async move {
            let ini =
                format!("[general]\nnet=10.78.0.0/24\ngw=10.78.0.1\n[new{i}]\nservices=http\n");
            app.deploy(admin, &ini, false).await
        }
    });
    let (deleted, deployed) = tokio::join!(
        futures_util::future::join_all(deletes),
        futures_util::future::join_all(deploys)
    );
    let mut ids = Vec::new();
    for r in deleted.into_iter().chain(deployed) {
        let status = r.status();
        let body: Value = r.json().await.unwrap();
        assert_eq!(status, StatusCode::ACCEPTED, "{body}");
        for id in body["lifecycle_ids"].as_array().unwrap() {
            ids.push(id.as_str().unwrap().to_owned());
        }
    }
    assert_eq!(ids.len(), 24);
    let rows = app
        .wait_terminal(&admin, &ids, Duration::from_secs(20))
        .await;
    assert!(rows.iter().all(|r| r["status"] == "succeeded"), "{rows:?}");
    let mut names: Vec<String> = app
        .deckies(&admin)
        .await
        .iter()
        .map(|d| d["name"].as_str().unwrap().to_owned())
        .collect();
    names.sort();
    assert_eq!(names, (0..8).map(|i| format!("new{i}")).collect::<Vec<_>>());
}

/// The last decky off a network takes it along; a decky still on it keeps it; the next
/// deploy on that subnet creates it again.
#[tokio::test]
async fn the_last_decky_off_a_network_removes_the_network() {
    let (app, engine, admin) = app_with_fake().await;
    let ids = app.deploy_ok(&admin, THREE, false).await;
    app.wait_terminal(&admin, &ids, Duration::from_secs(10))
        .await;
    let net = "decnet-bridge-10_77_0_0_24".to_string();
    let networks = || engine.networks.lock().unwrap().clone();
    assert_eq!(networks(), [net.clone()].into());
    let tear_down = |name| app.teardown_ok(&admin, name, Duration::from_secs(10));
    tear_down("web").await;
    tear_down("db").await;
    assert_eq!(networks(), [net.clone()].into(), "mail is still on it");
    tear_down("mail").await;
    assert!(networks().is_empty());
    let ids = app
        .deploy_ok(
            &admin,
            "[general]\nnet=10.77.0.0/24\ngw=10.77.0.1\n[again]\nservices=http\n",
            false,
        )
        .await;
    let rows = app
        .wait_terminal(&admin, &ids, Duration::from_secs(10))
        .await;
    assert_eq!(rows[0]["status"], "succeeded", "{}", rows[0]);
    assert_eq!(networks(), [net].into());
}

/// A deploy onto a network whose last decky is being torn down: the network is not removed
/// between the deploy's `ensure_network` and its base attaching. The fake removes slowly and
/// starts bases slowly, so without the runner's per-network lock the removal lands in that gap.
#[tokio::test]
async fn a_network_is_never_removed_from_under_a_deploy() {
    let (app, engine, admin) = app_with_fake().await;
    let net = "[general]\nnet=10.79.0.0/24\ngw=10.79.0.1\n";
    let name = "decnet-bridge-10_79_0_0_24".to_string();
    let ids = app
        .deploy_ok(&admin, &format!("{net}[last]\nservices=http\n"), false)
        .await;
    app.wait_terminal(&admin, &ids, Duration::from_secs(10))
        .await;
    *engine.network_removal_delay.lock().unwrap() = Some(Duration::from_millis(400));
    *engine.base_delay.lock().unwrap() = Some(Duration::from_millis(800));
    let r = app
        .delete("/deckies/last", Some(&admin))
        .send()
        .await
        .unwrap();
    let mut ids = vec![r.json::<Value>().await.unwrap()["lifecycle_ids"][0]
        .as_str()
        .unwrap()
        .to_owned()];
    // Once the removal is under way, deploy onto the same network.
    let removing = format!("remove-network {name}");
    let t = Instant::now();
    while !engine.calls().contains(&removing) {
        assert!(t.elapsed() < Duration::from_secs(10), "no removal started");
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    ids.extend(
        app.deploy_ok(&admin, &format!("{net}[next]\nservices=http\n"), false)
            .await,
    );
    let rows = app
        .wait_terminal(&admin, &ids, Duration::from_secs(10))
        .await;
    assert!(rows.iter().all(|r| r["status"] == "succeeded"), "{rows:?}");
    assert_eq!(engine.networks.lock().unwrap().clone(), [name].into());
}

#[tokio::test]
async fn the_watchdog_fails_a_row_stuck_past_its_deadline() {
    let engine = Arc::new(FakeEngine::default());
    *engine.base_delay.lock().unwrap() = Some(Duration::from_secs(30));
    let app = spawn_app_with(Some(engine.clone()), |c| c.op_deadline = 1).await;
    let admin = app.admin_token().await;
    let ids = app
        .deploy_ok(&admin, "[slow]\nservices=http\n", false)
        .await;
    let rows = app
        .wait_terminal(&admin, &ids, Duration::from_secs(10))
        .await;
    assert_eq!(rows[0]["status"], "failed");
    let err = rows[0]["error"].as_str().unwrap();
    assert!(
        err.starts_with("Timed out: no result after 1 s (last stage: base)"),
        "{err}"
    );
}

/// Four deckies in flight, but never more Docker calls at once than `docker_parallelism`.
#[tokio::test]
async fn docker_calls_in_flight_stay_within_docker_parallelism() {
    for (gate, expect) in [(1usize, 1usize), (4, 4)] {
        let engine = Arc::new(FakeEngine::default());
        *engine.base_delay.lock().unwrap() = Some(Duration::from_millis(300));
        let app = spawn_app_with(Some(engine.clone()), |c| {
            c.concurrency = 4;
            c.docker_parallelism = gate;
        })
        .await;
        let admin = app.admin_token().await;
        let ini =
            "[g1]\nservices=http\n[g2]\nservices=http\n[g3]\nservices=http\n[g4]\nservices=http\n";
        let ids = app.deploy_ok(&admin, ini, false).await;
        let rows = app
            .wait_terminal(&admin, &ids, Duration::from_secs(15))
            .await;
        assert!(rows.iter().all(|r| r["status"] == "succeeded"), "{rows:?}");
        let (now, most) = *engine.bases_in_flight.lock().unwrap();
        assert_eq!((now, most), (0, expect), "docker_parallelism {gate}");
    }
}

#[tokio::test]
async fn lifecycle_transitions_are_streamed_as_server_sent_events() {
    use futures_util::StreamExt;
    let (app, _engine, admin) = app_with_fake().await;
    let resp = app.get("/stream", Some(&admin)).send().await.unwrap();
    assert_eq!(resp.status(), StatusCode::OK);
    let mut body = resp.bytes_stream();
    app.deploy_ok(&admin, "[streamed]\nservices=http\n", false)
        .await;
    let mut seen = String::new();
    let deadline = Instant::now() + Duration::from_secs(10);
    while !seen.contains("\"status\":\"succeeded\"") && Instant::now() < deadline {
        match tokio::time::timeout(Duration::from_secs(5), body.next()).await {
            Ok(Some(Ok(chunk))) => seen.push_str(&String::from_utf8_lossy(&chunk)),
            _ => break,
        }
    }
    assert!(seen.contains("event: decky.streamed.lifecycle"), "{seen}");
    assert!(seen.contains("\"status\":\"running\""), "{seen}");
    assert!(seen.contains("\"stage\":\"base\""), "{seen}");
    assert!(seen.contains("\"status\":\"succeeded\""), "{seen}");
}
