//! `ldap`: an Active Directory domain controller's LDAP (389, StartTLS; 636 TLS). The
//! rootDSE answers anyone, as AD's does (naming contexts, dnsHostName, functional levels);
//! every other search needs a bind and fails with AD's operationsError. Simple binds are
//! reported with DN and password, SASL PLAIN with its password, NTLM (GSS-SPNEGO and
//! Microsoft's "sicily" binds) with the response to our challenge; all fail with
//! invalidCredentials (AD's `data 52e`). Anonymous binds succeed, as on AD.
//!
//! Messages are BER with every length checked against the message, which is itself read
//! only after its length was bounded.

use std::io;

use tokio_rustls::TlsAcceptor;

use crate::clock::Civil;
use crate::config::Config;
use crate::event::{self, Event};
use crate::limits::{Conn, Handler};

use super::asn1::{self, Reader, Tlv};
use super::ntlm::{self, Identity, Step};
use super::starttls;

/// Requests served on one connection.
const MAX_MESSAGES: usize = 200;
/// Largest LDAP message we read.
const MAX_MESSAGE: usize = 64 * 1024;
/// Nesting of search filters we render.
const MAX_FILTER_DEPTH: usize = 12;
/// Longest rendered filter kept.
const MAX_FILTER_TEXT: usize = 1024;

const SUCCESS: u8 = 0;
const OPERATIONS_ERROR: u8 = 1;
const PROTOCOL_ERROR: u8 = 2;
const AUTH_METHOD_NOT_SUPPORTED: u8 = 7;
const SASL_BIND_IN_PROGRESS: u8 = 14;
const INVALID_CREDENTIALS: u8 = 49;
const UNWILLING_TO_PERFORM: u8 = 53;

const START_TLS: &[u8] = b"1.3.6.1.4.1.1466.20037";
const WHO_AM_I: &[u8] = b"1.3.6.1.4.1.4203.1.11.3";

/// AD's (Windows Server 2019) texts.
const BAD_CREDENTIALS: &str =
    "80090308: LdapErr: DSID-0C090569, comment: AcceptSecurityContext error, data 52e, v4563\0";
const NEED_BIND: &str = "000004DC: LdapErr: DSID-0C090A5C, comment: In order to perform this operation a successful bind must be completed on the connection., data 0, v4563\0";
const SASL_MECHS: &[&str] = &["GSSAPI", "GSS-SPNEGO", "EXTERNAL", "DIGEST-MD5"];

pub struct Ldap {
    id: Identity,
    tls: Option<TlsAcceptor>,
}

impl Ldap {
    pub fn new(cfg: &Config) -> Self {
        let mut id = Identity::from_config(cfg);
        if id.dns_domain.is_empty() {
            // A domain controller always has a domain.
            id.dns_domain = "corp.local".to_owned();
            id.dns_computer = format!("{}.corp.local", id.computer.to_ascii_lowercase());
            if id.nb_domain == "WORKGROUP" {
                id.nb_domain = "CORP".to_owned();
            }
        }
        Ldap {
            id,
            tls: starttls::acceptor(cfg, "ldap"),
        }
    }

    fn base_dn(&self) -> String {
        self.id
            .dns_domain
            .split('.')
            .map(|l| format!("DC={l}"))
            .collect::<Vec<_>>()
            .join(",")
    }

