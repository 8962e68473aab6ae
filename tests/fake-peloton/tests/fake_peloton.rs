//! Integration tests of the fake Peloton server, driven over HTTP with reqwest the way the
//! real client talks to Peloton (method A step by step, method B, refresh, API paging,
//! faults, the control endpoint and the binary).

use std::collections::HashMap;
use std::sync::Arc;

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine as _;
use fake_peloton::{
    Config, EntryDrift, FakePeloton, FriendSpec, GraphFault, ListKind, AUDIENCE, MOBILE_CLIENT_ID,
    REDIRECT_URI, WEB_CLIENT_ID,
};
use rand::RngCore;
use reqwest::cookie::{CookieStore, Jar};
use reqwest::{redirect, Client, StatusCode};
use serde_json::{json, Value};
use sha2::{Digest, Sha256};

const SCOPE: &str = "offline_access openid peloton-api.members:default";
const NOT_LOGGED_IN: &str =
    r#"{"status":401,"error_code":3020,"subcode":null,"message":"Not logged in","details":null}"#;

fn rand_b64(bytes: usize, cut: usize) -> String {
    let mut buf = vec![0u8; bytes];
    rand::thread_rng().fill_bytes(&mut buf);
    URL_SAFE_NO_PAD.encode(buf)[..cut].to_owned()
}

struct Browser {
    http: Client,
    jar: Arc<Jar>,
}

fn browser() -> Browser {
    let jar = Arc::new(Jar::default());
    let http = Client::builder()
        .cookie_provider(jar.clone())
        .redirect(redirect::Policy::none())
        .build()
        .expect("client");
    Browser { http, jar }
}

fn location(resp: &reqwest::Response) -> String {
    resp.headers()
        .get("location")
        .and_then(|v| v.to_str().ok())
        .map(str::to_owned)
        .unwrap_or_else(|| panic!("no Location header, status {}", resp.status()))
}

fn query_param(url: &str, key: &str) -> Option<String> {
    url::Url::parse(url)
        .ok()?
        .query_pairs()
        .find(|(k, _)| k == key)
        .map(|(_, v)| v.into_owned())
}

fn html_decode(s: &str) -> String {
    s.replace("&#34;", "\"")
        .replace("&quot;", "\"")
        .replace("&lt;", "<")
        .replace("&gt;", ">")
        .replace("&amp;", "&")
}

fn attr(tag: &str, name: &str) -> Option<String> {
    let start = tag.find(&format!("{name}=\""))? + name.len() + 2;
    let end = start + tag[start..].find('"')?;
    Some(html_decode(&tag[start..end]))
}

/// The first form's action and its hidden inputs.
fn parse_form(html: &str) -> (String, Vec<(String, String)>) {
    let form_start = html.find("<form").expect("a form");
    let form_tag_end = form_start + html[form_start..].find('>').expect("form tag end");
    let action = attr(&html[form_start..form_tag_end], "action").expect("action");
    let mut inputs = Vec::new();
    let mut rest = &html[form_tag_end..];
    while let Some(i) = rest.find("<input") {
        let end = i + rest[i..].find('>').expect("input end");
        let tag = &rest[i..end];
        if tag.contains("type=\"hidden\"") {
            inputs.push((
                attr(tag, "name").expect("name"),
                attr(tag, "value").unwrap_or_default(),
            ));
        }
        rest = &rest[end..];
    }
    (action, inputs)
}

/// Outcome of the /usernamepassword/login step.
enum LoginStep {
    Form(reqwest::Response),
    Refused(reqwest::Response),
}

struct Pkce {
    verifier: String,
    challenge: String,
    state: String,
    nonce: String,
}

fn pkce() -> Pkce {
    let verifier = rand_b64(64, 64);
    let challenge = URL_SAFE_NO_PAD.encode(Sha256::digest(verifier.as_bytes()));
    Pkce {
        verifier,
        challenge,
        state: rand_b64(32, 32),
        nonce: rand_b64(32, 32),
    }
}

/// Steps 1 and 2 of method A (spec §3.3, §3.4).
async fn start_login(fake: &FakePeloton, b: &Browser, p: &Pkce, password: &str) -> LoginStep {
    let base = fake.url();
    let resp = b
        .http
        .get(format!("{base}/authorize"))
        .query(&[
            ("client_id", WEB_CLIENT_ID),
            ("audience", AUDIENCE),
            ("scope", SCOPE),
            ("response_type", "code"),
            ("response_mode", "query"),
            ("redirect_uri", REDIRECT_URI),
            ("state", &p.state),
            ("nonce", &p.nonce),
            ("code_challenge", &p.challenge),
            ("code_challenge_method", "S256"),
            (
                "auth0Client",
                "eyJuYW1lIjoiYXV0aDAuanMtdWxwIiwidmVyc2lvbiI6IjkuMTQuMyJ9",
            ),
        ])
        .send()
        .await
        .expect("authorize");
    assert_eq!(resp.status(), StatusCode::FOUND);
    let login_url = location(&resp);
    let txn_state = query_param(&login_url, "state").expect("state on login URL");
    let page = b.http.get(&login_url).send().await.expect("login page");
    assert_eq!(page.status(), StatusCode::OK);
    let csrf_url = url::Url::parse(&format!("{base}/usernamepassword/login")).expect("url");
    let csrf = b
        .jar
        .cookies(&csrf_url)
        .and_then(|h| {
            h.to_str().ok().and_then(|s| {
                s.split(';')
                    .filter_map(|kv| kv.trim().split_once('='))
                    .find(|(k, _)| *k == "_csrf")
                    .map(|(_, v)| v.to_owned())
            })
        })
        .unwrap_or_default();
    let resp = b
        .http
        .post(format!("{base}/usernamepassword/login"))
        .header("Origin", &base)
        .header("Referer", &login_url)
        .json(&json!({
            "client_id": WEB_CLIENT_ID,
            "redirect_uri": REDIRECT_URI,
            "tenant": "peloton-prod",
            "response_type": "code",
            "scope": SCOPE,
            "audience": AUDIENCE,
            "_csrf": csrf,
            "state": txn_state,
            "_intstate": "deprecated",
            "nonce": p.nonce,
            "username": fake.email(),
            "password": password,
            "connection": "pelo-user-password",
            "code_challenge": p.challenge,
            "code_challenge_method": "S256",
        }))
        .send()
        .await
        .expect("usernamepassword/login");
    if resp.status() == StatusCode::OK {
        LoginStep::Form(resp)
    } else {
        LoginStep::Refused(resp)
    }
}

