//! Peloton JSON -> the rows of the Coda tables, exactly as
//! `docs/coda-tables.md` says.

use chrono::DateTime;
use chrono_tz::Tz;
use serde::Serialize;
use sha2::{Digest, Sha256};

use crate::peloton::types::{FollowedUser, Instructor, PerformanceGraph, Workout};
use crate::tables::Table;

/// A cell's value as it is sent to Coda.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(untagged)]
pub enum CellValue {
    /// Text, or a date-time already formatted `YYYY-MM-DDThh:mm:ss±hh:mm`.
    Text(String),
    /// A number.
    Number(f64),
    /// A checkbox.
    Bool(bool),
    /// A value Peloton does not have: sent as `""`, never as 0.
    #[serde(serialize_with = "empty_string")]
    Empty,
}

fn empty_string<S: serde::Serializer>(s: S) -> Result<S::Ok, S::Error> {
    s.serialize_str("")
}

/// One cell: a column name from [`Table::columns`] and its value.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Cell {
    /// Column name as in the spec.
    pub column: &'static str,
    /// The value.
    pub value: CellValue,
}

/// One row of one table, keyed by its key column's value.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Row {
    /// The table it belongs to.
    pub table: Table,
    /// The key column's value (a Peloton id).
    pub key: String,
    /// Every column of the table, in the table's column order.
    pub cells: Vec<Cell>,
}

impl Row {
    /// A stable hash of the row's content, to tell whether it changed since
    /// Coda last accepted it.
    pub fn content_hash(&self) -> String {
        let json = serde_json::to_vec(&self.cells).unwrap_or_default();
        let digest = Sha256::digest(&json);
        digest.iter().map(|b| format!("{b:02x}")).collect()
    }

    /// The value of one column.
    pub fn get(&self, column: &str) -> Option<&CellValue> {
        self.cells
            .iter()
            .find(|c| c.column == column)
            .map(|c| &c.value)
    }
}

/// Why a workout could not be turned into a row.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum RowError {
    /// A field every row needs is missing (or null) in Peloton's JSON.
    #[error("workout {workout_id:?}: `{field}` is missing or null")]
    MissingField {
        /// The workout's id as Peloton sent it (may be empty).
        workout_id: String,
        /// The JSON field, e.g. `start_time`.
        field: &'static str,
    },
    /// A field holds a value no real workout can have.
    #[error("workout {workout_id:?}: `{field}` = {value} is out of range")]
    OutOfRange {
        /// The workout's id as Peloton sent it.
        workout_id: String,
        /// The JSON field, e.g. `start_time`.
        field: &'static str,
        /// The value as Peloton sent it.
        value: String,
    },
}

impl RowError {
    /// One sentence a user can act on.
    pub fn user_message(&self) -> String {
        let (workout_id, field) = match self {
            RowError::MissingField { workout_id, field }
            | RowError::OutOfRange {
                workout_id, field, ..
            } => (workout_id, *field),
        };
        let what = match field {
            "id" => "an id",
            "start_time" => "a valid start time",
            _ => "a field the sync needs",
        };
        let which = if workout_id.is_empty() {
            "a workout".to_owned()
        } else {
            format!("workout {workout_id}")
        };
        format!(
            "Peloton sent {which} without {what}, so it was left out of Coda; \
             the other workouts were written."
        )
    }
}

/// A `fitness_discipline` slug as a person reads it: Peloton's known slugs by
/// name (`caesar` is "Rowing"), any other slug with underscores turned into
/// spaces and each word capitalised.
pub fn discipline_label(slug: &str) -> String {
    let known = match slug {
        "cycling" => "Cycling",
        "running" => "Running",
        "walking" => "Walking",
        "strength" => "Strength",
        "yoga" => "Yoga",
        "meditation" => "Meditation",
        "stretching" => "Stretching",
        "cardio" => "Cardio",
        "circuit" => "Tread Bootcamp",
        "bike_bootcamp" => "Bike Bootcamp",
        "caesar" => "Rowing",
        "caesar_bootcamp" => "Row Bootcamp",
        _ => "",
    };
    if !known.is_empty() {
        return known.to_owned();
    }
    // Empty words (from `a__b` or a leading `_`) are dropped so a label
    // never carries doubled or edge spaces.
    slug.split('_')
        .filter(|w| !w.is_empty())
        .map(|w| {
            let mut chars = w.chars();
            match chars.next() {
                Some(first) => first.to_uppercase().chain(chars).collect::<String>(),
                None => String::new(),
            }
        })
        .collect::<Vec<_>>()
        .join(" ")
}

/// 0001-01-02T00:00:00Z and 9999-12-30T23:59:59Z: a day inside the 4-digit
/// years on each side, so that no zone's offset can push the local date out
/// of `YYYY` (chrono writes other years with a sign and 5+ digits).
const MIN_EPOCH: i64 = -62_135_510_400;
const MAX_EPOCH: i64 = 253_402_214_399;

/// An IANA zone by its exact name; `None` for a missing, empty or unknown one.
fn zone(name: Option<&str>) -> Option<Tz> {
    let name = name?.trim();
    if name.is_empty() {
        return None;
    }
    name.parse::<Tz>().ok()
}

/// [`format_start_time`], or `None` when the instant is outside years 0001-9999.
fn local_time(epoch_secs: i64, tz: Option<&str>, fallback_tz: Option<&str>) -> Option<String> {
    if !(MIN_EPOCH..=MAX_EPOCH).contains(&epoch_secs) {
        return None;
    }
    let utc = DateTime::from_timestamp(epoch_secs, 0)?;
    let zone = zone(tz)
        .or_else(|| zone(fallback_tz))
        .unwrap_or(chrono_tz::UTC);
    Some(
        utc.with_timezone(&zone)
            .format("%Y-%m-%dT%H:%M:%S%:z")
            .to_string(),
    )
}

/// An epoch-seconds instant as `YYYY-MM-DDThh:mm:ss±hh:mm`, with the offset
/// that zone `tz` has at that instant (IANA names; `Etc/GMT+5` is UTC-5).
/// A missing or unknown `tz` falls back to `fallback_tz` (the user's
/// `/api/me` timezone), then to UTC, written `+00:00`.
///
/// Returns an empty string (Coda's "no value") for an instant outside the
/// years 0001 to 9999, which no real workout has; [`workout_row`] reports
/// such a workout as a [`RowError`] instead.
pub fn format_start_time(epoch_secs: i64, tz: Option<&str>, fallback_tz: Option<&str>) -> String {
    local_time(epoch_secs, tz, fallback_tz).unwrap_or_default()
}

/// Text as given; a missing or empty string is [`CellValue::Empty`].
fn text(value: Option<&str>) -> CellValue {
    match value {
        Some(s) if !s.is_empty() => CellValue::Text(s.to_owned()),
        _ => CellValue::Empty,
    }
}

/// A number as given; missing or non-finite is [`CellValue::Empty`].
fn number(value: Option<f64>) -> CellValue {
    match value {
        Some(x) if x.is_finite() => CellValue::Number(x),
        _ => CellValue::Empty,
    }
}

/// A count where 0 (and null, and nonsense below 0) means "none".
fn positive_count(value: Option<i64>) -> CellValue {
    match value {
        // Counts are far below 2^53, so the conversion is exact.
        Some(n) if n > 0 => CellValue::Number(n as f64),
        _ => CellValue::Empty,
    }
}

/// `total_work` (J) in kJ to one decimal; none when missing, 0 or negative.
fn kilojoules(total_work: Option<f64>) -> Option<f64> {
    match total_work {
        // Divide by 100 then round, so there is one rounding step.
        Some(j) if j.is_finite() && j > 0.0 => Some((j / 100.0).round() / 10.0),
        _ => None,
    }
}

