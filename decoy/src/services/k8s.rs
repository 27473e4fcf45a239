//! `k8s`: a Kubernetes API server (TLS on 6443, plain on 8080) in Go's response layout.
//! `/version` and the health endpoints answer as they do for anyone; everything else asks
//! for credentials (401). Basic credentials and bearer tokens are captured by the HTTP
//! layer; tokens get the API's JSON `Status` answer.

use std::io;

use crate::config::Config;
use crate::limits::{Conn, Handler};

use super::httpd::{self, App, Request, Response};

const VERSION: &str = r#"{
  "major": "1",
  "minor": "28",
  "gitVersion": "v1.28.6",
  "gitCommit": "be3af46a4654bdf05b4838fe94e95ec8c165660c",
  "gitTreeState": "clean",
  "buildDate": "2024-01-17T13:39:00Z",
  "goVersion": "go1.20.13",
  "compiler": "gc",
  "platform": "linux/amd64"
}"#;

const UNAUTHORIZED_STATUS: &str = r#"{"kind":"Status","apiVersion":"v1","metadata":{},"status":"Failure","message":"Unauthorized","reason":"Unauthorized","code":401}
"#;

pub struct K8s;

impl K8s {
    pub fn new(_cfg: &Config) -> Self {
        K8s
    }
}

fn audit_id() -> String {
    let mut b = [0u8; 16];
    let _ = getrandom::getrandom(&mut b);
    let h = crate::event::hex(&b);
    format!(
        "{}-{}-{}-{}-{}",
        &h[..8],
        &h[8..12],
        &h[12..16],
        &h[16..20],
        &h[20..]
    )
}

fn api(resp: Response) -> Response {
    resp.header("Audit-Id", audit_id())
        .header("Cache-Control", "no-cache, private")
        .header("X-Content-Type-Options", "nosniff")
}

impl App for K8s {
    fn respond(&self, req: &Request, _conn: &Conn) -> Response {
        let bearer = req
            .header("authorization")
            .map(|a| a.trim_start().to_ascii_lowercase().starts_with("bearer "))
            .unwrap_or(false);
        match req.path() {
            "/version" | "/version/" => api(Response::json(200, VERSION)),
            "/healthz" | "/livez" | "/readyz" => api(Response::text(200, "ok")),
            _ if bearer => api(Response::json(401, UNAUTHORIZED_STATUS)),
            _ => Response::text(401, "Unauthorized\n")
                .header("Www-Authenticate", "Basic realm=\"kubernetes-master\"")
                .header("X-Content-Type-Options", "nosniff"),
        }
    }

    fn server_header(&self) -> Option<&str> {
        None
    }

    fn go_style(&self) -> bool {
        true
    }
}

impl Handler for K8s {
    async fn handle(&self, mut conn: Conn) -> io::Result<()> {
        httpd::serve(self, &mut conn).await
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::services::testkit;

    #[tokio::test]
    async fn public_endpoints_answer_and_credentials_are_captured() {
        let t = testkit::start("k8s", Config::default()).await;
        let mut c = t.connect(1).await;
        c.send(b"GET /version HTTP/1.1\r\nHost: x\r\n\r\n").await;
        let resp = c.read_http_response().await;
        assert!(resp.contains("\"gitVersion\": \"v1.28.6\""));
        c.send(b"GET /api/v1/secrets HTTP/1.1\r\nHost: x\r\nAuthorization: Basic YWRtaW46a3ViZQ==\r\n\r\n").await;
        let resp = c.read_http_response().await;
        assert!(resp.starts_with("HTTP/1.1 401"));
        assert!(resp.contains("realm=\"kubernetes-master\""));
        c.send(b"GET /api/v1/pods HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer eyJhbGciOi.stolen\r\n\r\n").await;
        let resp = c.read_http_response().await;
        assert!(resp.contains("\"reason\":\"Unauthorized\""));
        let mut ev = t.events();
        let a = ev.expect("auth").await;
        assert_eq!(
            (a["username"].as_str(), a["password"].as_str()),
            (Some("admin"), Some("kube"))
        );
        let a = ev.expect("auth").await;
        assert_eq!(a["method"], "bearer");
        assert_eq!(a["password"], "eyJhbGciOi.stolen");
    }

    #[tokio::test]
    async fn tls_port_serves_the_api() {
        let t = testkit::start("k8s", Config::default()).await;
        let (mut tls, _) = t.connect_tls(0, "kubernetes").await;
        use tokio::io::{AsyncReadExt, AsyncWriteExt};
        tls.write_all(b"GET /healthz HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
            .await
            .unwrap();
        let mut out = Vec::new();
        let _ = tls.read_to_end(&mut out).await;
        assert!(String::from_utf8_lossy(&out).ends_with("ok"));
    }
}
