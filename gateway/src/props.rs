//! run.properties: the node's start-up settings (SPEC §2), read once from a Java properties file.
//!
//! Values are validated against the [`keys::KEYS`] table; a bad value names the file, line and
//! key; an unknown key is a warning naming the closest supported key.

pub mod keys;

use std::collections::HashMap;
use std::net::IpAddr;
use std::path::{Path, PathBuf};

use keys::{Kind, KEYS};

/// Why run.properties could not be used (exit code 2).
#[derive(Debug, thiserror::Error)]
pub enum PropsError {
    /// The file could not be read.
    #[error("{file}: cannot read: {source}")]
    Read {
        /// File name.
        file: String,
        /// Cause.
        #[source]
        source: std::io::Error,
    },
    /// Not a properties file.
    #[error("{file}:{line}: {message}")]
    Syntax {
        /// File name.
        file: String,
        /// 1-based line.
        line: usize,
        /// Parser message.
        message: String,
    },
    /// A key with a value it cannot take.
    #[error("{file}:{line}: {key}: {message}")]
    BadValue {
        /// File name.
        file: String,
        /// 1-based line (0 when the value came from a default).
        line: usize,
        /// Key.
        key: String,
        /// What is wrong.
        message: String,
    },
}

/// Node role.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mode {
    /// Admin and engine in one process.
    Standalone,
    /// Admin node only.
    ClusteredConsole,
    /// Engine only, configured by an admin node.
    ClusteredEngine,
}

/// Main log format.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LogFormat {
    /// Human-readable lines.
    Text,
    /// One JSON object per line.
    Json,
}

/// Request limits applied by the engine listeners.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RequestLimits {
    /// Longest request line (414 beyond).
    pub request_line: usize,
    /// Most header fields (431 beyond).
    pub header_count: usize,
    /// Most header bytes (431 beyond).
    pub header_bytes: usize,
    /// Largest body the engine reads itself.
    pub body_read: usize,
}

/// Path-normalisation settings.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PathSettings {
    /// Resolve encoded separators and dots (`pa.uri.canonicalize`).
    pub canonicalize: bool,
    /// Percent-decoding passes.
    pub decode_count: u32,
}

/// The typed start-up settings of one node.
#[derive(Debug, Clone)]
pub struct RunProperties {
    /// Node role.
    pub mode: Mode,
    /// Data directory (absolute).
    pub data_dir: PathBuf,
    /// Startup TOML (absolute), if any.
    pub startup_config: Option<PathBuf>,
    /// `CLUSTERED_ENGINE`: the bootstrap file (`engine.bootstrap.file`).
    pub bootstrap_file: PathBuf,
    /// Admin listener.
    pub admin_addr: (IpAddr, u16),
    /// Initial Administrator password.
    pub admin_initial_password: Option<String>,
    /// Engine listeners enabled.
    pub engine_enabled: bool,
    /// Engine bind address.
    pub engine_bind: IpAddr,
    /// Detailed heartbeat.
    pub detailed_heartbeat: bool,
    /// Response statistics window (seconds, 0 off).
    pub statistics_window: u64,
    /// Request limits.
    pub limits: RequestLimits,
    /// Path settings.
    pub paths: PathSettings,
    /// WebSocket cap (None: unlimited).
    pub websocket_max: Option<u64>,
    /// Capacity of the verified-token cache.
    pub token_cache_entries: u64,
    /// Capacity of the minted identity-JWT cache.
    pub minted_cache_entries: u64,
    /// Log format.
    pub log_format: LogFormat,
    /// Management listener.
    pub management_addr: (IpAddr, u16),
    /// Every value as text, defaults included (for keys other modules read).
    pub raw: HashMap<String, String>,
}

/// A value with where it came from.
struct Entry {
    value: String,
    line: usize,
}

