//! A `CLUSTERED_ENGINE` node's link to its console: long-polls for snapshots over TLS pinned to
//! the config-query certificate's fingerprint, each request signed with a fresh poll token;
//! validates and compiles a snapshot before swapping it in (keys, certificates and
//! configuration together), reports the outcome, and keeps the last good snapshot (encrypted
//! with a key derived from the bootstrap key, file mode 0600) to start from when the console is
//! unreachable.

use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use aes_gcm::aead::{Aead, KeyInit};
use aes_gcm::{Aes256Gcm, Nonce};
use base64::Engine as _;
use gatehouse_gateway::engine::Engine;
use gatehouse_gateway::listener;
use gatehouse_gateway::websession::codec::SessionKeys;
use gatehouse_model::ConfigDocument;
use sha2::Digest;
use tokio::sync::watch;

use super::bootstrap::Bootstrap;
use super::pinning::{self, Pins};
use super::token;
use super::wire::{ClusterSnapshot, EngineReport, RotatedCertificate, WireKey};
use crate::store::SigningKeyRow;

/// File (in the data directory) holding the last applied snapshot.
pub const LAST_GOOD_FILE: &str = "last-good-snapshot.bin";

/// Timing of the link (`engine.polling.*`, `pa.config.replication.*`).
#[derive(Debug, Clone, Copy)]
pub struct LinkSettings {
    /// Before the first poll.
    pub initial_delay: Duration,
    /// Longest wait of one long-poll (the console holds the request this long).
    pub polling_delay: Duration,
    /// TCP/TLS connect timeout.
    pub connect_timeout: Duration,
    /// Read timeout beyond the polling delay.
    pub read_timeout: Duration,
    /// Failures after which each further one is logged as an error.
    pub max_retries: u32,
    /// First delay after a failure (doubled per failure, at most a minute).
    pub retry_delay: Duration,
}

/// The engine's side of the cluster.
pub struct EngineLink {
    bootstrap: Bootstrap,
    /// Rewritten when the console's certificate rotates.
    bootstrap_file: PathBuf,
    /// The config-query certificates trusted now.
    pins: Arc<Pins>,
    engine: Arc<Engine>,
    last_good: PathBuf,
    settings: LinkSettings,
    /// Digest of the snapshot applied (sent as `have`).
    digest: String,
}

fn last_good_key(bootstrap: &Bootstrap) -> [u8; 32] {
    let mut h = sha2::Sha256::new();
    h.update(b"gatehouse last good snapshot v1");
    h.update(bootstrap.key.to_bytes());
    h.finalize().into()
}

fn rows(keys: &[WireKey]) -> Vec<SigningKeyRow> {
    keys.iter()
        .map(|k| SigningKeyRow {
            kid: k.kid.clone(),
            key_pem: k.key_pem.clone(),
            created_at_ms: 0,
        })
        .collect()
}

/// Swaps a snapshot into the engine, everything or nothing: `Err` says why it was refused (the
/// engine keeps serving what it had).
pub fn apply(engine: &Engine, snap: &ClusterSnapshot) -> Result<(), String> {
    let secret: [u8; 32] = base64::engine::general_purpose::STANDARD
        .decode(&snap.secret_key)
        .ok()
        .and_then(|k| k.try_into().ok())
        .ok_or("the secret key is not 32 bytes of base64")?;
    gatehouse_model::secret::install_key(secret);
    let doc: ConfigDocument = serde_path_to_error::deserialize(snap.config.clone())
        .map_err(|e| format!("configuration: {}: {}", e.path(), e.inner()))?;
    let compiled = engine.compile(doc).map_err(|p| p.to_string())?;
    let mut ring = std::collections::HashMap::new();
    for kp in &snap.key_pairs {
        let key = gatehouse_gateway::tls::certified_key(&kp.cert_pem, &kp.key_pem)
            .map_err(|e| format!("key pair {}: {e}", kp.alias))?;
        ring.insert(kp.id, key);
    }
    let listener_key = ring
        .get(&snap.engine_key_pair_id)
        .cloned()
        .ok_or("no key pair for the engine listeners")?;
    let session: Option<SessionKeys> =
        crate::session_keys::to_engine_keys(&rows(&snap.session_keys))
            .map_err(|e| e.to_string())?;
    let auth = crate::authtoken_keys::to_engine_keys(&rows(&snap.auth_token_keys))
        .map_err(|e| e.to_string())?;
    let client = crate::authtoken_keys::to_engine_keys(&rows(&snap.oidc_client_keys))
        .map_err(|e| e.to_string())?;
    // Keys first, so the first request on the new configuration finds them.
    engine.set_key_pairs(ring, listener_key);
    engine.session_keys.store(session.map(Arc::new));
    engine.auth_tokens.store(auth.map(Arc::new));
    engine.oidc_client_keys.store(client.map(Arc::new));
    engine.install(compiled, snap.revision);
    Ok(())
}

