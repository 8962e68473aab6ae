//! The Peloton client against the fake Peloton server: login (both methods),
//! token refresh, paging, retries and tolerance to drift in the answers.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::sync::Arc;

use chrono::TimeZone;
use fake_peloton::{Config, FakePeloton, FriendSpec};
use futures::TryStreamExt;
use pcs_core::clock::{ManualClock, SharedClock, SystemClock};
use pcs_core::peloton::{LoginStopFile, PelotonClient, PelotonConfig, PelotonError};
use pcs_core::secrets::{MemoryStore, SecretKey, SecretStore};
use secrecy::{ExposeSecret, SecretString};

mod common;
use common::config;

fn client_with(
    fake: &FakePeloton,
    config: PelotonConfig,
    clock: SharedClock,
    store: Arc<MemoryStore>,
    password: Option<&str>,
) -> PelotonClient {
    PelotonClient::new(
        config,
        clock,
        store,
        fake.email(),
        password.map(SecretString::from),
    )
    .unwrap()
}

fn client(fake: &FakePeloton, store: Arc<MemoryStore>) -> PelotonClient {
    let password = fake.password();
    client_with(
        fake,
        config(fake),
        Arc::new(SystemClock),
        store,
        Some(&password),
    )
}

async fn start(config: Config) -> FakePeloton {
    FakePeloton::start(config).await
}

fn paths(fake: &FakePeloton) -> Vec<String> {
    fake.requests()
        .into_iter()
        .map(|r| format!("{} {}", r.method, r.path))
        .collect()
}

fn assert_no_unexpected(fake: &FakePeloton) {
    assert_eq!(
        fake.unexpected_requests(),
        vec![],
        "requests no route served"
    );
}

#[tokio::test]
async fn login_goes_through_the_whole_web_flow() {
    let fake = start(Config::default()).await;
    let store = Arc::new(MemoryStore::new());
    let c = client(&fake, store.clone());

    c.ensure_login().await.unwrap();
    let me = c.me().await.unwrap();

    assert_eq!(me.id, fake.user_id());
    assert_eq!(fake.login_count(), 1);
    assert_eq!(
        paths(&fake),
        [
            "GET /authorize",
            "GET /login",
            "POST /usernamepassword/login",
            "POST /login/callback",
            "GET /authorize/resume",
            "POST /oauth/token",
            "GET /api/me",
        ]
    );
    assert!(store.get(SecretKey::PelotonRefreshToken).unwrap().is_some());
    assert_eq!(c.request_count(), 1);
    assert_no_unexpected(&fake);

    // A fresh token is reused: no second login, no refresh.
    c.me().await.unwrap();
    assert_eq!(fake.login_count(), 1);
    assert_eq!(fake.refresh_count(), 0);
}

#[tokio::test]
async fn wrong_password_is_refused_after_one_attempt() {
    let fake = start(Config::default()).await;
    let store = Arc::new(MemoryStore::new());
    let c = client_with(
        &fake,
        config(&fake),
        Arc::new(SystemClock),
        store.clone(),
        Some("hunter2-wrong"),
    );

    let err = c.ensure_login().await.unwrap_err();

    assert!(matches!(err, PelotonError::LoginRefused), "{err:?}");
    assert_eq!(
        err.user_message(),
        "Peloton refused the email or password; check them in Settings."
    );
    assert_eq!(fake.login_count(), 1);
    assert_eq!(fake.api_request_count(), 0);
    assert!(store.get(SecretKey::PelotonRefreshToken).unwrap().is_none());
    let shown = format!("{err} {err:?} {c:?}");
    assert!(!shown.contains("hunter2"), "{shown}");
}

#[tokio::test]
async fn password_is_read_from_the_store_when_not_given() {
    let fake = start(Config::default()).await;
    let store = Arc::new(MemoryStore::new());
    let c = client_with(
        &fake,
        config(&fake),
        Arc::new(SystemClock),
        store.clone(),
        None,
    );

    assert!(matches!(
        c.ensure_login().await.unwrap_err(),
        PelotonError::MissingPassword
    ));
    assert_eq!(fake.login_count(), 0);

    store
        .set(
            SecretKey::PelotonPassword,
            &SecretString::from(fake.password()),
        )
        .unwrap();
    c.ensure_login().await.unwrap();
    assert_eq!(fake.login_count(), 1);
}

