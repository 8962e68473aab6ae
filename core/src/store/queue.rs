//! The listing queue: workouts seen in a listing and not stored yet.
//!
//! Invariant: a workout enters the queue in the transaction that records the
//! listed page, and leaves it only in the transaction that stores its detail
//! ([`Store::save_workout`]) or when Peloton says it is gone. A run stopped at
//! any instant therefore leaves every listed, unfetched workout here for the
//! next run, whatever page it was on.

use chrono::{DateTime, Utc};
use rusqlite::params;

use super::error::sql;
use super::{to_ms, Store, StoreError};

/// A workout waiting to be fetched.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct QueuedWorkout {
    /// Peloton's workout id.
    pub id: String,
    /// The account it was listed for.
    pub user_id: String,
    /// The list entry as received (JSON).
    pub entry_json: String,
    /// Whether it was never stored before (a new workout, not a changed one).
    pub is_new: bool,
}

impl QueuedWorkout {
    /// A workout queued by its id alone (its list entry did not decode, or
    /// its stored copy cannot be read back): its detail decides.
    pub fn by_id(id: &str, user_id: &str, is_new: bool) -> Self {
        Self {
            id: id.to_string(),
            user_id: user_id.to_string(),
            entry_json: serde_json::json!({ "id": id }).to_string(),
            is_new,
        }
    }
}

impl Store {
    /// Queues listed workouts, all in one transaction; a workout queued
    /// already keeps its place and takes the newer entry.
    pub fn queue_workouts(
        &mut self,
        entries: &[QueuedWorkout],
        at: DateTime<Utc>,
    ) -> Result<(), StoreError> {
        const OP: &str = "queueing listed workouts";
        let tx = self.conn.transaction().map_err(sql(OP))?;
        {
            let mut stmt = tx
                .prepare_cached(
                    "INSERT INTO listing_queue(id, user_id, entry_json, is_new, queued_at)
                     VALUES (?1, ?2, ?3, ?4, ?5)
                     ON CONFLICT(id) DO UPDATE SET entry_json = excluded.entry_json,
                        is_new = listing_queue.is_new OR excluded.is_new",
                )
                .map_err(sql(OP))?;
            for e in entries {
                stmt.execute(params![e.id, e.user_id, e.entry_json, e.is_new, to_ms(at)])
                    .map_err(sql(OP))?;
            }
        }
        tx.commit().map_err(sql(OP))
    }

    /// Every queued workout of `user_id`, in the order they were queued.
    pub fn queued_workouts(&self, user_id: &str) -> Result<Vec<QueuedWorkout>, StoreError> {
        const OP: &str = "reading the listing queue";
        let mut stmt = self
            .conn
            .prepare_cached(
                "SELECT id, user_id, entry_json, is_new FROM listing_queue
                 WHERE user_id = ?1 ORDER BY queued_at ASC, rowid ASC",
            )
            .map_err(sql(OP))?;
        let rows = stmt
            .query_map([user_id], |r| {
                Ok(QueuedWorkout {
                    id: r.get(0)?,
                    user_id: r.get(1)?,
                    entry_json: r.get(2)?,
                    is_new: r.get(3)?,
                })
            })
            .map_err(sql(OP))?
            .collect::<rusqlite::Result<Vec<_>>>()
            .map_err(sql(OP));
        rows
    }

    /// Whether workout `id` waits in the queue.
    pub fn is_queued(&self, id: &str) -> Result<bool, StoreError> {
        self.conn
            .query_row(
                "SELECT EXISTS(SELECT 1 FROM listing_queue WHERE id = ?1)",
                [id],
                |r| r.get(0),
            )
            .map_err(sql("reading the listing queue"))
    }

    /// Drops a queued workout Peloton no longer has.
    pub fn unqueue_workout(&mut self, id: &str) -> Result<(), StoreError> {
        self.conn
            .execute("DELETE FROM listing_queue WHERE id = ?1", [id])
            .map(drop)
            .map_err(sql("updating the listing queue"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::StoredWorkout;

    fn q(id: &str, is_new: bool) -> QueuedWorkout {
        QueuedWorkout {
            id: id.into(),
            user_id: "me".into(),
            entry_json: format!("{{\"id\":\"{id}\"}}"),
            is_new,
        }
    }

    #[test]
    fn queued_workouts_stay_until_stored() {
        let mut s = Store::open_in_memory().unwrap();
        let at = DateTime::UNIX_EPOCH;
        s.queue_workouts(&[q("a", true), q("b", false)], at)
            .unwrap();
        s.queue_workouts(&[q("b", true)], at).unwrap();
        let queued = s.queued_workouts("me").unwrap();
        assert_eq!(queued, vec![q("a", true), q("b", true)]);
        assert!(s.queued_workouts("other").unwrap().is_empty());

        s.save_workout(
            &StoredWorkout {
                id: "a".into(),
                user_id: "me".into(),
                start_time: at,
                fingerprint: "fp".into(),
                detail_json: "{}".into(),
                graph_json: None,
            },
            at,
        )
        .unwrap();
        assert!(!s.is_queued("a").unwrap());
        s.unqueue_workout("b").unwrap();
        assert!(s.queued_workouts("me").unwrap().is_empty());
    }
}
