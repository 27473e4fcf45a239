//! Browser tests: real headless Chromium (through chromedriver) against the real server,
//! with the real WASM bundle from `target/site` (built by `cargo run -p xtask -- site`).

#[path = "../api/capture_seed.rs"]
#[allow(dead_code)]
mod capture_seed;
#[path = "../support/engine_cleanup.rs"]
#[allow(dead_code)]
mod engine_cleanup;
#[path = "../api/fake_engine.rs"]
#[allow(dead_code)]
mod fake_engine;
mod harness;
#[path = "../api/helpers.rs"]
#[allow(dead_code)]
mod helpers;

mod admin;
mod deploy;
mod foundation;
mod keyboard;
mod lazy;
