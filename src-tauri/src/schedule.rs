//! When the next automatic sync runs: a pure plan over explicit times.
//!
//! Rules (from the issue):
//! - the next run is planned from the last run's END plus the interval, so
//!   a long run never leads straight into the next one;
//! - changing the interval re-plans at once (the plan is always computed
//!   from the facts, never stored);
//! - a failure that may pass by itself (network, rate limit) is retried
//!   after 2, 4, 8 ... minutes, capped at the interval, instead of a whole
//!   interval; a failure the user must fix waits the whole interval (or a
//!   settings change), so a refused password is not hammered;
//! - after the machine wakes from sleep or the network returns, a sync runs
//!   after a short delay; many such signals in a row still give one run.

use chrono::{DateTime, Duration, Utc};

/// The delay before the first sync after the app starts.
pub const STARTUP_DELAY: Duration = Duration::seconds(10);
/// The delay before a sync after waking from sleep or the network coming
/// back (the network usually needs a moment).
pub const WAKE_DELAY: Duration = Duration::seconds(30);
/// A gap between two ticks larger than this means the machine slept.
pub const SLEEP_GAP: Duration = Duration::minutes(3);
/// The first retry delay after a failure; it doubles with each failure.
pub const FIRST_RETRY: Duration = Duration::minutes(2);
/// The wait when another process (the CLI) was syncing.
pub const BUSY_RETRY: Duration = Duration::minutes(2);

/// How a run ended, as far as planning is concerned.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Outcome {
    /// It worked (or failed only for one friend, which the next run retries anyway).
    Ok,
    /// It failed for a reason that may pass (network, rate limit, server error).
    Transient,
    /// It failed for a reason the user must fix.
    NeedsUser,
    /// Another process held the sync lock; nothing ran.
    Busy,
}

/// The plan.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Schedule {
    interval: Duration,
    started_at: DateTime<Utc>,
    last_end: Option<DateTime<Utc>>,
    last_outcome: Outcome,
    /// Transient failures in a row.
    failures: u32,
    /// A pending early sync (after wake or network return).
    nudge_at: Option<DateTime<Utc>>,
    last_tick: Option<DateTime<Utc>>,
    /// A sync is running now.
    running: bool,
    /// A nudge came while a sync ran (e.g. a fixed password saved): it asks
    /// for a sync after that one, since the running one used the old values.
    nudged_while_running: bool,
}

impl Schedule {
    /// A plan for an app started at `now`, syncing every `interval_minutes`;
    /// `last_end` is when the last run (by anyone) ended, if ever.
    pub fn new(interval_minutes: u32, now: DateTime<Utc>, last_end: Option<DateTime<Utc>>) -> Self {
        Schedule {
            interval: Duration::minutes(i64::from(interval_minutes.max(1))),
            started_at: now,
            last_end,
            last_outcome: Outcome::Ok,
            failures: 0,
            nudge_at: None,
            last_tick: Some(now),
            running: false,
            nudged_while_running: false,
        }
    }

    /// The interval between successful syncs.
    pub fn interval(&self) -> Duration {
        self.interval
    }

    /// Changes the interval; the next run moves at once.
    pub fn set_interval(&mut self, minutes: u32) {
        self.interval = Duration::minutes(i64::from(minutes.max(1)));
    }

    /// Transient failures in a row.
    pub fn failures(&self) -> u32 {
        self.failures
    }

    /// Records that a sync started.
    pub fn started(&mut self) {
        self.running = true;
    }

    /// Records a run that ended at `end`. The nudge it answered is spent; one
    /// that came while it ran is kept for a sync soon after.
    pub fn finished(&mut self, end: DateTime<Utc>, outcome: Outcome) {
        self.running = false;
        self.last_end = Some(end);
        self.last_outcome = outcome;
        self.nudge_at = None;
        match outcome {
            Outcome::Ok | Outcome::NeedsUser => self.failures = 0,
            Outcome::Transient => self.failures = self.failures.saturating_add(1),
            Outcome::Busy => {}
        }
        if std::mem::take(&mut self.nudged_while_running) {
            self.nudge(end);
        }
    }

