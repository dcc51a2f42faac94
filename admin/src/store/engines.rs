//! Clustered engines in the store: name, the public key their poll tokens are verified with
//! (the private half lives only in the engine's bootstrap file), and what they last reported.

use rusqlite::{params, OptionalExtension};

use super::{now_ms, Store, StoreError};

/// A registered engine.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EngineRow {
    /// Engine id.
    pub id: u64,
    /// Unique name.
    pub name: String,
    /// Public key (JWK JSON) of the current bootstrap; `None` before one is issued.
    pub public_jwk: Option<String>,
    /// Last poll (Unix milliseconds; 0: never).
    pub last_poll_at: i64,
    /// Revision the engine last applied (0: none).
    pub applied_revision: u64,
    /// Why the engine refused the latest snapshot, if it did.
    pub refused: Option<String>,
}

const COLUMNS: &str = "id, name, public_jwk, last_poll_at, applied_revision, refused";

fn row(r: &rusqlite::Row<'_>) -> rusqlite::Result<EngineRow> {
    Ok(EngineRow {
        id: u64::try_from(r.get::<_, i64>(0)?).unwrap_or(0),
        name: r.get(1)?,
        public_jwk: r.get(2)?,
        last_poll_at: r.get(3)?,
        applied_revision: u64::try_from(r.get::<_, i64>(4)?).unwrap_or(0),
        refused: r.get(5)?,
    })
}

fn sql_id(id: u64) -> i64 {
    i64::try_from(id).unwrap_or(i64::MAX)
}

// === impl Store ===

impl Store {
    /// Every engine, by id.
    pub fn engines(&self) -> Result<Vec<EngineRow>, StoreError> {
        let mut stmt = self
            .conn
            .prepare(&format!("SELECT {COLUMNS} FROM engines ORDER BY id"))?;
        let rows = stmt.query_map([], row)?;
        Ok(rows.collect::<Result<_, _>>()?)
    }

    /// One engine.
    pub fn engine(&self, id: u64) -> Result<Option<EngineRow>, StoreError> {
        Ok(self
            .conn
            .query_row(
                &format!("SELECT {COLUMNS} FROM engines WHERE id = ?1"),
                [sql_id(id)],
                row,
            )
            .optional()?)
    }

    /// Whether an engine has this name (case-insensitive).
    pub fn engine_name_taken(&self, name: &str) -> Result<bool, StoreError> {
        Ok(self
            .conn
            .query_row("SELECT 1 FROM engines WHERE name = ?1", [name], |_| Ok(()))
            .optional()?
            .is_some())
    }

    /// Registers an engine; returns its id.
    pub fn add_engine(&self, name: &str) -> Result<u64, StoreError> {
        self.conn.execute(
            "INSERT INTO engines (name, created_at) VALUES (?1, ?2)",
            params![name, now_ms()],
        )?;
        Ok(u64::try_from(self.conn.last_insert_rowid()).unwrap_or(0))
    }

    /// Replaces an engine's public key (a new bootstrap: the old key stops working).
    pub fn set_engine_key(&self, id: u64, public_jwk: &str) -> Result<bool, StoreError> {
        let n = self.conn.execute(
            "UPDATE engines SET public_jwk = ?2 WHERE id = ?1",
            params![sql_id(id), public_jwk],
        )?;
        Ok(n > 0)
    }

    /// Records that the engine polled now.
    pub fn touch_engine(&self, id: u64) -> Result<(), StoreError> {
        self.conn.execute(
            "UPDATE engines SET last_poll_at = ?2 WHERE id = ?1",
            params![sql_id(id), now_ms()],
        )?;
        Ok(())
    }

    /// Records a poll and what the engine reported.
    pub fn record_engine_poll(
        &self,
        id: u64,
        applied_revision: u64,
        refused: Option<&str>,
    ) -> Result<(), StoreError> {
        self.conn.execute(
            "UPDATE engines SET last_poll_at = ?2, applied_revision = ?3, refused = ?4 WHERE id = ?1",
            params![
                sql_id(id),
                now_ms(),
                i64::try_from(applied_revision).unwrap_or(i64::MAX),
                refused
            ],
        )?;
        Ok(())
    }

    /// Deletes an engine (its key stops working at once); `false` when there was none.
    pub fn delete_engine(&self, id: u64) -> Result<bool, StoreError> {
        Ok(self
            .conn
            .execute("DELETE FROM engines WHERE id = ?1", [sql_id(id)])?
            > 0)
    }
}