#[tokio::test]
async fn token_refused_by_the_api_mid_run_is_refreshed_once() {
    let fake = start(Config {
        workouts: 5,
        ..Config::default()
    })
    .await;
    let store = Arc::new(MemoryStore::new());
    let c = client(&fake, store.clone());
    let ids = fake.workout_ids();
    let old_refresh = {
        c.workout(&ids[0]).await.unwrap();
        store.get(SecretKey::PelotonRefreshToken).unwrap().unwrap()
    };

    fake.expire_tokens();
    for id in &ids[1..] {
        c.workout(id).await.unwrap();
    }

    assert_eq!(fake.login_count(), 1);
    assert_eq!(fake.refresh_count(), 1);
    // One 401, then the same request again with the new token.
    assert_eq!(fake.count(|r| r.status == 401), 1);
    // The fake rotates refresh tokens: the new one is what the store keeps.
    let new_refresh = store.get(SecretKey::PelotonRefreshToken).unwrap().unwrap();
    assert_ne!(new_refresh.expose_secret(), old_refresh.expose_secret());
}

#[tokio::test]
async fn token_near_expiry_is_refreshed_before_the_api_refuses_it() {
    let fake = start(Config::default()).await;
    let store = Arc::new(MemoryStore::new());
    let clock = ManualClock::new(chrono::Utc.with_ymd_and_hms(2026, 3, 1, 8, 0, 0).unwrap());
    let password = fake.password();
    let c = client_with(
        &fake,
        config(&fake),
        Arc::new(clock.clone()),
        store,
        Some(&password),
    );
    c.me().await.unwrap();

    // 47 h 56 min into a 48 h token: inside the 5-minute margin.
    clock.advance(chrono::Duration::seconds(172_800 - 240));
    c.me().await.unwrap();

    assert_eq!(fake.refresh_count(), 1);
    assert_eq!(fake.login_count(), 1);
    assert_eq!(fake.count(|r| r.status == 401), 0);
}

#[tokio::test]
async fn refused_refresh_falls_back_to_a_full_login() {
    let fake = start(Config::default()).await;
    let c = client(&fake, Arc::new(MemoryStore::new()));
    c.me().await.unwrap();

    fake.faults().set_refuse_refresh(true);
    fake.expire_tokens();
    let me = c.me().await.unwrap();

    assert_eq!(me.id, fake.user_id());
    assert_eq!(fake.refresh_count(), 1);
    assert_eq!(fake.login_count(), 2);
}

#[tokio::test]
async fn stored_refresh_token_is_used_instead_of_a_login() {
    let fake = start(Config::default()).await;
    let store = Arc::new(MemoryStore::new());
    client(&fake, store.clone()).me().await.unwrap();
    assert_eq!(fake.login_count(), 1);

    // The next run: no password at hand, only the stored refresh token.
    let next_run = client_with(&fake, config(&fake), Arc::new(SystemClock), store, None);
    let me = next_run.me().await.unwrap();

    assert_eq!(me.id, fake.user_id());
    assert_eq!(fake.login_count(), 1);
    assert_eq!(fake.refresh_count(), 1);
}

#[tokio::test]
async fn missing_csrf_cookie_is_retried() {
    let fake = start(Config::default()).await;
    fake.faults().skip_csrf_for_next_logins(2);
    let c = client(&fake, Arc::new(MemoryStore::new()));

    c.ensure_login().await.unwrap();

    assert_eq!(fake.count(|r| r.path == "/login"), 3);
    // Only the third login page was posted to: the web flow, not the password grant.
    assert_eq!(fake.login_count(), 1);
    assert_eq!(fake.count(|r| r.path == "/usernamepassword/login"), 1);
}

