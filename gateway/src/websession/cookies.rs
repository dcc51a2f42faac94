//! Cookies of web sessions: reading the request's `Cookie` headers and writing `Set-Cookie`
//! values with the web session's attributes.

use gatehouse_model::websession::{SameSite, WebSession};
use http::HeaderMap;

/// Attributes of a cookie the gateway sets.
#[derive(Debug, Clone)]
pub struct CookieAttrs {
    /// `Secure`.
    pub secure: bool,
    /// `HttpOnly`.
    pub http_only: bool,
    /// `SameSite`.
    pub same_site: SameSite,
    /// `Domain` (host-only when absent).
    pub domain: Option<String>,
    /// `Path`.
    pub path: String,
    /// `Max-Age` in seconds (a session cookie when absent).
    pub max_age: Option<u64>,
}

impl CookieAttrs {
    /// The session cookie's attributes for `ws`.
    pub fn session(ws: &WebSession) -> Self {
        Self {
            secure: ws.secure_cookie,
            http_only: ws.http_only_cookie,
            same_site: ws.same_site,
            domain: ws.cookie_domain.clone().filter(|d| !d.is_empty()),
            path: "/".into(),
            max_age: None,
        }
    }
}

/// Every `name=value` pair of the request's `Cookie` headers, in order.
pub fn request_cookies(headers: &HeaderMap) -> Vec<(&str, &str)> {
    headers
        .get_all(http::header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .filter_map(|pair| {
            let (name, value) = pair.trim().split_once('=')?;
            Some((name.trim(), value.trim().trim_matches('"')))
        })
        .collect()
}

/// A `Set-Cookie` value.
pub fn set_cookie(name: &str, value: &str, attrs: &CookieAttrs) -> String {
    let mut out = format!("{name}={value}; Path={}", attrs.path);
    if let Some(domain) = &attrs.domain {
        out.push_str("; Domain=");
        out.push_str(domain);
    }
    if let Some(age) = attrs.max_age {
        out.push_str(&format!("; Max-Age={age}"));
    }
    if attrs.secure {
        out.push_str("; Secure");
    }
    if attrs.http_only {
        out.push_str("; HttpOnly");
    }
    match attrs.same_site {
        SameSite::Lax => out.push_str("; SameSite=Lax"),
        SameSite::Strict => out.push_str("; SameSite=Strict"),
        SameSite::None => out.push_str("; SameSite=None"),
        SameSite::Disabled => {}
    }
    out
}

/// A `Set-Cookie` value that deletes `name`.
pub fn expire(name: &str, attrs: &CookieAttrs) -> String {
    let gone = CookieAttrs {
        max_age: Some(0),
        ..attrs.clone()
    };
    format!(
        "{}; Expires=Thu, 01 Jan 1970 00:00:00 GMT",
        set_cookie(name, "", &gone)
    )
}

/// The request's `Cookie` headers without the cookies `drop` selects (the session cookie and
/// its chunks are not sent to the site unless it asks for them).
pub fn without(headers: &mut HeaderMap, drop: impl Fn(&str) -> bool) {
    if !request_cookies(headers).iter().any(|(name, _)| drop(name)) {
        return;
    }
    let kept: Vec<String> = request_cookies(headers)
        .into_iter()
        .filter(|(name, _)| !drop(name))
        .map(|(n, v)| format!("{n}={v}"))
        .collect();
    headers.remove(http::header::COOKIE);
    if kept.is_empty() {
        return;
    }
    if let Ok(v) = http::HeaderValue::from_str(&kept.join("; ")) {
        headers.insert(http::header::COOKIE, v);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cookies_are_read_from_every_header_and_written_with_attributes() {
        let mut h = HeaderMap::new();
        h.append(http::header::COOKIE, "a=1; PA.app=x".parse().unwrap());
        h.append(http::header::COOKIE, "b=\"2\"".parse().unwrap());
        assert_eq!(
            request_cookies(&h),
            [("a", "1"), ("PA.app", "x"), ("b", "2")]
        );
        let attrs = CookieAttrs {
            secure: true,
            http_only: true,
            same_site: SameSite::Lax,
            domain: Some("example.com".into()),
            path: "/".into(),
            max_age: Some(60),
        };
        assert_eq!(
            set_cookie("PA.app", "v", &attrs),
            "PA.app=v; Path=/; Domain=example.com; Max-Age=60; Secure; HttpOnly; SameSite=Lax"
        );
        assert!(expire("PA.app", &attrs).contains("Max-Age=0"));
        without(&mut h, |n| n.starts_with("PA."));
        assert_eq!(h.get_all(http::header::COOKIE).iter().count(), 1);
        assert_eq!(h[http::header::COOKIE], "a=1; b=2");
    }
}
