//! `elasticsearch`: an Elasticsearch 8 node on 9200 left open (no security), the kind
//! scanners and ransom bots look for. `/` gives the banner, `_cat/indices`,
//! `_cluster/health` and searches answer with a few plausible indices (searches find
//! nothing); writes and deletes are acknowledged so a bot goes on to show its payload.
//! Nothing is stored. Every request is reported with its body (by [`super::httpd`]), and
//! Basic credentials too.

use std::io;

use serde_json::{json, Value};

use crate::config::Config;
use crate::limits::{Conn, Handler};

use super::httpd::{self, reason, App, Request, Response};

const VERSION: &str = "8.11.3";
const LUCENE: &str = "9.8.0";

/// name, uuid, docs, store size, primaries.
const INDICES: &[(&str, &str, u64, &str)] = &[
    ("customers", "kV7q3o1sT7eY8m2dZx1FQw", 48_213, "21.4mb"),
    ("orders", "hM2c0yYkS5C3bJf1rA9p4g", 311_907, "97.1mb"),
    ("users", "pX9bWm0uQmq2Yx7vN4kT2A", 12_044, "6.2mb"),
    ("payments-2026", "zT4fQe8nRk6v1LhC0yUj3w", 129_530, "44.8mb"),
];

pub struct Elasticsearch {
    name: String,
    cluster: String,
    uuid: String,
}

/// A stable 22-char base64url id from `seed` (FNV-1a, then splitmix), as ES's UUIDs look.
fn stable_id(seed: &str) -> String {
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for b in seed.bytes() {
        h = (h ^ u64::from(b)).wrapping_mul(0x0100_0000_01b3);
    }
    const ALPHABET: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
    (0..22)
        .map(|_| {
            h = h.wrapping_add(0x9e37_79b9_7f4a_7c15);
            let mut z = h;
            z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
            z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
            ALPHABET[((z ^ (z >> 31)) & 63) as usize] as char
        })
        .collect()
}

impl Elasticsearch {
    pub fn new(cfg: &Config) -> Self {
        let cluster = cfg
            .persona
            .str("cluster_name")
            .filter(|c| c.len() < 64 && c.bytes().all(|b| b.is_ascii_graphic() && b != b'"'))
            .unwrap_or("elasticsearch")
            .to_owned();
        Elasticsearch {
            name: cfg.hostname().to_owned(),
            uuid: stable_id(&format!("{}/{cluster}", cfg.hostname())),
            cluster,
        }
    }

    fn banner(&self) -> String {
        format!(
            r#"{{
  "name" : "{}",
  "cluster_name" : "{}",
  "cluster_uuid" : "{}",
  "version" : {{
    "number" : "{VERSION}",
    "build_flavor" : "default",
    "build_type" : "docker",
    "build_hash" : "64cf052f3b56b1fd4449f5454cb88aca7e739d9a",
    "build_date" : "2023-12-08T11:33:53.634979452Z",
    "build_snapshot" : false,
    "lucene_version" : "{LUCENE}",
    "minimum_wire_compatibility_version" : "7.17.0",
    "minimum_index_compatibility_version" : "7.0.0"
  }},
  "tagline" : "You Know, for Search"
}}
"#,
            self.name, self.cluster, self.uuid
        )
    }

    fn health(&self) -> Value {
        let shards = INDICES.len() as u64;
        json!({
            "cluster_name": self.cluster,
            "status": "yellow",
            "timed_out": false,
            "number_of_nodes": 1,
            "number_of_data_nodes": 1,
            "active_primary_shards": shards,
            "active_shards": shards,
            "relocating_shards": 0,
            "initializing_shards": 0,
            "unassigned_shards": shards,
            "delayed_unassigned_shards": 0,
            "number_of_pending_tasks": 0,
            "number_of_in_flight_fetch": 0,
            "task_max_waiting_in_queue_millis": 0,
            "active_shards_percent_as_number": 50.0
        })
    }

    fn cat_indices(&self, req: &Request) -> Response {
        let query = req.target.split_once('?').map(|(_, q)| q).unwrap_or("");
        let params = httpd::parse_urlencoded(query.as_bytes());
        let has = |k: &str| params.iter().any(|(n, _)| n == k);
        if params.iter().any(|(n, v)| n == "format" && v == "json") {
            let rows: Vec<Value> = INDICES
                .iter()
                .map(|(name, uuid, docs, size)| {
                    json!({"health": "yellow", "status": "open", "index": name, "uuid": uuid,
                        "pri": "1", "rep": "1", "docs.count": docs.to_string(),
                        "docs.deleted": "0", "store.size": size, "pri.store.size": size})
                })
                .collect();
            return es_json(200, &Value::Array(rows));
        }
        let mut out = String::new();
        if has("v") {
            out.push_str("health status index         uuid                   pri rep docs.count docs.deleted store.size pri.store.size\n");
        }
        for (name, uuid, docs, size) in INDICES {
            out.push_str(&format!(
                "yellow open   {name:<13} {uuid} {:>3} {:>3} {docs:>10} {:>12} {size:>10} {size:>14}\n",
                1, 1, 0
            ));
        }
        Response::new(200, "text/plain; charset=UTF-8", out)
    }
}

