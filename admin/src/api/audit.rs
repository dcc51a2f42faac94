//! The admin audit log: one JSON line per API call (reads included) with time, subject, auth
//! method, client address, method, path, status and the revision a change created. Never a
//! body, a password or a token. Rotated by size.

use std::fs::{File, OpenOptions};
use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::Mutex;

use serde::Serialize;

/// Rotate when the file passes this size.
const ROTATE_BYTES: u64 = 10 * 1024 * 1024;
/// Rotated files kept (`.1` newest … `.N` oldest).
const KEEP: u32 = 5;

/// One audited call.
#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct AuditRecord<'a> {
    /// RFC 3339 time.
    pub time: String,
    /// Request id.
    pub request_id: &'a str,
    /// User name or token subject; `-` when unauthenticated.
    pub subject: &'a str,
    /// `basic`, `bearer` or `-`.
    pub auth_method: &'a str,
    /// Client address.
    pub client: String,
    /// HTTP method.
    pub method: &'a str,
    /// Path (no query string).
    pub path: &'a str,
    /// Response status.
    pub status: u16,
    /// Revision created by the call, if it changed the configuration.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub revision: Option<u64>,
}

/// The audit log file.
#[derive(Debug)]
pub struct AuditLog {
    path: PathBuf,
    file: Mutex<Option<File>>,
}

fn open(path: &Path) -> std::io::Result<File> {
    let mut opts = OpenOptions::new();
    opts.create(true).append(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        opts.mode(0o600);
    }
    opts.open(path)
}

impl AuditLog {
    /// The log at `path` (its directory is created).
    pub fn new(path: PathBuf) -> Self {
        if let Some(dir) = path.parent() {
            let _ = std::fs::create_dir_all(dir);
        }
        let file = open(&path)
            .map_err(|e| tracing::error!(file = %path.display(), "cannot open the audit log: {e}"))
            .ok();
        Self {
            path,
            file: Mutex::new(file),
        }
    }

    /// Where the log is written.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Appends one record (a failure is logged, never fatal to the call).
    pub fn record(&self, record: &AuditRecord<'_>) {
        let Ok(mut line) = serde_json::to_vec(record) else {
            return;
        };
        line.push(b'\n');
        let Ok(mut guard) = self.file.lock() else {
            return;
        };
        if guard
            .as_ref()
            .and_then(|f| f.metadata().ok())
            .is_some_and(|m| m.len() >= ROTATE_BYTES)
        {
            *guard = None;
            self.rotate();
        }
        if guard.is_none() {
            *guard = open(&self.path).ok();
        }
        let written = guard.as_mut().map(|f| f.write_all(&line));
        if !matches!(written, Some(Ok(()))) {
            tracing::error!(file = %self.path.display(), "cannot write the audit log");
        }
    }

    fn rotate(&self) {
        let name = |n: u32| PathBuf::from(format!("{}.{n}", self.path.display()));
        let _ = std::fs::remove_file(name(KEEP));
        for n in (1..KEEP).rev() {
            let _ = std::fs::rename(name(n), name(n + 1));
        }
        let _ = std::fs::rename(&self.path, name(1));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn records_are_json_lines_and_the_file_rotates() {
        let dir = tempfile::tempdir().unwrap();
        let log = AuditLog::new(dir.path().join("audit/admin-audit.log"));
        let rec = AuditRecord {
            time: "t".into(),
            request_id: "r",
            subject: "Administrator",
            auth_method: "basic",
            client: "127.0.0.1".into(),
            method: "GET",
            path: "/pa-admin-api/v3/sites",
            status: 200,
            revision: None,
        };
        log.record(&rec);
        let text = std::fs::read_to_string(log.path()).unwrap();
        let v: serde_json::Value = serde_json::from_str(text.trim()).unwrap();
        assert_eq!(v["subject"], "Administrator");
        assert!(v.get("revision").is_none());
        log.rotate();
        log.record(&rec);
        assert!(PathBuf::from(format!("{}.1", log.path().display())).exists());
    }
}
