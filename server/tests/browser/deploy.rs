//! The deploy wizard, the INI editor and the fleet page in real Chromium, on the real engine.

use std::time::Duration;

use fantoccini::Locator;

use crate::harness::{
    screenshot, sign_in, start_browser, start_server, start_server_with, wait_count, wait_for,
    DeckyCleanup,
};

const INITIAL: &str = "browser-initial-pass";
const SETTLED: &str = "browser settled passphrase";

#[tokio::test]
async fn the_wizard_deploys_three_deckies_and_every_pill_ends_succeeded() {
    let _cleanup = DeckyCleanup(vec!["wz-01".into(), "wz-02".into(), "wz-03".into()]);
    let (base, _data) = start_server(INITIAL).await;
    let b = start_browser().await;
    let c = &b.client;
    sign_in(c, &base, "admin", INITIAL, SETTLED).await;

    let t = std::time::Instant::now();
    c.goto(&format!("{base}/deploy")).await.unwrap();
    wait_for(c, ".app[data-hydrated='true'] #deploy-page").await;
    println!("deploy page interactive in {:?}", t.elapsed());
    c.find(Locator::Css("button.card[data-archetype='linux-server']"))
        .await
        .unwrap()
        .click()
        .await
        .unwrap();
    screenshot(c, "wizard-1-archetype").await;
    c.find(Locator::Id("wizard-next"))
        .await
        .unwrap()
        .click()
        .await
        .unwrap();

    let prefix = wait_for(c, "#prefix").await;
    prefix.clear().await.unwrap();
    prefix.send_keys("wz").await.unwrap();
    c.find(Locator::Id("net"))
        .await
        .unwrap()
        .send_keys("10.233.1.0/24")
        .await
        .unwrap();
    c.find(Locator::Id("gw"))
        .await
        .unwrap()
        .send_keys("10.233.1.1")
        .await
        .unwrap();
    let rows = wait_count(c, "#preview tbody tr", 3, 15).await;
    let first = rows[0].text().await.unwrap();
    assert!(
        first.contains("wz-01") && first.contains("10.233.1.2"),
        "{first}"
    );
    screenshot(c, "wizard-2-configuration").await;
    c.find(Locator::Id("wizard-next"))
        .await
        .unwrap()
        .click()
        .await
        .unwrap();
    wait_for(c, "#mutate-enabled").await;
    c.find(Locator::Id("wizard-next"))
        .await
        .unwrap()
        .click()
        .await
        .unwrap();

    let ini = wait_for(c, "#wizard-ini").await.text().await.unwrap();
    assert!(
        ini.contains("[wz]") && ini.contains("amount=3") && ini.contains("archetype=linux-server"),
        "{ini}"
    );
    screenshot(c, "wizard-4-deploy").await;
    c.find(Locator::Id("wizard-deploy"))
        .await
        .unwrap()
        .click()
        .await
        .unwrap();

    wait_count(c, ".pill.succeeded", 3, 120).await;
    screenshot(c, "wizard-5-succeeded").await;
    let end = wait_for(c, ".end-state.ok").await.text().await.unwrap();
    assert!(end.contains("All 3 decky/ies are up"), "{end}");
    // All succeeded: the wizard takes the operator to the fleet.
    let rows = wait_count(c, "#fleet-table tbody tr", 3, 15).await;
    let text = rows[0].text().await.unwrap();
    assert!(
        text.contains("wz-01") && text.contains("✓ running"),
        "{text}"
    );
    screenshot(c, "fleet-3-running").await;
    b.client.clone().close().await.unwrap();
}

