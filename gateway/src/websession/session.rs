//! The session a cookie carries: who logged in, their attributes, when the session ends (idle
//! and absolute), checked on every request, re-issued at most every
//! `updateTokenWindowInSeconds` to move the idle deadline.

use std::sync::Arc;

use gatehouse_model::websession::WebSessionManagement;
use http::HeaderMap;
use serde_json::{json, Map, Value};

use super::chunks;
use super::codec::{self, SessionKeys};
use super::compiled::CompiledWebSession;
use super::cookies::{self, CookieAttrs};
use crate::oauth::Identity;

/// Why a session cookie could not be written.
#[derive(Debug, thiserror::Error)]
pub enum SessionError {
    /// Sealing failed.
    #[error(transparent)]
    Codec(#[from] codec::CodecError),
    /// Too big even in chunks.
    #[error(transparent)]
    Chunks(#[from] chunks::ChunkError),
}

/// User attributes kept in the engine instead of the cookie (`cacheUserAttributes`), by
/// session id.
pub type AttributeCache = moka::sync::Cache<String, Arc<Map<String, Value>>>;

/// Opened session cookies, by a hash of the token, its kind and the key ids that could open
/// it: the signature or tag is checked once per cookie, the issuer and audience on every
/// request, and the session and identity a cookie carries are built once.
pub type VerifiedSessions = moka::sync::Cache<[u8; 32], Arc<OpenedCookie>>;

/// A cookie opened once.
pub struct OpenedCookie {
    /// `iss` and `aud`, checked against the configuration on every request.
    issuer: Option<String>,
    audience: Option<String>,
    content: Content,
    /// The verified-cookie cache key.
    key: [u8; 32],
}

/// What an opened cookie gives requests.
enum Content {
    /// The session and its identity, built once (the cookie carries the attributes).
    Built(Current),
    /// The claims, to build from on every request: with `cacheUserAttributes` the attributes
    /// are the engine's, read each time.
    Claims(Map<String, Value>),
}

/// The session a request carries and the identity it gives the request.
#[derive(Clone)]
pub struct Current {
    /// The session.
    pub session: Arc<Session>,
    /// Its identity (rules, identity mappings).
    pub identity: Arc<Identity>,
}

/// What sealing and opening session cookies needs.
#[derive(Debug, Clone, Copy)]
pub struct Sealing<'a> {
    /// Current and previous keys.
    pub keys: &'a SessionKeys,
    /// Attributes kept engine-side.
    pub attributes: &'a AttributeCache,
    /// Largest cookie (chunk), in bytes.
    pub threshold: usize,
    /// Opened cookies.
    pub verified: &'a VerifiedSessions,
}

/// The verified-cookie cache key: the token, its kind, and every key id that can open it (a key
/// that rolls out of the set takes its cookies' entries out of reach).
fn verified_key(token: &str, kind: codec::CookieType, keys: &SessionKeys) -> [u8; 32] {
    use sha2::Digest;
    let mut h = sha2::Sha256::new();
    h.update([kind as u8]);
    for key in std::iter::once(&keys.current).chain(&keys.previous) {
        h.update(key.kid.as_bytes());
        h.update([0]);
    }
    h.update(token.as_bytes());
    h.finalize().into()
}

/// Opens a cookie, from the verified-cookie cache when it was opened before.
fn open_cached(
    token: &str,
    kind: codec::CookieType,
    sealing: &Sealing<'_>,
) -> Option<Arc<OpenedCookie>> {
    let key = verified_key(token, kind, sealing.keys);
    if let Some(opened) = sealing.verified.get(&key) {
        return Some(opened);
    }
    let claims = codec::open(token, sealing.keys, kind).ok()?;
    let text = |name: &str| claims.get(name).and_then(Value::as_str).map(String::from);
    let (issuer, audience) = (text("iss"), text("aud"));
    let carries_attributes = claims.get("ca").and_then(Value::as_bool) != Some(true);
    let built = carries_attributes
        .then(|| Session::from_claims(&claims, sealing.attributes))
        .flatten();
    let content = match built {
        Some(session) => Content::Built(Current::of(session, &key)),
        None => Content::Claims(claims),
    };
    let opened = Arc::new(OpenedCookie {
        issuer,
        audience,
        content,
        key,
    });
    sealing.verified.insert(key, opened.clone());
    Some(opened)
}

impl std::fmt::Debug for OpenedCookie {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // The claims hold the ID and access tokens: never shown.
        let session = match &self.content {
            Content::Built(current) => Some(&current.session),
            Content::Claims(_) => None,
        };
        f.debug_struct("OpenedCookie")
            .field("session", &session)
            .finish_non_exhaustive()
    }
}

