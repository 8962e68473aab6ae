//! The in-process scenarios: the engine against the fakes with one fault
//! switched on, then (when the run failed) the fault switched off, or the
//! user's fix made, and one more run.

use std::sync::Arc;
use std::time::Duration;

use chrono::TimeZone;
use pcs_core::clock::{ManualClock, SharedClock};

use crate::outcome::Outcome;
use crate::proxy::CorruptingProxy;
use crate::world::{when, Spec, World};
use testkit::wait::until_every;

async fn world() -> Arc<World> {
    Arc::new(World::start(Spec::default()).await)
}

fn outcome(fault: &str) -> Outcome {
    Outcome {
        fault: fault.into(),
        ..Outcome::default()
    }
}

/// One clean run before the fault, for faults that hit a user who already synced.
async fn synced_before(w: &World) {
    let r = w.run().await;
    assert!(
        matches!(&r, Ok(r) if r.ok()),
        "the clean run before the fault failed: {r:?}"
    );
    w.reset_logs();
}

/// Peloton answers 429 to half of the requests (no Retry-After).
pub async fn peloton_429_storm() -> Outcome {
    let w = world().await;
    w.peloton.faults().set_rate_429(0.5);
    let first = w.run().await;
    w.peloton.faults().clear();
    outcome("Peloton 429 storm (50 % of requests)")
        .settle(&w, first, || {})
        .await
}

/// Peloton answers 500/502/503 to a third of the requests.
pub async fn peloton_5xx() -> Outcome {
    let w = world().await;
    w.peloton.faults().set_server_error_rate(0.3);
    let first = w.run().await;
    w.peloton.faults().clear();
    outcome("Peloton 5xx (30 %)").settle(&w, first, || {}).await
}

/// Peloton answers slower than the client's timeout for a while.
pub async fn peloton_timeouts() -> Outcome {
    let w = world().await;
    *w.tune.lock().unwrap_or_else(|e| e.into_inner()) = Some(Box::new(|p, _| {
        p.timeout = Duration::from_millis(300);
    }));
    w.peloton.faults().set_latency_ms(600);
    let slow = w.clone();
    let heal = tokio::spawn(async move {
        tokio::time::sleep(Duration::from_millis(1500)).await;
        slow.peloton.faults().set_latency_ms(0);
    });
    let first = w.run().await;
    let _ = heal.await;
    w.peloton.faults().clear();
    outcome("Peloton timeouts (every answer late for 1.5 s)")
        .settle(&w, first, || {})
        .await
}

/// Peloton closes a fifth of the connections without answering.
pub async fn peloton_drops() -> Outcome {
    let w = world().await;
    w.peloton.faults().set_drop_rate(0.2);
    let first = w.run().await;
    w.peloton.faults().clear();
    outcome("Peloton dropped connections (20 %)")
        .settle(&w, first, || {})
        .await
}

/// Every third workout detail arrives cut in half.
pub async fn peloton_malformed_json() -> Outcome {
    let w = world().await;
    let proxy = CorruptingProxy::start(w.peloton.url(), "/api/workout/", 3).await;
    *w.api_url.lock().unwrap_or_else(|e| e.into_inner()) = Some(proxy.url());
    let first = w.run().await;
    *w.api_url.lock().unwrap_or_else(|e| e.into_inner()) = None;
    let mut o = outcome("Peloton malformed JSON (every 3rd workout detail truncated)");
    o.notes
        .push(format!("{} answers truncated", proxy.corrupted()));
    o.settle(&w, first, || {}).await
}

/// A field every row needs disappears from Peloton's answers.
pub async fn peloton_field_removed() -> Outcome {
    let w = world().await;
    w.peloton.faults().set_remove_field(Some("start_time"));
    let first = w.run().await;
    w.peloton.faults().clear();
    outcome("Peloton field removed (start_time)")
        .settle(&w, first, || {})
        .await
}