#[tokio::test]
async fn the_ini_editor_flags_errors_by_line_then_a_failing_decky_shows_its_reason() {
    let _cleanup = DeckyCleanup(vec!["ed-ok1".into(), "ed-bad".into(), "ed-ok2".into()]);
    let (base, _data) = start_server(INITIAL).await;
    let b = start_browser().await;
    let c = &b.client;
    sign_in(c, &base, "admin", INITIAL, SETTLED).await;
    c.goto(&format!("{base}/deploy")).await.unwrap();
    wait_for(c, ".app[data-hydrated='true'] #deploy-page").await;
    c.find(Locator::Id("tab-ini"))
        .await
        .unwrap()
        .click()
        .await
        .unwrap();

    let editor = wait_for(c, "#ini-text").await;
    editor.clear().await.unwrap();
    editor
        .send_keys("[general]\nnet=10.233.2.0/24\n\n[ed-ok1]\nservices=nosuch\n")
        .await
        .unwrap();
    let err = wait_for(c, "#ini-errors li.error")
        .await
        .text()
        .await
        .unwrap();
    assert!(
        err.contains("line 5: Unknown service(s) in [ed-ok1]: ['nosuch']"),
        "{err}"
    );
    assert!(!c
        .find(Locator::Id("ini-deploy"))
        .await
        .unwrap()
        .is_enabled()
        .await
        .unwrap());
    screenshot(c, "ini-1-error").await;

    // A bring-your-own service whose image does not exist: that decky fails, the others don't.
    editor.clear().await.unwrap();
    editor
        .send_keys(
            "[general]\nnet=10.233.2.0/24\ngw=10.233.2.1\n\n[custom-broken]\nbinary=decnet-no-such-image:1\nexec=/x\nports=9999\n\n\
             [ed-ok1]\nservices=http\n\n[ed-bad]\nservices=broken\n\n[ed-ok2]\nservices=ftp\n",
        )
        .await
        .unwrap();
    wait_for(c, "#ini-errors .ok-line").await;
    c.find(Locator::Id("ini-deploy"))
        .await
        .unwrap()
        .click()
        .await
        .unwrap();
    wait_count(c, ".pill.succeeded", 2, 120).await;
    let failed = wait_count(c, ".pill.failed", 1, 60).await;
    assert!(failed[0].text().await.unwrap().contains("ed-bad"));
    let title = failed[0].attr("title").await.unwrap().unwrap_or_default();
    assert!(
        title.contains("decnet-no-such-image"),
        "hover text: {title}"
    );
    let end = wait_for(c, ".end-state.bad").await.text().await.unwrap();
    assert!(
        end.contains("1 of 3 failed")
            && end.contains("ed-bad")
            && end.contains("decnet-no-such-image"),
        "{end}"
    );
    assert!(c.find(Locator::Id("retry-failed")).await.is_ok());
    screenshot(c, "ini-2-one-failed").await;
    // It stays on the page (no navigation away on failure).
    tokio::time::sleep(Duration::from_secs(2)).await;
    assert!(c.current_url().await.unwrap().path().ends_with("/deploy"));
    b.client.clone().close().await.unwrap();
}

#[tokio::test]
async fn a_viewer_sees_the_fleet_but_no_deploy_mutate_or_teardown_controls() {
    let engine = std::sync::Arc::new(crate::fake_engine::FakeEngine::default());
    let (base, _data) = start_server_with(INITIAL, Some(engine)).await;
    // An admin deploys one decky and creates a viewer, through the API.
    let http = reqwest::Client::new();
    let api = format!("{base}/api/v1");
    let post = |path: &str, token: Option<&str>, body: serde_json::Value| {
        let mut rb = http.post(format!("{api}{path}")).json(&body);
        if let Some(t) = token {
            rb = rb.bearer_auth(t);
        }
        rb.send()
    };
    let v: serde_json::Value = post(
        "/auth/login",
        None,
        serde_json::json!({"username":"admin","password":INITIAL}),
    )
    .await
    .unwrap()
    .json()
    .await
    .unwrap();
    let first = v["access_token"].as_str().unwrap().to_owned();
    let v: serde_json::Value = post(
        "/auth/change-password",
        Some(&first),
        serde_json::json!({"old_password":INITIAL,"new_password":SETTLED}),
    )
    .await
    .unwrap()
    .json()
    .await
    .unwrap();
    let admin = v["access_token"].as_str().unwrap().to_owned();
    assert_eq!(
        post(
            "/deckies/deploy",
            Some(&admin),
            serde_json::json!({"ini_content":"[seen]\nservices=http\n"})
        )
        .await
        .unwrap()
        .status(),
        202
    );
    let r = post(
        "/config/users",
        Some(&admin),
        serde_json::json!({"username":"observer","password":"first day phrase","role":"viewer"}),
    )
    .await
    .unwrap();
    assert_eq!(r.status(), 201);

    let b = start_browser().await;
    let c = &b.client;
    sign_in(
        c,
        &base,
        "observer",
        "first day phrase",
        "viewer settled phrase",
    )
    .await;
    let rows = wait_count(c, "#fleet-table tbody tr", 1, 15).await;
    assert!(rows[0].text().await.unwrap().contains("seen"));
    let headers = c
        .find(Locator::Css("#fleet-table thead"))
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(!headers.contains("Actions"), "{headers}");
    assert!(
        c.find_all(Locator::Css("#fleet-table button"))
            .await
            .unwrap()
            .is_empty(),
        "a viewer got buttons"
    );
    screenshot(c, "viewer-fleet").await;
    c.goto(&format!("{base}/deploy")).await.unwrap();
    let page = wait_for(c, "#deploy-page").await.text().await.unwrap();
    assert!(page.contains("Insufficient permissions"), "{page}");
    assert!(c
        .find_all(Locator::Css("#wizard-deploy, #ini-deploy, button.card"))
        .await
        .unwrap()
        .is_empty());
    b.client.clone().close().await.unwrap();
}
