//! Admin users in the store: Argon2id password hashes, role, and the Basic-auth lockout state.

use rusqlite::{params, OptionalExtension};

use super::{now_ms, Store, StoreError};

/// A stored admin user.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UserRow {
    /// User id.
    pub id: u64,
    /// Login name (unique, case-insensitive).
    pub username: String,
    /// PHC string (`$argon2id$…`).
    pub password_hash: String,
    /// `ADMINISTRATOR` or `AUDITOR`.
    pub role: String,
    /// Consecutive failed logins.
    pub failures: u32,
    /// Locked until this time (Unix milliseconds); 0 when not locked.
    pub locked_until: i64,
}

const COLUMNS: &str = "id, username, password_hash, role, failures, locked_until";

fn row(r: &rusqlite::Row<'_>) -> rusqlite::Result<UserRow> {
    Ok(UserRow {
        id: u64::try_from(r.get::<_, i64>(0)?).unwrap_or(0),
        username: r.get(1)?,
        password_hash: r.get(2)?,
        role: r.get(3)?,
        failures: u32::try_from(r.get::<_, i64>(4)?).unwrap_or(u32::MAX),
        locked_until: r.get(5)?,
    })
}

impl Store {
    /// Every user, by id.
    pub fn users(&self) -> Result<Vec<UserRow>, StoreError> {
        let mut stmt = self
            .conn
            .prepare(&format!("SELECT {COLUMNS} FROM users ORDER BY id"))?;
        let rows = stmt.query_map([], row)?;
        Ok(rows.collect::<Result<_, _>>()?)
    }

    /// A user by login name (case-insensitive).
    pub fn user_by_name(&self, username: &str) -> Result<Option<UserRow>, StoreError> {
        Ok(self
            .conn
            .query_row(
                &format!("SELECT {COLUMNS} FROM users WHERE username = ?1"),
                [username],
                row,
            )
            .optional()?)
    }

    /// A user by id.
    pub fn user(&self, id: u64) -> Result<Option<UserRow>, StoreError> {
        let id = i64::try_from(id).unwrap_or(i64::MAX);
        Ok(self
            .conn
            .query_row(
                &format!("SELECT {COLUMNS} FROM users WHERE id = ?1"),
                [id],
                row,
            )
            .optional()?)
    }

    /// Adds a user; returns its id.
    pub fn add_user(&self, username: &str, hash: &str, role: &str) -> Result<u64, StoreError> {
        self.conn.execute(
            "INSERT INTO users (username, password_hash, role, created_at) VALUES (?1, ?2, ?3, ?4)",
            params![username, hash, role, now_ms()],
        )?;
        Ok(u64::try_from(self.conn.last_insert_rowid()).unwrap_or(0))
    }

    /// Removes a user; false when there was none.
    pub fn delete_user(&self, id: u64) -> Result<bool, StoreError> {
        let id = i64::try_from(id).unwrap_or(i64::MAX);
        Ok(self.conn.execute("DELETE FROM users WHERE id = ?1", [id])? == 1)
    }

    /// Replaces a user's password hash and clears its lockout.
    pub fn set_password(&self, id: u64, hash: &str) -> Result<bool, StoreError> {
        let id = i64::try_from(id).unwrap_or(i64::MAX);
        let n = self.conn.execute(
            "UPDATE users SET password_hash = ?1, failures = 0, locked_until = 0 WHERE id = ?2",
            params![hash, id],
        )?;
        Ok(n == 1)
    }

    /// Records a failed login: after `max` consecutive failures the user is locked until
    /// `lock_until`.
    pub fn record_failure(&self, id: u64, max: u32, lock_until: i64) -> Result<(), StoreError> {
        let id = i64::try_from(id).unwrap_or(i64::MAX);
        self.conn.execute(
            "UPDATE users SET locked_until = CASE WHEN failures + 1 >= ?1 THEN ?2 ELSE locked_until END, \
             failures = CASE WHEN failures + 1 >= ?1 THEN 0 ELSE failures + 1 END \
             WHERE id = ?3",
            params![max, lock_until, id],
        )?;
        Ok(())
    }

    /// Clears the failure count after a good login.
    pub fn record_success(&self, id: u64) -> Result<(), StoreError> {
        let id = i64::try_from(id).unwrap_or(i64::MAX);
        self.conn.execute(
            "UPDATE users SET failures = 0, locked_until = 0 WHERE id = ?1 AND (failures != 0 OR locked_until != 0)",
            [id],
        )?;
        Ok(())
    }
}
