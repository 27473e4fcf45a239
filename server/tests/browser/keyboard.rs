//! The wizard with the keyboard alone: Tab and Shift+Tab move focus, Space and Enter press
//! buttons, typing fills fields. Focus is always visible. Real Chromium, real engine.

use std::time::Duration;

use fantoccini::key::Key;
use fantoccini::Client;

use crate::harness::{
    screenshot, sign_in, start_browser, start_server, wait_count, wait_for, DeckyCleanup,
};

const INITIAL: &str = "keyboard-initial-pass";
const SETTLED: &str = "keyboard settled passphrase";

/// Sends keys to whatever has focus, as a user's keyboard does.
async fn press(c: &Client, keys: &str) {
    c.active_element()
        .await
        .expect("a focused element")
        .send_keys(keys)
        .await
        .expect("send keys");
}

async fn focused_matches(c: &Client, css: &str) -> bool {
    c.execute(
        "return document.activeElement !== null && document.activeElement.matches(arguments[0]);",
        vec![css.into()],
    )
    .await
    .ok()
    .and_then(|v| v.as_bool())
    .unwrap_or(false)
}

/// Presses Tab (or Shift+Tab) until the focused element matches `css`; panics after 80.
async fn tab_to(c: &Client, css: &str, backwards: bool) {
    for _ in 0..80 {
        if focused_matches(c, css).await {
            // Whatever has focus must show it (an outline from :focus-visible).
            let outline = c
                .execute(
                    "return getComputedStyle(document.activeElement).outlineStyle;",
                    vec![],
                )
                .await
                .unwrap();
            assert_ne!(
                outline.as_str(),
                Some("none"),
                "focus on {css} is invisible"
            );
            return;
        }
        let keys = if backwards {
            format!(
                "{}{}{}",
                char::from(Key::Shift),
                char::from(Key::Tab),
                char::from(Key::Null)
            )
        } else {
            char::from(Key::Tab).to_string()
        };
        press(c, &keys).await;
    }
    screenshot(c, "keyboard-lost").await;
    panic!("Tab never reached {css}");
}

#[tokio::test]
async fn the_wizard_deploys_with_the_keyboard_alone() {
    let _cleanup = DeckyCleanup(vec!["kb-01".into(), "kb-02".into()]);
    let (base, _data) = start_server(INITIAL).await;
    let b = start_browser().await;
    let c = &b.client;
    sign_in(c, &base, "admin", INITIAL, SETTLED).await;
    c.goto(&format!("{base}/deploy")).await.unwrap();
    wait_for(c, ".app[data-hydrated='true'] #deploy-page").await;

    // Step 1: reach the Linux Server card from the top of the page, select it with Space.
    tab_to(c, "button.card[data-archetype='linux-server']", false).await;
    press(c, " ").await;
    let card = wait_for(
        c,
        "button.card[data-archetype='linux-server'][aria-pressed='true']",
    )
    .await;
    assert!(card
        .attr("class")
        .await
        .unwrap()
        .unwrap_or_default()
        .contains("selected"));
    tab_to(c, "#wizard-next:not([disabled])", false).await;
    press(c, &char::from(Key::Enter).to_string()).await;

    // Step 2: fields are filled by typing into what has focus.
    wait_for(c, "#prefix").await;
    tab_to(c, "#prefix", true).await;
    let erase: String = std::iter::repeat_n(char::from(Key::Backspace), 10).collect();
    press(c, &format!("{erase}kb")).await;
    tab_to(c, "#count", false).await;
    press(c, &format!("{erase}2")).await;
    tab_to(c, "#net", false).await;
    press(c, "10.233.9.0/24").await;
    tab_to(c, "#gw", false).await;
    press(c, "10.233.9.1").await;
    let rows = wait_count(c, "#preview tbody tr", 2, 15).await;
    assert!(rows[0].text().await.unwrap().contains("kb-01"));
    tab_to(c, "#wizard-next:not([disabled])", false).await;
    press(c, &char::from(Key::Enter).to_string()).await;

    // Step 3 (mutation) as it is, then step 4.
    wait_for(c, "#mutate-enabled").await;
    assert!(
        focused_matches(c, "#wizard-next").await,
        "focus left the Next button"
    );
    press(c, &char::from(Key::Enter).to_string()).await;
    let ini = wait_for(c, "#wizard-ini").await.text().await.unwrap();
    assert!(ini.contains("[kb]") && ini.contains("amount=2"), "{ini}");

    // Deploy with Enter; every pill ends succeeded and says so in words, not colour alone.
    tab_to(c, "#wizard-deploy", true).await;
    screenshot(c, "keyboard-deploy-focused").await;
    press(c, &char::from(Key::Enter).to_string()).await;
    let pills = wait_count(c, ".pill.succeeded", 2, 120).await;
    for p in pills {
        let text = p.text().await.unwrap().to_uppercase();
        assert!(text.contains("SUCCEEDED"), "{text}");
    }
    tokio::time::sleep(Duration::from_millis(200)).await;
    screenshot(c, "keyboard-succeeded").await;
    b.client.clone().close().await.unwrap();
}
