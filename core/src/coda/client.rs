//! The Coda REST client: configuration, the one private request path, and
//! the row endpoints (keyed upsert, delete, list, mutation status).
//!
//! Every request goes through [`CodaClient::call`], which paces it (reads and
//! writes have separate pacers; writes run one at a time) and retries 429,
//! 5xx, timeouts and dropped connections through [`crate::net::send_with_retry`].
//! Paths carry IDs only, never names (`coda-api.md` §3).

use std::collections::{HashMap, HashSet};
use std::time::Duration;

use bytes::Bytes;
use reqwest::{Method, Response, StatusCode};
use secrecy::{ExposeSecret, SecretString};
use serde::de::DeserializeOwned;
use serde::Deserialize;
use url::Url;

use super::error::CodaError;
use super::table::ResolvedTable;
use crate::net::{send_with_retry, Pacer, RateLimit, RetryPolicy};
use crate::rows::{CellValue, Row};

/// How the client talks to Coda.
#[derive(Debug, Clone)]
pub struct CodaConfig {
    /// API base, without a trailing slash (tests point it at the fake).
    pub api_url: String,
    /// Pace of reads (Coda allows 100 per 6 s; the default keeps well under).
    pub read_rate: RateLimit,
    /// Pace of row writes: upserts and deletes, one in flight at a time.
    /// Coda allows 3 doc-content writes per 10 s; the default is 1 per 3.5 s.
    pub write_rate: RateLimit,
    /// Timeout of one HTTP attempt.
    pub timeout: Duration,
    /// Retries for 429, 5xx, timeouts and drops.
    pub retry: RetryPolicy,
    /// Most rows in one upsert request.
    pub batch_rows: usize,
    /// Largest upsert body in bytes (Coda refuses bodies over 2 MB).
    pub max_request_bytes: usize,
    /// First wait before polling a mutation's status (then it backs off).
    pub mutation_poll: Duration,
}

/// Coda's documented API base.
pub const DEFAULT_API_URL: &str = "https://coda.io/apis/v1";

impl Default for CodaConfig {
    fn default() -> Self {
        Self {
            api_url: DEFAULT_API_URL.to_string(),
            read_rate: RateLimit {
                requests: 60,
                per: Duration::from_secs(6),
            },
            write_rate: RateLimit {
                requests: 1,
                per: Duration::from_millis(3500),
            },
            timeout: Duration::from_secs(60),
            retry: RetryPolicy::default(),
            batch_rows: 100,
            // 2 MB less a margin for headers and Coda's own way of counting.
            max_request_bytes: 2_000_000 - 100_000,
            mutation_poll: Duration::from_secs(3),
        }
    }
}

/// Reads may run a few at a time; the read pacer still spaces them.
pub const READS_IN_FLIGHT: usize = 4;

/// Reads that may start together after a pause (opening the doc reads every
/// table's columns at once). At the default read rate, any 6 s then holds at
/// most 64 reads, against the published 100.
pub const READ_BURST: u32 = READS_IN_FLIGHT as u32;
/// Page size for `listRows` (servers cut larger values silently).
const ROWS_PAGE: &str = "500";
/// Page size for every other list (100 is the stated maximum for columns).
pub(super) const LIST_PAGE: &str = "100";
/// Row IDs per bulk delete request.
const DELETE_BATCH: usize = 1000;
/// A list that keeps handing out page tokens past this is treated as broken.
const MAX_PAGES: usize = 10_000;

/// The owner of the API token (`GET /whoami`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WhoAmI {
    /// The user's name.
    pub name: String,
    /// The user's login (an email address).
    pub login_id: String,
    /// True when the token is restricted to a doc or table, or to reading.
    pub scoped: bool,
    /// The name the user gave the token in Coda.
    pub token_name: String,
}

/// A doc Coda has confirmed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DocInfo {
    /// The doc ID.
    pub id: String,
    /// The doc's name.
    pub name: String,
}

/// A row in a Coda table, as far as the sync needs it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RemoteRow {
    /// Coda's row ID (`i-…`).
    pub id: String,
    /// The key column's value as text (`""` when empty).
    pub key: String,
}