/// A number arrives as a string.
pub async fn peloton_field_retyped_number() -> Outcome {
    let w = world().await;
    w.peloton.faults().set_retype_field(Some("total_work"));
    let first = w.run().await;
    w.peloton.faults().clear();
    outcome("Peloton field of another type (total_work as a string)")
        .settle(&w, first, || {})
        .await
}

/// An object arrives as a string.
pub async fn peloton_field_retyped_object() -> Outcome {
    let w = world().await;
    w.peloton.faults().set_retype_field(Some("ride"));
    let first = w.run().await;
    w.peloton.faults().clear();
    outcome("Peloton field of another type (ride as a string)")
        .settle(&w, first, || {})
        .await
}

/// Every access token expires after the run's tenth API request.
pub async fn peloton_token_expires() -> Outcome {
    let w = world().await;
    let (a, b) = (w.clone(), w.clone());
    let trigger = when(
        move || a.peloton.api_request_count() >= 10,
        move || b.peloton.expire_tokens(),
    );
    let first = w.run().await;
    trigger.abort();
    let refreshes = w.peloton.refresh_count();
    let mut o = outcome("Peloton token expiring mid-run");
    o.notes.push(format!("{refreshes} token refreshes"));
    o.settle(&w, first, || {}).await
}

/// The token expires mid-run and the refresh is refused: a full login follows.
pub async fn peloton_refresh_refused() -> Outcome {
    let w = world().await;
    w.peloton.faults().set_refuse_refresh(true);
    let (a, b) = (w.clone(), w.clone());
    let trigger = when(
        move || a.peloton.api_request_count() >= 10,
        move || b.peloton.expire_tokens(),
    );
    let first = w.run().await;
    trigger.abort();
    let logins = w.peloton.login_count();
    w.peloton.faults().clear();
    let mut o = outcome("Peloton refresh refused mid-run");
    o.notes.push(format!("{logins} full logins"));
    o.settle(&w, first, || {}).await
}

/// The member changed the password on Peloton: tokens revoked, the old
/// password refused. The fix is entering the new one in Settings.
pub async fn peloton_password_changed() -> Outcome {
    let w = world().await;
    synced_before(&w).await;
    w.peloton.add_workouts(3);
    w.peloton.set_password("a brand new password");
    w.peloton.revoke_tokens();
    let first = w.run().await;
    let fixer = w.clone();
    outcome("Peloton password changed")
        .settle(&w, first, move || {
            *fixer.password.lock().unwrap_or_else(|e| e.into_inner()) =
                "a brand new password".into();
        })
        .await
}

/// Coda's published limits enforced, and the client paced well over them.
pub async fn coda_429_beyond_limit() -> Outcome {
    let mut coda = fake_coda::Config::default();
    let window = Duration::from_secs(2);
    coda.rate_limits.read.window = window;
    coda.rate_limits.write.window = window;
    coda.rate_limits.doc_write.window = window;
    let w = Arc::new(
        World::start(Spec {
            coda,
            ..Spec::default()
        })
        .await,
    );
    *w.tune.lock().unwrap_or_else(|e| e.into_inner()) = Some(Box::new(|_, c| {
        // Small batches so a run makes many writes, all sent at once.
        c.batch_rows = 3;
        c.retry.floor_429 = Duration::from_millis(200);
        c.retry.max_delay = Duration::from_secs(2);
    }));
    let first = w.run().await;
    let throttled = w.coda.requests().iter().filter(|r| r.status == 429).count();
    let mut o = outcome("Coda 429s beyond the limit (writes 3 per 2 s, client unpaced)");
    o.notes.push(format!("{throttled} answers were 429"));
    o.settle(&w, first, || {}).await
}

/// Coda answers 429 to everything, however long the client waits.
pub async fn coda_sticky_429() -> Outcome {
    let w = world().await;
    w.coda.faults().set_sticky_429(true);
    let first = w.run().await;
    w.coda.faults().clear();
    outcome("Coda sticky 429 (every request)")
        .settle(&w, first, || {})
        .await
}

