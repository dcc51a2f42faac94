//! Engine listeners follow the configuration: listeners added to the configuration are bound,
//! removed ones drain and close; unchanged ones are never rebound.

use std::collections::HashMap;
use std::net::{IpAddr, SocketAddr};
use std::sync::Arc;
use std::time::Duration;

use rustls::ServerConfig;
use tokio::sync::watch;
use tokio::task::JoinHandle;

use crate::engine::Engine;
use crate::listener::{self, ListenerError, ServeOptions};

struct Running {
    stop: watch::Sender<bool>,
    task: JoinHandle<()>,
}

/// Settings shared by every engine listener.
#[derive(Clone)]
pub struct EngineListenerSettings {
    /// Bind address (`engine.http.bindAddress`).
    pub bind: IpAddr,
    /// TLS for secure listeners.
    pub tls: Arc<ServerConfig>,
    /// Drain time at shutdown.
    pub grace: Duration,
}

/// How often a listener that could not be bound is tried again.
const REBIND_EVERY: Duration = Duration::from_secs(5);

/// Runs the engine listeners of the current configuration until `stop`, then drains them.
/// Fails only if a listener of the first configuration cannot be bound. After a configuration
/// change, a listener that cannot be bound is logged and tried again every few seconds; the
/// other listeners are not affected.
pub async fn supervise(
    engine: Arc<Engine>,
    settings: EngineListenerSettings,
    mut stop: watch::Receiver<bool>,
) -> Result<JoinHandle<()>, ListenerError> {
    let mut running: HashMap<(u16, bool), Running> = HashMap::new();
    let mut changes = engine.snapshots.subscribe();
    if let Some(e) = reconcile(&engine, &settings, &mut running)
        .await
        .into_iter()
        .next()
    {
        return Err(e);
    }
    Ok(tokio::spawn(async move {
        let mut retry = tokio::time::interval(REBIND_EVERY);
        retry.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        let mut missing = false;
        loop {
            tokio::select! {
                r = changes.changed() => {
                    if r.is_err() { break; }
                    missing = !reconcile(&engine, &settings, &mut running).await.is_empty();
                }
                _ = retry.tick(), if missing => {
                    missing = !reconcile(&engine, &settings, &mut running).await.is_empty();
                }
                _ = listener::stopped(&mut stop) => break,
            }
        }
        for (_, r) in running.drain() {
            r.stop.send_replace(true);
            let _ = r.task.await;
        }
    }))
}

/// Brings the running listeners in line with the configuration; returns the bind failures
/// (each already logged).
async fn reconcile(
    engine: &Arc<Engine>,
    settings: &EngineListenerSettings,
    running: &mut HashMap<(u16, bool), Running>,
) -> Vec<ListenerError> {
    let wanted: Vec<(u16, bool)> = engine
        .snapshots
        .load()
        .map(|s| {
            s.doc
                .engine_listeners
                .iter()
                .map(|l| (l.port, l.secure))
                .collect()
        })
        .unwrap_or_default();
    let stale: Vec<(u16, bool)> = running
        .keys()
        .filter(|k| !wanted.contains(k))
        .copied()
        .collect();
    let mut draining = Vec::new();
    for key in stale {
        if let Some(r) = running.remove(&key) {
            tracing::info!(port = key.0, "engine listener removed; draining");
            r.stop.send_replace(true);
            // A listener that changes only `secure` keeps its port: the old one must be gone
            // before the new one binds. Others drain in the background.
            if wanted.iter().any(|w| w.0 == key.0) {
                let _ = r.task.await;
            } else {
                draining.push(r.task);
            }
        }
    }
    if !draining.is_empty() {
        tokio::spawn(futures_util::future::join_all(draining));
    }
    let mut failures = Vec::new();
    for key in wanted {
        if running.contains_key(&key) {
            continue;
        }
        match start(engine, settings, key).await {
            Ok(r) => {
                running.insert(key, r);
            }
            Err(e) => {
                tracing::error!(port = key.0, "engine listener not started: {e}");
                failures.push(e);
            }
        }
    }
    failures
}

async fn start(
    engine: &Arc<Engine>,
    settings: &EngineListenerSettings,
    (port, secure): (u16, bool),
) -> Result<Running, ListenerError> {
    let addr = SocketAddr::new(settings.bind, port);
    let tcp = listener::bind(addr).await?;
    tracing::info!(%addr, secure, "engine listener started");
    let (tx, rx) = watch::channel(false);
    let opts = ServeOptions {
        tls: secure.then(|| settings.tls.clone()),
        limits: engine.settings.limits,
        grace: settings.grace,
        engine: Some(engine.clone()),
    };
    let handler = listener::engine_handler(engine.clone());
    let task = tokio::spawn(listener::serve(tcp, handler, opts, rx));
    Ok(Running { stop: tx, task })
}
