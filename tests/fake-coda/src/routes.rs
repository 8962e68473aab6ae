//! The HTTP surface: the Coda API v1 under `/apis/v1`, the gate every API request passes
//! (faults, auth, rate limits, logging), the catch-all for unexpected requests, and the
//! `/__control` endpoints the binary uses for faults and inspection.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use axum::body::Bytes;
use axum::extract::{ConnectInfo, DefaultBodyLimit, MatchedPath, Path, RawQuery, Request, State};
use axum::http::{header, HeaderMap, StatusCode};
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};
use serde_json::{json, Value};
use tokio::time::Instant;

use crate::error::{json_response, ApiError};
use crate::faults::{FaultSettings, Faults, FaultsUpdate};
use crate::limits::{row_size, row_too_large_message, Class, MAX_BODY_BYTES, MAX_ROW_BYTES};
use crate::log::{is_row_write, Logged};
use crate::model::{new_row_id, text_of, Cells, Mutation, Table};
use crate::render::{self, Links, RowView, ValueFormat};
use crate::state::Shared;
use testkit::conn::KillSwitch;

type S = State<Arc<Shared>>;
type ApiResult = Result<Response, ApiError>;

/// Marks an answer given by the catch-all, so the log flags it.
#[derive(Clone, Copy)]
struct Unexpected;

/// The whole app.
pub(crate) fn router(shared: Arc<Shared>) -> Router {
    let rows = "/docs/{doc_id}/tables/{table}/rows";
    let api = [
        ("/whoami", get(whoami)),
        ("/resolveBrowserLink", get(resolve_browser_link)),
        ("/docs", get(list_docs)),
        ("/docs/{doc_id}", get(get_doc)),
        ("/docs/{doc_id}/tables", get(list_tables)),
        ("/docs/{doc_id}/tables/{table}", get(get_table)),
        ("/docs/{doc_id}/tables/{table}/columns", get(list_columns)),
        (
            "/docs/{doc_id}/tables/{table}/columns/{column}",
            get(get_column),
        ),
        (rows, get(list_rows).post(upsert_rows).delete(delete_rows)),
        (
            "/docs/{doc_id}/tables/{table}/rows/{row}",
            get(get_row).put(update_row).delete(delete_row),
        ),
        ("/mutationStatus/{request_id}", get(mutation_status)),
    ]
    .into_iter()
    // Coda answers a path with a trailing slash as the path without it: codaio opens a doc
    // with `GET /docs/{id}/`.
    .fold(Router::new(), |api, (path, handler)| {
        api.route(path, handler.clone())
            .route(&format!("{path}/"), handler)
    });
    Router::new()
        .nest("/apis/v1", api)
        .route(
            "/__control/faults",
            get(control_faults).post(control_set_faults),
        )
        .route("/__control/dump", get(control_dump))
        .route("/__control/requests", get(control_requests))
        .route("/__control/reset-log", post(control_reset_log))
        .fallback(unexpected)
        .method_not_allowed_fallback(method_not_allowed)
        .layer(middleware::from_fn_with_state(shared.clone(), gate))
        // Bodies over Coda's 2 MB must reach the handler to get Coda's 400, not axum's 413.
        .layer(DefaultBodyLimit::max(64 * 1024 * 1024))
        .with_state(shared)
}

// ---------------------------------------------------------------------------------------
// The gate

/// Every API request: latency, dropped connections, injected errors, auth, rate limits, and
/// the log entry.
async fn gate(State(s): S, req: Request, next: Next) -> Response {
    let path = req.uri().path().to_owned();
    if path.starts_with("/__control") {
        return next.run(req).await;
    }
    let at = Instant::now();
    let method = req.method().as_str().to_owned();
    let query = req.uri().query().map(str::to_owned);
    let routed = req.extensions().get::<MatchedPath>().is_some();
    let kill = req
        .extensions()
        .get::<ConnectInfo<KillSwitch>>()
        .map(|c| c.0.clone());
    let faults = s.faults().clone();
    if faults.latency_ms > 0 {
        tokio::time::sleep(Duration::from_millis(faults.latency_ms)).await;
    }
    let entry = |status: u16, unexpected: bool| Logged {
        method: method.clone(),
        path: path.clone(),
        query: query.clone(),
        status,
        at,
        unexpected,
    };
    if let Some(kill) = kill.filter(|_| FaultSettings::roll(faults.drop_fraction)) {
        s.log().push(entry(0, !routed));
        kill.fire();
        // Never written: the connection fails before hyper sends a byte.
        return StatusCode::SERVICE_UNAVAILABLE.into_response();
    }
    let response = match admit(&s, &req, &faults, &method, &path, at) {
        Ok(()) => next.run(req).await,
        Err(e) => e.into_response(),
    };
    let unexpected = !routed || response.extensions().get::<Unexpected>().is_some();
    s.log().push(entry(response.status().as_u16(), unexpected));
    response
}

