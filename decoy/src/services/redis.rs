//! `redis`: an unprotected-looking Redis (RESP2 and inline commands). AUTH is captured;
//! read commands answer from a tiny fake keyspace; writes (CONFIG SET dir, SLAVEOF, ...)
//! pretend to succeed so the attacker's whole playbook is recorded. Nothing is stored.

use std::io;
use std::time::Instant;

use crate::config::{Config, Os};
use crate::event::{Event, FIELD_MAX};
use crate::limits::{Conn, Handler};

const MAX_COMMANDS: usize = 1000;
/// Most arguments in one command.
const MAX_ARGS: usize = 1024;

pub struct Redis {
    version: String,
    os: String,
    started: Instant,
}

const KEYS: &[(&str, &str)] = &[
    ("session:7f3a9c", "{\"user_id\":1042,\"role\":\"admin\"}"),
    (
        "user:1042",
        "{\"name\":\"jsmith\",\"email\":\"jsmith@corp.local\"}",
    ),
    ("cache:homepage", "<html><body>cached</body></html>"),
];

impl Redis {
    pub fn new(cfg: &Config) -> Self {
        let p = &cfg.persona;
        Redis {
            version: p.string("version").unwrap_or_else(|| "7.0.15".to_owned()),
            os: p.string("os_string").unwrap_or_else(|| {
                match cfg.os {
                    Os::Bsd => "FreeBSD 13.2-RELEASE amd64",
                    Os::Windows => "Windows  ",
                    _ => "Linux 5.15.0-91-generic x86_64",
                }
                .to_owned()
            }),
            started: Instant::now(),
        }
    }

    fn info(&self) -> String {
        let uptime = self.started.elapsed().as_secs();
        let ver = &self.version;
        let os = &self.os;
        format!(
            "# Server\r\nredis_version:{ver}\r\nredis_git_sha1:00000000\r\nredis_git_dirty:0\r\nredis_build_id:3b4ac2a3f57b3ae4\r\nredis_mode:standalone\r\nos:{os}\r\narch_bits:64\r\nmonotonic_clock:POSIX clock_gettime\r\nmultiplexing_api:epoll\r\ngcc_version:11.4.0\r\nprocess_id:812\r\nrun_id:5c8e0a1f9d3b47e2a6c1f0e98d7b6a5c4f3e2d1c\r\ntcp_port:6379\r\nuptime_in_seconds:{uptime}\r\nuptime_in_days:{}\r\nhz:10\r\nexecutable:/usr/bin/redis-server\r\nconfig_file:/etc/redis/redis.conf\r\n\r\n# Clients\r\nconnected_clients:1\r\nblocked_clients:0\r\n\r\n# Memory\r\nused_memory:1186320\r\nused_memory_human:1.13M\r\nmaxmemory:0\r\nmaxmemory_human:0B\r\nmaxmemory_policy:noeviction\r\n\r\n# Persistence\r\nloading:0\r\nrdb_changes_since_last_save:0\r\nrdb_bgsave_in_progress:0\r\nrdb_last_bgsave_status:ok\r\naof_enabled:0\r\n\r\n# Stats\r\ntotal_connections_received:57\r\ntotal_commands_processed:1203\r\n\r\n# Replication\r\nrole:master\r\nconnected_slaves:0\r\n\r\n# CPU\r\nused_cpu_sys:1.204000\r\nused_cpu_user:0.873000\r\n\r\n# Keyspace\r\ndb0:keys={},expires=0,avg_ttl=0\r\n",
            uptime / 86_400,
            KEYS.len()
        )
    }
}

const CONFIG: &[(&str, &str)] = &[
    ("dir", "/var/lib/redis"),
    ("dbfilename", "dump.rdb"),
    ("requirepass", ""),
    ("masterauth", ""),
    ("bind", "0.0.0.0"),
    ("port", "6379"),
    ("protected-mode", "no"),
    ("maxmemory", "0"),
    ("appendonly", "no"),
    ("save", "3600 1 300 100 60 10000"),
    ("databases", "16"),
];