impl std::fmt::Debug for Current {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Current")
            .field("session", &self.session)
            .finish_non_exhaustive()
    }
}

// === impl Current ===

impl Current {
    /// A session and its identity, keyed (for caches of things derived from the identity, such
    /// as minted JWTs) by the cookie and the attributes' refresh time: never shared between
    /// two sessions, and a new key once the attributes were refreshed.
    pub fn of(session: Session, cookie_key: &[u8; 32]) -> Self {
        use sha2::Digest;
        let mut h = sha2::Sha256::new();
        h.update(cookie_key);
        h.update(session.refreshed.to_be_bytes());
        let mut identity = session.identity();
        identity.cache_key = (WEB_SESSION_IDENTITY, h.finalize().into());
        Self {
            session: Arc::new(session),
            identity: Arc::new(identity),
        }
    }
}

/// The first half of web-session identities' cache keys (validator instances start at 1).
const WEB_SESSION_IDENTITY: u64 = 0;

/// A logged-in user's session; `Debug` shows neither its ID token nor its access token.
#[derive(Clone)]
pub struct Session {
    /// Subject.
    pub sub: String,
    /// Attributes (ID token and userinfo claims).
    pub attrs: Map<String, Value>,
    /// When the cookie was (re-)issued, Unix seconds.
    pub issued: u64,
    /// Absolute end, Unix seconds.
    pub expires: u64,
    /// Idle end, Unix seconds.
    pub idle_until: u64,
    /// When the user authenticated at the provider, Unix seconds.
    pub auth_time: u64,
    /// Session id.
    pub sid: String,
    /// The ID token, kept for `id_token_hint` at logout (only with `useSlo`).
    pub id_token: Option<String>,
    /// The provider's access token and when it expires (Unix seconds), kept only when an
    /// application maps it to its site (`WebSessionAccessToken`).
    pub access_token: Option<(String, u64)>,
    /// When the attributes were last read from the provider, Unix seconds.
    pub refreshed: u64,
}

/// Seconds since the Unix epoch.
pub fn now() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs())
}

impl std::fmt::Debug for Session {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Session")
            .field("sub", &self.sub)
            .field("sid", &self.sid)
            .field("expires", &self.expires)
            .field("idle_until", &self.idle_until)
            .finish_non_exhaustive()
    }
}

impl Session {
    /// The identity rules and mappings see: the attributes, with `sub`.
    pub fn identity(&self) -> Identity {
        self.clone().into_identity()
    }

    /// The identity this session gives requests, taking the session's attributes (no copy).
    pub fn into_identity(self) -> Identity {
        let mut claims = self.attrs;
        claims.insert("sub".into(), Value::String(self.sub.clone()));
        let mut identity = Identity::new(
            self.sub,
            claims,
            Some(std::time::UNIX_EPOCH + std::time::Duration::from_secs(self.expires)),
        );
        identity.access_token = self
            .access_token
            .as_ref()
            .map(|(t, _)| gatehouse_model::secret::Secret::new(t.as_str()));
        identity
    }

