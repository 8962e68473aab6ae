//! The user's own workouts: who the member is, the listing (into the
//! persistent listing queue), the fetching of detail and graph, and the
//! Workouts rows derived from the state.
//!
//! Invariant (the listing queue): a workout seen in a listing and not stored
//! yet is in the queue (an entry that did not decode, by its id), and leaves
//! it only when stored or when Peloton answers 404 for it. The listing stops at
//! a page holding only stored workouts once a listing reached the end; a
//! workout listed before a stop (a kill, a cancel, a failure) is fetched
//! from the queue by the next run, whatever page it was on.

use std::collections::HashSet;

use chrono::{DateTime, Utc};
use futures::StreamExt;

use super::archive::{graph_lacks_for_good, GRAPH_RETRY};
use super::context::{Abort, Run};
use super::report::{NewWorkout, Problem, ProblemArea, Progress};
use super::writer::EarlyWriter;
use crate::bests;
use crate::peloton::types::{Me, PerformanceGraph, Workout};
use crate::peloton::{Listed, PelotonError, Skipped};
use crate::rows::{self, Row, WorkoutSummary};
use crate::store::{QueuedWorkout, StoredWorkout};
use crate::tables::Table;

/// How often `/api/me` is read again.
const DAILY: chrono::Duration = chrono::Duration::hours(24);
/// Concurrent detail + graph fetches; the client's pacer still applies.
const FETCH_CONCURRENCY: usize = 4;

pub(crate) const META_ME: &str = "peloton.me";
const META_ME_AT: &str = "peloton.me_fetched_at";
/// Whose `/api/me` is cached: a hash of the account's e-mail.
const META_ME_FOR: &str = "peloton.me_account";
/// Set once a listing reached the last page: from then on a listing may
/// stop at a page holding only stored workouts.
const META_BACKFILL_DONE: &str = "peloton.backfill_complete";

