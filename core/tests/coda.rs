//! The Coda client against the fake Coda server: finding the doc, checking
//! its schema, keyed upserts, deletes, paging and retries.

#![allow(clippy::unwrap_used, clippy::expect_used)] // tests

use std::time::Duration;

use fake_coda::{Config, FakeCoda};
use pcs_core::coda::{CodaClient, CodaConfig, CodaError, ResolvedTable, SchemaProblem};
use pcs_core::net::{RateLimit, RetryBudget, RetryPolicy};
use pcs_core::rows::{Cell, CellValue, Row};
use pcs_core::tables::{ColumnKind, Table};
use secrecy::SecretString;

const TOKEN: &str = "coda-test-token";

/// Fast pacing and short retries: the fake is local.
fn config(fake: &FakeCoda) -> CodaConfig {
    CodaConfig {
        api_url: fake.url(),
        read_rate: RateLimit {
            requests: 1000,
            per: Duration::from_secs(1),
        },
        write_rate: RateLimit {
            requests: 1000,
            per: Duration::from_secs(1),
        },
        timeout: Duration::from_secs(10),
        retry: RetryPolicy {
            base: Duration::from_millis(5),
            floor_429: Duration::from_millis(5),
            max_delay: Duration::from_millis(50),
            max_attempts: 12,
            max_consecutive_429: 12,
            budget: RetryBudget::new(Duration::from_secs(60)),
        },
        mutation_poll: Duration::from_millis(20),
        ..CodaConfig::default()
    }
}

fn client(fake: &FakeCoda) -> CodaClient {
    CodaClient::new(config(fake), SecretString::from(TOKEN)).unwrap()
}

async fn start(config: Config) -> FakeCoda {
    FakeCoda::start(config.without_rate_limits()).await
}

fn all_tables() -> Vec<(Table, String)> {
    Table::ALL
        .iter()
        .map(|t| (*t, t.default_name().to_string()))
        .collect()
}

async fn resolved(c: &CodaClient, doc: &str, table: Table) -> ResolvedTable {
    let report = c.check_schema(doc, &all_tables()).await.unwrap();
    report.resolved(table).expect("table passes").clone()
}

/// A full Workouts row: text, date-time, numbers, an empty cell, a checkbox.
fn workout(i: usize, title: &str) -> Row {
    let key = format!("w{i:05}");
    let cells = Table::Workouts
        .columns()
        .iter()
        .map(|spec| {
            let value = match (spec.name, spec.kind) {
                ("Workout ID", _) => CellValue::Text(key.clone()),
                ("Title", _) => CellValue::Text(title.to_string()),
                ("Leaderboard Rank", _) => CellValue::Empty,
                (_, ColumnKind::Text) => CellValue::Text("Cycling".into()),
                (_, ColumnKind::Number) => CellValue::Number(i as f64 + 0.5),
                (_, ColumnKind::DateTime) => CellValue::Text("2024-05-01T07:30:00-04:00".into()),
                (_, ColumnKind::Checkbox) => CellValue::Bool(i.is_multiple_of(2)),
            };
            Cell {
                column: spec.name,
                value,
            }
        })
        .collect();
    Row {
        table: Table::Workouts,
        key,
        cells,
    }
}

fn workouts(n: usize, title: &str) -> Vec<Row> {
    (0..n).map(|i| workout(i, title)).collect()
}

/// Waits until every mutation is applied, so the fake's rows can be checked.
async fn settle(c: &CodaClient, fake: &FakeCoda, ids: &[String]) {
    let pending = c
        .wait_for_mutations(ids, Duration::from_secs(30))
        .await
        .unwrap();
    assert!(pending.is_empty(), "mutations never completed: {pending:?}");
    fake.wait_idle().await;
}

