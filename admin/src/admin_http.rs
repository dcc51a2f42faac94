//! The admin listener: the heartbeat, then the admin API router (`/pa-admin-api/v3`, its
//! OpenAPI document and Swagger UI).

use std::sync::Arc;

use gatehouse_gateway::listener::Handler;
use gatehouse_gateway::pipeline::respond::{self, PipelineError};
use gatehouse_gateway::upstream::BoxError;
use gatehouse_gateway::Engine;
use http_body_util::BodyExt;

use crate::api::{self, AdminApi};

/// The admin listener's request handler.
pub fn handler(engine: Arc<Engine>, api: Arc<AdminApi>, body_limit: usize) -> Handler {
    let router = api::router(api, body_limit);
    Arc::new(move |conn, req| {
        let engine = engine.clone();
        let router = router.clone();
        Box::pin(async move {
            if req.uri().path() == "/pa/heartbeat.ping" {
                let id = engine.ids.next();
                let html = respond::wants_html(req.headers());
                return gatehouse_gateway::reserved::heartbeat(
                    &engine,
                    engine.snapshots.load().as_deref(),
                )
                .unwrap_or_else(|e: PipelineError| {
                    respond::error_response(&e, &id, html, &Default::default())
                });
            }
            api::serve(router, conn, req, body_limit)
                .await
                .map(|b| b.map_err(|e| Box::new(e) as BoxError).boxed_unsync())
        })
    })
}
