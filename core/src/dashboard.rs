//! What the app's main window shows, derived from the local state alone:
//! the last sync, the user's latest workouts, friends' latest rides and the
//! last weeks' totals.
//!
//! The window opens instantly and works offline because everything here
//! reads the [`Store`] and nothing else; it computes nothing of its own,
//! every number and sentence comes from these functions. Workout rows are
//! derived with the same [`rows`] mapping the Coda tables get, so the window
//! and the doc always agree.

use std::collections::{BTreeMap, HashMap};
use std::path::{Path, PathBuf};

use chrono::{DateTime, Datelike, Duration, NaiveDate, Utc};
use serde::Serialize;

use crate::avatars::avatar_file;
use crate::peloton::types::{FollowedUser, PerformanceGraph, Workout};
use crate::rows::{self, WorkoutSummary};
use crate::store::{Store, StoreError};

/// The stored `/api/me` answer, whose `timezone` dates workouts that carry
/// none of their own (the same fallback the sync uses).
const META_ME: &str = "peloton.me";

/// The most workouts read to total the weeks (more than four a day for the
/// twelve weeks shown).
const WEEKS_SCAN_LIMIT: usize = 400;

/// One of the user's workouts, as a card in the window.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct WorkoutCard {
    /// Peloton's workout id.
    pub id: String,
    /// Class title ("45 min Power Zone Ride").
    pub title: String,
    /// Instructor, if the class had one.
    pub instructor: Option<String>,
    /// Total output in kJ, when Peloton measured one.
    pub output_kj: Option<f64>,
    /// Length in minutes, to one decimal.
    pub minutes: Option<f64>,
    /// Start time in the workout's own zone, `YYYY-MM-DDThh:mm:ss±hh:mm`.
    pub start_time: String,
    /// "Cycling", "Strength" ...
    pub discipline: Option<String>,
    /// Peloton's Strive score, when the workout has one.
    pub strive: Option<f64>,
    /// Minutes in heart-rate zones 1 to 5, when the workout had heart rate.
    pub hr_zone_minutes: Option<[f64; 5]>,
}

/// A friend's workout, as a line in the window.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct FriendRide {
    /// Peloton's workout id.
    pub id: String,
    /// The friend's user id.
    pub friend_id: String,
    /// The friend's username.
    pub username: String,
    /// The friend's avatar in the local cache, if it was downloaded.
    pub avatar: Option<PathBuf>,
    /// Class title.
    pub title: String,
    /// "Cycling", "Running" ...
    pub discipline: Option<String>,
    /// Start time in the workout's own zone, `YYYY-MM-DDThh:mm:ss±hh:mm`.
    pub when: String,
    /// Total output in kJ, when there is one.
    pub output_kj: Option<f64>,
    /// Length in minutes.
    pub minutes: Option<f64>,
}

/// One week's totals of the user's workouts.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct WeekTotal {
    /// The Monday the week starts on (by the workouts' local dates).
    pub week_start: NaiveDate,
    /// Minutes of workouts.
    pub minutes: f64,
    /// Total output in kJ.
    pub output_kj: f64,
    /// Workouts.
    pub workouts: u32,
    /// Minutes in heart-rate zones 1 to 5, summed over the week's workouts
    /// whose five zones are known (a workout without a heart-rate monitor
    /// adds nothing here, its minutes still count above).
    pub hr_zone_minutes: [f64; 5],
}

/// How the last sync ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum LastOutcome {
    /// No sync has ended yet.
    Never,
    /// Everything was written.
    Ok,
    /// Something failed; `error` says what.
    Failed,
    /// The sync was cut off (app quit, machine off) before it ended.
    Interrupted,
}

/// Rows written to one table in the last sync.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct TableCount {
    /// The table's key (`workouts`, `friend_workouts` ...).
    pub table: String,
    /// Rows written.
    pub written: u64,
    /// Rows deleted.
    pub deleted: u64,
}

