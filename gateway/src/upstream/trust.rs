//! TLS towards sites: root stores from trusted certificate groups, and the verifier variants
//! (`skipHostnameVerification`, `expectedHostname`, the built-in "trust any" group).

use std::sync::Arc;

use gatehouse_model::objects::Site;
use gatehouse_model::validate::{BUILTIN_SYSTEM_ROOTS, BUILTIN_TRUST_ANY};
use gatehouse_model::ConfigDocument;
use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
use rustls::client::WebPkiServerVerifier;
use rustls::pki_types::{CertificateDer, ServerName, UnixTime};
use rustls::{ClientConfig, DigitallySignedStruct, RootCertStore, SignatureScheme};

/// Why a site's TLS settings could not be built.
#[derive(Debug, thiserror::Error)]
pub enum TrustError {
    /// A certificate in a group is not valid PEM/DER.
    #[error("certificate {id} cannot be read: {reason}")]
    BadCertificate {
        /// Certificate id.
        id: u64,
        /// Why.
        reason: String,
    },
    /// The verifier could not be built (e.g. an empty group).
    #[error("trusted certificate group {id}: {reason}")]
    BadGroup {
        /// Group id.
        id: u64,
        /// Why.
        reason: String,
    },
    /// `expectedHostname` is not a valid DNS name or IP address.
    #[error("'{name}' is not a valid host name: {reason}")]
    BadExpectedHostname {
        /// The configured name.
        name: String,
        /// Why.
        reason: String,
    },
}

impl TrustError {
    /// The site field the problem belongs to (for validation messages).
    pub fn field(&self) -> &'static str {
        match self {
            Self::BadExpectedHostname { .. } => "expectedHostname",
            Self::BadCertificate { .. } | Self::BadGroup { .. } => "trustedCertificateGroupId",
        }
    }
}

/// Builds the rustls client configuration of a site. A plain-HTTP site never uses TLS, so its
/// trust settings are not read (an unusable trust group cannot break it).
pub fn client_config(doc: &ConfigDocument, site: &Site) -> Result<ClientConfig, TrustError> {
    if !site.secure {
        return plain_site_config(site);
    }
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let builder = ClientConfig::builder_with_provider(provider.clone())
        .with_safe_default_protocol_versions()
        .map_err(|e| TrustError::BadGroup {
            id: site.trusted_certificate_group_id,
            reason: e.to_string(),
        })?;
    let group = site.trusted_certificate_group_id;
    let cfg = if group == BUILTIN_TRUST_ANY {
        builder
            .dangerous()
            .with_custom_certificate_verifier(Arc::new(AnyCertificate(provider)))
            .with_no_client_auth()
    } else {
        let roots = Arc::new(root_store(doc, group)?);
        let inner = WebPkiServerVerifier::builder_with_provider(roots, provider)
            .build()
            .map_err(|e| TrustError::BadGroup {
                id: group,
                reason: e.to_string(),
            })?;
        let verifier = NameVerifier {
            inner,
            skip_name: site.skip_hostname_verification,
            expected: expected_name(site)?,
        };
        builder
            .dangerous()
            .with_custom_certificate_verifier(Arc::new(verifier))
            .with_no_client_auth()
    };
    Ok(cfg)
}

/// A rustls client configuration that verifies servers against a trusted certificate group
/// (0 and 2: built-in public roots, 1: any certificate), for the gateway's own HTTPS calls
/// (discovery, JWKS, introspection).
pub fn group_config(doc: &ConfigDocument, group: u64) -> Result<ClientConfig, TrustError> {
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let builder = ClientConfig::builder_with_provider(provider.clone())
        .with_safe_default_protocol_versions()
        .map_err(|e| TrustError::BadGroup {
            id: group,
            reason: e.to_string(),
        })?;
    if group == BUILTIN_TRUST_ANY {
        return Ok(builder
            .dangerous()
            .with_custom_certificate_verifier(Arc::new(AnyCertificate(provider)))
            .with_no_client_auth());
    }
    Ok(builder
        .with_root_certificates(root_store(doc, group)?)
        .with_no_client_auth())
}

fn plain_site_config(site: &Site) -> Result<ClientConfig, TrustError> {
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let builder = ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .map_err(|e| TrustError::BadGroup {
            id: site.trusted_certificate_group_id,
            reason: e.to_string(),
        })?;
    Ok(builder
        .with_root_certificates(RootCertStore::empty())
        .with_no_client_auth())
}

