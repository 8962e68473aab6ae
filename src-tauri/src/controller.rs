//! The one task that owns the app's state: paused or not, running or not,
//! the plan of the next sync, what went wrong, what the user was told.
//!
//! It reads a closed [`Request`] from a channel and alone changes state.
//! Every effect (tray, notification, window, status event, starting a sync)
//! leaves through the [`Shell`] trait, which the Tauri app implements and
//! tests replace with a recording fake. No clock is read here: every
//! request is handled at the time of the [`SharedClock`] passed in.

use chrono::{DateTime, Utc};
use pcs_core::clock::SharedClock;
use pcs_core::settings::Notifications;
use serde::Serialize;
use tokio::sync::mpsc;

use crate::schedule::{Outcome, Schedule};
use crate::tray::{Phase, TrayState};

/// The most new workouts a notification names; the rest are counted.
const NOTIFY_LIST_MAX: usize = 3;

/// Everything the controller reacts to.
#[derive(Debug, Clone, PartialEq)]
pub enum Request {
    /// The user asked for a sync (tray menu or window button).
    SyncNow,
    /// Stop automatic syncs.
    Pause,
    /// Start automatic syncs again.
    Resume,
    /// The running sync ended.
    SyncFinished(SyncResult),
    /// The running sync made progress ("Syncing 120/300 workouts").
    Progress(String),
    /// The periodic timer fired.
    Tick,
    /// The system says the network is connected again (NetworkManager).
    NetworkUp,
    /// The user saved settings.
    SettingsChanged(AppSettings),
    /// The user chose "Export..." in the tray.
    Export,
    /// The export ended (or its folder chooser was closed).
    ExportFinished(ExportOutcome),
    /// Leave the app.
    Quit,
}

/// The settings the controller acts on.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AppSettings {
    /// Minutes between syncs.
    pub interval_minutes: u32,
    /// Which notifications to show.
    pub notifications: Notifications,
    /// Whether the credentials or the doc changed (a sync soon tells if they work).
    pub credentials_changed: bool,
    /// Whether something a sync needs is still not set (`pcs_core::setup::missing`).
    pub needs_setup: bool,
}

/// How an export ended.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ExportOutcome {
    /// The folder chooser was closed without a folder: nothing to say.
    Cancelled,
    /// The files are written; `summary` names how many and where
    /// (`pcs_core::export::ExportReport::summary`).
    Written {
        /// "14 files written to Peloton exports (11 workouts matched)."
        summary: String,
    },
    /// It stopped; one sentence says why and what to do.
    Failed {
        /// "The folder ... cannot be written (...); choose another folder and export again."
        sentence: String,
    },
}

/// How a sync ended.
#[derive(Debug, Clone, PartialEq)]
pub enum SyncResult {
    /// It ran (or could not even start, e.g. without credentials).
    Finished(RunSummary),
    /// Another process (the CLI) held the sync lock, so nothing ran.
    Busy {
        /// When that was found.
        at: DateTime<Utc>,
    },
}

/// What the controller needs to know of a finished run.
#[derive(Debug, Clone, PartialEq)]
pub struct RunSummary {
    /// When it ended.
    pub finished_at: DateTime<Utc>,
    /// What failed, if something the user should hear about did.
    pub failure: Option<Failure>,
    /// The new workouts, described ("45 min Power Zone Ride with Matt Wilpers").
    pub new_workouts: Vec<String>,
    /// Friends' workouts new since the last run.
    pub new_friend_workouts: u64,
}

/// A failed run.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Failure {
    /// The full sentence: what happened and what to do.
    pub message: String,
    /// Whether it passes by itself or the user must act.
    pub kind: FailureKind,
}

/// Whether a failure may pass by itself.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum FailureKind {
    /// Network, rate limit, server error: retried with backoff.
    Transient,
    /// The user must act.
    NeedsUser {
        /// A short sentence for the tray ("Peloton login refused - open Settings").
        short: String,
        /// Whether the fix is in the settings window (opened once per streak).
        open_settings: bool,
    },
    /// Peloton's sign-in died and no password is kept (core's
    /// `waits_for_sign_in`): automatic syncs stop until the person signs in
    /// again in Settings.
    SignedOut {
        /// The tray's sentence ("Signed out of Peloton: sign in again").
        short: String,
    },
}

/// A desktop notification.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Notification {
    /// The headline.
    pub title: String,
    /// The text.
    pub body: String,
}

/// The app's windows.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub enum WindowKind {
    /// The main window (status, workouts, friends, chart).
    Main,
    /// The settings window.
    Settings,
}

impl WindowKind {
    /// The window's label in `tauri.conf.json`.
    pub fn label(self) -> &'static str {
        match self {
            WindowKind::Main => "main",
            WindowKind::Settings => "settings",
        }
    }
}

/// What the windows see live (the `status` event).
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct LiveStatus {
    /// The tray's phase.
    pub phase: Phase,
    /// A sync is running.
    pub syncing: bool,
    /// Automatic syncs are paused.
    pub paused: bool,
    /// The running sync's progress.
    pub progress: Option<String>,
    /// When the next automatic sync runs (none while paused).
    pub next_sync_at: Option<DateTime<Utc>>,
    /// The sentence to show when the last run failed.
    pub error: Option<String>,
    /// Grows with each finished run: the window reloads its lists when it changes.
    pub revision: u64,
}

