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

/// Runs the engine listeners of the current configuration until `stop`, then drains them.
/// Fails only if a listener of the first configuration cannot be bound.
pub async fn supervise(
    engine: Arc<Engine>,
    settings: EngineListenerSettings,
    mut stop: watch::Receiver<bool>,
) -> Result<JoinHandle<()>, ListenerError> {
    let mut running: HashMap<(u16, bool), Running> = HashMap::new();
    let mut changes = engine.snapshots.subscribe();
    reconcile(&engine, &settings, &mut running).await?;
    Ok(tokio::spawn(async move {
        loop {
            tokio::select! {
                r = changes.changed() => {
                    if r.is_err() { break; }
                    if let Err(e) = reconcile(&engine, &settings, &mut running).await {
                        tracing::error!("engine listener: {e}");
                    }
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

async fn reconcile(
    engine: &Arc<Engine>,
    settings: &EngineListenerSettings,
    running: &mut HashMap<(u16, bool), Running>,
) -> Result<(), ListenerError> {
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
    for key in stale {
        if let Some(r) = running.remove(&key) {
            tracing::info!(port = key.0, "engine listener removed; draining");
            r.stop.send_replace(true);
            let _ = r.task.await;
        }
    }
    for key in wanted {
        if running.contains_key(&key) {
            continue;
        }
        let addr = SocketAddr::new(settings.bind, key.0);
        let tcp = listener::bind(addr).await?;
        tracing::info!(%addr, secure = key.1, "engine listener started");
        let (tx, rx) = watch::channel(false);
        let opts = ServeOptions {
            tls: key.1.then(|| settings.tls.clone()),
            limits: engine.settings.limits,
            grace: settings.grace,
            engine: Some(engine.clone()),
        };
        let handler = listener::engine_handler(engine.clone());
        let task = tokio::spawn(listener::serve(tcp, handler, opts, rx));
        running.insert(key, Running { stop: tx, task });
    }
    Ok(())
}
