//! Where the state's knowledge holds: the Coda doc and table each table's
//! written rows went to, and the Peloton account the workouts belong to.
//!
//! A row counts as written only in the doc and table it was written to: when
//! either changes (another doc in the settings, a table deleted and made
//! again), the table's written rows are forgotten in the same transaction
//! that records the new binding, so the next write sends every row (keyed,
//! never a duplicate). Another Peloton account starts a fresh workout state.

use rusqlite::{params, OptionalExtension};

use super::error::sql;
use super::{Store, StoreError};
use crate::tables::Table;

/// The meta key holding the Peloton account the workouts belong to.
const META_USER: &str = "peloton.user_id";

/// What [`Store::bind_table`] found changed; anything but `Same` forgot the
/// table's written rows.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Rebound {
    /// The same doc, table and columns (or a first binding).
    Same,
    /// Another doc, or the table was made again.
    Table,
    /// The same table with other columns (one made again or added).
    Columns,
}

impl Store {
    /// Binds `table`'s written rows to `doc_id`, `table_id` and the
    /// table's `columns` (a fingerprint of their IDs). Another doc or table,
    /// or other columns (one deleted and made again, one added), forget
    /// every written row of `table` in the same transaction, and say which.
    /// A first binding (a state from before bindings existed) adopts the
    /// rows, and so does a binding from before columns were kept: the
    /// row-count check finds them if they went elsewhere.
    pub fn bind_table(
        &mut self,
        table: Table,
        doc_id: &str,
        table_id: &str,
        columns: &str,
    ) -> Result<Rebound, StoreError> {
        const OP: &str = "recording where rows are written";
        let tx = self.conn.transaction().map_err(sql(OP))?;
        let old: Option<(String, String, String)> = tx
            .query_row(
                "SELECT doc_id, table_id, columns FROM table_bindings WHERE table_key = ?1",
                [table.key()],
                |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)),
            )
            .optional()
            .map_err(sql(OP))?;
        let rebound = match &old {
            Some((d, t, _)) if d != doc_id || t != table_id => Rebound::Table,
            Some((_, _, c)) if !c.is_empty() && c != columns => Rebound::Columns,
            Some((_, _, c)) if c == columns => return Ok(Rebound::Same),
            _ => Rebound::Same,
        };
        if rebound != Rebound::Same {
            tx.execute(
                "DELETE FROM written_rows WHERE table_key = ?1",
                [table.key()],
            )
            .map_err(sql(OP))?;
        }
        tx.execute(
            "INSERT INTO table_bindings(table_key, doc_id, table_id, columns) VALUES (?1, ?2, ?3, ?4)
             ON CONFLICT(table_key) DO UPDATE SET doc_id = excluded.doc_id,
                 table_id = excluded.table_id, columns = excluded.columns",
            params![table.key(), doc_id, table_id, columns],
        )
        .map_err(sql(OP))?;
        tx.commit().map_err(sql(OP))?;
        Ok(rebound)
    }

    /// Binds the workout state to the Peloton account `user_id`. Returns true
    /// when another account's state was there: then, in one transaction, its
    /// workouts, listing queue, friends and their workouts, the Workouts
    /// rows counted as written and the meta keys in `forget` are dropped.
    /// Friends' and Personal Bests rows stay counted as written, so the run
    /// deletes from the doc those the new account does not have (friends
    /// who left, bests it never set). A first binding adopts what is there.
    pub fn bind_user(&mut self, user_id: &str, forget: &[&str]) -> Result<bool, StoreError> {
        const OP: &str = "recording the Peloton account";
        let tx = self.conn.transaction().map_err(sql(OP))?;
        let old: Option<String> = tx
            .query_row("SELECT value FROM meta WHERE key = ?1", [META_USER], |r| {
                r.get(0)
            })
            .optional()
            .map_err(sql(OP))?;
        if old.as_deref() == Some(user_id) {
            return Ok(false);
        }
        let changed = old.is_some();
        if changed {
            tx.execute_batch(
                "DELETE FROM workouts; DELETE FROM listing_queue;
                 DELETE FROM friend_workouts; DELETE FROM friends;",
            )
            .map_err(sql(OP))?;
            tx.execute(
                "DELETE FROM written_rows WHERE table_key = ?1",
                [Table::Workouts.key()],
            )
            .map_err(sql(OP))?;
            for key in forget {
                tx.execute("DELETE FROM meta WHERE key = ?1", [key])
                    .map_err(sql(OP))?;
            }
        }
        tx.execute(
            "INSERT INTO meta(key, value) VALUES (?1, ?2)
             ON CONFLICT(key) DO UPDATE SET value = excluded.value",
            [META_USER, user_id],
        )
        .map_err(sql(OP))?;
        tx.commit().map_err(sql(OP))?;
        Ok(changed)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::StoredWorkout;
    use chrono::{DateTime, Utc};

    fn at() -> DateTime<Utc> {
        DateTime::UNIX_EPOCH
    }

    #[test]
    fn another_doc_or_table_forgets_that_tables_rows_only() {
        let mut s = Store::open_in_memory().unwrap();
        let same = Rebound::Same;
        assert_eq!(
            s.bind_table(Table::Workouts, "docA", "grid-1", "c")
                .unwrap(),
            same
        );
        assert_eq!(
            s.bind_table(Table::Friends, "docA", "grid-2", "c").unwrap(),
            same
        );
        s.mark_written(Table::Workouts, &[("w1", "h")], at())
            .unwrap();
        s.mark_written(Table::Friends, &[("f1", "h")], at())
            .unwrap();
        assert_eq!(
            s.bind_table(Table::Workouts, "docA", "grid-1", "c")
                .unwrap(),
            same
        );
        assert_eq!(s.written_keys(Table::Workouts).unwrap(), vec!["w1"]);

        let moved = s
            .bind_table(Table::Workouts, "docB", "grid-1", "c")
            .unwrap();
        assert_eq!(moved, Rebound::Table);
        assert!(s.written_keys(Table::Workouts).unwrap().is_empty());
        assert_eq!(s.written_keys(Table::Friends).unwrap(), vec!["f1"]);

        let made_again = s.bind_table(Table::Friends, "docA", "grid-9", "c").unwrap();
        assert_eq!(made_again, Rebound::Table);
        assert!(s.written_keys(Table::Friends).unwrap().is_empty());
    }

    #[test]
    fn other_columns_forget_the_tables_rows() {
        let mut s = Store::open_in_memory().unwrap();
        s.bind_table(Table::Workouts, "docA", "grid-1", "c1")
            .unwrap();
        s.mark_written(Table::Workouts, &[("w1", "h")], at())
            .unwrap();
        let changed = s
            .bind_table(Table::Workouts, "docA", "grid-1", "c2")
            .unwrap();
        assert_eq!(changed, Rebound::Columns);
        assert!(s.written_keys(Table::Workouts).unwrap().is_empty());
        s.mark_written(Table::Workouts, &[("w1", "h")], at())
            .unwrap();
        let again = s
            .bind_table(Table::Workouts, "docA", "grid-1", "c2")
            .unwrap();
        assert_eq!(again, Rebound::Same);
        assert_eq!(s.written_keys(Table::Workouts).unwrap(), vec!["w1"]);
    }

    #[test]
    fn a_binding_from_before_columns_were_kept_adopts_its_rows() {
        let mut s = Store::open_in_memory().unwrap();
        s.bind_table(Table::Workouts, "docA", "grid-1", "").unwrap();
        s.mark_written(Table::Workouts, &[("w1", "h")], at())
            .unwrap();
        let first = s
            .bind_table(Table::Workouts, "docA", "grid-1", "c1")
            .unwrap();
        assert_eq!(first, Rebound::Same);
        assert_eq!(s.written_keys(Table::Workouts).unwrap(), vec!["w1"]);
    }

    #[test]
    fn a_first_binding_adopts_rows_written_before_bindings_existed() {
        let mut s = Store::open_in_memory().unwrap();
        s.mark_written(Table::Workouts, &[("w1", "h")], at())
            .unwrap();
        let first = s
            .bind_table(Table::Workouts, "docA", "grid-1", "c")
            .unwrap();
        assert_eq!(first, Rebound::Same);
        assert_eq!(s.written_keys(Table::Workouts).unwrap(), vec!["w1"]);
    }

    #[test]
    fn another_account_starts_a_fresh_workout_state() {
        let mut s = Store::open_in_memory().unwrap();
        assert!(!s.bind_user("alice", &["k"]).unwrap());
        s.save_workout(
            &StoredWorkout {
                id: "w1".into(),
                user_id: "alice".into(),
                start_time: at(),
                fingerprint: "fp".into(),
                detail_json: "{}".into(),
                graph_json: None,
            },
            at(),
        )
        .unwrap();
        s.mark_written(Table::Workouts, &[("w1", "h")], at())
            .unwrap();
        s.mark_written(Table::Friends, &[("f1", "h")], at())
            .unwrap();
        s.set_meta("k", "v").unwrap();
        assert!(!s.bind_user("alice", &["k"]).unwrap());
        assert_eq!(s.workout_count().unwrap(), 1);

        assert!(s.bind_user("bob", &["k"]).unwrap());
        assert_eq!(s.workout_count().unwrap(), 0);
        assert!(s.written_keys(Table::Workouts).unwrap().is_empty());
        assert_eq!(s.get_meta("k").unwrap(), None);
        // Alice's friends' rows stay known, so the run deletes them.
        assert_eq!(s.written_keys(Table::Friends).unwrap(), vec!["f1"]);
    }
}
