//! A small, strictly bounded HTTP/1.1 server loop shared by the web-shaped decoys (http,
//! https, docker_api, k8s). It parses requests, reports each one (and any Basic or Bearer
//! credentials) and lets an [`App`] choose the response.

use std::io;

use base64::Engine;

use crate::clock::Civil;
use crate::event::Event;
use crate::limits::Conn;

/// Most header lines accepted in one request.
const MAX_HEADERS: usize = 100;
/// Most header bytes accepted in one request.
const MAX_HEADER_BYTES: usize = 32 * 1024;
/// Requests served on one keep-alive connection before we close it.
const MAX_REQUESTS: usize = 100;

#[derive(Clone, Debug, Default)]
pub struct Request {
    pub method: String,
    /// The request target as sent (path and query).
    pub target: String,
    pub version: String,
    /// Names lowercased, values as sent.
    pub headers: Vec<(String, String)>,
    pub body: Vec<u8>,
    /// Whether the connection came over TLS (for absolute URLs in redirects).
    pub tls: bool,
}

impl Request {
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(n, _)| n == name)
            .map(|(_, v)| v.as_str())
    }

    /// The path without query string.
    pub fn path(&self) -> &str {
        self.target.split(['?', '#']).next().unwrap_or("")
    }

    /// Form fields of an urlencoded POST body.
    pub fn form(&self) -> Vec<(String, String)> {
        let is_form = self
            .header("content-type")
            .map(|ct| {
                ct.to_ascii_lowercase()
                    .starts_with("application/x-www-form-urlencoded")
            })
            .unwrap_or(true);
        if is_form {
            parse_urlencoded(&self.body)
        } else {
            Vec::new()
        }
    }

    fn wants_close(&self) -> bool {
        let conn = self
            .header("connection")
            .map(str::to_ascii_lowercase)
            .unwrap_or_default();
        if self.version == "HTTP/1.0" {
            !conn.contains("keep-alive")
        } else {
            conn.contains("close")
        }
    }
}

#[derive(Clone, Debug)]
pub struct Response {
    pub status: u16,
    pub headers: Vec<(String, String)>,
    pub body: Vec<u8>,
    pub close: bool,
}

impl Response {
    pub fn new(status: u16, content_type: &str, body: impl Into<Vec<u8>>) -> Self {
        Response {
            status,
            headers: vec![("Content-Type".into(), content_type.into())],
            body: body.into(),
            close: false,
        }
    }

    /// No body and no headers of its own.
    pub fn empty(status: u16) -> Self {
        Response {
            status,
            headers: Vec::new(),
            body: Vec::new(),
            close: false,
        }
    }

    pub fn html(status: u16, body: impl Into<Vec<u8>>) -> Self {
        Self::new(status, "text/html; charset=UTF-8", body)
    }

    pub fn json(status: u16, body: impl Into<Vec<u8>>) -> Self {
        Self::new(status, "application/json", body)
    }

    pub fn text(status: u16, body: impl Into<Vec<u8>>) -> Self {
        Self::new(status, "text/plain; charset=utf-8", body)
    }

    pub fn redirect(status: u16, location: &str) -> Self {
        Self::html(status, Vec::new()).header("Location", location)
    }

    pub fn header(mut self, name: &str, value: impl Into<String>) -> Self {
        self.headers.push((name.into(), value.into()));
        self
    }

    pub fn closing(mut self) -> Self {
        self.close = true;
        self
    }
}

/// Chooses the response to each request; reports app-specific credentials itself.
pub trait App: Send + Sync + 'static {
    fn respond(&self, req: &Request, conn: &Conn) -> Response;

    /// `Server` header value, if the imitated server sends one.
    fn server_header(&self) -> Option<&str>;

    /// Headers added to every response (persona `extra_headers`).
    fn extra_headers(&self) -> &[(String, String)] {
        &[]
    }

    /// Whether responses are laid out as Go's net/http writes them.
    fn go_style(&self) -> bool {
        false
    }

    /// A response head in the app's own layout (status line and headers, through the
    /// blank line); `None` for the classic or Go layout.
    fn head(&self, _req: Option<&Request>, _resp: &Response) -> Option<String> {
        None
    }
}

