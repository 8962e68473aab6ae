//! One sync run, step by step. See the module docs of [`crate::sync`] for the
//! order and the invariants.

use std::collections::{HashMap, HashSet};
use std::sync::{Mutex, MutexGuard};
use std::time::Duration;

use tokio_util::sync::CancellationToken;

use super::context::{Abort, EngineConfig, Run, RunOptions, Services};
use super::doc::OpenedDoc;
use super::friends::FriendsRead;
use super::report::{Problem, ProblemArea, Progress, RunReport};
use crate::clock::SharedClock;
use crate::coda::{Checklist, CodaClient, ResolvedTable};
use crate::lock::SyncLock;
use crate::peloton::PelotonClient;
use crate::store::{RunOutcome, Store};
use crate::tables::Table;

/// Why a run did not start.
#[derive(Debug, thiserror::Error)]
pub enum RunRefused {
    /// Another process holds the sync lock.
    #[error("a sync is already running")]
    AlreadyRunning,
    /// The lock file could not be opened.
    #[error("the sync lock could not be taken: {0}")]
    Lock(#[from] std::io::Error),
}

impl RunRefused {
    /// The one sentence a user sees.
    pub fn user_message(&self) -> String {
        match self {
            RunRefused::AlreadyRunning => {
                "A sync is already running; this one was skipped.".to_string()
            }
            RunRefused::Lock(_) => {
                "The sync lock file could not be opened; check that the data folder is writable."
                    .to_string()
            }
        }
    }
}

/// The result of `check` (and of "Test connection"); `check --json` prints
/// it as it is.
#[derive(Debug, Clone, Default, serde::Serialize)]
pub struct CheckReport {
    /// The Peloton member, when login worked.
    pub peloton_user: Option<String>,
    /// The Coda doc's name, when it was found.
    pub doc_name: Option<String>,
    /// Tables that passed their check.
    pub tables_ok: Vec<String>,
    /// Everything that is wrong, each as one sentence.
    pub problems: Vec<Problem>,
    /// The optional columns each table that passed has, by table name.
    pub optional_columns: Vec<(String, Vec<&'static str>)>,
    /// Optional columns present but left alone, one sentence each.
    pub notes: Vec<String>,
    /// Every table and column, when the doc could be read.
    pub checklist: Option<Checklist>,
}

impl CheckReport {
    /// One sentence per table with optional columns: which were found.
    pub fn optional_summary(&self) -> Vec<String> {
        self.optional_columns
            .iter()
            .filter(|(_, found)| !found.is_empty())
            .map(|(table, found)| {
                format!(
                    "Optional columns found in \"{table}\": {}.",
                    found.join(", ")
                )
            })
            .collect()
    }
}

/// Runs syncs. Holds the two clients and the local state.
pub struct Engine {
    peloton: PelotonClient,
    coda: CodaClient,
    store: Mutex<Store>,
    clock: SharedClock,
    config: EngineConfig,
    /// Whether a run already passed on what opening the state did (a
    /// rebuild), so the app's many runs say it once.
    open_noted: std::sync::atomic::AtomicBool,
}

/// Why [`Run::read_peloton`] stopped.
enum Unread {
    /// The login failed (already reported): rows still unsent may be written.
    Login,
    /// Anything else stopped the run (already reported).
    Abort,
}

impl From<Abort> for Unread {
    fn from(_: Abort) -> Self {
        Unread::Abort
    }
}

/// What [`Run::read_peloton`] read.
struct PelotonRead {
    user_id: String,
    /// The friends and their windows, unless their list failed.
    friends: Option<FriendsRead>,
}

/// What "write every row again" (`--full`, the Settings button) does, said
/// before it starts: it is safe.
pub const FULL_RESEND_SENTENCE: &str = "Writing every row again: rows are matched by their Peloton ID, so nothing is duplicated and your own rows and columns are left alone.";

/// The sentence of a run stopped by a signal or by quitting the app: the
/// same as for a run found killed.
pub const INTERRUPTED_SENTENCE: &str = crate::store::INTERRUPTED_MESSAGE;

/// How long the steps get to stop by themselves once a run is cancelled.
const STOP_GRACE: Duration = Duration::from_secs(3);

/// Resolves [`STOP_GRACE`] after `cancel` fires.
async fn stopped(cancel: &CancellationToken) {
    cancel.cancelled().await;
    tokio::time::sleep(STOP_GRACE).await;
}

impl Engine {
    /// An engine over these clients and state.
    pub fn new(
        peloton: PelotonClient,
        coda: CodaClient,
        store: Store,
        clock: SharedClock,
        config: EngineConfig,
    ) -> Self {
        Self {
            peloton,
            coda,
            store: Mutex::new(store),
            clock,
            config,
            open_noted: std::sync::atomic::AtomicBool::new(false),
        }
    }