impl EngineLink {
    /// A link for `engine` with the bootstrap read from `bootstrap_file`; `data_dir` keeps the
    /// last good snapshot.
    pub fn new(
        bootstrap: Bootstrap,
        bootstrap_file: PathBuf,
        engine: Arc<Engine>,
        data_dir: &std::path::Path,
        settings: LinkSettings,
    ) -> Self {
        Self {
            pins: Pins::new(&bootstrap.fingerprints),
            bootstrap,
            bootstrap_file,
            engine,
            last_good: data_dir.join(LAST_GOOD_FILE),
            settings,
            digest: String::new(),
        }
    }

    /// Applies the last good snapshot, if there is one; `true` when the engine serves it.
    pub fn start_from_last_good(&mut self) -> bool {
        let Ok(sealed) = std::fs::read(&self.last_good) else {
            return false;
        };
        let Some((digest, snap)) = self.unseal(&sealed) else {
            tracing::error!(file = %self.last_good.display(), "last good snapshot unreadable; waiting for the console");
            return false;
        };
        match apply(&self.engine, &snap) {
            Ok(()) => {
                tracing::info!(revision = snap.revision, "serving the last good snapshot");
                self.digest = digest;
                true
            }
            Err(e) => {
                tracing::error!(error = %e, "last good snapshot refused");
                false
            }
        }
    }

    fn seal(&self, digest: &str, body: &[u8]) -> Option<Vec<u8>> {
        let cipher = Aes256Gcm::new_from_slice(&last_good_key(&self.bootstrap)).ok()?;
        let nonce: [u8; 12] = rand::random();
        let mut plain = Vec::with_capacity(body.len() + 65);
        plain.extend_from_slice(digest.as_bytes());
        plain.push(b'\n');
        plain.extend_from_slice(body);
        let mut out = nonce.to_vec();
        out.extend(
            cipher
                .encrypt(Nonce::from_slice(&nonce), plain.as_slice())
                .ok()?,
        );
        Some(out)
    }

    fn unseal(&self, sealed: &[u8]) -> Option<(String, ClusterSnapshot)> {
        let cipher = Aes256Gcm::new_from_slice(&last_good_key(&self.bootstrap)).ok()?;
        let (nonce, ct) = sealed.split_at_checked(12)?;
        let plain = cipher.decrypt(Nonce::from_slice(nonce), ct).ok()?;
        let split = plain.iter().position(|b| *b == b'\n')?;
        let digest = String::from_utf8(plain[..split].to_vec()).ok()?;
        let snap = serde_json::from_slice(&plain[split + 1..]).ok()?;
        Some((digest, snap))
    }

    fn base_url(&self) -> String {
        format!(
            "https://{}:{}",
            self.bootstrap.admin_host, self.bootstrap.admin_port
        )
    }

