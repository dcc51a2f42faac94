//! The admin REST API at `/pa-admin-api/v3` (SPEC §4): axum routes built from the collection
//! and singleton tables, one guard (XSRF header, authentication, role), one audit layer, and the
//! OpenAPI document and Swagger UI generated from the same tables.

pub mod audit;
pub mod auth;
pub mod collections;
pub mod config;
pub mod engines;
pub mod error;
pub mod keypairs;
pub mod listeners;
pub mod openapi;
pub mod users;
pub mod writes;

use std::sync::{Arc, Mutex};

use axum::body::{Body, Bytes};
use axum::extract::{Path, Query, Request, State};
use axum::http::{HeaderValue, StatusCode};
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post, put};
use axum::{Extension, Json, Router};
use gatehouse_gateway::pipeline::ctx::ConnInfo;
use gatehouse_gateway::Engine;
use serde_json::Value;

use crate::store::Store;
use audit::{AuditLog, AuditRecord};
pub use auth::{Caller, Lockout, Role};
use collections::{
    CollectionDef, ListQuery, Scope, SingletonDef, COLLECTIONS, RESOURCES, SINGLETONS,
};
use error::{ApiError, Invalid};
use openapi::BASE;

/// Shared state of the admin API.
#[derive(Debug)]
pub struct AdminApi {
    /// The engine whose configuration is edited (STANDALONE).
    pub engine: Arc<Engine>,
    /// The node's store.
    pub store: Arc<Mutex<Store>>,
    /// Serialises configuration changes.
    pub writes: tokio::sync::Mutex<()>,
    /// Audit log.
    pub audit: AuditLog,
    /// Basic-auth lockout.
    pub lockout: Lockout,
    /// Recently verified logins.
    pub logins: Arc<auth::VerifiedLogins>,
    /// Where the generated first password was written (removed once it is changed).
    pub initial_password_file: std::path::PathBuf,
    /// `pa.startup.config` is set: API changes last until the next start (a warning is logged).
    pub declarative: bool,
    /// Certificates of the admin listener (swapped when `/httpsListeners` changes `ADMIN`).
    pub admin_certs: Arc<gatehouse_gateway::tls::CertResolver>,
    /// Cluster settings (`CLUSTERED_CONSOLE` mode only).
    pub cluster: Option<engines::ClusterSettings>,
}

impl AdminApi {
    /// Runs `f` with the store locked (short calls only: it blocks the async worker).
    pub fn with_store<T>(
        &self,
        f: impl FnOnce(&Store) -> Result<T, ApiError>,
    ) -> Result<T, ApiError> {
        let store = self
            .store
            .lock()
            .map_err(|_| ApiError::Internal("store lock".into()))?;
        f(&store)
    }
}

/// The revision a call created, for the audit log.
#[derive(Debug, Clone, Copy)]
struct Revision(u64);

type Api = State<Arc<AdminApi>>;

/// The whole admin router (API, OpenAPI document, Swagger UI), with the body limit in bytes.
pub fn router(api: Arc<AdminApi>, body_limit: usize) -> Router {
    let mut r: Router<Arc<AdminApi>> = Router::new().route("/version", get(version));
    for def in COLLECTIONS {
        r = collection_routes(r, def);
    }
    r = resource_routes(r);
    for def in SINGLETONS {
        r = singleton_routes(r, def);
    }
    let r = keypairs::routes(r);
    let r = listeners::routes(r);
    let r = engines::routes(r);
    let r = r
        .route("/users", get(list_users).post(create_user))
        .route("/users/{id}", get(get_user).delete(delete_user))
        .route("/users/{id}/password", put(set_password))
        .route("/config/export", get(export))
        .route("/config/import", post(import))
        .route("/config/revisions", get(revisions))
        .route("/config/revisions/{id}", get(revision))
        .route("/config/revisions/{id}/restore", post(restore))
        .fallback(|| async { ApiError::NotFound })
        .layer(middleware::from_fn_with_state(api.clone(), guard))
        .layer(middleware::map_response(uniform))
        .with_state(api.clone());
    let docs = utoipa_swagger_ui::SwaggerUi::new(format!("{BASE}/api-docs/"))
        .external_url_unchecked(format!("{BASE}/api-docs/openapi.json"), openapi::served());
    Router::new()
        .nest(BASE, r)
        .merge(docs)
        .layer(middleware::from_fn_with_state(api, audited))
        .layer(axum::extract::DefaultBodyLimit::max(body_limit))
}