    /// The rootDSE attributes, in AD's order.
    fn root_dse(&self) -> Vec<(&'static str, Vec<String>)> {
        let base = self.base_dn();
        let config = format!("CN=Configuration,{base}");
        let schema = format!("CN=Schema,{config}");
        let host = self.id.computer.clone();
        let server = format!("CN={host},CN=Servers,CN=Default-First-Site-Name,CN=Sites,{config}");
        let now = Civil::now();
        let time = format!(
            "{:04}{:02}{:02}{:02}{:02}{:02}.0Z",
            now.year, now.month, now.day, now.hour, now.minute, now.second
        );
        let one = |s: String| vec![s];
        vec![
            ("currentTime", one(time)),
            ("subschemaSubentry", one(format!("CN=Aggregate,{schema}"))),
            ("dsServiceName", one(format!("CN=NTDS Settings,{server}"))),
            (
                "namingContexts",
                vec![
                    base.clone(),
                    config.clone(),
                    schema.clone(),
                    format!("DC=DomainDnsZones,{base}"),
                    format!("DC=ForestDnsZones,{base}"),
                ],
            ),
            ("defaultNamingContext", one(base.clone())),
            ("rootDomainNamingContext", one(base.clone())),
            ("configurationNamingContext", one(config)),
            ("schemaNamingContext", one(schema)),
            (
                "supportedControl",
                [
                    "1.2.840.113556.1.4.319",
                    "1.2.840.113556.1.4.801",
                    "1.2.840.113556.1.4.473",
                    "1.2.840.113556.1.4.528",
                    "1.2.840.113556.1.4.417",
                    "1.2.840.113556.1.4.619",
                    "1.2.840.113556.1.4.841",
                    "1.2.840.113556.1.4.529",
                    "1.2.840.113556.1.4.805",
                    "1.2.840.113556.1.4.521",
                    "1.2.840.113556.1.4.970",
                    "1.2.840.113556.1.4.1338",
                    "1.2.840.113556.1.4.474",
                    "1.2.840.113556.1.4.1339",
                    "1.2.840.113556.1.4.1340",
                    "1.2.840.113556.1.4.1413",
                    "2.16.840.1.113730.3.4.9",
                    "2.16.840.1.113730.3.4.10",
                ]
                .iter()
                .map(|s| (*s).to_owned())
                .collect(),
            ),
            ("supportedLDAPVersion", vec!["3".into(), "2".into()]),
            (
                "supportedLDAPPolicies",
                [
                    "MaxPoolThreads",
                    "MaxPercentDirSyncRequests",
                    "MaxDatagramRecv",
                    "MaxReceiveBuffer",
                    "InitRecvTimeout",
                    "MaxConnections",
                    "MaxConnIdleTime",
                    "MaxPageSize",
                    "MaxBatchReturnMessages",
                    "MaxQueryDuration",
                    "MaxTempTableSize",
                    "MaxResultSetSize",
                    "MinResultSets",
                    "MaxResultSetsPerConn",
                    "MaxNotificationPerConn",
                    "MaxValRange",
                ]
                .iter()
                .map(|s| (*s).to_owned())
                .collect(),
            ),
            ("highestCommittedUSN", one("213137".into())),
            (
                "supportedSASLMechanisms",
                SASL_MECHS.iter().map(|s| (*s).to_owned()).collect(),
            ),
            ("dnsHostName", one(self.id.dns_computer.clone())),
            (
                "ldapServiceName",
                one(format!(
                    "{}:{}$@{}",
                    self.id.dns_domain,
                    host.to_ascii_lowercase(),
                    self.id.dns_domain.to_ascii_uppercase()
                )),
            ),
            ("serverName", one(server)),
            (
                "supportedCapabilities",
                [
                    "1.2.840.113556.1.4.800",
                    "1.2.840.113556.1.4.1670",
                    "1.2.840.113556.1.4.1791",
                    "1.2.840.113556.1.4.1935",
                    "1.2.840.113556.1.4.2080",
                    "1.2.840.113556.1.4.2237",
                ]
                .iter()
                .map(|s| (*s).to_owned())
                .collect(),
            ),
            ("isSynchronized", one("TRUE".into())),
            ("isGlobalCatalogReady", one("TRUE".into())),
            ("domainFunctionality", one("7".into())),
            ("forestFunctionality", one("7".into())),
            ("domainControllerFunctionality", one("7".into())),
        ]
    }
}

/// A constructed element with AD's length form (always `0x84` and four bytes), which
/// nmap's and other fingerprints expect.
fn cons(tag: u8, parts: &[&[u8]]) -> Vec<u8> {
    let len: usize = parts.iter().map(|p| p.len()).sum();
    let mut out = Vec::with_capacity(len + 6);
    out.push(tag);
    out.push(0x84);
    out.extend_from_slice(&(len as u32).to_be_bytes());
    for p in parts {
        out.extend_from_slice(p);
    }
    out
}

fn message(id: i64, op: &[u8]) -> Vec<u8> {
    cons(0x30, &[&asn1::integer(id.max(0) as u64), op])
}

/// An LDAPResult under application tag `tag`, with extra trailing parts.
fn result(tag: u8, code: u8, matched: &[u8], diag: &str, extra: &[&[u8]]) -> Vec<u8> {
    let mut parts: Vec<Vec<u8>> = vec![
        asn1::enumerated(code),
        asn1::octets(matched),
        asn1::octets(diag.as_bytes()),
    ];
    parts.extend(extra.iter().map(|e| e.to_vec()));
    let refs: Vec<&[u8]> = parts.iter().map(Vec::as_slice).collect();
    cons(tag, &refs)
}

