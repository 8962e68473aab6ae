//! The local state's schema, as a list of migrations numbered by SQLite's
//! `user_version`.
//!
//! Invariant: a migration, once released, never changes; a new schema is a
//! new entry at the end. Each one runs in its own transaction together with
//! the `user_version` bump, so a kill midway leaves the old version intact.
//!
//! Times are INTEGER Unix milliseconds (UTC).

use rusqlite::{Connection, TransactionBehavior};

use super::error::{sql, StoreError};

/// Migration `i` takes the schema from version `i` to `i + 1`.
pub(crate) const MIGRATIONS: &[&str] = &[
    // 1: the first schema.
    r#"
    CREATE TABLE workouts (
        id          TEXT PRIMARY KEY NOT NULL,
        user_id     TEXT NOT NULL,
        start_time  INTEGER NOT NULL,
        -- the list entry's fingerprint, computed by the engine, to tell a changed workout
        fingerprint TEXT NOT NULL,
        -- raw Peloton JSON, so rows can be derived again without asking Peloton
        detail_json TEXT NOT NULL,
        graph_json  TEXT,
        fetched_at  INTEGER NOT NULL
    );
    CREATE INDEX workouts_by_start ON workouts(start_time);

    -- the hash of each row Coda last accepted, per table
    CREATE TABLE written_rows (
        table_key   TEXT NOT NULL,
        row_key     TEXT NOT NULL,
        hash        TEXT NOT NULL,
        coda_row_id TEXT,
        written_at  INTEGER NOT NULL,
        PRIMARY KEY (table_key, row_key)
    ) WITHOUT ROWID;

    CREATE TABLE friends (
        id             TEXT PRIMARY KEY NOT NULL,
        username       TEXT,
        location       TEXT,
        image_url      TEXT,
        is_private     INTEGER NOT NULL,
        total_workouts INTEGER,
        json           TEXT NOT NULL,
        updated_at     INTEGER NOT NULL
    );

    CREATE TABLE friend_workouts (
        id         TEXT PRIMARY KEY NOT NULL,
        friend_id  TEXT NOT NULL,
        start_time INTEGER NOT NULL,
        json       TEXT NOT NULL,
        updated_at INTEGER NOT NULL
    );
    CREATE INDEX friend_workouts_by_friend ON friend_workouts(friend_id, start_time);
    CREATE INDEX friend_workouts_by_start ON friend_workouts(start_time);

    CREATE TABLE runs (
        id                INTEGER PRIMARY KEY,
        started_at        INTEGER NOT NULL,
        finished_at       INTEGER,
        ok                INTEGER,
        seconds           REAL,
        written_json      TEXT,
        deleted_json      TEXT,
        errors_json       TEXT,
        notes_json        TEXT,
        new_workouts_json TEXT,
        -- set when a later run found this one never finished (killed, crashed)
        interrupted       INTEGER NOT NULL DEFAULT 0
    );

    CREATE TABLE meta (
        key   TEXT PRIMARY KEY NOT NULL,
        value TEXT NOT NULL
    );
    "#,
    // 2: the full-resolution archive of performance graphs (issue 17).
    r#"
    CREATE TABLE graph_archive (
        workout_id  TEXT PRIMARY KEY NOT NULL,
        -- the graph at every_n=1, exactly as Peloton sent it, deflated
        body        BLOB NOT NULL,
        -- its length before deflating, to tell a damaged blob
        raw_len     INTEGER NOT NULL,
        archived_at INTEGER NOT NULL
    );
    "#,
    // 3: where the rows went, whose workouts these are, and what was listed
    // but not fetched yet (issue 15).
    r#"
    -- the Coda doc and table the written rows of each table went to; another
    -- doc or table means none of them counts as written there
    CREATE TABLE table_bindings (
        table_key TEXT PRIMARY KEY NOT NULL,
        doc_id    TEXT NOT NULL,
        table_id  TEXT NOT NULL
    );

    -- workouts seen in a listing and not stored yet: they stay here, whatever
    -- stops a run, until their detail is stored
    CREATE TABLE listing_queue (
        id         TEXT PRIMARY KEY NOT NULL,
        user_id    TEXT NOT NULL,
        -- the list entry as received, for its fingerprint and start time
        entry_json TEXT NOT NULL,
        is_new     INTEGER NOT NULL,
        queued_at  INTEGER NOT NULL
    );
    "#,
    // 4: performance graphs Peloton does not send (404) or sends in a form
    // that does not decode: the archive backfill passes them by until
    // `retry_after` instead of stopping at them.
    r#"
    CREATE TABLE graph_unavailable (
        workout_id  TEXT PRIMARY KEY NOT NULL,
        retry_after INTEGER NOT NULL
    );
    "#,
    // 5: the columns each table's rows were written to: a column deleted
    // and made again (a new column ID) must be filled again. Empty for
    // bindings from before: the first run adopts what it finds.
    r#"
    ALTER TABLE table_bindings ADD COLUMN columns TEXT NOT NULL DEFAULT '';
    "#,
];

/// The schema version this build writes.
pub(crate) fn latest() -> i64 {
    i64::try_from(MIGRATIONS.len()).unwrap_or(i64::MAX)
}

/// The file's schema version.
pub(crate) fn version(conn: &Connection) -> Result<i64, StoreError> {
    conn.query_row("PRAGMA user_version", [], |r| r.get(0))
        .map_err(sql("reading the schema version"))
}

/// Brings the schema up to [`latest`]. Safe to run on every open and from
/// two processes at once: each step re-reads the version inside its
/// write transaction.
pub(crate) fn migrate(conn: &mut Connection) -> Result<(), StoreError> {
    let found = version(conn)?;
    if found > latest() {
        return Err(StoreError::TooNew {
            found,
            supported: latest(),
        });
    }
    for (i, step) in MIGRATIONS.iter().enumerate() {
        let target = i64::try_from(i + 1).unwrap_or(i64::MAX);
        let tx = conn
            .transaction_with_behavior(TransactionBehavior::Immediate)
            .map_err(sql("starting a schema migration"))?;
        let current: i64 = tx
            .query_row("PRAGMA user_version", [], |r| r.get(0))
            .map_err(sql("reading the schema version"))?;
        if current >= target {
            continue;
        }
        tx.execute_batch(step)
            .map_err(sql("migrating the schema"))?;
        tx.pragma_update(None, "user_version", target)
            .map_err(sql("migrating the schema"))?;
        tx.commit().map_err(sql("migrating the schema"))?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn migrating_twice_changes_nothing() {
        let mut conn = Connection::open_in_memory().unwrap();
        migrate(&mut conn).unwrap();
        assert_eq!(version(&conn).unwrap(), latest());
        conn.execute("INSERT INTO meta(key, value) VALUES ('k', 'v')", [])
            .unwrap();
        migrate(&mut conn).unwrap();
        let v: String = conn
            .query_row("SELECT value FROM meta WHERE key = 'k'", [], |r| r.get(0))
            .unwrap();
        assert_eq!(v, "v");
        assert_eq!(version(&conn).unwrap(), latest());
    }

    #[test]
    fn a_newer_schema_is_refused() {
        let mut conn = Connection::open_in_memory().unwrap();
        conn.pragma_update(None, "user_version", latest() + 1)
            .unwrap();
        let err = migrate(&mut conn).unwrap_err();
        assert!(matches!(err, StoreError::TooNew { .. }), "{err:?}");
        assert!(err.user_message().contains("newer"));
    }
}
