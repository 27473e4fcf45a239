//! `GET /logs`, `/credentials`, `/attackers`, `/bounties`: seeded through the ingester's own
//! path (a `ContainerFeed` per container, then `store_batch`), read over HTTP.

use decnet_server::captured::CapturedService;
use reqwest::StatusCode;
use sea_orm::DatabaseConnection;
use serde_json::{json, Value};

use decnet_server::ingest::{store_batch, ContainerFeed, Entry, Target};

use crate::capture_seed::{db_of, frame, ingest, line};
use crate::helpers::{expect, spawn_app, TestApp};

async fn get(app: &TestApp, token: &str, path: &str) -> Value {
    let r = app.get(path, Some(token)).send().await.unwrap();
    let status = r.status();
    let body: Value = r.json().await.unwrap();
    assert_eq!(status, StatusCode::OK, "{path}: {body}");
    body
}

fn items(v: &Value) -> &Vec<Value> {
    v["items"].as_array().unwrap()
}

#[tokio::test]
async fn captured_lists_need_a_signed_in_user_and_viewers_may_read() {
    let app = spawn_app().await;
    for path in ["/logs", "/credentials", "/attackers", "/bounties"] {
        expect(
            app.get(path, None).send().await.unwrap(),
            401,
            "Could not validate credentials",
        )
        .await;
    }
    let admin = app.admin_token().await;
    let viewer = app.user_token(&admin, "watcher", "viewer").await;
    for path in ["/logs", "/credentials", "/attackers", "/bounties"] {
        let body = get(&app, &viewer, path).await;
        assert_eq!(
            body,
            json!({"items": [], "total": 0, "limit": 100, "offset": 0}),
            "{path}"
        );
    }
}

#[tokio::test]
async fn an_ingested_session_shows_in_every_list() {
    let app = spawn_app().await;
    let admin = app.admin_token().await;
    let db = db_of(&app).await;
    let ip = "203.0.113.7";
    ingest(
        &db,
        "c-ftp",
        "web-01",
        "ftp",
        &[
            line(1, 0, "web-01", "ftp", "connect", ip, json!({})),
            line(
                2,
                10,
                "web-01",
                "ftp",
                "auth",
                ip,
                json!({"username": "root", "password": "toor", "method": "password"}),
            ),
            line(
                3,
                20,
                "web-01",
                "ftp",
                "command",
                ip,
                json!({"command": "SITE EXEC id"}),
            ),
            "not json at all".into(),
            line(
                4,
                30,
                "web-01",
                "ftp",
                "disconnect",
                ip,
                json!({"duration_ms": 30, "reason": "closed"}),
            ),
        ],
    )
    .await;
    ingest(
        &db,
        "c-http",
        "web-02",
        "http",
        &[
            line(1, 40, "web-02", "http", "request", ip, json!({"method": "POST", "path": "/login", "user_agent": "curl", "body": "user=a&pass=b"})),
            line(2, 50, "web-02", "http", "auth", ip, json!({"username": "a", "password": "b", "method": "form", "path": "/login"})),
            // A line naming another decky than its container is not trusted.
            line(3, 60, "web-01", "http", "auth", ip, json!({"username": "x", "password": "y"})),
        ],
    )
    .await;

    let logs = get(&app, &admin, "/logs").await;
    assert_eq!(logs["total"], 8);
    let events: Vec<&str> = items(&logs)
        .iter()
        .map(|l| l["event"].as_str().unwrap())
        .collect();
    assert_eq!(
        events.iter().filter(|e| **e == "raw").count(),
        2,
        "{events:?}"
    );
    let raw = items(&logs)
        .iter()
        .find(|l| l["raw"] == "not json at all")
        .expect("raw row");
    assert_eq!(raw["decky"], "web-01");
    assert_eq!(raw["seq"], Value::Null);
    let auth = items(&logs)
        .iter()
        .find(|l| l["seq"] == 2 && l["decky"] == "web-01")
        .unwrap();
    assert_eq!(auth["fields"]["username"], "root");
    assert_eq!(auth["src_port"], 40002);
    assert_eq!(auth["ts"], "2026-11-29T10:00:00.010Z");

    let creds = get(&app, &admin, "/credentials").await;
    assert_eq!(creds["total"], 2);
    let c = &items(&creds)[0];
    assert_eq!(
        (c["decky"].as_str(), c["service"].as_str()),
        (Some("web-02"), Some("http"))
    );
    assert_eq!(
        (
            c["username"].as_str(),
            c["password"].as_str(),
            c["method"].as_str()
        ),
        (Some("a"), Some("b"), Some("form"))
    );
    assert_eq!(c["extra"], json!({"path": "/login"}));
    let c = &items(&creds)[1];
    assert_eq!(
        (
            c["decky"].as_str(),
            c["username"].as_str(),
            c["password"].as_str()
        ),
        (Some("web-01"), Some("root"), Some("toor"))
    );
    assert_eq!(c["src_ip"], ip);

    let bounties = get(&app, &admin, "/bounties").await;
    let kinds: Vec<(&str, &str)> = items(&bounties)
        .iter()
        .map(|b| (b["kind"].as_str().unwrap(), b["content"].as_str().unwrap()))
        .collect();
    assert_eq!(
        kinds,
        [
            ("request_body", "user=a&pass=b"),
            ("command", "SITE EXEC id")
        ]
    );

    let attackers = get(&app, &admin, "/attackers").await;
    assert_eq!(attackers["total"], 1);
    let a = &items(&attackers)[0];
    assert_eq!(a["src_ip"], ip);
    assert_eq!(a["event_count"], 6);
    assert_eq!(a["auth_count"], 2);
    assert_eq!(a["deckies"], json!(["web-01", "web-02"]));
    assert_eq!(a["services"], json!(["ftp", "http"]));
    assert_eq!(a["first_seen"], "2026-11-29T10:00:00.000Z");
    assert_eq!(a["last_seen"], "2026-11-29T10:00:00.050Z");
}

