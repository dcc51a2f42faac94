//! A provider's JSON Web Key Set: fetched when first needed, refetched when a token names an
//! unknown `kid` (one fetch at a time, at most once per [`MIN_REFETCH`]) or when older than
//! [`MAX_AGE`]; a failed fetch keeps the last good set. Only asymmetric keys are kept, each bound
//! to the algorithms its type allows.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use arc_swap::ArcSwapOption;
use jsonwebtoken::jwk::{AlgorithmParameters, EllipticCurve, Jwk, JwkSet, KeyAlgorithm};
use jsonwebtoken::Algorithm;

use super::discovery::Discovery;
use super::fetch::{self, FetchError};
use super::jws::SignatureKey;

/// Shortest time between two fetches triggered by unknown `kid`s.
pub const MIN_REFETCH: Duration = Duration::from_secs(10);
/// Age after which the set is fetched again in the background.
pub const MAX_AGE: Duration = Duration::from_secs(900);

/// Where the key set lives.
#[derive(Debug)]
pub enum JwksLocation {
    /// A configured URL.
    Url(String),
    /// The provider's discovered `jwks_uri`.
    Discovered(Arc<Discovery>),
}

/// One key of the set, parsed for each algorithm it may verify.
#[derive(Debug)]
pub struct VerifyKey {
    kid: Option<String>,
    /// One parsed key per algorithm: those its type allows, or only the JWK's own `alg`.
    by_algorithm: Vec<SignatureKey>,
}

/// Algorithms each key type may verify.
const RSA_ALGORITHMS: [Algorithm; 6] = [
    Algorithm::RS256,
    Algorithm::RS384,
    Algorithm::RS512,
    Algorithm::PS256,
    Algorithm::PS384,
    Algorithm::PS512,
];

/// The keys of one fetch.
#[derive(Debug, Default)]
pub struct KeySet {
    keys: Vec<VerifyKey>,
}

impl KeySet {
    /// Parses a JWKS document; keys that are symmetric, unsupported or malformed are skipped.
    pub fn from_jwks(set: &JwkSet) -> Self {
        let keys = set.keys.iter().filter_map(verify_key).collect();
        Self { keys }
    }

    /// Keys that may verify a token with this `kid` and `alg`.
    pub fn candidates<'k>(
        &'k self,
        kid: Option<&'k str>,
        alg: Algorithm,
    ) -> impl Iterator<Item = &'k SignatureKey> + 'k {
        self.keys
            .iter()
            .filter(move |k| kid.is_none_or(|want| k.kid.as_deref() == Some(want)))
            .filter_map(move |k| k.by_algorithm.iter().find(|p| p.algorithm() == alg))
    }

    /// Number of usable keys.
    pub fn len(&self) -> usize {
        self.keys.len()
    }

    /// True when no key is usable.
    pub fn is_empty(&self) -> bool {
        self.keys.is_empty()
    }
}

fn verify_key(jwk: &Jwk) -> Option<VerifyKey> {
    if jwk
        .common
        .public_key_use
        .as_ref()
        .is_some_and(|u| *u != jsonwebtoken::jwk::PublicKeyUse::Signature)
    {
        return None;
    }
    let allowed: &[Algorithm] = match &jwk.algorithm {
        AlgorithmParameters::RSA(_) => &RSA_ALGORITHMS,
        AlgorithmParameters::EllipticCurve(ec) => match ec.curve {
            EllipticCurve::P256 => &[Algorithm::ES256],
            EllipticCurve::P384 => &[Algorithm::ES384],
            _ => return None,
        },
        AlgorithmParameters::OctetKeyPair(okp) if okp.curve == EllipticCurve::Ed25519 => {
            &[Algorithm::EdDSA]
        }
        // Symmetric ("oct") keys are never used: no HMAC with a published key.
        _ => return None,
    };
    let own = match jwk.common.key_algorithm {
        None => None,
        Some(ka) => Some(algorithm_of(ka)?),
    };
    let by_algorithm: Vec<SignatureKey> = allowed
        .iter()
        .filter(|alg| own.is_none_or(|own| own == **alg))
        .filter_map(|alg| SignatureKey::from_jwk(jwk, *alg))
        .collect();
    if by_algorithm.is_empty() {
        return None;
    }
    Some(VerifyKey {
        kid: jwk.common.key_id.clone(),
        by_algorithm,
    })
}

