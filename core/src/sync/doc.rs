//! Opening the doc: resolve it, check every enabled table and column (what
//! `check` does too), bind each table's written rows to this doc and table,
//! and reconcile what the state believes Coda holds with what it holds.
//!
//! Reconciling is cheap: one read per table (its `rowCount`, from the doc's
//! latest version). Only when fewer rows are there than the state counts as
//! written, or once a day, is the key column listed; every key the state
//! counts as written and the doc lacks is forgotten, so the run writes it
//! again (keyed, so never a duplicate). The tables mirror Peloton: a row
//! deleted by hand comes back. Rows and columns of the user's own are never
//! touched.

use std::collections::{HashMap, HashSet};

use chrono::{DateTime, Utc};

use super::context::Services;
use super::report::{Problem, ProblemArea};
use super::writer::LISTING_LAG;
use crate::coda::{Checklist, CodaClient, ResolvedTable};
use crate::store::{Rebound, StoreError};
use crate::tables::Table;

/// How often every key of a table is listed even when its row count looks
/// right (a row deleted by hand and one added by the user leave it equal).
const KEY_LISTING_EVERY: chrono::Duration = chrono::Duration::hours(24);
/// Meta key prefix: when a table's keys were last listed.
const META_KEYS_LISTED: &str = "coda.keys_listed_at.";
/// When instructors were last read; forgotten when their rows went missing
/// (instructors are not kept in the state, so they must be read again).
pub(super) const META_INSTRUCTORS_AT: &str = "peloton.instructors_fetched_at";

/// The doc resolved and every enabled table checked; tables that fail their
/// check are left out of `resolved` and described in `problems`.
#[derive(Default)]
pub(super) struct OpenedDoc {
    pub(super) doc_id: Option<String>,
    pub(super) name: Option<String>,
    pub(super) resolved: HashMap<Table, ResolvedTable>,
    pub(super) problems: Vec<Problem>,
    /// What the user should know (a table written again from scratch).
    pub(super) notes: Vec<String>,
    /// Every table and column with its state, for the set-up checklist.
    pub(super) checklist: Option<Checklist>,
}

impl OpenedDoc {
    /// Resolves the doc and checks every enabled table: the step `check`
    /// and every run share.
    pub(super) async fn open(coda: &CodaClient, doc: &str, wanted: &[(Table, String)]) -> Self {
        let mut out = OpenedDoc::default();
        let doc = match coda.resolve_doc(doc).await {
            Ok(doc) => {
                out.name = Some(doc.name.clone());
                doc
            }
            Err(e) => {
                out.problems.push(Problem::from(&e));
                return out;
            }
        };
        match coda.check_schema(&doc.id, wanted).await {
            Ok(report) => {
                out.checklist = Some(report.checklist());
                for check in report.tables {
                    out.problems
                        .extend(check.problems().iter().map(|p| Problem {
                            area: ProblemArea::CodaDoc,
                            message: p.user_message(),
                        }));
                    if let Ok(resolved) = check.result {
                        out.resolved.insert(check.table, resolved);
                    }
                }
                out.doc_id = Some(doc.id);
            }
            Err(e) => out.problems.push(Problem::from(&e)),
        }
        out
    }

    /// Opens the doc for a run: [`OpenedDoc::open`], then binds each table's
    /// written rows to this doc and table and reconciles them. `full` skips
    /// the reconciling (every row is sent anyway). A store failure is
    /// returned: the run cannot go on without its state.
    pub(super) async fn open_for_run(
        svc: Services<'_>,
        wanted: &[(Table, String)],
        full: bool,
    ) -> Result<Self, StoreError> {
        let mut out = Self::open(svc.coda, &svc.config.doc, wanted).await;
        let Some(doc_id) = out.doc_id.clone() else {
            return Ok(out);
        };
        let mut tables: Vec<ResolvedTable> = out.resolved.values().cloned().collect();
        tables.sort_by_key(|t| t.table.key());
        let mut kept = Vec::new();
        for table in &tables {
            let columns = table.columns_fingerprint();
            let rebound = svc
                .store()
                .bind_table(table.table, &doc_id, &table.id, &columns)?;
            let note = match rebound {
                Rebound::Same => {
                    if !full {
                        kept.push(table);
                    }
                    continue;
                }
                Rebound::Table => format!(
                    "The Coda table \"{}\" is not the one rows were written to before; every row is written to it again.",
                    table.name
                ),
                Rebound::Columns => format!(
                    "The Coda table \"{}\" has a column that is new or was made again; every row is written again to fill it.",
                    table.name
                ),
            };
            out.notes.push(note);
            if table.table == Table::Instructors {
                svc.store().delete_meta(META_INSTRUCTORS_AT)?;
            }
        }
        // One read per table, several in flight (the read pacer still
        // spaces them), so a quiet run's doc opening stays short.
        let reconciled =
            futures::future::join_all(kept.into_iter().map(|t| reconcile(svc, &doc_id, t))).await;
        for note in reconciled {
            out.notes.extend(note?);
        }
        Ok(out)
    }
}

