//! Per-request context: identity of the request and the facts the access log and metrics need,
//! filled in by the stages as they run.

use std::net::{IpAddr, SocketAddr};
use std::sync::atomic::{AtomicU64, Ordering};
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
    pub fn next(&self) -> String {
        let n = self.next.fetch_add(1, Ordering::Relaxed);
        format!("{:08x}{:08x}", self.prefix, n as u32)
    }
}

/// State carried through the pipeline for one request.
#[derive(Debug)]
pub struct RequestCtx {
    /// Request id (also sent to the client and the backend as `X-Request-Id`).
    pub id: String,
    /// When the request arrived.
    pub started: Instant,
    /// Connection facts.
    pub conn: ConnInfo,
    /// Effective client IP (forwarded headers per policy).
    pub client_ip: IpAddr,
    /// Method.
    pub method: String,
    /// Normalised path once known, else the raw path.
    pub path: String,
    /// Application name, once routed.
    pub application: Option<String>,
    /// Resource name, once routed.
    pub resource: Option<String>,
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
    pub fn new(id: String, conn: ConnInfo, method: &str, raw_path: &str) -> Self {
        Self {
            id,
            started: Instant::now(),
            conn,
            client_ip: conn.peer.ip(),
            method: method.to_string(),
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
