//! Engine poll tokens: every request of a clustered engine carries a short-lived ES256 JWT
//! signed with its bootstrap key (`iss` = `sub` = engine id, `aud`, `iat`, `exp`, `jti`). The
//! admin verifies it against the engine's registered public key and refuses unknown engines,
//! other audiences, expired or long-lived tokens and replays.

use std::time::Duration;

use jsonwebtoken::{Algorithm, DecodingKey, EncodingKey, Header, Validation};
use p256::pkcs8::EncodePrivateKey;
use serde::{Deserialize, Serialize};

use super::bootstrap::Bootstrap;

/// Lifetime of a token the engine mints.
pub const LIFETIME: Duration = Duration::from_secs(60);
/// Longest lifetime the admin accepts (`exp - iat`).
const MAX_LIFETIME: u64 = 300;
/// Clock skew allowed.
const LEEWAY: u64 = 30;

/// Why a poll token is refused.
#[derive(Debug, thiserror::Error)]
pub enum PollTokenError {
    /// No bearer token.
    #[error("no token")]
    Missing,
    /// Not a JWT, or not ES256.
    #[error("malformed token")]
    Malformed,
    /// No such engine, or it has no key (deleted, or never bootstrapped).
    #[error("unknown engine {0}")]
    UnknownEngine(String),
    /// Signature, audience, issuer or time checks failed.
    #[error("invalid token: {0}")]
    Invalid(String),
    /// The `jti` was seen before.
    #[error("replayed token")]
    Replayed,
    /// Signing failed (engine side).
    #[error("cannot sign: {0}")]
    Sign(String),
}

#[derive(Debug, Serialize, Deserialize)]
struct Claims {
    iss: String,
    sub: String,
    aud: String,
    iat: u64,
    exp: u64,
    jti: String,
}

fn now() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs())
}

/// Engine side: a token for one request.
pub fn mint(bootstrap: &Bootstrap) -> Result<String, PollTokenError> {
    let t = now();
    mint_at(bootstrap, &bootstrap.audience, t, t + LIFETIME.as_secs())
}

/// A token with these times and audience (what [`mint`] uses; tools and tests make expired or
/// foreign tokens with it).
pub fn mint_at(
    bootstrap: &Bootstrap,
    audience: &str,
    issued_at: u64,
    expires_at: u64,
) -> Result<String, PollTokenError> {
    let der = bootstrap
        .key
        .to_pkcs8_der()
        .map_err(|e| PollTokenError::Sign(e.to_string()))?;
    let key = EncodingKey::from_ec_der(der.as_bytes());
    let id = bootstrap.engine_id.to_string();
    let jti: [u8; 16] = rand::random();
    let claims = Claims {
        iss: id.clone(),
        sub: id,
        aud: audience.to_string(),
        iat: issued_at,
        exp: expires_at,
        jti: jti.iter().map(|b| format!("{b:02x}")).collect(),
    };
    jsonwebtoken::encode(&Header::new(Algorithm::ES256), &claims, &key)
        .map_err(|e| PollTokenError::Sign(e.to_string()))
}

/// Tokens seen, by `jti` (kept longer than any token lives).
pub type SeenTokens = moka::sync::Cache<String, ()>;

/// A cache for [`verify`].
pub fn seen_tokens() -> SeenTokens {
    moka::sync::Cache::builder()
        .max_capacity(1_000_000)
        .time_to_live(Duration::from_secs(MAX_LIFETIME + 2 * LEEWAY))
        .build()
}

/// Admin side: the engine id a token proves. `public_jwk` finds an engine's registered key.
pub fn verify(
    token: &str,
    audience: &str,
    public_jwk: impl Fn(u64) -> Option<String>,
    seen: &SeenTokens,
) -> Result<u64, PollTokenError> {
    let header = jsonwebtoken::decode_header(token).map_err(|_| PollTokenError::Malformed)?;
    if header.alg != Algorithm::ES256 {
        return Err(PollTokenError::Malformed);
    }
    let unverified = unverified_issuer(token).ok_or(PollTokenError::Malformed)?;
    let id: u64 = unverified
        .parse()
        .map_err(|_| PollTokenError::UnknownEngine(unverified.clone()))?;
    let jwk = public_jwk(id).ok_or_else(|| PollTokenError::UnknownEngine(unverified.clone()))?;
    let jwk: jsonwebtoken::jwk::Jwk =
        serde_json::from_str(&jwk).map_err(|_| PollTokenError::UnknownEngine(unverified))?;
    let key = DecodingKey::from_jwk(&jwk).map_err(|e| PollTokenError::Invalid(e.to_string()))?;
    let mut rules = Validation::new(Algorithm::ES256);
    rules.leeway = LEEWAY;
    rules.set_audience(&[audience]);
    rules.set_issuer(&[id.to_string()]);
    rules.sub = Some(id.to_string());
    rules.set_required_spec_claims(&["exp", "iat", "iss", "sub", "aud"]);
    let data = jsonwebtoken::decode::<Claims>(token, &key, &rules)
        .map_err(|e| PollTokenError::Invalid(e.to_string()))?;
    let c = data.claims;
    if c.exp.saturating_sub(c.iat) > MAX_LIFETIME || c.iat > now() + LEEWAY {
        return Err(PollTokenError::Invalid("lifetime".into()));
    }
    let mut fresh = false;
    seen.entry(format!("{id}:{}", c.jti))
        .or_insert_with_if(|| fresh = true, |_| false);
    if !fresh {
        return Err(PollTokenError::Replayed);
    }
    Ok(id)
}

fn unverified_issuer(token: &str) -> Option<String> {
    use base64::Engine as _;
    let payload = token.split('.').nth(1)?;
    let bytes = base64::engine::general_purpose::URL_SAFE_NO_PAD
        .decode(payload)
        .ok()?;
    let v: serde_json::Value = serde_json::from_slice(&bytes).ok()?;
    v.get("iss")?.as_str().map(String::from)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::cluster::bootstrap::new_key;

    fn bootstrap(id: u64) -> (Bootstrap, String) {
        let (key, public) = new_key();
        let b = Bootstrap {
            engine_id: id,
            key,
            admin_host: "h".into(),
            admin_port: 1,
            fingerprints: vec![],
            audience: "aud".into(),
            rotation_port: None,
        };
        (b, public)
    }

    #[test]
    fn valid_once_then_replayed_and_other_refusals() {
        let (b, public) = bootstrap(3);
        let seen = seen_tokens();
        let lookup = |id: u64| (id == 3).then(|| public.clone());
        let token = mint(&b).unwrap();
        assert_eq!(verify(&token, "aud", lookup, &seen).unwrap(), 3);
        assert!(matches!(
            verify(&token, "aud", lookup, &seen),
            Err(PollTokenError::Replayed)
        ));
        let fresh = mint(&b).unwrap();
        assert!(matches!(
            verify(&fresh, "other", lookup, &seen),
            Err(PollTokenError::Invalid(_))
        ));
        let (other, other_public) = bootstrap(3);
        let forged = mint(&other).unwrap();
        assert!(matches!(
            verify(&forged, "aud", lookup, &seen),
            Err(PollTokenError::Invalid(_))
        ));
        let _ = other_public;
        let (stranger, _) = bootstrap(9);
        assert!(matches!(
            verify(&mint(&stranger).unwrap(), "aud", lookup, &seen),
            Err(PollTokenError::UnknownEngine(_))
        ));
        assert!(matches!(
            verify("not.a.jwt", "aud", lookup, &seen),
            Err(PollTokenError::Malformed)
        ));
    }
}
