//! TLS for the ports that speak it: a self-signed ECDSA P-256 certificate made at start for
//! the persona's `tls_cn`, served by rustls with the pure-Rust graviola provider (no C
//! compiler needed for the static musl build).

use std::sync::Arc;

use graviola::hashing::{Hash, Sha256};
use graviola::signing::ecdsa::{SigningKey, P256};
use rustls::pki_types::{CertificateDer, PrivateKeyDer, PrivatePkcs8KeyDer};
use tokio_rustls::TlsAcceptor;

use crate::clock::{unix_millis, Civil};

/// graviola needs these on x86_64 and would panic without them; we refuse TLS instead.
pub fn cpu_supported() -> Result<(), String> {
    #[cfg(target_arch = "x86_64")]
    {
        let missing: Vec<&str> = [
            ("aes", std::arch::is_x86_feature_detected!("aes")),
            ("ssse3", std::arch::is_x86_feature_detected!("ssse3")),
            ("avx", std::arch::is_x86_feature_detected!("avx")),
            ("avx2", std::arch::is_x86_feature_detected!("avx2")),
            ("adx", std::arch::is_x86_feature_detected!("adx")),
            ("bmi1", std::arch::is_x86_feature_detected!("bmi1")),
            ("bmi2", std::arch::is_x86_feature_detected!("bmi2")),
            (
                "pclmulqdq",
                std::arch::is_x86_feature_detected!("pclmulqdq"),
            ),
        ]
        .into_iter()
        .filter(|(_, present)| !present)
        .map(|(name, _)| name)
        .collect();
        if !missing.is_empty() {
            return Err(format!("CPU lacks {} needed for TLS", missing.join(", ")));
        }
    }
    Ok(())
}

struct P256Signer {
    key: SigningKey<P256>,
    /// Uncompressed point (`04 || X || Y`), what rcgen puts in the SubjectPublicKeyInfo.
    public: Vec<u8>,
}

impl rcgen::PublicKeyData for P256Signer {
    fn der_bytes(&self) -> &[u8] {
        &self.public
    }

    fn algorithm(&self) -> &'static rcgen::SignatureAlgorithm {
        &rcgen::PKCS_ECDSA_P256_SHA256
    }
}

impl rcgen::SigningKey for P256Signer {
    fn sign(&self, msg: &[u8]) -> Result<Vec<u8>, rcgen::Error> {
        let mut buf = [0u8; 128];
        self.key
            .sign_asn1::<Sha256>(&[msg], &mut buf)
            .map(<[u8]>::to_vec)
            .map_err(|_| rcgen::Error::RemoteKeyError)
    }
}

/// A fresh self-signed certificate for `cn` and its PKCS#8 key, valid from a few weeks ago
/// for a year (a certificate dated 1975-4096, rcgen's default, would give the game away).
pub fn self_signed(cn: &str) -> Result<(CertificateDer<'static>, PrivateKeyDer<'static>), String> {
    let err = |what: &'static str| move |e: graviola::Error| format!("{what}: {e:?}");
    let key = SigningKey::<P256>::generate().map_err(err("key generation"))?;
    let mut spki_buf = [0u8; 128];
    let spki = key.to_spki_der(&mut spki_buf).map_err(err("public key"))?;
    // A P-256 SPKI ends with the 65-byte uncompressed point.
    let public = spki
        .len()
        .checked_sub(65)
        .map(|at| spki[at..].to_vec())
        .filter(|p| p.first() == Some(&4))
        .ok_or("unexpected P-256 public key encoding")?;
    let key_id = Sha256::hash(spki).as_ref()[..20].to_vec();
    let mut pkcs8_buf = [0u8; 256];
    let pkcs8 = key
        .to_pkcs8_der(&mut pkcs8_buf)
        .map_err(err("private key"))?
        .to_vec();

    let mut params =
        rcgen::CertificateParams::new(vec![cn.to_owned()]).map_err(|e| format!("{cn:?}: {e}"))?;
    params.distinguished_name = rcgen::DistinguishedName::new();
    params
        .distinguished_name
        .push(rcgen::DnType::CommonName, cn);
    params.key_identifier_method = rcgen::KeyIdMethod::PreSpecified(key_id);
    let mut serial = [0u8; 16];
    getrandom::getrandom(&mut serial).map_err(|e| format!("random: {e}"))?;
    serial[0] &= 0x7f;
    params.serial_number = Some(rcgen::SerialNumber::from_slice(&serial));
    let start = Civil::from_unix_millis(unix_millis() - 23 * 86_400_000);
    let (year, month, day) = (
        start.year as i32,
        start.month as u8,
        start.day.min(28) as u8,
    );
    params.not_before = rcgen::date_time_ymd(year, month, day);
    params.not_after = rcgen::date_time_ymd(year + 1, month, day);

    let signer = P256Signer { key, public };
    let cert = params
        .self_signed(&signer)
        .map_err(|e| format!("certificate: {e}"))?;
    Ok((
        cert.der().clone(),
        PrivateKeyDer::Pkcs8(PrivatePkcs8KeyDer::from(pkcs8)),
    ))
}

/// A TLS acceptor with a fresh certificate for `cn`, offering `alpn` (e.g. `http/1.1`).
pub fn acceptor(cn: &str, alpn: &[&[u8]]) -> Result<TlsAcceptor, String> {
    cpu_supported()?;
    let (cert, key) = self_signed(cn)?;
    let provider = Arc::new(rustls_graviola::default_provider());
    let mut config = rustls::ServerConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .map_err(|e| format!("TLS versions: {e}"))?
        .with_no_client_auth()
        .with_single_cert(vec![cert], key)
        .map_err(|e| format!("TLS certificate: {e}"))?;
    config.alpn_protocols = alpn.iter().map(|p| p.to_vec()).collect();
    Ok(TlsAcceptor::from(Arc::new(config)))
}