#[tokio::test]
async fn password_grant_takes_over_when_the_web_flow_breaks() {
    let fake = start(Config::default()).await;
    fake.faults().skip_csrf_for_next_logins(100);
    let store = Arc::new(MemoryStore::new());
    let c = client(&fake, store.clone());

    let me = c.me().await.unwrap();

    assert_eq!(me.id, fake.user_id());
    assert_eq!(fake.count(|r| r.path == "/usernamepassword/login"), 0);
    assert_eq!(fake.login_count(), 1, "one password grant");
    assert!(store.get(SecretKey::PelotonRefreshToken).unwrap().is_some());

    // Its refresh token belongs to the mobile client, and refreshes as such.
    fake.expire_tokens();
    c.me().await.unwrap();
    assert_eq!(fake.refresh_count(), 1);
    assert_eq!(fake.login_count(), 1);
}

#[tokio::test]
async fn three_hundred_workouts_come_in_three_pages() {
    let fake = start(Config {
        workouts: 300,
        ..Config::default()
    })
    .await;
    let c = client(&fake, Arc::new(MemoryStore::new()));
    let user_id = fake.user_id();

    let workouts = c.all_workouts(&user_id).await.unwrap().items;

    let ids: Vec<String> = workouts.into_iter().map(|w| w.id).collect();
    assert_eq!(ids, fake.workout_ids());
    let pages: Vec<String> = fake
        .requests()
        .into_iter()
        .filter(|r| r.path.ends_with("/workouts"))
        .map(|r| r.query)
        .collect();
    assert_eq!(pages.len(), 3, "{pages:?}");
    for (n, q) in pages.iter().enumerate() {
        assert!(q.contains(&format!("page={n}")), "{q}");
        assert!(
            q.contains("limit=100") && q.contains("sort_by=-created"),
            "{q}"
        );
        assert!(q.contains("joins=ride%2Cride.instructor"), "{q}");
    }
    assert_no_unexpected(&fake);
}

#[tokio::test]
async fn a_short_last_page_ends_the_list() {
    let fake = start(Config {
        workouts: 7,
        ..Config::default()
    })
    .await;
    let cfg = PelotonConfig {
        page_limit: 3,
        ..config(&fake)
    };
    let password = fake.password();
    let c = client_with(
        &fake,
        cfg,
        Arc::new(SystemClock),
        Arc::new(MemoryStore::new()),
        Some(&password),
    );

    let all = c.all_workouts(&fake.user_id()).await.unwrap().items;

    assert_eq!(all.len(), 7);
    assert_eq!(fake.count(|r| r.path.ends_with("/workouts")), 3);
    assert!(all.iter().all(|w| w.ride.is_some()));
}

#[tokio::test]
async fn reading_stops_when_the_caller_stops() {
    let fake = start(Config {
        workouts: 250,
        ..Config::default()
    })
    .await;
    let c = client(&fake, Arc::new(MemoryStore::new()));
    let user_id = fake.user_id();
    let known = fake.workout_ids()[40].clone();

    let newer: Vec<_> = c
        .workout_pages(&user_id)
        .map_ok(|page| futures::stream::iter(page.items.into_iter().map(Ok::<_, PelotonError>)))
        .try_flatten()
        .try_take_while(|w| futures::future::ready(Ok(w.id != known)))
        .try_collect()
        .await
        .unwrap();

    assert_eq!(newer.len(), 40);
    assert_eq!(fake.count(|r| r.path.ends_with("/workouts")), 1);
}

#[tokio::test]
async fn a_storm_of_429s_is_ridden_out() {
    let fake = start(Config {
        workouts: 300,
        ..Config::default()
    })
    .await;
    let c = client(&fake, Arc::new(MemoryStore::new()));
    let user_id = fake.user_id();
    c.ensure_login().await.unwrap();

    fake.faults().set_rate_429(0.4);
    let all = c.all_workouts(&user_id).await.unwrap().items;
    let ids = fake.workout_ids();
    let mut details = Vec::new();
    for id in &ids[..20] {
        details.push(c.workout(id).await.unwrap().0);
    }

    assert_eq!(all.len(), 300);
    assert_eq!(details.len(), 20);
    let throttled = fake.count(|r| r.status == 429);
    assert!(throttled > 0, "the storm never hit");
    assert_eq!(c.request_count(), fake.api_request_count() as u64);
    assert_eq!(fake.login_count(), 1);
}

