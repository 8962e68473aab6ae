//! One sync run for the app: settings, engine and run exactly as the CLI
//! builds them (through `pcs_core::setup`), with the report boiled down to
//! what the controller needs. Also what the controller is told at start.

use std::sync::Arc;
use std::time::Duration;

use chrono::{DateTime, Utc};
use pcs_core::secrets::{store_for_run, KeychainStatus};
use pcs_core::settings::Settings;
use pcs_core::setup::{build_engine, SetupError, SetupInput};
use pcs_core::store::Store;
use pcs_core::sync::{Problem, ProblemArea, Progress, RunOptions, RunRefused, RunReport};
use pcs_core::wording::{for_face, Face};
use tokio_util::sync::CancellationToken;

use crate::controller::{Failure, FailureKind, Initial, Request, RunSummary, SyncResult};
use crate::state::AppState;

/// The app never queues behind another sync (the CLI from cron): it finds
/// the lock taken, says "busy" and tries again a little later.
const LOCK_WAIT: Duration = Duration::ZERO;

/// The short tray sentence for a problem the user must fix, and whether
/// the fix is in the settings window.
pub fn attention(area: ProblemArea) -> (String, bool) {
    let (s, settings) = match area {
        ProblemArea::PelotonLogin => ("Peloton login refused - open Settings", true),
        ProblemArea::PelotonBlocked => (
            "Peloton blocked logins - unblock, then test in Settings",
            false,
        ),
        ProblemArea::PelotonSignedOut => ("Signed out of Peloton: sign in again", true),
        ProblemArea::CodaToken => ("Coda token refused - open Settings", true),
        ProblemArea::Settings => (crate::controller::SETUP_SENTENCE, true),
        ProblemArea::CodaDoc => ("The Coda doc needs a fix - open the window", false),
        ProblemArea::Local => ("A problem on this computer - open the window", false),
        ProblemArea::Peloton
        | ProblemArea::Coda
        | ProblemArea::Friend
        | ProblemArea::Interrupted => ("Sync failed - open the window", false),
    };
    (s.to_owned(), settings)
}

/// What the controller is told of a failure: the sentence in the app's
/// words (core's wording: Settings, not the CLI), and whether the user must
/// act (from the problem's area, core's rule).
pub fn failure(p: &Problem) -> Failure {
    let kind = if p.area.waits_for_sign_in() {
        FailureKind::SignedOut {
            short: attention(p.area).0,
        }
    } else if p.area.needs_user() {
        let (short, open_settings) = attention(p.area);
        FailureKind::NeedsUser {
            short,
            open_settings,
        }
    } else {
        FailureKind::Transient
    };
    Failure {
        message: for_face(Face::App, &p.message),
        kind,
    }
}

/// What the controller needs of a report; whether it failed is core's
/// [`RunReport::failure`], as for the CLI's exit status.
pub fn summary(report: &RunReport) -> RunSummary {
    RunSummary {
        finished_at: report.finished_at,
        failure: report.failure().map(failure),
        new_workouts: report.new_workouts.iter().map(|w| w.describe()).collect(),
        new_friend_workouts: report.new_friend_workouts,
    }
}

/// A run that could not start: settings unreadable, setup incomplete or
/// broken, the run refused.
pub fn not_started(at: DateTime<Utc>, p: &Problem) -> RunSummary {
    RunSummary {
        finished_at: at,
        failure: Some(failure(p)),
        new_workouts: Vec::new(),
        new_friend_workouts: 0,
    }
}

/// A run that could not start because setup is incomplete or broken.
pub fn setup_failure(at: DateTime<Utc>, e: &SetupError) -> RunSummary {
    not_started(at, &Problem::from(e))
}

