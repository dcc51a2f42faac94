//! Bearer-token fixtures: a signing key per algorithm (the RSA test key of
//! `tests/fixtures/keys`, P-256 and Ed25519 keys generated per run), token claims, the JWKS that
//! publishes the keys, a one-document HTTP server for it, and the JWT identity-mapping fixtures.

use std::io::{Read, Write};
use std::net::TcpListener;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use anyhow::Context as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine as _;
use gatehouse_gateway::authtoken::{AuthTokenKeys, SignKey};
use gatehouse_gateway::identity::CompiledMapping;
use gatehouse_gateway::oauth::cache::TokenKey;
use gatehouse_gateway::oauth::Identity;
use gatehouse_model::identity::{ClaimMapping, JwtMapping, TypedMapping};
use jsonwebtoken::{Algorithm, EncodingKey, Header};
use serde_json::{json, Map, Value};

/// `iss` of every bench token.
pub const ISSUER: &str = "https://issuer.gatehouse.bench";
/// `aud` of every bench token.
pub const AUDIENCE: &str = "api://bench";

/// A key that signs bench tokens, with its public JWK and public key PEM (SPKI).
pub struct BenchKey {
    /// `kid` it is published under.
    pub kid: String,
    /// Algorithm it signs with.
    pub alg: Algorithm,
    encoding: EncodingKey,
    /// Public JWK (`kid`, `use: sig`, `alg`).
    pub public_jwk: Value,
    /// Public key PEM (`-----BEGIN PUBLIC KEY-----`), for proxies that take a PEM file.
    pub public_pem: String,
}

fn fixture(name: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("../tests/fixtures/keys")
        .join(name)
}

impl BenchKey {
    /// The RSA 2048 test key (RSA keys cannot be generated with ring), signing RS256.
    pub fn rs256(kid: &str) -> anyhow::Result<Self> {
        let read =
            |name: &str| std::fs::read(fixture(name)).with_context(|| format!("reading {name}"));
        let mut jwk: Value = serde_json::from_slice(&read("rsa-2048.public.jwk.json")?)?;
        jwk["kid"] = json!(kid);
        jwk["use"] = json!("sig");
        jwk["alg"] = json!("RS256");
        Ok(Self {
            kid: kid.into(),
            alg: Algorithm::RS256,
            encoding: EncodingKey::from_rsa_pem(&read("rsa-2048.pem")?)?,
            public_jwk: jwk,
            public_pem: String::from_utf8(read("rsa-2048.public.pem")?)?,
        })
    }

    /// A new P-256 key, signing ES256.
    pub fn es256(kid: &str) -> anyhow::Result<Self> {
        let pair = rcgen::KeyPair::generate_for(&rcgen::PKCS_ECDSA_P256_SHA256)?;
        let (x, y) = p256_coordinates(pair.public_key_raw())?;
        Ok(Self {
            kid: kid.into(),
            alg: Algorithm::ES256,
            encoding: EncodingKey::from_ec_pem(pair.serialize_pem().as_bytes())?,
            public_jwk: json!({"kty": "EC", "crv": "P-256", "x": b64(x), "y": b64(y),
                               "kid": kid, "use": "sig", "alg": "ES256"}),
            public_pem: pair.public_key_pem(),
        })
    }

    /// A new Ed25519 key, signing EdDSA.
    pub fn eddsa(kid: &str) -> anyhow::Result<Self> {
        let pair = rcgen::KeyPair::generate_for(&rcgen::PKCS_ED25519)?;
        Ok(Self {
            kid: kid.into(),
            alg: Algorithm::EdDSA,
            encoding: EncodingKey::from_ed_pem(pair.serialize_pem().as_bytes())?,
            public_jwk: json!({"kty": "OKP", "crv": "Ed25519", "x": b64(pair.public_key_raw()),
                               "kid": kid, "use": "sig", "alg": "EdDSA"}),
            public_pem: pair.public_key_pem(),
        })
    }

    /// Signs `claims` (header: this key's `alg` and `kid`, `typ: JWT`).
    pub fn sign(&self, claims: &Value) -> anyhow::Result<String> {
        let mut header = Header::new(self.alg);
        header.kid = Some(self.kid.clone());
        Ok(jsonwebtoken::encode(&header, claims, &self.encoding)?)
    }
}

