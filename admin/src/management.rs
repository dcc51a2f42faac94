//! The management listener (`management.port`, plain HTTP, loopback by default): Prometheus
//! `/metrics` and `/readyz` (200 once a configuration is in force).

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use gatehouse_gateway::listener::{self, Handler, ListenerError, ServeOptions};
use gatehouse_gateway::pipeline::respond::full;
use gatehouse_gateway::props::RunProperties;
use gatehouse_gateway::Engine;
use http::header::CONTENT_TYPE;
use http::{HeaderValue, Response, StatusCode};
use tokio::sync::watch;
use tokio::task::JoinHandle;

/// Binds and serves the management listener.
pub async fn start(
    props: &RunProperties,
    engine: Arc<Engine>,
    stop: watch::Receiver<bool>,
) -> Result<JoinHandle<()>, ListenerError> {
    let addr = SocketAddr::from(props.management_addr);
    let tcp = listener::bind(addr).await?;
    let bound = tcp.local_addr().unwrap_or(addr);
    tracing::info!(addr = %bound, "management listener started");
    let opts = ServeOptions {
        tls: None,
        limits: props.limits,
        grace: Duration::from_secs(5),
        engine: None,
    };
    Ok(tokio::spawn(listener::serve(
        tcp,
        handler(engine),
        opts,
        stop,
    )))
}

fn handler(engine: Arc<Engine>) -> Handler {
    Arc::new(move |_conn, req| {
        let engine = engine.clone();
        Box::pin(async move {
            let (status, ctype, body) = match req.uri().path() {
                "/metrics" => (
                    StatusCode::OK,
                    "application/openmetrics-text; version=1.0.0; charset=utf-8",
                    engine.metrics.render(),
                ),
                // A clustered engine that never had a snapshot has no engine listener yet; its
                // heartbeat (503 until the first snapshot) is here too.
                "/pa/heartbeat.ping" if engine.snapshots.load().is_some() => {
                    (StatusCode::OK, "text/plain; charset=utf-8", "OK".into())
                }
                "/pa/heartbeat.ping" => (
                    StatusCode::SERVICE_UNAVAILABLE,
                    "text/plain; charset=utf-8",
                    "no configuration\n".into(),
                ),
                "/readyz" if engine.snapshots.load().is_some() => {
                    (StatusCode::OK, "text/plain", "ready\n".into())
                }
                "/readyz" => (
                    StatusCode::SERVICE_UNAVAILABLE,
                    "text/plain",
                    "no configuration\n".into(),
                ),
                _ => (StatusCode::NOT_FOUND, "text/plain", "not found\n".into()),
            };
            let mut resp = Response::new(full(body));
            *resp.status_mut() = status;
            resp.headers_mut()
                .insert(CONTENT_TYPE, HeaderValue::from_static(ctype));
            resp
        })
    })
}
