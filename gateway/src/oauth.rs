//! OAuth resource server (SPEC §5.3, API part): bearer tokens verified by a local JWT validator,
//! verified identities cached, and the outcome as an identity or a [`TokenError`].
//!
//! The cache holds only verified identities, keyed by the validator instance and a SHA-256 of
//! the token; it never holds a decision, so every rule still runs on every request.

pub mod cache;
pub mod discovery;
pub mod fetch;
pub mod introspect;
pub mod jwks;
pub mod jws;
pub mod jwt;

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::SystemTime;

use gatehouse_model::oauth::AccessTokenValidator;
use gatehouse_model::{ConfigDocument, Problems};
use http::header::AUTHORIZATION;
use http::HeaderMap;
use serde_json::{Map, Value};

use discovery::Discovery;
use jwks::{JwksCounters, JwksLocation, JwksSource};
use jwt::JwtValidator;

/// Why a bearer token was not accepted. The messages are safe to show to clients.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum TokenError {
    /// No `Authorization: Bearer` header.
    #[error("no access token")]
    Missing,
    /// Not a well-formed token.
    #[error("The token is malformed.")]
    Malformed,
    /// Verification failed.
    #[error("{0}")]
    Invalid(&'static str),
    /// No key matched the token's `kid`, even after fetching the key set again.
    #[error("The token's signing key is not known.")]
    UnknownKey,
    /// The token could not be checked (key set or provider unreachable): fail closed.
    #[error("The token cannot be checked at the moment.")]
    Unavailable,
}

/// A verified identity: the token's subject and claims.
#[derive(Debug, Clone, PartialEq)]
pub struct Identity {
    /// Subject (from the validator's `subjectAttributeName`).
    pub subject: String,
    /// Every claim of the token.
    pub claims: Arc<Map<String, Value>>,
    /// `exp`, when the token has one.
    pub expires_at: Option<SystemTime>,
    /// Identifies the credential and the validator it came from (the token-cache key): keys
    /// caches of things derived from this identity, such as minted identity JWTs.
    pub cache_key: cache::TokenKey,
    /// Cache no longer than this (introspection `tokenTimeToLiveSeconds`); else until `exp`.
    pub cache_until: Option<SystemTime>,
    /// A web session's access token from the provider (`WebSessionAccessToken` mapping);
    /// `Debug` never shows it.
    pub access_token: Option<gatehouse_model::secret::Secret>,
}

impl Identity {
    /// An identity from verified claims.
    pub fn new(
        subject: String,
        claims: Map<String, Value>,
        expires_at: Option<SystemTime>,
    ) -> Self {
        Self {
            subject,
            claims: Arc::new(claims),
            expires_at,
            cache_key: (0, [0; 32]),
            cache_until: None,
            access_token: None,
        }
    }
}

/// The token from `Authorization: Bearer <token>` (RFC 6750 §2.1), if well formed.
pub fn bearer_token(headers: &HeaderMap) -> Option<&str> {
    let value = headers.get(AUTHORIZATION)?.to_str().ok()?;
    let (scheme, token) = value.split_once(' ')?;
    let token = token.trim();
    (scheme.eq_ignore_ascii_case("bearer") && !token.is_empty()).then_some(token)
}

/// A token checker: a local JWT validator or introspection.
#[derive(Debug, Clone)]
pub enum TokenValidator {
    /// `JwksEndpoint` validator.
    Jwt(Arc<JwtValidator>),
    /// RFC 7662 introspection.
    Introspection(Arc<introspect::Introspector>),
}

impl TokenValidator {
    /// Cache-key prefix: unique per compiled instance.
    pub fn instance(&self) -> u64 {
        match self {
            Self::Jwt(v) => v.instance,
            Self::Introspection(i) => i.instance,
        }
    }

    /// Whether verified identities may be cached.
    pub fn caches(&self) -> bool {
        match self {
            Self::Jwt(_) => true,
            Self::Introspection(i) => i.cache_tokens,
        }
    }

    /// Checks a token.
    pub async fn validate(&self, token: &str) -> Result<Identity, TokenError> {
        match self {
            Self::Jwt(v) => v.validate(token).await,
            Self::Introspection(i) => i.validate(token).await,
        }
    }
}

/// The compiled validators of a snapshot, by validator id.
#[derive(Debug, Default)]
pub struct Validators {
    by_id: HashMap<u64, Arc<JwtValidator>>,
    introspection: Option<(IntrospectionDef, Arc<introspect::Introspector>)>,
    /// Definitions they were compiled from, to reuse them across reloads.
    defs: Vec<(ValidatorDef, Arc<JwtValidator>)>,
    /// The provider's discovery, built once per compile (web sessions use it too).
    pub provider: Option<Arc<Discovery>>,
}

/// Everything a compiled validator depends on.
#[derive(Debug, Clone, PartialEq)]
struct ValidatorDef {
    validator: AccessTokenValidator,
    provider: Option<gatehouse_model::oauth::OidcProvider>,
    trust: String,
}

static INSTANCES: AtomicU64 = AtomicU64::new(1);

/// A new compiled-instance number (part of cache keys, so a recompiled object never answers
/// from the cache of the one it replaced).
pub fn next_instance() -> u64 {
    INSTANCES.fetch_add(1, Ordering::Relaxed)
}

