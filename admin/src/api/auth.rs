//! Admin API authentication and roles: `X-XSRF-Header` on every call, HTTP Basic against the
//! admin users (Argon2id hashes, lockout after consecutive failures), and the two roles:
//! `ADMINISTRATOR` (everything) and `AUDITOR` (reads only, no export).

use std::sync::{Arc, Mutex};
use std::time::Duration;

use argon2::password_hash::{PasswordHash, PasswordHasher, PasswordVerifier, SaltString};
use argon2::Argon2;
use axum::http::{HeaderMap, Method};
use base64::Engine as _;

use gatehouse_gateway::oauth::cache::TokenCache;
use gatehouse_gateway::policy::claims::has_scopes;
use gatehouse_gateway::Engine;

use super::error::ApiError;
use crate::store::{now_ms, Store};

/// Header every call must carry (any value), as in PingAccess.
pub const XSRF_HEADER: &str = "x-xsrf-header";

/// What a caller may do.
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize, utoipa::ToSchema,
)]
#[serde(rename_all = "UPPERCASE")]
pub enum Role {
    /// Everything.
    Administrator,
    /// Reads, without export.
    Auditor,
}

impl Role {
    /// As stored.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Administrator => "ADMINISTRATOR",
            Self::Auditor => "AUDITOR",
        }
    }

    /// From the stored text (unknown → auditor, the lesser role).
    pub fn parse(text: &str) -> Self {
        if text == "ADMINISTRATOR" {
            Self::Administrator
        } else {
            Self::Auditor
        }
    }
}

/// An authenticated caller.
#[derive(Debug, Clone)]
pub struct Caller {
    /// User name (or token subject).
    pub subject: String,
    /// Role.
    pub role: Role,
    /// `basic` or `bearer`.
    pub method: &'static str,
}

/// Basic-auth lockout (`account.locking.*`).
#[derive(Debug, Clone, Copy)]
pub struct Lockout {
    /// Consecutive failures that lock an account.
    pub max_failures: u32,
    /// How long it stays locked.
    pub period: Duration,
}

/// `403` without `X-XSRF-Header`.
pub fn check_xsrf(headers: &HeaderMap) -> Result<(), ApiError> {
    if headers.contains_key(XSRF_HEADER) {
        Ok(())
    } else {
        Err(ApiError::Xsrf)
    }
}

/// `user:password` from `Authorization: Basic`.
fn basic_credentials(headers: &HeaderMap) -> Option<(String, String)> {
    let value = headers
        .get(axum::http::header::AUTHORIZATION)?
        .to_str()
        .ok()?;
    let (scheme, encoded) = value.split_once(' ')?;
    if !scheme.eq_ignore_ascii_case("basic") {
        return None;
    }
    let decoded = base64::engine::general_purpose::STANDARD
        .decode(encoded.trim())
        .ok()?;
    let text = String::from_utf8(decoded).ok()?;
    let (user, password) = text.split_once(':')?;
    Some((user.to_string(), password.to_string()))
}

/// Credentials verified in the last minute, keyed by a keyed hash of user and password (never
/// the password itself), so automation does not pay an Argon2 verification per call. Emptied
/// whenever a password changes or an account locks.
#[derive(Debug)]
pub struct VerifiedLogins {
    key: [u8; 32],
    cache: moka::sync::Cache<[u8; 32], Caller>,
}

impl Default for VerifiedLogins {
    fn default() -> Self {
        Self {
            key: rand::random(),
            cache: moka::sync::Cache::builder()
                .max_capacity(1024)
                .time_to_live(Duration::from_secs(60))
                .build(),
        }
    }
}

impl VerifiedLogins {
    fn key_of(&self, user: &str, password: &str) -> [u8; 32] {
        use sha2::Digest;
        let mut h = sha2::Sha256::new();
        h.update(self.key);
        h.update(user.to_ascii_lowercase().as_bytes());
        h.update([0]);
        h.update(password.as_bytes());
        h.finalize().into()
    }

    /// Forgets every verified login (a password changed, an account locked).
    pub fn clear(&self) {
        self.cache.invalidate_all();
    }
}