/// The whole of method A; returns the token response.
async fn login(fake: &FakePeloton) -> Value {
    let b = browser();
    let p = pkce();
    let LoginStep::Form(resp) = start_login(fake, &b, &p, &fake.password()).await else {
        panic!("login refused");
    };
    let (action, inputs) = parse_form(&resp.text().await.expect("html"));
    let names: Vec<&str> = inputs.iter().map(|(n, _)| n.as_str()).collect();
    assert_eq!(names, ["wa", "wresult", "wctx"]);
    let mut resp = b
        .http
        .post(&action)
        .form(&inputs)
        .send()
        .await
        .expect("callback");
    // Walk redirects by hand and stop at the redirect URI (spec §3.6).
    let mut hops = 0;
    let final_url = loop {
        assert_eq!(resp.status(), StatusCode::FOUND, "hop {hops}");
        let next = location(&resp);
        if next.starts_with(REDIRECT_URI) {
            break next;
        }
        hops += 1;
        assert!(hops < 5, "redirect loop");
        resp = b.http.get(&next).send().await.expect("redirect hop");
    };
    assert_eq!(
        query_param(&final_url, "state").as_deref(),
        Some(p.state.as_str())
    );
    let code = query_param(&final_url, "code").expect("code");
    let resp = b
        .http
        .post(format!("{}/oauth/token", fake.url()))
        .json(&json!({
            "grant_type": "authorization_code",
            "client_id": WEB_CLIENT_ID,
            "code_verifier": p.verifier,
            "code": code,
            "redirect_uri": REDIRECT_URI,
        }))
        .send()
        .await
        .expect("token");
    assert_eq!(resp.status(), StatusCode::OK);
    resp.json().await.expect("token json")
}

async fn password_grant(fake: &FakePeloton, client_id: &str, password: &str) -> reqwest::Response {
    Client::new()
        .post(format!("{}/oauth/token", fake.url()))
        .json(&json!({
            "grant_type": "password",
            "client_id": client_id,
            "scope": "offline_access openid",
            "username": fake.email(),
            "password": password,
        }))
        .send()
        .await
        .expect("password grant")
}

async fn token(fake: &FakePeloton) -> String {
    let resp = password_grant(fake, MOBILE_CLIENT_ID, &fake.password()).await;
    assert_eq!(resp.status(), StatusCode::OK);
    let body: Value = resp.json().await.expect("json");
    body["access_token"]
        .as_str()
        .expect("access token")
        .to_owned()
}

async fn api(fake: &FakePeloton, token: &str, path: &str) -> reqwest::Response {
    Client::new()
        .get(format!("{}{path}", fake.url()))
        .bearer_auth(token)
        .send()
        .await
        .expect("api call")
}

async fn api_json(fake: &FakePeloton, token: &str, path: &str) -> Value {
    let resp = api(fake, token, path).await;
    assert_eq!(resp.status(), StatusCode::OK, "{path}");
    resp.json().await.expect("json")
}

#[tokio::test]
async fn method_a_login_walks_every_step_and_unlocks_the_api() {
    let fake = FakePeloton::start(Config::default()).await;
    let tokens = login(&fake).await;
    assert_eq!(tokens["token_type"], "Bearer");
    assert_eq!(tokens["expires_in"], 172_800);
    assert!(tokens["refresh_token"]
        .as_str()
        .is_some_and(|t| t.starts_with("v1.")));
    assert!(tokens["id_token"].is_string());
    let me = api_json(
        &fake,
        tokens["access_token"].as_str().expect("token"),
        "/api/me",
    )
    .await;
    assert_eq!(me["id"], fake.user_id());
    assert_eq!(me["email"], "rider@example.com");
    assert_eq!(me["total_workouts"], 10);
    assert_eq!(fake.login_count(), 1);
    assert!(fake.unexpected_requests().is_empty());
}

