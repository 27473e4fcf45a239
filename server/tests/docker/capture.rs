//! Capture on the real engine: real clients log in to deckies on their own IPs, and what
//! they typed comes back through `GET /credentials` and `/attackers`; a server SIGKILLed
//! while events flow loses and duplicates nothing.

use std::collections::BTreeSet;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use base64::Engine as _;
use bollard::container::LogOutput;
use bollard::query_parameters::LogsOptions;
use futures_util::StreamExt;
use serde_json::{json, Value};
use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader};
use tokio::net::TcpStream;

use crate::helpers::ADMIN_INITIAL;
use crate::resilience::{start_decnet, token};
use crate::support::{api_get, deploy_and_wait, docker, spawn_real, Cleanup, SETTLE};

const IO: Duration = Duration::from_secs(10);

/// A line-oriented TCP client (FTP, SMTP, Redis).
struct Peer {
    r: BufReader<tokio::net::tcp::OwnedReadHalf>,
    w: tokio::net::tcp::OwnedWriteHalf,
}

impl Peer {
    async fn connect(ip: &str, port: u16) -> Peer {
        let s = tokio::time::timeout(IO, TcpStream::connect((ip, port)))
            .await
            .expect("connect timeout")
            .expect("connect");
        let (r, w) = s.into_split();
        Peer {
            r: BufReader::new(r),
            w,
        }
    }

    async fn line(&mut self) -> String {
        let mut l = String::new();
        tokio::time::timeout(IO, self.r.read_line(&mut l))
            .await
            .expect("read timeout")
            .expect("read");
        l
    }

    /// One reply of a `NNN-...` / `NNN ...` protocol (FTP, SMTP): its last line.
    async fn reply(&mut self) -> String {
        loop {
            let l = self.line().await;
            if l.len() < 4 || l.as_bytes()[3] != b'-' {
                return l;
            }
        }
    }

    async fn send(&mut self, data: &[u8]) {
        tokio::time::timeout(IO, self.w.write_all(data))
            .await
            .expect("write timeout")
            .expect("write");
    }

    async fn cmd(&mut self, line: &str) -> String {
        self.send(format!("{line}\r\n").as_bytes()).await;
        self.reply().await
    }
}

fn resp(args: &[&str]) -> Vec<u8> {
    let mut out = format!("*{}\r\n", args.len()).into_bytes();
    for a in args {
        out.extend_from_slice(format!("${}\r\n{a}\r\n", a.len()).as_bytes());
    }
    out
}

