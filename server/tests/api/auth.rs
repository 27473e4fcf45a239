use reqwest::StatusCode;
use serde_json::{json, Value};

use crate::helpers::{expect, spawn_app, ADMIN_INITIAL};

const NO_CREDS: &str = "Could not validate credentials";
const CHANGE_FIRST: &str = "Password change required before accessing this resource";

#[tokio::test]
async fn health_answers_without_auth() {
    let app = spawn_app().await;
    let r = app.get("/health", None).send().await.unwrap();
    assert_eq!(r.status(), StatusCode::OK);
    let body: Value = r.json().await.unwrap();
    assert_eq!(body["status"], "ok");
    assert_eq!(body["db"], "ok");
    let docker = body["docker"].as_str().unwrap();
    assert!(
        docker == "ok" || docker.starts_with("unreachable: "),
        "{docker}"
    );
}

#[tokio::test]
async fn login_with_the_seeded_admin_returns_a_bearer_token_and_the_change_flag() {
    let app = spawn_app().await;
    let r = app.login("admin", ADMIN_INITIAL).await;
    assert_eq!(r.status(), StatusCode::OK);
    let body: Value = r.json().await.unwrap();
    assert_eq!(body["token_type"], "bearer");
    assert_eq!(body["must_change_password"], true);
    assert_eq!(body["access_token"].as_str().unwrap().split('.').count(), 3);
}

#[tokio::test]
async fn wrong_password_and_unknown_user_are_the_same_401() {
    let app = spawn_app().await;
    expect(
        app.login("admin", "wrong").await,
        401,
        "Incorrect username or password",
    )
    .await;
    expect(
        app.login("nobody", "wrong").await,
        401,
        "Incorrect username or password",
    )
    .await;
}

#[tokio::test]
async fn the_eleventh_login_try_in_five_minutes_is_429() {
    let app = spawn_app().await;
    for _ in 0..10 {
        assert_eq!(
            app.login("admin", "wrong").await.status(),
            StatusCode::UNAUTHORIZED
        );
    }
    let r = app.login("admin", ADMIN_INITIAL).await;
    assert_eq!(r.status(), StatusCode::TOO_MANY_REQUESTS);
}

#[tokio::test]
async fn missing_or_forged_token_is_401_with_www_authenticate() {
    let app = spawn_app().await;
    let r = app.get("/config", None).send().await.unwrap();
    assert_eq!(r.headers()["www-authenticate"], "Bearer");
    expect(r, 401, NO_CREDS).await;
    let forged = "eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiJ4In0.c2lnbmF0dXJl";
    expect(
        app.get("/config", Some(forged)).send().await.unwrap(),
        401,
        NO_CREDS,
    )
    .await;
    expect(
        app.get("/config", Some("not a jwt")).send().await.unwrap(),
        401,
        NO_CREDS,
    )
    .await;
}

#[tokio::test]
async fn a_token_signed_by_another_server_is_401() {
    let app = spawn_app().await;
    let other = spawn_app().await;
    let foreign = other.token("admin", ADMIN_INITIAL).await;
    expect(
        app.get("/auth/me", Some(&foreign)).send().await.unwrap(),
        401,
        NO_CREDS,
    )
    .await;
}

#[tokio::test]
async fn must_change_password_gates_everything_but_change_password() {
    let app = spawn_app().await;
    let t = app.token("admin", ADMIN_INITIAL).await;
    expect(
        app.get("/config", Some(&t)).send().await.unwrap(),
        403,
        CHANGE_FIRST,
    )
    .await;
    expect(
        app.get("/config/users", Some(&t)).send().await.unwrap(),
        403,
        CHANGE_FIRST,
    )
    .await;
    let r = app
        .post(
            "/auth/change-password",
            Some(&t),
            json!({"old_password": ADMIN_INITIAL, "new_password": "a much better passphrase"}),
        )
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::OK);
    let fresh = r.json::<Value>().await.unwrap()["access_token"]
        .as_str()
        .unwrap()
        .to_owned();
    assert_eq!(
        app.get("/config", Some(&fresh))
            .send()
            .await
            .unwrap()
            .status(),
        StatusCode::OK
    );
    // The token used for the change is revoked with it.
    expect(
        app.get("/config", Some(&t)).send().await.unwrap(),
        401,
        NO_CREDS,
    )
    .await;
}

