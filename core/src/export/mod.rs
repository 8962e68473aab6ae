//! Exports of the whole record, offline: a TCX file per workout, a GPX file
//! per outdoor workout with GPS, a CSV of the Workouts table (optional
//! columns included), or the raw JSON Peloton sent.
//!
//! Invariants:
//! - An export never makes a network request: it reads only the local
//!   state ([`Store`]), the workouts' raw JSON and the archived graphs.
//! - Totals in a file are Peloton's own, the same the Workouts row shows
//!   (duration, distance, calories, heart rate); the samples come from the
//!   archive at one a second.
//! - File names say date, discipline and title (plus the workout id's first
//!   eight characters, so two classes of one day never collide).

mod csv;
mod gpx;
mod samples;
mod tcx;

use std::path::{Path, PathBuf};
use std::str::FromStr;

use chrono::NaiveDate;
use serde_json::Value;

use crate::peloton::types::{Me, PerformanceGraph, Workout};
use crate::rows::{self, discipline_label, CellValue, Row};
use crate::store::{Store, StoreError};
pub(crate) use samples::metres_per;
use samples::Samples;

/// What to export.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Format {
    /// Garmin Training Center, one file per workout.
    Tcx,
    /// GPS Exchange, one file per workout with a GPS track.
    Gpx,
    /// One CSV of the Workouts table.
    Csv,
    /// Peloton's JSON, detail and whole graph, one file per workout.
    Json,
}

impl FromStr for Format {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s.to_ascii_lowercase().as_str() {
            "tcx" => Ok(Format::Tcx),
            "gpx" => Ok(Format::Gpx),
            "csv" => Ok(Format::Csv),
            "json" => Ok(Format::Json),
            other => Err(format!(
                "\"{other}\" is not an export format; use tcx, gpx, csv or json."
            )),
        }
    }
}

impl Format {
    fn extension(self) -> &'static str {
        match self {
            Format::Tcx => "tcx",
            Format::Gpx => "gpx",
            Format::Csv => "csv",
            Format::Json => "json",
        }
    }
}

/// What the app's "Export..." writes: every file a training tool reads
/// (the CSV of all workouts, a TCX per workout, a GPX per GPS track); the
/// raw JSON, for developers, stays with the CLI's `--format json`.
pub const APP_FORMATS: [Format; 3] = [Format::Csv, Format::Tcx, Format::Gpx];

/// Every workout in each of `formats` into `out_dir`, as one report (the
/// app's "Export..."). Stops at the first folder that cannot be written.
pub fn export_formats(
    store: &Store,
    out_dir: &Path,
    formats: &[Format],
) -> Result<ExportReport, ExportError> {
    let mut all = ExportReport {
        out_dir: out_dir.to_path_buf(),
        ..ExportReport::default()
    };
    for format in formats {
        let report = export(
            store,
            &ExportRequest {
                format: *format,
                out_dir: out_dir.to_path_buf(),
                since: None,
                discipline: None,
            },
        )?;
        all.files.extend(report.files);
        all.workouts = all.workouts.max(report.workouts);
        for note in report.notes {
            if !all.notes.contains(&note) {
                all.notes.push(note);
            }
        }
    }
    Ok(all)
}

/// An export to run.
#[derive(Debug, Clone)]
pub struct ExportRequest {
    /// The format.
    pub format: Format,
    /// The folder the files go to (created if missing).
    pub out_dir: PathBuf,
    /// Only workouts that started on this local date or later.
    pub since: Option<NaiveDate>,
    /// Only this discipline, by Peloton's slug (`cycling`) or its label
    /// ("Rowing"), case ignored.
    pub discipline: Option<String>,
}

/// What an export wrote.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct ExportReport {
    /// The folder.
    pub out_dir: PathBuf,
    /// Every file written.
    pub files: Vec<PathBuf>,
    /// Workouts that matched the filters.
    pub workouts: usize,
    /// What was left out and why, one sentence each.
    pub notes: Vec<String>,
}

impl ExportReport {
    /// One sentence: how many files went where.
    pub fn summary(&self) -> String {
        let n = self.files.len();
        format!(
            "{n} file{} written to {} ({} workout{} matched).",
            if n == 1 { "" } else { "s" },
            self.out_dir.display(),
            self.workouts,
            if self.workouts == 1 { "" } else { "s" }
        )
    }
}

