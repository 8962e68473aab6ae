//! End-to-end tests: the real `peloton-coda-sync` binary against the fake
//! Peloton and the fake Coda, each test in a fresh `HOME`. One module per
//! area; each test reads as a user's steps, `support` hides the plumbing.
//! The CLI's contract is `docs/cli.md`, the tables' is
//! `docs/coda-tables.md`.

mod support;

use support::expect::{self, friend_window};
use support::{keys, FriendSpec, World};

/// Counts of `status --json`'s `written` (or `deleted`) for one table.
fn count(status: &serde_json::Value, field: &str, table: &str) -> u64 {
    status[field][table].as_u64().unwrap_or(0)
}

mod status {
    use super::*;

    #[test]
    fn before_any_run_status_json_is_ok_null_and_exits_0() {
        let w = World::builder().start();

        let status = w.status_json();
        assert_eq!(status, serde_json::json!({"ok": null}));
        let text = w.cli(["status"]).succeeds();
        assert!(text.stdout.contains("No sync has run yet"), "{text}");

        w.assert_no_secrets();
    }

    #[test]
    fn check_passes_on_a_good_setup_and_writes_nothing() {
        let w = World::builder().start();

        let run = w.cli(["check"]).succeeds().no_panic();

        assert!(run.stdout.contains("Training Log"), "names the doc:\n{run}");
        for (table, _) in support::TABLES {
            assert!(
                run.stdout.contains(&format!("Table \"{table}\": ok")),
                "{table}:\n{run}"
            );
        }
        assert_eq!(w.coda.write_request_count(), 0);
        assert_eq!(w.status_json(), serde_json::json!({"ok": null}));
        w.assert_no_secrets();
    }
}

mod first_sync {
    use super::*;

    /// Issue: a first sync of a real-sized history fills every table
    /// exactly, and a second sync costs a few reads and no write.
    #[test]
    fn three_hundred_workouts_fill_every_table_exactly_then_a_second_sync_writes_nothing() {
        let w = World::builder().workouts(300).start();

        let run = w.cli(["sync"]).succeeds().no_panic();
        assert!(
            run.stdout.contains("300 new workouts, 2 friends, 0 errors"),
            "{run}"
        );
        w.assert_tables_exact();
        // Full batches of rows are written while the details are still being
        // fetched, not all after (the fakes' logs share one clock).
        let last_detail = w
            .peloton
            .requests()
            .iter()
            .filter(|r| r.path.starts_with("/api/workout/"))
            .map(|r| r.at)
            .max()
            .expect("workout details were fetched");
        let early_writes = w
            .coda
            .requests()
            .iter()
            .filter(|r| r.is_row_write() && r.at < last_detail)
            .count();
        assert!(
            early_writes >= 1,
            "no Coda row write before the last workout detail request"
        );

        let status = w.status_json();
        for field in [
            "started_at",
            "finished_at",
            "ok",
            "seconds",
            "written",
            "deleted",
            "errors",
            "notes",
        ] {
            assert!(status.get(field).is_some(), "no {field} in {status}");
        }
        assert_eq!(status["ok"], true, "{status}");
        assert!(status["seconds"].as_f64().is_some(), "{status}");
        assert_eq!(count(&status, "written", "workouts"), 300, "{status}");
        assert_eq!(
            count(&status, "written", "instructors"),
            w.peloton.instructor_ids().len() as u64
        );
        assert_eq!(count(&status, "written", "friends"), 2, "{status}");
        assert_eq!(count(&status, "written", "friend_workouts"), 8, "{status}");
        assert_eq!(status["errors"], serde_json::json!([]), "{status}");
        // Both friends' avatars are cached for the window.
        assert_eq!(
            w.cached_avatars(),
            w.peloton.friend_ids().into_iter().collect(),
        );
        for t in ["started_at", "finished_at"] {
            let s = status[t].as_str().unwrap_or_default();
            assert!(
                chrono::DateTime::parse_from_rfc3339(s).is_ok(),
                "{t} is not ISO 8601: {s:?}"
            );
        }

        // Nothing changed at Peloton: the second run only reads.
        w.coda.reset_log();
        w.peloton.reset_log();
        let again = w.cli(["sync"]).succeeds().no_panic();
        assert!(again.stdout.contains("0 new workouts"), "{again}");
        assert_eq!(
            w.coda.write_request_count(),
            0,
            "Coda writes: {:?}",
            w.coda.requests()
        );
        let friends = w.peloton.friend_ids().len();
        assert!(
            w.peloton.api_request_count() <= 2 + friends,
            "{} Peloton API requests: {:?}",
            w.peloton.api_request_count(),
            w.peloton.requests()
        );
        // Cached avatars are not fetched again.
        assert_eq!(
            w.peloton.count(|r| r.path.starts_with("/cdn/")),
            0,
            "{:?}",
            w.peloton.requests()
        );
        assert!(w.peloton.unexpected_requests().is_empty());
        assert!(w.coda.unexpected_requests().is_empty());
        w.assert_tables_exact();
        w.assert_no_secrets();
    }
}

