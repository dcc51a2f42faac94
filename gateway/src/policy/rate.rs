//! `RateLimiting`: a token bucket per rule and key (subject, client IP or application), kept per
//! engine. Each bucket is one atomic "theoretical arrival time" (GCRA): lock-free, exact, and
//! equivalent to a bucket of `maxBurstRequests + 1` requests refilled one per interval.

use std::net::IpAddr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use gatehouse_model::rules::traffic::MAX_RATE_WINDOW_MS;
use gatehouse_model::rules::{Granularity, RateLimitRule};

use super::Facts;

/// A compiled rate limit.
#[derive(Debug, Clone)]
pub struct RateLimit {
    rule_id: u64,
    interval_us: u64,
    tolerance_us: u64,
    granularity: Granularity,
}

impl RateLimit {
    /// Compiles rule `rule_id`.
    pub fn compile(rule_id: u64, rule: &RateLimitRule) -> Self {
        let interval_us = rule.request_interval_ms.max(1).saturating_mul(1000);
        Self {
            rule_id,
            interval_us,
            tolerance_us: interval_us.saturating_mul(rule.max_burst_requests),
            granularity: rule.policy_granularity,
        }
    }
}

/// Who a bucket belongs to (within one application).
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
enum Holder {
    Subject(Arc<str>),
    Ip(IpAddr),
    Application,
}

/// All buckets of an engine. Reloads keep them (keyed by rule id); idle buckets are dropped
/// after the longest window a rule may have, when they are full again anyway.
#[derive(Debug)]
pub struct RateLimiter {
    /// Keyed by rule, application and holder: a rule shared by two applications limits each.
    buckets: moka::sync::Cache<(u64, u64, Holder), Arc<AtomicU64>>,
    epoch: Instant,
}

impl Default for RateLimiter {
    fn default() -> Self {
        Self::new(200_000)
    }
}

impl RateLimiter {
    /// A limiter holding at most `capacity` buckets.
    pub fn new(capacity: u64) -> Self {
        Self {
            buckets: moka::sync::Cache::builder()
                .max_capacity(capacity)
                .time_to_idle(Duration::from_millis(MAX_RATE_WINDOW_MS))
                .build(),
            epoch: Instant::now(),
        }
    }

    /// Takes one request from the bucket; `Err` carries the seconds until one is available.
    pub fn acquire(&self, limit: &RateLimit, facts: &Facts<'_>) -> Result<(), u64> {
        let holder = match (limit.granularity, facts.identity) {
            (Granularity::Subject, Some(id)) => Holder::Subject(Arc::from(id.subject.as_str())),
            (Granularity::Subject | Granularity::Ip, _) => Holder::Ip(facts.client_ip),
            (Granularity::Application, _) => Holder::Application,
        };
        let bucket = self
            .buckets
            .get_with((limit.rule_id, facts.app_id, holder), || {
                Arc::new(AtomicU64::new(0))
            });
        let now = u64::try_from(self.epoch.elapsed().as_micros()).unwrap_or(u64::MAX);
        take(&bucket, limit, now)
    }
}

/// GCRA on one bucket at time `now` (µs since the epoch).
fn take(bucket: &AtomicU64, limit: &RateLimit, now: u64) -> Result<(), u64> {
    let mut tat = bucket.load(Ordering::Acquire);
    loop {
        let start = tat.max(now);
        if start - now > limit.tolerance_us {
            let wait_us = start - now - limit.tolerance_us;
            return Err(wait_us.div_ceil(1_000_000).max(1));
        }
        match bucket.compare_exchange_weak(
            tat,
            start + limit.interval_us,
            Ordering::AcqRel,
            Ordering::Acquire,
        ) {
            Ok(_) => return Ok(()),
            Err(current) => tat = current,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn limit(burst: u64, interval_ms: u64) -> RateLimit {
        RateLimit::compile(
            1,
            &RateLimitRule {
                max_burst_requests: burst,
                request_interval_ms: interval_ms,
                policy_granularity: Granularity::Ip,
                rejection_handler_id: None,
            },
        )
    }

    #[test]
    fn a_bucket_allows_burst_plus_one_then_one_per_interval() {
        let l = limit(2, 1000);
        let b = AtomicU64::new(0);
        let t0 = 10_000_000;
        assert!(take(&b, &l, t0).is_ok());
        assert!(take(&b, &l, t0).is_ok());
        assert!(take(&b, &l, t0).is_ok());
        assert_eq!(take(&b, &l, t0), Err(1), "fourth within the same instant");
        assert!(take(&b, &l, t0 + 999_000).is_err());
        assert!(
            take(&b, &l, t0 + 1_000_000).is_ok(),
            "one refilled after an interval"
        );
        assert!(take(&b, &l, t0 + 1_000_000).is_err());
        assert!(take(&b, &l, t0 + 10_000_000).is_ok());
        assert!(take(&b, &l, t0 + 10_000_000).is_ok());
        assert!(take(&b, &l, t0 + 10_000_000).is_ok());
        assert!(
            take(&b, &l, t0 + 10_000_000).is_err(),
            "never more than burst + 1 at once"
        );
    }

    #[test]
    fn retry_after_counts_whole_seconds_up() {
        let l = limit(0, 90_000);
        let b = AtomicU64::new(0);
        assert!(take(&b, &l, 0).is_ok());
        assert_eq!(take(&b, &l, 0), Err(90));
        assert_eq!(take(&b, &l, 89_500_000), Err(1));
    }

    #[test]
    fn concurrent_takers_never_exceed_the_bucket() {
        let l = Arc::new(limit(9, 60_000));
        let b = Arc::new(AtomicU64::new(0));
        let handles: Vec<_> = (0..8)
            .map(|_| {
                let (l, b) = (l.clone(), b.clone());
                std::thread::spawn(move || (0..100).filter(|_| take(&b, &l, 5).is_ok()).count())
            })
            .collect();
        let allowed: usize = handles.into_iter().map(|h| h.join().unwrap_or(0)).sum();
        assert_eq!(allowed, 10);
    }
}
