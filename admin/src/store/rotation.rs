//! The config-query certificate rotation in the store: the open window (old and new key pair,
//! when it ends; at most one, kept across restarts) and the fingerprints each engine reported
//! trusting, which close the window early once every engine trusts the new certificate.

use rusqlite::{params, OptionalExtension};

use super::{Store, StoreError};

/// An open rotation window.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Rotation {
    /// Key pair served before (kept on `clusterconfig.temp.rotation.port`).
    pub old_key_pair_id: u64,
    /// Key pair the config-query listener serves now.
    pub new_key_pair_id: u64,
    /// Unix milliseconds.
    pub started_at: i64,
    /// Unix milliseconds; the window closes then at the latest.
    pub ends_at: i64,
}

fn id(v: u64) -> i64 {
    i64::try_from(v).unwrap_or(i64::MAX)
}

fn unsigned(v: i64) -> u64 {
    u64::try_from(v).unwrap_or(0)
}

// === impl Store ===

impl Store {
    /// The open rotation window, if any.
    pub fn rotation(&self) -> Result<Option<Rotation>, StoreError> {
        Ok(self
            .conn
            .query_row(
                "SELECT old_key_pair_id, new_key_pair_id, started_at, ends_at \
                 FROM config_query_rotation WHERE id = 1",
                [],
                |r| {
                    Ok(Rotation {
                        old_key_pair_id: unsigned(r.get(0)?),
                        new_key_pair_id: unsigned(r.get(1)?),
                        started_at: r.get(2)?,
                        ends_at: r.get(3)?,
                    })
                },
            )
            .optional()?)
    }

    /// Assigns `rotation.new_key_pair_id` to `CONFIG QUERY` and opens the window, in one
    /// transaction.
    pub fn start_rotation(&self, rotation: &Rotation) -> Result<(), StoreError> {
        let tx = self.conn.unchecked_transaction()?;
        tx.execute(
            "INSERT INTO config_query_rotation (id, old_key_pair_id, new_key_pair_id, started_at, ends_at) \
             VALUES (1, ?1, ?2, ?3, ?4)",
            params![
                id(rotation.old_key_pair_id),
                id(rotation.new_key_pair_id),
                rotation.started_at,
                rotation.ends_at
            ],
        )?;
        tx.execute(
            "INSERT INTO https_listeners (name, key_pair_id) VALUES ('CONFIG QUERY', ?1) \
             ON CONFLICT(name) DO UPDATE SET key_pair_id = excluded.key_pair_id",
            [id(rotation.new_key_pair_id)],
        )?;
        tx.commit()?;
        Ok(())
    }

    /// Closes the window (the old key pair may be deleted again).
    pub fn end_rotation(&self) -> Result<(), StoreError> {
        self.conn
            .execute("DELETE FROM config_query_rotation WHERE id = 1", [])?;
        Ok(())
    }

    /// Records the config-query fingerprints an engine trusts (from its report).
    pub fn set_engine_trust(&self, engine: u64, fingerprints: &[String]) -> Result<(), StoreError> {
        self.conn.execute(
            "UPDATE engines SET trusted_fingerprints = ?2 WHERE id = ?1",
            params![id(engine), fingerprints.join(",")],
        )?;
        Ok(())
    }

    /// Engines with a bootstrap that do not yet trust `fingerprint`: (id, name).
    pub fn engines_not_trusting(
        &self,
        fingerprint: &str,
    ) -> Result<Vec<(u64, String)>, StoreError> {
        let mut stmt = self.conn.prepare(
            "SELECT id, name, trusted_fingerprints FROM engines \
             WHERE public_jwk IS NOT NULL ORDER BY id",
        )?;
        let rows = stmt.query_map([], |r| {
            Ok((
                unsigned(r.get(0)?),
                r.get::<_, String>(1)?,
                r.get::<_, String>(2)?,
            ))
        })?;
        let mut missing = Vec::new();
        for row in rows {
            let (engine, name, trusted) = row?;
            if !trusted
                .split(',')
                .any(|t| t.eq_ignore_ascii_case(fingerprint))
            {
                missing.push((engine, name));
            }
        }
        Ok(missing)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::StoredKeyPair;

    #[test]
    fn a_window_opens_once_keeps_the_old_pair_and_tracks_trust() {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(dir.path()).unwrap();
        let pair = |t: &str| StoredKeyPair {
            cert_pem: format!("cert {t}"),
            key_pem: format!("key {t}"),
        };
        let old = store.add_key_pair("old", &pair("a")).unwrap();
        let new = store.add_key_pair("new", &pair("b")).unwrap();
        store.assign_listener("CONFIG QUERY", old).unwrap();
        let window = Rotation {
            old_key_pair_id: old,
            new_key_pair_id: new,
            started_at: 1,
            ends_at: 2,
        };
        store.start_rotation(&window).unwrap();
        assert_eq!(store.rotation().unwrap(), Some(window));
        assert_eq!(
            store.listener_key_pair("CONFIG QUERY").unwrap().unwrap().id,
            new
        );
        assert!(
            store.start_rotation(&window).is_err(),
            "one window at a time"
        );
        assert!(
            store.delete_key_pair(old).is_err(),
            "the old pair is still served"
        );

        let e1 = store.add_engine("e1").unwrap();
        let e2 = store.add_engine("e2").unwrap();
        store.add_engine("never bootstrapped").unwrap();
        store.set_engine_key(e1, "{}").unwrap();
        store.set_engine_key(e2, "{}").unwrap();
        store
            .set_engine_trust(e1, &["AA".into(), "BB".into()])
            .unwrap();
        assert_eq!(
            store.engines_not_trusting("aa").unwrap(),
            vec![(e2, "e2".to_string())]
        );
        store.set_engine_trust(e2, &["aa".into()]).unwrap();
        assert!(store.engines_not_trusting("AA").unwrap().is_empty());

        store.end_rotation().unwrap();
        assert_eq!(store.rotation().unwrap(), None);
        assert!(store.delete_key_pair(old).unwrap());
    }
}