/// Whether this request is one of the [`FaultSettings::next_429s`]; counts it.
/// Called only when the snapshot says some are left, so most requests take
/// the faults lock once.
fn take_next_429(s: &Shared) -> bool {
    let mut f = s.faults();
    let take = f.next_429s > 0;
    f.next_429s = f.next_429s.saturating_sub(1);
    take
}

/// Injected errors, auth and rate limits, in the order a real front end would apply them.
fn admit(
    s: &Shared,
    req: &Request,
    faults: &FaultSettings,
    method: &str,
    path: &str,
    now: Instant,
) -> Result<(), ApiError> {
    let next_429 = faults.next_429s > 0 && take_next_429(s);
    if next_429 || faults.sticky_429 || FaultSettings::roll(faults.error_429_fraction) {
        return Err(ApiError::too_many_requests(faults.retry_after_secs));
    }
    if FaultSettings::roll(faults.error_5xx_fraction) {
        let status = if FaultSettings::roll(0.5) {
            StatusCode::INTERNAL_SERVER_ERROR
        } else {
            StatusCode::SERVICE_UNAVAILABLE
        };
        return Err(ApiError::new(
            status,
            status.canonical_reason().unwrap_or("Server Error"),
        ));
    }
    let token = bearer(req.headers()).ok_or_else(ApiError::unauthorized)?;
    if faults.token_revoked || token != s.config.token {
        return Err(ApiError::unauthorized());
    }
    let class = if is_row_write(method, path) {
        Class::Write
    } else if path.trim_end_matches('/') == "/apis/v1/docs" {
        Class::ListDocs
    } else {
        Class::Read
    };
    s.limiter().admit(token, class, now).map_err(|wait| {
        // With the switch on, say how long until the bucket has room (at least 1 s).
        let retry_after = faults
            .retry_after_secs
            .map(|_| wait.as_secs() + u64::from(wait.subsec_nanos() > 0))
            .map(|s| s.max(1));
        ApiError::too_many_requests(retry_after)
    })
}

fn bearer(headers: &HeaderMap) -> Option<&str> {
    let value = headers.get(header::AUTHORIZATION)?.to_str().ok()?;
    let (scheme, token) = value.split_once(' ')?;
    scheme
        .eq_ignore_ascii_case("bearer")
        .then_some(token.trim())
}

async fn unexpected() -> Response {
    let mut r = ApiError::not_found("Not Found").into_response();
    r.extensions_mut().insert(Unexpected);
    r
}

async fn method_not_allowed() -> Response {
    let mut r = ApiError::new(StatusCode::METHOD_NOT_ALLOWED, "Method Not Allowed").into_response();
    r.extensions_mut().insert(Unexpected);
    r
}

// ---------------------------------------------------------------------------------------
// Shared checks

fn params(raw: Option<String>) -> HashMap<String, String> {
    url::form_urlencoded::parse(raw.unwrap_or_default().as_bytes())
        .into_owned()
        .collect()
}

fn links(s: &Shared) -> Links<'_> {
    Links {
        origin: &s.origin,
        doc_id: &s.config.doc_id,
    }
}

fn check_doc(s: &Shared, doc_id: &str) -> Result<(), ApiError> {
    if doc_id != s.config.doc_id || s.faults().doc_deleted {
        return Err(ApiError::doc_not_found());
    }
    Ok(())
}

/// `X-Coda-Doc-Version`: empty is ignored, `latest` fails while changes are pending, anything
/// else always fails (as observed).
fn check_doc_version(s: &Shared, headers: &HeaderMap, now: Instant) -> Result<(), ApiError> {
    match headers.get("x-coda-doc-version").map(|v| v.as_bytes()) {
        None | Some(b"") => Ok(()),
        Some(b"latest") if !s.has_pending_changes(now) => Ok(()),
        Some(_) => Err(ApiError::doc_not_up_to_date()),
    }
}

/// Checks for the start of every doc read.
fn doc_read(s: &Shared, doc_id: &str, headers: &HeaderMap, now: Instant) -> Result<(), ApiError> {
    check_doc(s, doc_id)?;
    check_doc_version(s, headers, now)
}

fn ok(body: &Value) -> ApiResult {
    Ok(json_response(StatusCode::OK, body))
}

fn accepted(body: &Value) -> ApiResult {
    Ok(json_response(StatusCode::ACCEPTED, body))
}

