//! The table of supported run.properties keys: name, default, kind of value and meaning.
//! `run.properties.example` documents every key here (a test keeps the two in step).

/// What a key's value must look like.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    /// `true` or `false`.
    Bool,
    /// A TCP port; 0 asks the system for a free one.
    Port,
    /// A non-negative integer.
    Count,
    /// An integer, -1 meaning "no limit".
    Limit,
    /// One of the listed words (case-sensitive, as in PingAccess).
    OneOf(&'static [&'static str]),
    /// An IP address to bind.
    BindAddress,
    /// A file or directory path (relative to the properties file).
    Path,
    /// Free text.
    Text,
    /// A comma-separated list of `TLSv1.2` / `TLSv1.3`.
    TlsProtocols,
}

/// One supported key.
#[derive(Debug, Clone, Copy)]
pub struct KeySpec {
    /// Property name.
    pub key: &'static str,
    /// Default value as text (`None`: unset).
    pub default: Option<&'static str>,
    /// Value syntax.
    pub kind: Kind,
    /// One-line meaning.
    pub doc: &'static str,
}

const fn k(key: &'static str, default: &'static str, kind: Kind, doc: &'static str) -> KeySpec {
    KeySpec {
        key,
        default: Some(default),
        kind,
        doc,
    }
}

const fn unset(key: &'static str, kind: Kind, doc: &'static str) -> KeySpec {
    KeySpec {
        key,
        default: None,
        kind,
        doc,
    }
}

/// Operational modes.
pub const MODES: &[&str] = &["STANDALONE", "CLUSTERED_CONSOLE", "CLUSTERED_ENGINE"];

