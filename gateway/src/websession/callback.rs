//! The redirect URI `<reserved>/oidc/cb`: checks `state` (sealed, unexpired, single use, bound
//! to this browser), exchanges the code (with the PKCE verifier), validates the ID token
//! (signature, `iss`, `aud`, `exp`, `iat`, `nonce`, `azp`), reads userinfo, sets the session
//! cookie and returns to the URL the login started from, which must be on the same host.

use std::collections::HashMap;

use http::{HeaderMap, HeaderValue, Response, StatusCode};
use serde_json::{Map, Value};

use super::codec::{self, CookieType};
use super::compiled::{CompiledWebSession, WebSessions};
use super::cookies::{self, CookieAttrs};
use super::login::{binding_cookie, wants_json};
use super::session::{self, now, Session};
use crate::oauth::fetch::FetchError;
use crate::pipeline::respond::{escape, full};
use crate::upstream::GatewayBody;

/// Claims of the ID token that describe the token, not the user.
const TOKEN_CLAIMS: &[&str] = &[
    "iss",
    "aud",
    "exp",
    "iat",
    "nbf",
    "nonce",
    "at_hash",
    "c_hash",
    "s_hash",
    "azp",
    "jti",
    "sid",
    "auth_time",
    "acr",
    "amr",
];

