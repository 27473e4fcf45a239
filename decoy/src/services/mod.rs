//! The catalogue of fake services this binary implements, their standard ports (SPEC 3.2),
//! and how one is bound and run.

use std::net::IpAddr;
use std::sync::Arc;

use tokio::net::TcpListener;
use tokio_rustls::TlsAcceptor;

use crate::config::Config;
use crate::event::Emitter;
use crate::limits::{serve_all, Handler, Limits, Listener, ServiceCtx};

pub mod docker_api;
pub mod ftp;
pub mod http;
pub mod httpd;
pub mod imap;
pub mod k8s;
pub mod mqtt;
pub mod mysql;
pub mod pop3;
pub mod postgres;
pub mod redis;
pub mod sasl;
pub mod smtp;
pub mod ssh;
pub mod telnet;
pub mod vnc;

#[cfg(test)]
pub mod testkit;

#[derive(Clone, Copy, Debug)]
pub struct Port {
    pub number: u16,
    /// Implicit TLS on this port (443, 993, 995, 2376, 6443).
    pub tls: bool,
}

const fn plain(number: u16) -> Port {
    Port { number, tls: false }
}

const fn tls(number: u16) -> Port {
    Port { number, tls: true }
}

#[derive(Debug)]
pub struct ServiceDef {
    pub slug: &'static str,
    pub ports: &'static [Port],
    /// ALPN protocols offered on TLS ports.
    pub alpn: &'static [&'static [u8]],
}

const HTTP_ALPN: &[&[u8]] = &[b"http/1.1"];

/// Every service `decnet-decoy serve` can run, in the order `list` prints them.
pub const CATALOGUE: &[ServiceDef] = &[
    ServiceDef { slug: "ssh", ports: &[plain(22)], alpn: &[] },
    ServiceDef { slug: "http", ports: &[plain(80), tls(443)], alpn: HTTP_ALPN },
    ServiceDef { slug: "https", ports: &[tls(443)], alpn: HTTP_ALPN },
    ServiceDef { slug: "ftp", ports: &[plain(21)], alpn: &[] },
    ServiceDef { slug: "telnet", ports: &[plain(23)], alpn: &[] },
    ServiceDef { slug: "smtp", ports: &[plain(25), plain(587)], alpn: &[] },
    ServiceDef { slug: "pop3", ports: &[plain(110), tls(995)], alpn: &[] },
    ServiceDef { slug: "imap", ports: &[plain(143), tls(993)], alpn: &[] },
    ServiceDef { slug: "redis", ports: &[plain(6379)], alpn: &[] },
    ServiceDef { slug: "mysql", ports: &[plain(3306)], alpn: &[] },
    ServiceDef { slug: "postgres", ports: &[plain(5432)], alpn: &[] },
    ServiceDef { slug: "mqtt", ports: &[plain(1883)], alpn: &[] },
    ServiceDef { slug: "vnc", ports: &[plain(5900)], alpn: &[] },
    ServiceDef { slug: "docker_api", ports: &[plain(2375), tls(2376)], alpn: HTTP_ALPN },
    ServiceDef { slug: "k8s", ports: &[tls(6443), plain(8080)], alpn: HTTP_ALPN },
];

pub fn find(slug: &str) -> Option<&'static ServiceDef> {
    CATALOGUE.iter().find(|d| d.slug == slug)
}

/// Binds every port of `def` on `ip`; `ports` overrides the standard ports in order.
/// A TLS port is skipped, with a warning, when TLS cannot be set up on this CPU.
pub async fn bind(
    def: &ServiceDef,
    cfg: &Config,
    ip: IpAddr,
    ports: &[u16],
) -> Result<Vec<Listener>, String> {
    if ports.len() > def.ports.len() {
        return Err(format!(
            "{} has {} port(s), got {} --port values",
            def.slug,
            def.ports.len(),
            ports.len()
        ));
    }
    let mut acceptor: Option<Result<TlsAcceptor, String>> = None;
    let mut listeners = Vec::new();
    for (i, port) in def.ports.iter().enumerate() {
        let number = ports.get(i).copied().unwrap_or(port.number);
        let tls = if port.tls {
            let built = acceptor.get_or_insert_with(|| {
                let cn = cfg
                    .persona
                    .str("tls_cn")
                    .unwrap_or_else(|| cfg.hostname());
                crate::tls::acceptor(cn, def.alpn)
            });
            match built {
                Ok(a) => Some(a.clone()),
                Err(e) => {
                    eprintln!("decnet-decoy: {}: port {number} skipped: {e}", def.slug);
                    continue;
                }
            }
        } else {
            None
        };
        let socket = TcpListener::bind((ip, number))
            .await
            .map_err(|e| format!("{}: cannot listen on {ip} port {number}: {e}", def.slug))?;
        listeners.push(Listener { socket, tls });
    }
    if listeners.is_empty() {
        return Err(format!("{}: no port could be served", def.slug));
    }
    Ok(listeners)
}

/// Builds the handler of `$slug` as `$h` and evaluates `$body` with it (one arm per
/// service, so each handler type is used without boxing). Unknown slugs return an error
/// from the enclosing function.
macro_rules! with_handler {
    ($slug:expr, $cfg:expr, $limits:expr, |$h:ident| $body:expr) => {
        match $slug {
            "ssh" => {
                let $h = ssh::Ssh::new($cfg, $limits)?;
                $body
            }
            "http" | "https" => {
                let $h = http::Http::new($cfg);
                $body
            }
            "ftp" => {
                let $h = ftp::Ftp::new($cfg);
                $body
            }
            "telnet" => {
                let $h = telnet::Telnet::new($cfg);
                $body
            }
            "smtp" => {
                let $h = smtp::Smtp::new($cfg);
                $body
            }
            "pop3" => {
                let $h = pop3::Pop3::new($cfg);
                $body
            }
            "imap" => {
                let $h = imap::Imap::new($cfg);
                $body
            }
            "redis" => {
                let $h = redis::Redis::new($cfg);
                $body
            }
            "mysql" => {
                let $h = mysql::Mysql::new($cfg);
                $body
            }
            "postgres" => {
                let $h = postgres::Postgres::new($cfg);
                $body
            }
            "mqtt" => {
                let $h = mqtt::Mqtt::new($cfg);
                $body
            }
            "vnc" => {
                let $h = vnc::Vnc::new($cfg);
                $body
            }
            "docker_api" => {
                let $h = docker_api::DockerApi::new($cfg);
                $body
            }
            "k8s" => {
                let $h = k8s::K8s::new($cfg);
                $body
            }
            other => return Err(format!("unknown service {other:?}")),
        }
    };
}

/// Runs `def` on `listeners` until the process ends.
pub async fn serve(
    def: &ServiceDef,
    cfg: &Config,
    listeners: Vec<Listener>,
    emitter: Emitter,
    limits: Limits,
) -> Result<(), String> {
    let ctx = ServiceCtx::new(def.slug, emitter, limits);
    with_handler!(def.slug, cfg, limits, |h| run(listeners, h, ctx).await);
    Ok(())
}

async fn run<H: Handler>(listeners: Vec<Listener>, handler: H, ctx: Arc<ServiceCtx>) {
    serve_all(listeners, Arc::new(handler), ctx).await;
}