impl Run<'_> {
    /// `/api/me`, read at most once a day (or on `--full`), and again at
    /// once when the account signing in is another one. The workout state is
    /// bound to the member's id: another member starts it afresh.
    pub(super) async fn me(&mut self) -> Result<Me, Abort> {
        let me = self.read_me().await?;
        let rebound = self.with_store(|s| s.bind_user(&me.id, &[META_BACKFILL_DONE]))?;
        if rebound {
            self.note(
                "Another Peloton account signed in: its workouts start afresh, and the rows written for the previous account are left in the doc.".into(),
            );
        }
        Ok(me)
    }

    async fn read_me(&mut self) -> Result<Me, Abort> {
        let now = self.now();
        let account = account_tag(self.svc.peloton.account());
        let (json, at, owner) = self.with_store(|s| {
            Ok((
                s.get_meta(META_ME)?,
                s.get_meta(META_ME_AT)?,
                s.get_meta(META_ME_FOR)?,
            ))
        })?;
        let fresh = at
            .and_then(|t| DateTime::parse_from_rfc3339(&t).ok())
            .map(|t| t.with_timezone(&Utc))
            .is_some_and(|t| now >= t && now - t < DAILY);
        if fresh && !self.opts.full && owner.as_deref() == Some(account.as_str()) {
            if let Some(me) = json.and_then(|j| serde_json::from_str::<Me>(&j).ok()) {
                return Ok(me);
            }
        }
        match self.svc.peloton.me().await {
            Ok(me) => {
                let json = serde_json::to_string(&me).unwrap_or_default();
                self.with_store(|s| {
                    s.set_meta(META_ME, &json)?;
                    s.set_meta(META_ME_AT, &now.to_rfc3339())?;
                    s.set_meta(META_ME_FOR, &account)
                })?;
                Ok(me)
            }
            Err(e) => {
                self.report_problem(Problem::from(&e));
                Err(Abort)
            }
        }
    }

    /// Lists the user's workouts newest first into the listing queue, until
    /// a page holds only stored ones once a listing reached the end (every
    /// page with `--full`). A listing that reaches the end sets that marker.
    pub(super) async fn list_workouts(&mut self, user_id: &str) -> Result<(), Abort> {
        let peloton = self.svc.peloton;
        let backfill_done = self
            .with_store(|s| s.get_meta(META_BACKFILL_DONE))?
            .is_some();
        let pages = peloton
            .workout_pages(user_id)
            .take_until(self.cancel.cancelled());
        futures::pin_mut!(pages);
        let mut listing = Listing::default();
        let mut seen = 0u64;
        let mut reached_end = true;
        while let Some(page) = pages.next().await {
            let page = match page {
                Ok(p) => p,
                Err(e) => {
                    self.report_problem(Problem::from(&e));
                    reached_end = false;
                    break;
                }
            };
            seen += page.entries as u64;
            let all_known = self.queue_page(user_id, page, &mut listing)?;
            (self.progress)(Progress::Listing { seen });
            // Incremental: once a listing reached the end, a page holding only
            // stored workouts means everything older is stored or queued.
            if all_known && backfill_done && !self.opts.full {
                reached_end = false;
                break;
            }
        }
        // One of the user's own workouts left out is a workout missing from
        // the doc: the run says so as a problem (one sentence), not a note.
        if let Some(message) = left_out_sentence(&listing.left_out) {
            self.problem(ProblemArea::Peloton, message);
        }
        // An entry that did not decode but had its id is fetched on its own:
        // its detail decides (stored, or named as a problem every run).
        if let Some(message) = fetched_alone_sentence(&listing.fetched_alone) {
            self.note(message);
        }
        self.check_cancel()?;
        if reached_end && !backfill_done {
            self.with_store(|s| s.set_meta(META_BACKFILL_DONE, "1"))?;
        }
        Ok(())
    }

    /// Puts one listed page's new or changed workouts into the listing queue
    /// (one transaction). An entry that did not decode but has an id is
    /// queued too, unless stored already: its detail may well decode, and
    /// the queue keeps it across runs until it does. Returns whether every
    /// entry of the page was stored already.
    fn queue_page(
        &mut self,
        user_id: &str,
        page: Listed<Workout>,
        listing: &mut Listing,
    ) -> Result<bool, Abort> {
        let mut queued = Vec::new();
        let mut waiting = false;
        for s in page.skipped {
            let Some(id) = s.id.clone() else {
                listing.left_out.push(s);
                continue;
            };
            if !listing.seen_ids.insert(id.clone()) {
                continue;
            }
            let (stored, in_queue) = self.with_store(|st| {
                Ok((st.workout_fingerprint(&id)?.is_some(), st.is_queued(&id)?))
            })?;
            if !stored {
                waiting = true;
                // A queued entry keeps the entry it was queued with.
                if !in_queue {
                    queued.push(QueuedWorkout::by_id(&id, user_id, true));
                }
            }
            listing.fetched_alone.push(s);
        }
        for w in page.items.iter().filter(|w| is_complete(w)) {
            if !listing.seen_ids.insert(w.id.clone()) {
                continue;
            }
            let fp = fingerprint(w);
            let old = self.with_store(|s| s.workout_fingerprint(&w.id))?;
            if old.as_deref() != Some(fp.as_str()) {
                queued.push(QueuedWorkout {
                    id: w.id.clone(),
                    user_id: user_id.to_string(),
                    entry_json: serde_json::to_string(w).unwrap_or_default(),
                    is_new: old.is_none(),
                });
            }
        }
        let all_known = queued.is_empty() && !waiting;
        let now = self.now();
        self.with_store(|s| s.queue_workouts(&queued, now))?;
        Ok(all_known)
    }

    /// Notes each list entry Peloton sent that could not be read.
    pub(super) fn note_skipped(&mut self, skipped: &[Skipped]) {
        for s in skipped {
            self.note(s.user_message());
        }
    }

    /// Fetches detail and graph of every queued workout and stores them
    /// (which takes them off the queue); meanwhile the early writer sends
    /// each full batch of their rows. Returns the ids seen for the first
    /// time.
    pub(super) async fn fetch_workouts(&mut self, user_id: &str) -> Result<HashSet<String>, Abort> {
        let queued = self.with_store(|s| s.queued_workouts(user_id))?;
        let svc = self.svc;
        let (mut writer, writing) = EarlyWriter::start(svc, self.target(Table::Workouts));
        let fetching = async {
            let out = self.fetch_queued(queued, &mut writer).await;
            writer.close();
            out
        };
        let (fetched, written) = futures::join!(fetching, writing);
        self.take_early_written(written)?;
        let new_ids = fetched?;
        self.check_cancel()?;
        Ok(new_ids)
    }

    /// The fetch loop of [`Run::fetch_workouts`]: up to [`FETCH_CONCURRENCY`]
    /// at once, each stored as it arrives.
    async fn fetch_queued(
        &mut self,
        queued: Vec<QueuedWorkout>,
        writer: &mut EarlyWriter,
    ) -> Result<HashSet<String>, Abort> {
        let peloton = self.svc.peloton;
        let total = queued.len() as u64;
        let mut done = 0u64;
        let mut tally = Tally::default();
        (self.progress)(Progress::Fetching { done, total });
        let fetches = futures::stream::iter(queued.into_iter().map(|q| async move {
            let fetched = match peloton.workout(&q.id).await {
                Err(e) => Fetched::DetailFailed(e),
                Ok((detail, detail_json)) => {
                    match peloton.performance_graph_with_body(&q.id).await {
                        Ok((graph, graph_json, graph_body)) => Fetched::Whole {
                            detail,
                            detail_json,
                            graph,
                            graph_json,
                            graph_body,
                        },
                        Err(e) => Fetched::GraphFailed(e, detail, detail_json),
                    }
                }
            };
            (q, fetched)
        }))
        .buffer_unordered(FETCH_CONCURRENCY)
        .take_until(self.cancel.cancelled());
        futures::pin_mut!(fetches);
        while let Some((q, fetched)) = fetches.next().await {
            self.keep_fetched(q, fetched, writer, &mut tally)?;
            done += 1;
            (self.progress)(Progress::Fetching { done, total });
        }
        if let Some(message) = unreadable_sentence(&tally.unreadable) {
            self.problem(ProblemArea::Peloton, message);
        }
        for message in without_graph_sentences(&tally.without_graph) {
            self.note(message);
        }
        Ok(tally.new_ids)
    }

    /// Keeps what fetching one queued workout gave: stores it (which takes
    /// it off the queue) and offers its row to the early writer, or leaves
    /// it queued for the next run and says why. Only a 404 for the workout
    /// itself (deleted on Peloton) takes it off the queue unstored.
    fn keep_fetched(
        &mut self,
        q: QueuedWorkout,
        fetched: Fetched,
        writer: &mut EarlyWriter,
        tally: &mut Tally,
    ) -> Result<(), Abort> {
        let (detail, detail_json, graph) = match fetched {
            Fetched::Whole {
                detail,
                detail_json,
                graph,
                graph_json,
                graph_body,
            } => (detail, detail_json, Some((graph, graph_json, graph_body))),
            Fetched::DetailFailed(PelotonError::NotFound { .. }) => {
                // Deleted on Peloton since it was listed: nothing to keep.
                return self.with_store(|s| s.unqueue_workout(&q.id));
            }
            Fetched::DetailFailed(PelotonError::Decode { path, .. }) => {
                tally.unreadable.push((q.id, path));
                return Ok(());
            }
            Fetched::GraphFailed(e, detail, detail_json) if graph_lacks_for_good(&e) => {
                // The workout is there; only its graph is not. The row is
                // written without the graph's cells, and the archive
                // backfill asks for the graph again later.
                tally.without_graph.push((q.id.clone(), e));
                (detail, detail_json, None)
            }
            // Anything that may pass (5xx, 429, the network, a cut answer)
            // leaves the workout queued for the next run.
            Fetched::DetailFailed(e) | Fetched::GraphFailed(e, ..) => {
                self.report_problem(Problem::from(&e));
                return Ok(());
            }
        };
        self.store_fetched(q, (detail, detail_json), graph, writer, tally)
    }

    /// Stores a fetched workout, with its graph or without (then the
    /// backfill waits a while before asking for the graph again), and
    /// offers its row to the early writer.
    fn store_fetched(
        &mut self,
        q: QueuedWorkout,
        (detail, detail_json): (Workout, serde_json::Value),
        graph: Option<(PerformanceGraph, serde_json::Value, bytes::Bytes)>,
        writer: &mut EarlyWriter,
        tally: &mut Tally,
    ) -> Result<(), Abort> {
        // Only an entry that did not decode is queued without knowing its
        // status: an unfinished workout waits in the queue until it is done.
        if !is_complete(&detail) {
            return Ok(());
        }
        let no_graph = PerformanceGraph::default();
        if writer.wants_rows() {
            let g = graph.as_ref().map_or(&no_graph, |(g, ..)| g);
            if let Ok(row) = rows::workout_row(&detail, g, self.fallback_tz.as_deref()) {
                tally.ready.push(row);
            }
            writer.offer(&mut tally.ready);
        }
        let record = stored(&q, &detail, &detail_json, graph.as_ref().map(|(_, j, _)| j));
        let now = self.now();
        self.with_store(|s| {
            s.save_workout(&record, now)?;
            match &graph {
                Some((_, _, body)) => s.save_graph_archive(&record.id, body, now),
                // Asked for just now: the backfill waits before asking again.
                None => s.mark_graph_unavailable(&record.id, now + GRAPH_RETRY),
            }
        })?;
        if q.is_new {
            tally.new_ids.insert(q.id);
        }
        Ok(())
    }

    /// Derives the Workouts rows from the state and writes those Coda has
    /// not accepted yet (all of them with `--full`), then the Personal
    /// Bests rows they give, where the doc has that table (a best's row
    /// changes only when the best does, so only a new best is sent). A best
    /// the app wrote that no stored workout gives any more (another
    /// account's, after a switch) is deleted, when every stored workout
    /// could be read: a workout missing from the reckoning never takes a
    /// best away.
    pub(super) async fn write_workouts(&mut self, new_ids: &HashSet<String>) -> Result<(), Abort> {
        let stored = self.with_store(|s| s.stored_workouts())?;
        let (rows, summaries, bests, unreadable) = self.workout_rows(&stored);
        if !unreadable.is_empty() {
            // Fetched again by the next run, as a workout listed alone.
            let now = self.now();
            self.with_store(|s| s.queue_workouts(&unreadable, now))?;
        }
        // With the table switched off, the notification still names what arrived.
        let enabled = self.svc.table_enabled(Table::Workouts);
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
        self.report.new_workouts = summaries
            .iter()
            .filter(|s| new_ids.contains(&s.id) && (!enabled || written.contains(&s.id)))
            .map(NewWorkout::from)
            .collect();
        self.report
            .new_workouts
            .sort_by(|a, b| b.start_time.cmp(&a.start_time));
        let best_keys: HashSet<String> = bests.iter().map(|r| r.key.clone()).collect();
        let all_read = rows.len() == stored.len();
        self.write_changed(Table::PersonalBests, bests).await?;
        if all_read {
            self.delete_stale(Table::PersonalBests, &best_keys).await?;
        }
        Ok(())
    }

    /// Each stored workout's row and summary, in the same order, and the
    /// Personal Bests rows computed from them (each workout's JSON parsed
    /// once for all three); last, the stored workouts that could not be
    /// read back, as queue entries to fetch them again.
    fn workout_rows(
        &mut self,
        stored: &[StoredWorkout],
    ) -> (Vec<Row>, Vec<WorkoutSummary>, Vec<Row>, Vec<QueuedWorkout>) {
        let mut rows = Vec::with_capacity(stored.len());
        let mut summaries = Vec::with_capacity(stored.len());
        let mut details = Vec::with_capacity(stored.len());
        let mut unreadable = Vec::new();
        for s in stored {
            let parsed =
                serde_json::from_str::<Workout>(&s.detail_json).and_then(|w| match &s.graph_json {
                    Some(g) => serde_json::from_str::<PerformanceGraph>(g).map(|g| (w, g)),
                    None => Ok((w, PerformanceGraph::default())),
                });
            match parsed {
                Ok((w, g)) => match rows::workout_summary(&w, &g, self.fallback_tz.as_deref()) {
                    Ok(summary) => {
                        rows.push(rows::workout_row_of(&summary, &w, &g));
                        summaries.push(summary);
                        details.push(w);
                    }
                    Err(e) => self.problem(ProblemArea::Peloton, e.user_message()),
                },
                Err(e) => {
                    self.problem(
                        ProblemArea::Local,
                        format!(
                            "The stored copy of workout {} could not be read back ({e}); it is fetched from Peloton again at the next sync.",
                            s.id
                        ),
                    );
                    unreadable.push(QueuedWorkout::by_id(&s.id, &s.user_id, false));
                }
            }
        }
        let bests = bests::personal_best_rows(details.iter().zip(&rows));
        (rows, summaries, bests, unreadable)
    }
}

