//! Prometheus metrics (served on `management.port`). Hot-path updates are plain atomics: per
//! application handles are resolved when a snapshot is compiled, not per request.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

use prometheus_client::encoding::{EncodeLabelSet, EncodeMetric, MetricEncoder, NoLabelSet};
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::{MetricType, TypedMetric};
use prometheus_client::registry::Registry;

/// Upper bounds (seconds) of latency buckets.
const BOUNDS: [f64; 14] = [
    0.000_5, 0.001, 0.002_5, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0,
];

/// A histogram updated with atomics only.
#[derive(Debug, Default)]
pub struct AtomicHistogram {
    buckets: [AtomicU64; BOUNDS.len() + 1],
    count: AtomicU64,
    sum_micros: AtomicU64,
}

impl AtomicHistogram {
    /// Records one duration.
    pub fn observe(&self, d: Duration) {
        let secs = d.as_secs_f64();
        let i = BOUNDS
            .iter()
            .position(|b| secs <= *b)
            .unwrap_or(BOUNDS.len());
        self.buckets[i].fetch_add(1, Ordering::Relaxed);
        self.count.fetch_add(1, Ordering::Relaxed);
        let micros = u64::try_from(d.as_micros()).unwrap_or(u64::MAX);
        self.sum_micros.fetch_add(micros, Ordering::Relaxed);
    }
}

/// A shared [`AtomicHistogram`] (what metric families hold).
#[derive(Debug, Clone, Default)]
pub struct SharedHistogram(Arc<AtomicHistogram>);

impl SharedHistogram {
    /// Records one duration.
    pub fn observe(&self, d: Duration) {
        self.0.observe(d);
    }
}

impl TypedMetric for SharedHistogram {
    const TYPE: MetricType = MetricType::Histogram;
}

impl EncodeMetric for SharedHistogram {
    fn encode(&self, encoder: MetricEncoder<'_>) -> Result<(), std::fmt::Error> {
        self.0.encode(encoder)
    }

    fn metric_type(&self) -> MetricType {
        MetricType::Histogram
    }
}

impl AtomicHistogram {
    fn encode(&self, mut encoder: MetricEncoder<'_>) -> Result<(), std::fmt::Error> {
        let mut buckets: Vec<(f64, u64)> = BOUNDS
            .iter()
            .zip(&self.buckets)
            .map(|(b, c)| (*b, c.load(Ordering::Relaxed)))
            .collect();
        buckets.push((f64::MAX, self.buckets[BOUNDS.len()].load(Ordering::Relaxed)));
        let sum = self.sum_micros.load(Ordering::Relaxed) as f64 / 1e6;
        encoder.encode_histogram::<NoLabelSet>(
            sum,
            self.count.load(Ordering::Relaxed),
            &buckets,
            None,
        )
    }
}

/// Labels of per-application series.
#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct AppLabels {
    /// Application name (`-` for gateway-answered requests).
    pub application: String,
    /// Status class, `2xx` … `5xx`.
    pub status: &'static str,
}

/// Labels of per-application latency.
#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct AppOnly {
    /// Application name.
    pub application: String,
}

/// Counters and histograms of one application, resolved once per snapshot.
#[derive(Debug, Clone)]
pub struct AppMetrics {
    by_class: [Counter; 5],
    latency: SharedHistogram,
    upstream: SharedHistogram,
}

impl AppMetrics {
    /// Handles registered nowhere (for snapshots compiled only to validate).
    pub fn detached() -> Self {
        Self {
            by_class: Default::default(),
            latency: SharedHistogram::default(),
            upstream: SharedHistogram::default(),
        }
    }

    /// Records a finished request.
    pub fn record(&self, status: u16, total: Duration, upstream: Option<Duration>) {
        let class = usize::from(status / 100).clamp(1, 5) - 1;
        self.by_class[class].inc();
        self.latency.observe(total);
        if let Some(u) = upstream {
            self.upstream.observe(u);
        }
    }
}

/// All engine metrics.
#[derive(Debug)]
pub struct Metrics {
    registry: Registry,
    requests: Family<AppLabels, Counter>,
    latency: Family<AppOnly, SharedHistogram>,
    upstream: Family<AppOnly, SharedHistogram>,
    /// Open client connections.
    pub connections: Gauge,
    /// Revision of the configuration in force.
    pub config_revision: Gauge,
    /// When it was applied (Unix seconds).
    pub config_loaded: Gauge,
    /// Verified-token cache hits and misses.
    pub token_cache: Arc<crate::oauth::cache::CacheCounters>,
    /// JWKS fetches.
    pub jwks: Arc<crate::oauth::jwks::JwksCounters>,
    /// Cluster link (console and engine side).
    pub cluster: Arc<ClusterCounters>,
}