#[tokio::test]
async fn resolves_the_doc_by_id_and_by_url() {
    let fake = start(Config::default()).await;
    let c = client(&fake);

    let by_id = c.resolve_doc(&fake.doc_id()).await.unwrap();
    assert_eq!(by_id.id, "AbCDeFGH");
    assert!(!by_id.name.is_empty());

    let by_url = c.resolve_doc(&fake.doc_url()).await.unwrap();
    assert_eq!(by_url, by_id);

    let with_page = format!("{}/Some-Page_suXYZ#Workouts_tgrid-x", fake.doc_url());
    assert_eq!(c.resolve_doc(&with_page).await.unwrap(), by_id);
}

#[tokio::test]
async fn an_unknown_doc_is_reported_as_not_found() {
    let fake = start(Config::default()).await;
    let c = client(&fake);
    let err = c.resolve_doc("ZZZZZZZZ").await.unwrap_err();
    assert!(matches!(err, CodaError::DocNotFound { .. }), "{err:?}");
    assert!(err.user_message().contains("ZZZZZZZZ"));
}

#[tokio::test]
async fn whoami_describes_the_token_owner() {
    let fake = start(Config::default()).await;
    let me = client(&fake).whoami().await.unwrap();
    assert!(!me.name.is_empty());
    assert!(me.login_id.contains('@'), "{me:?}");
}

#[tokio::test]
async fn a_wrong_token_is_refused() {
    let fake = start(Config::default()).await;
    let c = CodaClient::new(config(&fake), SecretString::from("not-the-token")).unwrap();
    let err = c.whoami().await.unwrap_err();
    assert!(matches!(err, CodaError::TokenRefused), "{err:?}");
    let err = c.resolve_doc(&fake.doc_id()).await.unwrap_err();
    assert!(matches!(err, CodaError::TokenRefused), "{err:?}");
    assert!(!format!("{err:?} {err}").contains("not-the-token"));
}

#[tokio::test]
async fn the_default_doc_passes_the_schema_check() {
    let fake = start(Config::default()).await;
    let c = client(&fake);
    let report = c.check_schema(&fake.doc_id(), &all_tables()).await.unwrap();
    assert!(
        report.is_ok(),
        "{:?}",
        report.problems().collect::<Vec<_>>()
    );
    for table in Table::ALL {
        let t = report.resolved(table).unwrap();
        assert_eq!(t.columns.len(), table.required_columns().count());
        assert_eq!(t.key_column_id, t.columns[table.key_column()]);
        assert!(t.id.starts_with("grid-"), "{}", t.id);
    }
}

#[tokio::test]
async fn the_schema_check_lists_every_problem_at_once() {
    let fake = start(Config::default()).await;
    fake.drop_column("Workouts", "Avg Output (W)");
    fake.drop_column("Friends", "Location");
    fake.make_formula("Instructors", "Name", "thisRow.RowId()");
    let c = client(&fake);
    let mut wanted = all_tables();
    wanted.push((Table::Workouts, "No Such Table".into()));

    let report = c.check_schema(&fake.doc_id(), &wanted).await.unwrap();

    let problems: Vec<&SchemaProblem> = report.problems().collect();
    assert_eq!(
        problems,
        [
            &SchemaProblem::ColumnMissing {
                table_name: "Workouts".into(),
                column: "Avg Output (W)",
                kind: ColumnKind::Number
            },
            &SchemaProblem::ColumnIsFormula {
                table_name: "Instructors".into(),
                column: "Name",
                kind: ColumnKind::Text
            },
            &SchemaProblem::ColumnMissing {
                table_name: "Friends".into(),
                column: "Location",
                kind: ColumnKind::Text
            },
            &SchemaProblem::TableMissing {
                table_name: "No Such Table".into()
            },
        ]
    );
    assert_eq!(
        problems[0].user_message(),
        "The Coda table \"Workouts\" has no column \"Avg Output (W)\" (a number column). Add it, then sync again."
    );
    // A table that passed can still be written.
    assert!(report.resolved(Table::FriendWorkouts).is_some());
    assert!(!report.is_ok());
}