/// Reads and validates a run.properties file. Returns the settings and the warnings.
pub fn load(path: &Path) -> Result<(RunProperties, Vec<String>), PropsError> {
    let file = path.display().to_string();
    let bytes = std::fs::read(path).map_err(|source| PropsError::Read {
        file: file.clone(),
        source,
    })?;
    let base = path.parent().map(Path::to_path_buf).unwrap_or_default();
    let base = if base.as_os_str().is_empty() {
        PathBuf::from(".")
    } else {
        base
    };
    let entries = parse_lines(&file, &bytes)?;
    from_entries(&file, &base, entries)
}

fn parse_lines(file: &str, bytes: &[u8]) -> Result<Vec<(String, Entry)>, PropsError> {
    let mut out = Vec::new();
    for line in java_properties::PropertiesIter::new(bytes) {
        let line = line.map_err(|e| PropsError::Syntax {
            file: file.to_string(),
            line: e.line_number().unwrap_or(0),
            message: e.to_string(),
        })?;
        let number = line.line_number();
        if let java_properties::LineContent::KVPair(k, v) = line.consume_content() {
            out.push((
                k,
                Entry {
                    value: v,
                    line: number,
                },
            ));
        }
    }
    Ok(out)
}

/// Builds settings from `(key, value)` pairs as if read from `file` (used by tests too).
pub fn from_pairs(
    file: &str,
    base: &Path,
    pairs: &[(&str, &str)],
) -> Result<(RunProperties, Vec<String>), PropsError> {
    let entries = pairs
        .iter()
        .enumerate()
        .map(|(i, (k, v))| {
            (
                k.to_string(),
                Entry {
                    value: v.to_string(),
                    line: i + 1,
                },
            )
        })
        .collect();
    from_entries(file, base, entries)
}

fn from_entries(
    file: &str,
    base: &Path,
    entries: Vec<(String, Entry)>,
) -> Result<(RunProperties, Vec<String>), PropsError> {
    let mut warnings = Vec::new();
    let mut set: HashMap<String, Entry> = HashMap::new();
    for (key, entry) in entries {
        match keys::spec(&key) {
            Some(spec) => {
                check_kind(spec.kind, entry.value.trim()).map_err(|message| {
                    PropsError::BadValue {
                        file: file.to_string(),
                        line: entry.line,
                        key: key.clone(),
                        message,
                    }
                })?;
                set.insert(key, entry);
            }
            None => warnings.push(unknown_warning(file, entry.line, &key)),
        }
    }
    let reader = Reader { file, base, set };
    Ok((reader.build()?, warnings))
}

fn unknown_warning(file: &str, line: usize, key: &str) -> String {
    match keys::closest(key) {
        Some(near) => {
            format!("{file}:{line}: unknown key '{key}' (did you mean '{near}'?); ignored")
        }
        None => format!("{file}:{line}: unknown key '{key}'; ignored"),
    }
}

fn check_kind(kind: Kind, v: &str) -> Result<(), String> {
    match kind {
        Kind::Bool if v != "true" && v != "false" => Err(format!("'{v}' is not true or false")),
        Kind::Port if v.parse::<u16>().is_err() => Err(format!("'{v}' is not a port (0-65535)")),
        Kind::Count if v.parse::<u64>().is_err() => {
            Err(format!("'{v}' is not a non-negative integer"))
        }
        Kind::Limit if v.parse::<i64>().map_or(true, |n| n < -1) => {
            Err(format!("'{v}' is not an integer >= -1"))
        }
        Kind::OneOf(words) if !words.contains(&v) => {
            Err(format!("'{v}' is not one of {}", words.join(", ")))
        }
        Kind::BindAddress if v.parse::<IpAddr>().is_err() => {
            Err(format!("'{v}' is not an IP address"))
        }
        Kind::Path if v.is_empty() => Err("a path is required".into()),
        Kind::TlsProtocols => check_protocols(v),
        _ => Ok(()),
    }
}

fn check_protocols(v: &str) -> Result<(), String> {
    let list: Vec<&str> = v
        .split(',')
        .map(str::trim)
        .filter(|s| !s.is_empty())
        .collect();
    if list.is_empty() {
        return Err("at least one of TLSv1.2, TLSv1.3 is required".into());
    }
    match list.iter().find(|p| **p != "TLSv1.2" && **p != "TLSv1.3") {
        Some(p) => Err(format!("'{p}' is not supported (only TLSv1.2 and TLSv1.3)")),
        None => Ok(()),
    }
}