pub fn reason(status: u16) -> &'static str {
    match status {
        200 => "OK",
        201 => "Created",
        204 => "No Content",
        301 => "Moved Permanently",
        302 => "Found",
        303 => "See Other",
        304 => "Not Modified",
        400 => "Bad Request",
        401 => "Unauthorized",
        403 => "Forbidden",
        404 => "Not Found",
        405 => "Method Not Allowed",
        408 => "Request Timeout",
        411 => "Length Required",
        413 => "Payload Too Large",
        414 => "URI Too Long",
        431 => "Request Header Fields Too Large",
        500 => "Internal Server Error",
        501 => "Not Implemented",
        502 => "Bad Gateway",
        503 => "Service Unavailable",
        _ => "Unknown",
    }
}

enum Parsed {
    Request(Request),
    /// The peer is done (EOF before a request line).
    Eof,
    /// Unusable request: answer with this status and close.
    Reject(u16),
}

/// Serves requests on `conn` until the peer closes, asks to close, or misbehaves.
pub async fn serve<A: App>(app: &A, conn: &mut Conn) -> io::Result<()> {
    let tls = conn.tls;
    for _ in 0..MAX_REQUESTS {
        let req = match read_request(conn, tls).await? {
            Parsed::Request(req) => req,
            Parsed::Eof => return Ok(()),
            Parsed::Reject(status) => {
                let body = if app.go_style() {
                    format!("{status} {}", reason(status))
                } else {
                    error_page(app.server_header(), status)
                };
                write_response(app, conn, None, Response::html(status, body).closing()).await?;
                return Ok(());
            }
        };
        report(conn, &req);
        let mut resp = app.respond(&req, conn);
        if req.wants_close() {
            resp.close = true;
        }
        let close = resp.close;
        write_response(app, conn, Some(&req), resp).await?;
        if close {
            return Ok(());
        }
    }
    Ok(())
}

/// Emits the `request` event and any credentials carried in `Authorization`.
fn report(conn: &Conn, req: &Request) {
    let mut ev = Event::request(
        &req.method,
        &req.target,
        req.header("user-agent").unwrap_or(""),
    );
    if let Some(host) = req.header("host") {
        ev = ev.text("host", host);
    }
    if !req.body.is_empty() {
        ev = ev.excerpt("body", &req.body);
    }
    conn.emit(ev);

    let Some(auth) = req.header("authorization") else {
        return;
    };
    let (scheme, value) = auth.trim().split_once(' ').unwrap_or((auth, ""));
    if scheme.eq_ignore_ascii_case("basic") {
        let decoded = base64::engine::general_purpose::STANDARD
            .decode(value.trim())
            .unwrap_or_else(|_| value.as_bytes().to_vec());
        let (user, pass) = match decoded.iter().position(|&b| b == b':') {
            Some(i) => (&decoded[..i], &decoded[i + 1..]),
            None => (&decoded[..], &b""[..]),
        };
        conn.emit(
            Event::auth(user, pass)
                .field("method", "basic")
                .text("path", &req.target),
        );
    } else if scheme.eq_ignore_ascii_case("bearer") {
        conn.emit(
            Event::auth("", value.trim())
                .field("method", "bearer")
                .text("path", &req.target),
        );
    }
}

async fn read_request(conn: &mut Conn, tls: bool) -> io::Result<Parsed> {
    let line_max = conn.limits.line_max;
    // Robust servers ignore a few blank lines before a request (RFC 9112 2.2).
    let mut line = None;
    for _ in 0..4 {
        match conn.read_line().await {
            Ok(Some(l)) if l.is_empty() => continue,
            Ok(Some(l)) => {
                line = Some(l);
                break;
            }
            Ok(None) => return Ok(Parsed::Eof),
            Err(e) if e.kind() == io::ErrorKind::InvalidData => return Ok(Parsed::Reject(414)),
            Err(e) => return Err(e),
        }
    }
    let Some(line) = line else {
        return Ok(Parsed::Reject(400));
    };
    let Some(mut req) = parse_request_line(&line) else {
        return Ok(Parsed::Reject(400));
    };
    req.tls = tls;

    let mut header_bytes = 0;
    loop {
        let line = match conn.read_line_max(line_max).await {
            Ok(Some(l)) => l,
            Ok(None) => return Ok(Parsed::Eof),
            Err(e) if e.kind() == io::ErrorKind::InvalidData => return Ok(Parsed::Reject(431)),
            Err(e) => return Err(e),
        };
        if line.is_empty() {
            break;
        }
        header_bytes += line.len();
        if header_bytes > MAX_HEADER_BYTES || req.headers.len() >= MAX_HEADERS {
            return Ok(Parsed::Reject(431));
        }
        match parse_header(&line) {
            Some(h) => req.headers.push(h),
            None => return Ok(Parsed::Reject(400)),
        }
    }

    let chunked = req
        .header("transfer-encoding")
        .map(|te| te.to_ascii_lowercase().contains("chunked"))
        .unwrap_or(false);
    if chunked {
        match read_chunked(conn).await? {
            Some(body) => req.body = body,
            None => return Ok(Parsed::Reject(413)),
        }
    } else if let Some(len) = req.header("content-length") {
        let Ok(len) = len.trim().parse::<usize>() else {
            return Ok(Parsed::Reject(400));
        };
        if len > conn.limits.body_max {
            return Ok(Parsed::Reject(413));
        }
        req.body = conn.read_exact(len).await?;
    }
    Ok(Parsed::Request(req))
}

