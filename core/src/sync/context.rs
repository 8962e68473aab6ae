//! The run context: what one run owns while it goes (the clients, the
//! state, the settings, its report) and the few helpers every step uses.
//! The steps borrow it; none of them knows the [`super::Engine`].

use std::collections::{HashMap, HashSet};
use std::path::PathBuf;
use std::sync::{Mutex, MutexGuard};
use std::time::Duration;

use chrono::{DateTime, Utc};
use tokio_util::sync::CancellationToken;

use super::report::{Problem, ProblemArea, Progress, RunReport};
use crate::avatars::AvatarCache;
use crate::clock::SharedClock;
use crate::coda::{CodaClient, ResolvedTable};
use crate::peloton::PelotonClient;
use crate::rows::Row;
use crate::store::{Store, StoreError};
use crate::tables::Table;

// The engine's settings live here, below both the engine and the steps
// that read them (the engine builds a run from them; no step knows it).

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

/// A failure that ends the run early; the run's report carries its sentence.
pub(super) struct Abort;

/// The services and the state a run works on, all borrowed from the engine
/// for the run's length. Cheap to copy, so a writer can run beside a step.
#[derive(Clone, Copy)]
pub(super) struct Services<'a> {
    pub(super) peloton: &'a PelotonClient,
    pub(super) coda: &'a CodaClient,
    pub(super) store: &'a Mutex<Store>,
    pub(super) clock: &'a SharedClock,
    pub(super) config: &'a EngineConfig,
}

impl<'a> Services<'a> {
    pub(super) fn store(&self) -> MutexGuard<'a, Store> {
        self.store.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Records that Coda accepted `batch` of `table`: each row's content
    /// hash, so the row is not sent again until it changes.
    pub(super) fn mark_accepted(&self, table: Table, batch: &[Row]) -> Result<(), StoreError> {
        let hashes: Vec<(String, String)> = batch
            .iter()
            .map(|r| (r.key.clone(), r.content_hash()))
            .collect();
        self.store().mark_written(table, &hashes, self.clock.now())
    }

    pub(super) fn table_enabled(&self, table: Table) -> bool {
        self.config
            .tables
            .iter()
            .any(|t| t.table == table && t.enabled)
    }
}

/// The state of one run in progress.
pub(super) struct Run<'a> {
    pub(super) svc: Services<'a>,
    pub(super) opts: RunOptions,
    pub(super) progress: &'a (dyn Fn(Progress) + Send + Sync),
    pub(super) cancel: &'a CancellationToken,
    pub(super) report: RunReport,
    pub(super) doc_id: Option<String>,
    pub(super) resolved: HashMap<Table, ResolvedTable>,
    pub(super) fallback_tz: Option<String>,
    /// Workouts rows Coda accepted while fetching (see [`super::writer`]).
    pub(super) written_early: HashSet<String>,
}

impl Run<'_> {
    pub(super) fn problem(&mut self, area: ProblemArea, message: String) {
        // One sentence per cause: a network outage fails many requests alike.
        if !self.report.problems.iter().any(|p| p.message == message) {
            tracing::warn!(?area, %message, "sync problem");
            self.report.problems.push(Problem { area, message });
        }
    }

    /// Reports a problem given as a [`Problem`] (from a service's error).
    pub(super) fn report_problem(&mut self, p: Problem) {
        self.problem(p.area, p.message);
    }

    /// A note for the user; each sentence once.
    pub(super) fn note(&mut self, message: String) {
        if !self.report.notes.contains(&message) {
            self.report.notes.push(message);
        }
    }

    pub(super) fn now(&self) -> DateTime<Utc> {
        self.svc.clock.now()
    }

    /// Runs a store operation; a failure ends the run with its sentence.
    pub(super) fn with_store<T>(
        &mut self,
        f: impl FnOnce(&mut Store) -> Result<T, StoreError>,
    ) -> Result<T, Abort> {
        let result = {
            let mut store = self.svc.store();
            f(&mut store)
        };
        result.map_err(|e| {
            self.problem(ProblemArea::Local, e.user_message());
            Abort
        })
    }

    pub(super) fn check_cancel(&self) -> Result<(), Abort> {
        if self.cancel.is_cancelled() {
            Err(Abort)
        } else {
            Ok(())
        }
    }

    /// Where `table`'s rows go this run: the doc and the resolved table,
    /// when the table is on and passed its check.
    pub(super) fn target(&self, table: Table) -> Option<(String, ResolvedTable)> {
        if !self.svc.table_enabled(table) {
            return None;
        }
        Some((self.doc_id.clone()?, self.resolved.get(&table)?.clone()))
    }
}
