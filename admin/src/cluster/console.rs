//! The console's config-query listener (`clusterconfig.port`, TLS with the `CONFIG QUERY` key
//! pair): `GET /engines/rest/config?have=<digest>` long-polls for the snapshot (answered at once
//! when the engine's digest is not the current one, else when it changes or after
//! `engine.polling.delay` with `204`), `POST /engines/rest/report` records what the engine
//! applied, `GET /engines/rest/config-query-certificate` names the certificate served now
//! (during a rotation, see [`super::rotation`]). Every request carries the engine's poll token.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use arc_swap::ArcSwap;
use base64::Engine as _;
use bytes::Bytes;
use gatehouse_gateway::engine::Engine;
use gatehouse_gateway::listener::{self, Handler, ServeOptions};
use gatehouse_gateway::pipeline::ctx::ConnInfo;
use gatehouse_gateway::upstream::GatewayBody;
use http::{HeaderValue, Request, Response, StatusCode};
use http_body_util::{BodyExt, Full};
use hyper::body::Incoming;
use sha2::Digest;
use tokio::sync::watch;
use tokio::task::JoinHandle;

use super::rotation::{ListenOptions, TempListener};
use super::token::{self, PollTokenError, SeenTokens};
use super::wire::{ClusterSnapshot, EngineReport, WireKey, WireKeyPair};
use crate::store::{SigningKeyRow, Store, StoreError};

/// How often the store is checked for writes (key changes) that call for a new snapshot;
/// configuration changes are caught at once.
const REPUBLISH_EVERY: Duration = Duration::from_secs(1);
/// Largest report body, in bytes.
const REPORT_LIMIT: usize = 64 * 1024;

