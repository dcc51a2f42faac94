//! Effective client IP, host and scheme (SPEC §5.1), and the forwarding headers sent upstream.
//!
//! Client-sent `X-Forwarded-*` and `Forwarded` are believed only as configured in
//! `httpIpSource` / `httpHostSource` / `httpProtocolSource`, and only from `trustedProxies` when
//! that list is set. Upstream always receives the gateway's own values.

use std::net::IpAddr;

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
            .or_else(|| authority.map(str::to_string))
            .unwrap_or_default();
        let (host, port) = split_host(&raw_host, if proto == "https" { 443 } else { 80 });
        let client_ip = self
            .ip_headers
            .iter()
            .filter(|_| trusted)
            .find_map(|h| pick(headers, h, self.ip_location).and_then(|v| parse_ip(&v)))
            .unwrap_or(peer);
        let trusted_chain = if trusted && !self.ip_headers.is_empty() {
            joined(headers, &http::HeaderName::from_static("x-forwarded-for"))
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
pub fn set_upstream_headers(headers: &mut HeaderMap, origin: &Origin, peer: IpAddr) {
    let xff = match &origin.trusted_chain {
        Some(chain) => format!("{chain}, {peer}"),
        None => peer.to_string(),
    };
    let host_port = if (origin.proto == "https" && origin.port == 443)
        || (origin.proto == "http" && origin.port == 80)
    {
        origin.host.clone()
    } else {
        format!("{}:{}", origin.host, origin.port)
    };
    let forwarded = format!(
        "for={};proto={};host={}",
        forwarded_node(origin.client_ip),
        origin.proto,
        quoted(&host_port)
    );
    let pairs = [
        ("x-forwarded-for", xff),
        ("x-forwarded-proto", origin.proto.to_string()),
        ("x-forwarded-host", host_port),
        ("x-forwarded-port", origin.port.to_string()),
        ("forwarded", forwarded),
    ];
    for (name, value) in pairs {
        if let Ok(v) = HeaderValue::from_str(&value) {
            headers.insert(HeaderName::from_static(name), v);
        }
    }
}

fn forwarded_node(ip: IpAddr) -> String {
    match ip {
        IpAddr::V4(v4) => v4.to_string(),
        IpAddr::V6(v6) => format!("\"[{v6}]\""),
    }
}

fn quoted(v: &str) -> String {
    if v.bytes()
        .all(|b| b.is_ascii_alphanumeric() || b"-._~".contains(&b))
    {
        v.to_string()
    } else {
        format!("\"{}\"", v.replace('"', ""))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

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