#[tokio::test]
async fn storing_the_same_lines_again_adds_nothing_and_a_restarted_decoy_adds_a_boot() {
    let app = spawn_app().await;
    let admin = app.admin_token().await;
    let db = db_of(&app).await;
    let ip = "198.51.100.1";
    let lines: Vec<String> = (1..=3)
        .map(|s| {
            line(
                s,
                s * 10,
                "d1",
                "redis",
                "auth",
                ip,
                json!({"username": "default", "password": format!("p{s}")}),
            )
        })
        .collect();
    let entries = ingest(&db, "c1", "d1", "redis", &lines).await;
    // A re-attach that re-delivers, or a retried batch: all no-ops.
    let stored = store_batch(&db, "test-host", &entries).await.unwrap();
    assert_eq!((stored.events(), stored.duplicates), (0, 3));
    let doubled: Vec<Entry> = entries.iter().chain(entries.iter()).cloned().collect();
    assert_eq!(
        store_batch(&db, "test-host", &doubled)
            .await
            .unwrap()
            .duplicates,
        6
    );
    let attackers = get(&app, &admin, "/attackers").await;
    assert_eq!(
        (
            items(&attackers)[0]["event_count"].as_i64(),
            items(&attackers)[0]["auth_count"].as_i64()
        ),
        (Some(3), Some(3))
    );
    assert_eq!(get(&app, &admin, "/credentials").await["total"], 3);

    // The decoy restarted inside the same container: seq starts again at 1.
    let mut feed = ContainerFeed::new(Target::new("c1", "d1", "redis"), entries[2].cursor);
    let again: Vec<Entry> = (1..=2)
        .filter_map(|s| {
            feed.frame(&frame(
                100 + s,
                &line(s, 100 + s, "d1", "redis", "connect", ip, json!({})),
            ))
        })
        .collect();
    store_batch(&db, "test-host", &again).await.unwrap();
    let logs = get(&app, &admin, "/logs?limit=500").await;
    assert_eq!(logs["total"], 5);
    let mut keys: Vec<(i64, i64)> = items(&logs)
        .iter()
        .map(|l| (l["boot"].as_i64().unwrap(), l["seq"].as_i64().unwrap()))
        .collect();
    keys.sort();
    assert_eq!(keys, [(0, 1), (0, 2), (0, 3), (1, 1), (1, 2)]);
}