/// Compares `table`'s `rowCount` with the rows the state counts as written
/// there; when fewer are there (or once a day), lists the keys and forgets
/// the missing ones so the run writes them again. Only rows written over
/// [`LISTING_LAG`] ago count: Coda's reads lag its writes (coda-api.md §7),
/// and a row just written and not yet in the snapshot is not missing (its
/// row would be written twice, or, gone from a friend's window meanwhile,
/// never deleted). Returns a note when rows came back. A Coda failure here is only logged: the writes that follow
/// meet it again and report it. (About 70 lines: the decision, the two
/// reads and the forgetting read best in one place.)
async fn reconcile(
    svc: Services<'_>,
    doc_id: &str,
    table: &ResolvedTable,
) -> Result<Option<String>, StoreError> {
    let now = svc.clock.now();
    let (written, listed_at) = {
        let store = svc.store();
        let listed_at = store.get_meta(&format!("{META_KEYS_LISTED}{}", table.table.key()))?;
        (store.written_rows(table.table)?, listed_at)
    };
    if written.is_empty() {
        return Ok(None);
    }
    let believed: Vec<String> = written
        .into_iter()
        .filter(|w| now - w.written_at >= LISTING_LAG)
        .map(|w| w.key)
        .collect();
    let listed_at = listed_at
        .and_then(|t| DateTime::parse_from_rfc3339(&t).ok())
        .map(|t| t.with_timezone(&Utc));
    let due = match listed_at {
        Some(t) => now < t || now - t >= KEY_LISTING_EVERY,
        None => {
            // The daily listing counts from the first run that finds rows
            // written: the run after a first sync reads only the counts.
            svc.store().set_meta(
                &format!("{META_KEYS_LISTED}{}", table.table.key()),
                &now.to_rfc3339(),
            )?;
            false
        }
    };
    if !due {
        match svc.coda.row_count(doc_id, table).await {
            Ok(Some(n)) if n >= believed.len() as u64 => return Ok(None),
            Ok(Some(_)) => {}
            Ok(None) => return Ok(None),
            Err(e) => {
                tracing::info!(table = table.name, error = %e, "row count not read; not reconciled");
                return Ok(None);
            }
        }
    }
    let remote = match svc.coda.list_rows_latest(doc_id, table).await {
        Ok(Some(rows)) => rows,
        Ok(None) => return Ok(None),
        Err(e) => {
            tracing::info!(table = table.name, error = %e, "keys not listed; not reconciled");
            return Ok(None);
        }
    };
    let there: HashSet<&str> = remote.iter().map(|r| r.key.as_str()).collect();
    let missing: Vec<&String> = believed
        .iter()
        .filter(|k| !there.contains(k.as_str()))
        .collect();
    let mut store = svc.store();
    store.set_meta(
        &format!("{META_KEYS_LISTED}{}", table.table.key()),
        &now.to_rfc3339(),
    )?;
    if missing.is_empty() {
        return Ok(None);
    }
    tracing::info!(
        table = table.name,
        missing = missing.len(),
        "rows missing from the doc; writing them again"
    );
    store.forget_rows(table.table, &missing)?;
    if table.table == Table::Instructors {
        store.delete_meta(META_INSTRUCTORS_AT)?;
    }
    let n = missing.len();
    Ok(Some(format!(
        "{n} row{} missing from the Coda table \"{}\" {} written again.",
        if n == 1 { "" } else { "s" },
        table.name,
        if n == 1 { "is" } else { "are" },
    )))
}
