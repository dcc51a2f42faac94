//! Header hygiene towards the backend and back: hop-by-hop removal and the gateway-owned header
//! namespace, stripped in every spelling (case, `_`, `.`) before the gateway adds its own.

use http::header::{CONNECTION, UPGRADE};
use http::{HeaderMap, HeaderName};
use smallvec::SmallVec;

use crate::identity::IdentityHeaders;

/// Hop-by-hop headers (RFC 9110 §7.6.1) plus the legacy ones proxies remove. A `match` on the
/// name: compiled to a switch on its length and one comparison, run for every header twice a
/// request.
fn is_hop_by_hop(name: &str) -> bool {
    matches!(
        name,
        "connection"
            | "keep-alive"
            | "proxy-connection"
            | "proxy-authenticate"
            | "proxy-authorization"
            | "te"
            | "trailer"
            | "transfer-encoding"
            | "upgrade"
            | "expect"
    )
}

/// Header names owned by the gateway: never taken from the client (with every `x-forwarded-`
/// name).
fn is_owned_name(canonical_name: &str) -> bool {
    canonical_name.starts_with("x-forwarded-")
        || matches!(
            canonical_name,
            "forwarded" | "x-real-ip" | "x-request-id" | "x-client-ip"
        )
}

/// A header name in canonical form: lower case, `_` and `.` read as `-`.
pub fn canonical(name: &str) -> String {
    name.bytes()
        .map(|b| match b {
            b'_' | b'.' => '-',
            b => char::from(b.to_ascii_lowercase()),
        })
        .collect()
}

/// True when `name` (any spelling) belongs to the gateway's namespace or to `extra` (the
/// identity-mapping headers).
pub fn is_owned(name: &str, extra: &IdentityHeaders) -> bool {
    // Most names are canonical already (hyper lower-cases them): no copy for those.
    let c = if name.bytes().any(|b| matches!(b, b'_' | b'.' | b'A'..=b'Z')) {
        std::borrow::Cow::Owned(canonical(name))
    } else {
        std::borrow::Cow::Borrowed(name)
    };
    is_owned_name(&c) || extra.owns(&c)
}

/// Prepares client headers for the backend: removes what `Connection` names, the hop-by-hop
/// headers (keeping `Upgrade`/`Connection: upgrade` for an upgrade) and every gateway-owned name.
/// One pass over the names; nothing is removed (or allocated) when nothing has to go.
pub fn clean_request(headers: &mut HeaderMap, upgrade: bool, extra_owned: &IdentityHeaders) {
    let upgrade_value = if upgrade {
        headers.get(UPGRADE).cloned()
    } else {
        None
    };
    let doomed = doomed(headers, |n| is_owned(n.as_str(), extra_owned));
    for name in doomed {
        headers.remove(&name);
    }
    if let Some(v) = upgrade_value {
        headers.insert(UPGRADE, v);
        headers.insert(CONNECTION, http::HeaderValue::from_static("upgrade"));
    }
}

/// The names to remove: hop-by-hop, listed in `Connection` (never more than what is named), or
/// `also`. Kept on the stack for the usual handful.
fn doomed(headers: &HeaderMap, also: impl Fn(&HeaderName) -> bool) -> SmallVec<[HeaderName; 4]> {
    let listed: SmallVec<[&str; 4]> = headers
        .get_all(CONNECTION)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','))
        .map(str::trim)
        .filter(|t| !t.is_empty())
        .collect();
    headers
        .keys()
        .filter(|n| {
            is_hop_by_hop(n.as_str())
                || listed.iter().any(|t| t.eq_ignore_ascii_case(n.as_str()))
                || also(n)
        })
        .cloned()
        .collect()
}

/// Prepares a backend response for the client: hop-by-hop headers out (kept for a `101`).
pub fn clean_response(headers: &mut HeaderMap, switching: bool) {
    if switching {
        return;
    }
    for name in doomed(headers, |_| false) {
        headers.remove(&name);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use http::HeaderValue;

    #[test]
    fn owned_headers_go_in_every_spelling() {
        let mut h = HeaderMap::new();
        for n in [
            "X-Forwarded-For",
            "x_forwarded_host",
            "X.Forwarded.Proto",
            "forwarded",
            "X-Request-ID",
        ] {
            h.append(
                HeaderName::try_from(n).unwrap(),
                HeaderValue::from_static("evil"),
            );
        }
        h.insert("x-kept", HeaderValue::from_static("ok"));
        clean_request(&mut h, false, &IdentityHeaders::default());
        assert_eq!(h.len(), 1);
        assert!(h.contains_key("x-kept"));
    }

    #[test]
    fn connection_header_cannot_protect_or_remove_beyond_its_list() {
        let mut h = HeaderMap::new();
        h.insert(CONNECTION, HeaderValue::from_static("x-drop, keep-alive"));
        h.insert("x-drop", HeaderValue::from_static("1"));
        h.insert("x-stay", HeaderValue::from_static("1"));
        clean_request(&mut h, false, &IdentityHeaders::default());
        assert!(!h.contains_key("x-drop"));
        assert!(h.contains_key("x-stay"));
        assert!(!h.contains_key(CONNECTION));
    }

    #[test]
    fn response_loses_hop_by_hop_and_connection_listed_headers() {
        let mut h = HeaderMap::new();
        h.insert(CONNECTION, HeaderValue::from_static("keep-alive, x-hop"));
        h.insert("keep-alive", HeaderValue::from_static("timeout=5"));
        h.insert("x-hop", HeaderValue::from_static("1"));
        h.insert("transfer-encoding", HeaderValue::from_static("chunked"));
        h.insert("x-end", HeaderValue::from_static("1"));
        clean_response(&mut h, false);
        assert_eq!(h.len(), 1);
        assert!(h.contains_key("x-end"));
    }

    #[test]
    fn owned_names_are_recognised_in_any_case() {
        let none = IdentityHeaders::default();
        assert!(is_owned("X-Forwarded-For", &none));
        assert!(is_owned("x_real.ip", &none));
        assert!(!is_owned("x-forwarded", &none));
    }

    #[test]
    fn upgrade_survives_for_websockets() {
        let mut h = HeaderMap::new();
        h.insert(CONNECTION, HeaderValue::from_static("Upgrade"));
        h.insert(UPGRADE, HeaderValue::from_static("websocket"));
        clean_request(&mut h, true, &IdentityHeaders::default());
        assert_eq!(h.get(UPGRADE).unwrap(), "websocket");
        assert_eq!(h.get(CONNECTION).unwrap(), "upgrade");
    }
}