/// Redis's command arity: exact when positive, a minimum when negative (name included).
const ARITY: &[(&str, i32)] = &[
    ("GET", 2),
    ("SET", -3),
    ("KEYS", 2),
    ("CONFIG", -2),
    ("ECHO", 2),
    ("PING", -1),
    ("AUTH", -2),
    ("INFO", -1),
    ("EXISTS", -2),
    ("TYPE", 2),
    ("TTL", 2),
    ("PTTL", 2),
    ("DEL", -2),
    ("UNLINK", -2),
    ("SELECT", 2),
    ("DBSIZE", 1),
    ("EXPIRE", -3),
    ("SCAN", -2),
    ("SLAVEOF", 3),
    ("REPLICAOF", 3),
    ("SAVE", 1),
    ("MODULE", -2),
    ("EVAL", -3),
    ("EVALSHA", -3),
    ("HSET", -4),
    ("LPUSH", -3),
    ("RPUSH", -3),
    ("SADD", -3),
    ("PUBLISH", 3),
    ("MSET", -3),
    ("RENAME", 3),
    ("CLIENT", -2),
];

fn bulk(s: &[u8]) -> Vec<u8> {
    let mut out = format!("${}\r\n", s.len()).into_bytes();
    out.extend_from_slice(s);
    out.extend_from_slice(b"\r\n");
    out
}

fn array(items: &[&[u8]]) -> Vec<u8> {
    let mut out = format!("*{}\r\n", items.len()).into_bytes();
    for i in items {
        out.extend_from_slice(&bulk(i));
    }
    out
}

/// Redis-style glob: `*`, `?` and literal characters (enough for KEYS / CONFIG GET).
pub fn glob(pattern: &[u8], text: &[u8]) -> bool {
    // Iterative matcher with single-star backtracking: linear in practice, never recursive.
    let (mut p, mut t) = (0, 0);
    let (mut star, mut mark) = (None, 0);
    while t < text.len() {
        if p < pattern.len() && (pattern[p] == b'?' || pattern[p] == text[t]) {
            p += 1;
            t += 1;
        } else if p < pattern.len() && pattern[p] == b'*' {
            star = Some(p);
            mark = t;
            p += 1;
        } else if let Some(s) = star {
            p = s + 1;
            mark += 1;
            t = mark;
        } else {
            return false;
        }
    }
    pattern[p..].iter().all(|&c| c == b'*')
}

