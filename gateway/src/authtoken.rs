//! Auth-token signing keys (SPEC §5.4, `/authTokenManagement`): the ES256 key that signs JWT
//! identity mappings and the previous one, published at `/pa/authtoken/JWKS` so backends verify
//! across a key roll. The node generates, stores and rolls the keys; the engine holds them.

use std::sync::Arc;

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine as _;
use jsonwebtoken::{Algorithm, EncodingKey, Header};
use serde_json::{json, Value};

/// Why a key could not be loaded or a JWT signed.
#[derive(Debug, thiserror::Error)]
pub enum AuthTokenError {
    /// The PEM is not a P-256 private key.
    #[error("auth token key '{kid}' cannot be read: {reason}")]
    BadKey {
        /// Key id.
        kid: String,
        /// Why.
        reason: String,
    },
    /// Signing failed.
    #[error("cannot sign an identity token: {0}")]
    Sign(#[from] jsonwebtoken::errors::Error),
}

/// One ES256 signing key.
pub struct SignKey {
    /// Key id (`kid`); shared, as it is part of every minted-JWT cache key.
    pub kid: Arc<str>,
    encoding: EncodingKey,
    /// Public JWK.
    pub public_jwk: Value,
}

impl std::fmt::Debug for SignKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SignKey")
            .field("kid", &self.kid)
            .finish_non_exhaustive()
    }
}

impl SignKey {
    /// A key from its PKCS#8 PEM and its uncompressed public point (`04 || x || y`).
    pub fn from_pem(kid: &str, pem: &str, public_point: &[u8]) -> Result<Self, AuthTokenError> {
        let bad = |reason: &str| AuthTokenError::BadKey {
            kid: kid.to_string(),
            reason: reason.to_string(),
        };
        let encoding = EncodingKey::from_ec_pem(pem.as_bytes()).map_err(|e| bad(&e.to_string()))?;
        let (x, y) = match public_point {
            [4, rest @ ..] if rest.len() == 64 => rest.split_at(32),
            _ => return Err(bad("not an uncompressed P-256 public key")),
        };
        Ok(Self {
            kid: kid.into(),
            encoding,
            public_jwk: json!({
                "kty": "EC", "crv": "P-256", "use": "sig", "alg": "ES256", "kid": kid,
                "x": URL_SAFE_NO_PAD.encode(x), "y": URL_SAFE_NO_PAD.encode(y),
            }),
        })
    }

    /// Signs `claims` (header: ES256, this `kid`, `typ: JWT`).
    pub fn sign(&self, claims: &Value) -> Result<String, AuthTokenError> {
        let mut header = Header::new(Algorithm::ES256);
        header.kid = Some(self.kid.to_string());
        Ok(jsonwebtoken::encode(&header, claims, &self.encoding)?)
    }
}

/// The current key and the one before it.
#[derive(Debug)]
pub struct AuthTokenKeys {
    /// Signs new JWTs.
    pub current: Arc<SignKey>,
    /// Still published, so JWTs it signed verify until they expire.
    pub previous: Option<Arc<SignKey>>,
}

impl AuthTokenKeys {
    /// The JWK Set served at `/pa/authtoken/JWKS`: current key first.
    pub fn jwks(&self) -> Value {
        let keys: Vec<Value> = std::iter::once(&self.current)
            .chain(self.previous.as_ref())
            .map(|k| k.public_jwk.clone())
            .collect();
        json!({ "keys": keys })
    }
}