    /// Asks for a sync soon (woke from sleep, network back, credentials
    /// changed). A nudge already pending is kept, so signals do not pile up;
    /// one during a run is kept for after it.
    pub fn nudge(&mut self, now: DateTime<Utc>) {
        if self.running {
            self.nudged_while_running = true;
            return;
        }
        let at = now + WAKE_DELAY;
        if self.nudge_at.is_none() && at < self.planned() {
            self.nudge_at = Some(at);
        }
    }

    /// Called on every timer tick; a tick long after the previous one means
    /// the machine slept, which nudges a sync.
    pub fn tick(&mut self, now: DateTime<Utc>) {
        if let Some(prev) = self.last_tick {
            if now - prev > SLEEP_GAP {
                self.nudge(now);
            }
        }
        self.last_tick = Some(now);
    }

    /// The retry delay after `failures` transient failures in a row:
    /// 2, 4, 8 ... minutes, never more than the interval.
    pub fn backoff(&self, failures: u32) -> Duration {
        let doublings = failures.saturating_sub(1).min(20);
        let minutes = FIRST_RETRY.num_minutes() << doublings;
        Duration::minutes(minutes).min(self.interval)
    }

    /// When the regular plan (without a nudge) runs next.
    fn planned(&self) -> DateTime<Utc> {
        match self.last_end {
            None => self.started_at + STARTUP_DELAY,
            Some(end) => {
                end + match self.last_outcome {
                    Outcome::Ok | Outcome::NeedsUser => self.interval,
                    Outcome::Transient => self.backoff(self.failures),
                    Outcome::Busy => BUSY_RETRY.min(self.interval),
                }
            }
        }
    }

    /// When the next sync runs.
    pub fn next_run(&self) -> DateTime<Utc> {
        let planned = self.planned();
        match self.nudge_at {
            Some(n) if n < planned => n,
            _ => planned,
        }
    }