mod incremental {
    use super::*;

    #[test]
    fn three_new_workouts_write_exactly_three_rows() {
        let w = World::builder().workouts(10).start();
        w.cli(["sync"]).succeeds();
        let before = w.rows_by_key("Workouts", "Workout ID");

        let new = w.peloton.add_workouts(3);
        w.coda.reset_log();
        let run = w.cli(["sync"]).succeeds().no_panic();

        assert!(run.stdout.contains("3 new workouts"), "{run}");
        let status = w.status_json();
        assert_eq!(count(&status, "written", "workouts"), 3, "{status}");
        let workouts_table = w.coda.table_id("Workouts");
        // Accepted ones: right after the first run the doc's write limit
        // may still answer 429 once, and the same upsert is sent again.
        let writes_to_workouts: Vec<_> = w
            .coda
            .requests()
            .into_iter()
            .filter(|r| r.is_row_write() && r.path.contains(&workouts_table))
            .collect();
        assert_eq!(
            writes_to_workouts
                .iter()
                .filter(|r| r.status == 202)
                .count(),
            1,
            "one upsert carries the three rows: {writes_to_workouts:?}"
        );
        let after = w.rows_by_key("Workouts", "Workout ID");
        assert_eq!(after.len(), 13);
        for id in &new {
            assert!(after.contains_key(id), "new workout {id} missing");
        }
        // The ten older rows are the very same rows, untouched.
        for (key, row) in &before {
            assert_eq!(after.get(key), Some(row), "row {key} changed");
        }
        w.assert_tables_exact();

        // A workout whose list entry changed (Peloton recomputed its
        // output) is fetched and written again, alone.
        let changed = &new[1];
        assert!(w.peloton.update_workout(changed, |d| {
            d["total_work"] = serde_json::json!(123_456.0);
        }));
        w.cli(["sync"]).succeeds();
        let status = w.status_json();
        assert_eq!(count(&status, "written", "workouts"), 1, "{status}");
        let row = &w.rows_by_key("Workouts", "Workout ID")[changed];
        assert_eq!(row["Total Output (kJ)"], serde_json::json!(123.5));
        w.assert_tables_exact();

        // --full sends every row again, still keyed.
        w.cli(["sync", "--full"]).succeeds().no_panic();
        let status = w.status_json();
        assert_eq!(count(&status, "written", "workouts"), 13, "{status}");
        w.assert_tables_exact();
        w.assert_no_secrets();
    }
}

mod faults {
    use super::*;

    /// Issue: 15% 429 and 5% 5xx on both services; the run finishes, or
    /// fails with one clear sentence and a re-run finishes.
    #[test]
    fn rate_limits_and_server_errors_on_both_sides_still_end_exact() {
        let w = World::builder().workouts(40).start();
        w.peloton.faults().set_rate_429(0.15);
        w.peloton.faults().set_server_error_rate(0.05);
        w.coda.faults().set_error_429_fraction(0.15);
        w.coda.faults().set_error_5xx_fraction(0.05);
        // A Coda run is a dozen requests: the dice alone may spare it.
        w.coda.faults().set_next_429s(1);

        let mut finished = false;
        for _ in 0..3 {
            let run = w.cli(["sync"]).no_panic();
            if run.status.success() {
                finished = true;
                break;
            }
            let sentence = run.last_stderr_line();
            assert!(
                sentence.ends_with('.') && sentence.len() > 20 && !sentence.contains('\n'),
                "a failed run ends with one clear sentence:\n{run}"
            );
            w.assert_no_duplicates();
        }
        assert!(finished, "three runs under faults did not finish");

        let peloton_faults = w
            .peloton
            .requests()
            .iter()
            .filter(|r| r.status == 429 || r.status >= 500)
            .count();
        let coda_faults = w
            .coda
            .requests()
            .iter()
            .filter(|r| r.status == 429 || r.status >= 500)
            .count();
        assert!(
            peloton_faults > 0 && coda_faults > 0,
            "faults were injected"
        );
        w.assert_tables_exact();
        w.assert_no_secrets();
    }
}

