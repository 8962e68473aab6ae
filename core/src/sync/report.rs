//! What a run tells the outside world: progress while it runs, a report when
//! it ends. The CLI prints these, the app turns them into its tooltip, window
//! and notifications; neither computes anything of its own.

use std::collections::BTreeMap;

use chrono::{DateTime, Utc};
use serde::Serialize;

use crate::rows::WorkoutSummary;
use crate::tables::Table;

/// A step of a run, for progress bars and the tray tooltip.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(tag = "phase", rename_all = "snake_case")]
pub enum Progress {
    /// Logging in to Peloton and opening the Coda doc.
    Connecting,
    /// Listing workouts; `seen` so far.
    Listing {
        /// Workouts listed so far.
        seen: u64,
    },
    /// Fetching details of new or changed workouts.
    Fetching {
        /// Fetched so far.
        done: u64,
        /// To fetch in all.
        total: u64,
    },
    /// Reading friends and their workouts.
    Friends {
        /// Friends read so far.
        done: u64,
        /// Friends in all.
        total: u64,
    },
    /// Writing rows to a Coda table.
    Writing {
        /// The table being written.
        table: Table,
        /// Rows accepted so far.
        done: u64,
        /// Rows to write in all.
        total: u64,
    },
}

impl Progress {
    /// A short phrase for a tooltip or a progress bar ("Syncing 120/300 workouts").
    pub fn describe(&self) -> String {
        match self {
            Progress::Connecting => "Connecting".to_string(),
            Progress::Listing { seen } => format!("Listing workouts ({seen})"),
            Progress::Fetching { done, total } => format!("Syncing {done}/{total} workouts"),
            Progress::Friends { done, total } => format!("Reading friends {done}/{total}"),
            Progress::Writing { table, done, total } => {
                format!("Writing {} {done}/{total}", table.default_name())
            }
        }
    }
}

/// Where a problem happened, so the app can point at the right setting.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum ProblemArea {
    /// Peloton login refused: the user must fix the e-mail or password.
    PelotonLogin,
    /// Peloton blocks logins for a while (too many attempts): nothing to
    /// fix, no login is tried until the block is over.
    PelotonBlocked,
    /// Peloton ended a browser sign-in and no password is kept: the user
    /// must sign in again; automatic syncs wait for that.
    PelotonSignedOut,
    /// Peloton could not be read (network, rate limit, changed API).
    Peloton,
    /// The Coda token was refused or lacks access.
    CodaToken,
    /// The doc, a table or a column is missing or wrong.
    CodaDoc,
    /// Coda could not be written (network, rate limit).
    Coda,
    /// One friend could not be read.
    Friend,
    /// The local state or the machine (disk full, keychain).
    Local,
    /// Settings are incomplete.
    Settings,
    /// The run was stopped (a signal, the app quitting) before it finished;
    /// the next run resumes.
    Interrupted,
}

impl ProblemArea {
    /// Whether the user must act (open Settings, or wait out a login block)
    /// rather than the app retrying soon by itself.
    pub fn needs_user(self) -> bool {
        matches!(
            self,
            ProblemArea::PelotonLogin
                | ProblemArea::PelotonBlocked
                | ProblemArea::PelotonSignedOut
                | ProblemArea::CodaToken
                | ProblemArea::CodaDoc
                | ProblemArea::Settings
                | ProblemArea::Local
        )
    }
}

/// One thing that went wrong, as a sentence a user can act on.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Problem {
    /// Where it happened.
    pub area: ProblemArea,
    /// One sentence: what happened and what to do.
    pub message: String,
}

/// A workout that arrived in this run, for the "new workouts" notification.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct NewWorkout {
    /// Peloton workout id.
    pub id: String,
    /// Class title ("Power Zone Ride").
    pub title: String,
    /// Instructor, if any.
    pub instructor: Option<String>,
    /// Minutes, rounded.
    pub minutes: u32,
    /// Start time as written to Coda.
    pub start_time: String,
}

