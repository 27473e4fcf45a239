//! Starting chromedriver + Chromium, and the few waits the tests need.

use std::net::TcpListener;
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use decnet_server::ServeConfig;
use fantoccini::{Client, ClientBuilder, Locator};
use serde_json::json;

pub struct Browser {
    pub client: Client,
    driver: Child,
    _profile: tempfile::TempDir,
    _slot: tokio::sync::SemaphorePermit<'static>,
}

/// Chromium instances alive at once. The test binary runs every test on its own thread; nine
/// browsers compiling the bundle together on a two-core CI machine starve each other until a
/// hydration wait times out. Three keep both cores busy without that.
static BROWSER_SLOTS: tokio::sync::Semaphore = tokio::sync::Semaphore::const_new(3);

impl Drop for Browser {
    fn drop(&mut self) {
        let _ = self.driver.kill();
        let _ = self.driver.wait();
    }
}

fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("free port")
}

pub fn workspace_root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .expect("workspace root")
        .to_path_buf()
}

/// The built site; the tests refuse to run against a missing bundle rather than pass blindly.
pub fn site_root() -> PathBuf {
    let root = workspace_root().join("target/site");
    assert!(
        root.join("pkg/decnet.wasm").exists(),
        "no WASM bundle in {}: run `cargo run -p xtask -- site` (make test does)",
        root.display()
    );
    root
}

pub async fn start_browser() -> Browser {
    let slot = BROWSER_SLOTS
        .acquire()
        .await
        .expect("browser slots never close");
    // Two TLS backends are linked in; we only speak plain HTTP to chromedriver, pick one.
    let _ = rustls::crypto::ring::default_provider().install_default();
    let port = free_port();
    let driver_bin = std::env::var("CHROMEDRIVER").unwrap_or_else(|_| "chromedriver".into());
    let driver = Command::new(&driver_bin)
        .arg(format!("--port={port}"))
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap_or_else(|e| panic!("starting {driver_bin} (apt-get install chromium-driver): {e}"));
    let profile = tempfile::tempdir().expect("profile dir");
    let caps = json!({
        "goog:chromeOptions": {
            "binary": std::env::var("CHROME").unwrap_or_else(|_| "/usr/bin/chromium".into()),
            "args": [
                "--headless=new", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                "--disable-background-networking", "--disable-component-update", "--disable-sync",
                "--disable-dev-shm-usage", "--window-size=1280,800",
                format!("--user-data-dir={}", profile.path().display()),
            ]
        }
    });
    let caps = caps.as_object().cloned().unwrap_or_default();
    let deadline = Instant::now() + Duration::from_secs(20);
    let client = loop {
        match ClientBuilder::rustls()
            .expect("rustls")
            .capabilities(caps.clone())
            .connect(&format!("http://127.0.0.1:{port}"))
            .await
        {
            Ok(c) => break c,
            Err(e) if Instant::now() < deadline => {
                let _ = e;
                tokio::time::sleep(Duration::from_millis(200)).await;
            }
            Err(e) => panic!("connecting to chromedriver: {e}"),
        }
    };
    Browser {
        client,
        driver,
        _profile: profile,
        _slot: slot,
    }
}

/// The real server serving the real bundle, on the real Docker engine.
pub async fn start_server(admin_password: &str) -> (String, tempfile::TempDir) {
    start_server_with(admin_password, None).await
}

/// As [`start_server`], with an engine double when given.
pub async fn start_server_with(
    admin_password: &str,
    engine: Option<std::sync::Arc<dyn decnet_server::engine::Engine>>,
) -> (String, tempfile::TempDir) {
    let dir = tempfile::tempdir().expect("data dir");
    let mut cfg = ServeConfig::for_data_dir(dir.path());
    cfg.admin_password = Some(admin_password.into());
    cfg.site_root = site_root();
    cfg.decoy_binary = Some(decoy_binary());
    let server = match engine {
        Some(e) => decnet_server::build_with_engine(cfg, e).await,
        None => decnet_server::build(cfg).await,
    }
    .expect("build server");
    let addr = server.local_addr().expect("addr");
    tokio::spawn(server.run());
    (format!("http://{addr}"), dir)
}

/// How long any single wait may take. Generous: on a loaded CI machine a first hydration
/// (compiling the WASM) has been seen to pass 15 s; a real hang still fails.
pub const WAIT: Duration = Duration::from_secs(40);

pub async fn wait_for(c: &Client, css: &str) -> fantoccini::elements::Element {
    c.wait()
        .at_most(WAIT)
        .for_element(Locator::Css(css))
        .await
        .unwrap_or_else(|e| panic!("waiting for {css}: {e}"))
}

pub async fn screenshot(c: &Client, name: &str) {
    let dir = workspace_root().join("target/screenshots");
    let _ = std::fs::create_dir_all(&dir);
    if let Ok(png) = c.screenshot().await {
        let _ = std::fs::write(dir.join(format!("{name}.png")), png);
    }
}

pub fn decoy_binary() -> PathBuf {
    let target = std::env::var_os("CARGO_TARGET_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| workspace_root().join("target"));
    target.join("x86_64-unknown-linux-musl/release/decnet-decoy")
}

/// Signs in through the login form and settles the forced password change.
pub async fn sign_in(c: &Client, base: &str, user: &str, initial: &str, settled: &str) {
    c.goto(&format!("{base}/login")).await.unwrap();
    wait_for(c, "#login-form").await;
    c.find(Locator::Id("username"))
        .await
        .unwrap()
        .send_keys(user)
        .await
        .unwrap();
    c.find(Locator::Id("password"))
        .await
        .unwrap()
        .send_keys(initial)
        .await
        .unwrap();
    c.find(Locator::Css("#login-form button[type=submit]"))
        .await
        .unwrap()
        .click()
        .await
        .unwrap();
    wait_for(c, "#change-password-form").await;
    c.find(Locator::Id("old_password"))
        .await
        .unwrap()
        .send_keys(initial)
        .await
        .unwrap();
    c.find(Locator::Id("new_password"))
        .await
        .unwrap()
        .send_keys(settled)
        .await
        .unwrap();
    c.find(Locator::Id("confirm_password"))
        .await
        .unwrap()
        .send_keys(settled)
        .await
        .unwrap();
    c.find(Locator::Css("#change-password-form button[type=submit]"))
        .await
        .unwrap()
        .click()
        .await
        .unwrap();
    wait_for(c, ".app[data-hydrated='true'] #fleet-page").await;
}

/// Waits until `count` elements match `css` (or panics after `secs`).
pub async fn wait_count(
    c: &Client,
    css: &str,
    count: usize,
    secs: u64,
) -> Vec<fantoccini::elements::Element> {
    let deadline = Instant::now() + Duration::from_secs(secs);
    loop {
        let found = c.find_all(Locator::Css(css)).await.unwrap_or_default();
        if found.len() == count {
            return found;
        }
        if Instant::now() > deadline {
            screenshot(c, "timeout").await;
            panic!("expected {count} x {css}, found {}", found.len());
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

/// Removes the containers and networks of the named deckies' servers (each test runs its own
/// server), even when a test fails.
pub struct DeckyCleanup(pub Vec<String>);

impl Drop for DeckyCleanup {
    fn drop(&mut self) {
        for host in crate::engine_cleanup::hosts_of(&self.0) {
            crate::engine_cleanup::remove_host(&host);
        }
    }
}