#[tokio::test]
async fn authorization_code_is_single_use_and_needs_the_verifier() {
    let fake = FakePeloton::start(Config::default()).await;
    // A code redeemed with the wrong verifier is refused and spent.
    let b = browser();
    let p = pkce();
    let LoginStep::Form(resp) = start_login(&fake, &b, &p, &fake.password()).await else {
        panic!("login refused");
    };
    let (action, inputs) = parse_form(&resp.text().await.expect("html"));
    let r = b
        .http
        .post(&action)
        .form(&inputs)
        .send()
        .await
        .expect("callback");
    let r = b.http.get(location(&r)).send().await.expect("resume");
    let code = query_param(&location(&r), "code").expect("code");
    let redeem = |verifier: String| {
        let http = b.http.clone();
        let url = format!("{}/oauth/token", fake.url());
        let code = code.clone();
        async move {
            http.post(url)
                .json(
                    &json!({"grant_type": "authorization_code", "client_id": WEB_CLIENT_ID,
                    "code_verifier": verifier, "code": code, "redirect_uri": REDIRECT_URI}),
                )
                .send()
                .await
                .expect("token")
        }
    };
    let wrong = redeem("not-the-verifier".into()).await;
    assert_eq!(wrong.status(), StatusCode::FORBIDDEN);
    let again = redeem(p.verifier.clone()).await;
    assert_eq!(again.status(), StatusCode::FORBIDDEN);
    let body: Value = again.json().await.expect("json");
    assert_eq!(body["error"], "invalid_grant");
}

#[tokio::test]
async fn wrong_password_is_refused_by_both_methods() {
    let fake = FakePeloton::start(Config::default()).await;
    let LoginStep::Refused(resp) = start_login(&fake, &browser(), &pkce(), "wrong").await else {
        panic!("wrong password accepted");
    };
    assert_eq!(resp.status(), StatusCode::BAD_REQUEST);
    let body: Value = resp.json().await.expect("json");
    assert_eq!(body["code"], "invalid_user_password");

    let resp = password_grant(&fake, MOBILE_CLIENT_ID, "wrong").await;
    assert_eq!(resp.status(), StatusCode::FORBIDDEN);
    let body: Value = resp.json().await.expect("json");
    assert_eq!(body["error"], "invalid_grant");
    assert_eq!(fake.login_count(), 2);
}

#[tokio::test]
async fn password_grant_with_web_client_gets_the_real_unauthorized_client_body() {
    let fake = FakePeloton::start(Config::default()).await;
    let resp = password_grant(&fake, WEB_CLIENT_ID, &fake.password()).await;
    assert_eq!(resp.status(), StatusCode::FORBIDDEN);
    let body: Value = resp.json().await.expect("json");
    assert_eq!(body["error"], "unauthorized_client");
    assert_eq!(
        body["error_description"],
        "Grant type 'password' not allowed for the client."
    );
}

#[tokio::test]
async fn missing_csrf_fault_omits_the_cookie_and_the_login_is_refused() {
    let fake = FakePeloton::start(Config::default()).await;
    fake.faults().skip_csrf_for_next_logins(1);
    let LoginStep::Refused(resp) = start_login(&fake, &browser(), &pkce(), &fake.password()).await
    else {
        panic!("login without _csrf accepted");
    };
    assert_eq!(resp.status(), StatusCode::FORBIDDEN);
    // The fault was for one login only.
    assert!(matches!(
        start_login(&fake, &browser(), &pkce(), &fake.password()).await,
        LoginStep::Form(_)
    ));
}

#[tokio::test]
async fn legacy_login_answers_the_retired_403() {
    let fake = FakePeloton::start(Config::default()).await;
    let resp = Client::new()
        .post(format!("{}/auth/login", fake.url()))
        .json(&json!({"username_or_email": "x", "password": "y"}))
        .send()
        .await
        .expect("legacy");
    assert_eq!(resp.status(), StatusCode::FORBIDDEN);
    let body: Value = resp.json().await.expect("json");
    assert_eq!(
        body["message"],
        "Access forbidden. Endpoint no longer accepting requests."
    );
}

#[tokio::test]
async fn three_hundred_workouts_page_in_three_pages_of_one_hundred() {
    let fake = FakePeloton::start(Config {
        workouts: 300,
        ..Config::default()
    })
    .await;
    let t = token(&fake).await;
    let mut ids = Vec::new();
    let mut page = 0;
    loop {
        let body = api_json(
            &fake,
            &t,
            &format!("/api/user/{}/workouts?joins=ride,ride.instructor&limit=100&page={page}&sort_by=-created", fake.user_id()),
        )
        .await;
        assert_eq!(body["total"], 300);
        assert_eq!(body["page_count"], 3);
        assert_eq!(body["data"].as_array().map(Vec::len), Some(100));
        for w in body["data"].as_array().expect("data") {
            assert!(w.get("leaderboard_rank").is_none());
            ids.push(w["id"].as_str().expect("id").to_owned());
        }
        if body["show_next"] != true {
            break;
        }
        page += 1;
    }
    assert_eq!(page, 2);
    assert_eq!(ids, fake.workout_ids());
    // Newest first by created_at.
    let capped = api_json(
        &fake,
        &t,
        &format!("/api/user/{}/workouts?limit=500", fake.user_id()),
    )
    .await;
    assert_eq!(capped["limit"], 100);
}