    fn claims(
        &self,
        ws: &CompiledWebSession,
        m: &WebSessionManagement,
        attributes: &AttributeCache,
    ) -> Map<String, Value> {
        let mut c = Map::new();
        c.insert("iss".into(), json!(m.issuer));
        c.insert("aud".into(), json!(ws.cfg.audience));
        c.insert("sub".into(), json!(self.sub));
        c.insert("iat".into(), json!(self.issued));
        c.insert("exp".into(), json!(self.expires));
        c.insert("idle".into(), json!(self.idle_until));
        c.insert("auth_time".into(), json!(self.auth_time));
        c.insert("sid".into(), json!(self.sid));
        c.insert("rf".into(), json!(self.refreshed));
        if ws.cfg.cache_user_attributes {
            attributes.insert(self.sid.clone(), Arc::new(self.attrs.clone()));
            c.insert("attr".into(), Value::Object(Map::new()));
            c.insert("ca".into(), Value::Bool(true));
        } else {
            c.insert("attr".into(), Value::Object(self.attrs.clone()));
        }
        if let Some(t) = &self.id_token {
            c.insert("idt".into(), json!(t));
        }
        if let Some((t, exp)) = &self.access_token {
            c.insert("at".into(), json!(t));
            c.insert("at_exp".into(), json!(exp));
        }
        c
    }

    fn from_claims(c: &Map<String, Value>, attributes: &AttributeCache) -> Option<Self> {
        let num = |k: &str| c.get(k).and_then(Value::as_u64);
        let sid = c.get("sid")?.as_str()?.to_string();
        let attrs = if c.get("ca").and_then(Value::as_bool) == Some(true) {
            // Kept by the engine that made the cookie; gone after a restart (a new login).
            attributes.get(&sid)?.as_ref().clone()
        } else {
            c.get("attr")?.as_object()?.clone()
        };
        Some(Self {
            sub: c.get("sub")?.as_str()?.to_string(),
            attrs,
            issued: num("iat")?,
            expires: num("exp")?,
            idle_until: num("idle")?,
            auth_time: num("auth_time").unwrap_or(0),
            refreshed: num("rf").unwrap_or(0),
            sid,
            id_token: c.get("idt").and_then(Value::as_str).map(String::from),
            access_token: c
                .get("at")
                .and_then(Value::as_str)
                .map(|t| (t.to_string(), num("at_exp").unwrap_or(0))),
        })
    }

    /// Whether the cookie is due to be re-issued (idle deadline moved).
    pub fn due_for_update(&self, m: &WebSessionManagement, now: u64) -> bool {
        now.saturating_sub(self.issued) >= m.update_token_window_in_seconds
    }

    /// The same session re-issued now: the idle deadline moves, never past the absolute end.
    pub fn touched(&self, ws: &CompiledWebSession, now: u64) -> Self {
        Self {
            issued: now,
            idle_until: (now + ws.cfg.idle_timeout_in_minutes * 60).min(self.expires),
            ..self.clone()
        }
    }
}

/// The valid session of `ws` the request carries, if any: sealed by a current or previous key,
/// of the right kind, issuer and audience, and neither expired nor idle.
pub fn read(
    headers: &HeaderMap,
    ws: &CompiledWebSession,
    m: &WebSessionManagement,
    sealing: &Sealing<'_>,
    now: u64,
) -> Option<Session> {
    open(headers, ws, m, sealing, now).map(|current| Session::clone(&current.session))
}

/// The live session of `ws` the request's cookie carries, and its identity: built once per
/// cookie unless the attributes are kept engine-side.
pub fn open(
    headers: &HeaderMap,
    ws: &CompiledWebSession,
    m: &WebSessionManagement,
    sealing: &Sealing<'_>,
    now: u64,
) -> Option<Current> {
    let jar = cookies::request_cookies(headers);
    let token = chunks::join(jar.iter().copied(), &ws.cookie)?;
    let opened = open_cached(&token, kind(ws), sealing)?;
    if opened.issuer.as_deref() != Some(m.issuer.as_str())
        || opened.audience.as_deref() != Some(ws.cfg.audience.as_str())
    {
        return None;
    }
    let current = match &opened.content {
        Content::Built(current) => current.clone(),
        Content::Claims(claims) => Current::of(
            Session::from_claims(claims, sealing.attributes)?,
            &opened.key,
        ),
    };
    let session = &current.session;
    (now < session.expires && now < session.idle_until).then_some(current)
}

