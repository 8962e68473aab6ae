//! The server's shared state: the live doc, the lagging snapshot reads are served from, the
//! mutation queue that applies writes after a delay, and the switches, limiter and log.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use chrono::{DateTime, TimeDelta, Utc};
use tokio::sync::{mpsc, Notify};
use tokio::time::Instant;

use crate::config::Config;
use crate::limits::Limiter;
use crate::log::Logged;
use crate::model::{stable_id, Doc, Mutation, Table};
use crate::switches::FaultSettings;

/// 2025-01-01T00:00:00Z: the fake's clock starts here so no wall clock is read.
const EPOCH_SECS: i64 = 1_735_689_600;

/// A write waiting in the queue.
pub(crate) struct Queued {
    request_id: String,
    due: Instant,
    mutation: Mutation,
}

/// What `mutationStatus` knows about one request.
struct MutationRecord {
    accepted: Instant,
    completed: bool,
}

/// The doc and the mutations, behind one lock.
pub(crate) struct State {
    /// The doc as it is now, with every applied mutation.
    pub live: Doc,
    /// What reads see while a change waits for the next snapshot; `None` means reads see
    /// `live`.
    snapshot: Option<Doc>,
    snapshot_due: Option<Instant>,
    mutations: HashMap<String, MutationRecord>,
    queued: usize,
}

impl State {
    /// The doc reads are served from at `now`.
    pub fn read_doc(&mut self, now: Instant) -> &Doc {
        self.refresh_snapshot(now);
        self.snapshot.as_ref().unwrap_or(&self.live)
    }

    fn refresh_snapshot(&mut self, now: Instant) {
        if self.snapshot_due.is_some_and(|due| due <= now) {
            self.snapshot = None;
            self.snapshot_due = None;
        }
    }

    /// Keeps the reads on the doc as it is now until `now + lag`, unless a snapshot is
    /// already waiting (then this change shows with it).
    fn hold_reads(&mut self, now: Instant, lag: Duration) {
        self.refresh_snapshot(now);
        if !lag.is_zero() && self.snapshot.is_none() {
            self.snapshot = Some(self.live.clone());
            self.snapshot_due = Some(now + lag);
        }
    }

    /// Both docs a user edit must reach: the live one and the snapshot, if any.
    pub fn docs_mut(&mut self) -> impl Iterator<Item = &mut Doc> {
        std::iter::once(&mut self.live).chain(self.snapshot.as_mut())
    }
}

/// Everything the handlers, the queue worker and the test API share.
pub(crate) struct Shared {
    pub config: Config,
    /// `http://127.0.0.1:PORT`.
    pub origin: String,
    started: Instant,
    state: Mutex<State>,
    faults: Mutex<FaultSettings>,
    limiter: Mutex<Limiter>,
    log: Mutex<Vec<Logged>>,
    /// Woken after each applied mutation.
    applied: Notify,
    queue: mpsc::UnboundedSender<Queued>,
}

/// Locks a mutex, carrying on after a panic elsewhere: a test fake should keep answering.
fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
}

impl Shared {
    /// Shared state for a server at `origin`, and the receiving end of its queue.
    pub fn new(config: Config, origin: String) -> (Arc<Self>, mpsc::UnboundedReceiver<Queued>) {
        let (tx, rx) = mpsc::unbounded_channel();
        let started = Instant::now();
        let live = Doc::new(&config, &format_time(started, started));
        let shared = Self {
            origin,
            started,
            state: Mutex::new(State {
                live,
                snapshot: None,
                snapshot_due: None,
                mutations: HashMap::new(),
                queued: 0,
            }),
            faults: Mutex::new(config.faults.clone()),
            limiter: Mutex::new(Limiter::new(config.rate_limits)),
            log: Mutex::new(Vec::new()),
            applied: Notify::new(),
            queue: tx,
            config,
        };
        (Arc::new(shared), rx)
    }

