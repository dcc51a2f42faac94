//! Clustered engines in the store: name, the public key their poll tokens are verified with
//! (the private half lives only in the engine's bootstrap file), and what they last reported.
//!
//! Every engine poll needs the engine's public key and records the poll's time. Both are served
//! from memory ([`EngineMemo`]): keys are read once and forgotten when a bootstrap is re-issued
//! or the engine deleted; poll times are exact in memory and written to the database at most
//! once per [`POLL_PERSIST_EVERY_MS`] per engine, so an idle cluster does not commit (and
//! `fsync`) on every poll. After a console restart a stored poll time can be that much older.

use std::collections::HashMap;

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

/// Longest a poll time stays only in memory.
pub(crate) const POLL_PERSIST_EVERY_MS: i64 = 60_000;

/// The in-memory side of the engines table.
#[derive(Debug, Default)]
pub(crate) struct EngineMemo {
    /// Public keys read so far (`None`: no bootstrap issued yet).
    keys: HashMap<u64, Option<String>>,
    /// Poll times: (in memory, last written).
    polls: HashMap<u64, (i64, i64)>,
    /// Rows written to record poll times (left out of [`Store::writes`]).
    pub(super) poll_rows_written: u64,
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
        let mut rows: Vec<EngineRow> = rows.collect::<Result<_, _>>()?;
        for r in &mut rows {
            self.overlay_poll(r);
        }
        Ok(rows)
    }

    fn overlay_poll(&self, row: &mut EngineRow) {
        if let Some((at, _)) = self.engine_memo.borrow().polls.get(&row.id) {
            row.last_poll_at = row.last_poll_at.max(*at);
        }
    }

    /// The public key (JWK JSON) poll tokens of engine `id` are verified with; `None` for an
    /// unknown engine or one without a bootstrap. Read from the database once.
    pub fn engine_public_jwk(&self, id: u64) -> Result<Option<String>, StoreError> {
        if let Some(found) = self.engine_memo.borrow().keys.get(&id) {
            return Ok(found.clone());
        }
        // Unknown ids are not remembered: anyone can send them.
        let Some(engine) = self.engine(id)? else {
            return Ok(None);
        };
        let jwk = engine.public_jwk;
        self.engine_memo.borrow_mut().keys.insert(id, jwk.clone());
        Ok(jwk)
    }

    fn forget_engine(&self, id: u64) {
        let mut memo = self.engine_memo.borrow_mut();
        memo.keys.remove(&id);
        memo.polls.remove(&id);
    }

    /// One engine.
    pub fn engine(&self, id: u64) -> Result<Option<EngineRow>, StoreError> {
        let mut found = self
            .conn
            .prepare_cached(&format!("SELECT {COLUMNS} FROM engines WHERE id = ?1"))?
            .query_row([sql_id(id)], row)
            .optional()?;
        if let Some(r) = &mut found {
            self.overlay_poll(r);
        }
        Ok(found)
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
        self.forget_engine(id);
        let n = self.conn.execute(
            "UPDATE engines SET public_jwk = ?2 WHERE id = ?1",
            params![sql_id(id), public_jwk],
        )?;
        Ok(n > 0)
    }

    /// Records that the engine polled now: in memory, and in the database when the stored time
    /// is older than [`POLL_PERSIST_EVERY_MS`].
    pub fn touch_engine(&self, id: u64) -> Result<(), StoreError> {
        let now = now_ms();
        let written = {
            let mut memo = self.engine_memo.borrow_mut();
            let entry = memo.polls.entry(id).or_insert((now, i64::MIN));
            entry.0 = now;
            entry.1
        };
        if now.saturating_sub(written) < POLL_PERSIST_EVERY_MS {
            return Ok(());
        }
        let rows = self
            .conn
            .prepare_cached("UPDATE engines SET last_poll_at = ?2 WHERE id = ?1")?
            .execute(params![sql_id(id), now])?;
        let mut memo = self.engine_memo.borrow_mut();
        memo.poll_rows_written += u64::try_from(rows).unwrap_or(0);
        if let Some(entry) = memo.polls.get_mut(&id) {
            entry.1 = now;
        }
        Ok(())
    }

    /// Records a poll and what the engine reported.
    pub fn record_engine_poll(
        &self,
        id: u64,
        applied_revision: u64,
        refused: Option<&str>,
    ) -> Result<(), StoreError> {
        let now = now_ms();
        self.engine_memo.borrow_mut().polls.insert(id, (now, now));
        self.conn.execute(
            "UPDATE engines SET last_poll_at = ?2, applied_revision = ?3, refused = ?4 WHERE id = ?1",
            params![
                sql_id(id),
                now,
                i64::try_from(applied_revision).unwrap_or(i64::MAX),
                refused
            ],
        )?;
        Ok(())
    }

    /// Deletes an engine (its key stops working at once); `false` when there was none.
    pub fn delete_engine(&self, id: u64) -> Result<bool, StoreError> {
        self.forget_engine(id);
        Ok(self
            .conn
            .execute("DELETE FROM engines WHERE id = ?1", [sql_id(id)])?
            > 0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn polls_are_kept_in_memory_and_keys_forgotten_on_reissue() {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(dir.path()).unwrap();
        let id = store.add_engine("e1").unwrap();
        assert_eq!(store.engine_public_jwk(id).unwrap(), None);
        store.set_engine_key(id, "{\"k\":1}").unwrap();
        assert_eq!(
            store.engine_public_jwk(id).unwrap().as_deref(),
            Some("{\"k\":1}")
        );
        store.set_engine_key(id, "{\"k\":2}").unwrap();
        assert_eq!(
            store.engine_public_jwk(id).unwrap().as_deref(),
            Some("{\"k\":2}")
        );

        let before = store.writes();
        store.touch_engine(id).unwrap();
        let first = store.engine(id).unwrap().unwrap().last_poll_at;
        assert!(first > 0);
        for _ in 0..10 {
            store.touch_engine(id).unwrap();
        }
        assert_eq!(store.writes(), before, "poll times are not snapshot writes");
        let stored: i64 = store
            .conn
            .query_row(
                "SELECT last_poll_at FROM engines WHERE id = ?1",
                [sql_id(id)],
                |r| r.get(0),
            )
            .unwrap();
        assert_eq!(stored, first, "written once, then kept in memory");
        assert!(store.engines().unwrap()[0].last_poll_at >= first);

        assert!(store.delete_engine(id).unwrap());
        assert_eq!(store.engine_public_jwk(id).unwrap(), None);
        assert_eq!(store.engine_public_jwk(9999).unwrap(), None);
    }
}
