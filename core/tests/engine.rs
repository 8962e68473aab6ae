//! The engine in process, against both fakes, with a manual clock: a table
//! of run scenarios (each a list of steps and what the doc and the last
//! report must show), and a property test that kills runs at any point.

#![allow(clippy::unwrap_used, clippy::expect_used)] // tests

use std::collections::BTreeSet;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use chrono::TimeZone;
use fake_coda::FakeCoda;
use fake_peloton::{EntryDrift, FakePeloton, FriendSpec, GraphFault, ListKind};
use pcs_core::clock::{ManualClock, SharedClock};
use pcs_core::coda::{CodaClient, CodaConfig};
use pcs_core::net::{RateLimit, RetryBudget, RetryPolicy};
use pcs_core::peloton::{PelotonClient, PelotonConfig};
use pcs_core::secrets::MemoryStore;
use pcs_core::store::Store;
use pcs_core::sync::{Engine, EngineConfig, RunOptions, RunReport, TableTarget};
use pcs_core::tables::Table;
use proptest::prelude::*;
use secrecy::SecretString;
use tokio_util::sync::CancellationToken;

const WORKOUTS: usize = 12;

/// Workouts columns filled from the performance graph alone.
const GRAPH_COLUMNS: [&str; 4] = [
    "Avg Output (W)",
    "Calories (kcal)",
    "Avg Heart Rate (bpm)",
    "Distance",
];

/// Both fakes, a home for the state, a manual clock and the settings the
/// next engine is built with.
struct World {
    peloton: Mutex<Arc<FakePeloton>>,
    coda: Mutex<Arc<FakeCoda>>,
    home: tempfile::TempDir,
    clock: ManualClock,
    per_friend: Mutex<u32>,
    page_limit: Mutex<u32>,
    /// While set, Coda's address is a server that accepts connections and
    /// never answers (its URL; the task holds the connections).
    hanging_coda: Mutex<Option<(String, tokio::task::JoinHandle<()>)>>,
    /// The wall time each `Sync` step took (the reports' own times come
    /// from the manual clock).
    took: Mutex<Vec<Duration>>,
    /// The workouts whose `start_time` a step drifted, with the value it had.
    drifted: Mutex<Vec<(String, serde_json::Value)>>,
}

/// A server that accepts connections and never answers.
async fn hanging_server() -> (String, tokio::task::JoinHandle<()>) {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    let task = tokio::spawn(async move {
        let mut held = Vec::new();
        while let Ok((conn, _)) = listener.accept().await {
            held.push(conn);
        }
    });
    (url, task)
}

/// The retry budget of a run against a hanging server: small, so the test
/// shows the run ends when it is spent (the real one is 10 minutes).
const HANGING_BUDGET: Duration = Duration::from_secs(2);

fn fast() -> RetryPolicy {
    RetryPolicy {
        base: Duration::from_millis(5),
        floor_429: Duration::from_millis(5),
        max_delay: Duration::from_millis(50),
        max_attempts: 6,
        max_consecutive_429: 6,
        budget: RetryBudget::new(Duration::from_secs(30)),
    }
}

fn rate() -> RateLimit {
    RateLimit {
        requests: 1000,
        per: Duration::from_secs(1),
    }
}

async fn peloton(email: &str, user_id: &str, seed: u64, workouts: usize) -> FakePeloton {
    FakePeloton::start(fake_peloton::Config {
        email: email.into(),
        user_id: user_id.into(),
        seed,
        workouts,
        friends: vec![
            FriendSpec::public("PowerZonePal", 6),
            FriendSpec::public("TreadBuddy", 3),
        ],
        ..fake_peloton::Config::default()
    })
    .await
}

async fn coda(doc_id: &str) -> FakeCoda {
    coda_without(doc_id, None).await
}

/// A doc lacking `table` (the user never made it).
async fn coda_without(doc_id: &str, table: Option<&str>) -> FakeCoda {
    let mut config = fake_coda::Config {
        doc_id: doc_id.into(),
        ..fake_coda::Config::default()
    }
    .without_rate_limits();
    if let Some(table) = table {
        config = config.without_table(table);
    }
    FakeCoda::start(config).await
}

impl World {
    async fn start(workouts: usize) -> World {
        World {
            peloton: Mutex::new(Arc::new(
                peloton("rider@example.com", &"a".repeat(32), 1, workouts).await,
            )),
            coda: Mutex::new(Arc::new(coda("AbCDeFGH").await)),
            home: tempfile::tempdir().unwrap(),
            clock: ManualClock::new(chrono::Utc.with_ymd_and_hms(2026, 3, 2, 9, 0, 0).unwrap()),
            per_friend: Mutex::new(3),
            page_limit: Mutex::new(5),
            hanging_coda: Mutex::new(None),
            took: Mutex::new(Vec::new()),
            drifted: Mutex::new(Vec::new()),
        }
    }