/// XSRF header, authentication and role, in that order.
async fn guard(State(api): Api, mut req: Request, next: Next) -> Response {
    let headers = req.headers().clone();
    let method = req.method().clone();
    let path = req.uri().path().to_string();
    let outcome = async {
        auth::check_xsrf(&headers)?;
        let caller =
            auth::authenticate(&headers, &api.engine, &api.store, api.lockout, &api.logins).await?;
        auth::authorize(&caller, &method, &path)?;
        Ok::<_, ApiError>(caller)
    }
    .await;
    match outcome {
        Ok(caller) => {
            req.extensions_mut().insert(caller.clone());
            let mut resp = next.run(req).await;
            if caller.role == Role::Auditor {
                resp = redact_secrets(resp).await;
            }
            resp.extensions_mut().insert(caller);
            resp
        }
        Err(e) => {
            let claimed = auth::claimed_user(&headers);
            let mut resp = e.into_response();
            if let Some(user) = claimed {
                resp.extensions_mut().insert(Caller {
                    subject: user,
                    role: Role::Auditor,
                    method: "basic",
                });
            }
            resp
        }
    }
}

/// Auditors never see secrets, not even encrypted.
async fn redact_secrets(resp: Response) -> Response {
    let (parts, body) = resp.into_parts();
    let Ok(bytes) = axum::body::to_bytes(body, usize::MAX).await else {
        return StatusCode::INTERNAL_SERVER_ERROR.into_response();
    };
    let Ok(mut json) = serde_json::from_slice::<Value>(&bytes) else {
        return Response::from_parts(parts, Body::from(bytes));
    };
    blank_encrypted(&mut json);
    Response::from_parts(parts, Body::from(json.to_string()))
}

fn blank_encrypted(v: &mut Value) {
    match v {
        Value::Object(m) => {
            if let Some(e) = m.get_mut("encryptedValue") {
                *e = Value::String(String::new());
            }
            m.values_mut().for_each(blank_encrypted);
        }
        Value::Array(l) => l.iter_mut().for_each(blank_encrypted),
        _ => {}
    }
}

/// API answers are never cached, and errors made outside the handlers (body limit, bad path or
/// query) get the same JSON shape as the others.
async fn uniform(resp: Response) -> Response {
    let mut resp = resp;
    let json = resp
        .headers()
        .get(axum::http::header::CONTENT_TYPE)
        .is_some_and(|v| v.as_bytes().starts_with(b"application/json"));
    if resp.status().is_client_error() && !json {
        let (parts, body) = resp.into_parts();
        let text = axum::body::to_bytes(body, 64 * 1024)
            .await
            .unwrap_or_default();
        let mut message = String::from_utf8_lossy(&text).trim().to_string();
        if message.is_empty() {
            message = parts
                .status
                .canonical_reason()
                .unwrap_or("Error")
                .to_string();
        }
        let body = serde_json::json!({"flash": [message], "form": {}});
        let mut fresh = (parts.status, Json(body)).into_response();
        *fresh.extensions_mut() = parts.extensions;
        resp = fresh;
    }
    resp.headers_mut().insert(
        axum::http::header::CACHE_CONTROL,
        HeaderValue::from_static("no-store"),
    );
    resp
}

/// One audit line per call, whatever the outcome.
async fn audited(State(api): Api, req: Request, next: Next) -> Response {
    let method = req.method().clone();
    let path = req.uri().path().to_string();
    let client = req
        .extensions()
        .get::<ConnInfo>()
        .map_or_else(|| "-".to_string(), |c| c.peer.ip().to_string());
    let id = api.engine.ids.next();
    let mut resp = next.run(req).await;
    let caller = resp.extensions().get::<Caller>().cloned();
    let revision = resp.extensions().get::<Revision>().map(|r| r.0);
    api.audit.record(&AuditRecord {
        time: humantime::format_rfc3339_millis(std::time::SystemTime::now()).to_string(),
        request_id: &id,
        subject: caller.as_ref().map_or("-", |c| c.subject.as_str()),
        auth_method: caller.as_ref().map_or("-", |c| c.method),
        client,
        method: method.as_str(),
        path: &path,
        status: resp.status().as_u16(),
        revision,
    });
    if let Ok(v) = HeaderValue::from_str(&id) {
        resp.headers_mut().insert("x-request-id", v);
    }
    resp
}

async fn version() -> Json<Value> {
    Json(serde_json::json!({ "version": env!("CARGO_PKG_VERSION") }))
}

/// Parses a JSON body; anything else is a `422` naming the problem.
fn parse_body(bytes: &Bytes) -> Result<Value, ApiError> {
    serde_json::from_slice(bytes)
        .map_err(|e| Invalid::flash(format!("the body is not JSON: {e}")).into())
}

/// A change's answer: the body and the revision it created.
fn changed<T: serde::Serialize>(status: StatusCode, body: Option<T>, revision: u64) -> Response {
    let mut resp = match body {
        Some(b) => (status, Json(b)).into_response(),
        None => status.into_response(),
    };
    resp.extensions_mut().insert(Revision(revision));
    resp
}