impl Validators {
    /// Compiles the validators of `doc`; unchanged ones (and their key sets) are taken from
    /// `previous`.
    pub fn compile(
        doc: &ConfigDocument,
        previous: Option<&Validators>,
        counters: &Arc<JwksCounters>,
        problems: &mut Problems,
    ) -> Self {
        let mut out = Self::default();
        let trust = trust_fingerprint(doc);
        // One discovery per compile, shared by every validator and introspection built now.
        let provider = provider_discovery(doc, problems);
        for (i, v) in doc.access_token_validators.iter().enumerate() {
            let def = ValidatorDef {
                validator: v.clone(),
                provider: doc.oidc_provider.clone(),
                trust: trust.clone(),
            };
            let reused = previous
                .and_then(|p| p.defs.iter().find(|(d, _)| *d == def))
                .map(|(_, c)| c.clone());
            let compiled = match reused {
                Some(c) => c,
                None => match build(doc, v, provider.as_ref(), counters) {
                    Ok(c) => Arc::new(c),
                    Err(e) => {
                        problems.push(
                            format!("accessTokenValidators[{i}].configuration.trustedCertificateGroupId"),
                            e,
                        );
                        continue;
                    }
                },
            };
            out.by_id.insert(v.id, compiled.clone());
            out.defs.push((def, compiled));
        }
        out.introspection =
            compile_introspection(doc, previous, provider.as_ref(), trust, problems);
        out.provider = provider;
        out
    }

    /// The validator an application's `accessValidatorId` names.
    pub fn get(&self, id: u64) -> Option<TokenValidator> {
        if id == gatehouse_model::oauth::INTROSPECTION_VALIDATOR {
            return self
                .introspection
                .as_ref()
                .map(|(_, i)| TokenValidator::Introspection(i.clone()));
        }
        self.by_id.get(&id).cloned().map(TokenValidator::Jwt)
    }
}

/// Everything the introspector depends on.
#[derive(Debug, Clone, PartialEq)]
struct IntrospectionDef {
    server: gatehouse_model::oauth::AuthServer,
    provider: Option<gatehouse_model::oauth::OidcProvider>,
    trust: String,
}

fn compile_introspection(
    doc: &ConfigDocument,
    previous: Option<&Validators>,
    provider: Option<&Arc<Discovery>>,
    trust: String,
    problems: &mut Problems,
) -> Option<(IntrospectionDef, Arc<introspect::Introspector>)> {
    let server = doc.oauth_auth_server.as_ref()?;
    let def = IntrospectionDef {
        server: server.clone(),
        provider: doc.oidc_provider.clone(),
        trust,
    };
    if let Some((d, i)) = previous.and_then(|p| p.introspection.as_ref()) {
        if *d == def {
            return Some((def, i.clone()));
        }
    }
    let client = match fetch::client(doc, server.trusted_certificate_group_id) {
        Ok(c) => c,
        Err(e) => {
            problems.push("oauthAuthServer.trustedCertificateGroupId", e.to_string());
            return None;
        }
    };
    let endpoint = match (&server.introspection_endpoint, provider) {
        (Some(url), _) => introspect::EndpointLocation::Url(url.clone()),
        (None, Some(d)) => introspect::EndpointLocation::Discovered(d.clone()),
        (None, None) => return None,
    };
    let instance = INSTANCES.fetch_add(1, Ordering::Relaxed);
    Some((
        def,
        Arc::new(introspect::Introspector::new(
            instance, server, endpoint, client,
        )),
    ))
}

/// Discovery for the configured provider, over a client that trusts its certificate group.
fn provider_discovery(doc: &ConfigDocument, problems: &mut Problems) -> Option<Arc<Discovery>> {
    let p = doc.oidc_provider.as_ref()?;
    match fetch::client(doc, p.trusted_certificate_group_id) {
        Ok(client) => Some(Arc::new(Discovery::new(p.issuer.clone(), client))),
        Err(e) => {
            problems.push("oidcProvider.trustedCertificateGroupId", e.to_string());
            None
        }
    }
}

fn trust_fingerprint(doc: &ConfigDocument) -> String {
    serde_json::to_string(&(&doc.trusted_certificate_groups, &doc.certificates)).unwrap_or_default()
}

fn build(
    doc: &ConfigDocument,
    v: &AccessTokenValidator,
    provider: Option<&Arc<Discovery>>,
    counters: &Arc<JwksCounters>,
) -> Result<JwtValidator, String> {
    let c = &v.configuration;
    let provider_issuer = doc
        .oidc_provider
        .as_ref()
        .map(|p| p.issuer.clone())
        .unwrap_or_default();
    // A key set on the provider (a path, or the discovered jwks_uri) is fetched with the
    // provider's trust; an absolute URL with the validator's own.
    let (location, client) = match (c.jwks_url.as_deref(), provider) {
        (Some(url), _) if !url.starts_with('/') => (
            JwksLocation::Url(url.to_string()),
            fetch::client(doc, c.trusted_certificate_group_id).map_err(|e| e.to_string())?,
        ),
        (Some(path), Some(d)) => (
            JwksLocation::Url(format!("{}{path}", provider_issuer.trim_end_matches('/'))),
            d.client().clone(),
        ),
        (None, Some(d)) => (JwksLocation::Discovered(d.clone()), d.client().clone()),
        (_, None) => return Err("the key set is on the provider, which is not usable".into()),
    };
    let allowed = c
        .allowed_algorithms
        .iter()
        .filter_map(|a| a.parse().ok())
        .collect();
    Ok(JwtValidator::new(
        INSTANCES.fetch_add(1, Ordering::Relaxed),
        allowed,
        c.issuer.clone().unwrap_or(provider_issuer),
        c.audience.clone(),
        c.subject_attribute_name.clone(),
        c.leeway_seconds,
        Arc::new(JwksSource::new(location, client, counters.clone())),
    ))
}