/// Counters of the cluster link: an engine counts its polls, failures, applied and refused
/// snapshots and how long a snapshot took from the console's publication to being applied; a
/// console counts the polls it served, the tokens it refused and the snapshots it published.
#[derive(Debug)]
pub struct ClusterCounters {
    /// Polls (engine: made; console: answered).
    pub polls: Counter,
    /// Failed polls (engine).
    pub poll_failures: Counter,
    /// Snapshots applied (engine).
    pub applied: Counter,
    /// Snapshots refused (engine).
    pub refused: Counter,
    /// Engine requests refused for their token (console).
    pub token_refusals: Counter,
    /// Snapshots published (console).
    pub published: Counter,
    /// From publication on the console to applied on the engine (engine; clocks assumed in step).
    pub propagation: prometheus_client::metrics::histogram::Histogram,
}

impl Default for ClusterCounters {
    fn default() -> Self {
        Self {
            polls: Counter::default(),
            poll_failures: Counter::default(),
            applied: Counter::default(),
            refused: Counter::default(),
            token_refusals: Counter::default(),
            published: Counter::default(),
            propagation: prometheus_client::metrics::histogram::Histogram::new(
                prometheus_client::metrics::histogram::exponential_buckets(0.002, 2.0, 14),
            ),
        }
    }
}

const CLASSES: [&str; 5] = ["1xx", "2xx", "3xx", "4xx", "5xx"];

impl Default for Metrics {
    fn default() -> Self {
        let mut registry = Registry::with_prefix("gatehouse");
        let requests = Family::<AppLabels, Counter>::default();
        let latency = Family::<AppOnly, SharedHistogram>::default();
        let upstream = Family::<AppOnly, SharedHistogram>::default();
        let connections = Gauge::default();
        let config_revision = Gauge::default();
        let config_loaded = Gauge::default();
        registry.register(
            "requests",
            "Requests by application and status class",
            requests.clone(),
        );
        registry.register(
            "request_duration_seconds",
            "Total request time",
            latency.clone(),
        );
        registry.register(
            "upstream_duration_seconds",
            "Time waiting for the backend",
            upstream.clone(),
        );
        registry.register(
            "open_connections",
            "Open client connections",
            connections.clone(),
        );
        registry.register(
            "config_revision",
            "Configuration revision in force",
            config_revision.clone(),
        );
        registry.register(
            "config_loaded_timestamp_seconds",
            "When the configuration was applied",
            config_loaded.clone(),
        );
        let token_cache = Arc::new(crate::oauth::cache::CacheCounters::default());
        let jwks = Arc::new(crate::oauth::jwks::JwksCounters::default());
        registry.register(
            "token_cache_hits",
            "Bearer tokens answered from the verified-token cache",
            token_cache.hits.clone(),
        );
        registry.register(
            "token_cache_misses",
            "Bearer tokens that had to be verified",
            token_cache.misses.clone(),
        );
        registry.register(
            "jwks_fetches",
            "Successful JWKS fetches",
            jwks.fetched.clone(),
        );
        registry.register(
            "jwks_fetch_failures",
            "Failed JWKS fetches",
            jwks.failed.clone(),
        );
        let cluster = Arc::new(ClusterCounters::default());
        for (name, help, counter) in [
            (
                "cluster_polls",
                "Cluster long-polls (engine: made; console: answered)",
                &cluster.polls,
            ),
            (
                "cluster_poll_failures",
                "Failed cluster polls (engine)",
                &cluster.poll_failures,
            ),
            (
                "cluster_snapshots_applied",
                "Cluster snapshots applied (engine)",
                &cluster.applied,
            ),
            (
                "cluster_snapshots_refused",
                "Cluster snapshots refused (engine)",
                &cluster.refused,
            ),
            (
                "cluster_token_refusals",
                "Engine requests refused for their token (console)",
                &cluster.token_refusals,
            ),
            (
                "cluster_snapshots_published",
                "Cluster snapshots published (console)",
                &cluster.published,
            ),
        ] {
            registry.register(name, help, counter.clone());
        }
        registry.register(
            "cluster_propagation_seconds",
            "From publication on the console to applied on this engine",
            cluster.propagation.clone(),
        );
        Self {
            cluster,
            registry,
            requests,
            latency,
            upstream,
            connections,
            config_revision,
            config_loaded,
            token_cache,
            jwks,
        }
    }
}

impl Metrics {
    /// Handles for one application (`-` for requests the gateway answers itself).
    pub fn app(&self, application: &str) -> AppMetrics {
        let counter = |status: &'static str| {
            self.requests
                .get_or_create(&AppLabels {
                    application: application.to_string(),
                    status,
                })
                .clone()
        };
        let only = AppOnly {
            application: application.to_string(),
        };
        AppMetrics {
            by_class: CLASSES.map(counter),
            latency: self.latency.get_or_create(&only).clone(),
            upstream: self.upstream.get_or_create(&only).clone(),
        }
    }

    /// The text exposition.
    pub fn render(&self) -> String {
        let mut out = String::new();
        if prometheus_client::encoding::text::encode(&mut out, &self.registry).is_err() {
            out.clear();
        }
        out
    }
}