#[tokio::test]
async fn a_view_is_named_as_a_view() {
    let fake = start(Config::default().with_table_as_view("Friends")).await;
    let c = client(&fake);
    let report = c.check_schema(&fake.doc_id(), &all_tables()).await.unwrap();
    let problems: Vec<&SchemaProblem> = report.problems().collect();
    assert_eq!(
        problems,
        [&SchemaProblem::TableIsView {
            table_name: "Friends".into()
        }]
    );
}

#[tokio::test]
async fn upserts_batch_and_never_duplicate() {
    let fake = start(Config::default()).await;
    let c = client(&fake);
    let doc = fake.doc_id();
    let table = resolved(&c, &doc, Table::Workouts).await;
    fake.reset_log();

    let rows = workouts(250, "First");
    let mut accepted = Vec::new();
    let ids = c
        .upsert_rows_with(&doc, &table, &rows, |batch, request_id| {
            accepted.push((batch.len(), request_id.to_string()));
        })
        .await
        .unwrap();
    assert_eq!(fake.write_request_count(), 3);
    assert_eq!(ids.len(), 3);
    assert_eq!(
        accepted.iter().map(|(n, _)| *n).collect::<Vec<_>>(),
        [100, 100, 50]
    );
    settle(&c, &fake, &ids).await;
    assert_eq!(fake.row_count("Workouts"), 250);
    assert!(fake.duplicate_keys("Workouts", "Workout ID").is_empty());

    // Again, with a new title: updated in place.
    let ids = c
        .upsert_rows(&doc, &table, &workouts(250, "Second"))
        .await
        .unwrap();
    settle(&c, &fake, &ids).await;
    assert_eq!(fake.row_count("Workouts"), 250);
    assert!(fake.duplicate_keys("Workouts", "Workout ID").is_empty());
    let stored = fake.rows("Workouts");
    assert!(
        stored.iter().all(|r| r["Title"] == "Second"),
        "titles not updated"
    );
    let w7 = stored.iter().find(|r| r["Workout ID"] == "w00007").unwrap();
    assert_eq!(w7["Avg Output (W)"], 7.5);
    assert_eq!(w7["Leaderboard Rank"], "");
    assert_eq!(w7["Personal Record"], false);
}

#[tokio::test]
async fn writes_survive_429s_and_server_errors() {
    let fake = start(Config::default()).await;
    let c = client(&fake);
    let doc = fake.doc_id();
    let table = resolved(&c, &doc, Table::Workouts).await;
    fake.faults().set_error_429_fraction(0.15);
    fake.faults().set_error_5xx_fraction(0.05);

    let ids = c
        .upsert_rows(&doc, &table, &workouts(250, "Flaky"))
        .await
        .unwrap();
    settle(&c, &fake, &ids).await;
    let listed = c.list_rows(&doc, &table).await.unwrap();

    fake.faults().clear();
    assert_eq!(fake.row_count("Workouts"), 250);
    assert!(fake.duplicate_keys("Workouts", "Workout ID").is_empty());
    assert_eq!(listed.len(), 250);
}

#[tokio::test]
async fn sticky_429s_end_as_rate_limited() {
    let fake = start(Config::default()).await;
    let c = client(&fake);
    fake.faults().set_sticky_429(true);
    let err = c.whoami().await.unwrap_err();
    assert!(matches!(err, CodaError::RateLimited { .. }), "{err:?}");
}

