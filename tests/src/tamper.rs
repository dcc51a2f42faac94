//! A TLS man in the middle for cluster tests: forwards an engine's requests to the console and,
//! when told to, adds a setting the engine does not know to the snapshots it passes on (what a
//! console of a newer version would send), so the engine refuses them.

use std::convert::Infallible;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;

use bytes::Bytes;
use http::{Request, Response, StatusCode};
use http_body_util::{BodyExt, Full};
use hyper::body::Incoming;
use hyper::service::service_fn;
use hyper_util::rt::{TokioExecutor, TokioIo};
use hyper_util::server::conn::auto;
use tokio::net::TcpListener;
use tokio_rustls::TlsAcceptor;

use crate::backend::{rustls_certs, rustls_key};

/// A running proxy; stopped on drop.
pub struct TamperProxy {
    /// Port on 127.0.0.1.
    pub port: u16,
    /// SHA-256 fingerprint of its certificate (for the engine's bootstrap).
    pub fingerprint: String,
    tamper: Arc<AtomicBool>,
    task: tokio::task::JoinHandle<()>,
}

impl Drop for TamperProxy {
    fn drop(&mut self) {
        self.task.abort();
    }
}

#[derive(Clone)]
struct Forward {
    console: String,
    http: reqwest::Client,
    tamper: Arc<AtomicBool>,
}

impl TamperProxy {
    /// A proxy in front of the config-query listener on `console_port`.
    pub async fn start(console_port: u16) -> anyhow::Result<Self> {
        let key = rcgen::KeyPair::generate()?;
        let cert =
            rcgen::CertificateParams::new(vec!["localhost".to_string()])?.self_signed(&key)?;
        let fingerprint = crate::client::fingerprint(cert.der());
        let provider = Arc::new(rustls::crypto::ring::default_provider());
        let cfg = rustls::ServerConfig::builder_with_provider(provider)
            .with_safe_default_protocol_versions()?
            .with_no_client_auth()
            .with_single_cert(
                rustls_certs(&cert.pem())?,
                rustls_key(&key.serialize_pem())?,
            )?;
        let acceptor = TlsAcceptor::from(Arc::new(cfg));
        let listener = TcpListener::bind("127.0.0.1:0").await?;
        let port = listener.local_addr()?.port();
        let tamper = Arc::new(AtomicBool::new(false));
        let forward = Forward {
            console: format!("https://127.0.0.1:{console_port}"),
            http: reqwest::Client::builder()
                .danger_accept_invalid_certs(true)
                .build()?,
            tamper: tamper.clone(),
        };
        let task = tokio::spawn(async move {
            while let Ok((tcp, _)) = listener.accept().await {
                let acceptor = acceptor.clone();
                let forward = forward.clone();
                tokio::spawn(async move {
                    let Ok(tls) = acceptor.accept(tcp).await else {
                        return;
                    };
                    let svc = service_fn(move |req| {
                        let forward = forward.clone();
                        async move { Ok::<_, Infallible>(forward.pass(req).await) }
                    });
                    let _ = auto::Builder::new(TokioExecutor::new())
                        .serve_connection(TokioIo::new(tls), svc)
                        .await;
                });
            }
        });
        Ok(Self {
            port,
            fingerprint,
            tamper,
            task,
        })
    }

    /// From now on, alter (or stop altering) the snapshots passed on.
    pub fn tamper(&self, on: bool) {
        self.tamper.store(on, Ordering::SeqCst);
    }
}

impl Forward {
    async fn pass(&self, req: Request<Incoming>) -> Response<Full<Bytes>> {
        match self.try_pass(req).await {
            Ok(r) => r,
            Err(_) => {
                let mut r = Response::new(Full::new(Bytes::new()));
                *r.status_mut() = StatusCode::BAD_GATEWAY;
                r
            }
        }
    }

    async fn try_pass(&self, req: Request<Incoming>) -> anyhow::Result<Response<Full<Bytes>>> {
        let (parts, body) = req.into_parts();
        let body = body.collect().await?.to_bytes();
        let path = parts.uri.path_and_query().map_or("/", |p| p.as_str());
        let mut out = self
            .http
            .request(parts.method.clone(), format!("{}{path}", self.console))
            .body(body);
        for name in [http::header::AUTHORIZATION, http::header::CONTENT_TYPE] {
            if let Some(v) = parts.headers.get(&name) {
                out = out.header(name, v.clone());
            }
        }
        let resp = out.send().await?;
        let status = resp.status();
        // The console's digest is passed on unchanged, so the engine waits for the next change
        // rather than asking again at once.
        let digest = resp.headers().get("x-snapshot-digest").cloned();
        let mut bytes = resp.bytes().await?;
        if status == StatusCode::OK && self.tamper.load(Ordering::SeqCst) {
            let mut snap: serde_json::Value = serde_json::from_slice(&bytes)?;
            snap["config"]["settingFromTheFuture"] = serde_json::json!(true);
            bytes = Bytes::from(serde_json::to_vec(&snap)?);
        }
        let mut r = Response::new(Full::new(bytes));
        *r.status_mut() = status;
        if let Some(d) = digest {
            r.headers_mut().insert("x-snapshot-digest", d);
        }
        Ok(r)
    }
}
