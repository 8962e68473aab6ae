//! The Peloton API client: one typed method per endpoint the sync reads.
//!
//! Every API request goes through one private path ([`PelotonClient::send`]):
//! a fresh bearer token from the authenticator, the pacer and retry rules of
//! [`crate::net`], and one renewal plus one repeat on a 401. No other 4xx is
//! retried. Answers are decoded with `serde_path_to_error`, so a changed
//! field is reported by endpoint and path, and the raw answer can be saved
//! (without e-mail addresses) for a bug report.

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU32, AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

use futures::stream::{self, Stream, TryStreamExt};
use reqwest::header::ACCEPT;
use reqwest::{Client, StatusCode};
use secrecy::{ExposeSecret, SecretString};
use serde::de::DeserializeOwned;
use serde_json::Value;
use url::Url;

use super::auth::{AuthSettings, Authenticator};
use super::error::PelotonError;
use super::types::{FollowedUser, Instructor, Me, Page, PerformanceGraph, Workout};
use crate::clock::SharedClock;
use crate::net::{send_with_retry, Pacer, RateLimit, RetryPolicy};
use crate::secrets::SecretStore;

/// The largest page any client is known to use (§5); asking for more is untested.
const MAX_PAGE_LIMIT: u32 = 100;
/// Stops a server that always says "more" from keeping a run going forever.
const MAX_PAGES: u32 = 10_000;

const EP_ME: &str = "/api/me";
const EP_WORKOUTS: &str = "/api/user/{id}/workouts";
const EP_WORKOUT: &str = "/api/workout/{id}";
const EP_GRAPH: &str = "/api/workout/{id}/performance_graph";
const EP_FOLLOWING: &str = "/api/user/{id}/following";
const EP_INSTRUCTORS: &str = "/api/instructor";
const JOINS: &str = "ride,ride.instructor";

/// How to reach Peloton and how gently to treat it.
#[derive(Debug, Clone)]
pub struct PelotonConfig {
    /// API base, `https://api.onepeloton.com` (a fake's URL in tests).
    pub api_url: String,
    /// Auth0 base, `https://auth.onepeloton.com` (a fake's URL in tests).
    pub auth_url: String,
    /// Requests in flight at once.
    pub max_in_flight: usize,
    /// Requests per window, across the API and the auth host. Peloton
    /// publishes no limit; the default spaces requests 100 ms apart, the
    /// gap a careful 2025 client keeps (peloton-api.md §11), with at most
    /// four in flight where other clients fire 25 at once.
    pub rate: RateLimit,
    /// Per-request timeout.
    pub timeout: Duration,
    /// How 429s, 5xx and network errors are retried.
    pub retry: RetryPolicy,
    /// The performance graph's sampling step in seconds: 1, every sample,
    /// for the local archive the exports read (the rows need only the
    /// aggregates, which Peloton computes the same at any step).
    pub every_n: u32,
    /// Page size of the workout list (at most 100).
    pub page_limit: u32,
    /// Where raw answers that could not be decoded are saved; `None` keeps none.
    pub dump_dir: Option<PathBuf>,
}

impl Default for PelotonConfig {
    fn default() -> Self {
        Self {
            api_url: "https://api.onepeloton.com".to_string(),
            auth_url: "https://auth.onepeloton.com".to_string(),
            max_in_flight: 4,
            rate: RateLimit {
                requests: 10,
                per: Duration::from_secs(1),
            },
            timeout: Duration::from_secs(30),
            retry: RetryPolicy::default(),
            every_n: 1,
            page_limit: 100,
            dump_dir: None,
        }
    }
}

/// A signed-in (or about to be) Peloton API client. Cheap to share behind an
/// `Arc`; all methods take `&self` and may run concurrently (the pacer caps
/// how many requests are in flight).
pub struct PelotonClient {
    config: PelotonConfig,
    api_url: Url,
    http: Client,
    pacer: Arc<Pacer>,
    auth: Authenticator,
    requests: AtomicU64,
    dumps: AtomicU32,
}