#[tokio::test]
async fn server_errors_and_dropped_connections_are_retried() {
    let fake = start(Config {
        workouts: 30,
        ..Config::default()
    })
    .await;
    let c = client(&fake, Arc::new(MemoryStore::new()));
    c.ensure_login().await.unwrap();

    fake.faults().set_server_error_rate(0.3);
    fake.faults().set_drop_rate(0.1);
    for id in fake.workout_ids() {
        let (graph, _) = c.performance_graph(&id).await.unwrap();
        assert!(graph.summaries.iter().all(|s| s.slug.is_some()));
    }

    assert!(fake.count(|r| r.status >= 500 || r.status == 0) > 0);
}

#[tokio::test]
async fn private_friend_is_reported_as_private() {
    let fake = start(Config {
        friends: vec![
            FriendSpec::public("OpenBook", 8),
            FriendSpec::private("Hermit", 4),
        ],
        ..Config::default()
    })
    .await;
    let c = client(&fake, Arc::new(MemoryStore::new()));
    let open = fake.friend_id("OpenBook").unwrap();
    let hermit = fake.friend_id("Hermit").unwrap();

    let following = c.following(&fake.user_id()).await.unwrap().items;
    let seen = c.friend_workouts(&open, 5).await.unwrap().items;
    let err = c.friend_workouts(&hermit, 5).await.unwrap_err();

    assert_eq!(following.len(), 2);
    assert!(following
        .iter()
        .any(|f| f.id == hermit && f.is_profile_private == Some(true)));
    assert_eq!(seen.len(), 5);
    assert!(seen
        .iter()
        .all(|w| w.user_id.as_deref() == Some(open.as_str())));
    match &err {
        PelotonError::Private { user_id } => assert_eq!(user_id, &hermit),
        other => panic!("expected Private, got {other:?}"),
    }
    // A 403 is not retried.
    assert_eq!(fake.count(|r| r.status == 403), 1);
}

#[tokio::test]
async fn unknown_and_missing_fields_still_parse() {
    let fake = start(Config {
        workouts: 3,
        ..Config::default()
    })
    .await;
    fake.faults().set_extra_field(Some("brand_new_thing"));
    fake.faults().set_remove_field(Some("total_work"));
    let c = client(&fake, Arc::new(MemoryStore::new()));

    let list = c.all_workouts(&fake.user_id()).await.unwrap().items;
    let (detail, raw) = c.workout(&list[0].id).await.unwrap();

    assert_eq!(list.len(), 3);
    assert!(list.iter().all(|w| w.total_work.is_none()));
    assert_eq!(detail.id, list[0].id);
    assert!(detail.total_work.is_none());
    assert!(raw.get("brand_new_thing").is_some());
}

#[tokio::test]
async fn a_changed_field_type_names_endpoint_and_field() {
    let fake = start(Config {
        workouts: 3,
        ..Config::default()
    })
    .await;
    let dump = tempfile::tempdir().unwrap();
    let cfg = PelotonConfig {
        dump_dir: Some(dump.path().to_path_buf()),
        ..config(&fake)
    };
    let password = fake.password();
    let c = client_with(
        &fake,
        cfg,
        Arc::new(SystemClock),
        Arc::new(MemoryStore::new()),
        Some(&password),
    );
    let id = fake.workout_ids()[0].clone();
    // `total_work` is a number; a string there is a change the client must report.
    fake.faults().set_retype_field(Some("total_work"));

    let err = c.workout(&id).await.unwrap_err();
    let list = c.all_workouts(&fake.user_id()).await.unwrap();

    match &err {
        PelotonError::Decode { endpoint, path, .. } => {
            assert_eq!(endpoint, "/api/workout/{id}");
            assert_eq!(path, "total_work");
        }
        other => panic!("expected Decode, got {other:?}"),
    }
    assert_eq!(
        err.user_message(),
        "Peloton changed how it answers /api/workout/{id} (field total_work): please report \
         this; the raw answer is saved in the log folder."
    );
    // A list is read entry by entry: each drifted entry is left out by name.
    assert!(list.items.is_empty());
    assert_eq!(list.skipped.len(), 3);
    assert_eq!(list.skipped[0].endpoint, "/api/user/{id}/workouts");
    assert_eq!(list.skipped[0].path, "data[0].total_work");
    assert!(list.skipped[0].id.is_some());
    assert!(list.skipped[0].user_message().contains("left out"));
    let saved = dump.path().join("peloton-api-workout-id-1.json");
    let body = std::fs::read_to_string(&saved).unwrap();
    assert!(body.contains(&id));
    assert!(!body.contains(&fake.email()));
}