/// `end - start` seconds in minutes to one decimal (halves round up); none
/// without an end or when the end precedes the start.
fn duration_minutes(start: i64, end: Option<i64>) -> Option<f64> {
    match end.and_then(|end| end.checked_sub(start)) {
        // secs / 6 is tenths of a minute; i64 -> f64 may lose precision only
        // beyond 2^53 s, which no real workout lasts.
        Some(secs) if secs >= 0 => Some((secs as f64 / 6.0).round() / 10.0),
        _ => None,
    }
}

/// One workout as the app shows it, typed, each value computed once: the
/// Workouts and Friend Workouts rows, the window's cards and weeks, and the
/// new-workout notification are all built from it, so nothing reads a row
/// back by its column names. `None` is "Peloton did not say" (an empty cell).
#[derive(Debug, Clone, PartialEq)]
pub struct WorkoutSummary {
    /// Peloton's workout id.
    pub id: String,
    /// Start in the workout's own zone, `YYYY-MM-DDThh:mm:ss±hh:mm`.
    pub start_time: String,
    /// "Cycling", "Strength" ...
    pub discipline: Option<String>,
    /// The class title ("45 min Power Zone Ride").
    pub title: Option<String>,
    /// The instructor, if the class had a person leading it.
    pub instructor: Option<String>,
    /// Length in minutes, to one decimal.
    pub minutes: Option<f64>,
    /// Total output in kJ, to one decimal.
    pub output_kj: Option<f64>,
    /// Whether the output was a personal record.
    pub personal_record: bool,
    /// Peloton's Strive score (from the performance graph).
    pub strive: Option<f64>,
    /// Minutes in heart-rate zones 1 to 5, to one decimal (from the graph).
    pub hr_zone_minutes: [Option<f64>; 5],
}

impl WorkoutSummary {
    /// The minutes in all five zones, when each is known and some time was
    /// spent in them (the window's zone bar).
    pub fn zones(&self) -> Option<[f64; 5]> {
        let mut out = [0.0; 5];
        for (o, m) in out.iter_mut().zip(self.hr_zone_minutes) {
            *o = m?;
        }
        (out.iter().sum::<f64>() > 0.0).then_some(out)
    }
}

/// The summary of one of the user's workouts: `w` is the detail, `graph`
/// its performance graph (`PerformanceGraph::default()` when there is none),
/// `fallback_tz` the user's `/api/me` timezone if any. Fails as
/// [`workout_row`] does.
pub fn workout_summary(
    w: &Workout,
    graph: &PerformanceGraph,
    fallback_tz: Option<&str>,
) -> Result<WorkoutSummary, RowError> {
    let mut s = common(w, fallback_tz)?;
    s.strive = graph
        .effort_zones
        .as_ref()
        .and_then(|e| e.total_effort_points)
        .filter(|x| x.is_finite() && *x >= 0.0);
    for (n, m) in (1..=5).zip(s.hr_zone_minutes.iter_mut()) {
        *m = minutes(zone_seconds(graph, n));
    }
    Ok(s)
}

fn non_empty(s: &Option<String>) -> Option<&str> {
    s.as_deref().filter(|s| !s.is_empty())
}

/// What the Workouts and Friend Workouts rows share (no graph values).
fn common(w: &Workout, fallback_tz: Option<&str>) -> Result<WorkoutSummary, RowError> {
    if w.id.is_empty() {
        return Err(RowError::MissingField {
            workout_id: String::new(),
            field: "id",
        });
    }
    let start = w.start_time.ok_or_else(|| RowError::MissingField {
        workout_id: w.id.clone(),
        field: "start_time",
    })?;
    let start_time = local_time(start, w.timezone.as_deref(), fallback_tz).ok_or_else(|| {
        RowError::OutOfRange {
            workout_id: w.id.clone(),
            field: "start_time",
            value: start.to_string(),
        }
    })?;
    let ride = w.ride.as_ref();
    let discipline = non_empty(&w.fitness_discipline)
        .or_else(|| ride.and_then(|r| non_empty(&r.fitness_discipline)))
        .map(discipline_label);
    // Free rides carry their name ("27 sec Just Ride") both in `ride.title`
    // and in the workout's own `title`; the latter covers a list entry
    // fetched without the `ride` join. `name` ("Cycling Workout") is not a
    // title and is not used.
    let title = ride
        .and_then(|r| non_empty(&r.title))
        .or_else(|| non_empty(&w.title));
    // The stand-in instructor of free rides ("JUST RIDE", "LANEBREAK", ...)
    // has no `id`: it names the ride type, not a person.
    let instructor = ride
        .and_then(|r| r.instructor.as_ref())
        .filter(|i| non_empty(&i.id).is_some())
        .and_then(|i| non_empty(&i.name));
    Ok(WorkoutSummary {
        id: w.id.clone(),
        start_time,
        discipline,
        title: title.map(str::to_owned),
        instructor: instructor.map(str::to_owned),
        minutes: duration_minutes(start, w.end_time),
        output_kj: kilojoules(w.total_work),
        personal_record: w.is_total_work_personal_record.unwrap_or(false),
        strive: None,
        hr_zone_minutes: [None; 5],
    })
}

/// Builds a row with exactly `table`'s columns, in its order.
pub(crate) fn assemble(
    table: Table,
    key: &str,
    mut value_of: impl FnMut(&str) -> CellValue,
) -> Row {
    Row {
        table,
        key: key.to_owned(),
        cells: table
            .columns()
            .iter()
            .map(|c| Cell {
                column: c.name,
                value: value_of(c.name),
            })
            .collect(),
    }
}

/// The Workouts row of one of the user's workouts: `w` is the detail
/// (`/api/workout/{id}` with `joins=ride,ride.instructor`), `graph` its
/// performance graph, `fallback_tz` the user's `/api/me` timezone if any.
///
/// Fails only without an id or a usable `start_time`; any other missing
/// value is an empty cell.
pub fn workout_row(
    w: &Workout,
    graph: &PerformanceGraph,
    fallback_tz: Option<&str>,
) -> Result<Row, RowError> {
    let summary = workout_summary(w, graph, fallback_tz)?;
    Ok(workout_row_of(&summary, w, graph))
}

/// The Workouts row of a workout whose [`workout_summary`] is `c` (the
/// engine keeps both: the row for Coda, the summary for the notification).
pub fn workout_row_of(c: &WorkoutSummary, w: &Workout, graph: &PerformanceGraph) -> Row {
    let avg = |slug: &str| number(graph.average(slug).and_then(|s| s.value));
    let total = |slug: &str| number(graph.summary(slug).and_then(|s| s.value));
    let distance = total("distance");
    // A unit without its distance would be a lone label: keep them together.
    let distance_unit = match distance {
        CellValue::Empty => CellValue::Empty,
        _ => text(
            graph
                .summary("distance")
                .and_then(|s| s.display_unit.as_deref()),
        ),
    };
    assemble(Table::Workouts, &w.id, |column| match column {
        "Workout ID" => CellValue::Text(w.id.clone()),
        "Start Time" => CellValue::Text(c.start_time.clone()),
        "Discipline" => text(c.discipline.as_deref()),
        "Title" => text(c.title.as_deref()),
        "Instructor" => text(c.instructor.as_deref()),
        "Duration (min)" => number(c.minutes),
        "Total Output (kJ)" => number(c.output_kj),
        "Avg Output (W)" => avg("avg_output"),
        "Avg Cadence (rpm)" => avg("avg_cadence"),
        "Avg Resistance (%)" => avg("avg_resistance"),
        "Avg Speed" => avg("avg_speed"),
        "Distance" => distance.clone(),
        "Distance Unit" => distance_unit.clone(),
        "Elevation" => total("elevation"),
        "Calories (kcal)" => total("calories"),
        "Avg Heart Rate (bpm)" => number(graph.metric("heart_rate").and_then(|m| m.average_value)),
        "Leaderboard Rank" => positive_count(w.leaderboard_rank),
        "Leaderboard Users" => positive_count(w.total_leaderboard_users),
        "Personal Record" => CellValue::Bool(c.personal_record),
        "Strive Score" => number(c.strive),
        "HR Zone 1 (min)" => number(c.hr_zone_minutes[0]),
        "HR Zone 2 (min)" => number(c.hr_zone_minutes[1]),
        "HR Zone 3 (min)" => number(c.hr_zone_minutes[2]),
        "HR Zone 4 (min)" => number(c.hr_zone_minutes[3]),
        "HR Zone 5 (min)" => number(c.hr_zone_minutes[4]),
        optional => optional_cell(optional, w, graph),
    })
}