/// Why a snapshot could not be built.
#[derive(Debug, thiserror::Error)]
pub enum ConsoleError {
    /// The store failed.
    #[error(transparent)]
    Store(#[from] StoreError),
    /// Serialisation failed.
    #[error("cannot serialise the snapshot: {0}")]
    Serialise(#[from] serde_json::Error),
    /// The store lock is poisoned.
    #[error("store unavailable")]
    Lock,
    /// A stored key pair is unusable.
    #[error(transparent)]
    Tls(#[from] gatehouse_gateway::tls::TlsError),
}

/// The snapshot engines get now.
#[derive(Debug)]
struct Published {
    digest: String,
    body: Bytes,
    /// When it was published (Unix milliseconds), sent as `x-snapshot-published-at`.
    at_ms: i64,
}

/// The console's side of the cluster (`Debug` leaves out the secret key).
pub struct Console {
    pub(super) store: Arc<Mutex<Store>>,
    engine: Arc<Engine>,
    secret_key: [u8; 32],
    pub(super) settings: crate::api::engines::ClusterSettings,
    seen: SeenTokens,
    published: ArcSwap<Published>,
    changed: watch::Sender<u64>,
    /// Certificate of the config-query listener.
    pub(super) config_query: Arc<gatehouse_gateway::tls::CertResolver>,
    /// How config-query listeners are served (the rotation port too).
    pub(super) listen: ListenOptions,
    /// The rotation port's listener, while a rotation window is open.
    pub(super) temp: tokio::sync::Mutex<Option<TempListener>>,
    /// Key pair the config-query listener serves (0: not set from the store yet).
    pub(super) serving_key_pair: std::sync::atomic::AtomicU64,
}

impl std::fmt::Debug for Console {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Console")
            .field("settings", &self.settings)
            .finish_non_exhaustive()
    }
}

fn wire_keys(rows: Vec<SigningKeyRow>) -> Vec<WireKey> {
    rows.into_iter()
        .map(|r| WireKey {
            kid: r.kid,
            key_pem: r.key_pem,
        })
        .collect()
}

impl Console {
    /// A console serving the engine's current configuration and the store's keys; its
    /// config-query listener serves `config_query`.
    pub fn new(
        store: Arc<Mutex<Store>>,
        engine: Arc<Engine>,
        secret_key: [u8; 32],
        settings: crate::api::engines::ClusterSettings,
        config_query: Arc<gatehouse_gateway::tls::CertResolver>,
        listen: ListenOptions,
    ) -> Arc<Self> {
        let (changed, _) = watch::channel(0);
        let console = Arc::new(Self {
            store,
            engine,
            secret_key,
            settings,
            seen: token::seen_tokens(),
            published: ArcSwap::from_pointee(Published {
                digest: String::new(),
                body: Bytes::new(),
                at_ms: 0,
            }),
            changed,
            config_query,
            listen,
            temp: tokio::sync::Mutex::new(None),
            serving_key_pair: Default::default(),
        });
        if let Err(e) = console.republish() {
            tracing::error!(error = %e, "cannot build the cluster snapshot");
        }
        console
    }

    fn build(&self) -> Result<ClusterSnapshot, ConsoleError> {
        let snap = self.engine.snapshots.load();
        let (revision, config) = match &snap {
            Some(s) => (s.revision, serde_json::to_value(s.doc.as_ref())?),
            None => (0, serde_json::Value::Null),
        };
        let store = self.store.lock().map_err(|_| ConsoleError::Lock)?;
        let key_pairs = store
            .key_pairs()?
            .into_iter()
            .map(|r| WireKeyPair {
                id: r.id,
                alias: r.alias,
                cert_pem: r.pair.cert_pem,
                key_pem: r.pair.key_pem,
            })
            .collect();
        let engine_key_pair_id = store.listener_key_pair("ENGINE")?.map_or(0, |r| r.id);
        let mut config_query: Vec<String> = store
            .listener_key_pair("CONFIG QUERY")?
            .and_then(|r| crate::api::keypairs::fingerprint_of(&r.pair.cert_pem))
            .into_iter()
            .collect();
        if let Some(open) = store.rotation()? {
            config_query.extend(
                store
                    .key_pair(open.old_key_pair_id)?
                    .and_then(|r| crate::api::keypairs::fingerprint_of(&r.pair.cert_pem)),
            );
        }
        Ok(ClusterSnapshot {
            revision,
            config,
            secret_key: base64::engine::general_purpose::STANDARD.encode(self.secret_key),
            key_pairs,
            engine_key_pair_id,
            session_keys: wire_keys(store.signing_keys("WEB_SESSION")?),
            auth_token_keys: wire_keys(store.signing_keys("AUTH_TOKEN")?),
            oidc_client_keys: wire_keys(store.signing_keys("OIDC_CLIENT")?),
            config_query_fingerprints: config_query,
            config_query_rotation_port: self.settings.rotation_port,
        })
    }

    /// Rebuilds the snapshot; engines waiting are answered when it changed.
    pub fn republish(&self) -> Result<(), ConsoleError> {
        let snapshot = self.build()?;
        let body = serde_json::to_vec(&snapshot)?;
        let digest = hex(&sha2::Sha256::digest(&body));
        if digest != self.published.load().digest {
            self.published.store(Arc::new(Published {
                digest,
                body: Bytes::from(body),
                at_ms: crate::store::now_ms(),
            }));
            self.changed.send_modify(|n| *n += 1);
            self.engine.metrics.cluster.published.inc();
            tracing::info!(revision = snapshot.revision, "cluster snapshot published");
        }
        Ok(())
    }

    fn store_writes(&self) -> Option<u64> {
        self.store.lock().ok().map(|s| s.writes())
    }

    /// Rebuilds on every configuration change, and after any store write (key changes; checked
    /// every second), until `stop`.
    pub fn keep_published(self: &Arc<Self>, mut stop: watch::Receiver<bool>) -> JoinHandle<()> {
        let me = self.clone();
        let mut config = me.engine.snapshots.subscribe();
        tokio::spawn(async move {
            let mut tick = tokio::time::interval(REPUBLISH_EVERY);
            let mut seen_writes = me.store_writes();
            loop {
                tokio::select! {
                    r = config.changed() => if r.is_err() { return },
                    _ = tick.tick() => {
                        let writes = me.store_writes();
                        if writes == seen_writes {
                            continue;
                        }
                        seen_writes = writes;
                    }
                    _ = listener::stopped(&mut stop) => return,
                }
                if let Err(e) = me.republish() {
                    tracing::error!(error = %e, "cannot build the cluster snapshot");
                }
            }
        })
    }

    pub(super) fn authenticate(&self, req: &Request<Incoming>) -> Result<u64, PollTokenError> {
        let token =
            gatehouse_gateway::oauth::bearer_token(req.headers()).ok_or(PollTokenError::Missing)?;
        let store = &self.store;
        let id = token::verify(
            token,
            &self.settings.audience,
            |id| {
                store
                    .lock()
                    .ok()
                    .and_then(|s| s.engine_public_jwk(id).ok().flatten())
            },
            &self.seen,
        )?;
        if let Ok(s) = self.store.lock() {
            if let Err(e) = s.touch_engine(id) {
                tracing::warn!(error = %e, engine = id, "cannot record the poll");
            }
        }
        Ok(id)
    }

    /// The long-poll: the snapshot when `have` is not the current digest, else `204` once the
    /// polling delay passed without a change (see [`poll_deadline`]).
    async fn poll(&self, have: &str) -> Response<GatewayBody> {
        let mut changes = self.changed.subscribe();
        let deadline = poll_deadline(tokio::time::Instant::now(), self.settings.polling_delay);
        loop {
            let current = self.published.load_full();
            if current.digest != have && !current.body.is_empty() {
                let mut resp = response(StatusCode::OK, current.body.clone());
                if let Ok(v) = HeaderValue::from_str(&current.digest) {
                    resp.headers_mut().insert("x-snapshot-digest", v);
                }
                if let Ok(v) = HeaderValue::from_str(&current.at_ms.to_string()) {
                    resp.headers_mut().insert("x-snapshot-published-at", v);
                }
                resp.headers_mut().insert(
                    http::header::CONTENT_TYPE,
                    HeaderValue::from_static("application/json"),
                );
                return resp;
            }
            if tokio::time::timeout_at(deadline, changes.changed())
                .await
                .is_err()
            {
                return response(StatusCode::NO_CONTENT, Bytes::new());
            }
        }
    }

    fn report(&self, engine: u64, report: &EngineReport) -> Result<(), ConsoleError> {
        let store = self.store.lock().map_err(|_| ConsoleError::Lock)?;
        store.record_engine_poll(engine, report.applied_revision, report.refused.as_deref())?;
        if !report.trusted_fingerprints.is_empty() {
            store.set_engine_trust(engine, &report.trusted_fingerprints)?;
            if store.rotation()?.is_some() {
                // The open rotation window may now be complete.
                self.settings.config_query_changed.notify_one();
            }
        }
        if let Some(why) = &report.refused {
            tracing::warn!(engine, revision = report.applied_revision, reason = %why, "engine refused the snapshot");
        }
        Ok(())
    }

    /// The config-query request handler; `rotation_port`: the rotation port's, which answers
    /// only `GET /engines/rest/config-query-certificate`.
    pub fn handler(self: &Arc<Self>, rotation_port: bool) -> Handler {
        let me = self.clone();
        Arc::new(move |conn: ConnInfo, req: Request<Incoming>| {
            let me = me.clone();
            Box::pin(async move { me.serve(conn, req, rotation_port).await })
        })
    }

    async fn serve(
        &self,
        conn: ConnInfo,
        req: Request<Incoming>,
        rotation_port: bool,
    ) -> Response<GatewayBody> {
        let path = req.uri().path().to_string();
        if rotation_port && path != super::rotation::CERTIFICATE_PATH {
            return response(StatusCode::NOT_FOUND, Bytes::new());
        }
        if req.method() == http::Method::POST && path == "/engines/rest/register" {
            return self.register(&conn, req).await;
        }
        let engine = match self.authenticate(&req) {
            Ok(id) => id,
            Err(e) => {
                self.engine.metrics.cluster.token_refusals.inc();
                tracing::warn!(peer = %conn.peer, path = %path, error = %e, "engine request refused");
                return response(StatusCode::UNAUTHORIZED, Bytes::new());
            }
        };
        match (req.method().as_str(), path.as_str()) {
            ("GET", "/engines/rest/config") => {
                self.engine.metrics.cluster.polls.inc();
                let have = req
                    .uri()
                    .query()
                    .and_then(|q| {
                        form_urlencoded::parse(q.as_bytes())
                            .find(|(k, _)| k == "have")
                            .map(|(_, v)| v.into_owned())
                    })
                    .unwrap_or_default();
                self.poll(&have).await
            }
            ("GET", super::rotation::CERTIFICATE_PATH) => self.rotated_certificate(engine, &req),
            ("POST", "/engines/rest/report") => {
                let body = http_body_util::Limited::new(req.into_body(), REPORT_LIMIT)
                    .collect()
                    .await;
                let report = body
                    .ok()
                    .and_then(|b| serde_json::from_slice::<EngineReport>(&b.to_bytes()).ok());
                match report {
                    Some(r) => match self.report(engine, &r) {
                        Ok(()) => response(StatusCode::NO_CONTENT, Bytes::new()),
                        Err(e) => {
                            tracing::error!(error = %e, "cannot record an engine report");
                            response(StatusCode::INTERNAL_SERVER_ERROR, Bytes::new())
                        }
                    },
                    None => response(StatusCode::BAD_REQUEST, Bytes::new()),
                }
            }
            _ => response(StatusCode::NOT_FOUND, Bytes::new()),
        }
    }

    /// `POST /engines/rest/register`: a new engine from a registration token; its bootstrap.
    async fn register(&self, conn: &ConnInfo, req: Request<Incoming>) -> Response<GatewayBody> {
        let token = gatehouse_gateway::oauth::bearer_token(req.headers()).map(String::from);
        let claims = token
            .as_deref()
            .map(|t| super::registration::verify(&self.settings.registration_key, t));
        let claims = match claims {
            Some(Ok(c)) => c,
            Some(Err(e)) => {
                tracing::warn!(peer = %conn.peer, error = %e, "engine registration refused");
                return response(StatusCode::UNAUTHORIZED, Bytes::new());
            }
            None => return response(StatusCode::UNAUTHORIZED, Bytes::new()),
        };
        let body = http_body_util::Limited::new(req.into_body(), REPORT_LIMIT)
            .collect()
            .await;
        let Some(request) = body.ok().and_then(|b| {
            serde_json::from_slice::<super::registration::RegisterRequest>(&b.to_bytes()).ok()
        }) else {
            return response(StatusCode::BAD_REQUEST, Bytes::new());
        };
        let name = request.name.trim();
        if name.is_empty() || name.len() > 128 {
            return response(StatusCode::BAD_REQUEST, Bytes::from_static(b"bad name"));
        }
        let issued = (|| {
            let s = self
                .store
                .lock()
                .map_err(|_| "store unavailable".to_string())?;
            if s.engine_name_taken(name).map_err(|e| e.to_string())? {
                return Err(format!("an engine named '{name}' exists"));
            }
            let id = s.add_engine(name).map_err(|e| e.to_string())?;
            let mut settings = self.settings.clone();
            settings.port = claims.port;
            crate::api::engines::issue_bootstrap(&s, id, claims.host.clone(), &settings)
                .map_err(|e| e.to_string())
        })();
        match issued {
            Ok(b) => {
                tracing::info!(engine = b.engine_id, name, peer = %conn.peer, "engine registered itself");
                response(StatusCode::OK, Bytes::from(b.to_properties()))
            }
            Err(why) => {
                tracing::warn!(name, error = %why, "engine registration refused");
                response(StatusCode::CONFLICT, Bytes::from(why))
            }
        }
    }

    /// Serves the config-query listener until `stop`.
    pub fn serve_on(
        self: &Arc<Self>,
        tcp: tokio::net::TcpListener,
        opts: ServeOptions,
        stop: watch::Receiver<bool>,
    ) -> JoinHandle<()> {
        tokio::spawn(listener::serve(tcp, self.handler(false), opts, stop))
    }
}

/// When a held poll is answered `204`: the polling delay after `now`, rounded down to a grid of a
/// quarter of the delay (so never later than the delay, never earlier than three quarters of
/// it). Engines' polls then expire, and come back, together on a few grid ticks: the console
/// wakes a few times per delay for many engines instead of once per engine, which is most of
/// what an idle cluster costs it (docs/benchmarks.md, "Cluster").
fn poll_deadline(now: tokio::time::Instant, delay: Duration) -> tokio::time::Instant {
    static EPOCH: std::sync::OnceLock<tokio::time::Instant> = std::sync::OnceLock::new();
    let epoch = *EPOCH.get_or_init(tokio::time::Instant::now);
    let grid = (delay / 4).as_nanos().max(1);
    let target = now + delay;
    let since = target.saturating_duration_since(epoch).as_nanos();
    let rounded = since - since % grid;
    let aligned = epoch + Duration::from_nanos(u64::try_from(rounded).unwrap_or(u64::MAX));
    aligned.max(now + delay - delay / 4).min(target)
}

pub(super) fn response(status: StatusCode, body: Bytes) -> Response<GatewayBody> {
    let mut resp = Response::new(
        Full::new(body)
            .map_err(|never| match never {})
            .boxed_unsync(),
    );
    *resp.status_mut() = status;
    resp.headers_mut().insert(
        http::header::CACHE_CONTROL,
        HeaderValue::from_static("no-store"),
    );
    resp
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// Starts the console: the snapshot kept published, and the config-query listener
/// (`clusterconfig.bindAddress:clusterconfig.port`, TLS with the `CONFIG QUERY` key pair).
pub async fn start(
    props: &gatehouse_gateway::props::RunProperties,
    settings: crate::api::engines::ClusterSettings,
    store: &Arc<Mutex<Store>>,
    engine: &Arc<Engine>,
    secret_key: [u8; 32],
    stop: &watch::Receiver<bool>,
) -> Result<Vec<JoinHandle<()>>, crate::node::NodeError> {
    let pair = {
        let s = store.lock().map_err(|_| ConsoleError::Lock)?;
        crate::keys::ensure(&s, "CONFIG QUERY")?
    };
    let resolver = gatehouse_gateway::tls::CertResolver::new(
        gatehouse_gateway::tls::certified_key(&pair.cert_pem, &pair.key_pem)?,
    );
    let protocols = props
        .raw
        .get("clusterconfig.ssl.protocols")
        .cloned()
        .unwrap_or_default();
    let bind: std::net::IpAddr = props
        .raw
        .get("clusterconfig.bindAddress")
        .and_then(|v| v.trim().parse().ok())
        .unwrap_or(std::net::IpAddr::from([0, 0, 0, 0]));
    let addr = std::net::SocketAddr::new(bind, settings.port);
    let tcp = listener::bind(addr).await?;
    tracing::info!(addr = %tcp.local_addr().unwrap_or(addr), "config-query listener started");
    let listen = ListenOptions {
        bind,
        protocols,
        limits: props.limits,
    };
    let opts = listen.serve_options(resolver.clone())?;
    let console = Console::new(
        store.clone(),
        engine.clone(),
        secret_key,
        settings,
        resolver,
        listen,
    );
    Ok(vec![
        console.keep_published(stop.clone()),
        console.keep_rotated(stop.clone()),
        console.serve_on(tcp, opts, stop.clone()),
    ])
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn poll_deadlines_fall_on_a_shared_grid_within_the_delay() {
        let delay = Duration::from_millis(2000);
        let start = tokio::time::Instant::now();
        let mut ticks = std::collections::BTreeSet::new();
        for offset_ms in (0..2000).step_by(7) {
            let now = start + Duration::from_millis(offset_ms);
            let d = poll_deadline(now, delay);
            assert!(d <= now + delay, "never later than the delay");
            assert!(d >= now + delay * 3 / 4, "never earlier than 3/4 of it");
            ticks.insert(d);
        }
        assert!(ticks.len() <= 6, "{} distinct deadlines", ticks.len());
    }
}