/// The cookie type of `ws` as the codec knows it.
pub fn kind(ws: &CompiledWebSession) -> codec::CookieType {
    match ws.cfg.cookie_type {
        gatehouse_model::websession::CookieType::Signed => codec::CookieType::Signed,
        gatehouse_model::websession::CookieType::Encrypted => codec::CookieType::Encrypted,
    }
}

/// `Set-Cookie` values that store `session` (chunked over `threshold`) and expire chunks of an
/// earlier, bigger value the request still carries.
pub fn write(
    session: &Session,
    ws: &CompiledWebSession,
    m: &WebSessionManagement,
    sealing: &Sealing<'_>,
    request: &HeaderMap,
) -> Result<Vec<String>, SessionError> {
    let claims = session.claims(ws, m, sealing.attributes);
    let token = codec::seal(&claims, sealing.keys, kind(ws))?;
    let parts = chunks::split(&ws.cookie, &token, sealing.threshold)?;
    let attrs = CookieAttrs::session(&ws.cfg);
    let present: Vec<&str> = cookies::request_cookies(request)
        .into_iter()
        .map(|(n, _)| n)
        .collect();
    let mut out: Vec<String> = parts
        .iter()
        .map(|(name, value)| cookies::set_cookie(name, value, &attrs))
        .collect();
    for stale in chunks::stale_names(&ws.cookie, present, &parts) {
        out.push(cookies::expire(&stale, &attrs));
    }
    Ok(out)
}

/// `Set-Cookie` values that delete the session cookie of `ws` and every chunk of it.
pub fn clear(ws: &CompiledWebSession, request: &HeaderMap) -> Vec<String> {
    let attrs = CookieAttrs::session(&ws.cfg);
    let present: Vec<&str> = cookies::request_cookies(request)
        .into_iter()
        .map(|(n, _)| n)
        .collect();
    let mut names = chunks::names_to_clear(&ws.cookie, present);
    if !names.contains(&ws.cookie) {
        names.push(ws.cookie.clone());
    }
    names.iter().map(|n| cookies::expire(n, &attrs)).collect()
}

/// A verified session as the pipeline passes it on.
#[derive(Debug, Clone)]
pub struct WebIdentity {
    /// The identity rules and mappings see.
    pub identity: Arc<Identity>,
    /// `Set-Cookie` values to add to the response (a re-issued cookie).
    pub set_cookies: Vec<String>,
}

#[cfg(test)]
mod tests {
    use super::*;

    use crate::websession::testing::fixture;

    fn session(t: u64) -> Session {
        let mut attrs = Map::new();
        attrs.insert("email".into(), json!("a@example.test"));
        Session {
            sub: "alice".into(),
            attrs,
            issued: t,
            expires: t + 3600,
            idle_until: t + 600,
            auth_time: t,
            sid: "sid-1".into(),
            id_token: None,
            access_token: None,
            refreshed: t,
        }
    }

    /// Web sessions, keys and caches of the test fixture.
    struct Env {
        sessions: crate::websession::compiled::WebSessions,
        keys: SessionKeys,
        attributes: AttributeCache,
        verified: VerifiedSessions,
    }

    impl Env {
        fn new() -> Self {
            let (sessions, keys, attributes) = fixture();
            let verified = VerifiedSessions::new(100);
            Self {
                sessions,
                keys,
                attributes,
                verified,
            }
        }