/// Seconds in minutes to one decimal; none when missing or negative.
fn minutes(secs: Option<f64>) -> Option<f64> {
    match secs {
        Some(s) if s.is_finite() && s >= 0.0 => Some((s / 6.0).round() / 10.0),
        _ => None,
    }
}

/// Seconds in heart-rate zone `n` (1 to 5): from `effort_zones` where
/// Peloton sends it, else from the heart-rate metric's zones.
fn zone_seconds(graph: &PerformanceGraph, n: u8) -> Option<f64> {
    let effort = graph
        .effort_zones
        .as_ref()
        .and_then(|e| {
            e.heart_rate_zone_durations
                .get(&format!("heart_rate_z{n}_duration"))
        })
        .copied()
        .flatten();
    effort.or_else(|| {
        let slug = format!("zone{n}");
        graph
            .metric("heart_rate")?
            .zones
            .iter()
            .find(|z| z.slug.as_deref() == Some(slug.as_str()))?
            .duration
    })
}

/// Percent of the targeted time inside the `name` range (`cadence`,
/// `resistance`), only when the class plan targets that metric.
fn in_target(graph: &PerformanceGraph, name: &str) -> CellValue {
    let Some(t) = &graph.target_metrics_performance_data else {
        return CellValue::Empty;
    };
    let targeted = t
        .target_metrics
        .iter()
        .flat_map(|seg| &seg.metrics)
        .any(|m| m.name.as_deref() == Some(name));
    if !targeted {
        return CellValue::Empty;
    }
    match t
        .time_in_metric
        .iter()
        .find(|m| m.name.as_deref() == Some(name))
        .and_then(|m| m.value)
    {
        Some(p) if p.is_finite() && (0.0..=100.0).contains(&p) => CellValue::Number(p),
        _ => CellValue::Empty,
    }
}

/// The optional Workouts columns (`tables`): the graph's maxima, zones,
/// Strive score and targets, the detail's FTP and achievements. Metrics
/// are read by slug; a workout without them gets empty cells.
fn optional_cell(column: &str, w: &Workout, graph: &PerformanceGraph) -> CellValue {
    let max = |slug: &str| number(graph.metric(slug).and_then(|m| m.max_value));
    match column {
        "Max Output (W)" => max("output"),
        "Max Cadence (rpm)" => max("cadence"),
        "Max Heart Rate (bpm)" => max("heart_rate"),
        "Max Speed" => number(
            graph
                .metric_or_alternative("speed")
                .and_then(|m| m.max_value),
        ),
        // 0 is Peloton's "no FTP set".
        "FTP (W)" => match w.ftp_info.as_ref().and_then(|f| f.ftp) {
            Some(x) if x.is_finite() && x > 0.0 => CellValue::Number(x),
            _ => CellValue::Empty,
        },
        "Achievements" => {
            let names: Vec<&str> = w
                .achievement_templates
                .iter()
                .filter_map(|a| non_empty(&a.name))
                .collect();
            text(Some(&names.join(", ")))
        }
        "Cadence in Target (%)" => in_target(graph, "cadence"),
        "Resistance in Target (%)" => in_target(graph, "resistance"),
        _ => CellValue::Empty,
    }
}

/// The Instructors row of an instructor; `None` for one without an id (the
/// stand-ins free rides carry).
pub fn instructor_row(i: &Instructor) -> Option<Row> {
    let id = non_empty(&i.id)?;
    let disciplines = i
        .fitness_disciplines
        .iter()
        .filter(|d| !d.is_empty())
        .map(|d| discipline_label(d))
        .collect::<Vec<_>>()
        .join(", ");
    Some(assemble(Table::Instructors, id, |column| match column {
        "Instructor ID" => CellValue::Text(id.to_owned()),
        "Name" => text(i.name.as_deref()),
        "Disciplines" => text(Some(&disciplines)),
        "Image URL" => text(i.image_url.as_deref()),
        _ => CellValue::Empty,
    }))
}

/// The Friends row of a member the user follows.
pub fn friend_row(f: &FollowedUser) -> Row {
    assemble(Table::Friends, &f.id, |column| match column {
        "User ID" => text(Some(&f.id)),
        "Username" => text(f.username.as_deref()),
        "Location" => text(f.location.as_deref()),
        // A count, but 0 is a real value here (a member with no workouts).
        "Total Workouts" => match f.total_workouts {
            Some(n) => CellValue::Number(n as f64),
            None => CellValue::Empty,
        },
        "Private Profile" => CellValue::Bool(f.is_profile_private.unwrap_or(false)),
        "Image URL" => text(f.image_url.as_deref()),
        _ => CellValue::Empty,
    })
}

