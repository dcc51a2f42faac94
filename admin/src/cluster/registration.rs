//! Engine self-registration: `POST /engines/registration/token` gives a short-lived token (HS256
//! with a key derived from the console's secret key; it also names the console's host,
//! config-query port and certificate fingerprint). An engine started with it and no bootstrap
//! file registers itself (`POST /engines/rest/register {"name"}` over TLS pinned to that
//! fingerprint) and writes the bootstrap file it gets back. The token may register several
//! engines until it expires.

use std::time::Duration;

use hmac::{Hmac, Mac};
use jsonwebtoken::{Algorithm, DecodingKey, EncodingKey, Header, Validation};
use serde::{Deserialize, Serialize};
use sha2::Sha256;

use super::bootstrap::{Bootstrap, BootstrapError};

/// Lifetime of a registration token.
pub const LIFETIME: Duration = Duration::from_secs(3600);
const AUDIENCE: &str = "gatehouse-engine-registration";

/// The key registration tokens are signed with.
#[derive(Clone)]
pub struct RegistrationKey([u8; 32]);

impl std::fmt::Debug for RegistrationKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("RegistrationKey(***)")
    }
}

impl RegistrationKey {
    /// Derived from the console's secret key.
    pub fn derive(secret_key: &[u8; 32]) -> Self {
        let mut key = [0u8; 32];
        if let Ok(mut mac) = Hmac::<Sha256>::new_from_slice(secret_key) {
            mac.update(b"gatehouse engine registration v1");
            key.copy_from_slice(&mac.finalize().into_bytes());
        }
        Self(key)
    }
}

/// What a registration token says.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct RegistrationClaims {
    aud: String,
    iat: u64,
    exp: u64,
    /// Console host.
    pub host: String,
    /// Config-query port.
    pub port: u16,
    /// Config-query certificate fingerprint.
    pub cq: String,
}

fn now() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs())
}

/// A token (and its expiry, Unix seconds).
pub fn issue(
    key: &RegistrationKey,
    host: &str,
    port: u16,
    fingerprint: &str,
) -> Result<(String, u64), jsonwebtoken::errors::Error> {
    let t = now();
    let claims = RegistrationClaims {
        aud: AUDIENCE.into(),
        iat: t,
        exp: t + LIFETIME.as_secs(),
        host: host.into(),
        port,
        cq: fingerprint.into(),
    };
    let token = jsonwebtoken::encode(
        &Header::new(Algorithm::HS256),
        &claims,
        &EncodingKey::from_secret(&key.0),
    )?;
    Ok((token, claims.exp))
}

/// The console's check of a token.
pub fn verify(key: &RegistrationKey, token: &str) -> Result<RegistrationClaims, String> {
    let mut rules = Validation::new(Algorithm::HS256);
    rules.set_audience(&[AUDIENCE]);
    rules.leeway = 30;
    rules.set_required_spec_claims(&["exp", "aud"]);
    jsonwebtoken::decode::<RegistrationClaims>(token, &DecodingKey::from_secret(&key.0), &rules)
        .map(|d| d.claims)
        .map_err(|e| e.to_string())
}

/// `POST /engines/rest/register` body.
#[derive(Debug, Serialize, Deserialize)]
pub struct RegisterRequest {
    /// Engine name.
    pub name: String,
}

/// Engine side: registers as `name` with `token` and returns the bootstrap.
pub async fn register(token: &str, name: &str) -> Result<Bootstrap, BootstrapError> {
    let bad = |reason: String| BootstrapError::Key {
        file: "engine.registration.token".into(),
        key: "engine.registration.token",
        reason,
    };
    let claims = unverified(token).ok_or_else(|| bad("not a registration token".into()))?;
    let tls =
        super::pinning::client_config(super::pinning::Pins::new(std::slice::from_ref(&claims.cq)))
            .map_err(|e| bad(e.to_string()))?;
    let http = reqwest::Client::builder()
        .use_preconfigured_tls(tls)
        .timeout(Duration::from_secs(30))
        .build()
        .map_err(|e| bad(e.to_string()))?;
    let url = format!(
        "https://{}:{}/engines/rest/register",
        claims.host, claims.port
    );
    let resp = http
        .post(&url)
        .bearer_auth(token)
        .json(&RegisterRequest { name: name.into() })
        .send()
        .await
        .map_err(|e| bad(format!("{url}: {e}")))?;
    let status = resp.status();
    let text = resp.text().await.map_err(|e| bad(e.to_string()))?;
    if !status.is_success() {
        return Err(bad(format!(
            "the console refused the registration ({status}): {text}"
        )));
    }
    Bootstrap::parse(text.as_bytes(), "registration answer")
}

fn unverified(token: &str) -> Option<RegistrationClaims> {
    use base64::Engine as _;
    let payload = token.split('.').nth(1)?;
    let bytes = base64::engine::general_purpose::URL_SAFE_NO_PAD
        .decode(payload)
        .ok()?;
    serde_json::from_slice(&bytes).ok()
}