mod kills {
    use super::*;
    use rand::{Rng, SeedableRng};
    use std::time::Duration;

    /// Issue: `kill -9` at any instant loses nothing and duplicates
    /// nothing; the next run resumes.
    #[test]
    fn kill_9_at_twenty_random_instants_then_a_rerun_is_exact() {
        let w = World::builder().workouts(30).start();
        let mut rng = rand::rngs::StdRng::seed_from_u64(0x6b11_1009);

        for i in 0..20 {
            // A full run of 30 workouts takes about 25 s (Peloton is paced
            // at 5 requests/s, Coda writes at one per 3.5 s); kills land
            // anywhere in its first half, where fetching and writing are.
            let at = Duration::from_millis(rng.gen_range(100..12_000));
            let killed = w.spawn(["sync"]).kill9_at(at);
            assert!(
                !killed.stderr.contains("panicked"),
                "kill {i} at {at:?}:\n{killed}"
            );
            w.assert_no_duplicates();
        }

        let run = w.cli(["sync"]).succeeds().no_panic();
        assert!(run.stdout.contains("0 errors"), "{run}");
        w.assert_tables_exact();
        let status = w.status_json();
        assert_eq!(status["ok"], true, "{status}");
        w.cli(["status"]).succeeds();
        w.assert_no_secrets();
    }
}

mod interrupt {
    use super::*;
    use std::os::unix::process::ExitStatusExt;
    use std::time::Duration;

    /// Issue 15: Ctrl-C or SIGTERM stops a sync within seconds, records it
    /// as interrupted (not ok), exits 130 or 143, and the next run resumes.
    #[test]
    fn a_signal_stops_the_sync_as_interrupted_and_the_next_resumes() {
        let w = World::builder().workouts(300).start();
        for (signal, code) in [("INT", 130), ("TERM", 143)] {
            let run = w
                .spawn(["sync"])
                .signal_at(signal, Duration::from_millis(1500));
            assert_eq!(run.status.code(), Some(code), "{signal}: {run}");
            assert!(run.status.signal().is_none(), "{run}");
            assert!(
                run.seconds < 12.0,
                "{signal} took {:.1} s: {run}",
                run.seconds
            );
            assert!(run.last_stderr_line().contains("interrupted"), "{run}");
            let status = w.status_json();
            assert_eq!(status["ok"], false, "{status}");
            w.assert_no_duplicates();
        }
        w.cli(["sync"]).succeeds().no_panic();
        w.assert_tables_exact();
        assert_eq!(w.status_json()["ok"], true);
    }
}

mod refusals {
    use super::*;

    #[test]
    fn a_wrong_coda_token_is_named_and_nothing_is_written() {
        let w = World::builder().workouts(3).start();
        w.set_env("CODA_API_TOKEN", "not-the-coda-token");

        let run = w.cli(["sync"]).fails().no_panic();

        let sentence = run.last_stderr_line().to_lowercase();
        assert!(
            sentence.contains("coda") && sentence.contains("token"),
            "the last line names the Coda token:\n{run}"
        );
        assert_eq!(w.coda.write_request_count(), 0);
        for (table, _) in support::TABLES {
            assert_eq!(w.rows(table).len(), 0, "{table}");
        }
        assert_eq!(w.status_json()["ok"], false);
        w.assert_no_secrets();
    }

