//! Effective client IP, host and scheme (SPEC §5.1), and the forwarding headers sent upstream.
//!
//! Client-sent `X-Forwarded-*` and `Forwarded` are believed only as configured in
//! `httpIpSource` / `httpHostSource` / `httpProtocolSource`, and only from `trustedProxies` when
//! that list is set. Upstream always receives the gateway's own values.

use std::net::IpAddr;

use crate::decimal::IpText;
use gatehouse_model::document::ListValueLocation;
use gatehouse_model::validate::parse_cidr;
use gatehouse_model::ConfigDocument;
use http::{HeaderMap, HeaderName, HeaderValue};

/// Compiled forwarded-header trust.
#[derive(Debug, Default)]
pub struct ForwardingPolicy {
    ip_headers: Vec<HeaderName>,
    ip_location: ListValueLocation,
    host_headers: Vec<HeaderName>,
    host_location: ListValueLocation,
    proto_header: Option<HeaderName>,
    trusted: Vec<(IpAddr, u8)>,
}

/// The effective request origin.
#[derive(Debug, Clone)]
pub struct Origin {
    /// Client IP.
    pub client_ip: IpAddr,
    /// Lower-case host without port.
    pub host: String,
    /// Port (explicit, or the scheme's default).
    pub port: u16,
    /// `https` or `http`.
    pub proto: &'static str,
    /// The client's forwarded chain, when believed (for `X-Forwarded-For`).
    pub trusted_chain: Option<String>,
}

fn names(list: &[String]) -> Vec<HeaderName> {
    list.iter()
        .filter_map(|n| HeaderName::try_from(n.as_str()).ok())
        .collect()
}

// === impl ForwardingPolicy ===

impl ForwardingPolicy {
    /// Compiles the `httpConfig` singletons of a document.
    pub fn compile(doc: &ConfigDocument) -> Self {
        Self {
            ip_headers: names(&doc.http_ip_source.header_name_list),
            ip_location: doc.http_ip_source.list_value_location,
            host_headers: names(&doc.http_host_source.header_name_list),
            host_location: doc.http_host_source.list_value_location,
            proto_header: doc
                .http_protocol_source
                .header_name
                .as_deref()
                .and_then(|n| HeaderName::try_from(n).ok()),
            trusted: doc
                .http_ip_source
                .trusted_proxies
                .iter()
                .filter_map(|c| parse_cidr(c))
                .collect(),
        }
    }

    fn peer_trusted(&self, peer: IpAddr) -> bool {
        self.trusted.is_empty()
            || self
                .trusted
                .iter()
                .any(|(net, len)| in_cidr(peer, *net, *len))
    }

    /// Works out the effective origin of a request.
    pub fn origin(
        &self,
        headers: &HeaderMap,
        authority: Option<&str>,
        peer: IpAddr,
        secure: bool,
    ) -> Origin {
        let trusted = self.peer_trusted(peer);
        let proto = self
            .proto_header
            .as_ref()
            .filter(|_| trusted)
            .and_then(|h| headers.get(h))
            .and_then(|v| v.to_str().ok())
            .map(|v| v.trim().to_ascii_lowercase());
        let proto = match proto.as_deref() {
            Some("https") => "https",
            Some("http") => "http",
            _ if secure => "https",
            _ => "http",
        };
        let forwarded_host = self
            .host_headers
            .iter()
            .filter(|_| trusted)
            .find_map(|h| pick(headers, h, self.host_location));
        let raw_host = forwarded_host
            .map(std::borrow::Cow::Owned)
            .or_else(|| authority.map(std::borrow::Cow::Borrowed))
            .unwrap_or_default();
        let (host, port) = split_host(&raw_host, if proto == "https" { 443 } else { 80 });
        let client_ip = self
            .ip_headers
            .iter()
            .filter(|_| trusted)
            .find_map(|h| pick(headers, h, self.ip_location).and_then(|v| parse_ip(&v)))
            .unwrap_or(peer);
        let trusted_chain = if trusted && !self.ip_headers.is_empty() {
            joined(headers, &X_FORWARDED_FOR)
        } else {
            None
        };
        Origin {
            client_ip,
            host,
            port,
            proto,
            trusted_chain,
        }
    }
}

fn joined(headers: &HeaderMap, name: &HeaderName) -> Option<String> {
    let parts: Vec<&str> = headers
        .get_all(name)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .collect();
    (!parts.is_empty()).then(|| parts.join(", "))
}

