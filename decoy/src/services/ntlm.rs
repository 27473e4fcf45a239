//! NTLMSSP (MS-NLMP) inside SPNEGO, shared by smb and ldap: the CHALLENGE_MESSAGE we send
//! for a client's NEGOTIATE_MESSAGE, and the AUTHENTICATE_MESSAGE we take apart. The
//! response to our random challenge is reported in hex and in hashcat's format (5600 for
//! NTLMv2, 5500 for NTLMv1), which is what an offline cracker needs.
//!
//! Also the Windows identity of the decky (NetBIOS and DNS names) those protocols show.

use crate::clock::unix_millis;
use crate::config::{Config, Os};
use crate::event::{self, Event};

use super::asn1;

pub const SIGNATURE: &[u8; 8] = b"NTLMSSP\0";
/// 1.3.6.1.4.1.311.2.2.10
pub const OID_NTLMSSP: &[u8] = &[0x2b, 0x06, 0x01, 0x04, 0x01, 0x82, 0x37, 0x02, 0x02, 0x0a];
/// 1.3.6.1.5.5.2
pub const OID_SPNEGO: &[u8] = &[0x2b, 0x06, 0x01, 0x05, 0x05, 0x02];

const NEGOTIATE_UNICODE: u32 = 0x0000_0001;
const REQUEST_TARGET: u32 = 0x0000_0004;
const NEGOTIATE_SIGN: u32 = 0x0000_0010;
const NEGOTIATE_SEAL: u32 = 0x0000_0020;
const NEGOTIATE_NTLM: u32 = 0x0000_0200;
const NEGOTIATE_ALWAYS_SIGN: u32 = 0x0000_8000;
const TARGET_TYPE_DOMAIN: u32 = 0x0001_0000;
const TARGET_TYPE_SERVER: u32 = 0x0002_0000;
const NEGOTIATE_EXTENDED_SESSIONSECURITY: u32 = 0x0008_0000;
const NEGOTIATE_TARGET_INFO: u32 = 0x0080_0000;
const NEGOTIATE_VERSION: u32 = 0x0200_0000;
const NEGOTIATE_128: u32 = 0x2000_0000;
const NEGOTIATE_KEY_EXCH: u32 = 0x4000_0000;
const NEGOTIATE_56: u32 = 0x8000_0000;

/// The names a Windows (or Samba) host shows in NTLM, SMB and LDAP.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Identity {
    /// NetBIOS computer name: first label of the hostname, upper case, at most 15 chars.
    pub computer: String,
    /// NetBIOS domain or workgroup.
    pub nb_domain: String,
    /// DNS domain, empty for a workgroup member.
    pub dns_domain: String,
    /// Fully qualified host name (the bare hostname without a DNS domain).
    pub dns_computer: String,
    pub os: Os,
}

fn netbios(s: &str) -> String {
    s.chars()
        .filter(|c| c.is_ascii_alphanumeric() || *c == '-' || *c == '_')
        .take(15)
        .collect::<String>()
        .to_ascii_uppercase()
}

