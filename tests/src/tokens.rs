//! Test signing keys and JWTs: an RSA key (fixture files, RSA keys cannot be generated with
//! ring), EC P-256 and Ed25519 keys generated per test, well-formed tokens and the forgeries the
//! negative corpus needs (`alg: none`, HS256 signed with the RSA public key, tampering).

use std::path::PathBuf;
use std::time::{SystemTime, UNIX_EPOCH};

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine as _;
use jsonwebtoken::{Algorithm, EncodingKey, Header};
use serde_json::{json, Value};

/// A signing key and its public JWK.
pub struct SigningKey {
    /// `kid` it is published under.
    pub kid: String,
    /// Algorithm it signs with.
    pub alg: Algorithm,
    encoding: EncodingKey,
    /// Public JWK (with `kid`, `use`, and `alg`).
    pub public_jwk: Value,
    /// Public key PEM (RSA only; for the HS256-with-public-key forgery).
    pub public_pem: Option<String>,
}

fn fixture(name: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("fixtures/keys")
        .join(name)
}

impl SigningKey {
    /// The fixture RSA key, signing RS256 under `kid`.
    pub fn rsa(kid: &str) -> anyhow::Result<Self> {
        let pem = std::fs::read(fixture("rsa-2048.pem"))?;
        let mut jwk: Value =
            serde_json::from_slice(&std::fs::read(fixture("rsa-2048.public.jwk.json"))?)?;
        jwk["kid"] = json!(kid);
        jwk["use"] = json!("sig");
        jwk["alg"] = json!("RS256");
        Ok(Self {
            kid: kid.into(),
            alg: Algorithm::RS256,
            encoding: EncodingKey::from_rsa_pem(&pem)?,
            public_jwk: jwk,
            public_pem: Some(std::fs::read_to_string(fixture("rsa-2048.public.pem"))?),
        })
    }

    /// A new P-256 key, signing ES256 under `kid`.
    pub fn es256(kid: &str) -> anyhow::Result<Self> {
        let pair = rcgen::KeyPair::generate_for(&rcgen::PKCS_ECDSA_P256_SHA256)?;
        let raw = pair.public_key_raw();
        let (x, y) = raw
            .get(1..33)
            .zip(raw.get(33..65))
            .ok_or_else(|| anyhow::anyhow!("unexpected P-256 public key length"))?;
        Ok(Self {
            kid: kid.into(),
            alg: Algorithm::ES256,
            encoding: EncodingKey::from_ec_pem(pair.serialize_pem().as_bytes())?,
            public_jwk: json!({"kty": "EC", "crv": "P-256", "x": b64(x), "y": b64(y),
                               "kid": kid, "use": "sig", "alg": "ES256"}),
            public_pem: None,
        })
    }

    /// A new Ed25519 key, signing EdDSA under `kid`.
    pub fn ed25519(kid: &str) -> anyhow::Result<Self> {
        let pair = rcgen::KeyPair::generate_for(&rcgen::PKCS_ED25519)?;
        Ok(Self {
            kid: kid.into(),
            alg: Algorithm::EdDSA,
            encoding: EncodingKey::from_ed_pem(pair.serialize_pem().as_bytes())?,
            public_jwk: json!({"kty": "OKP", "crv": "Ed25519", "x": b64(pair.public_key_raw()),
                               "kid": kid, "use": "sig", "alg": "EdDSA"}),
            public_pem: None,
        })
    }

    /// Signs `claims` with this key (header names `kid`).
    pub fn sign(&self, claims: &Value) -> anyhow::Result<String> {
        let mut header = Header::new(self.alg);
        header.kid = Some(self.kid.clone());
        Ok(jsonwebtoken::encode(&header, claims, &self.encoding)?)
    }
}

/// A JWKS document with these keys.
pub fn jwks(keys: &[&SigningKey]) -> Value {
    json!({ "keys": keys.iter().map(|k| k.public_jwk.clone()).collect::<Vec<_>>() })
}

/// Seconds since the epoch.
pub fn now() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| i64::try_from(d.as_secs()).unwrap_or(i64::MAX))
}

/// Standard claims: `iss`, `aud`, `sub`, `exp` in `ttl` seconds, `iat`, `scope`, `client_id`.
pub fn claims(iss: &str, aud: &str, sub: &str, ttl: i64) -> Value {
    json!({"iss": iss, "aud": aud, "sub": sub, "iat": now(), "exp": now() + ttl,
           "scope": "read write", "client_id": "test-client"})
}

/// An unsigned token (`alg: none`).
pub fn unsigned(claims: &Value) -> String {
    let header = json!({"alg": "none", "typ": "JWT"});
    format!(
        "{}.{}.",
        b64(header.to_string().as_bytes()),
        b64(claims.to_string().as_bytes())
    )
}

/// HS256 with the RSA public key's PEM as the HMAC secret (the key-confusion attack).
pub fn hs256_with_public_key(key: &SigningKey, claims: &Value) -> anyhow::Result<String> {
    let pem = key
        .public_pem
        .as_deref()
        .ok_or_else(|| anyhow::anyhow!("an RSA key is needed"))?;
    let mut header = Header::new(Algorithm::HS256);
    header.kid = Some(key.kid.clone());
    Ok(jsonwebtoken::encode(
        &header,
        claims,
        &EncodingKey::from_secret(pem.as_bytes()),
    )?)
}

/// The token with its payload replaced (signature kept).
pub fn with_payload(token: &str, claims: &Value) -> String {
    let mut parts = token.split('.');
    let header = parts.next().unwrap_or_default();
    let _ = parts.next();
    let sig = parts.next().unwrap_or_default();
    format!("{header}.{}.{sig}", b64(claims.to_string().as_bytes()))
}

/// The token with one signature character changed.
pub fn with_bad_signature(token: &str) -> String {
    let mut t = token.to_string();
    let last = t.pop().unwrap_or('A');
    t.push(if last == 'A' { 'B' } else { 'A' });
    t
}

fn b64(bytes: &[u8]) -> String {
    URL_SAFE_NO_PAD.encode(bytes)
}