fn reply<T: serde::Serialize>(r: Result<T, ApiError>) -> Response {
    match r {
        Ok(v) => Json(v).into_response(),
        Err(e) => e.into_response(),
    }
}

fn collection_routes(
    r: Router<Arc<AdminApi>>,
    def: &'static CollectionDef,
) -> Router<Arc<AdminApi>> {
    let scope = Scope {
        def,
        application: None,
    };
    r.route(
        def.path,
        get(move |State(api): Api, Query(q): Query<ListQuery>| async move { reply(collections::list(&api, scope, &q)) }).post(
            move |State(api): Api, Extension(c): Extension<Caller>, body: Bytes| async move {
                match parse_body(&body) {
                    Ok(v) => match collections::create(&api, &c, scope, v).await {
                        Ok(a) => changed(StatusCode::OK, Some(a.value), a.revision),
                        Err(e) => e.into_response(),
                    },
                    Err(e) => e.into_response(),
                }
            },
        ),
    )
    .route(
        &format!("{}/{{id}}", def.path),
        get(move |State(api): Api, Path(id): Path<String>| async move {
            reply(collections::parse_id(def, &id).and_then(|id| collections::get(&api, scope, &id)))
        })
        .put(move |State(api): Api, Extension(c): Extension<Caller>, Path(id): Path<String>, body: Bytes| async move {
            replace(&api, &c, scope, &id, &body).await
        })
        .delete(move |State(api): Api, Extension(c): Extension<Caller>, Path(id): Path<String>| async move {
            remove(&api, &c, scope, &id).await
        }),
    )
}

async fn replace(api: &AdminApi, c: &Caller, scope: Scope<'_>, id: &str, body: &Bytes) -> Response {
    let result = async {
        let id = collections::parse_id(scope.def, id)?;
        let v = parse_body(body)?;
        collections::replace(api, c, scope, id, v).await
    }
    .await;
    match result {
        Ok(a) => changed(StatusCode::OK, Some(a.value), a.revision),
        Err(e) => e.into_response(),
    }
}

async fn remove(api: &AdminApi, c: &Caller, scope: Scope<'_>, id: &str) -> Response {
    let result = async {
        let id = collections::parse_id(scope.def, id)?;
        collections::delete(api, c, scope, id).await
    }
    .await;
    match result {
        Ok(a) => changed::<()>(StatusCode::NO_CONTENT, None, a.revision),
        Err(e) => e.into_response(),
    }
}

fn resource_routes(r: Router<Arc<AdminApi>>) -> Router<Arc<AdminApi>> {
    let scope = |app: u64| Scope {
        def: &RESOURCES,
        application: Some(app),
    };
    let app_exists = |api: &AdminApi, app: u64| -> Result<(), ApiError> {
        let doc = writes::current(api);
        if doc.applications.iter().any(|a| a.id == app) {
            Ok(())
        } else {
            Err(ApiError::NotFound)
        }
    };
    r.route(
        RESOURCES.path,
        get(
            move |State(api): Api, Path(app): Path<u64>, Query(q): Query<ListQuery>| async move {
                reply(app_exists(&api, app).and_then(|()| collections::list(&api, scope(app), &q)))
            },
        )
        .post(
            move |State(api): Api,
                  Extension(c): Extension<Caller>,
                  Path(app): Path<u64>,
                  body: Bytes| async move {
                let result = async {
                    app_exists(&api, app)?;
                    collections::create(&api, &c, scope(app), parse_body(&body)?).await
                }
                .await;
                match result {
                    Ok(a) => changed(StatusCode::OK, Some(a.value), a.revision),
                    Err(e) => e.into_response(),
                }
            },
        ),
    )
    .route(
        &format!("{}/{{id}}", RESOURCES.path),
        get(
            move |State(api): Api, Path((app, id)): Path<(u64, String)>| async move {
                reply(
                    collections::parse_id(&RESOURCES, &id)
                        .and_then(|id| collections::get(&api, scope(app), &id)),
                )
            },
        )
        .put(
            move |State(api): Api,
                  Extension(c): Extension<Caller>,
                  Path((app, id)): Path<(u64, String)>,
                  body: Bytes| async move {
                replace(&api, &c, scope(app), &id, &body).await
            },
        )
        .delete(
            move |State(api): Api,
                  Extension(c): Extension<Caller>,
                  Path((app, id)): Path<(u64, String)>| async move {
                remove(&api, &c, scope(app), &id).await
            },
        ),
    )
}