/// Parses `limit`: at least 1, `default` when absent; above `max` it is cut (`cut`) or refused.
fn parse_limit(
    raw: Option<&String>,
    default: usize,
    max: usize,
    cut: bool,
) -> Result<usize, ApiError> {
    let Some(raw) = raw else {
        return Ok(default.min(max));
    };
    let limit: usize = raw
        .parse()
        .map_err(|_| ApiError::bad_request(format!("Invalid limit: {raw}")))?;
    if limit < 1 || (!cut && limit > max) {
        return Err(ApiError::bad_request(format!(
            "limit must be between 1 and {max}."
        )));
    }
    Ok(limit.min(max))
}

fn encode_token<T: Serialize>(token: &T) -> String {
    URL_SAFE_NO_PAD.encode(serde_json::to_vec(token).unwrap_or_default())
}

fn decode_token<T: DeserializeOwned>(raw: &str) -> Result<T, ApiError> {
    URL_SAFE_NO_PAD
        .decode(raw.trim_end_matches('='))
        .ok()
        .and_then(|bytes| serde_json::from_slice(&bytes).ok())
        .ok_or_else(|| ApiError::bad_request("Invalid pageToken."))
}

/// A list answer: items, `href`, and `nextPageToken`/`nextPageLink` when more remain.
fn list_body(items: Vec<Value>, href: String, base: &str, next: Option<String>) -> Value {
    let mut body = json!({ "items": items, "href": href });
    if let (Some(token), Value::Object(m)) = (next, &mut body) {
        m.insert(
            "nextPageLink".into(),
            json!(format!("{base}?pageToken={token}")),
        );
        m.insert("nextPageToken".into(), json!(token));
    }
    body
}

fn with_query(base: &str, raw: Option<&String>) -> String {
    match raw {
        Some(q) if !q.is_empty() => format!("{base}?{q}"),
        _ => base.to_owned(),
    }
}

// ---------------------------------------------------------------------------------------
// Account and doc

async fn whoami(State(s): S) -> ApiResult {
    ok(&render::whoami(&links(&s)))
}

async fn resolve_browser_link(State(s): S, RawQuery(raw): RawQuery) -> ApiResult {
    let p = params(raw.clone());
    let url = p
        .get("url")
        .ok_or_else(|| ApiError::bad_request("Missing required parameter: url."))?;
    let doc_id = doc_id_from_url(url, &s.origin)?;
    check_doc(&s, &doc_id)?;
    let l = links(&s);
    let self_href = with_query(&format!("{}/resolveBrowserLink", l.api()), raw.as_ref());
    let st = s.state();
    ok(&render::resolved_doc(&l, &st.live, &self_href))
}

/// The doc ID in a Coda browser URL: the path segment after `/d/`, from its first `_d` on.
/// A URL on another host, or without `/d/<name>_d<id>`, is not a Coda doc URL (400).
fn doc_id_from_url(raw: &str, origin: &str) -> Result<String, ApiError> {
    let not_coda = || ApiError::bad_request(format!("The URL {raw} is not a valid Coda URL."));
    let url = url::Url::parse(raw).map_err(|_| not_coda())?;
    let host = url.host_str().unwrap_or_default();
    let own = url::Url::parse(origin)
        .ok()
        .and_then(|o| o.host_str().map(str::to_owned))
        .unwrap_or_default();
    let known_host = host == "coda.io"
        || host.ends_with(".coda.io")
        || host == "docs.superhuman.com"
        || host == own
        || host == "localhost";
    if !known_host {
        return Err(not_coda());
    }
    let mut segments = url.path_segments().ok_or_else(not_coda)?;
    if segments.next() != Some("d") {
        return Err(not_coda());
    }
    let slug = segments.next().unwrap_or_default();
    let (_, id) = slug.split_once("_d").ok_or_else(not_coda)?;
    if id.is_empty() {
        return Err(not_coda());
    }
    Ok(id.to_owned())
}

/// `GET /docs`: the fake's one doc, when the filters let it through. It is not starred,
/// published, in the gallery or copied from another doc; the token's user owns it.
async fn list_docs(State(s): S, RawQuery(raw): RawQuery) -> ApiResult {
    let now = Instant::now();
    let p = params(raw.clone());
    let page = match p.get("pageToken") {
        Some(token) => decode_token::<DocPage>(token)?,
        None => DocPage {
            offset: 0,
            limit: parse_limit(p.get("limit"), 25, 100, true)?,
            matches: doc_matches(&s, &p)?,
        },
    };
    let l = links(&s);
    let at = s.time_text(now);
    let mut st = s.state();
    let doc = st.read_doc(now);
    let docs: Vec<Value> = if page.matches && !s.faults().doc_deleted {
        vec![render::doc(&l, doc, &at)]
    } else {
        Vec::new()
    };
    let items = docs
        .iter()
        .skip(page.offset)
        .take(page.limit)
        .cloned()
        .collect();
    let next = (page.offset + page.limit < docs.len()).then(|| {
        encode_token(&DocPage {
            offset: page.offset + page.limit,
            ..page
        })
    });
    let base = format!("{}/docs", l.api());
    ok(&list_body(
        items,
        with_query(&base, raw.as_ref()),
        &base,
        next,
    ))
}

