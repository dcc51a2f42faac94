//! Server-side TLS: a certificate resolver over an atomically swapped certificate map, so new
//! certificates reach new handshakes without rebinding a socket.

use std::collections::HashMap;
use std::sync::Arc;

use arc_swap::{ArcSwap, ArcSwapOption};
use rustls::server::{ClientHello, ResolvesServerCert};
use rustls::sign::CertifiedKey;
use rustls::ServerConfig;

/// Why key material could not be used.
#[derive(Debug, thiserror::Error)]
pub enum TlsError {
    /// The certificate PEM holds no certificate.
    #[error("no certificate in PEM")]
    NoCertificate,
    /// The key PEM holds no private key.
    #[error("no private key in PEM")]
    NoKey,
    /// PEM could not be read.
    #[error("unreadable PEM: {0}")]
    Pem(#[from] std::io::Error),
    /// rustls refused the key or configuration.
    #[error(transparent)]
    Rustls(#[from] rustls::Error),
}

/// A certificate chain and key from PEM text.
pub fn certified_key(cert_pem: &str, key_pem: &str) -> Result<Arc<CertifiedKey>, TlsError> {
    let chain: Vec<_> =
        rustls_pemfile::certs(&mut cert_pem.as_bytes()).collect::<Result<_, _>>()?;
    if chain.is_empty() {
        return Err(TlsError::NoCertificate);
    }
    let key = rustls_pemfile::private_key(&mut key_pem.as_bytes())?.ok_or(TlsError::NoKey)?;
    let provider = rustls::crypto::ring::default_provider();
    let signing = provider.key_provider.load_private_key(key)?;
    Ok(Arc::new(CertifiedKey::new(chain, signing)))
}

/// Certificates served by a listener: one default and any by SNI name.
#[derive(Debug)]
pub struct CertResolver {
    default: ArcSwapOption<CertifiedKey>,
    by_name: ArcSwap<HashMap<String, Arc<CertifiedKey>>>,
}

/// The node's key pairs by id, as the engine serves them (virtual hosts name them by
/// `keyPairId`).
pub type KeyRing = HashMap<u64, Arc<CertifiedKey>>;

// === impl CertResolver ===

impl CertResolver {
    /// A resolver serving `default` to every handshake.
    pub fn new(default: Arc<CertifiedKey>) -> Arc<Self> {
        let resolver = Self::empty();
        resolver.set_default(default);
        Arc::new(resolver)
    }

    /// A resolver with no certificate yet: handshakes fail until one is set.
    pub fn empty() -> Self {
        Self {
            default: ArcSwapOption::empty(),
            by_name: ArcSwap::from_pointee(HashMap::new()),
        }
    }

    /// Replaces the default certificate (new handshakes only).
    pub fn set_default(&self, key: Arc<CertifiedKey>) {
        self.default.store(Some(key));
    }

    /// The certificate served when no SNI name matches.
    pub fn default_key(&self) -> Option<Arc<CertifiedKey>> {
        self.default.load_full()
    }

    /// Replaces the SNI map (lower-case names; `*.domain` wildcards allowed).
    pub fn set_names(&self, names: HashMap<String, Arc<CertifiedKey>>) {
        self.by_name.store(Arc::new(names));
    }
}

impl ResolvesServerCert for CertResolver {
    fn resolve(&self, hello: ClientHello<'_>) -> Option<Arc<CertifiedKey>> {
        if let Some(name) = hello.server_name() {
            let map = self.by_name.load();
            let lower = name.to_ascii_lowercase();
            if let Some(k) = map.get(&lower) {
                return Some(k.clone());
            }
            if let Some((_, parent)) = lower.split_once('.') {
                if let Some(k) = map.get(&format!("*.{parent}")) {
                    return Some(k.clone());
                }
            }
        }
        self.default.load_full()
    }
}

/// Server configuration for a listener: the given TLS versions, ALPN `h2` and `http/1.1`.
pub fn server_config(
    resolver: Arc<CertResolver>,
    protocols: &str,
    alpn_h2: bool,
) -> Result<Arc<ServerConfig>, TlsError> {
    let mut versions = Vec::new();
    if protocols.contains("TLSv1.3") {
        versions.push(&rustls::version::TLS13);
    }
    if protocols.contains("TLSv1.2") {
        versions.push(&rustls::version::TLS12);
    }
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let mut cfg = ServerConfig::builder_with_provider(provider)
        .with_protocol_versions(&versions)?
        .with_no_client_auth()
        .with_cert_resolver(resolver);
    cfg.alpn_protocols = if alpn_h2 {
        vec![b"h2".to_vec(), b"http/1.1".to_vec()]
    } else {
        vec![b"http/1.1".to_vec()]
    };
    Ok(Arc::new(cfg))
}
