//! `spawn_app()`: the real application on 127.0.0.1:0 with its own data dir and database.

use decnet_server::ServeConfig;
use reqwest::{Client, RequestBuilder, Response, StatusCode};
use serde_json::{json, Value};

pub const ADMIN_INITIAL: &str = "initial-admin-secret";
pub const ADMIN_SETTLED: &str = "settled operator passphrase 42";

pub struct TestApp {
    pub base: String,
    pub client: Client,
    pub data_dir: tempfile::TempDir,
}

pub async fn spawn_app() -> TestApp {
    let data_dir = tempfile::tempdir().expect("tempdir");
    let mut cfg = ServeConfig::for_data_dir(data_dir.path());
    cfg.admin_password = Some(ADMIN_INITIAL.into());
    let server = decnet_server::build(cfg).await.expect("build app");
    let addr = server.local_addr().expect("addr");
    tokio::spawn(server.run());
    TestApp { base: format!("http://{addr}/api/v1"), client: Client::new(), data_dir }
}

impl TestApp {
    pub fn url(&self, path: &str) -> String {
        format!("{}{path}", self.base)
    }

    pub fn get(&self, path: &str, token: Option<&str>) -> RequestBuilder {
        with_token(self.client.get(self.url(path)), token)
    }

    pub fn post(&self, path: &str, token: Option<&str>, body: Value) -> RequestBuilder {
        with_token(self.client.post(self.url(path)), token).json(&body)
    }

    pub fn put(&self, path: &str, token: Option<&str>, body: Value) -> RequestBuilder {
        with_token(self.client.put(self.url(path)), token).json(&body)
    }

    pub fn delete(&self, path: &str, token: Option<&str>) -> RequestBuilder {
        with_token(self.client.delete(self.url(path)), token)
    }

    pub async fn login(&self, username: &str, password: &str) -> Response {
        self.post("/auth/login", None, json!({"username": username, "password": password}))
            .send()
            .await
            .expect("login request")
    }

    pub async fn token(&self, username: &str, password: &str) -> String {
        let r = self.login(username, password).await;
        assert_eq!(r.status(), StatusCode::OK, "login of {username}");
        r.json::<Value>().await.unwrap()["access_token"].as_str().unwrap().to_owned()
    }

    /// Signs in as the seeded admin and performs the forced password change.
    pub async fn admin_token(&self) -> String {
        let first = self.token("admin", ADMIN_INITIAL).await;
        let r = self
            .post(
                "/auth/change-password",
                Some(&first),
                json!({"old_password": ADMIN_INITIAL, "new_password": ADMIN_SETTLED}),
            )
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), StatusCode::OK);
        r.json::<Value>().await.unwrap()["access_token"].as_str().unwrap().to_owned()
    }

    /// Creates a user with `role` and returns a settled token for them.
    pub async fn user_token(&self, admin: &str, username: &str, role: &str) -> String {
        let initial = "viewer initial pass 1";
        let r = self
            .post("/config/users", Some(admin), json!({"username": username, "password": initial, "role": role}))
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), StatusCode::CREATED);
        let t = self.token(username, initial).await;
        let r = self
            .post(
                "/auth/change-password",
                Some(&t),
                json!({"old_password": initial, "new_password": "viewer settled pass 2"}),
            )
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), StatusCode::OK);
        r.json::<Value>().await.unwrap()["access_token"].as_str().unwrap().to_owned()
    }
}

fn with_token(rb: RequestBuilder, token: Option<&str>) -> RequestBuilder {
    match token {
        Some(t) => rb.bearer_auth(t),
        None => rb,
    }
}

/// Asserts status and `detail`, returning the body.
pub async fn expect(r: Response, status: u16, detail: &str) -> Value {
    let got = r.status().as_u16();
    let body: Value = r.json().await.unwrap_or(Value::Null);
    assert_eq!(got, status, "body: {body}");
    assert_eq!(body["detail"], detail, "body: {body}");
    body
}
