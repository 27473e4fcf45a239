//! Mutation and its scheduler through HTTP, with a Docker double.

use std::sync::Arc;
use std::time::{Duration, Instant};

use reqwest::StatusCode;
use serde_json::{json, Value};

use crate::fake_engine::FakeEngine;
use crate::helpers::{expect, expect_status, spawn_app_with, TestApp};

async fn fleet(ini: &str) -> (TestApp, Arc<FakeEngine>, String) {
    let engine = Arc::new(FakeEngine::default());
    let app = spawn_app_with(Some(engine.clone()), |_| {}).await;
    let admin = app.admin_token().await;
    let ids = app.deploy_ok(&admin, ini, false).await;
    let rows = app
        .wait_terminal(&admin, &ids, Duration::from_secs(10))
        .await;
    assert!(rows.iter().all(|r| r["status"] == "succeeded"));
    (app, engine, admin)
}

async fn decky(app: &TestApp, token: &str, name: &str) -> Value {
    app.deckies(token)
        .await
        .into_iter()
        .find(|d| d["name"] == name)
        .expect("decky")
}

#[tokio::test]
async fn mutate_commits_a_new_service_set_keeps_the_base_and_records_it() {
    let (app, engine, admin) = fleet("[m1]\narchetype=devops-host\n").await;
    let before = decky(&app, &admin, "m1").await;
    let calls_before = engine.calls().len();
    let r = app
        .post("/deckies/m1/mutate", Some(&admin), json!({}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::ACCEPTED);
    let ids: Vec<String> = r.json::<Value>().await.unwrap()["lifecycle_ids"]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| v.as_str().unwrap().into())
        .collect();
    assert_eq!(ids.len(), 1);
    // Committed before the 202: visible at once.
    let after = decky(&app, &admin, "m1").await;
    assert_ne!(after["services"], before["services"]);
    for s in after["services"].as_array().unwrap() {
        assert!(
            ["docker_api", "ssh", "k8s"].contains(&s.as_str().unwrap()),
            "{s} is outside the archetype's pool"
        );
    }
    assert!(after["last_mutated"].is_string());
    let rows = app
        .wait_terminal(&admin, &ids, Duration::from_secs(10))
        .await;
    assert_eq!(rows[0]["status"], "succeeded");
    assert_eq!(rows[0]["operation"], "mutate");
    let calls = engine.calls()[calls_before..].to_vec();
    assert!(
        calls.contains(&"remove-services m1".to_string()),
        "{calls:?}"
    );
    assert!(
        calls
            .iter()
            .all(|c| !c.starts_with("base ") && c != "remove m1"),
        "the base was touched: {calls:?}"
    );
    let history: Value = app
        .get("/deckies/m1/mutations", Some(&admin))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(history[0]["trigger"], "api");
    assert_eq!(history[0]["actor"], "admin");
    assert_eq!(history[0]["old_services"], before["services"]);
    assert_eq!(history[0]["new_services"], after["services"]);
}

#[tokio::test]
async fn mutate_errors_follow_the_spec() {
    let engine = Arc::new(FakeEngine::default());
    let app = spawn_app_with(Some(engine), |_| {}).await;
    let admin = app.admin_token().await;
    expect(
        app.post("/deckies/x/mutate", Some(&admin), json!({}))
            .send()
            .await
            .unwrap(),
        404,
        "No active deployment",
    )
    .await;
    let ids = app
        .deploy_ok(&admin, "[only-ssh]\narchetype=deaddeck\n", false)
        .await;
    app.wait_terminal(&admin, &ids, Duration::from_secs(10))
        .await;
    expect(
        app.post("/deckies/ghost/mutate", Some(&admin), json!({}))
            .send()
            .await
            .unwrap(),
        404,
        "Decky ghost not found",
    )
    .await;
    expect(
        app.post("/deckies/only-ssh/mutate", Some(&admin), json!({}))
            .send()
            .await
            .unwrap(),
        404,
        "No services available to mutate only-ssh",
    )
    .await;
    expect_status(
        app.post("/deckies/Not_Valid/mutate", Some(&admin), json!({}))
            .send()
            .await
            .unwrap(),
        422,
    )
    .await;
    let viewer = app.user_token(&admin, "observer", "viewer").await;
    expect(
        app.post("/deckies/only-ssh/mutate", Some(&viewer), json!({}))
            .send()
            .await
            .unwrap(),
        403,
        "Insufficient permissions",
    )
    .await;
}