#[tokio::test]
async fn credentials_typed_by_real_clients_reach_the_api_within_seconds() {
    let app = spawn_real(None).await;
    let admin = app.admin_token().await;
    let ini = "[general]\nnet=10.232.1.0/24\ngw=10.232.1.1\n\n[cap-web]\nservices=http,ftp\n\n[cap-mail]\nservices=smtp,redis\n";
    let (ips, _cleanup) = deploy_and_wait(&app, &admin, ini).await;
    let (web, mail) = (&ips["cap-web"], &ips["cap-mail"]);
    let t0 = Instant::now();

    // http: Basic auth, then a login form.
    let http = reqwest::Client::builder().timeout(IO).build().unwrap();
    let r = http
        .get(format!("http://{web}/admin"))
        .basic_auth("alice", Some("basic-secret"))
        .send()
        .await
        .unwrap();
    println!("http basic -> {}", r.status());
    let r = http
        .post(format!("http://{web}/login"))
        .form(&[("username", "bob"), ("password", "form-secret")])
        .send()
        .await
        .unwrap();
    println!("http form -> {}", r.status());

    // ftp: USER/PASS.
    let mut ftp = Peer::connect(web, 21).await;
    assert!(ftp.reply().await.starts_with("220"));
    assert!(ftp.cmd("USER carol").await.starts_with("331"));
    assert!(ftp.cmd("PASS ftp-secret").await.starts_with("530"));
    ftp.cmd("QUIT").await;

    // redis: AUTH user password over RESP.
    let mut redis = Peer::connect(mail, 6379).await;
    redis.send(&resp(&["AUTH", "dave", "redis-secret"])).await;
    let answer = redis.line().await;
    assert!(answer.starts_with('-'), "{answer}");

    // smtp: EHLO, AUTH PLAIN.
    let mut smtp = Peer::connect(mail, 25).await;
    assert!(smtp.reply().await.starts_with("220"));
    assert!(smtp.cmd("EHLO attacker.test").await.starts_with("250"));
    let plain = base64::engine::general_purpose::STANDARD.encode("\0erin\0smtp-secret");
    assert!(smtp
        .cmd(&format!("AUTH PLAIN {plain}"))
        .await
        .starts_with("535"));
    smtp.cmd("QUIT").await;
    let typed = t0.elapsed();

    let expected = [
        ("cap-web", "http", "alice", "basic-secret"),
        ("cap-web", "http", "bob", "form-secret"),
        ("cap-web", "ftp", "carol", "ftp-secret"),
        ("cap-mail", "redis", "dave", "redis-secret"),
        ("cap-mail", "smtp", "erin", "smtp-secret"),
    ];
    let deadline = Instant::now() + Duration::from_secs(10);
    let creds = loop {
        let got = api_get(&app, &admin, "/credentials?limit=500").await;
        let items = got["items"].as_array().unwrap().clone();
        let found = expected.iter().all(|(d, s, u, p)| {
            items.iter().any(|c| {
                c["decky"] == *d && c["service"] == *s && c["username"] == *u && c["password"] == *p
            })
        });
        if found {
            break items;
        }
        assert!(
            Instant::now() < deadline,
            "credentials missing after 10 s: {items:#?}"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    };
    println!(
        "5 logins typed in {typed:?}; all in /credentials {:?} after the last",
        t0.elapsed() - typed
    );
    // The decky saw the test through the bridge gateway of the test's network.
    for c in &creds {
        assert_eq!(c["src_ip"], "10.232.1.1", "{c}");
    }
    let methods: BTreeSet<&str> = creds.iter().filter_map(|c| c["method"].as_str()).collect();
    assert!(
        methods.is_superset(&BTreeSet::from(["basic", "form", "password", "AUTH PLAIN"])),
        "{methods:?}"
    );

    let attackers = api_get(&app, &admin, "/attackers").await;
    assert_eq!(attackers["total"], 1, "{attackers}");
    let a = &attackers["items"][0];
    assert_eq!(a["src_ip"], "10.232.1.1");
    assert_eq!(a["deckies"], json!(["cap-mail", "cap-web"]));
    assert_eq!(a["services"], json!(["ftp", "http", "redis", "smtp"]));
    assert!(a["auth_count"].as_i64().unwrap() >= 5, "{a}");
    assert!(
        a["event_count"].as_i64().unwrap() > a["auth_count"].as_i64().unwrap(),
        "{a}"
    );

    // What else was captured: the form body and the typed commands, every event in /logs.
    // (The last commands may land a batch after the credentials did.)
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let bounties = api_get(&app, &admin, "/bounties?limit=500").await;
        let has = |kind: &str, service: &str, needle: &str| {
            bounties["items"].as_array().unwrap().iter().any(|b| {
                b["kind"] == kind
                    && b["service"] == service
                    && b["content"].as_str().unwrap_or("").contains(needle)
            })
        };
        let logs = api_get(&app, &admin, "/logs?decky=cap-web&service=ftp&limit=500").await;
        let events: BTreeSet<&str> = logs["items"]
            .as_array()
            .unwrap()
            .iter()
            .map(|l| l["event"].as_str().unwrap())
            .collect();
        let all_events = BTreeSet::from(["connect", "auth", "command", "disconnect"]);
        if has("request_body", "http", "username=bob&password=form-secret")
            && has("command", "ftp", "QUIT")
            && has("command", "smtp", "EHLO attacker.test")
            && events == all_events
        {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "bounties or ftp events missing: {bounties:#} {events:?}"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

#[tokio::test]
async fn a_service_container_restarted_by_docker_keeps_both_runs_of_events() {
    let app = spawn_real(None).await;
    let admin = app.admin_token().await;
    let ini = "[general]\nnet=10.232.3.0/24\ngw=10.232.3.1\n[cap-boot]\nservices=ftp\n";
    let ids = app.deploy_ok(&admin, ini, false).await;
    let rows = app.wait_terminal(&admin, &ids, SETTLE).await;
    let _cleanup = Cleanup(rows[0]["host_uuid"].as_str().unwrap().to_owned());
    assert_eq!(rows[0]["status"], "succeeded", "{}", rows[0]);
    let ip = app.deckies(&admin).await[0]["ip"]
        .as_str()
        .unwrap()
        .to_owned();

    let login = |user: &'static str| {
        let ip = ip.clone();
        async move {
            // Right after a restart the service may not listen yet: try again later.
            let Ok(s) = TcpStream::connect((ip.as_str(), 21)).await else {
                return;
            };
            let (r, w) = s.into_split();
            let mut ftp = Peer {
                r: BufReader::new(r),
                w,
            };
            ftp.reply().await;
            ftp.cmd(&format!("USER {user}")).await;
            ftp.cmd("PASS x").await;
        }
    };
    login("before").await;
    let count = |user: &'static str| {
        let app = &app;
        let admin = &admin;
        async move {
            let v = api_get(app, admin, "/credentials").await;
            v["items"]
                .as_array()
                .unwrap()
                .iter()
                .filter(|c| c["username"] == user)
                .count()
        }
    };
    let deadline = Instant::now() + Duration::from_secs(10);
    while count("before").await == 0 {
        assert!(Instant::now() < deadline, "first login never arrived");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    // The decoy process restarts in the same container: its seq starts at 1 again.
    let docker = docker().await;
    docker
        .restart_container(
            "decnet-cap-boot-ftp",
            None::<bollard::query_parameters::RestartContainerOptions>,
        )
        .await
        .unwrap();
    let deadline = Instant::now() + Duration::from_secs(15);
    loop {
        login("after").await;
        if count("after").await > 0 {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "login after the restart never arrived"
        );
        tokio::time::sleep(Duration::from_millis(300)).await;
    }
    let logs = api_get(&app, &admin, "/logs?decky=cap-boot&limit=500").await;
    let boots: BTreeSet<i64> = logs["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|l| l["boot"].as_i64().unwrap())
        .collect();
    assert_eq!(boots, BTreeSet::from([0, 1]), "{logs:#}");
    assert_eq!(count("before").await, 1);

    // Torn down: ingest stops following and forgets where it stood; the data stays.
    assert_eq!(cursor_rows(app.data_dir.path()).await, 1);
    let r = app
        .delete("/deckies/cap-boot", Some(&admin))
        .send()
        .await
        .unwrap();
    let ids = crate::support::ids_of(&r.json().await.unwrap());
    let rows = app.wait_terminal(&admin, &ids, SETTLE).await;
    assert_eq!(rows[0]["status"], "succeeded", "{}", rows[0]);
    let deadline = Instant::now() + Duration::from_secs(10);
    while cursor_rows(app.data_dir.path()).await > 0 {
        assert!(
            Instant::now() < deadline,
            "the cursor of a removed container stayed"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert_eq!(count("before").await, 1, "captured data outlives its decky");
}

async fn cursor_rows(data: &std::path::Path) -> i64 {
    use sea_orm::{ConnectionTrait, Statement};
    let url = format!("sqlite://{}?mode=ro", data.join("decnet.db").display());
    let db = sea_orm::Database::connect(url).await.unwrap();
    let sql = "SELECT COUNT(*) AS n FROM ingest_cursors";
    let row = db
        .query_one_raw(Statement::from_string(db.get_database_backend(), sql))
        .await
        .unwrap()
        .unwrap();
    row.try_get::<i64>("", "n").unwrap()
}

/// `n` pipelined `GET`s on one fresh Redis connection; returns how many were answered.
async fn pipelined_gets(ip: &str, tag: &str, n: usize) -> usize {
    let mut peer = Peer::connect(ip, 6379).await;
    let mut buf = Vec::new();
    for i in 0..n {
        buf.extend_from_slice(&resp(&["GET", &format!("{tag}:{i}")]));
    }
    peer.send(&buf).await;
    let mut answered = 0;
    while answered < n {
        peer.line().await;
        answered += 1;
    }
    answered
}

#[tokio::test]
async fn a_log_rotation_while_following_neither_loses_nor_duplicates() {
    let app = spawn_real(None).await;
    let admin = app.admin_token().await;
    let ini = "[general]\nnet=10.232.4.0/24\ngw=10.232.4.1\n[cap-rot]\nservices=redis\n";
    let ids = app.deploy_ok(&admin, ini, false).await;
    let rows = app.wait_terminal(&admin, &ids, SETTLE).await;
    let host = rows[0]["host_uuid"].as_str().unwrap().to_owned();
    let _cleanup = Cleanup(host.clone());
    assert_eq!(rows[0]["status"], "succeeded", "{}", rows[0]);
    let ip = app.deckies(&admin).await[0]["ip"]
        .as_str()
        .unwrap()
        .to_owned();

    // ~50 000 lines of ~300 bytes: past json-file's 10 MB rotation while ingest follows.
    let t = Instant::now();
    let mut tasks = Vec::new();
    for worker in 0..4 {
        let ip = ip.clone();
        tasks.push(tokio::spawn(async move {
            let mut sum = 0;
            for conn in 0..14 {
                // The decoy serves at most 1000 commands per connection.
                sum += pipelined_gets(
                    &ip,
                    &format!("rotation-padding-{worker}-{conn}-{}", "x".repeat(40)),
                    900,
                )
                .await;
            }
            sum
        }));
    }
    let mut answered = 0;
    for task in tasks {
        answered += task.await.unwrap();
    }
    println!("{answered} commands answered in {:?}", t.elapsed());
    let docker = docker().await;
    let truth = emitted(&docker, &host).await;
    let deadline = Instant::now() + Duration::from_secs(60);
    let (got, rows, raw) = loop {
        let (got, rows, raw) = stored(app.data_dir.path()).await;
        if rows >= truth.len() || Instant::now() > deadline {
            break (got, rows, raw);
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    };
    println!("decoy emitted {} events; stored {rows} rows ({} distinct), {raw} raw, {:?} after the first command", truth.len(), got.len(), t.elapsed());
    assert_eq!(
        truth.len(),
        answered + 2 * 56,
        "one event per command, plus connect and disconnect"
    );
    assert_eq!(got, truth);
    assert_eq!(rows, truth.len(), "duplicated rows");
    assert_eq!(raw, 0);
}

/// Every valid event line a container's decoy wrote, by (container id, seq), from Docker.
async fn emitted(docker: &bollard::Docker, host: &str) -> BTreeSet<(String, i64)> {
    let mut out = BTreeSet::new();
    // Bases print nothing; every line of a service container is an event.
    for (name, id, _) in crate::support::containers_of(docker, host).await {
        let opts = LogsOptions {
            stdout: true,
            ..Default::default()
        };
        let mut logs = docker.logs(&id, Some(opts));
        let mut buf = Vec::new();
        while let Some(Ok(chunk)) = logs.next().await {
            if let LogOutput::StdOut { message } = chunk {
                buf.extend_from_slice(&message);
            }
        }
        for line in buf.split(|b| *b == b'\n').filter(|l| !l.is_empty()) {
            let v: Value = serde_json::from_slice(line)
                .unwrap_or_else(|_| panic!("{name}: {}", String::from_utf8_lossy(line)));
            out.insert((id.clone(), v["seq"].as_i64().unwrap()));
        }
    }
    out
}

/// What the server stored: (container id, seq) of every event row, and the number of rows.
async fn stored(data: &std::path::Path) -> (BTreeSet<(String, i64)>, usize, i64) {
    use sea_orm::{ConnectionTrait, Statement};
    let url = format!("sqlite://{}?mode=ro", data.join("decnet.db").display());
    let db = sea_orm::Database::connect(url).await.unwrap();
    let rows = db
        .query_all_raw(Statement::from_string(
            db.get_database_backend(),
            "SELECT container_id, boot, seq FROM logs WHERE seq IS NOT NULL",
        ))
        .await
        .unwrap();
    let raw = db
        .query_one_raw(Statement::from_string(
            db.get_database_backend(),
            "SELECT COUNT(*) AS n FROM logs WHERE seq IS NULL",
        ))
        .await
        .unwrap()
        .unwrap()
        .try_get::<i64>("", "n")
        .unwrap();
    let mut set = BTreeSet::new();
    for r in &rows {
        let boot: i32 = r.try_get("", "boot").unwrap();
        assert_eq!(boot, 0, "no decoy restarted in this test");
        set.insert((
            r.try_get::<String>("", "container_id").unwrap(),
            r.try_get::<i64>("", "seq").unwrap(),
        ));
    }
    (set, rows.len(), raw)
}

/// Keeps the deckies busy: HTTP requests on fresh connections and Redis commands.
fn load(
    ips: Vec<String>,
    stop: Arc<AtomicBool>,
    sent: Arc<AtomicU64>,
) -> Vec<tokio::task::JoinHandle<()>> {
    let mut tasks = Vec::new();
    for ip in ips {
        let (stop2, sent2, ip2) = (stop.clone(), sent.clone(), ip.clone());
        tasks.push(tokio::spawn(async move {
            let http = reqwest::Client::builder()
                .timeout(Duration::from_secs(2))
                .pool_max_idle_per_host(0)
                .build()
                .unwrap();
            let mut i = 0u64;
            while !stop2.load(Ordering::Relaxed) {
                i += 1;
                if http
                    .get(format!("http://{ip2}/page/{i}"))
                    .send()
                    .await
                    .is_ok()
                {
                    sent2.fetch_add(1, Ordering::Relaxed);
                }
                tokio::time::sleep(Duration::from_millis(5)).await;
            }
        }));
        let (stop, sent) = (stop.clone(), sent.clone());
        tasks.push(tokio::spawn(async move {
            let Ok(Ok(s)) = tokio::time::timeout(IO, TcpStream::connect((ip.as_str(), 6379))).await
            else {
                return;
            };
            let (r, mut w) = s.into_split();
            let mut r = BufReader::new(r);
            let mut i = 0u64;
            while !stop.load(Ordering::Relaxed) {
                i += 1;
                if w.write_all(&resp(&["GET", &format!("key:{i}")]))
                    .await
                    .is_err()
                {
                    return;
                }
                let mut l = String::new();
                if r.read_line(&mut l).await.is_err() {
                    return;
                }
                sent.fetch_add(1, Ordering::Relaxed);
                tokio::time::sleep(Duration::from_millis(3)).await;
            }
        }));
    }
    tasks
}

#[tokio::test]
async fn sigkill_while_events_flow_then_restart_loses_and_duplicates_nothing() {
    let data = tempfile::tempdir().unwrap();
    let http = reqwest::Client::new();
    let (proc1, api) = start_decnet(data.path());
    let first = token(&http, &api, ADMIN_INITIAL).await;
    let r: Value = http
        .post(format!("{api}/auth/change-password"))
        .bearer_auth(&first)
        .json(&json!({"old_password": ADMIN_INITIAL, "new_password": "capture restart passphrase"}))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let admin = r["access_token"].as_str().unwrap().to_owned();
    let ini =
        "[general]\nnet=10.232.2.0/24\ngw=10.232.2.1\n[cap-rk]\namount=2\nservices=http,redis\n";
    let r: Value = http
        .post(format!("{api}/deckies/deploy"))
        .bearer_auth(&admin)
        .json(&json!({"ini_content": ini}))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let ids = crate::support::ids_of(&r);
    let deadline = Instant::now() + SETTLE;
    let rows = loop {
        let q: Vec<(&str, &str)> = ids.iter().map(|i| ("ids", i.as_str())).collect();
        let v: Value = http
            .get(format!("{api}/deckies/lifecycle"))
            .bearer_auth(&admin)
            .query(&q)
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        let rows = v["rows"].as_array().unwrap().clone();
        if rows
            .iter()
            .all(|r| r["status"] == "succeeded" || r["status"] == "failed")
            || Instant::now() > deadline
        {
            break rows;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    };
    let host = rows[0]["host_uuid"].as_str().unwrap().to_owned();
    let _cleanup = Cleanup(host.clone());
    for r in &rows {
        assert_eq!(r["status"], "succeeded", "{r}");
    }
    let deckies: Value = http
        .get(format!("{api}/deckies"))
        .bearer_auth(&admin)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let ips: Vec<String> = deckies
        .as_array()
        .unwrap()
        .iter()
        .map(|d| d["ip"].as_str().unwrap().to_owned())
        .collect();

    let stop = Arc::new(AtomicBool::new(false));
    let sent = Arc::new(AtomicU64::new(0));
    let tasks = load(ips, stop.clone(), sent.clone());
    // Kill the server once it has stored some of the flow, mid-stream.
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        let v: Value = http
            .get(format!("{api}/logs?limit=1"))
            .bearer_auth(&admin)
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        if v["total"].as_u64().unwrap_or(0) > 200 {
            break;
        }
        assert!(Instant::now() < deadline, "ingest never got going: {v}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let at_kill = sent.load(Ordering::Relaxed);
    drop(proc1); // SIGKILL
    let (stored_at_kill, _, _) = stored(data.path()).await;
    tokio::time::sleep(Duration::from_secs(2)).await;
    let while_down = sent.load(Ordering::Relaxed) - at_kill;
    let (_proc2, _api) = start_decnet(data.path());
    let restarted = Instant::now();
    tokio::time::sleep(Duration::from_secs(2)).await;
    stop.store(true, Ordering::Relaxed);
    for t in tasks {
        let _ = t.await;
    }
    println!(
        "{} requests/commands in all; {at_kill} before the kill ({} events stored at that moment), {while_down} while the server was down",
        sent.load(Ordering::Relaxed),
        stored_at_kill.len()
    );
    assert!(while_down > 0, "nothing happened while the server was down");

    let docker = docker().await;
    let truth = emitted(&docker, &host).await;
    let deadline = Instant::now() + Duration::from_secs(30);
    let (got, rows, raw) = loop {
        let (got, rows, raw) = stored(data.path()).await;
        if got.len() >= truth.len() || Instant::now() > deadline {
            break (got, rows, raw);
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    };
    println!("decoys emitted {} events; stored {} rows ({} distinct), {raw} raw; caught up {:?} after the restart", truth.len(), rows, got.len(), restarted.elapsed());
    let lost: Vec<_> = truth.difference(&got).take(10).collect();
    let extra: Vec<_> = got.difference(&truth).take(10).collect();
    assert!(
        lost.is_empty(),
        "lost {} event(s), e.g. {lost:?}",
        truth.difference(&got).count()
    );
    assert!(
        extra.is_empty(),
        "stored events no decoy emitted: {extra:?}"
    );
    assert_eq!(rows, truth.len(), "duplicated rows");
    assert_eq!(raw, 0, "a kill must not leave partial lines behind");
    assert!(stored_at_kill.len() < truth.len());
}
