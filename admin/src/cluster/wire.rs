//! What travels between the console and its engines: the complete, versioned snapshot (the
//! configuration with the key that decrypts its secrets, every key pair, the engine listeners'
//! key pair, the web-session, auth-token and client-assertion key sets, the config-query
//! certificate fingerprints to trust) and the engine's report.

use serde::{Deserialize, Serialize};

/// A key pair (certificate chain and private key).
#[derive(Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct WireKeyPair {
    /// Key pair id (virtual hosts name it).
    pub id: u64,
    /// Alias.
    pub alias: String,
    /// Certificate chain, PEM.
    pub cert_pem: String,
    /// Private key, PEM.
    pub key_pem: String,
}

/// A signing key (`kid`, PKCS#8 PEM).
#[derive(Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct WireKey {
    /// Key id.
    pub kid: String,
    /// Private key, PEM.
    pub key_pem: String,
}

/// The complete configuration an engine serves.
#[derive(Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ClusterSnapshot {
    /// Configuration revision.
    pub revision: u64,
    /// The configuration document (secrets encrypted with `secretKey`).
    pub config: serde_json::Value,
    /// The console's secret key (base64), which decrypts the document's secrets.
    pub secret_key: String,
    /// Every key pair.
    pub key_pairs: Vec<WireKeyPair>,
    /// The key pair of the engine listeners.
    pub engine_key_pair_id: u64,
    /// Web-session keys, current first.
    pub session_keys: Vec<WireKey>,
    /// Auth-token keys (JWT identity mappings), current first.
    pub auth_token_keys: Vec<WireKey>,
    /// Client-assertion keys (`private_key_jwt`), current first.
    pub oidc_client_keys: Vec<WireKey>,
    /// Fingerprints of the config-query certificates engines must trust (current first; the
    /// old one too while a rotation window is open).
    pub config_query_fingerprints: Vec<String>,
    /// `clusterconfig.temp.rotation.port`: where the old certificate is served during a
    /// rotation (0: not said).
    #[serde(default)]
    pub config_query_rotation_port: u16,
}

/// Header of `GET /engines/rest/config-query-certificate`: the fingerprints the engine trusts.
pub const TRUSTED_HEADER: &str = "x-trusted-fingerprints";

/// `GET /engines/rest/config-query-certificate` (on the rotation port, during a rotation): the
/// certificate the config-query listener serves now.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct RotatedCertificate {
    /// SHA-256 fingerprint of the new certificate.
    pub fingerprint: String,
    /// The new certificate chain, PEM.
    pub certificate_pem: String,
    /// When the window closes (Unix milliseconds).
    pub window_ends_at: i64,
}

// `Debug` of what carries private keys or the secret key names the objects, never the material.

impl std::fmt::Debug for WireKeyPair {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("WireKeyPair")
            .field("id", &self.id)
            .field("alias", &self.alias)
            .finish_non_exhaustive()
    }
}

impl std::fmt::Debug for WireKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("WireKey")
            .field("kid", &self.kid)
            .finish_non_exhaustive()
    }
}

impl std::fmt::Debug for ClusterSnapshot {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ClusterSnapshot")
            .field("revision", &self.revision)
            .field("key_pairs", &self.key_pairs)
            .field("engine_key_pair_id", &self.engine_key_pair_id)
            .finish_non_exhaustive()
    }
}

/// What an engine reports after a snapshot.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct EngineReport {
    /// The revision it serves.
    pub applied_revision: u64,
    /// Why it refused the latest snapshot (none: it applied it).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub refused: Option<String>,
    /// Fingerprints of the config-query certificates it trusts now (what it pinned).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub trusted_fingerprints: Vec<String>,
}
