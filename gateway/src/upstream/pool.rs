//! Keep-alive HTTP/1 connections to one target of a site, over hyper's connection API
//! (`hyper::client::conn::http1`): one handshake per connection, idle senders kept per target,
//! no keyed pool and no checkout future.
//!
//! A connection goes back to the idle list only when its exchange is over: the response body
//! was read to the end, the request body was sent in full, and the backend did not ask to close
//! (`Connection: close`, HTTP/1.0). A response dropped half-read, an upgrade (`101`), a failed
//! exchange or a timed-out one (the future is dropped and hyper closes the connection) never
//! returns it. A connection the backend closed while idle is skipped at checkout; a request
//! that hyper hands back unsent (the backend closed just as it was queued) is tried on the next
//! idle or a new connection.

use std::collections::VecDeque;
use std::net::SocketAddr;
use std::pin::Pin;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError, Weak};
use std::task::{ready, Context, Poll};
use std::time::{Duration, Instant};

use bytes::Bytes;
use http::header::CONNECTION;
use http::{Request, Response, StatusCode, Version};
use http_body::{Body, Frame, SizeHint};
use http_body_util::BodyExt;
use hyper::body::Incoming;
use hyper::client::conn::http1::{self, SendRequest};
use hyper_util::rt::TokioIo;
use rustls::pki_types::ServerName;
use tokio::net::TcpStream;
use tokio_rustls::TlsConnector;

use super::{BoxError, GatewayBody};

/// How long a checked-out connection that is not ready yet (its last exchange is still being
/// wound up by the connection task) may take before another one is used.
const READY_WAIT: Duration = Duration::from_millis(500);

/// Why a request could not be exchanged with a target.
#[derive(Debug, thiserror::Error)]
pub enum PoolError {
    /// The target's name did not resolve.
    #[error("cannot resolve {target}: {source}")]
    Resolve {
        /// `host:port`.
        target: String,
        /// Cause.
        #[source]
        source: std::io::Error,
    },
    /// No address of the target accepted a TCP connection.
    #[error("cannot connect to {target}: {source}")]
    Connect {
        /// `host:port`.
        target: String,
        /// Cause.
        #[source]
        source: std::io::Error,
    },
    /// The TCP connection was not established within `connectTimeout`.
    #[error("connecting to {target} timed out")]
    ConnectTimeout {
        /// `host:port`.
        target: String,
    },
    /// The TLS handshake failed (including certificate verification).
    #[error("TLS handshake with {target} failed: {source}")]
    Tls {
        /// `host:port`.
        target: String,
        /// Cause.
        #[source]
        source: std::io::Error,
    },
    /// The target's host is not a valid TLS server name.
    #[error("'{target}' is not a valid TLS server name")]
    ServerName {
        /// `host:port`.
        target: String,
    },
    /// The HTTP/1 handshake on a new connection failed.
    #[error("HTTP handshake with {target} failed: {source}")]
    Handshake {
        /// `host:port`.
        target: String,
        /// Cause.
        #[source]
        source: hyper::Error,
    },
    /// The exchange failed after the request was handed to the connection.
    #[error("{source}")]
    Exchange {
        /// Cause.
        #[source]
        source: hyper::Error,
    },
}

impl PoolError {
    /// True when no connection could be made: nothing of the request reached the target.
    pub fn is_connect(&self) -> bool {
        !matches!(self, Self::Exchange { .. })
    }
}

/// A failed send; `request` is handed back when it never left the gateway (connect failures).
#[derive(Debug)]
pub struct SendError {
    /// What went wrong.
    pub error: PoolError,
    /// The request, when it can be sent elsewhere.
    pub request: Option<Request<GatewayBody>>,
}

/// Connection settings shared by a site's targets.
#[derive(Clone)]
pub struct PoolSettings {
    /// TLS towards the target (`None`: plain HTTP).
    pub tls: Option<TlsConnector>,
    /// Bound on establishing the TCP connection (spread over the resolved addresses).
    pub connect_timeout: Duration,
    /// How long an idle connection is kept.
    pub idle_timeout: Duration,
    /// Most idle connections kept (`usize::MAX`: no limit).
    pub max_idle: usize,
}