#[tokio::test]
async fn list_joins_instructor_and_detail_has_leaderboard() {
    let fake = FakePeloton::start(Config {
        workouts: 11,
        ..Config::default()
    })
    .await;
    let t = token(&fake).await;
    let body = api_json(
        &fake,
        &t,
        &format!(
            "/api/user/{}/workouts?joins=ride,ride.instructor&limit=100",
            fake.user_id()
        ),
    )
    .await;
    let data = body["data"].as_array().expect("data");
    let with_instructor = data
        .iter()
        .filter(|w| w["ride"]["instructor"]["name"].is_string())
        .count();
    // Every template but the scenic ride has an instructor (free rides a pseudo one).
    assert_eq!(with_instructor, 10);
    let plain = api_json(
        &fake,
        &t,
        &format!("/api/user/{}/workouts?joins=ride", fake.user_id()),
    )
    .await;
    assert!(plain["data"]
        .as_array()
        .expect("data")
        .iter()
        .all(|w| w["ride"]["instructor"].get("id").is_none()));
    let id = &fake.workout_ids()[0];
    let detail = api_json(
        &fake,
        &t,
        &format!("/api/workout/{id}?joins=ride,ride.instructor"),
    )
    .await;
    assert!(detail.get("leaderboard_rank").is_some());
    assert_eq!(detail["id"], id.as_str());
    let bad = api(&fake, &t, &format!("/api/workout/{id}?joins=peloton.ride")).await;
    assert_eq!(bad.status(), StatusCode::BAD_REQUEST);
}

#[tokio::test]
async fn added_workouts_come_first() {
    let fake = FakePeloton::start(Config::default()).await;
    let t = token(&fake).await;
    let new = fake.add_workouts(3);
    let body = api_json(
        &fake,
        &t,
        &format!("/api/user/{}/workouts?limit=5", fake.user_id()),
    )
    .await;
    let first: Vec<&str> = body["data"].as_array().expect("data")[..3]
        .iter()
        .filter_map(|w| w["id"].as_str())
        .collect();
    assert_eq!(first, new);
    assert_eq!(body["total"], 13);
}

#[tokio::test]
async fn performance_graph_honours_every_n_and_keeps_summaries() {
    let fake = FakePeloton::start(Config::default()).await;
    let t = token(&fake).await;
    let id = &fake.workout_ids()[0];
    let full = api_json(
        &fake,
        &t,
        &format!("/api/workout/{id}/performance_graph?every_n=1"),
    )
    .await;
    let thin = api_json(
        &fake,
        &t,
        &format!("/api/workout/{id}/performance_graph?every_n=60"),
    )
    .await;
    let n = |g: &Value| {
        g["seconds_since_pedaling_start"]
            .as_array()
            .map(Vec::len)
            .unwrap_or(0)
    };
    assert!(n(&thin) * 50 < n(&full), "{} vs {}", n(&thin), n(&full));
    assert_eq!(thin["summaries"], full["summaries"]);
    assert_eq!(thin["average_summaries"], full["average_summaries"]);
}

#[tokio::test]
async fn private_friend_is_403_and_unknown_user_404() {
    let fake = FakePeloton::start(Config {
        friends: vec![
            FriendSpec::public("open", 4),
            FriendSpec::private("closed", 4),
        ],
        ..Config::default()
    })
    .await;
    let t = token(&fake).await;
    let open = fake.friend_id("open").expect("open");
    let closed = fake.friend_id("closed").expect("closed");
    let body = api_json(
        &fake,
        &t,
        &format!("/api/user/{open}/workouts?joins=ride,ride.instructor"),
    )
    .await;
    assert_eq!(body["total"], 4);
    let resp = api(&fake, &t, &format!("/api/user/{closed}/workouts")).await;
    assert_eq!(resp.status(), StatusCode::FORBIDDEN);
    let closed_workout = &fake.user_workout_ids(&closed)[0];
    assert_eq!(
        api(&fake, &t, &format!("/api/workout/{closed_workout}"))
            .await
            .status(),
        StatusCode::FORBIDDEN
    );
    let resp = api(&fake, &t, &format!("/api/user/{}/workouts", "0".repeat(32))).await;
    assert_eq!(resp.status(), StatusCode::NOT_FOUND);

    let following = api_json(
        &fake,
        &t,
        &format!("/api/user/{}/following?page=0&limit=100", fake.user_id()),
    )
    .await;
    let data = following["data"].as_array().expect("data");
    assert_eq!(data.len(), 2);
    let entry = |name: &str| {
        data.iter()
            .find(|e| e["username"] == name)
            .expect("entry")
            .clone()
    };
    assert_eq!(entry("closed")["is_profile_private"], true);
    assert!(entry("closed")["total_workouts"].is_null());
    assert_eq!(entry("open")["total_workouts"], 4);
    for key in [
        "id",
        "image_url",
        "location",
        "total_followers",
        "total_following",
        "authed_user_follows",
        "relationship",
        "category",
    ] {
        assert!(entry("open").get(key).is_some(), "{key}");
    }
}

#[tokio::test]
async fn instructors_page_has_real_and_generated_instructors() {
    let fake = FakePeloton::start(Config {
        instructors: 30,
        ..Config::default()
    })
    .await;
    let t = token(&fake).await;
    let body = api_json(&fake, &t, "/api/instructor?page=0&limit=100").await;
    let data = body["data"].as_array().expect("data");
    assert_eq!(data.len(), 30);
    assert!(data.iter().any(|i| i["name"] == "Christine D'Ercole"));
    assert!(data
        .iter()
        .all(|i| i["id"].as_str().is_some_and(|id| id.len() == 32)));
    assert!(data.iter().all(|i| i["fitness_disciplines"].is_array()));
}

