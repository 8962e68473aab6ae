//! The fake Coda server seen from outside, through HTTP with reqwest: every behaviour of
//! `coda-api.md` §11 the client relies on.

use std::time::Duration;

use fake_coda::{Config, FakeCoda};
use reqwest::{Method, StatusCode};
use serde_json::{json, Value};

/// A thin HTTP client for one fake.
struct Api {
    http: reqwest::Client,
    base: String,
    token: String,
    doc: String,
}

impl Api {
    fn new(coda: &FakeCoda) -> Self {
        Self {
            http: reqwest::Client::new(),
            base: coda.url(),
            token: coda.token(),
            doc: coda.doc_id(),
        }
    }

    fn rows_path(&self, coda: &FakeCoda, table: &str) -> String {
        format!("/docs/{}/tables/{}/rows", self.doc, coda.table_id(table))
    }

    async fn call(
        &self,
        method: Method,
        path: &str,
        body: Option<Value>,
        headers: &[(&str, &str)],
    ) -> (StatusCode, Value) {
        let mut req = self
            .http
            .request(method, format!("{}{path}", self.base))
            .bearer_auth(&self.token);
        for (k, v) in headers {
            req = req.header(*k, *v);
        }
        if let Some(body) = body {
            req = req.json(&body);
        }
        let resp = req.send().await.expect("request reaches the fake");
        let status = resp.status();
        let text = resp.text().await.expect("body");
        (
            status,
            serde_json::from_str(&text).unwrap_or(Value::String(text)),
        )
    }

    async fn get(&self, path: &str) -> (StatusCode, Value) {
        self.call(Method::GET, path, None, &[]).await
    }

    async fn post(&self, path: &str, body: Value) -> (StatusCode, Value) {
        self.call(Method::POST, path, Some(body), &[]).await
    }

    /// Follows `pageToken` to the end and returns every item.
    async fn all_pages(&self, first: &str) -> Vec<Value> {
        let mut items = Vec::new();
        let (status, mut page) = self.get(first).await;
        assert_eq!(status, StatusCode::OK, "{page}");
        loop {
            items.extend(page["items"].as_array().expect("items").iter().cloned());
            let Some(token) = page["nextPageToken"].as_str() else {
                return items;
            };
            // Other parameters are ignored when a pageToken is present.
            let path = format!(
                "{}?pageToken={token}&limit=1&sortBy=bogus",
                first.split('?').next().unwrap_or(first)
            );
            let (status, next) = self.get(&path).await;
            assert_eq!(status, StatusCode::OK, "{next}");
            page = next;
        }
    }
}

fn fast() -> Config {
    Config::default()
        .without_rate_limits()
        .with_mutation_delay(Duration::from_millis(10))
}

fn workout(id: &str, title: &str) -> Value {
    json!({"cells": [{"column": "Workout ID", "value": id}, {"column": "Title", "value": title}]})
}

fn error(status: u16, message: &str) -> Value {
    let reason = StatusCode::from_u16(status)
        .unwrap()
        .canonical_reason()
        .unwrap();
    json!({"statusCode": status, "statusMessage": reason, "message": message})
}

#[tokio::test]
async fn keyed_upsert_twice_updates_the_row_instead_of_duplicating_it() {
    let coda = FakeCoda::start(fast()).await;
    let api = Api::new(&coda);
    let path = api.rows_path(&coda, "Workouts");
    let key = coda.column_id("Workouts", "Workout ID");
    for title in ["First", "Second"] {
        let body =
            json!({"rows": [workout("w1", title), workout("w2", title)], "keyColumns": [key]});
        let (status, answer) = api.post(&path, body).await;
        assert_eq!(status, StatusCode::ACCEPTED, "{answer}");
        assert!(
            answer.get("addedRowIds").is_none(),
            "keyed upserts do not announce row IDs: {answer}"
        );
        coda.wait_idle().await;
    }
    assert_eq!(coda.row_count("Workouts"), 2);
    assert!(coda.duplicate_keys("Workouts", "Workout ID").is_empty());
    assert!(coda.rows("Workouts").iter().all(|r| r["Title"] == "Second"));
}

#[tokio::test]
async fn keyed_upsert_updates_every_matching_row() {
    let coda = FakeCoda::start(fast()).await;
    let api = Api::new(&coda);
    for _ in 0..2 {
        coda.insert_user_row("Workouts", &[("Workout ID", json!("dup"))]);
    }
    let body = json!({"rows": [workout("dup", "Both")], "keyColumns": ["Workout ID"]});
    assert_eq!(
        api.post(&api.rows_path(&coda, "Workouts"), body).await.0,
        StatusCode::ACCEPTED
    );
    coda.wait_idle().await;
    let titles: Vec<Value> = coda
        .rows("Workouts")
        .iter()
        .map(|r| r["Title"].clone())
        .collect();
    assert_eq!(titles, [json!("Both"), json!("Both")]);
    assert_eq!(coda.duplicate_keys("Workouts", "Workout ID"), ["dup"]);
}

#[tokio::test]
async fn insert_without_keys_returns_the_new_row_ids_in_order() {
    let coda = FakeCoda::start(fast()).await;
    let api = Api::new(&coda);
    let body = json!({"rows": [workout("a", "A"), workout("b", "B")]});
    let (status, answer) = api.post(&api.rows_path(&coda, "Workouts"), body).await;
    assert_eq!(status, StatusCode::ACCEPTED);
    assert!(
        answer["requestId"].as_str().unwrap().starts_with("mutate:"),
        "{answer}"
    );
    let ids: Vec<&str> = answer["addedRowIds"]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| v.as_str().unwrap())
        .collect();
    assert!(ids.iter().all(|id| id.starts_with("i-")), "{ids:?}");
    coda.wait_idle().await;
    let rows = coda.rows("Workouts");
    let stored: Vec<(&str, &str)> = rows
        .iter()
        .map(|r| {
            (
                r["@id"].as_str().unwrap(),
                r["Workout ID"].as_str().unwrap(),
            )
        })
        .collect();
    assert_eq!(stored, [(ids[0], "a"), (ids[1], "b")]);
}