#[tokio::test]
async fn an_unknown_workout_is_not_found_without_retrying() {
    let fake = start(Config::default()).await;
    let c = client(&fake, Arc::new(MemoryStore::new()));

    let err = c
        .workout("00000000000000000000000000000abc")
        .await
        .unwrap_err();

    assert!(
        matches!(&err, PelotonError::NotFound { endpoint } if endpoint == "/api/workout/{id}"),
        "{err:?}"
    );
    assert_eq!(fake.count(|r| r.status == 404), 1, "a 404 is not retried");
}

#[tokio::test]
async fn graph_instructors_and_detail_read_the_fixtures() {
    let fake = start(Config {
        workouts: 12,
        instructors: 130,
        ..Config::default()
    })
    .await;
    let c = client(&fake, Arc::new(MemoryStore::new()));
    let ids = fake.workout_ids();

    let instructors = c.instructors().await.unwrap().items;
    let mut with_output = 0;
    for id in &ids {
        let (graph, trimmed) = c.performance_graph(id).await.unwrap();
        let text = trimmed.to_string();
        assert!(!text.contains("\"values\""), "samples kept: {text}");
        let keys: Vec<&String> = trimmed.as_object().unwrap().keys().collect();
        assert!(keys.len() <= 5, "{keys:?}");
        if graph.summary("total_output").is_some() {
            with_output += 1;
        }
        let (w, raw) = c.workout(id).await.unwrap();
        assert_eq!(&w.id, id);
        assert_eq!(raw["id"], id.as_str());
    }

    assert!(instructors.len() >= 130);
    assert_eq!(fake.count(|r| r.path == "/api/instructor"), 2);
    assert!(with_output > 0);
    let graph_queries: Vec<String> = fake
        .requests()
        .into_iter()
        .filter(|r| r.path.ends_with("/performance_graph"))
        .map(|r| r.query)
        .collect();
    // Every sample, for the archive; the request count is the same.
    assert!(graph_queries.iter().all(|q| q == "every_n=1"));
    assert_no_unexpected(&fake);
}

#[tokio::test]
async fn secrets_never_show_in_debug_output() {
    let fake = start(Config::default()).await;
    let store = Arc::new(MemoryStore::new());
    let c = client(&fake, store.clone());
    c.me().await.unwrap();
    let refresh = store.get(SecretKey::PelotonRefreshToken).unwrap().unwrap();

    let shown = format!("{c:?}");

    assert!(!shown.contains(refresh.expose_secret()));
    assert!(!shown.contains(&fake.password()));
}

#[tokio::test]
async fn concurrent_requests_share_one_refresh() {
    let fake = start(Config {
        workouts: 12,
        ..Config::default()
    })
    .await;
    let c = client(&fake, Arc::new(MemoryStore::new()));
    c.ensure_login().await.unwrap();
    let ids = fake.workout_ids();

    fake.expire_tokens();
    let results = futures::future::join_all(ids.iter().map(|id| c.workout(id))).await;

    assert!(results.iter().all(Result::is_ok));
    assert_eq!(fake.refresh_count(), 1);
    assert_eq!(fake.login_count(), 1);
}

