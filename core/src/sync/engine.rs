//! One sync run, step by step. See the module docs of [`crate::sync`] for the
//! order and the invariants.

use std::collections::{BTreeMap, BTreeSet, HashMap, HashSet};
use std::path::PathBuf;
use std::sync::{Mutex, MutexGuard};
use std::time::Duration;

use chrono::{DateTime, Utc};
use futures::StreamExt;
use tokio_util::sync::CancellationToken;

use super::report::{NewWorkout, Problem, ProblemArea, Progress, RunReport};
use crate::avatars::{AvatarCache, Wanted};
use crate::clock::SharedClock;
use crate::coda::{CodaClient, CodaError, ResolvedTable};
use crate::lock::SyncLock;
use crate::peloton::types::{FollowedUser, Me, PerformanceGraph, Workout};
use crate::peloton::{PelotonClient, PelotonError};
use crate::rows::{self, CellValue, Row};
use crate::store::{FriendRecord, FriendWorkoutRecord, RunOutcome, Store, StoredWorkout};
use crate::tables::Table;

/// How often the slow-moving data (`/api/me`, instructors) is read again.
const DAILY: chrono::Duration = chrono::Duration::hours(24);
/// How far Coda's listings may lag its writes: a row written more recently
/// than this and missing from a listing is not taken as deleted by the user.
const LISTING_LAG: chrono::Duration = chrono::Duration::hours(1);
/// Concurrent detail + graph fetches; the client's pacer still applies.
const FETCH_CONCURRENCY: usize = 4;

pub(crate) const META_ME: &str = "peloton.me";
const META_ME_AT: &str = "peloton.me_fetched_at";
const META_INSTRUCTORS_AT: &str = "peloton.instructors_fetched_at";
const META_BACKFILL_DONE: &str = "peloton.backfill_complete";

/// One table the run writes, as the settings name it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TableTarget {
    /// Which table.
    pub table: Table,
    /// Its name in the doc.
    pub name: String,
    /// Whether to write it at all.
    pub enabled: bool,
}

/// What an engine needs to know besides its clients.
#[derive(Debug, Clone)]
pub struct EngineConfig {
    /// The Coda doc, as an id or a browser URL.
    pub doc: String,
    /// The tables, with their names in the doc.
    pub tables: Vec<TableTarget>,
    /// Latest workouts kept per friend.
    pub friend_workouts_per_friend: u32,
    /// The single-flight lock shared by the app and the CLI.
    pub lock_file: PathBuf,
    /// How long to wait for another sync to finish before giving up.
    pub lock_wait: Duration,
    /// Where friends' avatars are cached for the window; `None` skips them.
    pub avatars: Option<AvatarCache>,
}

/// How to run.
#[derive(Debug, Clone, Copy, Default)]
pub struct RunOptions {
    /// Send every row again (still keyed, so never a duplicate).
    pub full: bool,
}

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

/// The result of `check` (and of "Test connection").
#[derive(Debug, Clone, Default)]
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

/// A failure that ends the run early; the run's report carries its sentence.
struct Abort;

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
    /// The user's list: what to fetch.
    listing: Listing,
    /// The friends and their windows, unless their list failed.
    friends: Option<FriendsRead>,
}

/// The user's workouts to fetch, from the list.
struct Listing {
    user_id: String,
    /// New or changed workouts, each with whether it is new.
    to_fetch: Vec<(Workout, bool)>,
    /// The list was read to its last page.
    reached_end: bool,
    /// A first sync had already reached the end of the list once.
    backfill_done: bool,
}

/// Where rows written during the fetching go.
#[derive(Clone)]
struct EarlyTarget {
    doc_id: String,
    resolved: ResolvedTable,
    /// Rows in one write request.
    batch: usize,
}

/// What one [`write_batch`] did.
struct BatchWritten {
    accepted: Vec<String>,
    writes: u64,
    store_error: Option<crate::store::StoreError>,
    coda_error: Option<CodaError>,
}

/// Writes one full batch of Workouts rows while the fetching goes on. Only
/// the engine is borrowed, so it runs beside the fetch loop; rows are
/// marked written as Coda accepts them, exactly as in [`Run::write_changed`].
async fn write_batch(engine: &Engine, target: EarlyTarget, rows: Vec<Row>) -> BatchWritten {
    let mut accepted = Vec::new();
    let mut writes = 0u64;
    let mut store_error = None;
    let result = engine
        .coda
        .upsert_rows_with(
            &target.doc_id,
            &target.resolved,
            &rows,
            |batch: &[Row], _: &str| {
                if let Err(e) = engine.mark_accepted(Table::Workouts, batch) {
                    store_error.get_or_insert(e);
                }
                accepted.extend(batch.iter().map(|r| r.key.clone()));
                writes += 1;
            },
        )
        .await;
    BatchWritten {
        accepted,
        writes,
        store_error,
        coda_error: result.err(),
    }
}

