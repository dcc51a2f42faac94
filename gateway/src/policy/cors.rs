//! `Cors`: the gateway answers preflights, refuses cross-origin requests from other origins, and
//! sets the CORS response headers itself (a backend's own `Access-Control-*` headers are
//! replaced, so the policy in the gateway is the one browsers see).

use gatehouse_model::rules::CorsRule;
use http::header::{
    ACCESS_CONTROL_ALLOW_CREDENTIALS, ACCESS_CONTROL_ALLOW_HEADERS, ACCESS_CONTROL_ALLOW_METHODS,
    ACCESS_CONTROL_ALLOW_ORIGIN, ACCESS_CONTROL_EXPOSE_HEADERS, ACCESS_CONTROL_MAX_AGE,
    ACCESS_CONTROL_REQUEST_HEADERS, ACCESS_CONTROL_REQUEST_METHOD, ORIGIN, VARY,
};
use http::{HeaderMap, HeaderValue, Method};

/// An allowed origin: `*`, exact, or `scheme://*.domain[:port]`.
#[derive(Debug, Clone)]
pub enum OriginPattern {
    /// Any origin.
    Any,
    /// One origin (lower-case).
    Exact(String),
    /// `scheme://` plus any host ending in `suffix` (which starts with `.`).
    Subdomains {
        /// `https://`.
        scheme: String,
        /// `.example.com` or `.example.com:8443`.
        suffix: String,
    },
}

impl OriginPattern {
    /// Compiles a configured origin.
    pub fn new(text: &str) -> Self {
        let lower = text.trim().trim_end_matches('/').to_ascii_lowercase();
        if lower == "*" {
            return Self::Any;
        }
        match lower.split_once("://*") {
            Some((scheme, suffix)) => Self::Subdomains {
                scheme: format!("{scheme}://"),
                suffix: suffix.to_string(),
            },
            None => Self::Exact(lower),
        }
    }

    /// True when `origin` (as sent by a browser) is allowed.
    pub fn matches(&self, origin: &str) -> bool {
        match self {
            Self::Any => true,
            Self::Exact(o) => o.eq_ignore_ascii_case(origin),
            Self::Subdomains { scheme, suffix } => {
                let origin = origin.to_ascii_lowercase();
                origin
                    .strip_prefix(scheme.as_str())
                    .and_then(|host| host.strip_suffix(suffix.as_str()))
                    .is_some_and(|label| {
                        !label.is_empty()
                            && label
                                .bytes()
                                .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'.')
                    })
            }
        }
    }
}

/// A compiled `Cors` rule.
#[derive(Debug)]
pub struct Cors {
    origins: Vec<OriginPattern>,
    any_origin: bool,
    methods: Vec<Method>,
    methods_value: Option<HeaderValue>,
    request_headers: Vec<String>,
    request_headers_value: Option<HeaderValue>,
    exposed: Option<HeaderValue>,
    credentials: bool,
    max_age: HeaderValue,
}

fn list_value(items: &[String]) -> Option<HeaderValue> {
    if items.is_empty() {
        return None;
    }
    HeaderValue::from_str(&items.join(", ")).ok()
}

impl Cors {
    /// Compiles the rule (validated: methods and header names are well-formed).
    pub fn compile(rule: &CorsRule) -> Self {
        let origins: Vec<OriginPattern> = rule
            .allowed_origins
            .iter()
            .map(|o| OriginPattern::new(o))
            .collect();
        Self {
            any_origin: origins.iter().any(|o| matches!(o, OriginPattern::Any)),
            origins,
            methods: rule
                .allowed_methods
                .iter()
                .filter_map(|m| Method::from_bytes(m.to_ascii_uppercase().as_bytes()).ok())
                .collect(),
            methods_value: list_value(&rule.allowed_methods),
            request_headers: rule
                .allowed_request_headers
                .iter()
                .map(|h| h.to_ascii_lowercase())
                .collect(),
            request_headers_value: list_value(&rule.allowed_request_headers),
            exposed: list_value(&rule.exposed_response_headers),
            credentials: rule.allow_credentials,
            max_age: HeaderValue::from(rule.cors_preflight_max_age),
        }
    }

