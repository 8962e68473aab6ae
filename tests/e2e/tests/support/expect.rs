//! What each Coda table must hold, derived here from the fake's source JSON
//! by `docs/coda-tables.md`, independently of core's `rows` module (a
//! shared misreading would hide otherwise), plus hand-written values of the
//! fixture templates read off the fixture files.

use std::collections::BTreeSet;

use chrono::{DateTime, TimeZone};
use serde_json::{Map, Value};

use super::{keys, World};

/// Base64url of the fake's JWT header: every access and id token it issues
/// starts with it.
pub const FAKE_JWT_HEADER: &str =
    "eyJhbGciOiJSUzI1NiIsInR5cCI6IkpXVCIsImtpZCI6ImZha2UtcGVsb3RvbiJ9";

/// Latest workouts kept per friend (the settings' default).
pub const PER_FRIEND: usize = 10;

/// A cell as plain text (`""` for an empty cell).
pub fn text(v: &Value) -> String {
    match v {
        Value::String(s) => s.clone(),
        Value::Null => String::new(),
        other => other.to_string(),
    }
}

/// What a cell should be: a number, a text, a checkbox, or empty.
#[derive(Debug, Clone, PartialEq)]
pub enum Cell {
    /// A JSON number (compared to 1e-9).
    Num(f64),
    /// A string.
    Text(String),
    /// A boolean.
    Bool(bool),
    /// `""`: Peloton has no value.
    Empty,
}

fn num(x: f64) -> Cell {
    Cell::Num(x)
}

fn txt(s: &str) -> Cell {
    Cell::Text(s.to_string())
}

/// A number, or empty when absent.
fn opt(x: Option<f64>) -> Cell {
    x.map_or(Cell::Empty, Cell::Num)
}

/// Asserts a row's cell; `ctx` names the row in the message.
#[track_caller]
pub fn assert_cell(row: &Map<String, Value>, column: &str, want: &Cell, ctx: &str) {
    let got = row
        .get(column)
        .unwrap_or_else(|| panic!("{ctx}: no column {column:?} in {row:?}"));
    let ok = match (want, got) {
        (Cell::Num(w), Value::Number(g)) => g.as_f64().is_some_and(|g| (g - w).abs() < 1e-9),
        (Cell::Text(w), Value::String(g)) => w == g,
        (Cell::Bool(w), Value::Bool(g)) => w == g,
        (Cell::Empty, Value::String(g)) => g.is_empty(),
        _ => false,
    };
    assert!(ok, "{ctx}: {column:?} is {got}, expected {want:?}");
}

/// One decimal, halves up.
fn round1(x: f64) -> f64 {
    (x * 10.0).round() / 10.0
}

/// `fitness_discipline` as a person reads it.
pub fn discipline(slug: &str) -> String {
    match slug {
        "cycling" => "Cycling".into(),
        "running" => "Running".into(),
        "walking" => "Walking".into(),
        "strength" => "Strength".into(),
        "yoga" => "Yoga".into(),
        "meditation" => "Meditation".into(),
        "stretching" => "Stretching".into(),
        "cardio" => "Cardio".into(),
        "circuit" => "Tread Bootcamp".into(),
        "bike_bootcamp" => "Bike Bootcamp".into(),
        "caesar" => "Rowing".into(),
        "caesar_bootcamp" => "Row Bootcamp".into(),
        other => other
            .split('_')
            .map(|w| {
                let mut c = w.chars();
                c.next()
                    .map(|f| f.to_uppercase().collect::<String>() + c.as_str())
                    .unwrap_or_default()
            })
            .collect::<Vec<_>>()
            .join(" "),
    }
}

/// `start_time` in the workout's own time zone (UTC when it has none; the
/// fake's `/api/me` has no time zone), `YYYY-MM-DDThh:mm:ss±hh:mm`.
pub fn start_time(detail: &Value) -> String {
    let secs = detail["start_time"].as_i64().expect("start_time");
    let utc = DateTime::from_timestamp(secs, 0).expect("a valid start_time");
    let tz: chrono_tz::Tz = detail["timezone"]
        .as_str()
        .and_then(|t| t.parse().ok())
        .unwrap_or(chrono_tz::UTC);
    tz.from_utc_datetime(&utc.naive_utc())
        .format("%Y-%m-%dT%H:%M:%S%:z")
        .to_string()
}