#[tokio::test]
async fn a_stored_mobile_refresh_token_is_recognised() {
    let fake = start(Config::default()).await;
    fake.faults().skip_csrf_for_next_logins(100);
    let store = Arc::new(MemoryStore::new());
    client(&fake, store.clone()).me().await.unwrap();
    assert_eq!(fake.login_count(), 1, "one password grant");

    let next_run = client_with(&fake, config(&fake), Arc::new(SystemClock), store, None);
    next_run.me().await.unwrap();

    // The store does not say which client the token is for: web first, then mobile.
    assert_eq!(fake.login_count(), 1);
    assert_eq!(fake.refresh_count(), 2);
}

// Password attempts (issue 16): the password is sent rarely, and never again
// after a refusal or a block, whatever run comes next, until the person acts.

/// A new run's client (an empty keychain, `password` at hand) that keeps
/// Peloton's refusals and blocks in `dir`, as every run of the app does.
fn run_keeping_stops(
    fake: &FakePeloton,
    dir: &std::path::Path,
    clock: SharedClock,
    password: &str,
) -> PelotonClient {
    let config = PelotonConfig {
        login_stop_file: Some(dir.join("peloton-login-stopped")),
        ..config(fake)
    };
    client_with(
        fake,
        config,
        clock,
        Arc::new(MemoryStore::new()),
        Some(password),
    )
}

/// Three later runs (`make`), two days apart: each login ends in an error
/// `stopped` accepts.
async fn later_runs_stay_stopped(
    clock: &ManualClock,
    make: impl Fn() -> PelotonClient,
    stopped: fn(&PelotonError) -> bool,
) {
    for _ in 0..3 {
        clock.advance(chrono::Duration::days(2));
        let err = make().ensure_login().await.unwrap_err();
        assert!(stopped(&err), "{err:?}");
    }
}

#[tokio::test]
async fn a_lockout_stops_the_password_until_the_person_acts() {
    let fake = start(Config::default()).await;
    fake.faults().set_lockout_logins(true);
    let dir = tempfile::tempdir().unwrap();
    let clock = ManualClock::new(chrono::Utc.with_ymd_and_hms(2026, 3, 1, 8, 0, 0).unwrap());
    let password = fake.password();
    let make = || run_keeping_stops(&fake, dir.path(), Arc::new(clock.clone()), &password);

    let c = make();
    let err = c.ensure_login().await.unwrap_err();
    assert!(matches!(err, PelotonError::LoginBlocked), "{err:?}");
    assert_eq!(
        err.user_message(),
        "Peloton blocked logins to this account (too many attempts); unblock it from \
         Peloton's e-mail, then test the connection in Settings."
    );
    assert_eq!(fake.login_count(), 1, "submitted once");
    // Not again in this run, nor in any later run, even days later and
    // with the block over at Peloton's end.
    assert!(matches!(
        c.ensure_login().await.unwrap_err(),
        PelotonError::LoginBlocked
    ));
    fake.faults().set_lockout_logins(false);
    later_runs_stay_stopped(&clock, make, |e| matches!(e, PelotonError::LoginBlocked)).await;
    assert_eq!(fake.login_count(), 1);
    assert_eq!(fake.count(|r| r.path == "/authorize"), 1);

    // The person unblocked the account and asks for a login.
    LoginStopFile::new(dir.path().join("peloton-login-stopped"))
        .clear()
        .unwrap();
    make().ensure_login().await.unwrap();
    assert_eq!(fake.login_count(), 2);
}

#[tokio::test]
async fn a_lockout_of_the_password_grant_is_also_final() {
    let fake = start(Config::default()).await;
    fake.faults().skip_csrf_for_next_logins(100);
    fake.faults().set_lockout_logins(true);
    let dir = tempfile::tempdir().unwrap();
    let password = fake.password();
    let c = run_keeping_stops(&fake, dir.path(), Arc::new(SystemClock), &password);

    let err = c.ensure_login().await.unwrap_err();

    assert!(matches!(err, PelotonError::LoginBlocked), "{err:?}");
    assert_eq!(fake.login_count(), 1, "one password grant");
    assert!(dir.path().join("peloton-login-stopped").exists());
}