enum Read {
    Command(Vec<Vec<u8>>),
    Eof,
    /// Malformed input: answer with this error and close, as Redis does.
    Protocol(&'static str),
}

async fn read_command(conn: &mut Conn) -> io::Result<Read> {
    let Some(line) = conn.read_line().await? else {
        return Ok(Read::Eof);
    };
    if line.first() != Some(&b'*') {
        // Inline command.
        let args: Vec<Vec<u8>> = line
            .split(|b| b.is_ascii_whitespace())
            .filter(|a| !a.is_empty())
            .take(MAX_ARGS)
            .map(<[u8]>::to_vec)
            .collect();
        return Ok(Read::Command(args));
    }
    let Some(n) = parse_len(&line[1..]) else {
        return Ok(Read::Protocol(
            "-ERR Protocol error: invalid multibulk length\r\n",
        ));
    };
    if n > MAX_ARGS as i64 {
        return Ok(Read::Protocol(
            "-ERR Protocol error: invalid multibulk length\r\n",
        ));
    }
    let mut args = Vec::new();
    let mut total = 0usize;
    for _ in 0..n.max(0) {
        let Some(head) = conn.read_line().await? else {
            return Ok(Read::Eof);
        };
        if head.first() != Some(&b'$') {
            return Ok(Read::Protocol("-ERR Protocol error: expected '$'\r\n"));
        }
        let len = match parse_len(&head[1..]) {
            Some(l) if l >= 0 => l as usize,
            _ => {
                return Ok(Read::Protocol(
                    "-ERR Protocol error: invalid bulk length\r\n",
                ))
            }
        };
        total += len;
        if total > conn.limits.body_max {
            return Ok(Read::Protocol(
                "-ERR Protocol error: invalid bulk length\r\n",
            ));
        }
        let data = conn.read_exact(len + 2).await?;
        args.push(data[..len].to_vec());
    }
    Ok(Read::Command(args))
}

fn parse_len(digits: &[u8]) -> Option<i64> {
    if digits.is_empty() || digits.len() > 12 {
        return None;
    }
    std::str::from_utf8(digits).ok()?.parse().ok()
}

impl Handler for Redis {
    async fn handle(&self, mut conn: Conn) -> io::Result<()> {
        for _ in 0..MAX_COMMANDS {
            let args = match read_command(&mut conn).await {
                Ok(Read::Command(a)) => a,
                Ok(Read::Eof) => return Ok(()),
                Ok(Read::Protocol(msg)) => {
                    conn.write_all(msg.as_bytes()).await?;
                    return Ok(());
                }
                Err(e) if e.kind() == io::ErrorKind::InvalidData => {
                    conn.write_all(b"-ERR Protocol error: too big inline request\r\n")
                        .await?;
                    return Ok(());
                }
                Err(e) => return Err(e),
            };
            let Some(name) = args.first() else {
                continue;
            };
            let name = String::from_utf8_lossy(name).to_ascii_uppercase();
            let joined = args.join(&b' ');
            if name == "POST" || name == "HOST:" {
                // Redis's defence against cross-protocol scripting: log and hang up.
                conn.emit(Event::command(&joined));
                return Ok(());
            }
            if name == "AUTH" || name == "HELLO" {
                self.report_auth(&conn, &name, &args);
            } else {
                let mut ev = Event::command(&joined);
                if joined.len() > FIELD_MAX {
                    ev = ev.payload(&joined);
                }
                conn.emit(ev);
            }
            let (reply, quit) = self.reply(&name, &args);
            conn.write_all(&reply).await?;
            if quit {
                return Ok(());
            }
        }
        Ok(())
    }
}

impl Redis {
    fn report_auth(&self, conn: &Conn, name: &str, args: &[Vec<u8>]) {
        let (user, pass): (&[u8], &[u8]) = if name == "AUTH" {
            match args {
                [_, pass] => (b"default", pass),
                [_, user, pass, ..] => (user, pass),
                _ => return,
            }
        } else {
            // HELLO [protover [AUTH username password] ...]
            match args.iter().position(|a| a.eq_ignore_ascii_case(b"AUTH")) {
                Some(i) if i + 2 < args.len() => (&args[i + 1], &args[i + 2]),
                _ => {
                    conn.emit(Event::command(args.join(&b' ')));
                    return;
                }
            }
        };
        conn.emit(Event::auth(user, pass).field("method", name.to_owned()));
    }