fn entry(dn: &str, attrs: &[(&str, &[String])]) -> Vec<u8> {
    let attrs: Vec<Vec<u8>> = attrs
        .iter()
        .map(|(name, values)| {
            let vals: Vec<Vec<u8>> = values.iter().map(|v| asn1::octets(v.as_bytes())).collect();
            let refs: Vec<&[u8]> = vals.iter().map(Vec::as_slice).collect();
            cons(0x30, &[&asn1::octets(name.as_bytes()), &cons(0x31, &refs)])
        })
        .collect();
    let refs: Vec<&[u8]> = attrs.iter().map(Vec::as_slice).collect();
    cons(0x64, &[&asn1::octets(dn.as_bytes()), &cons(0x30, &refs)])
}

/// Reads one LDAPMessage (its SEQUENCE content); `None` at a clean end of stream.
async fn read_message(conn: &mut Conn) -> io::Result<Option<Vec<u8>>> {
    let mut head = match conn.read_exact(2).await {
        Ok(h) => h,
        Err(e) if e.kind() == io::ErrorKind::UnexpectedEof => return Ok(None),
        Err(e) => return Err(e),
    };
    if head[0] != 0x30 {
        return Err(io::Error::new(io::ErrorKind::InvalidData, "not LDAP"));
    }
    if head[1] & 0x80 != 0 {
        let n = usize::from(head[1] & 0x7f);
        if n == 0 || n > 4 {
            return Err(io::Error::new(io::ErrorKind::InvalidData, "bad length"));
        }
        head.extend_from_slice(&conn.read_exact(n).await?);
    }
    let Some((_, _, len)) = asn1::header(&head) else {
        return Err(io::Error::new(io::ErrorKind::InvalidData, "bad length"));
    };
    if len > MAX_MESSAGE.min(conn.limits.body_max) {
        return Err(io::Error::new(
            io::ErrorKind::InvalidData,
            "message too big",
        ));
    }
    Ok(Some(conn.read_exact(len).await?))
}

/// A parsed request: message id and the protocol op.
pub fn split_message(content: &[u8]) -> Option<(i64, Tlv<'_>)> {
    let mut r = Reader::new(content);
    let id = r.expect(0x02)?.int()?;
    let op = r.next()?;
    Some((id, op))
}

#[derive(Debug, PartialEq, Eq)]
pub enum BindAuth {
    Simple(Vec<u8>),
    Sasl {
        mechanism: Vec<u8>,
        credentials: Option<Vec<u8>>,
    },
    /// Microsoft's NTLM bind: package discovery (9), negotiate (10), response (11).
    Sicily(u8, Vec<u8>),
    Other(u8),
}

#[derive(Debug, PartialEq, Eq)]
pub struct Bind {
    pub version: i64,
    pub name: Vec<u8>,
    pub auth: BindAuth,
}

pub fn parse_bind(op: &Tlv<'_>) -> Option<Bind> {
    let mut r = op.reader();
    let version = r.expect(0x02)?.int()?;
    let name = r.expect(0x04)?.content.to_vec();
    let auth = r.next()?;
    let auth = match auth.tag {
        0x80 => BindAuth::Simple(auth.content.to_vec()),
        0xa3 => {
            let mut s = auth.reader();
            let mechanism = s.expect(0x04)?.content.to_vec();
            let credentials = s.next().map(|c| c.content.to_vec());
            BindAuth::Sasl {
                mechanism,
                credentials,
            }
        }
        0x89..=0x8b => BindAuth::Sicily(auth.tag & 0x1f, auth.content.to_vec()),
        other => BindAuth::Other(other),
    };
    Some(Bind {
        version,
        name,
        auth,
    })
}

#[derive(Debug, Default, PartialEq, Eq)]
pub struct Search {
    pub base: Vec<u8>,
    pub scope: i64,
    pub filter: String,
    pub attributes: Vec<String>,
}

