//! Test harness: starts a service on 127.0.0.1 with free ports and a channel emitter, and
//! a small client that reads with timeouts so a broken service fails a test, not hangs it.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use serde_json::Value;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpStream, UdpSocket};
use tokio::sync::{mpsc, Mutex};

use crate::config::Config;
use crate::event::Emitter;
use crate::limits::Limits;

const WAIT: Duration = Duration::from_secs(10);

pub fn test_limits() -> Limits {
    Limits {
        auth_delay: Duration::ZERO,
        ..Limits::default()
    }
}

/// A decky's config as the tests need it: its name and hostname, default persona.
pub fn config(decky: &str, hostname: &str) -> Config {
    Config {
        decky: decky.into(),
        hostname: hostname.into(),
        ..Config::default()
    }
}

/// As [`config`], with the persona's keys from a JSON object.
pub fn config_with_persona(decky: &str, hostname: &str, persona: Value) -> Config {
    let mut c = config(decky, hostname);
    if let Value::Object(m) = persona {
        c.persona.0 = m;
    }
    c
}

pub struct TestService {
    pub addrs: Vec<SocketAddr>,
    events: Events,
    task: tokio::task::JoinHandle<()>,
}

impl Drop for TestService {
    fn drop(&mut self) {
        self.task.abort();
    }
}

pub async fn start(slug: &str, cfg: Config) -> TestService {
    start_with(slug, cfg, test_limits()).await
}

pub async fn start_with(slug: &str, cfg: Config, limits: Limits) -> TestService {
    let def = super::find(slug).expect("service in catalogue");
    let zeros = vec![Some(0u16); def.ports.len()];
    let listeners = super::bind(def, &cfg, "127.0.0.1".parse().unwrap(), &zeros)
        .await
        .expect("bind");
    let addrs = listeners
        .iter()
        .map(|l| l.socket.local_addr().unwrap())
        .collect();
    let (emitter, rx) = Emitter::channel(&cfg.decky);
    let task = tokio::spawn(async move {
        super::serve(def, &cfg, listeners, emitter, limits)
            .await
            .expect("serve");
    });
    TestService {
        addrs,
        events: Events {
            rx: Arc::new(Mutex::new(rx)),
        },
        task,
    }
}

impl TestService {
    pub async fn connect(&self, port_index: usize) -> Client {
        let stream = TcpStream::connect(self.addrs[port_index]).await.unwrap();
        Client { stream }
    }

    pub fn events(&self) -> Events {
        self.events.clone()
    }

    /// A UDP client of the service's UDP port at `port_index`.
    pub async fn udp(&self, port_index: usize) -> UdpClient {
        let socket = UdpSocket::bind("127.0.0.1:0").await.unwrap();
        UdpClient {
            socket,
            server: self.addrs[port_index],
        }
    }

    /// A TLS client that accepts any certificate; also says whether the certificate names `cn`.
    pub async fn connect_tls(
        &self,
        port_index: usize,
        cn: &str,
    ) -> (tokio_rustls::client::TlsStream<TcpStream>, bool) {
        let tcp = TcpStream::connect(self.addrs[port_index]).await.unwrap();
        let tls = tls_over(tcp, cn).await;
        let certs = tls.get_ref().1.peer_certificates().unwrap_or_default();
        let named = certs
            .first()
            .map(|c| c.as_ref().windows(cn.len()).any(|w| w == cn.as_bytes()))
            .unwrap_or(false);
        (tls, named)
    }
}

/// A TLS client (any certificate) over an already open connection, after an in-protocol
/// upgrade (STARTTLS, RDP's X.224 negotiation).
pub async fn tls_over(tcp: TcpStream, cn: &str) -> tokio_rustls::client::TlsStream<TcpStream> {
    let provider = Arc::new(rustls_graviola::default_provider());
    let config = rustls::ClientConfig::builder_with_provider(provider.clone())
        .with_safe_default_protocol_versions()
        .unwrap()
        .dangerous()
        .with_custom_certificate_verifier(Arc::new(AnyCert(provider)))
        .with_no_client_auth();
    let connector = tokio_rustls::TlsConnector::from(Arc::new(config));
    let name = rustls::pki_types::ServerName::try_from(cn.to_owned()).unwrap();
    tokio::time::timeout(WAIT, connector.connect(name, tcp))
        .await
        .expect("TLS handshake in time")
        .expect("TLS handshake")
}

#[derive(Debug)]
pub struct AnyCert(pub Arc<rustls::crypto::CryptoProvider>);

