//! Key pairs: the listeners' (generated self-signed at first start, EC P-256, kept in the
//! store), key pairs generated or imported through the admin API, and the node's secret key.

pub mod generate;
pub mod import;

use std::collections::HashMap;
use std::sync::Arc;

use rcgen::{CertificateParams, DistinguishedName, DnType, KeyPair, SanType};

use crate::store::{KeyPairRow, Store, StoreError, StoredKeyPair};

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
    /// The secret key file is unusable.
    #[error("secret key: {0}")]
    SecretKey(String),
}

/// The key pair `listener` serves, generated (self-signed), stored and assigned first if the
/// listener has none.
pub fn ensure(store: &Store, listener: &str) -> Result<StoredKeyPair, KeyError> {
    if let Some(row) = store.listener_key_pair(listener)? {
        return Ok(row.pair);
    }
    let pair = self_signed(listener)?;
    let mut alias = listener.to_string();
    let mut n = 1;
    while store.key_pair_alias_taken(&alias)? {
        n += 1;
        alias = format!("{listener} {n}");
    }
    let id = store.add_key_pair(&alias, &pair)?;
    store.assign_listener(listener, id)?;
    tracing::info!(key_pair = %alias, listener, "generated a self-signed key pair");
    Ok(pair)
}

/// The engine's view of the stored key pairs: every usable one by id (an unusable one is
/// logged and left out), and the one the engine listeners serve.
pub fn engine_ring(
    store: &Store,
) -> Result<
    (
        gatehouse_gateway::tls::KeyRing,
        Option<Arc<rustls::sign::CertifiedKey>>,
    ),
    KeyError,
> {
    let rows: Vec<KeyPairRow> = store.key_pairs()?;
    let listener = store.listener_key_pair("ENGINE")?.map(|r| r.id);
    let mut ring = HashMap::new();
    for row in rows {
        match gatehouse_gateway::tls::certified_key(&row.pair.cert_pem, &row.pair.key_pem) {
            Ok(key) => {
                ring.insert(row.id, key);
            }
            Err(e) => tracing::warn!(key_pair = %row.alias, error = %e, "key pair unusable"),
        }
    }
    let default = listener.and_then(|id| ring.get(&id).cloned());
    Ok((ring, default))
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

/// File (in the data directory, mode 0600) holding the key that encrypts write-only secrets.
pub const SECRET_KEY_FILE: &str = "secret.key";

/// Loads the node's secret key from the data directory, creating it on first start, and
/// installs it for the configuration model (secrets are stored and exported encrypted with it).
pub fn install_secret_key(data_dir: &std::path::Path) -> Result<[u8; 32], KeyError> {
    use base64::Engine as _;
    let path = data_dir.join(SECRET_KEY_FILE);
    let b64 = base64::engine::general_purpose::STANDARD;
    let key: [u8; 32] = match std::fs::read_to_string(&path) {
        Ok(text) => b64
            .decode(text.trim())
            .ok()
            .and_then(|k| k.try_into().ok())
            .ok_or_else(|| {
                KeyError::SecretKey(format!("{} is not a 32-byte base64 key", path.display()))
            })?,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            let key: [u8; 32] = rand::random();
            write_private(&path, &b64.encode(key)).map_err(|e| {
                KeyError::SecretKey(format!("cannot write {}: {e}", path.display()))
            })?;
            key
        }
        Err(e) => {
            return Err(KeyError::SecretKey(format!(
                "cannot read {}: {e}",
                path.display()
            )))
        }
    };
    gatehouse_model::secret::install_key(key);
    Ok(key)
}

fn write_private(path: &std::path::Path, text: &str) -> std::io::Result<()> {
    use std::io::Write;
    let mut opts = std::fs::OpenOptions::new();
    opts.create_new(true).write(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        opts.mode(0o600);
    }
    let mut f = opts.open(path)?;
    writeln!(f, "{text}")
}
