//! The local state: one SQLite file in the data folder.
//!
//! It holds the workouts fetched (raw JSON, so rows can be derived again
//! when the mapping improves, without asking Peloton), for each table and
//! key the hash of the row Coda last accepted, the friends and their latest
//! workouts (the window reads these), the history of runs, the
//! full-resolution archive of performance graphs (`archive`), the doc and
//! table each table's rows went to, the workouts listed but not fetched yet,
//! and a few key/value facts (`meta`).
//!
//! Invariants:
//! - Only this module runs SQL.
//! - A row counts as written only once Coda accepted it: the engine calls
//!   [`Store::mark_written`] after the upsert succeeded. Coda upserts are
//!   keyed, so a run killed between the two re-sends the row next time
//!   without a duplicate, and nothing is lost.
//! - The store never reads the clock: every time is passed in.
//! - A damaged or deleted file is rebuilt on open ([`Store::rebuilt`] says
//!   so); the keyed upserts make a rebuild safe, it only costs a full resend.

mod archive;
mod bindings;
mod error;
mod friends;
mod migrations;
mod queue;
mod runs;
mod workouts;
mod written;

use std::path::{Path, PathBuf};
use std::time::Duration;

use chrono::{DateTime, Utc};
use rusqlite::{Connection, OptionalExtension};

pub use archive::ArchiveSize;
pub use bindings::Rebound;
pub use error::StoreError;
pub use friends::{FriendRecord, FriendWorkoutRecord, RemovedFriends};
pub use queue::QueuedWorkout;
pub use runs::{RunId, RunOutcome, RunRecord, INTERRUPTED_MESSAGE};
pub use workouts::StoredWorkout;
pub use written::WrittenRow;

use error::sql;

/// How long a statement waits for another process's write to finish.
const BUSY_TIMEOUT: Duration = Duration::from_secs(10);

/// The local state.
#[derive(Debug)]
pub struct Store {
    conn: Connection,
    rebuilt: Option<Rebuilt>,
}

/// How the state file was rebuilt when it was opened.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Rebuilt {
    /// Where the damaged file was moved.
    pub moved_to: PathBuf,
    /// What was wrong with it (SQLite's words).
    pub reason: String,
}

impl Store {
    /// Opens (or creates) the state at `path`: creates its folder, turns on
    /// WAL, a busy timeout and foreign keys, and brings the schema up to
    /// date. A file that is not a database or fails `PRAGMA quick_check` is
    /// moved aside to `<path>.corrupt-<n>` and a fresh one is created;
    /// [`Store::rebuilt`] and [`Store::open_notes`] then say so.
    pub fn open(path: &Path) -> Result<Store, StoreError> {
        if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
            std::fs::create_dir_all(dir).map_err(|source| StoreError::CreateDir {
                path: dir.to_owned(),
                source,
            })?;
        }
        if !path.exists() {
            // A journal left by a deleted database would be replayed into the
            // new one; it belongs to the old file, so it goes too.
            for side in [wal_path(path), shm_path(path)] {
                let _ = std::fs::remove_file(side);
            }
        }
        match Self::open_checked(path) {
            Ok(conn) => Ok(Store {
                conn,
                rebuilt: None,
            }),
            Err(e) if e.is_corrupt() => {
                let reason = match &e {
                    StoreError::Corrupt { detail, .. } => detail.clone(),
                    other => other.to_string(),
                };
                tracing::warn!(path = %path.display(), %reason, "local state is damaged; rebuilding it");
                let moved_to = move_aside(path)?;
                let conn = Self::open_checked(path)?;
                Ok(Store {
                    conn,
                    rebuilt: Some(Rebuilt { moved_to, reason }),
                })
            }
            Err(e) => Err(e),
        }
    }

    /// A fresh state in memory, for tests and dry runs.
    pub fn open_in_memory() -> Result<Store, StoreError> {
        let mut conn = Connection::open_in_memory().map_err(sql("opening the local state"))?;
        Self::prepare(&mut conn)?;
        Ok(Store {
            conn,
            rebuilt: None,
        })
    }

    fn open_checked(path: &Path) -> Result<Connection, StoreError> {
        let mut conn = Connection::open(path).map_err(sql("opening the local state"))?;
        Self::prepare(&mut conn)?;
        let check: String = conn
            .query_row("PRAGMA quick_check", [], |r| r.get(0))
            .map_err(sql("checking the local state"))?;
        if check != "ok" {
            return Err(StoreError::Corrupt {
                op: "checking the local state",
                detail: check,
            });
        }
        Ok(conn)
    }

    fn prepare(conn: &mut Connection) -> Result<(), StoreError> {
        conn.busy_timeout(BUSY_TIMEOUT)
            .map_err(sql("opening the local state"))?;
        // Reading the header here is what fails on a file that is not a database.
        let _mode: String = conn
            .query_row("PRAGMA journal_mode = WAL", [], |r| r.get(0))
            .map_err(sql("opening the local state"))?;
        conn.pragma_update(None, "foreign_keys", true)
            .map_err(sql("opening the local state"))?;
        migrations::migrate(conn)
    }

    /// Set when opening found the file damaged and rebuilt it.
    pub fn rebuilt(&self) -> Option<&Rebuilt> {
        self.rebuilt.as_ref()
    }

    /// Sentences for the user about what opening did (empty when nothing
    /// worth saying happened).
    pub fn open_notes(&self) -> Vec<String> {
        self.rebuilt
            .iter()
            .map(|r| {
                format!(
                    "The local state was damaged and has been rebuilt (the old file is kept as {}); every row will be checked against Coda again.",
                    r.moved_to.display()
                )
            })
            .collect()
    }

    /// The schema version of the open file.
    pub fn schema_version(&self) -> Result<i64, StoreError> {
        migrations::version(&self.conn)
    }

    /// A value stored under `key`.
    pub fn get_meta(&self, key: &str) -> Result<Option<String>, StoreError> {
        self.conn
            .query_row("SELECT value FROM meta WHERE key = ?1", [key], |r| r.get(0))
            .optional()
            .map_err(sql("reading a stored value"))
    }

    /// Stores `value` under `key`, replacing what was there.
    pub fn set_meta(&mut self, key: &str, value: &str) -> Result<(), StoreError> {
        self.conn
            .execute(
                "INSERT INTO meta(key, value) VALUES (?1, ?2)
                 ON CONFLICT(key) DO UPDATE SET value = excluded.value",
                [key, value],
            )
            .map(drop)
            .map_err(sql("saving a stored value"))
    }

    /// Removes the value stored under `key`, if any.
    pub fn delete_meta(&mut self, key: &str) -> Result<(), StoreError> {
        self.conn
            .execute("DELETE FROM meta WHERE key = ?1", [key])
            .map(drop)
            .map_err(sql("removing a stored value"))
    }

    #[cfg(test)]
    fn conn(&self) -> &Connection {
        &self.conn
    }
}