    /// cli.md, "Secrets": without a keychain every run logs in, unless the
    /// user names a token cache file: then later runs refresh a token.
    #[test]
    fn a_token_cache_file_spares_the_login_and_holds_only_the_token() {
        let w = World::builder().workouts(3).start();
        let first = w.cli(["sync"]).succeeds();
        assert!(
            first.stderr.contains("logged in afresh each run"),
            "{first}"
        );

        let cache = w.outside_home("peloton.token");
        let cache_arg = cache.to_str().expect("a UTF-8 path");
        w.peloton.reset_log();
        let run = w.cli(["sync", "--token-cache", cache_arg]).succeeds();
        assert!(!run.stderr.contains("afresh"), "{run}");
        assert_eq!(w.peloton.login_count(), 1, "no token cached yet");
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(&cache)
            .expect("the cache file")
            .permissions()
            .mode();
        assert_eq!(mode & 0o777, 0o600, "the cache is private");
        let held = std::fs::read_to_string(&cache).expect("read the cache");
        assert!(
            w.peloton.issued_tokens().contains(&held.trim().to_string()),
            "the cache holds exactly one issued token: {held:?}"
        );

        w.peloton.reset_log();
        w.cli(["sync", "--token-cache", cache_arg]).succeeds();
        assert_eq!(w.peloton.login_count(), 0, "{:?}", w.peloton.requests());
        assert_eq!(w.peloton.refresh_count(), 1, "{:?}", w.peloton.requests());
        w.assert_tables_exact();
        // Nothing secret under HOME or in any output; the cache is outside.
        w.assert_no_secrets();
    }

    #[test]
    fn a_wrong_peloton_password_is_named_after_one_login_attempt() {
        let w = World::builder().workouts(3).start();
        w.set_env("PELOTON_PASSWORD", "wrong horse battery");

        let run = w.cli(["sync"]).fails().no_panic();

        assert!(
            run.last_stderr_line()
                .starts_with("Peloton refused the email or password"),
            "{run}"
        );
        assert_eq!(w.peloton.login_count(), 1, "{:?}", w.peloton.requests());
        assert_eq!(w.coda.write_request_count(), 0);
        assert_eq!(w.rows("Workouts").len(), 0);

        // cron's next runs: the refused password is not sent again.
        for _ in 0..2 {
            let again = w.cli(["sync"]).fails().no_panic();
            assert!(
                again
                    .last_stderr_line()
                    .starts_with("Peloton refused the email or password"),
                "{again}"
            );
        }
        assert_eq!(w.peloton.login_count(), 1, "{:?}", w.peloton.requests());
        // Another password is a new login.
        w.set_env("PELOTON_PASSWORD", &w.peloton.password());
        w.cli(["sync"]).succeeds();
        assert_eq!(w.peloton.login_count(), 2);
        w.assert_no_secrets();
    }

    /// Issue 16: after Auth0's brute-force block the password is not sent
    /// again, the run ends at once, and no later run sends it either.
    #[test]
    fn a_login_lockout_sends_the_password_once_and_ends_quickly() {
        let w = World::builder().workouts(3).start();
        w.peloton.faults().set_lockout_logins(true);

        let run = w.cli(["sync"]).fails().no_panic();

        assert_eq!(
            run.last_stderr_line(),
            "Peloton blocked logins to this account (too many attempts); unblock it from Peloton's e-mail, then run `peloton-coda-sync login` to let it log in again.",
            "{run}"
        );
        assert_eq!(w.peloton.login_count(), 1, "{:?}", w.peloton.requests());
        // Retrying a 429 the usual way would take a minute or more.
        assert!(run.seconds < 20.0, "{run}");
        assert_eq!(w.coda.write_request_count(), 0);

        w.peloton.faults().set_lockout_logins(false);
        w.peloton.reset_log();
        let again = w.cli(["sync"]).fails().no_panic();
        assert!(
            again
                .last_stderr_line()
                .starts_with("Peloton blocked logins"),
            "{again}"
        );
        assert_eq!(w.peloton.login_count(), 0, "{:?}", w.peloton.requests());
        w.assert_no_secrets();
    }

    /// Issue 16: a sync logged at `trace` (stderr and the log file) holds
    /// no token, code, cookie value or `_csrf` of the fake's.
    #[test]
    fn a_trace_log_holds_no_secret() {
        let w = World::builder().workouts(3).start();
        w.set_env("RUST_LOG", "trace");

        let run = w.cli(["sync"]).succeeds();

        // The log really was below info (our own crates log requests at
        // debug), and the fake really handed out cookies.
        assert!(run.stderr.contains("DEBUG"), "{run}");
        assert!(w.peloton.issued_secrets().len() > w.peloton.issued_tokens().len());
        w.assert_no_secrets();
        // The HTML parser, which at debug logs every tag of the login pages
        // (hidden signed values included), stays quiet.
        assert!(!run.stderr.contains("html5ever"), "{run}");
    }