/// What fetching one queued workout gave. Unboxed: only the few fetches
/// in flight hold one, moved once each.
#[allow(clippy::large_enum_variant)]
enum Fetched {
    /// The detail and the graph: the aggregates, the trimmed answer, and
    /// the bytes as Peloton sent them (for the archive).
    Whole {
        detail: Workout,
        detail_json: serde_json::Value,
        graph: PerformanceGraph,
        graph_json: serde_json::Value,
        graph_body: bytes::Bytes,
    },
    /// The detail failed (the graph is not asked for then).
    DetailFailed(PelotonError),
    /// The detail arrived (kept, with its raw answer), the graph failed.
    GraphFailed(PelotonError, Workout, serde_json::Value),
}

/// What a fetch loop gathers across workouts.
#[derive(Default)]
struct Tally {
    /// Workouts stored for the first time.
    new_ids: HashSet<String>,
    /// Rows waiting for the early writer's next full batch.
    ready: Vec<Row>,
    /// Workouts whose detail did not decode, and the field that failed.
    unreadable: Vec<(String, String)>,
    /// Workouts stored without their graph, and why it is missing.
    without_graph: Vec<(String, PelotonError)>,
}

/// Notes for the workouts written without their graph: one sentence for
/// those Peloton has none of, one for those whose graph did not decode
/// (a changed API, to report).
fn without_graph_sentences(without: &[(String, PelotonError)]) -> Vec<String> {
    let (drifted, missing): (Vec<_>, Vec<_>) = without
        .iter()
        .partition(|(_, e)| matches!(e, PelotonError::Decode { .. }));
    let mut out = Vec::new();
    match missing.as_slice() {
        [] => {}
        [(id, _)] => out.push(format!(
            "Peloton did not send the performance graph of workout {id}, so its row was written without the graph's columns; the sync asks for it again in a week."
        )),
        [(id, _), ..] => out.push(format!(
            "Peloton did not send the performance graphs of {} workouts (the first: {id}), so their rows were written without the graph's columns; the sync asks for them again in a week.",
            missing.len()
        )),
    }
    let field = |e: &PelotonError| match e {
        PelotonError::Decode { path, .. } if !path.is_empty() => format!("field {path}"),
        _ => "the whole answer".to_string(),
    };
    match drifted.as_slice() {
        [] => {}
        [(id, e)] => out.push(format!(
            "Peloton sent the performance graph of workout {id} in a form this app cannot read ({}), so its row was written without the graph's columns; the raw answer is saved in the log folder, please report it.",
            field(e)
        )),
        [(id, e), ..] => out.push(format!(
            "Peloton sent the performance graphs of {} workouts in a form this app cannot read (the first: {id}, {}), so their rows were written without the graph's columns; the raw answer is saved in the log folder, please report it.",
            drifted.len(),
            field(e)
        )),
    }
    out
}

