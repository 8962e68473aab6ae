//! The people the user follows and their latest workouts, as last fetched
//! (the window reads these, so it works offline).

use std::collections::BTreeSet;

use chrono::{DateTime, Utc};
use rusqlite::{params, Row, Transaction};

use super::error::sql;
use super::{from_ms, to_ms, Store, StoreError};

/// A followed member as last fetched.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FriendRecord {
    /// Peloton user id.
    pub id: String,
    /// Leaderboard name.
    pub username: Option<String>,
    /// Location, as the member typed it.
    pub location: Option<String>,
    /// Avatar URL.
    pub image_url: Option<String>,
    /// Whether the profile is private (its workouts cannot be read).
    pub is_private: bool,
    /// Workout count, when shown.
    pub total_workouts: Option<i64>,
    /// Peloton's JSON for this member, as received.
    pub json: String,
}

/// One of a friend's workouts as last fetched.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FriendWorkoutRecord {
    /// Peloton workout id.
    pub id: String,
    /// The friend's user id.
    pub friend_id: String,
    /// When it started.
    pub start_time: DateTime<Utc>,
    /// Peloton's JSON for this workout, as received.
    pub json: String,
}

/// What [`Store::replace_friends`] removed: the engine deletes their rows.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct RemovedFriends {
    /// Friends no longer followed, sorted.
    pub friend_ids: Vec<String>,
    /// Their stored workouts, sorted.
    pub workout_ids: Vec<String>,
}

const FRIEND_COLUMNS: &str = "id, username, location, image_url, is_private, total_workouts, json";
const WORKOUT_COLUMNS: &str = "id, friend_id, start_time, json";

fn read_friend(r: &Row<'_>) -> rusqlite::Result<FriendRecord> {
    Ok(FriendRecord {
        id: r.get(0)?,
        username: r.get(1)?,
        location: r.get(2)?,
        image_url: r.get(3)?,
        is_private: r.get(4)?,
        total_workouts: r.get(5)?,
        json: r.get(6)?,
    })
}

fn read_workout(r: &Row<'_>) -> rusqlite::Result<FriendWorkoutRecord> {
    Ok(FriendWorkoutRecord {
        id: r.get(0)?,
        friend_id: r.get(1)?,
        start_time: from_ms(2, r.get(2)?)?,
        json: r.get(3)?,
    })
}

fn ids(tx: &Transaction<'_>, q: &str, p: impl rusqlite::Params) -> rusqlite::Result<Vec<String>> {
    let mut stmt = tx.prepare_cached(q)?;
    let v = stmt.query_map(p, |r| r.get(0))?.collect();
    v
}

