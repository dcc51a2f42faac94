//! The node's embedded SQLite store under `pa.data.dir`: key pairs and configuration revisions.
//! WAL journal, one transaction per write, schema migrations by version number.

use std::path::Path;

use gatehouse_model::ConfigDocument;
use rusqlite::{params, Connection, OptionalExtension};

mod engines;
mod key_pairs;
mod rotation;
mod users;

pub use engines::EngineRow;
pub use key_pairs::{KeyPairRow, StoredKeyPair};
pub use rotation::Rotation;

pub use users::UserRow;

/// Why the store failed.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// SQLite failed.
    #[error("store: {0}")]
    Sqlite(#[from] rusqlite::Error),
    /// A stored document could not be read back.
    #[error("store: revision {revision} is unreadable: {source}")]
    Corrupt {
        /// Revision.
        revision: u64,
        /// Cause.
        #[source]
        source: serde_json::Error,
    },
    /// Something other than SQLite failed while preparing a write.
    #[error("store: {0}")]
    Internal(String),
    /// A document could not be serialised.
    #[error("store: cannot serialise configuration: {0}")]
    Serialise(#[source] serde_json::Error),
}

/// Schema migrations, applied in order; index + 1 is the schema version.
const MIGRATIONS: &[&str] = &[
    "CREATE TABLE key_pairs (
        name TEXT PRIMARY KEY,
        cert_pem TEXT NOT NULL,
        key_pem TEXT NOT NULL,
        created_at INTEGER NOT NULL
    );
    CREATE TABLE config_revisions (
        revision INTEGER PRIMARY KEY,
        created_at INTEGER NOT NULL,
        author TEXT NOT NULL,
        summary TEXT NOT NULL,
        document TEXT NOT NULL
    );",
    "CREATE TABLE signing_keys (
        purpose TEXT NOT NULL,
        kid TEXT NOT NULL,
        key_pem TEXT NOT NULL,
        created_at INTEGER NOT NULL,
        PRIMARY KEY (purpose, kid)
    );",
    "CREATE TABLE users (
        id INTEGER PRIMARY KEY,
        username TEXT NOT NULL UNIQUE COLLATE NOCASE,
        password_hash TEXT NOT NULL,
        role TEXT NOT NULL,
        failures INTEGER NOT NULL DEFAULT 0,
        locked_until INTEGER NOT NULL DEFAULT 0,
        created_at INTEGER NOT NULL
    );",
    // Key pairs get stable ids and aliases; listeners name the key pair they serve.
    "CREATE TABLE key_pairs_v2 (
        id INTEGER PRIMARY KEY,
        alias TEXT NOT NULL UNIQUE COLLATE NOCASE,
        cert_pem TEXT NOT NULL,
        key_pem TEXT NOT NULL,
        created_at INTEGER NOT NULL
    );
    INSERT INTO key_pairs_v2 (id, alias, cert_pem, key_pem, created_at)
        SELECT rowid, name, cert_pem, key_pem, created_at FROM key_pairs;
    DROP TABLE key_pairs;
    ALTER TABLE key_pairs_v2 RENAME TO key_pairs;
    CREATE TABLE https_listeners (
        name TEXT PRIMARY KEY,
        key_pair_id INTEGER NOT NULL REFERENCES key_pairs(id)
    );
    INSERT INTO https_listeners (name, key_pair_id)
        SELECT alias, id FROM key_pairs WHERE alias IN ('ADMIN', 'ENGINE', 'CONFIG QUERY');",
    // Clustered engines: the public half of each engine's key, and what it last reported.
    "CREATE TABLE engines (
        id INTEGER PRIMARY KEY,
        name TEXT NOT NULL UNIQUE COLLATE NOCASE,
        public_jwk TEXT,
        created_at INTEGER NOT NULL,
        last_poll_at INTEGER NOT NULL DEFAULT 0,
        applied_revision INTEGER NOT NULL DEFAULT 0,
        refused TEXT
    );",
    // Config-query certificate rotation: the window (one at a time) and what each engine trusts.
    "CREATE TABLE config_query_rotation (
        id INTEGER PRIMARY KEY CHECK (id = 1),
        old_key_pair_id INTEGER NOT NULL REFERENCES key_pairs(id),
        new_key_pair_id INTEGER NOT NULL REFERENCES key_pairs(id),
        started_at INTEGER NOT NULL,
        ends_at INTEGER NOT NULL
    );
    ALTER TABLE engines ADD COLUMN trusted_fingerprints TEXT NOT NULL DEFAULT '';",
];