fn singleton_routes(r: Router<Arc<AdminApi>>, def: &'static SingletonDef) -> Router<Arc<AdminApi>> {
    let mut route =
        get(move |State(api): Api| async move { reply(collections::get_singleton(&api, def)) })
            .put(
                move |State(api): Api, Extension(c): Extension<Caller>, body: Bytes| async move {
                    let result = async {
                        collections::put_singleton(&api, &c, def, Some(parse_body(&body)?)).await
                    }
                    .await;
                    match result {
                        Ok(a) => changed(StatusCode::OK, Some(a.value), a.revision),
                        Err(e) => e.into_response(),
                    }
                },
            );
    if def.optional {
        route = route.delete(
            move |State(api): Api, Extension(c): Extension<Caller>| async move {
                match collections::put_singleton(&api, &c, def, None).await {
                    Ok(a) => changed::<()>(StatusCode::NO_CONTENT, None, a.revision),
                    Err(e) => e.into_response(),
                }
            },
        );
    }
    r.route(def.path, route)
}

async fn list_users(State(api): Api) -> Response {
    reply(users::list(&api).map(|items| serde_json::json!({ "items": items })))
}

async fn get_user(State(api): Api, Path(id): Path<u64>) -> Response {
    reply(users::get(&api, id))
}

async fn delete_user(
    State(api): Api,
    Extension(c): Extension<Caller>,
    Path(id): Path<u64>,
) -> Response {
    match users::delete(&api, &c, id) {
        Ok(()) => StatusCode::NO_CONTENT.into_response(),
        Err(e) => e.into_response(),
    }
}

async fn create_user(State(api): Api, body: Bytes) -> Response {
    let result = async {
        let user: users::NewUser = serde_json::from_slice(&body)
            .map_err(|e| Invalid::flash(format!("invalid user: {e}")))?;
        users::create(&api, user).await
    }
    .await;
    reply(result)
}

async fn set_password(
    State(api): Api,
    Extension(c): Extension<Caller>,
    Path(id): Path<u64>,
    body: Bytes,
) -> Response {
    let result = async {
        let change: users::PasswordChange = serde_json::from_slice(&body)
            .map_err(|e| Invalid::flash(format!("invalid password change: {e}")))?;
        users::set_password(&api, &c, id, change).await
    }
    .await;
    match result {
        Ok(()) => StatusCode::NO_CONTENT.into_response(),
        Err(e) => e.into_response(),
    }
}

async fn export(State(api): Api) -> Response {
    Json(config::export(&api)).into_response()
}

async fn import(State(api): Api, Extension(c): Extension<Caller>, body: Bytes) -> Response {
    let result = async { config::import(&api, &c, parse_body(&body)?).await }.await;
    match result {
        Ok(rev) => changed(
            StatusCode::OK,
            Some(serde_json::json!({ "revision": rev })),
            rev,
        ),
        Err(e) => e.into_response(),
    }
}

async fn revisions(State(api): Api) -> Response {
    reply(config::revisions(&api).map(|items| serde_json::json!({ "items": items })))
}

async fn revision(State(api): Api, Path(id): Path<u64>) -> Response {
    reply(config::revision(&api, id))
}

async fn restore(
    State(api): Api,
    Extension(c): Extension<Caller>,
    Path(id): Path<u64>,
) -> Response {
    match config::restore(&api, &c, id).await {
        Ok(rev) => changed(
            StatusCode::OK,
            Some(serde_json::json!({ "revision": rev })),
            rev,
        ),
        Err(e) => e.into_response(),
    }
}

/// Serves the router for one request of the admin listener. The body is read first (within
/// the limit): an answer given before the body was read (`403`, `404`, `405`, …) would otherwise
/// leave the rest of it on the connection, which then cannot be reused.
pub async fn serve(
    router: Router,
    conn: ConnInfo,
    req: axum::http::Request<hyper::body::Incoming>,
    body_limit: usize,
) -> Response<Body> {
    use http_body_util::BodyExt;
    use tower::ServiceExt;
    let (mut parts, body) = req.into_parts();
    parts.extensions.insert(conn);
    let bytes = match http_body_util::Limited::new(body, body_limit)
        .collect()
        .await
    {
        Ok(collected) => collected.to_bytes(),
        Err(e) => {
            let too_large = e
                .downcast_ref::<http_body_util::LengthLimitError>()
                .is_some();
            let mut resp = if too_large {
                error::ApiError::TooLarge.into_response()
            } else {
                StatusCode::BAD_REQUEST.into_response()
            };
            resp.headers_mut().insert(
                axum::http::header::CONNECTION,
                HeaderValue::from_static("close"),
            );
            return resp;
        }
    };
    let req = axum::http::Request::from_parts(parts, Body::from(bytes));
    match router.oneshot(req).await {
        Ok(resp) => resp,
        Err(never) => match never {},
    }
}
