//! Key pairs in the store (certificate chain and private key, by id and alias) and which key
//! pair each HTTPS listener (`ADMIN`, `ENGINE`, `CONFIG QUERY`) serves.

use rusqlite::{params, OptionalExtension};

use super::{now_ms, Store, StoreError};

/// Key material: a certificate chain and its private key (`Debug` shows neither).
#[derive(Clone)]
pub struct StoredKeyPair {
    /// Certificate chain, PEM (leaf first).
    pub cert_pem: String,
    /// Private key, PKCS#8 PEM.
    pub key_pem: String,
}

impl std::fmt::Debug for StoredKeyPair {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("StoredKeyPair(***)")
    }
}

/// A stored key pair with its id and alias.
#[derive(Debug, Clone)]
pub struct KeyPairRow {
    /// The key pair's API id.
    pub id: u64,
    /// Alias (unique, case-insensitive).
    pub alias: String,
    /// Key material.
    pub pair: StoredKeyPair,
}

fn row(r: &rusqlite::Row<'_>) -> rusqlite::Result<KeyPairRow> {
    Ok(KeyPairRow {
        id: u64::try_from(r.get::<_, i64>(0)?).unwrap_or(0),
        alias: r.get(1)?,
        pair: StoredKeyPair {
            cert_pem: r.get(2)?,
            key_pem: r.get(3)?,
        },
    })
}

fn sql_id(id: u64) -> i64 {
    i64::try_from(id).unwrap_or(i64::MAX)
}

// === impl Store ===

impl Store {
    /// Every key pair, by id.
    pub fn key_pairs(&self) -> Result<Vec<KeyPairRow>, StoreError> {
        let mut stmt = self
            .conn
            .prepare("SELECT id, alias, cert_pem, key_pem FROM key_pairs ORDER BY id")?;
        let rows = stmt.query_map([], row)?;
        Ok(rows.collect::<Result<_, _>>()?)
    }

    /// One key pair.
    pub fn key_pair(&self, id: u64) -> Result<Option<KeyPairRow>, StoreError> {
        Ok(self
            .conn
            .query_row(
                "SELECT id, alias, cert_pem, key_pem FROM key_pairs WHERE id = ?1",
                [sql_id(id)],
                row,
            )
            .optional()?)
    }

    /// Whether a key pair with this alias (case-insensitive) exists.
    pub fn key_pair_alias_taken(&self, alias: &str) -> Result<bool, StoreError> {
        Ok(self
            .conn
            .query_row("SELECT 1 FROM key_pairs WHERE alias = ?1", [alias], |_| {
                Ok(())
            })
            .optional()?
            .is_some())
    }

    /// Stores a new key pair; returns its id.
    pub fn add_key_pair(&self, alias: &str, pair: &StoredKeyPair) -> Result<u64, StoreError> {
        self.conn.execute(
            "INSERT INTO key_pairs (alias, cert_pem, key_pem, created_at) VALUES (?1, ?2, ?3, ?4)",
            params![alias, pair.cert_pem, pair.key_pem, now_ms()],
        )?;
        Ok(u64::try_from(self.conn.last_insert_rowid()).unwrap_or(0))
    }

    /// Deletes a key pair; `false` when there was none.
    pub fn delete_key_pair(&self, id: u64) -> Result<bool, StoreError> {
        let n = self
            .conn
            .execute("DELETE FROM key_pairs WHERE id = ?1", [sql_id(id)])?;
        Ok(n > 0)
    }

    /// Listener name → key pair id, for every assigned listener.
    pub fn https_listeners(&self) -> Result<Vec<(String, u64)>, StoreError> {
        let mut stmt = self
            .conn
            .prepare("SELECT name, key_pair_id FROM https_listeners ORDER BY name")?;
        let rows = stmt.query_map([], |r| {
            Ok((r.get(0)?, u64::try_from(r.get::<_, i64>(1)?).unwrap_or(0)))
        })?;
        Ok(rows.collect::<Result<_, _>>()?)
    }

    /// The key pair a listener serves.
    pub fn listener_key_pair(&self, listener: &str) -> Result<Option<KeyPairRow>, StoreError> {
        Ok(self
            .conn
            .query_row(
                "SELECT k.id, k.alias, k.cert_pem, k.key_pem FROM https_listeners l
                 JOIN key_pairs k ON k.id = l.key_pair_id WHERE l.name = ?1",
                [listener],
                row,
            )
            .optional()?)
    }

    /// Makes `listener` serve key pair `id`.
    pub fn assign_listener(&self, listener: &str, id: u64) -> Result<(), StoreError> {
        self.conn.execute(
            "INSERT INTO https_listeners (name, key_pair_id) VALUES (?1, ?2)
             ON CONFLICT(name) DO UPDATE SET key_pair_id = excluded.key_pair_id",
            params![listener, sql_id(id)],
        )?;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pair(tag: &str) -> StoredKeyPair {
        StoredKeyPair {
            cert_pem: format!("cert {tag}"),
            key_pem: format!("key {tag}"),
        }
    }

    #[test]
    fn add_assign_and_refuse_deleting_an_assigned_pair() {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(dir.path()).unwrap();
        let a = store.add_key_pair("one", &pair("a")).unwrap();
        let b = store.add_key_pair("two", &pair("b")).unwrap();
        assert!(store.key_pair_alias_taken("ONE").unwrap());
        assert!(store.add_key_pair("One", &pair("c")).is_err());
        store.assign_listener("ENGINE", a).unwrap();
        store.assign_listener("ENGINE", b).unwrap();
        let served = store.listener_key_pair("ENGINE").unwrap().unwrap();
        assert_eq!((served.id, served.pair.cert_pem.as_str()), (b, "cert b"));
        assert!(store.delete_key_pair(b).is_err(), "assigned: foreign key");
        assert!(store.delete_key_pair(a).unwrap());
        assert!(!store.delete_key_pair(a).unwrap());
        assert_eq!(store.https_listeners().unwrap(), vec![("ENGINE".into(), b)]);
    }

    #[test]
    fn version_one_key_pairs_keep_their_ids_and_become_listener_assignments() {
        let dir = tempfile::tempdir().unwrap();
        {
            let conn = rusqlite::Connection::open(dir.path().join("gatehouse.db")).unwrap();
            conn.execute_batch(super::super::MIGRATIONS[0]).unwrap();
            conn.execute_batch(
                "INSERT INTO key_pairs VALUES ('ENGINE', 'ce', 'ke', 1);
                 INSERT INTO key_pairs VALUES ('ADMIN', 'ca', 'ka', 2);
                 PRAGMA user_version = 1;",
            )
            .unwrap();
        }
        let store = Store::open(dir.path()).unwrap();
        let admin = store.listener_key_pair("ADMIN").unwrap().unwrap();
        assert_eq!((admin.id, admin.alias.as_str()), (2, "ADMIN"));
        assert_eq!(store.listener_key_pair("ENGINE").unwrap().unwrap().id, 1);
    }
}