fn expected_name(site: &Site) -> Result<Option<ServerName<'static>>, TrustError> {
    match site.expected_hostname.as_deref().filter(|h| !h.is_empty()) {
        None => Ok(None),
        Some(h) => ServerName::try_from(h.to_string()).map(Some).map_err(|e| {
            TrustError::BadExpectedHostname {
                name: h.to_string(),
                reason: e.to_string(),
            }
        }),
    }
}

fn root_store(doc: &ConfigDocument, group: u64) -> Result<RootCertStore, TrustError> {
    let mut store = RootCertStore::empty();
    let system = || webpki_roots::TLS_SERVER_ROOTS.iter().cloned();
    if group == 0 || group == BUILTIN_SYSTEM_ROOTS {
        store.extend(system());
        return Ok(store);
    }
    let Some(g) = doc
        .trusted_certificate_groups
        .iter()
        .find(|g| g.id == group)
    else {
        return Err(TrustError::BadGroup {
            id: group,
            reason: "does not exist".into(),
        });
    };
    if g.use_java_trust_store {
        store.extend(system());
    }
    for id in &g.cert_ids {
        for der in certificate_ders(doc, *id)? {
            store.add(der).map_err(|e| TrustError::BadCertificate {
                id: *id,
                reason: e.to_string(),
            })?;
        }
    }
    Ok(store)
}

/// DER certificates of a configured certificate (PEM text).
pub fn certificate_ders(
    doc: &ConfigDocument,
    id: u64,
) -> Result<Vec<CertificateDer<'static>>, TrustError> {
    let Some(c) = doc.certificates.iter().find(|c| c.id == id) else {
        return Err(TrustError::BadCertificate {
            id,
            reason: "does not exist".into(),
        });
    };
    let ders: Result<Vec<_>, _> = rustls_pemfile::certs(&mut c.file_data.as_bytes()).collect();
    match ders {
        Ok(list) if !list.is_empty() => Ok(list),
        Ok(_) => Err(TrustError::BadCertificate {
            id,
            reason: "no certificate in PEM".into(),
        }),
        Err(e) => Err(TrustError::BadCertificate {
            id,
            reason: e.to_string(),
        }),
    }
}

/// Verifies the chain with webpki; the name against `expected` or not at all.
#[derive(Debug)]
struct NameVerifier {
    inner: Arc<WebPkiServerVerifier>,
    skip_name: bool,
    expected: Option<ServerName<'static>>,
}

impl ServerCertVerifier for NameVerifier {
    fn verify_server_cert(
        &self,
        end_entity: &CertificateDer<'_>,
        intermediates: &[CertificateDer<'_>],
        server_name: &ServerName<'_>,
        ocsp: &[u8],
        now: UnixTime,
    ) -> Result<ServerCertVerified, rustls::Error> {
        let name = self.expected.as_ref().unwrap_or(server_name);
        match self
            .inner
            .verify_server_cert(end_entity, intermediates, name, ocsp, now)
        {
            Err(rustls::Error::InvalidCertificate(
                rustls::CertificateError::NotValidForName
                | rustls::CertificateError::NotValidForNameContext { .. },
            )) if self.skip_name => Ok(ServerCertVerified::assertion()),
            other => other,
        }
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        self.inner.verify_tls12_signature(message, cert, dss)
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        self.inner.verify_tls13_signature(message, cert, dss)
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.inner.supported_verify_schemes()
    }
}

/// The built-in "Trust Any" group: signatures are checked, the certificate is not.
#[derive(Debug)]
struct AnyCertificate(Arc<rustls::crypto::CryptoProvider>);

impl ServerCertVerifier for AnyCertificate {
    fn verify_server_cert(
        &self,
        _: &CertificateDer<'_>,
        _: &[CertificateDer<'_>],
        _: &ServerName<'_>,
        _: &[u8],
        _: UnixTime,
    ) -> Result<ServerCertVerified, rustls::Error> {
        Ok(ServerCertVerified::assertion())
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
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
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls13_signature(
            message,
            cert,
            dss,
            &self.0.signature_verification_algorithms,
        )
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.0.signature_verification_algorithms.supported_schemes()
    }
}
