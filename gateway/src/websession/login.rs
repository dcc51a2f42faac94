//! Starting a login: the authorization request (code flow, `state`, `nonce`, PKCE S256, PAR when
//! enabled), the cookie that binds the login to this browser, the loop breaker, and the SPA
//! answer (`401` JSON naming the login URL instead of a redirect).

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine as _;
use gatehouse_model::websession::{OidcLoginType, PkceChallengeType, SameSite};
use http::{HeaderMap, HeaderValue, Response, StatusCode};
use serde_json::{json, Map, Value};
use sha2::Digest;

use super::codec::{self, CookieType, SessionKeys};
use super::compiled::CompiledWebSession;
use super::cookies::{self, CookieAttrs};
use super::session::now;
use crate::oauth::fetch::FetchError;
use crate::pipeline::respond::full;
use crate::upstream::GatewayBody;

/// Logins started within [`LOOP_WINDOW`] seconds after which the loop breaker answers instead.
const LOOP_LIMIT: u32 = 5;
/// Window of the loop breaker, in seconds.
const LOOP_WINDOW: u64 = 60;

/// Why a login could not start.
#[derive(Debug, thiserror::Error)]
pub enum LoginError {
    /// The provider's metadata or PAR endpoint failed.
    #[error("the OpenID provider is unavailable: {0}")]
    Provider(#[from] FetchError),
    /// The provider lacks an endpoint.
    #[error("the OpenID provider publishes no {0}")]
    Missing(&'static str),
    /// No session keys yet.
    #[error("web session keys are not installed")]
    NoKeys,
    /// Sealing the state failed.
    #[error(transparent)]
    Codec(#[from] codec::CodecError),
    /// The browser keeps coming back without a session.
    #[error("login loop: the browser returned without a session {0} times in a minute")]
    Loop(u32),
}

/// Form posts kept across a login, by login state id.
pub type PreservedForms = moka::sync::Cache<String, std::sync::Arc<Vec<(String, String)>>>;

/// What a login needs to know about the request (no `Debug`: it holds the request's cookies).
pub struct LoginRequest<'a> {
    /// The request's headers.
    pub headers: &'a HeaderMap,
    /// The absolute URL to return to.
    pub original_url: String,
    /// Host the login started on (the callback returns only there).
    pub host: String,
    /// `<scheme>://<host>[:port]<reserved>/oidc/cb`.
    pub redirect_uri: String,
    /// The reserved path (`/pa`).
    pub reserved: &'a str,
    /// Answer `401` JSON instead of a redirect.
    pub spa: bool,
    /// Keys for `private_key_jwt` client assertions (PAR).
    pub client_keys: Option<std::sync::Arc<crate::authtoken::AuthTokenKeys>>,
    /// A form post to replay after the login, and where to keep it.
    pub preserved: Option<(&'a PreservedForms, Vec<(String, String)>)>,
}

/// Name of the cookie that binds a login to the browser that started it.
pub fn binding_cookie(m_cookie_name: &str, jti: &str) -> String {
    format!("{m_cookie_name}_N.{jti}")
}

fn loop_cookie(ws: &CompiledWebSession, cookie_name: &str) -> String {
    format!("{cookie_name}_LB.{}", ws.cfg.audience)
}

/// Whether `needle` occurs in `haystack`.
fn memchr_find(haystack: &[u8], needle: &[u8]) -> bool {
    haystack.windows(needle.len()).any(|w| w == needle)
}

fn random_b64(n: usize) -> String {
    let bytes: Vec<u8> = (0..n).map(|_| rand::random::<u8>()).collect();
    URL_SAFE_NO_PAD.encode(bytes)
}

/// Attributes of the short-lived login cookies: sent only to the callback (a cross-site POST
/// with `form_post` needs `SameSite=None`).
fn login_cookie_attrs(ws: &CompiledWebSession, reserved: &str, ttl: u64) -> CookieAttrs {
    let post = ws.cfg.oidc_login_type == OidcLoginType::Post && ws.cfg.secure_cookie;
    CookieAttrs {
        secure: ws.cfg.secure_cookie,
        http_only: true,
        same_site: if post { SameSite::None } else { SameSite::Lax },
        domain: None,
        path: format!("{reserved}/oidc"),
        max_age: Some(ttl),
    }
}

/// Counts this login in the loop breaker; the `Set-Cookie` value, or the loop error.
fn count_login(
    ws: &CompiledWebSession,
    cookie_name: &str,
    headers: &HeaderMap,
) -> Result<String, LoginError> {
    let name = loop_cookie(ws, cookie_name);
    let jar = cookies::request_cookies(headers);
    let (count, first) = jar
        .iter()
        .find(|(n, _)| *n == name)
        .and_then(|(_, v)| v.split_once('-'))
        .and_then(|(c, f)| Some((c.parse::<u32>().ok()?, f.parse::<u64>().ok()?)))
        .filter(|(_, first)| now().saturating_sub(*first) < LOOP_WINDOW)
        .unwrap_or((0, now()));
    if count >= LOOP_LIMIT {
        return Err(LoginError::Loop(count));
    }
    let attrs = loop_cookie_attrs();
    Ok(cookies::set_cookie(
        &name,
        &format!("{}-{first}", count + 1),
        &attrs,
    ))
}

/// The loop breaker's cookie is host-only and never `Secure`: it must work in the very cases it
/// is for, a session cookie the browser drops (`Secure` on plain HTTP, a `cookieDomain` that is
/// not the host's). It holds only a count and a time.
fn loop_cookie_attrs() -> CookieAttrs {
    CookieAttrs {
        secure: false,
        http_only: true,
        same_site: SameSite::Lax,
        domain: None,
        path: "/".into(),
        max_age: Some(LOOP_WINDOW),
    }
}

/// `Set-Cookie` that resets the loop breaker (a session was seen).
pub fn reset_loop(
    ws: &CompiledWebSession,
    cookie_name: &str,
    headers: &HeaderMap,
) -> Option<String> {
    // Most requests carry no loop-breaker cookie: skip the parsing when its marker is absent.
    let marked = headers
        .get_all(http::header::COOKIE)
        .iter()
        .any(|v| memchr_find(v.as_bytes(), b"_LB."));
    if !marked {
        return None;
    }
    let name = loop_cookie(ws, cookie_name);
    cookies::request_cookies(headers)
        .iter()
        .any(|(n, _)| *n == name)
        .then(|| cookies::expire(&name, &loop_cookie_attrs()))
}

/// Starts a login: `302` to the provider (or `401` JSON for SPAs), with the binding cookie.
pub async fn start(
    ws: &CompiledWebSession,
    cookie_name: &str,
    nonce_ttl_minutes: u64,
    keys: &SessionKeys,
    req: LoginRequest<'_>,
) -> Result<Response<GatewayBody>, LoginError> {
    let loop_set = count_login(ws, cookie_name, req.headers)?;
    let meta = ws.provider.metadata().await?;
    let authorize = meta
        .authorization_endpoint
        .clone()
        .ok_or(LoginError::Missing("authorization_endpoint"))?;
    let ttl = nonce_ttl_minutes * 60;
    let jti = random_b64(16);
    let nonce = random_b64(24);
    let verifier = random_b64(32);
    let mut state = Map::new();
    state.insert("t".into(), json!("login"));
    state.insert("ws".into(), json!(ws.cfg.id));
    state.insert("url".into(), json!(req.original_url));
    state.insert("host".into(), json!(req.host));
    state.insert("n".into(), json!(nonce));
    state.insert("v".into(), json!(verifier));
    state.insert("ru".into(), json!(req.redirect_uri));
    state.insert("exp".into(), json!(now() + ttl));
    state.insert("jti".into(), json!(jti));
    if let Some((store, fields)) = req.preserved {
        store.insert(jti.clone(), std::sync::Arc::new(fields));
        state.insert("post".into(), json!(true));
    }
    let state = codec::seal(&state, keys, CookieType::Encrypted)?;
    let mut scopes = vec!["openid".to_string()];
    scopes.extend(ws.cfg.scopes.iter().filter(|s| *s != "openid").cloned());
    let mut params: Vec<(String, String)> = vec![
        ("response_type".into(), "code".into()),
        (
            "client_id".into(),
            ws.cfg.client_credentials.client_id.clone(),
        ),
        ("redirect_uri".into(), req.redirect_uri.clone()),
        ("scope".into(), scopes.join(" ")),
        ("state".into(), state),
        ("nonce".into(), nonce),
    ];
    if ws.cfg.pkce_challenge_type == PkceChallengeType::Sha256 {
        let challenge = URL_SAFE_NO_PAD.encode(sha2::Sha256::digest(verifier.as_bytes()));
        params.push(("code_challenge".into(), challenge));
        params.push(("code_challenge_method".into(), "S256".into()));
    }
    if ws.cfg.oidc_login_type == OidcLoginType::Post {
        params.push(("response_mode".into(), "form_post".into()));
    }
    for q in &ws.extra_params {
        params.push(q.clone());
    }
    let query = if ws.cfg.enable_push_authorization {
        let par = meta
            .pushed_authorization_request_endpoint
            .clone()
            .ok_or(LoginError::Missing("pushed_authorization_request_endpoint"))?;
        let answer: Value = ws
            .post_authenticated(&par, params, req.client_keys.as_deref())
            .await?;
        let request_uri = answer
            .get("request_uri")
            .and_then(Value::as_str)
            .ok_or(LoginError::Missing("request_uri in the PAR answer"))?;
        form(&[
            ("client_id", ws.cfg.client_credentials.client_id.as_str()),
            ("request_uri", request_uri),
        ])
    } else {
        let pairs: Vec<(&str, &str)> = params
            .iter()
            .map(|(k, v)| (k.as_str(), v.as_str()))
            .collect();
        form(&pairs)
    };
    let sep = if authorize.contains('?') { '&' } else { '?' };
    let location = format!("{authorize}{sep}{query}");
    let bind = cookies::set_cookie(
        &binding_cookie(cookie_name, &jti),
        "1",
        &login_cookie_attrs(ws, req.reserved, ttl),
    );
    let mut resp = if req.spa {
        let body = json!({
            "error": "login_required",
            "error_description": "No session: open loginUrl in the browser to log in.",
            "loginUrl": location,
        });
        let mut r = Response::new(full(body.to_string()));
        *r.status_mut() = StatusCode::UNAUTHORIZED;
        r.headers_mut().insert(
            http::header::CONTENT_TYPE,
            HeaderValue::from_static("application/json"),
        );
        r
    } else {
        let mut r = Response::new(full(bytes::Bytes::new()));
        *r.status_mut() = StatusCode::FOUND;
        if let Ok(v) = HeaderValue::from_str(&location) {
            r.headers_mut().insert(http::header::LOCATION, v);
        }
        r
    };
    let h = resp.headers_mut();
    h.insert(
        http::header::CACHE_CONTROL,
        HeaderValue::from_static("no-store"),
    );
    for c in [bind, loop_set] {
        if let Ok(v) = HeaderValue::from_str(&c) {
            h.append(http::header::SET_COOKIE, v);
        }
    }
    Ok(resp)
}

/// `application/x-www-form-urlencoded` text of `pairs`.
pub fn form(pairs: &[(&str, &str)]) -> String {
    form_urlencoded::Serializer::new(String::new())
        .extend_pairs(pairs)
        .finish()
}

/// True when a request wants JSON rather than a page: XHR or `Accept: application/json`.
pub fn wants_json(headers: &HeaderMap) -> bool {
    let xhr = headers
        .get("x-requested-with")
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.eq_ignore_ascii_case("XMLHttpRequest"));
    let json = headers
        .get(http::header::ACCEPT)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.contains("application/json") && !v.contains("text/html"));
    xhr || json
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::websession::testing::fixture;

    #[test]
    fn the_loop_breaker_is_reset_only_when_its_cookie_came() {
        let (sessions, _, _) = fixture();
        let one = &sessions.by_id[&1];
        let with = |cookie: &str| {
            let mut h = HeaderMap::new();
            h.insert(http::header::COOKIE, cookie.parse().unwrap());
            h
        };
        let reset = reset_loop(one, "PA", &with("PA.one=x; PA_LB.one=3")).unwrap();
        assert!(reset.starts_with("PA_LB.one=;"), "{reset}");
        assert!(reset.contains("Max-Age=0"), "{reset}");
        assert_eq!(reset_loop(one, "PA", &with("PA.one=x")), None);
        assert_eq!(reset_loop(one, "PA", &with("PA_LB.two=1")), None);
        assert_eq!(reset_loop(one, "PA", &HeaderMap::new()), None);
    }
}