/// Every supported key.
pub const KEYS: &[KeySpec] = &[
    k(
        "pa.operational.mode",
        "STANDALONE",
        Kind::OneOf(MODES),
        "node role",
    ),
    k(
        "pa.data.dir",
        "data",
        Kind::Path,
        "store, generated keys, last-good config, logs",
    ),
    unset(
        "pa.startup.config",
        Kind::Path,
        "TOML configuration applied at every start",
    ),
    k("admin.port", "9000", Kind::Port, "admin API port (HTTPS)"),
    k(
        "admin.bindAddress",
        "0.0.0.0",
        Kind::BindAddress,
        "admin API bind address",
    ),
    unset(
        "admin.initial.password",
        Kind::Text,
        "initial password of Administrator",
    ),
    k(
        "admin.max.request.bodylength",
        "15",
        Kind::Count,
        "admin request body limit (MB)",
    ),
    k(
        "account.locking.max.consecutive.failures",
        "3",
        Kind::Count,
        "failed logins before lockout",
    ),
    k(
        "account.locking.max.lockout.period",
        "1",
        Kind::Count,
        "lockout period (minutes)",
    ),
    k(
        "clusterconfig.enabled",
        "true",
        Kind::Bool,
        "serve the config-query listener",
    ),
    k(
        "clusterconfig.port",
        "9090",
        Kind::Port,
        "config-query listener port",
    ),
    k(
        "clusterconfig.bindAddress",
        "0.0.0.0",
        Kind::BindAddress,
        "config-query bind address",
    ),
    k(
        "clusterconfig.temp.rotation.port",
        "9095",
        Kind::Port,
        "old config-query certificate port",
    ),
    k(
        "cert.rotation.transition.window.ttl.seconds",
        "300",
        Kind::Count,
        "rotation window (s)",
    ),
    k(
        "engine.http.enabled",
        "true",
        Kind::Bool,
        "serve engine listeners",
    ),
    k(
        "engine.http.bindAddress",
        "0.0.0.0",
        Kind::BindAddress,
        "engine listeners' bind address",
    ),
    k(
        "engine.bootstrap.file",
        "bootstrap.properties",
        Kind::Path,
        "engine bootstrap file",
    ),
    k(
        "engine.registration.token",
        "",
        Kind::Text,
        "registration token (POST /engines/registration/token): a CLUSTERED_ENGINE without a bootstrap file registers itself with it",
    ),
    k(
        "engine.name",
        "",
        Kind::Text,
        "name a self-registering engine takes (default: the host name)",
    ),
    k(
        "clusterconfig.public.host",
        "",
        Kind::Text,
        "host engines reach the console by, written into bootstrap files (default: the host of the API call)",
    ),
    k(
        "engine.admin.configuration.audience",
        "GatehouseAdminServer",
        Kind::Text,
        "poll token audience",
    ),
    k(
        "engine.polling.initialdelay",
        "500",
        Kind::Count,
        "first poll delay (ms)",
    ),
    k(
        "engine.polling.delay",
        "2000",
        Kind::Count,
        "longest wait of one long-poll (ms)",
    ),
    k(
        "pa.config.replication.connectTimeout",
        "5000",
        Kind::Count,
        "engine to admin connect timeout (ms)",
    ),
    k(
        "pa.config.replication.readTimeout",
        "30000",
        Kind::Count,
        "engine to admin read timeout (ms)",
    ),
    k(
        "pa.config.replication.maxRetries",
        "5",
        Kind::Count,
        "engine to admin retries",
    ),
    k(
        "pa.config.replication.retryDelay",
        "2000",
        Kind::Count,
        "engine to admin retry delay (ms)",
    ),
    k(
        "enable.detailed.heartbeat.response",
        "false",
        Kind::Bool,
        "JSON heartbeat",
    ),
    k(
        "pa.statistics.window.seconds",
        "0",
        Kind::Count,
        "heartbeat response statistics window (s)",
    ),
    k(
        "pa.default.limitRequestLine",
        "8192",
        Kind::Count,
        "longest request line (414 beyond)",
    ),
    k(
        "pa.default.maxHeaderCount",
        "100",
        Kind::Count,
        "most request headers (431 beyond)",
    ),
    k(
        "pa.default.maxHttpHeaderSize",
        "8192",
        Kind::Count,
        "most header bytes (431 beyond)",
    ),
    k(
        "pa.default.maxRequestBodySize",
        "204800",
        Kind::Count,
        "largest body the engine reads itself",
    ),
    k(
        "pa.uri.canonicalize",
        "true",
        Kind::Bool,
        "resolve encoded separators and dots",
    ),
    k(
        "pa.interceptors.relativepath.decode.count",
        "3",
        Kind::Count,
        "percent-decoding passes",
    ),
    k(
        "pa.default.session.cookie.attributes.httponly",
        "true",
        Kind::Bool,
        "default HttpOnly",
    ),
    k(
        "pa.default.session.cookie.attributes.secure",
        "true",
        Kind::Bool,
        "default Secure",
    ),
    k(
        "pa.default.session.cookie.size.threshold",
        "4093",
        Kind::Count,
        "largest session cookie chunk",
    ),
    k(
        "engine.ssl.protocols",
        "TLSv1.2, TLSv1.3",
        Kind::TlsProtocols,
        "engine TLS versions",
    ),
    k(
        "admin.ssl.protocols",
        "TLSv1.2, TLSv1.3",
        Kind::TlsProtocols,
        "admin TLS versions",
    ),
    k(
        "clusterconfig.ssl.protocols",
        "TLSv1.2, TLSv1.3",
        Kind::TlsProtocols,
        "config-query TLS versions",
    ),
    k(
        "pa.ehcache.PingFederateReferenceTokenCache.maxEntriesLocalHeap",
        "10000",
        Kind::Count,
        "verified bearer tokens kept in memory (0: every request is verified)",
    ),
    k(
        "pa.ehcache.AuthTokenCache.maxEntriesLocalHeap",
        "10000",
        Kind::Count,
        "minted identity-mapping JWTs kept in memory (0: one JWT per request)",
    ),
    k(
        "engine.websocket.maxConnections",
        "-1",
        Kind::Limit,
        "WebSocket cap (-1: none)",
    ),
    k(
        "pa.log.format",
        "text",
        Kind::OneOf(&["text", "json"]),
        "main log format",
    ),
    k(
        "management.port",
        "9091",
        Kind::Port,
        "Prometheus /metrics and /readyz port",
    ),
    k(
        "management.bindAddress",
        "127.0.0.1",
        Kind::BindAddress,
        "management bind address",
    ),
];

/// The spec of a key, if supported.
pub fn spec(key: &str) -> Option<&'static KeySpec> {
    KEYS.iter().find(|s| s.key == key)
}

/// The supported key closest to an unknown one (for "did you mean").
pub fn closest(key: &str) -> Option<&'static str> {
    let lower = key.to_ascii_lowercase();
    KEYS.iter()
        .map(|s| {
            (
                strsim::jaro_winkler(&lower, &s.key.to_ascii_lowercase()),
                s.key,
            )
        })
        .filter(|(score, _)| *score > 0.7)
        .max_by(|a, b| a.0.total_cmp(&b.0))
        .map(|(_, k)| k)
}