/// 250 events over two deckies, three services and two sources, 1 s apart.
async fn seed_many(db: &DatabaseConnection) {
    for (container, decky, service, ip, offset) in [
        ("c-a", "alpha", "ssh", "10.9.0.1", 0),
        ("c-b", "alpha", "http", "10.9.0.2", 1),
        ("c-c", "beta", "ftp", "10.9.0.1", 2),
    ] {
        let lines: Vec<String> = (0..84u64)
            .filter(|i| offset != 2 || *i < 82)
            .map(|i| {
                let ms = (i * 3 + offset) * 1000;
                line(
                    i + 1,
                    ms,
                    decky,
                    service,
                    "auth",
                    ip,
                    json!({"username": format!("u{i}"), "password": "p"}),
                )
            })
            .collect();
        ingest(db, container, decky, service, &lines).await;
    }
}

#[tokio::test]
async fn pages_walk_every_row_once_newest_first_by_cursor_or_offset() {
    let app = spawn_app().await;
    let admin = app.admin_token().await;
    let db = db_of(&app).await;
    seed_many(&db).await;

    for list in ["/logs", "/credentials"] {
        let mut seen = Vec::new();
        let mut cursor: Option<String> = None;
        loop {
            let path = match &cursor {
                Some(c) => format!("{list}?limit=100&cursor={c}"),
                None => format!("{list}?limit=100"),
            };
            let page = get(&app, &admin, &path).await;
            assert_eq!(page["total"], 250);
            seen.extend(items(&page).iter().map(|r| {
                (
                    r["ts"].as_str().unwrap().to_owned(),
                    r["id"].as_i64().unwrap(),
                )
            }));
            match page["next_cursor"].as_str() {
                Some(c) => cursor = Some(c.to_owned()),
                None => break,
            }
        }
        assert_eq!(seen.len(), 250, "{list}");
        let mut sorted = seen.clone();
        sorted.sort_by(|a, b| b.cmp(a));
        assert_eq!(seen, sorted, "{list} is newest first");
        sorted.dedup();
        assert_eq!(sorted.len(), 250);

        let mut by_offset: Vec<i64> = Vec::new();
        for offset in [0, 100, 200] {
            let page = get(&app, &admin, &format!("{list}?limit=100&offset={offset}")).await;
            by_offset.extend(items(&page).iter().map(|r| r["id"].as_i64().unwrap()));
        }
        assert_eq!(by_offset, seen.iter().map(|s| s.1).collect::<Vec<_>>());
    }
    let page = get(&app, &admin, "/logs?offset=249&limit=5").await;
    assert_eq!(
        (
            items(&page).len(),
            page["offset"].as_u64(),
            page["limit"].as_u64()
        ),
        (1, Some(249), Some(5))
    );
    assert!(page.get("next_cursor").is_none());
    assert_eq!(
        items(&get(&app, &admin, "/logs?offset=1000").await).len(),
        0
    );

    // Attackers page by (last_seen, src_ip).
    let first = get(&app, &admin, "/attackers?limit=1").await;
    assert_eq!(first["total"], 2);
    let next = first["next_cursor"].as_str().unwrap();
    let second = get(&app, &admin, &format!("/attackers?limit=1&cursor={next}")).await;
    let ips = [&items(&first)[0]["src_ip"], &items(&second)[0]["src_ip"]];
    assert_eq!(ips, [&json!("10.9.0.2"), &json!("10.9.0.1")]);
}

#[tokio::test]
async fn filters_narrow_every_list() {
    let app = spawn_app().await;
    let admin = app.admin_token().await;
    let db = db_of(&app).await;
    seed_many(&db).await;
    let total = |v: Value| v["total"].as_u64().unwrap();

    assert_eq!(total(get(&app, &admin, "/logs?decky=alpha").await), 168);
    assert_eq!(
        total(get(&app, &admin, "/logs?decky=beta&service=ftp").await),
        82
    );
    assert_eq!(
        total(get(&app, &admin, "/logs?decky=beta&service=ssh").await),
        0
    );
    assert_eq!(
        total(get(&app, &admin, "/credentials?src_ip=10.9.0.1").await),
        166
    );
    assert_eq!(total(get(&app, &admin, "/logs?event=auth").await), 250);
    assert_eq!(total(get(&app, &admin, "/logs?event=connect").await), 0);
    // 3 s apart per container, starting at 10:00:00 (+0/+1/+2 s): the first minute holds
    // 20 events of each container.
    assert_eq!(
        total(get(&app, &admin, "/logs?until=2026-11-29T10:01:00Z").await),
        60
    );
    assert_eq!(
        total(
            get(
                &app,
                &admin,
                "/logs?since=2026-11-29T10:01:00Z&until=2026-11-29T10:02:00Z"
            )
            .await
        ),
        60
    );
    assert_eq!(
        total(get(&app, &admin, "/logs?since=2026-11-29T11:01:00%2B01:00").await),
        190
    );
    for row in items(&get(&app, &admin, "/credentials?service=http&limit=500").await) {
        assert_eq!(
            (row["service"].as_str(), row["src_ip"].as_str()),
            (Some("http"), Some("10.9.0.2"))
        );
    }

    assert_eq!(attacker_ips(&app, &admin, "decky=beta").await, ["10.9.0.1"]);
    assert_eq!(
        attacker_ips(&app, &admin, "service=http").await,
        ["10.9.0.2"]
    );
    assert_eq!(
        attacker_ips(&app, &admin, "decky=gamma").await,
        Vec::<String>::new()
    );
    assert_eq!(
        attacker_ips(&app, &admin, "src_ip=10.9.0.2").await,
        ["10.9.0.2"]
    );
    assert_eq!(
        attacker_ips(&app, &admin, "since=2026-11-29T12:00:00Z").await,
        Vec::<String>::new()
    );

    assert_eq!(total(get(&app, &admin, "/bounties?kind=command").await), 0);
}