/// Why a callback failed (the browser gets an error page; no cookie is set).
#[derive(Debug, thiserror::Error)]
pub enum CallbackError {
    /// `state` missing, unreadable, expired, replayed or foreign.
    #[error("invalid state: {0}")]
    State(&'static str),
    /// The provider answered with an error.
    #[error("the OpenID provider refused the login: {0}")]
    Provider(String),
    /// The token or userinfo endpoint failed.
    #[error("the OpenID provider is unavailable: {0}")]
    Unavailable(#[from] FetchError),
    /// The ID token is not acceptable.
    #[error("invalid ID token: {0}")]
    IdToken(String),
    /// The web session is gone, or keys are missing.
    #[error("login not possible: {0}")]
    Config(&'static str),
    /// The session cookie could not be written.
    #[error(transparent)]
    Session(#[from] session::SessionError),
}

impl CallbackError {
    fn status(&self) -> StatusCode {
        match self {
            Self::State(_) | Self::Provider(_) | Self::IdToken(_) => StatusCode::BAD_REQUEST,
            Self::Unavailable(_) => StatusCode::BAD_GATEWAY,
            Self::Config(_) | Self::Session(_) => StatusCode::INTERNAL_SERVER_ERROR,
        }
    }
}

/// What the callback needs (no `Debug`: it holds the code, the state and the cookies).
pub struct Callback<'a> {
    /// Query (GET) or form body (POST) parameters.
    pub params: HashMap<String, String>,
    /// Request headers (cookies, `Accept`).
    pub headers: &'a HeaderMap,
    /// Web sessions of the snapshot.
    pub sessions: &'a WebSessions,
    /// Keys and caches of session cookies.
    pub sealing: session::Sealing<'a>,
    /// States already used (single use).
    pub used: &'a moka::sync::Cache<String, ()>,
    /// Keys for `private_key_jwt` client assertions.
    pub client_keys: Option<&'a crate::authtoken::AuthTokenKeys>,
    /// Form posts kept across logins.
    pub preserved: &'a super::login::PreservedForms,
    /// Reserved path (`/pa`).
    pub reserved: &'a str,
}

/// Handles the callback: `302` to the original URL with the session cookie, or an error page.
pub async fn handle(cb: Callback<'_>) -> Response<GatewayBody> {
    let json = wants_json(cb.headers);
    match complete(&cb).await {
        Ok(resp) => resp,
        Err(e) => {
            tracing::warn!(error = %e, "web session login failed");
            error_page(e.status(), &e.to_string(), json)
        }
    }
}

struct State {
    ws: u64,
    url: String,
    host: String,
    nonce: String,
    verifier: String,
    redirect_uri: String,
    jti: String,
    post: bool,
}

fn open_state(cb: &Callback<'_>) -> Result<State, CallbackError> {
    let token = cb
        .params
        .get("state")
        .ok_or(CallbackError::State("missing"))?;
    let c = codec::open(token, cb.sealing.keys, CookieType::Encrypted)
        .map_err(|_| CallbackError::State("not made by this gateway"))?;
    let text = |k: &str| c.get(k).and_then(Value::as_str).map(String::from);
    if text("t").as_deref() != Some("login") {
        return Err(CallbackError::State("not a login state"));
    }
    if c.get("exp").and_then(Value::as_u64).unwrap_or(0) <= now() {
        return Err(CallbackError::State("expired"));
    }
    let state = State {
        ws: c.get("ws").and_then(Value::as_u64).unwrap_or(0),
        url: text("url").ok_or(CallbackError::State("incomplete"))?,
        host: text("host").ok_or(CallbackError::State("incomplete"))?,
        nonce: text("n").ok_or(CallbackError::State("incomplete"))?,
        verifier: text("v").ok_or(CallbackError::State("incomplete"))?,
        redirect_uri: text("ru").ok_or(CallbackError::State("incomplete"))?,
        jti: text("jti").ok_or(CallbackError::State("incomplete"))?,
        post: c.get("post").and_then(Value::as_bool).unwrap_or(false),
    };
    let bound = binding_cookie(&cb.sessions.management.cookie_name, &state.jti);
    if !cookies::request_cookies(cb.headers)
        .iter()
        .any(|(n, _)| *n == bound)
    {
        return Err(CallbackError::State(
            "the login was not started in this browser",
        ));
    }
    let mut fresh = false;
    cb.used.entry(state.jti.clone()).or_insert_with_if(
        || {
            fresh = true;
        },
        |_| false,
    );
    if !fresh {
        return Err(CallbackError::State("already used"));
    }
    Ok(state)
}

async fn complete(cb: &Callback<'_>) -> Result<Response<GatewayBody>, CallbackError> {
    let state = open_state(cb)?;
    let ws = cb
        .sessions
        .by_id
        .get(&state.ws)
        .ok_or(CallbackError::Config("the web session no longer exists"))?;
    if let Some(err) = cb.params.get("error") {
        let desc = cb
            .params
            .get("error_description")
            .map_or(String::new(), |d| format!(" ({d})"));
        return Err(CallbackError::Provider(format!("{err}{desc}")));
    }
    if let Some(iss) = cb.params.get("iss") {
        if iss != ws.provider.issuer() {
            return Err(CallbackError::Provider("answer from another issuer".into()));
        }
    }
    let code = cb
        .params
        .get("code")
        .ok_or(CallbackError::Provider("no authorization code".into()))?;
    let tokens = exchange(ws, code, &state, cb.client_keys).await?;
    let id_token = tokens
        .get("id_token")
        .and_then(Value::as_str)
        .ok_or_else(|| CallbackError::IdToken("the token answer holds none".into()))?;
    let mut attrs = id_token_claims(ws, id_token, &state).await?;
    let access_token = tokens.get("access_token").and_then(Value::as_str);
    if let Some(at) = access_token {
        merge_userinfo(ws, at, &mut attrs).await?;
    }
    if let Some(scope) = tokens.get("scope").and_then(Value::as_str) {
        attrs
            .entry("scope")
            .or_insert_with(|| Value::String(scope.to_string()));
    }
    let t = now();
    let lifetime = tokens
        .get("expires_in")
        .and_then(Value::as_u64)
        .unwrap_or(ws.cfg.session_timeout_in_minutes * 60);
    let sub = attrs
        .get("sub")
        .and_then(Value::as_str)
        .unwrap_or_default()
        .to_string();
    let auth_time = attrs
        .get("auth_time")
        .and_then(Value::as_u64)
        .unwrap_or(now());
    for k in TOKEN_CLAIMS.iter().chain(&["sub"]) {
        attrs.remove(*k);
    }
    let session = Session {
        sub,
        attrs,
        issued: t,
        expires: t + ws.cfg.session_timeout_in_minutes * 60,
        idle_until: t + ws.cfg.idle_timeout_in_minutes * 60,
        auth_time,
        refreshed: t,
        sid: uuid_like(),
        id_token: ws.use_slo.then(|| id_token.to_string()),
        access_token: access_token
            .filter(|_| ws.keep_access_token)
            .map(|at| (at.to_string(), t + lifetime)),
    };
    let mut set = session::write(
        &session,
        ws,
        &cb.sessions.management,
        &cb.sealing,
        cb.headers,
    )?;
    let login_attrs = CookieAttrs {
        path: format!("{}/oidc", cb.reserved),
        ..CookieAttrs::session(&ws.cfg)
    };
    set.push(cookies::expire(
        &binding_cookie(&cb.sessions.management.cookie_name, &state.jti),
        &login_attrs,
    ));
    let location = same_host_target(&state.url, &state.host).ok_or(CallbackError::State(
        "the original URL is not on the login's host",
    ))?;
    tracing::info!(web_session = %ws.cfg.name, "web session login completed");
    let form = state
        .post
        .then(|| cb.preserved.remove(&state.jti))
        .flatten();
    let mut resp = match form {
        Some(fields) => replay_page(&location, &fields),
        None => {
            let mut r = Response::new(full(bytes::Bytes::new()));
            *r.status_mut() = StatusCode::FOUND;
            if let Ok(v) = HeaderValue::from_str(&location) {
                r.headers_mut().insert(http::header::LOCATION, v);
            }
            r
        }
    };
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
    Ok(resp)
}

async fn exchange(
    ws: &CompiledWebSession,
    code: &str,
    state: &State,
    client_keys: Option<&crate::authtoken::AuthTokenKeys>,
) -> Result<Map<String, Value>, CallbackError> {
    let meta = ws.provider.metadata().await?;
    let endpoint = meta.token_endpoint.clone().ok_or(CallbackError::Config(
        "the provider publishes no token_endpoint",
    ))?;
    let mut params = vec![
        ("grant_type".to_string(), "authorization_code".to_string()),
        ("code".to_string(), code.to_string()),
        ("redirect_uri".to_string(), state.redirect_uri.clone()),
    ];
    if ws.cfg.pkce_challenge_type == gatehouse_model::websession::PkceChallengeType::Sha256 {
        params.push(("code_verifier".to_string(), state.verifier.clone()));
    }
    match ws.post_authenticated(&endpoint, params, client_keys).await {
        Ok(Value::Object(m)) => Ok(m),
        Ok(_) => Err(CallbackError::Provider(
            "the token answer is not an object".into(),
        )),
        Err(FetchError::Status { status, .. }) => Err(CallbackError::Provider(format!(
            "the token endpoint answered {status}"
        ))),
        Err(e) => Err(e.into()),
    }
}

async fn id_token_claims(
    ws: &CompiledWebSession,
    id_token: &str,
    state: &State,
) -> Result<Map<String, Value>, CallbackError> {
    let identity = ws
        .id_tokens
        .validate(id_token)
        .await
        .map_err(|e| CallbackError::IdToken(e.to_string()))?;
    let claims = identity.claims.as_ref().clone();
    if claims.get("nonce").and_then(Value::as_str) != Some(state.nonce.as_str()) {
        return Err(CallbackError::IdToken("nonce mismatch".into()));
    }
    if claims.get("iat").and_then(Value::as_u64).is_none() {
        return Err(CallbackError::IdToken("no iat".into()));
    }
    let client_id = ws.cfg.client_credentials.client_id.as_str();
    let several_audiences = claims
        .get("aud")
        .and_then(Value::as_array)
        .is_some_and(|a| a.len() > 1);
    let azp = claims.get("azp").and_then(Value::as_str);
    if (several_audiences || azp.is_some()) && azp != Some(client_id) {
        return Err(CallbackError::IdToken("azp is not this client".into()));
    }
    Ok(claims)
}

async fn merge_userinfo(
    ws: &CompiledWebSession,
    access_token: &str,
    attrs: &mut Map<String, Value>,
) -> Result<(), CallbackError> {
    if !ws.cfg.request_user_info {
        return Ok(());
    }
    let meta = ws.provider.metadata().await?;
    let Some(url) = meta.userinfo_endpoint.clone() else {
        return Ok(());
    };
    let req = ws.provider.client().get(&url).bearer_auth(access_token);
    let info: Map<String, Value> = crate::oauth::fetch::json(req, &url).await?;
    if info.get("sub") != attrs.get("sub") {
        return Err(CallbackError::IdToken(
            "userinfo is about another subject".into(),
        ));
    }
    for (k, v) in info {
        attrs.entry(k).or_insert(v);
    }
    Ok(())
}

/// `url` if it is an absolute `http(s)` URL on `host` (no userinfo), else `None`.
pub fn same_host_target(url: &str, host: &str) -> Option<String> {
    let uri: http::Uri = url.parse().ok()?;
    let scheme_ok = matches!(uri.scheme_str(), Some("http" | "https"));
    let authority = uri.authority()?;
    if !scheme_ok || authority.as_str().contains('@') {
        return None;
    }
    authority
        .host()
        .eq_ignore_ascii_case(host)
        .then(|| url.to_string())
}

fn uuid_like() -> String {
    let bytes: [u8; 16] = rand::random();
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// A page that posts the preserved form to `action` as soon as it loads (a button without
/// script).
fn replay_page(action: &str, fields: &[(String, String)]) -> Response<GatewayBody> {
    let inputs: String = fields
        .iter()
        .map(|(k, v)| {
            format!(
                "<input type=\"hidden\" name=\"{}\" value=\"{}\">",
                escape(k),
                escape(v)
            )
        })
        .collect();
    let body = format!(
        "<!DOCTYPE html><html><head><title>Continuing…</title></head>\
         <body onload=\"document.forms[0].submit()\">\
         <form method=\"post\" action=\"{}\">{inputs}\
         <noscript><button type=\"submit\">Continue</button></noscript></form></body></html>",
        escape(action)
    );
    let mut resp = Response::new(full(body));
    resp.headers_mut().insert(
        http::header::CONTENT_TYPE,
        HeaderValue::from_static("text/html; charset=utf-8"),
    );
    resp
}

/// An error page (HTML or JSON by `Accept`), never cached.
pub fn error_page(status: StatusCode, message: &str, json: bool) -> Response<GatewayBody> {
    let (ctype, body) = if json {
        (
            "application/json",
            serde_json::json!({"error": "login_failed", "error_description": message}).to_string(),
        )
    } else {
        (
            "text/html; charset=utf-8",
            format!(
                "<!DOCTYPE html><html><head><title>Login failed</title></head><body>\
                 <h1>Login failed</h1><p>{}</p></body></html>",
                escape(message)
            ),
        )
    };
    let mut resp = Response::new(full(body));
    *resp.status_mut() = status;
    let h = resp.headers_mut();
    h.insert(http::header::CONTENT_TYPE, HeaderValue::from_static(ctype));
    h.insert(
        http::header::CACHE_CONTROL,
        HeaderValue::from_static("no-store"),
    );
    resp
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::websession::session::VerifiedSessions;
    use crate::websession::testing::fixture;
    use http_body_util::BodyExt;
    use serde_json::json;

    /// Answers a callback with a state made of `claims`, the binding cookie of `jti` sent.
    async fn answer(claims: Value, bound_jti: &str) -> (StatusCode, String) {
        let (sessions, keys, attributes) = fixture();
        let verified = VerifiedSessions::new(10);
        let used = moka::sync::Cache::new(10);
        let preserved = moka::sync::Cache::new(10);
        let state = codec::seal(claims.as_object().unwrap(), &keys, CookieType::Encrypted).unwrap();
        let mut headers = HeaderMap::new();
        headers.insert(
            http::header::COOKIE,
            format!("PA_N.{bound_jti}=1").parse().unwrap(),
        );
        let mut params = HashMap::new();
        params.insert("state".to_string(), state);
        params.insert("code".to_string(), "c".to_string());
        let resp = handle(Callback {
            params,
            headers: &headers,
            sessions: &sessions,
            sealing: session::Sealing {
                keys: &keys,
                attributes: &attributes,
                threshold: 4093,
                verified: &verified,
            },
            used: &used,
            client_keys: None,
            preserved: &preserved,
            reserved: "/pa",
        })
        .await;
        let status = resp.status();
        let body = resp.into_body().collect().await.unwrap().to_bytes();
        (status, String::from_utf8_lossy(&body).into_owned())
    }

    fn state(exp: u64, t: &str) -> Value {
        json!({"t": t, "ws": 1, "url": "https://app.example/x", "host": "app.example",
               "n": "nonce", "v": "verifier", "ru": "https://app.example/pa/oidc/cb",
               "exp": exp, "jti": "j1"})
    }

    #[tokio::test]
    async fn expired_foreign_kind_and_unbound_states_are_refused_before_the_provider() {
        let (status, body) = answer(state(now() - 1, "login"), "j1").await;
        assert_eq!(status, StatusCode::BAD_REQUEST);
        assert!(body.contains("expired"), "{body}");
        let (status, body) = answer(state(now() + 60, "session"), "j1").await;
        assert_eq!(status, StatusCode::BAD_REQUEST);
        assert!(body.contains("not a login state"), "{body}");
        let (status, body) = answer(state(now() + 60, "login"), "other").await;
        assert_eq!(status, StatusCode::BAD_REQUEST);
        assert!(body.contains("not started in this browser"), "{body}");
    }

    #[test]
    fn only_absolute_urls_on_the_login_host_are_returned_to() {
        let host = "app.example.com";
        assert!(same_host_target("https://app.example.com/a?b=c", host).is_some());
        assert!(same_host_target("http://APP.example.com:8080/", host).is_some());
        for bad in [
            "//evil.example/",
            "/\\evil.example",
            "https://evil.example/",
            "https://app.example.com@evil.example/",
            "https://evil.example@app.example.com/",
            "javascript:alert(1)",
            "https://app.example.com.evil.example/",
            "\thttps://evil.example/",
        ] {
            assert_eq!(same_host_target(bad, host), None, "{bad}");
        }
    }
}
