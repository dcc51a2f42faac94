//! TLS to the console pinned to certificate fingerprints: the engine trusts exactly the
//! config-query certificates its bootstrap (or, during a rotation, the console) names, by the
//! SHA-256 of their DER; names and chains do not matter. Signatures are still verified.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;

use arc_swap::ArcSwap;

use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
use rustls::crypto::{verify_tls12_signature, verify_tls13_signature, CryptoProvider};
use rustls::pki_types::{CertificateDer, ServerName, UnixTime};
use rustls::{ClientConfig, DigitallySignedStruct, SignatureScheme};

/// The fingerprints an engine trusts, changed while connections use them (a rotation adds the
/// new certificate's), and whether a handshake met a certificate that is not pinned.
#[derive(Debug)]
pub struct Pins {
    current: ArcSwap<Vec<String>>,
    mismatch: AtomicBool,
}

impl Pins {
    /// Trusts exactly `fingerprints`.
    pub fn new(fingerprints: &[String]) -> Arc<Self> {
        Arc::new(Self {
            current: ArcSwap::from_pointee(fingerprints.to_vec()),
            mismatch: AtomicBool::new(false),
        })
    }

    /// The fingerprints trusted now.
    pub fn current(&self) -> Vec<String> {
        self.current.load().as_ref().clone()
    }

    /// Trusts `fingerprints` from the next handshake on.
    pub fn replace(&self, fingerprints: Vec<String>) {
        self.current.store(Arc::new(fingerprints));
    }

    /// True (once) when a handshake was refused since the last call: the console may have a new
    /// certificate.
    pub fn take_mismatch(&self) -> bool {
        self.mismatch.swap(false, Ordering::AcqRel)
    }
}

/// Accepts a server certificate whose SHA-256 is one of the pins.
#[derive(Debug)]
struct Pinned {
    pins: Arc<Pins>,
    provider: Arc<CryptoProvider>,
}

impl ServerCertVerifier for Pinned {
    fn verify_server_cert(
        &self,
        end_entity: &CertificateDer<'_>,
        _intermediates: &[CertificateDer<'_>],
        _server_name: &ServerName<'_>,
        _ocsp: &[u8],
        _now: UnixTime,
    ) -> Result<ServerCertVerified, rustls::Error> {
        let seen = crate::api::keypairs::fingerprint(end_entity.as_ref());
        if self
            .pins
            .current
            .load()
            .iter()
            .any(|p| p.eq_ignore_ascii_case(&seen))
        {
            Ok(ServerCertVerified::assertion())
        } else {
            self.pins.mismatch.store(true, Ordering::Release);
            tracing::warn!(fingerprint = %seen, "the console's certificate is not a pinned one");
            Err(rustls::Error::InvalidCertificate(
                rustls::CertificateError::ApplicationVerificationFailure,
            ))
        }
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        verify_tls12_signature(
            message,
            cert,
            dss,
            &self.provider.signature_verification_algorithms,
        )
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        verify_tls13_signature(
            message,
            cert,
            dss,
            &self.provider.signature_verification_algorithms,
        )
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.provider
            .signature_verification_algorithms
            .supported_schemes()
    }
}

/// A client configuration that trusts exactly the certificates with the fingerprints in `pins`
/// at the time of each handshake.
pub fn client_config(pins: Arc<Pins>) -> Result<ClientConfig, rustls::Error> {
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let verifier = Arc::new(Pinned {
        pins,
        provider: provider.clone(),
    });
    let mut cfg = ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()?
        .dangerous()
        .with_custom_certificate_verifier(verifier)
        .with_no_client_auth();
    cfg.alpn_protocols = vec![b"http/1.1".to_vec()];
    Ok(cfg)
}