fn p256_coordinates(raw: &[u8]) -> anyhow::Result<(&[u8], &[u8])> {
    match raw {
        [4, rest @ ..] if rest.len() == 64 => Ok(rest.split_at(32)),
        _ => anyhow::bail!("not an uncompressed P-256 public key"),
    }
}

fn b64(bytes: &[u8]) -> String {
    URL_SAFE_NO_PAD.encode(bytes)
}

/// Seconds since the epoch.
pub fn now() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_secs())
}

/// Claims of a typical access token for `sub`, valid for `ttl` seconds (`exp` relative to now;
/// a negative `ttl` gives an expired token).
pub fn claims(sub: &str, ttl: i64) -> Value {
    let now = i64::try_from(now()).unwrap_or(i64::MAX);
    json!({"iss": ISSUER, "aud": AUDIENCE, "sub": sub, "iat": now, "exp": now + ttl,
           "scope": "orders:read orders:write", "client_id": "bench-client"})
}

/// A JWKS document publishing these keys.
pub fn jwks(keys: &[&BenchKey]) -> Value {
    json!({ "keys": keys.iter().map(|k| k.public_jwk.clone()).collect::<Vec<_>>() })
}

/// Serves `document` as `application/json` to every request, from a background thread that
/// lives as long as the process. Returns its URL (`http://127.0.0.1:<port>/jwks`).
pub fn serve_json(document: &Value) -> std::io::Result<String> {
    let listener = TcpListener::bind("127.0.0.1:0")?;
    let url = format!("http://{}/jwks", listener.local_addr()?);
    let body = document.to_string();
    let answer = format!(
        "HTTP/1.1 200 OK\r\ncontent-type: application/json\r\ncontent-length: {}\r\n\
         connection: close\r\n\r\n{body}",
        body.len()
    );
    std::thread::spawn(move || {
        for stream in listener.incoming() {
            let Ok(mut stream) = stream else { continue };
            let mut request = Vec::new();
            let mut chunk = [0u8; 2048];
            while !request.windows(4).any(|w| w == b"\r\n\r\n") {
                match stream.read(&mut chunk) {
                    Ok(0) | Err(_) => break,
                    Ok(n) => request.extend_from_slice(chunk.get(..n).unwrap_or_default()),
                }
            }
            let _ = stream.write_all(answer.as_bytes());
        }
    });
    Ok(url)
}

/// A verified identity as the bearer-token stage produces it: `sub`, the claims of
/// [`claims`], `exp` in an hour and `cache_key` (the token-cache key in the gateway).
pub fn identity(sub: &str, cache_key: TokenKey) -> Identity {
    let claims = match claims(sub, 3600) {
        Value::Object(map) => map,
        _ => Map::new(),
    };
    let mut id = Identity::new(
        sub.to_string(),
        claims,
        Some(SystemTime::now() + Duration::from_secs(3600)),
    );
    id.cache_key = cache_key;
    id
}

/// Auth-token keys with a new ES256 signing key, as the node installs them.
pub fn auth_token_keys() -> anyhow::Result<AuthTokenKeys> {
    let pair = rcgen::KeyPair::generate_for(&rcgen::PKCS_ECDSA_P256_SHA256)?;
    let key = SignKey::from_pem("bench-1", &pair.serialize_pem(), pair.public_key_raw())?;
    Ok(AuthTokenKeys {
        current: Arc::new(key),
        previous: None,
    })
}

/// A JWT identity mapping: `X-Identity-JWT`, five minutes, `scope` and `client_id` copied and
/// the subject also written to a nested claim.
pub fn jwt_mapping() -> CompiledMapping {
    let claim = |attr: &str, name: &str| ClaimMapping {
        subject: false,
        user_attribute_name: attr.into(),
        jwt_claim_name: name.into(),
    };
    CompiledMapping::new(
        TypedMapping::Jwt(JwtMapping {
            header_name: "X-Identity-JWT".into(),
            map_as_bearer_token: false,
            audience: "https://backend.bench".into(),
            token_lifetime_seconds: 300,
            attribute_mappings: vec![
                claim("scope", "scope"),
                claim("client_id", "client.id"),
                ClaimMapping {
                    subject: true,
                    user_attribute_name: String::new(),
                    jwt_claim_name: "user.name".into(),
                },
            ],
        }),
        "https://gatehouse.bench".into(),
    )
}