    fn client(&self) -> Result<reqwest::Client, String> {
        let tls = pinning::client_config(self.pins.clone()).map_err(|e| e.to_string())?;
        reqwest::Client::builder()
            .use_preconfigured_tls(tls)
            .connect_timeout(self.settings.connect_timeout)
            .timeout(self.settings.polling_delay + self.settings.read_timeout)
            .redirect(reqwest::redirect::Policy::none())
            .build()
            .map_err(|e| e.to_string())
    }

    /// Polls until `stop`, applying each new snapshot.
    pub async fn run(mut self, mut stop: watch::Receiver<bool>) {
        tokio::select! {
            _ = tokio::time::sleep(self.settings.initial_delay) => {}
            _ = listener::stopped(&mut stop) => return,
        }
        let client = match self.client() {
            Ok(c) => c,
            Err(e) => return tracing::error!(error = %e, "cannot build the console client"),
        };
        let mut failures: u32 = 0;
        loop {
            let outcome = tokio::select! {
                r = self.poll_once(&client) => r,
                _ = listener::stopped(&mut stop) => return,
            };
            match outcome {
                Ok(()) => failures = 0,
                Err(e) if self.pins.take_mismatch() => {
                    // The console may have rotated its certificate while this engine was away
                    // from the config channel: ask the rotation port, which still serves the old one.
                    tracing::warn!(error = %e, "console certificate not trusted; asking the rotation port");
                    if let Err(e) = self.fetch_rotated_certificate(&client).await {
                        self.engine.metrics.cluster.poll_failures.inc();
                        failures += 1;
                        tracing::error!(error = %e, "no rotated certificate from the console");
                        self.back_off(failures, &mut stop).await;
                    }
                }
                Err(e) => {
                    self.engine.metrics.cluster.poll_failures.inc();
                    failures += 1;
                    if failures > self.settings.max_retries {
                        tracing::error!(error = %e, failures, "console unreachable; serving the current snapshot");
                    } else {
                        tracing::warn!(error = %e, failures, "console poll failed");
                    }
                    self.back_off(failures, &mut stop).await;
                }
            }
            if *stop.borrow() {
                return;
            }
        }
    }

    /// Waits after the `failures`th failure in a row (doubling, at most a minute) or until stop.
    async fn back_off(&self, failures: u32, stop: &mut watch::Receiver<bool>) {
        let backoff = self
            .settings
            .retry_delay
            .saturating_mul(1 << failures.min(5))
            .min(Duration::from_secs(60));
        tokio::select! {
            _ = tokio::time::sleep(backoff) => {}
            _ = listener::stopped(stop) => {}
        }
    }

    /// Trusts `fingerprints` (current first) from now on and rewrites the bootstrap file with
    /// them, when they differ from what is trusted.
    fn trust(&mut self, fingerprints: &[String], rotation_port: u16) {
        let fingerprints: Vec<String> = fingerprints
            .iter()
            .map(|f| f.trim().to_ascii_uppercase())
            .filter(|f| !f.is_empty())
            .collect();
        let port = Some(rotation_port)
            .filter(|p| *p != 0)
            .or(self.bootstrap.rotation_port);
        if fingerprints.is_empty()
            || (fingerprints == self.bootstrap.fingerprints && port == self.bootstrap.rotation_port)
        {
            return;
        }
        self.pins.replace(fingerprints.clone());
        self.bootstrap.fingerprints = fingerprints;
        self.bootstrap.rotation_port = port;
        match self.bootstrap.save(&self.bootstrap_file) {
            Ok(()) => tracing::info!(
                fingerprints = %self.bootstrap.fingerprints.join(","),
                file = %self.bootstrap_file.display(),
                "console certificates to trust changed; bootstrap file rewritten"
            ),
            Err(e) => {
                tracing::error!(error = %e, "cannot rewrite the bootstrap file (the new certificate is trusted until the engine restarts)")
            }
        }
    }