impl rustls::client::danger::ServerCertVerifier for AnyCert {
    fn verify_server_cert(
        &self,
        _: &rustls::pki_types::CertificateDer<'_>,
        _: &[rustls::pki_types::CertificateDer<'_>],
        _: &rustls::pki_types::ServerName<'_>,
        _: &[u8],
        _: rustls::pki_types::UnixTime,
    ) -> Result<rustls::client::danger::ServerCertVerified, rustls::Error> {
        Ok(rustls::client::danger::ServerCertVerified::assertion())
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &rustls::pki_types::CertificateDer<'_>,
        dss: &rustls::DigitallySignedStruct,
    ) -> Result<rustls::client::danger::HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls12_signature(
            message,
            cert,
            dss,
            &self.0.signature_verification_algorithms,
        )
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &rustls::pki_types::CertificateDer<'_>,
        dss: &rustls::DigitallySignedStruct,
    ) -> Result<rustls::client::danger::HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls13_signature(
            message,
            cert,
            dss,
            &self.0.signature_verification_algorithms,
        )
    }

    fn supported_verify_schemes(&self) -> Vec<rustls::SignatureScheme> {
        self.0.signature_verification_algorithms.supported_schemes()
    }
}

#[derive(Clone)]
pub struct Events {
    rx: Arc<Mutex<mpsc::UnboundedReceiver<Value>>>,
}

impl From<mpsc::UnboundedReceiver<Value>> for Events {
    fn from(rx: mpsc::UnboundedReceiver<Value>) -> Self {
        Events {
            rx: Arc::new(Mutex::new(rx)),
        }
    }
}

impl Events {
    /// The next event of `kind`, skipping others; fails the test after a timeout.
    pub async fn expect(&mut self, kind: &str) -> Value {
        let mut rx = self.rx.lock().await;
        let deadline = tokio::time::Instant::now() + WAIT;
        loop {
            let ev = tokio::time::timeout_at(deadline, rx.recv())
                .await
                .unwrap_or_else(|_| panic!("no {kind} event in time"))
                .expect("emitter alive");
            if ev["event"] == kind {
                return ev;
            }
        }
    }
}

pub struct Client {
    pub stream: TcpStream,
}

impl Client {
    pub async fn send(&mut self, bytes: &[u8]) {
        self.stream.write_all(bytes).await.unwrap();
    }

    /// Sends `line` with CRLF.
    pub async fn line(&mut self, line: &str) {
        self.send(format!("{line}\r\n").as_bytes()).await;
    }

    pub async fn read_exact(&mut self, n: usize) -> Vec<u8> {
        let mut buf = vec![0; n];
        tokio::time::timeout(WAIT, self.stream.read_exact(&mut buf))
            .await
            .expect("reply in time")
            .expect("reply");
        buf
    }

    /// One line, without CRLF.
    pub async fn read_line(&mut self) -> String {
        let mut out = Vec::new();
        loop {
            let b = self.read_exact(1).await[0];
            if b == b'\n' {
                break;
            }
            out.push(b);
        }
        if out.last() == Some(&b'\r') {
            out.pop();
        }
        String::from_utf8_lossy(&out).into_owned()
    }

    /// Everything up to and including `needle`.
    pub async fn read_until(&mut self, needle: &str) -> String {
        let mut out = Vec::new();
        while !out.ends_with(needle.as_bytes()) {
            out.push(self.read_exact(1).await[0]);
        }
        String::from_utf8_lossy(&out).into_owned()
    }

    /// Reads until the server closes (or the timeout hits); returns what came.
    pub async fn read_to_close(&mut self) -> Vec<u8> {
        let mut out = Vec::new();
        let _ = tokio::time::timeout(WAIT, self.stream.read_to_end(&mut out)).await;
        out
    }

    /// One HTTP response (headers and a Content-Length body), as text.
    pub async fn read_http_response(&mut self) -> String {
        let head = self.read_until("\r\n\r\n").await;
        let len = head
            .lines()
            .find_map(|l| {
                let (k, v) = l.split_once(':')?;
                k.eq_ignore_ascii_case("content-length")
                    .then(|| v.trim().parse::<usize>().ok())?
            })
            .unwrap_or(0);
        let body = self.read_exact(len).await;
        format!("{head}{}", String::from_utf8_lossy(&body))
    }
}

pub struct UdpClient {
    pub socket: UdpSocket,
    pub server: SocketAddr,
}

impl UdpClient {
    pub async fn send(&self, bytes: &[u8]) {
        self.socket.send_to(bytes, self.server).await.unwrap();
    }

    /// The next datagram from anywhere (TFTP answers from a port of its own) and its source.
    pub async fn recv_from(&self) -> (Vec<u8>, SocketAddr) {
        self.recv_within(WAIT).await.expect("datagram in time")
    }

    pub async fn recv(&self) -> Vec<u8> {
        self.recv_from().await.0
    }

    /// `None` if nothing comes within `wait` (for "never answers" checks).
    pub async fn recv_within(&self, wait: Duration) -> Option<(Vec<u8>, SocketAddr)> {
        let mut buf = vec![0u8; 65_536];
        match tokio::time::timeout(wait, self.socket.recv_from(&mut buf)).await {
            Ok(Ok((n, from))) => {
                buf.truncate(n);
                Some((buf, from))
            }
            _ => None,
        }
    }

    pub async fn exchange(&self, bytes: &[u8]) -> Vec<u8> {
        self.send(bytes).await;
        self.recv().await
    }
}
