//! Property tests of the rows mapping on mutated real fixtures: any field of
//! a workout, its performance graph or a followed member removed, nulled,
//! given another JSON type, made huge or non-ASCII. Whatever Peloton sends,
//! decoding and mapping never panic; they end in a row with every column of
//! its table, or in an error that names what went wrong.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use pcs_core::peloton::types::{FollowedUser, Page, PerformanceGraph, Workout};
use pcs_core::rows::{self, Row};
use pcs_core::tables::Table;
use proptest::prelude::*;
use serde_json::{json, Value};

const FIXTURES: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/../tests/fixtures/peloton/");

/// Workout fixtures, each with the performance graph of the same class.
const PAIRS: &[&str] = &[
    "cycling_class",
    "cycling_class_2024",
    "cycling_just_ride",
    "cycling_just_ride_2024",
    "cycling_scenic_2024",
    "meditation",
    "outdoor_walking_class_gps",
    "running_class_no_metrics",
    "strength",
    "tread_running_class",
];

fn fixture(name: &str) -> Value {
    let text = std::fs::read_to_string(format!("{FIXTURES}{name}"))
        .unwrap_or_else(|e| panic!("fixture {name}: {e}"));
    serde_json::from_str(&text).unwrap()
}

/// How one value is damaged.
#[derive(Debug, Clone, Copy)]
enum Mutation {
    Remove,
    Null,
    Retype,
    Huge,
    NonAscii,
}

fn mutation() -> impl Strategy<Value = Mutation> {
    prop_oneof![
        Just(Mutation::Remove),
        Just(Mutation::Null),
        Just(Mutation::Retype),
        Just(Mutation::Huge),
        Just(Mutation::NonAscii),
    ]
}

/// Every path in `v` (object keys and array indexes), the root excluded.
fn paths(v: &Value, prefix: &mut Vec<Step>, out: &mut Vec<Vec<Step>>) {
    match v {
        Value::Object(m) => {
            for (k, child) in m {
                prefix.push(Step::Key(k.clone()));
                out.push(prefix.clone());
                paths(child, prefix, out);
                prefix.pop();
            }
        }
        Value::Array(a) => {
            for (i, child) in a.iter().enumerate() {
                prefix.push(Step::Index(i));
                out.push(prefix.clone());
                paths(child, prefix, out);
                prefix.pop();
            }
        }
        _ => {}
    }
}

#[derive(Debug, Clone)]
enum Step {
    Key(String),
    Index(usize),
}

fn child_mut<'a>(v: &'a mut Value, step: &Step) -> Option<&'a mut Value> {
    match step {
        Step::Key(k) => v.get_mut(k.as_str()),
        Step::Index(i) => v.get_mut(*i),
    }
}

fn damaged(v: &Value, m: Mutation) -> Value {
    match m {
        Mutation::Remove | Mutation::Null => Value::Null,
        Mutation::Retype => match v {
            Value::Number(n) => json!(n.to_string()),
            Value::String(s) => s.parse::<f64>().map(|f| json!(f)).unwrap_or(json!(42)),
            Value::Bool(b) => json!(b.to_string()),
            Value::Null => json!("null"),
            Value::Array(_) => json!({"unexpected": true}),
            Value::Object(_) => json!([1, "two", null]),
        },
        Mutation::Huge => match v {
            Value::Number(n) if n.is_f64() => json!(f64::MAX),
            Value::Number(n) if n.is_i64() && n.as_i64().unwrap_or(0) < 0 => json!(i64::MIN),
            Value::Number(_) => json!(u64::MAX),
            Value::Array(a) => Value::Array(a.iter().cycle().take(a.len() * 50).cloned().collect()),
            _ => json!("W".repeat(200_000)),
        },
        Mutation::NonAscii => match v {
            Value::String(s) => json!(format!("Ωμέγα 🚴‍♀️ 日本語 \u{202e}{s}\u{0}")),
            _ => json!("Zürich — 東京 🏃"),
        },
    }
}

/// Applies `m` at the `pick`-th path of `v` (modulo the number of paths).
fn mutate(v: &mut Value, pick: usize, m: Mutation) {
    let mut all = Vec::new();
    paths(v, &mut Vec::new(), &mut all);
    if all.is_empty() {
        return;
    }
    let path = &all[pick % all.len()];
    let (last, parents) = path.split_last().unwrap();
    let mut node = &mut *v;
    for step in parents {
        match child_mut(node, step) {
            Some(n) => node = n,
            None => return,
        }
    }
    if let (Mutation::Remove, Step::Key(k)) = (m, last) {
        if let Some(obj) = node.as_object_mut() {
            obj.remove(k);
        }
        return;
    }
    if let (Mutation::Remove, Step::Index(i)) = (m, last) {
        if let Some(arr) = node.as_array_mut() {
            if *i < arr.len() {
                arr.remove(*i);
            }
        }
        return;
    }
    if let Some(target) = child_mut(node, last) {
        *target = damaged(target, m);
    }
}