/// The controller's effects.
pub trait Shell {
    /// Shows this state in the tray (icon, tooltip, menu).
    fn set_tray(&mut self, state: &TrayState);
    /// Shows a desktop notification.
    fn notify(&mut self, n: Notification);
    /// Shows and focuses a window.
    fn show_window(&mut self, w: WindowKind);
    /// Tells the windows the live status.
    fn emit_status(&mut self, s: &LiveStatus);
    /// Starts a sync; it reports back with [`Request::Progress`] and
    /// [`Request::SyncFinished`].
    fn start_sync(&mut self);
    /// Asks the running sync to stop.
    fn cancel_sync(&mut self);
    /// Asks for a folder, then exports every workout into it; reports back
    /// with [`Request::ExportFinished`].
    fn start_export(&mut self);
    /// Leaves the app.
    fn quit(&mut self);
}

/// What the controller knows at start from the local state.
#[derive(Debug, Clone, Default)]
pub struct Initial {
    /// When the last run ended.
    pub last_end: Option<DateTime<Utc>>,
    /// When the last successful run ended.
    pub last_ok_at: Option<DateTime<Utc>>,
    /// Failed runs in a row so far.
    pub failure_streak: u32,
    /// The last run's failure sentence.
    pub last_error: Option<String>,
    /// Whether the credentials are known to be missing (first run).
    pub needs_setup: bool,
}

/// Whether the loop goes on.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Flow {
    /// Keep reading requests.
    Continue,
    /// The app is leaving.
    Stop,
}

#[derive(Debug, Clone, PartialEq, Eq)]
enum Trouble {
    None,
    Offline,
    Attention(String),
}

/// The state owner.
pub struct Controller<S: Shell> {
    shell: S,
    clock: SharedClock,
    schedule: Schedule,
    notifications: Notifications,
    paused: bool,
    running: bool,
    /// An export is under way (one at a time).
    exporting: bool,
    progress: String,
    last_ok_at: Option<DateTime<Utc>>,
    trouble: Trouble,
    error: Option<String>,
    /// Inside a run of failures.
    in_failure_streak: bool,
    /// The user was told about the current failure streak.
    failure_notified: bool,
    /// The settings window was opened for the current streak.
    settings_opened: bool,
    /// Something a sync needs is not set (first run, credentials
    /// forgotten): no sync, no planned time, the tray says "Set up needed"
    /// (a first run should ask for credentials, not report failures).
    awaiting_setup: bool,
    /// Peloton's sign-in died with no password kept: no automatic sync
    /// until the person signs in again (new credentials in Settings).
    awaiting_sign_in: bool,
    revision: u64,
    shown_tray: Option<TrayState>,
    shown_status: Option<LiveStatus>,
}

/// The short tray sentence when a sync found setup incomplete.
pub const SETUP_SENTENCE: &str = "Set up needed - open Settings";

impl<S: Shell> Controller<S> {
    /// A controller that starts from what the local state says.
    pub fn new(shell: S, clock: SharedClock, settings: AppSettings, initial: Initial) -> Self {
        let now = clock.now();
        let streak = initial.failure_streak > 0;
        let mut c = Controller {
            shell,
            schedule: Schedule::new(settings.interval_minutes, now, initial.last_end),
            clock,
            notifications: settings.notifications.clone(),
            paused: false,
            running: false,
            exporting: false,
            progress: String::new(),
            last_ok_at: initial.last_ok_at,
            trouble: Trouble::None,
            error: initial.last_error.filter(|_| streak),
            in_failure_streak: streak,
            // A streak that began before this start was told then (or the
            // user has seen it since); only its end is news.
            failure_notified: streak && settings.notifications.failures,
            settings_opened: false,
            awaiting_setup: initial.needs_setup,
            awaiting_sign_in: false,
            revision: 0,
            shown_tray: None,
            shown_status: None,
        };
        if initial.needs_setup {
            c.settings_opened = true;
            c.shell.show_window(WindowKind::Settings);
        }
        c
    }

    /// The effects so far (tests read their recording fake through this).
    pub fn shell(&self) -> &S {
        &self.shell
    }

    /// The plan.
    pub fn schedule(&self) -> &Schedule {
        &self.schedule
    }

    /// Handles requests until [`Request::Quit`] or until every sender is gone.
    pub async fn run(mut self, mut requests: mpsc::UnboundedReceiver<Request>) {
        self.publish();
        while let Some(r) = requests.recv().await {
            if self.handle(r) == Flow::Stop {
                break;
            }
        }
    }