    /// The doc and mutations.
    pub fn state(&self) -> MutexGuard<'_, State> {
        lock(&self.state)
    }

    /// The fault switches.
    pub fn faults(&self) -> MutexGuard<'_, FaultSettings> {
        lock(&self.faults)
    }

    /// The rate limiter.
    pub fn limiter(&self) -> MutexGuard<'_, Limiter> {
        lock(&self.limiter)
    }

    /// The request log.
    pub fn log(&self) -> MutexGuard<'_, Vec<Logged>> {
        lock(&self.log)
    }

    /// The time the API shows for `now`, e.g. `2025-01-01T00:00:01.250Z`.
    pub fn time_text(&self, now: Instant) -> String {
        format_time(self.started, now)
    }

    /// Queues a mutation and returns its `requestId`.
    pub fn enqueue(&self, mutation: Mutation) -> String {
        let request_id = format!("mutate:{}", uuid::Uuid::new_v4());
        let now = Instant::now();
        {
            let mut st = self.state();
            st.mutations.insert(
                request_id.clone(),
                MutationRecord {
                    accepted: now,
                    completed: false,
                },
            );
            st.queued += 1;
        }
        let queued = Queued {
            request_id: request_id.clone(),
            due: now + self.config.mutation_delay,
            mutation,
        };
        // The receiver lives as long as the server; if it is gone the server is shutting down.
        let _ = self.queue.send(queued);
        request_id
    }

    /// True when reads may be stale: a change is applied but not in the snapshot yet, or
    /// (when configured) a write is still queued.
    pub fn has_pending_changes(&self, now: Instant) -> bool {
        let mut st = self.state();
        st.refresh_snapshot(now);
        st.snapshot.is_some() || (self.config.doc_version_counts_queued && st.queued > 0)
    }

    /// `mutationStatus`: `None` for unknown (or not yet replicated) IDs, else completion.
    pub fn mutation_status(&self, request_id: &str, now: Instant) -> Option<bool> {
        let st = self.state();
        let record = st.mutations.get(request_id)?;
        if now.duration_since(record.accepted) < self.config.mutation_status_404_for {
            return None;
        }
        Some(record.completed)
    }

    /// Number of writes accepted but not applied.
    pub fn queued(&self) -> usize {
        self.state().queued
    }

    /// Waits until the queue is empty.
    pub async fn wait_idle(&self) {
        loop {
            let applied = self.applied.notified();
            tokio::pin!(applied);
            applied.as_mut().enable();
            if self.queued() == 0 {
                return;
            }
            applied.await;
        }
    }

    /// Runs a schema edit on a table's column in the live doc and the snapshot, as a user
    /// editing the doc would (schema changes are not delayed). False when there is no such
    /// column.
    pub fn edit_schema(&self, table: &str, column: &str, edit: impl Fn(&mut Table, usize)) -> bool {
        let mut st = self.state();
        let mut found = false;
        for doc in st.docs_mut() {
            let Some(t) = doc.table_by_name_mut(table) else {
                continue;
            };
            let Some(i) = t.columns.iter().position(|c| c.name == column) else {
                continue;
            };
            edit(t, i);
            found = true;
        }
        found
    }

    /// A change a user makes to the doc's rows in the Coda UI: applied to the live doc at
    /// once and seen by reads after the read lag, like an applied write.
    pub fn user_change<T>(&self, change: impl FnOnce(&mut Doc, &str) -> T) -> T {
        let now = Instant::now();
        let at = self.time_text(now);
        let mut st = self.state();
        st.hold_reads(now, self.config.read_lag);
        change(&mut st.live, &at)
    }

    /// Deletes a table and makes it again, as a user would: see [`Doc::recreate_table`].
    /// Like other schema edits it is seen at once. Returns the new table ID, or `None` when
    /// there is no such table.
    pub fn recreate_table(&self, table: &str, without_column: Option<&str>) -> Option<String> {
        let at = self.time_text(Instant::now());
        let mut st = self.state();
        let view = st.live.tables.iter().find(|t| t.name == table)?.view;
        let prefix = if view { "table-" } else { "grid-" };
        let id = stable_id(prefix, &uuid::Uuid::new_v4().to_string());
        for doc in st.docs_mut() {
            doc.recreate_table(table, &id, without_column, &at);
        }
        Some(id)
    }

    /// Applies one queued mutation now.
    fn apply(&self, queued: Queued) {
        let now = Instant::now();
        let at = self.time_text(now);
        let mut st = self.state();
        // Reads keep the doc as it was until the next snapshot, `read_lag` from now.
        st.hold_reads(now, self.config.read_lag);
        st.live.apply(queued.mutation, &at);
        if let Some(record) = st.mutations.get_mut(&queued.request_id) {
            record.completed = true;
        }
        st.queued -= 1;
    }
}

/// Applies queued mutations in order, each at its due time.
pub(crate) async fn run_queue(shared: Arc<Shared>, mut rx: mpsc::UnboundedReceiver<Queued>) {
    while let Some(queued) = rx.recv().await {
        tokio::time::sleep_until(queued.due).await;
        shared.apply(queued);
        shared.applied.notify_waiters();
    }
}

fn format_time(started: Instant, now: Instant) -> String {
    let elapsed = TimeDelta::from_std(now.duration_since(started)).unwrap_or_default();
    let at = DateTime::<Utc>::from_timestamp(EPOCH_SECS, 0).unwrap_or_default() + elapsed;
    at.format("%Y-%m-%dT%H:%M:%S%.3fZ").to_string()
}
