//! The lazily loaded pages (deploy, admin, captured data, a decky): the fleet page downloads
//! only the main WASM module, and each lazy page loads its chunk when entered, whether by a
//! client-side link or opened directly by URL, and is interactive either way.

use fantoccini::{Client, Locator};

use crate::harness::{screenshot, sign_in, start_browser, start_server_with, wait_count, wait_for};

const INITIAL: &str = "browser-initial-pass";
const SETTLED: &str = "browser settled passphrase";

/// The `.wasm` files this document has fetched so far, by file name.
async fn wasm_fetched(c: &Client) -> Vec<String> {
    let v = c
        .execute(
            "return performance.getEntriesByType('resource').map(e => e.name)\
             .filter(n => n.endsWith('.wasm')).map(n => n.split('/').pop());",
            vec![],
        )
        .await
        .unwrap();
    serde_json::from_value(v).unwrap()
}

async fn follow(c: &Client, link: &str) {
    c.find(Locator::LinkText(link))
        .await
        .unwrap()
        .click()
        .await
        .unwrap();
}

#[tokio::test]
async fn the_fleet_loads_no_chunk_and_each_lazy_page_works_by_link_and_by_url() {
    let engine = std::sync::Arc::new(crate::fake_engine::FakeEngine::default());
    let (base, _data) = start_server_with(INITIAL, Some(engine)).await;
    let b = start_browser().await;
    let c = &b.client;
    sign_in(c, &base, "admin", INITIAL, SETTLED).await;

    // One decky, through the API, for the decky page.
    let http = reqwest::Client::new();
    let v: serde_json::Value = http
        .post(format!("{base}/api/v1/auth/login"))
        .json(&serde_json::json!({"username": "admin", "password": SETTLED}))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let token = v["access_token"].as_str().unwrap().to_owned();
    let r = http
        .post(format!("{base}/api/v1/deckies/deploy"))
        .bearer_auth(&token)
        .json(&serde_json::json!({"ini_content": "[lz]\nservices=http\n"}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 202);

    // "/" from scratch: the main module only, and no chunk preloaded.
    c.goto(&format!("{base}/")).await.unwrap();
    wait_for(c, ".app[data-hydrated='true'] #fleet-page").await;
    wait_count(c, "#fleet-table tbody tr", 1, 15).await;
    assert_eq!(wasm_fetched(c).await, vec!["decnet.wasm".to_owned()]);
    assert!(c
        .find_all(Locator::Css("link[href*='split_'], link[href*='chunk_']"))
        .await
        .unwrap()
        .is_empty());

    // Client-side into each lazy page: its chunk arrives and the page works.
    follow(c, "lz").await;
    wait_for(c, "#decky-page #mutate-now").await;
    follow(c, "Deploy").await;
    wait_for(c, "#deploy-page #tab-ini")
        .await
        .click()
        .await
        .unwrap();
    wait_for(c, "#ini-text").await;
    follow(c, "Admin").await;
    wait_for(c, "#admin-page #users tr[data-user='admin']").await;
    follow(c, "Captured data").await;
    wait_for(c, "#captured-page").await;
    let fetched = wasm_fetched(c).await;
    for page in ["decky", "deploy", "admin", "captured"] {
        let chunk = format!("split___{page}_route_view_");
        assert!(
            fetched.iter().any(|f| f.starts_with(&chunk)),
            "no {chunk}* in {fetched:?}"
        );
    }
    follow(c, "Fleet").await;
    wait_for(c, "#fleet-page").await;

    // Opened directly: the server preloads the page's chunk, and the page hydrates.
    c.goto(&format!("{base}/deckies/lz")).await.unwrap();
    assert!(!c
        .find_all(Locator::Css(
            "link[rel=preload][href*='split___decky_route_view_']"
        ))
        .await
        .unwrap()
        .is_empty());
    // "Mutate now" runs a server function from a click handler of the chunk; the history
    // table appears with the page's next refresh.
    wait_for(c, ".app[data-hydrated='true'] #decky-page #mutate-now")
        .await
        .click()
        .await
        .unwrap();
    wait_for(c, "#decky-page #mutations").await;
    // The answer stays on screen through the page's 2 s refreshes.
    tokio::time::sleep(std::time::Duration::from_millis(4500)).await;
    let said = wait_for(c, "#decky-page .mutation-controls [role=status]")
        .await
        .text()
        .await
        .unwrap();
    assert_eq!(said, "Mutation queued");
    screenshot(c, "lazy-decky-direct").await;
    b.client.clone().close().await.unwrap();
}