/// What a `GET /docs` page depends on.
#[derive(Serialize, Deserialize)]
struct DocPage {
    offset: usize,
    limit: usize,
    matches: bool,
}

/// Whether the one doc passes the `GET /docs` filters; a malformed boolean is a 400.
fn doc_matches(s: &Shared, p: &HashMap<String, String>) -> Result<bool, ApiError> {
    let flag = |name: &str| -> Result<Option<bool>, ApiError> {
        // Python clients send `True`/`False` (codaio passes `isOwner=False`).
        p.get(name)
            .map(|v| match v.to_ascii_lowercase().as_str() {
                "true" => Ok(true),
                "false" => Ok(false),
                _ => Err(ApiError::bad_request(format!("Invalid {name}: {v}"))),
            })
            .transpose()
    };
    // `isOwner=false` does not filter; `true` keeps owned docs, and the user owns this one.
    let owned = true;
    let mut matches = flag("isOwner")? != Some(true) || owned;
    for never in ["isPublished", "isStarred", "inGallery"] {
        matches &= flag(never)? != Some(true);
    }
    matches &= !p.contains_key("sourceDoc");
    matches &= p
        .get("workspaceId")
        .is_none_or(|w| w == render::WORKSPACE_ID);
    matches &= p.get("folderId").is_none_or(|f| f == render::FOLDER_ID);
    if let Some(q) = p.get("query") {
        matches &= s.config.doc_name.to_lowercase().contains(&q.to_lowercase());
    }
    Ok(matches)
}

async fn get_doc(State(s): S, Path(doc_id): Path<String>, headers: HeaderMap) -> ApiResult {
    let now = Instant::now();
    doc_read(&s, &doc_id, &headers, now)?;
    let at = s.time_text(now);
    let mut st = s.state();
    ok(&render::doc(&links(&s), st.read_doc(now), &at))
}

// ---------------------------------------------------------------------------------------
// Tables and columns

#[derive(Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
struct TablePage {
    offset: usize,
    limit: usize,
    tables: bool,
    views: bool,
    sort_by_name: bool,
}

async fn list_tables(
    State(s): S,
    Path(doc_id): Path<String>,
    RawQuery(raw): RawQuery,
    headers: HeaderMap,
) -> ApiResult {
    let now = Instant::now();
    doc_read(&s, &doc_id, &headers, now)?;
    let p = params(raw.clone());
    let page = match p.get("pageToken") {
        Some(token) => decode_token::<TablePage>(token)?,
        None => {
            let (mut tables, mut views) = (true, true);
            if let Some(types) = p.get("tableTypes") {
                let types: Vec<&str> = types.split(',').map(str::trim).collect();
                if let Some(bad) = types.iter().find(|t| !matches!(**t, "table" | "view")) {
                    return Err(ApiError::bad_request(format!(
                        "Invalid tableTypes value: {bad}"
                    )));
                }
                tables = types.contains(&"table");
                views = types.contains(&"view");
            }
            let sort_by_name = match p.get("sortBy").map(String::as_str) {
                None => false,
                Some("name") => true,
                Some(other) => {
                    return Err(ApiError::bad_request(format!(
                        "Invalid sortBy value: {other}"
                    )))
                }
            };
            TablePage {
                offset: 0,
                limit: parse_limit(p.get("limit"), 25, 100, true)?,
                tables,
                views,
                sort_by_name,
            }
        }
    };
    let l = links(&s);
    let mut st = s.state();
    let doc = st.read_doc(now);
    let mut tables: Vec<&Table> = doc
        .tables
        .iter()
        .filter(|t| if t.view { page.views } else { page.tables })
        .collect();
    if page.sort_by_name {
        tables.sort_by(|a, b| a.name.cmp(&b.name));
    }
    let items = tables
        .iter()
        .skip(page.offset)
        .take(page.limit)
        .map(|t| render::table_ref(&l, t))
        .collect();
    let next = (page.offset + page.limit < tables.len()).then(|| {
        encode_token(&TablePage {
            offset: page.offset + page.limit,
            ..page
        })
    });
    let base = format!("{}/tables", l.doc_href());
    ok(&list_body(
        items,
        with_query(&base, raw.as_ref()),
        &base,
        next,
    ))
}