#[tokio::test]
async fn weak_or_wrong_passwords_in_change_password_are_rejected() {
    let app = spawn_app().await;
    let t = app.token("admin", ADMIN_INITIAL).await;
    let weak = json!({"old_password": ADMIN_INITIAL, "new_password": "short"});
    expect(
        app.post("/auth/change-password", Some(&t), weak)
            .send()
            .await
            .unwrap(),
        422,
        "Password must be at least 12 characters long",
    )
    .await;
    let wrong_old = json!({"old_password": "nope", "new_password": "a much better passphrase"});
    expect(
        app.post("/auth/change-password", Some(&t), wrong_old)
            .send()
            .await
            .unwrap(),
        401,
        "Current password is incorrect",
    )
    .await;
}

#[tokio::test]
async fn logout_revokes_the_token() {
    let app = spawn_app().await;
    let t = app.admin_token().await;
    assert_eq!(
        app.get("/config", Some(&t)).send().await.unwrap().status(),
        StatusCode::OK
    );
    let r = app
        .post("/auth/logout", Some(&t), json!({}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::NO_CONTENT);
    expect(
        app.get("/config", Some(&t)).send().await.unwrap(),
        401,
        NO_CREDS,
    )
    .await;
}

#[tokio::test]
async fn the_session_cookie_authenticates_like_the_bearer_header() {
    let app = spawn_app().await;
    let t = app.admin_token().await;
    let r = app
        .client
        .get(app.url("/auth/me"))
        .header("cookie", format!("decnet_session={t}"))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::OK);
    assert_eq!(r.json::<Value>().await.unwrap()["username"], "admin");
}

#[tokio::test]
async fn a_body_that_is_not_json_is_415() {
    let app = spawn_app().await;
    let r = app
        .client
        .post(app.url("/auth/login"))
        .header("content-type", "text/plain")
        .body(r#"{"username":"admin","password":"x"}"#)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::UNSUPPORTED_MEDIA_TYPE);
    assert!(r.json::<Value>().await.unwrap()["detail"]
        .as_str()
        .unwrap()
        .contains("application/json"));
}

#[tokio::test]
async fn malformed_json_and_unknown_fields_are_422_with_a_reason() {
    let app = spawn_app().await;
    let r = app
        .client
        .post(app.url("/auth/login"))
        .header("content-type", "application/json")
        .body("{not json")
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::UNPROCESSABLE_ENTITY);
    let r = app
        .post(
            "/auth/login",
            None,
            json!({"username": "admin", "password": "x", "extra": 1}),
        )
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::UNPROCESSABLE_ENTITY);
    let detail = r.json::<Value>().await.unwrap()["detail"]
        .as_str()
        .unwrap()
        .to_owned();
    assert!(detail.contains("unknown field `extra`"), "{detail}");
}

#[tokio::test]
async fn a_viewer_is_403_on_admin_endpoints_even_with_an_invalid_body() {
    let app = spawn_app().await;
    let admin = app.admin_token().await;
    let viewer = app.user_token(&admin, "watcher", "viewer").await;
    assert_eq!(
        app.get("/config", Some(&viewer))
            .send()
            .await
            .unwrap()
            .status(),
        StatusCode::OK
    );
    expect(
        app.get("/config/users", Some(&viewer))
            .send()
            .await
            .unwrap(),
        403,
        "Insufficient permissions",
    )
    .await;
    // Authorisation is decided before the body is read.
    let r = app
        .client
        .put(app.url("/config/deployment-limit"))
        .bearer_auth(&viewer)
        .header("content-type", "application/json")
        .body("{broken")
        .send()
        .await
        .unwrap();
    expect(r, 403, "Insufficient permissions").await;
}

#[tokio::test]
async fn unknown_api_paths_are_json_404s() {
    let app = spawn_app().await;
    expect(
        app.get("/no/such/thing", None).send().await.unwrap(),
        404,
        "Not Found",
    )
    .await;
}

#[tokio::test]
async fn the_jwt_secret_file_is_private_to_the_owner() {
    use std::os::unix::fs::PermissionsExt;
    let app = spawn_app().await;
    let meta = std::fs::metadata(app.data_dir.path().join("jwt.secret")).unwrap();
    assert_eq!(meta.permissions().mode() & 0o777, 0o600);
}
