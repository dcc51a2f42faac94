//! The console's side of a config-query certificate rotation (SPEC §7, docs/cluster.md). A new
//! key pair assigned to `CONFIG QUERY` opens a window: the config-query listener serves the new
//! certificate to new handshakes at once, snapshots name both fingerprints, and the previous
//! certificate stays served on `clusterconfig.temp.rotation.port`, where an engine that missed
//! the change (its connection dropped) asks `GET /engines/rest/config-query-certificate` for the
//! new one. The window closes when every engine with a bootstrap reported trusting the new
//! certificate, or after `cert.rotation.transition.window.ttl.seconds`; it is kept in the store,
//! so a console restart resumes it.

use std::net::{IpAddr, SocketAddr};
use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use gatehouse_gateway::listener::{self, ServeOptions};
use gatehouse_gateway::props::RequestLimits;
use gatehouse_gateway::tls::{CertResolver, TlsError};
use gatehouse_gateway::upstream::GatewayBody;
use http::{HeaderValue, Request, Response, StatusCode};
use hyper::body::Incoming;
use tokio::sync::watch;
use tokio::task::JoinHandle;

use super::console::{response, Console, ConsoleError};
use super::wire::{RotatedCertificate, TRUSTED_HEADER};
use crate::api::keypairs::fingerprint_of;
use crate::store::now_ms;

/// Where engines ask for the certificate served now.
pub const CERTIFICATE_PATH: &str = "/engines/rest/config-query-certificate";
/// Retry delay when the rotation port cannot be opened.
const RETRY: Duration = Duration::from_secs(5);

/// How config-query listeners (the main one and the rotation port) are served.
#[derive(Debug, Clone)]
pub struct ListenOptions {
    /// `clusterconfig.bindAddress`.
    pub bind: IpAddr,
    /// `clusterconfig.ssl.protocols`.
    pub protocols: String,
    /// HTTP request limits.
    pub limits: RequestLimits,
}

impl ListenOptions {
    /// Serving options with `resolver`'s certificate.
    pub fn serve_options(&self, resolver: Arc<CertResolver>) -> Result<ServeOptions, TlsError> {
        Ok(ServeOptions {
            tls: Some(gatehouse_gateway::tls::server_config(
                resolver,
                &self.protocols,
                false,
            )?),
            limits: self.limits,
            grace: Duration::from_secs(5),
            engine: None,
        })
    }
}

/// The rotation port's listener and the key pair it serves.
#[derive(Debug)]
pub struct TempListener {
    key_pair_id: u64,
    stop: watch::Sender<bool>,
    task: JoinHandle<()>,
}

// === impl Console ===

impl Console {
    /// Keeps the config-query listeners in line with the store: on every `CONFIG QUERY` change
    /// and engine confirmation, and when an open window ends.
    pub fn keep_rotated(self: &Arc<Self>, mut stop: watch::Receiver<bool>) -> JoinHandle<()> {
        let me = self.clone();
        tokio::spawn(async move {
            loop {
                let next = me.sync_rotation().await.unwrap_or_else(|e| {
                    tracing::error!(error = %e, "config-query certificate rotation failed; retrying");
                    Some(now_ms().saturating_add(millis(RETRY)))
                });
                let wait = next.map_or(Duration::from_secs(24 * 3600), |at| {
                    Duration::from_millis(u64::try_from(at.saturating_sub(now_ms())).unwrap_or(0))
                });
                tokio::select! {
                    () = me.settings.config_query_changed.notified() => {}
                    () = tokio::time::sleep(wait) => {}
                    () = listener::stopped(&mut stop) => {
                        me.stop_temp().await;
                        return;
                    }
                }
            }
        })
    }

