//! Purging captured data: counts, scopes, the password check, and what is never touched.

use reqwest::StatusCode;
use serde_json::{json, Value};

use crate::capture_seed::{db_of, ingest, line};
use crate::helpers::{expect, spawn_app, TestApp};

/// Two deckies' worth of captured data: pa (2 auths from one IP), pb (a command from another).
async fn seed(app: &TestApp) {
    let db = db_of(app).await;
    let a = [
        line(1, 10, "pa", "ssh", "connect", "198.51.100.7", json!({})),
        line(
            2,
            20,
            "pa",
            "ssh",
            "auth",
            "198.51.100.7",
            json!({"username": "root", "password": "toor", "method": "password"}),
        ),
        line(
            3,
            30,
            "pa",
            "ssh",
            "auth",
            "198.51.100.7",
            json!({"username": "admin", "password": "admin", "method": "password"}),
        ),
    ];
    ingest(&db, "c-pa", "pa", "ssh", &a).await;
    let b = [line(
        1,
        40,
        "pb",
        "telnet",
        "command",
        "203.0.113.9",
        json!({"command": "uname -a"}),
    )];
    ingest(&db, "c-pb", "pb", "telnet", &b).await;
}

#[tokio::test]
async fn scoped_purge_previews_asks_for_the_password_and_deletes_only_its_scope() {
    let app = spawn_app().await;
    let admin = app.admin_token().await;
    seed(&app).await;
    let viewer = app.user_token(&admin, "observer", "viewer").await;
    for (path, body) in [
        ("/purge/preview", json!({"scope": "all"})),
        ("/purge", json!({"scope": "all", "password": "x"})),
    ] {
        expect(
            app.post(path, Some(&viewer), body).send().await.unwrap(),
            403,
            "Insufficient permissions",
        )
        .await;
    }
    expect(
        app.delete("/config/reinit", Some(&viewer))
            .send()
            .await
            .unwrap(),
        403,
        "Insufficient permissions",
    )
    .await;

    let scope = json!({"scope": "decky", "decky": "pa"});
    let r: Value = app
        .post("/purge/preview", Some(&admin), scope.clone())
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(
        r["deleted"],
        json!({"logs": 3, "bounties": 0, "credentials": 2, "attackers": 1}),
        "{r}"
    );

    let mut wrong = scope.clone();
    wrong["password"] = json!("not my password");
    expect(
        app.post("/purge", Some(&admin), wrong)
            .send()
            .await
            .unwrap(),
        401,
        "Password is incorrect",
    )
    .await;
    let all: Value = app
        .post("/purge/preview", Some(&admin), json!({"scope": "all"}))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(
        all["deleted"]["logs"], 4,
        "a refused purge deleted something: {all}"
    );

    let mut ok = scope;
    ok["password"] = json!(crate::helpers::ADMIN_SETTLED);
    let r = app.post("/purge", Some(&admin), ok).send().await.unwrap();
    assert_eq!(r.status(), StatusCode::OK);
    let r: Value = r.json().await.unwrap();
    assert_eq!(r["message"], "Data purged");
    assert_eq!(
        r["deleted"],
        json!({"logs": 3, "bounties": 0, "credentials": 2, "attackers": 1})
    );
    let left: Value = app
        .post("/purge/preview", Some(&admin), json!({"scope": "all"}))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(left["deleted"]["logs"], 1);
    assert_eq!(left["deleted"]["attackers"], 1);
    let r = app
        .post(
            "/purge/preview",
            Some(&admin),
            json!({"scope": "everything"}),
        )
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::UNPROCESSABLE_ENTITY);
}

#[tokio::test]
async fn reinit_purges_captured_data_only() {
    let app = spawn_app().await;
    let admin = app.admin_token().await;
    seed(&app).await;
    let r = app
        .delete("/config/reinit", Some(&admin))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::OK);
    let body: Value = r.json().await.unwrap();
    assert_eq!(
        body,
        json!({"message": "Data purged", "deleted": {"logs": 4, "bounties": 1, "credentials": 2, "attackers": 2}})
    );
    let left: Value = app
        .post("/purge/preview", Some(&admin), json!({"scope": "all"}))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(
        left["deleted"],
        json!({"logs": 0, "bounties": 0, "credentials": 0, "attackers": 0})
    );
    // Users, settings and the audit trail are untouched.
    let cfg: Value = app
        .get("/config", Some(&admin))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(cfg["users"][0]["username"], "admin");
    let audit: Value = app
        .get("/audit", Some(&admin))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert!(
        audit["items"]
            .as_array()
            .unwrap()
            .iter()
            .any(|i| i["action"] == "purge"),
        "{audit}"
    );
}
