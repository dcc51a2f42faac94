//! `<reserved>/oidc/logout` (clears every session cookie and chunk; with the provider's `useSlo`
//! continues at its `end_session_endpoint` with `id_token_hint`) and `<reserved>/oidc/logout.png`
//! (clears the cookies, answers a 1×1 PNG for front-channel logout).

use http::{HeaderMap, HeaderValue, Response, StatusCode};

use super::compiled::WebSessions;
use super::login::form;
use super::session::{self, now};
use crate::pipeline::respond::full;
use crate::upstream::GatewayBody;

/// A transparent 1×1 PNG.
const PIXEL: &[u8] = &[
    0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a, 0x00, 0x00, 0x00, 0x0d, 0x49, 0x48, 0x44, 0x52,
    0x00, 0x00, 0x00, 0x01, 0x00, 0x00, 0x00, 0x01, 0x08, 0x06, 0x00, 0x00, 0x00, 0x1f, 0x15, 0xc4,
    0x89, 0x00, 0x00, 0x00, 0x0d, 0x49, 0x44, 0x41, 0x54, 0x78, 0x9c, 0x63, 0x00, 0x01, 0x00, 0x00,
    0x05, 0x00, 0x01, 0x0d, 0x0a, 0x2d, 0xb4, 0x00, 0x00, 0x00, 0x00, 0x49, 0x45, 0x4e, 0x44, 0xae,
    0x42, 0x60, 0x82,
];

fn clear_all(sessions: &WebSessions, headers: &HeaderMap) -> Vec<String> {
    sessions
        .by_id
        .values()
        .flat_map(|ws| session::clear(ws, headers))
        .collect()
}

fn with_cookies(mut resp: Response<GatewayBody>, set: Vec<String>) -> Response<GatewayBody> {
    let h = resp.headers_mut();
    h.insert(
        http::header::CACHE_CONTROL,
        HeaderValue::from_static("no-store"),
    );
    for c in set {
        if let Ok(v) = HeaderValue::from_str(&c) {
            h.append(http::header::SET_COOKIE, v);
        }
    }
    resp
}

/// `/oidc/logout`. `post_logout` is a validated same-host URL to end on, if the caller named one.
pub async fn logout(
    sessions: &WebSessions,
    keys: Option<session::Sealing<'_>>,
    headers: &HeaderMap,
    post_logout: Option<String>,
) -> Response<GatewayBody> {
    let set = clear_all(sessions, headers);
    let slo = match keys {
        Some(sealing) => single_logout(sessions, &sealing, headers, post_logout.as_deref()).await,
        None => None,
    };
    let resp = match (slo, post_logout) {
        (Some(location), _) | (None, Some(location)) => redirect(&location),
        (None, None) => {
            let mut r = Response::new(full(
                "<!DOCTYPE html><html><head><title>Signed out</title></head>\
                 <body><h1>You are signed out.</h1></body></html>",
            ));
            r.headers_mut().insert(
                http::header::CONTENT_TYPE,
                HeaderValue::from_static("text/html; charset=utf-8"),
            );
            r
        }
    };
    with_cookies(resp, set)
}

/// The provider's end-session URL for the first live session with `useSlo`.
async fn single_logout(
    sessions: &WebSessions,
    sealing: &session::Sealing<'_>,
    headers: &HeaderMap,
    post_logout: Option<&str>,
) -> Option<String> {
    let t = now();
    for ws in sessions.by_id.values().filter(|ws| ws.use_slo) {
        let Some(s) = session::read(headers, ws, &sessions.management, sealing, t) else {
            continue;
        };
        let hint = s.id_token?;
        let meta = ws.provider.metadata().await.ok()?;
        let end = meta.end_session_endpoint.clone()?;
        let mut params = vec![
            ("id_token_hint", hint.as_str()),
            ("client_id", ws.cfg.client_credentials.client_id.as_str()),
        ];
        if let Some(uri) = post_logout {
            params.push(("post_logout_redirect_uri", uri));
        }
        let sep = if end.contains('?') { '&' } else { '?' };
        return Some(format!("{end}{sep}{}", form(&params)));
    }
    None
}

fn redirect(location: &str) -> Response<GatewayBody> {
    let mut r = Response::new(full(bytes::Bytes::new()));
    *r.status_mut() = StatusCode::FOUND;
    if let Ok(v) = HeaderValue::from_str(location) {
        r.headers_mut().insert(http::header::LOCATION, v);
    }
    r
}

/// `/oidc/logout.png`.
pub fn logout_png(sessions: &WebSessions, headers: &HeaderMap) -> Response<GatewayBody> {
    let mut r = Response::new(full(PIXEL));
    r.headers_mut().insert(
        http::header::CONTENT_TYPE,
        HeaderValue::from_static("image/png"),
    );
    with_cookies(r, clear_all(sessions, headers))
}