/// One value of a (possibly repeated, comma-separated) header.
fn pick(headers: &HeaderMap, name: &HeaderName, at: ListValueLocation) -> Option<String> {
    let all = joined(headers, name)?;
    let mut values = all.split(',').map(str::trim).filter(|v| !v.is_empty());
    let v = match at {
        ListValueLocation::First => values.next(),
        ListValueLocation::Last => values.next_back(),
    }?;
    Some(v.to_string())
}

fn parse_ip(v: &str) -> Option<IpAddr> {
    let v = v.trim().trim_matches('"');
    let v = v.strip_prefix("for=").unwrap_or(v);
    if let Ok(ip) = v.parse() {
        return Some(ip);
    }
    if let Some(rest) = v.strip_prefix('[') {
        return rest.split(']').next()?.parse().ok();
    }
    v.rsplit_once(':').and_then(|(h, _)| h.parse().ok())
}

/// Splits `host[:port]` (IPv6 in brackets), lower-cases it and drops a trailing dot.
pub fn split_host(raw: &str, default_port: u16) -> (String, u16) {
    let raw = raw.trim();
    let (host, port) = if let Some(rest) = raw.strip_prefix('[') {
        match rest.split_once(']') {
            Some((h, tail)) => (h, tail.strip_prefix(':').and_then(|p| p.parse().ok())),
            None => (raw, None),
        }
    } else {
        match raw.rsplit_once(':') {
            Some((h, p)) if !h.contains(':') => (h, p.parse().ok()),
            _ => (raw, None),
        }
    };
    let host = host.trim_end_matches('.').to_ascii_lowercase();
    (host, port.unwrap_or(default_port))
}

pub(crate) fn in_cidr(ip: IpAddr, net: IpAddr, len: u8) -> bool {
    match (ip, net) {
        (IpAddr::V4(a), IpAddr::V4(b)) => {
            let mask = if len == 0 {
                0
            } else {
                u32::MAX << (32 - u32::from(len))
            };
            u32::from(a) & mask == u32::from(b) & mask
        }
        (IpAddr::V6(a), IpAddr::V6(b)) => {
            let mask = if len == 0 {
                0
            } else {
                u128::MAX << (128 - u32::from(len))
            };
            u128::from(a) & mask == u128::from(b) & mask
        }
        (IpAddr::V6(a), IpAddr::V4(_)) => a
            .to_ipv4_mapped()
            .is_some_and(|v4| in_cidr(v4.into(), net, len)),
        _ => false,
    }
}

/// Sets the gateway's forwarding headers on an upstream request (after client copies were removed).
/// The values are written into two buffers and copied once each into their header values.
pub fn set_upstream_headers(headers: &mut HeaderMap, origin: &Origin, peer: IpAddr) {
    let mut buf = String::with_capacity(160);
    if let Some(chain) = &origin.trusted_chain {
        buf.push_str(chain);
        buf.push_str(", ");
    }
    buf.push_str(IpText::of(peer).as_str());
    set(headers, X_FORWARDED_FOR, &buf);
    headers.insert(X_FORWARDED_PROTO, HeaderValue::from_static(origin.proto));
    buf.clear();
    let default_port = (origin.proto == "https" && origin.port == 443)
        || (origin.proto == "http" && origin.port == 80);
    let mut port = itoa::Buffer::new();
    let port = port.format(origin.port);
    buf.push_str(&origin.host);
    if !default_port {
        buf.push(':');
        buf.push_str(port);
    }
    set(headers, X_FORWARDED_HOST, &buf);
    set(headers, X_FORWARDED_PORT, port);
    let host_port = &buf;
    let mut forwarded = String::with_capacity(host_port.len() + 80);
    forwarded.push_str("for=");
    let client = IpText::of(origin.client_ip);
    if origin.client_ip.is_ipv4() {
        forwarded.push_str(client.as_str());
    } else {
        forwarded.push_str("\"[");
        forwarded.push_str(client.as_str());
        forwarded.push_str("]\"");
    }
    forwarded.push_str(";proto=");
    forwarded.push_str(origin.proto);
    forwarded.push_str(";host=");
    push_quoted(&mut forwarded, host_port);
    set(headers, FORWARDED, &forwarded);
}

const X_FORWARDED_FOR: HeaderName = HeaderName::from_static("x-forwarded-for");
const X_FORWARDED_PROTO: HeaderName = HeaderName::from_static("x-forwarded-proto");
const X_FORWARDED_HOST: HeaderName = HeaderName::from_static("x-forwarded-host");
const X_FORWARDED_PORT: HeaderName = HeaderName::from_static("x-forwarded-port");
const FORWARDED: HeaderName = HeaderName::from_static("forwarded");