/// A row has exactly its table's columns, in order, and a key.
fn assert_complete(row: &Row, table: Table) {
    let names: Vec<&str> = row.cells.iter().map(|c| c.column).collect();
    let want: Vec<&str> = table.columns().iter().map(|c| c.name).collect();
    assert_eq!(names, want, "columns of a {table:?} row");
    assert!(!row.key.is_empty(), "a {table:?} row without a key");
    // What is sent and hashed must serialize whatever the values are.
    assert_eq!(row.content_hash().len(), 64);
    serde_json::to_string(&row.cells).unwrap();
}

/// Decoding either works or names where it failed (as the client reports it).
fn decode<T: serde::de::DeserializeOwned>(v: &Value) -> Result<T, String> {
    serde_path_to_error::deserialize(v).map_err(|e| {
        let named = format!("{}: {}", e.path(), e.inner());
        assert!(!named.trim().is_empty());
        named
    })
}

fn damage_list() -> impl Strategy<Value = Vec<(usize, Mutation)>> {
    prop::collection::vec((any::<usize>(), mutation()), 1..4)
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 256, ..ProptestConfig::default() })]

    #[test]
    fn a_damaged_workout_gives_a_row_or_a_named_error(
        which in 0..PAIRS.len(),
        workout_damage in damage_list(),
        graph_damage in damage_list(),
        tz in prop::option::of(prop_oneof![Just("America/New_York"), Just("Nowhere/Invalid"), Just("")]),
    ) {
        let mut w = fixture(&format!("workout_{}.json", PAIRS[which]));
        let mut g = fixture(&format!("performance_graph_{}.json", PAIRS[which]));
        for (pick, m) in workout_damage {
            mutate(&mut w, pick, m);
        }
        for (pick, m) in graph_damage {
            mutate(&mut g, pick, m);
        }
        let Ok(workout) = decode::<Workout>(&w) else { return Ok(()); };
        let Ok(graph) = decode::<PerformanceGraph>(&g) else { return Ok(()); };
        match rows::workout_row(&workout, &graph, tz) {
            Ok(row) => assert_complete(&row, Table::Workouts),
            Err(e) => prop_assert!(!e.user_message().trim().is_empty()),
        }
    }

    #[test]
    fn a_damaged_list_gives_friend_rows_or_named_errors(
        damage in prop::collection::vec((any::<usize>(), mutation()), 1..6),
        friend_damage in damage_list(),
    ) {
        let mut page = fixture("workouts_page_rower_joins_ride.json");
        for (pick, m) in damage {
            mutate(&mut page, pick, m);
        }
        let mut friend = json!({
            "id": "0f1e2d3c4b5a69788796a5b4c3d2e1f0",
            "username": "PowerZonePal",
            "location": "Leeds, UK",
            "image_url": "https://example.invalid/a.png",
            "is_profile_private": false,
            "total_workouts": 812
        });
        for (pick, m) in friend_damage {
            mutate(&mut friend, pick, m);
        }
        let Ok(page) = decode::<Page<Workout>>(&page) else { return Ok(()); };
        let friend: Result<FollowedUser, String> = decode(&friend);
        if let Ok(friend) = &friend {
            let row = rows::friend_row(friend);
            prop_assert_eq!(row.cells.len(), Table::Friends.columns().len());
        }
        let friend = friend.unwrap_or_else(|_| decode(&json!({"id": "f"})).unwrap());
        for w in &page.data {
            match rows::friend_workout_row(&friend, w, Some("Europe/London")) {
                Ok(row) => assert_complete(&row, Table::FriendWorkouts),
                Err(e) => prop_assert!(!e.user_message().trim().is_empty()),
            }
        }
    }
}

/// The fixtures themselves map cleanly: the properties above start from
/// data that works.
#[test]
fn undamaged_fixtures_give_rows() {
    for name in PAIRS {
        let w: Workout = decode(&fixture(&format!("workout_{name}.json"))).unwrap();
        let g: PerformanceGraph =
            decode(&fixture(&format!("performance_graph_{name}.json"))).unwrap();
        let row = rows::workout_row(&w, &g, None).unwrap();
        assert_complete(&row, Table::Workouts);
    }
}