    /// With the wire log opted in, the HTTP stack logs below info, and
    /// every line is still scrubbed.
    #[test]
    fn an_opted_in_wire_log_is_scrubbed() {
        let w = World::builder().workouts(3).start();
        w.set_env("RUST_LOG", "trace");
        w.set_env("PCS_WIRE_LOG", "1");

        let run = w.cli(["sync"]).succeeds();

        assert!(
            run.stderr.contains("cookie_store") || run.stderr.contains("hyper"),
            "{run}"
        );
        w.assert_no_secrets();
    }

    #[test]
    fn check_names_a_refused_password() {
        let w = World::builder().workouts(3).start();
        w.set_env("PELOTON_PASSWORD", "wrong horse battery");

        let run = w.cli(["check"]).fails().no_panic();

        assert!(
            run.stderr.contains("Peloton refused the email or password"),
            "{run}"
        );
        assert_eq!(w.coda.write_request_count(), 0);
        w.assert_no_secrets();
    }
}

mod schema {
    use super::*;

    fn world_without_avg_output() -> World {
        World::builder()
            .workouts(5)
            .coda(|c| c.without_column("Workouts", "Avg Output (W)"))
            .start()
    }

    /// Issue: a missing column stops its table only, and the sentence says
    /// which table, which column and what kind.
    #[test]
    fn a_missing_column_leaves_its_table_untouched_and_syncs_the_others() {
        let w = world_without_avg_output();

        let run = w.cli(["sync"]).fails().no_panic();

        let sentence = run.last_stderr_line();
        for part in ["Workouts", "Avg Output (W)", "number"] {
            assert!(sentence.contains(part), "names {part}:\n{run}");
        }
        assert_eq!(w.rows("Workouts").len(), 0, "Workouts untouched");
        let workouts_table = w.coda.table_id("Workouts");
        assert!(
            !w.coda
                .requests()
                .iter()
                .any(|r| r.is_row_write() && r.path.contains(&workouts_table)),
            "a write went to Workouts"
        );
        expect::assert_instructors(&w);
        expect::assert_friends(&w);
        expect::assert_friend_workouts(&w);
        w.assert_no_duplicates();
        w.assert_no_secrets();
    }

    #[test]
    fn check_names_the_missing_column_and_writes_nothing() {
        let w = world_without_avg_output();

        let run = w.cli(["check"]).fails().no_panic();

        let sentence = run.last_stderr_line();
        for part in ["Workouts", "Avg Output (W)", "number"] {
            assert!(sentence.contains(part), "names {part}:\n{run}");
        }
        assert!(run.stdout.contains("Table \"Instructors\": ok"), "{run}");
        assert_eq!(w.coda.write_request_count(), 0);
    }

