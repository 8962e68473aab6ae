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

use futures::stream::{self, Stream, StreamExt};
use reqwest::header::ACCEPT;
use reqwest::{Client, StatusCode};
use secrecy::{ExposeSecret, SecretString};
use serde::de::DeserializeOwned;
use serde_json::Value;
use url::Url;

use super::auth::{AuthSettings, Authenticator, LoginStopFile};
use super::error::PelotonError;
use super::types::{FollowedUser, Instructor, Me, PerformanceGraph, Workout};
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
    /// Where Peloton's refusal or block of the password is recorded, so
    /// the same password is never sent again, across runs and restarts,
    /// until the person acts (see [`LoginStopFile`]); `None` remembers it
    /// for this client only.
    pub login_stop_file: Option<PathBuf>,
    /// The file locked while tokens are renewed, so that two processes
    /// (the app and the CLI, a sync and "Test connection") never spend the
    /// same refresh token; `None` locks nothing.
    pub token_lock_file: Option<PathBuf>,
    /// The browser way is in use (issue 18): no password is kept, so a
    /// missing login means the person must sign in again
    /// ([`PelotonError::SignedOut`]), not that a password is to be set.
    pub browser_sign_in: bool,
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
            login_stop_file: None,
            token_lock_file: None,
            browser_sign_in: false,
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
    /// The e-mail the client signs in with, lowercased: what a cached
    /// `/api/me` belongs to.
    account: String,
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