impl std::fmt::Debug for PoolSettings {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PoolSettings")
            .field("tls", &self.tls.is_some())
            .field("connect_timeout", &self.connect_timeout)
            .field("idle_timeout", &self.idle_timeout)
            .field("max_idle", &self.max_idle)
            .finish()
    }
}

/// The connections to one `host:port`.
pub struct Endpoint {
    authority: String,
    server_name: Option<ServerName<'static>>,
    settings: PoolSettings,
    idle: Mutex<VecDeque<Idle>>,
    reaper: AtomicBool,
}

impl std::fmt::Debug for Endpoint {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Endpoint")
            .field("authority", &self.authority)
            .field("idle", &self.lock().len())
            .finish_non_exhaustive()
    }
}

/// An idle connection.
struct Idle {
    sender: SendRequest<GatewayBody>,
    since: Instant,
}

/// The response body of a pooled exchange: returns the connection when read to the end.
pub struct PooledBody {
    inner: Incoming,
    lease: Option<Lease>,
}

/// A connection on loan to one exchange.
struct Lease {
    sender: SendRequest<GatewayBody>,
    endpoint: Arc<Endpoint>,
    /// Set once the request body is sent in full (`None`: it had no body).
    request_sent: Option<Arc<AtomicBool>>,
}

// === impl Endpoint ===

impl Endpoint {
    /// The connections to `authority` (`host:port`, IPv6 in brackets); `host` is the name used
    /// for TLS.
    pub fn new(authority: &str, host: &str, settings: PoolSettings) -> Self {
        let server_name = ServerName::try_from(host.to_string()).ok();
        Self {
            authority: authority.to_string(),
            server_name,
            settings,
            idle: Mutex::new(VecDeque::new()),
            reaper: AtomicBool::new(false),
        }
    }

    /// Idle connections held (for tests and metrics).
    pub fn idle_count(&self) -> usize {
        self.lock().len()
    }

    fn lock(&self) -> MutexGuard<'_, VecDeque<Idle>> {
        self.idle.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Sends a request (origin-form URI, `Host` set) on an idle connection or a new one and
    /// returns the response head; the body gives the connection back when read to the end.
    pub async fn send(
        self: &Arc<Self>,
        mut req: Request<GatewayBody>,
    ) -> Result<Response<PooledBody>, SendError> {
        let request_sent = track_request_body(&mut req);
        loop {
            let (mut sender, reused) = match self.checkout().await {
                Some(s) => (s, true),
                // Boxed: the TLS and handshake futures are large and only new connections need them.
                None => match Box::pin(self.connect()).await {
                    Ok(s) => (s, false),
                    Err(error) => {
                        return Err(SendError {
                            error,
                            request: Some(req),
                        })
                    }
                },
            };
            match sender.try_send_request(req).await {
                Ok(resp) => return Ok(self.lease(sender, request_sent, resp)),
                Err(mut e) => match e.take_message() {
                    // Never written: the idle connection was closed under us; try another.
                    Some(back) if reused => req = back,
                    _ => {
                        return Err(SendError {
                            error: PoolError::Exchange {
                                source: e.into_error(),
                            },
                            request: None,
                        })
                    }
                },
            }
        }
    }

    /// The most recently used live idle connection, ready for a request.
    async fn checkout(&self) -> Option<SendRequest<GatewayBody>> {
        loop {
            let mut sender = {
                let mut idle = self.lock();
                loop {
                    let c = idle.pop_back()?;
                    if !c.sender.is_closed() && c.since.elapsed() < self.settings.idle_timeout {
                        break c.sender;
                    }
                }
            };
            if sender.is_ready() {
                return Some(sender);
            }
            // The previous exchange ended but the connection task has not picked up yet.
            if let Ok(Ok(())) = tokio::time::timeout(READY_WAIT, sender.ready()).await {
                return Some(sender);
            }
        }
    }