fn set(headers: &mut HeaderMap, name: HeaderName, value: &str) {
    if let Ok(v) = HeaderValue::from_str(value) {
        headers.insert(name, v);
    }
}

/// A `Forwarded` parameter value: a token as is, anything else quoted (RFC 7239 §4).
fn push_quoted(buf: &mut String, v: &str) {
    if v.bytes()
        .all(|b| b.is_ascii_alphanumeric() || b"-._~".contains(&b))
    {
        buf.push_str(v);
    } else {
        buf.push('"');
        buf.extend(v.chars().filter(|c| *c != '"'));
        buf.push('"');
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn upstream_headers_carry_the_origin() {
        let origin = |ip: &str, host: &str, port, proto, chain: Option<&str>| Origin {
            client_ip: ip.parse().unwrap(),
            host: host.into(),
            port,
            proto,
            trusted_chain: chain.map(str::to_string),
        };
        let get = |h: &HeaderMap, n: &str| h.get(n).unwrap().to_str().unwrap().to_string();
        let mut h = HeaderMap::new();
        let peer: IpAddr = "10.0.0.2".parse().unwrap();
        set_upstream_headers(
            &mut h,
            &origin("203.0.113.9", "a.test", 443, "https", None),
            peer,
        );
        assert_eq!(get(&h, "x-forwarded-for"), "10.0.0.2");
        assert_eq!(get(&h, "x-forwarded-proto"), "https");
        assert_eq!(get(&h, "x-forwarded-host"), "a.test");
        assert_eq!(get(&h, "x-forwarded-port"), "443");
        assert_eq!(
            get(&h, "forwarded"),
            "for=203.0.113.9;proto=https;host=a.test"
        );
        let o = origin(
            "2001:db8::1",
            "a.test",
            8080,
            "http",
            Some("1.1.1.1, 2.2.2.2"),
        );
        set_upstream_headers(&mut h, &o, peer);
        assert_eq!(get(&h, "x-forwarded-for"), "1.1.1.1, 2.2.2.2, 10.0.0.2");
        assert_eq!(get(&h, "x-forwarded-host"), "a.test:8080");
        assert_eq!(get(&h, "x-forwarded-port"), "8080");
        assert_eq!(
            get(&h, "forwarded"),
            "for=\"[2001:db8::1]\";proto=http;host=\"a.test:8080\""
        );
        assert_eq!(h.len(), 5, "each header set once");
        // No trusted proxy: the client is the peer.
        set_upstream_headers(
            &mut h,
            &origin("10.0.0.2", "b.test", 80, "http", None),
            peer,
        );
        assert_eq!(get(&h, "x-forwarded-for"), "10.0.0.2");
        assert_eq!(get(&h, "x-forwarded-host"), "b.test");
        assert_eq!(get(&h, "forwarded"), "for=10.0.0.2;proto=http;host=b.test");
    }

    #[test]
    fn host_and_port_split() {
        assert_eq!(split_host("Example.COM.", 443), ("example.com".into(), 443));
        assert_eq!(split_host("a:8443", 443), ("a".into(), 8443));
        assert_eq!(split_host("[::1]:3000", 443), ("::1".into(), 3000));
        assert_eq!(split_host("[::1]", 80), ("::1".into(), 80));
    }

    #[test]
    fn cidr_membership() {
        let net: IpAddr = "10.0.0.0".parse().unwrap();
        assert!(in_cidr("10.1.2.3".parse().unwrap(), net, 8));
        assert!(!in_cidr("11.1.2.3".parse().unwrap(), net, 8));
        assert!(in_cidr("::ffff:10.0.0.1".parse().unwrap(), net, 8));
        let v6: IpAddr = "2001:db8::".parse().unwrap();
        assert!(in_cidr("2001:db8::1".parse().unwrap(), v6, 32));
    }

    #[test]
    fn client_headers_ignored_unless_configured() {
        let policy = ForwardingPolicy::default();
        let mut h = HeaderMap::new();
        h.insert("x-forwarded-for", HeaderValue::from_static("6.6.6.6"));
        h.insert("x-forwarded-proto", HeaderValue::from_static("https"));
        let o = policy.origin(&h, Some("app:3000"), "127.0.0.1".parse().unwrap(), false);
        assert_eq!(o.client_ip.to_string(), "127.0.0.1");
        assert_eq!(o.proto, "http");
        assert!(o.trusted_chain.is_none());
    }
}