impl std::fmt::Debug for PelotonClient {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PelotonClient")
            .field("api_url", &self.api_url.as_str())
            .field("auth", &self.auth)
            .field("requests", &self.request_count())
            .finish_non_exhaustive()
    }
}

fn base_url(s: &str, what: &str) -> Result<Url, PelotonError> {
    let url = Url::parse(s).map_err(|e| PelotonError::Request(format!("bad {what} URL: {e}")))?;
    if url.cannot_be_a_base() {
        return Err(PelotonError::Request(format!("bad {what} URL: not a base")));
    }
    Ok(url)
}

impl PelotonClient {
    /// A client for `email`. With `password` `None`, the password is read
    /// from `secrets` when (and only when) a full login is needed. Nothing is
    /// sent until the first call.
    pub fn new(
        config: PelotonConfig,
        clock: SharedClock,
        secrets: Arc<dyn SecretStore>,
        email: String,
        password: Option<SecretString>,
    ) -> Result<Self, PelotonError> {
        let api_url = base_url(&config.api_url, "API")?;
        let auth_url = base_url(&config.auth_url, "auth")?;
        let pacer = Arc::new(Pacer::new(config.max_in_flight, config.rate));
        let http = Client::builder()
            .user_agent(crate::USER_AGENT)
            .timeout(config.timeout)
            // The API sits behind Cloudflare, which sets cookies it expects back.
            .cookie_store(true)
            .build()
            .map_err(|e| PelotonError::Request(e.without_url().to_string()))?;
        let auth = Authenticator::new(
            AuthSettings {
                auth_url,
                timeout: config.timeout,
                retry: config.retry.clone(),
                pacer: pacer.clone(),
            },
            clock,
            secrets,
            email,
            password,
        )?;
        Ok(Self {
            config,
            api_url,
            http,
            pacer,
            auth,
            requests: AtomicU64::new(0),
            dumps: AtomicU32::new(0),
        })
    }

    /// The token keeper, for the browser sign-in's code exchange.
    pub(crate) fn authenticator(&self) -> &Authenticator {
        &self.auth
    }

    /// The API's base URL.
    pub fn api_url(&self) -> &str {
        self.api_url.as_str()
    }

    /// Makes sure a usable access token is at hand: the one in memory, else
    /// one from the stored refresh token, else a full login.
    pub async fn ensure_login(&self) -> Result<(), PelotonError> {
        self.auth.bearer().await.map(|_| ())
    }

    /// API requests sent so far, retries included (login requests excluded).
    pub fn request_count(&self) -> u64 {
        self.requests.load(Ordering::Relaxed)
    }

    /// `GET /api/me`: the signed-in member.
    pub async fn me(&self) -> Result<Me, PelotonError> {
        let body = self.get(EP_ME, self.url(&["api", "me"], &[])).await?;
        self.decode(EP_ME, &body)
    }

    /// One page (0-based) of a member's workouts, newest first, with the class
    /// and instructor joined.
    pub async fn workouts_page(
        &self,
        user_id: &str,
        page: u32,
    ) -> Result<Page<Workout>, PelotonError> {
        let limit = self.config.page_limit.clamp(1, MAX_PAGE_LIMIT);
        self.workouts_request(user_id, page, limit).await
    }

    async fn workouts_request(
        &self,
        user_id: &str,
        page: u32,
        limit: u32,
    ) -> Result<Page<Workout>, PelotonError> {
        let url = self.url(
            &["api", "user", user_id, "workouts"],
            &[
                ("joins", JOINS.to_string()),
                ("limit", limit.to_string()),
                ("page", page.to_string()),
                ("sort_by", "-created".to_string()),
            ],
        );
        let body = self.get(EP_WORKOUTS, url).await?;
        self.decode(EP_WORKOUTS, &body)
    }

