//! The Personal Bests table: the highest total output per cycling class
//! length and the longest distance per running, walking and rowing class
//! length, each with its workout. Computed from the Workouts rows the sync
//! derives, so a best is always a number the Workouts table shows.
//!
//! The rows are keyed by discipline and length (`cycling-20min`) and hold
//! only what decides the best, so a row's content changes only when its
//! best does: the writer's content hash then sends nothing on a quiet run.

use std::collections::btree_map::{BTreeMap, Entry};

use crate::export::metres_per;
use crate::peloton::types::Workout;
use crate::rows::{assemble, CellValue, Row};
use crate::tables::Table;

/// The class lengths a best is kept for, in minutes (Peloton's own).
pub const LENGTHS: [u32; 9] = [5, 10, 15, 20, 30, 45, 60, 75, 90];

/// What a discipline's best measures.
#[derive(Clone, Copy, PartialEq)]
enum Measure {
    /// The highest "Total Output (kJ)".
    Output,
    /// The longest "Distance", compared in metres.
    Distance,
}

/// The disciplines with a best, by Peloton slug (`caesar` is the rower).
fn measure(slug: &str) -> Option<Measure> {
    match slug {
        "cycling" => Some(Measure::Output),
        "running" | "walking" | "caesar" => Some(Measure::Distance),
        _ => None,
    }
}

/// The class length in whole minutes: the class's `ride.duration` (a free
/// ride's is the time ridden), else how long the workout lasted; `None`
/// unless it is one of [`LENGTHS`].
fn class_length(w: &Workout) -> Option<u32> {
    let secs = w
        .ride
        .as_ref()
        .and_then(|r| r.duration)
        .filter(|d| d.is_finite() && *d > 0.0)
        .or_else(|| {
            let (start, end) = (w.start_time?, w.end_time?);
            // Workout lengths are far below 2^53 s: the conversion is exact.
            Some(end.checked_sub(start)? as f64)
        })?;
    let minutes = (secs / 60.0).round();
    LENGTHS.into_iter().find(|l| f64::from(*l) == minutes)
}

fn number(row: &Row, column: &str) -> Option<f64> {
    match row.get(column) {
        Some(CellValue::Number(x)) if x.is_finite() && *x > 0.0 => Some(*x),
        _ => None,
    }
}

/// One workout's claim to a best.
struct Candidate<'a> {
    measure: Measure,
    /// Comparable across workouts (kJ, or metres).
    score: f64,
    start: i64,
    row: &'a Row,
}

/// The Personal Bests rows of `workouts` (each detail with its Workouts
/// row), one per discipline and length that has a best, ordered by key.
/// A tie keeps the earlier workout: the best was first reached there.
pub fn personal_best_rows<'a>(
    workouts: impl IntoIterator<Item = (&'a Workout, &'a Row)>,
) -> Vec<Row> {
    let mut best: BTreeMap<(String, u32), Candidate<'a>> = BTreeMap::new();
    for (w, row) in workouts {
        let slug = w
            .fitness_discipline
            .as_deref()
            .or_else(|| w.ride.as_ref()?.fitness_discipline.as_deref())
            .unwrap_or_default();
        let (Some(measure), Some(length)) = (measure(slug), class_length(w)) else {
            continue;
        };
        let score = match measure {
            Measure::Output => number(row, "Total Output (kJ)"),
            Measure::Distance => {
                let unit = match row.get("Distance Unit") {
                    // In metres: a person who switched from miles to kilometres
                    // still gets one best.
                    Some(CellValue::Text(u)) => metres_per(u),
                    _ => None,
                };
                number(row, "Distance").zip(unit).map(|(d, m)| d * m)
            }
        };
        let Some(score) = score else { continue };
        let start = w.start_time.unwrap_or(i64::MAX);
        let candidate = Candidate {
            measure,
            score,
            start,
            row,
        };
        match best.entry((slug.to_owned(), length)) {
            Entry::Vacant(e) => {
                e.insert(candidate);
            }
            Entry::Occupied(mut e) => {
                let b = e.get();
                if score > b.score || (score == b.score && start < b.start) {
                    e.insert(candidate);
                }
            }
        }
    }
    best.into_iter()
        .map(|((slug, length), b)| best_row(&slug, length, &b))
        .collect()
}