fn duration(detail: &Value) -> Cell {
    let s = detail["start_time"].as_f64().expect("start_time");
    let e = detail["end_time"].as_f64().expect("end_time");
    num(round1((e - s) / 60.0))
}

fn total_output(detail: &Value) -> Cell {
    match detail["total_work"].as_f64() {
        Some(w) if w > 0.0 => num(round1(w / 1000.0)),
        _ => Cell::Empty,
    }
}

fn instructor(detail: &Value) -> Cell {
    let i = &detail["ride"]["instructor"];
    // The free ride's stand-in instructor has no id and is no instructor.
    match (i["id"].as_str(), i["name"].as_str()) {
        (Some(_), Some(name)) => txt(name),
        _ => Cell::Empty,
    }
}

fn positive(v: &Value) -> Cell {
    match v.as_f64() {
        Some(x) if x > 0.0 => num(x),
        _ => Cell::Empty,
    }
}

/// The columns Workouts and Friend Workouts share, from the detail JSON.
fn common_cells(detail: &Value) -> Vec<(&'static str, Cell)> {
    vec![
        ("Workout ID", txt(detail["id"].as_str().expect("id"))),
        ("Start Time", Cell::Text(start_time(detail))),
        (
            "Discipline",
            Cell::Text(discipline(
                detail["fitness_discipline"].as_str().unwrap_or_default(),
            )),
        ),
        (
            "Title",
            txt(detail["ride"]["title"].as_str().unwrap_or_default()),
        ),
        ("Instructor", instructor(detail)),
        ("Duration (min)", duration(detail)),
        ("Total Output (kJ)", total_output(detail)),
        (
            "Personal Record",
            Cell::Bool(
                detail["is_total_work_personal_record"]
                    .as_bool()
                    .unwrap_or(false),
            ),
        ),
    ]
}

/// The performance-graph values of each fixture template, read by hand off
/// `tests/fixtures/peloton/performance_graph_*.json`, by class title:
/// Avg Output, Avg Cadence, Avg Resistance, Avg Speed, Distance, Distance
/// Unit, Elevation, Calories, Avg Heart Rate, Leaderboard Rank, Leaderboard
/// Users.
#[allow(clippy::type_complexity)] // a table of literals reads best flat
const TEMPLATE_VALUES: &[(&str, [Option<f64>; 5], Option<&str>, [Option<f64>; 5])] = &[
    (
        "30 min Power Zone Endurance Ride",
        [Some(98.0), Some(85.0), Some(37.0), Some(15.9), Some(7.97)],
        Some("mi"),
        [None, Some(236.0), Some(138.0), Some(33331.0), Some(57337.0)],
    ),
    (
        "20 min R&B Ride",
        [Some(112.0), Some(79.0), Some(40.0), Some(16.5), Some(5.49)],
        Some("mi"),
        [None, Some(336.0), Some(162.0), Some(6395.0), Some(20354.0)],
    ),
    (
        "20 min Pop Fun Run",
        [Some(168.0), None, None, Some(4.1), Some(1.22)],
        Some("mi"),
        [
            Some(5.0),
            Some(217.0),
            Some(120.0),
            Some(913.0),
            Some(1095.0),
        ],
    ),
    (
        "10 min Form & Drills Row",
        [Some(55.0), None, None, None, Some(1023.28)],
        Some("m"),
        [None, Some(123.0), Some(125.0), Some(1234.0), Some(4321.0)],
    ),
    (
        "25 min Just Ride",
        [Some(120.0), Some(66.0), Some(47.0), Some(16.9), Some(7.03)],
        Some("mi"),
        [None, Some(413.0), Some(160.0), None, None],
    ),
    (
        "10 min Bodyweight Strength",
        [None, None, None, None, None],
        None,
        [None, Some(47.0), None, None, None],
    ),
    (
        "20 min Veluwe National Park Ride",
        [Some(123.0), Some(74.0), Some(44.0), Some(17.5), Some(5.82)],
        Some("mi"),
        [None, Some(340.0), Some(163.0), Some(12005.0), Some(36992.0)],
    ),
    (
        "20 min Walk + Run",
        [None, None, None, Some(5.5), Some(1.82)],
        Some("mi"),
        [Some(67.0), Some(297.0), None, None, None],
    ),
    (
        "5 min Sleep Meditation",
        [None, None, None, None, None],
        None,
        [None, None, None, None, None],
    ),
    (
        "27 sec Just Ride",
        [Some(26.0), Some(49.0), Some(28.0), Some(7.8), Some(0.06)],
        Some("mi"),
        [None, Some(1.0), None, None, None],
    ),
    (
        "30 min Progression Run",
        [None, None, None, None, None],
        None,
        [None, Some(236.0), None, None, None],
    ),
];

