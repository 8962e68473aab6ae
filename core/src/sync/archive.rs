//! The archive backfill: workouts stored before the full-resolution archive
//! existed get their performance graph again, at every sample, a bounded
//! number per run.
//!
//! Kept apart from the run's other steps: it only reads Peloton (through
//! the same paced client, one request a workout) and writes the state. A
//! Peloton failure here is only logged: the graphs wait for the next run and
//! nothing else depends on them. A graph Peloton does not send (404) or
//! sends in a form that does not decode is passed by for [`GRAPH_RETRY`]
//! instead of stopping the backfill at it: newest first, it would come first
//! again every run.

use std::sync::Mutex;

use futures::StreamExt;
use tokio_util::sync::CancellationToken;

use crate::clock::SharedClock;
use crate::peloton::{PelotonClient, PelotonError};
use crate::store::{Store, StoreError};

/// At most this many old workouts get their graph in one run: 200 requests
/// at the client's pace (10 a second) add about 20 s to a run.
pub(crate) const BACKFILL_PER_RUN: usize = 200;
/// Graphs fetched at once; the client's pacer still applies.
const CONCURRENCY: usize = 4;
/// How long a graph Peloton did not send in a usable form is left alone
/// before it is asked for again.
pub(super) const GRAPH_RETRY: chrono::Duration = chrono::Duration::days(7);

fn lock(store: &Mutex<Store>) -> std::sync::MutexGuard<'_, Store> {
    store.lock().unwrap_or_else(|e| e.into_inner())
}

/// Whether a graph that failed is not worth waiting for: Peloton has none
/// for the workout (404, another 4xx) or sends one this app cannot read.
/// Anything else (5xx, 429, the network, a cut answer) may pass by itself.
pub(super) fn graph_lacks_for_good(e: &PelotonError) -> bool {
    matches!(
        e,
        PelotonError::NotFound { .. } | PelotonError::Decode { .. } | PelotonError::Rejected { .. }
    )
}

/// Fetches and archives the graphs of up to [`BACKFILL_PER_RUN`] stored
/// workouts that have none, newest first; their stored aggregates are
/// replaced in the same transaction. Returns how many were archived; fails
/// only when the state cannot be written.
pub(crate) async fn backfill(
    peloton: &PelotonClient,
    store: &Mutex<Store>,
    clock: &SharedClock,
    cancel: &CancellationToken,
) -> Result<usize, StoreError> {
    let ids = lock(store).workouts_without_archive(BACKFILL_PER_RUN, clock.now())?;
    if ids.is_empty() {
        return Ok(0);
    }
    tracing::info!(count = ids.len(), "archiving full graphs of older workouts");
    let fetches = futures::stream::iter(ids.into_iter().map(|id| async move {
        let got = peloton.performance_graph_with_body(&id).await;
        (id, got)
    }))
    .buffer_unordered(CONCURRENCY)
    .take_until(cancel.cancelled());
    futures::pin_mut!(fetches);
    let mut archived = 0;
    while let Some((id, got)) = fetches.next().await {
        let now = clock.now();
        match got {
            Ok((_, trimmed, body)) => {
                lock(store).save_backfilled_graph(&id, &body, &trimmed.to_string(), now)?;
                archived += 1;
            }
            Err(e) if graph_lacks_for_good(&e) => {
                // This one graph, not Peloton: pass it by for a while.
                tracing::info!(workout = %id, error = %e, "graph unavailable; asking again later");
                lock(store).mark_graph_unavailable(&id, now + GRAPH_RETRY)?;
            }
            Err(e) => {
                // Peloton is likely struggling: stop asking, the rest waits
                // for the next run.
                tracing::warn!(workout = %id, error = %e, "archive backfill stopped");
                break;
            }
        }
    }
    Ok(archived)
}