#[tokio::test]
async fn a_write_is_accepted_at_once_and_mutation_status_completes_later() {
    let coda = FakeCoda::start(fast().with_mutation_delay(Duration::from_secs(1))).await;
    let api = Api::new(&coda);
    let (_, answer) = api
        .post(
            &api.rows_path(&coda, "Workouts"),
            json!({"rows": [workout("a", "A")]}),
        )
        .await;
    let status_path = format!("/mutationStatus/{}", answer["requestId"].as_str().unwrap());
    let (status, first) = api.get(&status_path).await;
    assert_eq!(
        (status, first),
        (StatusCode::OK, json!({"completed": false}))
    );
    assert_eq!(
        coda.row_count("Workouts"),
        0,
        "202 means queued, not applied"
    );
    let deadline = tokio::time::Instant::now() + Duration::from_secs(20);
    loop {
        let (_, body) = api.get(&status_path).await;
        if body == json!({"completed": true}) {
            break;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "mutation never completed: {body}"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert_eq!(coda.row_count("Workouts"), 1);
    assert_eq!(
        api.get("/mutationStatus/mutate:unknown").await.0,
        StatusCode::NOT_FOUND
    );
}

#[tokio::test]
async fn paging_with_page_tokens_returns_every_row_exactly_once() {
    let coda = FakeCoda::start(fast().with_server_max_limit(20)).await;
    let api = Api::new(&coda);
    let mut written: Vec<String> = (0..61)
        .map(|i| coda.insert_user_row("Friends", &[("User ID", json!(format!("u{i}")))]))
        .collect();
    let path = api.rows_path(&coda, "Friends");
    let mut seen: Vec<String> = api
        .all_pages(&format!("{path}?limit=7"))
        .await
        .iter()
        .map(|r| r["id"].as_str().unwrap().to_owned())
        .collect();
    seen.sort();
    written.sort();
    assert_eq!(seen, written);
    let (_, page) = api.get(&format!("{path}?limit=1000")).await;
    assert_eq!(
        page["items"].as_array().unwrap().len(),
        20,
        "limit is cut to the server maximum"
    );
    let (_, page) = api.get(&path).await;
    assert_eq!(
        page["items"].as_array().unwrap().len(),
        20,
        "the default limit (25) is cut to the server maximum too"
    );
    let (status, body) = api.get(&format!("{path}?pageToken=garbage")).await;
    assert_eq!(
        (status, body),
        (StatusCode::BAD_REQUEST, error(400, "Invalid pageToken."))
    );
}

#[tokio::test]
async fn rows_are_keyed_by_column_id_unless_names_are_asked_for_and_can_be_filtered() {
    let coda = FakeCoda::start(fast()).await;
    let api = Api::new(&coda);
    coda.insert_user_row(
        "Friends",
        &[("User ID", json!("u1")), ("Total Workouts", json!(12))],
    );
    coda.insert_user_row(
        "Friends",
        &[("User ID", json!("u2")), ("Private Profile", json!(true))],
    );
    let path = api.rows_path(&coda, "Friends");
    let (_, page) = api.get(&path).await;
    let first = &page["items"][0];
    assert_eq!(
        first["values"][coda.column_id("Friends", "Total Workouts")],
        12
    );
    assert_eq!(
        first["values"][coda.column_id("Friends", "Username")],
        "",
        "unset cells read as empty strings"
    );
    assert_eq!(first["name"], "u1");
    let query = url_escape("\"User ID\":\"u2\"");
    let (_, page) = api
        .get(&format!("{path}?useColumnNames=true&query={query}"))
        .await;
    let items = page["items"].as_array().unwrap();
    assert_eq!(items.len(), 1);
    assert_eq!(items[0]["values"]["Private Profile"], true);
    let (status, row) = api
        .get(&format!("{path}/{}", items[0]["id"].as_str().unwrap()))
        .await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(row["parent"]["id"], coda.table_id("Friends"));
}

fn url_escape(s: &str) -> String {
    s.bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' => {
                char::from(b).to_string()
            }
            _ => format!("%{b:02X}"),
        })
        .collect()
}

#[tokio::test]
async fn the_fourth_write_within_ten_seconds_is_refused_with_429_and_no_retry_after() {
    let coda = FakeCoda::start(Config::default()).await;
    let api = Api::new(&coda);
    let path = api.rows_path(&coda, "Workouts");
    for i in 0..3 {
        let (status, body) = api
            .post(&path, json!({"rows": [workout(&format!("w{i}"), "T")]}))
            .await;
        assert_eq!(status, StatusCode::ACCEPTED, "{body}");
    }
    let resp = reqwest::Client::new()
        .post(format!("{}{path}", coda.url()))
        .bearer_auth(coda.token())
        .json(&json!({"rows": [workout("w3", "T")]}))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), StatusCode::TOO_MANY_REQUESTS);
    assert!(
        resp.headers().get("retry-after").is_none(),
        "Coda sends no Retry-After"
    );
    assert_eq!(
        resp.json::<Value>().await.unwrap(),
        error(429, "Too Many Requests")
    );
    assert_eq!(
        api.get(&path).await.0,
        StatusCode::OK,
        "reads have their own bucket"
    );

    coda.faults().set_retry_after(Some(7));
    let resp = reqwest::Client::new()
        .delete(format!("{}{path}/i-nothing", coda.url()))
        .bearer_auth(coda.token())
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), StatusCode::TOO_MANY_REQUESTS);
    assert!(
        resp.headers().get("retry-after").is_some(),
        "the switch adds Retry-After"
    );
    assert_eq!(coda.write_request_count(), 5);
    assert_eq!(coda.accepted_write_count(), 3);
}

