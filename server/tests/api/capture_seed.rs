//! Seeding captured data through the ingester's own path, for tests that need some.

use decnet_server::ingest::{store_batch, ContainerFeed, Cursor, Entry, Target};
use sea_orm::DatabaseConnection;
use serde_json::{json, Value};

use crate::helpers::TestApp;

/// The app's own database, opened a second time.
pub async fn db_of(app: &TestApp) -> DatabaseConnection {
    decnet_server::db::connect(&app.db_url).await.expect("db")
}

/// A decoy line as the decoy writes it.
pub fn line(
    seq: u64,
    ms: u64,
    decky: &str,
    service: &str,
    event: &str,
    ip: &str,
    extra: Value,
) -> String {
    let mut v = json!({
        "ts": format!("2026-11-29T10:{:02}:{:02}.{:03}Z", ms / 60_000, (ms / 1000) % 60, ms % 1000),
        "seq": seq, "decky": decky, "service": service, "event": event,
        "src_ip": ip, "src_port": 40000 + seq,
    });
    if let (Some(o), Some(e)) = (v.as_object_mut(), extra.as_object()) {
        o.extend(e.clone());
    }
    v.to_string()
}

/// Docker's frame for `body` at `n` ns past a fixed second.
pub fn frame(n: u64, body: &str) -> Vec<u8> {
    let secs = 1_700_000_000 + n / 1_000_000_000;
    let t = chrono::DateTime::from_timestamp(secs as i64, (n % 1_000_000_000) as u32).unwrap();
    format!(
        "{} {body}\n",
        t.to_rfc3339_opts(chrono::SecondsFormat::Nanos, true)
    )
    .into_bytes()
}

/// Feeds `lines` of one container through the ingester's path and stores them.
pub async fn ingest(
    db: &DatabaseConnection,
    container: &str,
    decky: &str,
    service: &str,
    lines: &[String],
) -> Vec<Entry> {
    let mut feed = ContainerFeed::new(Target::new(container, decky, service), Cursor::default());
    let entries: Vec<Entry> = lines
        .iter()
        .enumerate()
        .filter_map(|(i, l)| feed.frame(&frame(i as u64 + 1, l)))
        .collect();
    store_batch(db, "test-host", &entries).await.expect("store");
    entries
}