/// A stored signing key (no certificate): auth-token keys, newest first. `Debug` shows the
/// key id only.
#[derive(Clone, PartialEq, Eq)]
pub struct SigningKeyRow {
    /// Key id.
    pub kid: String,
    /// PKCS#8 private key, PEM.
    pub key_pem: String,
    /// When it was made (Unix milliseconds).
    pub created_at_ms: i64,
}

impl std::fmt::Debug for SigningKeyRow {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SigningKeyRow")
            .field("kid", &self.kid)
            .field("created_at_ms", &self.created_at_ms)
            .finish_non_exhaustive()
    }
}

/// The open store.
#[derive(Debug)]
pub struct Store {
    conn: Connection,
    /// What the console needs on every engine poll, kept in memory (see [`engines`]).
    engine_memo: std::cell::RefCell<engines::EngineMemo>,
}

/// One configuration revision's record (without the document).
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct RevisionInfo {
    /// Revision number.
    pub revision: u64,
    /// When it was stored (Unix milliseconds).
    pub created_at: i64,
    /// Who made it (`startup`, a user name, a token subject).
    pub author: String,
    /// What it was (`PUT /sites/1`, `pa.startup.config …`).
    pub summary: String,
}

pub(crate) fn now_ms() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| i64::try_from(d.as_millis()).unwrap_or(i64::MAX))
}

// === impl Store ===

impl Store {
    /// Opens (creating and migrating) `gatehouse.db` in `dir`.
    pub fn open(dir: &Path) -> Result<Self, StoreError> {
        let conn = Connection::open(dir.join("gatehouse.db"))?;
        conn.pragma_update(None, "journal_mode", "WAL")?;
        conn.pragma_update(None, "synchronous", "FULL")?;
        conn.pragma_update(None, "foreign_keys", "ON")?;
        let store = Self {
            conn,
            engine_memo: Default::default(),
        };
        store.migrate()?;
        Ok(store)
    }

    /// Rows written since the store was opened, poll times left out: unchanged means nothing
    /// that goes into a cluster snapshot was written.
    pub fn writes(&self) -> u64 {
        self.conn
            .total_changes()
            .saturating_sub(self.engine_memo.borrow().poll_rows_written)
    }

    fn migrate(&self) -> Result<(), StoreError> {
        let version: usize = self
            .conn
            .pragma_query_value(None, "user_version", |r| r.get(0))?;
        for (i, sql) in MIGRATIONS.iter().enumerate().skip(version) {
            let tx = self.conn.unchecked_transaction()?;
            tx.execute_batch(sql)?;
            tx.pragma_update(None, "user_version", i + 1)?;
            tx.commit()?;
        }
        Ok(())
    }

    /// Signing keys for `purpose`, newest first.
    pub fn signing_keys(&self, purpose: &str) -> Result<Vec<SigningKeyRow>, StoreError> {
        let mut stmt = self.conn.prepare(
            "SELECT kid, key_pem, created_at FROM signing_keys WHERE purpose = ?1 \
             ORDER BY created_at DESC, kid",
        )?;
        let rows = stmt.query_map([purpose], |r| {
            Ok(SigningKeyRow {
                kid: r.get(0)?,
                key_pem: r.get(1)?,
                created_at_ms: r.get(2)?,
            })
        })?;
        Ok(rows.collect::<Result<_, _>>()?)
    }

    /// Adds a signing key and keeps only the `keep` newest of its purpose.
    pub fn add_signing_key(
        &mut self,
        purpose: &str,
        key: &SigningKeyRow,
        keep: usize,
    ) -> Result<(), StoreError> {
        let tx = self.conn.transaction()?;
        tx.execute(
            "INSERT INTO signing_keys (purpose, kid, key_pem, created_at) VALUES (?1, ?2, ?3, ?4)",
            params![purpose, key.kid, key.key_pem, key.created_at_ms],
        )?;
        tx.execute(
            "DELETE FROM signing_keys WHERE purpose = ?1 AND kid NOT IN \
             (SELECT kid FROM signing_keys WHERE purpose = ?1 ORDER BY created_at DESC, kid LIMIT ?2)",
            params![purpose, i64::try_from(keep).unwrap_or(i64::MAX)],
        )?;
        tx.commit()?;
        Ok(())
    }