/// Why an export stopped.
#[derive(Debug, thiserror::Error)]
pub enum ExportError {
    /// The folder could not be created or a file in it written.
    #[error("cannot write {path}: {source}")]
    Folder {
        /// The folder.
        path: PathBuf,
        /// The OS error.
        source: std::io::Error,
    },
    /// The local state could not be read.
    #[error(transparent)]
    Store(#[from] StoreError),
}

impl ExportError {
    /// One sentence a user can act on.
    pub fn user_message(&self) -> String {
        match self {
            ExportError::Folder { path, source } => format!(
                "The folder {} cannot be written ({}); choose another folder and export again.",
                path.display(),
                source.kind()
            ),
            ExportError::Store(e) => e.user_message(),
        }
    }
}

/// Peloton's totals of one workout, as the Workouts row has them.
#[derive(Debug, Clone, Default)]
pub(crate) struct Totals {
    start: i64,
    seconds: i64,
    /// Peloton's slug (`cycling`).
    discipline: String,
    title: String,
    distance_m: Option<f64>,
    calories: Option<f64>,
    avg_heart_rate: Option<f64>,
    max_heart_rate: Option<f64>,
    avg_cadence: Option<f64>,
}

impl Totals {
    fn of(w: &Workout, g: &PerformanceGraph, row: &Row) -> Totals {
        let start = w.start_time.unwrap_or(0);
        let distance_m = g.summary("distance").and_then(|s| {
            let unit = metres_per(s.display_unit.as_deref().unwrap_or(""))?;
            s.value.filter(|v| v.is_finite()).map(|v| v * unit)
        });
        let hr = g.metric("heart_rate");
        Totals {
            start,
            seconds: w
                .end_time
                .and_then(|e| e.checked_sub(start))
                .unwrap_or(0)
                .max(0),
            discipline: slug_of(w),
            title: cell_text(row, "Title"),
            distance_m,
            calories: g.summary("calories").and_then(|s| s.value),
            avg_heart_rate: hr.and_then(|m| m.average_value),
            max_heart_rate: hr.and_then(|m| m.max_value),
            avg_cadence: g.average("avg_cadence").and_then(|s| s.value),
        }
    }
}

fn slug_of(w: &Workout) -> String {
    w.fitness_discipline
        .clone()
        .filter(|s| !s.is_empty())
        .or_else(|| w.ride.as_ref().and_then(|r| r.fitness_discipline.clone()))
        .unwrap_or_default()
}

fn cell_text(row: &Row, column: &str) -> String {
    match row.get(column) {
        Some(CellValue::Text(s)) => s.clone(),
        _ => String::new(),
    }
}

pub(crate) fn xml_escape(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&apos;"),
            // Control characters are not allowed in XML 1.0.
            c if (c as u32) < 0x20 && !matches!(c, '\t' | '\n' | '\r') => {}
            c => out.push(c),
        }
    }
    out
}

/// Lower-case ASCII words joined by `-`, at most 60 characters.
fn slug(s: &str) -> String {
    let mut out = String::new();
    for c in s.chars() {
        if c.is_ascii_alphanumeric() {
            out.push(c.to_ascii_lowercase());
        } else if !out.ends_with('-') && !out.is_empty() {
            out.push('-');
        }
    }
    let mut out: String = out.trim_end_matches('-').chars().take(60).collect();
    while out.ends_with('-') {
        out.pop();
    }
    out
}

/// `2024-08-01_cycling_20-min-r-b-ride_f00165fb.tcx`.
fn file_name(row: &Row, w: &Workout, ext: &str) -> String {
    let date: String = cell_text(row, "Start Time").chars().take(10).collect();
    let discipline = slug(&discipline_label(&slug_of(w)));
    let title = slug(&cell_text(row, "Title"));
    let id: String =
        w.id.chars()
            .filter(char::is_ascii_alphanumeric)
            .take(8)
            .collect();
    [date, discipline, title, id]
        .into_iter()
        .filter(|p| !p.is_empty())
        .collect::<Vec<_>>()
        .join("_")
        + "."
        + ext
}

/// One stored workout, read back for an export.
struct Selected {
    workout: Workout,
    detail_json: String,
    graph: PerformanceGraph,
    row: Row,
}

/// The user's `/api/me` timezone the sync kept, for workouts without one.
fn fallback_tz(store: &Store) -> Option<String> {
    let me = store.get_meta(crate::sync::META_ME).ok().flatten()?;
    serde_json::from_str::<Me>(&me).ok()?.timezone
}

fn matches(req: &ExportRequest, w: &Workout, row: &Row) -> bool {
    if let Some(since) = req.since {
        let date = cell_text(row, "Start Time");
        match NaiveDate::parse_from_str(date.get(..10).unwrap_or(""), "%Y-%m-%d") {
            Ok(d) if d >= since => {}
            _ => return false,
        }
    }
    if let Some(want) = req.discipline.as_deref().map(str::trim) {
        let slug = slug_of(w);
        if !want.eq_ignore_ascii_case(&slug) && !want.eq_ignore_ascii_case(&discipline_label(&slug))
        {
            return false;
        }
    }
    true
}