fn best_row(slug: &str, length: u32, b: &Candidate<'_>) -> Row {
    let cell = |column: &str| b.row.get(column).cloned().unwrap_or(CellValue::Empty);
    let when = |m: Measure, column: &str| {
        if b.measure == m {
            cell(column)
        } else {
            CellValue::Empty
        }
    };
    assemble(
        Table::PersonalBests,
        &format!("{slug}-{length}min"),
        |column| match column {
            "Best ID" => CellValue::Text(format!("{slug}-{length}min")),
            "Discipline" => cell("Discipline"),
            "Length (min)" => CellValue::Number(f64::from(length)),
            "Best Output (kJ)" => when(Measure::Output, "Total Output (kJ)"),
            "Best Distance" => when(Measure::Distance, "Distance"),
            "Distance Unit" => when(Measure::Distance, "Distance Unit"),
            "Date" => cell("Start Time"),
            "Workout ID" => cell("Workout ID"),
            _ => CellValue::Empty,
        },
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::peloton::types::{Page, PerformanceGraph};
    use crate::rows::workout_row;

    const FIXTURES: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/../tests/fixtures/peloton/");

    fn read(name: &str) -> String {
        std::fs::read_to_string(format!("{FIXTURES}{name}"))
            .unwrap_or_else(|e| panic!("fixture {name}: {e}"))
    }

    /// Every recorded workout with its graph: the cycling class, the 2024
    /// class with effort zones, both free rides, the scenic ride, the
    /// outdoor walk, both runs, the rower, strength and meditation.
    fn recorded() -> Vec<(Workout, Row)> {
        let mut details: Vec<(Workout, &str)> = [
            "cycling_class",
            "cycling_class_2024",
            "cycling_just_ride",
            "cycling_just_ride_2024",
            "cycling_scenic_2024",
            "outdoor_walking_class_gps",
            "running_class_no_metrics",
            "tread_running_class",
            "strength",
            "meditation",
        ]
        .into_iter()
        .map(|name| {
            let w = serde_json::from_str(&read(&format!("workout_{name}.json"))).unwrap();
            (w, name)
        })
        .collect();
        let page: Page<Workout> =
            serde_json::from_str(&read("workouts_page_rower_joins_ride.json")).unwrap();
        details.push((page.data[0].clone(), "rower"));
        details
            .into_iter()
            .map(|(w, name)| {
                let g: PerformanceGraph =
                    serde_json::from_str(&read(&format!("performance_graph_{name}.json"))).unwrap();
                let row = workout_row(&w, &g, None).unwrap();
                (w, row)
            })
            .collect()
    }

    fn bests(of: &[(Workout, Row)]) -> Vec<Row> {
        personal_best_rows(of.iter().map(|(w, r)| (w, r)))
    }

    use CellValue::Empty;
    fn t(s: &str) -> CellValue {
        CellValue::Text(s.to_owned())
    }
    fn n(x: f64) -> CellValue {
        CellValue::Number(x)
    }

    #[test]
    fn the_recorded_workouts_give_these_bests() {
        let rows = bests(&recorded());
        let got: Vec<(String, Vec<CellValue>)> = rows
            .iter()
            .map(|r| {
                (
                    r.key.clone(),
                    r.cells.iter().map(|c| c.value.clone()).collect(),
                )
            })
            .collect();
        // Columns: Best ID, Discipline, Length, Best Output, Best Distance,
        // Distance Unit, Date, Workout ID. Free rides (27 s, 25 min) have
        // no class length; strength and meditation have no best; the run
        // without metrics has no distance.
        let want = vec![
            (
                "caesar-10min",
                vec![
                    t("caesar-10min"),
                    t("Rowing"),
                    n(10.0),
                    Empty,
                    n(1023.28),
                    t("m"),
                    t("2022-12-04T16:05:06-06:00"),
                    t("3a5af153444941c0aa54c52aee4726fa"),
                ],
            ),
            (
                // The scenic ride (148.0 kJ) beats the 2024 class (134.8 kJ).
                "cycling-20min",
                vec![
                    t("cycling-20min"),
                    t("Cycling"),
                    n(20.0),
                    n(148.0),
                    Empty,
                    Empty,
                    t("2024-09-17T09:31:53-04:00"),
                    t("65ecf21320f3413b89a184b478c38d84"),
                ],
            ),
            (
                "cycling-30min",
                vec![
                    t("cycling-30min"),
                    t("Cycling"),
                    n(30.0),
                    n(175.8),
                    Empty,
                    Empty,
                    t("2021-04-29T12:46:42-05:00"),
                    t("3bade6602259414a82576302f9339175"),
                ],
            ),
            (
                "running-20min",
                vec![
                    t("running-20min"),
                    t("Running"),
                    n(20.0),
                    Empty,
                    n(1.22),
                    t("mi"),
                    t("2019-08-08T17:30:50-04:00"),
                    t("63eef26a23744af295f14006811b159b"),
                ],
            ),
            (
                "walking-20min",
                vec![
                    t("walking-20min"),
                    t("Walking"),
                    n(20.0),
                    Empty,
                    n(1.82),
                    t("mi"),
                    t("2019-11-28T17:33:52-05:00"),
                    t("af25d72ea4c0400daeac2707fc30994f"),
                ],
            ),
        ];
        let want: Vec<(String, Vec<CellValue>)> =
            want.into_iter().map(|(k, v)| (k.to_owned(), v)).collect();
        assert_eq!(got, want);
        let columns: Vec<&str> = rows[0].cells.iter().map(|c| c.column).collect();
        let spec: Vec<&str> = Table::PersonalBests
            .columns()
            .iter()
            .map(|c| c.name)
            .collect();
        assert_eq!(columns, spec);
    }

    #[test]
    fn a_best_changes_only_when_beaten_and_a_tie_keeps_the_first() {
        let all = recorded();
        let scenic = all
            .iter()
            .find(|(w, _)| w.id == "65ecf21320f3413b89a184b478c38d84")
            .unwrap();
        let class = all
            .iter()
            .find(|(w, _)| w.id == "f00165fbfcba42a79610df7d56b56095")
            .unwrap();
        let key = |rows: &[Row]| rows[0].get("Workout ID").cloned();
        // Alone, the 2024 class is the 20-minute best.
        let only_class = bests(std::slice::from_ref(class));
        assert_eq!(
            key(&only_class),
            Some(t("f00165fbfcba42a79610df7d56b56095"))
        );
        assert_eq!(only_class[0].get("Best Output (kJ)"), Some(&n(134.8)));
        // The same workouts in any order give the same rows (same hashes).
        let a = bests(&[class.clone(), scenic.clone()]);
        let b = bests(&[scenic.clone(), class.clone()]);
        assert_eq!(a, b);
        assert_eq!(a[0].content_hash(), b[0].content_hash());
        // A later workout with the same output leaves the best where it was.
        let mut later = scenic.clone();
        later.0.id = "later".into();
        later.0.start_time = later.0.start_time.map(|s| s + 86_400);
        later.1 = workout_row(&later.0, &PerformanceGraph::default(), None).unwrap();
        let tied = bests(&[later.clone(), scenic.clone()]);
        assert_eq!(key(&tied), Some(t("65ecf21320f3413b89a184b478c38d84")));
    }

    #[test]
    fn distances_in_other_units_are_compared_in_metres() {
        let all = recorded();
        let walk = all
            .iter()
            .find(|(w, _)| w.id == "af25d72ea4c0400daeac2707fc30994f")
            .unwrap();
        // 2.5 km (1.55 mi) does not beat 1.82 mi; 3 km (1.86 mi) does.
        let mut other = walk.clone();
        other.0.id = "in-km".into();
        let with = |km: f64| {
            let mut o = other.clone();
            for c in &mut o.1.cells {
                match c.column {
                    "Distance" => c.value = n(km),
                    "Distance Unit" => c.value = t("km"),
                    "Workout ID" => c.value = t("in-km"),
                    _ => {}
                }
            }
            bests(&[walk.clone(), o])[0].get("Workout ID").cloned()
        };
        assert_eq!(with(2.5), Some(t("af25d72ea4c0400daeac2707fc30994f")));
        assert_eq!(with(3.0), Some(t("in-km")));
    }
}