    /// All of a member's workouts, newest first, fetched page by page as the
    /// stream is read: a caller that stops at a known workout fetches no more.
    pub fn workouts<'a>(
        &'a self,
        user_id: &'a str,
    ) -> impl Stream<Item = Result<Workout, PelotonError>> + Send + 'a {
        stream::try_unfold(Some(0u32), move |page| async move {
            let Some(page) = page else {
                return Ok::<_, PelotonError>(None);
            };
            let p = self.workouts_page(user_id, page).await?;
            let next = next_page(&p, page);
            Ok(Some((p.data, next)))
        })
        .map_ok(|data| stream::iter(data.into_iter().map(Ok)))
        .try_flatten()
    }

    /// All of a member's workouts, newest first, in one list.
    pub async fn all_workouts(&self, user_id: &str) -> Result<Vec<Workout>, PelotonError> {
        self.workouts(user_id).try_collect().await
    }

    /// `GET /api/workout/{id}` with the class and instructor joined: the
    /// typed workout and the raw answer.
    pub async fn workout(&self, id: &str) -> Result<(Workout, Value), PelotonError> {
        let url = self.url(&["api", "workout", id], &[("joins", JOINS.to_string())]);
        let body = self.get(EP_WORKOUT, url).await?;
        let raw = self.decode::<Value>(EP_WORKOUT, &body)?;
        let workout = self.decode_value(EP_WORKOUT, &raw, &body)?;
        Ok((workout, raw))
    }

    /// `GET /api/workout/{id}/performance_graph?every_n=..`: the aggregates,
    /// and the raw answer trimmed to `summaries`, `average_summaries` and
    /// `metrics` without their sample arrays (small enough to store).
    pub async fn performance_graph(
        &self,
        id: &str,
    ) -> Result<(PerformanceGraph, Value), PelotonError> {
        let (graph, trimmed, _) = self.performance_graph_with_body(id).await?;
        Ok((graph, trimmed))
    }

    /// [`PelotonClient::performance_graph`], and the answer's bytes as
    /// Peloton sent them (for the archive).
    pub async fn performance_graph_with_body(
        &self,
        id: &str,
    ) -> Result<(PerformanceGraph, Value, bytes::Bytes), PelotonError> {
        let url = self.url(
            &["api", "workout", id, "performance_graph"],
            &[("every_n", self.config.every_n.max(1).to_string())],
        );
        let body = self.get(EP_GRAPH, url).await?;
        let raw = self.decode::<Value>(EP_GRAPH, &body)?;
        let graph = self.decode_value(EP_GRAPH, &raw, &body)?;
        Ok((graph, trim_graph(&raw), body))
    }

    /// Everyone `user_id` follows (all pages).
    pub async fn following(&self, user_id: &str) -> Result<Vec<FollowedUser>, PelotonError> {
        self.all_pages(EP_FOLLOWING, &["api", "user", user_id, "following"])
            .await
    }

    /// Every instructor (all pages).
    pub async fn instructors(&self) -> Result<Vec<Instructor>, PelotonError> {
        self.all_pages(EP_INSTRUCTORS, &["api", "instructor"]).await
    }

    /// A followed member's latest `limit` workouts (first page only), with the
    /// class and instructor joined. 403 or 404 means the profile is private:
    /// [`PelotonError::Private`].
    pub async fn friend_workouts(
        &self,
        user_id: &str,
        limit: u32,
    ) -> Result<Vec<Workout>, PelotonError> {
        let page_limit = limit.clamp(1, MAX_PAGE_LIMIT);
        match self.workouts_request(user_id, 0, page_limit).await {
            Ok(page) => {
                let mut data = page.data;
                data.truncate(limit as usize);
                Ok(data)
            }
            Err(PelotonError::NotFound { .. })
            | Err(PelotonError::Rejected { status: 403, .. }) => Err(PelotonError::Private {
                user_id: user_id.to_string(),
            }),
            Err(e) => Err(e),
        }
    }

    async fn all_pages<T: DeserializeOwned>(
        &self,
        endpoint: &str,
        segments: &[&str],
    ) -> Result<Vec<T>, PelotonError> {
        let mut out = Vec::new();
        let mut page = 0u32;
        loop {
            let url = self.url(
                segments,
                &[
                    ("limit", MAX_PAGE_LIMIT.to_string()),
                    ("page", page.to_string()),
                ],
            );
            let body = self.get(endpoint, url).await?;
            let p: Page<T> = self.decode(endpoint, &body)?;
            let next = next_page(&p, page);
            out.extend(p.data);
            match next {
                Some(n) => page = n,
                None => return Ok(out),
            }
        }
    }

    fn url(&self, segments: &[&str], query: &[(&str, String)]) -> Url {
        let mut url = self.api_url.clone();
        if let Ok(mut path) = url.path_segments_mut() {
            // Checked in `new`: the base URL has a path.
            path.pop_if_empty().extend(segments);
        }
        if !query.is_empty() {
            url.query_pairs_mut().extend_pairs(query);
        }
        url
    }

    /// Sends one authenticated GET through the pacer and retry rules; on a 401
    /// renews the token once and repeats the request once.
    async fn send(&self, url: &Url) -> Result<reqwest::Response, PelotonError> {
        let host = self.api_url.host_str().unwrap_or("api");
        let mut renewed = false;
        loop {
            let token = self.auth.bearer().await?;
            let resp = send_with_retry(&self.pacer, &self.config.retry, host, || {
                self.requests.fetch_add(1, Ordering::Relaxed);
                self.http
                    .get(url.clone())
                    .bearer_auth(token.expose_secret())
                    .header("Peloton-Platform", "web")
                    .header(ACCEPT, "application/json")
            })
            .await?;
            if resp.status() != StatusCode::UNAUTHORIZED {
                return Ok(resp);
            }
            if renewed {
                return Err(PelotonError::TokenRefused);
            }
            tracing::info!(
                path = url.path(),
                "401 from Peloton; renewing the token once"
            );
            renewed = true;
            self.auth.invalidate(&token).await;
        }
    }

    /// The body of a 2xx answer; other statuses become errors.
    async fn get(&self, endpoint: &str, url: Url) -> Result<bytes::Bytes, PelotonError> {
        let resp = self.send(&url).await?;
        let status = resp.status();
        if status.is_success() {
            return resp.bytes().await.map_err(|e| PelotonError::Unreachable {
                host: self.api_url.host_str().unwrap_or("api").to_string(),
                message: e.without_url().to_string(),
            });
        }
        Err(match status {
            StatusCode::NOT_FOUND => PelotonError::NotFound {
                endpoint: endpoint.to_string(),
            },
            s if s.is_server_error() => PelotonError::Server(s.as_u16()),
            s => PelotonError::Rejected {
                endpoint: endpoint.to_string(),
                status: s.as_u16(),
            },
        })
    }

    fn decode<T: DeserializeOwned>(&self, endpoint: &str, body: &[u8]) -> Result<T, PelotonError> {
        let de = &mut serde_json::Deserializer::from_slice(body);
        serde_path_to_error::deserialize(de).map_err(|e| {
            if e.inner().is_eof() {
                // Cut off in transit, not a changed API: no dump, no report.
                tracing::warn!(endpoint, bytes = body.len(), "a Peloton answer ended early");
                return PelotonError::Incomplete {
                    endpoint: endpoint.to_string(),
                };
            }
            let path = e.path().to_string();
            self.decode_error(endpoint, body, path, &e.into_inner().to_string())
        })
    }

    fn decode_value<T: DeserializeOwned>(
        &self,
        endpoint: &str,
        value: &Value,
        body: &[u8],
    ) -> Result<T, PelotonError> {
        serde_path_to_error::deserialize(value).map_err(|e| {
            let path = e.path().to_string();
            self.decode_error(endpoint, body, path, &e.into_inner().to_string())
        })
    }

    fn decode_error(
        &self,
        endpoint: &str,
        body: &[u8],
        path: String,
        message: &str,
    ) -> PelotonError {
        let path = if path == "." { String::new() } else { path };
        let saved = self.dump(endpoint, body);
        tracing::warn!(endpoint, path, saved = ?saved, "could not decode a Peloton answer");
        PelotonError::Decode {
            endpoint: endpoint.to_string(),
            path,
            message: without_quoted(message),
        }
    }

    /// Saves a raw answer as `peloton-<endpoint-slug>-<n>.json` in the dump
    /// folder, with e-mail addresses and anything token-like removed.
    fn dump(&self, endpoint: &str, body: &[u8]) -> Option<PathBuf> {
        let dir = self.config.dump_dir.as_deref()?;
        let contents = match serde_json::from_slice::<Value>(body) {
            Ok(mut v) => {
                scrub(&mut v);
                serde_json::to_vec_pretty(&v).unwrap_or_default()
            }
            // Not JSON at all: nothing can be scrubbed by key, and HTML error
            // pages carry no account data, so it is kept as it came.
            Err(_) => body.to_vec(),
        };
        match write_dump(dir, &slug(endpoint), &self.dumps, &contents) {
            Ok(path) => Some(path),
            Err(e) => {
                tracing::warn!(dir = %dir.display(), error = %e, "could not save the raw answer");
                None
            }
        }
    }
}

