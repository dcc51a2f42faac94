//! A local JWKS server for rotation and outage tests: serves a document that a test can change
//! or take down (`503`), and counts fetches.

use std::net::SocketAddr;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};

use bytes::Bytes;
use http::{Response, StatusCode};
use http_body_util::Full;
use hyper::body::Incoming;
use hyper::service::service_fn;
use hyper_util::rt::{TokioExecutor, TokioIo};
use serde_json::Value;
use tokio::net::TcpListener;
use tokio::task::JoinHandle;

#[derive(Default)]
struct Shared {
    document: Mutex<Value>,
    down: AtomicBool,
    fetches: AtomicUsize,
}

/// The server; stops when dropped.
pub struct JwksServer {
    addr: SocketAddr,
    shared: Arc<Shared>,
    task: JoinHandle<()>,
}

impl Drop for JwksServer {
    fn drop(&mut self) {
        self.task.abort();
    }
}

impl JwksServer {
    /// Serves `document` at `/jwks`.
    pub async fn start(document: Value) -> anyhow::Result<Self> {
        let listener = TcpListener::bind("127.0.0.1:0").await?;
        let addr = listener.local_addr()?;
        let shared = Arc::new(Shared {
            document: Mutex::new(document),
            ..Shared::default()
        });
        let task = tokio::spawn(accept(listener, shared.clone()));
        Ok(Self { addr, shared, task })
    }

    /// `http://127.0.0.1:<port>/jwks`.
    pub fn url(&self) -> String {
        format!("http://{}/jwks", self.addr)
    }

    /// Replaces the document.
    pub fn set(&self, document: Value) {
        if let Ok(mut d) = self.shared.document.lock() {
            *d = document;
        }
    }

    /// Answers `503` from now on (or serves again).
    pub fn set_down(&self, down: bool) {
        self.shared.down.store(down, Ordering::SeqCst);
    }

    /// Requests served so far (including `503`s).
    pub fn fetches(&self) -> usize {
        self.shared.fetches.load(Ordering::SeqCst)
    }
}

async fn accept(listener: TcpListener, shared: Arc<Shared>) {
    while let Ok((stream, _)) = listener.accept().await {
        let shared = shared.clone();
        tokio::spawn(async move {
            let svc = service_fn(move |_req: hyper::Request<Incoming>| {
                let shared = shared.clone();
                async move { Ok::<_, std::convert::Infallible>(answer(&shared)) }
            });
            let _ = hyper_util::server::conn::auto::Builder::new(TokioExecutor::new())
                .serve_connection(TokioIo::new(stream), svc)
                .await;
        });
    }
}

fn answer(shared: &Shared) -> Response<Full<Bytes>> {
    shared.fetches.fetch_add(1, Ordering::SeqCst);
    let mut resp = Response::new(Full::new(Bytes::new()));
    if shared.down.load(Ordering::SeqCst) {
        *resp.status_mut() = StatusCode::SERVICE_UNAVAILABLE;
        return resp;
    }
    let body = shared
        .document
        .lock()
        .map(|d| d.to_string())
        .unwrap_or_default();
    *resp.body_mut() = Full::new(Bytes::from(body));
    resp.headers_mut().insert(
        http::header::CONTENT_TYPE,
        http::HeaderValue::from_static("application/json"),
    );
    resp
}
