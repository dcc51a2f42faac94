//! The access log (SPEC §8): one line per request, formatted straight into bytes and handed to
//! the node's log writer.
//!
//! A `gatehouse::access` tracing event through tracing-subscriber's formatter cost 1–2 µs a
//! request at proxy rates (field visitors, `fmt::Debug` per value, two copies of the line;
//! docs/benchmarks.md). Here the line is written once, with the same text or JSON shape the
//! formatter gives. The `gatehouse::access` filter still applies (`RUST_LOG=…,gatehouse::access=off`
//! turns it off), and without an installed sink (a library user, a unit test) the line goes out
//! as a tracing event as before.

use std::cell::RefCell;
use std::io::Write as _;
use std::net::IpAddr;
use std::sync::OnceLock;
use std::time::{SystemTime, UNIX_EPOCH};

use crate::decimal::{push_int, push_micros, IpText};
use crate::props::LogFormat;

/// The tracing target of access lines (for filters).
pub const TARGET: &str = "gatehouse::access";

/// One request's access-log facts. Never the query string, headers, cookies or tokens.
#[derive(Debug, Clone, Copy)]
pub struct AccessLine<'a> {
    /// Request id.
    pub request_id: &'a str,
    /// Effective client IP.
    pub client: IpAddr,
    /// Method.
    pub method: &'a str,
    /// Normalised path (or the raw path when the request never got that far).
    pub path: &'a str,
    /// Application name or `-`.
    pub application: &'a str,
    /// Resource name or `-`.
    pub resource: &'a str,
    /// Authenticated subject or `-`.
    pub subject: &'a str,
    /// Authentication mechanism or `-`.
    pub auth: &'a str,
    /// Response status.
    pub status: u16,
    /// Microseconds spent waiting for the backend.
    pub upstream_us: u64,
    /// Microseconds from arrival to the response head.
    pub total_us: u64,
}

/// Receives each formatted line (ending in `\n`).
pub type LineSink = Box<dyn Fn(Vec<u8>) + Send + Sync>;

struct Installed {
    format: LogFormat,
    sink: LineSink,
}

static SINK: OnceLock<Installed> = OnceLock::new();

/// Sends access lines to `sink`, formatted as `format`, from now on. Once per process: false
/// (and `sink` unused) when a sink is installed already.
pub fn install(format: LogFormat, sink: LineSink) -> bool {
    SINK.set(Installed { format, sink }).is_ok()
}

/// Writes one access line, if the `gatehouse::access` target is enabled.
pub fn record(line: &AccessLine<'_>) {
    if !tracing::enabled!(target: TARGET, tracing::Level::INFO) {
        return;
    }
    let Some(installed) = SINK.get() else {
        return as_tracing_event(line);
    };
    (installed.sink)(format(installed.format, line, SystemTime::now()));
}

fn as_tracing_event(line: &AccessLine<'_>) {
    tracing::info!(
        target: TARGET,
        request_id = %line.request_id,
        client = %line.client,
        method = %line.method,
        path = %line.path,
        application = line.application,
        resource = line.resource,
        subject = line.subject,
        auth = line.auth,
        status = line.status,
        upstream_us = line.upstream_us,
        total_us = line.total_us,
    );
}

/// The line as tracing-subscriber's text or flattened-JSON formatter would write the event.
pub fn format(format: LogFormat, line: &AccessLine<'_>, now: SystemTime) -> Vec<u8> {
    let mut out = Vec::with_capacity(320);
    match format {
        LogFormat::Text => text(&mut out, line, now),
        LogFormat::Json => json(&mut out, line, now),
    }
    out.push(b'\n');
    out
}

fn text(out: &mut Vec<u8>, l: &AccessLine<'_>, now: SystemTime) {
    timestamp(out, now);
    out.extend_from_slice(b"  INFO gatehouse::access: request_id=");
    out.extend_from_slice(l.request_id.as_bytes());
    out.extend_from_slice(b" client=");
    out.extend_from_slice(IpText::of(l.client).as_str().as_bytes());
    out.extend_from_slice(b" method=");
    out.extend_from_slice(l.method.as_bytes());
    out.extend_from_slice(b" path=");
    out.extend_from_slice(l.path.as_bytes());
    for (name, value) in [
        (&b" application="[..], l.application),
        (b" resource=", l.resource),
        (b" subject=", l.subject),
        (b" auth=", l.auth),
    ] {
        out.extend_from_slice(name);
        if plain(value) {
            quoted(out, value);
        } else {
            let _ = write!(out, "{value:?}");
        }
    }
    push_counts(out, l, [b" status=", b" upstream_us=", b" total_us="]);
}