/// The people followed and the rows of their windows.
struct FriendsRead {
    following: Vec<FollowedUser>,
    window_rows: Vec<Row>,
}

/// The state of one run in progress.
struct Run<'a> {
    engine: &'a Engine,
    opts: RunOptions,
    progress: &'a (dyn Fn(Progress) + Send + Sync),
    cancel: &'a CancellationToken,
    report: RunReport,
    doc_id: Option<String>,
    resolved: HashMap<Table, ResolvedTable>,
    fallback_tz: Option<String>,
    peloton_requests_at_start: u64,
    /// Workouts rows Coda accepted while fetching (see [`write_batch`]).
    written_early: HashSet<String>,
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

    /// Records that Coda accepted `batch` of `table`: each row's content
    /// hash, so the row is not sent again until it changes.
    fn mark_accepted(&self, table: Table, batch: &[Row]) -> Result<(), crate::store::StoreError> {
        let hashes: Vec<(String, String)> = batch
            .iter()
            .map(|r| (r.key.clone(), r.content_hash()))
            .collect();
        self.store().mark_written(table, &hashes, self.clock.now())
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

    fn enabled_tables(&self) -> Vec<(Table, String)> {
        self.config
            .tables
            .iter()
            .filter(|t| t.enabled)
            .map(|t| (t.table, t.name.clone()))
            .collect()
    }

    fn table_enabled(&self, table: Table) -> bool {
        self.config
            .tables
            .iter()
            .any(|t| t.table == table && t.enabled)
    }

    /// Logs in to Peloton, opens the doc and checks every enabled table and
    /// column. Writes nothing to Coda.
    pub async fn check(&self) -> CheckReport {
        let mut out = CheckReport::default();
        match self.peloton.ensure_login().await {
            Ok(()) => match self.peloton.me().await {
                Ok(me) => out.peloton_user = Some(me.username.unwrap_or(me.id)),
                Err(e) => out.problems.push(peloton_problem(&e)),
            },
            Err(e) => out.problems.push(peloton_problem(&e)),
        }
        match self.coda.resolve_doc(&self.config.doc).await {
            Ok(doc) => {
                out.doc_name = Some(doc.name.clone());
                match self
                    .coda
                    .check_schema(&doc.id, &self.enabled_tables())
                    .await
                {
                    Ok(report) => {
                        for check in report.tables {
                            match check.result {
                                Ok(resolved) => {
                                    if resolved.table.optional_columns().next().is_some() {
                                        out.optional_columns.push((
                                            resolved.name.clone(),
                                            resolved.optional_found(),
                                        ));
                                    }
                                    out.notes.extend(
                                        resolved.optional_skipped.iter().map(|p| p.user_message()),
                                    );
                                    out.tables_ok.push(resolved.name)
                                }
                                Err(problems) => {
                                    out.problems.extend(problems.iter().map(|p| Problem {
                                        area: ProblemArea::CodaDoc,
                                        message: p.user_message(),
                                    }));
                                }
                            }
                        }
                    }
                    Err(e) => out.problems.push(coda_problem(&e)),
                }
            }
            Err(e) => out.problems.push(coda_problem(&e)),
        }
        out
    }

    /// One sync run. Takes the single-flight lock first; everything that
    /// goes wrong after that is in the report, as sentences.
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

        let started_at = self.clock.now();
        let mut run = Run {
            engine: self,
            opts,
            progress,
            cancel,
            report: RunReport {
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
            },
            doc_id: None,
            resolved: HashMap::new(),
            fallback_tz: None,
            peloton_requests_at_start: self.peloton.request_count(),
            written_early: HashSet::new(),
        };
        let started = {
            // Runs killed earlier are closed as interrupted, under the lock.
            let mut store = self.store();
            store
                .close_interrupted_runs()
                .and_then(|_| store.start_run(started_at))
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
        if run_id.is_some() {
            let _ = run.go().await;
        }
        if cancel.is_cancelled() {
            run.report.notes.push(
                "The sync was stopped before it finished; the next one resumes where it left off."
                    .into(),
            );
        }
        run.report.finished_at = self.clock.now();
        run.report.peloton_requests = self.peloton.request_count() - run.peloton_requests_at_start;
        if let Some(id) = run_id {
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
        Ok(run.report)
    }
}

/// The doc resolved and every enabled table checked; tables that fail their
/// check are left out of `resolved` and described in `problems`.
#[derive(Default)]
struct OpenedDoc {
    doc_id: Option<String>,
    resolved: HashMap<Table, ResolvedTable>,
    problems: Vec<Problem>,
}

impl OpenedDoc {
    async fn open(engine: &Engine) -> OpenedDoc {
        let mut out = OpenedDoc::default();
        let coda = &engine.coda;
        let doc = match coda.resolve_doc(&engine.config.doc).await {
            Ok(doc) => doc,
            Err(e) => {
                out.problems.push(coda_problem(&e));
                return out;
            }
        };
        match coda.check_schema(&doc.id, &engine.enabled_tables()).await {
            Ok(report) => {
                for check in report.tables {
                    match check.result {
                        Ok(resolved) => {
                            out.resolved.insert(check.table, resolved);
                        }
                        Err(problems) => out.problems.extend(problems.iter().map(|p| Problem {
                            area: ProblemArea::CodaDoc,
                            message: p.user_message(),
                        })),
                    }
                }
                out.doc_id = Some(doc.id);
            }
            Err(e) => out.problems.push(coda_problem(&e)),
        }
        out
    }
}

fn peloton_problem(e: &PelotonError) -> Problem {
    Problem::from(e)
}

fn coda_problem(e: &CodaError) -> Problem {
    Problem::from(e)
}

/// What identifies a list entry's content: when any of it changes, the
/// workout is fetched and written again (cli.md).
fn fingerprint(w: &Workout) -> String {
    serde_json::json!([
        w.start_time,
        w.end_time,
        w.total_work,
        w.is_total_work_personal_record,
        w.timezone,
        w.ride.as_ref().and_then(|r| r.title.clone()),
    ])
    .to_string()
}

fn is_complete(w: &Workout) -> bool {
    // In-progress workouts are skipped until they finish; a missing status is
    // taken as complete (older responses).
    w.status.as_deref().is_none_or(|s| s == "COMPLETE")
}

fn text(row: &Row, column: &str) -> Option<String> {
    match row.get(column) {
        Some(CellValue::Text(s)) if !s.is_empty() => Some(s.clone()),
        _ => None,
    }
}

fn new_workout(row: &Row) -> NewWorkout {
    let minutes = match row.get("Duration (min)") {
        Some(CellValue::Number(n)) => n.round().max(0.0) as u32,
        _ => 0,
    };
    NewWorkout {
        id: row.key.clone(),
        title: text(row, "Title")
            .or_else(|| text(row, "Discipline"))
            .unwrap_or_else(|| "Workout".into()),
        instructor: text(row, "Instructor"),
        minutes,
        start_time: text(row, "Start Time").unwrap_or_default(),
    }
}

impl Run<'_> {
    fn problem(&mut self, area: ProblemArea, message: String) {
        // One sentence per cause: a network outage fails many requests alike.
        if !self.report.problems.iter().any(|p| p.message == message) {
            tracing::warn!(?area, %message, "sync problem");
            self.report.problems.push(Problem { area, message });
        }
    }

    fn store(&self) -> MutexGuard<'_, Store> {
        self.engine.store()
    }

    fn now(&self) -> DateTime<Utc> {
        self.engine.clock.now()
    }

    /// Runs a store operation; a failure ends the run with its sentence.
    fn with_store<T>(
        &mut self,
        f: impl FnOnce(&mut Store) -> Result<T, crate::store::StoreError>,
    ) -> Result<T, Abort> {
        let result = {
            let mut store = self.store();
            f(&mut store)
        };
        result.map_err(|e| {
            self.problem(ProblemArea::Local, e.user_message());
            Abort
        })
    }

    fn check_cancel(&self) -> Result<(), Abort> {
        if self.cancel.is_cancelled() {
            Err(Abort)
        } else {
            Ok(())
        }
    }

    async fn go(&mut self) -> Result<(), Abort> {
        (self.progress)(Progress::Connecting);
        // Opening the doc needs nothing from Peloton, so it runs while
        // Peloton is read (login, the user's list, the friends' windows): a
        // quiet run waits for the slower of the two, not their sum.
        let engine = self.engine;
        let (read, opened) = futures::join!(self.read_peloton(), OpenedDoc::open(engine));
        self.take_doc(opened);
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
        // New workouts are fetched with the doc open, so full batches of
        // rows are written while the fetching goes on.
        let new_ids = self.fetch_workouts(read.listing).await?;
        self.check_cancel()?;
        // Workouts stored before the archive get their full graph, a few
        // hundred a run, before the rows are derived (so their new cells
        // go out in this run).
        let engine = self.engine;
        let backfilled =
            super::archive::backfill(&engine.peloton, &engine.store, &engine.clock, self.cancel)
                .await;
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
    /// `/api/me`, the user's list (what to fetch) and the friends' windows.
    async fn read_peloton(&mut self) -> Result<PelotonRead, Unread> {
        if let Err(e) = self.engine.peloton.ensure_login().await {
            let p = peloton_problem(&e);
            self.problem(p.area, p.message);
            return Err(Unread::Login);
        }
        let me = self.me().await?;
        self.fallback_tz = me.timezone.clone();
        self.check_cancel()?;
        let listing = self.list_workouts(&me.id).await?;
        self.check_cancel()?;
        let friends = self.read_friends(&me.id).await?;
        Ok(PelotonRead { listing, friends })
    }

    /// Where to write rows during the fetching, when the Workouts table is
    /// on and passed its check.
    fn early_writer(&self) -> Option<EarlyTarget> {
        if !self.engine.table_enabled(Table::Workouts) {
            return None;
        }
        Some(EarlyTarget {
            doc_id: self.doc_id.clone()?,
            resolved: self.resolved.get(&Table::Workouts)?.clone(),
            batch: self.engine.coda.config().batch_rows.max(1),
        })
    }

    /// Counts what a [`write_batch`] wrote. A Coda error is only logged:
    /// the rows stay unwritten and the write after the fetching sends them
    /// again and reports what still fails. Returns whether to go on
    /// writing during the fetching.
    fn take_batch_written(&mut self, out: BatchWritten) -> Result<bool, Abort> {
        self.report.coda_writes += out.writes;
        *self
            .report
            .written
            .entry(Table::Workouts.key().to_string())
            .or_default() += out.accepted.len() as u64;
        self.written_early.extend(out.accepted);
        if let Some(e) = out.store_error {
            self.problem(ProblemArea::Local, e.user_message());
            return Err(Abort);
        }
        if let Some(e) = out.coda_error {
            tracing::warn!(error = %e, "a write during the fetching failed; the rows are sent after it");
            return Ok(false);
        }
        Ok(true)
    }

    /// `/api/me`, read at most once a day (or on `--full`).
    async fn me(&mut self) -> Result<Me, Abort> {
        let now = self.now();
        let cached = self.with_store(|s| Ok((s.get_meta(META_ME)?, s.get_meta(META_ME_AT)?)))?;
        if let (Some(json), Some(at), false) = (&cached.0, &cached.1, self.opts.full) {
            let fresh = DateTime::parse_from_rfc3339(at)
                .map(|t| now - t.with_timezone(&Utc) < DAILY && now >= t.with_timezone(&Utc))
                .unwrap_or(false);
            if let (true, Ok(me)) = (fresh, serde_json::from_str::<Me>(json)) {
                return Ok(me);
            }
        }
        match self.engine.peloton.me().await {
            Ok(me) => {
                let json = serde_json::to_string(&me).unwrap_or_default();
                self.with_store(|s| {
                    s.set_meta(META_ME, &json)?;
                    s.set_meta(META_ME_AT, &now.to_rfc3339())
                })?;
                Ok(me)
            }
            Err(e) => {
                let p = peloton_problem(&e);
                self.problem(p.area, p.message);
                Err(Abort)
            }
        }
    }

    /// Keeps what opening the doc found: the tables that passed their check
    /// are written this run; every problem goes into the report.
    fn take_doc(&mut self, opened: OpenedDoc) {
        for p in opened.problems {
            self.problem(p.area, p.message);
        }
        self.resolved = opened.resolved;
        self.doc_id = opened.doc_id;
    }

    /// Lists the user's workouts newest first, until a page holds only
    /// known ones once the backfill is complete; returns the new or changed
    /// ones to fetch.
    async fn list_workouts(&mut self, user_id: &str) -> Result<Listing, Abort> {
        let peloton = &self.engine.peloton;
        let backfill_done = self
            .with_store(|s| s.get_meta(META_BACKFILL_DONE))?
            .is_some();
        let mut to_fetch: Vec<(Workout, bool)> = Vec::new();
        let mut queued = HashSet::new();
        let mut seen = 0u64;
        let mut page = 0u32;
        let mut reached_end = false;
        loop {
            let listing = match peloton.workouts_page(user_id, page).await {
                Ok(p) => p,
                Err(e) => {
                    let p = peloton_problem(&e);
                    self.problem(p.area, p.message);
                    break;
                }
            };
            let mut all_known = true;
            for w in &listing.data {
                seen += 1;
                if !is_complete(w) || !queued.insert(w.id.clone()) {
                    continue;
                }
                let fp = fingerprint(w);
                let old = self.with_store(|s| s.workout_fingerprint(&w.id))?;
                if old.as_deref() != Some(fp.as_str()) {
                    all_known = false;
                    to_fetch.push((w.clone(), old.is_none()));
                }
            }
            (self.progress)(Progress::Listing { seen });
            if !listing.has_next() {
                reached_end = true;
                break;
            }
            // Incremental: once the backfill is complete, a page holding only
            // known workouts means everything older is known too.
            if all_known && backfill_done && !self.opts.full {
                break;
            }
            page += 1;
            self.check_cancel()?;
        }
        Ok(Listing {
            user_id: user_id.to_string(),
            to_fetch,
            reached_end,
            backfill_done,
        })
    }

    /// Fetches detail and graph of every listed new or changed workout and
    /// keeps them in the state; meanwhile, each time a full batch of their
    /// rows is ready and no write is under way, writes it. Returns the ids
    /// seen for the first time.
    async fn fetch_workouts(&mut self, listing: Listing) -> Result<HashSet<String>, Abort> {
        let Listing {
            user_id,
            to_fetch,
            reached_end,
            backfill_done,
        } = listing;
        let user_id = user_id.as_str();
        let peloton = &self.engine.peloton;
        let engine = self.engine;
        let mut early = self.early_writer();
        let mut ready: Vec<Row> = Vec::new();
        let mut writing: Option<futures::future::BoxFuture<'_, BatchWritten>> = None;
        let total = to_fetch.len() as u64;
        let mut done = 0u64;
        let mut new_ids = HashSet::new();
        let mut failed = false;
        (self.progress)(Progress::Fetching { done, total });
        let fetches = futures::stream::iter(to_fetch.into_iter().map(|(w, is_new)| async move {
            let detail = peloton.workout(&w.id).await;
            let graph = match &detail {
                Ok(_) => Some(peloton.performance_graph_with_body(&w.id).await),
                Err(_) => None,
            };
            (w, is_new, detail, graph)
        }))
        .buffer_unordered(FETCH_CONCURRENCY)
        .take_until(self.cancel.cancelled());
        futures::pin_mut!(fetches);
        loop {
            let next = match writing.as_mut() {
                Some(write) => tokio::select! {
                    item = fetches.next() => item,
                    out = write => {
                        writing = None;
                        if !self.take_batch_written(out)? {
                            early = None;
                        }
                        continue;
                    }
                },
                None => fetches.next().await,
            };
            let Some((w, is_new, detail, graph)) = next else {
                break;
            };
            let fetched = match (detail, graph) {
                (Ok((detail, detail_json)), Some(Ok((graph, graph_json, graph_body)))) => {
                    Ok((detail, detail_json, graph, graph_json, graph_body))
                }
                (Err(e), _) | (_, Some(Err(e))) => Err(e),
                (Ok(_), None) => continue,
            };
            match fetched {
                Ok((detail, detail_json, graph, graph_json, graph_body)) => {
                    if let Some(target) = &early {
                        if let Ok(row) =
                            rows::workout_row(&detail, &graph, self.fallback_tz.as_deref())
                        {
                            ready.push(target.resolved.fit(row));
                        }
                        if writing.is_none() && ready.len() >= target.batch {
                            let batch: Vec<Row> = ready.drain(..target.batch).collect();
                            writing = Some(Box::pin(write_batch(engine, target.clone(), batch)));
                        }
                    }
                    let record = StoredWorkout {
                        id: w.id.clone(),
                        user_id: w.user_id.clone().unwrap_or_else(|| user_id.to_string()),
                        start_time: epoch(w.start_time),
                        fingerprint: fingerprint(&w),
                        detail_json: detail_json.to_string(),
                        graph_json: Some(graph_json.to_string()),
                    };
                    let now = self.now();
                    self.with_store(|s| {
                        s.save_workout(&record, now)?;
                        s.save_graph_archive(&record.id, &graph_body, now)
                    })?;
                    if is_new {
                        new_ids.insert(w.id);
                    }
                }
                Err(e) => {
                    failed = true;
                    let p = peloton_problem(&e);
                    self.problem(p.area, p.message);
                }
            }
            done += 1;
            (self.progress)(Progress::Fetching { done, total });
        }
        if let Some(write) = writing {
            let out = write.await;
            self.take_batch_written(out)?;
        }
        self.check_cancel()?;
        if reached_end && !failed && !backfill_done {
            self.with_store(|s| s.set_meta(META_BACKFILL_DONE, "1"))?;
        }
        Ok(new_ids)
    }

    /// Derives the Workouts rows from the state and writes those Coda has
    /// not accepted yet (all of them with `--full`).
    async fn write_workouts(&mut self, new_ids: &HashSet<String>) -> Result<(), Abort> {
        let stored = self.with_store(|s| s.stored_workouts())?;
        let rows = self.workout_rows(&stored);
        // With the table switched off, the notification still names what arrived.
        let enabled = self.engine.table_enabled(Table::Workouts);
        let written = if enabled {
            // Rows Coda accepted during the fetching are not sent again,
            // not even with `--full`.
            let early = std::mem::take(&mut self.written_early);
            let rest: Vec<Row> = rows
                .iter()
                .filter(|r| !early.contains(&r.key))
                .cloned()
                .collect();
            let mut written = self.write_changed(Table::Workouts, rest).await?;
            written.extend(early);
            written
        } else {
            HashSet::new()
        };
        self.report.new_workouts = rows
            .iter()
            .filter(|r| new_ids.contains(&r.key) && (!enabled || written.contains(&r.key)))
            .map(new_workout)
            .collect();
        self.report
            .new_workouts
            .sort_by(|a, b| b.start_time.cmp(&a.start_time));
        Ok(())
    }

    fn workout_rows(&mut self, stored: &[StoredWorkout]) -> Vec<Row> {
        let mut rows = Vec::with_capacity(stored.len());
        for s in stored {
            let parsed =
                serde_json::from_str::<Workout>(&s.detail_json).and_then(|w| match &s.graph_json {
                    Some(g) => serde_json::from_str::<PerformanceGraph>(g).map(|g| (w, g)),
                    None => Ok((w, PerformanceGraph::default())),
                });
            match parsed {
                Ok((w, g)) => match rows::workout_row(&w, &g, self.fallback_tz.as_deref()) {
                    Ok(row) => rows.push(row),
                    Err(e) => self.problem(ProblemArea::Peloton, e.user_message()),
                },
                Err(e) => self.problem(
                    ProblemArea::Local,
                    format!(
                        "A stored workout could not be read back ({e}); run `peloton-coda-sync sync --full` to fetch it again."
                    ),
                ),
            }
        }
        rows
    }

    /// Writes the rows whose content differs from what Coda last accepted
    /// (every row with `--full`). Returns the keys accepted.
    async fn write_changed(
        &mut self,
        table: Table,
        rows: Vec<Row>,
    ) -> Result<HashSet<String>, Abort> {
        let (Some(doc_id), Some(resolved)) =
            (self.doc_id.clone(), self.resolved.get(&table).cloned())
        else {
            return Ok(HashSet::new());
        };
        let full = self.opts.full;
        let pending: Vec<Row> = {
            let store = self.store();
            let mut pending = Vec::new();
            for row in rows.into_iter().map(|r| resolved.fit(r)) {
                let last = store.row_hash(table, &row.key);
                match last {
                    Ok(Some(h)) if !full && h == row.content_hash() => {}
                    Ok(_) => pending.push(row),
                    Err(_) => pending.push(row),
                }
            }
            pending
        };
        let mut accepted = HashSet::new();
        if pending.is_empty() {
            return Ok(accepted);
        }
        let total = pending.len() as u64;
        let mut done = 0u64;
        (self.progress)(Progress::Writing { table, done, total });
        let engine = self.engine;
        let progress = self.progress;
        let mut store_error = None;
        let mut writes = 0u64;
        let result = engine
            .coda
            .upsert_rows_with(
                &doc_id,
                &resolved,
                &pending,
                |batch: &[Row], _request_id: &str| {
                    if let Err(e) = engine.mark_accepted(table, batch) {
                        store_error.get_or_insert(e);
                    }
                    accepted.extend(batch.iter().map(|r| r.key.clone()));
                    writes += 1;
                    done += batch.len() as u64;
                    progress(Progress::Writing { table, done, total });
                },
            )
            .await;
        self.report.coda_writes += writes;
        *self
            .report
            .written
            .entry(table.key().to_string())
            .or_default() += accepted.len() as u64;
        if let Some(e) = store_error {
            self.problem(ProblemArea::Local, e.user_message());
            return Err(Abort);
        }
        if let Err(e) = result {
            let p = coda_problem(&e);
            self.problem(p.area, p.message);
        }
        Ok(accepted)
    }

    /// Instructors change rarely: read them at most once a day.
    async fn sync_instructors(&mut self) -> Result<(), Abort> {
        if !self.engine.table_enabled(Table::Instructors)
            || !self.resolved.contains_key(&Table::Instructors)
        {
            return Ok(());
        }
        let now = self.now();
        let (last, written_any) = self.with_store(|s| {
            Ok((
                s.get_meta(META_INSTRUCTORS_AT)?,
                !s.written_keys(Table::Instructors)?.is_empty(),
            ))
        })?;
        let fresh = last
            .and_then(|t| DateTime::parse_from_rfc3339(&t).ok())
            .map(|t| {
                let t = t.with_timezone(&Utc);
                now >= t && now - t < DAILY
            })
            .unwrap_or(false);
        if fresh && written_any && !self.opts.full {
            return Ok(());
        }
        let instructors = match self.engine.peloton.instructors().await {
            Ok(list) => list,
            Err(e) => {
                let p = peloton_problem(&e);
                self.problem(p.area, p.message);
                return Ok(());
            }
        };
        let rows: Vec<Row> = instructors
            .iter()
            .filter_map(rows::instructor_row)
            .collect();
        self.write_changed(Table::Instructors, rows).await?;
        if !self
            .report
            .problems
            .iter()
            .any(|p| matches!(p.area, ProblemArea::Coda | ProblemArea::CodaToken))
        {
            self.with_store(|s| s.set_meta(META_INSTRUCTORS_AT, &now.to_rfc3339()))?;
        }
        Ok(())
    }

    /// The people the user follows and each one's latest workouts, kept in
    /// the state; `None` when the list of people could not be read.
    async fn read_friends(&mut self, user_id: &str) -> Result<Option<FriendsRead>, Abort> {
        let following = match self.engine.peloton.following(user_id).await {
            Ok(list) => list,
            Err(e) => {
                let p = peloton_problem(&e);
                self.problem(p.area, p.message);
                return Ok(None);
            }
        };
        self.report.friends = following.len() as u64;
        let now = self.now();
        let records: Vec<FriendRecord> = following.iter().map(friend_record).collect();
        // Unfollowed friends leave the state with their workouts; their rows
        // go below, as rows whose key no friend keeps.
        self.with_store(|s| s.replace_friends(&records, now))?;

        // Each friend's window, read from the list with the class joined: no
        // per-workout calls for friends.
        let per_friend = self.engine.config.friend_workouts_per_friend;
        let total = following.len() as u64;
        let mut window_rows: Vec<Row> = Vec::new();
        for (i, friend) in following.iter().enumerate() {
            self.check_cancel()?;
            (self.progress)(Progress::Friends {
                done: i as u64,
                total,
            });
            let name = friend.username.clone().unwrap_or_else(|| friend.id.clone());
            if friend.is_profile_private == Some(true) {
                self.report
                    .notes
                    .push(format!("Skipped {name}: their profile is private."));
                continue;
            }
            if per_friend == 0 {
                continue;
            }
            match self
                .engine
                .peloton
                .friend_workouts(&friend.id, per_friend)
                .await
            {
                Ok(list) => {
                    let before: HashSet<String> = self
                        .with_store(|s| s.friend_workouts(&friend.id))?
                        .into_iter()
                        .map(|w| w.id)
                        .collect();
                    let mut kept = Vec::new();
                    for w in list
                        .iter()
                        .filter(|w| is_complete(w))
                        .take(per_friend as usize)
                    {
                        match rows::friend_workout_row(friend, w, self.fallback_tz.as_deref()) {
                            Ok(row) => {
                                if !before.is_empty() && !before.contains(&w.id) {
                                    self.report.new_friend_workouts += 1;
                                }
                                window_rows.push(row);
                                kept.push(FriendWorkoutRecord {
                                    id: w.id.clone(),
                                    friend_id: friend.id.clone(),
                                    start_time: epoch(w.start_time),
                                    json: serde_json::to_string(w).unwrap_or_default(),
                                });
                            }
                            Err(e) => self.problem(ProblemArea::Peloton, e.user_message()),
                        }
                    }
                    self.with_store(|s| s.replace_friend_workouts(&friend.id, &kept, now))?;
                }
                Err(PelotonError::Private { .. }) => {
                    self.report
                        .notes
                        .push(format!("Skipped {name}: their profile is private."));
                }
                Err(e) => {
                    self.problem(
                        ProblemArea::Friend,
                        format!("The workouts of {name} could not be read ({}); they were skipped and the others synced.", e.user_message().trim_end_matches('.')),
                    );
                }
            }
        }
        (self.progress)(Progress::Friends { done: total, total });
        Ok(Some(FriendsRead {
            following,
            window_rows,
        }))
    }

    /// Writes the Friends and Friend Workouts rows read by
    /// [`Run::read_friends`], deletes the rows that left, and refreshes the
    /// avatars.
    async fn write_friends(&mut self, read: FriendsRead) -> Result<(), Abort> {
        let FriendsRead {
            following,
            window_rows,
        } = read;
        let want_friends = self.engine.table_enabled(Table::Friends);
        let want_workouts = self.engine.table_enabled(Table::FriendWorkouts);
        if want_friends {
            let rows: Vec<Row> = following.iter().map(rows::friend_row).collect();
            self.write_changed(Table::Friends, rows).await?;
            let current: HashSet<String> = following.iter().map(|f| f.id.clone()).collect();
            self.delete_stale(Table::Friends, &current).await?;
        }
        if want_workouts {
            self.write_changed(Table::FriendWorkouts, window_rows)
                .await?;
            // Keep every row that is in some friend's current window, or in
            // the last known window of a friend who could not be read now.
            let mut keep = HashSet::new();
            for f in &following {
                for w in self.with_store(|s| s.friend_workouts(&f.id))? {
                    keep.insert(w.id);
                }
            }
            self.delete_stale(Table::FriendWorkouts, &keep).await?;
        }
        self.refresh_avatars(&following).await;
        Ok(())
    }

    /// Caches the avatars of the people followed, last, so a slow image
    /// host never delays the rows; best effort (see [`crate::avatars`]).
    async fn refresh_avatars(&self, following: &[FollowedUser]) {
        let Some(cache) = &self.engine.config.avatars else {
            return;
        };
        let wanted: Vec<Wanted> = following
            .iter()
            .filter_map(|f| {
                Some(Wanted {
                    friend_id: f.id.clone(),
                    url: f.image_url.clone().filter(|u| !u.is_empty())?,
                })
            })
            .collect();
        tokio::select! {
            r = cache.refresh(&wanted) => tracing::debug!(?r, "avatars refreshed"),
            () = self.cancel.cancelled() => {}
        }
    }

    /// Deletes the rows this app wrote to `table` whose key is not in `keep`.
    async fn delete_stale(&mut self, table: Table, keep: &HashSet<String>) -> Result<(), Abort> {
        let (Some(doc_id), Some(resolved)) =
            (self.doc_id.clone(), self.resolved.get(&table).cloned())
        else {
            return Ok(());
        };
        let written: BTreeMap<String, DateTime<Utc>> = self
            .with_store(|s| s.written_rows(table))?
            .into_iter()
            .filter(|w| !keep.contains(&w.key))
            .map(|w| (w.key, w.written_at))
            .collect();
        let stale: BTreeSet<String> = written.keys().cloned().collect();
        if stale.is_empty() {
            return Ok(());
        }
        let remote = match self.engine.coda.list_rows(&doc_id, &resolved).await {
            Ok(rows) => rows,
            Err(e) => {
                let p = coda_problem(&e);
                self.problem(p.area, p.message);
                return Ok(());
            }
        };
        let row_ids: Vec<String> = remote
            .iter()
            .filter(|r| stale.contains(&r.key))
            .map(|r| r.id.clone())
            .collect();
        if !row_ids.is_empty() {
            match self
                .engine
                .coda
                .delete_rows(&doc_id, &resolved.id, &row_ids)
                .await
            {
                Ok(requests) => self.report.coda_writes += requests.len() as u64,
                Err(e) => {
                    let p = coda_problem(&e);
                    self.problem(p.area, p.message);
                    return Ok(());
                }
            }
        }
        // A stale key not found in the doc was removed by the user already,
        // unless it was written so recently that the listing (a snapshot
        // that lags writes by minutes, coda-api.md §7) cannot show it yet:
        // that one is kept and deleted by a later run.
        let listed: HashSet<&str> = remote.iter().map(|r| r.key.as_str()).collect();
        let now = self.now();
        let keys: Vec<String> = written
            .into_iter()
            .filter(|(key, at)| listed.contains(key.as_str()) || now - *at >= LISTING_LAG)
            .map(|(key, _)| key)
            .collect();
        self.with_store(|s| s.forget_rows(table, &keys))?;
        *self
            .report
            .deleted
            .entry(table.key().to_string())
            .or_default() += row_ids.len() as u64;
        Ok(())
    }
}