    /// The newest configuration revision.
    pub fn latest_config(&self) -> Result<Option<(u64, ConfigDocument)>, StoreError> {
        let row: Option<(i64, String)> = self
            .conn
            .query_row(
                "SELECT revision, document FROM config_revisions ORDER BY revision DESC LIMIT 1",
                [],
                |r| Ok((r.get(0)?, r.get(1)?)),
            )
            .optional()?;
        row.map(|(rev, text)| {
            let revision = u64::try_from(rev).unwrap_or(0);
            serde_json::from_str(&text)
                .map(|doc| (revision, doc))
                .map_err(|source| StoreError::Corrupt { revision, source })
        })
        .transpose()
    }

    /// Records a new revision; returns its number.
    pub fn save_config(
        &self,
        doc: &ConfigDocument,
        author: &str,
        summary: &str,
    ) -> Result<u64, StoreError> {
        let text = serde_json::to_string(doc).map_err(StoreError::Serialise)?;
        let tx = self.conn.unchecked_transaction()?;
        tx.execute(
            "INSERT INTO config_revisions (created_at, author, summary, document) VALUES (?1, ?2, ?3, ?4)",
            params![now_ms(), author, summary, text],
        )?;
        let revision = u64::try_from(tx.last_insert_rowid()).unwrap_or(0);
        tx.commit()?;
        Ok(revision)
    }
}

impl Store {
    /// Revisions, newest first, at most `limit`.
    pub fn revisions(&self, limit: u32) -> Result<Vec<RevisionInfo>, StoreError> {
        let mut stmt = self.conn.prepare(
            "SELECT revision, created_at, author, summary FROM config_revisions \
             ORDER BY revision DESC LIMIT ?1",
        )?;
        let rows = stmt.query_map([limit], |r| {
            Ok(RevisionInfo {
                revision: u64::try_from(r.get::<_, i64>(0)?).unwrap_or(0),
                created_at: r.get(1)?,
                author: r.get(2)?,
                summary: r.get(3)?,
            })
        })?;
        Ok(rows.collect::<Result<_, _>>()?)
    }

    /// One revision's record.
    pub fn revision_info(&self, revision: u64) -> Result<Option<RevisionInfo>, StoreError> {
        let rev = i64::try_from(revision).unwrap_or(i64::MAX);
        Ok(self
            .conn
            .query_row(
                "SELECT revision, created_at, author, summary FROM config_revisions WHERE revision = ?1",
                [rev],
                |r| {
                    Ok(RevisionInfo {
                        revision: u64::try_from(r.get::<_, i64>(0)?).unwrap_or(0),
                        created_at: r.get(1)?,
                        author: r.get(2)?,
                        summary: r.get(3)?,
                    })
                },
            )
            .optional()?)
    }

    /// The document of one revision.
    pub fn config_at(&self, revision: u64) -> Result<Option<ConfigDocument>, StoreError> {
        let rev = i64::try_from(revision).unwrap_or(i64::MAX);
        let text: Option<String> = self
            .conn
            .query_row(
                "SELECT document FROM config_revisions WHERE revision = ?1",
                [rev],
                |r| r.get(0),
            )
            .optional()?;
        text.map(|t| {
            serde_json::from_str(&t).map_err(|source| StoreError::Corrupt { revision, source })
        })
        .transpose()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn revisions_round_trip_and_reopen() {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(dir.path()).unwrap();
        assert!(store.latest_config().unwrap().is_none());
        let doc = ConfigDocument::embedded_default();
        let r1 = store.save_config(&doc, "test", "first").unwrap();
        let r2 = store.save_config(&doc, "test", "second").unwrap();
        assert!(r2 > r1);
        drop(store);
        let store = Store::open(dir.path()).unwrap();
        let (rev, back) = store.latest_config().unwrap().unwrap();
        assert_eq!(rev, r2);
        assert_eq!(back, doc);
    }
}
