//! The verified-token cache: identities by (validator instance, SHA-256 of the token), each
//! kept until its token expires, bounded in size. Counts hits and misses.

use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime};

use moka::future::Cache;
use moka::Expiry;
use sha2::{Digest, Sha256};

use super::{Identity, TokenError};

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

    /// A cached identity that has not expired, counted as a hit; a miss is not counted here
    /// (the [`get_or_verify`](Self::get_or_verify) that follows counts it).
    pub async fn lookup(&self, key: &TokenKey) -> Option<Arc<Identity>> {
        let found = self.entries.get(key).await.filter(|id| {
            id.cache_until
                .or(id.expires_at)
                .is_none_or(|until| until > SystemTime::now())
        })?;
        self.counters.hits.inc();
        Some(found)
    }

    /// The cached identity for `key`, or the result of `verify` (stored when it succeeds).
    /// Concurrent callers with the same key wait for one verification (single flight).
    pub async fn get_or_verify<F>(
        &self,
        key: TokenKey,
        verify: F,
    ) -> Result<Arc<Identity>, TokenError>
    where
        F: std::future::Future<Output = Result<Identity, TokenError>>,
    {
        let entry = self
            .entries
            .entry(key)
            .or_try_insert_with(async { verify.await.map(Arc::new) })
            .await
            .map_err(|e| (*e).clone())?;
        let counter = if entry.is_fresh() {
            &self.counters.misses
        } else {
            &self.counters.hits
        };
        counter.inc();
        Ok(entry.into_value())
    }

    /// Remembers a verified identity.
    pub async fn insert(&self, key: TokenKey, identity: Arc<Identity>) {
        self.entries.insert(key, identity).await;
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::{AtomicUsize, Ordering};

    #[tokio::test]
    async fn concurrent_misses_verify_once_and_failures_are_not_cached() {
        let cache = TokenCache::new(100, Arc::default());
        let runs = Arc::new(AtomicUsize::new(0));
        let key = TokenCache::key(1, "token");
        let verify = |runs: Arc<AtomicUsize>| async move {
            runs.fetch_add(1, Ordering::SeqCst);
            tokio::task::yield_now().await;
            Ok(Identity::new("alice".into(), serde_json::Map::new(), None))
        };
        let (a, b) = tokio::join!(
            cache.get_or_verify(key, verify(runs.clone())),
            cache.get_or_verify(key, verify(runs.clone()))
        );
        assert_eq!(a.map(|i| i.subject.clone()).ok().as_deref(), Some("alice"));
        assert!(b.is_ok());
        assert_eq!(runs.load(Ordering::SeqCst), 1, "single flight");
        assert_eq!(cache.counters.misses.get(), 1);
        assert_eq!(cache.counters.hits.get(), 1);

        let bad = TokenCache::key(1, "bad");
        for _ in 0..2 {
            let refused = cache
                .get_or_verify(bad, async { Err(TokenError::Malformed) })
                .await;
            assert_eq!(refused.err(), Some(TokenError::Malformed));
        }
        assert!(
            cache.lookup(&bad).await.is_none(),
            "failures are not cached"
        );
    }
}