fn base_url(s: &str, what: &'static str) -> Result<Url, PelotonError> {
    crate::net::base_url(s).map_err(|message| PelotonError::InvalidUrl {
        what,
        url: s.to_string(),
        message,
    })
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
        let account = email.trim().to_lowercase();
        let auth = Authenticator::new(
            AuthSettings {
                auth_url,
                timeout: config.timeout,
                retry: config.retry.clone(),
                pacer: pacer.clone(),
                stop_file: config.login_stop_file.clone().map(LoginStopFile::new),
                token_lock_file: config.token_lock_file.clone(),
                browser_sign_in: config.browser_sign_in,
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
            account,
        })
    }

    /// The account the client signs in as (its e-mail, lowercased): a
    /// cached answer about the member is only valid for this account.
    pub fn account(&self) -> &str {
        &self.account
    }

    /// The same client with its cached answers keyed to `account` instead
    /// of the e-mail: a browser sign-in has no e-mail, and the member it
    /// recorded is who the refresh token signs in as.
    pub fn for_account(mut self, account: &str) -> Self {
        self.account = account.trim().to_lowercase();
        self
    }

    /// The retry budget this client draws from (shared with Coda's when
    /// built by [`crate::setup`]).
    pub fn retry_budget(&self) -> &crate::net::RetryBudget {
        &self.config.retry.budget
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

    /// A member's workouts, newest first, with the class and instructor
    /// joined, one page at a time as the stream is read: a caller that stops
    /// at a known workout fetches no more pages.
    pub fn workout_pages<'a>(
        &'a self,
        user_id: &'a str,
    ) -> impl Stream<Item = Result<Listed<Workout>, PelotonError>> + Send + 'a {
        let limit = self.config.page_limit.clamp(1, MAX_PAGE_LIMIT);
        self.pages(
            EP_WORKOUTS,
            workouts_segments(user_id),
            workouts_query(limit),
        )
    }

    /// All of a member's workouts, newest first, in one list; entries that
    /// could not be read are in `skipped`.
    pub async fn all_workouts(&self, user_id: &str) -> Result<Listed<Workout>, PelotonError> {
        collect(self.workout_pages(user_id)).await
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

    /// Everyone `user_id` follows (all pages). An answer without a `data`
    /// list is an error, never "follows nobody".
    pub async fn following(&self, user_id: &str) -> Result<Listed<FollowedUser>, PelotonError> {
        let segments = vec![
            "api".into(),
            "user".into(),
            user_id.into(),
            "following".into(),
        ];
        collect(self.pages(EP_FOLLOWING, segments, list_query())).await
    }

    /// Every instructor (all pages); entries without an id are left out.
    pub async fn instructors(&self) -> Result<Listed<Instructor>, PelotonError> {
        let segments = vec!["api".into(), "instructor".into()];
        collect(self.pages(EP_INSTRUCTORS, segments, list_query())).await
    }

    /// A followed member's latest `limit` workouts (first page only), with the
    /// class and instructor joined. 403 or 404 means the profile is private:
    /// [`PelotonError::Private`].
    pub async fn friend_workouts(
        &self,
        user_id: &str,
        limit: u32,
    ) -> Result<Listed<Workout>, PelotonError> {
        let page_limit = limit.clamp(1, MAX_PAGE_LIMIT);
        let pages = self.pages::<Workout>(
            EP_WORKOUTS,
            workouts_segments(user_id),
            workouts_query(page_limit),
        );
        futures::pin_mut!(pages);
        let first = pages.next().await;
        match first {
            Some(Ok(mut page)) => {
                page.items.truncate(limit as usize);
                Ok(page)
            }
            None => Ok(Listed::default()),
            Some(Err(PelotonError::NotFound { .. }))
            | Some(Err(PelotonError::Rejected { status: 403, .. })) => Err(PelotonError::Private {
                user_id: user_id.to_string(),
            }),
            Some(Err(e)) => Err(e),
        }
    }

    /// The one paging primitive: the pages of a Peloton list, each decoded
    /// entry by entry ([`Listed`]), fetched as the stream is read. It ends
    /// after the last page, an empty page, or [`MAX_PAGES`].
    fn pages<'a, T: DeserializeOwned + Send + 'a>(
        &'a self,
        endpoint: &'static str,
        segments: Vec<String>,
        query: Vec<(&'static str, String)>,
    ) -> impl Stream<Item = Result<Listed<T>, PelotonError>> + Send + 'a {
        stream::try_unfold(Some(0u32), move |page| {
            let segments = segments.clone();
            let mut query = query.clone();
            async move {
                let Some(page) = page else {
                    return Ok::<_, PelotonError>(None);
                };
                query.push(("page", page.to_string()));
                let segments: Vec<&str> = segments.iter().map(String::as_str).collect();
                let url = self.url(&segments, &query);
                let body = self.get(endpoint, url).await?;
                let (listed, has_next) = self.decode_page::<T>(endpoint, &body)?;
                let next = (has_next && !listed.is_empty_page() && page + 1 < MAX_PAGES)
                    .then_some(page + 1);
                Ok(Some((listed, next)))
            }
        })
    }

    /// Decodes a page entry by entry. An answer without a `data` list is an
    /// error; an entry without an id, or one that does not decode, is left
    /// out and named in [`Listed::skipped`] (the raw answer is saved once).
    fn decode_page<T: DeserializeOwned>(
        &self,
        endpoint: &str,
        body: &[u8],
    ) -> Result<(Listed<T>, bool), PelotonError> {
        let raw: Value = self.decode(endpoint, body)?;
        let Some(entries) = raw.get("data").and_then(Value::as_array) else {
            return Err(self.decode_error(endpoint, body, "data".into(), "expected a list"));
        };
        let mut listed = Listed {
            items: Vec::with_capacity(entries.len()),
            skipped: Vec::new(),
            entries: entries.len(),
        };
        for (i, entry) in entries.iter().enumerate() {
            let id = entry
                .get("id")
                .and_then(Value::as_str)
                .filter(|s| !s.is_empty());
            let Some(id) = id else {
                listed.skipped.push(Skipped {
                    endpoint: endpoint.to_string(),
                    id: None,
                    path: format!("data[{i}].id"),
                    message: "no id".into(),
                });
                continue;
            };
            match serde_path_to_error::deserialize::<_, T>(entry) {
                Ok(item) => listed.items.push(item),
                Err(e) => listed.skipped.push(Skipped {
                    endpoint: endpoint.to_string(),
                    id: Some(id.to_string()),
                    path: format!("data[{i}].{}", e.path()),
                    message: without_quoted(&e.into_inner().to_string()),
                }),
            }
        }
        if !listed.skipped.is_empty() {
            let saved = self.dump(endpoint, body);
            tracing::warn!(endpoint, skipped = ?listed.skipped, saved = ?saved, "left out list entries that could not be read");
        }
        let has_next = match (
            raw.get("show_next").and_then(Value::as_bool),
            raw.get("page").and_then(Value::as_u64),
            raw.get("page_count").and_then(Value::as_u64),
        ) {
            (Some(next), _, _) => next,
            (None, Some(p), Some(c)) => p + 1 < c,
            _ => false,
        };
        Ok((listed, has_next))
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

fn workouts_segments(user_id: &str) -> Vec<String> {
    vec![
        "api".into(),
        "user".into(),
        user_id.into(),
        "workouts".into(),
    ]
}

fn workouts_query(limit: u32) -> Vec<(&'static str, String)> {
    vec![
        ("joins", JOINS.to_string()),
        ("limit", limit.to_string()),
        ("sort_by", "-created".to_string()),
    ]
}

fn list_query() -> Vec<(&'static str, String)> {
    vec![("limit", MAX_PAGE_LIMIT.to_string())]
}

/// Every page of a list in one [`Listed`].
async fn collect<T>(
    pages: impl Stream<Item = Result<Listed<T>, PelotonError>>,
) -> Result<Listed<T>, PelotonError> {
    futures::pin_mut!(pages);
    let mut all = Listed::default();
    while let Some(page) = pages.next().await {
        let page = page?;
        all.items.extend(page.items);
        all.skipped.extend(page.skipped);
        all.entries += page.entries;
    }
    Ok(all)
}

/// What one list (or one page of it) held: the entries that decoded, and
/// the ones left out.
#[derive(Debug, Clone, PartialEq)]
pub struct Listed<T> {
    /// The entries that decoded, in Peloton's order.
    pub items: Vec<T>,
    /// The entries left out, each named.
    pub skipped: Vec<Skipped>,
    /// How many entries the answer held, left-out ones included.
    pub entries: usize,
}

impl<T> Default for Listed<T> {
    fn default() -> Self {
        Self {
            items: Vec::new(),
            skipped: Vec::new(),
            entries: 0,
        }
    }
}

impl<T> Listed<T> {
    /// An empty page that claims more would loop forever: paging stops there.
    fn is_empty_page(&self) -> bool {
        self.entries == 0
    }
}

/// A list entry left out: it had no id, or a field of another type.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Skipped {
    /// The list, as a template (`/api/user/{id}/workouts`).
    pub endpoint: String,
    /// The entry's id, when it had one.
    pub id: Option<String>,
    /// Where in the answer (`data[3].start_time`).
    pub path: String,
    /// What was wrong (quoted values removed).
    pub message: String,
}

impl Skipped {
    /// The note a user reads: which entry was left out, and why.
    pub fn user_message(&self) -> String {
        match &self.id {
            Some(id) => format!(
                "Peloton sent {id} in {} in a form this app cannot read (field {}), so it was left out; the raw answer is saved in the log folder, please report it.",
                self.endpoint, self.path
            ),
            None => format!(
                "Peloton sent an entry of {} without an id ({}), so it was left out.",
                self.endpoint, self.path
            ),
        }
    }
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
    fn a_url_that_is_no_full_address_is_named_not_taken_for_a_bug() {
        for bad in ["localhost:8080", "foo", "ftp://peloton.example/"] {
            let err = base_url(bad, "API").unwrap_err();
            let said = err.user_message();
            assert!(said.contains(bad) && said.contains("not valid"), "{said}");
            assert!(!said.contains("report"), "{said}");
        }
        assert!(base_url("http://127.0.0.1:9", "API").is_ok());
    }

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

    fn offline_client() -> PelotonClient {
        PelotonClient::new(
            PelotonConfig::default(),
            Arc::new(crate::clock::SystemClock),
            Arc::new(crate::secrets::MemoryStore::new()),
            "rider@example.com".into(),
            None,
        )
        .unwrap()
    }

    #[test]
    fn an_answer_without_a_data_list_is_an_error_never_an_empty_list() {
        let c = offline_client();
        for body in [r#"{}"#, r#"{"data": null}"#, r#"{"data": {}}"#] {
            let err = c
                .decode_page::<FollowedUser>(EP_FOLLOWING, body.as_bytes())
                .unwrap_err();
            assert!(
                matches!(&err, PelotonError::Decode { path, .. } if path == "data"),
                "{body}: {err:?}"
            );
        }
        let (empty, more) = c
            .decode_page::<FollowedUser>(EP_FOLLOWING, br#"{"data": [], "show_next": false}"#)
            .unwrap();
        assert!(empty.items.is_empty() && !more);
    }

    #[test]
    fn each_entry_is_decoded_alone() {
        let c = offline_client();
        let body = json!({"data": [
            {"id": "a", "username": "ann"},
            {"id": "b", "username": 7},
            {"username": "no id"},
            {"id": null},
            {"id": "c"}
        ], "page": 0, "page_count": 2});
        let (page, more) = c
            .decode_page::<FollowedUser>(EP_FOLLOWING, body.to_string().as_bytes())
            .unwrap();
        let ids: Vec<&str> = page.items.iter().map(|f| f.id.as_str()).collect();
        assert_eq!(ids, ["a", "c"]);
        assert!(more);
        assert_eq!(page.entries, 5);
        assert_eq!(page.skipped.len(), 3);
        assert_eq!(page.skipped[0].id.as_deref(), Some("b"));
        assert_eq!(page.skipped[0].path, "data[1].username");
        assert!(page.skipped[0].user_message().contains('b'));
        assert!(page.skipped[1].id.is_none());
        assert!(page.skipped[1].user_message().contains("without an id"));
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
