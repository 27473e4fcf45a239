use reqwest::StatusCode;
use serde_json::{json, Value};

use crate::helpers::{expect, spawn_app};

#[tokio::test]
async fn config_shows_defaults_and_users_only_to_admins() {
    let app = spawn_app().await;
    let admin = app.admin_token().await;
    let body: Value = app
        .get("/config", Some(&admin))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(body["role"], "admin");
    assert_eq!(body["deployment_limit"], 10);
    assert_eq!(body["global_mutation_interval"], "30m");
    assert_eq!(body["users"][0]["username"], "admin");
    let viewer = app.user_token(&admin, "watcher", "viewer").await;
    let body: Value = app
        .get("/config", Some(&viewer))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(body["role"], "viewer");
    assert!(body.get("users").is_none());
}

#[tokio::test]
async fn deployment_limit_accepts_1_to_500_only() {
    let app = spawn_app().await;
    let admin = app.admin_token().await;
    for bad in [json!(0), json!(501), json!("10"), json!(-1)] {
        let r = app
            .put(
                "/config/deployment-limit",
                Some(&admin),
                json!({"deployment_limit": bad}),
            )
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), StatusCode::UNPROCESSABLE_ENTITY, "{bad}");
    }
    let r = app
        .put(
            "/config/deployment-limit",
            Some(&admin),
            json!({"deployment_limit": 500}),
        )
        .send()
        .await
        .unwrap();
    expect_message(r, "Deployment limit updated").await;
    let body: Value = app
        .get("/config", Some(&admin))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(body["deployment_limit"], 500);
}

#[tokio::test]
async fn global_mutation_interval_follows_the_pattern() {
    let app = spawn_app().await;
    let admin = app.admin_token().await;
    for bad in ["0m", "30", "30s", "m", "05m", ""] {
        let r = app
            .put(
                "/config/global-mutation-interval",
                Some(&admin),
                json!({"global_mutation_interval": bad}),
            )
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), StatusCode::UNPROCESSABLE_ENTITY, "{bad}");
    }
    let r = app
        .put(
            "/config/global-mutation-interval",
            Some(&admin),
            json!({"global_mutation_interval": "2d"}),
        )
        .send()
        .await
        .unwrap();
    expect_message(r, "Global mutation interval updated").await;
}

#[tokio::test]
async fn user_administration_keeps_its_rules() {
    let app = spawn_app().await;
    let admin = app.admin_token().await;
    let body = json!({"username": "alice", "password": "first day passphrase", "role": "viewer"});
    let r = app
        .post("/config/users", Some(&admin), body.clone())
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::CREATED);
    let alice: Value = r.json().await.unwrap();
    expect(
        app.post("/config/users", Some(&admin), body)
            .send()
            .await
            .unwrap(),
        409,
        "Username already exists",
    )
    .await;
    let weak = json!({"username": "bob", "password": "123", "role": "viewer"});
    assert_eq!(
        app.post("/config/users", Some(&admin), weak)
            .send()
            .await
            .unwrap()
            .status(),
        StatusCode::UNPROCESSABLE_ENTITY
    );

    let users: Value = app
        .get("/config/users", Some(&admin))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let me = users
        .as_array()
        .unwrap()
        .iter()
        .find(|u| u["username"] == "admin")
        .unwrap()["uuid"]
        .as_str()
        .unwrap()
        .to_owned();
    expect(
        app.delete(&format!("/config/users/{me}"), Some(&admin))
            .send()
            .await
            .unwrap(),
        403,
        "Cannot delete your own account",
    )
    .await;
    expect(
        app.put(
            &format!("/config/users/{me}/role"),
            Some(&admin),
            json!({"role": "viewer"}),
        )
        .send()
        .await
        .unwrap(),
        403,
        "Cannot change your own role",
    )
    .await;
    expect(
        app.delete("/config/users/nope", Some(&admin))
            .send()
            .await
            .unwrap(),
        404,
        "User not found",
    )
    .await;

    let id = alice["uuid"].as_str().unwrap();
    let r = app
        .put(
            &format!("/config/users/{id}/role"),
            Some(&admin),
            json!({"role": "admin"}),
        )
        .send()
        .await
        .unwrap();
    expect_message(r, "User role updated").await;
    let r = app
        .put(
            &format!("/config/users/{id}/reset-password"),
            Some(&admin),
            json!({"new_password": "reset passphrase nine"}),
        )
        .send()
        .await
        .unwrap();
    expect_message(r, "Password reset").await;
    let r = app.login("alice", "reset passphrase nine").await;
    assert_eq!(
        r.json::<Value>().await.unwrap()["must_change_password"],
        true
    );
    let r = app
        .delete(&format!("/config/users/{id}"), Some(&admin))
        .send()
        .await
        .unwrap();
    expect_message(r, "User deleted").await;
    expect(
        app.login("alice", "reset passphrase nine").await,
        401,
        "Incorrect username or password",
    )
    .await;
}