pub fn parse_search(op: &Tlv<'_>) -> Option<Search> {
    let mut r = op.reader();
    let base = r.expect(0x04)?.content.to_vec();
    let scope = r.expect(0x0a)?.int()?;
    r.expect(0x0a)?; // deref aliases
    r.expect(0x02)?; // size limit
    r.expect(0x02)?; // time limit
    r.expect(0x01)?; // types only
    let filter_tlv = r.next()?;
    let mut filter = String::new();
    render_filter(&filter_tlv, 0, &mut filter);
    let mut attributes = Vec::new();
    if let Some(list) = r.expect(0x30) {
        let mut a = list.reader();
        while let Some(attr) = a.next() {
            if attributes.len() >= 64 {
                break;
            }
            attributes.push(event::text(attr.content, 128));
        }
    }
    Some(Search {
        base,
        scope,
        filter,
        attributes,
    })
}

/// RFC 4515 text of a filter (approximate for extensible matches), bounded in depth and
/// length.
pub fn render_filter(f: &Tlv<'_>, depth: usize, out: &mut String) {
    if depth > MAX_FILTER_DEPTH || out.len() > MAX_FILTER_TEXT {
        out.push_str("...");
        return;
    }
    let value = |t: Option<Tlv<'_>>| t.map(|t| event::text(t.content, 256)).unwrap_or_default();
    out.push('(');
    match f.tag {
        0xa0..=0xa2 => {
            out.push(['&', '|', '!'][usize::from(f.tag - 0xa0)]);
            let mut r = f.reader();
            let mut n = 0;
            while let Some(sub) = r.next() {
                n += 1;
                if n > 64 || out.len() > MAX_FILTER_TEXT {
                    out.push_str("...");
                    break;
                }
                render_filter(&sub, depth + 1, out);
            }
        }
        0xa3 | 0xa5 | 0xa6 | 0xa8 => {
            let mut r = f.reader();
            let attr = value(r.next());
            let op = match f.tag {
                0xa3 => "=",
                0xa5 => ">=",
                0xa6 => "<=",
                _ => "~=",
            };
            out.push_str(&format!("{attr}{op}{}", value(r.next())));
        }
        0xa4 => {
            let mut r = f.reader();
            out.push_str(&value(r.next()));
            out.push('=');
            let mut parts = r.next().map(|s| s.reader());
            let mut first = true;
            let mut n = 0;
            while let Some(p) = parts.as_mut().and_then(Reader::next) {
                n += 1;
                if n > 32 {
                    break;
                }
                if p.tag != 0x80 || !first {
                    out.push('*');
                }
                out.push_str(&event::text(p.content, 256));
                first = false;
                if p.tag == 0x82 {
                    return out.push(')');
                }
            }
            out.push('*');
        }
        0x87 => out.push_str(&format!("{}=*", event::text(f.content, 256))),
        0xa9 => {
            let mut r = f.reader();
            let mut parts = Vec::new();
            while let Some(p) = r.next() {
                if parts.len() >= 4 {
                    break;
                }
                parts.push(event::text(p.content, 256));
            }
            out.push_str(&format!(":{}", parts.join(":")));
        }
        other => out.push_str(&format!("?{other:02x}")),
    }
    out.push(')');
}

/// Per-connection state.
struct State {
    /// Ours, for the NTLM bind in progress (GSS-SPNEGO or sicily).
    challenge: [u8; 8],
    failures: u32,
}

enum Next {
    Done,
    StartTls,
}