struct Reader<'a> {
    file: &'a str,
    base: &'a Path,
    set: HashMap<String, Entry>,
}

// === impl Reader ===

impl Reader<'_> {
    fn text(&self, key: &str) -> Option<String> {
        match self.set.get(key) {
            Some(e) => Some(e.value.trim().to_string()),
            None => keys::spec(key).and_then(|s| s.default).map(str::to_string),
        }
    }

    fn bad(&self, key: &str, message: String) -> PropsError {
        PropsError::BadValue {
            file: self.file.to_string(),
            line: self.set.get(key).map_or(0, |e| e.line),
            key: key.to_string(),
            message,
        }
    }

    fn parse<T: std::str::FromStr>(&self, key: &str) -> Result<T, PropsError> {
        let text = self.text(key).unwrap_or_default();
        text.parse()
            .map_err(|_| self.bad(key, format!("'{text}' cannot be read")))
    }

    fn path(&self, key: &str) -> Option<PathBuf> {
        self.text(key).map(|t| self.base.join(t))
    }

    fn positive(&self, key: &str) -> Result<usize, PropsError> {
        let n: usize = self.parse(key)?;
        if n == 0 {
            return Err(self.bad(key, "must be greater than 0".into()));
        }
        Ok(n)
    }

    fn build(&self) -> Result<RunProperties, PropsError> {
        let mode = match self.text("pa.operational.mode").as_deref() {
            Some("CLUSTERED_CONSOLE") => Mode::ClusteredConsole,
            Some("CLUSTERED_ENGINE") => Mode::ClusteredEngine,
            _ => Mode::Standalone,
        };
        let decode_count: u32 = self.parse("pa.interceptors.relativepath.decode.count")?;
        if decode_count == 0 || decode_count > 10 {
            return Err(self.bad(
                "pa.interceptors.relativepath.decode.count",
                "must be 1-10".into(),
            ));
        }
        let ws: i64 = self.parse("engine.websocket.maxConnections")?;
        Ok(RunProperties {
            mode,
            data_dir: self
                .path("pa.data.dir")
                .unwrap_or_else(|| self.base.join("data")),
            startup_config: self.path("pa.startup.config"),
            bootstrap_file: self
                .path("engine.bootstrap.file")
                .unwrap_or_else(|| self.base.join("bootstrap.properties")),
            admin_addr: (self.parse("admin.bindAddress")?, self.parse("admin.port")?),
            admin_initial_password: self.text("admin.initial.password"),
            engine_enabled: self.parse("engine.http.enabled")?,
            engine_bind: self.parse("engine.http.bindAddress")?,
            detailed_heartbeat: self.parse("enable.detailed.heartbeat.response")?,
            statistics_window: self.parse("pa.statistics.window.seconds")?,
            limits: RequestLimits {
                request_line: self.positive("pa.default.limitRequestLine")?,
                header_count: self.positive("pa.default.maxHeaderCount")?,
                header_bytes: self.positive("pa.default.maxHttpHeaderSize")?,
                body_read: self.parse("pa.default.maxRequestBodySize")?,
            },
            paths: PathSettings {
                canonicalize: self.parse("pa.uri.canonicalize")?,
                decode_count,
            },
            websocket_max: u64::try_from(ws).ok(),
            token_cache_entries: self
                .parse("pa.ehcache.PingFederateReferenceTokenCache.maxEntriesLocalHeap")?,
            minted_cache_entries: self.parse("pa.ehcache.AuthTokenCache.maxEntriesLocalHeap")?,
            log_format: if self.text("pa.log.format").as_deref() == Some("json") {
                LogFormat::Json
            } else {
                LogFormat::Text
            },
            management_addr: (
                self.parse("management.bindAddress")?,
                self.parse("management.port")?,
            ),
            raw: KEYS
                .iter()
                .filter_map(|s| self.text(s.key).map(|v| (s.key.to_string(), v)))
                .collect(),
        })
    }
}

#[cfg(test)]
mod tests;