#[tokio::test]
async fn sticky_429_refuses_everything_until_switched_off() {
    let coda = FakeCoda::start(fast()).await;
    let api = Api::new(&coda);
    coda.faults().set_sticky_429(true);
    for _ in 0..3 {
        assert_eq!(api.get("/whoami").await.0, StatusCode::TOO_MANY_REQUESTS);
    }
    coda.faults().set_sticky_429(false);
    let (status, me) = api.get("/whoami").await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(me["type"], "user");
    assert!(me["workspace"]["id"].is_string());
}

#[tokio::test]
async fn next_429s_refuses_exactly_that_many_requests() {
    let coda = FakeCoda::start(fast()).await;
    let api = Api::new(&coda);
    coda.faults().set_next_429s(2);
    for _ in 0..2 {
        assert_eq!(api.get("/whoami").await.0, StatusCode::TOO_MANY_REQUESTS);
    }
    assert_eq!(api.get("/whoami").await.0, StatusCode::OK);
    assert_eq!(coda.faults().settings().next_429s, 0);
}

#[tokio::test]
async fn reads_lag_applied_writes_and_the_doc_version_header_refuses_stale_reads() {
    let coda = FakeCoda::start(fast().with_read_lag(Duration::from_secs(600))).await;
    let api = Api::new(&coda);
    let path = api.rows_path(&coda, "Workouts");
    let latest = [("X-Coda-Doc-Version", "latest")];
    assert_eq!(
        api.call(Method::GET, &path, None, &latest).await.0,
        StatusCode::OK,
        "nothing pending yet"
    );
    assert_eq!(
        api.call(Method::GET, &path, None, &[("X-Coda-Doc-Version", "")])
            .await
            .0,
        StatusCode::OK
    );
    let (status, body) = api
        .call(Method::GET, &path, None, &[("X-Coda-Doc-Version", "2")])
        .await;
    assert_eq!(
        (status, body),
        (
            StatusCode::BAD_REQUEST,
            error(400, "Doc is not yet up to date.")
        )
    );

    api.post(&path, json!({"rows": [workout("w1", "T")]})).await;
    coda.wait_idle().await;
    assert_eq!(coda.row_count("Workouts"), 1, "the write is applied");
    let (_, page) = api.get(&path).await;
    assert_eq!(
        page["items"],
        json!([]),
        "reads still show the old snapshot"
    );
    let (status, body) = api.call(Method::GET, &path, None, &latest).await;
    assert_eq!(
        (status, body),
        (
            StatusCode::BAD_REQUEST,
            error(400, "Doc is not yet up to date.")
        )
    );
}