impl Ldap {
    async fn serve(&self, conn: &mut Conn, st: &mut State) -> io::Result<Next> {
        for _ in 0..MAX_MESSAGES {
            let Some(content) = read_message(conn).await? else {
                return Ok(Next::Done);
            };
            let Some((id, op)) = split_message(&content) else {
                conn.emit(Event::command("LDAP?").payload(&content));
                // What AD sends for garbage: a notice of disconnection.
                let notice = result(
                    0x78,
                    PROTOCOL_ERROR,
                    b"",
                    "00000057: LdapErr: DSID-0C090DAB, comment: Error decoding ldap message, data 0, v4563\0",
                    &[&asn1::tlv(0x8a, b"1.3.6.1.4.1.1466.20036")],
                );
                conn.write_all(&message(0, &notice)).await?;
                return Ok(Next::Done);
            };
            match op.tag {
                0x60 => self.bind(conn, st, id, &op).await?,
                0x42 => return Ok(Next::Done),
                0x63 => self.search(conn, id, &op).await?,
                0x50 => {} // abandon: no answer
                0x77 => {
                    let mut r = op.reader();
                    let name = r.expect(0x80).map(|t| t.content).unwrap_or_default();
                    conn.emit(Event::command(format!(
                        "EXTENDED {}",
                        event::text(name, 128)
                    )));
                    if name == START_TLS && self.tls.is_some() && !conn.tls {
                        let ok = result(0x78, SUCCESS, b"", "", &[&asn1::tlv(0x8a, START_TLS)]);
                        conn.write_all(&message(id, &ok)).await?;
                        return Ok(Next::StartTls);
                    }
                    let (code, diag) = if name == WHO_AM_I {
                        (SUCCESS, "")
                    } else {
                        (
                            PROTOCOL_ERROR,
                            "0000203D: LdapErr: DSID-0C0C13A0, comment: Unknown extended request OID, data 0, v4563\0",
                        )
                    };
                    conn.write_all(&message(id, &result(0x78, code, b"", diag, &[])))
                        .await?;
                }
                tag => {
                    // Writes (modify, add, delete, modDN) and compare: all need a bind.
                    let (name, reply) = match tag {
                        0x66 => ("MODIFY", 0x67),
                        0x68 => ("ADD", 0x69),
                        0x4a => ("DELETE", 0x6b),
                        0x6c => ("MODDN", 0x6d),
                        0x6e => ("COMPARE", 0x6f),
                        _ => ("UNKNOWN", 0x78),
                    };
                    conn.emit(Event::command(name).payload(op.content));
                    let r = result(reply, OPERATIONS_ERROR, b"", NEED_BIND, &[]);
                    conn.write_all(&message(id, &r)).await?;
                }
            }
            if st.failures >= 10 {
                return Ok(Next::Done);
            }
        }
        Ok(Next::Done)
    }

    async fn fail_bind(
        &self,
        conn: &mut Conn,
        st: &mut State,
        id: i64,
        ev: Event,
    ) -> io::Result<()> {
        conn.emit(ev);
        conn.auth_pause().await;
        st.failures += 1;
        st.challenge = ntlm::random_challenge();
        let r = result(0x61, INVALID_CREDENTIALS, b"", BAD_CREDENTIALS, &[]);
        conn.write_all(&message(id, &r)).await
    }