    /// `GET /engines/rest/config-query-certificate` on the rotation port (served with the old
    /// certificate, which this engine still trusts): the certificate the console serves now.
    async fn fetch_rotated_certificate(&mut self, client: &reqwest::Client) -> Result<(), String> {
        let port = self
            .bootstrap
            .rotation_port
            .ok_or("the bootstrap names no rotation port")?;
        let token = token::mint(&self.bootstrap).map_err(|e| e.to_string())?;
        let url = format!(
            "https://{}:{port}/engines/rest/config-query-certificate",
            self.bootstrap.admin_host
        );
        let resp = client
            .get(&url)
            .bearer_auth(token)
            .header(super::wire::TRUSTED_HEADER, self.pins.current().join(","))
            .send()
            .await
            .map_err(|e| format!("{url}: {e}"))?;
        if resp.status() != reqwest::StatusCode::OK {
            return Err(format!("{url} answered {}", resp.status()));
        }
        let rotated: RotatedCertificate = resp
            .json()
            .await
            .map_err(|e| format!("{url}: unreadable answer: {e}"))?;
        let actual = crate::api::keypairs::fingerprint_of(&rotated.certificate_pem);
        if !actual.is_some_and(|a| a.eq_ignore_ascii_case(&rotated.fingerprint)) {
            return Err(format!(
                "{url}: the certificate does not match its fingerprint"
            ));
        }
        let mut trusted = vec![rotated.fingerprint];
        for pinned in self.pins.current() {
            if !trusted.iter().any(|t| t.eq_ignore_ascii_case(&pinned)) {
                trusted.push(pinned);
            }
        }
        tracing::info!(fingerprint = %trusted[0], "the console rotated its certificate; trusting the new one");
        self.trust(&trusted, port);
        Ok(())
    }

    async fn poll_once(&mut self, client: &reqwest::Client) -> Result<(), String> {
        let counters = self.engine.metrics.cluster.clone();
        counters.polls.inc();
        let token = token::mint(&self.bootstrap).map_err(|e| e.to_string())?;
        let url = format!(
            "{}/engines/rest/config?have={}",
            self.base_url(),
            self.digest
        );
        let resp = client
            .get(&url)
            .bearer_auth(token)
            .send()
            .await
            .map_err(|e| format!("{url}: {e}"))?;
        match resp.status().as_u16() {
            204 => return Ok(()),
            200 => {}
            401 => {
                return Err(
                    "the console refused this engine's token (key re-issued or engine deleted?)"
                        .into(),
                )
            }
            other => return Err(format!("the console answered {other}")),
        }
        let digest = resp
            .headers()
            .get("x-snapshot-digest")
            .and_then(|v| v.to_str().ok())
            .unwrap_or_default()
            .to_string();
        let published_at: Option<i64> = resp
            .headers()
            .get("x-snapshot-published-at")
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.parse().ok());
        let body = resp.bytes().await.map_err(|e| e.to_string())?;
        let snap: ClusterSnapshot =
            serde_json::from_slice(&body).map_err(|e| format!("unreadable snapshot: {e}"))?;
        // The certificates to trust come from the (pinned, authenticated) console whether or not
        // the rest of the snapshot is accepted.
        self.trust(
            &snap.config_query_fingerprints,
            snap.config_query_rotation_port,
        );
        let report = match apply(&self.engine, &snap) {
            Ok(()) => {
                counters.applied.inc();
                if let Some(at) = published_at {
                    let ms = crate::store::now_ms().saturating_sub(at).max(0);
                    counters.propagation.observe(ms as f64 / 1000.0);
                }
                tracing::info!(revision = snap.revision, "snapshot applied");
                match self.seal(&digest, &body) {
                    Some(sealed) => {
                        if let Err(e) = super::write_private(&self.last_good, &sealed) {
                            tracing::error!(error = %e, "cannot keep the last good snapshot");
                        }
                    }
                    None => tracing::error!("cannot seal the last good snapshot"),
                }
                EngineReport {
                    applied_revision: snap.revision,
                    refused: None,
                    trusted_fingerprints: self.pins.current(),
                }
            }
            Err(why) => {
                counters.refused.inc();
                tracing::error!(revision = snap.revision, reason = %why, "snapshot refused; serving the previous one");
                EngineReport {
                    applied_revision: self.engine.snapshots.load().map_or(0, |s| s.revision),
                    refused: Some(format!("revision {}: {why}", snap.revision)),
                    trusted_fingerprints: self.pins.current(),
                }
            }
        };
        // Not asked again for a snapshot it already answered (applied or refused).
        self.digest = digest;
        self.report(client, &report).await
    }

    async fn report(&self, client: &reqwest::Client, report: &EngineReport) -> Result<(), String> {
        let token = token::mint(&self.bootstrap).map_err(|e| e.to_string())?;
        let url = format!("{}/engines/rest/report", self.base_url());
        let resp = client
            .post(&url)
            .bearer_auth(token)
            .json(report)
            .send()
            .await
            .map_err(|e| format!("{url}: {e}"))?;
        if resp.status().is_success() {
            Ok(())
        } else {
            Err(format!("report answered {}", resp.status()))
        }
    }
}