/// `None` when the body is larger than `limits.body_max`.
async fn read_chunked(conn: &mut Conn) -> io::Result<Option<Vec<u8>>> {
    let mut body = Vec::new();
    loop {
        let Some(line) = conn.read_line_max(256).await? else {
            return Err(io::ErrorKind::UnexpectedEof.into());
        };
        let size_text = String::from_utf8_lossy(&line);
        let size_text = size_text.split(';').next().unwrap_or("").trim();
        let Ok(size) = usize::from_str_radix(size_text, 16) else {
            return Err(io::Error::new(io::ErrorKind::InvalidData, "bad chunk size"));
        };
        if size == 0 {
            // Trailers, bounded like headers.
            for _ in 0..MAX_HEADERS {
                match conn.read_line().await? {
                    Some(l) if !l.is_empty() => continue,
                    _ => return Ok(Some(body)),
                }
            }
            return Ok(None);
        }
        if size > conn.limits.body_max.saturating_sub(body.len()) {
            return Ok(None);
        }
        body.extend_from_slice(&conn.read_exact(size).await?);
        conn.read_line_max(2).await?;
    }
}

pub fn parse_request_line(line: &[u8]) -> Option<Request> {
    let line = std::str::from_utf8(line).ok()?;
    let mut parts = line.split(' ').filter(|p| !p.is_empty());
    let method = parts.next()?;
    let target = parts.next()?;
    let version = parts.next()?;
    if parts.next().is_some()
        || method.len() > 32
        || !method
            .bytes()
            .all(|b| b.is_ascii_uppercase() || b == b'-' || b == b'_')
        || !(version == "HTTP/1.1" || version == "HTTP/1.0")
    {
        return None;
    }
    Some(Request {
        method: method.to_owned(),
        target: target.to_owned(),
        version: version.to_owned(),
        ..Request::default()
    })
}

pub fn parse_header(line: &[u8]) -> Option<(String, String)> {
    let i = line.iter().position(|&b| b == b':')?;
    let name = std::str::from_utf8(&line[..i]).ok()?;
    if name.is_empty() || !name.bytes().all(|b| b.is_ascii_graphic()) {
        return None;
    }
    let value = String::from_utf8_lossy(&line[i + 1..]).trim().to_owned();
    Some((name.to_ascii_lowercase(), value))
}

/// `application/x-www-form-urlencoded` (also query strings): at most 64 fields.
pub fn parse_urlencoded(body: &[u8]) -> Vec<(String, String)> {
    body.split(|&b| b == b'&')
        .filter(|pair| !pair.is_empty())
        .take(64)
        .map(|pair| {
            let (k, v) = match pair.iter().position(|&b| b == b'=') {
                Some(i) => (&pair[..i], &pair[i + 1..]),
                None => (pair, &b""[..]),
            };
            (percent_decode(k), percent_decode(v))
        })
        .collect()
}

