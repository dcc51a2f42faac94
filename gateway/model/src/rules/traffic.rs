//! Settings of the rules that shape traffic rather than check identity: `RateLimiting`,
//! `Cors`, `Redirect` and `Rejection`.

use serde::Deserialize;

use super::problem_if;
use super::request::origin_problems;

/// Longest window a rate limit may span (`requestIntervalMs × (maxBurstRequests + 1)`): the
/// engine forgets idle buckets after this long, which is only safe once they are full again.
pub const MAX_RATE_WINDOW_MS: u64 = 3_600_000;

/// What a rate-limiting bucket is kept per.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize)]
pub enum Granularity {
    /// The authenticated subject (the client IP when there is none).
    #[default]
    Subject,
    /// The client IP.
    #[serde(rename = "IP")]
    Ip,
    /// The whole application.
    Application,
}

/// `RateLimiting`: a token bucket of `maxBurstRequests + 1` requests refilled one per
/// `requestIntervalMs`.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct RateLimitRule {
    /// Requests allowed at once beyond the steady rate.
    pub max_burst_requests: u64,
    /// Milliseconds per request at the steady rate.
    pub request_interval_ms: u64,
    /// What a bucket is kept per.
    #[serde(default)]
    pub policy_granularity: Granularity,
    /// Rejection handler (absent: the built-in 429 answer).
    #[serde(default)]
    pub rejection_handler_id: Option<u64>,
}

/// `Cors`: cross-origin requests from allowed origins get CORS headers; preflights are
/// answered by the gateway; other origins are refused.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct CorsRule {
    /// Origins (`https://app.example.com`, `https://*.example.com`, or `*`).
    pub allowed_origins: Vec<String>,
    /// Methods a cross-origin request may use.
    #[serde(default = "CorsRule::default_methods")]
    pub allowed_methods: Vec<String>,
    /// Request headers a cross-origin request may send.
    #[serde(default = "CorsRule::default_request_headers")]
    pub allowed_request_headers: Vec<String>,
    /// Response headers scripts may read.
    #[serde(default)]
    pub exposed_response_headers: Vec<String>,
    /// Allow cookies and `Authorization` (never with `*`).
    #[serde(default)]
    pub allow_credentials: bool,
    /// Seconds a browser may cache a preflight answer.
    #[serde(default = "CorsRule::default_max_age")]
    pub cors_preflight_max_age: u32,
    /// Rejection handler for refused origins.
    #[serde(default)]
    pub rejection_handler_id: Option<u64>,
}

impl CorsRule {
    fn default_methods() -> Vec<String> {
        ["GET", "HEAD", "POST", "PUT", "PATCH", "DELETE"]
            .map(String::from)
            .to_vec()
    }

    fn default_request_headers() -> Vec<String> {
        ["Authorization", "Content-Type", "Accept"]
            .map(String::from)
            .to_vec()
    }

    fn default_max_age() -> u32 {
        600
    }
}

/// `Redirect`: answers every request with a redirect.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct RedirectRule {
    /// Absolute `http(s)` URL or a path starting with one `/`.
    pub url: String,
    /// 301, 302 (default), 303, 307 or 308.
    #[serde(default = "default_redirect_code")]
    pub response_code: u16,
}

/// `Rejection`: refuses every request with a rejection handler.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct RejectionRule {
    /// The handler that answers.
    pub rejection_handler_id: u64,
}

/// 302.
pub fn default_redirect_code() -> u16 {
    302
}

/// Redirect statuses a rule or handler may use.
pub const REDIRECT_CODES: [u16; 5] = [301, 302, 303, 307, 308];

/// Problems of a redirect target: an absolute `http(s)` URL or a local path (`/x`, not `//x`).
pub fn redirect_url_problem(url: &str) -> Option<String> {
    let local = url.starts_with('/') && !url.starts_with("//") && !url.starts_with("/\\");
    let absolute = ["http://", "https://"].iter().any(|s| {
        url.get(..s.len())
            .is_some_and(|p| p.eq_ignore_ascii_case(s))
            && url.len() > s.len()
    });
    let clean = !url.bytes().any(|b| b.is_ascii_control() || b == b' ');
    (!(clean && (local || absolute)))
        .then(|| format!("'{url}' is not an http(s) URL or a path starting with '/'"))
}

impl RateLimitRule {
    pub(crate) fn problems(&self) -> Vec<(String, String)> {
        let mut out = problem_if(
            self.request_interval_ms == 0,
            "requestIntervalMs",
            "must be at least 1",
        );
        let window = self
            .request_interval_ms
            .saturating_mul(self.max_burst_requests.saturating_add(1));
        if window > MAX_RATE_WINDOW_MS {
            out.push((
                "requestIntervalMs".into(),
                format!(
                    "requestIntervalMs × (maxBurstRequests + 1) must be at most {MAX_RATE_WINDOW_MS} ms (one hour)"
                ),
            ));
        }
        out
    }
}

impl CorsRule {
    pub(crate) fn problems(&self) -> Vec<(String, String)> {
        let mut out = problem_if(
            self.allowed_origins.is_empty(),
            "allowedOrigins",
            "needs at least one origin",
        );
        out.extend(origin_problems("allowedOrigins", &self.allowed_origins));
        if self.allow_credentials && self.allowed_origins.iter().any(|o| o == "*") {
            out.push((
                "allowCredentials".into(),
                "cannot be combined with the '*' origin; list the origins".into(),
            ));
        }
        for (i, m) in self.allowed_methods.iter().enumerate() {
            if http::Method::from_bytes(m.as_bytes()).is_err() || m.is_empty() {
                out.push((
                    format!("allowedMethods[{i}]"),
                    format!("'{m}' is not a method"),
                ));
            }
        }
        let names = self
            .allowed_request_headers
            .iter()
            .map(|h| ("allowedRequestHeaders", h))
            .chain(
                self.exposed_response_headers
                    .iter()
                    .map(|h| ("exposedResponseHeaders", h)),
            );
        for (field, h) in names {
            if http::header::HeaderName::from_bytes(h.as_bytes()).is_err() {
                out.push((field.into(), format!("'{h}' is not a header name")));
            }
        }
        out
    }
}

impl RedirectRule {
    pub(crate) fn problems(&self) -> Vec<(String, String)> {
        let mut out: Vec<(String, String)> = redirect_url_problem(&self.url)
            .map(|m| ("url".to_string(), m))
            .into_iter()
            .collect();
        if !REDIRECT_CODES.contains(&self.response_code) {
            out.push((
                "responseCode".into(),
                "must be 301, 302, 303, 307 or 308".into(),
            ));
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn redirect_targets_are_absolute_http_urls_or_local_paths() {
        for ok in ["/moved", "https://a.test/x", "HTTP://a.test"] {
            assert_eq!(redirect_url_problem(ok), None, "{ok}");
        }
        for bad in [
            "//evil.test",
            "/\\evil.test",
            "javascript:alert(1)",
            "https://",
            "a b",
            "moved",
        ] {
            assert!(redirect_url_problem(bad).is_some(), "{bad}");
        }
    }
}