async fn expect_message(r: reqwest::Response, message: &str) {
    assert_eq!(r.status(), StatusCode::OK);
    assert_eq!(r.json::<Value>().await.unwrap()["message"], message);
}

#[tokio::test]
async fn the_catalogue_is_served_to_viewers_and_names_only_listed_services() {
    let app = spawn_app().await;
    expect(
        app.get("/archetypes", None).send().await.unwrap(),
        401,
        "Could not validate credentials",
    )
    .await;
    let admin = app.admin_token().await;
    let services: Value = app
        .get("/services", Some(&admin))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let slugs: Vec<&str> = services
        .as_array()
        .unwrap()
        .iter()
        .map(|s| s["slug"].as_str().unwrap())
        .collect();
    assert!(
        slugs.contains(&"ssh") && slugs.contains(&"http"),
        "{slugs:?}"
    );
    let archetypes: Value = app
        .get("/archetypes", Some(&admin))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(archetypes.as_array().unwrap().len(), 15);
    for a in archetypes.as_array().unwrap() {
        for s in a["services"].as_array().unwrap() {
            assert!(
                slugs.contains(&s.as_str().unwrap()),
                "archetype {} names unlisted {s}",
                a["slug"]
            );
        }
    }
    let distros: Value = app
        .get("/distros", Some(&admin))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(distros.as_array().unwrap().len(), 9);
}

#[tokio::test]
async fn the_audit_trail_records_logins_changes_and_denials_for_admins_only() {
    let app = spawn_app().await;
    assert_eq!(
        app.login("admin", "wrong").await.status(),
        StatusCode::UNAUTHORIZED
    );
    let admin = app.admin_token().await;
    let r = app
        .put(
            "/config/deployment-limit",
            Some(&admin),
            json!({"deployment_limit": 20}),
        )
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::OK);
    let viewer = app.user_token(&admin, "observer", "viewer").await;
    let r = app
        .put(
            "/config/deployment-limit",
            Some(&viewer),
            json!({"deployment_limit": 30}),
        )
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::FORBIDDEN);
    expect(
        app.get("/audit", Some(&viewer)).send().await.unwrap(),
        403,
        "Insufficient permissions",
    )
    .await;

    let page: Value = app
        .get("/audit", Some(&admin))
        .query(&[("limit", "100")])
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let items = page["items"].as_array().unwrap();
    let find = |action: &str, actor: &str, outcome: &str| {
        items
            .iter()
            .any(|i| i["action"] == action && i["actor"] == actor && i["outcome"] == outcome)
    };
    assert!(
        find("login", "admin", "denied"),
        "failed login missing: {page}"
    );
    assert!(find("login", "admin", "ok"), "{page}");
    assert!(find("password.change", "admin", "ok"), "{page}");
    assert!(find("settings.deployment_limit", "admin", "ok"), "{page}");
    assert!(find("user.create", "admin", "ok"), "{page}");
    assert!(
        find("settings.deployment_limit", "observer", "denied"),
        "{page}"
    );
    assert!(items
        .iter()
        .all(|i| i["at"].as_str().unwrap().ends_with('Z')));
    assert_eq!(
        app.get("/audit", Some(&admin))
            .query(&[("limit", "0")])
            .send()
            .await
            .unwrap()
            .status(),
        StatusCode::UNPROCESSABLE_ENTITY
    );
}