/// Runs a `CLUSTERED_ENGINE` node until SIGTERM/SIGINT: the last good snapshot (if any), the
/// engine and management listeners, and the link to the console.
pub async fn run_node(
    props: gatehouse_gateway::props::RunProperties,
) -> Result<(), crate::node::NodeError> {
    let path = props.bootstrap_file.clone();
    let token = props
        .raw
        .get("engine.registration.token")
        .map(|t| t.trim().to_string())
        .filter(|t| !t.is_empty());
    let bootstrap = match (path.exists(), token) {
        (false, Some(token)) => {
            let name = props
                .raw
                .get("engine.name")
                .map(|n| n.trim().to_string())
                .filter(|n| !n.is_empty())
                .unwrap_or_else(gatehouse_gateway::host_info::hostname);
            let b = super::registration::register(&token, &name).await?;
            b.save(&path)?;
            tracing::info!(engine = b.engine_id, file = %path.display(), "registered with the console");
            b
        }
        _ => Bootstrap::load(&path)?,
    };
    tracing::info!(engine = bootstrap.engine_id, console = %format!("{}:{}", bootstrap.admin_host, bootstrap.admin_port), "clustered engine starting");
    let engine = Engine::new(
        gatehouse_gateway::EngineSettings::from_props(&props),
        props.statistics_window,
    );
    let settings = LinkSettings {
        initial_delay: super::millis(&props, "engine.polling.initialdelay", 500),
        polling_delay: super::millis(&props, "engine.polling.delay", 2000),
        connect_timeout: super::millis(&props, "pa.config.replication.connectTimeout", 5000),
        read_timeout: super::millis(&props, "pa.config.replication.readTimeout", 30000),
        max_retries: props
            .raw
            .get("pa.config.replication.maxRetries")
            .and_then(|v| v.trim().parse().ok())
            .unwrap_or(5),
        retry_delay: super::millis(&props, "pa.config.replication.retryDelay", 2000),
    };
    let mut link = EngineLink::new(
        bootstrap,
        path.clone(),
        engine.clone(),
        &props.data_dir,
        settings,
    );
    if !link.start_from_last_good() {
        tracing::info!("no snapshot yet: the heartbeat answers 503 until the console sends one");
    }
    let (stop_tx, stop_rx) = watch::channel(false);
    let mut tasks = Vec::new();
    if props.engine_enabled {
        tasks.push(crate::node::start_engine(&props, &engine, stop_rx.clone()).await?);
    }
    tasks.push(crate::management::start(&props, engine.clone(), stop_rx.clone()).await?);
    tasks.push(tokio::spawn(link.run(stop_rx.clone())));
    tracing::info!("gatehouse started");
    crate::node::wait_for_signal().await;
    tracing::info!("shutting down: draining in-flight requests");
    stop_tx.send_replace(true);
    for t in tasks {
        let _ = t.await;
    }
    tracing::info!("stopped");
    Ok(())
}