/// The Friend Workouts row of one entry of a friend's workout list (fetched
/// with `joins=ride,ride.instructor`; no detail, no graph).
pub fn friend_workout_row(
    friend: &FollowedUser,
    w: &Workout,
    fallback_tz: Option<&str>,
) -> Result<Row, RowError> {
    let c = common(w, fallback_tz)?;
    Ok(assemble(
        Table::FriendWorkouts,
        &w.id,
        |column| match column {
            "Workout ID" => CellValue::Text(w.id.clone()),
            "User ID" => text(Some(&friend.id)),
            "Username" => text(friend.username.as_deref()),
            "Start Time" => CellValue::Text(c.start_time.clone()),
            "Discipline" => text(c.discipline.as_deref()),
            "Title" => text(c.title.as_deref()),
            "Instructor" => text(c.instructor.as_deref()),
            "Duration (min)" => number(c.minutes),
            "Total Output (kJ)" => number(c.output_kj),
            "Personal Record" => CellValue::Bool(c.personal_record),
            _ => CellValue::Empty,
        },
    ))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::peloton::types::Page;
    use CellValue::Empty;

    const FIXTURES: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/../tests/fixtures/peloton/");

    /// The Workouts columns as `coda-tables.md` lists them, typed from the spec.
    const WORKOUT_COLUMNS: [&str; 19] = [
        "Workout ID",
        "Start Time",
        "Discipline",
        "Title",
        "Instructor",
        "Duration (min)",
        "Total Output (kJ)",
        "Avg Output (W)",
        "Avg Cadence (rpm)",
        "Avg Resistance (%)",
        "Avg Speed",
        "Distance",
        "Distance Unit",
        "Elevation",
        "Calories (kcal)",
        "Avg Heart Rate (bpm)",
        "Leaderboard Rank",
        "Leaderboard Users",
        "Personal Record",
    ];
    const FRIEND_WORKOUT_COLUMNS: [&str; 10] = [
        "Workout ID",
        "User ID",
        "Username",
        "Start Time",
        "Discipline",
        "Title",
        "Instructor",
        "Duration (min)",
        "Total Output (kJ)",
        "Personal Record",
    ];

    fn t(s: &str) -> CellValue {
        CellValue::Text(s.to_owned())
    }
    fn n(x: f64) -> CellValue {
        CellValue::Number(x)
    }
    fn b(x: bool) -> CellValue {
        CellValue::Bool(x)
    }

    fn read(name: &str) -> String {
        std::fs::read_to_string(format!("{FIXTURES}{name}"))
            .unwrap_or_else(|e| panic!("fixture {name}: {e}"))
    }
    fn workout(name: &str) -> Workout {
        serde_json::from_str(&read(name)).unwrap()
    }
    fn graph(name: &str) -> PerformanceGraph {
        serde_json::from_str(&read(name)).unwrap()
    }
    fn rower() -> Workout {
        let page: Page<Workout> =
            serde_json::from_str(&read("workouts_page_rower_joins_ride.json")).unwrap();
        assert_eq!(page.data.len(), 1, "the rower page holds one entry");
        page.data[0].clone()
    }

    /// The one comparison every row test uses: table, key, then every cell
    /// (names and values) in order.
    /// `columns` are the required ones; the optional columns follow them
    /// and have their own test.
    fn check(row: &Row, table: Table, columns: &[&str], expect: &[CellValue]) {
        assert_eq!(row.table, table);
        let names: Vec<&str> = row.cells.iter().map(|c| c.column).collect();
        let spec_names: Vec<&str> = table.columns().iter().map(|c| c.name).collect();
        assert_eq!(names, spec_names);
        let required: Vec<&str> = table.required_columns().map(|c| c.name).collect();
        assert_eq!(required, columns, "columns of {:?}", row.key);
        let values: Vec<&CellValue> = row.cells.iter().map(|c| &c.value).collect();
        let expect: Vec<&CellValue> = expect.iter().collect();
        for ((name, got), want) in columns.iter().zip(&values).zip(&expect) {
            assert_eq!(got, want, "{:?}, column {name}", row.key);
        }
        assert_eq!(columns.len(), expect.len());
        assert_eq!(Some(&CellValue::Text(row.key.clone())), row.get(columns[0]));
    }

    /// Expected Workouts rows, written by hand from the fixture JSON:
    /// start times from `start_time` and `timezone`, durations from
    /// `end_time - start_time` (e.g. 1619720200 - 1619718402 = 1798 s =
    /// 29.97 min -> 30.0), kJ from `total_work`, the rest copied from the
    /// graph's summaries by slug.
    fn expected_workouts() -> Vec<(&'static str, &'static str, [CellValue; 19])> {
        vec![
            (
                "workout_cycling_class.json",
                "performance_graph_cycling_class.json",
                [
                    t("3bade6602259414a82576302f9339175"),
                    // 1619718402 = 2021-04-29 17:46:42 UTC; Etc/GMT+5 is UTC-5.
                    t("2021-04-29T12:46:42-05:00"),
                    t("Cycling"),
                    t("30 min Power Zone Endurance Ride"),
                    t("Christine D'Ercole"),
                    n(30.0),  // 1798 s
                    n(175.8), // 175772.76 J
                    n(98.0),
                    n(85.0),
                    n(37.0),
                    n(15.9),
                    n(7.97),
                    t("mi"),
                    Empty,
                    n(236.0),
                    n(138.0),
                    n(33331.0),
                    n(57337.0),
                    b(false),
                ],
            ),
            (
                // Detail fetched without joins: `ride.instructor_id` only, so
                // the instructor's name is unknown.
                "workout_cycling_class_2024.json",
                "performance_graph_cycling_class_2024.json",
                [
                    t("f00165fbfcba42a79610df7d56b56095"),
                    t("2024-08-01T08:58:54-04:00"),
                    t("Cycling"),
                    t("20 min R&B Ride"),
                    Empty,
                    n(20.0),  // 1201 s
                    n(134.8), // 134783.76 J
                    n(112.0),
                    n(79.0),
                    n(40.0),
                    n(16.5),
                    n(5.49),
                    t("mi"),
                    Empty,
                    n(336.0),
                    n(162.0),
                    n(6395.0),
                    n(20354.0),
                    b(false),
                ],
            ),
            (
                // Free ride: the JUST RIDE stand-in has no id; no HR monitor;
                // no leaderboard (rank null, users 0).
                "workout_cycling_just_ride.json",
                "performance_graph_cycling_just_ride.json",
                [
                    t("88963f6daf89445387da4ee2e26015f9"),
                    // July: Chicago is on CDT, UTC-5.
                    t("2020-07-21T18:42:59-05:00"),
                    t("Cycling"),
                    t("27 sec Just Ride"),
                    Empty,
                    n(0.5), // 27 s = 0.45 min, half rounds up
                    n(0.7), // 724.03 J
                    n(26.0),
                    n(49.0),
                    n(28.0),
                    n(7.8),
                    n(0.06),
                    t("mi"),
                    Empty,
                    n(1.0),
                    Empty,
                    Empty,
                    Empty,
                    b(false),
                ],
            ),
            (
                "workout_cycling_just_ride_2024.json",
                "performance_graph_cycling_just_ride_2024.json",
                [
                    t("4a2aec2b6cf9401f962b24ef998559fa"),
                    t("2024-07-11T11:08:24-04:00"),
                    t("Cycling"),
                    t("25 min Just Ride"),
                    Empty,
                    n(25.0),  // 1501 s
                    n(180.7), // 180696.67 J
                    n(120.0),
                    n(66.0),
                    n(47.0),
                    n(16.9),
                    n(7.03),
                    t("mi"),
                    Empty,
                    n(413.0),
                    n(160.0),
                    Empty,
                    Empty,
                    b(false),
                ],
            ),
            (
                // Scenic: a class without an instructor, but with a leaderboard.
                "workout_cycling_scenic_2024.json",
                "performance_graph_cycling_scenic_2024.json",
                [
                    t("65ecf21320f3413b89a184b478c38d84"),
                    t("2024-09-17T09:31:53-04:00"),
                    t("Cycling"),
                    t("20 min Veluwe National Park Ride"),
                    Empty,
                    n(20.0),  // 1200 s
                    n(148.0), // 148003.98 J
                    n(123.0),
                    n(74.0),
                    n(44.0),
                    n(17.5),
                    n(5.82),
                    t("mi"),
                    Empty,
                    n(340.0),
                    n(163.0),
                    n(12005.0),
                    n(36992.0),
                    b(false),
                ],
            ),
            (
                // Meditation: an empty graph, total_work 0.
                "workout_meditation.json",
                "performance_graph_meditation.json",
                [
                    t("aaa6527fd5a74b7e8e2f8975c6025e60"),
                    // February: Chicago is on CST, UTC-6 (and the local date
                    // is the day before the UTC date).
                    t("2021-02-20T23:08:09-06:00"),
                    t("Meditation"),
                    t("5 min Sleep Meditation"),
                    t("Anna Greenberg"),
                    n(4.7), // 281 s
                    Empty,
                    Empty,
                    Empty,
                    Empty,
                    Empty,
                    Empty,
                    Empty,
                    Empty,
                    Empty,
                    Empty,
                    Empty,
                    Empty,
                    b(false),
                ],
            ),
            (
                // Outdoor GPS walk: no output, but distance and elevation.
                "workout_outdoor_walking_class_gps.json",
                "performance_graph_outdoor_walking_class_gps.json",
                [
                    t("af25d72ea4c0400daeac2707fc30994f"),
                    t("2019-11-28T17:33:52-05:00"),
                    t("Walking"),
                    t("20 min Walk + Run"),
                    t("Olivia Amato"),
                    n(19.6), // 1174 s
                    Empty,
                    Empty,
                    Empty,
                    Empty,
                    n(5.5),
                    n(1.82),
                    t("mi"),
                    n(67.0),
                    n(297.0),
                    Empty, // metrics are pace and altitude only
                    Empty,
                    Empty,
                    b(false),
                ],
            ),
            (
                // Running class on a TV: only a calories summary.
                "workout_running_class_no_metrics.json",
                "performance_graph_running_class_no_metrics.json",
                [
                    t("e5647d3343c34442be1b44d7b4b62a93"),
                    t("2022-01-27T12:35:41-07:00"),
                    t("Running"),
                    t("30 min Progression Run"),
                    t("Matt Wilpers"),
                    n(31.6), // 1898 s
                    Empty,
                    Empty,
                    Empty,
                    Empty,
                    Empty,
                    Empty,
                    Empty,
                    Empty,
                    n(236.0),
                    Empty,
                    Empty,
                    Empty,
                    b(false),
                ],
            ),
            (
                "workout_strength.json",
                "performance_graph_strength.json",
                [
                    t("38583cbc0e434e54a2eb91be1a770e01"),
                    t("2020-05-19T11:52:54-05:00"),
                    t("Strength"),
                    t("10 min Bodyweight Strength"),
                    t("Becs Gentry"),
                    n(9.8), // 585 s = 9.75 min
                    Empty,
                    Empty,
                    Empty,
                    Empty,
                    Empty,
                    Empty,
                    Empty,
                    Empty,
                    n(47.0),
                    Empty,
                    Empty,
                    Empty,
                    b(false),
                ],
            ),
            (
                // Treadmill: the second summary is elevation (5 ft), not
                // calories (217).
                "workout_tread_running_class.json",
                "performance_graph_tread_running_class.json",
                [
                    t("63eef26a23744af295f14006811b159b"),
                    t("2019-08-08T17:30:50-04:00"),
                    t("Running"),
                    t("20 min Pop Fun Run"),
                    t("Olivia Amato"),
                    n(20.0),  // 1199 s
                    n(182.1), // 182131.19 J
                    n(168.0),
                    Empty,
                    Empty,
                    n(4.1),
                    n(1.22),
                    t("mi"),
                    n(5.0),
                    n(217.0),
                    n(120.0),
                    n(913.0),
                    n(1095.0),
                    b(true),
                ],
            ),
        ]
    }

    #[test]
    fn every_workout_fixture_pair_maps_to_its_hand_written_row() {
        let cases = expected_workouts();
        for (workout_file, graph_file, expect) in &cases {
            let row = workout_row(&workout(workout_file), &graph(graph_file), None).unwrap();
            check(&row, Table::Workouts, &WORKOUT_COLUMNS, expect);
        }
        // A fixture added later must get a hand-written row too.
        let mut on_disk: Vec<String> = std::fs::read_dir(FIXTURES)
            .unwrap()
            .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
            .filter(|f| f.starts_with("workout_") && f.ends_with(".json"))
            .collect();
        on_disk.sort();
        let mut covered: Vec<String> = cases.iter().map(|c| c.0.to_owned()).collect();
        covered.sort();
        assert_eq!(on_disk, covered);
    }

    /// The optional Workouts columns, in their order.
    const OPTIONAL_COLUMNS: [&str; 14] = [
        "Max Output (W)",
        "Max Cadence (rpm)",
        "Max Heart Rate (bpm)",
        "Max Speed",
        "Strive Score",
        "HR Zone 1 (min)",
        "HR Zone 2 (min)",
        "HR Zone 3 (min)",
        "HR Zone 4 (min)",
        "HR Zone 5 (min)",
        "FTP (W)",
        "Achievements",
        "Cadence in Target (%)",
        "Resistance in Target (%)",
    ];

    /// Expected optional cells, written by hand from the fixture JSON:
    /// maxima from `metrics[].max_value` (a run's speed from the `pace`
    /// metric's `speed` alternative), zone minutes from
    /// `effort_zones.heart_rate_zone_durations` or else the heart-rate
    /// metric's `zones` (seconds / 60, one decimal), the Strive score from
    /// `effort_zones.total_effort_points`, FTP from `ftp_info.ftp` (0 is
    /// none), achievements from `achievement_templates[].name`, targets from
    /// `target_metrics_performance_data.time_in_metric` where the plan
    /// targets that metric.
    fn expected_optional() -> Vec<(Workout, &'static str, [CellValue; 14])> {
        vec![
            (
                workout("workout_cycling_class.json"),
                "performance_graph_cycling_class.json",
                [
                    n(140.0),
                    n(120.0),
                    n(154.0),
                    n(18.6),
                    Empty,   // no effort_zones in 2021
                    n(4.1),  // 247 s
                    n(7.4),  // 441 s = 7.35 min
                    n(18.5), // 1111 s
                    n(0.0),
                    n(0.0),
                    n(154.0),
                    t("Dynamic Duo"),
                    Empty, // target_metrics is []
                    Empty,
                ],
            ),
            (
                workout("workout_cycling_class_2024.json"),
                "performance_graph_cycling_class_2024.json",
                [
                    n(261.0),
                    n(110.0),
                    n(176.0),
                    n(23.6),
                    n(44.5),
                    n(0.0),
                    n(0.2),  // 9 s
                    n(2.6),  // 154 s
                    n(13.8), // 829 s
                    n(3.4),  // 204 s
                    n(171.0),
                    Empty,
                    n(44.0),
                    n(64.0),
                ],
            ),
            (
                // No heart-rate monitor, no FTP, no plan.
                workout("workout_cycling_just_ride.json"),
                "performance_graph_cycling_just_ride.json",
                [
                    n(54.0),
                    n(66.0),
                    Empty,
                    n(12.5),
                    Empty,
                    Empty,
                    Empty,
                    Empty,
                    Empty,
                    Empty,
                    Empty,
                    Empty,
                    Empty,
                    Empty,
                ],
            ),
            (
                workout("workout_cycling_just_ride_2024.json"),
                "performance_graph_cycling_just_ride_2024.json",
                [
                    n(225.0),
                    n(88.0),
                    n(175.0),
                    n(22.4),
                    n(52.2),
                    n(0.0),
                    n(1.4),  // 85 s
                    n(3.7),  // 224 s
                    n(14.7), // 881 s
                    n(4.9),  // 292 s
                    Empty,
                    Empty,
                    Empty,
                    Empty,
                ],
            ),
            (
                workout("workout_cycling_scenic_2024.json"),
                "performance_graph_cycling_scenic_2024.json",
                [
                    n(225.0),
                    n(87.0),
                    n(176.0),
                    n(22.4),
                    n(44.8),
                    n(0.4),  // 23 s
                    n(0.4),  // 25 s
                    n(1.2),  // 74 s
                    n(13.4), // 805 s
                    n(4.5),  // 270 s
                    n(171.0),
                    Empty,
                    Empty,
                    Empty,
                ],
            ),
            (
                workout("workout_meditation.json"),
                "performance_graph_meditation.json",
                [
                    Empty,
                    Empty,
                    Empty,
                    Empty,
                    Empty,
                    Empty,
                    Empty,
                    Empty,
                    Empty,
                    Empty,
                    Empty,
                    t("Three's Company"),
                    Empty,
                    Empty,
                ],
            ),
            (
                // GPS walk: speed only as the pace metric's alternative.
                workout("workout_outdoor_walking_class_gps.json"),
                "performance_graph_outdoor_walking_class_gps.json",
                [
                    Empty,
                    Empty,
                    Empty,
                    n(7.2),
                    Empty,
                    Empty,
                    Empty,
                    Empty,
                    Empty,
                    Empty,
                    Empty,
                    t("First Walk, Pack"),
                    Empty,
                    Empty,
                ],
            ),
            (
                // A plan with speed and incline targets, none for cadence.
                workout("workout_running_class_no_metrics.json"),
                "performance_graph_running_class_no_metrics.json",
                [
                    Empty,
                    Empty,
                    Empty,
                    Empty,
                    Empty,
                    Empty,
                    Empty,
                    Empty,
                    Empty,
                    Empty,
                    Empty,
                    t("3-Day Streak, Dynamic Duo"),
                    Empty,
                    Empty,
                ],
            ),
            (
                workout("workout_strength.json"),
                "performance_graph_strength.json",
                [
                    Empty,
                    Empty,
                    Empty,
                    Empty,
                    Empty,
                    Empty,
                    Empty,
                    Empty,
                    Empty,
                    Empty,
                    Empty,
                    t("Dynamic Duo"),
                    Empty,
                    Empty,
                ],
            ),
            (
                workout("workout_tread_running_class.json"),
                "performance_graph_tread_running_class.json",
                [
                    n(353.0),
                    Empty,
                    n(148.0),
                    n(8.6),
                    Empty,
                    n(10.2), // 613 s
                    n(8.1),  // 484 s
                    n(1.7),  // 103 s
                    n(0.0),
                    n(0.0),
                    Empty,
                    t("Best Output, First Run, Dynamic Duo"),
                    Empty,
                    Empty,
                ],
            ),
            (
                // A list entry: no ftp_info, no achievements; stroke rate is not cadence.
                rower(),
                "performance_graph_rower.json",
                [
                    n(93.0),
                    Empty,
                    n(147.0),
                    Empty,
                    n(10.3),
                    n(2.7), // 164 s
                    n(2.9), // 173 s
                    n(4.1), // 246 s
                    n(1.2), // 70 s
                    n(0.0),
                    Empty,
                    Empty,
                    Empty,
                    Empty,
                ],
            ),
        ]
    }

    #[test]
    fn optional_columns_match_the_hand_written_values() {
        let spec: Vec<&str> = Table::Workouts.optional_columns().map(|c| c.name).collect();
        assert_eq!(spec, OPTIONAL_COLUMNS);
        for (w, graph_file, expect) in expected_optional() {
            let row = workout_row(&w, &graph(graph_file), None).unwrap();
            for (column, want) in OPTIONAL_COLUMNS.iter().zip(&expect) {
                assert_eq!(row.get(column), Some(want), "{graph_file}, column {column}");
            }
        }
    }

    #[test]
    fn optional_columns_survive_the_stored_graph() {
        // What the state keeps of a graph (samples stripped) still fills them.
        for (w, graph_file, _) in expected_optional() {
            let full: serde_json::Value = serde_json::from_str(&read(graph_file)).unwrap();
            let stored: PerformanceGraph =
                serde_json::from_value(crate::peloton::client::stored_graph(&full)).unwrap();
            let a = workout_row(&w, &graph(graph_file), None).unwrap();
            let b = workout_row(&w, &stored, None).unwrap();
            assert_eq!(a, b, "{graph_file}");
        }
    }

    #[test]
    fn odd_optional_values_are_empty_never_wrong() {
        let w = workout("workout_cycling_class_2024.json");
        let mut g: serde_json::Value =
            serde_json::from_str(&read("performance_graph_cycling_class_2024.json")).unwrap();
        g["effort_zones"] = serde_json::json!({"total_effort_points": "lots",
            "heart_rate_zone_durations": 7});
        g["target_metrics_performance_data"]["time_in_metric"] = serde_json::json!([{"name": "cadence", "value": 250}, {"name": "resistance", "value": null}]);
        let graph: PerformanceGraph = serde_json::from_value(g).unwrap();
        let row = workout_row(&w, &graph, None).unwrap();
        // The odd effort_zones is dropped: zones come from the heart-rate metric.
        assert_eq!(row.get("Strive Score"), Some(&Empty));
        assert_eq!(row.get("HR Zone 4 (min)"), Some(&n(13.8)));
        assert_eq!(row.get("Cadence in Target (%)"), Some(&Empty));
        assert_eq!(row.get("Resistance in Target (%)"), Some(&Empty));
        let mut odd: serde_json::Value =
            serde_json::from_str(&read("workout_cycling_class.json")).unwrap();
        odd["ftp_info"] = serde_json::json!("none");
        odd["achievement_templates"] = serde_json::json!([{"name": ""}, {"slug": "x"}]);
        let odd: Workout = serde_json::from_value(odd).unwrap();
        let row = workout_row(&odd, &graph, None).unwrap();
        assert_eq!(row.get("FTP (W)"), Some(&Empty));
        assert_eq!(row.get("Achievements"), Some(&Empty));
    }

    #[test]
    fn rower_list_entry_keeps_the_metre_unit() {
        let row = workout_row(&rower(), &graph("performance_graph_rower.json"), None).unwrap();
        check(
            &row,
            Table::Workouts,
            &WORKOUT_COLUMNS,
            &[
                t("3a5af153444941c0aa54c52aee4726fa"),
                // 1670191506 = 2022-12-04 22:05:06 UTC; Etc/GMT+6 is UTC-6.
                t("2022-12-04T16:05:06-06:00"),
                t("Rowing"),
                t("10 min Form & Drills Row"),
                Empty,   // listed with joins=ride only: no instructor object
                n(10.1), // 603 s = 10.05 min
                n(22.6), // 22629.63 J
                n(55.0),
                Empty,
                Empty,
                Empty, // the rower has split pace, not speed
                n(1023.28),
                t("m"),
                Empty,
                n(123.0),
                n(125.0),
                Empty, // list entries carry no leaderboard fields
                Empty,
                b(true),
            ],
        );
    }

    /// No fixture has a metric-unit user, so this one is typed by hand.
    #[test]
    fn metric_units_are_passed_through() {
        let w: Workout = serde_json::from_str(
            r#"{"id": "0123456789abcdef0123456789abcdef", "start_time": 1700000000,
                "end_time": 1700001800, "timezone": "Europe/Berlin",
                "fitness_discipline": "cycling", "total_work": 250049.99,
                "is_total_work_personal_record": null, "leaderboard_rank": 0,
                "total_leaderboard_users": null,
                "ride": {"title": "30 min Klassik Ride",
                         "instructor": {"id": "ffff", "name": "Ünal Çelik"}}}"#,
        )
        .unwrap();
        let g: PerformanceGraph = serde_json::from_str(
            r#"{"summaries": [
                  {"slug": "calories", "value": 400, "display_unit": "kcal"},
                  {"slug": "distance", "value": 15.12, "display_unit": "km"}],
                "average_summaries": [
                  {"slug": "avg_speed", "value": 30.2, "display_unit": "kph"},
                  {"slug": "avg_output", "value": null}],
                "metrics": [{"slug": "heart_rate", "average_value": null}]}"#,
        )
        .unwrap();
        let row = workout_row(&w, &g, Some("America/Chicago")).unwrap();
        check(
            &row,
            Table::Workouts,
            &WORKOUT_COLUMNS,
            &[
                t("0123456789abcdef0123456789abcdef"),
                // 2023-11-14 22:13:20 UTC; November in Berlin is CET, UTC+1.
                t("2023-11-14T23:13:20+01:00"),
                t("Cycling"),
                t("30 min Klassik Ride"),
                t("Ünal Çelik"),
                n(30.0),
                n(250.0), // 250049.99 J = 250.04999 kJ
                Empty,    // value null
                Empty,
                Empty,
                n(30.2),
                n(15.12),
                t("km"),
                Empty,
                n(400.0),
                Empty, // average_value null
                Empty, // rank 0
                Empty, // users null
                b(false),
            ],
        );
    }

    #[test]
    fn friend_workout_row_uses_the_list_entry_only() {
        let friend: FollowedUser = serde_json::from_str(
            r#"{"id": "aaaabbbbccccddddeeeeffff00001111", "username": "RowFan"}"#,
        )
        .unwrap();
        let row = friend_workout_row(&friend, &rower(), None).unwrap();
        check(
            &row,
            Table::FriendWorkouts,
            &FRIEND_WORKOUT_COLUMNS,
            &[
                t("3a5af153444941c0aa54c52aee4726fa"),
                t("aaaabbbbccccddddeeeeffff00001111"),
                t("RowFan"),
                t("2022-12-04T16:05:06-06:00"),
                t("Rowing"),
                t("10 min Form & Drills Row"),
                Empty,
                n(10.1),
                n(22.6),
                b(true),
            ],
        );
        // A free ride from a friend's list: title kept, stand-in dropped.
        let row =
            friend_workout_row(&friend, &workout("workout_cycling_just_ride.json"), None).unwrap();
        assert_eq!(row.get("Title"), Some(&t("27 sec Just Ride")));
        assert_eq!(row.get("Instructor"), Some(&Empty));
        assert_eq!(row.get("Start Time"), Some(&t("2020-07-21T18:42:59-05:00")));
    }

    #[test]
    fn free_ride_title_falls_back_to_the_workouts_own_title() {
        let mut w = workout("workout_cycling_just_ride.json");
        w.ride = None;
        let row = workout_row(&w, &PerformanceGraph::default(), None).unwrap();
        assert_eq!(row.get("Title"), Some(&t("27 sec Just Ride")));
        // `name` ("Cycling Workout") is never used as a title.
        w.title = None;
        let row = workout_row(&w, &PerformanceGraph::default(), None).unwrap();
        assert_eq!(row.get("Title"), Some(&Empty));
        // Without `fitness_discipline` on the workout, the ride's is used.
        let mut w = workout("workout_strength.json");
        w.fitness_discipline = None;
        let row = workout_row(&w, &PerformanceGraph::default(), None).unwrap();
        assert_eq!(row.get("Discipline"), Some(&t("Strength")));
    }

    #[test]
    fn missing_start_time_names_the_workout_and_field() {
        let mut w = workout("workout_strength.json");
        w.start_time = None;
        let err = workout_row(&w, &PerformanceGraph::default(), None).unwrap_err();
        assert_eq!(
            err,
            RowError::MissingField {
                workout_id: "38583cbc0e434e54a2eb91be1a770e01".into(),
                field: "start_time"
            }
        );
        assert!(err.to_string().contains("start_time"));
        assert!(err
            .user_message()
            .contains("38583cbc0e434e54a2eb91be1a770e01"));
        assert!(err.user_message().contains("start time"));
        let friend = friend_from(r#"{"id": "f"}"#);
        assert_eq!(friend_workout_row(&friend, &w, None).unwrap_err(), err);

        w.start_time = Some(i64::MAX);
        let err = workout_row(&w, &PerformanceGraph::default(), None).unwrap_err();
        assert!(matches!(
            err,
            RowError::OutOfRange {
                field: "start_time",
                ..
            }
        ));

        w.start_time = Some(0);
        w.id = String::new();
        let err = workout_row(&w, &PerformanceGraph::default(), None).unwrap_err();
        assert!(matches!(err, RowError::MissingField { field: "id", .. }));
        assert!(err
            .user_message()
            .starts_with("Peloton sent a workout without an id"));
    }

    #[test]
    fn odd_numbers_become_empty_never_zero_or_a_panic() {
        let mut w = workout("workout_cycling_class.json");
        w.end_time = Some(i64::MIN); // before the start, and overflows a subtraction
        w.total_work = Some(f64::NAN);
        w.leaderboard_rank = Some(-3);
        w.total_leaderboard_users = Some(i64::MAX);
        let mut g = graph("performance_graph_cycling_class.json");
        for s in &mut g.summaries {
            s.value = Some(f64::INFINITY);
        }
        let row = workout_row(&w, &g, None).unwrap();
        assert_eq!(row.get("Duration (min)"), Some(&Empty));
        assert_eq!(row.get("Total Output (kJ)"), Some(&Empty));
        assert_eq!(row.get("Leaderboard Rank"), Some(&Empty));
        assert_eq!(row.get("Leaderboard Users"), Some(&n(i64::MAX as f64)));
        assert_eq!(row.get("Distance"), Some(&Empty));
        assert_eq!(row.get("Distance Unit"), Some(&Empty));
        assert_eq!(row.get("Calories (kcal)"), Some(&Empty));
        w.end_time = None;
        w.total_work = Some(f64::MAX);
        let row = workout_row(&w, &g, None).unwrap();
        assert_eq!(row.get("Duration (min)"), Some(&Empty));
        assert!(
            matches!(row.get("Total Output (kJ)"), Some(CellValue::Number(x)) if x.is_finite())
        );
    }

    /// Every top-level field of every fixture removed, nulled, or replaced
    /// by odd values: each mutation either fails to parse (the client's
    /// concern) or maps without panicking.
    #[test]
    fn mutated_fixtures_never_panic() {
        let odd = [
            serde_json::Value::Null,
            serde_json::json!(0),
            serde_json::json!(-1),
            serde_json::json!(i64::MAX),
            serde_json::json!(i64::MIN),
            serde_json::json!(1.0e308),
            serde_json::json!(-1.0e308),
            serde_json::json!(""),
            serde_json::json!("Ωμέγα 🚴 _x__y_"),
            serde_json::json!("Not/AZone"),
            serde_json::json!({}),
        ];
        let friend = friend_from(r#"{"id": "f"}"#);
        let mut pairs: Vec<(serde_json::Value, String)> = expected_workouts()
            .iter()
            .map(|(w, g, _)| (serde_json::from_str(&read(w)).unwrap(), g.to_string()))
            .collect();
        let rower = serde_json::to_value(rower()).unwrap();
        pairs.push((rower, "performance_graph_rower.json".into()));
        let mut mapped = 0;
        for (w_json, g_file) in &pairs {
            let g_json: serde_json::Value = serde_json::from_str(&read(g_file)).unwrap();
            let mut variants = Vec::new();
            for key in w_json.as_object().unwrap().keys() {
                let mut removed = w_json.clone();
                removed.as_object_mut().unwrap().remove(key);
                variants.push(removed);
                for value in &odd {
                    let mut changed = w_json.clone();
                    changed[key] = value.clone();
                    variants.push(changed);
                }
            }
            for value in &odd {
                let mut changed = w_json.clone();
                changed["ride"]["title"] = value.clone();
                changed["ride"]["instructor"]["id"] = value.clone();
                changed["ride"]["instructor"]["name"] = value.clone();
                variants.push(changed);
            }
            let mut graphs = vec![g_json.clone(), serde_json::json!({})];
            for value in &odd {
                let mut g = g_json.clone();
                for list in ["summaries", "average_summaries", "metrics"] {
                    if let Some(items) = g[list].as_array_mut() {
                        for item in items {
                            item["value"] = value.clone();
                            item["average_value"] = value.clone();
                            item["display_unit"] = value.clone();
                        }
                    }
                }
                graphs.push(g);
            }
            let graphs: Vec<PerformanceGraph> = graphs
                .into_iter()
                .filter_map(|g| serde_json::from_value(g).ok())
                .collect();
            for v in variants {
                let Ok(w) = serde_json::from_value::<Workout>(v) else {
                    continue;
                };
                for g in &graphs {
                    if let Ok(row) = workout_row(&w, g, Some("Also/Bad")) {
                        assert_eq!(row.cells.len(), Table::Workouts.columns().len());
                        let _ = row.content_hash();
                        mapped += 1;
                    }
                }
                let _ = friend_workout_row(&friend, &w, None);
            }
        }
        assert!(mapped > 1000, "only {mapped} mutated workouts mapped");
    }

    #[test]
    fn discipline_labels() {
        for (slug, label) in [
            ("cycling", "Cycling"),
            ("running", "Running"),
            ("walking", "Walking"),
            ("strength", "Strength"),
            ("yoga", "Yoga"),
            ("meditation", "Meditation"),
            ("stretching", "Stretching"),
            ("cardio", "Cardio"),
            ("circuit", "Tread Bootcamp"),
            ("bike_bootcamp", "Bike Bootcamp"),
            ("caesar", "Rowing"),
            ("caesar_bootcamp", "Row Bootcamp"),
            ("foo_bar", "Foo Bar"),
            ("outdoor_running_lite", "Outdoor Running Lite"),
            ("_odd__slug_", "Odd Slug"),
            ("élan_vital", "Élan Vital"),
            ("", ""),
        ] {
            assert_eq!(discipline_label(slug), label, "slug {slug:?}");
        }
    }

    #[test]
    fn start_times_in_the_workouts_zone() {
        for (epoch, tz, fallback, want) in [
            // IANA's inverted sign: Etc/GMT+5 is five hours behind UTC.
            (0, Some("Etc/GMT+5"), None, "1969-12-31T19:00:00-05:00"),
            (0, Some("Etc/GMT-14"), None, "1970-01-01T14:00:00+14:00"),
            // Chicago: CDT (UTC-5) in July, CST (UTC-6) in February.
            (
                1_595_374_979,
                Some("America/Chicago"),
                None,
                "2020-07-21T18:42:59-05:00",
            ),
            (
                1_613_884_089,
                Some("America/Chicago"),
                None,
                "2021-02-20T23:08:09-06:00",
            ),
            // Half-hour offsets keep their minutes.
            (
                1_700_000_000,
                Some("Asia/Kolkata"),
                None,
                "2023-11-15T03:43:20+05:30",
            ),
            // No zone on the workout: the user's /api/me zone, then UTC.
            (
                1_595_374_979,
                None,
                Some("America/Chicago"),
                "2020-07-21T18:42:59-05:00",
            ),
            (0, None, None, "1970-01-01T00:00:00+00:00"),
            (0, Some(""), None, "1970-01-01T00:00:00+00:00"),
            // An unknown zone falls back the same way.
            (
                0,
                Some("Mars/Olympus"),
                Some("Etc/GMT+5"),
                "1969-12-31T19:00:00-05:00",
            ),
            (
                0,
                Some("Mars/Olympus"),
                Some("Also/Unknown"),
                "1970-01-01T00:00:00+00:00",
            ),
            (
                0,
                Some("america/chicago"),
                None,
                "1970-01-01T00:00:00+00:00",
            ),
            // The workout's own zone wins over the user's.
            (
                0,
                Some("UTC"),
                Some("Etc/GMT+5"),
                "1970-01-01T00:00:00+00:00",
            ),
            // Outside years 0001-9999: no value rather than a malformed date.
            (i64::MAX, Some("UTC"), None, ""),
            (i64::MIN, None, None, ""),
            (253_402_300_799, None, None, ""),
            (-62_135_596_800, Some("Etc/GMT+12"), None, ""),
        ] {
            assert_eq!(
                format_start_time(epoch, tz, fallback),
                want,
                "{epoch} {tz:?} {fallback:?}"
            );
        }
    }

    #[test]
    fn instructor_rows() {
        let olivia = workout("workout_tread_running_class.json")
            .ride
            .unwrap()
            .instructor
            .unwrap();
        check(
            &instructor_row(&olivia).unwrap(),
            Table::Instructors,
            &["Instructor ID", "Name", "Disciplines", "Image URL"],
            &[
                t("05735e106f0747d2a112d32678be8afd"),
                t("Olivia Amato"),
                t("Cycling, Running, Tread Bootcamp"),
                t("https://s3.amazonaws.com/workout-metric-images-prod/8707d2315f154958be8c91776fedf20a"),
            ],
        );
        let anna = workout("workout_meditation.json")
            .ride
            .unwrap()
            .instructor
            .unwrap();
        let row = instructor_row(&anna).unwrap();
        assert_eq!(row.get("Disciplines"), Some(&t("Meditation, Yoga")));

        let bare: Instructor =
            serde_json::from_str(r#"{"id": "abc", "fitness_disciplines": []}"#).unwrap();
        check(
            &instructor_row(&bare).unwrap(),
            Table::Instructors,
            &["Instructor ID", "Name", "Disciplines", "Image URL"],
            &[t("abc"), Empty, Empty, Empty],
        );
        let stand_in = workout("workout_cycling_just_ride.json")
            .ride
            .unwrap()
            .instructor
            .unwrap();
        assert_eq!(stand_in.name.as_deref(), Some("JUST RIDE"));
        assert_eq!(instructor_row(&stand_in), None);
        let blank_id: Instructor = serde_json::from_str(r#"{"id": "", "name": "X"}"#).unwrap();
        assert_eq!(instructor_row(&blank_id), None);
    }

    fn friend_from(json: &str) -> FollowedUser {
        serde_json::from_str(json).unwrap()
    }

    #[test]
    fn friend_rows() {
        let columns = [
            "User ID",
            "Username",
            "Location",
            "Total Workouts",
            "Private Profile",
            "Image URL",
        ];
        check(
            &friend_row(&friend_from(
                r#"{"id": "1a2b", "username": "PowerZoneMaria", "location": "Köln, DE",
                    "image_url": "https://example.invalid/a.png",
                    "is_profile_private": false, "total_workouts": 812,
                    "total_followers": 5, "relationship": {"me_to_user": "following"}}"#,
            )),
            Table::Friends,
            &columns,
            &[
                t("1a2b"),
                t("PowerZoneMaria"),
                t("Köln, DE"),
                n(812.0),
                b(false),
                t("https://example.invalid/a.png"),
            ],
        );
        check(
            &friend_row(&friend_from(
                r#"{"id": "3c4d", "username": "quiet", "location": null,
                    "is_profile_private": true, "total_workouts": null}"#,
            )),
            Table::Friends,
            &columns,
            &[t("3c4d"), t("quiet"), Empty, Empty, b(true), Empty],
        );
        // A member with no workouts yet has 0, which is a value.
        let row = friend_row(&friend_from(r#"{"id": "5e", "total_workouts": 0}"#));
        assert_eq!(row.get("Total Workouts"), Some(&n(0.0)));
        assert_eq!(row.get("Private Profile"), Some(&b(false)));
    }

    #[test]
    fn content_hash_tracks_values_only() {
        let w = workout("workout_cycling_class.json");
        let g = graph("performance_graph_cycling_class.json");
        let a = workout_row(&w, &g, None).unwrap();
        let again = workout_row(&w.clone(), &g.clone(), None).unwrap();
        assert_eq!(a.content_hash(), again.content_hash());
        assert_eq!(a.content_hash().len(), 64);

        let mut w2 = w.clone();
        w2.leaderboard_rank = Some(33330);
        let b = workout_row(&w2, &g, None).unwrap();
        assert_ne!(a.content_hash(), b.content_hash());

        // Empty and 0 are different values.
        let mut w3 = w.clone();
        w3.leaderboard_rank = None;
        let mut zero = workout_row(&w3, &g, None).unwrap();
        let empty_hash = zero.content_hash();
        for c in &mut zero.cells {
            if c.column == "Leaderboard Rank" {
                c.value = n(0.0);
            }
        }
        assert_ne!(empty_hash, zero.content_hash());
    }

    #[test]
    fn empty_is_sent_as_an_empty_string() {
        let row = friend_row(&friend_from(r#"{"id": "x", "total_workouts": null}"#));
        let json = serde_json::to_value(&row.cells).unwrap();
        assert_eq!(
            json[3],
            serde_json::json!({"column": "Total Workouts", "value": ""})
        );
        assert_eq!(
            json[4],
            serde_json::json!({"column": "Private Profile", "value": false})
        );
    }
}