    fn peloton(&self) -> Arc<FakePeloton> {
        self.peloton.lock().unwrap().clone()
    }

    fn coda(&self) -> Arc<FakeCoda> {
        self.coda.lock().unwrap().clone()
    }

    fn state(&self) -> Store {
        Store::open(&self.home.path().join("state.db")).unwrap()
    }

    /// A fresh engine, as a new process builds it.
    fn engine(&self) -> Engine {
        let (p, c) = (self.peloton(), self.coda());
        let clock: SharedClock = Arc::new(self.clock.clone());
        // One budget for both services, as the binaries build it; a short
        // timeout and budget while Coda hangs.
        let hanging = self
            .hanging_coda
            .lock()
            .unwrap()
            .as_ref()
            .map(|h| h.0.clone());
        // While Coda hangs, only the budget may end the run: attempts are
        // not what stops it.
        let (coda_url, timeout, budget, max_attempts) = match hanging {
            Some(url) => (url, Duration::from_millis(300), HANGING_BUDGET, 1000),
            None => (c.url(), Duration::from_secs(5), Duration::from_secs(30), 6),
        };
        let retry = RetryPolicy {
            budget: RetryBudget::new(budget),
            max_attempts,
            ..fast()
        };
        let peloton = PelotonClient::new(
            PelotonConfig {
                api_url: p.url(),
                auth_url: p.url(),
                rate: rate(),
                timeout: Duration::from_secs(5),
                retry: retry.clone(),
                page_limit: *self.page_limit.lock().unwrap(),
                dump_dir: Some(self.home.path().join("logs")),
                ..PelotonConfig::default()
            },
            clock.clone(),
            Arc::new(MemoryStore::new()),
            p.email(),
            Some(SecretString::from(p.password())),
        )
        .unwrap();
        let coda = CodaClient::new(
            CodaConfig {
                api_url: coda_url,
                read_rate: rate(),
                write_rate: rate(),
                timeout,
                retry,
                batch_rows: 4,
                mutation_poll: Duration::from_millis(20),
                ..CodaConfig::default()
            },
            SecretString::from(c.token()),
        )
        .unwrap();
        let config = EngineConfig {
            doc: c.doc_url(),
            tables: Table::ALL
                .into_iter()
                .map(|t| TableTarget {
                    table: t,
                    name: t.default_name().into(),
                    enabled: true,
                })
                .collect(),
            friend_workouts_per_friend: *self.per_friend.lock().unwrap(),
            lock_file: self.home.path().join("sync.lock"),
            lock_wait: Duration::ZERO,
            avatars: None,
        };
        Engine::new(peloton, coda, self.state(), clock, config)
    }

    async fn sync_with(&self, opts: RunOptions, cancel: &CancellationToken) -> RunReport {
        let report = self.engine().run(opts, &|_| {}, cancel).await.unwrap();
        self.coda().wait_idle().await;
        report
    }

    async fn sync(&self) -> RunReport {
        self.sync_with(RunOptions::default(), &CancellationToken::new())
            .await
    }

    /// The keys of a table in the doc.
    fn keys(&self, table: Table) -> Vec<String> {
        self.coda()
            .rows(table.default_name())
            .iter()
            .map(|r| {
                r[table.key_column()]
                    .as_str()
                    .unwrap_or_default()
                    .to_string()
            })
            .collect()
    }

    /// The Workouts row of workout `id`.
    fn workout_row(&self, id: &str) -> serde_json::Map<String, serde_json::Value> {
        let rows = self.coda().rows(Table::Workouts.default_name());
        rows.into_iter()
            .find(|r| r[Table::Workouts.key_column()] == id)
            .unwrap_or_else(|| panic!("no Workouts row for {id}"))
    }

    /// Whether the graph's cells of workout `id`'s row are all empty.
    fn graph_cells_empty(&self, id: &str) -> bool {
        let row = self.workout_row(id);
        GRAPH_COLUMNS
            .iter()
            .all(|c| row.get(*c).is_none_or(|v| v.is_null() || v == ""))
    }

    /// Every complete workout of the signed-in account is in the doc, once.
    fn assert_workouts_complete(&self) {
        let p = self.peloton();
        let want: BTreeSet<String> = p
            .workout_ids()
            .into_iter()
            .filter(|id| {
                p.workout_json(id)
                    .and_then(|w| w["status"].as_str().map(|s| s == "COMPLETE"))
                    .unwrap_or(true)
            })
            .collect();
        let keys = self.keys(Table::Workouts);
        let have: BTreeSet<String> = keys.iter().cloned().collect();
        let missing: Vec<_> = want.difference(&have).collect();
        assert!(missing.is_empty(), "missing from Workouts: {missing:?}");
        assert_eq!(keys.len(), have.len(), "duplicated keys in Workouts");
    }