/// The client. Cheap to share by reference; pacing state lives inside.
pub struct CodaClient {
    pub(super) http: reqwest::Client,
    base: Url,
    host: String,
    token: SecretString,
    read_pacer: Pacer,
    write_pacer: Pacer,
    pub(super) config: CodaConfig,
}

impl std::fmt::Debug for CodaClient {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // The token is left out on purpose.
        f.debug_struct("CodaClient")
            .field("api_url", &self.config.api_url)
            .finish_non_exhaustive()
    }
}

/// One API request, described once so each retry can rebuild it.
pub(super) struct Call<'a> {
    method: Method,
    endpoint: &'static str,
    segments: &'a [&'a str],
    query: Vec<(&'a str, &'a str)>,
    body: Option<Bytes>,
    doc_id: Option<&'a str>,
    /// Sends `X-Coda-Doc-Version: latest`: a stale snapshot answers 400.
    latest: bool,
}

impl<'a> Call<'a> {
    /// A read. `endpoint` is a template for logs and errors.
    pub(super) fn get(endpoint: &'static str, segments: &'a [&'a str]) -> Self {
        Self {
            method: Method::GET,
            endpoint,
            segments,
            query: Vec::new(),
            body: None,
            doc_id: None,
            latest: false,
        }
    }

    /// A write with a JSON body.
    fn write(method: Method, endpoint: &'static str, segments: &'a [&'a str], body: Bytes) -> Self {
        Self {
            method,
            endpoint,
            segments,
            query: Vec::new(),
            body: Some(body),
            doc_id: None,
            latest: false,
        }
    }

    /// Adds query parameters.
    pub(super) fn query(mut self, q: &[(&'a str, &'a str)]) -> Self {
        self.query.extend_from_slice(q);
        self
    }

    /// Names the doc the call addresses (for a 403's message).
    pub(super) fn doc(mut self, doc_id: &'a str) -> Self {
        self.doc_id = Some(doc_id);
        self
    }

    /// Asks for the doc's latest version (`coda-api.md` §7).
    fn latest(mut self) -> Self {
        self.latest = true;
        self
    }
}

/// A successful answer, or a 404 that the caller gives meaning to.
pub(super) enum Answer<T> {
    Found(T),
    NotFound,
}

impl<T> Answer<T> {
    /// The value, or `err()` on 404.
    pub(super) fn or(self, err: impl FnOnce() -> CodaError) -> Result<T, CodaError> {
        match self {
            Answer::Found(t) => Ok(t),
            Answer::NotFound => Err(err()),
        }
    }
}

/// Coda's error body; every field optional because some answers differ.
#[derive(Debug, Deserialize)]
struct ErrorBody {
    #[serde(default)]
    message: Option<String>,
    #[serde(default, rename = "statusMessage")]
    status_message: Option<String>,
}

/// A paged list.
#[derive(Debug, Deserialize)]
#[serde(bound(deserialize = "T: Deserialize<'de>"))]
pub(super) struct Page<T> {
    #[serde(default = "Vec::new")]
    items: Vec<T>,
    #[serde(default, rename = "nextPageToken")]
    next_page_token: Option<String>,
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
struct WhoAmIBody {
    #[serde(default)]
    name: String,
    #[serde(default)]
    login_id: String,
    #[serde(default)]
    scoped: bool,
    #[serde(default)]
    token_name: Option<String>,
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
struct MutationAccepted {
    request_id: String,
}

#[derive(Debug, Deserialize)]
struct MutationStatusBody {
    #[serde(default)]
    completed: bool,
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
struct TableBody {
    #[serde(default)]
    row_count: u64,
}

#[derive(Debug, Deserialize)]
struct RowBody {
    id: String,
    #[serde(default)]
    values: HashMap<String, serde_json::Value>,
}

impl CodaClient {
    /// A client for the API at `config.api_url`, authenticating with `token`.
    pub fn new(config: CodaConfig, token: SecretString) -> Result<Self, CodaError> {
        let trimmed = config.api_url.trim().trim_end_matches('/');
        let bad_url = |message: String| CodaError::InvalidApiUrl {
            url: config.api_url.clone(),
            message,
        };
        let base = crate::net::base_url(trimmed).map_err(bad_url)?;
        let host = match (base.host_str(), base.port()) {
            (Some(h), Some(p)) => format!("{h}:{p}"),
            (Some(h), None) => h.to_string(),
            (None, _) => return Err(bad_url("has no host".into())),
        };
        // A token that cannot go in a header (a control character pasted
        // with it) would fail every request as if the URL were wrong.
        if reqwest::header::HeaderValue::from_str(&format!("Bearer {}", token.expose_secret()))
            .is_err()
        {
            return Err(CodaError::TokenUnusable);
        }
        let http = reqwest::Client::builder()
            .user_agent(crate::USER_AGENT)
            .timeout(config.timeout)
            .build()
            .map_err(|e| bad_url(e.to_string()))?;
        Ok(Self {
            http,
            base,
            host,
            token,
            read_pacer: Pacer::with_burst(READS_IN_FLIGHT, config.read_rate, READ_BURST),
            write_pacer: Pacer::new(1, config.write_rate),
            config,
        })
    }

    /// The client's configuration.
    pub fn config(&self) -> &CodaConfig {
        &self.config
    }

    /// `GET /whoami`: checks the token and says whose it is.
    pub async fn whoami(&self) -> Result<WhoAmI, CodaError> {
        let body: WhoAmIBody = self
            .call_json(Call::get("GET /whoami", &["whoami"]))
            .await?
            .or(|| CodaError::Server(404))?;
        Ok(WhoAmI {
            name: body.name,
            login_id: body.login_id,
            scoped: body.scoped,
            token_name: body.token_name.unwrap_or_default(),
        })
    }

    /// Upserts `rows` into `table`, keyed on its key column, and returns the
    /// request ID of each accepted batch. Same as [`Self::upsert_rows_with`]
    /// without a callback.
    pub async fn upsert_rows(
        &self,
        doc_id: &str,
        table: &ResolvedTable,
        rows: &[Row],
    ) -> Result<Vec<String>, CodaError> {
        self.upsert_rows_with(doc_id, table, rows, |_, _| {}).await
    }

    /// Upserts `rows` into `table` in batches, calling
    /// `on_accepted(batch_rows, request_id)` after Coda accepts (202) each
    /// batch, so the caller can mark exactly those rows as written even when
    /// a later batch fails. Returns every request ID, in order.
    ///
    /// Cells are addressed by column ID and `keyColumns` is the key column,
    /// so a row is never duplicated. A batch holds at most
    /// `config.batch_rows` rows, stays under `config.max_request_bytes`
    /// (measured on the encoded JSON) and never holds two rows with the same
    /// key (a repeated key starts a new batch, so the later row wins). Rows
    /// keep their order. Retrying a keyed upsert is safe: it is idempotent.
    pub async fn upsert_rows_with<F>(
        &self,
        doc_id: &str,
        table: &ResolvedTable,
        rows: &[Row],
        mut on_accepted: F,
    ) -> Result<Vec<String>, CodaError>
    where
        F: FnMut(&[Row], &str),
    {
        let batches = plan_upserts(
            table,
            rows,
            self.config.batch_rows,
            self.config.max_request_bytes,
        )?;
        let mut ids = Vec::with_capacity(batches.len());
        for batch in batches {
            let segments = ["docs", doc_id, "tables", &table.id, "rows"];
            let call = Call::write(
                Method::POST,
                "POST /docs/{docId}/tables/{tableId}/rows",
                &segments,
                batch.body,
            )
            .doc(doc_id);
            let accepted: MutationAccepted = self
                .call_json(call)
                .await?
                .or(|| table_not_found(doc_id, &table.name))?;
            on_accepted(&rows[batch.rows], &accepted.request_id);
            ids.push(accepted.request_id);
        }
        Ok(ids)
    }

    /// Deletes rows by ID (`DELETE …/rows` with `{"rowIds": […]}`), at most
    /// 1000 IDs a request, and returns the request IDs (none for an empty
    /// list). IDs Coda does not know are ignored by Coda.
    pub async fn delete_rows(
        &self,
        doc_id: &str,
        table_id: &str,
        row_ids: &[String],
    ) -> Result<Vec<String>, CodaError> {
        let mut ids = Vec::new();
        for chunk in row_ids.chunks(DELETE_BATCH) {
            let body = serde_json::to_vec(&serde_json::json!({ "rowIds": chunk }))
                .map(Bytes::from)
                .map_err(|e| CodaError::Decode {
                    endpoint: "DELETE /docs/{docId}/tables/{tableId}/rows",
                    path: String::new(),
                    message: e.to_string(),
                })?;
            let segments = ["docs", doc_id, "tables", table_id, "rows"];
            let call = Call::write(
                Method::DELETE,
                "DELETE /docs/{docId}/tables/{tableId}/rows",
                &segments,
                body,
            )
            .doc(doc_id);
            let accepted: MutationAccepted = self
                .call_json(call)
                .await?
                .or(|| table_not_found(doc_id, table_id))?;
            ids.push(accepted.request_id);
        }
        Ok(ids)
    }

    /// Every row of `table` with its key value, following `pageToken` to the
    /// end and dropping rows seen twice (pages are offset-based and can shift).
    pub async fn list_rows(
        &self,
        doc_id: &str,
        table: &ResolvedTable,
    ) -> Result<Vec<RemoteRow>, CodaError> {
        self.list_rows_with(doc_id, table, false).await
    }

    async fn list_rows_with(
        &self,
        doc_id: &str,
        table: &ResolvedTable,
        latest: bool,
    ) -> Result<Vec<RemoteRow>, CodaError> {
        let segments = ["docs", doc_id, "tables", &table.id, "rows"];
        let mut first = Call::get("GET /docs/{docId}/tables/{tableId}/rows", &segments)
            .doc(doc_id)
            .query(&[("limit", ROWS_PAGE)]);
        first.latest = latest;
        let items: Vec<RowBody> = self
            .list_all(first, || table_not_found(doc_id, &table.name))
            .await?;
        let mut seen = HashSet::new();
        Ok(items
            .into_iter()
            .filter(|r| seen.insert(r.id.clone()))
            .map(|r| RemoteRow {
                key: r
                    .values
                    .get(&table.key_column_id)
                    .map(value_as_text)
                    .unwrap_or_default(),
                id: r.id,
            })
            .collect())
    }

    /// A table's `rowCount`, read from the doc's latest version; `None`
    /// when Coda's snapshot lags a change (nothing can be concluded then).
    pub async fn row_count(
        &self,
        doc_id: &str,
        table: &ResolvedTable,
    ) -> Result<Option<u64>, CodaError> {
        let segments = ["docs", doc_id, "tables", &table.id];
        let call = Call::get("GET /docs/{docId}/tables/{tableId}", &segments)
            .doc(doc_id)
            .latest();
        match self.call_json::<TableBody>(call).await {
            Ok(answer) => Ok(Some(
                answer
                    .or(|| table_not_found(doc_id, &table.name))?
                    .row_count,
            )),
            Err(e) if is_stale(&e) => Ok(None),
            Err(e) => Err(e),
        }
    }

    /// Every row of `table` as in [`CodaClient::list_rows`], from the doc's
    /// latest version; `None` when Coda's snapshot lags a change.
    pub async fn list_rows_latest(
        &self,
        doc_id: &str,
        table: &ResolvedTable,
    ) -> Result<Option<Vec<RemoteRow>>, CodaError> {
        match self.list_rows_with(doc_id, table, true).await {
            Ok(rows) => Ok(Some(rows)),
            Err(e) if is_stale(&e) => Ok(None),
            Err(e) => Err(e),
        }
    }

    /// Whether the write `request_id` has been applied. A 404 means Coda
    /// does not know the request yet (a replication delay right after the
    /// write), so it is reported as not completed.
    pub async fn mutation_status(&self, request_id: &str) -> Result<bool, CodaError> {
        let segments = ["mutationStatus", request_id];
        let call = Call::get("GET /mutationStatus/{requestId}", &segments);
        match self.call_json::<MutationStatusBody>(call).await? {
            Answer::Found(s) => Ok(s.completed),
            Answer::NotFound => Ok(false),
        }
    }

    /// Polls until every request in `request_ids` has completed or `timeout`
    /// has passed, and returns the ones still not confirmed ("queued, not
    /// confirmed", not failed: Coda has no failed state). The first poll is
    /// after `config.mutation_poll`; the interval then grows to 4 times that.
    pub async fn wait_for_mutations(
        &self,
        request_ids: &[String],
        timeout: Duration,
    ) -> Result<Vec<String>, CodaError> {
        let deadline = tokio::time::Instant::now() + timeout;
        let mut pending: Vec<String> = request_ids.to_vec();
        let first = self.config.mutation_poll;
        let mut interval = first;
        while !pending.is_empty() {
            let now = tokio::time::Instant::now();
            if now >= deadline {
                break;
            }
            tokio::time::sleep(interval.min(deadline - now)).await;
            let mut still = Vec::new();
            for id in pending {
                if !self.mutation_status(&id).await? {
                    still.push(id);
                }
            }
            pending = still;
            interval = (interval * 3 / 2).min(first * 4);
        }
        Ok(pending)
    }

    /// Every item of a list endpoint. Later pages send only `pageToken`, which
    /// carries every other parameter (`coda-api.md` §4).
    pub(super) async fn list_all<T: DeserializeOwned>(
        &self,
        first: Call<'_>,
        not_found: impl Fn() -> CodaError,
    ) -> Result<Vec<T>, CodaError> {
        let Call {
            endpoint,
            segments,
            query,
            doc_id,
            latest,
            ..
        } = first;
        let mut items = Vec::new();
        let mut token: Option<String> = None;
        for _ in 0..MAX_PAGES {
            let mut call = Call::get(endpoint, segments);
            call.doc_id = doc_id;
            call.latest = latest;
            call = match &token {
                Some(t) => call.query(&[("pageToken", t.as_str())]),
                None => call.query(&query),
            };
            let page: Page<T> = self.call_json(call).await?.or(&not_found)?;
            items.extend(page.items);
            match page.next_page_token.filter(|t| !t.is_empty()) {
                Some(t) if token.as_deref() != Some(t.as_str()) => token = Some(t),
                _ => return Ok(items),
            }
        }
        Err(CodaError::Decode {
            endpoint,
            path: "nextPageToken".into(),
            message: format!("more than {MAX_PAGES} pages"),
        })
    }

    /// Sends `call` and decodes a 2xx answer as `T`; 404 is left to the caller.
    pub(super) async fn call_json<T: DeserializeOwned>(
        &self,
        call: Call<'_>,
    ) -> Result<Answer<T>, CodaError> {
        let endpoint = call.endpoint;
        let doc_id = call.doc_id.map(str::to_string);
        let resp = self.call(call).await?;
        let status = resp.status();
        let bytes = resp.bytes().await.map_err(|e| CodaError::Unreachable {
            host: self.host.clone(),
            message: e.without_url().to_string(),
        })?;
        if status.is_success() {
            let de = &mut serde_json::Deserializer::from_slice(&bytes);
            return serde_path_to_error::deserialize(de)
                .map(Answer::Found)
                .map_err(|e| CodaError::Decode {
                    endpoint,
                    path: e.path().to_string(),
                    message: e.into_inner().to_string(),
                });
        }
        Err(match status {
            StatusCode::NOT_FOUND => return Ok(Answer::NotFound),
            StatusCode::UNAUTHORIZED => CodaError::TokenRefused,
            StatusCode::FORBIDDEN => CodaError::Forbidden { doc_id },
            s if s.is_client_error() => CodaError::BadRequest {
                endpoint,
                status: s.as_u16(),
                message: error_message(&bytes, s),
            },
            s => CodaError::Server(s.as_u16()),
        })
    }

    /// The one request path: URL from ID segments, auth, pacing, retries.
    async fn call(&self, call: Call<'_>) -> Result<Response, CodaError> {
        let mut url = self.base.clone();
        {
            let mut path = url
                .path_segments_mut()
                .map_err(|()| CodaError::InvalidApiUrl {
                    url: self.config.api_url.clone(),
                    message: "cannot be a base".into(),
                })?;
            path.pop_if_empty();
            path.extend(call.segments);
        }
        if !call.query.is_empty() {
            url.query_pairs_mut().extend_pairs(&call.query);
        }
        let pacer = if call.method == Method::GET {
            &self.read_pacer
        } else {
            &self.write_pacer
        };
        tracing::debug!(endpoint = call.endpoint, "coda request");
        let resp = send_with_retry(pacer, &self.config.retry, &self.host, || {
            let mut req = self
                .http
                .request(call.method.clone(), url.clone())
                .bearer_auth(self.token.expose_secret());
            if call.latest {
                req = req.header("X-Coda-Doc-Version", "latest");
            }
            if let Some(body) = &call.body {
                req = req
                    .header(reqwest::header::CONTENT_TYPE, "application/json")
                    .body(body.clone());
            }
            req
        })
        .await
        .map_err(CodaError::from_net)?;
        Ok(resp)
    }
}

/// The 400 a read with `X-Coda-Doc-Version: latest` gets while the doc's
/// snapshot lags a change (`coda-api.md` §7).
fn is_stale(e: &CodaError) -> bool {
    matches!(e, CodaError::BadRequest { status: 400, message, .. }
        if message.to_ascii_lowercase().contains("not yet up to date"))
}

fn table_not_found(doc_id: &str, table: &str) -> CodaError {
    CodaError::TableNotFound {
        doc_id: doc_id.to_string(),
        table: table.to_string(),
    }
}

/// Coda's `message` (or `statusMessage`, or the status) for display.
fn error_message(body: &[u8], status: StatusCode) -> String {
    serde_json::from_slice::<ErrorBody>(body)
        .ok()
        .and_then(|b| b.message.or(b.status_message))
        .filter(|m| !m.trim().is_empty())
        .unwrap_or_else(|| status.to_string())
}

/// A cell read with `valueFormat=simple`, as text.
fn value_as_text(v: &serde_json::Value) -> String {
    match v {
        serde_json::Value::String(s) => s.clone(),
        serde_json::Value::Null => String::new(),
        other => other.to_string(),
    }
}

/// One upsert request: its encoded body and the rows it carries.
#[derive(Debug)]
pub(super) struct PlannedBatch {
    pub(super) rows: std::ops::Range<usize>,
    pub(super) body: Bytes,
}

/// Splits `rows` into upsert bodies: at most `max_rows` rows and
/// `max_bytes` bytes each, no key twice in one body, order kept.
pub(super) fn plan_upserts(
    table: &ResolvedTable,
    rows: &[Row],
    max_rows: usize,
    max_bytes: usize,
) -> Result<Vec<PlannedBatch>, CodaError> {
    let max_rows = max_rows.max(1);
    let head = br#"{"rows":["#;
    let tail = format!(
        "],\"keyColumns\":[{}]}}",
        serde_json::Value::String(table.key_column_id.clone())
    );
    let envelope = head.len() + tail.len();
    let mut batches = Vec::new();
    let mut start = 0;
    let mut body: Vec<u8> = head.to_vec();
    let mut keys: HashSet<&str> = HashSet::new();
    let close = |body: &mut Vec<u8>| {
        let mut done = std::mem::replace(body, head.to_vec());
        done.extend_from_slice(tail.as_bytes());
        Bytes::from(done)
    };
    for (i, row) in rows.iter().enumerate() {
        let encoded = encode_row(table, row);
        if envelope + encoded.len() > max_bytes {
            return Err(CodaError::RequestTooLarge {
                key: row.key.clone(),
                bytes: envelope + encoded.len(),
                limit: max_bytes,
            });
        }
        let count = i - start;
        let would_be = body.len() + usize::from(count > 0) + encoded.len() + tail.len();
        if count > 0
            && (count >= max_rows || would_be > max_bytes || keys.contains(row.key.as_str()))
        {
            batches.push(PlannedBatch {
                rows: start..i,
                body: close(&mut body),
            });
            start = i;
            keys.clear();
        }
        if i > start {
            body.push(b',');
        }
        body.extend_from_slice(&encoded);
        keys.insert(row.key.as_str());
    }
    if start < rows.len() {
        batches.push(PlannedBatch {
            rows: start..rows.len(),
            body: close(&mut body),
        });
    }
    Ok(batches)
}

/// `{"cells":[{"column":"c-…","value":…},…]}` for one row. The key cell is
/// always present and holds the row's key; cells for columns the table does
/// not have are left out (the schema check guarantees they do not occur).
fn encode_row(table: &ResolvedTable, row: &Row) -> Vec<u8> {
    debug_assert_eq!(row.table, table.table, "row for another table");
    let key_name = table.table.key_column();
    let mut cells: Vec<serde_json::Value> = Vec::with_capacity(row.cells.len() + 1);
    let mut has_key = false;
    for cell in &row.cells {
        let Some(id) = table.columns.get(cell.column) else {
            // Optional columns the user did not add are expected to be absent.
            let optional = table
                .table
                .optional_columns()
                .any(|c| c.name == cell.column);
            if optional {
                continue;
            }
            tracing::warn!(column = cell.column, table = %table.name, "cell for an unknown column left out");
            continue;
        };
        let value = if cell.column == key_name {
            has_key = true;
            CellValue::Text(row.key.clone())
        } else {
            cell.value.clone()
        };
        cells.push(serde_json::json!({ "column": id, "value": value }));
    }
    if !has_key {
        cells.insert(
            0,
            serde_json::json!({ "column": table.key_column_id, "value": row.key }),
        );
    }
    // Serializing plain JSON values cannot fail.
    serde_json::to_vec(&serde_json::json!({ "cells": cells })).unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::rows::Cell;
    use crate::tables::Table;

    fn instructors() -> ResolvedTable {
        let columns: HashMap<&'static str, String> = Table::Instructors
            .columns()
            .iter()
            .enumerate()
            .map(|(i, c)| (c.name, format!("c-col{i}")))
            .collect();
        ResolvedTable {
            table: Table::Instructors,
            id: "grid-instr".into(),
            name: "Instructors".into(),
            key_column_id: columns["Instructor ID"].clone(),
            columns,
            optional_skipped: Vec::new(),
        }
    }

    fn row(key: &str, name: &str) -> Row {
        Row {
            table: Table::Instructors,
            key: key.into(),
            cells: vec![
                Cell {
                    column: "Instructor ID",
                    value: CellValue::Text(key.into()),
                },
                Cell {
                    column: "Name",
                    value: CellValue::Text(name.into()),
                },
                Cell {
                    column: "Disciplines",
                    value: CellValue::Empty,
                },
            ],
        }
    }

    fn body(b: &PlannedBatch) -> serde_json::Value {
        serde_json::from_slice(&b.body).unwrap()
    }

    #[test]
    fn batches_by_count() {
        let rows: Vec<Row> = (0..250).map(|i| row(&format!("k{i}"), "n")).collect();
        let plan = plan_upserts(&instructors(), &rows, 100, 2_000_000).unwrap();
        let sizes: Vec<usize> = plan.iter().map(|b| b.rows.len()).collect();
        assert_eq!(sizes, [100, 100, 50]);
        assert_eq!(plan[2].rows, 200..250);
        assert_eq!(body(&plan[1])["rows"].as_array().unwrap().len(), 100);
    }

    #[test]
    fn body_uses_column_ids_and_key_columns() {
        let plan = plan_upserts(&instructors(), &[row("abc", "Ada")], 100, 10_000).unwrap();
        assert_eq!(
            body(&plan[0]),
            serde_json::json!({
                "rows": [{"cells": [
                    {"column": "c-col0", "value": "abc"},
                    {"column": "c-col1", "value": "Ada"},
                    {"column": "c-col2", "value": ""},
                ]}],
                "keyColumns": ["c-col0"],
            })
        );
    }

    #[test]
    fn batches_by_measured_bytes() {
        let big = "x".repeat(1000);
        let rows: Vec<Row> = (0..20).map(|i| row(&format!("k{i}"), &big)).collect();
        let limit = 5_000;
        let plan = plan_upserts(&instructors(), &rows, 100, limit).unwrap();
        assert!(plan.len() >= 5, "{} batches", plan.len());
        let mut next = 0;
        for b in &plan {
            assert!(b.body.len() <= limit, "{} bytes", b.body.len());
            assert_eq!(b.rows.start, next);
            next = b.rows.end;
            // The body is valid JSON with exactly the batch's rows.
            assert_eq!(body(b)["rows"].as_array().unwrap().len(), b.rows.len());
        }
        assert_eq!(next, 20);
    }

    #[test]
    fn a_key_never_appears_twice_in_one_request() {
        let rows = vec![row("a", "1"), row("b", "1"), row("a", "2"), row("c", "1")];
        let plan = plan_upserts(&instructors(), &rows, 100, 2_000_000).unwrap();
        let ranges: Vec<_> = plan.iter().map(|b| b.rows.clone()).collect();
        assert_eq!(ranges, [0..2, 2..4]);
    }

    #[test]
    fn a_row_over_the_limit_is_refused_up_front() {
        let rows = vec![row("a", &"x".repeat(10_000))];
        let err = plan_upserts(&instructors(), &rows, 100, 5_000).unwrap_err();
        assert!(matches!(err, CodaError::RequestTooLarge { ref key, .. } if key == "a"));
    }

    #[test]
    fn the_key_cell_is_always_sent() {
        let mut r = row("k1", "n");
        r.cells.remove(0);
        let plan = plan_upserts(&instructors(), &[r], 100, 10_000).unwrap();
        assert_eq!(
            body(&plan[0])["rows"][0]["cells"][0],
            serde_json::json!({"column": "c-col0", "value": "k1"})
        );
    }

    #[test]
    fn no_rows_no_requests() {
        assert!(plan_upserts(&instructors(), &[], 100, 10_000)
            .unwrap()
            .is_empty());
    }

    #[test]
    fn debug_never_shows_the_token() {
        let c = CodaClient::new(
            CodaConfig::default(),
            SecretString::from("super-secret-token"),
        )
        .unwrap();
        assert!(!format!("{c:?}").contains("super-secret"));
    }

    #[test]
    fn a_token_no_header_can_carry_is_named_as_the_token() {
        let err =
            CodaClient::new(CodaConfig::default(), SecretString::from("tok\u{7}en")).unwrap_err();
        assert!(matches!(err, CodaError::TokenUnusable), "{err:?}");
        let said = err.user_message();
        assert!(said.contains("token") && !said.contains("URL"), "{said}");
    }

    #[test]
    fn bad_api_urls_are_refused() {
        for url in ["not a url", "ftp://x/y", "mailto:a@b"] {
            let cfg = CodaConfig {
                api_url: url.into(),
                ..CodaConfig::default()
            };
            assert!(
                matches!(
                    CodaClient::new(cfg, SecretString::from("t")),
                    Err(CodaError::InvalidApiUrl { .. })
                ),
                "{url}"
            );
        }
    }

    #[test]
    fn error_messages_come_from_the_body() {
        let b =
            br#"{"statusCode":400,"statusMessage":"Bad Request","message":"Invalid pageToken."}"#;
        assert_eq!(
            error_message(b, StatusCode::BAD_REQUEST),
            "Invalid pageToken."
        );
        assert_eq!(
            error_message(b"<html>", StatusCode::BAD_REQUEST),
            "400 Bad Request"
        );
    }
}