    /// The local state, for readers such as the window and `status`.
    pub fn store(&self) -> MutexGuard<'_, Store> {
        self.store.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// The Peloton client.
    pub fn peloton(&self) -> &PelotonClient {
        &self.peloton
    }

    /// The Coda client.
    pub fn coda(&self) -> &CodaClient {
        &self.coda
    }

    fn services(&self) -> Services<'_> {
        Services {
            peloton: &self.peloton,
            coda: &self.coda,
            store: &self.store,
            clock: &self.clock,
            config: &self.config,
        }
    }

    fn enabled_tables(&self) -> Vec<(Table, String)> {
        self.config
            .tables
            .iter()
            .filter(|t| t.enabled)
            .map(|t| (t.table, t.name.clone()))
            .collect()
    }

    /// Logs in to Peloton, opens the doc and checks every enabled table and
    /// column (the run's own doc-opening step). Writes nothing to Coda.
    pub async fn check(&self) -> CheckReport {
        let mut out = CheckReport::default();
        match self.peloton.ensure_login().await {
            Ok(()) => match self.peloton.me().await {
                Ok(me) => out.peloton_user = Some(me.username.unwrap_or(me.id)),
                Err(e) => out.problems.push(Problem::from(&e)),
            },
            Err(e) => out.problems.push(Problem::from(&e)),
        }
        let doc = self.check_doc().await;
        out.doc_name = doc.doc_name;
        out.tables_ok = doc.tables_ok;
        out.problems.extend(doc.problems);
        out.optional_columns = doc.optional_columns;
        out.notes = doc.notes;
        out.checklist = doc.checklist;
        out
    }

    /// The Coda half of [`Engine::check`]: opens the doc (the run's own
    /// doc-opening step) and checks every enabled table and column, without
    /// asking Peloton anything (the checklist's "Check the doc again").
    pub async fn check_doc(&self) -> CheckReport {
        let mut out = CheckReport::default();
        let wanted = self.enabled_tables();
        let opened = OpenedDoc::open(&self.coda, &self.config.doc, &wanted).await;
        out.doc_name = opened.name;
        out.checklist = opened.checklist;
        let mut ok: Vec<ResolvedTable> = opened.resolved.into_values().collect();
        // In the settings' order, as the user reads them.
        ok.sort_by_key(|r| wanted.iter().position(|(w, _)| *w == r.table));
        for resolved in ok {
            if resolved.table.optional_columns().next().is_some() {
                out.optional_columns
                    .push((resolved.name.clone(), resolved.optional_found()));
            }
            out.notes
                .extend(resolved.optional_skipped.iter().map(|p| p.user_message()));
            out.tables_ok.push(resolved.name);
        }
        out.problems.extend(opened.problems);
        out
    }

    /// One sync run. Takes the single-flight lock first; everything that
    /// goes wrong after that is in the report, as sentences. A run stopped
    /// through `cancel` is recorded as interrupted: not ok, one sentence.
    pub async fn run(
        &self,
        opts: RunOptions,
        progress: &(dyn Fn(Progress) + Send + Sync),
        cancel: &CancellationToken,
    ) -> Result<RunReport, RunRefused> {
        let lock_file = self.config.lock_file.clone();
        let wait = self.config.lock_wait;
        let lock =
            tokio::task::spawn_blocking(move || SyncLock::acquire_with_wait(&lock_file, wait))
                .await
                .map_err(|e| RunRefused::Lock(std::io::Error::other(e.to_string())))??;
        let Some(_lock) = lock else {
            return Err(RunRefused::AlreadyRunning);
        };
        // One retry budget per run, shared by both services.
        self.peloton.retry_budget().refill();
        self.coda.config().retry.budget.refill();
        let peloton_requests_at_start = self.peloton.request_count();
        let mut run = Run {
            svc: self.services(),
            opts,
            progress,
            cancel,
            report: RunReport::new(self.clock.now()),
            doc_id: None,
            resolved: HashMap::new(),
            fallback_tz: None,
            written_early: HashSet::new(),
        };
        let run_id = self.start_run(&mut run);
        if run_id.is_some() {
            let go = run.go();
            tokio::pin!(go);
            // The steps stop at their next check once cancelled; whatever
            // still runs after a short grace is dropped, as a kill would
            // (the state's invariants make any instant safe).
            tokio::select! {
                _ = &mut go => {}
                () = stopped(cancel) => tracing::info!("run stopped after the grace period"),
            }
        }
        if cancel.is_cancelled() {
            run.report.interrupted = true;
            run.problem(ProblemArea::Interrupted, INTERRUPTED_SENTENCE.into());
        }
        run.report.finished_at = self.clock.now();
        run.report.peloton_requests = self.peloton.request_count() - peloton_requests_at_start;
        if let Some(id) = run_id {
            self.finish_run(&mut run, id);
        }
        Ok(run.report)
    }

