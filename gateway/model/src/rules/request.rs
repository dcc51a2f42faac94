//! Settings of the rules that look at the request itself: `NetworkRange`, `TimeRange`,
//! `HttpRequestHeader`, `HttpRequestParameter`, `HttpMethod`, `WebSocketHandshake`.

use serde::Deserialize;

use super::{problem_if, OneOrMany};
use crate::validate::parse_cidr;

/// `NetworkRange`: the client IP (after the trusted forwarded-header configuration) is inside
/// one of the ranges.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct NetworkRangeRule {
    /// A CIDR (`10.0.0.0/8`, `2001:db8::/32`, a bare address) or a list of them.
    pub cidr_notation: OneOrMany,
    /// Invert the outcome.
    #[serde(default)]
    pub negate: bool,
    /// Rejection handler (0 or absent: the application type's default).
    #[serde(default)]
    pub rejection_handler_id: Option<u64>,
}

/// `TimeRange`: the request arrives between `startTime` and `endTime` in `timeZone`.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct TimeRangeRule {
    /// `HH:MM`, inclusive.
    pub start_time: String,
    /// `HH:MM`, exclusive; earlier than `startTime` means the window runs over midnight.
    pub end_time: String,
    /// IANA time zone (`Europe/Paris`); UTC when absent.
    #[serde(default)]
    pub time_zone: Option<String>,
    /// Days the window opens on (`Monday` or `Mon`); every day when absent.
    #[serde(default)]
    pub days: Option<Vec<String>>,
    /// Invert the outcome.
    #[serde(default)]
    pub negate: bool,
    /// Rejection handler.
    #[serde(default)]
    pub rejection_handler_id: Option<u64>,
}

/// A name/value row; `*` in the value matches any run of characters.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct NameValueRow {
    /// Header or parameter name.
    pub name: String,
    /// Expected value (`*` wildcards).
    pub value: String,
}

/// `HttpRequestHeader`: every row matches a value of the named header.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct HeaderRule {
    /// Rows, all required.
    pub headers: Vec<NameValueRow>,
    /// Compare values case-sensitively (names never are).
    #[serde(default)]
    pub case_sensitive: bool,
    /// Invert the outcome.
    #[serde(default)]
    pub negate: bool,
    /// Rejection handler.
    #[serde(default)]
    pub rejection_handler_id: Option<u64>,
}

/// `HttpRequestParameter`: every row matches a query or url-encoded form parameter.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct ParameterRule {
    /// Rows, all required.
    pub parameters: Vec<NameValueRow>,
    /// Compare names and values case-sensitively.
    #[serde(default)]
    pub case_sensitive: bool,
    /// Invert the outcome.
    #[serde(default)]
    pub negate: bool,
    /// Rejection handler.
    #[serde(default)]
    pub rejection_handler_id: Option<u64>,
}

/// `HttpMethod`: the request method is one of these.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct MethodRule {
    /// Methods (`GET`, `POST`, …).
    pub methods: Vec<String>,
    /// Invert the outcome.
    #[serde(default)]
    pub negate: bool,
    /// Rejection handler.
    #[serde(default)]
    pub rejection_handler_id: Option<u64>,
}

/// `WebSocketHandshake`: a WebSocket upgrade comes from an allowed origin and asks only for
/// allowed subprotocols. Other requests pass.
#[derive(Debug, Clone, PartialEq, Eq, Default, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct WebSocketRule {
    /// Origins (`https://app.example.com`, `*`); empty: same origin only.
    #[serde(default)]
    pub allowed_origins: Vec<String>,
    /// Subprotocols a client may ask for (`*`: any); absent: any.
    #[serde(default)]
    pub allowed_subprotocols: Option<Vec<String>>,
    /// Rejection handler.
    #[serde(default)]
    pub rejection_handler_id: Option<u64>,
}

/// Day names accepted by `TimeRange.days`, Monday first.
pub const DAY_NAMES: [&str; 7] = [
    "monday",
    "tuesday",
    "wednesday",
    "thursday",
    "friday",
    "saturday",
    "sunday",
];

/// Index (Monday = 0) of a day written in full or by its first three letters.
pub fn day_index(name: &str) -> Option<usize> {
    let lower = name.trim().to_ascii_lowercase();
    DAY_NAMES
        .iter()
        .position(|d| *d == lower || (lower.len() == 3 && d.starts_with(&lower)))
}

/// Minutes since midnight of `HH:MM` (`24:00` is the end of the day).
pub fn parse_clock(text: &str) -> Option<u16> {
    let (h, m) = text.trim().split_once(':')?;
    if h.len() != 2 || m.len() != 2 {
        return None;
    }
    let h: u16 = h.parse().ok()?;
    let m: u16 = m.parse().ok()?;
    let total = h * 60 + m;
    (m < 60 && total <= 24 * 60).then_some(total)
}

