use fantoccini::Locator;

use crate::harness::{screenshot, sign_in, start_browser, start_server, wait_for};

const INITIAL: &str = "browser-initial-pass";

#[tokio::test]
async fn seeded_admin_signs_in_changes_password_and_lands_on_a_hydrated_empty_fleet() {
    let (base, _data) = start_server(INITIAL).await;
    let b = start_browser().await;
    let c = &b.client;

    c.goto(&format!("{base}/")).await.unwrap();
    wait_for(c, "#login-form").await;
    assert!(c.current_url().await.unwrap().path().ends_with("/login"));
    c.find(Locator::Id("username"))
        .await
        .unwrap()
        .send_keys("admin")
        .await
        .unwrap();
    c.find(Locator::Id("password"))
        .await
        .unwrap()
        .send_keys(INITIAL)
        .await
        .unwrap();
    screenshot(c, "foundation-1-login").await;
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
        .send_keys(INITIAL)
        .await
        .unwrap();
    c.find(Locator::Id("new_password"))
        .await
        .unwrap()
        .send_keys("a fresh browser passphrase")
        .await
        .unwrap();
    c.find(Locator::Id("confirm_password"))
        .await
        .unwrap()
        .send_keys("a fresh browser passphrase")
        .await
        .unwrap();
    screenshot(c, "foundation-2-change-password").await;
    c.find(Locator::Css("#change-password-form button[type=submit]"))
        .await
        .unwrap()
        .click()
        .await
        .unwrap();

    let fleet = wait_for(c, "#fleet-page").await;
    // Only the WASM can set this: the page is hydrated, not just server-rendered.
    wait_for(c, ".app[data-hydrated='true']").await;
    let text = fleet.text().await.unwrap();
    assert!(text.contains("No deckies yet"), "{text}");
    let nav = c
        .find(Locator::Css("nav[aria-label=Main]"))
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    for entry in ["Fleet", "Deploy", "Captured data", "Admin"] {
        assert!(nav.contains(entry), "nav lacks {entry}: {nav}");
    }
    screenshot(c, "foundation-3-fleet").await;

    // Client-side navigation works once hydrated.
    c.find(Locator::LinkText("Captured data"))
        .await
        .unwrap()
        .click()
        .await
        .unwrap();
    wait_for(c, "#captured-page").await;
    b.client.clone().close().await.unwrap();
}

#[tokio::test]
async fn a_viewer_sees_no_admin_navigation() {
    let (base, _data) = start_server(INITIAL).await;
    // Seed a settled admin and a viewer through the REST API.
    let http = reqwest::Client::new();
    let api = format!("{base}/api/v1");
    let login = |u: &'static str, p: &'static str| {
        let http = http.clone();
        let api = api.clone();
        async move {
            let r: serde_json::Value = http
                .post(format!("{api}/auth/login"))
                .json(&serde_json::json!({"username": u, "password": p}))
                .send()
                .await
                .unwrap()
                .json()
                .await
                .unwrap();
            r["access_token"].as_str().unwrap().to_owned()
        }
    };
    let first = login("admin", INITIAL).await;
    let r: serde_json::Value = http
        .post(format!("{api}/auth/change-password"))
        .bearer_auth(&first)
        .json(&serde_json::json!({"old_password": INITIAL, "new_password": "settled operator phrase"}))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let admin = r["access_token"].as_str().unwrap().to_owned();
    let r = http
        .post(format!("{api}/config/users"))
        .bearer_auth(&admin)
        .json(&serde_json::json!({"username": "observer", "password": "watcher first phrase", "role": "viewer"}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 201);

    let b = start_browser().await;
    let c = &b.client;
    sign_in(
        c,
        &base,
        "observer",
        "watcher first phrase",
        "viewer settled phrase",
    )
    .await;
    let nav = c
        .find(Locator::Css("nav[aria-label=Main]"))
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(
        nav.contains("Fleet") && nav.contains("Captured data"),
        "{nav}"
    );
    assert!(
        !nav.contains("Deploy") && !nav.contains("Admin"),
        "viewer sees admin navigation: {nav}"
    );
    let page = c
        .find(Locator::Id("fleet-page"))
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(!page.contains("Deploy your first"), "{page}");
    screenshot(c, "foundation-4-viewer-fleet").await;
    b.client.clone().close().await.unwrap();
}