#[tokio::test]
async fn deletes_rows_by_id() {
    let fake = start(Config::default()).await;
    let c = client(&fake);
    let doc = fake.doc_id();
    let table = resolved(&c, &doc, Table::Workouts).await;
    let ids = c
        .upsert_rows(&doc, &table, &workouts(10, "t"))
        .await
        .unwrap();
    settle(&c, &fake, &ids).await;

    let remote = c.list_rows(&doc, &table).await.unwrap();
    let gone: Vec<String> = remote
        .iter()
        .filter(|r| ["w00001", "w00004", "w00009"].contains(&r.key.as_str()))
        .map(|r| r.id.clone())
        .collect();
    assert_eq!(gone.len(), 3);
    let ids = c.delete_rows(&doc, &table.id, &gone).await.unwrap();
    assert_eq!(ids.len(), 1);
    settle(&c, &fake, &ids).await;

    assert_eq!(fake.row_count("Workouts"), 7);
    let keys: Vec<String> = c
        .list_rows(&doc, &table)
        .await
        .unwrap()
        .into_iter()
        .map(|r| r.key)
        .collect();
    assert!(!keys.contains(&"w00004".to_string()), "{keys:?}");
    assert!(keys.contains(&"w00005".to_string()), "{keys:?}");
    // Nothing to delete, nothing sent.
    assert!(c
        .delete_rows(&doc, &table.id, &[])
        .await
        .unwrap()
        .is_empty());
}

#[tokio::test]
async fn list_rows_follows_every_page() {
    let fake = start(Config::default().with_server_max_limit(40)).await;
    let c = client(&fake);
    let doc = fake.doc_id();
    let table = resolved(&c, &doc, Table::Workouts).await;
    let ids = c
        .upsert_rows(&doc, &table, &workouts(130, "p"))
        .await
        .unwrap();
    settle(&c, &fake, &ids).await;
    fake.reset_log();

    let rows = c.list_rows(&doc, &table).await.unwrap();

    assert_eq!(rows.len(), 130);
    let mut keys: Vec<&str> = rows.iter().map(|r| r.key.as_str()).collect();
    keys.sort_unstable();
    keys.dedup();
    assert_eq!(keys.len(), 130);
    let pages = fake
        .requests()
        .iter()
        .filter(|r| r.method == "GET" && r.path.ends_with("/rows"))
        .count();
    assert_eq!(pages, 4, "130 rows at 40 a page");
}

#[tokio::test]
async fn a_deleted_doc_is_not_found() {
    let fake = start(Config::default()).await;
    fake.faults().set_doc_deleted(true);
    let c = client(&fake);
    let err = c.resolve_doc(&fake.doc_url()).await.unwrap_err();
    assert!(matches!(err, CodaError::DocNotFound { .. }), "{err:?}");
    let err = c
        .check_schema(&fake.doc_id(), &all_tables())
        .await
        .unwrap_err();
    assert!(matches!(err, CodaError::DocNotFound { .. }), "{err:?}");
}

#[tokio::test]
async fn a_doc_url_needs_no_lookup_and_other_urls_are_refused() {
    let fake = start(Config::default()).await;
    let c = client(&fake);
    c.resolve_doc(&fake.doc_url()).await.unwrap();
    let lookups = |fake: &FakeCoda| {
        fake.requests()
            .iter()
            .filter(|r| r.path.ends_with("/resolveBrowserLink"))
            .count()
    };
    assert_eq!(lookups(&fake), 0, "the local parse was enough");

    let err = c
        .resolve_doc("https://example.com/some/page")
        .await
        .unwrap_err();
    assert!(matches!(err, CodaError::InvalidDocRef(_)), "{err:?}");
    assert_eq!(lookups(&fake), 1, "Coda was asked about the URL");
    let err = c.resolve_doc("not a doc").await.unwrap_err();
    assert!(matches!(err, CodaError::InvalidDocRef(_)), "{err:?}");
}

#[tokio::test]
async fn mutation_status_404_right_after_a_write_means_not_yet() {
    // Wide margins so a busy machine still polls inside the 404 window.
    let mut cfg = Config::default().with_mutation_delay(Duration::from_secs(3));
    cfg.mutation_status_404_for = Duration::from_secs(2);
    let fake = start(cfg).await;
    let c = client(&fake);
    let doc = fake.doc_id();
    let table = resolved(&c, &doc, Table::Workouts).await;
    let ids = c
        .upsert_rows(&doc, &table, &workouts(3, "t"))
        .await
        .unwrap();
    assert!(!c.mutation_status(&ids[0]).await.unwrap());
    assert!(fake
        .requests()
        .iter()
        .any(|r| r.path.contains("/mutationStatus/") && r.status == 404));
    let pending = c
        .wait_for_mutations(&ids, Duration::from_secs(30))
        .await
        .unwrap();
    assert!(pending.is_empty());
    assert!(c.mutation_status(&ids[0]).await.unwrap());
    assert_eq!(fake.row_count("Workouts"), 3);
}

