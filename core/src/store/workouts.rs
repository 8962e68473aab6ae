//! The user's workouts as fetched from Peloton, raw JSON kept.

use chrono::{DateTime, Utc};
use rusqlite::{params, OptionalExtension, Row};

use super::error::sql;
use super::{from_ms, to_ms, Store, StoreError};

/// A workout as the local state keeps it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StoredWorkout {
    /// Peloton's workout id.
    pub id: String,
    /// The owner's user id.
    pub user_id: String,
    /// When it started.
    pub start_time: DateTime<Utc>,
    /// The engine's fingerprint of the workout's list entry: a different
    /// fingerprint means the workout changed and is fetched again.
    pub fingerprint: String,
    /// Peloton's workout detail, as received.
    pub detail_json: String,
    /// Peloton's performance graph, as received (absent when Peloton has none).
    pub graph_json: Option<String>,
}

const COLUMNS: &str = "id, user_id, start_time, fingerprint, detail_json, graph_json";

fn read(r: &Row<'_>) -> rusqlite::Result<StoredWorkout> {
    Ok(StoredWorkout {
        id: r.get(0)?,
        user_id: r.get(1)?,
        start_time: from_ms(2, r.get(2)?)?,
        fingerprint: r.get(3)?,
        detail_json: r.get(4)?,
        graph_json: r.get(5)?,
    })
}

impl Store {
    /// The fingerprint recorded for workout `id`, if it was fetched before.
    pub fn workout_fingerprint(&self, id: &str) -> Result<Option<String>, StoreError> {
        self.conn
            .query_row(
                "SELECT fingerprint FROM workouts WHERE id = ?1",
                [id],
                |r| r.get(0),
            )
            .optional()
            .map_err(sql("reading a workout"))
    }

    /// Records a fetched workout (inserting or replacing it), fetched at `at`.
    /// It leaves the listing queue in the same transaction.
    pub fn save_workout(&mut self, w: &StoredWorkout, at: DateTime<Utc>) -> Result<(), StoreError> {
        let tx = self.conn.transaction().map_err(sql("saving a workout"))?;
        tx.execute("DELETE FROM listing_queue WHERE id = ?1", [&w.id])
            .map_err(sql("saving a workout"))?;
        tx
            .execute(
                "INSERT INTO workouts(id, user_id, start_time, fingerprint, detail_json, graph_json, fetched_at)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)
                 ON CONFLICT(id) DO UPDATE SET
                    user_id = excluded.user_id, start_time = excluded.start_time,
                    fingerprint = excluded.fingerprint, detail_json = excluded.detail_json,
                    graph_json = excluded.graph_json, fetched_at = excluded.fetched_at",
                params![
                    w.id,
                    w.user_id,
                    to_ms(w.start_time),
                    w.fingerprint,
                    w.detail_json,
                    w.graph_json,
                    to_ms(at)
                ],
            )
            .map_err(sql("saving a workout"))?;
        tx.commit().map_err(sql("saving a workout"))
    }

    /// One stored workout.
    pub fn workout(&self, id: &str) -> Result<Option<StoredWorkout>, StoreError> {
        self.conn
            .query_row(
                &format!("SELECT {COLUMNS} FROM workouts WHERE id = ?1"),
                [id],
                read,
            )
            .optional()
            .map_err(sql("reading a workout"))
    }

    /// Every stored workout, oldest first (to derive every row again).
    pub fn stored_workouts(&self) -> Result<Vec<StoredWorkout>, StoreError> {
        self.query_workouts(
            &format!("SELECT {COLUMNS} FROM workouts ORDER BY start_time ASC, id ASC"),
            [],
        )
    }

    /// The `limit` latest workouts, newest first.
    pub fn recent_workouts(&self, limit: usize) -> Result<Vec<StoredWorkout>, StoreError> {
        let limit = i64::try_from(limit).unwrap_or(i64::MAX);
        self.query_workouts(
            &format!("SELECT {COLUMNS} FROM workouts ORDER BY start_time DESC, id DESC LIMIT ?1"),
            [limit],
        )
    }

    /// How many workouts are stored.
    pub fn workout_count(&self) -> Result<u64, StoreError> {
        self.conn
            .query_row("SELECT COUNT(*) FROM workouts", [], |r| r.get::<_, i64>(0))
            .map(|n| u64::try_from(n).unwrap_or(0))
            .map_err(sql("counting workouts"))
    }