fn write_file(dir: &Path, name: &str, bytes: &[u8]) -> Result<PathBuf, ExportError> {
    let path = dir.join(name);
    std::fs::write(&path, bytes).map_err(|source| ExportError::Folder {
        path: dir.to_owned(),
        source,
    })?;
    Ok(path)
}

/// Runs an export from the local state. Never asks Peloton or Coda.
pub fn export(store: &Store, req: &ExportRequest) -> Result<ExportReport, ExportError> {
    std::fs::create_dir_all(&req.out_dir).map_err(|source| ExportError::Folder {
        path: req.out_dir.clone(),
        source,
    })?;
    let mut report = ExportReport {
        out_dir: req.out_dir.clone(),
        ..ExportReport::default()
    };
    let (selected, unreadable) = select(store, req)?;
    if unreadable > 0 {
        report.notes.push(format!(
            "{unreadable} stored workout(s) could not be read back and were left out; `peloton-coda-sync sync --full` fetches them again."
        ));
    }
    report.workouts = selected.len();
    let ext = req.format.extension();
    if req.format == Format::Csv {
        let rows: Vec<&Row> = selected.iter().map(|s| &s.row).collect();
        let text = csv::write(&rows);
        report
            .files
            .push(write_file(&req.out_dir, "workouts.csv", text.as_bytes())?);
        return Ok(report);
    }
    let mut no_archive = 0;
    let mut no_gps = 0;
    for s in &selected {
        let archived = store.archived_graph(&s.workout.id)?;
        let name = file_name(&s.row, &s.workout, ext);
        let bytes = match req.format {
            Format::Json => json_file(s, archived.as_deref()),
            Format::Tcx | Format::Gpx => {
                let Some(body) = archived else {
                    no_archive += 1;
                    continue;
                };
                let full: Value = serde_json::from_slice(&body).unwrap_or(Value::Null);
                let samples = Samples::from_graph(&full, &s.workout.id);
                let totals = Totals::of(&s.workout, &s.graph, &s.row);
                if req.format == Format::Tcx {
                    tcx::write(&totals, &samples).into_bytes()
                } else {
                    let Some(text) = gpx::write(&totals, &samples) else {
                        no_gps += 1;
                        continue;
                    };
                    text.into_bytes()
                }
            }
            Format::Csv => continue,
        };
        report.files.push(write_file(&req.out_dir, &name, &bytes)?);
    }
    if no_archive > 0 {
        report.notes.push(format!(
            "{no_archive} workout(s) have no full graph yet and were left out; the next syncs fetch them."
        ));
    }
    if no_gps > 0 {
        report.notes.push(format!(
            "{no_gps} workout(s) have no GPS track, so no GPX file."
        ));
    }
    Ok(report)
}

/// The stored workouts `req` selects, each read back with its row, and how
/// many could not be read.
fn select(store: &Store, req: &ExportRequest) -> Result<(Vec<Selected>, usize), ExportError> {
    let tz = fallback_tz(store);
    let mut selected = Vec::new();
    let mut unreadable = 0;
    for s in store.stored_workouts()? {
        let parsed = serde_json::from_str::<Workout>(&s.detail_json).and_then(|w| {
            let g = match &s.graph_json {
                Some(g) => serde_json::from_str::<PerformanceGraph>(g)?,
                None => PerformanceGraph::default(),
            };
            Ok((w, g))
        });
        let Ok((workout, graph)) = parsed else {
            unreadable += 1;
            continue;
        };
        let Ok(row) = rows::workout_row(&workout, &graph, tz.as_deref()) else {
            unreadable += 1;
            continue;
        };
        if matches(req, &workout, &row) {
            selected.push(Selected {
                workout,
                detail_json: s.detail_json,
                graph,
                row,
            });
        }
    }
    Ok((selected, unreadable))
}

/// The raw JSON file of one workout: its detail and its full graph (the
/// archived one, else the trimmed one the sync kept).
fn json_file(s: &Selected, archived: Option<&[u8]>) -> Vec<u8> {
    let detail: Value = serde_json::from_str(&s.detail_json).unwrap_or(Value::Null);
    let graph: Value = match archived {
        Some(body) => serde_json::from_slice(body).unwrap_or(Value::Null),
        None => serde_json::to_value(&s.graph).unwrap_or(Value::Null),
    };
    let both = serde_json::json!({"workout": detail, "performance_graph": graph});
    serde_json::to_vec_pretty(&both).unwrap_or_default()
}

#[cfg(test)]
mod tests;
