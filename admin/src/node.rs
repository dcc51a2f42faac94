//! One Gatehouse node: opens the store, makes sure the key pairs exist, loads the configuration,
//! starts the listeners its mode calls for, and drains them on SIGTERM/SIGINT.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use gatehouse_gateway::listener::{self, ListenerError, ServeOptions};
use gatehouse_gateway::listeners::{self, EngineListenerSettings};
use gatehouse_gateway::props::{Mode, RunProperties};
use gatehouse_gateway::tls::{self, CertResolver, TlsError};
use gatehouse_gateway::{Engine, EngineSettings};
use gatehouse_model::{load_toml, ConfigDocument};
use tokio::sync::watch;
use tokio::task::JoinHandle;

use crate::keys::{self, KeyError};
use crate::management;
use crate::store::{Store, StoreError};

/// How long in-flight requests may take to finish at shutdown.
const GRACE: Duration = Duration::from_secs(30);

/// Why a node could not start (exit code 1, one line).
#[derive(Debug, thiserror::Error)]
pub enum NodeError {
    /// The data directory could not be created.
    #[error("cannot create data directory {dir}: {source}")]
    DataDir {
        /// Directory.
        dir: String,
        /// Cause.
        #[source]
        source: std::io::Error,
    },
    /// Store failure.
    #[error(transparent)]
    Store(#[from] StoreError),
    /// Auth token keys could not be made or loaded.
    #[error(transparent)]
    AuthKeys(#[from] crate::authtoken_keys::AuthKeyError),
    /// Key generation failure.
    #[error(transparent)]
    Keys(#[from] KeyError),
    /// TLS material unusable.
    #[error("TLS: {0}")]
    Tls(#[from] TlsError),
    /// A port could not be bound.
    #[error(transparent)]
    Listen(#[from] ListenerError),
    /// The startup TOML could not be read.
    #[error("cannot read {file}: {source}")]
    ReadConfig {
        /// File.
        file: String,
        /// Cause.
        #[source]
        source: std::io::Error,
    },
    /// The configuration is invalid (every problem, one per line).
    #[error("configuration {file} is invalid:\n{details}")]
    InvalidConfig {
        /// File or source.
        file: String,
        /// Problems.
        details: String,
    },
    /// The engine's bootstrap file is unusable.
    #[error(transparent)]
    Bootstrap(#[from] crate::cluster::bootstrap::BootstrapError),
    /// The cluster snapshot could not be built.
    #[error(transparent)]
    Console(#[from] crate::cluster::console::ConsoleError),
}

/// Runs a node until SIGTERM/SIGINT.
pub async fn run(props: RunProperties) -> Result<(), NodeError> {
    create_data_dir(&props)?;
    if props.mode == Mode::ClusteredEngine {
        return crate::cluster::engine_node::run_node(props).await;
    }
    let secret_key = crate::keys::install_secret_key(&props.data_dir)?;
    let store = Store::open(&props.data_dir)?;
    let (revision, doc) = initial_config(&props, &store)?;
    let engine = Engine::new(EngineSettings::from_props(&props), props.statistics_window);
    engine
        .apply(doc, revision)
        .map_err(|p| NodeError::InvalidConfig {
            file: "stored configuration".into(),
            details: p.to_string(),
        })?;
    let mut store = store;
    if let Some(password) = crate::api::users::ensure_initial_admin(
        &store,
        &props.data_dir,
        props.admin_initial_password.as_deref(),
    )? {
        println!(
            "gatehouse: initial password of admin user '{}': {password} (also in {})",
            crate::api::users::INITIAL_USER,
            props.data_dir.join("initial-admin-password").display()
        );
    }
    crate::authtoken_keys::install(&mut store, &engine)?;
    crate::session_keys::install(&mut store, &engine)?;
    crate::authtoken_keys::install_oidc_client_keys(&mut store, &engine)?;
    for name in keys::LISTENER_KEYS {
        keys::ensure(&store, name)?;
    }
    let (ring, engine_key) = keys::engine_ring(&store)?;
    engine.set_key_pairs(ring, engine_key.ok_or(TlsError::NoCertificate)?);
    let (stop_tx, stop_rx) = watch::channel(false);
    let mut tasks = Vec::new();
    if props.mode == Mode::Standalone && props.engine_enabled {
        tasks.push(start_engine(&props, &engine, stop_rx.clone()).await?);
    }
    let admin_pair = keys::ensure(&store, "ADMIN")?;
    let store = Arc::new(std::sync::Mutex::new(store));
    let cluster = (props.mode == Mode::ClusteredConsole)
        .then(|| crate::cluster::settings(&props, &secret_key));
    tasks.push(
        start_admin(
            &props,
            admin_pair,
            &store,
            &engine,
            cluster.clone(),
            stop_rx.clone(),
        )
        .await?,
    );
    if let Some(settings) = cluster {
        tasks.extend(
            crate::cluster::console::start(&props, settings, &store, &engine, secret_key, &stop_rx)
                .await?,
        );
    }
    tasks.push(management::start(&props, engine.clone(), stop_rx.clone()).await?);
    tasks.push(tokio::spawn(crate::authtoken_keys::keep_rolled(
        store.clone(),
        engine.clone(),
        stop_rx.clone(),
    )));
    tasks.push(tokio::spawn(reload_on_hangup(
        props.clone(),
        store,
        engine.clone(),
        stop_rx.clone(),
    )));
    tracing::info!(mode = ?props.mode, "gatehouse started");
    wait_for_signal().await;
    tracing::info!("shutting down: draining in-flight requests");
    stop_tx.send_replace(true);
    for t in tasks {
        let _ = t.await;
    }
    tracing::info!("stopped");
    Ok(())
}

pub(crate) fn create_data_dir(props: &RunProperties) -> Result<(), NodeError> {
    let dir = &props.data_dir;
    let err = |source| NodeError::DataDir {
        dir: dir.display().to_string(),
        source,
    };
    std::fs::create_dir_all(dir).map_err(err)?;
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(dir, std::fs::Permissions::from_mode(0o700)).map_err(err)?;
    }
    Ok(())
}

/// The startup TOML (stored as a new revision), else the stored one, else the embedded default.
fn initial_config(
    props: &RunProperties,
    store: &Store,
) -> Result<(u64, ConfigDocument), NodeError> {
    if let Some(path) = &props.startup_config {
        let file = path.display().to_string();
        let text = std::fs::read_to_string(path).map_err(|source| NodeError::ReadConfig {
            file: file.clone(),
            source,
        })?;
        let doc = load_toml(&text).map_err(|e| NodeError::InvalidConfig {
            details: e.render(&file),
            file: file.clone(),
        })?;
        if let Err(p) = gatehouse_gateway::snapshot::compile(doc.clone(), 0, None, None) {
            return Err(NodeError::InvalidConfig {
                file,
                details: p.to_string(),
            });
        }
        let rev = store.save_config(&doc, "startup", &format!("pa.startup.config {file}"))?;
        return Ok((rev, doc));
    }
    if let Some(found) = store.latest_config()? {
        return Ok(found);
    }
    let doc = ConfigDocument::embedded_default();
    let rev = store.save_config(&doc, "startup", "embedded default")?;
    Ok((rev, doc))
}

pub(crate) async fn start_engine(
    props: &RunProperties,
    engine: &Arc<Engine>,
    stop: watch::Receiver<bool>,
) -> Result<JoinHandle<()>, NodeError> {
    let resolver = engine.certs.clone();
    let protocols = props
        .raw
        .get("engine.ssl.protocols")
        .cloned()
        .unwrap_or_default();
    let settings = EngineListenerSettings {
        bind: props.engine_bind,
        tls: tls::server_config(resolver, &protocols, true)?,
        grace: GRACE,
    };
    Ok(listeners::supervise(engine.clone(), settings, stop).await?)
}

async fn start_admin(
    props: &RunProperties,
    pair: crate::store::StoredKeyPair,
    store: &Arc<std::sync::Mutex<Store>>,
    engine: &Arc<Engine>,
    cluster: Option<crate::api::engines::ClusterSettings>,
    stop: watch::Receiver<bool>,
) -> Result<JoinHandle<()>, NodeError> {
    let resolver = CertResolver::new(tls::certified_key(&pair.cert_pem, &pair.key_pem)?);
    let protocols = props
        .raw
        .get("admin.ssl.protocols")
        .cloned()
        .unwrap_or_default();
    let addr = SocketAddr::from(props.admin_addr);
    let tcp = listener::bind(addr).await?;
    let bound = tcp.local_addr().unwrap_or(addr);
    tracing::info!(addr = %bound, "admin listener started");
    let opts = ServeOptions {
        tls: Some(tls::server_config(resolver.clone(), &protocols, true)?),
        limits: props.limits,
        grace: GRACE,
        engine: None,
    };
    let api = Arc::new(crate::api::AdminApi {
        engine: engine.clone(),
        store: store.clone(),
        writes: tokio::sync::Mutex::new(()),
        audit: crate::api::audit::AuditLog::new(props.data_dir.join("log").join("admin-audit.log")),
        lockout: admin_lockout(props),
        logins: Default::default(),
        initial_password_file: props.data_dir.join("initial-admin-password"),
        declarative: props.startup_config.is_some(),
        admin_certs: resolver.clone(),
        cluster,
    });
    let handler = crate::admin_http::handler(engine.clone(), api, admin_body_limit(props));
    Ok(tokio::spawn(listener::serve(tcp, handler, opts, stop)))
}

/// `account.locking.max.consecutive.failures` / `account.locking.max.lockout.period` (minutes).
fn admin_lockout(props: &RunProperties) -> crate::api::Lockout {
    let number = |key: &str, default: u64| {
        props
            .raw
            .get(key)
            .and_then(|v| v.trim().parse::<u64>().ok())
            .unwrap_or(default)
    };
    crate::api::Lockout {
        max_failures: u32::try_from(number("account.locking.max.consecutive.failures", 3))
            .unwrap_or(3)
            .max(1),
        period: Duration::from_secs(number("account.locking.max.lockout.period", 1) * 60),
    }
}

/// `admin.max.request.bodylength` (MB) in bytes.
fn admin_body_limit(props: &RunProperties) -> usize {
    let mb = props
        .raw
        .get("admin.max.request.bodylength")
        .and_then(|v| v.trim().parse::<usize>().ok())
        .unwrap_or(15);
    mb.saturating_mul(1024 * 1024)
}

/// SIGHUP re-reads `pa.startup.config`: a valid document becomes a new revision and is applied
/// at once; an invalid one is refused with every problem logged, and the old one keeps serving.
async fn reload_on_hangup(
    props: RunProperties,
    store: Arc<std::sync::Mutex<Store>>,
    engine: Arc<Engine>,
    mut stop: watch::Receiver<bool>,
) {
    #[cfg(unix)]
    {
        use tokio::signal::unix::{signal, SignalKind};
        let Ok(mut hup) = signal(SignalKind::hangup()) else {
            return;
        };
        loop {
            tokio::select! {
                _ = hup.recv() => reload(&props, &store, &engine),
                _ = listener::stopped(&mut stop) => return,
            }
        }
    }
}

fn reload(props: &RunProperties, store: &std::sync::Mutex<Store>, engine: &Engine) {
    let Some(path) = &props.startup_config else {
        tracing::warn!("SIGHUP ignored: pa.startup.config is not set");
        return;
    };
    let file = path.display().to_string();
    let doc = match std::fs::read_to_string(path).map(|t| load_toml(&t)) {
        Ok(Ok(doc)) => doc,
        Ok(Err(e)) => {
            return tracing::error!(
                "reload refused; the current configuration stays:\n{}",
                e.render(&file)
            )
        }
        Err(e) => return tracing::error!("reload refused: cannot read {file}: {e}"),
    };
    let compiled = match engine.compile(doc.clone()) {
        Ok(c) => c,
        Err(p) => return tracing::error!("reload refused; the current configuration stays:\n{p}"),
    };
    let saved = match store.lock() {
        Ok(s) => s.save_config(&doc, "startup", &format!("reload of {file}")),
        Err(_) => return tracing::error!("reload refused: store unavailable"),
    };
    match saved {
        Ok(rev) => {
            engine.install(compiled, rev);
            tracing::info!(revision = rev, "configuration reloaded from {file}");
        }
        Err(e) => tracing::error!("reload refused: {e}"),
    }
}

pub(crate) async fn wait_for_signal() {
    #[cfg(unix)]
    {
        use tokio::signal::unix::{signal, SignalKind};
        match (
            signal(SignalKind::terminate()),
            signal(SignalKind::interrupt()),
        ) {
            (Ok(mut term), Ok(mut int)) => {
                tokio::select! {
                    _ = term.recv() => {}
                    _ = int.recv() => {}
                }
            }
            _ => {
                let _ = tokio::signal::ctrl_c().await;
            }
        }
    }
    #[cfg(not(unix))]
    {
        let _ = tokio::signal::ctrl_c().await;
    }
}
