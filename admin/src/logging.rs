//! The main log on stderr (text or JSON per `pa.log.format`), written by a background thread so
//! the request path never blocks on stderr. `RUST_LOG` overrides the default `info` filter.

use gatehouse_gateway::props::LogFormat;
use tracing_appender::non_blocking::WorkerGuard;
use tracing_subscriber::EnvFilter;

/// Installs the global subscriber; keep the guard alive until exit (it flushes the log).
pub fn init(format: LogFormat) -> WorkerGuard {
    let (writer, guard) = tracing_appender::non_blocking(std::io::stderr());
    let filter = EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new("info"));
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(writer);
    let installed = match format {
        LogFormat::Json => builder.json().flatten_event(true).try_init(),
        LogFormat::Text => builder.with_ansi(false).try_init(),
    };
    if installed.is_err() {
        eprintln!("gatehouse: a log subscriber was already installed");
    }
    guard
}
