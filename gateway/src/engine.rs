//! The engine's shared state: the snapshot handle, start-up settings, metrics and counters.
//! One `Arc<Engine>` is shared by every listener and request.

use std::sync::atomic::{AtomicI64, Ordering};
use std::sync::Arc;
use std::time::Instant;

use rustls::sign::CertifiedKey;

use crate::metrics::{AppMetrics, Metrics};
use crate::pipeline::ctx::RequestIds;
use crate::props::{PathSettings, RequestLimits, RunProperties};
use crate::snapshot::{Snapshot, SnapshotHandle};
use crate::stats::StatsWindow;

/// Settings the engine reads from run.properties.
#[derive(Debug, Clone, Copy)]
pub struct EngineSettings {
    /// Request limits.
    pub limits: RequestLimits,
    /// Path normalisation.
    pub paths: PathSettings,
    /// Detailed heartbeat.
    pub detailed_heartbeat: bool,
    /// WebSocket cap.
    pub websocket_max: Option<u64>,
    /// Capacity of the verified-token cache.
    pub token_cache_entries: u64,
    /// Capacity of the minted identity-JWT cache.
    pub minted_cache_entries: u64,
    /// Largest session cookie (chunk), `pa.default.session.cookie.size.threshold`.
    pub session_cookie_threshold: usize,
}

impl EngineSettings {
    /// From run.properties.
    pub fn from_props(p: &RunProperties) -> Self {
        Self {
            limits: p.limits,
            paths: p.paths,
            detailed_heartbeat: p.detailed_heartbeat,
            websocket_max: p.websocket_max,
            token_cache_entries: p.token_cache_entries,
            minted_cache_entries: p.minted_cache_entries,
            session_cookie_threshold: p
                .raw
                .get("pa.default.session.cookie.size.threshold")
                .and_then(|v| v.trim().parse().ok())
                .unwrap_or(4093),
        }
    }
}

/// Shared engine state.
#[derive(Debug)]
pub struct Engine {
    /// Current configuration.
    pub snapshots: SnapshotHandle,
    /// Start-up settings.
    pub settings: EngineSettings,
    /// Metrics.
    pub metrics: Metrics,
    /// Response statistics for the detailed heartbeat (when enabled).
    pub stats: Option<StatsWindow>,
    /// Request ids.
    pub ids: RequestIds,
    /// Open WebSockets.
    pub websockets: Arc<AtomicI64>,
    /// Process start.
    pub started: Instant,
    /// Metrics of requests answered without an application.
    pub gateway_metrics: AppMetrics,
    /// Verified bearer tokens, shared by every snapshot.
    pub tokens: crate::oauth::cache::TokenCache,
    /// Keys that sign JWT identity mappings (installed and rolled by the node).
    pub auth_tokens: arc_swap::ArcSwapOption<crate::authtoken::AuthTokenKeys>,
    /// Keys that sign client assertions to the provider (`private_key_jwt`), published at
    /// `/pa/oidc/JWKS`.
    pub oidc_client_keys: arc_swap::ArcSwapOption<crate::authtoken::AuthTokenKeys>,
    /// Keys of web-session cookies and login state (installed and rolled by the node).
    pub session_keys: arc_swap::ArcSwapOption<crate::websession::codec::SessionKeys>,
    /// Login states already used at the callback (single use), kept past their lifetime.
    pub used_login_states: moka::sync::Cache<String, ()>,
    /// Opened session cookies (the signature or tag checked once per cookie).
    pub verified_sessions: crate::websession::session::VerifiedSessions,
    /// User attributes kept engine-side (`cacheUserAttributes`), by session id.
    pub user_attributes: crate::websession::session::AttributeCache,
    /// Form posts kept across a login (`requestPreservationType`), by login state id.
    pub preserved_forms: crate::websession::login::PreservedForms,
    /// Minted identity JWTs.
    pub minted: crate::identity::MintCache,
    /// Rate-limiting buckets, kept across reloads.
    pub limiter: crate::policy::rate::RateLimiter,
    /// Certificates of the engine listeners: the listener's key pair, and virtual hosts' key
    /// pairs by SNI name.
    pub certs: Arc<crate::tls::CertResolver>,
    /// The node's key pairs (set by the node; virtual hosts name them by id).
    key_ring: arc_swap::ArcSwap<crate::tls::KeyRing>,
    /// Serialises recomputing the SNI map (config and key ring change independently).
    sni_update: std::sync::Mutex<()>,
}

// === impl Engine ===

