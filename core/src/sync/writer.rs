//! Writing and deleting rows: keyed upserts of the rows whose content Coda
//! has not accepted yet, deletes of rows this app wrote that left, and the
//! early writer that sends full batches of Workouts rows while the fetching
//! goes on.
//!
//! Invariant: a row is marked written only in the callback Coda's 202 for
//! its batch runs, so a run stopped at any instant resends (keyed) what was
//! not confirmed.

use std::collections::{BTreeMap, BTreeSet, HashSet};

use chrono::{DateTime, Utc};
use tokio::sync::mpsc;

use super::context::{Abort, Run, Services};
use super::report::{Problem, ProblemArea, Progress};
use crate::coda::{CodaError, ResolvedTable};
use crate::rows::Row;
use crate::store::StoreError;
use crate::tables::Table;

/// How far Coda's listings may lag its writes: a row written more recently
/// than this and missing from a listing is not taken as deleted by the user.
pub(super) const LISTING_LAG: chrono::Duration = chrono::Duration::hours(1);

/// What the early writer did.
#[derive(Default)]
pub(super) struct EarlyWritten {
    pub(super) accepted: Vec<String>,
    pub(super) writes: u64,
    pub(super) store_error: Option<StoreError>,
    pub(super) coda_error: Option<CodaError>,
}

/// The early writer: a bounded channel of full batches and the task that
/// writes them one at a time. The fetching offers a batch with
/// [`EarlyWriter::offer`] and never waits for a write; the task is joined
/// beside the fetching.
pub(super) struct EarlyWriter {
    tx: Option<mpsc::Sender<Vec<Row>>>,
    /// Rows in one write request.
    pub(super) batch: usize,
}

impl EarlyWriter {
    /// A writer for `table` and the task that drains it; `None` when the
    /// Workouts table is not written this run.
    pub(super) fn start<'a>(
        svc: Services<'a>,
        target: Option<(String, ResolvedTable)>,
    ) -> (
        EarlyWriter,
        impl std::future::Future<Output = EarlyWritten> + 'a,
    ) {
        let batch = svc.coda.config().batch_rows.max(1);
        let (tx, mut rx) = mpsc::channel::<Vec<Row>>(1);
        let tx = target.is_some().then_some(tx);
        let task = async move {
            let mut out = EarlyWritten::default();
            let Some((doc_id, resolved)) = target else {
                return out;
            };
            while let Some(rows) = rx.recv().await {
                if out.coda_error.is_some() || out.store_error.is_some() {
                    // After a failure the rows wait for the write after the fetching.
                    continue;
                }
                let rows: Vec<Row> = rows.into_iter().map(|r| resolved.fit(r)).collect();
                write_rows(svc, &doc_id, &resolved, &rows, &mut out).await;
            }
            out
        };
        (EarlyWriter { tx, batch }, task)
    }

    /// Hands a full batch from `ready` to the writer when it is free; rows
    /// stay in `ready` otherwise.
    pub(super) fn offer(&mut self, ready: &mut Vec<Row>) {
        let Some(tx) = &self.tx else {
            ready.clear();
            return;
        };
        if ready.len() < self.batch {
            return;
        }
        let closed = match tx.try_reserve() {
            Ok(permit) => {
                permit.send(ready.drain(..self.batch).collect());
                false
            }
            Err(mpsc::error::TrySendError::Full(())) => false,
            Err(mpsc::error::TrySendError::Closed(())) => true,
        };
        if closed {
            self.tx = None;
        }
    }

    /// Whether rows are wanted at all.
    pub(super) fn wants_rows(&self) -> bool {
        self.tx.is_some()
    }

    /// Ends the channel, so the task finishes after its last batch.
    pub(super) fn close(&mut self) {
        self.tx = None;
    }
}

/// One keyed upsert of `rows`, marking each batch written as Coda accepts it.
async fn write_rows(
    svc: Services<'_>,
    doc_id: &str,
    resolved: &ResolvedTable,
    rows: &[Row],
    out: &mut EarlyWritten,
) {
    let mut store_error = None;
    let result = svc
        .coda
        .upsert_rows_with(doc_id, resolved, rows, |batch: &[Row], _: &str| {
            if let Err(e) = svc.mark_accepted(resolved.table, batch) {
                store_error.get_or_insert(e);
            }
            out.accepted.extend(batch.iter().map(|r| r.key.clone()));
            out.writes += 1;
        })
        .await;
    if let Some(e) = store_error {
        out.store_error.get_or_insert(e);
    }
    if let Err(e) = result {
        out.coda_error.get_or_insert(e);
    }
}

impl Run<'_> {
    /// Counts what the early writer wrote. A Coda error is only logged: the
    /// rows stay unwritten and the write after the fetching sends them again
    /// and reports what still fails.
    pub(super) fn take_early_written(&mut self, out: EarlyWritten) -> Result<(), Abort> {
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
        }
        Ok(())
    }

    /// Writes the rows whose content differs from what Coda last accepted
    /// (every row with `--full`). Returns the keys accepted.
    pub(super) async fn write_changed(
        &mut self,
        table: Table,
        rows: Vec<Row>,
    ) -> Result<HashSet<String>, Abort> {
        let Some((doc_id, resolved)) = self.target(table) else {
            return Ok(HashSet::new());
        };
        let full = self.opts.full;
        let pending: Vec<Row> = {
            let store = self.svc.store();
            rows.into_iter()
                .map(|r| resolved.fit(r))
                .filter(|row| match store.row_hash(table, &row.key) {
                    Ok(Some(h)) => full || h != row.content_hash(),
                    Ok(None) | Err(_) => true,
                })
                .collect()
        };
        if pending.is_empty() {
            return Ok(HashSet::new());
        }
        let total = pending.len() as u64;
        let mut done = 0u64;
        (self.progress)(Progress::Writing { table, done, total });
        let svc = self.svc;
        let progress = self.progress;
        let mut accepted = HashSet::new();
        let mut store_error = None;
        let mut writes = 0u64;
        let result = svc
            .coda
            .upsert_rows_with(&doc_id, &resolved, &pending, |batch: &[Row], _: &str| {
                if let Err(e) = svc.mark_accepted(table, batch) {
                    store_error.get_or_insert(e);
                }
                accepted.extend(batch.iter().map(|r| r.key.clone()));
                writes += 1;
                done += batch.len() as u64;
                progress(Progress::Writing { table, done, total });
            })
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
            self.report_problem(Problem::from(&e));
        }
        Ok(accepted)
    }

    /// Deletes the rows this app wrote to `table` whose key is not in `keep`.
    pub(super) async fn delete_stale(
        &mut self,
        table: Table,
        keep: &HashSet<String>,
    ) -> Result<(), Abort> {
        let Some((doc_id, resolved)) = self.target(table) else {
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
        let remote = match self.svc.coda.list_rows(&doc_id, &resolved).await {
            Ok(rows) => rows,
            Err(e) => {
                self.report_problem(Problem::from(&e));
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
                .svc
                .coda
                .delete_rows(&doc_id, &resolved.id, &row_ids)
                .await
            {
                Ok(requests) => self.report.coda_writes += requests.len() as u64,
                Err(e) => {
                    self.report_problem(Problem::from(&e));
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