    /// Issue 19: `check` lists every column with ✓ or ✗ and the kind it
    /// must be; `check --json` gives scripts the same checklist.
    #[test]
    fn check_lists_every_column_and_json_gives_the_same_checklist() {
        let w = world_without_avg_output();

        let run = w.cli(["check"]).fails().no_panic();
        assert!(
            run.stdout.contains("Table \"Workouts\": 1 column to fix"),
            "{run}"
        );
        let line = |name: &str| {
            run.stdout
                .lines()
                .find(|l| l.contains(name))
                .unwrap_or_else(|| panic!("no line for {name}:\n{run}"))
                .to_owned()
        };
        let missing = line("Avg Output (W)");
        assert!(missing.trim_start().starts_with('✗'), "{missing}");
        assert!(
            missing.contains("number") && missing.contains("missing"),
            "{missing}"
        );
        let present = line("Start Time");
        assert!(present.trim_start().starts_with('✓'), "{present}");
        assert!(present.contains("date and time"), "{present}");

        let json = w.cli(["check", "--json"]).fails().no_panic().json();
        assert_eq!(json["ok"], false);
        assert_eq!(json["doc_name"], "Training Log");
        let tables = json["checklist"]["tables"].as_array().expect("tables");
        assert_eq!(tables.len(), 5, "{json:#}");
        let workouts = &tables[0];
        assert_eq!(workouts["name"], "Workouts");
        assert_eq!(workouts["status"], "needs_columns");
        let columns: Vec<&serde_json::Value> = workouts["columns"]
            .as_array()
            .expect("columns")
            .iter()
            .filter(|c| c["optional"] == false)
            .collect();
        assert_eq!(columns.len(), 19, "the required Workouts columns");
        let avg = columns
            .iter()
            .copied()
            .find(|c| c["name"] == "Avg Output (W)")
            .expect("Avg Output (W)");
        assert_eq!(avg["status"], "missing");
        assert_eq!(avg["kind"], "number");
        assert_eq!(avg["optional"], false);
        assert!(columns
            .iter()
            .filter(|c| c["name"] != "Avg Output (W)")
            .all(|c| c["status"] == "ok"));
        assert!(tables[1..].iter().all(|t| t["status"] == "ok"), "{json:#}");
        assert!(json["problems"][0]["message"]
            .as_str()
            .is_some_and(|m| m.contains("Avg Output (W)")));
        assert_eq!(w.coda.write_request_count(), 0);
    }
}

mod friends {
    use super::*;

    #[test]
    fn a_private_friend_is_skipped_and_named_and_the_run_succeeds() {
        let w = World::builder()
            .workouts(3)
            .friends(vec![
                FriendSpec::public("PowerZonePal", 5),
                FriendSpec::private("HiddenHannah", 4),
            ])
            .start();

        let run = w.cli(["sync"]).succeeds().no_panic();

        assert!(run.stdout.contains("HiddenHannah"), "{run}");
        let status = w.status_json();
        assert!(
            status["notes"].to_string().contains("HiddenHannah"),
            "{status}"
        );
        assert_eq!(status["ok"], true);
        w.assert_tables_exact();
        w.assert_no_secrets();
    }

    /// A friend who turns private keeps their rows; people unfollowed lose
    /// theirs; rows the user typed are never touched.
    #[test]
    fn unfollowed_friends_lose_their_rows_and_typed_rows_stay() {
        let w = World::builder().workouts(3).start();
        w.cli(["sync"]).succeeds();
        let typed_friend = w.coda.insert_user_row(
            "Friends",
            &[
                ("User ID", "typed-by-hand".into()),
                ("Username", "My neighbour".into()),
            ],
        );
        let typed_workout = w.coda.insert_user_row(
            "Friend Workouts",
            &[
                ("Workout ID", "typed-workout".into()),
                ("Title", "Ride in the park".into()),
            ],
        );

        // TreadBuddy turns private: skipped, named, rows kept.
        let tread_window = friend_window(&w, "TreadBuddy");
        w.set_friend_private("TreadBuddy", true);
        let run = w.cli(["sync"]).succeeds();
        assert!(run.stdout.contains("TreadBuddy"), "{run}");
        let kept = keys(&w.rows("Friend Workouts"), "Workout ID");
        for id in &tread_window {
            assert!(kept.contains(id), "TreadBuddy's {id} was deleted");
        }

        // Both are unfollowed; one new person is followed.
        let old_ids = w.peloton.friend_ids();
        w.set_friends(vec![FriendSpec::public("NewRider", 2)]);
        w.cli(["sync"]).succeeds().no_panic();

        let status = w.status_json();
        assert_eq!(count(&status, "deleted", "friends"), 2, "{status}");
        assert_eq!(count(&status, "deleted", "friend_workouts"), 8, "{status}");
        let friends = w.rows("Friends");
        let new_id = w.peloton.friend_id("NewRider").expect("NewRider");
        // The unfollowed lose their cached avatar too.
        assert_eq!(w.cached_avatars(), [new_id.clone()].into_iter().collect());
        assert_eq!(
            keys(&friends, "User ID"),
            [new_id.clone(), "typed-by-hand".to_string()]
                .into_iter()
                .collect(),
        );
        assert!(friends.iter().any(|r| r["@id"] == typed_friend.as_str()));
        for id in old_ids {
            assert!(!friends.iter().any(|r| r["User ID"] == id.as_str()));
        }
        let workouts = w.rows("Friend Workouts");
        let mut want: std::collections::BTreeSet<String> =
            friend_window(&w, "NewRider").into_iter().collect();
        want.insert("typed-workout".into());
        assert_eq!(keys(&workouts, "Workout ID"), want);
        assert!(workouts.iter().any(|r| r["@id"] == typed_workout.as_str()));
        w.assert_no_duplicates();
        w.assert_no_secrets();
    }
}