    async fn bind(&self, conn: &mut Conn, st: &mut State, id: i64, op: &Tlv<'_>) -> io::Result<()> {
        let Some(bind) = parse_bind(op) else {
            conn.emit(Event::command("BIND").payload(op.content));
            let r = result(0x61, PROTOCOL_ERROR, b"", "", &[]);
            return conn.write_all(&message(id, &r)).await;
        };
        let dn = &bind.name;
        match &bind.auth {
            BindAuth::Simple(pw) if pw.is_empty() => {
                // Anonymous (or unauthenticated) bind: accepted, as AD does.
                conn.emit(
                    Event::command("BIND anonymous")
                        .text("username", dn)
                        .field("version", bind.version),
                );
                let r = result(0x61, SUCCESS, b"", "", &[]);
                conn.write_all(&message(id, &r)).await
            }
            BindAuth::Simple(pw) => {
                let ev = Event::auth(dn, pw)
                    .field("method", "simple")
                    .field("version", bind.version);
                self.fail_bind(conn, st, id, ev).await
            }
            BindAuth::Sasl {
                mechanism,
                credentials,
            } => {
                let mech = event::text(mechanism, 64).to_ascii_uppercase();
                let creds = credentials.as_deref().unwrap_or_default();
                match mech.as_str() {
                    "GSS-SPNEGO" | "NTLM" if ntlm::find(creds).is_some() => {
                        match ntlm::server_step(&self.id, creds, &st.challenge) {
                            Step::Challenge(token) => {
                                let r = result(
                                    0x61,
                                    SASL_BIND_IN_PROGRESS,
                                    b"",
                                    "",
                                    &[&asn1::tlv(0x87, &token)],
                                );
                                conn.write_all(&message(id, &r)).await
                            }
                            Step::Authenticated(a) => {
                                let ev = ntlm::auth_event(&a, &st.challenge, "ntlmssp")
                                    .field("sasl", mech);
                                self.fail_bind(conn, st, id, ev).await
                            }
                            Step::Unknown => {
                                let ev = Event::auth(dn, "")
                                    .field("method", format!("sasl {mech}"))
                                    .hex("credentials", creds);
                                self.fail_bind(conn, st, id, ev).await
                            }
                        }
                    }
                    "PLAIN" => {
                        let (user, pass) = super::sasl::plain(creds)
                            .unwrap_or_else(|| (creds.to_vec(), Vec::new()));
                        let ev = Event::auth(user, pass).field("method", "sasl PLAIN");
                        self.fail_bind(conn, st, id, ev).await
                    }
                    m if SASL_MECHS.contains(&m) => {
                        let mut ev = Event::auth(dn, "").field("method", format!("sasl {mech}"));
                        if !creds.is_empty() {
                            ev = ev.hex("credentials", creds);
                        }
                        self.fail_bind(conn, st, id, ev).await
                    }
                    _ => {
                        conn.emit(
                            Event::auth(dn, "")
                                .field("method", format!("sasl {mech}"))
                                .hex("credentials", creds),
                        );
                        let diag = "00002028: LdapErr: DSID-0C090269, comment: The server does not support the requested SASL mechanism, data 0, v4563\0";
                        let r = result(0x61, AUTH_METHOD_NOT_SUPPORTED, b"", diag, &[]);
                        conn.write_all(&message(id, &r)).await
                    }
                }
            }
            BindAuth::Sicily(9, _) => {
                // Package discovery: the packages go in matchedDN.
                let r = result(0x61, SUCCESS, b"NTLM", "", &[]);
                conn.write_all(&message(id, &r)).await
            }
            BindAuth::Sicily(kind, blob) => {
                match ntlm::server_step(&self.id, blob, &st.challenge) {
                    Step::Challenge(token) if *kind == 10 => {
                        // The challenge travels in matchedDN.
                        let r = result(0x61, SUCCESS, &token, "", &[]);
                        conn.write_all(&message(id, &r)).await
                    }
                    Step::Authenticated(a) => {
                        let ev =
                            ntlm::auth_event(&a, &st.challenge, "ntlmssp").field("sasl", "sicily");
                        self.fail_bind(conn, st, id, ev).await
                    }
                    _ => {
                        let ev = Event::auth(dn, "")
                            .field("method", "sicily")
                            .hex("credentials", blob);
                        self.fail_bind(conn, st, id, ev).await
                    }
                }
            }
            BindAuth::Other(tag) => {
                conn.emit(Event::command(format!("BIND auth 0x{tag:02x}")).text("username", dn));
                let r = result(0x61, AUTH_METHOD_NOT_SUPPORTED, b"", "", &[]);
                conn.write_all(&message(id, &r)).await
            }
        }
    }

    async fn search(&self, conn: &mut Conn, id: i64, op: &Tlv<'_>) -> io::Result<()> {
        let Some(s) = parse_search(op) else {
            conn.emit(Event::command("SEARCH").payload(op.content));
            let r = result(0x65, PROTOCOL_ERROR, b"", "", &[]);
            return conn.write_all(&message(id, &r)).await;
        };
        let scope = ["base", "one", "sub"]
            .get(usize::try_from(s.scope).unwrap_or(9))
            .copied()
            .unwrap_or("?");
        let text = format!(
            "SEARCH base=\"{}\" scope={scope} filter={} attrs={}",
            event::text(&s.base, 256),
            s.filter,
            s.attributes.join(",")
        );
        conn.emit(Event::command(&text));
        if s.base.is_empty() && s.scope == 0 {
            let all = self.root_dse();
            let wanted: Vec<String> = s
                .attributes
                .iter()
                .map(|a| a.to_ascii_lowercase())
                .collect();
            let everything = wanted.is_empty() || wanted.iter().any(|a| a == "*" || a == "+");
            let attrs: Vec<(&str, &[String])> = all
                .iter()
                .filter(|(name, _)| everything || wanted.contains(&name.to_ascii_lowercase()))
                .map(|(name, v)| (*name, v.as_slice()))
                .collect();
            let mut out = message(id, &entry("", &attrs));
            out.extend_from_slice(&message(id, &result(0x65, SUCCESS, b"", "", &[])));
            return conn.write_all(&out).await;
        }
        let r = if s.base.is_empty() {
            result(0x65, UNWILLING_TO_PERFORM, b"", "", &[])
        } else {
            result(0x65, OPERATIONS_ERROR, b"", NEED_BIND, &[])
        };
        conn.write_all(&message(id, &r)).await
    }
}