impl Engine {
    /// A new engine with no configuration.
    pub fn new(settings: EngineSettings, statistics_window: u64) -> Arc<Self> {
        let metrics = Metrics::default();
        let tokens = crate::oauth::cache::TokenCache::new(
            settings.token_cache_entries,
            metrics.token_cache.clone(),
        );
        Arc::new(Self {
            tokens,
            auth_tokens: arc_swap::ArcSwapOption::empty(),
            session_keys: arc_swap::ArcSwapOption::empty(),
            oidc_client_keys: arc_swap::ArcSwapOption::empty(),
            verified_sessions: moka::sync::Cache::builder()
                .max_capacity(settings.token_cache_entries)
                .time_to_live(std::time::Duration::from_secs(600))
                .build(),
            user_attributes: moka::sync::Cache::builder()
                .max_capacity(1_000_000)
                .time_to_idle(std::time::Duration::from_secs(24 * 3600))
                .build(),
            preserved_forms: moka::sync::Cache::builder()
                .max_capacity(10_000)
                .time_to_live(std::time::Duration::from_secs(3600))
                .build(),
            used_login_states: moka::sync::Cache::builder()
                .max_capacity(1_000_000)
                .time_to_live(std::time::Duration::from_secs(3600))
                .build(),
            minted: crate::identity::MintCache::new(settings.minted_cache_entries),
            limiter: crate::policy::rate::RateLimiter::default(),
            certs: Arc::new(crate::tls::CertResolver::empty()),
            key_ring: arc_swap::ArcSwap::default(),
            sni_update: std::sync::Mutex::new(()),
            snapshots: SnapshotHandle::default(),
            settings,
            gateway_metrics: metrics.app("-"),
            metrics,
            stats: (statistics_window > 0).then(|| StatsWindow::new(statistics_window)),
            ids: RequestIds::default(),
            websockets: Arc::new(AtomicI64::new(0)),
            started: Instant::now(),
        })
    }

    /// Compiles and swaps in a configuration; on error nothing changes.
    pub fn apply(
        &self,
        doc: gatehouse_model::ConfigDocument,
        revision: u64,
    ) -> Result<Arc<Snapshot>, gatehouse_model::Problems> {
        let compiled = self.compile(doc)?;
        Ok(self.install(compiled, revision))
    }

    /// Compiles a configuration against the current snapshot (unchanged site pools reused,
    /// metric handles attached) without installing it: callers that must store a document
    /// before it serves (the admin API) compile once, store, then [`Engine::install`].
    pub fn compile(
        &self,
        doc: gatehouse_model::ConfigDocument,
    ) -> Result<Snapshot, gatehouse_model::Problems> {
        let previous = self.snapshots.load();
        crate::snapshot::compile(doc, 0, previous.as_deref(), Some(&self.metrics))
    }

    /// Swaps in a compiled snapshot as `revision`.
    pub fn install(&self, mut snapshot: Snapshot, revision: u64) -> Arc<Snapshot> {
        snapshot.revision = revision;
        let snap = self.snapshots.install(snapshot);
        self.metrics
            .config_revision
            .set(i64::try_from(revision).unwrap_or(i64::MAX));
        let loaded = snap
            .loaded_at
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| i64::try_from(d.as_secs()).unwrap_or(0));
        self.metrics.config_loaded.set(loaded);
        tracing::info!(
            revision,
            applications = snap.routes.app_count(),
            "configuration applied"
        );
        self.refresh_sni();
        snap
    }

    /// Installs the node's key pairs and the engine listeners' own one (`listener`); new TLS
    /// handshakes see them at once, no socket is rebound.
    pub fn set_key_pairs(&self, ring: crate::tls::KeyRing, listener: Arc<CertifiedKey>) {
        self.certs.set_default(listener);
        self.key_ring.store(Arc::new(ring));
        self.refresh_sni();
    }

    /// Rebuilds the SNI map from the virtual hosts' `keyPairId`s and the key ring.
    fn refresh_sni(&self) {
        let _serial = self
            .sni_update
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        let ring = self.key_ring.load();
        let mut names = std::collections::HashMap::new();
        if let Some(snap) = self.snapshots.load() {
            for vh in &snap.doc.virtual_hosts {
                if vh.key_pair_id == 0 || vh.host == "*" {
                    continue;
                }
                match ring.get(&vh.key_pair_id) {
                    Some(key) => {
                        names
                            .entry(vh.host.to_ascii_lowercase())
                            .or_insert_with(|| key.clone());
                    }
                    None if !ring.is_empty() => tracing::warn!(
                        virtual_host = %vh.host,
                        key_pair = vh.key_pair_id,
                        "virtual host names a key pair that does not exist; \
                         the listener's certificate is served"
                    ),
                    None => {}
                }
            }
        }
        self.certs.set_names(names);
    }

    /// Open client connections.
    pub fn open_connections(&self) -> i64 {
        self.metrics.connections.get()
    }

    /// Counts a WebSocket in; `false` when the cap is reached.
    pub fn websocket_enter(&self) -> bool {
        let n = self.websockets.fetch_add(1, Ordering::Relaxed) + 1;
        match self.settings.websocket_max {
            Some(max) if u64::try_from(n).unwrap_or(0) > max => {
                self.websockets.fetch_sub(1, Ordering::Relaxed);
                false
            }
            _ => true,
        }
    }

    /// The WebSocket counter, for tunnels that outlive the request.
    pub fn websockets_handle(&self) -> Arc<AtomicI64> {
        self.websockets.clone()
    }

    /// Counts a WebSocket out.
    pub fn websocket_leave(&self) {
        self.websockets.fetch_sub(1, Ordering::Relaxed);
    }
}
