//! `cargo bench -p server --bench purge`: time to purge 1,000,000 log rows on SQLite, and the
//! API's latency while it runs (the purge is batched so the API keeps answering).

use std::time::{Duration, Instant};

use decnet_server::purge::{self, PurgeScope};
use sea_orm::{ConnectionTrait, Statement};

const ROWS: u64 = 1_000_000;

fn pct(sorted: &[Duration], p: f64) -> Duration {
    sorted[((sorted.len() as f64 - 1.0) * p).round() as usize]
}

async fn seed(db: &sea_orm::DatabaseConnection) {
    let backend = db.get_database_backend();
    let sql = format!(
        "WITH RECURSIVE c(x) AS (SELECT 1 UNION ALL SELECT x + 1 FROM c WHERE x < {ROWS}) \
         INSERT INTO logs (container_id, boot, seq, raw_ts, log_ts, decky, service, event, src_ip, src_port, ts, fields, raw, received_at) \
         SELECT 'bench-' || (x % 50), 0, x, NULL, x, 'd' || (x % 50), 'ssh', 'command', '198.51.100.' || (x % 200), 40000, \
         '2026-01-01 00:00:00+00:00', '{{\"command\":\"uname -a\"}}', NULL, '2026-01-01 00:00:00+00:00' FROM c"
    );
    db.execute_raw(Statement::from_string(backend, sql))
        .await
        .expect("seed");
}

fn main() {
    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .unwrap();
    rt.block_on(async {
        let dir = tempfile::tempdir().unwrap();
        let mut cfg = decnet_server::ServeConfig::for_data_dir(dir.path());
        cfg.admin_password = Some("bench initial pass".into());
        cfg.docker_host = "unix:///nonexistent.sock".into();
        let server = decnet_server::build(cfg).await.unwrap();
        let base = format!("http://{}/api/v1", server.local_addr().unwrap());
        let db = server.state.core.db.clone();
        tokio::spawn(server.run());

        let t = Instant::now();
        seed(&db).await;
        println!(
            "seeded {ROWS} log rows in {:.1} s",
            t.elapsed().as_secs_f64()
        );

        // An API client polling throughout (what the console does).
        let http = reqwest::Client::new();
        let idle = probe(&http, &base, Duration::from_secs(2)).await;
        let load = tokio::spawn({
            let http = http.clone();
            let base = base.clone();
            async move { probe(&http, &base, Duration::from_secs(3)).await }
        });
        let t = Instant::now();
        // A scoped purge (every row older than a day: all of them), batched.
        let deleted = purge::purge(&db, &PurgeScope::OlderThan { days: 1 })
            .await
            .unwrap();
        let took = t.elapsed();
        let during = load.await.unwrap();
        println!(
            "purged {} log rows (scoped, batched) in {:.2} s",
            deleted.logs,
            took.as_secs_f64()
        );
        println!(
            "GET /health p50/p99 idle:   {:.2} / {:.2} ms",
            ms(pct(&idle, 0.5)),
            ms(pct(&idle, 0.99))
        );
        println!(
            "GET /health p50/p99 during: {:.2} / {:.2} ms",
            ms(pct(&during, 0.5)),
            ms(pct(&during, 0.99))
        );

        seed(&db).await;
        let t = Instant::now();
        let deleted = server_reinit(&db).await;
        println!(
            "reinit (one transaction) of {} log rows in {:.2} s",
            deleted,
            t.elapsed().as_secs_f64()
        );
    });
}

async fn server_reinit(db: &sea_orm::DatabaseConnection) -> u64 {
    decnet_server::captured::CapturedService::new(db.clone())
        .purge_all()
        .await
        .unwrap()
        .logs
}

fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1000.0
}

async fn probe(http: &reqwest::Client, base: &str, for_: Duration) -> Vec<Duration> {
    let stop = Instant::now() + for_;
    let mut lat = Vec::new();
    while Instant::now() < stop {
        let t = Instant::now();
        let _ = http
            .get(format!("{base}/health"))
            .send()
            .await
            .and_then(|r| r.error_for_status());
        lat.push(t.elapsed());
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    lat.sort();
    lat
}