/// Authenticates a call: a bearer token when one is sent (and `/auth/oauth` is enabled), else
/// HTTP Basic (Argon2 verification runs off the async workers).
pub async fn authenticate(
    headers: &HeaderMap,
    engine: &Engine,
    store: &Arc<Mutex<Store>>,
    lockout: Lockout,
    logins: &Arc<VerifiedLogins>,
) -> Result<Caller, ApiError> {
    if let Some(token) = gatehouse_gateway::oauth::bearer_token(headers) {
        return authenticate_bearer(engine, token).await;
    }
    let (user, password) = basic_credentials(headers).ok_or(ApiError::Unauthenticated)?;
    let basic_enabled = engine
        .snapshots
        .load()
        .is_none_or(|s| s.doc.admin_basic.enabled);
    if !basic_enabled {
        return Err(ApiError::Unauthenticated);
    }
    let key = logins.key_of(&user, &password);
    if let Some(caller) = logins.cache.get(&key) {
        return Ok(caller);
    }
    let store = store.clone();
    let cache = logins.clone();
    tokio::task::spawn_blocking(move || {
        let result = verify(&store, &user, &password, lockout);
        match &result {
            Ok(caller) => cache.cache.insert(key, caller.clone()),
            // A failure must be followed by a verified success to reset the count.
            Err(_) => cache.clear(),
        }
        result
    })
    .await
    .map_err(|e| ApiError::Internal(e.to_string()))?
}

/// A bearer token, validated like an API application's (same validators, same verified-token
/// cache), then the required scope and the role claim.
async fn authenticate_bearer(engine: &Engine, token: &str) -> Result<Caller, ApiError> {
    let snap = engine.snapshots.load().ok_or(ApiError::Unauthenticated)?;
    let settings = &snap.doc.admin_o_auth;
    if !settings.enabled {
        return Err(ApiError::Unauthenticated);
    }
    let Some(validator) = snap.validators.get(settings.access_validator_id) else {
        tracing::error!("admin bearer token refused: adminOAuth names no usable validator");
        return Err(ApiError::Unauthenticated);
    };
    let key = TokenCache::key(validator.instance(), token);
    let verify = async {
        let mut identity = validator.validate(token).await?;
        identity.cache_key = key;
        Ok(identity)
    };
    let identity = if validator.caches() {
        engine.tokens.get_or_verify(key, verify).await
    } else {
        verify.await.map(Arc::new)
    }
    .map_err(|e| {
        tracing::info!("admin bearer token refused: {e}");
        ApiError::Unauthenticated
    })?;
    let claims = identity.claims.as_ref();
    if !has_scopes(claims, std::slice::from_ref(&settings.required_scope)) {
        return Err(ApiError::Forbidden);
    }
    let values = claim_values(claims, &settings.role_claim);
    let has = |wanted: &[String]| values.iter().any(|v| wanted.iter().any(|w| w == v));
    let role = if has(&settings.administrator_values) {
        Role::Administrator
    } else if has(&settings.auditor_values) {
        Role::Auditor
    } else {
        return Err(ApiError::Forbidden);
    };
    Ok(Caller {
        subject: identity.subject.clone(),
        role,
        method: "bearer",
    })
}

/// The string values of a claim (`.` walks into objects; a list gives each string).
fn claim_values(claims: &serde_json::Map<String, serde_json::Value>, path: &str) -> Vec<String> {
    use serde_json::Value;
    let mut parts = path.split('.');
    let first = parts.next().and_then(|k| claims.get(k));
    match parts.fold(first, |v, k| v.and_then(|v| v.get(k))) {
        Some(Value::String(s)) => s.split_whitespace().map(str::to_string).collect(),
        Some(Value::Array(list)) => list
            .iter()
            .filter_map(Value::as_str)
            .map(str::to_string)
            .collect(),
        _ => Vec::new(),
    }
}

fn verify(
    store: &Mutex<Store>,
    user: &str,
    password: &str,
    lockout: Lockout,
) -> Result<Caller, ApiError> {
    let row = {
        let s = store
            .lock()
            .map_err(|_| ApiError::Internal("store lock".into()))?;
        s.user_by_name(user)?
    };
    let Some(row) = row else {
        // Same work as for a real user, so timing does not tell which names exist.
        let _ = check_password(password, dummy_hash());
        return Err(ApiError::Unauthenticated);
    };
    let now = now_ms();
    if row.locked_until > now {
        tracing::warn!(user = %row.username, "admin login refused: account locked");
        return Err(ApiError::Locked);
    }
    let good = check_password(password, &row.password_hash);
    let s = store
        .lock()
        .map_err(|_| ApiError::Internal("store lock".into()))?;
    if good {
        s.record_success(row.id)?;
        Ok(Caller {
            subject: row.username,
            role: Role::parse(&row.role),
            method: "basic",
        })
    } else {
        let until = now + i64::try_from(lockout.period.as_millis()).unwrap_or(i64::MAX);
        s.record_failure(row.id, lockout.max_failures, until)?;
        tracing::warn!(user = %row.username, "admin login failed: bad password");
        let locked = s.user(row.id)?.is_some_and(|u| u.locked_until > now);
        Err(if locked {
            ApiError::Locked
        } else {
            ApiError::Unauthenticated
        })
    }
}

