//! Web-session stage of the pipeline (SPEC §5.3, web part): the `<reserved>/oidc/*` endpoints,
//! and for `Web` (and tokenless `Dynamic`) applications with a web session, the session cookie
//! checked on protected resources, or a login started.

use std::collections::HashMap;

use http::request::Parts;
use http::Response;
use http_body_util::BodyExt;
use hyper::body::Incoming;

use super::forwarded::Origin;
use super::respond::PipelineError;
use crate::engine::Engine;
use crate::route::RouteApp;
use crate::snapshot::Snapshot;
use crate::upstream::GatewayBody;
use crate::websession::callback::{self, same_host_target, Callback};
use crate::websession::codec::SessionKeys;
use crate::websession::login::{self, LoginRequest};
use crate::websession::logout;
use crate::websession::refresh;
use crate::websession::session::{self, now, Sealing, WebIdentity};

/// Largest callback form (`form_post`) read, in bytes.
const CALLBACK_BODY_LIMIT: usize = 64 * 1024;

fn params_of(text: &str) -> HashMap<String, String> {
    form_urlencoded::parse(text.as_bytes())
        .into_owned()
        .collect()
}

fn base_url(origin: &Origin) -> String {
    let default = matches!((origin.proto, origin.port), ("https", 443) | ("http", 80));
    if default {
        format!("{}://{}", origin.proto, origin.host)
    } else {
        format!("{}://{}:{}", origin.proto, origin.host, origin.port)
    }
}

/// Serves `<reserved>/oidc/*`; `None` for other reserved endpoints.
pub async fn endpoint(
    engine: &Engine,
    snap: &Snapshot,
    endpoint: &str,
    parts: &Parts,
    body: Incoming,
    origin: &Origin,
) -> Option<Result<Response<GatewayBody>, PipelineError>> {
    let sessions = &snap.web_sessions;
    let keys = engine.session_keys.load_full();
    let query = parts.uri.query().unwrap_or("");
    let resp = match endpoint {
        "/oidc/cb" => {
            let Some(keys) = keys else {
                return Some(Err(PipelineError::NotConfigured));
            };
            let mut params = params_of(query);
            if parts.method == http::Method::POST {
                let limited = http_body_util::Limited::new(body, CALLBACK_BODY_LIMIT);
                let Ok(collected) = limited.collect().await else {
                    return Some(Err(PipelineError::BodyTooLarge));
                };
                let bytes = collected.to_bytes();
                params.extend(params_of(&String::from_utf8_lossy(&bytes)));
            }
            let client_keys = engine.oidc_client_keys.load_full();
            callback::handle(Callback {
                client_keys: client_keys.as_deref(),
                params,
                headers: &parts.headers,
                sessions,
                sealing: sealing(engine, &keys),
                used: &engine.used_login_states,
                preserved: &engine.preserved_forms,
                reserved: &snap.routes.reserved,
            })
            .await
        }
        "/oidc/logout" => {
            let target = params_of(query)
                .get("TargetResource")
                .and_then(|t| same_host_target(t, &origin.host));
            let sealing = keys.as_deref().map(|keys| sealing(engine, keys));
            logout::logout(sessions, sealing, &parts.headers, target).await
        }
        "/oidc/logout.png" => logout::logout_png(sessions, &parts.headers),
        _ => return None,
    };
    Some(Ok(resp))
}

fn sealing<'a>(engine: &'a Engine, keys: &'a SessionKeys) -> Sealing<'a> {
    Sealing {
        keys,
        attributes: &engine.user_attributes,
        threshold: engine.settings.session_cookie_threshold,
        verified: &engine.verified_sessions,
    }
}

/// Largest form body kept across a login (`requestPreservationType` `POST`), in bytes.
const PRESERVED_FORM_LIMIT: usize = 64 * 1024;