impl NetworkRangeRule {
    pub(crate) fn problems(&self) -> Vec<(String, String)> {
        let list = self.cidr_notation.to_vec();
        let mut out = problem_if(list.is_empty(), "cidrNotation", "needs at least one range");
        for (i, c) in list.iter().enumerate() {
            if parse_cidr(c).is_none() {
                out.push((
                    format!("cidrNotation[{i}]"),
                    format!("'{c}' is not an IP address or CIDR"),
                ));
            }
        }
        out
    }
}

impl TimeRangeRule {
    pub(crate) fn problems(&self) -> Vec<(String, String)> {
        let mut out = Vec::new();
        for (field, value) in [("startTime", &self.start_time), ("endTime", &self.end_time)] {
            if parse_clock(value).is_none() {
                out.push((field.into(), format!("'{value}' is not a time (HH:MM)")));
            }
        }
        if self.start_time.trim() == self.end_time.trim() {
            out.push(("endTime".into(), "must differ from startTime".into()));
        }
        for (i, d) in self.days.iter().flatten().enumerate() {
            if day_index(d).is_none() {
                out.push((format!("days[{i}]"), format!("'{d}' is not a day name")));
            }
        }
        out
    }
}

fn rows_problems(field: &str, rows: &[NameValueRow]) -> Vec<(String, String)> {
    let mut out = problem_if(rows.is_empty(), field, "needs at least one row");
    for (i, r) in rows.iter().enumerate() {
        if r.name.trim().is_empty() {
            out.push((format!("{field}[{i}].name"), "must not be empty".into()));
        }
    }
    out
}

impl HeaderRule {
    pub(crate) fn problems(&self) -> Vec<(String, String)> {
        let mut out = rows_problems("headers", &self.headers);
        for (i, r) in self.headers.iter().enumerate() {
            if http::header::HeaderName::from_bytes(r.name.as_bytes()).is_err() {
                out.push((
                    format!("headers[{i}].name"),
                    format!("'{}' is not a header name", r.name),
                ));
            }
        }
        out
    }
}

impl ParameterRule {
    pub(crate) fn problems(&self) -> Vec<(String, String)> {
        rows_problems("parameters", &self.parameters)
    }
}

impl MethodRule {
    pub(crate) fn problems(&self) -> Vec<(String, String)> {
        let mut out = problem_if(
            self.methods.is_empty(),
            "methods",
            "needs at least one method",
        );
        for (i, m) in self.methods.iter().enumerate() {
            if http::Method::from_bytes(m.as_bytes()).is_err() || m.is_empty() {
                out.push((format!("methods[{i}]"), format!("'{m}' is not a method")));
            }
        }
        out
    }
}

impl WebSocketRule {
    pub(crate) fn problems(&self) -> Vec<(String, String)> {
        origin_problems("allowedOrigins", &self.allowed_origins)
    }
}

/// Each entry is `*` or an origin `scheme://host[:port]` (a `*.` label allowed at the start of
/// the host).
pub(crate) fn origin_problems(field: &str, origins: &[String]) -> Vec<(String, String)> {
    let mut out = Vec::new();
    for (i, o) in origins.iter().enumerate() {
        if o != "*" && !is_origin(o) {
            out.push((
                format!("{field}[{i}]"),
                format!("'{o}' is not '*' or an origin such as https://app.example.com"),
            ));
        }
    }
    out
}

fn is_origin(text: &str) -> bool {
    let Some((scheme, rest)) = text.split_once("://") else {
        return false;
    };
    let host = rest.strip_prefix("*.").unwrap_or(rest);
    matches!(scheme, "http" | "https")
        && !host.is_empty()
        && !rest.contains(['/', '?', '#', '@', ' '])
        && host
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"-.:[]".contains(&b))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn clocks_and_days_parse() {
        assert_eq!(parse_clock("09:30"), Some(570));
        assert_eq!(parse_clock("24:00"), Some(1440));
        for bad in ["9:30", "24:01", "12:60", "ab:cd", "1200"] {
            assert_eq!(parse_clock(bad), None, "{bad}");
        }
        assert_eq!(day_index("Mon"), Some(0));
        assert_eq!(day_index("SUNDAY"), Some(6));
        assert_eq!(day_index("Mo"), None);
    }

    #[test]
    fn origins_are_scheme_host_port() {
        assert!(is_origin("https://app.example.com"));
        assert!(is_origin("http://localhost:8080"));
        assert!(is_origin("https://*.example.com"));
        for bad in [
            "app.example.com",
            "https://a.test/path",
            "ftp://a.test",
            "https://",
        ] {
            assert!(!is_origin(bad), "{bad}");
        }
    }
}