impl From<&WorkoutSummary> for NewWorkout {
    fn from(s: &WorkoutSummary) -> Self {
        NewWorkout {
            id: s.id.clone(),
            title: s
                .title
                .clone()
                .or_else(|| s.discipline.clone())
                .unwrap_or_else(|| "Workout".into()),
            instructor: s.instructor.clone(),
            minutes: s.minutes.map_or(0, |m| m.round().max(0.0) as u32),
            start_time: s.start_time.clone(),
        }
    }
}

impl NewWorkout {
    /// "45 min Power Zone Ride with Matt Wilpers".
    pub fn describe(&self) -> String {
        match &self.instructor {
            Some(i) => format!("{} min {} with {i}", self.minutes, self.title),
            None => format!("{} min {}", self.minutes, self.title),
        }
    }
}

/// Everything a finished run has to say.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct RunReport {
    /// When it started.
    pub started_at: DateTime<Utc>,
    /// When it ended.
    pub finished_at: DateTime<Utc>,
    /// Rows accepted by Coda, per table name key (`workouts`, ...).
    pub written: BTreeMap<String, u64>,
    /// Rows deleted, per table key.
    pub deleted: BTreeMap<String, u64>,
    /// What failed.
    pub problems: Vec<Problem>,
    /// What the user should know but that is not a failure (skipped private friends).
    pub notes: Vec<String>,
    /// Workouts seen for the first time.
    pub new_workouts: Vec<NewWorkout>,
    /// Friends read.
    pub friends: u64,
    /// Friends' workouts that are new since the last run.
    pub new_friend_workouts: u64,
    /// Peloton API requests made.
    pub peloton_requests: u64,
    /// Coda write requests made.
    pub coda_writes: u64,
    /// The run was stopped (a signal, the app quitting) before it finished.
    pub interrupted: bool,
}

impl RunReport {
    /// An empty report of a run starting at `started_at`.
    pub fn new(started_at: DateTime<Utc>) -> Self {
        Self {
            started_at,
            finished_at: started_at,
            written: BTreeMap::new(),
            deleted: BTreeMap::new(),
            problems: Vec::new(),
            notes: Vec::new(),
            new_workouts: Vec::new(),
            friends: 0,
            new_friend_workouts: 0,
            peloton_requests: 0,
            coda_writes: 0,
            interrupted: false,
        }
    }

    /// Why the run failed, or `None` when it succeeded: the one definition
    /// of success, for the CLI's exit status, the app's tray and the stored
    /// run alike. The problem shown is the first the user must act on, else
    /// the first.
    ///
    /// An interrupted run fails: the engine records it as a
    /// [`ProblemArea::Interrupted`] problem beside `interrupted`.
    ///
    /// A run whose only problems are single friends succeeds: their
    /// problems are still reported (stderr, the window), the other friends
    /// and every table were written, and the next run retries them anyway.
    pub fn failure(&self) -> Option<&Problem> {
        let serious = || {
            self.problems
                .iter()
                .filter(|p| p.area != ProblemArea::Friend)
        };
        serious()
            .find(|p| p.area.needs_user())
            .or_else(|| serious().next())
    }

    /// True when the run succeeded (see [`RunReport::failure`]).
    pub fn ok(&self) -> bool {
        self.failure().is_none()
    }

    /// Seconds the run took.
    pub fn seconds(&self) -> f64 {
        (self.finished_at - self.started_at).num_milliseconds() as f64 / 1000.0
    }