    /// Forgets workouts (e.g. deleted on Peloton), in one transaction.
    pub fn delete_workouts<S: AsRef<str>>(&mut self, ids: &[S]) -> Result<(), StoreError> {
        let tx = self.conn.transaction().map_err(sql("deleting workouts"))?;
        {
            let mut stmt = tx
                .prepare_cached("DELETE FROM workouts WHERE id = ?1")
                .map_err(sql("deleting workouts"))?;
            let mut archived = tx
                .prepare_cached("DELETE FROM graph_archive WHERE workout_id = ?1")
                .map_err(sql("deleting workouts"))?;
            let mut unavailable = tx
                .prepare_cached("DELETE FROM graph_unavailable WHERE workout_id = ?1")
                .map_err(sql("deleting workouts"))?;
            for id in ids {
                stmt.execute([id.as_ref()])
                    .map_err(sql("deleting workouts"))?;
                archived
                    .execute([id.as_ref()])
                    .map_err(sql("deleting workouts"))?;
                unavailable
                    .execute([id.as_ref()])
                    .map_err(sql("deleting workouts"))?;
            }
        }
        tx.commit().map_err(sql("deleting workouts"))
    }

    fn query_workouts<P: rusqlite::Params>(
        &self,
        q: &str,
        p: P,
    ) -> Result<Vec<StoredWorkout>, StoreError> {
        let mut stmt = self
            .conn
            .prepare_cached(q)
            .map_err(sql("reading workouts"))?;
        let rows = stmt
            .query_map(p, read)
            .map_err(sql("reading workouts"))?
            .collect::<rusqlite::Result<Vec<_>>>()
            .map_err(sql("reading workouts"));
        rows
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;

    fn t(secs: i64) -> DateTime<Utc> {
        Utc.timestamp_opt(secs, 0).unwrap()
    }

    fn w(id: &str, start: i64, fp: &str) -> StoredWorkout {
        StoredWorkout {
            id: id.into(),
            user_id: "me".into(),
            start_time: t(start),
            fingerprint: fp.into(),
            detail_json: format!("{{\"id\":\"{id}\"}}"),
            graph_json: Some("{}".into()),
        }
    }

    #[test]
    fn a_saved_workout_reads_back_and_its_fingerprint_is_known() {
        let mut s = Store::open_in_memory().unwrap();
        assert_eq!(s.workout_fingerprint("a").unwrap(), None);
        let a = StoredWorkout {
            graph_json: None,
            ..w("a", 1_700_000_000, "fp1")
        };
        s.save_workout(&a, t(1_700_000_100)).unwrap();
        assert_eq!(s.workout_fingerprint("a").unwrap().as_deref(), Some("fp1"));
        assert_eq!(s.workout("a").unwrap(), Some(a));
        assert_eq!(s.workout_count().unwrap(), 1);
    }

    #[test]
    fn saving_again_replaces_instead_of_duplicating() {
        let mut s = Store::open_in_memory().unwrap();
        s.save_workout(&w("a", 100, "fp1"), t(1)).unwrap();
        let changed = w("a", 100, "fp2");
        s.save_workout(&changed, t(2)).unwrap();
        assert_eq!(s.workout_count().unwrap(), 1);
        assert_eq!(s.stored_workouts().unwrap(), vec![changed]);
    }

    #[test]
    fn recent_is_newest_first_and_stored_is_oldest_first() {
        let mut s = Store::open_in_memory().unwrap();
        for (id, start) in [("b", 200), ("a", 100), ("c", 300)] {
            s.save_workout(&w(id, start, "f"), t(1)).unwrap();
        }
        let ids = |v: Vec<StoredWorkout>| v.into_iter().map(|w| w.id).collect::<Vec<_>>();
        assert_eq!(ids(s.recent_workouts(2).unwrap()), vec!["c", "b"]);
        assert_eq!(ids(s.stored_workouts().unwrap()), vec!["a", "b", "c"]);
    }

    #[test]
    fn deleted_workouts_are_forgotten() {
        let mut s = Store::open_in_memory().unwrap();
        s.save_workout(&w("a", 1, "f"), t(1)).unwrap();
        s.save_workout(&w("b", 2, "f"), t(1)).unwrap();
        s.delete_workouts(&["a"]).unwrap();
        assert_eq!(s.workout_fingerprint("a").unwrap(), None);
        assert_eq!(s.workout_count().unwrap(), 1);
    }
}