#[tokio::test]
async fn expired_or_missing_token_gets_the_real_401_body() {
    let fake = FakePeloton::start(Config::default()).await;
    let t = token(&fake).await;
    assert_eq!(api(&fake, &t, "/api/me").await.status(), StatusCode::OK);
    fake.expire_tokens();
    let resp = api(&fake, &t, "/api/me").await;
    assert_eq!(resp.status(), StatusCode::UNAUTHORIZED);
    assert_eq!(resp.text().await.expect("body"), NOT_LOGGED_IN);
    let resp = Client::new()
        .get(format!("{}/api/me", fake.url()))
        .send()
        .await
        .expect("call");
    assert_eq!(resp.status(), StatusCode::UNAUTHORIZED);
    // A zero lifetime makes new tokens expire at once.
    fake.faults().set_token_ttl_secs(0);
    let t = token(&fake).await;
    assert_eq!(
        api(&fake, &t, "/api/me").await.status(),
        StatusCode::UNAUTHORIZED
    );
}

async fn refresh(fake: &FakePeloton, refresh_token: &str, form: bool) -> reqwest::Response {
    let req = Client::new().post(format!("{}/oauth/token", fake.url()));
    let params = [
        ("grant_type", "refresh_token"),
        ("client_id", WEB_CLIENT_ID),
        ("refresh_token", refresh_token),
    ];
    let req = if form {
        req.form(&params)
    } else {
        req.json(&params.iter().copied().collect::<HashMap<_, _>>())
    };
    req.send().await.expect("refresh")
}

#[tokio::test]
async fn refresh_rotates_the_refresh_token() {
    let fake = FakePeloton::start(Config::default()).await;
    let tokens = login(&fake).await;
    let first = tokens["refresh_token"]
        .as_str()
        .expect("refresh")
        .to_owned();
    let resp = refresh(&fake, &first, true).await;
    assert_eq!(resp.status(), StatusCode::OK);
    let next: Value = resp.json().await.expect("json");
    let second = next["refresh_token"].as_str().expect("rotated").to_owned();
    assert_ne!(first, second);
    assert_eq!(
        api(
            &fake,
            next["access_token"].as_str().expect("access"),
            "/api/me"
        )
        .await
        .status(),
        StatusCode::OK
    );
    // The spent token is refused; the new one works (as JSON too).
    let reused = refresh(&fake, &first, false).await;
    assert_eq!(reused.status(), StatusCode::FORBIDDEN);
    let body: Value = reused.json().await.expect("json");
    assert_eq!(body["error"], "invalid_grant");
    assert_eq!(
        refresh(&fake, &second, false).await.status(),
        StatusCode::OK
    );
    assert_eq!(fake.refresh_count(), 3);
    assert_eq!(fake.login_count(), 1);
}

#[tokio::test]
async fn refuse_refresh_fault_refuses_valid_refresh_tokens() {
    let fake = FakePeloton::start(Config::default()).await;
    let tokens = login(&fake).await;
    fake.faults().set_refuse_refresh(true);
    let resp = refresh(
        &fake,
        tokens["refresh_token"].as_str().expect("refresh"),
        true,
    )
    .await;
    assert_eq!(resp.status(), StatusCode::FORBIDDEN);
}

#[tokio::test]
async fn fault_fraction_produces_about_that_many_429s() {
    let fake = FakePeloton::start(Config {
        seed: 7,
        ..Config::default()
    })
    .await;
    let t = token(&fake).await;
    fake.faults().set_rate_429(0.5);
    fake.faults().set_retry_after(Some(3));
    fake.reset_log();
    let mut too_many = 0;
    for _ in 0..200 {
        let resp = api(&fake, &t, "/api/me").await;
        if resp.status() == StatusCode::TOO_MANY_REQUESTS {
            assert_eq!(
                resp.headers()
                    .get("retry-after")
                    .and_then(|v| v.to_str().ok()),
                Some("3")
            );
            too_many += 1;
        }
    }
    assert!((60..=140).contains(&too_many), "{too_many} of 200");
    assert_eq!(fake.count(|r| r.status == 429), too_many);
    assert_eq!(fake.api_request_count(), 200);
}

#[tokio::test]
async fn server_errors_and_dropped_connections_on_demand() {
    let fake = FakePeloton::start(Config::default()).await;
    let t = token(&fake).await;
    fake.faults().set_server_error_rate(1.0);
    let status = api(&fake, &t, "/api/me").await.status();
    assert!([500, 502, 503].contains(&status.as_u16()), "{status}");
    fake.faults().clear();
    fake.faults().set_drop_rate(1.0);
    let err = Client::new()
        .get(format!("{}/api/me", fake.url()))
        .bearer_auth(&t)
        .send()
        .await
        .expect_err("connection should be dropped");
    assert!(!err.is_status(), "{err:#}");
    assert_eq!(fake.count(|r| r.status == 0), 1);
    fake.faults().clear();
    assert_eq!(api(&fake, &t, "/api/me").await.status(), StatusCode::OK);
}