    /// Whether a sync is due at `now`.
    pub fn due(&self, now: DateTime<Utc>) -> bool {
        now >= self.next_run()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;

    fn t(h: u32, m: u32) -> DateTime<Utc> {
        Utc.with_ymd_and_hms(2026, 3, 2, h, m, 0).unwrap()
    }

    #[test]
    fn the_first_sync_runs_shortly_after_start() {
        let s = Schedule::new(60, t(9, 0), None);
        assert_eq!(s.next_run(), t(9, 0) + STARTUP_DELAY);
        assert!(!s.due(t(9, 0)));
        assert!(s.due(t(9, 1)));
    }

    #[test]
    fn after_a_restart_the_plan_follows_the_last_run() {
        let s = Schedule::new(60, t(9, 30), Some(t(9, 10)));
        assert_eq!(s.next_run(), t(10, 10));
        // A last run long ago: due at once.
        let s = Schedule::new(60, t(9, 30), Some(t(6, 0)));
        assert!(s.due(t(9, 30)));
    }

    #[test]
    fn the_next_run_counts_from_the_end_of_the_last() {
        let mut s = Schedule::new(60, t(9, 0), None);
        // A run from 9:00 that took 25 minutes.
        s.finished(t(9, 25), Outcome::Ok);
        assert_eq!(s.next_run(), t(10, 25));
        assert!(!s.due(t(10, 0)));
        assert!(s.due(t(10, 25)));
    }

    #[test]
    fn a_nudge_during_a_run_is_kept_for_after_it() {
        let mut s = Schedule::new(1440, t(9, 0), Some(t(8, 0)));
        s.started();
        // Settings saved while the run used the old password.
        s.nudge(t(9, 1));
        s.finished(t(9, 5), Outcome::NeedsUser);
        assert_eq!(s.next_run(), t(9, 5) + WAKE_DELAY);
        // That nudge is spent by the next run; a plain run keeps no nudge.
        s.started();
        s.finished(t(9, 6), Outcome::Ok);
        assert_eq!(s.next_run(), t(9, 6) + Duration::days(1));
    }

    #[test]
    fn changing_the_interval_replans_at_once() {
        let mut s = Schedule::new(60, t(9, 0), None);
        s.finished(t(9, 0), Outcome::Ok);
        s.set_interval(15);
        assert_eq!(s.next_run(), t(9, 15));
        s.set_interval(1440);
        assert_eq!(s.next_run(), t(9, 0) + Duration::days(1));
        assert_eq!(s.interval(), Duration::minutes(1440));
    }

    #[test]
    fn transient_failures_back_off_doubling_up_to_the_interval() {
        let mut s = Schedule::new(60, t(9, 0), None);
        let mut end = t(9, 0);
        let mut waits = Vec::new();
        for _ in 0..7 {
            s.finished(end, Outcome::Transient);
            let next = s.next_run();
            waits.push((next - end).num_minutes());
            end = next;
        }
        assert_eq!(waits, [2, 4, 8, 16, 32, 60, 60]);
        assert_eq!(s.failures(), 7);
        s.finished(end, Outcome::Ok);
        assert_eq!(s.failures(), 0);
        assert_eq!(s.next_run(), end + Duration::minutes(60));
    }

    #[test]
    fn backoff_never_exceeds_a_short_interval() {
        let mut s = Schedule::new(15, t(9, 0), None);
        for _ in 0..5 {
            s.finished(t(9, 0), Outcome::Transient);
        }
        assert_eq!(s.next_run(), t(9, 15));
        assert_eq!(s.backoff(u32::MAX), Duration::minutes(15));
    }

    #[test]
    fn a_failure_the_user_must_fix_waits_a_whole_interval() {
        let mut s = Schedule::new(60, t(9, 0), None);
        s.finished(t(9, 1), Outcome::NeedsUser);
        assert_eq!(s.next_run(), t(10, 1));
    }

    #[test]
    fn a_busy_lock_retries_soon_without_counting_a_failure() {
        let mut s = Schedule::new(60, t(9, 0), None);
        s.finished(t(9, 0), Outcome::Busy);
        assert_eq!(s.next_run(), t(9, 2));
        assert_eq!(s.failures(), 0);
    }

    #[test]
    fn waking_from_sleep_syncs_after_a_short_delay() {
        let mut s = Schedule::new(60, t(9, 0), None);
        s.finished(t(9, 0), Outcome::Ok);
        s.tick(t(9, 1));
        // The machine slept from 9:01 to 9:40.
        s.tick(t(9, 40));
        assert_eq!(s.next_run(), t(9, 40) + WAKE_DELAY);
        assert!(!s.due(t(9, 40)));
        assert!(s.due(t(9, 41)));
    }

    #[test]
    fn many_wake_signals_give_one_run() {
        let mut s = Schedule::new(60, t(9, 0), None);
        s.finished(t(9, 0), Outcome::Ok);
        s.nudge(t(9, 10));
        s.nudge(t(9, 10) + Duration::seconds(5));
        s.tick(t(9, 10));
        s.tick(t(9, 20));
        assert_eq!(s.next_run(), t(9, 10) + WAKE_DELAY);
        // The run consumes the nudge; the plan is back to end + interval.
        s.finished(t(9, 11), Outcome::Ok);
        assert_eq!(s.next_run(), t(10, 11));
    }

    #[test]
    fn a_nudge_never_delays_a_run_already_due_sooner() {
        let mut s = Schedule::new(60, t(9, 0), None);
        s.finished(t(9, 0), Outcome::Ok);
        s.nudge(t(9, 59) + Duration::seconds(50));
        assert_eq!(s.next_run(), t(10, 0));
    }

    #[test]
    fn regular_ticks_do_not_nudge() {
        let mut s = Schedule::new(60, t(9, 0), None);
        s.finished(t(9, 0), Outcome::Ok);
        for m in 1..59 {
            s.tick(t(9, m));
        }
        assert_eq!(s.next_run(), t(10, 0));
    }
}