/// What one listing found beside the workouts it queued.
#[derive(Default)]
struct Listing {
    seen_ids: HashSet<String>,
    /// Entries without an id: nothing to fetch them by.
    left_out: Vec<Skipped>,
    /// Entries with an id that did not decode: queued, fetched on their own.
    fetched_alone: Vec<Skipped>,
}

/// One sentence for the user's workouts a listing left out.
fn left_out_sentence(left_out: &[Skipped]) -> Option<String> {
    match left_out {
        [] => None,
        [one] => Some(one.user_message()),
        [first, ..] => Some(format!(
            "Peloton sent {} workouts in a form this app cannot read (the first: {}, field {}), so they were left out; the raw answer is saved in the log folder, please report it.",
            left_out.len(),
            first.id.as_deref().unwrap_or("without an id"),
            first.path
        )),
    }
}

/// One note for the list entries that did not decode but are fetched on
/// their own (by their id) instead.
fn fetched_alone_sentence(skipped: &[Skipped]) -> Option<String> {
    match skipped {
        [] => None,
        [one] => Some(format!(
            "Peloton listed workout {} in a form this app cannot read (field {}), so it is fetched on its own; the raw answer is saved in the log folder, please report it.",
            one.id.as_deref().unwrap_or_default(),
            one.path
        )),
        [first, ..] => Some(format!(
            "Peloton listed {} workouts in a form this app cannot read (the first: {}, field {}), so they are fetched on their own; the raw answer is saved in the log folder, please report it.",
            skipped.len(),
            first.id.as_deref().unwrap_or_default(),
            first.path
        )),
    }
}