/// The graph and leaderboard cells a Workouts row of this class must hold.
fn template_cells(title: &str) -> Vec<(&'static str, Cell)> {
    let (_, a, unit, b) = TEMPLATE_VALUES
        .iter()
        .find(|t| t.0 == title)
        .unwrap_or_else(|| panic!("no hand-written values for the class {title:?}"));
    vec![
        ("Avg Output (W)", opt(a[0])),
        ("Avg Cadence (rpm)", opt(a[1])),
        ("Avg Resistance (%)", opt(a[2])),
        ("Avg Speed", opt(a[3])),
        ("Distance", opt(a[4])),
        ("Distance Unit", unit.map_or(Cell::Empty, txt)),
        ("Elevation", opt(b[0])),
        ("Calories (kcal)", opt(b[1])),
        ("Avg Heart Rate (bpm)", opt(b[2])),
        ("Leaderboard Rank", opt(b[3])),
        ("Leaderboard Users", opt(b[4])),
    ]
}

/// Workouts: every workout of the user exactly once, every cell as the spec
/// derives it from the source JSON and the fixtures.
pub fn assert_workouts(w: &World) {
    let rows = w.rows("Workouts");
    let ids = w.peloton.workout_ids();
    let want: BTreeSet<String> = ids.iter().cloned().collect();
    assert_eq!(rows.len(), ids.len(), "Workouts row count");
    assert_eq!(keys(&rows, "Workout ID"), want, "Workouts keys");
    for row in &rows {
        let id = text(&row["Workout ID"]);
        let detail = w.peloton.workout_json(&id).expect("the fake has it");
        let ctx = format!("Workouts row {id}");
        for (column, cell) in common_cells(&detail) {
            assert_cell(row, column, &cell, &ctx);
        }
        // The leaderboard comes from the detail; its hand-written values
        // below say the same for the templates.
        assert_cell(
            row,
            "Leaderboard Rank",
            &positive(&detail["leaderboard_rank"]),
            &ctx,
        );
        assert_cell(
            row,
            "Leaderboard Users",
            &positive(&detail["total_leaderboard_users"]),
            &ctx,
        );
        let title = detail["ride"]["title"].as_str().unwrap_or_default();
        for (column, cell) in template_cells(title) {
            assert_cell(row, column, &cell, &ctx);
        }
    }
}

/// Instructors: every instructor the fake serves exactly once.
pub fn assert_instructors(w: &World) {
    let rows = w.rows("Instructors");
    let ids = w.peloton.instructor_ids();
    assert_eq!(rows.len(), ids.len(), "Instructors row count");
    assert_eq!(
        keys(&rows, "Instructor ID"),
        ids.iter().cloned().collect::<BTreeSet<_>>(),
        "Instructors keys"
    );
    for row in &rows {
        assert!(
            !text(&row["Name"]).is_empty(),
            "an instructor without a name: {row:?}"
        );
    }
    let christine = rows
        .iter()
        .find(|r| r["Instructor ID"] == "5a19bfe66e644a2fa3e6387a91ebc5ce")
        .expect("Christine D'Ercole's row");
    let ctx = "Instructors row of Christine D'Ercole";
    assert_cell(christine, "Name", &txt("Christine D'Ercole"), ctx);
    assert_cell(christine, "Disciplines", &txt("Cycling"), ctx);
    assert_cell(
        christine,
        "Image URL",
        &txt(
            "https://s3.amazonaws.com/workout-metric-images-prod/ae9583fbef064dce92b91b5c6e3034eb",
        ),
        ctx,
    );
}