fn es_json(status: u16, v: &Value) -> Response {
    Response::new(
        status,
        "application/json; charset=UTF-8",
        serde_json::to_vec(v).unwrap_or_default(),
    )
}

fn index_not_found(index: &str) -> Response {
    let cause = json!({
        "type": "index_not_found_exception",
        "reason": format!("no such index [{index}]"),
        "resource.type": "index_or_alias",
        "resource.id": index,
        "index_uuid": "_na_",
        "index": index
    });
    let mut err = cause.clone();
    err["root_cause"] = json!([cause]);
    es_json(404, &json!({"error": err, "status": 404}))
}

impl App for Elasticsearch {
    fn respond(&self, req: &Request, _conn: &Conn) -> Response {
        let path = req.path().trim_end_matches('/');
        let parts: Vec<&str> = path.split('/').filter(|p| !p.is_empty()).collect();
        let known = |i: &str| INDICES.iter().any(|(n, ..)| *n == i);
        let method = req.method.as_str();
        match (method, parts.as_slice()) {
            ("GET" | "HEAD", []) => {
                Response::new(200, "application/json; charset=UTF-8", self.banner())
            }
            ("GET", ["_cat", "indices", ..]) => self.cat_indices(req),
            ("GET", ["_cat", "health"]) => Response::new(
                200,
                "text/plain; charset=UTF-8",
                format!(
                    "{} 00:00:00 {} yellow 1 1 {n} {n} 0 0 {n} 0 - 50.0%\n",
                    crate::clock::unix_millis() / 1000,
                    self.cluster,
                    n = INDICES.len()
                ),
            ),
            ("GET", ["_cluster", "health", ..]) => es_json(200, &self.health()),
            ("GET" | "POST", ["_search"]) | ("GET" | "POST", [_, "_search"]) => {
                if let [index, "_search"] = parts.as_slice() {
                    if !known(index) && !index.contains('*') {
                        return index_not_found(index);
                    }
                }
                es_json(
                    200,
                    &json!({
                        "took": 3,
                        "timed_out": false,
                        "_shards": {"total": INDICES.len(), "successful": INDICES.len(), "skipped": 0, "failed": 0},
                        "hits": {"total": {"value": 0, "relation": "eq"}, "max_score": null, "hits": []}
                    }),
                )
            }
            ("DELETE", [index]) if !index.starts_with('_') => {
                es_json(200, &json!({"acknowledged": true}))
            }
            ("PUT", [index]) if !index.starts_with('_') => es_json(
                200,
                &json!({"acknowledged": true, "shards_acknowledged": true, "index": index}),
            ),
            ("PUT" | "POST", [index, "_doc" | "_create", rest @ ..]) if rest.len() <= 1 => {
                let id = rest
                    .first()
                    .map(|s| (*s).to_owned())
                    .unwrap_or_else(|| stable_id(&req.body.len().to_string())[..20].to_owned());
                es_json(
                    201,
                    &json!({
                        "_index": index, "_id": id, "_version": 1, "result": "created",
                        "_shards": {"total": 2, "successful": 1, "failed": 0},
                        "_seq_no": 0, "_primary_term": 1
                    }),
                )
            }
            ("GET", [index]) if known(index) => {
                let mut m = serde_json::Map::new();
                m.insert(
                    (*index).to_owned(),
                    json!({"aliases": {}, "mappings": {}, "settings": {"index": {
                        "number_of_shards": "1", "number_of_replicas": "1",
                        "provided_name": index, "uuid": stable_id(index),
                        "version": {"created": "8500003"}
                    }}}),
                );
                es_json(200, &Value::Object(m))
            }
            (_, [first, ..]) if !first.starts_with('_') && !known(first) => index_not_found(first),
            _ => es_json(
                400,
                &json!({"error": format!("no handler found for uri [{}] and method [{method}]", req.target)}),
            ),
        }
    }