impl Handler for Ldap {
    async fn handle(&self, conn: Conn) -> io::Result<()> {
        let mut conn = conn;
        let mut st = State {
            challenge: ntlm::random_challenge(),
            failures: 0,
        };
        loop {
            match self.serve(&mut conn, &mut st).await? {
                Next::Done => return Ok(()),
                Next::StartTls => match &self.tls {
                    Some(acceptor) => conn = starttls::upgrade(conn, acceptor).await?,
                    None => return Ok(()),
                },
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::services::asn1::{integer, octets, seq, tlv};
    use crate::services::testkit::{self, Client};
    use proptest::prelude::*;

    fn cfg() -> Config {
        testkit::config("dc", "dc01")
    }

    fn request(id: u64, op: &[u8]) -> Vec<u8> {
        seq(&[&integer(id), op])
    }

    fn simple_bind(dn: &str, pw: &str) -> Vec<u8> {
        tlv(
            0x60,
            &[integer(3), octets(dn.as_bytes()), tlv(0x80, pw.as_bytes())].concat(),
        )
    }

    fn search(base: &str, scope: u8, filter: &[u8], attrs: &[&str]) -> Vec<u8> {
        let attrs: Vec<Vec<u8>> = attrs.iter().map(|a| octets(a.as_bytes())).collect();
        let refs: Vec<&[u8]> = attrs.iter().map(Vec::as_slice).collect();
        tlv(
            0x63,
            &[
                octets(base.as_bytes()),
                asn1::enumerated(scope),
                asn1::enumerated(0),
                integer(0),
                integer(0),
                tlv(0x01, &[0]),
                filter.to_vec(),
                seq(&refs),
            ]
            .concat(),
        )
    }

    async fn read_reply(c: &mut Client) -> Vec<u8> {
        let head = c.read_exact(2).await;
        assert_eq!(head[0], 0x30);
        let mut all = head.clone();
        if head[1] & 0x80 != 0 {
            all.extend(c.read_exact(usize::from(head[1] & 0x7f)).await);
        }
        let (_, _, len) = asn1::header(&all).unwrap();
        c.read_exact(len).await
    }

    fn result_code(content: &[u8]) -> (i64, u8, i64) {
        let (id, op) = split_message(content).unwrap();
        let code = op.reader().expect(0x0a).unwrap().int().unwrap();
        (id, op.tag, code)
    }

    #[tokio::test]
    async fn simple_bind_is_captured_and_refused() {
        let t = testkit::start("ldap", cfg()).await;
        let mut c = t.connect(0).await;
        c.send(&request(
            1,
            &simple_bind("cn=admin,dc=corp,dc=local", "secret"),
        ))
        .await;
        let r = read_reply(&mut c).await;
        assert_eq!(result_code(&r), (1, 0x61, 49));
        assert!(r.windows(8).any(|w| w == b"data 52e"));
        c.send(&request(2, &tlv(0x42, b""))).await;
        assert!(c.read_to_close().await.is_empty());
        let a = t.events().expect("auth").await;
        assert_eq!(a["username"], "cn=admin,dc=corp,dc=local");
        assert_eq!(a["password"], "secret");
        assert_eq!(a["method"], "simple");
        assert_eq!(a["version"], 3);
    }

    #[tokio::test]
    async fn root_dse_looks_like_active_directory() {
        let t = testkit::start("ldap", cfg()).await;
        let mut c = t.connect(0).await;
        // nmap's LDAPSearchReq probe.
        c.send(b"\x30\x84\x00\x00\x00\x2d\x02\x01\x07\x63\x84\x00\x00\x00\x24\x04\x00\x0a\x01\x00\x0a\x01\x00\x02\x01\x00\x02\x01\x64\x01\x01\x00\x87\x0b\x6f\x62\x6a\x65\x63\x74\x43\x6c\x61\x73\x73\x30\x84\x00\x00\x00\x00").await;
        let e = read_reply(&mut c).await;
        let text = String::from_utf8_lossy(&e).into_owned();
        assert!(text.contains(
            "CN=NTDS Settings,CN=DC01,CN=Servers,CN=Default-First-Site-Name,CN=Sites,CN=Configuration,DC=corp,DC=local0\u{fffd}"
        ), "{text}");
        assert!(text.contains("dc01.corp.local"));
        let done = read_reply(&mut c).await;
        assert_eq!(result_code(&done), (7, 0x65, 0));

        // Only the requested attributes.
        c.send(&request(
            8,
            &search("", 0, &tlv(0x87, b"objectClass"), &["defaultNamingContext"]),
        ))
        .await;
        let e = read_reply(&mut c).await;
        let text = String::from_utf8_lossy(&e).into_owned();
        assert!(text.contains("defaultNamingContext") && !text.contains("dnsHostName"));
        read_reply(&mut c).await;
        let cmd = t.events().expect("command").await;
        assert_eq!(
            cmd["command"],
            "SEARCH base=\"\" scope=base filter=(objectClass=*) attrs="
        );
    }

    #[tokio::test]
    async fn other_searches_need_a_bind() {
        let t = testkit::start("ldap", cfg()).await;
        let mut c = t.connect(0).await;
        let filter = tlv(
            0xa0,
            &[
                tlv(0xa3, &[octets(b"objectClass"), octets(b"user")].concat()),
                tlv(
                    0xa4,
                    &[octets(b"cn"), seq(&[&tlv(0x80, b"adm"), &tlv(0x82, b"n")])].concat(),
                ),
            ]
            .concat(),
        );
        c.send(&request(
            3,
            &search("DC=corp,DC=local", 2, &filter, &["cn", "mail"]),
        ))
        .await;
        let r = read_reply(&mut c).await;
        assert_eq!(result_code(&r), (3, 0x65, 1));
        let cmd = t.events().expect("command").await;
        assert_eq!(
            cmd["command"],
            "SEARCH base=\"DC=corp,DC=local\" scope=sub filter=(&(objectClass=user)(cn=adm*n)) attrs=cn,mail"
        );
    }

    #[tokio::test]
    async fn ntlm_binds_are_captured() {
        let t = testkit::start("ldap", cfg()).await;
        let mut c = t.connect(0).await;
        let sasl = |creds: &[u8]| {
            tlv(
                0x60,
                &[
                    integer(3),
                    octets(b""),
                    tlv(0xa3, &[octets(b"GSS-SPNEGO"), octets(creds)].concat()),
                ]
                .concat(),
            )
        };
        c.send(&request(1, &sasl(&ntlm::tests::negotiate()))).await;
        let r = read_reply(&mut c).await;
        assert_eq!(result_code(&r), (1, 0x61, 14));
        let chal = ntlm::find(&r).unwrap();
        let challenge = chal[24..32].to_vec();
        let mut nt = vec![7; 16];
        nt.extend_from_slice(&[1, 1, 0, 0, 0, 0, 0, 0]);
        let auth = ntlm::tests::authenticate("bob", "CORP", "WS", &nt);
        c.send(&request(2, &sasl(&auth))).await;
        let r = read_reply(&mut c).await;
        assert_eq!(result_code(&r), (2, 0x61, 49));
        let a = t.events().expect("auth").await;
        assert_eq!(a["username"], "bob");
        assert_eq!(a["domain"], "CORP");
        assert_eq!(a["challenge"], event::hex(&challenge));
        assert_eq!(a["method"], "ntlmssp");
    }

    #[test]
    fn binds_parse() {
        let b = simple_bind("cn=x", "pw");
        let op = Reader::new(&b).next().unwrap();
        assert_eq!(
            parse_bind(&op),
            Some(Bind {
                version: 3,
                name: b"cn=x".to_vec(),
                auth: BindAuth::Simple(b"pw".to_vec())
            })
        );
    }

    proptest! {
        #[test]
        fn parsers_never_panic(bytes in proptest::collection::vec(any::<u8>(), 0..400)) {
            if let Some((_, op)) = split_message(&bytes) {
                let _ = parse_bind(&op);
                let _ = parse_search(&op);
            }
            let t = Tlv { tag: 0x63, content: &bytes };
            let _ = parse_search(&t);
            let _ = parse_bind(&Tlv { tag: 0x60, content: &bytes });
            let mut out = String::new();
            if let Some(f) = Reader::new(&bytes).next() {
                render_filter(&f, 0, &mut out);
                prop_assert!(out.len() < 8 * MAX_FILTER_TEXT);
            }
        }

        #[test]
        fn deep_filters_are_cut(depth in 1usize..200) {
            let mut f = tlv(0x87, b"cn");
            for _ in 0..depth {
                f = tlv(0xa2, &f);
            }
            let mut out = String::new();
            render_filter(&Reader::new(&f).next().unwrap(), 0, &mut out);
            prop_assert!(out.len() < 200);
        }
    }
}