/// A hash of a random password, verified against for unknown users.
fn dummy_hash() -> &'static str {
    static DUMMY: std::sync::OnceLock<String> = std::sync::OnceLock::new();
    DUMMY.get_or_init(|| {
        let random: [u8; 16] = rand::random();
        hash_password(&base64::engine::general_purpose::STANDARD.encode(random)).unwrap_or_default()
    })
}

/// True when `password` matches the PHC `hash`.
pub fn check_password(password: &str, hash: &str) -> bool {
    PasswordHash::new(hash)
        .map(|h| {
            Argon2::default()
                .verify_password(password.as_bytes(), &h)
                .is_ok()
        })
        .unwrap_or(false)
}

/// An Argon2id PHC string for `password` (default parameters, random salt).
pub fn hash_password(password: &str) -> Result<String, ApiError> {
    let random: [u8; 16] = rand::random();
    let salt = SaltString::encode_b64(&random)
        .map_err(|e| ApiError::Internal(format!("password salt: {e}")))?;
    Argon2::default()
        .hash_password(password.as_bytes(), &salt)
        .map(|h| h.to_string())
        .map_err(|e| ApiError::Internal(format!("password hashing: {e}")))
}

/// Role check: auditors read (`GET`/`HEAD`), except whole documents (the export and a
/// revision's document), and may change their own password (checked by the handler);
/// administrators do anything.
pub fn authorize(caller: &Caller, method: &Method, path: &str) -> Result<(), ApiError> {
    let read = method == Method::GET || method == Method::HEAD;
    let whole_document = path.ends_with("/config/export")
        || path
            .rsplit_once("/config/revisions/")
            .is_some_and(|(_, rest)| !rest.is_empty());
    let own_password = method == Method::PUT && path.ends_with("/password");
    match caller.role {
        Role::Administrator => Ok(()),
        Role::Auditor if read && !whole_document => Ok(()),
        Role::Auditor if own_password => Ok(()),
        Role::Auditor => Err(ApiError::Forbidden),
    }
}

/// The user name a Basic call claims (for the audit log of refused calls).
pub fn claimed_user(headers: &HeaderMap) -> Option<String> {
    basic_credentials(headers).map(|(u, _)| u)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn passwords_hash_and_verify() {
        let hash = hash_password("correct horse").unwrap();
        assert!(hash.starts_with("$argon2id$"));
        assert!(check_password("correct horse", &hash));
        assert!(!check_password("wrong", &hash));
        assert!(dummy_hash().starts_with("$argon2id$"));
    }

    #[test]
    fn basic_credentials_parse() {
        let mut h = HeaderMap::new();
        let v = base64::engine::general_purpose::STANDARD.encode("Administrator:pa:ss");
        h.insert("authorization", format!("Basic {v}").parse().unwrap());
        assert_eq!(
            basic_credentials(&h),
            Some(("Administrator".into(), "pa:ss".into()))
        );
    }

    #[test]
    fn auditors_only_read_and_never_export() {
        let auditor = Caller {
            subject: "a".into(),
            role: Role::Auditor,
            method: "basic",
        };
        assert!(authorize(&auditor, &Method::GET, "/pa-admin-api/v3/sites").is_ok());
        assert!(authorize(&auditor, &Method::POST, "/pa-admin-api/v3/sites").is_err());
        assert!(authorize(&auditor, &Method::GET, "/pa-admin-api/v3/config/export").is_err());
        assert!(authorize(&auditor, &Method::GET, "/pa-admin-api/v3/config/revisions").is_ok());
        assert!(authorize(
            &auditor,
            &Method::GET,
            "/pa-admin-api/v3/config/revisions/3"
        )
        .is_err());
        assert!(authorize(&auditor, &Method::PUT, "/pa-admin-api/v3/users/2/password").is_ok());
    }
}
