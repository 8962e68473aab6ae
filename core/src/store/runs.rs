//! The history of sync runs: when, what was written and deleted, what
//! failed. `status` and the tray read it; notifications use the failure
//! streak.
//!
//! A run is recorded when it starts, so a run that never finishes (killed,
//! crashed, the machine slept for good) is not lost: the next sync, holding
//! the sync lock, calls [`Store::close_interrupted_runs`] and it is reported
//! as interrupted.

use std::collections::BTreeMap;

use chrono::{DateTime, Utc};
use rusqlite::{params, OptionalExtension, Row};
use serde::de::DeserializeOwned;

use super::error::sql;
use super::{from_ms, to_ms, Store, StoreError};

/// The error sentence recorded for a run that never finished.
pub const INTERRUPTED_MESSAGE: &str =
    "The sync was interrupted before it finished; the next sync picks up where it stopped.";

/// A run's id in the history.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct RunId(pub i64);

/// How a run ended, as the engine reports it.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct RunOutcome {
    /// When it ended.
    pub finished_at: DateTime<Utc>,
    /// Whether every enabled table holds what it should.
    pub ok: bool,
    /// How long it took.
    pub seconds: f64,
    /// Rows written, by table name.
    pub written: BTreeMap<String, u64>,
    /// Rows deleted, by table name.
    pub deleted: BTreeMap<String, u64>,
    /// The error sentences, as the user saw them.
    pub errors: Vec<String>,
    /// Notes (e.g. skipped private friends).
    pub notes: Vec<String>,
    /// Ids of the user's workouts that were new in this run (for the
    /// "new workouts" notification).
    pub new_workouts: Vec<String>,
}

/// A run as recorded.
#[derive(Debug, Clone, PartialEq)]
pub struct RunRecord {
    /// Its id.
    pub id: RunId,
    /// When it started.
    pub started_at: DateTime<Utc>,
    /// When it ended; `None` while running, or when it was interrupted.
    pub finished_at: Option<DateTime<Utc>>,
    /// Whether it succeeded; `None` while running. An interrupted run is `Some(false)`.
    pub ok: Option<bool>,
    /// How long it took, once finished.
    pub seconds: Option<f64>,
    /// Rows written, by table name.
    pub written: BTreeMap<String, u64>,
    /// Rows deleted, by table name.
    pub deleted: BTreeMap<String, u64>,
    /// The error sentences.
    pub errors: Vec<String>,
    /// Notes.
    pub notes: Vec<String>,
    /// Ids of the workouts new in this run.
    pub new_workouts: Vec<String>,
    /// Whether it never finished (found by a later run).
    pub interrupted: bool,
}

const COLUMNS: &str = "id, started_at, finished_at, ok, seconds, written_json, deleted_json, \
                       errors_json, notes_json, new_workouts_json, interrupted";

fn json<T: DeserializeOwned + Default>(r: &Row<'_>, i: usize) -> rusqlite::Result<T> {
    match r.get::<_, Option<String>>(i)? {
        None => Ok(T::default()),
        Some(s) => serde_json::from_str(&s).map_err(|e| {
            rusqlite::Error::FromSqlConversionFailure(i, rusqlite::types::Type::Text, Box::new(e))
        }),
    }
}

fn read(r: &Row<'_>) -> rusqlite::Result<RunRecord> {
    Ok(RunRecord {
        id: RunId(r.get(0)?),
        started_at: from_ms(1, r.get(1)?)?,
        finished_at: r
            .get::<_, Option<i64>>(2)?
            .map(|v| from_ms(2, v))
            .transpose()?,
        ok: r.get(3)?,
        seconds: r.get(4)?,
        written: json(r, 5)?,
        deleted: json(r, 6)?,
        errors: json(r, 7)?,
        notes: json(r, 8)?,
        new_workouts: json(r, 9)?,
        interrupted: r.get(10)?,
    })
}

fn to_json<T: serde::Serialize>(v: &T) -> String {
    // Maps of strings to numbers and lists of strings always serialize.
    serde_json::to_string(v).unwrap_or_else(|_| "null".to_owned())
}

impl Store {
    /// Records that a run started at `at`.
    pub fn start_run(&mut self, at: DateTime<Utc>) -> Result<RunId, StoreError> {
        self.conn
            .execute("INSERT INTO runs(started_at) VALUES (?1)", [to_ms(at)])
            .map_err(sql("recording the run's start"))?;
        Ok(RunId(self.conn.last_insert_rowid()))
    }

