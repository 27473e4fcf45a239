//! SASL pieces shared by smtp, pop3 and imap: base64 and the PLAIN message.

use base64::Engine;

pub fn b64decode(s: &[u8]) -> Option<Vec<u8>> {
    let trimmed: Vec<u8> = s
        .iter()
        .copied()
        .filter(|b| !b.is_ascii_whitespace())
        .collect();
    base64::engine::general_purpose::STANDARD
        .decode(&trimmed)
        .ok()
}

#[cfg(test)]
pub fn b64encode(s: &[u8]) -> String {
    base64::engine::general_purpose::STANDARD.encode(s)
}

/// `[authzid] NUL authcid NUL passwd` (RFC 4616) -> (authcid, passwd).
pub fn plain(message: &[u8]) -> Option<(Vec<u8>, Vec<u8>)> {
    let mut parts = message.splitn(3, |&b| b == 0);
    let _authzid = parts.next()?;
    let user = parts.next()?;
    let pass = parts.next()?;
    Some((user.to_vec(), pass.to_vec()))
}

/// Decodes a base64 SASL PLAIN response; garbage yields the raw text as the username so
/// the attempt is still recorded.
pub fn plain_b64(response: &[u8]) -> (Vec<u8>, Vec<u8>) {
    match b64decode(response).as_deref().and_then(plain) {
        Some(creds) => creds,
        None => (response.to_vec(), Vec::new()),
    }
}

/// A base64 LOGIN step; undecodable input is kept as sent.
pub fn login_b64(response: &[u8]) -> Vec<u8> {
    b64decode(response).unwrap_or_else(|| response.to_vec())
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn plain_messages_decode() {
        assert_eq!(
            plain_b64(b"AGFsaWNlAHdvbmRlcmxhbmQ="),
            (b"alice".to_vec(), b"wonderland".to_vec())
        );
        assert_eq!(
            plain(b"admin\0bob\0pw"),
            Some((b"bob".to_vec(), b"pw".to_vec()))
        );
        assert_eq!(plain_b64(b"!!"), (b"!!".to_vec(), Vec::new()));
    }

    proptest! {
        #[test]
        fn sasl_never_panics(bytes in proptest::collection::vec(any::<u8>(), 0..256)) {
            let _ = plain_b64(&bytes);
            let _ = login_b64(&bytes);
            let _ = plain(&bytes);
        }
    }
}