fn find_table<'a>(doc: &'a crate::model::Doc, table: &str) -> Result<&'a Table, ApiError> {
    doc.table(table).ok_or_else(ApiError::table_not_found)
}

async fn get_table(
    State(s): S,
    Path((doc_id, table)): Path<(String, String)>,
    headers: HeaderMap,
) -> ApiResult {
    let now = Instant::now();
    doc_read(&s, &doc_id, &headers, now)?;
    let l = links(&s);
    let mut st = s.state();
    let t = find_table(st.read_doc(now), &table)?;
    ok(&render::table(&l, t))
}

#[derive(Serialize, Deserialize)]
struct ColumnPage {
    offset: usize,
    limit: usize,
}

async fn list_columns(
    State(s): S,
    Path((doc_id, table)): Path<(String, String)>,
    RawQuery(raw): RawQuery,
    headers: HeaderMap,
) -> ApiResult {
    let now = Instant::now();
    doc_read(&s, &doc_id, &headers, now)?;
    let p = params(raw.clone());
    let page = match p.get("pageToken") {
        Some(token) => decode_token::<ColumnPage>(token)?,
        // The spec caps columns at 100 per page; asking for more is a schema error.
        None => ColumnPage {
            offset: 0,
            limit: parse_limit(p.get("limit"), 25, 100, false)?,
        },
    };
    let l = links(&s);
    let mut st = s.state();
    let t = find_table(st.read_doc(now), &table)?;
    let items = t
        .columns
        .iter()
        .skip(page.offset)
        .take(page.limit)
        .map(|c| render::column(&l, t, c))
        .collect();
    let next = (page.offset + page.limit < t.columns.len()).then(|| {
        encode_token(&ColumnPage {
            offset: page.offset + page.limit,
            limit: page.limit,
        })
    });
    let base = format!("{}/tables/{}/columns", l.doc_href(), t.id);
    ok(&list_body(
        items,
        with_query(&base, raw.as_ref()),
        &base,
        next,
    ))
}

async fn get_column(
    State(s): S,
    Path((doc_id, table, column)): Path<(String, String, String)>,
    headers: HeaderMap,
) -> ApiResult {
    let now = Instant::now();
    doc_read(&s, &doc_id, &headers, now)?;
    let l = links(&s);
    let mut st = s.state();
    let t = find_table(st.read_doc(now), &table)?;
    let c = t.column(&column).ok_or_else(|| {
        ApiError::not_found("Could not find a column with the specified ID or name.")
    })?;
    ok(&render::column(&l, t, c))
}

// ---------------------------------------------------------------------------------------
// Reading rows

/// Everything a `listRows` page depends on; the `pageToken` carries it all.
#[derive(Clone, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
struct RowPage {
    offset: usize,
    limit: usize,
    sort_by: String,
    use_column_names: bool,
    value_format: String,
    query: Option<String>,
}

fn row_view(p: &HashMap<String, String>) -> Result<RowView, ApiError> {
    let value_format = match p.get("valueFormat") {
        None => ValueFormat::Simple,
        Some(v) => ValueFormat::parse(v)
            .ok_or_else(|| ApiError::bad_request(format!("Invalid valueFormat: {v}")))?,
    };
    Ok(RowView {
        use_column_names: p.get("useColumnNames").is_some_and(|v| v == "true"),
        value_format,
    })
}

fn first_page(s: &Shared, p: &HashMap<String, String>) -> Result<RowPage, ApiError> {
    let sort_by = p
        .get("sortBy")
        .cloned()
        .unwrap_or_else(|| "createdAt".to_owned());
    match sort_by.as_str() {
        "createdAt" | "updatedAt" => {}
        "natural" if p.get("visibleOnly").is_some_and(|v| v == "false") => {
            return Err(ApiError::bad_request(
                "Natural sorting is only available for visible rows. When using sortBy=natural, pass visibleOnly=true or omit the visibleOnly param which has the same effect.(The natural ordering of a table is only meaningfully defined for visible rows.)",
            ));
        }
        "natural" => {}
        other => {
            return Err(ApiError::bad_request(format!(
                "Invalid sortBy value: {other}"
            )))
        }
    }
    let view = row_view(p)?;
    Ok(RowPage {
        offset: 0,
        limit: parse_limit(p.get("limit"), 25, s.config.server_max_limit, true)?,
        sort_by,
        use_column_names: view.use_column_names,
        value_format: view.value_format.as_str().to_owned(),
        query: p.get("query").cloned(),
    })
}