#[tokio::test]
async fn field_faults_change_workout_json() {
    let fake = FakePeloton::start(Config::default()).await;
    let t = token(&fake).await;
    let id = fake.workout_ids()[0].clone();
    fake.faults().set_remove_field(Some("total_work"));
    fake.faults().set_retype_field(Some("start_time"));
    fake.faults().set_extra_field(Some("brand_new_field"));
    let d = api_json(&fake, &t, &format!("/api/workout/{id}")).await;
    assert!(d.get("total_work").is_none());
    assert!(d["start_time"].is_string());
    assert!(d.get("brand_new_field").is_some());
    let list = api_json(&fake, &t, &format!("/api/user/{}/workouts", fake.user_id())).await;
    assert!(list["data"][0].get("total_work").is_none());
}

#[tokio::test]
async fn control_endpoint_sets_faults_and_unknown_paths_are_flagged() {
    let fake = FakePeloton::start(Config::default()).await;
    let t = token(&fake).await;
    let resp = Client::new()
        .post(format!("{}/__control/faults", fake.url()))
        .json(&json!({"rate_429": 1.0}))
        .send()
        .await
        .expect("control");
    assert_eq!(resp.status(), StatusCode::OK);
    assert_eq!(
        api(&fake, &t, "/api/me").await.status(),
        StatusCode::TOO_MANY_REQUESTS
    );
    fake.faults().clear();
    assert_eq!(
        api(&fake, &t, "/api/nope").await.status(),
        StatusCode::NOT_FOUND
    );
    let unexpected = fake.unexpected_requests();
    assert_eq!(unexpected.len(), 1);
    assert_eq!(unexpected[0].path, "/api/nope");
}

#[tokio::test]
async fn updated_and_removed_workouts_show_in_the_api() {
    let fake = FakePeloton::start(Config::default()).await;
    let t = token(&fake).await;
    let ids = fake.workout_ids();
    assert!(fake.update_workout(&ids[0], |w| w["total_work"] = json!(123456.0)));
    let d = api_json(&fake, &t, &format!("/api/workout/{}", ids[0])).await;
    assert_eq!(d["total_work"], 123456.0);
    assert!(fake.remove_workout(&ids[1]));
    assert_eq!(
        api(&fake, &t, &format!("/api/workout/{}", ids[1]))
            .await
            .status(),
        StatusCode::NOT_FOUND
    );
}

#[tokio::test]
async fn binary_prints_its_url_first_and_serves() {
    use tokio::io::AsyncBufReadExt as _;
    let mut child = tokio::process::Command::new(env!("CARGO_BIN_EXE_fake-peloton"))
        .args(["--port", "0", "--workouts", "3"])
        .stdout(std::process::Stdio::piped())
        .kill_on_drop(true)
        .spawn()
        .expect("spawn fake-peloton");
    let stdout = child.stdout.take().expect("stdout");
    let mut lines = tokio::io::BufReader::new(stdout).lines();
    let first = lines.next_line().await.expect("read").expect("first line");
    let url = first
        .strip_prefix("listening on ")
        .expect("listening line")
        .to_owned();
    assert!(url.starts_with("http://127.0.0.1:"));
    let resp = Client::new()
        .get(format!("{url}/api/me"))
        .send()
        .await
        .expect("call");
    assert_eq!(resp.status(), StatusCode::UNAUTHORIZED);
    child.kill().await.expect("kill");
}

#[tokio::test]
async fn one_drifted_entry_changes_only_that_entry_of_its_page() {
    let fake = FakePeloton::start(Config {
        workouts: 30,
        ..Config::default()
    })
    .await;
    let t = token(&fake).await;
    let me = fake.user_id();
    let ids = fake.workout_ids();
    fake.faults().drift_entry(EntryDrift::at(
        ListKind::Workouts,
        12,
        "start_time",
        json!("2024-03-01T07:00:00Z"),
    ));
    fake.faults().drift_entry(EntryDrift::of(
        ListKind::Workouts,
        &ids[25],
        "id",
        Value::Null,
    ));
    let page = api_json(
        &fake,
        &t,
        &format!("/api/user/{me}/workouts?page=1&limit=10"),
    )
    .await;
    let data = page["data"].as_array().unwrap();
    assert_eq!(data.len(), 10);
    assert_eq!(data[2]["start_time"], "2024-03-01T07:00:00Z");
    assert_eq!(
        data[2]["id"],
        ids[12].as_str(),
        "only the drifted field changes"
    );
    assert!(
        data.iter()
            .enumerate()
            .all(|(i, e)| i == 2 || e["start_time"].is_number()),
        "the rest of the page is intact"
    );
    let last = api_json(
        &fake,
        &t,
        &format!("/api/user/{me}/workouts?page=2&limit=10"),
    )
    .await;
    assert!(last["data"][5]["id"].is_null());
    assert_eq!(last["data"][4]["id"], ids[24].as_str());
    let detail = api_json(&fake, &t, &format!("/api/workout/{}", ids[12])).await;
    assert!(
        detail["start_time"].is_number(),
        "the detail does not drift"
    );

    let friend = fake.friend_ids()[0].clone();
    fake.faults()
        .drift_entry(EntryDrift::at(ListKind::Following, 1, "id", Value::Null));
    fake.faults()
        .drift_entry(EntryDrift::at(ListKind::Instructors, 0, "name", Value::Null).removing());
    let following = api_json(&fake, &t, &format!("/api/user/{me}/following")).await;
    assert_eq!(following["data"][0]["id"], friend.as_str());
    assert!(following["data"][1]["id"].is_null());
    let instructors = api_json(&fake, &t, "/api/instructor?limit=5").await;
    assert!(instructors["data"][0].get("name").is_none());
    assert!(instructors["data"][1]["name"].is_string());
    fake.faults().clear();
    let page = api_json(
        &fake,
        &t,
        &format!("/api/user/{me}/workouts?page=1&limit=10"),
    )
    .await;
    assert!(page["data"][2]["start_time"].is_number());
}