/// Coda answers 500/503 to a third of the requests.
pub async fn coda_5xx() -> Outcome {
    let w = world().await;
    w.coda.faults().set_error_5xx_fraction(0.3);
    let first = w.run().await;
    w.coda.faults().clear();
    outcome("Coda 5xx (30 %)").settle(&w, first, || {}).await
}

/// Coda closes a fifth of the connections without answering.
pub async fn coda_drops() -> Outcome {
    let w = world().await;
    w.coda.faults().set_drop_fraction(0.2);
    let first = w.run().await;
    w.coda.faults().clear();
    outcome("Coda dropped connections (20 %)")
        .settle(&w, first, || {})
        .await
}

/// Rows whose upsert would be over Coda's 2 MB body limit in one request.
pub async fn coda_over_2mb() -> Outcome {
    let w = world().await;
    let long = "Long title ".repeat(6_000); // 66 KB, under the 85 KB cell limit
    for id in w.peloton.workout_ids() {
        let title = long.clone();
        w.peloton.update_workout(&id, move |v| {
            v["ride"]["title"] = serde_json::json!(title);
        });
    }
    let first = w.run().await;
    let writes = w.coda.accepted_write_count();
    let refused = w.coda.requests().iter().filter(|r| r.status == 413).count();
    let mut o = outcome("Coda request over 2 MB (30 rows of 66 KB)");
    o.notes
        .push(format!("{writes} accepted writes, {refused} answered 413"));
    o.settle(&w, first, || {}).await
}

/// The user deletes the API token after the first write was accepted; the
/// fix is a new token.
pub async fn coda_token_revoked() -> Outcome {
    let w = world().await;
    let (a, b) = (w.clone(), w.clone());
    let trigger = when(
        move || a.coda.accepted_write_count() >= 1,
        move || b.coda.faults().set_token_revoked(true),
    );
    let first = w.run().await;
    trigger.abort();
    let fixer = w.clone();
    outcome("Coda token revoked mid-run")
        .settle(&w, first, move || fixer.coda.faults().clear())
        .await
}

/// The doc is deleted; the fix is restoring it from the trash.
pub async fn coda_doc_deleted() -> Outcome {
    let w = world().await;
    synced_before(&w).await;
    w.peloton.add_workouts(3);
    w.coda.faults().set_doc_deleted(true);
    let first = w.run().await;
    let fixer = w.clone();
    outcome("Coda doc deleted")
        .settle(&w, first, move || fixer.coda.faults().clear())
        .await
}

/// A column of Workouts is renamed; the fix is renaming it back.
pub async fn coda_column_renamed() -> Outcome {
    let w = world().await;
    synced_before(&w).await;
    w.peloton.add_workouts(3);
    w.coda.rename_column("Workouts", "Avg Output (W)", "Watts");
    let first = w.run().await;
    let fixer = w.clone();
    outcome("Coda column renamed (Workouts: Avg Output (W))")
        .settle(&w, first, move || {
            fixer
                .coda
                .rename_column("Workouts", "Watts", "Avg Output (W)");
        })
        .await
}

/// A column of Workouts becomes a formula. The fake cannot turn it back, so
/// the new workouts must wait in the local state, and the other tables sync.
pub async fn coda_column_formula() -> Outcome {
    let w = world().await;
    synced_before(&w).await;
    w.peloton.add_workouts(3);
    w.coda
        .make_formula("Workouts", "Calories (kcal)", "thisRow.Created()");
    let first = w.run().await;
    let mut o = outcome("Coda column turned into a formula (Workouts: Calories (kcal))");
    o.held_is_kept = true;
    o.final_error_expected = true;
    o.settle(&w, first, || {}).await
}

