//! Checks on the request itself: time windows, header and parameter rows with `*` wildcards,
//! and WebSocket handshakes.

use gatehouse_model::rules::request::{day_index, parse_clock};
use gatehouse_model::rules::{NameValueRow, TimeRangeRule, WebSocketRule};
use http::header::{ORIGIN, SEC_WEBSOCKET_PROTOCOL, UPGRADE};
use http::{HeaderMap, HeaderName};
use jiff::tz::TimeZone;

use super::cors::OriginPattern;
use super::Facts;

/// A `*` wildcard pattern, compiled into its literal pieces.
#[derive(Debug, Clone)]
pub struct Wildcard {
    pieces: Vec<Box<[u8]>>,
    case_sensitive: bool,
}

impl Wildcard {
    /// Compiles `pattern`; without `case_sensitive` the comparison folds ASCII case.
    pub fn new(pattern: &str, case_sensitive: bool) -> Self {
        Self {
            pieces: pattern.split('*').map(|p| p.as_bytes().into()).collect(),
            case_sensitive,
        }
    }

    fn eq(&self, a: &[u8], b: &[u8]) -> bool {
        if self.case_sensitive {
            a == b
        } else {
            a.eq_ignore_ascii_case(b)
        }
    }

    fn find(&self, haystack: &[u8], needle: &[u8]) -> Option<usize> {
        if needle.is_empty() {
            return Some(0);
        }
        haystack
            .windows(needle.len())
            .position(|w| self.eq(w, needle))
    }

    /// True when `text` matches the whole pattern (no allocation).
    pub fn matches(&self, text: &str) -> bool {
        let text = text.as_bytes();
        let Some((first, rest)) = self.pieces.split_first() else {
            return text.is_empty();
        };
        if text.len() < first.len() || !self.eq(&text[..first.len()], first) {
            return false;
        }
        let mut tail = &text[first.len()..];
        let Some((last, middle)) = rest.split_last() else {
            return tail.is_empty();
        };
        for piece in middle {
            match self.find(tail, piece) {
                Some(at) => tail = &tail[at + piece.len()..],
                None => return false,
            }
        }
        tail.len() >= last.len() && self.eq(&tail[tail.len() - last.len()..], last)
    }
}

/// Name/value rows, all required.
#[derive(Debug)]
pub struct Rows {
    rows: Vec<(String, Wildcard)>,
    headers: Vec<(HeaderName, Wildcard)>,
    case_sensitive: bool,
}

impl Rows {
    /// Compiles rows (header names always fold case; parameter names per `case_sensitive`).
    pub fn new(rows: &[NameValueRow], case_sensitive: bool) -> Self {
        Self {
            rows: rows
                .iter()
                .map(|r| (r.name.clone(), Wildcard::new(&r.value, case_sensitive)))
                .collect(),
            headers: rows
                .iter()
                .filter_map(|r| {
                    let name = HeaderName::from_bytes(r.name.as_bytes()).ok()?;
                    Some((name, Wildcard::new(&r.value, case_sensitive)))
                })
                .collect(),
            case_sensitive,
        }
    }
}

/// Every row matches one value of its header (a header sent several times matches when any
/// of its lines does; a comma-separated line is compared whole).
pub fn headers_match(rows: &Rows, headers: &HeaderMap) -> bool {
    rows.headers.len() == rows.rows.len()
        && rows.headers.iter().all(|(name, value)| {
            headers
                .get_all(name)
                .iter()
                .filter_map(|v| v.to_str().ok())
                .any(|v| value.matches(v.trim()))
        })
}

/// Every row matches one value of its parameter, in the query or the url-encoded form body
/// (decoded once per request, on first use).
pub fn parameters_match(rows: &Rows, facts: &Facts<'_>) -> bool {
    let params = facts.parameters();
    rows.rows.iter().all(|(name, value)| {
        params.iter().any(|(k, v)| {
            let same_name = if rows.case_sensitive {
                k == name
            } else {
                k.eq_ignore_ascii_case(name)
            };
            same_name && value.matches(v)
        })
    })
}

/// A daily time window in a time zone, optionally on some days only.
#[derive(Debug)]
pub struct TimeWindow {
    start: u16,
    end: u16,
    zone: TimeZone,
    /// Days the window opens on, Monday = bit 0; all bits when every day.
    days: u8,
}

impl TimeWindow {
    /// Compiles a `TimeRange` rule; `Err` names the unknown time zone.
    pub fn compile(rule: &TimeRangeRule) -> Result<Self, String> {
        let zone_name = rule.time_zone.as_deref().unwrap_or("UTC");
        let zone = TimeZone::get(zone_name)
            .map_err(|_| format!("'{zone_name}' is not an IANA time zone"))?;
        let days = match &rule.days {
            None => 0x7f,
            Some(list) => list
                .iter()
                .filter_map(|d| day_index(d))
                .fold(0u8, |acc, i| acc | 1 << i),
        };
        Ok(Self {
            start: parse_clock(&rule.start_time).unwrap_or(0),
            end: parse_clock(&rule.end_time).unwrap_or(0),
            zone,
            days,
        })
    }