fn next_page<T>(page: &Page<T>, current: u32) -> Option<u32> {
    // An empty page that claims more would loop forever: stop there.
    (page.has_next() && !page.data.is_empty() && current + 1 < MAX_PAGES).then_some(current + 1)
}

fn write_dump(
    dir: &Path,
    slug: &str,
    counter: &AtomicU32,
    contents: &[u8],
) -> std::io::Result<PathBuf> {
    std::fs::create_dir_all(dir)?;
    loop {
        let n = counter.fetch_add(1, Ordering::Relaxed) + 1;
        let path = dir.join(format!("peloton-{slug}-{n}.json"));
        match std::fs::OpenOptions::new()
            .write(true)
            .create_new(true)
            .open(&path)
        {
            Ok(mut f) => {
                std::io::Write::write_all(&mut f, contents)?;
                return Ok(path);
            }
            Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => continue,
            Err(e) => return Err(e),
        }
    }
}

/// `/api/workout/{id}` -> `api-workout-id`.
fn slug(endpoint: &str) -> String {
    let mut out = String::new();
    for c in endpoint.chars() {
        if c.is_ascii_alphanumeric() {
            out.push(c.to_ascii_lowercase());
        } else if !out.is_empty() && !out.ends_with('-') {
            out.push('-');
        }
    }
    out.trim_end_matches('-').to_string()
}