/// The valid session of the application's web session the request carries (attributes
/// refreshed from userinfo when due, cookie re-issued when due), or `None`: a login is needed.
pub async fn session_of(
    engine: &Engine,
    snap: &Snapshot,
    app: &RouteApp,
    parts: &Parts,
) -> Result<Option<WebIdentity>, PipelineError> {
    let sessions = &snap.web_sessions;
    let Some(ws) = sessions.by_id.get(&app.web_session) else {
        return Err(PipelineError::NotConfigured);
    };
    let Some(keys) = engine.session_keys.load_full() else {
        return Err(PipelineError::NotConfigured);
    };
    let m = &sessions.management;
    let sealing = sealing(engine, &keys);
    let t = now();
    let needs_access_token = app.web_mapping.as_ref().is_some_and(|mapping| {
        matches!(
            mapping.mapping,
            gatehouse_model::identity::TypedMapping::WebSessionAccessToken
        )
    });
    let usable = |s: &session::Session| {
        !needs_access_token || s.access_token.as_ref().is_some_and(|(_, exp)| *exp > t)
    };
    let Some(current) = session::open(&parts.headers, ws, m, &sealing, t) else {
        return Ok(None);
    };
    if !usable(&current.session) {
        return Ok(None);
    }
    let refresh_due = ws.cfg.enable_refresh_user
        && t.saturating_sub(current.session.refreshed) >= ws.cfg.refresh_user_info_claims_interval;
    let update_due = current.session.due_for_update(m, t);
    let reset = login::reset_loop(ws, &m.cookie_name, &parts.headers);
    if !refresh_due && !update_due {
        // The usual request: the identity built when the cookie was first opened.
        return Ok(Some(WebIdentity {
            identity: current.identity,
            set_cookies: reset.into_iter().collect(),
        }));
    }
    let mut found = session::Session::clone(&current.session);
    let mut refreshed = false;
    if refresh_due {
        match refresh::user_info(ws, &found).await {
            refresh::Outcome::Refreshed(attrs) => {
                found.attrs = attrs;
                found.refreshed = t;
                refreshed = true;
            }
            refresh::Outcome::Revoked => return Ok(None),
            refresh::Outcome::Unavailable => {}
        }
    }
    let mut set_cookies = Vec::new();
    if update_due || refreshed {
        let touched = found.touched(ws, t);
        match session::write(&touched, ws, m, &sealing, &parts.headers) {
            Ok(set) => set_cookies = set,
            Err(e) => tracing::warn!(error = %e, "session cookie not re-issued"),
        }
    }
    set_cookies.extend(reset);
    let identity = if refreshed {
        session::Current::of(found, &current.identity.cache_key.1).identity
    } else {
        current.identity
    };
    Ok(Some(WebIdentity {
        identity,
        set_cookies,
    }))
}

/// The form of an unauthenticated `POST` to keep across the login, when the web session
/// preserves posts and the body is a form within [`PRESERVED_FORM_LIMIT`].
async fn preservable_form(
    snap: &Snapshot,
    app: &RouteApp,
    parts: &Parts,
    body: Incoming,
) -> Option<Vec<(String, String)>> {
    use gatehouse_model::websession::RequestPreservationType;
    let ws = snap.web_sessions.by_id.get(&app.web_session)?;
    let is_form = parts
        .headers
        .get(http::header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.starts_with("application/x-www-form-urlencoded"));
    if parts.method != http::Method::POST
        || !is_form
        || ws.cfg.request_preservation_type == RequestPreservationType::None
    {
        return None;
    }
    let collected = http_body_util::Limited::new(body, PRESERVED_FORM_LIMIT)
        .collect()
        .await
        .ok()?;
    Some(
        form_urlencoded::parse(&collected.to_bytes())
            .into_owned()
            .collect(),
    )
}

/// Starts a login for a request without a session: `302` to the provider, `401` JSON for
/// SPAs, or an error page (provider down, login loop). A form `POST` is kept for the callback.
pub async fn login(
    engine: &Engine,
    snap: &Snapshot,
    app: &RouteApp,
    parts: &Parts,
    body: Incoming,
    origin: &Origin,
) -> Result<Response<GatewayBody>, PipelineError> {
    let sessions = &snap.web_sessions;
    let (Some(ws), Some(keys)) = (
        sessions.by_id.get(&app.web_session),
        engine.session_keys.load_full(),
    ) else {
        return Err(PipelineError::NotConfigured);
    };
    let m = &sessions.management;
    let spa = app.spa_support && login::wants_json(&parts.headers);
    let form = if spa {
        None
    } else {
        preservable_form(snap, app, parts, body).await
    };
    let target = parts.uri.path_and_query().map_or("/", |pq| pq.as_str());
    let base = base_url(origin);
    let request = LoginRequest {
        headers: &parts.headers,
        original_url: format!("{base}{target}"),
        host: origin.host.clone(),
        redirect_uri: format!("{base}{}/oidc/cb", snap.routes.reserved),
        reserved: &snap.routes.reserved,
        spa,
        client_keys: engine.oidc_client_keys.load_full(),
        preserved: form.map(|f| (&engine.preserved_forms, f)),
    };
    let ttl = m.nonce_cookie_time_to_live_in_minutes;
    let json = login::wants_json(&parts.headers);
    Ok(
        match login::start(ws, &m.cookie_name, ttl, &keys, request).await {
            Ok(resp) => resp,
            Err(login::LoginError::Loop(n)) => {
                tracing::warn!(count = n, application = %app.name, "login loop stopped");
                callback::error_page(
                    http::StatusCode::INTERNAL_SERVER_ERROR,
                    "The login did not complete: this browser keeps returning without a session \
                 (are cookies blocked, or is the session cookie Secure on plain HTTP?).",
                    json,
                )
            }
            Err(e) => {
                tracing::error!(error = %e, application = %app.name, "cannot start a login");
                callback::error_page(
                    http::StatusCode::BAD_GATEWAY,
                    "The login service is unavailable.",
                    json,
                )
            }
        },
    )
}