    /// True when the window is open now.
    pub fn contains_now(&self) -> bool {
        let now = jiff::Timestamp::now().to_zoned(self.zone.clone());
        let minute =
            u16::from(now.hour().unsigned_abs()) * 60 + u16::from(now.minute().unsigned_abs());
        let weekday = usize::from(now.weekday().to_monday_zero_offset().unsigned_abs());
        self.contains(minute, weekday)
    }

    /// True when minute-of-day `minute` on weekday `weekday` (Monday = 0) is inside.
    pub fn contains(&self, minute: u16, weekday: usize) -> bool {
        let opens_on = |day: usize| self.days & (1 << (day % 7)) != 0;
        if self.start < self.end {
            opens_on(weekday) && (self.start..self.end).contains(&minute)
        } else if minute >= self.start {
            // Over midnight: the evening part belongs to today's window…
            opens_on(weekday)
        } else {
            // …and the morning part to yesterday's.
            minute < self.end && opens_on(weekday + 6)
        }
    }
}

/// A compiled `WebSocketHandshake` rule.
#[derive(Debug)]
pub struct WebSocketCheck {
    origins: Vec<OriginPattern>,
    subprotocols: Option<Vec<String>>,
}

impl WebSocketCheck {
    /// Compiles the rule.
    pub fn compile(rule: &WebSocketRule) -> Self {
        let subprotocols = rule
            .allowed_subprotocols
            .clone()
            .filter(|list| !list.iter().any(|p| p == "*"));
        Self {
            origins: rule
                .allowed_origins
                .iter()
                .map(|o| OriginPattern::new(o))
                .collect(),
            subprotocols,
        }
    }

    /// Non-handshakes pass; a handshake needs an allowed (or, with no list, the same) origin
    /// and only allowed subprotocols. A handshake without `Origin` is not from a browser.
    pub fn allows(&self, headers: &HeaderMap, own_origin: &str) -> bool {
        let websocket = headers
            .get(UPGRADE)
            .and_then(|v| v.to_str().ok())
            .is_some_and(|v| v.eq_ignore_ascii_case("websocket"));
        if !websocket {
            return true;
        }
        let origin_ok = match headers.get(ORIGIN).and_then(|v| v.to_str().ok()) {
            None => true,
            Some(o) if self.origins.is_empty() => o.eq_ignore_ascii_case(own_origin),
            Some(o) => self.origins.iter().any(|p| p.matches(o)),
        };
        let protocols_ok = self.subprotocols.as_ref().is_none_or(|allowed| {
            headers
                .get_all(SEC_WEBSOCKET_PROTOCOL)
                .iter()
                .filter_map(|v| v.to_str().ok())
                .flat_map(|v| v.split(','))
                .map(str::trim)
                .filter(|p| !p.is_empty())
                .all(|p| allowed.iter().any(|a| a == p))
        });
        origin_ok && protocols_ok
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn wildcards_match_whole_values() {
        let w = Wildcard::new("Mozilla/*Firefox*", true);
        assert!(w.matches("Mozilla/5.0 (X11) Gecko Firefox/120"));
        assert!(!w.matches("mozilla/5.0 Firefox"));
        assert!(Wildcard::new("mozilla/*firefox*", false).matches("Mozilla/5.0 Firefox"));
        assert!(Wildcard::new("*", true).matches(""));
        assert!(Wildcard::new("a*a", true).matches("aa"));
        assert!(!Wildcard::new("a*a", true).matches("a"));
        assert!(Wildcard::new("exact", true).matches("exact"));
        assert!(!Wildcard::new("exact", true).matches("exactly"));
        assert!(!Wildcard::new("*.test", true).matches("a.test.evil"));
    }

    fn window(start: &str, end: &str, days: Option<&[&str]>) -> TimeWindow {
        TimeWindow::compile(&TimeRangeRule {
            start_time: start.into(),
            end_time: end.into(),
            time_zone: Some("Europe/Paris".into()),
            days: days.map(|d| d.iter().map(|s| s.to_string()).collect()),
            negate: false,
            rejection_handler_id: None,
        })
        .unwrap_or_else(|e| panic!("{e}"))
    }

    #[test]
    fn time_windows_run_over_midnight_and_respect_days() {
        let office = window("09:00", "17:00", Some(&["Mon", "Tuesday"]));
        assert!(office.contains(9 * 60, 0));
        assert!(!office.contains(17 * 60, 0), "end is exclusive");
        assert!(!office.contains(10 * 60, 2), "Wednesday");
        let night = window("22:00", "06:00", Some(&["Friday"]));
        assert!(night.contains(23 * 60, 4), "Friday evening");
        assert!(
            night.contains(60, 5),
            "Saturday early morning belongs to Friday"
        );
        assert!(
            !night.contains(60, 4),
            "Friday early morning belongs to Thursday"
        );
        assert!(!night.contains(7 * 60, 5));
        let sunday_night = window("22:00", "06:00", Some(&["Sun"]));
        assert!(
            sunday_night.contains(60, 0),
            "Monday morning belongs to Sunday"
        );
    }

    #[test]
    fn unknown_time_zones_are_refused() {
        let err = TimeWindow::compile(&TimeRangeRule {
            start_time: "09:00".into(),
            end_time: "10:00".into(),
            time_zone: Some("Mars/Olympus".into()),
            days: None,
            negate: false,
            rejection_handler_id: None,
        })
        .unwrap_err();
        assert!(err.contains("Mars/Olympus"));
    }
}