pub fn percent_decode(s: &[u8]) -> String {
    let mut out = Vec::with_capacity(s.len());
    let mut i = 0;
    while i < s.len() {
        match s[i] {
            b'+' => out.push(b' '),
            b'%' if i + 2 < s.len() => match (hex_val(s[i + 1]), hex_val(s[i + 2])) {
                (Some(h), Some(l)) => {
                    out.push(h << 4 | l);
                    i += 2;
                }
                _ => out.push(b'%'),
            },
            b => out.push(b),
        }
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// Percent-encodes everything but unreserved characters (for query values we build).
pub fn percent_encode(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for b in s.bytes() {
        if b.is_ascii_alphanumeric() || b"-._~".contains(&b) {
            out.push(b as char);
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

fn hex_val(b: u8) -> Option<u8> {
    match b {
        b'0'..=b'9' => Some(b - b'0'),
        b'a'..=b'f' => Some(b - b'a' + 10),
        b'A'..=b'F' => Some(b - b'A' + 10),
        _ => None,
    }
}

/// Escapes text for HTML (attacker input echoed in a page).
pub fn escape_html(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '&' => out.push_str("&amp;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#039;"),
            c => out.push(c),
        }
    }
    out
}

/// An error page in the style of the imitated server.
pub fn error_page(server: Option<&str>, status: u16) -> String {
    let reason = reason(status);
    let server = server.unwrap_or("");
    if server.starts_with("Apache") {
        let text = match status {
            404 => "The requested URL was not found on this server.",
            403 => "You don't have permission to access this resource.",
            _ => "Your browser sent a request that this server could not understand.",
        };
        format!(
            "<!DOCTYPE HTML PUBLIC \"-//IETF//DTD HTML 2.0//EN\">\n<html><head>\n<title>{status} {reason}</title>\n</head><body>\n<h1>{reason}</h1>\n<p>{text}<br />\n</p>\n<hr>\n<address>{server}</address>\n</body></html>\n"
        )
    } else if server.starts_with("Microsoft-IIS") {
        format!(
            "<!DOCTYPE html PUBLIC \"-//W3C//DTD XHTML 1.0 Strict//EN\" \"http://www.w3.org/TR/xhtml1/DTD/xhtml1-strict.dtd\">\r\n<html xmlns=\"http://www.w3.org/1999/xhtml\">\r\n<head>\r\n<meta http-equiv=\"Content-Type\" content=\"text/html; charset=iso-8859-1\"/>\r\n<title>{status} - {reason}</title>\r\n</head>\r\n<body>\r\n<div id=\"header\"><h1>Server Error</h1></div>\r\n<div id=\"content\">\r\n <div class=\"content-container\"><fieldset>\r\n  <h2>{status} - {reason}.</h2>\r\n </fieldset></div>\r\n</div>\r\n</body>\r\n</html>\r\n"
        )
    } else if server.is_empty() {
        format!("<html><head><title>{status} {reason}</title></head><body><h1>{status} {reason}</h1></body></html>\n")
    } else {
        // nginx's layout, which many embedded servers copy.
        format!(
            "<html>\r\n<head><title>{status} {reason}</title></head>\r\n<body>\r\n<center><h1>{status} {reason}</h1></center>\r\n<hr><center>{server}</center>\r\n</body>\r\n</html>\r\n"
        )
    }
}

async fn write_response<A: App>(
    app: &A,
    conn: &mut Conn,
    req: Option<&Request>,
    resp: Response,
) -> io::Result<()> {
    let head = match app.head(req, &resp) {
        Some(head) => head,
        None if app.go_style() => go_head(app, req, &resp),
        None => classic_head(app, &resp),
    };
    let mut out = head.into_bytes();
    if req.map(|r| r.method.as_str()) != Some("HEAD") {
        out.extend_from_slice(&resp.body);
    }
    conn.write_all(&out).await?;
    if resp.close {
        conn.shutdown().await;
    }
    Ok(())
}

/// nginx/Apache layout: always HTTP/1.1, Server and Date first, explicit Connection.
fn classic_head<A: App>(app: &A, resp: &Response) -> String {
    let mut head = format!("HTTP/1.1 {} {}\r\n", resp.status, reason(resp.status));
    if let Some(server) = app.server_header() {
        head.push_str(&format!("Server: {server}\r\n"));
    }
    head.push_str(&format!("Date: {}\r\n", Civil::now().http_date()));
    for (name, value) in resp.headers.iter().chain(app.extra_headers()) {
        head.push_str(&format!("{name}: {value}\r\n"));
    }
    head.push_str(&format!("Content-Length: {}\r\n", resp.body.len()));
    head.push_str(if resp.close {
        "Connection: close\r\n\r\n"
    } else {
        "Connection: keep-alive\r\n\r\n"
    });
    head
}

/// Go net/http layout (Docker, Kubernetes): the request's HTTP version, headers sorted,
/// then Date and Content-Length; `Connection` only when closing an HTTP/1.1 connection.
fn go_head<A: App>(app: &A, req: Option<&Request>, resp: &Response) -> String {
    let Some(req) = req else {
        // What Go answers to a request it cannot parse ("400 Bad Request" as the body).
        return format!(
            "HTTP/1.1 {} {}\r\nContent-Type: text/plain\r\nConnection: close\r\n\r\n",
            resp.status,
            reason(resp.status)
        );
    };
    let version = if req.version == "HTTP/1.0" {
        "HTTP/1.0"
    } else {
        "HTTP/1.1"
    };
    let mut headers: Vec<(&str, &str)> = resp
        .headers
        .iter()
        .chain(app.extra_headers())
        .map(|(k, v)| (k.as_str(), v.as_str()))
        .collect();
    if let Some(server) = app.server_header() {
        headers.push(("Server", server));
    }
    headers.sort_by(|a, b| a.0.cmp(b.0));
    let mut head = format!("{version} {} {}\r\n", resp.status, reason(resp.status));
    for (name, value) in headers {
        head.push_str(&format!("{name}: {value}\r\n"));
    }
    head.push_str(&format!("Date: {}\r\n", Civil::now().http_date()));
    head.push_str(&format!("Content-Length: {}\r\n", resp.body.len()));
    if resp.close && version == "HTTP/1.1" {
        head.push_str("Connection: close\r\n");
    }
    head.push_str("\r\n");
    head
}

/// Persona `extra_headers`: a JSON object, or `Name: value` lines (newlines or `\n`).
pub fn parse_extra_headers(value: Option<&serde_json::Value>) -> Vec<(String, String)> {
    let pairs: Vec<(String, String)> = match value {
        Some(serde_json::Value::Object(map)) => map
            .iter()
            .map(|(k, v)| {
                let v = match v {
                    serde_json::Value::String(s) => s.clone(),
                    other => other.to_string(),
                };
                (k.clone(), v)
            })
            .collect(),
        Some(serde_json::Value::String(s)) => {
            if let Ok(serde_json::Value::Object(_)) = serde_json::from_str(s) {
                return parse_extra_headers(serde_json::from_str(s).ok().as_ref());
            }
            s.replace("\\n", "\n")
                .lines()
                .filter_map(|l| l.split_once(':'))
                .map(|(k, v)| (k.trim().to_owned(), v.trim().to_owned()))
                .collect()
        }
        _ => Vec::new(),
    };
    pairs
        .into_iter()
        .filter(|(k, _)| {
            !k.is_empty()
                && k.bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
        })
        .map(|(k, v)| (k, v.replace(['\r', '\n'], " ")))
        .take(32)
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn request_line_parses_and_rejects() {
        let r = parse_request_line(b"GET /a?b=1 HTTP/1.1").unwrap();
        assert_eq!((r.method.as_str(), r.target.as_str()), ("GET", "/a?b=1"));
        assert_eq!(r.path(), "/a");
        assert!(parse_request_line(b"GET /").is_none());
        assert!(parse_request_line(b"get / HTTP/1.1").is_none());
        assert!(parse_request_line(b"GET / HTTP/2.0").is_none());
        assert!(parse_request_line(b"GET / HTTP/1.1 x").is_none());
    }

    #[test]
    fn urlencoded_forms_decode() {
        let f = parse_urlencoded(b"log=admin&pwd=p%40ss+word&x&=y&bad=%zz%4");
        assert_eq!(f[0], ("log".into(), "admin".into()));
        assert_eq!(f[1], ("pwd".into(), "p@ss word".into()));
        assert_eq!(f[2], ("x".into(), "".into()));
        assert_eq!(f[4], ("bad".into(), "%zz%4".into()));
    }

    #[test]
    fn extra_headers_accept_object_and_lines() {
        let v = serde_json::json!({"X-Powered-By": "PHP/7.4", "Bad Name": "x"});
        assert_eq!(
            parse_extra_headers(Some(&v)),
            vec![("X-Powered-By".to_owned(), "PHP/7.4".to_owned())]
        );
        let v = serde_json::json!("X-A: 1\\nX-B: two\r\nnot a header");
        assert_eq!(parse_extra_headers(Some(&v)).len(), 2);
    }

    proptest! {
        #[test]
        fn parsers_never_panic(bytes in proptest::collection::vec(any::<u8>(), 0..512)) {
            let _ = parse_request_line(&bytes);
            let _ = parse_header(&bytes);
            let _ = parse_urlencoded(&bytes);
            let _ = percent_decode(&bytes);
        }
    }
}