    /// Handles one request.
    pub fn handle(&mut self, request: Request) -> Flow {
        let now = self.clock.now();
        tracing::debug!(?request, "request");
        match request {
            Request::SyncNow => {
                // A click during a run starts nothing: the run in progress
                // already fetches everything new. Before setup, a sync can
                // only fail: the place to go is Settings.
                if self.awaiting_setup {
                    self.shell.show_window(WindowKind::Settings);
                } else if !self.running {
                    self.start();
                }
            }
            Request::Pause => self.paused = true,
            Request::Resume => {
                self.paused = false;
                self.start_if_due(now);
            }
            Request::Progress(text) => {
                if self.running {
                    self.progress = text;
                }
            }
            Request::Tick => {
                self.schedule.tick(now);
                self.start_if_due(now);
            }
            Request::NetworkUp => {
                // Only a sync that failed for the network is waiting for it;
                // the usual plan stands otherwise.
                if self.trouble == Trouble::Offline {
                    self.schedule.nudge(now);
                    self.start_if_due(now);
                }
            }
            Request::SettingsChanged(s) => {
                self.schedule.set_interval(s.interval_minutes);
                self.notifications = s.notifications;
                self.awaiting_setup = s.needs_setup;
                if s.credentials_changed && !s.needs_setup {
                    self.settings_opened = false;
                    self.awaiting_sign_in = false;
                    self.schedule.nudge(now);
                }
                self.start_if_due(now);
            }
            Request::SyncFinished(result) => self.finished(result),
            Request::Export => {
                if !self.exporting {
                    self.exporting = true;
                    self.shell.start_export();
                }
            }
            Request::ExportFinished(outcome) => {
                self.exporting = false;
                // The user asked for it: told whatever the notification
                // switches say, and only then.
                match outcome {
                    ExportOutcome::Cancelled => {}
                    ExportOutcome::Written { summary } => self.shell.notify(Notification {
                        title: "Export finished".to_owned(),
                        body: summary,
                    }),
                    ExportOutcome::Failed { sentence } => self.shell.notify(Notification {
                        title: "Export failed".to_owned(),
                        body: sentence,
                    }),
                }
            }
            Request::Quit => {
                if self.running {
                    self.shell.cancel_sync();
                }
                self.shell.quit();
                return Flow::Stop;
            }
        }
        self.publish();
        Flow::Continue
    }

    fn start_if_due(&mut self, now: DateTime<Utc>) {
        if !self.paused
            && !self.running
            && !self.awaiting_setup
            && !self.awaiting_sign_in
            && self.schedule.due(now)
        {
            self.start();
        }
    }

    fn start(&mut self) {
        self.running = true;
        self.schedule.started();
        self.progress.clear();
        self.shell.start_sync();
    }

    fn finished(&mut self, result: SyncResult) {
        self.running = false;
        self.progress.clear();
        let summary = match result {
            SyncResult::Busy { at } => {
                self.schedule.finished(at, Outcome::Busy);
                return;
            }
            SyncResult::Finished(s) => s,
        };
        self.revision += 1;
        let outcome = match &summary.failure {
            None => Outcome::Ok,
            Some(Failure {
                kind: FailureKind::Transient,
                ..
            }) => Outcome::Transient,
            Some(Failure {
                kind: FailureKind::NeedsUser { .. } | FailureKind::SignedOut { .. },
                ..
            }) => Outcome::NeedsUser,
        };
        self.schedule.finished(summary.finished_at, outcome);
        if let Some(n) = self.notification_for(&summary) {
            self.shell.notify(n);
        }
        match &summary.failure {
            None => {
                self.trouble = Trouble::None;
                self.error = None;
                self.last_ok_at = Some(summary.finished_at);
                self.settings_opened = false;
            }
            Some(f) => {
                self.error = Some(f.message.clone());
                match &f.kind {
                    FailureKind::Transient => self.trouble = Trouble::Offline,
                    FailureKind::NeedsUser {
                        short,
                        open_settings,
                    } => {
                        self.trouble = Trouble::Attention(short.clone());
                        if *open_settings && !self.settings_opened {
                            self.settings_opened = true;
                            self.shell.show_window(WindowKind::Settings);
                        }
                    }
                    FailureKind::SignedOut { short } => {
                        self.trouble = Trouble::Attention(short.clone());
                        self.awaiting_sign_in = true;
                        if !self.settings_opened {
                            self.settings_opened = true;
                            self.shell.show_window(WindowKind::Settings);
                        }
                    }
                }
            }
        }
    }

    /// The one notification a run earns, if any: a failure once per streak,
    /// the recovery once, else the new workouts and friends' rides.
    fn notification_for(&mut self, s: &RunSummary) -> Option<Notification> {
        if let Some(f) = &s.failure {
            let first = !self.in_failure_streak;
            self.in_failure_streak = true;
            if first && self.notifications.failures {
                self.failure_notified = true;
                return Some(Notification {
                    title: "Peloton Coda Sync could not sync".to_owned(),
                    body: f.message.clone(),
                });
            }
            return None;
        }
        let recovered = self.failure_notified;
        self.in_failure_streak = false;
        self.failure_notified = false;
        let mut lines = Vec::new();
        if self.notifications.new_workouts && !s.new_workouts.is_empty() {
            lines.push(new_workouts_line(&s.new_workouts));
        }
        if self.notifications.friends_new_rides && s.new_friend_workouts > 0 {
            let n = s.new_friend_workouts;
            lines.push(format!(
                "{n} new ride{} from people you follow.",
                if n == 1 { "" } else { "s" }
            ));
        }
        if recovered {
            if lines.is_empty() {
                lines.push("Everything is up to date.".to_owned());
            }
            return Some(Notification {
                title: "Peloton Coda Sync is syncing again".to_owned(),
                body: lines.join("\n"),
            });
        }
        if lines.is_empty() {
            return None;
        }
        Some(Notification {
            title: "Peloton Coda Sync".to_owned(),
            body: lines.join("\n"),
        })
    }