/// One problem for the queued workouts whose detail did not decode: their
/// rows wait in the queue, and every run tries them again and says so.
fn unreadable_sentence(unreadable: &[(String, String)]) -> Option<String> {
    let field = |path: &str| {
        if path.is_empty() {
            "the whole answer".to_string()
        } else {
            format!("field {path}")
        }
    };
    match unreadable {
        [] => None,
        [(id, path)] => Some(format!(
            "Peloton sent workout {id} in a form this app cannot read ({}), so its row waits until Peloton sends it whole; the raw answer is saved in the log folder, please report it.",
            field(path)
        )),
        [(id, path), ..] => Some(format!(
            "Peloton sent {} workouts in a form this app cannot read (the first: {id}, {}), so their rows wait until Peloton sends them whole; the raw answer is saved in the log folder, please report it.",
            unreadable.len(),
            field(path)
        )),
    }
}

/// What the state keeps of a fetched workout: the raw answers, and the
/// list entry's start time and fingerprint.
fn stored(
    q: &QueuedWorkout,
    detail: &Workout,
    detail_json: &serde_json::Value,
    graph_json: Option<&serde_json::Value>,
) -> StoredWorkout {
    let entry: Option<Workout> = serde_json::from_str(&q.entry_json).ok();
    StoredWorkout {
        id: q.id.clone(),
        user_id: q.user_id.clone(),
        start_time: epoch(
            entry
                .as_ref()
                .and_then(|w| w.start_time)
                .or(detail.start_time),
        ),
        fingerprint: entry.as_ref().map(fingerprint).unwrap_or_default(),
        detail_json: detail_json.to_string(),
        graph_json: graph_json.map(serde_json::Value::to_string),
    }
}

pub(super) fn epoch(secs: Option<i64>) -> DateTime<Utc> {
    secs.and_then(|s| DateTime::from_timestamp(s, 0))
        .unwrap_or(DateTime::UNIX_EPOCH)
}

/// What identifies a list entry's content: when any of it changes, the
/// workout is fetched and written again (cli.md).
pub(super) fn fingerprint(w: &Workout) -> String {
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

pub(super) fn is_complete(w: &Workout) -> bool {
    // In-progress workouts are skipped until they finish; a missing status is
    // taken as complete (older responses).
    w.status.as_deref().is_none_or(|s| s == "COMPLETE")
}

/// The account a cached answer belongs to, without keeping the e-mail itself.
fn account_tag(account: &str) -> String {
    use sha2::{Digest, Sha256};
    let digest = Sha256::digest(account.as_bytes());
    digest.iter().map(|b| format!("{b:02x}")).collect()
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

    #[test]
    fn an_account_tag_hides_the_address() {
        let tag = account_tag("rider@example.com");
        assert_eq!(tag.len(), 64);
        assert!(!tag.contains('@'));
        assert_ne!(tag, account_tag("other@example.com"));
    }
}
