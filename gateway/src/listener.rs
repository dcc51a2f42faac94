//! Accept loops: TCP, optional TLS, HTTP/1.1 and HTTP/2 (hyper-util's auto builder), request
//! limits, connection counting and graceful drain on shutdown.

pub mod framing;

use std::convert::Infallible;
use std::future::Future;
use std::net::SocketAddr;
use std::pin::Pin;
use std::sync::Arc;
use std::time::Duration;

use http::{Request, Response};
use hyper::body::Incoming;
use hyper::service::service_fn;
use hyper_util::rt::{TokioExecutor, TokioIo, TokioTimer};
use hyper_util::server::conn::auto;
use hyper_util::server::graceful::GracefulShutdown;
use rustls::ServerConfig;
use tokio::net::TcpListener;
use tokio::sync::watch;
use tokio_rustls::TlsAcceptor;

use crate::engine::Engine;
use crate::pipeline::ctx::ConnInfo;
use crate::props::RequestLimits;
use crate::upstream::GatewayBody;

/// A boxed response future.
pub type ResponseFuture = Pin<Box<dyn Future<Output = Response<GatewayBody>> + Send>>;

/// What a listener does with each request.
pub type Handler = Arc<dyn Fn(ConnInfo, Request<Incoming>) -> ResponseFuture + Send + Sync>;

/// The engine pipeline as a handler.
pub fn engine_handler(engine: Arc<Engine>) -> Handler {
    Arc::new(move |conn, req| Box::pin(crate::pipeline::handle(engine.clone(), conn, req)))
}

/// Why a listener could not start.
#[derive(Debug, thiserror::Error)]
pub enum ListenerError {
    /// The address could not be bound.
    #[error("cannot listen on {addr}: {source}")]
    Bind {
        /// Address.
        addr: SocketAddr,
        /// Cause.
        #[source]
        source: std::io::Error,
    },
}

/// Resolves when `stop` turns true (or its sender is gone).
pub async fn stopped(stop: &mut watch::Receiver<bool>) {
    let _ = stop.wait_for(|s| *s).await;
}

/// Binds a TCP listener.
pub async fn bind(addr: SocketAddr) -> Result<TcpListener, ListenerError> {
    TcpListener::bind(addr)
        .await
        .map_err(|source| ListenerError::Bind { addr, source })
}

/// A listener's settings.
#[derive(Clone)]
pub struct ServeOptions {
    /// TLS configuration (None: plain HTTP).
    pub tls: Option<Arc<ServerConfig>>,
    /// Request limits for HTTP parsing.
    pub limits: RequestLimits,
    /// How long in-flight requests may take to finish at shutdown.
    pub grace: Duration,
    /// Counts connections in the engine's gauge.
    pub engine: Option<Arc<Engine>>,
}

/// Serves connections until `stop` turns true, then drains within the grace period.
pub async fn serve(
    listener: TcpListener,
    handler: Handler,
    opts: ServeOptions,
    mut stop: watch::Receiver<bool>,
) {
    let graceful = GracefulShutdown::new();
    let builder = http_builder(&opts.limits);
    let acceptor = opts.tls.clone().map(TlsAcceptor::from);
    let local_port = listener.local_addr().map_or(0, |a| a.port());
    loop {
        let accepted = tokio::select! {
            a = listener.accept() => a,
            _ = stopped(&mut stop) => break,
        };
        let (stream, peer) = match accepted {
            Ok(pair) => pair,
            Err(e) => {
                tracing::warn!("accept failed: {e}");
                tokio::time::sleep(Duration::from_millis(50)).await;
                continue;
            }
        };
        let _ = stream.set_nodelay(true);
        let conn = ConnInfo {
            peer,
            local_port,
            secure: acceptor.is_some(),
        };
        let svc_handler = handler.clone();
        let svc = service_fn(move |req| {
            let fut = svc_handler(conn, req);
            async move { Ok::<_, Infallible>(fut.await) }
        });
        let builder = builder.clone();
        let acceptor = acceptor.clone();
        let counter = opts
            .engine
            .as_ref()
            .map(|e| ConnectionCount::new(e.clone()));
        let watcher = graceful.watcher();
        let max_head = opts.limits.request_line + opts.limits.header_bytes + 1024;
        tokio::spawn(async move {
            let _count = counter;
            let Some(acc) = acceptor else {
                let io = framing::FramingGuard::new(stream, max_head);
                return serve_io(&builder, io, svc, watcher, peer).await;
            };
            let tls = match tokio::time::timeout(Duration::from_secs(10), acc.accept(stream)).await
            {
                Ok(Ok(s)) => s,
                Ok(Err(e)) => return tracing::debug!(%peer, "TLS handshake failed: {e}"),
                Err(_) => return tracing::debug!(%peer, "TLS handshake timed out"),
            };
            if tls.get_ref().1.alpn_protocol() == Some(b"h2") {
                serve_io(&builder, tls, svc, watcher, peer).await;
            } else {
                let io = framing::FramingGuard::new(tls, max_head);
                serve_io(&builder, io, svc, watcher, peer).await;
            }
        });
    }
    drop(listener);
    if tokio::time::timeout(opts.grace, graceful.shutdown())
        .await
        .is_err()
    {
        tracing::warn!(
            port = local_port,
            "grace period over; closing remaining connections"
        );
    }
}

/// Serves one connection (HTTP/1.1 or HTTP/2, upgrades allowed) under the graceful watcher.
async fn serve_io<I, S>(
    builder: &auto::Builder<TokioExecutor>,
    io: I,
    svc: S,
    watcher: hyper_util::server::graceful::Watcher,
    peer: SocketAddr,
) where
    I: tokio::io::AsyncRead + tokio::io::AsyncWrite + Unpin + Send + 'static,
    S: hyper::service::Service<
            Request<Incoming>,
            Response = Response<GatewayBody>,
            Error = Infallible,
        > + Send
        + 'static,
    S::Future: Send + 'static,
{
    let conn = builder
        .serve_connection_with_upgrades(TokioIo::new(io), svc)
        .into_owned();
    if let Err(e) = watcher.watch(conn).await {
        tracing::debug!(%peer, "connection error: {e}");
    }
}

fn http_builder(limits: &RequestLimits) -> auto::Builder<TokioExecutor> {
    let mut builder = auto::Builder::new(TokioExecutor::new());
    let buf = (limits.request_line + limits.header_bytes + 1024).max(8192);
    builder
        .http1()
        .timer(TokioTimer::new())
        .header_read_timeout(Duration::from_secs(30))
        .writev(false)
        .max_buf_size(buf)
        .max_headers(limits.header_count);
    builder
        .http2()
        .timer(TokioTimer::new())
        .max_concurrent_streams(256)
        .max_header_list_size(u32::try_from(limits.header_bytes).unwrap_or(u32::MAX));
    builder
}

/// Keeps the open-connection gauge right, whatever way the connection ends.
struct ConnectionCount(Arc<Engine>);

impl ConnectionCount {
    fn new(engine: Arc<Engine>) -> Self {
        engine.metrics.connections.inc();
        Self(engine)
    }
}

impl Drop for ConnectionCount {
    fn drop(&mut self) {
        self.0.metrics.connections.dec();
    }
}