    /// As [`World::assert_workouts_complete`], with `own` rows of the
    /// user's left in place.
    fn assert_workouts_complete_with_own_rows(&self, own: usize) {
        self.assert_workouts_complete();
        let theirs = self.peloton().workout_ids().len();
        assert_eq!(self.keys(Table::Workouts).len(), theirs + own);
    }

    fn assert_no_duplicates(&self) {
        let there = self.coda().table_names();
        for t in Table::ALL
            .into_iter()
            .filter(|t| there.iter().any(|n| n == t.default_name()))
        {
            let dups = self.coda().duplicate_keys(t.default_name(), t.key_column());
            assert!(dups.is_empty(), "{t:?} duplicated: {dups:?}");
        }
    }
}

/// One thing that happens in a scenario.
#[derive(Clone, Debug)]
enum Step {
    Sync,
    /// The clock moves on.
    Hours(i64),
    /// The user deletes this many rows of a table in Coda (all with `usize::MAX`).
    DeleteRows(Table, usize),
    /// The user deletes a table and makes it again, empty.
    RecreateTable(Table),
    /// The user deletes a column and makes it again, empty (a new column ID).
    RecreateColumn(Table, &'static str),
    /// The settings point at another doc with the same tables.
    SwitchDoc,
    /// The settings point at another doc, one without this table.
    SwitchDocWithout(Table),
    /// Another Peloton account signs in.
    SwitchAccount,
    /// Peloton adds workouts.
    AddWorkouts(usize),
    /// One workout's start time turns into a string (in the list and the
    /// detail).
    DriftStartTime(usize),
    /// Peloton sends the drifted start times whole again.
    UndriftStartTimes,
    /// Only the list entry of one workout drifts: its detail reads fine.
    DriftListEntry(usize),
    /// One listed workout loses its id.
    DriftNullId(usize),
    /// The performance graph of one workout answers otherwise (its detail
    /// reads fine).
    Graph(usize, GraphFault),
    /// Every performance graph answers normally again.
    GraphsWhole,
    /// The performance graph of one workout answers normally again.
    GraphWhole(usize),
    /// The newest workout of the friend with this username loses its start
    /// time (`null`) in their list.
    DriftFriendStartTime(&'static str),
    /// The entry of the friend with this username in the list of people
    /// followed drifts (a string workout count): it no longer decodes.
    DriftFriend(&'static str),
    /// The newest workout of the friend with this username drifts in their
    /// list (a string start time): the entry no longer decodes.
    DriftFriendEntry(&'static str),
    /// The stored copy of one workout's detail gets damaged on disk.
    DamageStored(usize),
    /// The friend-workout setting changes.
    PerFriend(u32),
    /// Both fakes forget their request logs.
    ResetLogs,
    /// The user adds a row of their own to a table.
    AddUserRow(Table),
    /// Coda accepts connections and never answers, until `CodaAnswers`.
    CodaHangs,
    /// Coda answers again.
    CodaAnswers,
}

/// The newest workout of the friend with this username gets `start` as its
/// start time in their list.
fn drift_friends_newest(w: &World, name: &str, start: serde_json::Value) {
    let friend = w.peloton().friend_id(name).unwrap();
    let id = w.peloton().user_workout_ids(&friend)[0].clone();
    w.peloton()
        .faults()
        .drift_entry(EntryDrift::of(ListKind::Workouts, &id, "start_time", start));
}

async fn play(w: &World, steps: &[Step]) -> Vec<RunReport> {
    let mut reports = Vec::new();
    for step in steps {
        match step {
            Step::Sync => {
                let start = std::time::Instant::now();
                reports.push(w.sync().await);
                w.took.lock().unwrap().push(start.elapsed());
            }
            Step::Hours(h) => w.clock.advance(chrono::Duration::hours(*h)),
            Step::DeleteRows(table, n) => {
                let deleted = w.coda().delete_first_rows(table.default_name(), *n);
                assert!(deleted > 0, "nothing to delete in {table:?}");
            }
            Step::RecreateTable(table) => {
                w.coda().recreate_table(table.default_name(), None);
            }
            Step::RecreateColumn(table, column) => {
                w.coda().recreate_column(table.default_name(), column);
            }
            Step::SwitchDoc => *w.coda.lock().unwrap() = Arc::new(coda("ZyXWvUTS").await),
            Step::SwitchDocWithout(table) => {
                let without = coda_without("ZyXWvUTS", Some(table.default_name())).await;
                *w.coda.lock().unwrap() = Arc::new(without);
            }
            Step::SwitchAccount => {
                *w.peloton.lock().unwrap() =
                    Arc::new(peloton("other@example.com", &"b".repeat(32), 7, 5).await);
            }
            Step::AddWorkouts(n) => {
                w.peloton().add_workouts(*n);
            }
            Step::DriftStartTime(i) => {
                let id = w.peloton().workout_ids()[*i].clone();
                let was = w.peloton().workout_json(&id).unwrap()["start_time"].clone();
                w.drifted.lock().unwrap().push((id.clone(), was));
                w.peloton()
                    .update_workout(&id, |v| v["start_time"] = "yesterday".into());
            }
            Step::UndriftStartTimes => {
                for (id, was) in w.drifted.lock().unwrap().drain(..) {
                    w.peloton().update_workout(&id, |v| v["start_time"] = was);
                }
            }
            Step::DriftListEntry(i) => {
                w.peloton().faults().drift_entry(EntryDrift::at(
                    ListKind::Workouts,
                    *i,
                    "start_time",
                    "yesterday".into(),
                ));
            }
            Step::DriftNullId(i) => {
                let id = w.peloton().workout_ids()[*i].clone();
                w.peloton()
                    .update_workout(&id, |v| v["id"] = serde_json::Value::Null);
            }
            Step::Graph(i, fault) => {
                let id = w.peloton().workout_ids()[*i].clone();
                w.peloton().faults().set_graph_fault(&id, Some(*fault));
            }
            Step::GraphWhole(i) => {
                let id = w.peloton().workout_ids()[*i].clone();
                w.peloton().faults().set_graph_fault(&id, None);
            }
            Step::GraphsWhole => {
                for id in w.peloton().workout_ids() {
                    w.peloton().faults().set_graph_fault(&id, None);
                }
            }
            Step::DriftFriendStartTime(name) => {
                drift_friends_newest(w, name, serde_json::Value::Null);
            }
            Step::DriftFriend(name) => {
                let friend = w.peloton().friend_id(name).unwrap();
                w.peloton().faults().drift_entry(EntryDrift::of(
                    ListKind::Following,
                    &friend,
                    "total_workouts",
                    "many".into(),
                ));
            }
            Step::DriftFriendEntry(name) => drift_friends_newest(w, name, "yesterday".into()),
            Step::DamageStored(i) => {
                let id = w.peloton().workout_ids()[*i].clone();
                let db = rusqlite::Connection::open(w.home.path().join("state.db")).unwrap();
                let changed = db
                    .execute(
                        "UPDATE workouts SET detail_json = '{\"id\": 7' WHERE id = ?1",
                        [&id],
                    )
                    .unwrap();
                assert_eq!(changed, 1, "workout {id} is stored");
            }
            Step::PerFriend(n) => *w.per_friend.lock().unwrap() = *n,
            Step::AddUserRow(table) => {
                let key = serde_json::Value::from("my own row");
                w.coda()
                    .insert_user_row(table.default_name(), &[(table.key_column(), key)]);
            }
            Step::CodaHangs => *w.hanging_coda.lock().unwrap() = Some(hanging_server().await),
            Step::CodaAnswers => {
                if let Some((_, task)) = w.hanging_coda.lock().unwrap().take() {
                    task.abort();
                }
            }
            Step::ResetLogs => {
                w.coda().reset_log();
                w.peloton().reset_log();
            }
        }
    }
    reports
}

/// A scenario: its steps, then what must hold.
struct Case {
    name: &'static str,
    steps: Vec<Step>,
    expect: fn(&World, &[RunReport]),
}

async fn check(case: Case) {
    let w = World::start(WORKOUTS).await;
    let reports = play(&w, &case.steps).await;
    w.assert_no_duplicates();
    (case.expect)(&w, &reports);
    eprintln!("scenario ok: {}", case.name);
}

fn last(reports: &[RunReport]) -> &RunReport {
    reports.last().expect("a run")
}

fn cases() -> Vec<Case> {
    use Step::*;
    vec![
        Case {
            name: "a second doc with the same tables gets every row",
            steps: vec![Sync, SwitchDoc, Sync],
            expect: |w, r| {
                w.assert_workouts_complete();
                assert_eq!(w.keys(Table::Friends).len(), 2);
                assert!(!w.keys(Table::Instructors).is_empty());
                assert!(!w.keys(Table::FriendWorkouts).is_empty());
                assert!(last(r).ok(), "{:?}", last(r).problems);
            },
        },
        Case {
            name: "a table made again gets every row",
            steps: vec![Sync, RecreateTable(Table::Workouts), Sync],
            expect: |w, r| {
                w.assert_workouts_complete();
                assert!(last(r)
                    .notes
                    .iter()
                    .any(|n| n.contains("every row is written")));
            },
        },
        Case {
            name: "a column deleted and made again is filled again",
            steps: vec![
                Sync,
                RecreateColumn(Table::Workouts, "Calories (kcal)"),
                Sync,
            ],
            expect: |w, r| {
                let rows = w.coda().rows(Table::Workouts.default_name());
                let filled = rows
                    .iter()
                    .filter(|r| r.get("Calories (kcal)").is_some_and(|v| v.is_number()))
                    .count();
                assert!(filled > 0, "no calories in {} rows", rows.len());
                // Every row was sent again, so none is left empty but by Peloton.
                assert_eq!(
                    last(r).written.get("workouts").copied(),
                    Some(rows.len() as u64)
                );
                assert!(last(r)
                    .notes
                    .iter()
                    .any(|n| n.contains("a column that is new or was made again")));
            },
        },
        Case {
            name: "rows deleted by hand come back, once Coda's reads can show them",
            steps: vec![
                Sync,
                DeleteRows(Table::Workouts, 5),
                DeleteRows(Table::Instructors, usize::MAX),
                DeleteRows(Table::Friends, 1),
                // Within the hour a listing may lag the writes (coda-api.md
                // §7): a row missing from it is not taken as deleted yet.
                Sync,
                Hours(2),
                Sync,
            ],
            expect: |w, r| {
                assert_eq!(r[1].written.get("workouts").copied().unwrap_or(0), 0);
                w.assert_workouts_complete();
                assert_eq!(w.keys(Table::Friends).len(), 2);
                let want: BTreeSet<String> = w.peloton().instructor_ids().into_iter().collect();
                let have: BTreeSet<String> = w.keys(Table::Instructors).into_iter().collect();
                assert!(want.is_subset(&have), "instructors missing");
                assert_eq!(last(r).written.get("workouts"), Some(&5));
            },
        },
        Case {
            name: "a quiet run writes nothing, reads each row count and lists no keys",
            // The second run lists every table's keys once (the daily check).
            steps: vec![Sync, Sync, ResetLogs, Sync],
            expect: |w, r| {
                assert_eq!(last(r).coda_writes, 0);
                let gets = |suffix: &str| {
                    w.coda()
                        .requests()
                        .iter()
                        .filter(|l| l.method == "GET" && l.path.ends_with(suffix))
                        .count()
                };
                assert_eq!(gets("/rows"), 0, "key listings in a quiet run");
                let counts = w
                    .coda()
                    .requests()
                    .iter()
                    .filter(|l| l.method == "GET" && l.path.contains("/tables/grid-"))
                    .filter(|l| !l.path.ends_with("/columns") && !l.path.ends_with("/rows"))
                    .count();
                assert_eq!(counts, Table::ALL.len(), "one row count per table");
                // Personal Bests were written once and, unchanged, not again.
                assert!(!w.keys(Table::PersonalBests).is_empty());
                assert_eq!(
                    r[0].written.get("personal_bests").copied(),
                    Some(w.keys(Table::PersonalBests).len() as u64)
                );
                assert_eq!(last(r).written.get("personal_bests"), None);
            },
        },
        Case {
            name: "a doc without the optional Personal Bests table syncs without a problem",
            steps: vec![SwitchDocWithout(Table::PersonalBests), Sync, Sync],
            expect: |w, r| {
                w.assert_workouts_complete();
                for report in r {
                    assert!(report.ok(), "{:?}", report.problems);
                    assert_eq!(report.written.get("personal_bests"), None);
                }
            },
        },
        Case {
            name: "keys are listed once a day even when counts agree",
            steps: vec![
                Sync,
                Sync,
                DeleteRows(Table::Workouts, 1),
                AddUserRow(Table::Workouts),
                Sync,
                Hours(25),
                Sync,
            ],
            expect: |w, r| {
                // Equal counts hide the deleted row until the daily listing.
                assert_eq!(r[2].written.get("workouts").copied().unwrap_or(0), 0);
                assert_eq!(last(r).written.get("workouts"), Some(&1));
                w.assert_workouts_complete_with_own_rows(1);
            },
        },
        Case {
            name: "another account starts afresh and never mixes",
            steps: vec![Sync, SwitchAccount, Sync],
            expect: |w, r| {
                let state = w.state();
                let stored = state.stored_workouts().unwrap();
                let theirs: BTreeSet<String> = w.peloton().workout_ids().into_iter().collect();
                assert_eq!(stored.len(), theirs.len());
                assert!(stored.iter().all(|s| theirs.contains(&s.id)));
                w.assert_workouts_complete();
                assert!(last(r)
                    .notes
                    .iter()
                    .any(|n| n.contains("Another Peloton account")));
                // Personal Bests hold the new account's bests only: the
                // first account's that it lacks were deleted.
                let doc: BTreeSet<String> = w.keys(Table::PersonalBests).into_iter().collect();
                let kept: BTreeSet<String> = state
                    .written_keys(Table::PersonalBests)
                    .unwrap()
                    .into_iter()
                    .collect();
                assert_eq!(doc, kept);
                assert_eq!(
                    last(r).written.get("personal_bests").copied(),
                    Some(doc.len() as u64),
                    "every best in the doc is the new account's"
                );
                assert!(
                    r[0].written.get("personal_bests").copied().unwrap_or(0) > doc.len() as u64,
                    "the first account had bests the second lacks"
                );
            },
        },
        Case {
            name: "a drifted entry is left out by name, the rest is written",
            steps: vec![DriftStartTime(2), DriftNullId(4), Sync],
            expect: |w, r| {
                let keys: BTreeSet<String> = w.keys(Table::Workouts).into_iter().collect();
                assert_eq!(keys.len(), WORKOUTS - 2, "{keys:?}");
                // A workout of the user's left out is said, and is not ok.
                let drifted = w.peloton().workout_ids()[2].clone();
                let said: Vec<&String> = last(r).problems.iter().map(|p| &p.message).collect();
                assert!(said.iter().any(|n| n.contains(&drifted)), "{said:?}");
                assert!(said.iter().any(|n| n.contains("without an id")), "{said:?}");
                assert!(!last(r).ok());
            },
        },
        Case {
            // Listed past the first page, so later runs never list it again:
            // the queue keeps it, every run names it, and it is written once
            // Peloton sends it whole.
            name: "a drifted workout on a later page is tried every run until written",
            steps: vec![DriftStartTime(7), Sync, Sync, UndriftStartTimes, Sync],
            expect: |w, r| {
                let drifted = w.peloton().workout_ids()[7].clone();
                for report in &r[..2] {
                    let said: Vec<&String> = report.problems.iter().map(|p| &p.message).collect();
                    assert!(said.iter().any(|n| n.contains(&drifted)), "{said:?}");
                    assert!(!report.ok());
                }
                assert!(w.keys(Table::Workouts).contains(&drifted));
                w.assert_workouts_complete();
                assert!(last(r).ok(), "{:?}", last(r).problems);
            },
        },
        Case {
            name: "a list entry that drifted is fetched by its id and written",
            steps: vec![DriftListEntry(7), Sync, Sync],
            expect: |w, r| {
                let drifted = w.peloton().workout_ids()[7].clone();
                w.assert_workouts_complete();
                assert!(r[0].ok(), "{:?}", r[0].problems);
                assert!(
                    r[0].notes.iter().any(|n| n.contains(&drifted)),
                    "{:?}",
                    r[0].notes
                );
                // Stored, it is not fetched again while its entry stays odd.
                assert!(last(r).ok(), "{:?}", last(r).problems);
                assert_eq!(last(r).written.get("workouts").copied().unwrap_or(0), 0);
            },
        },
        Case {
            name: "a workout Peloton has no graph of is written without the graph's cells",
            steps: vec![Graph(3, GraphFault::Missing), Sync],
            expect: |w, r| {
                let id = w.peloton().workout_ids()[3].clone();
                w.assert_workouts_complete();
                assert!(w.graph_cells_empty(&id), "{:?}", w.workout_row(&id));
                let other = w.peloton().workout_ids()[4].clone();
                assert!(!w.graph_cells_empty(&other), "{:?}", w.workout_row(&other));
                assert!(last(r).ok(), "{:?}", last(r).problems);
                let notes = &last(r).notes;
                assert!(notes.iter().any(|n| n.contains(&id)), "{notes:?}");
                assert!(w
                    .state()
                    .queued_workouts(&w.peloton().user_id())
                    .unwrap()
                    .is_empty());
            },
        },
        Case {
            name: "a workout whose graph drifted is written without the graph's cells, said once",
            steps: vec![
                Graph(3, GraphFault::Drifted),
                Graph(6, GraphFault::Drifted),
                Sync,
            ],
            expect: |w, r| {
                let ids = w.peloton().workout_ids();
                w.assert_workouts_complete();
                assert!(w.graph_cells_empty(&ids[3]), "{:?}", w.workout_row(&ids[3]));
                assert!(w.graph_cells_empty(&ids[6]), "{:?}", w.workout_row(&ids[6]));
                assert!(last(r).ok(), "{:?}", last(r).problems);
                let said: Vec<&String> = last(r)
                    .notes
                    .iter()
                    .filter(|n| n.contains("performance graph"))
                    .collect();
                assert_eq!(said.len(), 1, "{said:?}");
                assert!(said[0].contains("2 workouts") && said[0].contains("report"));
            },
        },
        Case {
            // A graph that may come back (5xx after the retries) keeps the
            // workout queued; the next run writes it whole.
            name: "a workout whose graph fails for now waits in the queue",
            steps: vec![Graph(3, GraphFault::Unavailable), Sync, GraphsWhole, Sync],
            expect: |w, r| {
                let id = w.peloton().workout_ids()[3].clone();
                assert!(!r[0].ok());
                assert_eq!(r[0].written.get("workouts"), Some(&(WORKOUTS as u64 - 1)));
                assert!(last(r).ok(), "{:?}", last(r).problems);
                w.assert_workouts_complete();
                assert!(!w.graph_cells_empty(&id), "{:?}", w.workout_row(&id));
            },
        },
        Case {
            // Newest first, the four graphs Peloton never sends come first
            // (as many as are fetched at once): the backfill passes them by
            // for a week instead of stopping there every run.
            name: "graphs that never come do not stop the archive backfill",
            steps: vec![
                Graph(0, GraphFault::Missing),
                Graph(1, GraphFault::Missing),
                Graph(2, GraphFault::Drifted),
                Graph(3, GraphFault::Missing),
                Graph(4, GraphFault::Drifted),
                Sync,
                GraphWhole(4),
                Hours(24 * 8),
                Sync,
                ResetLogs,
                Hours(1),
                Sync,
            ],
            expect: |w, r| {
                let ids = w.peloton().workout_ids();
                let state = w.state();
                assert!(state.archived_graph(&ids[4]).unwrap().is_some());
                assert!(
                    !w.graph_cells_empty(&ids[4]),
                    "{:?}",
                    w.workout_row(&ids[4])
                );
                for id in &ids[..4] {
                    assert!(state.archived_graph(id).unwrap().is_none());
                    assert!(w.graph_cells_empty(id));
                }
                // Within the week, nobody asks for them.
                let graphs = w
                    .peloton()
                    .count(|l| l.path.ends_with("/performance_graph"));
                assert_eq!(graphs, 0);
                w.assert_workouts_complete();
                for report in r {
                    assert!(report.ok(), "{:?}", report.problems);
                }
            },
        },
        Case {
            name: "one friend's odd workout is said by name and fails nothing",
            steps: vec![DriftFriendStartTime("PowerZonePal"), Sync],
            expect: |w, r| {
                let report = last(r);
                assert!(report.ok(), "{:?}", report.problems);
                let friend = w.peloton().friend_id("PowerZonePal").unwrap();
                let theirs = w.peloton().user_workout_ids(&friend);
                let other = w.peloton().friend_id("TreadBuddy").unwrap();
                let keys: BTreeSet<String> = w.keys(Table::FriendWorkouts).into_iter().collect();
                let want: BTreeSet<String> = theirs[1..3]
                    .iter()
                    .chain(&w.peloton().user_workout_ids(&other)[..3])
                    .cloned()
                    .collect();
                assert_eq!(keys, want);
                let said: Vec<&String> = report.problems.iter().map(|p| &p.message).collect();
                assert!(
                    said.iter()
                        .any(|m| m.contains("PowerZonePal") && m.contains(&theirs[0])),
                    "{said:?}"
                );
                w.assert_workouts_complete();
            },
        },
        Case {
            // Never forgotten: a stored copy that cannot be read back is
            // fetched again, and its row is written from the new copy.
            name: "a damaged stored workout is fetched again and written",
            steps: vec![Sync, DamageStored(3), Sync, Sync],
            expect: |w, r| {
                let id = w.peloton().workout_ids()[3].clone();
                let said: Vec<&String> = r[1].problems.iter().map(|p| &p.message).collect();
                assert!(
                    said.iter()
                        .any(|m| m.contains(&id) && m.contains("fetched from Peloton again")),
                    "{said:?}"
                );
                let detail = format!("/api/workout/{id}");
                assert_eq!(w.peloton().count(|q| q.path == detail), 2, "fetched again");
                assert!(last(r).ok(), "{:?}", last(r).problems);
                let stored = w.state().stored_workouts().unwrap();
                let copy = stored.iter().find(|s| s.id == id).unwrap();
                assert!(serde_json::from_str::<serde_json::Value>(&copy.detail_json).is_ok());
                w.assert_workouts_complete();
            },
        },
        Case {
            // A list with an entry left out is not the whole truth: the
            // friend it may name keeps their rows until it reads whole.
            name: "a friend left out of the list keeps their rows",
            steps: vec![Sync, DriftFriend("PowerZonePal"), Sync],
            expect: |w, r| {
                let friend = w.peloton().friend_id("PowerZonePal").unwrap();
                assert!(w.keys(Table::Friends).contains(&friend));
                let theirs = w.peloton().user_workout_ids(&friend);
                let keys = w.keys(Table::FriendWorkouts);
                assert!(theirs[..3].iter().all(|id| keys.contains(id)), "{keys:?}");
                let report = last(r);
                assert!(
                    report.deleted.values().all(|n| *n == 0),
                    "{:?}",
                    report.deleted
                );
                assert!(
                    report.notes.iter().any(|n| n.contains(&friend)),
                    "{:?}",
                    report.notes
                );
            },
        },
        Case {
            name: "a friend's workout left out of their list keeps its row",
            steps: vec![Sync, DriftFriendEntry("PowerZonePal"), Sync],
            expect: |w, r| {
                let friend = w.peloton().friend_id("PowerZonePal").unwrap();
                let theirs = w.peloton().user_workout_ids(&friend);
                let keys = w.keys(Table::FriendWorkouts);
                assert!(keys.contains(&theirs[0]), "{keys:?}");
                let report = last(r);
                assert!(
                    report.deleted.values().all(|n| *n == 0),
                    "{:?}",
                    report.deleted
                );
                assert!(report.ok(), "{:?}", report.problems);
            },
        },
        Case {
            name: "friend workouts kept at 0 removes the rows this app wrote",
            steps: vec![Sync, PerFriend(0), Sync],
            expect: |w, r| {
                assert!(w.keys(Table::FriendWorkouts).is_empty());
                assert!(last(r).deleted.get("friend_workouts").copied().unwrap_or(0) > 0);
                assert_eq!(w.keys(Table::Friends).len(), 2);
            },
        },
        Case {
            // The retry budget counts the timeouts waited out, so a server
            // that never answers ends the run (not ok, one sentence) instead
            // of holding it and the sync lock; what Peloton gave is kept and
            // written by the next run.
            name: "a hanging Coda ends the run within the budget and loses nothing",
            steps: vec![Sync, AddWorkouts(7), CodaHangs, Sync, CodaAnswers, Sync],
            expect: |w, r| {
                let hung = &r[1];
                assert!(!hung.ok(), "a run against a hanging Coda said ok");
                let failure = hung.failure().expect("a failure");
                assert!(
                    failure.message.contains("Coda"),
                    "the sentence names Coda: {}",
                    failure.message
                );
                // Not a speed target: without the timeouts counted, the
                // 1000 attempts of 300 ms each would hold it for minutes.
                let took = w.took.lock().unwrap()[1];
                assert!(
                    took < HANGING_BUDGET + Duration::from_secs(30),
                    "the run held on for {took:?}"
                );
                assert!(last(r).ok(), "{:?}", last(r).problems);
                w.assert_workouts_complete();
            },
        },
        Case {
            name: "new workouts over several pages all arrive",
            steps: vec![Sync, AddWorkouts(23), Sync],
            expect: |w, _| w.assert_workouts_complete(),
        },
    ]
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn run_scenarios() {
    // `SCENARIO=text` runs only the scenarios whose name holds `text`.
    let only = std::env::var("SCENARIO").unwrap_or_default();
    for case in cases().into_iter().filter(|c| c.name.contains(&only)) {
        check(case).await;
    }
}

/// Waits until `cond` holds (polling), or forever: the caller races it.
async fn until(cond: impl Fn() -> bool) {
    while !cond() {
        tokio::time::sleep(Duration::from_millis(1)).await;
    }
}

/// Runs a sync and drops it (a kill at an await point) once Peloton has
/// answered `after` more requests; returns whether it was cut.
async fn killed_sync(w: &World, after: usize) -> bool {
    let p = w.peloton();
    let base = p.api_request_count();
    let engine = w.engine();
    let cancel = CancellationToken::new();
    let run = engine.run(RunOptions::default(), &|_| {}, &cancel);
    let cut = tokio::select! {
        _ = run => false,
        () = until(|| p.api_request_count() >= base + after) => true,
    };
    drop(engine);
    w.coda().wait_idle().await;
    cut
}

fn kill_case(page_limit: u32, new: usize, kill_after: usize, second_kill: usize) {
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    rt.block_on(async {
        let w = World::start(4).await;
        *w.page_limit.lock().unwrap() = page_limit;
        w.sync().await;
        w.peloton().add_workouts(new);
        killed_sync(&w, kill_after).await;
        killed_sync(&w, second_kill).await;
        let report = w.sync().await;
        w.assert_workouts_complete();
        w.assert_no_duplicates();
        assert!(report.ok(), "{:?}", report.problems);
        let state = w.state();
        assert!(state
            .queued_workouts(&w.peloton().user_id())
            .unwrap()
            .is_empty());
    });
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 12, ..ProptestConfig::default() })]

    /// Killed at any point, with any number of new workouts over any number
    /// of pages, the next run completes the doc.
    #[test]
    fn a_killed_run_never_forgets_a_listed_workout(
        page_limit in 1u32..8,
        new in 1usize..30,
        kill_after in 1usize..40,
        second_kill in 1usize..20,
    ) {
        kill_case(page_limit, new, kill_after, second_kill);
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_interrupted_run_is_not_ok_and_the_next_resumes() {
    let w = World::start(WORKOUTS).await;
    let cancel = CancellationToken::new();
    cancel.cancel();
    let report = w.sync_with(RunOptions::default(), &cancel).await;
    assert!(report.interrupted);
    assert!(!report.ok());
    assert_eq!(report.problems.len(), 1, "{:?}", report.problems);
    let last = w.state().last_run().unwrap().unwrap();
    assert_eq!(last.ok, Some(false));
    assert_eq!(
        last.errors,
        vec![pcs_core::sync::INTERRUPTED_SENTENCE.to_string()]
    );

    let report = w.sync().await;
    assert!(report.ok(), "{:?}", report.problems);
    w.assert_workouts_complete();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn write_every_row_again_sends_every_row_without_duplicates() {
    let w = World::start(WORKOUTS).await;
    w.sync().await;
    let report = w
        .sync_with(RunOptions { full: true }, &CancellationToken::new())
        .await;
    assert_eq!(report.written.get("workouts"), Some(&(WORKOUTS as u64)));
    w.assert_no_duplicates();
    w.assert_workouts_complete();
}
