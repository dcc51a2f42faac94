//! Processing rules: `RewriteUrl` on the normalised request path, and `RewriteResponseHeader`,
//! `RewriteCookieDomain`, `RewriteCookiePath` on the response.

use std::sync::Arc;

use http::header::{CONTENT_LOCATION, LOCATION, SET_COOKIE};
use http::{HeaderMap, HeaderName, HeaderValue};
use regex::Regex;

/// A compiled processing rule.
#[derive(Debug)]
pub enum Processing {
    /// First match of `from` in the path replaced by `to`.
    Url {
        /// Pattern.
        from: Regex,
        /// Replacement (`$1`).
        to: String,
    },
    /// First match of `from` in `Location`, `Content-Location` and `URI` replaced by `to`.
    ResponseHeader {
        /// Pattern.
        from: Regex,
        /// Replacement.
        to: String,
    },
    /// `Domain=server` in `Set-Cookie` becomes `Domain=public`.
    CookieDomain {
        /// Backend's domain, lower-case, without a leading dot.
        server: String,
        /// Public domain.
        public: String,
    },
    /// `Path=` at or below `server` in `Set-Cookie` moves below `public`.
    CookiePath {
        /// Backend's path.
        server: String,
        /// Public path.
        public: String,
    },
}

/// Applies the `RewriteUrl` rules to `path` in order; `None` when nothing changed.
pub fn rewrite_path(rules: &[Arc<Processing>], path: &str) -> Option<String> {
    let mut current: Option<String> = None;
    for rule in rules {
        if let Processing::Url { from, to } = rule.as_ref() {
            let input = current.as_deref().unwrap_or(path);
            if from.is_match(input) {
                current = Some(from.replace(input, to.as_str()).into_owned());
            }
        }
    }
    current
}

/// Applies the response rules to the backend's response headers, in order.
pub fn rewrite_response(rules: &[Arc<Processing>], headers: &mut HeaderMap) {
    for rule in rules {
        match rule.as_ref() {
            Processing::Url { .. } => {}
            Processing::ResponseHeader { from, to } => {
                for name in [LOCATION, CONTENT_LOCATION, HeaderName::from_static("uri")] {
                    map_values(headers, &name, |v| {
                        from.is_match(v)
                            .then(|| from.replace(v, to.as_str()).into_owned())
                    });
                }
            }
            Processing::CookieDomain { server, public } => {
                map_values(headers, &SET_COOKIE, |v| {
                    rewrite_attribute(v, "domain", |d| {
                        let bare = d.strip_prefix('.').unwrap_or(d);
                        bare.eq_ignore_ascii_case(server).then(|| public.clone())
                    })
                });
            }
            Processing::CookiePath { server, public } => {
                map_values(headers, &SET_COOKIE, |v| {
                    rewrite_attribute(v, "path", |p| move_path(p, server, public))
                });
            }
        }
    }
}

/// Replaces every value of `name` that `f` changes (values that are not text are kept).
fn map_values(headers: &mut HeaderMap, name: &HeaderName, f: impl Fn(&str) -> Option<String>) {
    if !headers.contains_key(name) {
        return;
    }
    let values: Vec<HeaderValue> = headers.get_all(name).iter().cloned().collect();
    let mut changed = false;
    let rewritten: Vec<HeaderValue> = values
        .into_iter()
        .map(|v| {
            let new = v
                .to_str()
                .ok()
                .and_then(&f)
                .and_then(|s| HeaderValue::from_str(&s).ok());
            match new {
                Some(n) => {
                    changed = true;
                    n
                }
                None => v,
            }
        })
        .collect();
    if changed {
        headers.remove(name);
        for v in rewritten {
            headers.append(name.clone(), v);
        }
    }
}