impl Store {
    /// Makes `current` the followed members: upserts them, and removes
    /// (with their workouts) those no longer followed. One transaction.
    pub fn replace_friends(
        &mut self,
        current: &[FriendRecord],
        at: DateTime<Utc>,
    ) -> Result<RemovedFriends, StoreError> {
        const OP: &str = "saving friends";
        let tx = self.conn.transaction().map_err(sql(OP))?;
        let keep: BTreeSet<&str> = current.iter().map(|f| f.id.as_str()).collect();
        let stored = ids(&tx, "SELECT id FROM friends ORDER BY id", []).map_err(sql(OP))?;
        let mut removed = RemovedFriends::default();
        for id in stored.into_iter().filter(|id| !keep.contains(id.as_str())) {
            let workouts = ids(
                &tx,
                "SELECT id FROM friend_workouts WHERE friend_id = ?1 ORDER BY id",
                [&id],
            )
            .map_err(sql(OP))?;
            tx.execute("DELETE FROM friend_workouts WHERE friend_id = ?1", [&id])
                .map_err(sql(OP))?;
            tx.execute("DELETE FROM friends WHERE id = ?1", [&id])
                .map_err(sql(OP))?;
            removed.workout_ids.extend(workouts);
            removed.friend_ids.push(id);
        }
        {
            let mut stmt = tx
                .prepare_cached(
                    "INSERT INTO friends(id, username, location, image_url, is_private, total_workouts, json, updated_at)
                     VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8)
                     ON CONFLICT(id) DO UPDATE SET
                        username = excluded.username, location = excluded.location,
                        image_url = excluded.image_url, is_private = excluded.is_private,
                        total_workouts = excluded.total_workouts, json = excluded.json,
                        updated_at = excluded.updated_at",
                )
                .map_err(sql(OP))?;
            for f in current {
                stmt.execute(params![
                    f.id,
                    f.username,
                    f.location,
                    f.image_url,
                    f.is_private,
                    f.total_workouts,
                    f.json,
                    to_ms(at)
                ])
                .map_err(sql(OP))?;
            }
        }
        tx.commit().map_err(sql(OP))?;
        removed.workout_ids.sort();
        Ok(removed)
    }

    /// The followed members, by username then id.
    pub fn friends(&self) -> Result<Vec<FriendRecord>, StoreError> {
        const OP: &str = "reading friends";
        let mut stmt = self
            .conn
            .prepare_cached(&format!(
                "SELECT {FRIEND_COLUMNS} FROM friends ORDER BY username COLLATE NOCASE, id"
            ))
            .map_err(sql(OP))?;
        let v = stmt
            .query_map([], read_friend)
            .map_err(sql(OP))?
            .collect::<rusqlite::Result<Vec<_>>>()
            .map_err(sql(OP));
        v
    }

    /// Makes `current` the stored workouts of `friend_id`: upserts them and
    /// removes the friend's others, returning the removed ids (sorted). One
    /// transaction.
    pub fn replace_friend_workouts(
        &mut self,
        friend_id: &str,
        current: &[FriendWorkoutRecord],
        at: DateTime<Utc>,
    ) -> Result<Vec<String>, StoreError> {
        const OP: &str = "saving a friend's workouts";
        let tx = self.conn.transaction().map_err(sql(OP))?;
        let keep: BTreeSet<&str> = current.iter().map(|w| w.id.as_str()).collect();
        let stored = ids(
            &tx,
            "SELECT id FROM friend_workouts WHERE friend_id = ?1 ORDER BY id",
            [friend_id],
        )
        .map_err(sql(OP))?;
        let removed: Vec<String> = stored
            .into_iter()
            .filter(|id| !keep.contains(id.as_str()))
            .collect();
        for id in &removed {
            tx.execute("DELETE FROM friend_workouts WHERE id = ?1", [id])
                .map_err(sql(OP))?;
        }
        {
            let mut stmt = tx
                .prepare_cached(
                    "INSERT INTO friend_workouts(id, friend_id, start_time, json, updated_at)
                     VALUES (?1, ?2, ?3, ?4, ?5)
                     ON CONFLICT(id) DO UPDATE SET
                        friend_id = excluded.friend_id, start_time = excluded.start_time,
                        json = excluded.json, updated_at = excluded.updated_at",
                )
                .map_err(sql(OP))?;
            for w in current {
                // The record's own friend id is ignored: these are `friend_id`'s workouts.
                stmt.execute(params![
                    w.id,
                    friend_id,
                    to_ms(w.start_time),
                    w.json,
                    to_ms(at)
                ])
                .map_err(sql(OP))?;
            }
        }
        tx.commit().map_err(sql(OP))?;
        Ok(removed)
    }

    /// One friend's stored workouts, newest first.
    pub fn friend_workouts(&self, friend_id: &str) -> Result<Vec<FriendWorkoutRecord>, StoreError> {
        self.query_friend_workouts(
            &format!(
                "SELECT {WORKOUT_COLUMNS} FROM friend_workouts WHERE friend_id = ?1
                 ORDER BY start_time DESC, id DESC"
            ),
            params![friend_id],
        )
    }

    /// The `limit` latest workouts across all friends, newest first.
    pub fn latest_friend_workouts(
        &self,
        limit: usize,
    ) -> Result<Vec<FriendWorkoutRecord>, StoreError> {
        let limit = i64::try_from(limit).unwrap_or(i64::MAX);
        self.query_friend_workouts(
            &format!(
                "SELECT {WORKOUT_COLUMNS} FROM friend_workouts
                 ORDER BY start_time DESC, id DESC LIMIT ?1"
            ),
            params![limit],
        )
    }

    fn query_friend_workouts(
        &self,
        q: &str,
        p: impl rusqlite::Params,
    ) -> Result<Vec<FriendWorkoutRecord>, StoreError> {
        const OP: &str = "reading friends' workouts";
        let mut stmt = self.conn.prepare_cached(q).map_err(sql(OP))?;
        let v = stmt
            .query_map(p, read_workout)
            .map_err(sql(OP))?
            .collect::<rusqlite::Result<Vec<_>>>()
            .map_err(sql(OP));
        v
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;

    fn t(secs: i64) -> DateTime<Utc> {
        Utc.timestamp_opt(secs, 0).unwrap()
    }

    fn friend(id: &str, name: &str) -> FriendRecord {
        FriendRecord {
            id: id.into(),
            username: Some(name.into()),
            location: None,
            image_url: Some(format!("https://img/{id}.png")),
            is_private: false,
            total_workouts: Some(12),
            json: "{}".into(),
        }
    }

    fn fw(id: &str, friend: &str, start: i64) -> FriendWorkoutRecord {
        FriendWorkoutRecord {
            id: id.into(),
            friend_id: friend.into(),
            start_time: t(start),
            json: "{}".into(),
        }
    }

    #[test]
    fn replacing_friends_removes_the_unfollowed_with_their_workouts() {
        let mut s = Store::open_in_memory().unwrap();
        let removed = s
            .replace_friends(
                &[friend("u1", "bo"), friend("u2", "al"), friend("u3", "cy")],
                t(1),
            )
            .unwrap();
        assert_eq!(removed, RemovedFriends::default());
        s.replace_friend_workouts("u2", &[fw("w1", "u2", 10), fw("w2", "u2", 20)], t(1))
            .unwrap();
        let mut bo = friend("u1", "bo");
        bo.is_private = true;
        bo.total_workouts = None;
        let removed = s
            .replace_friends(&[bo.clone(), friend("u3", "cy")], t(2))
            .unwrap();
        assert_eq!(
            removed,
            RemovedFriends {
                friend_ids: vec!["u2".into()],
                workout_ids: vec!["w1".into(), "w2".into()],
            }
        );
        assert_eq!(s.friends().unwrap(), vec![bo, friend("u3", "cy")]);
        assert!(s.friend_workouts("u2").unwrap().is_empty());
    }

    #[test]
    fn replacing_a_friends_workouts_returns_the_dropped_ones() {
        let mut s = Store::open_in_memory().unwrap();
        s.replace_friend_workouts("u1", &[fw("a", "u1", 1), fw("b", "u1", 2)], t(1))
            .unwrap();
        s.replace_friend_workouts("u2", &[fw("z", "u2", 5)], t(1))
            .unwrap();
        let removed = s
            .replace_friend_workouts("u1", &[fw("b", "u1", 2), fw("c", "u1", 3)], t(2))
            .unwrap();
        assert_eq!(removed, vec!["a"]);
        let ids: Vec<_> = s
            .friend_workouts("u1")
            .unwrap()
            .into_iter()
            .map(|w| w.id)
            .collect();
        assert_eq!(ids, vec!["c", "b"]);
        assert_eq!(s.friend_workouts("u2").unwrap().len(), 1);
    }

    #[test]
    fn latest_friend_workouts_span_friends_newest_first() {
        let mut s = Store::open_in_memory().unwrap();
        s.replace_friend_workouts("u1", &[fw("a", "u1", 100), fw("b", "u1", 300)], t(1))
            .unwrap();
        s.replace_friend_workouts("u2", &[fw("c", "u2", 200), fw("d", "u2", 50)], t(1))
            .unwrap();
        let latest = s.latest_friend_workouts(3).unwrap();
        let got: Vec<_> = latest
            .iter()
            .map(|w| (w.id.as_str(), w.friend_id.as_str()))
            .collect();
        assert_eq!(got, vec![("b", "u1"), ("c", "u2"), ("a", "u1")]);
        assert_eq!(latest[0].start_time, t(300));
    }
}
