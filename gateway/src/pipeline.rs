//! The request pipeline: one straight function per request, reading one snapshot.
//!
//! ```text
//! client ─▶ hygiene ─▶ origin (forwarded trust) ─▶ route (normalised path) ─┬─▶ reserved endpoint
//!                                                                            ├─▶ unknown resource
//!                                                                            └─▶ app/resource
//!   host redirect ◀─ (before routing)
//!            ─▶ CORS preflight ─▶ authn (bearer token) ─▶ access control (app, then resource)
//!            ─▶ request processing (resource, then app) ─▶ headers (strip owned and identity
//!               headers, hop-by-hop; set X-Forwarded-*) ─▶ identity mapping ─▶ forward
//!            ─▶ response processing (rewrites, CORS) ─▶ client
//! every error ─▶ respond::error_response (the only error → response mapping)
//! every request ─▶ access log line + metrics
//! ```

pub mod access;
pub mod authn;
pub mod ctx;
pub mod forward;
pub mod forwarded;
pub mod headers;
pub mod hygiene;
pub mod respond;
pub mod websession;

use std::sync::Arc;
use std::time::Instant;

use http::header::{CONNECTION, HOST, UPGRADE};
use http::request::Parts;
use http::{HeaderName, HeaderValue, Request, Response, StatusCode};
use http_body::Body as _;
use http_body_util::BodyExt;
use hyper::body::Incoming;
use hyper::upgrade::OnUpgrade;
use hyper_util::rt::TokioIo;

use crate::engine::Engine;
use crate::path::encode_for_upstream;
use crate::reserved;
use crate::route::{Route, RouteApp, RouteInput};
use crate::snapshot::Snapshot;
use crate::upstream::{BoxError, GatewayBody};
use ctx::{ConnInfo, RequestCtx};
use forward::Outgoing;
use forwarded::Origin;
use respond::PipelineError;

const X_REQUEST_ID: HeaderName = HeaderName::from_static("x-request-id");

/// Handles one request end to end; never fails (errors become responses).
pub async fn handle(
    engine: Arc<Engine>,
    conn: ConnInfo,
    req: Request<Incoming>,
) -> Response<GatewayBody> {
    let mut ctx = RequestCtx::new(engine.ids.next(), conn, req.method(), req.uri().path());
    let wants_html = respond::wants_html(req.headers());
    // An HTTP/1 request whose body the gateway may answer without reading (refusals, reserved
    // endpoints): the connection cannot be reused after such an answer.
    let unread_body = req.version() < http::Version::HTTP_2 && !req.body().is_end_stream();
    if let Some(stats) = &engine.stats {
        stats.begin();
    }
    let snapshot = engine.snapshots.load();
    let mut app_metrics = None;
    let result = run(
        &engine,
        snapshot.as_deref(),
        &mut ctx,
        &mut app_metrics,
        req,
    )
    .await;
    let mut resp = result.unwrap_or_else(|err| {
        log_refusal(&ctx, &err);
        let unknown = snapshot
            .as_ref()
            .map(|s| s.unknown.clone())
            .unwrap_or_default();
        let mut resp = respond::error_response(&err, &ctx.id, wants_html, &unknown);
        if let Some(cors) = &ctx.cors {
            cors.apply(resp.headers_mut());
        }
        resp
    });
    resp.headers_mut()
        .insert(X_REQUEST_ID, ctx.id.header_value());
    if unread_body && ctx.upstream.is_none() {
        resp.headers_mut()
            .insert(CONNECTION, HeaderValue::from_static("close"));
    }
    let elapsed = ctx.started.elapsed();
    let metrics = app_metrics.as_ref().unwrap_or(&engine.gateway_metrics);
    metrics.record(resp.status().as_u16(), elapsed, ctx.upstream);
    if let Some(stats) = &engine.stats {
        stats.end(elapsed);
    }
    access_log(&ctx, resp.status(), elapsed);
    resp
}

