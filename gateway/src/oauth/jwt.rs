//! Local JWT validation (`JwksEndpoint` validators): `alg` from the allow-list and bound to the
//! key's type, signature against the provider's key set (parsed once per set, [`super::jws`]),
//! then `iss` exact, `aud`, `exp` and `nbf` always checked with the configured leeway by
//! jsonwebtoken, and the subject taken from the configured claim.

use std::sync::{Arc, LazyLock};
use std::time::{Duration, UNIX_EPOCH};

use jsonwebtoken::errors::ErrorKind;
use jsonwebtoken::{Algorithm, DecodingKey, Validation};
use serde_json::{Map, Value};

use super::jwks::{JwksSource, KeySet};
use super::jws;
use super::{Identity, TokenError};

/// The key jsonwebtoken's `decode` asks for even with its signature check off; never used.
static UNUSED_KEY: LazyLock<DecodingKey> = LazyLock::new(|| DecodingKey::from_secret(&[]));

/// A compiled `JwksEndpoint` validator.
#[derive(Debug)]
pub struct JwtValidator {
    /// Unique per compiled instance: part of every cache key, so a changed validator never
    /// answers from results of the old one.
    pub instance: u64,
    allowed: Vec<Algorithm>,
    /// Claim rules, built once; jsonwebtoken's own signature check is off in them (module
    /// documentation), so they are only used by [`Self::claims_of_verified`].
    claim_rules: Validation,
    subject_claim: String,
    jwks: Arc<JwksSource>,
}

impl JwtValidator {
    /// A validator; `allowed` holds only asymmetric algorithms (checked by the model).
    pub fn new(
        instance: u64,
        allowed: Vec<Algorithm>,
        issuer: String,
        audience: String,
        subject_claim: String,
        leeway: u64,
        jwks: Arc<JwksSource>,
    ) -> Self {
        Self {
            instance,
            allowed,
            claim_rules: claim_rules(&issuer, &audience, leeway),
            subject_claim,
            jwks,
        }
    }

    /// Verifies a token and returns the identity it carries.
    pub async fn validate(&self, token: &str) -> Result<Identity, TokenError> {
        let header = jsonwebtoken::decode_header(token).map_err(|_| TokenError::Malformed)?;
        if !self.allowed.contains(&header.alg) {
            return Err(TokenError::Invalid(
                "The token's algorithm is not accepted.",
            ));
        }
        let kid = header.kid.as_deref();
        let keys = self
            .jwks
            .keys()
            .await
            .map_err(|_| TokenError::Unavailable)?;
        let claims = match self.verify_with(&keys, token, kid, header.alg) {
            Err(TokenError::UnknownKey) => {
                let newer = self
                    .jwks
                    .refetch_for_unknown_kid()
                    .await
                    .map_err(|_| TokenError::Unavailable)?;
                self.verify_with(&newer, token, kid, header.alg)
            }
            other => other,
        }?;
        self.identity(claims)
    }

    /// The token's claims, if a key of the set for its `kid` and `alg` signed it.
    fn verify_with(
        &self,
        keys: &KeySet,
        token: &str,
        kid: Option<&str>,
        alg: Algorithm,
    ) -> Result<Map<String, Value>, TokenError> {
        let signed = jws::split(token).ok_or(TokenError::Malformed)?;
        let mut candidates = keys.candidates(kid, alg).peekable();
        if candidates.peek().is_none() {
            return Err(TokenError::UnknownKey);
        }
        if !candidates.any(|key| key.verifies(signed.input.as_bytes(), &signed.signature)) {
            return Err(TokenError::Invalid(SIGNATURE));
        }
        self.claims_of_verified(token)
    }

    /// Decodes and checks the claims of a token whose signature was just verified.
    fn claims_of_verified(&self, token: &str) -> Result<Map<String, Value>, TokenError> {
        jsonwebtoken::decode::<Map<String, Value>>(token, &UNUSED_KEY, &self.claim_rules)
            .map(|data| data.claims)
            .map_err(|e| map_error(e.kind()))
    }

    fn identity(&self, claims: Map<String, Value>) -> Result<Identity, TokenError> {
        let subject = match claims.get(&self.subject_claim) {
            Some(Value::String(s)) if !s.is_empty() => s.clone(),
            Some(Value::Number(n)) => n.to_string(),
            _ => return Err(TokenError::Invalid("The token names no subject.")),
        };
        let expires_at = claims
            .get("exp")
            .and_then(Value::as_u64)
            .map(|s| UNIX_EPOCH + Duration::from_secs(s));
        Ok(Identity::new(subject, claims, expires_at))
    }
}

/// `iss` exact, `aud`, `exp` required, `exp`/`nbf` with leeway. The signature is checked before,
/// with the key set's parsed keys, so jsonwebtoken's check is off.
fn claim_rules(issuer: &str, audience: &str, leeway: u64) -> Validation {
    let mut v = Validation::default();
    v.insecure_disable_signature_validation();
    v.leeway = leeway;
    v.validate_exp = true;
    v.validate_nbf = true;
    v.set_issuer(&[issuer]);
    v.set_audience(&[audience]);
    v.set_required_spec_claims(&["exp", "iss", "aud"]);
    v
}

const SIGNATURE: &str = "The token's signature is not valid.";

fn map_error(kind: &ErrorKind) -> TokenError {
    match kind {
        ErrorKind::InvalidSignature => TokenError::Invalid(SIGNATURE),
        ErrorKind::ExpiredSignature => TokenError::Invalid("The token has expired."),
        ErrorKind::ImmatureSignature => TokenError::Invalid("The token is not valid yet."),
        ErrorKind::InvalidIssuer => TokenError::Invalid("The token's issuer is not trusted."),
        ErrorKind::InvalidAudience => {
            TokenError::Invalid("The token was issued for another audience.")
        }
        ErrorKind::MissingRequiredClaim(_) => {
            TokenError::Invalid("The token lacks a required claim.")
        }
        ErrorKind::InvalidAlgorithm | ErrorKind::InvalidAlgorithmName => {
            TokenError::Invalid("The token's algorithm is not accepted.")
        }
        _ => TokenError::Malformed,
    }
}