#[tokio::test]
async fn lagging_reads_catch_up_once_the_snapshot_is_taken() {
    let coda = FakeCoda::start(fast().with_read_lag(Duration::from_millis(300))).await;
    let api = Api::new(&coda);
    let path = api.rows_path(&coda, "Workouts");
    api.post(&path, json!({"rows": [workout("w1", "T")]})).await;
    coda.wait_idle().await;
    let deadline = tokio::time::Instant::now() + Duration::from_secs(20);
    loop {
        let (status, page) = api
            .call(
                Method::GET,
                &path,
                None,
                &[("X-Coda-Doc-Version", "latest")],
            )
            .await;
        if status == StatusCode::OK {
            assert_eq!(
                page["items"].as_array().unwrap().len(),
                1,
                "fresh reads show the write"
            );
            break;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "snapshot never caught up: {page}"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

#[tokio::test]
async fn bodies_over_2_mb_and_rows_over_85_kb_are_refused_with_400() {
    let coda = FakeCoda::start(fast()).await;
    let api = Api::new(&coda);
    let path = api.rows_path(&coda, "Workouts");
    let big = "x".repeat(2_100_000);
    let (status, body) = api
        .post(&path, json!({"rows": [workout("w1", &big)]}))
        .await;
    assert_eq!(
        (status, body),
        (
            StatusCode::BAD_REQUEST,
            error(400, "request entity too large")
        )
    );
    let wide = "y".repeat(89_500);
    let (status, body) = api
        .post(
            &path,
            json!({"rows": [workout("w1", "ok"), workout("w2", &wide)]}),
        )
        .await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert_eq!(
        body,
        error(400, "Row edit of size 90 KB exceeds maximum size of 85 KB.")
    );
    coda.wait_idle().await;
    assert_eq!(
        coda.row_count("Workouts"),
        0,
        "a refused batch applies nothing, even its valid rows"
    );
}

#[tokio::test]
async fn writing_or_keying_on_a_calculated_column_is_refused() {
    let coda = FakeCoda::start(fast()).await;
    let api = Api::new(&coda);
    let path = api.rows_path(&coda, "Workouts");
    coda.make_formula("Workouts", "Title", "thisRow.Name");
    let (status, body) = api.post(&path, json!({"rows": [workout("w1", "T")]})).await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{body}");
    let cells = json!([{"column": "Workout ID", "value": "w1"}]);
    let (status, _) = api
        .post(
            &path,
            json!({"rows": [{"cells": cells}], "keyColumns": ["Title"]}),
        )
        .await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    let (_, columns) = api
        .get(&format!("/docs/{}/tables/Workouts/columns", api.doc))
        .await;
    let title = columns["items"]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["name"] == "Title")
        .unwrap()
        .clone();
    assert_eq!(
        (title["calculated"].clone(), title["formula"].clone()),
        (json!(true), json!("thisRow.Name"))
    );
    coda.wait_idle().await;
    assert_eq!(coda.row_count("Workouts"), 0);
}

#[tokio::test]
async fn malformed_write_bodies_are_refused_with_400() {
    let coda = FakeCoda::start(fast()).await;
    let api = Api::new(&coda);
    let path = api.rows_path(&coda, "Workouts");
    let bad_bodies = [
        json!({"rows": [workout("w1", "T")], "extra": true}),
        json!({"rows": [{"cells": [{"column": "Title", "value": "T", "format": "x"}]}]}),
        json!({"rows": [{"cells": [{"column": "Title", "value": null}]}]}),
        json!({"rows": [{"cells": [{"column": "Title", "value": {"a": 1}}]}]}),
        json!({"rows": [{"cells": [{"column": "No Such Column", "value": "x"}]}]}),
        json!({"rows": [workout("w1", "T")], "keyColumns": ["c-missing"]}),
        json!({"rows": [{"cells": [{"column": "Title", "value": "T"}]}], "keyColumns": ["Workout ID"]}),
        json!({"cells": []}),
    ];
    for body in bad_bodies {
        let (status, answer) = api.post(&path, body.clone()).await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "{body} -> {answer}");
        assert_eq!(answer["statusMessage"], "Bad Request");
    }
    let ok = json!({"rows": [{"cells": [{"column": "Title", "value": ""}, {"column": "Workout ID", "value": ["a", 1]}]}]});
    assert_eq!(
        api.post(&path, ok).await.0,
        StatusCode::ACCEPTED,
        "empty strings and arrays are values"
    );
}

#[tokio::test]
async fn rows_are_deleted_by_a_delete_with_a_json_body_or_by_id() {
    let coda = FakeCoda::start(fast()).await;
    let api = Api::new(&coda);
    let path = api.rows_path(&coda, "Friend Workouts");
    let ids: Vec<String> = (0..4)
        .map(|i| coda.insert_user_row("Friend Workouts", &[("Workout ID", json!(format!("f{i}")))]))
        .collect();
    let body = json!({"rowIds": [ids[0], ids[1], "i-unknown"]});
    let (status, answer) = api.call(Method::DELETE, &path, Some(body), &[]).await;
    assert_eq!(status, StatusCode::ACCEPTED, "{answer}");
    assert_eq!(answer["rowIds"], json!([ids[0], ids[1], "i-unknown"]));
    let (status, answer) = api
        .call(Method::DELETE, &format!("{path}/{}", ids[2]), None, &[])
        .await;
    assert_eq!(status, StatusCode::ACCEPTED);
    assert_eq!(answer["id"], ids[2].as_str());
    assert!(answer["requestId"].is_string());
    coda.wait_idle().await;
    let left: Vec<Value> = coda
        .rows("Friend Workouts")
        .iter()
        .map(|r| r["@id"].clone())
        .collect();
    assert_eq!(left, [json!(ids[3])]);
    assert_eq!(
        api.call(Method::DELETE, &format!("{path}/{}", ids[0]), None, &[])
            .await
            .0,
        StatusCode::NOT_FOUND
    );
    let (status, _) = api
        .call(
            Method::DELETE,
            &path,
            Some(json!({"rowIds": [], "all": true})),
            &[],
        )
        .await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
}

#[tokio::test]
async fn a_row_is_updated_with_put() {
    let coda = FakeCoda::start(fast()).await;
    let api = Api::new(&coda);
    let id = coda.insert_user_row(
        "Instructors",
        &[("Instructor ID", json!("ins1")), ("Name", json!("Old"))],
    );
    let path = format!("{}/{id}", api.rows_path(&coda, "Instructors"));
    let body = json!({"row": {"cells": [{"column": coda.column_id("Instructors", "Name"), "value": "New"}]}});
    let (status, answer) = api.call(Method::PUT, &path, Some(body), &[]).await;
    assert_eq!(status, StatusCode::ACCEPTED);
    assert_eq!(answer["id"], id.as_str());
    coda.wait_idle().await;
    assert_eq!(coda.rows("Instructors")[0]["Name"], "New");
    let missing = format!("{}/i-missing", api.rows_path(&coda, "Instructors"));
    let (status, _) = api
        .call(
            Method::PUT,
            &missing,
            Some(json!({"row": {"cells": []}})),
            &[],
        )
        .await;
    assert_eq!(status, StatusCode::NOT_FOUND);
}

#[tokio::test]
async fn a_bad_or_revoked_token_is_401() {
    let coda = FakeCoda::start(fast()).await;
    let http = reqwest::Client::new();
    let resp = http
        .get(format!("{}/whoami", coda.url()))
        .bearer_auth("wrong")
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), StatusCode::UNAUTHORIZED);
    assert_eq!(
        resp.json::<Value>().await.unwrap(),
        error(401, "Unauthorized")
    );
    let resp = http
        .get(format!("{}/whoami", coda.url()))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), StatusCode::UNAUTHORIZED);
    coda.faults().set_token_revoked(true);
    assert_eq!(
        Api::new(&coda).get("/whoami").await.0,
        StatusCode::UNAUTHORIZED
    );
}

#[tokio::test]
async fn browser_links_resolve_to_the_doc_and_a_deleted_doc_is_404() {
    let coda = FakeCoda::start(fast()).await;
    let api = Api::new(&coda);
    for link in [
        coda.doc_url(),
        "https://coda.io/d/Training-Log_dAbCDeFGH/Log_su1#Workouts_tx".to_owned(),
    ] {
        let (status, body) = api
            .get(&format!("/resolveBrowserLink?url={}", url_escape(&link)))
            .await;
        assert_eq!(status, StatusCode::OK, "{link}: {body}");
        assert_eq!(
            (body["type"].clone(), body["resource"]["type"].clone()),
            (json!("apiLink"), json!("doc"))
        );
        assert_eq!(body["resource"]["id"], "AbCDeFGH");
    }
    let other = url_escape("https://example.com/d/X_dAbCDeFGH");
    assert_eq!(
        api.get(&format!("/resolveBrowserLink?url={other}")).await.0,
        StatusCode::BAD_REQUEST
    );
    let unknown = url_escape("https://coda.io/d/X_dZZZ");
    assert_eq!(
        api.get(&format!("/resolveBrowserLink?url={unknown}"))
            .await
            .0,
        StatusCode::NOT_FOUND
    );
    let (status, doc) = api.get("/docs/AbCDeFGH").await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(
        (doc["id"].clone(), doc["name"].clone()),
        (json!("AbCDeFGH"), json!("Training Log"))
    );
    coda.faults().set_doc_deleted(true);
    assert_eq!(api.get("/docs/AbCDeFGH").await.0, StatusCode::NOT_FOUND);
    assert_eq!(
        api.get("/docs/AbCDeFGH/tables").await.0,
        StatusCode::NOT_FOUND
    );
}

