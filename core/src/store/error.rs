//! What can go wrong with the local state, and the sentence a user sees.

use std::path::PathBuf;

use rusqlite::ErrorCode;

/// An error of the local state.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// The folder that holds the state could not be created.
    #[error("cannot create the local state folder {path}: {source}")]
    CreateDir {
        /// The folder.
        path: PathBuf,
        /// The OS error.
        source: std::io::Error,
    },
    /// A damaged state file could not be moved aside.
    #[error("cannot move the damaged local state {from} to {to}: {source}")]
    MoveAside {
        /// The damaged file.
        from: PathBuf,
        /// Where it was to go.
        to: PathBuf,
        /// The OS error.
        source: std::io::Error,
    },
    /// The disk (or the database's size limit) is full.
    #[error("disk full while {op}: {source}")]
    DiskFull {
        /// What the store was doing.
        op: &'static str,
        /// SQLite's error, with its extended code.
        source: rusqlite::Error,
    },
    /// Another process held the database longer than the busy timeout.
    #[error("local state busy while {op}: {source}")]
    Busy {
        /// What the store was doing.
        op: &'static str,
        /// SQLite's error.
        source: rusqlite::Error,
    },
    /// The file cannot be opened or written (permissions, read-only disk).
    #[error("local state not writable while {op}: {source}")]
    NotWritable {
        /// What the store was doing.
        op: &'static str,
        /// SQLite's error.
        source: rusqlite::Error,
    },
    /// The database is damaged. On open this is repaired by rebuilding; it
    /// surfaces only when it happens mid-run or the rebuilt file fails too.
    #[error("local state damaged while {op}: {detail}")]
    Corrupt {
        /// What the store was doing.
        op: &'static str,
        /// SQLite's explanation or `quick_check`'s first finding.
        detail: String,
    },
    /// The file was written by a newer app whose schema this one does not know.
    #[error("local state schema version {found} is newer than this app's {supported}")]
    TooNew {
        /// The file's `user_version`.
        found: i64,
        /// The newest version this app knows.
        supported: i64,
    },
    /// A stored value does not decode (hand-edited or damaged).
    #[error("bad value in local state {table}.{column}: {detail}")]
    BadValue {
        /// The SQL table.
        table: &'static str,
        /// The column.
        column: &'static str,
        /// What was wrong.
        detail: String,
    },
    /// `finish_run` was given a run id that does not exist.
    #[error("no run with id {0} in the local state")]
    UnknownRun(i64),
    /// Any other SQLite failure.
    #[error("local state error while {op}: {source}")]
    Sqlite {
        /// What the store was doing.
        op: &'static str,
        /// SQLite's error.
        source: rusqlite::Error,
    },
}

const DISK_FULL: &str = "The disk is full; free some space, nothing was lost.";

impl StoreError {
    /// One sentence a user can act on.
    pub fn user_message(&self) -> String {
        match self {
            StoreError::CreateDir { source, .. } | StoreError::MoveAside { source, .. }
                if source.kind() == std::io::ErrorKind::StorageFull =>
            {
                DISK_FULL.to_owned()
            }
            StoreError::CreateDir { path, source } => format!(
                "The folder for the local state, {}, could not be created ({source}); check its permissions.",
                path.display()
            ),
            StoreError::MoveAside { from, source, .. } => format!(
                "The local state {} is damaged and could not be moved aside ({source}); delete it and sync again.",
                from.display()
            ),
            StoreError::DiskFull { .. } => DISK_FULL.to_owned(),
            StoreError::Busy { .. } => {
                "Another Peloton Coda Sync is using the local state; try again in a minute.".to_owned()
            }
            StoreError::NotWritable { source, .. } => format!(
                "The local state cannot be written ({source}); check the permissions of the app's data folder."
            ),
            StoreError::Corrupt { .. } => {
                "The local state is damaged; sync again and it will be rebuilt.".to_owned()
            }
            StoreError::TooNew { .. } => {
                "The local state was written by a newer Peloton Coda Sync; install the newer version again.".to_owned()
            }
            StoreError::BadValue { .. } | StoreError::UnknownRun(_) | StoreError::Sqlite { .. } => format!(
                "The local state could not be read or written ({self}); sync again, and if it keeps failing, delete state.db in the app's data folder."
            ),
        }
    }

    /// Whether this is the disk being full.
    pub fn is_disk_full(&self) -> bool {
        match self {
            StoreError::DiskFull { .. } => true,
            StoreError::CreateDir { source, .. } | StoreError::MoveAside { source, .. } => {
                source.kind() == std::io::ErrorKind::StorageFull
            }
            _ => false,
        }
    }

    /// Whether this means the file is damaged (opening rebuilds it).
    pub(crate) fn is_corrupt(&self) -> bool {
        matches!(self, StoreError::Corrupt { .. })
    }
}

/// Classifies a SQLite error by what the user can do about it.
pub(crate) fn sql(op: &'static str) -> impl FnOnce(rusqlite::Error) -> StoreError {
    move |source| {
        let code = match &source {
            rusqlite::Error::SqliteFailure(f, _) => Some(f.code),
            _ => None,
        };
        match code {
            Some(ErrorCode::DiskFull) => StoreError::DiskFull { op, source },
            Some(ErrorCode::DatabaseBusy | ErrorCode::DatabaseLocked) => {
                StoreError::Busy { op, source }
            }
            Some(ErrorCode::DatabaseCorrupt | ErrorCode::NotADatabase) => StoreError::Corrupt {
                op,
                detail: source.to_string(),
            },
            Some(ErrorCode::ReadOnly | ErrorCode::CannotOpen | ErrorCode::PermissionDenied) => {
                StoreError::NotWritable { op, source }
            }
            _ => StoreError::Sqlite { op, source },
        }
    }
}