#[tokio::test]
async fn a_list_can_answer_200_without_a_data_array() {
    let fake = FakePeloton::start(Config::default()).await;
    let t = token(&fake).await;
    let me = fake.user_id();
    fake.faults()
        .set_list_without_data(ListKind::Following, true);
    let resp = api(&fake, &t, &format!("/api/user/{me}/following")).await;
    assert_eq!(resp.status(), StatusCode::OK);
    assert_eq!(resp.json::<Value>().await.unwrap(), json!({}));
    let workouts = api_json(&fake, &t, &format!("/api/user/{me}/workouts")).await;
    assert_eq!(
        workouts["data"].as_array().unwrap().len(),
        10,
        "other lists answer"
    );
    let resp = Client::new()
        .post(format!("{}/__control/faults", fake.url()))
        .json(&json!({
            "lists_without_data": ["instructors", "workouts"],
            "drift_entries": [{"list": "following", "index": 0, "field": "id", "value": null}],
        }))
        .send()
        .await
        .expect("control");
    assert_eq!(resp.status(), StatusCode::OK);
    let now: Value = resp.json().await.unwrap();
    assert_eq!(
        now["lists_without_data"],
        json!(["instructors", "workouts"])
    );
    assert_eq!(api_json(&fake, &t, "/api/instructor").await, json!({}));
    assert_eq!(
        api_json(&fake, &t, &format!("/api/user/{me}/workouts")).await,
        json!({})
    );
    let following = api_json(&fake, &t, &format!("/api/user/{me}/following")).await;
    assert!(following["data"][0]["id"].is_null(), "{following}");
}

/// `/authorize` with `p`, as a browser opens it; returns the sign-in page's URL and HTML.
async fn open_sign_in_page(fake: &FakePeloton, b: &Browser, p: &Pkce) -> (String, String) {
    let resp = b
        .http
        .get(format!("{}/authorize", fake.url()))
        .query(&[
            ("client_id", WEB_CLIENT_ID),
            ("audience", AUDIENCE),
            ("scope", SCOPE),
            ("response_type", "code"),
            ("redirect_uri", REDIRECT_URI),
            ("state", &p.state),
            ("nonce", &p.nonce),
            ("code_challenge", &p.challenge),
            ("code_challenge_method", "S256"),
        ])
        .send()
        .await
        .expect("authorize");
    let page_url = location(&resp);
    let page = b.http.get(&page_url).send().await.expect("login page");
    assert_eq!(page.status(), StatusCode::OK);
    assert!(page
        .headers()
        .get("content-type")
        .is_some_and(|v| v.to_str().unwrap_or("").starts_with("text/html")));
    (page_url, page.text().await.expect("page"))
}

/// Fills the page's first form as a person would (hidden fields kept, `typed` added, the
/// button's name and value sent) and posts it; returns the answer.
async fn submit(
    fake: &FakePeloton,
    b: &Browser,
    html: &str,
    typed: &[(&str, &str)],
) -> reqwest::Response {
    let (action, mut fields) = parse_form(html);
    for (name, _) in typed {
        assert!(
            html.contains(&format!("name=\"{name}\"")),
            "the page has no field {name}: {html}"
        );
    }
    fields.extend(typed.iter().map(|(k, v)| (k.to_string(), v.to_string())));
    fields.push(("action".into(), "default".into()));
    let action = url::Url::parse(&fake.url())
        .and_then(|u| u.join(&action))
        .expect("action");
    b.http
        .post(action)
        .form(&fields)
        .send()
        .await
        .expect("form post")
}

/// Follows `Location`s until the redirect URI, which is never fetched.
async fn follow_to_callback(b: &Browser, mut resp: reqwest::Response) -> String {
    for _ in 0..5 {
        assert_eq!(resp.status(), StatusCode::FOUND, "expected a redirect");
        let next = location(&resp);
        if next.starts_with(REDIRECT_URI) {
            return next;
        }
        resp = b.http.get(&next).send().await.expect("redirect");
    }
    panic!("no callback after 5 redirects");
}

#[tokio::test]
async fn the_sign_in_page_is_a_form_that_ends_on_the_callback_with_a_working_code() {
    let fake = FakePeloton::start(Config::default()).await;
    let b = browser();
    let p = pkce();
    let (_, html) = open_sign_in_page(&fake, &b, &p).await;
    assert!(html.contains("type=\"password\""), "{html}");

    let resp = submit(
        &fake,
        &b,
        &html,
        &[("username", &fake.email()), ("password", &fake.password())],
    )
    .await;
    let callback = follow_to_callback(&b, resp).await;
    assert_eq!(
        query_param(&callback, "state").as_deref(),
        Some(p.state.as_str())
    );
    let code = query_param(&callback, "code").expect("code");

    let tokens: Value = b
        .http
        .post(format!("{}/oauth/token", fake.url()))
        .json(&json!({
            "grant_type": "authorization_code",
            "client_id": WEB_CLIENT_ID,
            "code_verifier": p.verifier,
            "code": code,
            "redirect_uri": REDIRECT_URI,
        }))
        .send()
        .await
        .expect("token")
        .json()
        .await
        .expect("json");
    assert!(tokens["refresh_token"].as_str().is_some(), "{tokens}");
    let me = api_json(
        &fake,
        tokens["access_token"].as_str().expect("access"),
        "/api/me",
    )
    .await;
    assert_eq!(me["id"], fake.user_id());
}