async fn run(
    engine: &Engine,
    snapshot: Option<&Snapshot>,
    ctx: &mut RequestCtx,
    app_metrics: &mut Option<crate::metrics::AppMetrics>,
    mut req: Request<Incoming>,
) -> Result<Response<GatewayBody>, PipelineError> {
    let client_upgrade = is_upgrade(&req).then(|| hyper::upgrade::on(&mut req));
    let (parts, body) = req.into_parts();
    hygiene::check(&parts, &engine.settings.limits)?;
    let Some(snap) = snapshot else {
        return Err(PipelineError::NotConfigured);
    };
    let origin = snap.forwarding.origin(
        &parts.headers,
        authority_of(&parts),
        ctx.conn.peer.ip(),
        ctx.conn.secure,
    );
    ctx.client_ip = origin.client_ip;
    let target = parts.uri.path_and_query().map_or("/", |pq| pq.as_str());
    if let Some(r) = snap.redirects.find(&origin.host, origin.port, target) {
        ctx.audited = r.audited;
        return Ok(respond::redirect(r.status, &r.location));
    }
    let input = RouteInput {
        host: &origin.host,
        port: origin.port,
        raw_path: parts.uri.path(),
        method: parts.method.as_str(),
    };
    let routed = match snap.routes.select(input, engine.settings.paths)? {
        Route::Reserved { endpoint } => {
            // Boxed, like every large and rare sub-future here (see `proxy`).
            let oidc = Box::pin(websession::endpoint(
                engine, snap, &endpoint, &parts, body, &origin,
            ))
            .await;
            return oidc.unwrap_or_else(|| reserved::serve(engine, Some(snap), &endpoint));
        }
        Route::Unknown { path } => {
            ctx.path = path.into_owned();
            return Err(PipelineError::UnknownResource);
        }
        Route::App {
            app,
            resource,
            path,
        } => (app, resource, path.into_owned()),
    };
    let (app, resource, path) = routed;
    ctx.path.clone_from(&path);
    ctx.application = Some(app.name.clone());
    ctx.resource = Some(resource.name.clone());
    ctx.audited = resource.audited;
    *app_metrics = Some(app.metrics.clone());
    if app.require_https && origin.proto != "https" {
        return Err(PipelineError::HttpsRequired);
    }
    let api = authn::is_api_request(app, &parts.headers);
    let policies = access::Applicable::of(app, resource, api);
    if let Some(answer) = access::preflight(policies, &parts, &app.realm) {
        return answer;
    }
    ctx.cors = access::CorsAnswer::of(policies, &parts, &origin);
    let mut identity = None;
    // Only API requests to protected resources have a token to check. A cache hit is awaited in
    // place; the large verification future exists (boxed) only on a miss.
    let authenticated = if api && !resource.unprotected {
        authn::authenticate(engine, snap, app, resource, &parts.headers).await?
    } else {
        None
    };
    if let Some(authenticated) = authenticated {
        if let Some(id) = &authenticated.identity {
            ctx.subject = Some(id.subject.clone());
            ctx.auth_mech = Some("bearer");
        }
        identity = authenticated.identity;
    }
    let mut set_cookies = Vec::new();
    if !api && !resource.unprotected && app.web_session != 0 {
        let Some(web) = websession::session_of(engine, snap, app, &parts).await? else {
            return Box::pin(websession::login(engine, snap, app, &parts, body, &origin)).await;
        };
        ctx.subject = Some(web.identity.subject.clone());
        ctx.auth_mech = Some("session");
        identity = Some(web.identity);
        set_cookies = web.set_cookies;
    }
    let admission = access::Admission {
        parts: &parts,
        body,
        path,
        origin: &origin,
        identity: identity.as_deref(),
    };
    let admitted = access::admit(engine, app, policies, admission).await?;
    let request = Proxied {
        parts,
        admitted,
        origin,
        client_upgrade,
        identity,
        web: !api,
    };
    let mut resp = proxy(engine, snap, app, ctx, request).await?;
    for c in set_cookies {
        if let Ok(v) = HeaderValue::from_str(&c) {
            resp.headers_mut().append(http::header::SET_COOKIE, v);
        }
    }
    Ok(resp)
}

/// A routed request on its way to the site.
struct Proxied {
    parts: Parts,
    admitted: access::Admitted,
    origin: Origin,
    client_upgrade: Option<OnUpgrade>,
    identity: Option<Arc<crate::oauth::Identity>>,
    /// A web (not API) request: web identity mapping.
    web: bool,
}

async fn proxy(
    engine: &Engine,
    snap: &Snapshot,
    app: &RouteApp,
    ctx: &mut RequestCtx,
    req: Proxied,
) -> Result<Response<GatewayBody>, PipelineError> {
    let Proxied {
        mut parts,
        admitted,
        origin,
        client_upgrade,
        identity,
        web,
    } = req;
    let access::Admitted {
        path,
        body,
        replayable,
        response: response_rules,
    } = admitted;
    let site = &snap.sites[app.site];
    let upgrade = client_upgrade.is_some();
    if upgrade && !engine.websocket_enter() {
        return Err(PipelineError::WebSocketLimit);
    }
    let client_host = parts
        .headers
        .get(HOST)
        .cloned()
        .or_else(|| authority_of(&parts).and_then(|a| HeaderValue::from_str(a).ok()));
    headers::clean_request(&mut parts.headers, upgrade, &snap.identity_headers);
    forwarded::set_upstream_headers(&mut parts.headers, &origin, ctx.conn.peer.ip());
    if !site.def.send_pa_cookie {
        let prefix = snap.web_sessions.management.cookie_name.as_str();
        crate::websession::cookies::without(&mut parts.headers, |name| {
            name.strip_prefix(prefix)
                .is_some_and(|rest| rest.starts_with('.') || rest.starts_with('_'))
        });
    }
    let mapping = if web {
        &app.web_mapping
    } else {
        &app.api_mapping
    };
    if let (Some(mapping), Some(id)) = (mapping, &identity) {
        let keys = engine.auth_tokens.load();
        crate::identity::apply(
            mapping,
            id,
            keys.as_deref(),
            &engine.minted,
            &mut parts.headers,
        )?;
    }
    parts.headers.insert(X_REQUEST_ID, ctx.id.header_value());
    let encoded = encode_for_upstream(&path);
    let query = parts.uri.query();
    let mut path_and_query =
        String::with_capacity(encoded.len() + query.map_or(0, |q| q.len() + 1));
    path_and_query.push_str(&encoded);
    if let Some(q) = query {
        path_and_query.push('?');
        path_and_query.push_str(q);
    }
    let out = Outgoing {
        parts,
        path_and_query,
        client_host,
        body,
        replayable,
    };
    let started = Instant::now();
    // Boxed: an async fn's future holds every future it awaits, and each is copied whole when
    // it starts, so 3 KB here would be copied again by `proxy`, `run` and `handle` (and into
    // the connection's box). One allocation costs less than those copies.
    let sent = Box::pin(forward::send(site, out)).await;
    ctx.upstream = Some(started.elapsed());
    let mut resp = match sent {
        Ok(r) => r,
        Err(e) => {
            if upgrade {
                engine.websocket_leave();
            }
            return Err(e.into());
        }
    };
    let switching = upgrade && resp.status() == StatusCode::SWITCHING_PROTOCOLS;
    match (switching, client_upgrade) {
        (true, Some(client)) => tunnel(engine, client, hyper::upgrade::on(&mut resp)),
        (false, Some(_)) => engine.websocket_leave(),
        _ => {}
    }
    let (mut rparts, rbody) = resp.into_parts();
    headers::clean_response(&mut rparts.headers, switching);
    response_rules.apply(&mut rparts.headers);
    Ok(Response::from_parts(
        rparts,
        rbody.map_err(|e| Box::new(e) as BoxError).boxed_unsync(),
    ))
}