/// The window's status block.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct StatusView {
    /// When the last sync ended (or was found cut off).
    pub last_sync_at: Option<DateTime<Utc>>,
    /// "just now", "12 min ago", "3 h ago", "2 days ago".
    pub last_sync_ago: Option<String>,
    /// How it ended.
    pub outcome: LastOutcome,
    /// Rows per table.
    pub counts: Vec<TableCount>,
    /// "2 new workouts, 14 rows written", or "Nothing new".
    pub summary: String,
    /// The sentence saying what failed and what to do, when it failed.
    pub error: Option<String>,
    /// Notes that are not failures (skipped private friends).
    pub notes: Vec<String>,
    /// Syncs that failed in a row.
    pub failure_streak: u32,
    /// When the next sync is planned.
    pub next_sync_at: Option<DateTime<Utc>>,
}

fn fallback_tz(store: &Store) -> Option<String> {
    let me = store.get_meta(META_ME).ok().flatten()?;
    let v: serde_json::Value = serde_json::from_str(&me).ok()?;
    v.get("timezone")?.as_str().map(str::to_owned)
}

/// The `n` latest workouts of the user, newest first. A stored workout that
/// cannot be read (damaged JSON, no start time) is left out.
pub fn recent_workouts(store: &Store, n: usize) -> Result<Vec<WorkoutCard>, StoreError> {
    let tz = fallback_tz(store);
    Ok(store
        .recent_workouts(n)?
        .into_iter()
        .filter_map(|s| {
            let w = stored_summary(&s.detail_json, s.graph_json.as_deref(), tz.as_deref())?;
            Some(WorkoutCard {
                hr_zone_minutes: w.zones(),
                id: s.id,
                title: w.title.unwrap_or_else(|| "Workout".to_owned()),
                instructor: w.instructor,
                output_kj: w.output_kj,
                minutes: w.minutes,
                start_time: w.start_time,
                discipline: w.discipline,
                strive: w.strive,
            })
        })
        .collect())
}

/// A stored workout's summary; `None` when it cannot be read.
fn stored_summary(detail: &str, graph: Option<&str>, tz: Option<&str>) -> Option<WorkoutSummary> {
    let w: Workout = serde_json::from_str(detail).ok()?;
    let g: PerformanceGraph = graph
        .and_then(|g| serde_json::from_str(g).ok())
        .unwrap_or_default();
    rows::workout_summary(&w, &g, tz).ok()
}

/// The `n` latest workouts of the people the user follows, newest first,
/// with each friend's cached avatar from `avatar_dir` when there is one.
pub fn friends_rides(
    store: &Store,
    n: usize,
    avatar_dir: Option<&Path>,
) -> Result<Vec<FriendRide>, StoreError> {
    let tz = fallback_tz(store);
    let friends: HashMap<String, FollowedUser> = store
        .friends()?
        .into_iter()
        .map(|f| {
            let user = serde_json::from_str(&f.json).unwrap_or(FollowedUser {
                id: f.id.clone(),
                username: f.username.clone(),
                location: f.location.clone(),
                image_url: f.image_url.clone(),
                is_profile_private: Some(f.is_private),
                total_workouts: f.total_workouts,
            });
            (f.id, user)
        })
        .collect();
    Ok(store
        .latest_friend_workouts(n)?
        .into_iter()
        .filter_map(|r| {
            let friend = friends.get(&r.friend_id)?;
            let w: Workout = serde_json::from_str(&r.json).ok()?;
            // A friend's list entry has no graph: the values its row has.
            let w = rows::workout_summary(&w, &PerformanceGraph::default(), tz.as_deref()).ok()?;
            let avatar = avatar_dir
                .map(|d| avatar_file(d, &r.friend_id))
                .filter(|p| p.is_file());
            Some(FriendRide {
                id: r.id,
                username: friend
                    .username
                    .clone()
                    .unwrap_or_else(|| r.friend_id.clone()),
                friend_id: r.friend_id,
                avatar,
                title: w.title.unwrap_or_else(|| "Workout".to_owned()),
                discipline: w.discipline,
                when: w.start_time,
                output_kj: w.output_kj,
                minutes: w.minutes,
            })
        })
        .collect())
}