fn algorithm_of(ka: KeyAlgorithm) -> Option<Algorithm> {
    use KeyAlgorithm as K;
    Some(match ka {
        K::RS256 => Algorithm::RS256,
        K::RS384 => Algorithm::RS384,
        K::RS512 => Algorithm::RS512,
        K::PS256 => Algorithm::PS256,
        K::PS384 => Algorithm::PS384,
        K::PS512 => Algorithm::PS512,
        K::ES256 => Algorithm::ES256,
        K::ES384 => Algorithm::ES384,
        K::EdDSA => Algorithm::EdDSA,
        _ => return None,
    })
}

/// Counters of key-set fetches (registered as Prometheus metrics).
#[derive(Debug, Default)]
pub struct JwksCounters {
    /// Successful fetches.
    pub fetched: prometheus_client::metrics::counter::Counter,
    /// Failed fetches.
    pub failed: prometheus_client::metrics::counter::Counter,
}

/// A key set and how it is refreshed.
#[derive(Debug)]
pub struct JwksSource {
    location: JwksLocation,
    client: reqwest::Client,
    current: ArcSwapOption<(Instant, Arc<KeySet>)>,
    /// Time of the last fetch attempt; the lock makes fetches single-flight.
    last_attempt: tokio::sync::Mutex<Option<Instant>>,
    /// A background refresh of a stale set is running.
    refreshing: AtomicBool,
    counters: Arc<JwksCounters>,
}

impl JwksSource {
    /// A source; nothing is fetched yet.
    pub fn new(
        location: JwksLocation,
        client: reqwest::Client,
        counters: Arc<JwksCounters>,
    ) -> Self {
        Self {
            location,
            client,
            current: ArcSwapOption::empty(),
            last_attempt: tokio::sync::Mutex::new(None),
            refreshing: AtomicBool::new(false),
            counters,
        }
    }

    /// The current key set; fetched first if there is none yet.
    pub async fn keys(self: &Arc<Self>) -> Result<Arc<KeySet>, FetchError> {
        if let Some(c) = self.current.load_full() {
            let start = || {
                self.refreshing
                    .compare_exchange(false, true, Ordering::AcqRel, Ordering::Relaxed)
                    .is_ok()
            };
            if c.0.elapsed() > MAX_AGE && start() {
                let me = self.clone();
                tokio::spawn(async move {
                    let _ = me.refetch(true).await;
                    me.refreshing.store(false, Ordering::Release);
                });
            }
            return Ok(c.1.clone());
        }
        self.refetch(true).await
    }

    /// Fetches again because a token named a key the set does not hold. Returns the newest set
    /// (the same one when rate-limited or when the fetch failed).
    pub async fn refetch_for_unknown_kid(&self) -> Result<Arc<KeySet>, FetchError> {
        self.refetch(false).await
    }

    async fn refetch(&self, force: bool) -> Result<Arc<KeySet>, FetchError> {
        let seen = self.current.load_full().map(|c| c.0);
        let mut last = self.last_attempt.lock().await;
        let too_soon = last.is_some_and(|t| t.elapsed() < MIN_REFETCH);
        match self.current.load_full() {
            None if too_soon => {
                return Err(FetchError::Invalid {
                    url: "key set".into(),
                    reason: "not fetched yet; the last attempt failed moments ago".into(),
                })
            }
            None => {}
            Some(c) => {
                let someone_else_fetched = seen != Some(c.0);
                let still_fresh = force && c.0.elapsed() <= MAX_AGE;
                if someone_else_fetched || (too_soon && !force) || still_fresh {
                    return Ok(c.1.clone());
                }
            }
        }
        *last = Some(Instant::now());
        match self.fetch().await {
            Ok(set) => {
                self.counters.fetched.inc();
                let set = Arc::new(set);
                self.current
                    .store(Some(Arc::new((Instant::now(), set.clone()))));
                Ok(set)
            }
            Err(e) => {
                self.counters.failed.inc();
                match self.current.load_full() {
                    Some(c) => {
                        tracing::warn!("JWKS fetch failed, keeping the last good key set: {e}");
                        Ok(c.1.clone())
                    }
                    None => {
                        tracing::error!("JWKS fetch failed and no key set is known: {e}");
                        Err(e)
                    }
                }
            }
        }
    }

    async fn fetch(&self) -> Result<KeySet, FetchError> {
        let url = match &self.location {
            JwksLocation::Url(u) => u.clone(),
            JwksLocation::Discovered(d) => {
                d.metadata()
                    .await?
                    .jwks_uri
                    .clone()
                    .ok_or_else(|| FetchError::Invalid {
                        url: d.issuer().to_string(),
                        reason: "the provider publishes no jwks_uri".into(),
                    })?
            }
        };
        let set: JwkSet = fetch::json(self.client.get(&url), &url).await?;
        Ok(KeySet::from_jwks(&set))
    }
}