/// Copies bytes both ways between an upgraded client and backend connection.
fn tunnel(engine: &Engine, client: OnUpgrade, upstream: OnUpgrade) {
    let done = WebSocketSlot(engine.websockets_handle());
    tokio::spawn(async move {
        let _slot = done;
        let (c, u) = match tokio::try_join!(client, upstream) {
            Ok(pair) => pair,
            Err(e) => {
                tracing::debug!("upgrade failed: {e}");
                return;
            }
        };
        let mut c = TokioIo::new(c);
        let mut u = TokioIo::new(u);
        if let Err(e) = tokio::io::copy_bidirectional(&mut c, &mut u).await {
            tracing::debug!("websocket closed: {e}");
        }
    });
}

/// Releases a WebSocket slot when the tunnel ends.
struct WebSocketSlot(Arc<std::sync::atomic::AtomicI64>);

impl Drop for WebSocketSlot {
    fn drop(&mut self) {
        self.0.fetch_sub(1, std::sync::atomic::Ordering::Relaxed);
    }
}

fn is_upgrade<B>(req: &Request<B>) -> bool {
    req.version() == http::Version::HTTP_11
        && req.headers().contains_key(UPGRADE)
        && req
            .headers()
            .get_all(CONNECTION)
            .iter()
            .filter_map(|v| v.to_str().ok())
            .any(|v| {
                v.split(',')
                    .any(|t| t.trim().eq_ignore_ascii_case("upgrade"))
            })
}

/// `Host` (HTTP/1.1) or the URI authority (HTTP/2, absolute-form).
fn authority_of(parts: &Parts) -> Option<&str> {
    parts
        .headers
        .get(HOST)
        .and_then(|h| h.to_str().ok())
        .or_else(|| parts.uri.authority().map(http::uri::Authority::as_str))
}

fn log_refusal(ctx: &RequestCtx, err: &PipelineError) {
    match err {
        PipelineError::Forward(e) => tracing::warn!(request_id = %ctx.id, "upstream failure: {e}"),
        PipelineError::Identity(e) => {
            tracing::error!(request_id = %ctx.id, "identity mapping failed: {e}")
        }
        PipelineError::Hygiene(_)
        | PipelineError::Path(_)
        | PipelineError::Auth(_)
        | PipelineError::Denied(_) => {
            tracing::info!(request_id = %ctx.id, "request refused: {err}")
        }
        _ => tracing::debug!(request_id = %ctx.id, "request answered by the gateway: {err}"),
    }
}

/// One access-log line (SPEC §8). Never the query string, headers, cookies or tokens.
fn access_log(ctx: &RequestCtx, status: StatusCode, elapsed: std::time::Duration) {
    if !ctx.audited {
        return;
    }
    crate::access_log::record(&crate::access_log::AccessLine {
        request_id: &ctx.id,
        client: ctx.client_ip,
        method: ctx.method.as_str(),
        path: &ctx.path,
        application: ctx.application.as_deref().unwrap_or("-"),
        resource: ctx.resource.as_deref().unwrap_or("-"),
        subject: ctx.subject.as_deref().unwrap_or("-"),
        auth: ctx.auth_mech.unwrap_or("-"),
        status: status.as_u16(),
        upstream_us: ctx.upstream.map_or(0, micros),
        total_us: micros(elapsed),
    });
}

/// Whole microseconds, saturating (a log field, not a measurement).
fn micros(d: std::time::Duration) -> u64 {
    u64::try_from(d.as_micros()).unwrap_or(u64::MAX)
}