/// Runs one sync and tells how it went. Progress goes to the controller as
/// it happens.
pub async fn run_once(state: Arc<AppState>, cancel: CancellationToken) -> SyncResult {
    let now = state.clock.now();
    let settings = match Settings::load(&state.paths.config_file) {
        Ok(s) => s,
        Err(e) => {
            return SyncResult::Finished(not_started(
                now,
                &Problem {
                    area: ProblemArea::Settings,
                    message: e.user_message(),
                },
            ));
        }
    };
    // Probed afresh each run: a keychain locked at start is used once unlocked.
    let (secrets, keychain) = store_for_run(state.secrets.clone());
    if let KeychainStatus::Unavailable(e) = &keychain {
        tracing::warn!(reason = %e, "no keychain; credentials come from the environment only");
    }
    let engine = match build_engine(SetupInput {
        paths: &state.paths,
        settings: &settings,
        overrides: &state.overrides,
        secrets,
        clock: state.clock.clone(),
        lock_wait: LOCK_WAIT,
    }) {
        Ok(e) => e,
        Err(e) => {
            tracing::warn!(error = %e, "sync could not start");
            return SyncResult::Finished(not_started(now, &Problem::from(&e)));
        }
    };
    let tx = state.requests.clone();
    let progress = move |p: Progress| {
        let _ = tx.send(Request::Progress(p.describe()));
    };
    // "Write every row again" holds for one run that starts.
    let full = state
        .full_next
        .swap(false, std::sync::atomic::Ordering::SeqCst);
    let result = engine.run(RunOptions { full }, &progress, &cancel).await;
    if full && matches!(result, Err(RunRefused::AlreadyRunning)) {
        state
            .full_next
            .store(true, std::sync::atomic::Ordering::SeqCst);
    }
    match result {
        Ok(report) => {
            tracing::info!(summary = %report.summary(), "sync finished");
            SyncResult::Finished(summary(&report))
        }
        Err(RunRefused::AlreadyRunning) => {
            tracing::info!("another sync holds the lock; retrying later");
            SyncResult::Busy {
                at: state.clock.now(),
            }
        }
        Err(e) => {
            tracing::warn!(error = %e, "sync refused");
            SyncResult::Finished(not_started(
                state.clock.now(),
                &Problem {
                    area: ProblemArea::Local,
                    message: e.user_message(),
                },
            ))
        }
    }
}

