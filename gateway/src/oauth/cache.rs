//! The verified-token cache: identities by (validator instance, SHA-256 of the token), each
//! kept until its token expires, bounded in size. Counts hits and misses.

use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime};

use moka::future::Cache;
use moka::Expiry;
use sha2::{Digest, Sha256};

use super::Identity;

/// Cache key: the validator instance and the token's hash (the token itself is never stored).
pub type TokenKey = (u64, [u8; 32]);

/// Longest time an identity without `exp` is kept.
const NO_EXP_TTL: Duration = Duration::from_secs(300);

struct UntilExpiry;

impl Expiry<TokenKey, Arc<Identity>> for UntilExpiry {
    fn expire_after_create(
        &self,
        _key: &TokenKey,
        value: &Arc<Identity>,
        _created_at: Instant,
    ) -> Option<Duration> {
        Some(match value.cache_until.or(value.expires_at) {
            Some(exp) => exp
                .duration_since(SystemTime::now())
                .unwrap_or(Duration::ZERO),
            None => NO_EXP_TTL,
        })
    }
}

/// Hit and miss counters (registered as Prometheus metrics).
#[derive(Debug, Default)]
pub struct CacheCounters {
    /// Lookups answered from the cache.
    pub hits: prometheus_client::metrics::counter::Counter,
    /// Lookups that had to verify.
    pub misses: prometheus_client::metrics::counter::Counter,
}

/// The cache shared by every snapshot of an engine.
#[derive(Clone)]
pub struct TokenCache {
    entries: Cache<TokenKey, Arc<Identity>>,
    /// Hits and misses.
    pub counters: Arc<CacheCounters>,
}

impl std::fmt::Debug for TokenCache {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TokenCache")
            .field("entries", &self.entries.entry_count())
            .finish()
    }
}

impl TokenCache {
    /// A cache holding at most `capacity` identities, counting into `counters`.
    pub fn new(capacity: u64, counters: Arc<CacheCounters>) -> Self {
        Self {
            entries: Cache::builder()
                .max_capacity(capacity)
                .expire_after(UntilExpiry)
                .build(),
            counters,
        }
    }

    /// The key of a token under a validator instance.
    pub fn key(instance: u64, token: &str) -> TokenKey {
        (instance, Sha256::digest(token.as_bytes()).into())
    }

    /// A cached identity that has not expired.
    pub async fn get(&self, key: &TokenKey) -> Option<Arc<Identity>> {
        let found = self.entries.get(key).await.filter(|id| {
            id.cache_until
                .or(id.expires_at)
                .is_none_or(|until| until > SystemTime::now())
        });
        let counter = if found.is_some() {
            &self.counters.hits
        } else {
            &self.counters.misses
        };
        counter.inc();
        found
    }

    /// Remembers a verified identity.
    pub async fn insert(&self, key: TokenKey, identity: Arc<Identity>) {
        self.entries.insert(key, identity).await;
    }
}
