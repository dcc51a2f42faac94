//! Clustering (SPEC §7): a `CLUSTERED_CONSOLE` node serves complete configuration snapshots on
//! its config-query listener; `CLUSTERED_ENGINE` nodes long-poll for them with tokens signed by
//! their bootstrap key, apply them, and keep the last good one.
//!
//! - [`bootstrap`]: the engine's `bootstrap.properties`;
//! - [`token`]: the engine's poll tokens, minted and verified;
//! - [`wire`]: the snapshot and report formats;
//! - [`console`]: the config-query listener (long-poll, reports, status);
//! - [`rotation`]: the config-query certificate rotation (window, rotation port);
//! - [`engine_node`]: the engine's poller, apply and last-good snapshot.

pub mod bootstrap;
pub mod console;
pub mod engine_node;
pub mod pinning;
pub mod registration;
pub mod rotation;
pub mod token;
pub mod wire;

/// Writes `bytes` to `path` readable only by this user, replacing it atomically (a temporary
/// file in the same directory, synced, then renamed).
pub fn write_private(path: &std::path::Path, bytes: &[u8]) -> std::io::Result<()> {
    use std::io::Write;
    let tmp = path.with_extension("tmp");
    let mut opts = std::fs::OpenOptions::new();
    opts.create(true).write(true).truncate(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        opts.mode(0o600);
    }
    let mut f = opts.open(&tmp)?;
    f.write_all(bytes)?;
    f.sync_all()?;
    std::fs::rename(&tmp, path)
}

/// A duration property in milliseconds, or `default_ms`.
pub fn millis(
    props: &gatehouse_gateway::props::RunProperties,
    key: &str,
    default_ms: u64,
) -> std::time::Duration {
    std::time::Duration::from_millis(
        props
            .raw
            .get(key)
            .and_then(|v| v.trim().parse().ok())
            .unwrap_or(default_ms),
    )
}

/// The console settings engines need, from run.properties.
pub fn settings(
    props: &gatehouse_gateway::props::RunProperties,
    secret_key: &[u8; 32],
) -> crate::api::engines::ClusterSettings {
    let raw = |key: &str| props.raw.get(key).map(|v| v.trim().to_string());
    crate::api::engines::ClusterSettings {
        port: raw("clusterconfig.port")
            .and_then(|v| v.parse().ok())
            .unwrap_or(9090),
        host: raw("clusterconfig.public.host").unwrap_or_default(),
        audience: raw("engine.admin.configuration.audience")
            .filter(|a| !a.is_empty())
            .unwrap_or_else(|| "GatehouseAdminServer".into()),
        polling_delay: millis(props, "engine.polling.delay", 2000),
        registration_key: registration::RegistrationKey::derive(secret_key),
        rotation_port: raw("clusterconfig.temp.rotation.port")
            .and_then(|v| v.parse().ok())
            .unwrap_or(9095),
        rotation_window: std::time::Duration::from_secs(
            raw("cert.rotation.transition.window.ttl.seconds")
                .and_then(|v| v.parse().ok())
                .unwrap_or(300),
        ),
        config_query_changed: Default::default(),
    }
}