/// What the local state says at start: the last run, the last success,
/// the failure streak. A state that cannot be read starts blank (the first
/// sync will say what is wrong).
pub fn initial(store: Option<&Store>, needs_setup: bool) -> Initial {
    let Some(store) = store else {
        return Initial {
            needs_setup,
            ..Initial::default()
        };
    };
    let last = store.last_run().ok().flatten();
    let last_ok_at = store.runs(50).ok().and_then(|runs| {
        runs.into_iter()
            .find(|r| r.ok == Some(true))
            .and_then(|r| r.finished_at)
    });
    Initial {
        last_end: last.as_ref().map(|r| r.finished_at.unwrap_or(r.started_at)),
        last_ok_at,
        failure_streak: store.failure_streak().unwrap_or(0),
        last_error: last.and_then(|r| r.errors.into_iter().next()),
        needs_setup,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;
    use pcs_core::sync::{NewWorkout, Problem};
    use std::collections::BTreeMap;

    fn report(problems: Vec<Problem>) -> RunReport {
        let t = Utc.with_ymd_and_hms(2026, 3, 2, 9, 0, 0).unwrap();
        RunReport {
            started_at: t,
            finished_at: t,
            written: BTreeMap::new(),
            deleted: BTreeMap::new(),
            problems,
            notes: vec![],
            new_workouts: vec![NewWorkout {
                id: "w".into(),
                title: "Power Zone Ride".into(),
                instructor: Some("Matt Wilpers".into()),
                minutes: 45,
                start_time: String::new(),
            }],
            friends: 0,
            new_friend_workouts: 2,
            peloton_requests: 0,
            coda_writes: 0,
            interrupted: false,
        }
    }

    fn p(area: ProblemArea, m: &str) -> Problem {
        Problem {
            area,
            message: m.into(),
        }
    }

    #[test]
    fn a_clean_report_is_a_success_with_its_workouts_described() {
        let s = summary(&report(vec![]));
        assert_eq!(s.failure, None);
        assert_eq!(s.new_workouts, ["45 min Power Zone Ride with Matt Wilpers"]);
        assert_eq!(s.new_friend_workouts, 2);
    }

    #[test]
    fn friend_problems_alone_are_no_failure() {
        let s = summary(&report(vec![p(ProblemArea::Friend, "bob failed")]));
        assert_eq!(s.failure, None);
    }

    #[test]
    fn a_problem_the_user_must_fix_wins_over_a_transient_one() {
        let s = summary(&report(vec![
            p(ProblemArea::Coda, "Coda is down."),
            p(ProblemArea::PelotonLogin, "Peloton refused the login."),
        ]));
        assert_eq!(
            s.failure,
            Some(Failure {
                message: "Peloton refused the login.".into(),
                kind: FailureKind::NeedsUser {
                    short: "Peloton login refused - open Settings".into(),
                    open_settings: true
                }
            })
        );
        let s = summary(&report(vec![p(ProblemArea::Peloton, "Peloton is down.")]));
        assert_eq!(s.failure.unwrap().kind, FailureKind::Transient);
    }

    #[test]
    fn a_login_block_is_told_in_the_tray_without_opening_settings() {
        let sentence = pcs_core::peloton::PelotonError::LoginBlocked.user_message();
        let s = summary(&report(vec![p(ProblemArea::PelotonBlocked, &sentence)]));
        assert_eq!(
            s.failure,
            Some(Failure {
                message: sentence,
                kind: FailureKind::NeedsUser {
                    short: "Peloton blocked logins - unblock, then test in Settings".into(),
                    open_settings: false
                }
            })
        );
    }

    #[test]
    fn a_dead_sign_in_waits_for_the_person_to_sign_in_again() {
        let sentence = pcs_core::peloton::PelotonError::SignedOut.user_message();
        let s = summary(&report(vec![p(ProblemArea::PelotonSignedOut, &sentence)]));
        assert_eq!(
            s.failure,
            Some(Failure {
                message: "Signed out of Peloton: sign in again.".into(),
                kind: FailureKind::SignedOut {
                    short: "Signed out of Peloton: sign in again".into(),
                }
            })
        );
    }

    #[test]
    fn missing_credentials_ask_for_settings() {
        let at = Utc.with_ymd_and_hms(2026, 3, 2, 9, 0, 0).unwrap();
        let s = setup_failure(at, &SetupError::MissingCodaToken);
        let f = s.failure.unwrap();
        assert!(matches!(
            f.kind,
            FailureKind::NeedsUser {
                open_settings: true,
                ..
            }
        ));
        // The app's words: Settings, not the CLI's `login`.
        assert_eq!(f.message, "No Coda API token is set; open Settings.");
    }

    #[test]
    fn initial_reads_the_last_run_and_streak() {
        use pcs_core::store::RunOutcome;
        let mut store = Store::open_in_memory().unwrap();
        let t = Utc.with_ymd_and_hms(2026, 3, 2, 9, 0, 0).unwrap();
        for (i, ok) in [true, false, false].into_iter().enumerate() {
            let start = t + chrono::Duration::hours(i as i64);
            let id = store.start_run(start).unwrap();
            store
                .finish_run(
                    id,
                    &RunOutcome {
                        finished_at: start + chrono::Duration::minutes(1),
                        ok,
                        seconds: 60.0,
                        written: BTreeMap::new(),
                        deleted: BTreeMap::new(),
                        errors: if ok {
                            vec![]
                        } else {
                            vec!["Coda is down.".into()]
                        },
                        notes: vec![],
                        new_workouts: vec![],
                    },
                )
                .unwrap();
        }
        let i = initial(Some(&store), false);
        assert_eq!(i.failure_streak, 2);
        assert_eq!(i.last_ok_at, Some(t + chrono::Duration::minutes(1)));
        assert_eq!(
            i.last_end,
            Some(t + chrono::Duration::hours(2) + chrono::Duration::minutes(1))
        );
        assert_eq!(i.last_error.as_deref(), Some("Coda is down."));
        let blank = initial(None, true);
        assert!(blank.needs_setup);
        assert_eq!(blank.last_end, None);
    }
}