    fn server_header(&self) -> Option<&str> {
        None
    }

    /// Netty's layout as Elasticsearch sends it: lower-case names, no Date, no Server.
    fn head(&self, req: Option<&Request>, resp: &Response) -> Option<String> {
        let version = match req {
            Some(r) if r.version == "HTTP/1.0" => "HTTP/1.0",
            _ => "HTTP/1.1",
        };
        let mut head = format!("{version} {} {}\r\n", resp.status, reason(resp.status));
        for (name, value) in &resp.headers {
            head.push_str(&format!("{}: {value}\r\n", name.to_ascii_lowercase()));
        }
        head.push_str(&format!("content-length: {}\r\n\r\n", resp.body.len()));
        Some(head)
    }
}

impl Handler for Elasticsearch {
    async fn handle(&self, mut conn: Conn) -> io::Result<()> {
        httpd::serve(self, &mut conn).await
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::services::testkit;

    fn cfg() -> Config {
        testkit::config("es", "es-node-1")
    }

    #[tokio::test]
    async fn banner_matches_what_scanners_expect() {
        let t = testkit::start("elasticsearch", cfg()).await;
        let mut c = t.connect(0).await;
        c.send(b"GET / HTTP/1.0\r\n\r\n").await;
        let resp = String::from_utf8(c.read_to_close().await).unwrap();
        assert!(resp.starts_with("HTTP/1.0 200 OK\r\ncontent-type: application/json; charset=UTF-8\r\ncontent-length: "), "{resp}");
        assert!(resp.contains("\r\n\r\n{\n  \"name\" : \"es-node-1\",\n  \"cluster_name\" : \"elasticsearch\",\n  \"cluster_uuid\" : \""));
        assert!(resp.contains("\"number\" : \"8.11.3\""));
        assert!(resp.ends_with("\"tagline\" : \"You Know, for Search\"\n}\n"));
        let body = resp.split("\r\n\r\n").nth(1).unwrap();
        let v: Value = serde_json::from_str(body).unwrap();
        assert_eq!(v["version"]["lucene_version"], LUCENE);
    }

    #[tokio::test]
    async fn api_answers_and_everything_is_reported() {
        let t = testkit::start("elasticsearch", cfg()).await;
        let mut c = t.connect(0).await;
        c.send(b"GET /_cat/indices?v HTTP/1.1\r\nHost: x\r\nUser-Agent: curl/8.5.0\r\nAuthorization: Basic ZWxhc3RpYzpjaGFuZ2VtZQ==\r\n\r\n").await;
        let resp = c.read_http_response().await;
        assert!(resp.contains("health status index"));
        assert!(resp.contains("yellow open   customers"));
        c.send(b"GET /_cluster/health HTTP/1.1\r\nHost: x\r\n\r\n")
            .await;
        let resp = c.read_http_response().await;
        assert!(resp.contains("\"status\":\"yellow\""));
        let note = br#"{"message":"All your data is backed up. Send 0.01 BTC"}"#;
        c.send(format!("POST /read_me/_doc HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: {}\r\n\r\n", note.len()).as_bytes()).await;
        c.send(note).await;
        let resp = c.read_http_response().await;
        assert!(resp.starts_with("HTTP/1.1 201 Created"), "{resp}");
        c.send(b"GET /nope/_search HTTP/1.1\r\nHost: x\r\n\r\n")
            .await;
        let resp = c.read_http_response().await;
        assert!(resp.contains("no such index [nope]"));

        let mut ev = t.events();
        let r = ev.expect("request").await;
        assert_eq!(r["path"], "/_cat/indices?v");
        assert_eq!(r["user_agent"], "curl/8.5.0");
        let a = ev.expect("auth").await;
        assert_eq!(a["username"], "elastic");
        assert_eq!(a["password"], "changeme");
        ev.expect("request").await;
        let r = ev.expect("request").await;
        assert_eq!(r["method"], "POST");
        assert_eq!(r["body"], std::str::from_utf8(note).unwrap());
    }

    #[test]
    fn ids_are_stable_and_shaped() {
        assert_eq!(stable_id("a"), stable_id("a"));
        assert_ne!(stable_id("a"), stable_id("b"));
        assert_eq!(stable_id("a").len(), 22);
    }
}