/// The Monday of the week holding `d`.
fn monday(d: NaiveDate) -> NaiveDate {
    d - Duration::days(i64::from(d.weekday().num_days_from_monday()))
}

/// Totals of the last `weeks` weeks (Monday to Sunday), oldest first, the
/// week holding `now` last; weeks without workouts are there with zeros.
/// A workout counts in the week of its local date.
pub fn weekly_totals(
    store: &Store,
    now: DateTime<Utc>,
    weeks: usize,
) -> Result<Vec<WeekTotal>, StoreError> {
    let weeks_i64 = i64::try_from(weeks).unwrap_or(i64::MAX / 8);
    let this_week = monday(now.date_naive());
    let first = this_week - Duration::weeks(weeks_i64.saturating_sub(1));
    let mut totals: BTreeMap<NaiveDate, WeekTotal> = (0..weeks_i64)
        .map(|i| {
            let start = first + Duration::weeks(i);
            (
                start,
                WeekTotal {
                    week_start: start,
                    minutes: 0.0,
                    output_kj: 0.0,
                    workouts: 0,
                    hr_zone_minutes: [0.0; 5],
                },
            )
        })
        .collect();
    // A day of margin: a workout's local date may be a day off its UTC date.
    let earliest = first
        .and_hms_opt(0, 0, 0)
        .map(|t| t.and_utc() - Duration::days(1));
    let tz = fallback_tz(store);
    for s in store.recent_workouts(WEEKS_SCAN_LIMIT)? {
        if earliest.is_some_and(|e| s.start_time < e) {
            break;
        }
        // The graph is read for its zones: the stored one is the trimmed
        // graph (the full-resolution archive is apart), a few kB each.
        let Some(w) = stored_summary(&s.detail_json, s.graph_json.as_deref(), tz.as_deref()) else {
            continue;
        };
        let date = w
            .start_time
            .get(..10)
            .and_then(|t| NaiveDate::parse_from_str(t, "%Y-%m-%d").ok())
            .unwrap_or_else(|| s.start_time.date_naive());
        if let Some(week) = totals.get_mut(&monday(date)) {
            week.minutes += w.minutes.unwrap_or(0.0);
            week.output_kj += w.output_kj.unwrap_or(0.0);
            week.workouts += 1;
            if let Some(zones) = w.zones() {
                for (sum, m) in week.hr_zone_minutes.iter_mut().zip(zones) {
                    *sum += m;
                }
            }
        }
    }
    Ok(totals
        .into_values()
        .map(|mut w| {
            // Sums of one-decimal values drift (0.1 + 0.2); show them clean.
            w.minutes = (w.minutes * 10.0).round() / 10.0;
            w.output_kj = (w.output_kj * 10.0).round() / 10.0;
            for m in &mut w.hr_zone_minutes {
                *m = (*m * 10.0).round() / 10.0;
            }
            w
        })
        .collect())
}

fn ago(then: DateTime<Utc>, now: DateTime<Utc>) -> String {
    let secs = (now - then).num_seconds();
    match secs {
        s if s < 60 => "just now".to_owned(),
        s if s < 3600 => format!("{} min ago", s / 60),
        s if s < 86_400 => format!("{} h ago", s / 3600),
        s if s < 2 * 86_400 => "1 day ago".to_owned(),
        s => format!("{} days ago", s / 86_400),
    }
}

fn plural(n: u64, one: &str, many: &str) -> String {
    format!("{n} {}", if n == 1 { one } else { many })
}