/// Issue 17: the whole record. Optional columns, the full-resolution
/// archive and its backfill, exports that never touch the network.
mod record {
    use super::*;
    use fake_coda::ColumnSpec;

    /// The title of the 2024 class fixture with a Strive score.
    const RNB: &str = "20 min R&B Ride";

    #[test]
    fn optional_columns_are_found_by_check_and_filled_by_sync() {
        let w = World::builder()
            .workouts(12)
            .coda(|c| {
                c.with_extra_column("Workouts", ColumnSpec::number("Strive Score"))
                    .with_extra_column("Workouts", ColumnSpec::number("HR Zone 4 (min)"))
                    .with_extra_column("Workouts", ColumnSpec::text("Achievements"))
            })
            .start();

        let check = w.cli(["check"]).succeeds().no_panic();
        assert!(
            check.stdout.contains(
                "Optional columns found in \"Workouts\": Strive Score, HR Zone 4 (min), Achievements."
            ),
            "{check}"
        );

        w.cli(["sync"]).succeeds().no_panic();
        let rows = w.rows("Workouts");
        let rnb: Vec<_> = rows
            .iter()
            .filter(|r| expect::text(&r["Title"]) == RNB)
            .collect();
        assert!(!rnb.is_empty(), "no {RNB} among {} rows", rows.len());
        for r in rnb {
            assert_eq!(r["Strive Score"], serde_json::json!(44.5), "{r:?}");
            assert_eq!(r["HR Zone 4 (min)"], serde_json::json!(13.8), "{r:?}");
            assert_eq!(expect::text(&r["Achievements"]), "");
        }
        // Columns the doc does not have are never sent.
        assert!(rows.iter().all(|r| !r.contains_key("Max Output (W)")));
        w.assert_no_duplicates();
    }

    #[test]
    fn exports_read_the_local_state_only() {
        let w = World::builder().workouts(11).start();
        w.cli(["sync"]).succeeds().no_panic();
        let peloton_before = w.peloton.requests().len();
        let coda_before = w.coda.requests().len();

        for format in ["tcx", "csv", "json", "gpx"] {
            let out = w.outside_home(&format!("export-{format}"));
            let run = w
                .cli(["export", "--format", format, "--out", out.to_str().unwrap()])
                .succeeds()
                .no_panic();
            let files = std::fs::read_dir(&out).unwrap().count();
            let want = match format {
                "csv" => 1,
                // One of the eleven fixture shapes is the outdoor walk.
                "gpx" => 1,
                _ => 11,
            };
            assert_eq!(files, want, "{format}:\n{run}");
            assert!(run.stdout.contains(&format!("{want} file")), "{run}");
        }
        assert_eq!(
            w.peloton.requests().len(),
            peloton_before,
            "export asked Peloton"
        );
        assert_eq!(w.coda.requests().len(), coda_before, "export asked Coda");

        let blocked = w.outside_home("a-file");
        std::fs::write(&blocked, b"x").unwrap();
        let run = w
            .cli([
                "export",
                "--format",
                "csv",
                "--out",
                blocked.join("sub").to_str().unwrap(),
            ])
            .fails()
            .no_panic();
        assert!(
            run.last_stderr_line().starts_with("The folder ")
                && run
                    .last_stderr_line()
                    .ends_with("choose another folder and export again."),
            "{run}"
        );
    }