fn wal_path(path: &Path) -> PathBuf {
    sibling(path, "-wal")
}

fn shm_path(path: &Path) -> PathBuf {
    sibling(path, "-shm")
}

fn sibling(path: &Path, suffix: &str) -> PathBuf {
    let mut s = path.as_os_str().to_owned();
    s.push(suffix);
    PathBuf::from(s)
}

/// Moves a damaged database and its journal files to the first free
/// `<path>.corrupt-<n>`, keeping it for a bug report.
fn move_aside(path: &Path) -> Result<PathBuf, StoreError> {
    let mut n = 1u32;
    let to = loop {
        let candidate = sibling(path, &format!(".corrupt-{n}"));
        if !candidate.exists() {
            break candidate;
        }
        n += 1;
    };
    std::fs::rename(path, &to).map_err(|source| StoreError::MoveAside {
        from: path.to_owned(),
        to: to.clone(),
        source,
    })?;
    for (side, suffix) in [(wal_path(path), "-wal"), (shm_path(path), "-shm")] {
        if side.exists() {
            // The journal must not be replayed into the fresh file; if it
            // cannot be kept, it is removed.
            if std::fs::rename(&side, sibling(&to, suffix)).is_err() {
                let _ = std::fs::remove_file(&side);
            }
        }
    }
    Ok(to)
}

/// A time as stored: Unix milliseconds.
fn to_ms(t: DateTime<Utc>) -> i64 {
    t.timestamp_millis()
}

