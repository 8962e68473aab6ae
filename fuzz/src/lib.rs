//! What the `peloton_parse` fuzz target does with its bytes: decode them as
//! every Peloton answer the sync reads (a workout, a page of workouts, a
//! performance graph, a followed member, a page of them), then map whatever
//! decoded to rows. Decoding may fail; nothing may panic, and a row always
//! has every column of its table or comes back as an error with a sentence.
//!
//! Kept free of libFuzzer so the same function runs on stable, over the
//! fixtures, in `core/tests/fuzz_smoke.rs`.

use pcs_core::peloton::types::{FollowedUser, Page, PerformanceGraph, Workout};
use pcs_core::rows::{self, Row, RowError};
use pcs_core::tables::Table;

/// Time zones the mapping is tried with, chosen by the first byte.
const ZONES: [Option<&str>; 4] = [None, Some("America/New_York"), Some("Not/AZone"), Some("")];

/// Parses `data` as each Peloton answer type and maps the results to rows.
/// Panics only when a property is broken (that is the fuzzer's finding).
pub fn peloton_parse(data: &[u8]) {
    let tz = ZONES[usize::from(data.first().copied().unwrap_or(0)) % ZONES.len()];
    let workout = serde_json::from_slice::<Workout>(data);
    let graph = serde_json::from_slice::<PerformanceGraph>(data).unwrap_or_default();
    if let Ok(w) = &workout {
        check(rows::workout_row(w, &graph, tz), Table::Workouts);
    }
    let friend = serde_json::from_slice::<FollowedUser>(data);
    if let Ok(f) = &friend {
        let row = rows::friend_row(f);
        assert_eq!(row.cells.len(), Table::Friends.columns().len());
        let _ = row.content_hash();
    }
    if let Ok(page) = serde_json::from_slice::<Page<Workout>>(data) {
        let _ = page.has_next();
        let someone: FollowedUser = match friend {
            Ok(f) => f,
            Err(_) => match serde_json::from_str(r#"{"id": "f"}"#) {
                Ok(f) => f,
                Err(_) => return,
            },
        };
        for w in &page.data {
            check(
                rows::friend_workout_row(&someone, w, tz),
                Table::FriendWorkouts,
            );
        }
    }
    if let Ok(page) = serde_json::from_slice::<Page<FollowedUser>>(data) {
        for f in &page.data {
            let _ = rows::friend_row(f).content_hash();
        }
    }
}

fn check(result: Result<Row, RowError>, table: Table) {
    match result {
        Ok(row) => {
            let names: Vec<&str> = row.cells.iter().map(|c| c.column).collect();
            let want: Vec<&str> = table.columns().iter().map(|c| c.name).collect();
            assert_eq!(names, want);
            assert!(!row.key.is_empty());
            let _ = row.content_hash();
        }
        Err(e) => assert!(!e.user_message().trim().is_empty()),
    }
}