    /// Closes runs killed earlier as interrupted (under the lock) and
    /// records this one; passes on what opening the state did, once.
    fn start_run(&self, run: &mut Run<'_>) -> Option<crate::store::RunId> {
        let started = {
            let mut store = self.store();
            store
                .close_interrupted_runs()
                .and_then(|_| store.start_run(run.report.started_at))
        };
        let run_id = match started {
            Ok(id) => Some(id),
            Err(e) => {
                run.problem(ProblemArea::Local, e.user_message());
                None
            }
        };
        if !self
            .open_noted
            .swap(true, std::sync::atomic::Ordering::SeqCst)
        {
            let notes = self.store().open_notes();
            run.report.notes.extend(notes);
        }
        run_id
    }

    fn finish_run(&self, run: &mut Run<'_>, id: crate::store::RunId) {
        let r = &run.report;
        let outcome = RunOutcome {
            finished_at: r.finished_at,
            ok: r.ok(),
            seconds: r.seconds(),
            written: r.written.clone(),
            deleted: r.deleted.clone(),
            errors: r.problems.iter().map(|p| p.message.clone()).collect(),
            notes: r.notes.clone(),
            new_workouts: r.new_workouts.iter().map(|w| w.describe()).collect(),
        };
        if let Err(e) = self.store().finish_run(id, &outcome) {
            run.problem(ProblemArea::Local, e.user_message());
        }
    }
}

impl Run<'_> {
    /// The run's steps, in order.
    async fn go(&mut self) -> Result<(), Abort> {
        (self.progress)(Progress::Connecting);
        // Opening the doc needs nothing from Peloton, so it runs while
        // Peloton is read (login, the user's list, the friends' windows): a
        // quiet run waits for the slower of the two, not their sum.
        let svc = self.svc;
        let wanted: Vec<(Table, String)> = svc
            .config
            .tables
            .iter()
            .filter(|t| t.enabled)
            .map(|t| (t.table, t.name.clone()))
            .collect();
        let full = self.opts.full;
        let (read, opened) = futures::join!(
            self.read_peloton(),
            OpenedDoc::open_for_run(svc, &wanted, full)
        );
        self.take_doc(opened)?;
        let read = match read {
            Ok(read) => read,
            Err(Unread::Login) => {
                // Without Peloton nothing new can be read, but rows already
                // in the state and not yet accepted by Coda can be written.
                self.write_workouts(&HashSet::new()).await?;
                return Err(Abort);
            }
            Err(Unread::Abort) => return Err(Abort),
        };
        self.check_cancel()?;
        // Queued workouts are fetched with the doc open, so full batches of
        // rows are written while the fetching goes on.
        let new_ids = self.fetch_workouts(&read.user_id).await?;
        // Workouts stored before the archive get their full graph, a few
        // hundred a run, before the rows are derived (so their new cells
        // go out in this run).
        let backfilled =
            super::archive::backfill(svc.peloton, svc.store, svc.clock, self.cancel).await;
        if let Err(e) = backfilled {
            self.problem(ProblemArea::Local, e.user_message());
            return Err(Abort);
        }
        self.check_cancel()?;
        self.write_workouts(&new_ids).await?;
        self.check_cancel()?;
        self.sync_instructors().await?;
        self.check_cancel()?;
        if let Some(friends) = read.friends {
            self.write_friends(friends).await?;
        }
        Ok(())
    }

    /// What this run reads from Peloton while the doc opens: the login,
    /// `/api/me`, the user's list (into the queue) and the friends' windows.
    async fn read_peloton(&mut self) -> Result<PelotonRead, Unread> {
        if let Err(e) = self.svc.peloton.ensure_login().await {
            self.report_problem(Problem::from(&e));
            return Err(Unread::Login);
        }
        let me = self.me().await?;
        self.fallback_tz = me.timezone.clone();
        self.check_cancel()?;
        self.list_workouts(&me.id).await?;
        self.check_cancel()?;
        let friends = self.read_friends(&me.id).await?;
        Ok(PelotonRead {
            user_id: me.id,
            friends,
        })
    }

    /// Keeps what opening the doc found: the tables that passed their check
    /// are written this run; every problem and note goes into the report.
    fn take_doc(
        &mut self,
        opened: Result<OpenedDoc, crate::store::StoreError>,
    ) -> Result<(), Abort> {
        let opened = opened.map_err(|e| {
            self.problem(ProblemArea::Local, e.user_message());
            Abort
        })?;
        for p in opened.problems {
            self.report_problem(p);
        }
        for n in opened.notes {
            self.note(n);
        }
        self.resolved = opened.resolved;
        self.doc_id = opened.doc_id;
        Ok(())
    }
}