fn json(out: &mut Vec<u8>, l: &AccessLine<'_>, now: SystemTime) {
    out.extend_from_slice(b"{\"timestamp\":\"");
    timestamp(out, now);
    out.extend_from_slice(b"\",\"level\":\"INFO\"");
    let client = IpText::of(l.client);
    for (name, value) in [
        ("request_id", l.request_id),
        ("client", client.as_str()),
        ("method", l.method),
        ("path", l.path),
        ("application", l.application),
        ("resource", l.resource),
        ("subject", l.subject),
        ("auth", l.auth),
    ] {
        out.extend_from_slice(b",\"");
        out.extend_from_slice(name.as_bytes());
        out.extend_from_slice(b"\":");
        if plain(value) {
            quoted(out, value);
        } else {
            let _ = serde_json::to_writer(&mut *out, value);
        }
    }
    push_counts(
        out,
        l,
        [b",\"status\":", b",\"upstream_us\":", b",\"total_us\":"],
    );
    out.extend_from_slice(b",\"target\":\"");
    out.extend_from_slice(TARGET.as_bytes());
    out.extend_from_slice(b"\"}");
}

/// Status, upstream and total time, each after its label.
fn push_counts(out: &mut Vec<u8>, l: &AccessLine<'_>, labels: [&[u8]; 3]) {
    let counts = [u64::from(l.status), l.upstream_us, l.total_us];
    for (label, n) in labels.into_iter().zip(counts) {
        out.extend_from_slice(label);
        push_int(out, n);
    }
}

/// Printable ASCII without `"` or `\`: quoted as is in both text (Rust `Debug`) and JSON.
fn plain(value: &str) -> bool {
    value
        .bytes()
        .all(|b| (0x20..0x7f).contains(&b) && b != b'"' && b != b'\\')
}

fn quoted(out: &mut Vec<u8>, value: &str) {
    out.push(b'"');
    out.extend_from_slice(value.as_bytes());
    out.push(b'"');
}

thread_local! {
    /// The last whole second formatted (`YYYY-MM-DDTHH:MM:SS`), per thread.
    static SECOND: RefCell<(u64, [u8; 19])> = const { RefCell::new((u64::MAX, [0; 19])) };
}