#[tokio::test]
async fn a_wrong_password_shows_the_form_again_with_one_line() {
    let fake = FakePeloton::start(Config::default()).await;
    let b = browser();
    let (_, html) = open_sign_in_page(&fake, &b, &pkce()).await;
    let resp = submit(
        &fake,
        &b,
        &html,
        &[("username", &fake.email()), ("password", "wrong")],
    )
    .await;
    assert_eq!(resp.status(), StatusCode::BAD_REQUEST);
    assert!(resp.headers().get("location").is_none());
    let again = resp.text().await.expect("page");
    assert!(again.contains("Wrong email or password."), "{again}");
    assert!(again.contains("name=\"password\""));
}

#[tokio::test]
async fn with_mfa_on_the_password_leads_to_a_one_time_code_step() {
    let fake = FakePeloton::start(Config::default()).await;
    fake.set_mfa_code(Some("123456"));
    let b = browser();
    let p = pkce();
    let (_, html) = open_sign_in_page(&fake, &b, &p).await;
    let resp = submit(
        &fake,
        &b,
        &html,
        &[("username", &fake.email()), ("password", &fake.password())],
    )
    .await;
    assert_eq!(resp.status(), StatusCode::FOUND);
    let mfa_url = location(&resp);
    assert!(mfa_url.contains("/u/mfa-otp-challenge"), "{mfa_url}");
    let mfa_page = b.http.get(&mfa_url).send().await.expect("mfa page");
    let mfa_html = mfa_page.text().await.expect("html");
    assert!(mfa_html.contains("name=\"code\""), "{mfa_html}");

    let wrong = submit(&fake, &b, &mfa_html, &[("code", "000000")]).await;
    assert_eq!(wrong.status(), StatusCode::BAD_REQUEST);
    assert!(wrong.text().await.expect("page").contains("invalid"));

    let right = submit(&fake, &b, &mfa_html, &[("code", "123456")]).await;
    let callback = follow_to_callback(&b, right).await;
    assert_eq!(
        query_param(&callback, "state").as_deref(),
        Some(p.state.as_str())
    );
    assert!(query_param(&callback, "code").is_some());

    // Over HTTP too, for tests that run the fake as a process.
    let off = b
        .http
        .post(format!("{}/__control/mfa", fake.url()))
        .json(&json!({"code": null}))
        .send()
        .await
        .expect("control");
    assert_eq!(off.status(), StatusCode::NO_CONTENT);
    let (_, html) = open_sign_in_page(&fake, &b, &pkce()).await;
    let resp = submit(
        &fake,
        &b,
        &html,
        &[("username", &fake.email()), ("password", &fake.password())],
    )
    .await;
    assert!(location(&resp).contains("/authorize/resume"));
}

#[tokio::test]
async fn revoking_over_http_refuses_the_refresh_token() {
    let fake = FakePeloton::start(Config::default()).await;
    let tokens = login(&fake).await;
    let refresh_token = tokens["refresh_token"]
        .as_str()
        .expect("refresh")
        .to_owned();
    let resp = browser()
        .http
        .post(format!("{}/__control/revoke_tokens", fake.url()))
        .send()
        .await
        .expect("control");
    assert_eq!(resp.status(), StatusCode::NO_CONTENT);
    let refused = refresh(&fake, &refresh_token, true).await;
    assert_eq!(refused.status(), StatusCode::FORBIDDEN);
}

#[tokio::test]
async fn one_workouts_graph_can_be_missing_drifted_or_failing_while_its_detail_reads() {
    let fake = FakePeloton::start(Config::default()).await;
    let t = token(&fake).await;
    let ids = fake.workout_ids();
    let graph = |id: &str| format!("/api/workout/{id}/performance_graph?every_n=5");
    fake.faults()
        .set_graph_fault(&ids[0], Some(GraphFault::Missing));
    fake.faults()
        .set_graph_fault(&ids[1], Some(GraphFault::Drifted));
    fake.faults()
        .set_graph_fault(&ids[2], Some(GraphFault::Unavailable));
    let missing = api(&fake, &t, &graph(&ids[0])).await;
    assert_eq!(missing.status(), StatusCode::NOT_FOUND);
    let drifted = api_json(&fake, &t, &graph(&ids[1])).await;
    assert!(drifted["summaries"].is_string(), "{drifted}");
    assert!(drifted["average_summaries"].is_array());
    let failing = api(&fake, &t, &graph(&ids[2])).await;
    assert_eq!(failing.status(), StatusCode::SERVICE_UNAVAILABLE);
    for id in &ids[..3] {
        api_json(&fake, &t, &format!("/api/workout/{id}")).await;
    }
    assert!(api_json(&fake, &t, &graph(&ids[3])).await["summaries"].is_array());
    fake.faults().clear();
    assert!(api_json(&fake, &t, &graph(&ids[0])).await["summaries"].is_array());
}