    /// Records how run `id` ended.
    pub fn finish_run(&mut self, id: RunId, o: &RunOutcome) -> Result<(), StoreError> {
        let n = self
            .conn
            .execute(
                "UPDATE runs SET finished_at = ?2, ok = ?3, seconds = ?4, written_json = ?5,
                    deleted_json = ?6, errors_json = ?7, notes_json = ?8, new_workouts_json = ?9,
                    interrupted = 0
                 WHERE id = ?1",
                params![
                    id.0,
                    to_ms(o.finished_at),
                    o.ok,
                    o.seconds,
                    to_json(&o.written),
                    to_json(&o.deleted),
                    to_json(&o.errors),
                    to_json(&o.notes),
                    to_json(&o.new_workouts),
                ],
            )
            .map_err(sql("recording the run's end"))?;
        if n == 0 {
            return Err(StoreError::UnknownRun(id.0));
        }
        Ok(())
    }

    /// Marks every run that started but never finished as interrupted, and
    /// returns how many there were. Call it only while holding the sync lock
    /// (`crate::lock::SyncLock`), before [`Store::start_run`]: then no other
    /// run can be in progress.
    pub fn close_interrupted_runs(&mut self) -> Result<u32, StoreError> {
        let n = self
            .conn
            .execute(
                "UPDATE runs SET ok = 0, interrupted = 1, errors_json = ?1
                 WHERE finished_at IS NULL AND interrupted = 0",
                [to_json(&vec![INTERRUPTED_MESSAGE])],
            )
            .map_err(sql("closing interrupted runs"))?;
        Ok(u32::try_from(n).unwrap_or(u32::MAX))
    }

    /// The latest run that ended: finished, or found interrupted. `None`
    /// before any run.
    pub fn last_run(&self) -> Result<Option<RunRecord>, StoreError> {
        self.conn
            .query_row(
                &format!(
                    "SELECT {COLUMNS} FROM runs WHERE finished_at IS NOT NULL OR interrupted = 1
                     ORDER BY id DESC LIMIT 1"
                ),
                [],
                read,
            )
            .optional()
            .map_err(sql("reading the last run"))
    }

    /// The latest run that started after the last ended one and has not
    /// finished: running now in another process, or killed and not yet
    /// closed by [`Store::close_interrupted_runs`].
    pub fn unfinished_run(&self) -> Result<Option<RunRecord>, StoreError> {
        self.conn
            .query_row(
                &format!(
                    "SELECT {COLUMNS} FROM runs WHERE finished_at IS NULL AND interrupted = 0
                     ORDER BY id DESC LIMIT 1"
                ),
                [],
                read,
            )
            .optional()
            .map_err(sql("reading the running sync"))
    }

    /// The `limit` latest runs of every kind, newest first.
    pub fn runs(&self, limit: usize) -> Result<Vec<RunRecord>, StoreError> {
        const OP: &str = "reading the run history";
        let limit = i64::try_from(limit).unwrap_or(i64::MAX);
        let mut stmt = self
            .conn
            .prepare_cached(&format!(
                "SELECT {COLUMNS} FROM runs ORDER BY id DESC LIMIT ?1"
            ))
            .map_err(sql(OP))?;
        let v = stmt
            .query_map([limit], read)
            .map_err(sql(OP))?
            .collect::<rusqlite::Result<Vec<_>>>()
            .map_err(sql(OP));
        v
    }

    /// How many of the latest finished runs failed in a row (0 when the
    /// latest succeeded). Interrupted and unfinished runs neither count nor
    /// break the streak: a closed laptop is not a failure.
    pub fn failure_streak(&self) -> Result<u32, StoreError> {
        const OP: &str = "reading the run history";
        let mut stmt = self
            .conn
            .prepare_cached(
                "SELECT ok FROM runs WHERE finished_at IS NOT NULL AND interrupted = 0
                 ORDER BY id DESC",
            )
            .map_err(sql(OP))?;
        let mut rows = stmt.query([]).map_err(sql(OP))?;
        let mut streak = 0u32;
        while let Some(r) = rows.next().map_err(sql(OP))? {
            let ok: Option<bool> = r.get(0).map_err(sql(OP))?;
            if ok == Some(true) {
                break;
            }
            streak = streak.saturating_add(1);
        }
        Ok(streak)
    }

