//! Exports of the real recorded fixtures, read back with third-party
//! readers (xmllint against Garmin's schema, quick-xml, the `gpx` and `csv`
//! crates), their totals compared with the Workouts rows.

use std::collections::HashMap;
use std::process::Command;

use chrono::TimeZone;
use quick_xml::events::Event;

use super::*;
use crate::peloton::client::stored_graph;
use crate::peloton::types::Page;
use crate::store::StoredWorkout;

const FIXTURES: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/../tests/fixtures/peloton/");
const TCX_XSD: &str = concat!(
    env!("CARGO_MANIFEST_DIR"),
    "/../tests/fixtures/garmin/TrainingCenterDatabasev2.xsd"
);

/// Every workout fixture with its graph (the rower's detail is its list entry).
const PAIRS: [(&str, &str); 11] = [
    (
        "workout_cycling_class.json",
        "performance_graph_cycling_class.json",
    ),
    (
        "workout_cycling_class_2024.json",
        "performance_graph_cycling_class_2024.json",
    ),
    (
        "workout_cycling_just_ride.json",
        "performance_graph_cycling_just_ride.json",
    ),
    (
        "workout_cycling_just_ride_2024.json",
        "performance_graph_cycling_just_ride_2024.json",
    ),
    (
        "workout_cycling_scenic_2024.json",
        "performance_graph_cycling_scenic_2024.json",
    ),
    (
        "workout_meditation.json",
        "performance_graph_meditation.json",
    ),
    (
        "workout_outdoor_walking_class_gps.json",
        "performance_graph_outdoor_walking_class_gps.json",
    ),
    (
        "workout_running_class_no_metrics.json",
        "performance_graph_running_class_no_metrics.json",
    ),
    ("workout_strength.json", "performance_graph_strength.json"),
    (
        "workout_tread_running_class.json",
        "performance_graph_tread_running_class.json",
    ),
    ("rower", "performance_graph_rower.json"),
];

fn read(name: &str) -> Vec<u8> {
    std::fs::read(format!("{FIXTURES}{name}")).unwrap_or_else(|e| panic!("{name}: {e}"))
}

/// A state holding every fixture workout, its stored aggregates and its
/// archived graph (`archived: false` leaves the archive empty).
fn state(archived: bool) -> Store {
    let mut store = Store::open_in_memory().unwrap();
    let at = chrono::Utc.timestamp_opt(1_700_000_000, 0).unwrap();
    for (w, g) in PAIRS {
        let detail: Value = if w == "rower" {
            let page: Page<Value> =
                serde_json::from_slice(&read("workouts_page_rower_joins_ride.json")).unwrap();
            page.data[0].clone()
        } else {
            serde_json::from_slice(&read(w)).unwrap()
        };
        let body = read(g);
        let full: Value = serde_json::from_slice(&body).unwrap();
        let id = detail["id"].as_str().unwrap().to_string();
        let start = detail["start_time"].as_i64().unwrap();
        store
            .save_workout(
                &StoredWorkout {
                    id: id.clone(),
                    user_id: "me".into(),
                    start_time: chrono::Utc.timestamp_opt(start, 0).unwrap(),
                    fingerprint: "f".into(),
                    detail_json: detail.to_string(),
                    graph_json: Some(stored_graph(&full).to_string()),
                },
                at,
            )
            .unwrap();
        if archived {
            store.save_graph_archive(&id, &body, at).unwrap();
        }
    }
    store
}

fn request(format: Format, dir: &Path) -> ExportRequest {
    ExportRequest {
        format,
        out_dir: dir.to_owned(),
        since: None,
        discipline: None,
    }
}

/// The Workouts rows of the state, by workout id.
fn rows_by_id(store: &Store) -> HashMap<String, Row> {
    store
        .stored_workouts()
        .unwrap()
        .into_iter()
        .map(|s| {
            let w: Workout = serde_json::from_str(&s.detail_json).unwrap();
            let g: PerformanceGraph =
                serde_json::from_str(s.graph_json.as_deref().unwrap()).unwrap();
            (s.id, rows::workout_row(&w, &g, None).unwrap())
        })
        .collect()
}

fn number(row: &Row, column: &str) -> Option<f64> {
    match row.get(column) {
        Some(CellValue::Number(x)) => Some(*x),
        _ => None,
    }
}

/// The lap's totals of a TCX file, read with quick-xml.
#[derive(Debug, Default)]
struct Lap {
    seconds: f64,
    distance_m: f64,
    calories: f64,
    avg_hr: Option<f64>,
    trackpoints: usize,
    positions: usize,
    watts: usize,
}

