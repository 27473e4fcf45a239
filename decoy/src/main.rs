//! `decnet-decoy`: the decoy services of a decky, one static binary.
//!
//! - `idle`: the base container's PID 1; sleeps until SIGTERM/SIGINT.
//! - `serve <service> [--port N ...]`: one fake service on its standard ports (`--port 0`:
//!   leave that port to a sibling service).
//! - `list`: the services this binary implements, one per line.
//!
//! Events go to stdout as JSON lines; diagnostics go to stderr.

mod clock;
mod config;
mod event;
mod limits;
mod services;
mod tls;
mod udp;

use std::net::{IpAddr, Ipv4Addr};
use std::process::ExitCode;

use tokio::signal::unix::{signal, SignalKind};

use crate::config::Config;
use crate::event::Emitter;
use crate::limits::Limits;

const USAGE: &str = "usage: decnet-decoy idle
       decnet-decoy serve <service> [--port N ...]
       decnet-decoy list [--ports]";

#[derive(Debug, PartialEq, Eq)]
enum Command {
    Idle,
    List { ports: bool },
    Serve { service: String, ports: Vec<u16> },
    Help,
}

fn parse_args(args: &[String]) -> Result<Command, String> {
    match args.first().map(String::as_str) {
        Some("idle") if args.len() == 1 => Ok(Command::Idle),
        Some("list") if args.len() == 1 => Ok(Command::List { ports: false }),
        Some("list") if args.len() == 2 && args[1] == "--ports" => {
            Ok(Command::List { ports: true })
        }
        Some("help" | "-h" | "--help") => Ok(Command::Help),
        Some("serve") => {
            let service = args
                .get(1)
                .filter(|s| !s.starts_with('-'))
                .ok_or("serve needs a service name")?
                .clone();
            let mut ports = Vec::new();
            let mut rest = args[2..].iter();
            while let Some(arg) = rest.next() {
                let value = match arg.strip_prefix("--port=") {
                    Some(v) => v,
                    None if arg == "--port" => rest.next().ok_or("--port needs a value")?,
                    None => return Err(format!("unexpected argument {arg:?}")),
                };
                let port = value
                    .parse::<u16>()
                    .map_err(|_| format!("--port {value:?} is not a port number"))?;
                ports.push(port);
            }
            Ok(Command::Serve { service, ports })
        }
        Some(other) => Err(format!("unknown command {other:?}")),
        None => Err("missing command".to_owned()),
    }
}

fn runtime() -> std::io::Result<tokio::runtime::Runtime> {
    // One thread: a decoy's load is tiny, and every extra worker costs RSS.
    tokio::runtime::Builder::new_current_thread()
        .enable_io()
        .enable_time()
        .build()
}

/// Resolves when SIGTERM or SIGINT arrives (PID 1 ignores both unless handled).
async fn terminated() -> std::io::Result<()> {
    let mut term = signal(SignalKind::terminate())?;
    let mut int = signal(SignalKind::interrupt())?;
    tokio::select! {
        _ = term.recv() => {}
        _ = int.recv() => {}
    }
    Ok(())
}

fn idle() -> ExitCode {
    let result = runtime().and_then(|rt| rt.block_on(terminated()));
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("decnet-decoy: idle: {e}");
            ExitCode::FAILURE
        }
    }
}

fn serve(service: &str, ports: &[u16]) -> ExitCode {
    let Some(def) = services::find(service) else {
        eprintln!("decnet-decoy: unknown service {service:?} (see `decnet-decoy list`)");
        return ExitCode::from(2);
    };
    let (cfg, warning) = Config::from_env();
    if let Some(w) = warning {
        eprintln!("{w}");
    }
    let rt = match runtime() {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("decnet-decoy: runtime: {e}");
            return ExitCode::FAILURE;
        }
    };
    let result: Result<(), String> = rt.block_on(async {
        let stop = terminated();
        let any = IpAddr::V4(Ipv4Addr::UNSPECIFIED);
        // On the command line 0 means "not this port" (a sibling service owns it).
        let ports: Vec<Option<u16>> = ports.iter().map(|&p| (p != 0).then_some(p)).collect();
        let listeners = services::bind(def, &cfg, any, &ports).await?;
        let shown: Vec<String> = listeners
            .iter()
            .filter_map(|l| {
                let addr = l.socket.local_addr().ok()?;
                let suffix = match (l.socket.is_udp(), l.tls.is_some()) {
                    (true, _) => "/udp",
                    (false, true) => "/tls",
                    (false, false) => "",
                };
                Some(format!("{addr}{suffix}"))
            })
            .collect();
        eprintln!(
            "decnet-decoy: {} listening on {}",
            def.slug,
            shown.join(", ")
        );
        let emitter = Emitter::stdout(&cfg.decky);
        tokio::select! {
            served = services::serve(def, &cfg, listeners, emitter, Limits::default()) => served,
            stopped = stop => stopped.map_err(|e| format!("signal handler: {e}")),
        }
    });
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("decnet-decoy: {e}");
            ExitCode::FAILURE
        }
    }
}

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    match parse_args(&args) {
        Ok(Command::Idle) => idle(),
        Ok(Command::List { ports }) => {
            for def in services::CATALOGUE {
                if ports {
                    // `slug 21/tcp 161/udp ...`, in the order --port overrides them.
                    let shown: Vec<String> = def
                        .ports
                        .iter()
                        .map(|p| format!("{}/{}", p.number, if p.udp { "udp" } else { "tcp" }))
                        .collect();
                    println!("{} {}", def.slug, shown.join(" "));
                } else {
                    println!("{}", def.slug);
                }
            }
            ExitCode::SUCCESS
        }
        Ok(Command::Serve { service, ports }) => serve(&service, &ports),
        Ok(Command::Help) => {
            println!("{USAGE}");
            ExitCode::SUCCESS
        }
        Err(e) => {
            eprintln!("decnet-decoy: {e}\n{USAGE}");
            ExitCode::from(2)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn args(s: &str) -> Vec<String> {
        s.split_whitespace().map(str::to_owned).collect()
    }

    #[test]
    fn commands_parse() {
        assert_eq!(parse_args(&args("idle")), Ok(Command::Idle));
        assert_eq!(
            parse_args(&args("list")),
            Ok(Command::List { ports: false })
        );
        assert_eq!(
            parse_args(&args("list --ports")),
            Ok(Command::List { ports: true })
        );
        assert_eq!(
            parse_args(&args("serve http --port 8080 --port=8443")),
            Ok(Command::Serve {
                service: "http".into(),
                ports: vec![8080, 8443]
            })
        );
        assert!(parse_args(&args("serve")).is_err());
        assert!(parse_args(&args("serve http --port")).is_err());
        assert!(parse_args(&args("serve http --port 70000")).is_err());
        assert!(parse_args(&args("serve http extra")).is_err());
        assert!(parse_args(&args("idle now")).is_err());
        assert!(parse_args(&[]).is_err());
    }
}
