//! Auth-token signing keys (`/authTokenManagement`): generated on first start, kept in the store
//! (current and previous), rolled every `keyRollPeriodInHours` when `keyRollEnabled`, and
//! installed into the engine, which publishes both at `/pa/authtoken/JWKS`. A JWT signed with
//! the previous key keeps verifying after a roll: there is no gap.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use gatehouse_gateway::authtoken::{AuthTokenError, AuthTokenKeys, SignKey};
use gatehouse_gateway::engine::Engine;
use gatehouse_model::identity::AuthTokenManagement;
use rcgen::KeyPair;
use tokio::sync::watch;

use crate::store::{SigningKeyRow, Store, StoreError};

/// Store purpose of these keys.
const PURPOSE: &str = "AUTH_TOKEN";
/// How often the roll is checked.
const CHECK_EVERY: Duration = Duration::from_secs(60);

/// Why keys could not be made, stored or loaded.
#[derive(Debug, thiserror::Error)]
pub enum AuthKeyError {
    /// Generation failed.
    #[error("cannot generate an auth token key: {0}")]
    Generate(#[from] rcgen::Error),
    /// The store failed.
    #[error(transparent)]
    Store(#[from] StoreError),
    /// A stored key is unusable.
    #[error(transparent)]
    Load(#[from] AuthTokenError),
}

/// Makes the first key, or a new one when the current one is older than the roll period;
/// returns the keys (current first). `now_ms` is the current time (Unix milliseconds).
pub fn roll_if_due(
    store: &mut Store,
    settings: &AuthTokenManagement,
    now_ms: i64,
) -> Result<Vec<SigningKeyRow>, AuthKeyError> {
    let roll = Roll {
        purpose: PURPOSE,
        enabled: settings.key_roll_enabled,
        period_hours: settings.key_roll_period_in_hours,
    };
    roll_keys_if_due(store, roll, now_ms)
}

/// Which keys, and when they roll.
#[derive(Debug, Clone, Copy)]
pub struct Roll {
    /// Store purpose (`AUTH_TOKEN`, `WEB_SESSION`).
    pub purpose: &'static str,
    /// Roll at all.
    pub enabled: bool,
    /// Hours between rolls.
    pub period_hours: u64,
}

/// Makes the first ES256 key of `roll.purpose`, or a new one when the current one is older
/// than the period; returns the keys (current first, at most two).
pub fn roll_keys_if_due(
    store: &mut Store,
    roll: Roll,
    now_ms: i64,
) -> Result<Vec<SigningKeyRow>, AuthKeyError> {
    let keys = store.signing_keys(roll.purpose)?;
    let period_ms = i64::try_from(roll.period_hours)
        .unwrap_or(i64::MAX / 3_600_000)
        .saturating_mul(3_600_000);
    let due = match keys.first() {
        None => true,
        Some(current) => roll.enabled && now_ms.saturating_sub(current.created_at_ms) >= period_ms,
    };
    if !due {
        return Ok(keys);
    }
    let pair = KeyPair::generate_for(&rcgen::PKCS_ECDSA_P256_SHA256)?;
    let row = SigningKeyRow {
        kid: format!("{:016x}", rand_id()),
        key_pem: pair.serialize_pem(),
        created_at_ms: now_ms,
    };
    store.add_signing_key(roll.purpose, &row, 2)?;
    tracing::info!(kid = %row.kid, purpose = roll.purpose, "signing key generated");
    Ok(store.signing_keys(roll.purpose)?)
}

fn rand_id() -> u64 {
    use std::hash::{BuildHasher, Hasher};
    let mut h = std::collections::hash_map::RandomState::new().build_hasher();
    h.write_u128(
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.as_nanos()),
    );
    h.finish()
}

/// The engine form of stored keys (current first).
pub fn to_engine_keys(rows: &[SigningKeyRow]) -> Result<Option<AuthTokenKeys>, AuthKeyError> {
    let load = |row: &SigningKeyRow| -> Result<Arc<SignKey>, AuthKeyError> {
        let pair = KeyPair::from_pem(&row.key_pem).map_err(|e| AuthTokenError::BadKey {
            kid: row.kid.clone(),
            reason: e.to_string(),
        })?;
        Ok(Arc::new(SignKey::from_pem(
            &row.kid,
            &row.key_pem,
            pair.public_key_raw(),
        )?))
    };
    let Some(current) = rows.first() else {
        return Ok(None);
    };
    Ok(Some(AuthTokenKeys {
        current: load(current)?,
        previous: rows.get(1).map(load).transpose()?,
    }))
}

/// Loads (and rolls if due) the keys into the engine.
pub fn install(store: &mut Store, engine: &Engine) -> Result<(), AuthKeyError> {
    let settings = engine
        .snapshots
        .load()
        .map(|s| s.doc.auth_token_management.clone())
        .unwrap_or_default();
    let rows = roll_if_due(store, &settings, crate::store::now_ms())?;
    swap_in(&engine.auth_tokens, to_engine_keys(&rows)?);
    Ok(())
}

/// Loads (and rolls if due) the keys that sign the gateway's client assertions
/// (`private_key_jwt`, published at `/pa/oidc/JWKS`); they roll with the web-session keys.
pub fn install_oidc_client_keys(store: &mut Store, engine: &Engine) -> Result<(), AuthKeyError> {
    let settings = engine
        .snapshots
        .load()
        .map(|s| s.doc.web_session_management.clone())
        .unwrap_or_default();
    let roll = Roll {
        purpose: "OIDC_CLIENT",
        enabled: settings.key_roll_enabled,
        period_hours: settings.key_roll_period_in_hours,
    };
    let rows = roll_keys_if_due(store, roll, crate::store::now_ms())?;
    swap_in(&engine.oidc_client_keys, to_engine_keys(&rows)?);
    Ok(())
}

fn swap_in(slot: &arc_swap::ArcSwapOption<AuthTokenKeys>, keys: Option<AuthTokenKeys>) {
    let changed = {
        let old = slot.load();
        old.as_ref().map(|k| &*k.current.kid) != keys.as_ref().map(|k| &*k.current.kid)
    };
    if changed {
        slot.store(keys.map(Arc::new));
    }
}

/// Checks the roll every minute until `stop`.
pub async fn keep_rolled(
    store: Arc<Mutex<Store>>,
    engine: Arc<Engine>,
    mut stop: watch::Receiver<bool>,
) {
    let mut tick = tokio::time::interval(CHECK_EVERY);
    tick.tick().await;
    loop {
        tokio::select! {
            _ = tick.tick() => {}
            _ = gatehouse_gateway::listener::stopped(&mut stop) => return,
        }
        let result = match store.lock() {
            Ok(mut s) => install(&mut s, &engine)
                .and_then(|()| crate::session_keys::install(&mut s, &engine))
                .and_then(|()| install_oidc_client_keys(&mut s, &engine)),
            Err(_) => return tracing::error!("auth token keys: store unavailable"),
        };
        if let Err(e) = result {
            tracing::error!("auth token key roll failed: {e}");
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use jsonwebtoken::{decode, Algorithm, DecodingKey, Validation};
    use serde_json::json;

    const HOUR: i64 = 3_600_000;

    fn verify(jwks: &serde_json::Value, token: &str) -> bool {
        let Ok(header) = jsonwebtoken::decode_header(token) else {
            return false;
        };
        let Some(keys) = jwks["keys"].as_array() else {
            return false;
        };
        keys.iter()
            .filter(|k| k["kid"].as_str() == header.kid.as_deref())
            .filter_map(|k| serde_json::from_value::<jsonwebtoken::jwk::Jwk>(k.clone()).ok())
            .filter_map(|k| DecodingKey::from_jwk(&k).ok())
            .any(|key| {
                let mut v = Validation::new(Algorithm::ES256);
                v.set_audience(&["backend"]);
                decode::<serde_json::Value>(token, &key, &v).is_ok()
            })
    }

    #[test]
    fn keys_roll_when_due_and_a_token_signed_before_the_roll_still_verifies() {
        let dir = tempfile::tempdir().unwrap();
        let mut store = Store::open(dir.path()).unwrap();
        let settings = AuthTokenManagement {
            key_roll_period_in_hours: 24,
            ..AuthTokenManagement::default()
        };
        let t0 = 1_700_000_000_000;
        let first = roll_if_due(&mut store, &settings, t0).unwrap();
        assert_eq!(first.len(), 1);
        let before = to_engine_keys(&first).unwrap().unwrap();
        let claims = json!({"sub": "alice", "aud": "backend", "exp": 4_000_000_000u64});
        let old_token = before.current.sign(&claims).unwrap();

        let same = roll_if_due(&mut store, &settings, t0 + 23 * HOUR).unwrap();
        assert_eq!(same, first, "not due yet");

        let rolled = roll_if_due(&mut store, &settings, t0 + 24 * HOUR).unwrap();
        assert_eq!(rolled.len(), 2);
        assert_eq!(rolled[1], first[0], "the old key is kept as previous");
        let after = to_engine_keys(&rolled).unwrap().unwrap();
        assert_ne!(after.current.kid, before.current.kid);
        let jwks = after.jwks();
        assert!(verify(&jwks, &old_token), "no gap: old tokens verify");
        assert!(verify(&jwks, &after.current.sign(&claims).unwrap()));

        let third = roll_if_due(&mut store, &settings, t0 + 48 * HOUR).unwrap();
        assert_eq!(third.len(), 2, "only current and previous are kept");
        assert!(!verify(
            &to_engine_keys(&third).unwrap().unwrap().jwks(),
            &old_token
        ));

        let off = AuthTokenManagement {
            key_roll_enabled: false,
            ..settings
        };
        assert_eq!(
            roll_if_due(&mut store, &off, t0 + 900 * HOUR).unwrap(),
            third
        );
    }
}