/// Parses `query`: `c-id:<json>` or `"Column Name":<json>`, into the column ID and value.
fn parse_row_query(table: &Table, query: &str) -> Result<(String, Value), ApiError> {
    let bad = || ApiError::bad_request(format!("Invalid query: {query}"));
    let (column, rest) = if query.starts_with('"') {
        let mut stream = serde_json::Deserializer::from_str(query).into_iter::<String>();
        let name = stream.next().and_then(Result::ok).ok_or_else(bad)?;
        let rest = &query[stream.byte_offset()..];
        let column = table.columns.iter().find(|c| c.name == name);
        (column, rest)
    } else {
        let colon = query.find(':').ok_or_else(bad)?;
        let id = &query[..colon];
        (table.columns.iter().find(|c| c.id == id), &query[colon..])
    };
    let column =
        column.ok_or_else(|| ApiError::bad_request(format!("Unknown column in query: {query}")))?;
    let value_text = rest.strip_prefix(':').ok_or_else(bad)?;
    let value: Value = serde_json::from_str(value_text).map_err(|_| bad())?;
    Ok((column.id.clone(), value))
}

async fn list_rows(
    State(s): S,
    Path((doc_id, table)): Path<(String, String)>,
    RawQuery(raw): RawQuery,
    headers: HeaderMap,
) -> ApiResult {
    let now = Instant::now();
    doc_read(&s, &doc_id, &headers, now)?;
    let p = params(raw.clone());
    let page = match p.get("pageToken") {
        Some(token) => decode_token::<RowPage>(token)?,
        None => first_page(&s, &p)?,
    };
    let view = RowView {
        use_column_names: page.use_column_names,
        value_format: ValueFormat::parse(&page.value_format).unwrap_or(ValueFormat::Simple),
    };
    let l = links(&s);
    let mut st = s.state();
    let t = find_table(st.read_doc(now), &table)?;
    let filter = page
        .query
        .as_deref()
        .map(|q| parse_row_query(t, q))
        .transpose()?;
    let mut rows: Vec<(usize, &crate::model::Row)> = t
        .rows
        .iter()
        .enumerate()
        .filter(|(_, r)| {
            filter
                .as_ref()
                .is_none_or(|(c, v)| text_of(&t.value(r, c)) == text_of(v))
        })
        .collect();
    if page.sort_by == "updatedAt" {
        rows.sort_by_key(|(_, r)| r.updated.seq);
    }
    let items = rows
        .iter()
        .skip(page.offset)
        .take(page.limit)
        .map(|(i, r)| render::row(&l, t, r, *i, view))
        .collect();
    let next = (page.offset + page.limit < rows.len()).then(|| {
        encode_token(&RowPage {
            offset: page.offset + page.limit,
            ..page.clone()
        })
    });
    let base = format!("{}/tables/{}/rows", l.doc_href(), t.id);
    ok(&list_body(
        items,
        with_query(&base, raw.as_ref()),
        &base,
        next,
    ))
}

async fn get_row(
    State(s): S,
    Path((doc_id, table, row)): Path<(String, String, String)>,
    RawQuery(raw): RawQuery,
    headers: HeaderMap,
) -> ApiResult {
    let now = Instant::now();
    doc_read(&s, &doc_id, &headers, now)?;
    let view = row_view(&params(raw))?;
    let l = links(&s);
    let mut st = s.state();
    let t = find_table(st.read_doc(now), &table)?;
    let i = t.row_index(&row).ok_or_else(ApiError::row_not_found)?;
    ok(&render::row_detail(&l, t, &t.rows[i], i, view))
}

// ---------------------------------------------------------------------------------------
// Writing rows