/// RFC 3339 UTC with microseconds, as tracing-subscriber writes it: the date and time of day
/// are formatted once a second.
fn timestamp(out: &mut Vec<u8>, now: SystemTime) {
    let since = now.duration_since(UNIX_EPOCH).unwrap_or_default();
    let secs = since.as_secs();
    SECOND.with(|cell| {
        let mut cached = cell.borrow_mut();
        if cached.0 != secs {
            let whole = UNIX_EPOCH + std::time::Duration::from_secs(secs);
            let text = humantime::format_rfc3339_seconds(whole).to_string();
            if let Some(prefix) = text.as_bytes().get(..19) {
                cached.1.copy_from_slice(prefix);
                cached.0 = secs;
            }
        }
        out.extend_from_slice(&cached.1);
    });
    out.push(b'.');
    push_micros(out, since.subsec_micros());
    out.push(b'Z');
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    fn line<'a>(subject: &'a str, path: &'a str) -> AccessLine<'a> {
        AccessLine {
            request_id: "0123456789abcdef",
            client: "2001:db8::7".parse().unwrap(),
            method: "GET",
            path,
            application: "app 1",
            resource: "-",
            subject,
            auth: "bearer",
            status: 200,
            upstream_us: 12,
            total_us: 34,
        }
    }

    fn at() -> SystemTime {
        // 2026-12-02T15:35:07.000042Z
        UNIX_EPOCH + Duration::from_secs(1_796_225_707) + Duration::from_micros(42)
    }

    #[test]
    fn text_line_has_the_formatter_shape() {
        let out = format(LogFormat::Text, &line("alice", "/a/b"), at());
        assert_eq!(
            String::from_utf8(out).unwrap(),
            "2026-12-02T15:35:07.000042Z  INFO gatehouse::access: request_id=0123456789abcdef \
             client=2001:db8::7 method=GET path=/a/b application=\"app 1\" resource=\"-\" \
             subject=\"alice\" auth=\"bearer\" status=200 upstream_us=12 total_us=34\n"
        );
    }

    #[test]
    fn values_that_could_forge_a_line_are_escaped() {
        let evil = "bob\"\n2026-01-01T00:00:00Z  INFO forged=1 é";
        let text = String::from_utf8(format(LogFormat::Text, &line(evil, "/"), at())).unwrap();
        assert_eq!(text.lines().count(), 1, "{text}");
        assert!(text.contains(&format!("subject={evil:?}")), "{text}");
        let json = format(LogFormat::Json, &line(evil, "/"), at());
        let v: serde_json::Value = serde_json::from_slice(&json).unwrap();
        assert_eq!(v["subject"], evil);
    }

    #[test]
    fn json_line_parses_with_every_field() {
        let out = format(LogFormat::Json, &line("alice", "/a b"), at());
        assert_eq!(out.last(), Some(&b'\n'));
        let v: serde_json::Value = serde_json::from_slice(&out).unwrap();
        assert_eq!(v["timestamp"], "2026-12-02T15:35:07.000042Z");
        assert_eq!(v["level"], "INFO");
        assert_eq!(v["target"], TARGET);
        assert_eq!(v["request_id"], "0123456789abcdef");
        assert_eq!(v["client"], "2001:db8::7");
        assert_eq!(v["method"], "GET");
        assert_eq!(v["path"], "/a b");
        assert_eq!(v["application"], "app 1");
        assert_eq!(v["status"], 200);
        assert_eq!(v["upstream_us"], 12);
        assert_eq!(v["total_us"], 34);
    }

    /// Captures what a tracing-subscriber formatter writes.
    #[derive(Clone, Default)]
    struct Captured(std::sync::Arc<std::sync::Mutex<Vec<u8>>>);

    impl std::io::Write for Captured {
        fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
            self.0.lock().unwrap().extend_from_slice(buf);
            Ok(buf.len())
        }
        fn flush(&mut self) -> std::io::Result<()> {
            Ok(())
        }
    }

    /// The same line through tracing-subscriber (as the node configures it) and through
    /// `format`, timestamps aside: byte for byte the same.
    #[test]
    fn lines_match_what_the_tracing_formatter_writes() {
        let evil = "bob\"\n é";
        for (fmt, json) in [(LogFormat::Text, false), (LogFormat::Json, true)] {
            let captured = Captured::default();
            let writer = captured.clone();
            let builder = tracing_subscriber::fmt().with_writer(move || writer.clone());
            let dispatch = if json {
                tracing::Dispatch::new(builder.json().flatten_event(true).finish())
            } else {
                tracing::Dispatch::new(builder.with_ansi(false).finish())
            };
            tracing::dispatcher::with_default(&dispatch, || {
                as_tracing_event(&line("alice", "/a/b"));
                as_tracing_event(&line(evil, "/"));
            });
            let theirs = String::from_utf8(captured.0.lock().unwrap().clone()).unwrap();
            let ours: String = [line("alice", "/a/b"), line(evil, "/")]
                .iter()
                .map(|l| String::from_utf8(format(fmt, l, at())).unwrap())
                .collect();
            let strip = |s: &str| -> Vec<String> {
                s.lines()
                    .map(|l| match l.find("Z") {
                        Some(z) if json => format!("{}{}", &l[..14], &l[z..]),
                        Some(z) => l[z..].to_string(),
                        None => l.to_string(),
                    })
                    .collect()
            };
            assert_eq!(strip(&theirs), strip(&ours), "{fmt:?}");
        }
    }

    #[test]
    fn the_cached_second_follows_the_clock() {
        let mut out = Vec::new();
        timestamp(&mut out, at());
        timestamp(&mut out, at() + Duration::from_secs(61));
        assert_eq!(
            String::from_utf8(out).unwrap(),
            "2026-12-02T15:35:07.000042Z2026-12-02T15:36:08.000042Z"
        );
    }
}
