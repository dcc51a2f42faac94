//! The admin listener. This build serves the heartbeat and `/pa-admin-api/v3/version`; the full
//! admin API arrives with its own issue.

use std::sync::Arc;

use gatehouse_gateway::listener::Handler;
use gatehouse_gateway::pipeline::respond::{self, full, PipelineError};
use gatehouse_gateway::Engine;
use http::header::CONTENT_TYPE;
use http::{HeaderValue, Response, StatusCode};

/// The admin listener's request handler.
pub fn handler(engine: Arc<Engine>) -> Handler {
    Arc::new(move |_conn, req| {
        let engine = engine.clone();
        Box::pin(async move {
            let id = engine.ids.next();
            let html = respond::wants_html(req.headers());
            let result = match req.uri().path() {
                "/pa/heartbeat.ping" => gatehouse_gateway::reserved::heartbeat(
                    &engine,
                    engine.snapshots.load().as_deref(),
                ),
                "/pa-admin-api/v3/version" => Ok(version()),
                _ => Err(PipelineError::NoEndpoint),
            };
            result.unwrap_or_else(|e| respond::error_response(&e, &id, html, &Default::default()))
        })
    })
}

fn version() -> Response<gatehouse_gateway::upstream::GatewayBody> {
    let body = serde_json::json!({ "version": env!("CARGO_PKG_VERSION") }).to_string();
    let mut resp = Response::new(full(body));
    *resp.status_mut() = StatusCode::OK;
    resp.headers_mut()
        .insert(CONTENT_TYPE, HeaderValue::from_static("application/json"));
    resp
}