#[tokio::test]
async fn a_blocked_user_on_the_password_grant_is_never_sent_again() {
    let fake = start(Config::default()).await;
    fake.faults().skip_csrf_for_next_logins(100);
    fake.faults().set_user_blocked(true);
    let dir = tempfile::tempdir().unwrap();
    let clock = ManualClock::new(chrono::Utc.with_ymd_and_hms(2026, 3, 1, 8, 0, 0).unwrap());
    let password = fake.password();
    let make = || run_keeping_stops(&fake, dir.path(), Arc::new(clock.clone()), &password);

    let err = make().ensure_login().await.unwrap_err();

    assert!(matches!(err, PelotonError::LoginRefused), "{err:?}");
    assert_eq!(fake.login_count(), 1, "one password grant");
    // Not an hour's pause: no later run sends it, even days later.
    later_runs_stay_stopped(&clock, make, |e| matches!(e, PelotonError::LoginRefused)).await;
    assert_eq!(fake.login_count(), 1);
}

#[tokio::test]
async fn a_refused_password_is_not_sent_again_in_the_run() {
    let fake = start(Config::default()).await;
    let c = client_with(
        &fake,
        config(&fake),
        Arc::new(SystemClock),
        Arc::new(MemoryStore::new()),
        Some("hunter2-wrong"),
    );

    for _ in 0..3 {
        let err = c.ensure_login().await.unwrap_err();
        assert!(matches!(err, PelotonError::LoginRefused), "{err:?}");
    }

    assert_eq!(fake.login_count(), 1);
    assert_eq!(fake.count(|r| r.path == "/authorize"), 1);
}

#[tokio::test]
async fn a_refused_password_is_never_sent_by_a_later_run_but_a_new_one_is() {
    let fake = start(Config::default()).await;
    let dir = tempfile::tempdir().unwrap();
    let run =
        |password: &str| run_keeping_stops(&fake, dir.path(), Arc::new(SystemClock), password);

    // Every scheduled run after the refusal, with the same password.
    for _ in 0..3 {
        let err = run("hunter2-wrong").ensure_login().await.unwrap_err();
        assert!(matches!(err, PelotonError::LoginRefused), "{err:?}");
    }
    assert_eq!(fake.login_count(), 1, "the wrong password went out once");
    let kept = std::fs::read_to_string(dir.path().join("peloton-login-stopped")).unwrap();
    assert!(!kept.contains("hunter2"), "{kept}");

    // The person types the right one: it is sent, and the stop is gone.
    run(&fake.password()).ensure_login().await.unwrap();
    assert_eq!(fake.login_count(), 2);
    assert!(!dir.path().join("peloton-login-stopped").exists());
}

#[tokio::test]
async fn a_bot_wall_on_the_refresh_keeps_the_token_and_sends_no_password() {
    let fake = start(Config::default()).await;
    let store = Arc::new(MemoryStore::new());
    client(&fake, store.clone()).me().await.unwrap();
    assert_eq!(fake.login_count(), 1);
    let kept = store.get(SecretKey::PelotonRefreshToken).unwrap().unwrap();

    // The next run's refresh meets a 403 page that is not Auth0's.
    fake.faults().wall_next_refreshes(1);
    let password = fake.password();
    let next_run = client_with(
        &fake,
        config(&fake),
        Arc::new(SystemClock),
        store.clone(),
        Some(&password),
    );
    let err = next_run.me().await.unwrap_err();
    assert!(err.is_transient(), "{err:?}");
    assert_eq!(fake.login_count(), 1, "no password sent");
    assert_eq!(
        store
            .get(SecretKey::PelotonRefreshToken)
            .unwrap()
            .map(|t| t.expose_secret().to_owned()),
        Some(kept.expose_secret().to_owned()),
        "the token is kept"
    );

    // The run after: the kept token works.
    let later = client_with(&fake, config(&fake), Arc::new(SystemClock), store, None);
    assert_eq!(later.me().await.unwrap().id, fake.user_id());
    assert_eq!(fake.login_count(), 1);
}

#[tokio::test]
async fn a_plain_rate_limit_is_retried_within_three_submissions() {
    let fake = start(Config::default()).await;
    fake.faults().throttle_next_logins(2);
    let c = client(&fake, Arc::new(MemoryStore::new()));

    c.ensure_login().await.unwrap();

    assert_eq!(fake.login_count(), 3);
    assert_eq!(fake.count(|r| r.status == 429), 2);
}