    /// Keeps only the `keep` latest runs.
    pub fn prune_runs(&mut self, keep: usize) -> Result<(), StoreError> {
        let keep = i64::try_from(keep).unwrap_or(i64::MAX);
        self.conn
            .execute(
                "DELETE FROM runs WHERE id NOT IN (SELECT id FROM runs ORDER BY id DESC LIMIT ?1)",
                [keep],
            )
            .map(drop)
            .map_err(sql("pruning the run history"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;

    fn t(secs: i64) -> DateTime<Utc> {
        Utc.timestamp_opt(1_700_000_000 + secs, 0).unwrap()
    }

    fn outcome(ok: bool, at: i64) -> RunOutcome {
        RunOutcome {
            finished_at: t(at),
            ok,
            seconds: 4.2,
            written: BTreeMap::from([("Workouts".to_owned(), 12)]),
            deleted: BTreeMap::from([("Friend Workouts".to_owned(), 1)]),
            errors: if ok {
                vec![]
            } else {
                vec!["Peloton login refused.".into()]
            },
            notes: vec!["Skipped private friend bo.".into()],
            new_workouts: vec!["w1".into()],
        }
    }

    fn run(s: &mut Store, ok: bool, at: i64) -> RunId {
        let id = s.start_run(t(at)).unwrap();
        s.finish_run(id, &outcome(ok, at + 4)).unwrap();
        id
    }

    #[test]
    fn no_run_yet() {
        let s = Store::open_in_memory().unwrap();
        assert_eq!(s.last_run().unwrap(), None);
        assert_eq!(s.failure_streak().unwrap(), 0);
        assert!(s.runs(10).unwrap().is_empty());
    }

    #[test]
    fn a_finished_run_reads_back_whole() {
        let mut s = Store::open_in_memory().unwrap();
        let id = run(&mut s, false, 0);
        let o = outcome(false, 4);
        assert_eq!(
            s.last_run().unwrap(),
            Some(RunRecord {
                id,
                started_at: t(0),
                finished_at: Some(t(4)),
                ok: Some(false),
                seconds: Some(4.2),
                written: o.written,
                deleted: o.deleted,
                errors: o.errors,
                notes: o.notes,
                new_workouts: o.new_workouts,
                interrupted: false,
            })
        );
    }

    #[test]
    fn last_run_skips_a_run_still_going() {
        let mut s = Store::open_in_memory().unwrap();
        let done = run(&mut s, true, 0);
        let going = s.start_run(t(100)).unwrap();
        assert_eq!(s.last_run().unwrap().unwrap().id, done);
        assert_eq!(s.unfinished_run().unwrap().unwrap().id, going);
        assert_eq!(s.runs(10).unwrap().len(), 2);
    }

    #[test]
    fn a_killed_run_is_reported_as_interrupted_by_the_next_one() {
        let mut s = Store::open_in_memory().unwrap();
        run(&mut s, true, 0);
        let killed = s.start_run(t(100)).unwrap();
        assert_eq!(s.close_interrupted_runs().unwrap(), 1);
        let last = s.last_run().unwrap().unwrap();
        assert_eq!(last.id, killed);
        assert!(last.interrupted);
        assert_eq!(last.ok, Some(false));
        assert_eq!(last.finished_at, None);
        assert_eq!(last.errors, vec![INTERRUPTED_MESSAGE]);
        assert_eq!(s.unfinished_run().unwrap(), None);
        assert_eq!(s.close_interrupted_runs().unwrap(), 0);
    }

    #[test]
    fn failure_streak_counts_the_latest_failures() {
        let mut s = Store::open_in_memory().unwrap();
        run(&mut s, false, 0);
        run(&mut s, true, 10);
        assert_eq!(s.failure_streak().unwrap(), 0);
        run(&mut s, false, 20);
        s.start_run(t(25)).unwrap();
        s.close_interrupted_runs().unwrap();
        run(&mut s, false, 30);
        s.start_run(t(40)).unwrap();
        assert_eq!(s.failure_streak().unwrap(), 2);
    }

    #[test]
    fn finishing_an_unknown_run_is_an_error() {
        let mut s = Store::open_in_memory().unwrap();
        let err = s.finish_run(RunId(42), &outcome(true, 0)).unwrap_err();
        assert!(matches!(err, StoreError::UnknownRun(42)), "{err:?}");
    }

    #[test]
    fn runs_are_newest_first_and_prunable() {
        let mut s = Store::open_in_memory().unwrap();
        let ids: Vec<RunId> = (0..5).map(|i| run(&mut s, true, i * 10)).collect();
        let got: Vec<RunId> = s.runs(2).unwrap().into_iter().map(|r| r.id).collect();
        assert_eq!(got, vec![ids[4], ids[3]]);
        s.prune_runs(3).unwrap();
        let got: Vec<RunId> = s.runs(10).unwrap().into_iter().map(|r| r.id).collect();
        assert_eq!(got, vec![ids[4], ids[3], ids[2]]);
    }
}
