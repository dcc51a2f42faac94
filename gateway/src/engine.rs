//! The engine's shared state: the snapshot handle, start-up settings, metrics and counters.
//! One `Arc<Engine>` is shared by every listener and request.

use std::sync::atomic::{AtomicI64, Ordering};
use std::sync::Arc;
use std::time::Instant;

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
    /// Minted identity JWTs.
    pub minted: crate::identity::MintCache,
    /// Rate-limiting buckets, kept across reloads.
    pub limiter: crate::policy::rate::RateLimiter,
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
            minted: crate::identity::MintCache::new(settings.minted_cache_entries),
            limiter: crate::policy::rate::RateLimiter::default(),
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
        snap
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