    /// What the tray shows now.
    pub fn tray_state(&self) -> TrayState {
        let phase = if self.running {
            Phase::Syncing {
                progress: self.progress.clone(),
            }
        } else if self.awaiting_setup {
            Phase::SetupNeeded
        } else if self.paused {
            Phase::Paused
        } else {
            match &self.trouble {
                Trouble::Attention(s) => Phase::NeedsAttention {
                    sentence: s.clone(),
                },
                Trouble::Offline => Phase::Offline {
                    retry_at: self.schedule.next_run(),
                },
                Trouble::None => Phase::Idle {
                    last_ok_at: self.last_ok_at,
                },
            }
        };
        TrayState {
            phase,
            next_sync_at: (!self.paused && !self.awaiting_setup && !self.awaiting_sign_in)
                .then(|| self.schedule.next_run()),
            paused: self.paused,
            exporting: self.exporting,
        }
    }

    /// What the windows see now.
    pub fn live_status(&self) -> LiveStatus {
        let tray = self.tray_state();
        LiveStatus {
            phase: tray.phase,
            syncing: self.running,
            paused: self.paused,
            progress: (self.running && !self.progress.is_empty()).then(|| self.progress.clone()),
            next_sync_at: tray.next_sync_at,
            error: self.error.clone(),
            revision: self.revision,
        }
    }

    /// Sends the tray state and the live status, each only when it changed.
    fn publish(&mut self) {
        let tray = self.tray_state();
        if self.shown_tray.as_ref() != Some(&tray) {
            self.shell.set_tray(&tray);
            self.shown_tray = Some(tray);
        }
        let status = self.live_status();
        if self.shown_status.as_ref() != Some(&status) {
            self.shell.emit_status(&status);
            self.shown_status = Some(status);
        }
    }
}