#[tokio::test]
async fn tables_and_columns_follow_coda_tables_md_and_a_view_cannot_be_upserted() {
    let coda = FakeCoda::start(fast().with_table_as_view("Friend Workouts")).await;
    let api = Api::new(&coda);
    let (_, tables) = api.get("/docs/AbCDeFGH/tables").await;
    let names: Vec<(&str, &str)> = tables["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|t| {
            (
                t["name"].as_str().unwrap(),
                t["tableType"].as_str().unwrap(),
            )
        })
        .collect();
    assert_eq!(
        names,
        [
            ("Workouts", "table"),
            ("Instructors", "table"),
            ("Friends", "table"),
            ("Friend Workouts", "view"),
            ("Personal Bests", "table")
        ]
    );
    let (_, tables) = api.get("/docs/AbCDeFGH/tables?tableTypes=table").await;
    assert_eq!(tables["items"].as_array().unwrap().len(), 4);

    let columns = api
        .all_pages(&format!(
            "/docs/AbCDeFGH/tables/{}/columns?limit=5",
            coda.table_id("Workouts")
        ))
        .await;
    assert_eq!(columns.len(), 19);
    let kinds: Vec<(&str, &str)> = columns
        .iter()
        .map(|c| {
            (
                c["name"].as_str().unwrap(),
                c["format"]["type"].as_str().unwrap(),
            )
        })
        .collect();
    assert_eq!(
        kinds[..2],
        [("Workout ID", "text"), ("Start Time", "dateTime")]
    );
    assert_eq!(kinds[18], ("Personal Record", "checkbox"));
    assert!(columns
        .iter()
        .all(|c| c["id"].as_str().unwrap().starts_with("c-") && c["calculated"] == false));
    let (status, _) = api
        .get("/docs/AbCDeFGH/tables/Workouts/columns?limit=101")
        .await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert_eq!(
        api.get("/docs/AbCDeFGH/tables/workouts").await.0,
        StatusCode::NOT_FOUND,
        "names are case-sensitive"
    );

    let view = api.rows_path(&coda, "Friend Workouts");
    let (status, _) = api.post(&view, json!({"rows": [workout("w", "T")]})).await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
}

#[tokio::test]
async fn schema_faults_show_up_in_the_column_list() {
    let coda = FakeCoda::start(
        fast()
            .without_table("Friends")
            .with_extra_column("Workouts", fake_coda::ColumnSpec::text("Notes")),
    )
    .await;
    let api = Api::new(&coda);
    coda.drop_column("Workouts", "Distance");
    coda.rename_column("Workouts", "Title", "Class");
    let columns = api
        .all_pages("/docs/AbCDeFGH/tables/Workouts/columns?limit=100")
        .await;
    let names: Vec<&str> = columns
        .iter()
        .map(|c| c["name"].as_str().unwrap())
        .collect();
    assert!(
        !names.contains(&"Distance") && !names.contains(&"Title"),
        "{names:?}"
    );
    assert!(
        names.contains(&"Class") && names.contains(&"Notes"),
        "{names:?}"
    );
    assert_eq!(
        api.get("/docs/AbCDeFGH/tables/Friends").await.0,
        StatusCode::NOT_FOUND
    );
}

#[tokio::test]
async fn unknown_paths_are_404_and_recorded_as_unexpected() {
    let coda = FakeCoda::start(fast()).await;
    let api = Api::new(&coda);
    let (status, body) = api.get("/docs/AbCDeFGH/pages").await;
    assert_eq!(
        (status, body),
        (StatusCode::NOT_FOUND, error(404, "Not Found"))
    );
    assert_eq!(
        api.get("/docs/AbCDeFGH/tables/Workouts/rows").await.0,
        StatusCode::OK
    );
    let unexpected = coda.unexpected_requests();
    assert_eq!(unexpected.len(), 1);
    assert_eq!(unexpected[0].path, "/apis/v1/docs/AbCDeFGH/pages");
    assert_eq!(coda.requests().len(), 2);
    coda.reset_log();
    assert!(coda.requests().is_empty());
}

#[tokio::test]
async fn a_dropped_connection_gives_no_answer_at_all() {
    let coda = FakeCoda::start(fast()).await;
    coda.faults().set_drop_fraction(1.0);
    let result = reqwest::Client::new()
        .get(format!("{}/whoami", coda.url()))
        .bearer_auth(coda.token())
        .send()
        .await;
    assert!(result.is_err(), "got an answer: {result:?}");
    assert_eq!(coda.requests()[0].status, 0);
    coda.faults().clear();
    assert_eq!(Api::new(&coda).get("/whoami").await.0, StatusCode::OK);
}

#[tokio::test]
async fn injected_server_errors_are_500_or_503() {
    let coda = FakeCoda::start(fast()).await;
    coda.faults().set_error_5xx_fraction(1.0);
    let (status, _) = Api::new(&coda).get("/whoami").await;
    assert!(
        status == StatusCode::INTERNAL_SERVER_ERROR || status == StatusCode::SERVICE_UNAVAILABLE,
        "{status}"
    );
}

