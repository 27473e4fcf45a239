//! The admin page in real Chromium: settings, users, the audit trail.

use fantoccini::Locator;

use crate::harness::{screenshot, sign_in, start_browser, start_server_with, wait_for};

#[tokio::test]
async fn an_admin_changes_a_setting_adds_a_user_and_sees_it_in_the_audit_trail() {
    let engine = std::sync::Arc::new(crate::fake_engine::FakeEngine::default());
    let (base, _data) = start_server_with("browser-initial-pass", Some(engine)).await;
    let b = start_browser().await;
    let c = &b.client;
    sign_in(
        c,
        &base,
        "admin",
        "browser-initial-pass",
        "browser settled passphrase",
    )
    .await;
    c.goto(&format!("{base}/admin")).await.unwrap();
    wait_for(c, ".app[data-hydrated='true'] #admin-page #users").await;

    let limit = c.find(Locator::Id("deployment-limit")).await.unwrap();
    limit.clear().await.unwrap();
    limit.send_keys("42").await.unwrap();
    c.find(Locator::Id("save-limit"))
        .await
        .unwrap()
        .click()
        .await
        .unwrap();
    let msg = wait_for(c, "#admin-page .ok-line")
        .await
        .text()
        .await
        .unwrap();
    assert!(msg.contains("Deployment limit updated"), "{msg}");

    c.find(Locator::Id("new-username"))
        .await
        .unwrap()
        .send_keys("analyst")
        .await
        .unwrap();
    c.find(Locator::Id("new-password"))
        .await
        .unwrap()
        .send_keys("first day passphrase")
        .await
        .unwrap();
    c.find(Locator::Id("create-user"))
        .await
        .unwrap()
        .click()
        .await
        .unwrap();
    wait_for(c, "#users tr[data-user='analyst']").await;
    let audit = wait_for(c, "#audit").await;
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
    loop {
        let text = audit.text().await.unwrap();
        if text.contains("ui.set_deployment_limit") && text.contains("ui.create_user") {
            break;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "audit trail lacks the changes: {text}"
        );
        tokio::time::sleep(std::time::Duration::from_millis(300)).await;
    }
    screenshot(c, "admin-page").await;
    b.client.clone().close().await.unwrap();
}

#[tokio::test]
async fn an_admin_previews_and_purges_with_confirmation_and_sees_the_counts() {
    let (base, data) = start_server_with(
        "browser-initial-pass",
        Some(std::sync::Arc::new(
            crate::fake_engine::FakeEngine::default(),
        )),
    )
    .await;
    // Captured data through the ingester's own path.
    let db = decnet_server::db::connect(&format!(
        "sqlite://{}?mode=rwc",
        data.path().join("decnet.db").display()
    ))
    .await
    .unwrap();
    let lines = [
        crate::capture_seed::line(
            1,
            10,
            "pg",
            "ssh",
            "auth",
            "198.51.100.7",
            serde_json::json!({"username": "root", "password": "toor"}),
        ),
        crate::capture_seed::line(
            2,
            20,
            "pg",
            "ssh",
            "auth",
            "198.51.100.7",
            serde_json::json!({"username": "pi", "password": "raspberry"}),
        ),
    ];
    crate::capture_seed::ingest(&db, "c-pg", "pg", "ssh", &lines).await;

    let b = start_browser().await;
    let c = &b.client;
    sign_in(
        c,
        &base,
        "admin",
        "browser-initial-pass",
        "browser settled passphrase",
    )
    .await;
    c.goto(&format!("{base}/captured")).await.unwrap();
    let creds = wait_for(c, ".app[data-hydrated='true'] #credentials")
        .await
        .text()
        .await
        .unwrap();
    assert!(
        creds.contains("raspberry") && creds.contains("toor"),
        "{creds}"
    );
    screenshot(c, "captured-credentials").await;

    c.goto(&format!("{base}/admin")).await.unwrap();
    wait_for(c, ".app[data-hydrated='true'] #purge").await;
    c.find(Locator::Id("purge-preview"))
        .await
        .unwrap()
        .click()
        .await
        .unwrap();
    let counts = wait_for(c, "#purge-counts").await.text().await.unwrap();
    assert!(counts.contains("2 logs, 2 credentials"), "{counts}");
    assert!(
        !c.find(Locator::Id("purge-run"))
            .await
            .unwrap()
            .is_enabled()
            .await
            .unwrap(),
        "purge without confirmation"
    );
    c.find(Locator::Id("purge-confirm"))
        .await
        .unwrap()
        .send_keys("PURGE")
        .await
        .unwrap();
    c.find(Locator::Id("purge-password"))
        .await
        .unwrap()
        .send_keys("browser settled passphrase")
        .await
        .unwrap();
    c.find(Locator::Id("purge-run"))
        .await
        .unwrap()
        .click()
        .await
        .unwrap();
    let result = wait_for(c, "#purge-result.ok-line")
        .await
        .text()
        .await
        .unwrap();
    assert!(
        result.contains("Purged: 2 logs, 2 credentials, 0 bounties, 1 attackers"),
        "{result}"
    );
    screenshot(c, "admin-purged").await;
    b.client.clone().close().await.unwrap();
}
