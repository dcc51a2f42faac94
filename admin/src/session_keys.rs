//! Web-session keys (`/webSessionManagement`): ES256 keys generated, stored, rolled and
//! installed like the auth-token keys. Each key signs `Signed` cookies; an AES key derived from
//! it (HMAC-SHA-256 over the private key, so it is as secret as the key) encrypts `Encrypted`
//! cookies and login state. Cookies of the previous key stay valid until they expire.

use std::sync::Arc;

use gatehouse_gateway::engine::Engine;
use gatehouse_gateway::websession::codec::{SessionKey, SessionKeys};
use hmac::{Hmac, Mac};
use sha2::Sha256;

use crate::authtoken_keys::{roll_keys_if_due, AuthKeyError, Roll};
use crate::store::{SigningKeyRow, Store};

/// Store purpose of these keys.
const PURPOSE: &str = "WEB_SESSION";

fn encryption_key(row: &SigningKeyRow) -> [u8; 32] {
    let mut mac = match Hmac::<Sha256>::new_from_slice(row.key_pem.as_bytes()) {
        Ok(m) => m,
        // HMAC takes keys of any length.
        Err(_) => return [0; 32],
    };
    mac.update(b"gatehouse web session encryption key v1");
    mac.finalize().into_bytes().into()
}

fn load(row: &SigningKeyRow) -> Result<SessionKey, AuthKeyError> {
    SessionKey::new(&row.kid, &row.key_pem, encryption_key(row)).map_err(|e| {
        AuthKeyError::Load(gatehouse_gateway::authtoken::AuthTokenError::BadKey {
            kid: row.kid.clone(),
            reason: e.to_string(),
        })
    })
}

/// The engine form of stored keys (current first).
pub fn to_engine_keys(rows: &[SigningKeyRow]) -> Result<Option<SessionKeys>, AuthKeyError> {
    let Some(current) = rows.first() else {
        return Ok(None);
    };
    Ok(Some(SessionKeys {
        current: load(current)?,
        previous: rows[1..].iter().map(load).collect::<Result<_, _>>()?,
    }))
}

/// Loads (and rolls if due) the keys into the engine.
pub fn install(store: &mut Store, engine: &Engine) -> Result<(), AuthKeyError> {
    let settings = engine
        .snapshots
        .load()
        .map(|s| s.doc.web_session_management.clone())
        .unwrap_or_default();
    let roll = Roll {
        purpose: PURPOSE,
        enabled: settings.key_roll_enabled,
        period_hours: settings.key_roll_period_in_hours,
    };
    let rows = roll_keys_if_due(store, roll, crate::store::now_ms())?;
    let current = engine
        .session_keys
        .load()
        .as_ref()
        .map(|k| k.current.kid.clone());
    if current.as_deref() != rows.first().map(|r| r.kid.as_str()) {
        engine
            .session_keys
            .store(to_engine_keys(&rows)?.map(Arc::new));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use gatehouse_gateway::websession::codec::{open, seal, CookieType};
    use serde_json::{json, Map};

    const HOUR: i64 = 3_600_000;

    fn previous_key_opens_after_one_roll_not_two(kind: CookieType) {
        let dir = tempfile::tempdir().unwrap();
        let mut store = Store::open(dir.path()).unwrap();
        let roll = Roll {
            purpose: PURPOSE,
            enabled: true,
            period_hours: 24,
        };
        let mut keys_at = |t: i64| {
            to_engine_keys(&roll_keys_if_due(&mut store, roll, t).unwrap())
                .unwrap()
                .unwrap()
        };
        let t0 = 1_000 * HOUR;
        let first = keys_at(t0);
        let mut claims = Map::new();
        claims.insert("sub".into(), json!("alice"));
        let cookie = seal(&claims, &first, kind).unwrap();
        let rolled = keys_at(t0 + 24 * HOUR);
        assert_ne!(rolled.current.kid, first.current.kid, "rolled");
        assert_eq!(open(&cookie, &rolled, kind).unwrap()["sub"], "alice");
        let fresh = seal(&claims, &rolled, kind).unwrap();
        let later = keys_at(t0 + 48 * HOUR);
        assert!(open(&cookie, &later, kind).is_err(), "two rolls ago");
        assert!(open(&fresh, &later, kind).is_ok(), "one roll ago");
    }

    #[test]
    fn signed_cookies_survive_one_key_roll() {
        previous_key_opens_after_one_roll_not_two(CookieType::Signed);
    }

    #[test]
    fn encrypted_cookies_survive_one_key_roll() {
        previous_key_opens_after_one_roll_not_two(CookieType::Encrypted);
    }
}
