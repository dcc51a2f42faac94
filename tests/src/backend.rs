//! Backends for the tests: real HTTP(S) servers on `127.0.0.1:0` that record what they receive
//! and answer as told (echo JSON, delay, stream a large body, upgrade and echo bytes).

use std::convert::Infallible;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use bytes::Bytes;
use http::{HeaderMap, Request, Response, StatusCode};
use http_body_util::combinators::BoxBody;
use http_body_util::{BodyExt, Full, StreamBody};
use hyper::body::{Frame, Incoming};
use hyper::service::service_fn;
use hyper_util::rt::{TokioExecutor, TokioIo};
use hyper_util::server::conn::auto;
use tokio::net::TcpListener;
use tokio_rustls::TlsAcceptor;

/// What a backend does with each request.
#[derive(Clone, Debug)]
pub enum Behavior {
    /// Answer 200 with the request as JSON (`method`, `path`, `query`, `headers`, `name`).
    Echo,
    /// Like `Echo`, after a pause.
    Delay(Duration),
    /// Answer 200 with `n` bytes, streamed in 64 KiB chunks.
    Stream(u64),
    /// Answer with this status.
    Status(u16),
    /// Like `Echo`, with these response headers added (`Location`, `Set-Cookie`, …).
    Headers(Vec<(&'static str, String)>),
}

/// One request as the backend saw it.
#[derive(Clone, Debug)]
pub struct Seen {
    /// Method.
    pub method: String,
    /// Path (raw, as on the request line).
    pub path: String,
    /// Query, if any.
    pub query: Option<String>,
    /// Headers.
    pub headers: HeaderMap,
    /// Body length.
    pub body_len: usize,
}

impl Seen {
    /// Every value of header `name`, in order (as text).
    pub fn header_values(&self, name: &str) -> Vec<String> {
        self.headers
            .get_all(name)
            .iter()
            .filter_map(|v| v.to_str().ok().map(str::to_string))
            .collect()
    }
}

/// A running backend.
pub struct Backend {
    /// Address it listens on.
    pub addr: SocketAddr,
    seen: Arc<Mutex<Vec<Seen>>>,
    connections: Arc<AtomicUsize>,
    task: tokio::task::JoinHandle<()>,
}

impl Drop for Backend {
    fn drop(&mut self) {
        self.task.abort();
    }
}

type Body = BoxBody<Bytes, Infallible>;

impl Backend {
    /// A plain-HTTP backend named `name`.
    pub async fn start(name: &str, behavior: Behavior) -> anyhow::Result<Self> {
        Self::start_inner(name, behavior, None).await
    }

    /// An HTTPS backend with the given certificate and key (PEM).
    pub async fn start_tls(
        name: &str,
        behavior: Behavior,
        cert_pem: &str,
        key_pem: &str,
    ) -> anyhow::Result<Self> {
        let certs = rustls_certs(cert_pem)?;
        let key = rustls_key(key_pem)?;
        let provider = Arc::new(rustls::crypto::ring::default_provider());
        let cfg = rustls::ServerConfig::builder_with_provider(provider)
            .with_safe_default_protocol_versions()?
            .with_no_client_auth()
            .with_single_cert(certs, key)?;
        Self::start_inner(name, behavior, Some(TlsAcceptor::from(Arc::new(cfg)))).await
    }

    async fn start_inner(
        name: &str,
        behavior: Behavior,
        tls: Option<TlsAcceptor>,
    ) -> anyhow::Result<Self> {
        let listener = TcpListener::bind("127.0.0.1:0").await?;
        let addr = listener.local_addr()?;
        let seen = Arc::new(Mutex::new(Vec::new()));
        let connections = Arc::new(AtomicUsize::new(0));
        let state = State {
            name: name.to_string(),
            behavior,
            seen: seen.clone(),
        };
        let conns = connections.clone();
        let task = tokio::spawn(accept_loop(listener, tls, state, conns));
        Ok(Self {
            addr,
            seen,
            connections,
            task,
        })
    }

    /// `127.0.0.1:<port>`.
    pub fn target(&self) -> String {
        self.addr.to_string()
    }

    /// Requests received so far.
    pub fn seen(&self) -> Vec<Seen> {
        self.seen.lock().map(|v| v.clone()).unwrap_or_default()
    }

    /// The latest request received for `path`.
    pub fn last_seen(&self, path: &str) -> anyhow::Result<Seen> {
        self.seen()
            .into_iter()
            .rev()
            .find(|s| s.path == path)
            .ok_or_else(|| anyhow::anyhow!("{path} never reached the backend"))
    }

    /// TCP connections accepted so far.
    pub fn connections(&self) -> usize {
        self.connections.load(Ordering::SeqCst)
    }
}

#[derive(Clone)]
struct State {
    name: String,
    behavior: Behavior,
    seen: Arc<Mutex<Vec<Seen>>>,
}

async fn accept_loop(
    listener: TcpListener,
    tls: Option<TlsAcceptor>,
    state: State,
    conns: Arc<AtomicUsize>,
) {
    while let Ok((stream, _)) = listener.accept().await {
        conns.fetch_add(1, Ordering::SeqCst);
        let state = state.clone();
        let tls = tls.clone();
        tokio::spawn(async move {
            let svc = service_fn(move |req| {
                let state = state.clone();
                async move { Ok::<_, Infallible>(handle(state, req).await) }
            });
            let builder = auto::Builder::new(TokioExecutor::new());
            match tls {
                Some(acc) => {
                    if let Ok(s) = acc.accept(stream).await {
                        let _ = builder
                            .serve_connection_with_upgrades(TokioIo::new(s), svc)
                            .await;
                    }
                }
                None => {
                    let _ = builder
                        .serve_connection_with_upgrades(TokioIo::new(stream), svc)
                        .await;
                }
            }
        });
    }
}

async fn handle(state: State, mut req: Request<Incoming>) -> Response<Body> {
    if req.headers().contains_key(http::header::UPGRADE) {
        return upgrade(&state, &mut req);
    }
    let (parts, mut body) = req.into_parts();
    let mut body_len = 0;
    while let Some(Ok(frame)) = body.frame().await {
        body_len += frame.data_ref().map_or(0, |d| d.len());
    }
    let seen = Seen {
        method: parts.method.to_string(),
        path: parts.uri.path().to_string(),
        query: parts.uri.query().map(str::to_string),
        headers: parts.headers.clone(),
        body_len,
    };
    if let Ok(mut v) = state.seen.lock() {
        v.push(seen.clone());
    }
    match &state.behavior {
        Behavior::Echo => json(&state.name, &seen),
        Behavior::Delay(d) => {
            tokio::time::sleep(*d).await;
            json(&state.name, &seen)
        }
        Behavior::Stream(n) => stream(*n),
        Behavior::Headers(extra) => {
            let mut r = json(&state.name, &seen);
            for (name, value) in extra {
                if let Ok(v) = http::HeaderValue::from_str(value) {
                    r.headers_mut().append(*name, v);
                }
            }
            r
        }
        Behavior::Status(code) => {
            let mut r = json(&state.name, &seen);
            *r.status_mut() = StatusCode::from_u16(*code).unwrap_or(StatusCode::OK);
            r
        }
    }
}

fn json(name: &str, seen: &Seen) -> Response<Body> {
    let headers: serde_json::Map<String, serde_json::Value> = seen
        .headers
        .iter()
        .map(|(k, v)| {
            (
                k.to_string(),
                String::from_utf8_lossy(v.as_bytes()).into_owned().into(),
            )
        })
        .collect();
    let body = serde_json::json!({
        "name": name,
        "method": seen.method,
        "path": seen.path,
        "query": seen.query,
        "headers": headers,
        "bodyLen": seen.body_len,
    });
    let mut r = Response::new(Full::new(Bytes::from(body.to_string())).boxed());
    r.headers_mut().insert(
        http::header::CONTENT_TYPE,
        http::HeaderValue::from_static("application/json"),
    );
    r
}

fn stream(total: u64) -> Response<Body> {
    const CHUNK: u64 = 64 * 1024;
    let chunk = Bytes::from(vec![b'x'; CHUNK as usize]);
    let frames = futures_util::stream::unfold(0u64, move |sent| {
        let chunk = chunk.clone();
        async move {
            if sent >= total {
                return None;
            }
            let n = CHUNK.min(total - sent);
            Some((
                Ok::<_, Infallible>(Frame::data(chunk.slice(..n as usize))),
                sent + n,
            ))
        }
    });
    Response::new(BodyExt::boxed(StreamBody::new(frames)))
}

/// Answers `101` and echoes every byte back on the upgraded connection.
fn upgrade(state: &State, req: &mut Request<Incoming>) -> Response<Body> {
    let seen = Seen {
        method: req.method().to_string(),
        path: req.uri().path().to_string(),
        query: req.uri().query().map(str::to_string),
        headers: req.headers().clone(),
        body_len: 0,
    };
    if let Ok(mut v) = state.seen.lock() {
        v.push(seen);
    }
    let on = hyper::upgrade::on(req);
    tokio::spawn(async move {
        if let Ok(up) = on.await {
            let io = TokioIo::new(up);
            let (mut r, mut w) = tokio::io::split(io);
            let _ = tokio::io::copy(&mut r, &mut w).await;
        }
    });
    let mut r = Response::new(Full::new(Bytes::new()).boxed());
    *r.status_mut() = StatusCode::SWITCHING_PROTOCOLS;
    r.headers_mut().insert(
        http::header::UPGRADE,
        http::HeaderValue::from_static("websocket"),
    );
    r.headers_mut().insert(
        http::header::CONNECTION,
        http::HeaderValue::from_static("upgrade"),
    );
    r
}

pub(crate) fn rustls_certs(
    pem: &str,
) -> anyhow::Result<Vec<rustls::pki_types::CertificateDer<'static>>> {
    let mut out = Vec::new();
    for item in rustls::pki_types::pem::PemObject::pem_slice_iter(pem.as_bytes()) {
        out.push(item?);
    }
    Ok(out)
}

pub(crate) fn rustls_key(pem: &str) -> anyhow::Result<rustls::pki_types::PrivateKeyDer<'static>> {
    Ok(rustls::pki_types::pem::PemObject::from_pem_slice(
        pem.as_bytes(),
    )?)
}
