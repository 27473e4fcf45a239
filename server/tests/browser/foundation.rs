use fantoccini::Locator;

use crate::harness::{screenshot, start_browser, start_server, wait_for};

const INITIAL: &str = "browser-initial-pass";

#[tokio::test]
async fn seeded_admin_signs_in_changes_password_and_lands_on_a_hydrated_empty_fleet() {
    let (base, _data) = start_server(INITIAL).await;
    let b = start_browser().await;
    let c = &b.client;

    c.goto(&format!("{base}/")).await.unwrap();
    wait_for(c, "#login-form").await;
    assert!(c.current_url().await.unwrap().path().ends_with("/login"));
    c.find(Locator::Id("username")).await.unwrap().send_keys("admin").await.unwrap();
    c.find(Locator::Id("password")).await.unwrap().send_keys(INITIAL).await.unwrap();
    screenshot(c, "foundation-1-login").await;
    c.find(Locator::Css("#login-form button[type=submit]")).await.unwrap().click().await.unwrap();

    wait_for(c, "#change-password-form").await;
    c.find(Locator::Id("old_password")).await.unwrap().send_keys(INITIAL).await.unwrap();
    c.find(Locator::Id("new_password")).await.unwrap().send_keys("a fresh browser passphrase").await.unwrap();
    c.find(Locator::Id("confirm_password")).await.unwrap().send_keys("a fresh browser passphrase").await.unwrap();
    screenshot(c, "foundation-2-change-password").await;
    c.find(Locator::Css("#change-password-form button[type=submit]")).await.unwrap().click().await.unwrap();

    let fleet = wait_for(c, "#fleet-page").await;
    // Only the WASM can set this: the page is hydrated, not just server-rendered.
    wait_for(c, ".app[data-hydrated='true']").await;
    let text = fleet.text().await.unwrap();
    assert!(text.contains("No deckies yet"), "{text}");
    let nav = c.find(Locator::Css("nav[aria-label=Main]")).await.unwrap().text().await.unwrap();
    for entry in ["Fleet", "Deploy", "Captured data", "Admin"] {
        assert!(nav.contains(entry), "nav lacks {entry}: {nav}");
    }
    screenshot(c, "foundation-3-fleet").await;

    // Client-side navigation works once hydrated.
    c.find(Locator::LinkText("Captured data")).await.unwrap().click().await.unwrap();
    wait_for(c, "#captured-page").await;
    b.client.clone().close().await.unwrap();
}