#[tokio::test]
async fn three_submissions_are_the_most_a_run_sends() {
    let fake = start(Config::default()).await;
    fake.faults().throttle_next_logins(100);
    let c = client(&fake, Arc::new(MemoryStore::new()));

    let err = c.ensure_login().await.unwrap_err();
    assert!(err.is_transient(), "{err:?}");
    let again = c.ensure_login().await.unwrap_err();
    assert!(again.is_transient(), "{again:?}");

    assert_eq!(fake.login_count(), 3);
}

#[tokio::test]
async fn a_login_that_did_not_finish_holds_the_password_back_for_an_hour() {
    let fake = start(Config::default()).await;
    fake.faults().throttle_next_logins(100);
    let dir = tempfile::tempdir().unwrap();
    let clock = ManualClock::new(chrono::Utc.with_ymd_and_hms(2026, 3, 1, 8, 0, 0).unwrap());
    let password = fake.password();
    let run = || run_keeping_stops(&fake, dir.path(), Arc::new(clock.clone()), &password);
    let err = run().ensure_login().await.unwrap_err();
    assert!(err.is_transient(), "{err:?}");
    assert_eq!(fake.login_count(), 3);

    // The app's backoff retries within minutes: nothing is sent.
    fake.faults().throttle_next_logins(0);
    for _ in 0..3 {
        clock.advance(chrono::Duration::minutes(10));
        let err = run().ensure_login().await.unwrap_err();
        assert!(matches!(err, PelotonError::LoginPaused), "{err:?}");
        assert!(err.is_transient());
    }
    assert_eq!(fake.login_count(), 3);

    // Past the hour the password goes out again, and works.
    clock.advance(pcs_core::peloton::PASSWORD_PAUSE);
    run().ensure_login().await.unwrap();
    assert_eq!(fake.login_count(), 4);
    assert!(!dir.path().join("peloton-login-stopped").exists());
}

#[tokio::test]
async fn a_network_failure_after_the_password_holds_nothing_back() {
    let fake = start(Config::default()).await;
    // The password is accepted, then every /oauth and /api connection drops.
    fake.faults().set_drop_rate(1.0);
    let dir = tempfile::tempdir().unwrap();
    let password = fake.password();
    let run = || run_keeping_stops(&fake, dir.path(), Arc::new(SystemClock), &password);
    let err = run().ensure_login().await.unwrap_err();
    assert!(matches!(err, PelotonError::Unreachable { .. }), "{err:?}");
    assert_eq!(fake.login_count(), 1);

    // The network is back: the next run logs in at once.
    fake.faults().set_drop_rate(0.0);
    run().ensure_login().await.unwrap();
    assert_eq!(fake.login_count(), 2);
}

/// Issue 16: a refresh token rotated by another client (the CLI, "Test
/// connection") is read from the store before renewing, so the stale one
/// in memory is never spent and no password login follows.
#[tokio::test]
async fn a_token_rotated_by_another_client_is_picked_up_from_the_store() {
    let fake = start(Config::default()).await;
    let store = Arc::new(MemoryStore::new());
    let dir = tempfile::tempdir().unwrap();
    let password = fake.password();
    let make = || {
        client_with(
            &fake,
            PelotonConfig {
                token_lock_file: Some(dir.path().join("peloton-token.lock")),
                ..config(&fake)
            },
            Arc::new(SystemClock),
            store.clone(),
            Some(&password),
        )
    };
    let first = make();
    first.me().await.unwrap();
    assert_eq!(fake.login_count(), 1);

    fake.expire_tokens();
    let second = make();
    second.me().await.unwrap();
    assert_eq!(
        fake.refresh_count(),
        1,
        "the second client rotated the token"
    );

    fake.expire_tokens();
    first.me().await.unwrap();

    assert_eq!(fake.login_count(), 1, "{:?}", paths(&fake));
    assert_eq!(fake.refresh_count(), 2);
    assert!(dir.path().join("peloton-token.lock").exists());
}
