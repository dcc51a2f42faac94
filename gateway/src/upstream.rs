//! Sites as the engine sees them: their targets, each with its keep-alive connections
//! ([`pool`]), and their failure state. Compiled sites survive configuration swaps when the
//! site's definition is unchanged, so pools stay warm.

pub mod pool;
pub mod trust;

use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use bytes::Bytes;
use gatehouse_model::objects::{LoadBalancingType, Site};
use gatehouse_model::validate::split_target;
use gatehouse_model::ConfigDocument;
use http::HeaderValue;
use http_body_util::combinators::UnsyncBoxBody;
use http_body_util::{BodyExt, Empty};
use smallvec::SmallVec;
use tokio_rustls::TlsConnector;

pub use pool::{Endpoint, PoolError, PoolSettings, PooledBody, SendError};
pub use trust::TrustError;

/// Boxed error of bodies crossing the gateway.
pub type BoxError = Box<dyn std::error::Error + Send + Sync>;

/// Body type of every request and response the gateway handles.
pub type GatewayBody = UnsyncBoxBody<Bytes, BoxError>;

/// An empty body.
pub fn empty_body() -> GatewayBody {
    Empty::new().map_err(|never| match never {}).boxed_unsync()
}

/// One `host:port` of a site.
#[derive(Debug)]
pub struct Target {
    /// `host:port` for the request URI.
    pub authority: String,
    /// Value of `Host` when `useTargetHostHeader`.
    pub host_header: HeaderValue,
    /// Value of `Host` when the client sent none: the target without the scheme's default port.
    pub default_host: HeaderValue,
    /// The target's keep-alive connections.
    pub endpoint: Arc<Endpoint>,
    down_until_ms: AtomicU64,
}

/// A compiled site: definition, targets and their connection pools.
#[derive(Debug)]
pub struct SiteClient {
    /// Definition it was built from.
    pub def: Site,
    /// Targets in configured order.
    pub targets: Vec<Target>,
    /// `https` or `http`.
    pub scheme: &'static str,
    trust_key: String,
    next: AtomicUsize,
}

fn now_ms() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| u64::try_from(d.as_millis()).unwrap_or(u64::MAX))
}

// === impl Target ===

impl Target {
    fn new(authority: &str, secure: bool, settings: &PoolSettings) -> Option<Self> {
        let (host, port) = split_target(authority)?;
        let default_port = if secure { 443 } else { 80 };
        let default_host = if port == default_port {
            authority.rsplit_once(':').map_or(authority, |(h, _)| h)
        } else {
            authority
        };
        Some(Self {
            authority: authority.to_string(),
            host_header: HeaderValue::from_str(authority).ok()?,
            default_host: HeaderValue::from_str(default_host).ok()?,
            endpoint: Arc::new(Endpoint::new(authority, host, settings.clone())),
            down_until_ms: AtomicU64::new(0),
        })
    }

    /// True while the target is skipped after a failure.
    pub fn is_down(&self) -> bool {
        self.down_until_ms.load(Ordering::Relaxed) > now_ms()
    }

    /// Skips the target for `seconds`.
    pub fn mark_down(&self, seconds: u64) {
        self.down_until_ms.store(
            now_ms().saturating_add(seconds.saturating_mul(1000)),
            Ordering::Relaxed,
        );
    }

    /// Clears a failure mark after a success.
    pub fn mark_up(&self) {
        if self.down_until_ms.load(Ordering::Relaxed) != 0 {
            self.down_until_ms.store(0, Ordering::Relaxed);
        }
    }
}

// === impl SiteClient ===

impl SiteClient {
    /// Builds the client of a site.
    pub fn build(doc: &ConfigDocument, site: &Site) -> Result<Self, TrustError> {
        let tls = trust::client_config(doc, site)?;
        let settings = PoolSettings {
            tls: site.secure.then(|| TlsConnector::from(Arc::new(tls))),
            connect_timeout: Duration::from_millis(site.availability.connect_timeout),
            idle_timeout: match site.keep_alive_timeout {
                0 => Duration::from_secs(90),
                ms => Duration::from_millis(ms),
            },
            max_idle: usize::try_from(site.max_connections).unwrap_or(usize::MAX),
        };
        let targets = site
            .targets
            .iter()
            .filter_map(|t| Target::new(t, site.secure, &settings))
            .collect();
        Ok(Self {
            def: site.clone(),
            targets,
            scheme: if site.secure { "https" } else { "http" },
            trust_key: trust_key(doc, site),
            next: AtomicUsize::new(0),
        })
    }

    /// True when this client can serve `site` unchanged (same definition and trust material).
    pub fn serves(&self, doc: &ConfigDocument, site: &Site) -> bool {
        self.def == *site && self.trust_key == trust_key(doc, site)
    }

    /// Targets in the order to try them: available ones first (rotated for round robin), then
    /// the ones marked down, as a last resort.
    pub fn attempt_order(&self) -> SmallVec<[&Target; 4]> {
        let n = self.targets.len();
        let start = match self.def.load_balancing_strategy.kind {
            LoadBalancingType::RoundRobin if n > 0 => self.next.fetch_add(1, Ordering::Relaxed) % n,
            _ => 0,
        };
        let rotated = || (0..n).map(move |i| &self.targets[(start + i) % n]);
        let down: SmallVec<[bool; 4]> = rotated().map(Target::is_down).collect();
        let up_first = rotated().zip(&down).filter(|(_, d)| !**d);
        let then_down = rotated().zip(&down).filter(|(_, d)| **d);
        up_first.chain(then_down).map(|(t, _)| t).collect()
    }
}

/// Everything outside the site object that its TLS depends on.
fn trust_key(doc: &ConfigDocument, site: &Site) -> String {
    let group = doc
        .trusted_certificate_groups
        .iter()
        .find(|g| g.id == site.trusted_certificate_group_id);
    let certs: Vec<&str> = group
        .map(|g| {
            g.cert_ids
                .iter()
                .filter_map(|id| doc.certificates.iter().find(|c| c.id == *id))
                .map(|c| c.file_data.as_str())
                .collect()
        })
        .unwrap_or_default();
    format!("{group:?}{certs:?}")
}
