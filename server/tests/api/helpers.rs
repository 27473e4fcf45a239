//! `spawn_app()`: the real application on 127.0.0.1:0 with its own data dir and database.

use std::sync::Arc;
use std::time::Duration;

use decnet_server::engine::Engine;
use decnet_server::ServeConfig;
use reqwest::{Client, RequestBuilder, Response, StatusCode};
use serde_json::{json, Value};

pub const ADMIN_INITIAL: &str = "initial-admin-secret";
pub const ADMIN_SETTLED: &str = "settled operator passphrase 42";

pub struct TestApp {
    pub base: String,
    pub client: Client,
    pub data_dir: tempfile::TempDir,
    /// The app's database: SQLite in `data_dir`, or a fresh PostgreSQL database of its own
    /// when `DECNET_TEST_PG` names a server (`make test` runs the API suite both ways).
    pub db_url: String,
}

/// A new, empty PostgreSQL database on the server `admin_url` points at; its URL.
async fn fresh_pg_database(admin_url: &str) -> String {
    use sea_orm::ConnectionTrait;
    let name = format!("decnet_test_{}", uuid::Uuid::new_v4().simple());
    let admin = sea_orm::Database::connect(admin_url)
        .await
        .expect("DECNET_TEST_PG: cannot connect");
    admin
        .execute_unprepared(&format!("CREATE DATABASE {name}"))
        .await
        .expect("create test database");
    admin.close().await.ok();
    // Same server and credentials, the new database.
    let (base, query) = admin_url.split_once('?').unwrap_or((admin_url, ""));
    let base = base.rsplit_once('/').map(|(b, _)| b).unwrap_or(base);
    if query.is_empty() {
        format!("{base}/{name}")
    } else {
        format!("{base}/{name}?{query}")
    }
}

/// The app with the real Docker engine (no deploy in these tests reaches it unless asked).
pub async fn spawn_app() -> TestApp {
    spawn_app_with(None, |_| {}).await
}

/// The app with `engine` (a test double) instead of Docker, and `tweak` applied to its config.
pub async fn spawn_app_with(
    engine: Option<Arc<dyn Engine>>,
    tweak: impl FnOnce(&mut ServeConfig),
) -> TestApp {
    let data_dir = tempfile::tempdir().expect("tempdir");
    let mut cfg = ServeConfig::for_data_dir(data_dir.path());
    cfg.admin_password = Some(ADMIN_INITIAL.into());
    // Nothing here may touch a real engine by accident.
    cfg.docker_host = "unix:///nonexistent/docker.sock".into();
    if let Ok(pg) = std::env::var("DECNET_TEST_PG") {
        cfg.db_url = Some(fresh_pg_database(&pg).await);
    }
    tweak(&mut cfg);
    let db_url = cfg.database_url();
    let server = match engine {
        Some(e) => decnet_server::build_with_engine(cfg, e).await,
        None => decnet_server::build(cfg).await,
    }
    .expect("build app");
    let addr = server.local_addr().expect("addr");
    tokio::spawn(server.run());
    TestApp {
        base: format!("http://{addr}/api/v1"),
        client: Client::new(),
        data_dir,
        db_url,
    }
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
        self.post(
            "/auth/login",
            None,
            json!({"username": username, "password": password}),
        )
        .send()
        .await
        .expect("login request")
    }

    pub async fn token(&self, username: &str, password: &str) -> String {
        let r = self.login(username, password).await;
        assert_eq!(r.status(), StatusCode::OK, "login of {username}");
        r.json::<Value>().await.unwrap()["access_token"]
            .as_str()
            .unwrap()
            .to_owned()
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
        r.json::<Value>().await.unwrap()["access_token"]
            .as_str()
            .unwrap()
            .to_owned()
    }

    /// Creates a user with `role` and returns a settled token for them.
    pub async fn user_token(&self, admin: &str, username: &str, role: &str) -> String {
        let initial = "viewer initial pass 1";
        let r = self
            .post(
                "/config/users",
                Some(admin),
                json!({"username": username, "password": initial, "role": role}),
            )
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
        r.json::<Value>().await.unwrap()["access_token"]
            .as_str()
            .unwrap()
            .to_owned()
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

impl TestApp {
    pub async fn deploy(&self, token: &str, ini: &str, replace: bool) -> Response {
        self.post(
            "/deckies/deploy",
            Some(token),
            json!({"ini_content": ini, "replace_fleet": replace}),
        )
        .send()
        .await
        .expect("deploy request")
    }

    /// Deploys and returns the lifecycle ids (asserting 202).
    pub async fn deploy_ok(&self, token: &str, ini: &str, replace: bool) -> Vec<String> {
        let r = self.deploy(token, ini, replace).await;
        let status = r.status();
        let body: Value = r.json().await.unwrap();
        assert_eq!(status, StatusCode::ACCEPTED, "{body}");
        body["lifecycle_ids"]
            .as_array()
            .unwrap()
            .iter()
            .map(|v| v.as_str().unwrap().to_owned())
            .collect()
    }

    /// Tears decky `name` down (asserting 202), waits for its row (up to `within`), asserts it
    /// succeeded and returns it.
    pub async fn teardown_ok(&self, token: &str, name: &str, within: Duration) -> Value {
        let r = self
            .delete(&format!("/deckies/{name}"), Some(token))
            .send()
            .await
            .expect("teardown request");
        let status = r.status();
        let body: Value = r.json().await.unwrap();
        assert_eq!(status, StatusCode::ACCEPTED, "{body}");
        let id = body["lifecycle_ids"][0].as_str().unwrap().to_owned();
        let row = self.wait_terminal(token, &[id], within).await.remove(0);
        assert_eq!(row["status"], "succeeded", "{row}");
        row
    }

    pub async fn lifecycle(&self, token: &str, ids: &[String]) -> Vec<Value> {
        let q: Vec<(&str, &str)> = ids.iter().map(|i| ("ids", i.as_str())).collect();
        let r = self
            .get("/deckies/lifecycle", Some(token))
            .query(&q)
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), StatusCode::OK);
        r.json::<Value>().await.unwrap()["rows"]
            .as_array()
            .unwrap()
            .clone()
    }

    /// Polls until every row is terminal (or `within` passes) and returns the rows.
    pub async fn wait_terminal(&self, token: &str, ids: &[String], within: Duration) -> Vec<Value> {
        let deadline = tokio::time::Instant::now() + within;
        loop {
            let rows = self.lifecycle(token, ids).await;
            let done = rows.len() == ids.len()
                && rows
                    .iter()
                    .all(|r| r["status"] == "succeeded" || r["status"] == "failed");
            if done || tokio::time::Instant::now() > deadline {
                return rows;
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    pub async fn deckies(&self, token: &str) -> Vec<Value> {
        let r = self.get("/deckies", Some(token)).send().await.unwrap();
        assert_eq!(r.status(), StatusCode::OK);
        r.json::<Value>().await.unwrap().as_array().unwrap().clone()
    }
}

/// Asserts the status and returns the `detail` (empty when there is none).
pub async fn expect_status(r: Response, status: u16) -> String {
    let got = r.status().as_u16();
    let body: Value = r.json().await.unwrap_or(Value::Null);
    assert_eq!(got, status, "body: {body}");
    body["detail"].as_str().unwrap_or("").to_owned()
}
