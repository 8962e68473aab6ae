//! What Coda has accepted: for each table and row key, the hash of the row
//! last accepted (and Coda's row id when known).

use chrono::{DateTime, Utc};
use rusqlite::{params, OptionalExtension};

use super::error::sql;
use super::{from_ms, to_ms, Store, StoreError};
use crate::tables::Table;

/// A row Coda accepted.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WrittenRow {
    /// The row's key (its key column's value).
    pub key: String,
    /// The hash of the row's content as accepted.
    pub hash: String,
    /// Coda's row id (`i-…`), when known.
    pub coda_row_id: Option<String>,
    /// When Coda accepted it.
    pub written_at: DateTime<Utc>,
}

impl Store {
    /// The hash of the row Coda last accepted under `key`.
    pub fn row_hash(&self, table: Table, key: &str) -> Result<Option<String>, StoreError> {
        self.conn
            .query_row(
                "SELECT hash FROM written_rows WHERE table_key = ?1 AND row_key = ?2",
                [table.key(), key],
                |r| r.get(0),
            )
            .optional()
            .map_err(sql("reading a written row"))
    }

    /// Records that Coda accepted these `(key, hash)` rows, all in one
    /// transaction: after a kill either all are recorded or none.
    pub fn mark_written<K: AsRef<str>, H: AsRef<str>>(
        &mut self,
        table: Table,
        rows: &[(K, H)],
        at: DateTime<Utc>,
    ) -> Result<(), StoreError> {
        const OP: &str = "recording written rows";
        let tx = self.conn.transaction().map_err(sql(OP))?;
        {
            let mut stmt = tx
                .prepare_cached(
                    "INSERT INTO written_rows(table_key, row_key, hash, written_at)
                     VALUES (?1, ?2, ?3, ?4)
                     ON CONFLICT(table_key, row_key) DO UPDATE SET
                        hash = excluded.hash, written_at = excluded.written_at",
                )
                .map_err(sql(OP))?;
            for (key, hash) in rows {
                stmt.execute(params![table.key(), key.as_ref(), hash.as_ref(), to_ms(at)])
                    .map_err(sql(OP))?;
            }
        }
        tx.commit().map_err(sql(OP))
    }

    /// The keys of every row Coda accepted in `table`, sorted.
    pub fn written_keys(&self, table: Table) -> Result<Vec<String>, StoreError> {
        const OP: &str = "reading written rows";
        let mut stmt = self
            .conn
            .prepare_cached(
                "SELECT row_key FROM written_rows WHERE table_key = ?1 ORDER BY row_key",
            )
            .map_err(sql(OP))?;
        let keys = stmt
            .query_map([table.key()], |r| r.get(0))
            .map_err(sql(OP))?
            .collect::<rusqlite::Result<Vec<String>>>()
            .map_err(sql(OP));
        keys
    }

    /// Every row Coda accepted in `table`, sorted by key.
    pub fn written_rows(&self, table: Table) -> Result<Vec<WrittenRow>, StoreError> {
        const OP: &str = "reading written rows";
        let mut stmt = self
            .conn
            .prepare_cached(
                "SELECT row_key, hash, coda_row_id, written_at FROM written_rows
                 WHERE table_key = ?1 ORDER BY row_key",
            )
            .map_err(sql(OP))?;
        let rows = stmt
            .query_map([table.key()], |r| {
                Ok(WrittenRow {
                    key: r.get(0)?,
                    hash: r.get(1)?,
                    coda_row_id: r.get(2)?,
                    written_at: from_ms(3, r.get(3)?)?,
                })
            })
            .map_err(sql(OP))?
            .collect::<rusqlite::Result<Vec<_>>>()
            .map_err(sql(OP));
        rows
    }

    /// Records Coda's row id for a written row; `false` when the row is not
    /// recorded as written.
    pub fn set_coda_row_id(
        &mut self,
        table: Table,
        key: &str,
        row_id: &str,
    ) -> Result<bool, StoreError> {
        self.conn
            .execute(
                "UPDATE written_rows SET coda_row_id = ?3 WHERE table_key = ?1 AND row_key = ?2",
                [table.key(), key, row_id],
            )
            .map(|n| n > 0)
            .map_err(sql("recording a Coda row id"))
    }

    /// Coda's row id for a written row, when known.
    pub fn coda_row_id(&self, table: Table, key: &str) -> Result<Option<String>, StoreError> {
        self.conn
            .query_row(
                "SELECT coda_row_id FROM written_rows WHERE table_key = ?1 AND row_key = ?2",
                [table.key(), key],
                |r| r.get::<_, Option<String>>(0),
            )
            .optional()
            .map(Option::flatten)
            .map_err(sql("reading a Coda row id"))
    }