#[tokio::test]
async fn the_binary_prints_its_url_and_serves_the_api() {
    use tokio::io::AsyncBufReadExt;
    let mut child = tokio::process::Command::new(env!("CARGO_BIN_EXE_fake-coda"))
        .args(["--port", "0", "--token", "bin-token", "--no-rate-limits"])
        .stdout(std::process::Stdio::piped())
        .kill_on_drop(true)
        .spawn()
        .expect("binary starts");
    let stdout = child.stdout.take().unwrap();
    let mut lines = tokio::io::BufReader::new(stdout).lines();
    let line = tokio::time::timeout(Duration::from_secs(60), lines.next_line())
        .await
        .unwrap()
        .unwrap()
        .unwrap();
    let url = line
        .strip_prefix("listening on ")
        .expect("first line names the URL");
    assert!(
        url.starts_with("http://127.0.0.1:") && url.ends_with("/apis/v1"),
        "{line}"
    );
    let http = reqwest::Client::new();
    let resp = http
        .get(format!("{url}/whoami"))
        .bearer_auth("bin-token")
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), StatusCode::OK);
    let control = url.trim_end_matches("/apis/v1");
    let resp = http
        .post(format!("{control}/__control/faults"))
        .json(&json!({"tokenRevoked": true}))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), StatusCode::OK);
    let resp = http
        .get(format!("{url}/whoami"))
        .bearer_auth("bin-token")
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), StatusCode::UNAUTHORIZED);
    child.kill().await.unwrap();
}

#[tokio::test]
async fn mutation_status_can_be_404_right_after_the_write() {
    let config = Config {
        mutation_status_404_for: Duration::from_secs(600),
        ..fast()
    };
    let coda = FakeCoda::start(config).await;
    let api = Api::new(&coda);
    let (_, answer) = api
        .post(
            &api.rows_path(&coda, "Workouts"),
            json!({"rows": [workout("a", "A")]}),
        )
        .await;
    let (status, _) = api
        .get(&format!(
            "/mutationStatus/{}",
            answer["requestId"].as_str().unwrap()
        ))
        .await;
    assert_eq!(status, StatusCode::NOT_FOUND, "not replicated yet");
    coda.wait_idle().await;
    assert_eq!(
        coda.row_count("Workouts"),
        1,
        "the write itself goes through"
    );
}

#[tokio::test]
async fn the_control_endpoint_edits_columns_and_refuses_unknown_ones() {
    let coda = FakeCoda::start(fast()).await;
    let control = format!(
        "{}/__control/faults",
        coda.url().trim_end_matches("/apis/v1")
    );
    let http = reqwest::Client::new();
    let body =
        json!({"makeFormula": {"table": "Friends", "column": "Location"}, "retryAfterSecs": 3});
    let resp = http.post(&control).json(&body).send().await.unwrap();
    assert_eq!(resp.status(), StatusCode::OK);
    assert_eq!(coda.faults().settings().retry_after_secs, Some(3));
    let dump = coda.dump();
    let friends = dump["tables"]
        .as_array()
        .unwrap()
        .iter()
        .find(|t| t["name"] == "Friends")
        .unwrap()
        .clone();
    let location = friends["columns"]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["name"] == "Location")
        .unwrap()
        .clone();
    assert_eq!(location["calculated"], true);
    let body = json!({"dropColumn": {"table": "Friends", "column": "Nope"}});
    assert_eq!(
        http.post(&control)
            .json(&body)
            .send()
            .await
            .unwrap()
            .status(),
        StatusCode::NOT_FOUND
    );
    assert!(
        coda.requests().is_empty(),
        "control calls are not API requests"
    );
}

/// A doc body without `updatedAt`, which is the time of the read.
fn without_clock(mut doc: Value) -> Value {
    doc.as_object_mut().map(|m| m.remove("updatedAt"));
    doc
}

#[tokio::test]
async fn paths_with_a_trailing_slash_answer_as_without_one() {
    let coda = FakeCoda::start(fast()).await;
    let api = Api::new(&coda);
    // codaio's `Document(...)` opens the doc with exactly this request.
    let (status, with_slash) = api.get("/docs/AbCDeFGH/").await;
    assert_eq!(status, StatusCode::OK, "{with_slash}");
    assert_eq!(with_slash["id"], "AbCDeFGH");
    assert_eq!(
        without_clock(with_slash),
        without_clock(api.get("/docs/AbCDeFGH").await.1)
    );
    let (status, tables) = api.get("/docs/AbCDeFGH/tables/").await;
    assert_eq!(status, StatusCode::OK, "{tables}");
    assert_eq!(tables["items"].as_array().unwrap().len(), 5);
    let path = format!("{}/", api.rows_path(&coda, "Workouts"));
    let (status, answer) = api.post(&path, json!({"rows": [workout("w1", "T")]})).await;
    assert_eq!(status, StatusCode::ACCEPTED, "{answer}");
    coda.wait_idle().await;
    assert_eq!(coda.row_count("Workouts"), 1);
    assert_eq!(
        coda.write_request_count(),
        1,
        "still counted as a row write"
    );
    assert!(coda.unexpected_requests().is_empty());
    assert_eq!(api.get("/docs/Nope/").await.0, StatusCode::NOT_FOUND);
}