fn read_tcx(text: &str) -> Lap {
    let mut reader = quick_xml::Reader::from_str(text);
    let mut path: Vec<String> = Vec::new();
    let mut lap = Lap::default();
    loop {
        match reader.read_event().unwrap() {
            Event::Start(e) => {
                let name = e.name().0.to_owned();
                match name.as_str() {
                    "Trackpoint" => lap.trackpoints += 1,
                    "Position" => lap.positions += 1,
                    "ns3:Watts" => lap.watts += 1,
                    _ => {}
                }
                path.push(name);
            }
            Event::End(_) => {
                path.pop();
            }
            Event::Text(t) => {
                let v: f64 = match t.xml10_content().trim().parse().ok() {
                    Some(v) => v,
                    None => continue,
                };
                let tail: Vec<&str> = path.iter().rev().take(2).map(String::as_str).collect();
                match tail.as_slice() {
                    ["TotalTimeSeconds", "Lap"] => lap.seconds = v,
                    ["DistanceMeters", "Lap"] => lap.distance_m = v,
                    ["Calories", "Lap"] => lap.calories = v,
                    ["Value", "AverageHeartRateBpm"] => lap.avg_hr = Some(v),
                    _ => {}
                }
            }
            Event::Eof => break,
            _ => {}
        }
    }
    lap
}