/// Keys whose values never belong in a saved answer.
fn is_private_key(key: &str) -> bool {
    let k = key.to_ascii_lowercase();
    k == "email" || k.ends_with("_email") || k.contains("token") || k.contains("password")
}

fn scrub(v: &mut Value) {
    match v {
        Value::Object(map) => {
            for (k, child) in map.iter_mut() {
                if is_private_key(k) {
                    *child = Value::String("[removed]".into());
                } else {
                    scrub(child);
                }
            }
        }
        Value::Array(items) => items.iter_mut().for_each(scrub),
        _ => {}
    }
}

/// serde quotes the offending value (`invalid type: string "x"`); a value can
/// be personal, so only its kind is kept.
fn without_quoted(message: &str) -> String {
    let mut out = String::with_capacity(message.len());
    let mut in_quote = false;
    for c in message.chars() {
        match (c, in_quote) {
            ('"', false) => {
                in_quote = true;
                out.push_str("\"…");
            }
            ('"', true) => {
                in_quote = false;
                out.push('"');
            }
            (_, true) => {}
            (c, false) => out.push(c),
        }
    }
    if in_quote {
        out.push('"');
    }
    out
}

fn strip_samples(v: &mut Value) {
    match v {
        Value::Object(map) => {
            map.remove("values");
            map.values_mut().for_each(strip_samples);
        }
        Value::Array(items) => items.iter_mut().for_each(strip_samples),
        _ => {}
    }
}

