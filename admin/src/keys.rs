//! Listener key pairs: generated self-signed at first start (EC P-256) and kept in the store.

use rcgen::{CertificateParams, DistinguishedName, DnType, KeyPair, SanType};

use crate::store::{Store, StoreError, StoredKeyPair};

/// The listener key pairs every node has.
pub const LISTENER_KEYS: &[&str] = &["ADMIN", "ENGINE", "CONFIG QUERY"];

/// Why a key pair could not be made.
#[derive(Debug, thiserror::Error)]
pub enum KeyError {
    /// Certificate generation failed.
    #[error("cannot generate a key pair: {0}")]
    Generate(#[from] rcgen::Error),
    /// The store failed.
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// The stored key pair `name`, generated and stored first if missing.
pub fn ensure(store: &Store, name: &str) -> Result<StoredKeyPair, KeyError> {
    if let Some(pair) = store.key_pair(name)? {
        return Ok(pair);
    }
    let pair = self_signed(name)?;
    store.put_key_pair(name, &pair)?;
    tracing::info!(key_pair = name, "generated a self-signed key pair");
    Ok(pair)
}

/// A self-signed certificate for this host (names: host name, `localhost`, loopback addresses).
pub fn self_signed(purpose: &str) -> Result<StoredKeyPair, rcgen::Error> {
    let host = gatehouse_gateway::host_info::hostname();
    let mut params = CertificateParams::new(vec![host.clone(), "localhost".to_string()])?;
    params
        .subject_alt_names
        .push(SanType::IpAddress([127, 0, 0, 1].into()));
    params
        .subject_alt_names
        .push(SanType::IpAddress(std::net::Ipv6Addr::LOCALHOST.into()));
    let mut dn = DistinguishedName::new();
    dn.push(DnType::CommonName, host);
    dn.push(DnType::OrganizationName, "Gatehouse");
    dn.push(DnType::OrganizationalUnitName, purpose);
    params.distinguished_name = dn;
    let now = std::time::SystemTime::now();
    params.not_before = now.into();
    params.not_after = (now + std::time::Duration::from_secs(365 * 24 * 3600)).into();
    let key = KeyPair::generate_for(&rcgen::PKCS_ECDSA_P256_SHA256)?;
    let cert = params.self_signed(&key)?;
    Ok(StoredKeyPair {
        cert_pem: cert.pem(),
        key_pem: key.serialize_pem(),
    })
}