fn xmllint(files: &[PathBuf]) {
    let out = Command::new("xmllint")
        .arg("--noout")
        .arg("--schema")
        .arg(TCX_XSD)
        .args(files)
        .output()
        .expect("xmllint runs (Debian: libxml2-utils, installed by the Makefile)");
    assert!(
        out.status.success(),
        "TCX fails Garmin's schema:\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
}

#[test]
fn tcx_files_pass_garmins_schema_and_their_totals_match_the_rows() {
    let store = state(true);
    let dir = tempfile::tempdir().unwrap();
    let report = export(&store, &request(Format::Tcx, dir.path())).unwrap();
    assert_eq!(report.workouts, 11);
    assert_eq!(report.files.len(), 11, "{:?}", report.notes);
    xmllint(&report.files);
    let rows = rows_by_id(&store);
    for file in &report.files {
        let name = file.file_name().unwrap().to_string_lossy().into_owned();
        let id8 = name.rsplit('_').next().unwrap().trim_end_matches(".tcx");
        let (id, row) = rows.iter().find(|(id, _)| id.starts_with(id8)).unwrap();
        let lap = read_tcx(&std::fs::read_to_string(file).unwrap());
        let minutes = (lap.seconds / 6.0).round() / 10.0;
        assert_eq!(Some(minutes), number(row, "Duration (min)"), "{name}");
        assert_eq!(
            number(row, "Calories (kcal)").unwrap_or(0.0),
            lap.calories,
            "{name}"
        );
        assert_eq!(number(row, "Avg Heart Rate (bpm)"), lap.avg_hr, "{name}");
        match (number(row, "Distance"), row.get("Distance Unit")) {
            (Some(d), Some(CellValue::Text(unit))) => {
                let back = lap.distance_m / metres_per(unit).unwrap();
                assert!((back - d).abs() < 1e-9, "{name}: {back} vs {d}");
            }
            _ => assert_eq!(lap.distance_m, 0.0, "{name}"),
        }
        // One trackpoint a sample of the archived graph.
        let g: Value = serde_json::from_slice(&store.archived_graph(id).unwrap().unwrap()).unwrap();
        let samples = g["seconds_since_pedaling_start"].as_array().unwrap().len();
        assert_eq!(lap.trackpoints, samples, "{name}");
        if number(row, "Avg Output (W)").is_some() {
            assert!(lap.watts > 0, "{name}: no watts");
        }
    }
    // The GPS walk has a position at every fix the track has a sample for.
    let walk = report
        .files
        .iter()
        .find(|f| f.to_string_lossy().contains("_walking_"))
        .unwrap();
    let lap = read_tcx(&std::fs::read_to_string(walk).unwrap());
    assert!(lap.positions > 1100, "{lap:?}");
    // File names say date, discipline and title.
    let names: Vec<String> = report
        .files
        .iter()
        .map(|f| f.file_name().unwrap().to_string_lossy().into_owned())
        .collect();
    assert!(
        names.contains(&"2021-04-29_cycling_30-min-power-zone-endurance-ride_3bade660.tcx".into()),
        "{names:?}"
    );
    assert!(names.contains(&"2022-12-04_rowing_10-min-form-drills-row_3a5af153.tcx".into()));
}

#[test]
fn gpx_only_for_the_gps_walk_and_it_reads_back_whole() {
    let store = state(true);
    let dir = tempfile::tempdir().unwrap();
    let report = export(&store, &request(Format::Gpx, dir.path())).unwrap();
    assert_eq!(report.files.len(), 1);
    assert!(report
        .notes
        .iter()
        .any(|n| n.starts_with("10 workout(s) have no GPS track")));
    let file = std::fs::File::open(&report.files[0]).unwrap();
    let gpx = ::gpx::read(std::io::BufReader::new(file)).unwrap();
    assert_eq!(gpx.tracks.len(), 1);
    let track = &gpx.tracks[0];
    assert_eq!(track.name.as_deref(), Some("20 min Walk + Run"));
    // location_data has three stretches: 59, 1080 and 59 fixes.
    let lens: Vec<usize> = track.segments.iter().map(|s| s.points.len()).collect();
    assert_eq!(lens, [59, 1080, 59]);
    let first = &track.segments[0].points[0];
    assert!((first.point().y() - -71.66731).abs() < 1e-9);
    assert!((first.point().x() - 26.906616).abs() < 1e-9);
    // start_time is 1574980432 (22:33:52 UTC); the first fix is 1 s in.
    assert_eq!(
        first.time.unwrap().format().unwrap(),
        "2019-11-28T22:33:53.000000000Z"
    );
}

#[test]
fn csv_has_every_column_and_its_rows_match() {
    let store = state(false);
    let dir = tempfile::tempdir().unwrap();
    let report = export(&store, &request(Format::Csv, dir.path())).unwrap();
    assert_eq!(report.files.len(), 1);
    let mut reader = ::csv::Reader::from_path(&report.files[0]).unwrap();
    let header: Vec<String> = reader.headers().unwrap().iter().map(String::from).collect();
    let want: Vec<&str> = crate::tables::Table::Workouts
        .columns()
        .iter()
        .map(|c| c.name)
        .collect();
    assert_eq!(header, want);
    let rows = rows_by_id(&store);
    let mut seen = 0;
    for record in reader.records() {
        let record = record.unwrap();
        let row = &rows[&record[0]];
        for (i, column) in want.iter().enumerate() {
            let expect = match row.get(column).unwrap() {
                CellValue::Text(s) => s.clone(),
                CellValue::Number(x) => x.to_string(),
                CellValue::Bool(b) => b.to_string(),
                CellValue::Empty => String::new(),
            };
            assert_eq!(record[i], expect, "{} {column}", &record[0]);
        }
        seen += 1;
    }
    assert_eq!(seen, 11);
}

#[test]
fn json_is_the_raw_answers_and_filters_apply() {
    let store = state(true);
    let dir = tempfile::tempdir().unwrap();
    let mut req = request(Format::Json, dir.path());
    req.discipline = Some("Cycling".into());
    req.since = NaiveDate::from_ymd_opt(2024, 1, 1);
    let report = export(&store, &req).unwrap();
    // The three 2024 rides.
    assert_eq!(report.workouts, 3);
    assert_eq!(report.files.len(), 3);
    for f in &report.files {
        let v: Value = serde_json::from_slice(&std::fs::read(f).unwrap()).unwrap();
        let id = v["workout"]["id"].as_str().unwrap();
        let archived: Value =
            serde_json::from_slice(&store.archived_graph(id).unwrap().unwrap()).unwrap();
        assert_eq!(v["performance_graph"], archived);
    }
    req.discipline = Some("caesar".into());
    req.since = None;
    assert_eq!(export(&store, &req).unwrap().workouts, 1);
}

#[test]
fn without_an_archive_tcx_says_what_waits() {
    let store = state(false);
    let dir = tempfile::tempdir().unwrap();
    let report = export(&store, &request(Format::Tcx, dir.path())).unwrap();
    assert!(report.files.is_empty());
    assert_eq!(
        report.notes,
        ["11 workout(s) have no full graph yet and were left out; the next syncs fetch them."]
    );
}

#[test]
fn an_unwritable_folder_is_one_sentence() {
    let store = state(false);
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("a-file");
    std::fs::write(&file, b"x").unwrap();
    let err = export(&store, &request(Format::Csv, &file.join("out"))).unwrap_err();
    let msg = err.user_message();
    assert!(msg.starts_with("The folder "), "{msg}");
    assert!(
        msg.ends_with("choose another folder and export again."),
        "{msg}"
    );
    assert_eq!(msg.matches(". ").count(), 0, "one sentence: {msg}");
}

#[test]
fn the_apps_export_writes_csv_tcx_and_gpx_as_one_report() {
    let store = state(true);
    let dir = tempfile::tempdir().unwrap();
    let report = export_formats(&store, dir.path(), &APP_FORMATS).unwrap();
    let count = |ext: &str| {
        report
            .files
            .iter()
            .filter(|f| f.extension().is_some_and(|e| e == ext))
            .count()
    };
    let tcx = export(&store, &request(Format::Tcx, dir.path()))
        .unwrap()
        .files
        .len();
    assert!(tcx > 0);
    assert_eq!((count("csv"), count("tcx"), count("gpx")), (1, tcx, 1));
    assert_eq!(report.files.len(), 1 + tcx + 1);
    assert_eq!(report.workouts, 11);
    assert_eq!(report.out_dir, dir.path());
    assert!(report
        .summary()
        .starts_with(&format!("{} files written to ", tcx + 2)));
    // A folder that cannot be written stops it with one sentence.
    let file = dir.path().join("a-file");
    std::fs::write(&file, b"x").unwrap();
    let err = export_formats(&store, &file, &APP_FORMATS).unwrap_err();
    assert!(err.user_message().starts_with("The folder "));
}