/// "2 new workouts synced: 45 min Power Zone Ride with Matt Wilpers, 20 min Full Body Strength".
pub fn new_workouts_line(described: &[String]) -> String {
    let n = described.len();
    let mut listed = described
        .iter()
        .take(NOTIFY_LIST_MAX)
        .cloned()
        .collect::<Vec<_>>()
        .join(", ");
    if n > NOTIFY_LIST_MAX {
        listed.push_str(&format!(" and {} more", n - NOTIFY_LIST_MAX));
    }
    format!(
        "{n} new workout{} synced: {listed}",
        if n == 1 { "" } else { "s" }
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::{Duration, TimeZone};
    use pcs_core::clock::ManualClock;
    use std::sync::Arc;

    /// Every effect, in order.
    #[derive(Debug, Clone, PartialEq)]
    enum Effect {
        Tray(TrayState),
        Notify(Notification),
        Show(WindowKind),
        Status(LiveStatus),
        StartSync,
        CancelSync,
        StartExport,
        Quit,
    }

    #[derive(Default)]
    struct Recorder(Vec<Effect>);

    impl Shell for Recorder {
        fn set_tray(&mut self, s: &TrayState) {
            self.0.push(Effect::Tray(s.clone()));
        }
        fn notify(&mut self, n: Notification) {
            self.0.push(Effect::Notify(n));
        }
        fn show_window(&mut self, w: WindowKind) {
            self.0.push(Effect::Show(w));
        }
        fn emit_status(&mut self, s: &LiveStatus) {
            self.0.push(Effect::Status(s.clone()));
        }
        fn start_sync(&mut self) {
            self.0.push(Effect::StartSync);
        }
        fn cancel_sync(&mut self) {
            self.0.push(Effect::CancelSync);
        }
        fn start_export(&mut self) {
            self.0.push(Effect::StartExport);
        }
        fn quit(&mut self) {
            self.0.push(Effect::Quit);
        }
    }

    struct World {
        clock: ManualClock,
        c: Controller<Recorder>,
    }

    fn t0() -> DateTime<Utc> {
        Utc.with_ymd_and_hms(2026, 3, 2, 9, 0, 0).unwrap()
    }

    fn settings() -> AppSettings {
        AppSettings {
            interval_minutes: 60,
            notifications: Notifications::default(),
            credentials_changed: false,
            needs_setup: false,
        }
    }

    fn world_with(initial: Initial, settings: AppSettings) -> World {
        let clock = ManualClock::new(t0());
        let c = Controller::new(
            Recorder::default(),
            Arc::new(clock.clone()),
            settings,
            initial,
        );
        World { clock, c }
    }

    fn world() -> World {
        world_with(
            Initial {
                last_end: Some(t0() - Duration::minutes(30)),
                last_ok_at: Some(t0() - Duration::minutes(30)),
                ..Initial::default()
            },
            settings(),
        )
    }

    fn ok_run(at: DateTime<Utc>, new: &[&str]) -> Request {
        Request::SyncFinished(SyncResult::Finished(RunSummary {
            finished_at: at,
            failure: None,
            new_workouts: new.iter().map(|s| s.to_string()).collect(),
            new_friend_workouts: 0,
        }))
    }

    fn failed_run(at: DateTime<Utc>, kind: FailureKind) -> Request {
        Request::SyncFinished(SyncResult::Finished(RunSummary {
            finished_at: at,
            failure: Some(Failure {
                message: "Peloton could not be reached; the sync will retry.".into(),
                kind,
            }),
            new_workouts: vec![],
            new_friend_workouts: 0,
        }))
    }

    fn login_refused() -> FailureKind {
        FailureKind::NeedsUser {
            short: "Peloton login refused - open Settings".into(),
            open_settings: true,
        }
    }

    impl World {
        fn effects(&self) -> &[Effect] {
            &self.c.shell().0
        }
        fn count(&self, f: impl Fn(&Effect) -> bool) -> usize {
            self.effects().iter().filter(|e| f(e)).count()
        }
        fn starts(&self) -> usize {
            self.count(|e| *e == Effect::StartSync)
        }
        fn notifications(&self) -> Vec<Notification> {
            self.effects()
                .iter()
                .filter_map(|e| match e {
                    Effect::Notify(n) => Some(n.clone()),
                    _ => None,
                })
                .collect()
        }
        fn last_tray(&self) -> TrayState {
            self.effects()
                .iter()
                .rev()
                .find_map(|e| match e {
                    Effect::Tray(t) => Some(t.clone()),
                    _ => None,
                })
                .expect("a tray state was shown")
        }
        fn at(&mut self, t: DateTime<Utc>, r: Request) -> Flow {
            self.clock.set(t);
            self.c.handle(r)
        }
    }

    #[test]
    fn export_asks_once_then_names_the_folder_and_count_or_says_why_not() {
        let mut w = world();
        w.c.handle(Request::Export);
        w.c.handle(Request::Export);
        assert_eq!(w.count(|e| *e == Effect::StartExport), 1, "one at a time");
        assert!(w.last_tray().exporting);
        assert!(
            !crate::tray::menu(&w.last_tray())
                .item(crate::tray::Event::Export)
                .unwrap()
                .enabled
        );

        // Closing the chooser says nothing and frees the menu item.
        w.c.handle(Request::ExportFinished(ExportOutcome::Cancelled));
        assert!(w.notifications().is_empty());
        assert!(!w.last_tray().exporting);

        w.c.handle(Request::Export);
        w.c.handle(Request::ExportFinished(ExportOutcome::Written {
            summary: "14 files written to Peloton exports (11 workouts matched).".into(),
        }));
        w.c.handle(Request::Export);
        let sentence = "The folder /media/cd cannot be written (permission denied); choose another folder and export again.";
        w.c.handle(Request::ExportFinished(ExportOutcome::Failed {
            sentence: sentence.into(),
        }));
        assert_eq!(w.count(|e| *e == Effect::StartExport), 3);
        assert_eq!(
            w.notifications(),
            [
                Notification {
                    title: "Export finished".into(),
                    body: "14 files written to Peloton exports (11 workouts matched).".into(),
                },
                Notification {
                    title: "Export failed".into(),
                    body: sentence.into(),
                },
            ]
        );
        // An export never starts or stops a sync.
        assert_eq!(w.starts(), 0);
    }

    #[test]
    fn sync_now_during_a_run_starts_no_second_run() {
        let mut w = world();
        w.c.handle(Request::SyncNow);
        w.c.handle(Request::SyncNow);
        w.c.handle(Request::Tick);
        assert_eq!(w.starts(), 1);
        assert!(matches!(w.last_tray().phase, Phase::Syncing { .. }));
        w.c.handle(ok_run(t0(), &[]));
        w.c.handle(Request::SyncNow);
        assert_eq!(w.starts(), 2);
    }

    #[test]
    fn the_timer_starts_a_sync_when_it_is_due_and_not_before() {
        let mut w = world();
        // The last run ended at 8:30 with a 60 minute interval: due 9:30.
        w.at(t0() + Duration::minutes(29), Request::Tick);
        assert_eq!(w.starts(), 0);
        w.at(t0() + Duration::minutes(30), Request::Tick);
        assert_eq!(w.starts(), 1);
    }

    #[test]
    fn progress_shows_in_the_tray_and_the_status() {
        let mut w = world();
        w.c.handle(Request::SyncNow);
        w.c.handle(Request::Progress("Syncing 120/300 workouts".into()));
        assert_eq!(
            w.last_tray().phase,
            Phase::Syncing {
                progress: "Syncing 120/300 workouts".into()
            }
        );
        assert_eq!(
            w.c.live_status().progress.as_deref(),
            Some("Syncing 120/300 workouts")
        );
        // Progress arriving after the run ended is stale and ignored.
        w.c.handle(ok_run(t0(), &[]));
        w.c.handle(Request::Progress("Syncing 1/2 workouts".into()));
        assert!(matches!(w.last_tray().phase, Phase::Idle { .. }));
    }

    #[test]
    fn one_notification_per_run_with_new_workouts_coalesced() {
        let mut w = world();
        w.c.handle(Request::SyncNow);
        w.c.handle(ok_run(
            t0(),
            &[
                "45 min Power Zone Ride with Matt Wilpers",
                "20 min Full Body Strength with Andy Speer",
            ],
        ));
        assert_eq!(
            w.notifications(),
            vec![Notification {
                title: "Peloton Coda Sync".into(),
                body: "2 new workouts synced: 45 min Power Zone Ride with Matt Wilpers, 20 min Full Body Strength with Andy Speer".into(),
            }]
        );
        // A quiet run says nothing.
        w.c.handle(Request::SyncNow);
        w.c.handle(ok_run(t0(), &[]));
        assert_eq!(w.notifications().len(), 1);
    }

    #[test]
    fn many_new_workouts_are_counted_not_listed() {
        let names: Vec<String> = (1..=5).map(|i| format!("{i} min Ride")).collect();
        assert_eq!(
            new_workouts_line(&names),
            "5 new workouts synced: 1 min Ride, 2 min Ride, 3 min Ride and 2 more"
        );
        assert_eq!(
            new_workouts_line(&names[..1]),
            "1 new workout synced: 1 min Ride"
        );
    }

    #[test]
    fn friends_rides_are_told_only_when_switched_on_and_in_the_same_notification() {
        let run = |w: &mut World| {
            w.c.handle(Request::SyncNow);
            w.c.handle(Request::SyncFinished(SyncResult::Finished(RunSummary {
                finished_at: t0(),
                failure: None,
                new_workouts: vec!["45 min Ride".into()],
                new_friend_workouts: 3,
            })));
        };
        let mut off = world();
        run(&mut off);
        assert_eq!(off.notifications().len(), 1);
        assert!(!off.notifications()[0].body.contains("people you follow"));

        let mut s = settings();
        s.notifications.friends_new_rides = true;
        let mut on = world_with(Initial::default(), s);
        run(&mut on);
        let n = on.notifications();
        assert_eq!(n.len(), 1);
        assert_eq!(
            n[0].body,
            "1 new workout synced: 45 min Ride\n3 new rides from people you follow."
        );
    }

    #[test]
    fn new_workouts_notification_can_be_switched_off() {
        let mut s = settings();
        s.notifications.new_workouts = false;
        let mut w = world_with(Initial::default(), s);
        w.c.handle(Request::SyncNow);
        w.c.handle(ok_run(t0(), &["45 min Ride"]));
        assert!(w.notifications().is_empty());
    }

    #[test]
    fn failures_are_told_once_per_streak_and_recovery_once() {
        let mut w = world();
        for i in 0..4 {
            w.c.handle(Request::SyncNow);
            w.c.handle(failed_run(
                t0() + Duration::minutes(i),
                FailureKind::Transient,
            ));
        }
        let n = w.notifications();
        assert_eq!(n.len(), 1, "{n:?}");
        assert_eq!(n[0].title, "Peloton Coda Sync could not sync");
        assert_eq!(
            n[0].body,
            "Peloton could not be reached; the sync will retry."
        );
        w.c.handle(Request::SyncNow);
        w.c.handle(ok_run(t0() + Duration::minutes(10), &[]));
        w.c.handle(Request::SyncNow);
        w.c.handle(ok_run(t0() + Duration::minutes(11), &[]));
        let n = w.notifications();
        assert_eq!(n.len(), 2, "{n:?}");
        assert_eq!(n[1].title, "Peloton Coda Sync is syncing again");
        assert_eq!(n[1].body, "Everything is up to date.");
        // A new streak is told again.
        w.c.handle(Request::SyncNow);
        w.c.handle(failed_run(
            t0() + Duration::minutes(12),
            FailureKind::Transient,
        ));
        assert_eq!(w.notifications().len(), 3);
    }

    #[test]
    fn recovery_with_new_workouts_is_still_one_notification() {
        let mut w = world();
        w.c.handle(Request::SyncNow);
        w.c.handle(failed_run(t0(), FailureKind::Transient));
        w.c.handle(Request::SyncNow);
        w.c.handle(ok_run(t0(), &["45 min Ride"]));
        let n = w.notifications();
        assert_eq!(n.len(), 2);
        assert_eq!(n[1].title, "Peloton Coda Sync is syncing again");
        assert_eq!(n[1].body, "1 new workout synced: 45 min Ride");
    }

    #[test]
    fn with_failure_notifications_off_neither_failure_nor_recovery_is_told() {
        let mut s = settings();
        s.notifications.failures = false;
        let mut w = world_with(Initial::default(), s);
        w.c.handle(Request::SyncNow);
        w.c.handle(failed_run(t0(), FailureKind::Transient));
        w.c.handle(Request::SyncNow);
        w.c.handle(ok_run(t0(), &[]));
        assert!(w.notifications().is_empty());
    }

    #[test]
    fn a_streak_from_before_a_restart_is_not_told_again_but_its_end_is() {
        let mut w = world_with(
            Initial {
                failure_streak: 3,
                last_error: Some("Coda could not be reached.".into()),
                ..Initial::default()
            },
            settings(),
        );
        assert_eq!(
            w.c.live_status().error.as_deref(),
            Some("Coda could not be reached.")
        );
        w.c.handle(Request::SyncNow);
        w.c.handle(failed_run(t0(), FailureKind::Transient));
        assert!(w.notifications().is_empty());
        w.c.handle(Request::SyncNow);
        w.c.handle(ok_run(t0(), &[]));
        assert_eq!(w.notifications().len(), 1);
        assert_eq!(w.c.live_status().error, None);
    }

    #[test]
    fn a_transient_failure_shows_offline_and_retries_with_backoff() {
        let mut w = world();
        w.c.handle(Request::SyncNow);
        w.c.handle(failed_run(t0(), FailureKind::Transient));
        assert_eq!(
            w.last_tray().phase,
            Phase::Offline {
                retry_at: t0() + Duration::minutes(2)
            }
        );
        w.at(t0() + Duration::minutes(1), Request::Tick);
        assert_eq!(w.starts(), 1);
        w.at(t0() + Duration::minutes(2), Request::Tick);
        assert_eq!(w.starts(), 2);
    }

    #[test]
    fn the_network_coming_back_retries_soon_but_only_after_an_offline_failure() {
        let mut w = world();
        // Online and up to date: the signal changes nothing.
        w.c.handle(Request::NetworkUp);
        w.at(t0() + Duration::minutes(1), Request::Tick);
        assert_eq!(w.starts(), 0);

        // Four failures in a row: the next retry is 16 minutes away.
        for _ in 0..4 {
            w.c.handle(Request::SyncNow);
            w.c.handle(failed_run(t0(), FailureKind::Transient));
        }
        assert_eq!(w.c.schedule().next_run(), t0() + Duration::minutes(16));
        w.at(t0() + Duration::minutes(3), Request::NetworkUp);
        let soon = t0() + Duration::minutes(3) + crate::schedule::WAKE_DELAY;
        assert_eq!(w.c.schedule().next_run(), soon);
        w.at(soon, Request::Tick);
        assert_eq!(w.starts(), 5);
    }

    #[test]
    fn a_refused_login_needs_attention_and_opens_settings_once() {
        let mut w = world();
        for i in 0..3 {
            w.c.handle(Request::SyncNow);
            w.c.handle(failed_run(t0() + Duration::minutes(i), login_refused()));
        }
        assert_eq!(
            w.last_tray().phase,
            Phase::NeedsAttention {
                sentence: "Peloton login refused - open Settings".into()
            }
        );
        assert_eq!(w.count(|e| *e == Effect::Show(WindowKind::Settings)), 1);
        // It waits a whole interval rather than hammering the login.
        assert_eq!(
            w.c.schedule().next_run(),
            t0() + Duration::minutes(2) + Duration::minutes(60)
        );
        // New credentials: a sync soon, and the window may open again if they fail too.
        let mut s = settings();
        s.credentials_changed = true;
        w.at(t0() + Duration::minutes(5), Request::SettingsChanged(s));
        assert_eq!(
            w.c.schedule().next_run(),
            t0() + Duration::minutes(5) + crate::schedule::WAKE_DELAY
        );
        w.at(t0() + Duration::minutes(6), Request::Tick);
        assert_eq!(w.starts(), 4);
        w.c.handle(failed_run(t0() + Duration::minutes(6), login_refused()));
        assert_eq!(w.count(|e| *e == Effect::Show(WindowKind::Settings)), 2);
    }

    #[test]
    fn signed_out_tells_once_and_stops_automatic_syncs_until_signed_in_again() {
        let mut w = world();
        let signed_out = || FailureKind::SignedOut {
            short: "Signed out of Peloton: sign in again".into(),
        };
        w.c.handle(Request::SyncNow);
        w.c.handle(failed_run(t0(), signed_out()));
        assert_eq!(
            w.last_tray().phase,
            Phase::NeedsAttention {
                sentence: "Signed out of Peloton: sign in again".into()
            }
        );
        assert_eq!(w.last_tray().next_sync_at, None, "no sync is planned");
        assert_eq!(w.notifications().len(), 1);
        assert_eq!(w.count(|e| *e == Effect::Show(WindowKind::Settings)), 1);
        // Days go by: no automatic sync starts, nothing more is told.
        for h in 1..=48 {
            w.at(t0() + Duration::hours(h), Request::Tick);
        }
        w.at(t0() + Duration::hours(49), Request::NetworkUp);
        assert_eq!(w.starts(), 1);
        // Sync now still runs (and fails alike, silently: same streak).
        w.c.handle(Request::SyncNow);
        w.c.handle(failed_run(t0() + Duration::hours(49), signed_out()));
        assert_eq!(w.starts(), 2);
        assert_eq!(w.notifications().len(), 1);
        // Signed in again: a sync soon, and the plan is back.
        let mut s = settings();
        s.credentials_changed = true;
        w.at(t0() + Duration::hours(50), Request::SettingsChanged(s));
        assert!(w.last_tray().next_sync_at.is_some());
        w.at(
            t0() + Duration::hours(50) + Duration::minutes(5),
            Request::Tick,
        );
        assert_eq!(w.starts(), 3);
    }

    fn first_run() -> World {
        world_with(
            Initial {
                needs_setup: true,
                ..Initial::default()
            },
            settings(),
        )
    }

    #[test]
    fn first_run_without_credentials_opens_settings_and_plans_nothing() {
        let w = first_run();
        assert_eq!(w.count(|e| *e == Effect::Show(WindowKind::Settings)), 1);
        let tray = w.c.tray_state();
        assert_eq!(tray.phase, Phase::SetupNeeded);
        assert_eq!(tray.next_sync_at, None, "no time while nothing can sync");
        assert_eq!(w.c.live_status().next_sync_at, None);
    }

    #[test]
    fn sync_now_before_setup_opens_settings_instead_of_failing() {
        let mut w = first_run();
        w.c.handle(Request::SyncNow);
        assert_eq!(w.starts(), 0);
        assert_eq!(w.count(|e| *e == Effect::Show(WindowKind::Settings)), 2);
        assert_eq!(w.last_tray().phase, Phase::SetupNeeded);
    }

    #[test]
    fn without_setup_nothing_runs_by_itself_until_it_is_complete() {
        let mut w = first_run();
        w.at(t0() + Duration::hours(3), Request::Tick);
        assert_eq!(w.starts(), 0);
        assert!(w.notifications().is_empty());
        // Half a setup (the e-mail only) is still no reason to sync.
        let mut s = settings();
        s.credentials_changed = true;
        s.needs_setup = true;
        w.at(
            t0() + Duration::hours(3),
            Request::SettingsChanged(s.clone()),
        );
        w.at(t0() + Duration::hours(4), Request::Tick);
        assert_eq!(w.starts(), 0);
        assert_eq!(w.last_tray().phase, Phase::SetupNeeded);
        s.needs_setup = false;
        w.at(t0() + Duration::hours(4), Request::SettingsChanged(s));
        assert!(w.last_tray().next_sync_at.is_some());
        w.at(
            t0() + Duration::hours(4) + Duration::minutes(1),
            Request::Tick,
        );
        assert_eq!(w.starts(), 1);
    }

    #[test]
    fn forgetting_the_credentials_goes_back_to_setup() {
        let mut w = world();
        let mut s = settings();
        s.needs_setup = true;
        w.c.handle(Request::SettingsChanged(s));
        assert_eq!(w.last_tray().phase, Phase::SetupNeeded);
        w.at(t0() + Duration::hours(5), Request::Tick);
        assert_eq!(w.starts(), 0);
    }

    #[test]
    fn paused_runs_nothing_by_itself_but_sync_now_still_works() {
        let mut w = world();
        w.c.handle(Request::Pause);
        assert_eq!(w.last_tray().phase, Phase::Paused);
        assert_eq!(w.last_tray().next_sync_at, None);
        w.at(t0() + Duration::hours(5), Request::Tick);
        assert_eq!(w.starts(), 0);
        w.c.handle(Request::SyncNow);
        assert_eq!(w.starts(), 1);
        // The menu still offers Resume while that sync runs.
        assert!(w.last_tray().paused);
        w.c.handle(ok_run(t0() + Duration::hours(5), &[]));
        assert_eq!(w.last_tray().phase, Phase::Paused);
        w.at(t0() + Duration::hours(7), Request::Resume);
        assert_eq!(w.starts(), 2);
    }

    #[test]
    fn resume_does_not_start_a_sync_that_is_not_due() {
        let mut w = world();
        w.c.handle(Request::Pause);
        w.c.handle(Request::Resume);
        assert_eq!(w.starts(), 0);
        assert!(matches!(w.last_tray().phase, Phase::Idle { .. }));
    }

    #[test]
    fn a_busy_lock_is_no_failure_and_retries_soon() {
        let mut w = world();
        w.c.handle(Request::SyncNow);
        w.c.handle(Request::SyncFinished(SyncResult::Busy { at: t0() }));
        assert!(w.notifications().is_empty());
        assert!(matches!(w.last_tray().phase, Phase::Idle { .. }));
        assert_eq!(
            w.c.schedule().next_run(),
            t0() + crate::schedule::BUSY_RETRY
        );
        assert_eq!(w.c.live_status().revision, 0);
    }

    #[test]
    fn changing_the_interval_replans_at_once() {
        let mut w = world();
        let mut s = settings();
        s.interval_minutes = 15;
        w.c.handle(Request::SettingsChanged(s));
        // The last run ended at 8:30: with 15 minutes it is overdue.
        assert_eq!(w.starts(), 1);
    }

    #[test]
    fn quit_cancels_a_running_sync_and_stops() {
        let mut w = world();
        w.c.handle(Request::SyncNow);
        assert_eq!(w.c.handle(Request::Quit), Flow::Stop);
        let tail = &w.effects()[w.effects().len() - 2..];
        assert_eq!(tail, [Effect::CancelSync, Effect::Quit]);
    }

    #[test]
    fn unchanged_state_is_not_sent_again() {
        let mut w = world();
        w.c.handle(Request::Tick);
        let trays = w.count(|e| matches!(e, Effect::Tray(_)));
        let statuses = w.count(|e| matches!(e, Effect::Status(_)));
        w.at(t0() + Duration::minutes(1), Request::Tick);
        w.at(t0() + Duration::minutes(2), Request::Tick);
        assert_eq!(w.count(|e| matches!(e, Effect::Tray(_))), trays);
        assert_eq!(w.count(|e| matches!(e, Effect::Status(_))), statuses);
    }

    #[test]
    fn a_finished_run_bumps_the_revision_so_the_window_reloads() {
        let mut w = world();
        w.c.handle(Request::SyncNow);
        w.c.handle(ok_run(t0(), &[]));
        assert_eq!(w.c.live_status().revision, 1);
    }

    #[tokio::test]
    async fn the_loop_stops_on_quit() {
        let clock = ManualClock::new(t0());
        let c = Controller::new(
            Recorder::default(),
            Arc::new(clock),
            settings(),
            Initial::default(),
        );
        let (tx, rx) = mpsc::unbounded_channel();
        tx.send(Request::Quit).unwrap();
        tx.send(Request::SyncNow).unwrap();
        // Returns (rather than waiting for the still-open sender) because Quit stops it.
        c.run(rx).await;
    }
}