    /// The `Origin` of a cross-origin request (`None` when absent or same-origin).
    fn cross_origin<'h>(headers: &'h HeaderMap, own_origin: &str) -> Option<&'h str> {
        let origin = headers.get(ORIGIN)?.to_str().ok()?;
        (!origin.eq_ignore_ascii_case(own_origin)).then_some(origin)
    }

    fn origin_allowed(&self, origin: &str) -> bool {
        self.origins.iter().any(|p| p.matches(origin))
    }

    /// Access control: same-origin and origin-less requests pass; cross-origin ones need an
    /// allowed origin (methods and headers are the browser's business, told by the preflight).
    pub fn request_allowed(&self, headers: &HeaderMap, own_origin: &str) -> bool {
        Self::cross_origin(headers, own_origin).is_none_or(|o| self.origin_allowed(o))
    }

    /// True for a CORS preflight (`OPTIONS` with `Origin` and `Access-Control-Request-Method`).
    pub fn is_preflight(method: &Method, headers: &HeaderMap) -> bool {
        method == Method::OPTIONS
            && headers.contains_key(ORIGIN)
            && headers.contains_key(ACCESS_CONTROL_REQUEST_METHOD)
    }

    /// The headers of the answer to a preflight, or `None` when it is refused (origin, method
    /// or a requested header not allowed).
    pub fn preflight(&self, headers: &HeaderMap) -> Option<HeaderMap> {
        let origin = headers.get(ORIGIN)?;
        if !self.origin_allowed(origin.to_str().ok()?) {
            return None;
        }
        let method = headers.get(ACCESS_CONTROL_REQUEST_METHOD)?.to_str().ok()?;
        let method = Method::from_bytes(method.trim().as_bytes()).ok()?;
        if !self.methods.contains(&method) {
            return None;
        }
        let requested = headers
            .get_all(ACCESS_CONTROL_REQUEST_HEADERS)
            .iter()
            .filter_map(|v| v.to_str().ok())
            .flat_map(|v| v.split(','))
            .map(|h| h.trim().to_ascii_lowercase())
            .filter(|h| !h.is_empty());
        let mut all_allowed = true;
        for h in requested {
            all_allowed &= self.request_headers.contains(&h);
        }
        if !all_allowed {
            return None;
        }
        let mut out = HeaderMap::new();
        self.allow_origin(origin, &mut out);
        if let Some(v) = &self.methods_value {
            out.insert(ACCESS_CONTROL_ALLOW_METHODS, v.clone());
        }
        if let Some(v) = &self.request_headers_value {
            out.insert(ACCESS_CONTROL_ALLOW_HEADERS, v.clone());
        }
        out.insert(ACCESS_CONTROL_MAX_AGE, self.max_age.clone());
        out.insert(
            VARY,
            HeaderValue::from_static(
                "Origin, Access-Control-Request-Method, Access-Control-Request-Headers",
            ),
        );
        Some(out)
    }

    fn allow_origin(&self, origin: &HeaderValue, out: &mut HeaderMap) {
        if self.any_origin && !self.credentials {
            out.insert(ACCESS_CONTROL_ALLOW_ORIGIN, HeaderValue::from_static("*"));
        } else {
            out.insert(ACCESS_CONTROL_ALLOW_ORIGIN, origin.clone());
            out.append(VARY, HeaderValue::from_static("Origin"));
        }
        if self.credentials {
            out.insert(
                ACCESS_CONTROL_ALLOW_CREDENTIALS,
                HeaderValue::from_static("true"),
            );
        }
    }

    /// Sets the CORS headers on the response to an allowed cross-origin request, replacing the
    /// backend's.
    pub fn decorate(
        &self,
        origin: Option<&HeaderValue>,
        own_origin: &str,
        response: &mut HeaderMap,
    ) {
        let Some(origin) = origin else { return };
        let Ok(text) = origin.to_str() else { return };
        if text.eq_ignore_ascii_case(own_origin) || !self.origin_allowed(text) {
            return;
        }
        for name in [
            ACCESS_CONTROL_ALLOW_ORIGIN,
            ACCESS_CONTROL_ALLOW_CREDENTIALS,
            ACCESS_CONTROL_EXPOSE_HEADERS,
            ACCESS_CONTROL_ALLOW_METHODS,
            ACCESS_CONTROL_ALLOW_HEADERS,
            ACCESS_CONTROL_MAX_AGE,
        ] {
            response.remove(name);
        }
        self.allow_origin(origin, response);
        if let Some(v) = &self.exposed {
            response.insert(ACCESS_CONTROL_EXPOSE_HEADERS, v.clone());
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cors(origins: &[&str], credentials: bool) -> Cors {
        Cors::compile(&CorsRule {
            allowed_origins: origins.iter().map(|s| s.to_string()).collect(),
            allowed_methods: vec!["GET".into(), "PUT".into()],
            allowed_request_headers: vec!["Content-Type".into(), "Authorization".into()],
            exposed_response_headers: vec!["X-Total".into()],
            allow_credentials: credentials,
            cors_preflight_max_age: 600,
            rejection_handler_id: None,
        })
    }

    fn headers(pairs: &[(&'static str, &str)]) -> HeaderMap {
        let mut h = HeaderMap::new();
        for (k, v) in pairs {
            if let Ok(v) = HeaderValue::from_str(v) {
                h.append(*k, v);
            }
        }
        h
    }

    #[test]
    fn subdomain_patterns_need_a_label_and_the_exact_suffix() {
        let p = OriginPattern::new("https://*.example.com");
        assert!(p.matches("https://app.example.com"));
        assert!(p.matches("https://a.b.example.com"));
        assert!(!p.matches("https://example.com"));
        assert!(!p.matches("https://evilexample.com"));
        assert!(!p.matches("http://app.example.com"));
        assert!(!p.matches("https://app.example.com.evil.test"));
    }

    #[test]
    fn preflights_check_origin_method_and_headers() {
        let c = cors(&["https://app.test"], true);
        let ok = headers(&[
            ("origin", "https://app.test"),
            ("access-control-request-method", "PUT"),
            (
                "access-control-request-headers",
                "content-type, authorization",
            ),
        ]);
        let out = c.preflight(&ok).unwrap_or_default();
        assert_eq!(
            out.get(ACCESS_CONTROL_ALLOW_ORIGIN).map(|v| v.as_bytes()),
            Some(&b"https://app.test"[..])
        );
        assert_eq!(
            out.get(ACCESS_CONTROL_ALLOW_CREDENTIALS)
                .map(|v| v.as_bytes()),
            Some(&b"true"[..])
        );
        assert_eq!(
            out.get(ACCESS_CONTROL_MAX_AGE).map(|v| v.as_bytes()),
            Some(&b"600"[..])
        );
        for bad in [
            headers(&[
                ("origin", "https://evil.test"),
                ("access-control-request-method", "PUT"),
            ]),
            headers(&[
                ("origin", "https://app.test"),
                ("access-control-request-method", "DELETE"),
            ]),
            headers(&[
                ("origin", "https://app.test"),
                ("access-control-request-method", "GET"),
                ("access-control-request-headers", "x-secret"),
            ]),
        ] {
            assert!(c.preflight(&bad).is_none(), "{bad:?}");
        }
    }

    #[test]
    fn responses_get_our_headers_and_lose_the_backends() {
        let c = cors(&["*"], false);
        let mut resp = headers(&[("access-control-allow-origin", "https://backend-choice.test")]);
        let origin = HeaderValue::from_static("https://any.test");
        c.decorate(Some(&origin), "https://gw.test", &mut resp);
        assert_eq!(
            resp.get(ACCESS_CONTROL_ALLOW_ORIGIN).map(|v| v.as_bytes()),
            Some(&b"*"[..])
        );
        assert_eq!(
            resp.get(ACCESS_CONTROL_EXPOSE_HEADERS)
                .map(|v| v.as_bytes()),
            Some(&b"X-Total"[..])
        );
        let mut same = HeaderMap::new();
        let own = HeaderValue::from_static("https://gw.test");
        c.decorate(Some(&own), "https://gw.test", &mut same);
        assert!(same.is_empty(), "same-origin responses are left alone");
    }
}