    /// A new connection: TCP (and TLS), then the HTTP/1 handshake; its task is spawned.
    async fn connect(self: &Arc<Self>) -> Result<SendRequest<GatewayBody>, PoolError> {
        self.start_reaper();
        let tcp = self.tcp().await?;
        let Some(tls) = &self.settings.tls else {
            return self.handshake(tcp).await;
        };
        let Some(name) = self.server_name.clone() else {
            return Err(PoolError::ServerName {
                target: self.authority.clone(),
            });
        };
        let stream = tls
            .connect(name, tcp)
            .await
            .map_err(|source| PoolError::Tls {
                target: self.authority.clone(),
                source,
            })?;
        self.handshake(stream).await
    }

    /// The HTTP/1 handshake on an established stream; the connection's task is spawned.
    async fn handshake<IO>(&self, io: IO) -> Result<SendRequest<GatewayBody>, PoolError>
    where
        IO: tokio::io::AsyncRead + tokio::io::AsyncWrite + Send + Unpin + 'static,
    {
        let (sender, conn) = http1::Builder::new()
            .writev(false)
            .handshake(TokioIo::new(io))
            .await
            .map_err(|source| PoolError::Handshake {
                target: self.authority.clone(),
                source,
            })?;
        spawn_connection(conn.with_upgrades(), self.authority.clone());
        Ok(sender)
    }

    /// Resolves the target and connects to its addresses in turn, each within its share of
    /// the connect timeout.
    async fn tcp(&self) -> Result<TcpStream, PoolError> {
        let addrs: Vec<SocketAddr> = match self.authority.parse::<SocketAddr>() {
            Ok(addr) => vec![addr],
            Err(_) => tokio::net::lookup_host(self.authority.as_str())
                .await
                .map_err(|source| PoolError::Resolve {
                    target: self.authority.clone(),
                    source,
                })?
                .collect(),
        };
        let share = u32::try_from(addrs.len().max(1)).unwrap_or(u32::MAX);
        let per_address = self.settings.connect_timeout / share;
        let mut last = None;
        for addr in addrs {
            match tokio::time::timeout(per_address, TcpStream::connect(addr)).await {
                Ok(Ok(tcp)) => {
                    let _ = tcp.set_nodelay(true);
                    return Ok(tcp);
                }
                Ok(Err(source)) => {
                    last = Some(PoolError::Connect {
                        target: self.authority.clone(),
                        source,
                    })
                }
                Err(_) => {
                    last = Some(PoolError::ConnectTimeout {
                        target: self.authority.clone(),
                    })
                }
            }
        }
        Err(last.unwrap_or_else(|| PoolError::Connect {
            target: self.authority.clone(),
            source: std::io::Error::new(std::io::ErrorKind::NotFound, "no address"),
        }))
    }

    /// Wraps a response; the connection is lent to its body unless it cannot be reused.
    fn lease(
        self: &Arc<Self>,
        sender: SendRequest<GatewayBody>,
        request_sent: Option<Arc<AtomicBool>>,
        resp: Response<Incoming>,
    ) -> Response<PooledBody> {
        let reusable = resp.status() != StatusCode::SWITCHING_PROTOCOLS
            && resp.version() == Version::HTTP_11
            && !asks_to_close(&resp);
        let lease = reusable.then(|| Lease {
            sender,
            endpoint: self.clone(),
            request_sent,
        });
        resp.map(|inner| PooledBody { inner, lease })
    }

    /// Takes a connection back after a complete exchange.
    fn checkin(&self, sender: SendRequest<GatewayBody>) {
        if sender.is_closed() || self.settings.max_idle == 0 {
            return;
        }
        let now = Instant::now();
        let mut idle = self.lock();
        while idle.front().is_some_and(|c| {
            c.sender.is_closed() || now.duration_since(c.since) >= self.settings.idle_timeout
        }) {
            idle.pop_front();
        }
        if idle.len() >= self.settings.max_idle {
            idle.pop_front();
        }
        idle.push_back(Idle { sender, since: now });
    }