#[tokio::test]
async fn unconfirmed_mutations_are_returned_at_the_deadline() {
    let fake = start(Config::default().with_mutation_delay(Duration::from_secs(600))).await;
    let c = client(&fake);
    let doc = fake.doc_id();
    let table = resolved(&c, &doc, Table::Workouts).await;
    let ids = c
        .upsert_rows(&doc, &table, &workouts(3, "t"))
        .await
        .unwrap();
    let pending = c
        .wait_for_mutations(&ids, Duration::from_millis(200))
        .await
        .unwrap();
    assert_eq!(pending, ids);
}

#[tokio::test]
async fn default_pacing_stays_under_coda_rate_limits() {
    // Rate limits on, as published; the client's own defaults for pacing.
    let fake = FakeCoda::start(Config::default()).await;
    let c = CodaClient::new(
        CodaConfig {
            api_url: fake.url(),
            ..CodaConfig::default()
        },
        SecretString::from(TOKEN),
    )
    .unwrap();
    let doc = fake.doc_id();
    let table = resolved(&c, &doc, Table::Workouts).await;
    let ids = c
        .upsert_rows(&doc, &table, &workouts(250, "paced"))
        .await
        .unwrap();
    assert_eq!(ids.len(), 3);
    let refused: Vec<_> = fake
        .requests()
        .into_iter()
        .filter(|r| r.status == 429)
        .collect();
    assert!(refused.is_empty(), "{refused:?}");
    fake.wait_idle().await;
    assert_eq!(fake.row_count("Workouts"), 250);
}

#[tokio::test]
async fn dropped_connections_are_retried() {
    let fake = start(Config::default()).await;
    let c = client(&fake);
    fake.faults().set_drop_fraction(0.2);
    let report = c.check_schema(&fake.doc_id(), &all_tables()).await.unwrap();
    let table = report.resolved(Table::Workouts).unwrap();
    let ids = c
        .upsert_rows(&fake.doc_id(), table, &workouts(120, "t"))
        .await
        .unwrap();
    fake.faults().clear();
    settle(&c, &fake, &ids).await;
    assert_eq!(fake.row_count("Workouts"), 120);
}

#[tokio::test]
async fn a_column_dropped_after_the_check_fails_the_write_with_coda_s_message() {
    let fake = start(Config::default()).await;
    let c = client(&fake);
    let doc = fake.doc_id();
    let table = resolved(&c, &doc, Table::Workouts).await;
    fake.drop_column("Workouts", "Title");
    let err = c
        .upsert_rows(&doc, &table, &workouts(5, "t"))
        .await
        .unwrap_err();
    match &err {
        CodaError::BadRequest {
            status, message, ..
        } => {
            assert_eq!(*status, 400);
            assert!(!message.is_empty());
        }
        other => panic!("expected BadRequest, got {other:?}"),
    }
    assert!(err.user_message().starts_with("Coda refused a request"));
    fake.wait_idle().await;
    assert_eq!(fake.row_count("Workouts"), 0);
}

#[tokio::test]
async fn a_column_renamed_after_the_check_is_still_written_by_id() {
    let fake = start(Config::default()).await;
    let c = client(&fake);
    let doc = fake.doc_id();
    let table = resolved(&c, &doc, Table::Workouts).await;
    fake.rename_column("Workouts", "Title", "Class");
    let ids = c
        .upsert_rows(&doc, &table, &workouts(5, "renamed"))
        .await
        .unwrap();
    settle(&c, &fake, &ids).await;
    assert!(fake
        .rows("Workouts")
        .iter()
        .all(|r| r["Class"] == "renamed"));
}