/// The status block: the last sync that ended, how, and the next one.
pub fn status(
    store: &Store,
    now: DateTime<Utc>,
    next_run: Option<DateTime<Utc>>,
) -> Result<StatusView, StoreError> {
    let streak = store.failure_streak()?;
    let Some(run) = store.last_run()? else {
        return Ok(StatusView {
            last_sync_at: None,
            last_sync_ago: None,
            outcome: LastOutcome::Never,
            counts: Vec::new(),
            summary: "Not synced yet".to_owned(),
            error: None,
            notes: Vec::new(),
            failure_streak: streak,
            next_sync_at: next_run,
        });
    };
    let at = run.finished_at.unwrap_or(run.started_at);
    let outcome = if run.interrupted {
        LastOutcome::Interrupted
    } else if run.ok == Some(true) {
        LastOutcome::Ok
    } else {
        LastOutcome::Failed
    };
    let mut keys: Vec<&String> = run.written.keys().chain(run.deleted.keys()).collect();
    keys.sort();
    keys.dedup();
    let counts: Vec<TableCount> = keys
        .into_iter()
        .map(|k| TableCount {
            table: k.clone(),
            written: run.written.get(k).copied().unwrap_or(0),
            deleted: run.deleted.get(k).copied().unwrap_or(0),
        })
        .collect();
    let written: u64 = counts.iter().map(|c| c.written).sum();
    let new = u64::try_from(run.new_workouts.len()).unwrap_or(u64::MAX);
    let mut parts = Vec::new();
    if new > 0 {
        parts.push(plural(new, "new workout", "new workouts"));
    }
    if written > 0 {
        parts.push(format!("{} written", plural(written, "row", "rows")));
    }
    let summary = if parts.is_empty() {
        "Nothing new".to_owned()
    } else {
        parts.join(", ")
    };
    Ok(StatusView {
        last_sync_at: Some(at),
        last_sync_ago: Some(ago(at, now)),
        outcome,
        counts,
        summary,
        error: match outcome {
            LastOutcome::Ok | LastOutcome::Never => None,
            LastOutcome::Failed | LastOutcome::Interrupted => run.errors.first().cloned(),
        },
        notes: run.notes,
        failure_streak: streak,
        next_sync_at: next_run,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::{FriendRecord, FriendWorkoutRecord, RunOutcome, StoredWorkout};
    use chrono::TimeZone;
    use serde_json::json;

    fn t(y: i32, mo: u32, d: u32, h: u32) -> DateTime<Utc> {
        Utc.with_ymd_and_hms(y, mo, d, h, 0, 0).unwrap()
    }

    fn detail(id: &str, start: DateTime<Utc>, minutes: i64, joules: f64) -> serde_json::Value {
        json!({
            "id": id, "status": "COMPLETE", "fitness_discipline": "cycling",
            "start_time": start.timestamp(), "end_time": start.timestamp() + minutes * 60,
            "timezone": "UTC", "total_work": joules,
            "ride": {"title": format!("{minutes} min Power Zone Ride"),
                     "instructor": {"id": "i1", "name": "Matt Wilpers"}}
        })
    }

    fn save(s: &mut Store, id: &str, start: DateTime<Utc>, minutes: i64, joules: f64) {
        s.save_workout(
            &StoredWorkout {
                id: id.into(),
                user_id: "me".into(),
                start_time: start,
                fingerprint: "f".into(),
                detail_json: detail(id, start, minutes, joules).to_string(),
                graph_json: None,
            },
            start,
        )
        .unwrap();
    }

    #[test]
    fn recent_workouts_are_cards_newest_first() {
        let mut s = Store::open_in_memory().unwrap();
        save(&mut s, "a", t(2026, 3, 1, 8), 45, 512_345.0);
        save(&mut s, "b", t(2026, 3, 2, 8), 20, 200_000.0);
        let cards = recent_workouts(&s, 10).unwrap();
        assert_eq!(cards.len(), 2);
        assert_eq!(cards[0].id, "b");
        let a = &cards[1];
        assert_eq!(a.title, "45 min Power Zone Ride");
        assert_eq!(a.instructor.as_deref(), Some("Matt Wilpers"));
        assert_eq!(a.output_kj, Some(512.3));
        assert_eq!(a.minutes, Some(45.0));
        assert_eq!(a.start_time, "2026-03-01T08:00:00+00:00");
        assert_eq!(a.discipline.as_deref(), Some("Cycling"));
        // No graph: no Strive score, no zone bar.
        assert_eq!(a.strive, None);
        assert_eq!(a.hr_zone_minutes, None);
        assert_eq!(recent_workouts(&s, 1).unwrap().len(), 1);
    }

    #[test]
    fn a_card_carries_the_strive_score_and_zone_minutes() {
        let mut s = Store::open_in_memory().unwrap();
        let start = t(2026, 3, 1, 8);
        // Zone seconds as the 2024 class fixture has them.
        let graph = json!({
            "effort_zones": {"total_effort_points": 44.5, "heart_rate_zone_durations": {
                "heart_rate_z1_duration": 0, "heart_rate_z2_duration": 9,
                "heart_rate_z3_duration": 154, "heart_rate_z4_duration": 829,
                "heart_rate_z5_duration": 204}}
        });
        s.save_workout(
            &StoredWorkout {
                id: "a".into(),
                user_id: "me".into(),
                start_time: start,
                fingerprint: "f".into(),
                detail_json: detail("a", start, 20, 1.0).to_string(),
                graph_json: Some(graph.to_string()),
            },
            start,
        )
        .unwrap();
        let card = &recent_workouts(&s, 1).unwrap()[0];
        assert_eq!(card.strive, Some(44.5));
        assert_eq!(card.hr_zone_minutes, Some([0.0, 0.2, 2.6, 13.8, 3.4]));
    }

    #[test]
    fn a_damaged_stored_workout_is_left_out() {
        let mut s = Store::open_in_memory().unwrap();
        save(&mut s, "a", t(2026, 3, 1, 8), 45, 1.0);
        s.save_workout(
            &StoredWorkout {
                id: "bad".into(),
                user_id: "me".into(),
                start_time: t(2026, 3, 2, 8),
                fingerprint: "f".into(),
                detail_json: "{not json".into(),
                graph_json: None,
            },
            t(2026, 3, 2, 8),
        )
        .unwrap();
        let ids: Vec<_> = recent_workouts(&s, 10)
            .unwrap()
            .into_iter()
            .map(|c| c.id)
            .collect();
        assert_eq!(ids, ["a"]);
    }

    fn friend(id: &str, name: &str) -> FriendRecord {
        let f = json!({"id": id, "username": name, "image_url": "https://example.invalid/a.png"});
        FriendRecord {
            id: id.into(),
            username: Some(name.into()),
            location: None,
            image_url: Some("https://example.invalid/a.png".into()),
            is_private: false,
            total_workouts: Some(3),
            json: f.to_string(),
        }
    }

    #[test]
    fn friends_rides_name_the_friend_and_find_a_cached_avatar() {
        let dir = tempfile::tempdir().unwrap();
        let mut s = Store::open_in_memory().unwrap();
        let now = t(2026, 3, 2, 12);
        s.replace_friends(&[friend("f1", "alice"), friend("f2", "bob")], now)
            .unwrap();
        for (fid, wid, h) in [("f1", "w1", 8), ("f2", "w2", 9)] {
            let start = t(2026, 3, 2, h);
            s.replace_friend_workouts(
                fid,
                &[FriendWorkoutRecord {
                    id: wid.into(),
                    friend_id: fid.into(),
                    start_time: start,
                    json: detail(wid, start, 30, 300_000.0).to_string(),
                }],
                now,
            )
            .unwrap();
        }
        std::fs::write(avatar_file(dir.path(), "f1"), b"png").unwrap();
        let rides = friends_rides(&s, 10, Some(dir.path())).unwrap();
        assert_eq!(rides.len(), 2);
        assert_eq!(rides[0].username, "bob");
        assert_eq!(rides[0].avatar, None);
        assert_eq!(rides[1].username, "alice");
        assert_eq!(rides[1].title, "30 min Power Zone Ride");
        assert_eq!(rides[1].when, "2026-03-02T08:00:00+00:00");
        assert_eq!(rides[1].output_kj, Some(300.0));
        assert_eq!(rides[1].avatar, Some(avatar_file(dir.path(), "f1")));
        assert_eq!(friends_rides(&s, 1, None).unwrap().len(), 1);
    }

    #[test]
    fn weekly_totals_cover_twelve_weeks_oldest_first_with_empty_weeks() {
        let mut s = Store::open_in_memory().unwrap();
        // 2026-03-04 is a Wednesday; its week starts Monday 2026-03-02.
        let now = t(2026, 3, 4, 12);
        save(&mut s, "a", t(2026, 3, 2, 8), 45, 400_000.0);
        save(&mut s, "b", t(2026, 3, 3, 8), 20, 150_000.0);
        save(&mut s, "c", t(2026, 2, 22, 8), 30, 300_000.0); // Sunday: the week before
        save(&mut s, "old", t(2025, 1, 1, 8), 60, 999_000.0); // outside the window
        let weeks = weekly_totals(&s, now, 12).unwrap();
        assert_eq!(weeks.len(), 12);
        assert_eq!(
            weeks[11].week_start,
            NaiveDate::from_ymd_opt(2026, 3, 2).unwrap()
        );
        assert_eq!(
            weeks[0].week_start,
            NaiveDate::from_ymd_opt(2025, 12, 15).unwrap()
        );
        assert_eq!(weeks[11].minutes, 65.0);
        assert_eq!(weeks[11].output_kj, 550.0);
        assert_eq!(weeks[11].workouts, 2);
        assert_eq!(weeks[10].minutes, 0.0);
        assert_eq!(weeks[9].minutes, 30.0);
        let total: u32 = weeks.iter().map(|w| w.workouts).sum();
        assert_eq!(total, 3);
    }

    fn save_with_zones(s: &mut Store, id: &str, start: DateTime<Utc>, zone_secs: [u32; 5]) {
        let durations: serde_json::Map<String, serde_json::Value> = zone_secs
            .iter()
            .enumerate()
            .map(|(i, secs)| (format!("heart_rate_z{}_duration", i + 1), json!(secs)))
            .collect();
        let graph = json!({"effort_zones": {"heart_rate_zone_durations": durations}});
        s.save_workout(
            &StoredWorkout {
                id: id.into(),
                user_id: "me".into(),
                start_time: start,
                fingerprint: "f".into(),
                detail_json: detail(id, start, 30, 1.0).to_string(),
                graph_json: Some(graph.to_string()),
            },
            start,
        )
        .unwrap();
    }

    #[test]
    fn weekly_totals_sum_the_minutes_per_heart_rate_zone() {
        let mut s = Store::open_in_memory().unwrap();
        let now = t(2026, 3, 4, 12);
        // This week: two workouts with zones (the 2024 class's seconds,
        // and a round one), one without a heart-rate monitor.
        save_with_zones(&mut s, "a", t(2026, 3, 2, 8), [0, 9, 154, 829, 204]);
        save_with_zones(&mut s, "b", t(2026, 3, 3, 8), [60, 120, 300, 600, 30]);
        save(&mut s, "c", t(2026, 3, 3, 18), 20, 150_000.0);
        // The week before: one with zones.
        save_with_zones(&mut s, "d", t(2026, 2, 24, 8), [600, 0, 0, 0, 0]);
        let weeks = weekly_totals(&s, now, 12).unwrap();
        // Each workout's minutes to one decimal, as its Workouts row has
        // them, then summed: 0 + 1.0, 0.2 + 2.0, 2.6 + 5.0, 13.8 + 10.0,
        // 3.4 + 0.5; the workout without zones adds nothing.
        assert_eq!(weeks[11].hr_zone_minutes, [1.0, 2.2, 7.6, 23.8, 3.9]);
        assert_eq!(weeks[11].workouts, 3);
        assert_eq!(weeks[10].hr_zone_minutes, [10.0, 0.0, 0.0, 0.0, 0.0]);
        assert_eq!(weeks[9].hr_zone_minutes, [0.0; 5]);
    }

    fn finish(s: &mut Store, start: DateTime<Utc>, ok: bool, errors: &[&str]) {
        let id = s.start_run(start).unwrap();
        let mut written = BTreeMap::new();
        written.insert("workouts".to_owned(), 2u64);
        s.finish_run(
            id,
            &RunOutcome {
                finished_at: start + Duration::seconds(30),
                ok,
                seconds: 30.0,
                written,
                deleted: BTreeMap::new(),
                errors: errors.iter().map(|e| e.to_string()).collect(),
                notes: vec!["Skipped carol: their profile is private.".into()],
                new_workouts: vec!["45 min Power Zone Ride with Matt Wilpers".into()],
            },
        )
        .unwrap();
    }

    #[test]
    fn status_before_any_sync() {
        let s = Store::open_in_memory().unwrap();
        let v = status(&s, t(2026, 3, 2, 10), Some(t(2026, 3, 2, 11))).unwrap();
        assert_eq!(v.outcome, LastOutcome::Never);
        assert_eq!(v.last_sync_at, None);
        assert_eq!(v.summary, "Not synced yet");
        assert_eq!(v.next_sync_at, Some(t(2026, 3, 2, 11)));
    }

    #[test]
    fn status_tells_the_last_sync_and_its_counts() {
        let mut s = Store::open_in_memory().unwrap();
        finish(&mut s, t(2026, 3, 2, 9), true, &[]);
        let v = status(&s, t(2026, 3, 2, 10), None).unwrap();
        assert_eq!(v.outcome, LastOutcome::Ok);
        assert_eq!(
            v.last_sync_at,
            Some(t(2026, 3, 2, 9) + Duration::seconds(30))
        );
        assert_eq!(v.last_sync_ago.as_deref(), Some("59 min ago"));
        assert_eq!(v.summary, "1 new workout, 2 rows written");
        assert_eq!(
            v.counts,
            vec![TableCount {
                table: "workouts".into(),
                written: 2,
                deleted: 0
            }]
        );
        assert_eq!(v.error, None);
        assert_eq!(v.notes.len(), 1);
        assert_eq!(v.failure_streak, 0);
    }

    #[test]
    fn status_of_a_failed_sync_carries_its_sentence_and_streak() {
        let mut s = Store::open_in_memory().unwrap();
        finish(
            &mut s,
            t(2026, 3, 2, 8),
            false,
            &["Peloton refused the login."],
        );
        finish(
            &mut s,
            t(2026, 3, 2, 9),
            false,
            &["Peloton refused the login."],
        );
        let v = status(&s, t(2026, 3, 4, 9), None).unwrap();
        assert_eq!(v.outcome, LastOutcome::Failed);
        assert_eq!(v.error.as_deref(), Some("Peloton refused the login."));
        assert_eq!(v.failure_streak, 2);
        assert_eq!(v.last_sync_ago.as_deref(), Some("1 day ago"));
    }

    #[test]
    fn ago_reads_naturally() {
        let now = t(2026, 3, 10, 12);
        assert_eq!(ago(now - Duration::seconds(5), now), "just now");
        assert_eq!(ago(now - Duration::minutes(12), now), "12 min ago");
        assert_eq!(ago(now - Duration::hours(3), now), "3 h ago");
        assert_eq!(ago(now - Duration::days(4), now), "4 days ago");
    }
}