/// Friends: one row per person followed, private ones included.
pub fn assert_friends(w: &World) {
    let rows = w.rows_by_key("Friends", "User ID");
    let friends = w.friends();
    assert_eq!(
        w.rows("Friends").len(),
        friends.len(),
        "Friends row count (users typed rows? then this check is wrong)"
    );
    for f in &friends {
        let id = w.peloton.friend_id(&f.username).expect("a friend's id");
        let row = rows
            .get(&id)
            .unwrap_or_else(|| panic!("no Friends row for {}", f.username));
        let ctx = format!("Friends row of {}", f.username);
        assert_cell(row, "Username", &txt(&f.username), &ctx);
        assert_cell(row, "Private Profile", &Cell::Bool(f.private), &ctx);
        let total = w.peloton.user_workout_ids(&id).len();
        let want = if f.private {
            Cell::Empty
        } else {
            num(total as f64)
        };
        assert_cell(row, "Total Workouts", &want, &ctx);
        // The fake serves its stand-in for Peloton's image host itself.
        let image = format!("{}/cdn/peloton-profile-images/", w.peloton.url());
        assert!(
            text(&row["Image URL"]).starts_with(&image),
            "{ctx}: Image URL {:?}",
            row["Image URL"]
        );
    }
}

/// The Friend Workouts a friend's window holds: their latest ones.
pub fn friend_window(w: &World, username: &str) -> Vec<String> {
    let id = w.peloton.friend_id(username).expect("a friend's id");
    w.peloton
        .user_workout_ids(&id)
        .into_iter()
        .take(PER_FRIEND)
        .collect()
}

/// Friend Workouts: each public friend's latest workouts, nothing else.
pub fn assert_friend_workouts(w: &World) {
    let rows = w.rows("Friend Workouts");
    let mut want = BTreeSet::new();
    for f in w.friends().iter().filter(|f| !f.private) {
        want.extend(friend_window(w, &f.username));
    }
    assert_eq!(rows.len(), want.len(), "Friend Workouts row count");
    assert_eq!(keys(&rows, "Workout ID"), want, "Friend Workouts keys");
    for row in &rows {
        let id = text(&row["Workout ID"]);
        let detail = w.peloton.workout_json(&id).expect("the fake has it");
        let ctx = format!("Friend Workouts row {id}");
        for (column, cell) in common_cells(&detail) {
            assert_cell(row, column, &cell, &ctx);
        }
        let owner = detail["user_id"].as_str().expect("user_id");
        assert_cell(row, "User ID", &txt(owner), &ctx);
        let name = w
            .friends()
            .into_iter()
            .find(|f| w.peloton.friend_id(&f.username).as_deref() == Some(owner))
            .map(|f| f.username)
            .expect("the owner is a friend");
        assert_cell(row, "Username", &txt(&name), &ctx);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn start_time_uses_the_workouts_own_offset() {
        // Etc/GMT+5 is UTC-5 by IANA's rule.
        let d = serde_json::json!({"start_time": 1619718402, "timezone": "Etc/GMT+5"});
        assert_eq!(start_time(&d), "2021-04-29T12:46:42-05:00");
        let d = serde_json::json!({"start_time": 1565299850, "timezone": "America/New_York"});
        assert_eq!(start_time(&d), "2019-08-08T17:30:50-04:00");
        let d = serde_json::json!({"start_time": 0});
        assert_eq!(start_time(&d), "1970-01-01T00:00:00+00:00");
    }
}