    /// "12 new workouts, 3 friends, 0 errors in 4.2 s".
    pub fn summary(&self) -> String {
        let n = self.new_workouts.len();
        format!(
            "{n} new workout{}, {} friend{}, {} error{} in {:.1} s",
            if n == 1 { "" } else { "s" },
            self.friends,
            if self.friends == 1 { "" } else { "s" },
            self.problems.len(),
            if self.problems.len() == 1 { "" } else { "s" },
            self.seconds()
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn report() -> RunReport {
        let t = DateTime::parse_from_rfc3339("2026-01-01T10:00:00Z")
            .unwrap()
            .with_timezone(&Utc);
        RunReport {
            started_at: t,
            finished_at: t + chrono::Duration::milliseconds(4200),
            written: BTreeMap::new(),
            deleted: BTreeMap::new(),
            problems: vec![],
            notes: vec![],
            new_workouts: vec![],
            friends: 3,
            new_friend_workouts: 0,
            peloton_requests: 0,
            coda_writes: 0,
            interrupted: false,
        }
    }

    #[test]
    fn summary_reads_like_the_cli_contract() {
        let mut r = report();
        r.new_workouts = (0..12)
            .map(|i| NewWorkout {
                id: i.to_string(),
                title: "Ride".into(),
                instructor: None,
                minutes: 20,
                start_time: String::new(),
            })
            .collect();
        assert_eq!(r.summary(), "12 new workouts, 3 friends, 0 errors in 4.2 s");
    }

    fn problem(area: ProblemArea, message: &str) -> Problem {
        Problem {
            area,
            message: message.into(),
        }
    }

    fn failure_of(problems: &[(ProblemArea, &str)]) -> Option<String> {
        let mut r = report();
        r.problems = problems.iter().map(|(a, m)| problem(*a, m)).collect();
        assert_eq!(r.ok(), r.failure().is_none());
        r.failure().map(|p| p.message.clone())
    }

    #[test]
    fn failure_is_the_one_definition_of_success() {
        use ProblemArea::*;
        assert_eq!(failure_of(&[]), None);
        // Friends' problems alone are reported, not a failure.
        assert_eq!(failure_of(&[(Friend, "bob failed")]), None);
        assert_eq!(
            failure_of(&[(Friend, "bob failed"), (Coda, "Coda is down.")]).as_deref(),
            Some("Coda is down.")
        );
        // What the user must fix wins over what passes by itself.
        assert_eq!(
            failure_of(&[
                (Friend, "bob failed"),
                (Peloton, "Peloton is down."),
                (PelotonLogin, "login refused"),
            ])
            .as_deref(),
            Some("login refused")
        );
    }

    #[test]
    fn an_interrupted_run_is_a_failure() {
        use ProblemArea::*;
        assert_eq!(
            failure_of(&[(Friend, "bob failed"), (Interrupted, "stopped")]).as_deref(),
            Some("stopped")
        );
    }

    #[test]
    fn new_workout_describes_itself() {
        let w = NewWorkout {
            id: "x".into(),
            title: "Power Zone Ride".into(),
            instructor: Some("Matt Wilpers".into()),
            minutes: 45,
            start_time: String::new(),
        };
        assert_eq!(w.describe(), "45 min Power Zone Ride with Matt Wilpers");
    }

    #[test]
    fn a_new_workout_is_named_from_its_summary() {
        let summary = WorkoutSummary {
            id: "w1".into(),
            start_time: "2026-03-02T07:00:00-05:00".into(),
            discipline: Some("Strength".into()),
            title: None,
            instructor: None,
            minutes: Some(19.6),
            output_kj: None,
            personal_record: false,
            strive: None,
            hr_zone_minutes: [None; 5],
        };
        let w = NewWorkout::from(&summary);
        // No title: the discipline names it; minutes are rounded.
        assert_eq!(w.describe(), "20 min Strength");
        assert_eq!(w.id, "w1");
        let titled = WorkoutSummary {
            title: Some("Full Body".into()),
            instructor: Some("Andy Speer".into()),
            ..summary
        };
        assert_eq!(
            NewWorkout::from(&titled).describe(),
            "20 min Full Body with Andy Speer"
        );
    }

    #[test]
    fn zones_need_all_five_and_some_time() {
        let mut s = WorkoutSummary {
            id: "w".into(),
            start_time: String::new(),
            discipline: None,
            title: None,
            instructor: None,
            minutes: None,
            output_kj: None,
            personal_record: false,
            strive: None,
            hr_zone_minutes: [Some(1.0), Some(2.0), None, Some(0.0), Some(0.5)],
        };
        assert_eq!(s.zones(), None);
        s.hr_zone_minutes[2] = Some(3.0);
        assert_eq!(s.zones(), Some([1.0, 2.0, 3.0, 0.0, 0.5]));
        s.hr_zone_minutes = [Some(0.0); 5];
        assert_eq!(s.zones(), None);
    }
}