    /// Drops idle connections past the idle timeout (or closed by the target).
    fn prune(&self) {
        let now = Instant::now();
        let timeout = self.settings.idle_timeout;
        self.lock()
            .retain(|c| !c.sender.is_closed() && now.duration_since(c.since) < timeout);
    }

    /// Starts, once, the task that closes expired idle connections; it ends with the endpoint.
    fn start_reaper(self: &Arc<Self>) {
        if self.reaper.swap(true, Ordering::Relaxed) {
            return;
        }
        let weak: Weak<Self> = Arc::downgrade(self);
        let every = (self.settings.idle_timeout / 2).max(Duration::from_millis(100));
        tokio::spawn(async move {
            let mut tick = tokio::time::interval(every);
            tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
            tick.tick().await;
            loop {
                tick.tick().await;
                let Some(endpoint) = weak.upgrade() else {
                    return;
                };
                endpoint.prune();
            }
        });
    }
}

fn spawn_connection<F>(conn: F, target: String)
where
    F: std::future::Future<Output = hyper::Result<()>> + Send + 'static,
{
    tokio::spawn(async move {
        if let Err(e) = conn.await {
            tracing::debug!(%target, "upstream connection ended: {e}");
        }
    });
}

/// `Connection: close` from the backend.
fn asks_to_close<B>(resp: &Response<B>) -> bool {
    resp.headers()
        .get_all(CONNECTION)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','))
        .any(|t| t.trim().eq_ignore_ascii_case("close"))
}

/// Wraps a request body that is not empty so that its end can be seen.
fn track_request_body(req: &mut Request<GatewayBody>) -> Option<Arc<AtomicBool>> {
    if req.body().is_end_stream() {
        return None;
    }
    let done = Arc::new(AtomicBool::new(false));
    let body = std::mem::replace(req.body_mut(), super::empty_body());
    *req.body_mut() = TrackedBody {
        inner: body,
        done: done.clone(),
    }
    .boxed_unsync();
    Some(done)
}

/// A request body that flags its end.
struct TrackedBody {
    inner: GatewayBody,
    done: Arc<AtomicBool>,
}

impl Body for TrackedBody {
    type Data = Bytes;
    type Error = BoxError;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, BoxError>>> {
        let frame = ready!(Pin::new(&mut self.inner).poll_frame(cx));
        if frame.is_none() || self.inner.is_end_stream() {
            self.done.store(true, Ordering::Release);
        }
        Poll::Ready(frame)
    }

    fn is_end_stream(&self) -> bool {
        self.inner.is_end_stream()
    }

    fn size_hint(&self) -> SizeHint {
        self.inner.size_hint()
    }
}

// === impl PooledBody ===

impl PooledBody {
    fn release(&mut self) {
        if let Some(lease) = self.lease.take() {
            let sent = lease
                .request_sent
                .as_ref()
                .is_none_or(|d| d.load(Ordering::Acquire));
            if sent {
                lease.endpoint.checkin(lease.sender);
            }
        }
    }
}

impl Body for PooledBody {
    type Data = Bytes;
    type Error = hyper::Error;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, hyper::Error>>> {
        let frame = ready!(Pin::new(&mut self.inner).poll_frame(cx));
        match &frame {
            Some(Err(_)) => self.lease = None,
            None => self.release(),
            Some(Ok(_)) if self.inner.is_end_stream() => self.release(),
            Some(Ok(_)) => {}
        }
        Poll::Ready(frame)
    }

    fn is_end_stream(&self) -> bool {
        self.inner.is_end_stream()
    }

    fn size_hint(&self) -> SizeHint {
        self.inner.size_hint()
    }
}

impl Drop for PooledBody {
    fn drop(&mut self) {
        // A body with nothing left to read (or none at all: HEAD, 204, 304) ends the exchange;
        // one dropped half-read does not, and its connection is closed with the sender.
        if self.inner.is_end_stream() {
            self.release();
        }
    }
}

#[cfg(test)]
mod tests;