    #[test]
    fn older_workouts_get_their_full_graph_a_few_hundred_a_run() {
        let w = World::builder().workouts(230).start();
        w.cli(["sync"]).succeeds().no_panic();
        let graphs = |w: &World| {
            w.peloton
                .requests()
                .iter()
                .filter(|r| r.path.ends_with("/performance_graph"))
                .count()
        };
        let first = graphs(&w);
        assert_eq!(first, 230);
        // Every graph is asked at one sample a second.
        assert!(w
            .peloton
            .requests()
            .iter()
            .filter(|r| r.path.ends_with("/performance_graph"))
            .all(|r| r.query == "every_n=1"));

        // As if the state came from a version without the archive.
        let db = w.state_db();
        let conn = rusqlite::Connection::open(&db).unwrap();
        conn.execute("DELETE FROM graph_archive", []).unwrap();
        drop(conn);

        w.cli(["sync"]).succeeds().no_panic();
        assert_eq!(graphs(&w) - first, 200, "at most 200 a run");
        w.cli(["sync"]).succeeds().no_panic();
        assert_eq!(graphs(&w) - first, 230, "the rest on the next run");
        w.cli(["sync"]).succeeds().no_panic();
        assert_eq!(graphs(&w) - first, 230, "nothing left to backfill");
        // Every workout has its full graph again.
        let out = w.outside_home("tcx");
        let run = w
            .cli(["export", "--format", "tcx", "--out", out.to_str().unwrap()])
            .succeeds();
        assert!(run.stdout.contains("230 files"), "{run}");
    }
}

mod browser_sign_in {
    use super::*;

    /// A person who keeps no password with the app: signed in through
    /// the environment only for Coda, Peloton through its own page.
    fn world_without_a_peloton_password() -> World {
        let w = World::builder().workouts(3).start();
        w.remove_env("PELOTON_USERNAME");
        w.remove_env("PELOTON_PASSWORD");
        w
    }

    /// Issue 18: `login --browser` prints the sign-in address, takes the
    /// pasted callback address, and keeps only the refresh token; syncs
    /// then need no password, and a revoked token says to sign in again.
    #[test]
    fn login_browser_keeps_only_a_refresh_token_that_syncs_until_revoked() {
        let w = world_without_a_peloton_password();
        w.peloton.set_mfa_code(Some("246810"));
        let cache = w.outside_home("peloton.token");
        let cache_arg = cache.to_str().expect("a UTF-8 path");

        let mut login = w.spawn_with_stdin(["login", "--browser", "--token-cache", cache_arg]);
        let address = login.stdout_line("/authorize?");
        let callback = w.sign_in_in_browser(&address, Some("246810"));
        login.type_line(&callback);
        let run = login.wait().succeeds().no_panic();
        assert!(
            run.stdout.contains("Signed in to Peloton as fake_rider"),
            "{run}"
        );
        let held = std::fs::read_to_string(&cache).expect("the token cache");
        assert!(
            w.peloton.issued_tokens().contains(&held.trim().to_string()),
            "the cache holds one issued token: {held:?}"
        );
        let settings = std::fs::read_to_string(w.settings_file()).expect("the settings file");
        assert!(
            settings.contains("peloton_sign_in = \"browser\""),
            "{settings}"
        );

        w.peloton.reset_log();
        w.cli(["sync", "--token-cache", cache_arg])
            .succeeds()
            .no_panic();
        assert_eq!(w.peloton.login_count(), 0, "{:?}", w.peloton.requests());
        w.assert_tables_exact();

        w.peloton.revoke_tokens();
        w.peloton.reset_log();
        let signed_out = w
            .cli(["sync", "--token-cache", cache_arg])
            .fails()
            .no_panic();
        assert_eq!(
            signed_out.last_stderr_line(),
            "Signed out of Peloton: sign in again.",
            "{signed_out}"
        );
        assert_eq!(w.peloton.login_count(), 0, "no password login was tried");
        w.assert_no_secrets();
    }

    #[test]
    fn a_pasted_address_of_another_sign_in_is_one_sentence_and_saves_nothing() {
        let w = world_without_a_peloton_password();
        let cache = w.outside_home("peloton.token");
        let cache_arg = cache.to_str().expect("a UTF-8 path");
        let mut login = w.spawn_with_stdin(["login", "--browser", "--token-cache", cache_arg]);
        login.stdout_line("/authorize?");
        login.type_line("https://members.onepeloton.com/callback?code=abc&state=old");
        let run = login.wait().fails().no_panic();
        assert_eq!(
            run.last_stderr_line(),
            "That address belongs to another sign-in; sign in again with the link shown this time.",
            "{run}"
        );
        assert!(!cache.exists());
    }
}