/// A stored time back; out-of-range values are a conversion error.
fn from_ms(column: usize, ms: i64) -> rusqlite::Result<DateTime<Utc>> {
    DateTime::from_timestamp_millis(ms).ok_or_else(|| {
        rusqlite::Error::FromSqlConversionFailure(
            column,
            rusqlite::types::Type::Integer,
            format!("{ms} is not a valid time").into(),
        )
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reopening_keeps_data_and_the_schema_version() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("nested/state.db");
        {
            let mut s = Store::open(&path).unwrap();
            s.set_meta("doc", "abc").unwrap();
            assert!(s.rebuilt().is_none());
        }
        let s = Store::open(&path).unwrap();
        assert_eq!(s.get_meta("doc").unwrap().as_deref(), Some("abc"));
        assert_eq!(s.schema_version().unwrap(), migrations::latest());
        assert!(s.rebuilt().is_none());
        assert!(s.open_notes().is_empty());
    }

    #[test]
    fn the_file_is_in_wal_mode_with_foreign_keys() {
        let dir = tempfile::tempdir().unwrap();
        let s = Store::open(&dir.path().join("state.db")).unwrap();
        let mode: String = s
            .conn()
            .query_row("PRAGMA journal_mode", [], |r| r.get(0))
            .unwrap();
        assert_eq!(mode, "wal");
        let fk: i64 = s
            .conn()
            .query_row("PRAGMA foreign_keys", [], |r| r.get(0))
            .unwrap();
        assert_eq!(fk, 1);
    }

    #[test]
    fn meta_overwrites() {
        let mut s = Store::open_in_memory().unwrap();
        assert_eq!(s.get_meta("k").unwrap(), None);
        s.set_meta("k", "1").unwrap();
        s.set_meta("k", "2").unwrap();
        assert_eq!(s.get_meta("k").unwrap().as_deref(), Some("2"));
    }

    #[test]
    fn a_garbage_file_is_moved_aside_and_rebuilt() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("state.db");
        let garbage: Vec<u8> = (0..8192u32).map(|i| (i * 7 % 251) as u8).collect();
        std::fs::write(&path, &garbage).unwrap();
        let mut s = Store::open(&path).unwrap();
        let rebuilt = s.rebuilt().expect("rebuilt").clone();
        assert_eq!(rebuilt.moved_to, dir.path().join("state.db.corrupt-1"));
        assert_eq!(std::fs::read(&rebuilt.moved_to).unwrap(), garbage);
        assert!(
            s.open_notes()[0].contains("rebuilt"),
            "{:?}",
            s.open_notes()
        );
        // The fresh file works and survives a reopen without another rebuild.
        s.set_meta("k", "v").unwrap();
        drop(s);
        let s = Store::open(&path).unwrap();
        assert!(s.rebuilt().is_none());
        assert_eq!(s.get_meta("k").unwrap().as_deref(), Some("v"));
    }

    #[test]
    fn a_second_corruption_gets_the_next_free_name() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("state.db");
        std::fs::write(dir.path().join("state.db.corrupt-1"), "old").unwrap();
        std::fs::write(&path, vec![0xAB; 4096]).unwrap();
        let s = Store::open(&path).unwrap();
        assert_eq!(
            s.rebuilt().unwrap().moved_to,
            dir.path().join("state.db.corrupt-2")
        );
    }

    #[test]
    fn a_damaged_page_fails_the_check_and_is_rebuilt() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("state.db");
        {
            let mut s = Store::open(&path).unwrap();
            for i in 0..500 {
                s.set_meta(&format!("key-{i}"), &"x".repeat(200)).unwrap();
            }
            // Fold the WAL into the main file so the damage below hits real pages.
            s.conn()
                .execute_batch("PRAGMA wal_checkpoint(TRUNCATE); PRAGMA journal_mode = DELETE;")
                .unwrap();
        }
        let mut bytes = std::fs::read(&path).unwrap();
        assert!(bytes.len() > 8192);
        // Keep the header valid (so it still opens), overwrite pages after the first.
        for b in &mut bytes[4096..] {
            *b = 0x5A;
        }
        std::fs::write(&path, &bytes).unwrap();
        let s = Store::open(&path).unwrap();
        assert!(s.rebuilt().is_some());
        assert_eq!(s.get_meta("key-1").unwrap(), None);
    }

    #[test]
    fn a_deleted_file_starts_fresh() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("state.db");
        {
            let mut s = Store::open(&path).unwrap();
            s.set_meta("k", "v").unwrap();
        }
        std::fs::remove_file(&path).unwrap();
        let s = Store::open(&path).unwrap();
        assert!(s.rebuilt().is_none());
        assert_eq!(s.get_meta("k").unwrap(), None);
        assert_eq!(s.schema_version().unwrap(), migrations::latest());
    }

    #[test]
    fn a_leftover_journal_of_a_deleted_file_is_not_replayed() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("state.db");
        std::fs::write(wal_path(&path), vec![0x11; 4096]).unwrap();
        let mut s = Store::open(&path).unwrap();
        s.set_meta("k", "v").unwrap();
        assert_eq!(s.get_meta("k").unwrap().as_deref(), Some("v"));
    }

    #[test]
    fn a_full_database_is_a_clear_disk_full_error() {
        let mut s = Store::open_in_memory().unwrap();
        let pages: i64 = s
            .conn()
            .query_row("PRAGMA page_count", [], |r| r.get(0))
            .unwrap();
        // Capping the page count makes SQLite answer SQLITE_FULL, as a full disk does.
        s.conn()
            .execute_batch(&format!("PRAGMA max_page_count = {pages}"))
            .unwrap();
        let err = (0..10_000)
            .find_map(|i| s.set_meta(&format!("k{i}"), &"x".repeat(1000)).err())
            .expect("the database filled up");
        assert!(err.is_disk_full(), "{err:?}");
        assert_eq!(
            err.user_message(),
            "The disk is full; free some space, nothing was lost."
        );
        assert!(matches!(
            err,
            StoreError::DiskFull {
                source: rusqlite::Error::SqliteFailure(..),
                ..
            }
        ));
    }

    #[test]
    fn an_unwritable_folder_is_a_create_dir_error() {
        let dir = tempfile::tempdir().unwrap();
        let blocker = dir.path().join("blocker");
        std::fs::write(&blocker, "x").unwrap();
        let err = Store::open(&blocker.join("state.db")).unwrap_err();
        assert!(matches!(err, StoreError::CreateDir { .. }), "{err:?}");
        assert!(err.user_message().contains("could not be created"));
    }
}