#[tokio::test]
async fn mutate_interval_accepts_the_pattern_or_null() {
    let (app, _engine, admin) = fleet("[iv]\nservices=http\n").await;
    let put = |v: Value| {
        app.put(
            "/deckies/iv/mutate-interval",
            Some(&admin),
            json!({"mutate_interval": v}),
        )
        .send()
    };
    let r = put(json!("2d")).await.unwrap();
    assert_eq!(r.status(), StatusCode::OK);
    assert_eq!(
        r.json::<Value>().await.unwrap()["message"],
        "Mutation interval updated"
    );
    assert_eq!(decky(&app, &admin, "iv").await["mutate_interval"], 2880);
    let r = put(Value::Null).await.unwrap();
    assert_eq!(r.status(), StatusCode::OK);
    let d = decky(&app, &admin, "iv").await;
    assert!(
        d["mutate_interval"].is_null() && d["next_mutation"].is_null(),
        "{d}"
    );
    for bad in ["0m", "30", "1h", "01m", ""] {
        assert_eq!(
            put(json!(bad)).await.unwrap().status(),
            StatusCode::UNPROCESSABLE_ENTITY,
            "{bad}"
        );
    }
    assert_eq!(
        put(json!(30)).await.unwrap().status(),
        StatusCode::BAD_REQUEST
    );
    let r = app
        .put(
            "/deckies/ghost/mutate-interval",
            Some(&admin),
            json!({"mutate_interval": "5m"}),
        )
        .send()
        .await
        .unwrap();
    expect(r, 404, "Decky ghost not found").await;
}

#[tokio::test]
async fn the_scheduler_mutates_a_due_decky_and_never_one_without_an_interval() {
    let (app, _engine, admin) = fleet("[general]\nnet=10.78.0.0/24\n[due]\nservices=http\nmutate_interval=1m\n[never]\nservices=http\nmutate_interval=off\n").await;
    // Both were deployed two minutes ago, as far as the database knows.
    let db = sea_orm::Database::connect(&app.db_url).await.unwrap();
    use decnet_server::entities::decky;
    use sea_orm::sea_query::Expr;
    use sea_orm::EntityTrait;
    let past = chrono::Utc::now() - chrono::Duration::minutes(2);
    decky::Entity::update_many()
        .col_expr(decky::Column::CreatedAt, Expr::value(past))
        .exec(&db)
        .await
        .unwrap();
    // Any interval change wakes the scheduler; it must then find `due` overdue.
    let r = app
        .put(
            "/deckies/never/mutate-interval",
            Some(&admin),
            json!({"mutate_interval": null}),
        )
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::OK);
    let deadline = Instant::now() + Duration::from_secs(15);
    loop {
        let history: Value = app
            .get("/deckies/due/mutations", Some(&admin))
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        if history.as_array().is_some_and(|h| !h.is_empty()) {
            assert_eq!(history[0]["trigger"], "scheduled");
            assert!(history[0]["actor"].is_null());
            break;
        }
        assert!(
            Instant::now() < deadline,
            "the scheduler did not mutate an overdue decky"
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    let never: Value = app
        .get("/deckies/never/mutations", Some(&admin))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(never, json!([]), "a decky without an interval was mutated");
    let d = decky(&app, &admin, "due").await;
    assert!(d["next_mutation"].as_str().unwrap() > d["last_mutated"].as_str().unwrap());
}