fn epoch(secs: Option<i64>) -> DateTime<Utc> {
    secs.and_then(|s| DateTime::from_timestamp(s, 0))
        .unwrap_or(DateTime::UNIX_EPOCH)
}

fn friend_record(f: &FollowedUser) -> FriendRecord {
    FriendRecord {
        id: f.id.clone(),
        username: f.username.clone(),
        location: f.location.clone(),
        image_url: f.image_url.clone(),
        is_private: f.is_profile_private.unwrap_or(false),
        total_workouts: f.total_workouts,
        json: serde_json::to_string(f).unwrap_or_default(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn workout(json: serde_json::Value) -> Workout {
        serde_json::from_value(json).unwrap()
    }

    #[test]
    fn fingerprint_changes_with_the_fields_cli_md_names() {
        let base = serde_json::json!({"id": "a", "start_time": 1, "end_time": 2, "total_work": 3.0,
            "is_total_work_personal_record": false, "timezone": "UTC", "ride": {"title": "T"}});
        let fp = fingerprint(&workout(base.clone()));
        for (field, value) in [
            ("start_time", serde_json::json!(5)),
            ("end_time", serde_json::json!(5)),
            ("total_work", serde_json::json!(5.0)),
            ("is_total_work_personal_record", serde_json::json!(true)),
            ("timezone", serde_json::json!("Etc/GMT+5")),
        ] {
            let mut changed = base.clone();
            changed[field] = value;
            assert_ne!(fp, fingerprint(&workout(changed)), "{field}");
        }
        let mut title = base.clone();
        title["ride"]["title"] = serde_json::json!("Other");
        assert_ne!(fp, fingerprint(&workout(title)));
        let mut other = base;
        other["name"] = serde_json::json!("ignored");
        assert_eq!(fp, fingerprint(&workout(other)));
    }

    #[test]
    fn in_progress_workouts_wait() {
        assert!(!is_complete(&workout(
            serde_json::json!({"id": "a", "status": "IN_PROGRESS"})
        )));
        assert!(is_complete(&workout(
            serde_json::json!({"id": "a", "status": "COMPLETE"})
        )));
        assert!(is_complete(&workout(serde_json::json!({"id": "a"}))));
    }
}