    /// Forgets rows (deleted from Coda), in one transaction.
    pub fn forget_rows<K: AsRef<str>>(
        &mut self,
        table: Table,
        keys: &[K],
    ) -> Result<(), StoreError> {
        const OP: &str = "forgetting written rows";
        let tx = self.conn.transaction().map_err(sql(OP))?;
        {
            let mut stmt = tx
                .prepare_cached("DELETE FROM written_rows WHERE table_key = ?1 AND row_key = ?2")
                .map_err(sql(OP))?;
            for key in keys {
                stmt.execute([table.key(), key.as_ref()]).map_err(sql(OP))?;
            }
        }
        tx.commit().map_err(sql(OP))
    }

    /// Forgets every row of `table`, so the next sync sends them all
    /// (`--full`, or a doc that was rebuilt).
    pub fn clear_written(&mut self, table: Table) -> Result<(), StoreError> {
        self.conn
            .execute(
                "DELETE FROM written_rows WHERE table_key = ?1",
                [table.key()],
            )
            .map(drop)
            .map_err(sql("forgetting written rows"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;

    fn at() -> DateTime<Utc> {
        Utc.with_ymd_and_hms(2024, 5, 1, 12, 0, 0).unwrap()
    }

    #[test]
    fn marked_rows_have_their_hash_per_table() {
        let mut s = Store::open_in_memory().unwrap();
        s.mark_written(Table::Workouts, &[("w1", "h1"), ("w2", "h2")], at())
            .unwrap();
        assert_eq!(
            s.row_hash(Table::Workouts, "w1").unwrap().as_deref(),
            Some("h1")
        );
        assert_eq!(s.row_hash(Table::FriendWorkouts, "w1").unwrap(), None);
        s.mark_written(
            Table::Workouts,
            &[("w1".to_owned(), "h1b".to_owned())],
            at(),
        )
        .unwrap();
        assert_eq!(
            s.row_hash(Table::Workouts, "w1").unwrap().as_deref(),
            Some("h1b")
        );
        assert_eq!(s.written_keys(Table::Workouts).unwrap(), vec!["w1", "w2"]);
    }

    #[test]
    fn mark_written_is_all_or_nothing() {
        let mut s = Store::open_in_memory().unwrap();
        // A trigger that fails on the third row stands in for a failure midway (disk full, kill).
        s.conn()
            .execute_batch(
                "CREATE TEMP TRIGGER fail_third BEFORE INSERT ON written_rows
                 WHEN NEW.row_key = 'c' BEGIN SELECT RAISE(ABORT, 'boom'); END;",
            )
            .unwrap();
        let err = s
            .mark_written(Table::Friends, &[("a", "1"), ("b", "2"), ("c", "3")], at())
            .unwrap_err();
        assert!(err.to_string().contains("boom"), "{err}");
        assert!(s.written_keys(Table::Friends).unwrap().is_empty());
    }

    #[test]
    fn coda_row_ids_are_kept_across_rewrites() {
        let mut s = Store::open_in_memory().unwrap();
        assert!(!s.set_coda_row_id(Table::Friends, "u1", "i-1").unwrap());
        s.mark_written(Table::Friends, &[("u1", "h")], at())
            .unwrap();
        assert!(s.set_coda_row_id(Table::Friends, "u1", "i-1").unwrap());
        s.mark_written(Table::Friends, &[("u1", "h2")], at())
            .unwrap();
        assert_eq!(
            s.coda_row_id(Table::Friends, "u1").unwrap().as_deref(),
            Some("i-1")
        );
        let rows = s.written_rows(Table::Friends).unwrap();
        assert_eq!(
            rows,
            vec![WrittenRow {
                key: "u1".into(),
                hash: "h2".into(),
                coda_row_id: Some("i-1".into()),
                written_at: at(),
            }]
        );
    }

    #[test]
    fn forget_and_clear_touch_only_their_table() {
        let mut s = Store::open_in_memory().unwrap();
        s.mark_written(Table::Workouts, &[("a", "1"), ("b", "2")], at())
            .unwrap();
        s.mark_written(Table::Instructors, &[("i", "1")], at())
            .unwrap();
        s.forget_rows(Table::Workouts, &["a"]).unwrap();
        assert_eq!(s.written_keys(Table::Workouts).unwrap(), vec!["b"]);
        s.clear_written(Table::Workouts).unwrap();
        assert!(s.written_keys(Table::Workouts).unwrap().is_empty());
        assert_eq!(s.written_keys(Table::Instructors).unwrap(), vec!["i"]);
    }
}