/// The part of a performance graph the rows are derived from (see
/// [`PelotonClient::performance_graph`]): the aggregates, zones, the Strive
/// score and the class's targets, without the samples.
pub fn stored_graph(raw: &Value) -> Value {
    trim_graph(raw)
}

fn trim_graph(raw: &Value) -> Value {
    let mut out = serde_json::Map::new();
    for key in [
        "summaries",
        "average_summaries",
        "metrics",
        "effort_zones",
        "target_metrics_performance_data",
    ] {
        if let Some(v) = raw.get(key) {
            out.insert(key.to_string(), v.clone());
        }
    }
    if let Some(metrics) = out.get_mut("metrics") {
        strip_samples(metrics);
    }
    Value::Object(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn slugs_name_the_endpoint() {
        assert_eq!(slug(EP_WORKOUT), "api-workout-id");
        assert_eq!(slug(EP_GRAPH), "api-workout-id-performance-graph");
        assert_eq!(slug(EP_ME), "api-me");
    }

    #[test]
    fn graph_is_trimmed_to_aggregates() {
        let raw = json!({
            "duration": 1800,
            "seconds_since_pedaling_start": [0, 60, 120],
            "summaries": [{"slug": "total_output", "value": 176}],
            "average_summaries": [{"slug": "avg_output", "value": 98}],
            "metrics": [
                {"slug": "output", "values": [1, 2, 3], "average_value": 98},
                {"slug": "pace", "values": [4], "alternatives": [{"values": [5], "slug": "x"}]}
            ],
            "location_data": [{"coordinates": []}]
        });
        let trimmed = trim_graph(&raw);
        assert_eq!(
            trimmed,
            json!({
                "summaries": [{"slug": "total_output", "value": 176}],
                "average_summaries": [{"slug": "avg_output", "value": 98}],
                "metrics": [
                    {"slug": "output", "average_value": 98},
                    {"slug": "pace", "alternatives": [{"slug": "x"}]}
                ]
            })
        );
    }

    #[test]
    fn dumps_lose_emails_and_tokens() {
        let mut v = json!({"id": "a", "email": "me@example.com",
            "user": {"Email": "x@y.z", "contact_email": "q@r.s", "name": "kept"},
            "list": [{"access_token": "t"}]});
        scrub(&mut v);
        let s = v.to_string();
        assert!(!s.contains('@') && !s.contains("\"t\""), "{s}");
        assert!(s.contains("kept"));
    }

    #[test]
    fn quoted_values_leave_decode_messages() {
        assert_eq!(
            without_quoted(r#"invalid type: string "me@example.com", expected f64"#),
            r#"invalid type: string "…", expected f64"#
        );
        assert_eq!(without_quoted("missing field `id`"), "missing field `id`");
    }

    #[test]
    fn paging_stops_on_last_or_empty_pages() {
        let page = |data: Vec<u8>, show_next: Option<bool>, page_count: Option<u32>| Page {
            data,
            page: Some(0),
            page_count,
            show_next,
            total: None,
        };
        assert_eq!(next_page(&page(vec![1], Some(true), None), 0), Some(1));
        assert_eq!(next_page(&page(vec![1], Some(false), Some(5)), 0), None);
        assert_eq!(next_page(&page(vec![1], None, Some(2)), 0), Some(1));
        assert_eq!(next_page(&page(vec![], Some(true), None), 0), None);
    }

    #[test]
    fn dump_files_are_numbered_without_overwriting() {
        let dir = tempfile::tempdir().unwrap();
        let counter = AtomicU32::new(0);
        std::fs::write(dir.path().join("peloton-api-me-1.json"), b"old").unwrap();
        let p = write_dump(dir.path(), "api-me", &counter, b"{}").unwrap();
        assert_eq!(p.file_name().unwrap(), "peloton-api-me-2.json");
        assert_eq!(
            std::fs::read(dir.path().join("peloton-api-me-1.json")).unwrap(),
            b"old"
        );
    }
}
