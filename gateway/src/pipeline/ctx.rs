//! Per-request context: identity of the request and the facts the access log and metrics need,
//! filled in by the stages as they run.

use std::net::{IpAddr, SocketAddr};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

/// Facts about the client connection a request arrived on.
#[derive(Debug, Clone, Copy)]
pub struct ConnInfo {
    /// Peer address.
    pub peer: SocketAddr,
    /// Local port (the listener's).
    pub local_port: u16,
    /// TLS listener.
    pub secure: bool,
}

/// Generates request ids: a random per-process prefix and a counter, 16 hex digits.
#[derive(Debug)]
pub struct RequestIds {
    prefix: u32,
    next: AtomicU64,
}

impl Default for RequestIds {
    fn default() -> Self {
        Self {
            prefix: rand::random(),
            next: AtomicU64::new(rand::random::<u32>().into()),
        }
    }
}

impl RequestIds {
    /// A new id.
    pub fn next(&self) -> RequestId {
        let n = self.next.fetch_add(1, Ordering::Relaxed);
        RequestId::new(self.prefix, n as u32)
    }
}

/// A request id: 16 lower-case hex digits, kept on the stack (no allocation per request).
#[derive(Clone, Copy, PartialEq, Eq)]
pub struct RequestId([u8; 16]);

impl RequestId {
    fn new(prefix: u32, n: u32) -> Self {
        const HEX: &[u8; 16] = b"0123456789abcdef";
        let value = (u64::from(prefix) << 32) | u64::from(n);
        let mut digits = [0u8; 16];
        for (i, d) in digits.iter_mut().enumerate() {
            let shift = 60 - 4 * i;
            *d = HEX[((value >> shift) & 0xf) as usize];
        }
        Self(digits)
    }

    /// The id as text.
    pub fn as_str(&self) -> &str {
        // Only hex digits are ever stored.
        std::str::from_utf8(&self.0).unwrap_or_default()
    }

    /// The id as a header value.
    pub fn header_value(&self) -> http::HeaderValue {
        http::HeaderValue::from_bytes(&self.0)
            .unwrap_or_else(|_| http::HeaderValue::from_static("-"))
    }
}

impl std::ops::Deref for RequestId {
    type Target = str;

    fn deref(&self) -> &str {
        self.as_str()
    }
}

impl std::fmt::Display for RequestId {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

impl std::fmt::Debug for RequestId {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// State carried through the pipeline for one request.
#[derive(Debug)]
pub struct RequestCtx {
    /// Request id (also sent to the client and the backend as `X-Request-Id`).
    pub id: RequestId,
    /// When the request arrived.
    pub started: Instant,
    /// Connection facts.
    pub conn: ConnInfo,
    /// Effective client IP (forwarded headers per policy).
    pub client_ip: IpAddr,
    /// Method.
    pub method: http::Method,
    /// Normalised path once known, else the raw path.
    pub path: String,
    /// Application name, once routed.
    pub application: Option<Arc<str>>,
    /// Resource name, once routed.
    pub resource: Option<Arc<str>>,
    /// Authenticated subject.
    pub subject: Option<String>,
    /// How the subject was authenticated.
    pub auth_mech: Option<&'static str>,
    /// Time spent waiting for the backend.
    pub upstream: Option<Duration>,
    /// Write an access-log line.
    pub audited: bool,
    /// The CORS headers an answer made by the gateway must carry (allowed cross-origin request).
    pub cors: Option<super::access::CorsAnswer>,
}

impl RequestCtx {
    /// A context for a new request.
    pub fn new(id: RequestId, conn: ConnInfo, method: &http::Method, raw_path: &str) -> Self {
        Self {
            id,
            started: Instant::now(),
            conn,
            client_ip: conn.peer.ip(),
            method: method.clone(),
            path: raw_path.to_string(),
            application: None,
            resource: None,
            subject: None,
            auth_mech: None,
            upstream: None,
            audited: true,
            cors: None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn request_ids_are_sixteen_hex_digits_with_the_prefix_first() {
        let id = RequestId::new(0xdead_beef, 0x0000_00ff);
        assert_eq!(id.as_str(), "deadbeef000000ff");
        assert_eq!(id.header_value(), "deadbeef000000ff");
        let ids = RequestIds::default();
        let (a, b) = (ids.next(), ids.next());
        assert_ne!(a, b);
        assert_eq!(a.len(), 16);
        assert!(a
            .bytes()
            .all(|c| c.is_ascii_hexdigit() && !c.is_ascii_uppercase()));
    }
}