#[tokio::test]
async fn listing_docs_shows_the_doc_unless_a_filter_or_a_deletion_hides_it() {
    let coda = FakeCoda::start(fast()).await;
    let api = Api::new(&coda);
    let ids = |body: &Value| -> Vec<String> {
        body["items"]
            .as_array()
            .unwrap_or_else(|| panic!("no items: {body}"))
            .iter()
            .map(|d| d["id"].as_str().unwrap().to_owned())
            .collect()
    };
    let (status, all) = api.get("/docs").await;
    assert_eq!(status, StatusCode::OK, "{all}");
    assert_eq!(ids(&all), ["AbCDeFGH"]);
    assert_eq!(
        without_clock(all["items"][0].clone()),
        without_clock(api.get("/docs/AbCDeFGH").await.1)
    );
    assert!(all["href"].as_str().unwrap().ends_with("/apis/v1/docs"));
    for shown in [
        "isOwner=False",
        "isOwner=true",
        "query=training",
        "workspaceId=ws-1Ab234",
        "folderId=fl-1Ab234&limit=1",
        "isPublished=false",
    ] {
        let (status, body) = api.get(&format!("/docs/?{shown}")).await;
        assert_eq!(
            (status, ids(&body)),
            (StatusCode::OK, vec!["AbCDeFGH".to_owned()]),
            "{shown}"
        );
    }
    for hidden in [
        "query=budget",
        "isPublished=true",
        "isStarred=true",
        "inGallery=true",
        "sourceDoc=XyZ",
        "workspaceId=ws-other",
    ] {
        let (status, body) = api.get(&format!("/docs?{hidden}")).await;
        assert_eq!(
            (status, ids(&body)),
            (StatusCode::OK, Vec::<String>::new()),
            "{hidden}"
        );
    }
    for bad in ["isOwner=maybe", "limit=0", "limit=x", "pageToken=%21"] {
        assert_eq!(
            api.get(&format!("/docs?{bad}")).await.0,
            StatusCode::BAD_REQUEST,
            "{bad}"
        );
    }
    coda.faults().set_doc_deleted(true);
    assert!(ids(&api.get("/docs").await.1).is_empty());
}

#[tokio::test]
async fn listing_docs_has_its_own_rate_limit_of_four_in_six_seconds() {
    let coda = FakeCoda::start(Config::default()).await;
    let api = Api::new(&coda);
    for _ in 0..4 {
        assert_eq!(api.get("/docs").await.0, StatusCode::OK);
    }
    assert_eq!(api.get("/docs").await.0, StatusCode::TOO_MANY_REQUESTS);
    assert_eq!(
        api.get("/docs/AbCDeFGH").await.0,
        StatusCode::OK,
        "other reads go on"
    );
}

/// Upserts `keys` into Workouts, keyed on Workout ID, and waits until they are applied.
async fn upsert_workouts(api: &Api, coda: &FakeCoda, keys: &[&str]) {
    let rows: Vec<Value> = keys.iter().map(|k| workout(k, "T")).collect();
    let body = json!({"rows": rows, "keyColumns": ["Workout ID"]});
    let (status, answer) = api.post(&api.rows_path(coda, "Workouts"), body).await;
    assert_eq!(status, StatusCode::ACCEPTED, "{answer}");
    coda.wait_idle().await;
}

/// `rowCount` of a table as the API shows it now.
async fn row_count(api: &Api, table_id: &str) -> u64 {
    let (status, t) = api.get(&format!("/docs/AbCDeFGH/tables/{table_id}")).await;
    assert_eq!(status, StatusCode::OK, "{t}");
    t["rowCount"]
        .as_u64()
        .unwrap_or_else(|| panic!("no rowCount: {t}"))
}