fn dns_label_ok(s: &str) -> bool {
    !s.is_empty()
        && s.len() <= 253
        && s.split('.')
            .all(|l| !l.is_empty() && l.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-'))
}

impl Identity {
    /// Persona `domain` (DNS domain) and `workgroup` win; else the hostname's own domain
    /// (`fs01.corp.local` -> `corp.local`, `CORP`); else a workgroup member of `WORKGROUP`.
    pub fn from_config(cfg: &Config) -> Identity {
        let host = cfg.hostname().trim_end_matches('.').to_ascii_lowercase();
        let (first, suffix) = match host.split_once('.') {
            Some((a, b)) => (a.to_owned(), b.to_owned()),
            None => (host.clone(), String::new()),
        };
        let dns_domain = cfg
            .persona
            .str("domain")
            .map(|d| d.trim().trim_end_matches('.').to_ascii_lowercase())
            .filter(|d| dns_label_ok(d))
            .unwrap_or_else(|| {
                if dns_label_ok(&suffix) {
                    suffix
                } else {
                    String::new()
                }
            });
        let nb_domain = cfg
            .persona
            .str("workgroup")
            .map(netbios)
            .filter(|w| !w.is_empty())
            .unwrap_or_else(|| match dns_domain.split('.').next() {
                Some(label) if !label.is_empty() => netbios(label),
                _ => "WORKGROUP".to_owned(),
            });
        let mut computer = netbios(&first);
        if computer.is_empty() {
            computer = "SERVER".to_owned();
        }
        let dns_computer = if dns_domain.is_empty() {
            first.clone()
        } else {
            format!("{first}.{dns_domain}")
        };
        Identity {
            computer,
            nb_domain,
            dns_domain,
            dns_computer,
            os: cfg.os,
        }
    }

    /// The 8-byte VERSION structure: Windows Server 2019 (10.0.17763), or what Samba sends.
    pub fn version(&self) -> [u8; 8] {
        if self.os == Os::Windows {
            [10, 0, 0x63, 0x45, 0, 0, 0, 15]
        } else {
            [6, 1, 0, 0, 0, 0, 0, 15]
        }
    }
}

/// FILETIME now (100 ns since 1601).
pub fn filetime_now() -> u64 {
    const EPOCH_DIFF_MS: u64 = 11_644_473_600_000;
    (unix_millis().max(0) as u64 + EPOCH_DIFF_MS) * 10_000
}

pub fn utf16(s: &str) -> Vec<u8> {
    s.encode_utf16().flat_map(u16::to_le_bytes).collect()
}

/// UTF-16LE to text (lossy, odd trailing byte dropped), at most `max` chars.
pub fn from_utf16(b: &[u8], max: usize) -> String {
    let units: Vec<u16> = b
        .chunks_exact(2)
        .take(max)
        .map(|c| u16::from_le_bytes([c[0], c[1]]))
        .collect();
    String::from_utf16_lossy(&units)
}

/// The NTLMSSP message inside a security blob (SPNEGO-wrapped or raw).
pub fn find(blob: &[u8]) -> Option<&[u8]> {
    let at = blob.windows(SIGNATURE.len()).position(|w| w == SIGNATURE)?;
    blob.get(at..)
}

pub fn message_type(msg: &[u8]) -> Option<u32> {
    let b = msg.get(8..12)?;
    Some(u32::from_le_bytes([b[0], b[1], b[2], b[3]]))
}

fn u32_at(msg: &[u8], at: usize) -> Option<u32> {
    let b = msg.get(at..at.checked_add(4)?)?;
    Some(u32::from_le_bytes([b[0], b[1], b[2], b[3]]))
}

/// A field described by the `len, maxlen, offset` triple at `at`; `None` if it lies
/// outside the message.
fn field(msg: &[u8], at: usize) -> Option<&[u8]> {
    let d = msg.get(at..at.checked_add(8)?)?;
    let len = usize::from(u16::from_le_bytes([d[0], d[1]]));
    let off = u32::from_le_bytes([d[4], d[5], d[6], d[7]]) as usize;
    if len == 0 {
        return Some(&[]);
    }
    msg.get(off..off.checked_add(len)?)
}

/// Flags of a NEGOTIATE_MESSAGE (a sensible default when absent).
pub fn negotiate_flags(msg: &[u8]) -> u32 {
    u32_at(msg, 12).unwrap_or(0xe208_8297)
}

fn av(out: &mut Vec<u8>, id: u16, value: &[u8]) {
    out.extend_from_slice(&id.to_le_bytes());
    out.extend_from_slice(&(value.len() as u16).to_le_bytes());
    out.extend_from_slice(value);
}

/// CHALLENGE_MESSAGE answering a client that negotiated `client_flags`.
pub fn challenge_message(id: &Identity, client_flags: u32, challenge: &[u8; 8]) -> Vec<u8> {
    let echoed = client_flags
        & (NEGOTIATE_UNICODE
            | NEGOTIATE_SIGN
            | NEGOTIATE_SEAL
            | NEGOTIATE_NTLM
            | NEGOTIATE_ALWAYS_SIGN
            | NEGOTIATE_EXTENDED_SESSIONSECURITY
            | NEGOTIATE_128
            | NEGOTIATE_KEY_EXCH
            | NEGOTIATE_56);
    let domain_member = !id.dns_domain.is_empty();
    let flags = echoed
        | NEGOTIATE_UNICODE
        | NEGOTIATE_NTLM
        | REQUEST_TARGET
        | NEGOTIATE_TARGET_INFO
        | NEGOTIATE_VERSION
        | if domain_member {
            TARGET_TYPE_DOMAIN
        } else {
            TARGET_TYPE_SERVER
        };
    let target_name = utf16(if domain_member {
        &id.nb_domain
    } else {
        &id.computer
    });
    let mut info = Vec::new();
    av(&mut info, 2, &utf16(&id.nb_domain));
    av(&mut info, 1, &utf16(&id.computer));
    av(&mut info, 4, &utf16(&id.dns_domain));
    av(&mut info, 3, &utf16(&id.dns_computer));
    if domain_member {
        av(&mut info, 5, &utf16(&id.dns_domain));
    }
    av(&mut info, 7, &filetime_now().to_le_bytes());
    av(&mut info, 0, &[]);

    const HEADER: usize = 56;
    let mut m = Vec::with_capacity(HEADER + target_name.len() + info.len());
    m.extend_from_slice(SIGNATURE);
    m.extend_from_slice(&2u32.to_le_bytes());
    let name_len = target_name.len() as u16;
    m.extend_from_slice(&name_len.to_le_bytes());
    m.extend_from_slice(&name_len.to_le_bytes());
    m.extend_from_slice(&(HEADER as u32).to_le_bytes());
    m.extend_from_slice(&flags.to_le_bytes());
    m.extend_from_slice(challenge);
    m.extend_from_slice(&[0; 8]);
    let info_len = info.len() as u16;
    m.extend_from_slice(&info_len.to_le_bytes());
    m.extend_from_slice(&info_len.to_le_bytes());
    m.extend_from_slice(&((HEADER + target_name.len()) as u32).to_le_bytes());
    m.extend_from_slice(&id.version());
    m.extend_from_slice(&target_name);
    m.extend_from_slice(&info);
    m
}

#[derive(Debug, Default, PartialEq, Eq)]
pub struct Authenticate {
    pub user: String,
    pub domain: String,
    pub workstation: String,
    pub lm: Vec<u8>,
    pub nt: Vec<u8>,
}

/// AUTHENTICATE_MESSAGE: names (UTF-16 or OEM by its flags) and both responses.
pub fn parse_authenticate(msg: &[u8]) -> Option<Authenticate> {
    if !msg.starts_with(SIGNATURE) || message_type(msg)? != 3 {
        return None;
    }
    let flags = u32_at(msg, 60).unwrap_or(NEGOTIATE_UNICODE);
    let name = |at: usize| -> String {
        let b = field(msg, at).unwrap_or_default();
        if flags & NEGOTIATE_UNICODE != 0 {
            from_utf16(b, event::FIELD_MAX)
        } else {
            event::text(b, event::FIELD_MAX)
        }
    };
    Some(Authenticate {
        lm: field(msg, 12).unwrap_or_default().to_vec(),
        nt: field(msg, 20).unwrap_or_default().to_vec(),
        domain: name(28),
        user: name(36),
        workstation: name(44),
    })
}

/// The `auth` event of an NTLM exchange against `challenge`.
pub fn auth_event(a: &Authenticate, challenge: &[u8; 8], method: &'static str) -> Event {
    let mut ev = Event::auth(&a.user, "")
        .field("method", method)
        .text("domain", &a.domain)
        .text("workstation", &a.workstation)
        .hex("challenge", challenge)
        .hex("nt_response", &a.nt);
    if !a.lm.is_empty() {
        ev = ev.hex("lm_response", &a.lm);
    }
    if let Some(h) = hashcat(&a.user, &a.domain, &a.lm, &a.nt, challenge) {
        ev = ev.field("hashcat", h);
    }
    ev
}

/// `user::domain:challenge:ntproofstr:blob` (NTLMv2, mode 5600) or
/// `user::domain:lm:nt:challenge` (NTLMv1, mode 5500); `None` for anonymous logons.
/// Kept under the event field limit: an oversized response yields no line.
pub fn hashcat(
    user: &str,
    domain: &str,
    lm: &[u8],
    nt: &[u8],
    challenge: &[u8; 8],
) -> Option<String> {
    let line = match nt.len() {
        24 => format!(
            "{user}::{domain}:{}:{}:{}",
            event::hex(lm),
            event::hex(nt),
            event::hex(challenge)
        ),
        n if n > 24 && n <= 1024 => format!(
            "{user}::{domain}:{}:{}:{}",
            event::hex(challenge),
            event::hex(&nt[..16]),
            event::hex(&nt[16..])
        ),
        _ => return None,
    };
    (line.len() <= 4096).then_some(line)
}

/// SPNEGO negTokenInit a server puts in its SMB2 NEGOTIATE response: NTLMSSP only.
pub fn spnego_init_hint() -> Vec<u8> {
    let mechs = asn1::tlv(0xa0, &asn1::seq(&[&asn1::tlv(0x06, OID_NTLMSSP)]));
    let hint = asn1::tlv(
        0xa3,
        &asn1::seq(&[&asn1::tlv(
            0xa0,
            &asn1::tlv(0x1b, b"not_defined_in_RFC4178@please_ignore"),
        )]),
    );
    let init = asn1::tlv(0xa0, &asn1::seq(&[&mechs, &hint]));
    asn1::tlv(0x60, &[asn1::tlv(0x06, OID_SPNEGO), init].concat())
}

/// SPNEGO negTokenResp: `state` 1 (accept-incomplete) with our token, or 2 (reject).
pub fn spnego_resp(state: u8, token: Option<&[u8]>) -> Vec<u8> {
    let mut parts = vec![asn1::tlv(0xa0, &asn1::enumerated(state))];
    if token.is_some() || state == 1 {
        parts.push(asn1::tlv(0xa1, &asn1::tlv(0x06, OID_NTLMSSP)));
    }
    if let Some(t) = token {
        parts.push(asn1::tlv(0xa2, &asn1::octets(t)));
    }
    let refs: Vec<&[u8]> = parts.iter().map(Vec::as_slice).collect();
    asn1::tlv(0xa1, &asn1::seq(&refs))
}

/// What a server answers to one security blob of a client.
pub enum Step {
    /// Send this blob and wait for the next (the CHALLENGE_MESSAGE went out).
    Challenge(Vec<u8>),
    /// The client authenticated: report this, then fail the logon.
    Authenticated(Authenticate),
    /// Not NTLMSSP we understand.
    Unknown,
}

/// One step of the server side of NTLMSSP for a client `blob`; `challenge` is ours.
/// The answer is SPNEGO-wrapped when the client's was.
pub fn server_step(id: &Identity, blob: &[u8], challenge: &[u8; 8]) -> Step {
    let Some(msg) = find(blob) else {
        return Step::Unknown;
    };
    let wrapped = !blob.starts_with(SIGNATURE);
    match message_type(msg) {
        Some(1) => {
            let m = challenge_message(id, negotiate_flags(msg), challenge);
            Step::Challenge(if wrapped { spnego_resp(1, Some(&m)) } else { m })
        }
        Some(3) => match parse_authenticate(msg) {
            Some(a) => Step::Authenticated(a),
            None => Step::Unknown,
        },
        _ => Step::Unknown,
    }
}

/// Random 8 bytes.
pub fn random_challenge() -> [u8; 8] {
    let mut c = [0u8; 8];
    let _ = getrandom::getrandom(&mut c);
    c
}

#[cfg(test)]
pub mod tests {
    use super::*;
    use proptest::prelude::*;

    /// An AUTHENTICATE_MESSAGE as Windows and Samba clients build it.
    pub fn authenticate(user: &str, domain: &str, ws: &str, nt: &[u8]) -> Vec<u8> {
        let lm = [0u8; 24];
        let (d, u, w) = (utf16(domain), utf16(user), utf16(ws));
        let mut payload_at = 88u32;
        let mut head = SIGNATURE.to_vec();
        head.extend_from_slice(&3u32.to_le_bytes());
        let mut payload = Vec::new();
        for part in [&lm[..], nt, &d, &u, &w, &[]] {
            head.extend_from_slice(&(part.len() as u16).to_le_bytes());
            head.extend_from_slice(&(part.len() as u16).to_le_bytes());
            head.extend_from_slice(&payload_at.to_le_bytes());
            payload_at += part.len() as u32;
            payload.extend_from_slice(part);
        }
        head.extend_from_slice(&0xe288_8215u32.to_le_bytes());
        head.extend_from_slice(&[0; 24]); // version + MIC
        head.extend_from_slice(&payload);
        head
    }

    pub fn negotiate() -> Vec<u8> {
        let mut m = SIGNATURE.to_vec();
        m.extend_from_slice(&1u32.to_le_bytes());
        m.extend_from_slice(&0xe208_8297u32.to_le_bytes());
        m.extend_from_slice(&[0; 16]);
        m
    }

    fn id(host: &str, persona: &str) -> Identity {
        let (cfg, _) = Config::from_lookup(|k| match k {
            "DECNET_HOSTNAME" => Some(host.to_owned()),
            "DECNET_PERSONA" => Some(persona.to_owned()),
            _ => None,
        });
        Identity::from_config(&cfg)
    }

    #[test]
    fn identity_derives_from_hostname_and_persona() {
        let i = id("fs01", "{}");
        assert_eq!(
            (
                i.computer.as_str(),
                i.nb_domain.as_str(),
                i.dns_domain.as_str()
            ),
            ("FS01", "WORKGROUP", "")
        );
        let i = id("dc01.corp.example.com", "{}");
        assert_eq!(i.nb_domain, "CORP");
        assert_eq!(i.dns_computer, "dc01.corp.example.com");
        let i = id("srv", r#"{"domain":"acme.local","workgroup":"acme-hq"}"#);
        assert_eq!(i.nb_domain, "ACME-HQ");
        assert_eq!(i.dns_computer, "srv.acme.local");
    }

    #[test]
    fn challenge_carries_names_and_parses_back() {
        let i = id("fs01.corp.local", "{}");
        let m = challenge_message(&i, 0xe208_8297, &[1, 2, 3, 4, 5, 6, 7, 8]);
        assert_eq!(message_type(&m), Some(2));
        assert_eq!(&m[24..32], &[1, 2, 3, 4, 5, 6, 7, 8]);
        assert_eq!(from_utf16(field(&m, 12).unwrap(), 64), "CORP");
        let info = field(&m, 40).unwrap();
        assert!(info.windows(8).any(|w| w == utf16("FS01")));
        assert!(info.ends_with(&[0, 0, 0, 0]));
    }

    #[test]
    fn authenticate_parses_and_hashcat_line_is_built() {
        let mut nt = vec![0xaa; 16];
        nt.extend_from_slice(&[0x01, 0x01, 0, 0, 0, 0, 0, 0, 0xbb, 0xbb]);
        let m = authenticate("alice", "CORP", "WS1", &nt);
        let a = parse_authenticate(&m).unwrap();
        assert_eq!((a.user.as_str(), a.domain.as_str()), ("alice", "CORP"));
        assert_eq!(a.workstation, "WS1");
        let h = hashcat(&a.user, &a.domain, &a.lm, &a.nt, &[0x11; 8]).unwrap();
        assert_eq!(
            h,
            format!(
                "alice::CORP:{}:{}:0101000000000000bbbb",
                "11".repeat(8),
                "aa".repeat(16)
            )
        );
        assert!(hashcat("", "", &[], &[], &[0; 8]).is_none());
    }

    proptest! {
        #[test]
        fn parsers_never_panic(bytes in proptest::collection::vec(any::<u8>(), 0..400)) {
            let _ = parse_authenticate(&bytes);
            let mut m = SIGNATURE.to_vec();
            m.extend_from_slice(&3u32.to_le_bytes());
            m.extend_from_slice(&bytes);
            let _ = parse_authenticate(&m);
            let i = id("x", "{}");
            let _ = server_step(&i, &bytes, &[0; 8]);
            let _ = server_step(&i, &m, &[0; 8]);
        }
    }
}