/// Rewrites the value of cookie attribute `attr` (case-insensitive) in a `Set-Cookie` value.
fn rewrite_attribute(
    cookie: &str,
    attr: &str,
    f: impl Fn(&str) -> Option<String>,
) -> Option<String> {
    let mut changed = false;
    let parts: Vec<String> = cookie
        .split(';')
        .enumerate()
        .map(|(i, part)| {
            let Some((name, value)) = part.split_once('=') else {
                return part.to_string();
            };
            if i == 0 || !name.trim().eq_ignore_ascii_case(attr) {
                return part.to_string();
            }
            match f(value.trim()) {
                Some(new) => {
                    changed = true;
                    format!(" {}={new}", name.trim())
                }
                None => part.to_string(),
            }
        })
        .collect();
    changed.then(|| parts.join(";"))
}

/// `server` → `public` when `path` is `server` or below it (segment-wise).
fn move_path(path: &str, server: &str, public: &str) -> Option<String> {
    let server = server.trim_end_matches('/');
    let rest = path.strip_prefix(server)?;
    if !(rest.is_empty() || rest.starts_with('/') || server.is_empty()) {
        return None;
    }
    let public = public.trim_end_matches('/');
    let joined = format!("{public}{rest}");
    Some(if joined.is_empty() {
        "/".into()
    } else {
        joined
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rules(list: Vec<Processing>) -> Vec<Arc<Processing>> {
        list.into_iter().map(Arc::new).collect()
    }

    fn regex(p: &str) -> Regex {
        Regex::new(p).unwrap_or_else(|e| panic!("{e}"))
    }

    #[test]
    fn url_rules_chain_in_order() {
        let r = rules(vec![
            Processing::Url {
                from: regex("^/old/(.*)$"),
                to: "/new/$1".into(),
            },
            Processing::Url {
                from: regex("^/new/v1/"),
                to: "/new/v2/".into(),
            },
        ]);
        assert_eq!(rewrite_path(&r, "/old/v1/x").as_deref(), Some("/new/v2/x"));
        assert_eq!(rewrite_path(&r, "/other"), None);
    }

    #[test]
    fn cookies_move_domain_and_path_segment_wise() {
        let r = rules(vec![
            Processing::CookieDomain {
                server: "internal.lan".into(),
                public: "example.com".into(),
            },
            Processing::CookiePath {
                server: "/app".into(),
                public: "/public/app".into(),
            },
        ]);
        let mut h = HeaderMap::new();
        h.append(
            SET_COOKIE,
            HeaderValue::from_static("a=1; Domain=.Internal.lan; Path=/app/x; HttpOnly"),
        );
        h.append(SET_COOKIE, HeaderValue::from_static("b=2; Path=/apple"));
        h.append(
            SET_COOKIE,
            HeaderValue::from_static("c=Domain=internal.lan"),
        );
        rewrite_response(&r, &mut h);
        let got: Vec<&str> = h
            .get_all(SET_COOKIE)
            .iter()
            .filter_map(|v| v.to_str().ok())
            .collect();
        assert_eq!(
            got,
            vec![
                "a=1; Domain=example.com; Path=/public/app/x; HttpOnly",
                "b=2; Path=/apple",
                "c=Domain=internal.lan",
            ]
        );
    }

    #[test]
    fn location_headers_are_rewritten() {
        let r = rules(vec![Processing::ResponseHeader {
            from: regex("^http://backend:8080/"),
            to: "https://www.example.com/".into(),
        }]);
        let mut h = HeaderMap::new();
        h.insert(
            LOCATION,
            HeaderValue::from_static("http://backend:8080/login?x=1"),
        );
        h.insert(CONTENT_LOCATION, HeaderValue::from_static("/elsewhere"));
        rewrite_response(&r, &mut h);
        assert_eq!(
            h.get(LOCATION).map(|v| v.as_bytes()),
            Some(&b"https://www.example.com/login?x=1"[..])
        );
        assert_eq!(
            h.get(CONTENT_LOCATION).map(|v| v.as_bytes()),
            Some(&b"/elsewhere"[..])
        );
    }
}