/// Polls `rowCount` until it is `want`, for at most 20 s.
async fn wait_row_count(api: &Api, table_id: &str, want: u64) {
    let deadline = tokio::time::Instant::now() + Duration::from_secs(20);
    loop {
        let got = row_count(api, table_id).await;
        if got == want {
            return;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "rowCount stayed {got}, waited for {want}"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

fn workout_ids(coda: &FakeCoda) -> Vec<String> {
    coda.rows("Workouts")
        .iter()
        .map(|r| r["Workout ID"].as_str().unwrap().to_owned())
        .collect()
}

#[tokio::test]
async fn row_count_lags_applied_writes_like_every_read() {
    let coda = FakeCoda::start(fast().with_read_lag(Duration::from_secs(2))).await;
    let api = Api::new(&coda);
    let table = coda.table_id("Workouts");
    upsert_workouts(&api, &coda, &["w1", "w2", "w3"]).await;
    assert_eq!(coda.row_count("Workouts"), 3, "applied");
    assert_eq!(row_count(&api, &table).await, 0, "the snapshot is older");
    let (_, doc) = api.get("/docs/AbCDeFGH").await;
    assert_eq!(doc["docSize"]["totalRowCount"], 0);
    wait_row_count(&api, &table, 3).await;
    let (_, doc) = api.get("/docs/AbCDeFGH").await;
    assert_eq!(doc["docSize"]["totalRowCount"], 3);
}

#[tokio::test]
async fn rows_deleted_by_hand_go_by_key_by_count_or_all_and_come_back_keyed() {
    let coda = FakeCoda::start(fast()).await;
    let api = Api::new(&coda);
    let table = coda.table_id("Workouts");
    upsert_workouts(&api, &coda, &["w1", "w2", "w3", "w4", "w5", "w6"]).await;
    assert_eq!(
        coda.delete_rows_by_key("Workouts", "Workout ID", &["w2", "w4", "nope"]),
        2
    );
    assert_eq!(workout_ids(&coda), ["w1", "w3", "w5", "w6"]);
    assert_eq!(row_count(&api, &table).await, 4);
    assert_eq!(coda.delete_first_rows("Workouts", 1), 1);
    assert_eq!(workout_ids(&coda), ["w3", "w5", "w6"]);
    assert_eq!(coda.delete_all_rows("Workouts"), 3);
    assert_eq!(row_count(&api, &table).await, 0);
    assert_eq!(coda.delete_first_rows("Workouts", 5), 0, "nothing left");
    assert!(
        coda.requests()
            .iter()
            .all(|r| !r.is_row_write() || r.method == "POST"),
        "deleting by hand sends no API write"
    );
    upsert_workouts(&api, &coda, &["w1", "w2", "w3", "w4", "w5", "w6"]).await;
    assert_eq!(row_count(&api, &table).await, 6);
    assert!(coda.duplicate_keys("Workouts", "Workout ID").is_empty());
}

#[tokio::test]
async fn rows_deleted_by_hand_reach_the_reads_after_the_read_lag() {
    let coda = FakeCoda::start(fast().with_read_lag(Duration::from_millis(1500))).await;
    let api = Api::new(&coda);
    let table = coda.table_id("Workouts");
    upsert_workouts(&api, &coda, &["w1", "w2", "w3"]).await;
    wait_row_count(&api, &table, 3).await;
    coda.delete_rows_by_key("Workouts", "Workout ID", &["w1"]);
    assert_eq!(coda.row_count("Workouts"), 2, "gone from the doc");
    assert_eq!(row_count(&api, &table).await, 3, "still in the snapshot");
    let latest = [("X-Coda-Doc-Version", "latest")];
    let path = format!("/docs/AbCDeFGH/tables/{table}");
    assert_eq!(
        api.call(Method::GET, &path, None, &latest).await.0,
        StatusCode::BAD_REQUEST,
        "a change is pending"
    );
    wait_row_count(&api, &table, 2).await;
}

#[tokio::test]
async fn a_recreated_table_has_new_ids_no_rows_and_may_lack_a_column() {
    let coda = FakeCoda::start(fast()).await;
    let api = Api::new(&coda);
    let old = coda.table_id("Workouts");
    let old_title = coda.column_id("Workouts", "Title");
    let old_key = coda.column_id("Workouts", "Workout ID");
    upsert_workouts(&api, &coda, &["w1", "w2"]).await;
    let new = coda.recreate_table("Workouts", Some("Title"));
    assert_ne!(new, old);
    assert!(new.starts_with("grid-"), "{new}");
    assert_eq!(coda.table_id("Workouts"), new);
    assert_eq!(coda.row_count("Workouts"), 0);
    assert_ne!(coda.column_id("Workouts", "Workout ID"), old_key);
    let (status, _) = api.get(&format!("/docs/AbCDeFGH/tables/{old}")).await;
    assert_eq!(status, StatusCode::NOT_FOUND, "the old ID is gone");
    assert_eq!(row_count(&api, &new).await, 0);
    let (_, columns) = api
        .get(&format!("/docs/AbCDeFGH/tables/{new}/columns?limit=100"))
        .await;
    let names: Vec<&str> = columns["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c["name"].as_str().unwrap())
        .collect();
    assert_eq!(names.len(), 18);
    assert!(!names.contains(&"Title"));
    assert!(columns["items"]
        .as_array()
        .unwrap()
        .iter()
        .all(|c| c["id"] != old_title));
    let (status, _) = api
        .post(
            &format!("/docs/AbCDeFGH/tables/{old}/rows"),
            json!({"rows": [{"cells": [{"column": "Workout ID", "value": "w1"}]}]}),
        )
        .await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    let (status, body) = api
        .post(
            &api.rows_path(&coda, "Workouts"),
            json!({"rows": [workout("w1", "T")]}),
        )
        .await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "no Title column: {body}");
    let again = coda.recreate_table("Workouts", None);
    assert_ne!(again, new);
    assert_eq!(coda.table_id("Workouts"), again);
}

#[tokio::test]
async fn a_write_queued_for_a_table_that_is_then_recreated_is_dropped() {
    let coda = FakeCoda::start(
        Config::default()
            .without_rate_limits()
            .with_mutation_delay(Duration::from_millis(300)),
    )
    .await;
    let api = Api::new(&coda);
    let path = api.rows_path(&coda, "Workouts");
    let (status, _) = api.post(&path, json!({"rows": [workout("w1", "T")]})).await;
    assert_eq!(status, StatusCode::ACCEPTED);
    coda.recreate_table("Workouts", None);
    coda.wait_idle().await;
    assert_eq!(coda.row_count("Workouts"), 0);
}

#[tokio::test]
async fn the_control_endpoint_deletes_rows_and_recreates_tables() {
    let coda = FakeCoda::start(fast()).await;
    let api = Api::new(&coda);
    upsert_workouts(&api, &coda, &["w1", "w2", "w3"]).await;
    let control = format!(
        "{}/__control/faults",
        coda.url().trim_end_matches("/apis/v1")
    );
    let http = reqwest::Client::new();
    let post = |body: Value| {
        let req = http.post(&control).json(&body);
        async move { req.send().await.unwrap().status() }
    };
    let by_key =
        json!({"deleteRows": {"table": "Workouts", "column": "Workout ID", "keys": ["w3"]}});
    assert_eq!(post(by_key).await, StatusCode::OK);
    assert_eq!(workout_ids(&coda), ["w1", "w2"]);
    assert_eq!(
        post(json!({"deleteRows": {"table": "Workouts", "count": 1}})).await,
        StatusCode::OK
    );
    assert_eq!(workout_ids(&coda), ["w2"]);
    assert_eq!(
        post(json!({"deleteRows": {"table": "Workouts", "all": true}})).await,
        StatusCode::OK
    );
    assert!(workout_ids(&coda).is_empty());
    let old = coda.table_id("Friends");
    let body = json!({"recreateTable": {"table": "Friends", "withoutColumn": "Location"}});
    assert_eq!(post(body).await, StatusCode::OK);
    assert_ne!(coda.table_id("Friends"), old);
    assert!(!coda
        .rows("Friends")
        .iter()
        .any(|r| r.contains_key("Location")));
    for bad in [
        json!({"deleteRows": {"table": "Nope", "all": true}}),
        json!({"deleteRows": {"table": "Workouts", "column": "Nope", "keys": ["w1"]}}),
        json!({"recreateTable": {"table": "Nope"}}),
    ] {
        assert_eq!(post(bad.clone()).await, StatusCode::NOT_FOUND, "{bad}");
    }
}