/// Reads come from a snapshot two seconds old: rows just written are not
/// listed yet when a friend's window moves on.
pub async fn coda_read_lag() -> Outcome {
    let w = Arc::new(
        World::start(Spec {
            coda: fake_coda::Config::default()
                .without_rate_limits()
                .with_read_lag(Duration::from_secs(2)),
            ..Spec::default()
        })
        .await,
    );
    synced_before(&w).await;
    w.peloton.add_workouts(2);
    if let Some(pal) = w.peloton.friend_id("PowerZonePal") {
        w.peloton.add_friend_workouts(&pal, 3);
    }
    let first = w.run().await;
    let mut o = outcome("Coda read lag (2 s)");
    o.record(&w, &first, true);
    // Later, once the snapshot caught up, the next run must finish the job.
    // A snapshot still stale after the deadline is the next run's to meet.
    let _ = until_every(
        "Coda's reads to catch up",
        Duration::from_secs(30),
        Duration::from_millis(50),
        || async { Ok((w.coda.dump()["readsStale"].as_bool() != Some(true)).then_some(())) },
    )
    .await;
    let stale_after_first = w.tally().stale;
    let next = w.run().await;
    o.notes.push(format!(
        "{stale_after_first} rows past a friend's window after the lagged run"
    ));
    o.settle(&w, next, || {}).await
}

/// The state database is deleted between two runs.
pub async fn state_deleted() -> Outcome {
    let w = world().await;
    synced_before(&w).await;
    w.peloton.add_workouts(2);
    let db = w.state_db();
    for suffix in ["", "-wal", "-shm"] {
        let mut p = db.clone().into_os_string();
        p.push(suffix);
        let _ = std::fs::remove_file(p);
    }
    let first = w.run().await;
    outcome("state database deleted")
        .settle(&w, first, || {})
        .await
}

/// The state database is overwritten with garbage between two runs.
pub async fn state_corrupted() -> Outcome {
    let w = world().await;
    synced_before(&w).await;
    w.peloton.add_workouts(2);
    let db = w.state_db();
    let mut bytes = std::fs::read(&db).unwrap_or_default();
    for (i, b) in bytes.iter_mut().enumerate().take(64 * 1024) {
        *b = (i as u8).wrapping_mul(31) ^ 0x5a;
    }
    let _ = std::fs::write(&db, bytes);
    let first = w.run().await;
    let mut o = outcome("state database corrupted");
    if let Ok(r) = &first {
        let said: Vec<String> = r
            .notes
            .iter()
            .filter(|n| n.contains("rebuilt"))
            .cloned()
            .collect();
        if said.is_empty() {
            o.unclear
                .push("the run did not say that the damaged state was rebuilt".into());
        }
        o.notes.extend(said);
    }
    o.settle(&w, first, || {}).await
}

/// The wall clock jumps back an hour between two runs.
pub async fn clock_back() -> Outcome {
    let start = chrono::Utc
        .with_ymd_and_hms(2026, 3, 1, 12, 0, 0)
        .single()
        .unwrap_or_default();
    let clock = ManualClock::new(start);
    let shared: SharedClock = Arc::new(clock.clone());
    let w = Arc::new(
        World::start(Spec {
            clock: shared,
            ..Spec::default()
        })
        .await,
    );
    synced_before(&w).await;
    w.peloton.add_workouts(3);
    clock.advance(chrono::Duration::hours(-1));
    let first = w.run().await;
    let mut o = outcome("clock jumps back an hour");
    // And forward again: the next run must still be quiet and correct.
    if matches!(&first, Ok(r) if r.ok()) {
        clock.advance(chrono::Duration::hours(2));
        w.peloton.add_workouts(1);
        let again = w.run().await;
        o.record(&w, &again, false);
        if o.rerun_error.is_some() {
            o.notes
                .push("the run after the clock moved forward failed".into());
        }
    }
    o.settle(&w, first, || {}).await
}