    fn reply(&self, name: &str, args: &[Vec<u8>]) -> (Vec<u8>, bool) {
        if let Some(&(_, arity)) = ARITY.iter().find(|(n, _)| *n == name) {
            let n = args.len() as i32;
            if (arity > 0 && n != arity) || (arity < 0 && n < -arity) {
                let msg = format!(
                    "-ERR wrong number of arguments for '{}' command\r\n",
                    name.to_ascii_lowercase()
                );
                return (msg.into_bytes(), false);
            }
        }
        let arg = |i: usize| args.get(i).map(Vec::as_slice).unwrap_or(b"");
        let out: Vec<u8> = match name {
            "PING" => match args.get(1) {
                Some(m) => bulk(m),
                None => b"+PONG\r\n".to_vec(),
            },
            "ECHO" => bulk(arg(1)),
            "QUIT" => return (b"+OK\r\n".to_vec(), true),
            "AUTH" => b"-ERR AUTH <password> called without any password configured for the default user. Are you sure your configuration is correct?\r\n".to_vec(),
            "HELLO" if !arg(1).is_empty() && arg(1) != b"2" => {
                b"-NOPROTO unsupported protocol version\r\n".to_vec()
            }
            "HELLO" => {
                let mut out = b"*14\r\n".to_vec();
                for (k, v) in [
                    ("server", "redis"),
                    ("version", self.version.as_str()),
                ] {
                    out.extend_from_slice(&bulk(k.as_bytes()));
                    out.extend_from_slice(&bulk(v.as_bytes()));
                }
                out.extend_from_slice(b"$5\r\nproto\r\n:2\r\n$2\r\nid\r\n:7\r\n$4\r\nmode\r\n$10\r\nstandalone\r\n$4\r\nrole\r\n$6\r\nmaster\r\n$7\r\nmodules\r\n*0\r\n");
                out
            }
            "INFO" => bulk(self.info().as_bytes()),
            "CONFIG" => match String::from_utf8_lossy(arg(1)).to_ascii_uppercase().as_str() {
                "GET" => {
                    let mut items: Vec<&[u8]> = Vec::new();
                    for (k, v) in CONFIG {
                        if glob(arg(2), k.as_bytes()) {
                            items.push(k.as_bytes());
                            items.push(v.as_bytes());
                        }
                    }
                    array(&items)
                }
                "SET" | "RESETSTAT" | "REWRITE" => b"+OK\r\n".to_vec(),
                _ => b"-ERR Unknown subcommand or wrong number of arguments for 'CONFIG'. Try CONFIG HELP.\r\n".to_vec(),
            },
            "KEYS" => {
                let keys: Vec<&[u8]> = KEYS
                    .iter()
                    .map(|(k, _)| k.as_bytes())
                    .filter(|k| glob(arg(1), k))
                    .collect();
                array(&keys)
            }
            "SCAN" => {
                let keys: Vec<&[u8]> = KEYS.iter().map(|(k, _)| k.as_bytes()).collect();
                let mut out = b"*2\r\n$1\r\n0\r\n".to_vec();
                out.extend_from_slice(&array(&keys));
                out
            }
            "GET" => match KEYS.iter().find(|(k, _)| k.as_bytes() == arg(1)) {
                Some((_, v)) => bulk(v.as_bytes()),
                None => b"$-1\r\n".to_vec(),
            },
            "EXISTS" => {
                let n = args[1..]
                    .iter()
                    .filter(|a| KEYS.iter().any(|(k, _)| k.as_bytes() == a.as_slice()))
                    .count();
                format!(":{n}\r\n").into_bytes()
            }
            "TYPE" => match KEYS.iter().any(|(k, _)| k.as_bytes() == arg(1)) {
                true => b"+string\r\n".to_vec(),
                false => b"+none\r\n".to_vec(),
            },
            "TTL" | "PTTL" => b":-1\r\n".to_vec(),
            "DBSIZE" => format!(":{}\r\n", KEYS.len()).into_bytes(),
            "COMMAND" => b"*0\r\n".to_vec(),
            "CLIENT" => match String::from_utf8_lossy(arg(1)).to_ascii_uppercase().as_str() {
                "LIST" => bulk(b"id=7 addr=127.0.0.1:51842 laddr=127.0.0.1:6379 fd=8 name= age=0 idle=0 flags=N db=0 cmd=client|list\n"),
                "ID" => b":7\r\n".to_vec(),
                "GETNAME" => b"$-1\r\n".to_vec(),
                _ => b"+OK\r\n".to_vec(),
            },
            "SET" | "SELECT" | "FLUSHALL" | "FLUSHDB" | "SLAVEOF" | "REPLICAOF" | "MSET"
            | "RENAME" | "MIGRATE" | "RESET" | "SAVE" => b"+OK\r\n".to_vec(),
            "BGSAVE" => b"+Background saving started\r\n".to_vec(),
            "DEL" | "UNLINK" | "EXPIRE" | "HSET" | "LPUSH" | "RPUSH" | "SADD" | "PUBLISH" => {
                b":1\r\n".to_vec()
            }
            "MODULE" => b"-ERR Error loading the extension. Please check the server logs.\r\n".to_vec(),
            "EVAL" | "EVALSHA" => b"$-1\r\n".to_vec(),
            "LASTSAVE" => b":1732000000\r\n".to_vec(),
            "ROLE" => b"*3\r\n$6\r\nmaster\r\n:0\r\n*0\r\n".to_vec(),
            _ => {
                let clean = |a: &[u8]| crate::event::text(a, 64).replace(['\r', '\n'], " ");
                let shown: String = args[1..]
                    .iter()
                    .take(3)
                    .map(|a| format!("'{}' ", clean(a)))
                    .collect();
                format!(
                    "-ERR unknown command '{}', with args beginning with: {shown}\r\n",
                    clean(&args[0])
                )
                .into_bytes()
            }
        };
        (out, false)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::services::testkit;
    use proptest::prelude::*;

    fn cfg() -> Config {
        testkit::config_with_persona("db", "db", serde_json::json!({"version": "6.2.14"}))
    }

    #[test]
    fn glob_matches_like_redis() {
        assert!(glob(b"*", b"anything"));
        assert!(glob(b"user:*", b"user:1042"));
        assert!(!glob(b"user:*", b"session:1"));
        assert!(glob(b"d?r", b"dir"));
        assert!(glob(b"*a*b*c*", b"xxaxxbxxcxx"));
        assert!(!glob(b"", b"x"));
    }

    #[tokio::test]
    async fn resp_commands_answer_and_auth_is_captured() {
        let t = testkit::start("redis", cfg()).await;
        let mut c = t.connect(0).await;
        c.send(b"*1\r\n$4\r\nPING\r\n").await;
        assert_eq!(c.read_line().await, "+PONG");
        c.send(b"*2\r\n$4\r\nAUTH\r\n$7\r\nfoobar1\r\n").await;
        assert!(c
            .read_line()
            .await
            .starts_with("-ERR AUTH <password> called without"));
        c.send(b"*3\r\n$6\r\nCONFIG\r\n$3\r\nGET\r\n$3\r\ndir\r\n")
            .await;
        let want = b"*2\r\n$3\r\ndir\r\n$14\r\n/var/lib/redis\r\n";
        assert_eq!(c.read_exact(want.len()).await, want);
        c.send(b"INFO server\r\n").await;
        let head = c.read_line().await;
        let len: usize = head[1..].parse().unwrap();
        let body = String::from_utf8(c.read_exact(len + 2).await).unwrap();
        assert!(body.contains("redis_version:6.2.14\r\n"));
        c.send(b"KEYS user:*\r\n").await;
        assert_eq!(c.read_line().await, "*1");
        assert_eq!(c.read_line().await, "$9");
        assert_eq!(c.read_line().await, "user:1042");
        c.send(b"*4\r\n$6\r\nCONFIG\r\n$3\r\nSET\r\n$3\r\ndir\r\n$15\r\n/var/spool/cron\r\n")
            .await;
        assert_eq!(c.read_line().await, "+OK");
        c.send(b"*2\r\n$6\r\nNOSUCH\r\n$1\r\nx\r\n").await;
        assert_eq!(
            c.read_line().await,
            "-ERR unknown command 'NOSUCH', with args beginning with: 'x' "
        );
        let mut ev = t.events();
        assert_eq!(ev.expect("command").await["command"], "PING");
        let a = ev.expect("auth").await;
        assert_eq!(
            (a["username"].as_str(), a["password"].as_str()),
            (Some("default"), Some("foobar1"))
        );
        loop {
            if ev.expect("command").await["command"] == "CONFIG SET dir /var/spool/cron" {
                break;
            }
        }
    }

    #[tokio::test]
    async fn protocol_errors_close_the_connection() {
        let t = testkit::start("redis", cfg()).await;
        let mut c = t.connect(0).await;
        c.send(b"*2\r\n$999999999\r\n").await;
        let out = c.read_to_close().await;
        assert!(out.starts_with(b"-ERR Protocol error"));
    }

    proptest! {
        #[test]
        fn glob_never_panics(p in proptest::collection::vec(any::<u8>(), 0..64), t in proptest::collection::vec(any::<u8>(), 0..64)) {
            let _ = glob(&p, &t);
        }
    }
}