        fn sealing(&self) -> Sealing<'_> {
            Sealing {
                keys: &self.keys,
                attributes: &self.attributes,
                threshold: 4093,
                verified: &self.verified,
            }
        }
    }

    fn request_with(set_cookies: &[String]) -> HeaderMap {
        let pairs: Vec<&str> = set_cookies
            .iter()
            .filter_map(|c| c.split(';').next())
            .collect();
        let mut h = HeaderMap::new();
        h.insert(http::header::COOKIE, pairs.join("; ").parse().unwrap());
        h
    }

    #[test]
    fn idle_absolute_and_audience_limits_hold() {
        let env = Env::new();
        let (sessions, sealing) = (&env.sessions, env.sealing());
        let m = &sessions.management;
        let (one, two) = (&sessions.by_id[&1], &sessions.by_id[&2]);
        let t = 1_800_000_000;
        let set = write(&session(t), one, m, &sealing, &HeaderMap::new()).unwrap();
        let req = request_with(&set);
        let found = read(&req, one, m, &sealing, t + 1).unwrap();
        assert_eq!(found.identity().claims["email"], "a@example.test");
        assert!(read(&req, one, m, &sealing, t + 600).is_none(), "idle");
        assert!(
            read(&req, two, m, &sealing, t + 1).is_none(),
            "another audience"
        );
        let renamed: Vec<String> = set
            .iter()
            .map(|c| c.replacen("PA.one", "PA.two", 1))
            .collect();
        assert!(
            read(&request_with(&renamed), two, m, &sealing, t + 1).is_none(),
            "a cookie of one audience under another's name"
        );

        // Touched every 5 minutes, the session outlives its idle timeout but not its end.
        let mut s = session(t);
        for step in 1..=11 {
            let now = t + step * 300;
            let req = request_with(&write(&s, one, m, &sealing, &HeaderMap::new()).unwrap());
            match read(&req, one, m, &sealing, now) {
                Some(found) => s = found.touched(one, now),
                None => {
                    assert!(now >= t + 3600, "ended early at +{}s", now - t);
                    return;
                }
            }
        }
        let req = request_with(&write(&s, one, m, &sealing, &HeaderMap::new()).unwrap());
        assert!(
            read(&req, one, m, &sealing, t + 3600).is_none(),
            "absolute end"
        );
    }

    /// Identities built from cookies key caches of derived things (minted JWTs): one key per
    /// session, never shared between users, stable while the cookie is, new on refresh.
    #[test]
    fn each_session_identity_has_its_own_cache_key() {
        let env = Env::new();
        let (sessions, sealing) = (&env.sessions, env.sealing());
        let m = &sessions.management;
        let one = &sessions.by_id[&1];
        let t = 1_800_000_000;
        let alice = session(t);
        let bob = Session {
            sub: "bob".into(),
            sid: "sid-2".into(),
            ..session(t)
        };
        let cookie =
            |s: &Session| request_with(&write(s, one, m, &sealing, &HeaderMap::new()).unwrap());
        let (a_req, b_req) = (cookie(&alice), cookie(&bob));
        let a = open(&a_req, one, m, &sealing, t + 1).unwrap();
        let b = open(&b_req, one, m, &sealing, t + 1).unwrap();
        assert_eq!(a.identity.subject, "alice");
        assert_eq!(b.identity.subject, "bob");
        assert_ne!(a.identity.cache_key, b.identity.cache_key);
        assert_ne!(
            a.identity.cache_key,
            Identity::new(String::new(), Map::new(), None).cache_key
        );
        let again = open(&a_req, one, m, &sealing, t + 2).unwrap();
        assert!(
            Arc::ptr_eq(&a.identity, &again.identity),
            "built once per cookie"
        );
        let refreshed = Current::of(
            Session {
                refreshed: t + 60,
                ..Session::clone(&a.session)
            },
            &a.identity.cache_key.1,
        );
        assert_ne!(refreshed.identity.cache_key, a.identity.cache_key);
    }
}