    /// One look at the store: serves the current `CONFIG QUERY` key pair, opens the rotation
    /// port or closes the window. Returns when to look again (Unix ms) while a window is open.
    async fn sync_rotation(self: &Arc<Self>) -> Result<Option<i64>, ConsoleError> {
        let (current, open) = {
            let s = self.store.lock().map_err(|_| ConsoleError::Lock)?;
            (s.listener_key_pair("CONFIG QUERY")?, s.rotation()?)
        };
        let Some(current) = current else {
            return Ok(None);
        };
        let before = self.serving_key_pair.swap(current.id, Ordering::AcqRel);
        if before != current.id {
            let key = gatehouse_gateway::tls::certified_key(
                &current.pair.cert_pem,
                &current.pair.key_pem,
            )?;
            self.config_query.set_default(key);
            if before != 0 {
                tracing::info!(
                    key_pair = current.id,
                    "config-query listener serves a new certificate"
                );
            }
        }
        let Some(open) = open else {
            self.stop_temp().await;
            return Ok(None);
        };
        let pending = match fingerprint_of(&current.pair.cert_pem) {
            Some(fp) => {
                let s = self.store.lock().map_err(|_| ConsoleError::Lock)?;
                s.engines_not_trusting(&fp)?
            }
            None => Vec::new(),
        };
        let now = now_ms();
        if pending.is_empty() || now >= open.ends_at {
            self.store
                .lock()
                .map_err(|_| ConsoleError::Lock)?
                .end_rotation()?;
            if pending.is_empty() {
                tracing::info!("config-query certificate rotation complete: every engine trusts the new certificate");
            } else {
                let names: Vec<&str> = pending.iter().map(|(_, n)| n.as_str()).collect();
                tracing::warn!(engines = %names.join(", "), "config-query certificate rotation window ended before these engines confirmed: give them a new bootstrap file");
            }
            self.stop_temp().await;
            self.republish()?;
            return Ok(None);
        }
        let serving = self.ensure_temp(open.old_key_pair_id).await;
        self.republish()?;
        Ok(Some(match serving {
            Ok(()) => open.ends_at,
            Err(e) => {
                tracing::error!(error = %e, port = self.settings.rotation_port, "cannot serve the previous config-query certificate on the rotation port");
                open.ends_at.min(now.saturating_add(millis(RETRY)))
            }
        }))
    }

    /// Serves key pair `old` on the rotation port (unless it already does).
    async fn ensure_temp(self: &Arc<Self>, old: u64) -> Result<(), String> {
        let mut temp = self.temp.lock().await;
        if temp
            .as_ref()
            .is_some_and(|t| t.key_pair_id == old && !t.task.is_finished())
        {
            return Ok(());
        }
        if let Some(previous) = temp.take() {
            previous.stop.send_replace(true);
        }
        let pair = self
            .store
            .lock()
            .map_err(|_| "store unavailable".to_string())?
            .key_pair(old)
            .map_err(|e| e.to_string())?
            .ok_or_else(|| format!("key pair {old} is gone"))?;
        let key = gatehouse_gateway::tls::certified_key(&pair.pair.cert_pem, &pair.pair.key_pem)
            .map_err(|e| e.to_string())?;
        let opts = self
            .listen
            .serve_options(CertResolver::new(key))
            .map_err(|e| e.to_string())?;
        let addr = SocketAddr::new(self.listen.bind, self.settings.rotation_port);
        let tcp = listener::bind(addr).await.map_err(|e| e.to_string())?;
        let (stop, stopped) = watch::channel(false);
        let task = tokio::spawn(listener::serve(tcp, self.handler(true), opts, stopped));
        tracing::info!(%addr, key_pair = old, "rotation port serves the previous config-query certificate");
        *temp = Some(TempListener {
            key_pair_id: old,
            stop,
            task,
        });
        Ok(())
    }

    async fn stop_temp(&self) {
        if let Some(temp) = self.temp.lock().await.take() {
            temp.stop.send_replace(true);
            tracing::info!(port = self.settings.rotation_port, "rotation port closed");
        }
    }

    /// `GET /engines/rest/config-query-certificate`: the certificate the config-query listener
    /// serves now, while a window is open (else `404`).
    pub(super) fn rotated_certificate(
        &self,
        engine: u64,
        req: &Request<Incoming>,
    ) -> Response<GatewayBody> {
        let trusted = req
            .headers()
            .get(TRUSTED_HEADER)
            .and_then(|v| v.to_str().ok())
            .unwrap_or_default();
        tracing::info!(
            engine,
            trusted,
            "engine asked for the config-query certificate"
        );
        let found = self
            .store
            .lock()
            .map_err(|_| ConsoleError::Lock)
            .and_then(|s| Ok((s.rotation()?, s.listener_key_pair("CONFIG QUERY")?)));
        let answer = match found {
            Ok((Some(open), Some(current))) => {
                fingerprint_of(&current.pair.cert_pem).map(|fp| RotatedCertificate {
                    fingerprint: fp,
                    certificate_pem: current.pair.cert_pem,
                    window_ends_at: open.ends_at,
                })
            }
            Ok(_) => None,
            Err(e) => {
                tracing::error!(error = %e, "cannot read the rotation");
                return response(StatusCode::INTERNAL_SERVER_ERROR, Bytes::new());
            }
        };
        let Some(body) = answer.and_then(|a| serde_json::to_vec(&a).ok()) else {
            return response(StatusCode::NOT_FOUND, Bytes::new());
        };
        let mut resp = response(StatusCode::OK, Bytes::from(body));
        resp.headers_mut().insert(
            http::header::CONTENT_TYPE,
            HeaderValue::from_static("application/json"),
        );
        resp
    }
}

fn millis(d: Duration) -> i64 {
    i64::try_from(d.as_millis()).unwrap_or(i64::MAX)
}