/// `RowsUpsert`; like every request schema it allows no other fields.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RowsUpsert {
    rows: Vec<RowEdit>,
    #[serde(default, rename = "keyColumns")]
    key_columns: Vec<String>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RowEdit {
    cells: Vec<CellEdit>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct CellEdit {
    column: String,
    value: Value,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RowUpdate {
    row: RowEdit,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RowsDelete {
    #[serde(rename = "rowIds")]
    row_ids: Vec<String>,
}

/// Size check first (Coda refuses big bodies before reading them), then strict JSON.
fn parse_body<T: DeserializeOwned>(body: &Bytes) -> Result<T, ApiError> {
    if body.len() > MAX_BODY_BYTES {
        return Err(ApiError::bad_request("request entity too large"));
    }
    serde_json::from_slice(body)
        .map_err(|e| ApiError::bad_request(format!("Invalid request body: {e}")))
}

/// A value is a string, number or boolean, or an array of those (nested once); no null.
fn check_value(column: &str, value: &Value) -> Result<(), ApiError> {
    fn scalar(v: &Value) -> bool {
        matches!(v, Value::String(_) | Value::Number(_) | Value::Bool(_))
    }
    let valid = match value {
        Value::Array(items) => items
            .iter()
            .all(|i| scalar(i) || matches!(i, Value::Array(inner) if inner.iter().all(scalar))),
        v => scalar(v),
    };
    if valid {
        Ok(())
    } else {
        Err(ApiError::bad_request(format!(
            "Invalid value for column {column}: expected a string, number, boolean or an array of them."
        )))
    }
}

fn writable_column<'a>(t: &'a Table, column: &str) -> Result<&'a crate::model::Column, ApiError> {
    let c = t.column(column).ok_or_else(|| {
        ApiError::bad_request(format!("Unknown column {column} in table {}.", t.name))
    })?;
    if c.calculated() {
        return Err(ApiError::bad_request(format!(
            "Column {} has a formula and cannot be edited.",
            c.name
        )));
    }
    Ok(c)
}

/// Resolves and checks one row's cells, including the 85 KB row limit.
fn resolve_cells(t: &Table, cells: Vec<CellEdit>) -> Result<Cells, ApiError> {
    let mut out = Vec::with_capacity(cells.len());
    for cell in cells {
        let c = writable_column(t, &cell.column)?;
        check_value(&cell.column, &cell.value)?;
        out.push((c.id.clone(), cell.value));
    }
    let size = row_size(out.iter().map(|(_, v)| v));
    if size > MAX_ROW_BYTES {
        return Err(ApiError::bad_request(row_too_large_message(size)));
    }
    Ok(out)
}

async fn upsert_rows(
    State(s): S,
    Path((doc_id, table)): Path<(String, String)>,
    body: Bytes,
) -> ApiResult {
    let upsert: RowsUpsert = parse_body(&body)?;
    check_doc(&s, &doc_id)?;
    let mutation = {
        let st = s.state();
        let t = find_table(&st.live, &table)?;
        if t.view {
            return Err(ApiError::bad_request(format!(
                "Cannot upsert rows into the view {}; use its base table.",
                t.name
            )));
        }
        let key_columns = upsert
            .key_columns
            .iter()
            .map(|k| writable_column(t, k).map(|c| c.id.clone()))
            .collect::<Result<Vec<_>, _>>()?;
        let mut rows = Vec::with_capacity(upsert.rows.len());
        for (n, row) in upsert.rows.into_iter().enumerate() {
            let cells = resolve_cells(t, row.cells)?;
            if let Some(missing) = key_columns
                .iter()
                .find(|k| !cells.iter().any(|(c, _)| c == *k))
            {
                return Err(ApiError::bad_request(format!(
                    "Row {n} has no value for key column {missing}."
                )));
            }
            rows.push(cells);
        }
        let added_ids = if key_columns.is_empty() {
            rows.iter().map(|_| new_row_id()).collect()
        } else {
            Vec::new()
        };
        Mutation::Upsert {
            table_id: t.id.clone(),
            rows,
            key_columns,
            added_ids,
        }
    };
    let added = match &mutation {
        Mutation::Upsert {
            added_ids,
            key_columns,
            ..
        } if key_columns.is_empty() => Some(added_ids.clone()),
        _ => None,
    };
    let request_id = s.enqueue(mutation);
    let mut body = json!({ "requestId": request_id });
    if let (Some(ids), Value::Object(m)) = (added, &mut body) {
        m.insert("addedRowIds".into(), json!(ids));
    }
    accepted(&body)
}

async fn update_row(
    State(s): S,
    Path((doc_id, table, row)): Path<(String, String, String)>,
    body: Bytes,
) -> ApiResult {
    let update: RowUpdate = parse_body(&body)?;
    check_doc(&s, &doc_id)?;
    let (mutation, row_id) = {
        let st = s.state();
        let t = find_table(&st.live, &table)?;
        let i = t.row_index(&row).ok_or_else(ApiError::row_not_found)?;
        let cells = resolve_cells(t, update.row.cells)?;
        let row_id = t.rows[i].id.clone();
        (
            Mutation::Update {
                table_id: t.id.clone(),
                row_id: row_id.clone(),
                cells,
            },
            row_id,
        )
    };
    let request_id = s.enqueue(mutation);
    accepted(&json!({ "requestId": request_id, "id": row_id }))
}

async fn delete_rows(
    State(s): S,
    Path((doc_id, table)): Path<(String, String)>,
    body: Bytes,
) -> ApiResult {
    let delete: RowsDelete = parse_body(&body)?;
    check_doc(&s, &doc_id)?;
    let table_id = find_table(&s.state().live, &table)?.id.clone();
    // Unknown IDs are ignored: the spec says this "will always return a 202".
    let request_id = s.enqueue(Mutation::Delete {
        table_id,
        row_ids: delete.row_ids.clone(),
    });
    accepted(&json!({ "requestId": request_id, "rowIds": delete.row_ids }))
}

async fn delete_row(
    State(s): S,
    Path((doc_id, table, row)): Path<(String, String, String)>,
) -> ApiResult {
    check_doc(&s, &doc_id)?;
    let (table_id, row_id) = {
        let st = s.state();
        let t = find_table(&st.live, &table)?;
        let i = t.row_index(&row).ok_or_else(ApiError::row_not_found)?;
        (t.id.clone(), t.rows[i].id.clone())
    };
    let request_id = s.enqueue(Mutation::Delete {
        table_id,
        row_ids: vec![row_id.clone()],
    });
    accepted(&json!({ "id": row_id, "requestId": request_id }))
}

async fn mutation_status(State(s): S, Path(request_id): Path<String>) -> ApiResult {
    match s.mutation_status(&request_id, Instant::now()) {
        Some(completed) => ok(&json!({ "completed": completed })),
        None => Err(ApiError::not_found(
            "Could not find a mutation with the specified ID.",
        )),
    }
}

// ---------------------------------------------------------------------------------------
// Control (binary only; not part of Coda's API, not logged, no auth)

async fn control_faults(State(s): S) -> Json<FaultSettings> {
    Json(s.faults().clone())
}

async fn control_set_faults(State(s): S, Json(update): Json<FaultsUpdate>) -> ApiResult {
    let faults = Faults { shared: s.clone() };
    faults.apply(update).map_err(ApiError::not_found)?;
    ok(&serde_json::to_value(faults.settings()).unwrap_or_default())
}

async fn control_dump(State(s): S) -> Json<Value> {
    Json(s.dump())
}

async fn control_requests(State(s): S) -> Json<Value> {
    let log: Vec<Value> = s
        .log()
        .iter()
        .map(|l| json!({"method": l.method, "path": l.path, "query": l.query, "status": l.status, "unexpected": l.unexpected}))
        .collect();
    Json(Value::Array(log))
}

async fn control_reset_log(State(s): S) -> StatusCode {
    s.log().clear();
    StatusCode::NO_CONTENT
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;
    use crate::config::Config;
    use crate::model::Doc;

    const ORIGIN: &str = "http://127.0.0.1:4000";

    #[test]
    fn doc_ids_come_from_the_segment_after_d() {
        let check = |url: &str, expect: Result<&str, u16>| {
            let got = doc_id_from_url(url, ORIGIN).map_err(|e| e.into_response().status().as_u16());
            assert_eq!(got.as_deref().map_err(|e| *e), expect, "{url}");
        };
        check("https://coda.io/d/Training-Log_dAbCDeFGH", Ok("AbCDeFGH"));
        check(
            "https://coda.io/d/_dAbCDeFGH/Page_su1#Workouts_tgrid",
            Ok("AbCDeFGH"),
        );
        check(
            "https://docs.superhuman.com/d/X_d6vqpBu-VYd?x=1",
            Ok("6vqpBu-VYd"),
        );
        check(
            "http://127.0.0.1:4000/d/Training-Log_dAbCDeFGH",
            Ok("AbCDeFGH"),
        );
        check("https://example.com/d/Training-Log_dAbCDeFGH", Err(400));
        check("https://coda.io/docs", Err(400));
        check("not a url", Err(400));
    }

    #[test]
    fn row_queries_take_an_id_or_a_quoted_name_and_a_json_value() {
        let doc = Doc::new(&Config::default(), "t");
        let t = doc.table("Workouts").unwrap();
        let id = t.column("Title").unwrap().id.clone();
        assert_eq!(
            parse_row_query(t, &format!("{id}:\"Ride\"")).unwrap(),
            (id.clone(), json!("Ride"))
        );
        assert_eq!(
            parse_row_query(t, "\"Title\":\"a:b\"").unwrap(),
            (id.clone(), json!("a:b"))
        );
        assert_eq!(
            parse_row_query(t, "\"Duration (min)\":30").unwrap().1,
            json!(30)
        );
        for bad in ["\"Title\":Ride", "\"Nope\":1", "Title:\"x\"", "\"Title\""] {
            assert!(parse_row_query(t, bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn values_must_be_scalars_or_arrays_of_them() {
        for good in [
            json!(""),
            json!(1.5),
            json!(true),
            json!(["a", 1]),
            json!([["a"], "b"]),
        ] {
            assert!(check_value("c", &good).is_ok(), "{good}");
        }
        for bad in [
            json!(null),
            json!({"a": 1}),
            json!([null]),
            json!([[["a"]]]),
        ] {
            assert!(check_value("c", &bad).is_err(), "{bad}");
        }
    }
}
