//! `bootstrap.properties`: what a clustered engine needs to reach its admin (SPEC §7): its id,
//! its private key as a JWK (the admin keeps only the public half), the admin's host and
//! config-query port, the SHA-256 fingerprint of the config-query certificate it pins, and the
//! audience of its poll tokens.

use std::path::Path;

use p256::elliptic_curve::rand_core::OsRng;
use p256::SecretKey;

/// Why a bootstrap file cannot be used.
#[derive(Debug, thiserror::Error)]
pub enum BootstrapError {
    /// The file cannot be read.
    #[error("cannot read {file}: {source}")]
    Read {
        /// File.
        file: String,
        /// Cause.
        #[source]
        source: std::io::Error,
    },
    /// A key is missing or its value is unusable.
    #[error("{file}: {key}: {reason}")]
    Key {
        /// File.
        file: String,
        /// Property.
        key: &'static str,
        /// Why.
        reason: String,
    },
    /// The file cannot be written.
    #[error("cannot write {file}: {source}")]
    Write {
        /// File.
        file: String,
        /// Cause.
        #[source]
        source: std::io::Error,
    },
}

/// A clustered engine's bootstrap.
#[derive(Clone)]
pub struct Bootstrap {
    /// Engine id.
    pub engine_id: u64,
    /// The engine's private key.
    pub key: SecretKey,
    /// Admin host name or address.
    pub admin_host: String,
    /// Admin config-query port.
    pub admin_port: u16,
    /// SHA-256 fingerprints of the config-query certificates the engine trusts (hex, `:`).
    pub fingerprints: Vec<String>,
    /// `aud` of poll tokens.
    pub audience: String,
    /// Where the console serves its previous config-query certificate during a rotation.
    pub rotation_port: Option<u16>,
}

impl std::fmt::Debug for Bootstrap {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Bootstrap")
            .field("engine_id", &self.engine_id)
            .field("admin_host", &self.admin_host)
            .field("admin_port", &self.admin_port)
            .finish_non_exhaustive()
    }
}

const ID: &str = "engine.id";
const KEY: &str = "engine.private.key.jwk";
const HOST: &str = "engine.admin.host";
const PORT: &str = "engine.admin.port";
const FINGERPRINTS: &str = "engine.admin.certificate.sha256";
const AUDIENCE: &str = "engine.admin.configuration.audience";
const ROTATION_PORT: &str = "engine.admin.rotation.port";

/// A new engine key: the private key and its public JWK (what the admin stores).
pub fn new_key() -> (SecretKey, String) {
    let key = SecretKey::random(&mut OsRng);
    let public = key.public_key().to_jwk_string();
    (key, public)
}

impl Bootstrap {
    /// The properties text.
    pub fn to_properties(&self) -> String {
        let jwk = self.key.to_jwk_string();
        let mut text = format!(
            "# Gatehouse engine bootstrap: keep this file private (it holds the engine's key).\n\
             {ID}={}\n{KEY}={}\n{HOST}={}\n{PORT}={}\n{FINGERPRINTS}={}\n{AUDIENCE}={}\n",
            self.engine_id,
            jwk.as_str(),
            self.admin_host,
            self.admin_port,
            self.fingerprints.join(","),
            self.audience
        );
        if let Some(port) = self.rotation_port {
            text.push_str(&format!("{ROTATION_PORT}={port}\n"));
        }
        text
    }

    /// Reads `path`.
    pub fn load(path: &Path) -> Result<Self, BootstrapError> {
        let file = path.display().to_string();
        let text = std::fs::read(path).map_err(|source| BootstrapError::Read {
            file: file.clone(),
            source,
        })?;
        Self::parse(&text, &file)
    }

    /// Parses properties text (`file` names it in errors).
    pub fn parse(text: &[u8], file: &str) -> Result<Self, BootstrapError> {
        let mut map = std::collections::HashMap::new();
        for line in java_properties::PropertiesIter::new(text) {
            let line = line.map_err(|e| BootstrapError::Key {
                file: file.to_string(),
                key: "(syntax)",
                reason: e.to_string(),
            })?;
            if let java_properties::LineContent::KVPair(k, v) = line.consume_content() {
                map.insert(k, v);
            }
        }
        let get = |key: &'static str| {
            map.get(key)
                .map(|v| v.trim().to_string())
                .filter(|v| !v.is_empty())
                .ok_or_else(|| BootstrapError::Key {
                    file: file.to_string(),
                    key,
                    reason: "missing".into(),
                })
        };
        let bad = |key: &'static str, reason: String| BootstrapError::Key {
            file: file.to_string(),
            key,
            reason,
        };
        Ok(Self {
            engine_id: get(ID)?
                .parse()
                .map_err(|_| bad(ID, "not a positive integer".into()))?,
            key: SecretKey::from_jwk_str(&get(KEY)?)
                .map_err(|_| bad(KEY, "not a P-256 private JWK".into()))?,
            admin_host: get(HOST)?,
            admin_port: get(PORT)?
                .parse()
                .map_err(|_| bad(PORT, "not a port".into()))?,
            fingerprints: get(FINGERPRINTS)?
                .split(',')
                .map(|f| f.trim().to_ascii_uppercase())
                .filter(|f| !f.is_empty())
                .collect(),
            audience: get(AUDIENCE)?,
            rotation_port: match map.get(ROTATION_PORT).map(|v| v.trim()) {
                None | Some("") => None,
                Some(v) => Some(
                    v.parse()
                        .map_err(|_| bad(ROTATION_PORT, "not a port".into()))?,
                ),
            },
        })
    }

    /// Writes the file (mode 0600), replacing it atomically.
    pub fn save(&self, path: &Path) -> Result<(), BootstrapError> {
        crate::cluster::write_private(path, self.to_properties().as_bytes()).map_err(|source| {
            BootstrapError::Write {
                file: path.display().to_string(),
                source,
            }
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trip_and_named_errors() {
        let (key, public) = new_key();
        let b = Bootstrap {
            engine_id: 7,
            key,
            admin_host: "admin.example".into(),
            admin_port: 9090,
            fingerprints: vec!["AB:CD".into()],
            audience: "GatehouseAdminServer".into(),
            rotation_port: Some(9095),
        };
        let text = b.to_properties();
        let back = Bootstrap::parse(text.as_bytes(), "bootstrap.properties").unwrap();
        assert_eq!(back.engine_id, 7);
        assert_eq!(back.key.public_key().to_jwk_string(), public);
        assert_eq!(back.fingerprints, ["AB:CD"]);
        assert_eq!(back.rotation_port, Some(9095));
        let broken = text.replace("engine.admin.port=9090", "engine.admin.port=x");
        let err = Bootstrap::parse(broken.as_bytes(), "b.properties").unwrap_err();
        assert_eq!(
            err.to_string(),
            "b.properties: engine.admin.port: not a port"
        );
        assert!(
            !format!("{b:?}").contains("\"d\""),
            "no key material in Debug"
        );
    }
}