#[tokio::test]
async fn bad_query_parameters_are_422_with_a_clear_detail() {
    let app = spawn_app().await;
    let admin = app.admin_token().await;
    let cases = [
        ("/logs?limit=0", "limit must be an integer from 1 to 500"),
        ("/logs?limit=501", "limit must be an integer from 1 to 500"),
        ("/credentials?offset=-3", "offset must be a non-negative integer"),
        ("/attackers?src_ip=999.1.1.1", "src_ip must be an IPv4 or IPv6 address, e.g. 203.0.113.7"),
        ("/bounties?since=last%20week", "since must be an RFC 3339 timestamp, e.g. 2026-01-31T23:59:59Z"),
        ("/logs?since=2026-02-01T00:00:00Z&until=2026-01-01T00:00:00Z", "since must be earlier than until"),
        ("/logs?cursor=abc", "cursor is not valid: pass the next_cursor of a previous page unchanged"),
        ("/logs?kind=command", "Unknown query parameter 'kind'; accepted: limit, offset, cursor, decky, service, src_ip, since, until, event"),
        ("/bounties?kind=loot", "kind must be one of: command, upload, request_body, payload"),
        ("/logs?limit=1&limit=2", "Query parameter 'limit' is given more than once"),
    ];
    for (path, detail) in cases {
        expect(
            app.get(path, Some(&admin)).send().await.unwrap(),
            422,
            detail,
        )
        .await;
    }
    let r = app
        .get("/logs?decky=Not_A_Name", Some(&admin))
        .send()
        .await
        .unwrap();
    let body = expect_prefix(r, 422).await;
    assert!(
        body.starts_with("Invalid decky name 'Not_A_Name'"),
        "{body}"
    );
}

async fn attacker_ips(app: &TestApp, admin: &str, q: &str) -> Vec<String> {
    let v = get(app, admin, &format!("/attackers?{q}")).await;
    items(&v)
        .iter()
        .map(|a| a["src_ip"].as_str().unwrap().to_owned())
        .collect()
}

async fn expect_prefix(r: reqwest::Response, status: u16) -> String {
    assert_eq!(r.status().as_u16(), status);
    r.json::<Value>().await.unwrap()["detail"]
        .as_str()
        .unwrap()
        .to_owned()
}

#[tokio::test]
async fn purge_all_empties_captured_data_and_reports_per_table_counts() {
    let app = spawn_app().await;
    let admin = app.admin_token().await;
    let db = db_of(&app).await;
    seed_many(&db).await;
    let captured = CapturedService::new(db.clone());
    let before = captured.counts().await.unwrap();
    assert_eq!(
        (
            before.logs,
            before.credentials,
            before.attackers,
            before.bounties
        ),
        (250, 250, 2, 0)
    );
    let deleted = captured.purge_all().await.unwrap();
    assert_eq!(deleted, before);
    assert_eq!(captured.counts().await.unwrap(), Default::default());
    assert_eq!(get(&app, &admin, "/logs").await["total"], 0);
    // Users and settings are untouched: the admin still reads the config.
    assert_eq!(get(&app, &admin, "/config").await["role"], "admin");
}
