//! Getting and keeping Peloton's OAuth tokens (spec `peloton-api.md` §3, §4).
//!
//! Order of preference, so that a quiet run never logs in again: the access
//! token in memory while it is fresh; else the refresh token (memory, then the
//! [`SecretStore`]); else a full login. The full login is Auth0's Universal
//! Login with PKCE (method A, what the web app does); when that flow does not
//! go as expected for a reason other than a refused password, the password
//! grant of the mobile client id (method B) is tried once.
//!
//! The password is sent rarely (cli.md, "Secrets"): at most
//! [`MAX_PASSWORD_SUBMISSIONS`] times a run over both methods, and never
//! again after a 4xx refusal or Auth0's brute-force block (`429`
//! `too_many_attempts` or `blocked_user`): the stop is recorded in a
//! [`LoginStopFile`], so no later run, restart or scheduled sync sends the
//! same e-mail and password again. Only the person lifts it: by giving
//! another password (or e-mail), or by asking for a login themselves
//! ("Test connection", saving a typed password, `peloton-coda-sync login`),
//! which clears the record. A login that sent the password and that
//! Peloton then did not let finish (the flow changed, 429s or 5xx to the
//! end; not a network failure) holds it back for [`PASSWORD_PAUSE`]. A plain
//! rate limit or a 5xx may be tried again within the submissions, after
//! `Retry-After`.
//!
//! Invariant: the access token lives only in memory; the refresh token is
//! written only through the store. No token, code, `_csrf` value, cookie or
//! password reaches a log line or an error.

use std::path::PathBuf;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine as _;
use chrono::{DateTime, Utc};
use rand::RngCore;
use reqwest::cookie::{CookieStore as _, Jar};
use reqwest::header::{ACCEPT, CONTENT_TYPE, LOCATION, ORIGIN, REFERER, RETRY_AFTER};
use reqwest::{redirect, Client, RequestBuilder, Response, StatusCode};
use secrecy::{ExposeSecret, SecretString};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use url::Url;

use super::error::PelotonError;
use crate::clock::SharedClock;
use crate::lock::SyncLock;
use crate::net::{send_with_retry, Pacer, RetryPolicy};
use crate::secrets::{SecretKey, SecretStore};

/// The members.onepeloton.com web app's public Auth0 client (method A).
pub(crate) const WEB_CLIENT_ID: &str = "WVoJxVDdPoFx4RNewvvg6ch2mZ7bwnsM";
/// The mobile app's client, the one that may use the password grant (method B).
pub(crate) const MOBILE_CLIENT_ID: &str = "mgsmWCD0A8Qn6uz6mmqI6qeBNHH9IPwS";
const AUDIENCE: &str = "https://api.onepeloton.com/";
const WEB_SCOPE: &str = "offline_access openid peloton-api.members:default";
const MOBILE_SCOPE: &str = "offline_access openid";
/// Where Auth0 sends the code; never fetched, only recognised.
pub(crate) const REDIRECT_URI: &str = "https://members.onepeloton.com/callback";
/// base64 of `{"name":"auth0.js-ulp","version":"9.14.3"}`.
const AUTH0_CLIENT: &str = "eyJuYW1lIjoiYXV0aDAuanMtdWxwIiwidmVyc2lvbiI6IjkuMTQuMyJ9";
const CONNECTION: &str = "pelo-user-password";
const TENANT: &str = "peloton-prod";
/// The login pages sit behind bot protection; P2G's literal browser string.
const BROWSER_USER_AGENT: &str =
    "Mozilla/5.0 (Windows NT 10.0; Win64; x64; rv:145.0) Gecko/20100101 Firefox/145.0";
const HTML_ACCEPT: &str = "text/html,application/xhtml+xml,application/xml;q=0.9,*/*;q=0.8";
/// The `_csrf` cookie goes missing now and then (P2G #820); a later try worked.
const CSRF_ATTEMPTS: u32 = 3;
/// Redirects walked by hand before the flow is declared changed.
const MAX_HOPS: usize = 12;
/// Refresh this long before expiry (a 2025 client's choice), or at half the
/// lifetime for tokens shorter than twice that.
const EARLY_REFRESH_SECS: i64 = 300;
/// Observed lifetime (48 h), used when a token answer omits `expires_in`.
const DEFAULT_LIFETIME_SECS: i64 = 172_800;
/// How long a renewal waits for another process's renewal to finish.
const TOKEN_LOCK_WAIT: Duration = Duration::from_secs(120);
/// Password submissions allowed in one run, both methods and retries together.
pub const MAX_PASSWORD_SUBMISSIONS: u32 = 3;
/// Auth0's codes for its brute-force protection (`too_many_attempts`) and a
/// blocked account (`blocked_user`; `user_blocked` in some of its answers).
const BLOCK_CODES: &[&str] = &["too_many_attempts", "blocked_user", "user_blocked"];

/// Which Auth0 client a refresh token belongs to; a refresh must name it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Source {
    Web,
    Mobile,
    /// A refresh token read from the store: its client is not recorded, so
    /// the web client is tried first, then the mobile one.
    Unknown,
}

/// PKCE values, fresh for each login (§3.2). No `Debug`: the verifier is a secret.
pub(crate) struct Pkce {
    pub(crate) verifier: String,
    pub(crate) challenge: String,
    pub(crate) state: String,
    pub(crate) nonce: String,
}

fn random_b64(bytes: usize, keep: usize) -> String {
    let mut buf = vec![0u8; bytes];
    rand::thread_rng().fill_bytes(&mut buf);
    let mut s = URL_SAFE_NO_PAD.encode(buf);
    s.truncate(keep);
    s
}

fn challenge_for(verifier: &str) -> String {
    URL_SAFE_NO_PAD.encode(Sha256::digest(verifier.as_bytes()))
}

impl Pkce {
    pub(crate) fn new() -> Self {
        let verifier = random_b64(64, 64);
        Self {
            challenge: challenge_for(&verifier),
            verifier,
            state: random_b64(32, 32),
            nonce: random_b64(32, 32),
        }
    }
}

/// The hidden form `/usernamepassword/login` answers with.
#[derive(PartialEq, Eq)]
pub(crate) struct HiddenForm {
    /// Where the form posts (possibly relative).
    pub(crate) action: String,
    /// Hidden inputs, in document order, entities decoded.
    pub(crate) fields: Vec<(String, String)>,
}

// Values are signed assertions: never print them.
impl std::fmt::Debug for HiddenForm {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let names: Vec<&str> = self.fields.iter().map(|(n, _)| n.as_str()).collect();
        f.debug_struct("HiddenForm")
            .field("action", &self.action)
            .field("fields", &names)
            .finish()
    }
}

/// The first `<form>` of a page: its `action` and its hidden inputs (§3.4),
/// read with a real HTML parser (html5ever, through `scraper`), so quoting,
/// entities and case are handled as a browser would. `None` when there is
/// no form or it has no action.
pub(crate) fn parse_hidden_form(html: &str) -> Option<HiddenForm> {
    let doc = scraper::Html::parse_document(html);
    let form_selector = scraper::Selector::parse("form").ok()?;
    let input_selector = scraper::Selector::parse("input").ok()?;
    let form = doc.select(&form_selector).next()?;
    let action = form
        .value()
        .attr("action")
        .filter(|a| !a.trim().is_empty())?
        .to_string();
    let fields = form
        .select(&input_selector)
        .map(|input| input.value())
        .filter(|input| {
            input
                .attr("type")
                .is_some_and(|t| t.eq_ignore_ascii_case("hidden"))
        })
        .filter_map(|input| {
            let name = input.attr("name")?;
            Some((
                name.to_string(),
                input.attr("value").unwrap_or("").to_string(),
            ))
        })
        .collect();
    Some(HiddenForm { action, fields })
}

/// The value of cookie `name` in a `Cookie:` header value.
fn cookie_value(header: &str, name: &str) -> Option<String> {
    header.split(';').find_map(|pair| {
        let (k, v) = pair.trim().split_once('=')?;
        (k == name && !v.is_empty()).then(|| v.to_string())
    })
}

/// The `Location` of a redirect, made absolute against the URL that answered.
fn redirect_target(resp: &Response, base: &Url) -> Option<Url> {
    if !resp.status().is_redirection() {
        return None;
    }
    let loc = resp.headers().get(LOCATION)?.to_str().ok()?;
    base.join(loc).ok()
}

fn query_param(url: &Url, name: &str) -> Option<String> {
    url.query_pairs()
        .find(|(k, _)| k == name)
        .map(|(_, v)| v.into_owned())
}

/// The error a closed password gate answers with.
fn closed_error(closed: Closed) -> PelotonError {
    match closed {
        Closed::Refused => PelotonError::LoginRefused,
        Closed::Blocked => PelotonError::LoginBlocked,
    }
}

/// The web client's `/authorize` URL for `pkce` (§3.3, parameters in that
/// order); the browser sign-in opens the same URL in a window.
pub(crate) fn authorize_url(endpoint: &Url, pkce: &Pkce) -> Url {
    let mut url = endpoint.clone();
    url.query_pairs_mut()
        .append_pair("client_id", WEB_CLIENT_ID)
        .append_pair("audience", AUDIENCE)
        .append_pair("scope", WEB_SCOPE)
        .append_pair("response_type", "code")
        .append_pair("response_mode", "query")
        .append_pair("redirect_uri", REDIRECT_URI)
        .append_pair("state", &pkce.state)
        .append_pair("nonce", &pkce.nonce)
        .append_pair("code_challenge", &pkce.challenge)
        .append_pair("code_challenge_method", "S256")
        .append_pair("auth0Client", AUTH0_CLIENT);
    url
}

/// The fields of Auth0's token answer the client reads. No `Debug`: it holds tokens.
#[derive(Deserialize)]
struct TokenAnswer {
    #[serde(default)]
    access_token: Option<String>,
    #[serde(default)]
    refresh_token: Option<String>,
    #[serde(default)]
    expires_in: Option<f64>,
}

/// Auth0's error body; only its code is ever shown. `/oauth/token` names it
/// `error`, `/usernamepassword/login` names it `code`.
#[derive(Deserialize, Default)]
struct Auth0Error {
    #[serde(default)]
    error: Option<String>,
    #[serde(default)]
    code: Option<String>,
}

/// What [`error_code_of`] answers for a body without Auth0's error code.
const NO_ERROR_CODE: &str = "no error code";

/// The error code of an Auth0 answer body, or [`NO_ERROR_CODE`].
fn error_code_of(body: &[u8]) -> String {
    let parsed = serde_json::from_slice::<Auth0Error>(body).unwrap_or_default();
    parsed
        .error
        .or(parsed.code)
        .filter(|e| e.len() <= 64 && e.bytes().all(|c| c.is_ascii_alphanumeric() || c == b'_'))
        .unwrap_or_else(|| NO_ERROR_CODE.to_string())
}

async fn auth0_error_code(resp: Response) -> String {
    error_code_of(&resp.bytes().await.unwrap_or_default())
}

/// How a password submission was answered, once the gate's rules ran.
enum PasswordAnswer {
    /// A 2xx or 3xx, for the flow to read.
    Accepted(Response),
    /// A 4xx that is not a block: the password is not sent again this run.
    Refused { status: StatusCode, code: String },
}

/// What stops any further password submission in this run.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Closed {
    Refused,
    Blocked,
}

/// The run's password submissions: how many, and whether they are closed.
#[derive(Default)]
struct PasswordGate {
    sent: u32,
    closed: Option<Closed>,
}

/// Why password logins stopped, as a [`LoginStopFile`] keeps it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
enum StopReason {
    Refused,
    Blocked,
    /// The password was sent and the login still did not finish (the flow
    /// changed, Auth0 failed): not sent again for [`PASSWORD_PAUSE`].
    Unfinished,
}

/// How long a password whose login did not finish is not sent again: a
/// broken sign-in is not mended by retrying it every few minutes, and each
/// retry would send the password up to [`MAX_PASSWORD_SUBMISSIONS`] times.
pub const PASSWORD_PAUSE: chrono::Duration = chrono::Duration::hours(1);

/// The error a run meets while a stop holds.
fn stopped_error(reason: StopReason) -> PelotonError {
    match reason {
        StopReason::Refused => PelotonError::LoginRefused,
        StopReason::Blocked => PelotonError::LoginBlocked,
        StopReason::Unfinished => PelotonError::LoginPaused,
    }
}

/// The record: why, when, and which e-mail and password it stops. The pair
/// is kept as a 16-bit mark of a salted hash, never as itself: enough to tell
/// a new password from the refused one (a new one matches by chance once in
/// 65,536, and then "Test connection" lifts the stop), too little to learn
/// anything of the password from the file.
#[derive(Serialize, Deserialize)]
struct StopRecord {
    reason: StopReason,
    at: DateTime<Utc>,
    salt: String,
    mark: String,
}

/// The 16-bit mark of `email` and `password` under `salt`.
fn stop_mark(salt: &str, email: &str, password: &SecretString) -> String {
    let mut h = Sha256::new();
    h.update(salt.as_bytes());
    h.update([0]);
    h.update(email.trim().to_lowercase().as_bytes());
    h.update([0]);
    h.update(password.expose_secret().as_bytes());
    let digest = h.finalize();
    format!("{:02x}{:02x}", digest[0], digest[1])
}

/// Where a refusal, block or unfinished login of the password is kept
/// across runs and restarts, so that the same e-mail and password are not
/// sent again after Peloton said no (this module's header).
#[derive(Debug, Clone)]
pub struct LoginStopFile {
    path: PathBuf,
}

impl LoginStopFile {
    /// The record at `path` (created at the first refusal or block).
    pub fn new(path: PathBuf) -> Self {
        Self { path }
    }

    /// Whether a stop holds at `now` for `email` and `password`, and which.
    /// An unreadable record counts as none: at most one more password is
    /// sent, and the record is written again.
    fn stopped(
        &self,
        email: &str,
        password: &SecretString,
        now: DateTime<Utc>,
    ) -> Option<StopReason> {
        let text = std::fs::read_to_string(&self.path).ok()?;
        let record: StopRecord = serde_json::from_str(&text).ok()?;
        if stop_mark(&record.salt, email, password) != record.mark {
            return None;
        }
        // A pause from the future is a clock set back: it is not trusted
        // (at most one more login), rather than holding for a day.
        let paused = record.at <= now && now < record.at + PASSWORD_PAUSE;
        (record.reason != StopReason::Unfinished || paused).then_some(record.reason)
    }

    /// Records at `at` why `email` and `password` are held back (refused,
    /// blocked, or a login that did not finish).
    fn record(
        &self,
        reason: StopReason,
        at: DateTime<Utc>,
        email: &str,
        password: &SecretString,
    ) -> std::io::Result<()> {
        if let Some(dir) = self.path.parent() {
            std::fs::create_dir_all(dir)?;
        }
        let salt = random_b64(12, 16);
        let record = StopRecord {
            reason,
            at,
            mark: stop_mark(&salt, email, password),
            salt,
        };
        let json = serde_json::to_vec(&record).map_err(std::io::Error::other)?;
        crate::fs::write_replacing(&self.path, &json, crate::fs::Access::Default)
    }

    /// Lifts any stop: the person asked for a login, or one succeeded.
    pub fn clear(&self) -> std::io::Result<()> {
        match std::fs::remove_file(&self.path) {
            Err(e) if e.kind() != std::io::ErrorKind::NotFound => Err(e),
            _ => Ok(()),
        }
    }
}

/// The `Retry-After` of an answer, in seconds form.
fn retry_after(resp: &Response) -> Option<Duration> {
    let v = resp.headers().get(RETRY_AFTER)?.to_str().ok()?;
    v.trim().parse::<u64>().ok().map(Duration::from_secs)
}

/// A token answer, ready to use.
struct Tokens {
    access: SecretString,
    expires_at: DateTime<Utc>,
    refresh: Option<SecretString>,
    source: Source,
}

#[derive(Default)]
struct TokenState {
    access: Option<(SecretString, DateTime<Utc>)>,
    /// The refresh token last read from or written to the store. The store
    /// is read again before each renewal: another process (the CLI, "Test
    /// connection") may have rotated it meanwhile.
    refresh: Option<(SecretString, Source)>,
}

/// Where to reach Auth0 and how to pace and time requests to it.
pub(crate) struct AuthSettings {
    pub(crate) auth_url: Url,
    pub(crate) timeout: Duration,
    pub(crate) retry: RetryPolicy,
    pub(crate) pacer: Arc<Pacer>,
    /// Where a refusal or block is recorded; `None` keeps it for this
    /// client only.
    pub(crate) stop_file: Option<LoginStopFile>,
    /// The file locked while tokens are renewed, shared by every process.
    pub(crate) token_lock_file: Option<PathBuf>,
    /// The browser way is in use: with no login left, only the person can
    /// sign in again.
    pub(crate) browser_sign_in: bool,
}

/// Owns the tokens: hands out a fresh access token, renews it when needed.
pub(crate) struct Authenticator {
    settings: AuthSettings,
    clock: SharedClock,
    secrets: Arc<dyn SecretStore>,
    email: String,
    password: Option<SecretString>,
    /// For `/oauth/token`: no cookies, no redirects.
    http: Client,
    state: tokio::sync::Mutex<TokenState>,
    gate: Mutex<PasswordGate>,
}

impl std::fmt::Debug for Authenticator {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Authenticator")
            .field("auth_url", &self.settings.auth_url.as_str())
            .finish_non_exhaustive()
    }
}

impl Authenticator {
    pub(crate) fn new(
        settings: AuthSettings,
        clock: SharedClock,
        secrets: Arc<dyn SecretStore>,
        email: String,
        password: Option<SecretString>,
    ) -> Result<Self, PelotonError> {
        let http = Client::builder()
            .user_agent(crate::USER_AGENT)
            .timeout(settings.timeout)
            .redirect(redirect::Policy::none())
            .build()
            .map_err(|e| PelotonError::Request(e.without_url().to_string()))?;
        Ok(Self {
            settings,
            clock,
            secrets,
            email,
            password,
            http,
            state: tokio::sync::Mutex::new(TokenState::default()),
            gate: Mutex::new(PasswordGate::default()),
        })
    }

    /// A usable access token, renewing (refresh, else login) when it is
    /// missing or about to expire. One renewal at a time: concurrent callers
    /// wait for it and share its result.
    pub(crate) async fn bearer(&self) -> Result<SecretString, PelotonError> {
        let mut state = self.state.lock().await;
        if let Some((token, expires_at)) = &state.access {
            if self.clock.now() < *expires_at {
                return Ok(token.clone());
            }
        }
        self.renew(&mut state).await?;
        match &state.access {
            Some((token, _)) => Ok(token.clone()),
            None => Err(PelotonError::LoginFlowChanged(
                "no access token after renewal".into(),
            )),
        }
    }

    /// Forgets `used` after the API refused it, so the next [`Self::bearer`]
    /// renews. A token already replaced by another caller is left alone.
    pub(crate) async fn invalidate(&self, used: &SecretString) {
        let mut state = self.state.lock().await;
        if let Some((token, _)) = &state.access {
            if token.expose_secret() == used.expose_secret() {
                state.access = None;
            }
        }
    }

    /// Renews under the token lock, so that no two processes spend the same
    /// refresh token: Auth0 rotates it, and the loser would fall back to a
    /// password login.
    async fn renew(&self, state: &mut TokenState) -> Result<(), PelotonError> {
        let _token_lock = self.lock_tokens().await;
        let stored = self.secrets.get(SecretKey::PelotonRefreshToken)?;
        state.refresh = match (stored, state.refresh.take()) {
            (Some(s), Some((known, source))) if s.expose_secret() == known.expose_secret() => {
                Some((known, source))
            }
            (Some(s), _) => Some((s, Source::Unknown)),
            // Deleted since (a new password was saved): log in afresh.
            (None, _) => None,
        };
        let mut refused = false;
        if let Some((refresh, source)) = state.refresh.clone() {
            match self.refresh(&refresh, source).await? {
                Some(tokens) => return self.install(state, tokens),
                None => {
                    tracing::info!("Peloton refused the refresh token; logging in again");
                    state.refresh = None;
                    self.secrets.delete(SecretKey::PelotonRefreshToken)?;
                    refused = true;
                }
            }
        }
        let tokens = match self.login().await {
            // A browser sign-in keeps no password: only the person can sign in again.
            Err(PelotonError::MissingPassword) if refused || self.settings.browser_sign_in => {
                Err(PelotonError::SignedOut)
            }
            other => other,
        }?;
        self.install(state, tokens)
    }

    /// The token lock, when one is configured. Waits up to
    /// [`TOKEN_LOCK_WAIT`]; a lock that cannot be had is logged and the
    /// renewal goes ahead, since the worst outcome is one password login.
    async fn lock_tokens(&self) -> Option<SyncLock> {
        let path = self.settings.token_lock_file.clone()?;
        let taken = tokio::task::spawn_blocking(move || {
            SyncLock::acquire_with_wait(&path, TOKEN_LOCK_WAIT)
        })
        .await;
        match taken {
            Ok(Ok(Some(lock))) => Some(lock),
            Ok(Ok(None)) => {
                tracing::warn!("another process held the token lock too long; renewing anyway");
                None
            }
            Ok(Err(e)) => {
                tracing::warn!(error = %e, "the token lock could not be taken; renewing anyway");
                None
            }
            Err(e) => {
                tracing::warn!(error = %e, "the token lock task failed; renewing anyway");
                None
            }
        }
    }

    fn install(&self, state: &mut TokenState, tokens: Tokens) -> Result<(), PelotonError> {
        if let Some(refresh) = tokens.refresh {
            // Store first: a token in memory only would be lost with the process.
            self.secrets.set(SecretKey::PelotonRefreshToken, &refresh)?;
            state.refresh = Some((refresh, tokens.source));
        } else if let Some((_, source)) = &mut state.refresh {
            // Rotation is not established (§3.8): keep the old refresh token.
            if *source == Source::Unknown {
                *source = tokens.source;
            }
        }
        state.access = Some((tokens.access, tokens.expires_at));
        Ok(())
    }

    fn tokens_from(&self, answer: TokenAnswer, source: Source) -> Option<Tokens> {
        let access = answer.access_token.filter(|t| !t.is_empty())?;
        let lifetime = answer
            .expires_in
            .filter(|s| s.is_finite() && *s > 0.0)
            .map_or(DEFAULT_LIFETIME_SECS, |s| s as i64);
        let early = EARLY_REFRESH_SECS.min(lifetime / 2);
        Some(Tokens {
            access: SecretString::from(access),
            expires_at: self.clock.now() + chrono::Duration::seconds(lifetime - early),
            refresh: answer
                .refresh_token
                .filter(|t| !t.is_empty())
                .map(SecretString::from),
            source,
        })
    }

    async fn send(&self, build: impl FnMut() -> RequestBuilder) -> Result<Response, PelotonError> {
        let host = self.settings.auth_url.host_str().unwrap_or("auth");
        Ok(send_with_retry(&self.settings.pacer, &self.settings.retry, host, build).await?)
    }

    fn endpoint(&self, path: &str) -> Result<Url, PelotonError> {
        self.settings
            .auth_url
            .join(path)
            .map_err(|e| PelotonError::Request(format!("bad auth URL: {e}")))
    }

    async fn read_tokens(
        &self,
        resp: Response,
        source: Source,
        step: &str,
    ) -> Result<Tokens, PelotonError> {
        let body = resp.bytes().await.map_err(|e| self.unreachable(e))?;
        // The serde message could quote a token: only say that it failed.
        serde_json::from_slice::<TokenAnswer>(&body)
            .ok()
            .and_then(|a| self.tokens_from(a, source))
            .ok_or_else(|| PelotonError::LoginFlowChanged(format!("{step} gave no access token")))
    }

    fn unreachable(&self, e: reqwest::Error) -> PelotonError {
        PelotonError::Unreachable {
            host: self
                .settings
                .auth_url
                .host_str()
                .unwrap_or("auth")
                .to_string(),
            message: e.without_url().to_string(),
        }
    }

    /// Trades a refresh token for new tokens. `Ok(None)`: Auth0 refused it.
    async fn refresh(
        &self,
        refresh: &SecretString,
        source: Source,
    ) -> Result<Option<Tokens>, PelotonError> {
        match source {
            Source::Web | Source::Mobile => self.refresh_with(refresh, source).await,
            Source::Unknown => match self.refresh_with(refresh, Source::Web).await? {
                Some(t) => Ok(Some(t)),
                None => self.refresh_with(refresh, Source::Mobile).await,
            },
        }
    }

    async fn refresh_with(
        &self,
        refresh: &SecretString,
        source: Source,
    ) -> Result<Option<Tokens>, PelotonError> {
        let url = self.endpoint("/oauth/token")?;
        let resp = self
            .send(|| {
                let req = self
                    .http
                    .post(url.clone())
                    .header(ACCEPT, "application/json");
                if source == Source::Mobile {
                    // pylotoncycle's shape (§4).
                    req.json(&serde_json::json!({
                        "grant_type": "refresh_token",
                        "client_id": MOBILE_CLIENT_ID,
                        "refresh_token": refresh.expose_secret(),
                        "redirect_uri": REDIRECT_URI,
                    }))
                } else {
                    // P2G's shape (§3.8).
                    req.header(
                        CONTENT_TYPE,
                        "application/x-www-form-urlencoded; charset=utf-8",
                    )
                    .form(&[
                        ("grant_type", "refresh_token"),
                        ("client_id", WEB_CLIENT_ID),
                        ("refresh_token", refresh.expose_secret()),
                    ])
                }
            })
            .await?;
        let status = resp.status();
        if status.is_success() {
            return self
                .read_tokens(resp, source, "the token refresh")
                .await
                .map(Some);
        }
        if status == StatusCode::TOO_MANY_REQUESTS {
            return Err(PelotonError::RateLimited { attempts: 1 });
        }
        if status.is_client_error() {
            let code = auth0_error_code(resp).await;
            if code == NO_ERROR_CODE {
                // Not Auth0 speaking (a proxy's or a bot wall's page): the
                // token may be good, and dropping it would send the password
                // (or sign a browser sign-in out). Kept, for a later run.
                tracing::warn!(%status, ?source, "the token refresh was answered by something other than Auth0; the token is kept");
                return Err(PelotonError::Server(status.as_u16()));
            }
            tracing::info!(%status, auth0_error = code, ?source, "refresh token refused");
            return Ok(None);
        }
        Err(PelotonError::Server(status.as_u16()))
    }

    fn password(&self) -> Result<SecretString, PelotonError> {
        if let Some(p) = &self.password {
            return Ok(p.clone());
        }
        self.secrets
            .get(SecretKey::PelotonPassword)?
            .ok_or(PelotonError::MissingPassword)
    }

    /// A full login: method A, then method B when A's flow broke. Never
    /// with an e-mail and password Peloton already refused or blocked; a
    /// refusal or block is recorded for later runs, a success lifts any.
    async fn login(&self) -> Result<Tokens, PelotonError> {
        if let Some(closed) = self.lock_gate().closed {
            return Err(closed_error(closed));
        }
        let password = self.password()?;
        let stop_file = self.settings.stop_file.as_ref();
        let now = self.clock.now();
        if let Some(reason) = stop_file.and_then(|f| f.stopped(&self.email, &password, now)) {
            tracing::warn!(
                ?reason,
                "an earlier login with this e-mail and password went wrong; it is not sent now"
            );
            return Err(stopped_error(reason));
        }
        let result = match self.login_web(&password).await {
            Err(PelotonError::LoginFlowChanged(why)) => {
                tracing::warn!(why, "web login failed; trying the password grant");
                self.login_password_grant(&password).await
            }
            other => other,
        };
        let Some(file) = stop_file else {
            return result;
        };
        let sent = self.lock_gate().sent > 0;
        let reason = match &result {
            Ok(_) => None,
            Err(PelotonError::LoginRefused) => Some(StopReason::Refused),
            Err(PelotonError::LoginBlocked) => Some(StopReason::Blocked),
            // Peloton answered, and the login still did not work out.
            Err(
                PelotonError::LoginFlowChanged(_)
                | PelotonError::RateLimited { .. }
                | PelotonError::Server(_),
            ) if sent => Some(StopReason::Unfinished),
            // Nothing was sent, or the network failed (it may be back in a
            // minute, and nothing of Peloton's answered): nothing to hold.
            Err(_) => return result,
        };
        let written = match reason {
            None => file.clear(),
            Some(r) => file.record(r, self.clock.now(), &self.email, &password),
        };
        if let Err(e) = written {
            tracing::warn!(error = %e, "could not keep Peloton's answer to the login");
        }
        result
    }

    /// Method B (§4): one token request with the mobile client id.
    async fn login_password_grant(&self, password: &SecretString) -> Result<Tokens, PelotonError> {
        let url = self.endpoint("/oauth/token")?;
        let answer = self
            .submit_password(|| {
                self.http
                    .post(url.clone())
                    .header(ACCEPT, "application/json")
                    .json(&serde_json::json!({
                        "grant_type": "password",
                        "client_id": MOBILE_CLIENT_ID,
                        "scope": MOBILE_SCOPE,
                        "username": self.email,
                        "password": password.expose_secret(),
                    }))
            })
            .await?;
        let resp = match answer {
            PasswordAnswer::Accepted(resp) => resp,
            // Only the client id refused is not about the password. Any
            // other 4xx judged it (a wrong password is 403 `invalid_grant`, a
            // blocked user 401 `unauthorized`): refused, never sent again.
            PasswordAnswer::Refused { status, code } if code == "unauthorized_client" => {
                return Err(PelotonError::LoginFlowChanged(format!(
                    "the password grant answered {status} ({code})"
                )));
            }
            PasswordAnswer::Refused { .. } => return Err(PelotonError::LoginRefused),
        };
        let status = resp.status();
        if status.is_success() {
            return self
                .read_tokens(resp, Source::Mobile, "the password grant")
                .await;
        }
        Err(PelotonError::LoginFlowChanged(format!(
            "the password grant answered {status}"
        )))
    }

    fn lock_gate(&self) -> std::sync::MutexGuard<'_, PasswordGate> {
        self.gate.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Sends one password submission under the rules of this module's
    /// header: counted, never past [`MAX_PASSWORD_SUBMISSIONS`], never after
    /// a refusal or a block; a plain 429 or a 5xx (or a dropped connection)
    /// is tried again within the count, after `Retry-After` or a backoff no
    /// longer than the policy's longest wait. (About 75 lines: the count,
    /// the refusal and the block are checked around one send, and kept
    /// together so no path can send a password past them.)
    async fn submit_password(
        &self,
        mut build: impl FnMut() -> RequestBuilder,
    ) -> Result<PasswordAnswer, PelotonError> {
        let host = self.settings.auth_url.host_str().unwrap_or("auth");
        let policy = &self.settings.retry;
        loop {
            let sent = {
                let mut gate = self.lock_gate();
                if let Some(closed) = gate.closed {
                    return Err(closed_error(closed));
                }
                if gate.sent >= MAX_PASSWORD_SUBMISSIONS {
                    // Spent on rate limits, 5xx or dropped connections.
                    return Err(PelotonError::RateLimited {
                        attempts: gate.sent,
                    });
                }
                gate.sent += 1;
                gate.sent
            };
            let result = {
                let _permit = self.settings.pacer.acquire().await;
                build().send().await
            };
            let last = sent >= MAX_PASSWORD_SUBMISSIONS;
            let (wait, failure) = match result {
                Err(e) if e.is_builder() => {
                    return Err(PelotonError::Request(e.without_url().to_string()))
                }
                Err(e) => (
                    None,
                    PelotonError::Unreachable {
                        host: host.to_string(),
                        message: e.without_url().to_string(),
                    },
                ),
                Ok(resp) if resp.status() == StatusCode::TOO_MANY_REQUESTS => {
                    let wait = retry_after(&resp);
                    let code = auth0_error_code(resp).await;
                    if BLOCK_CODES.contains(&code.as_str()) {
                        return Err(self.blocked(&code));
                    }
                    (wait, PelotonError::RateLimited { attempts: sent })
                }
                Ok(resp) if resp.status().is_server_error() => {
                    let status = resp.status();
                    (retry_after(&resp), PelotonError::Server(status.as_u16()))
                }
                Ok(resp) if resp.status().is_client_error() => {
                    let status = resp.status();
                    let code = auth0_error_code(resp).await;
                    if BLOCK_CODES.contains(&code.as_str()) {
                        return Err(self.blocked(&code));
                    }
                    self.lock_gate().closed = Some(Closed::Refused);
                    tracing::info!(%status, auth0_error = code, "Peloton refused the password; not sending it again this run");
                    return Ok(PasswordAnswer::Refused { status, code });
                }
                Ok(resp) => return Ok(PasswordAnswer::Accepted(resp)),
            };
            let floor = match failure {
                PelotonError::RateLimited { .. } => policy.floor_429,
                _ => policy.base,
            };
            let wait = wait.unwrap_or_else(|| {
                floor
                    .saturating_mul(1 << sent.saturating_sub(1).min(16))
                    .min(policy.max_delay)
            });
            if last || wait > policy.max_delay {
                tracing::warn!(host, attempts = sent, error = %failure, "giving up on the login for this run");
                return Err(failure);
            }
            tracing::warn!(host, attempt = sent, wait_ms = wait.as_millis() as u64, error = %failure, "trying the login again");
            tokio::time::sleep(wait).await;
        }
    }

    /// Closes the gate after Auth0's block ([`Self::login`] records it for
    /// later runs).
    fn blocked(&self, code: &str) -> PelotonError {
        self.lock_gate().closed = Some(Closed::Blocked);
        tracing::warn!(
            auth0_error = code,
            "Peloton is blocking logins; the password is not sent again"
        );
        PelotonError::LoginBlocked
    }

    /// Method A (§3.3 to §3.7). (About 90 lines: the five requests of
    /// Auth0's web flow in the order `docs/peloton-api.md` gives them, each
    /// feeding the next.)
    async fn login_web(&self, password: &SecretString) -> Result<Tokens, PelotonError> {
        let jar = Arc::new(Jar::default());
        let http = Client::builder()
            .cookie_provider(jar.clone())
            .redirect(redirect::Policy::none())
            .user_agent(BROWSER_USER_AGENT)
            .timeout(self.settings.timeout)
            .build()
            .map_err(|e| PelotonError::Request(e.without_url().to_string()))?;
        let pkce = Pkce::new();
        let login_url = self.endpoint("/usernamepassword/login")?;

        let mut attempt = 0;
        let (login_page, csrf) = loop {
            attempt += 1;
            let page = self.authorize(&http, &pkce).await?;
            let csrf = jar
                .cookies(&login_url)
                .and_then(|h| h.to_str().ok().and_then(|h| cookie_value(h, "_csrf")));
            match csrf {
                Some(csrf) => break (page, csrf),
                None if attempt < CSRF_ATTEMPTS => {
                    let wait = self
                        .settings
                        .retry
                        .base
                        .saturating_mul(1 << attempt)
                        .min(self.settings.retry.max_delay);
                    tracing::warn!(
                        attempt,
                        wait_ms = wait.as_millis() as u64,
                        "no _csrf cookie; retrying the login page"
                    );
                    tokio::time::sleep(wait).await;
                }
                None => {
                    return Err(PelotonError::LoginFlowChanged(format!(
                        "no _csrf cookie after {attempt} tries"
                    )))
                }
            }
        };
        // Auth0's transaction state replaces ours when the login page carries one.
        let state = query_param(&login_page, "state").unwrap_or_else(|| pkce.state.clone());
        let origin = self.settings.auth_url.origin().ascii_serialization();

        let answer = self
            .submit_password(|| {
                http.post(login_url.clone())
                    .header(ACCEPT, "*/*")
                    .header(ORIGIN, origin.as_str())
                    .header(REFERER, login_page.as_str())
                    .header("Auth0-Client", AUTH0_CLIENT)
                    .json(&serde_json::json!({
                        "client_id": WEB_CLIENT_ID,
                        "redirect_uri": REDIRECT_URI,
                        "tenant": TENANT,
                        "response_type": "code",
                        "scope": WEB_SCOPE,
                        "audience": AUDIENCE,
                        "_csrf": csrf,
                        "state": state,
                        "_intstate": "deprecated",
                        "nonce": pkce.nonce,
                        "username": self.email,
                        "password": password.expose_secret(),
                        "connection": CONNECTION,
                        "code_challenge": pkce.challenge,
                        "code_challenge_method": "S256",
                    }))
            })
            .await?;
        let resp = match answer {
            PasswordAnswer::Accepted(resp) => resp,
            // Sent once: repeating a refused password is what locks accounts.
            PasswordAnswer::Refused { .. } => return Err(PelotonError::LoginRefused),
        };
        let status = resp.status();
        let next = if let Some(next) = redirect_target(&resp, &login_url) {
            next
        } else if status.is_success() {
            let html = resp.text().await.map_err(|e| self.unreachable(e))?;
            let form = parse_hidden_form(&html).ok_or_else(|| {
                PelotonError::LoginFlowChanged("the login answer had no form".into())
            })?;
            self.submit_form(&http, &form).await?
        } else {
            return Err(PelotonError::LoginFlowChanged(format!(
                "the login step answered {status}"
            )));
        };
        let code = self.walk_to_callback(&http, next).await?;
        self.exchange_code(&code, &pkce).await
    }

    /// Step 1: `GET /authorize`, following redirects by hand. Returns the
    /// login page URL (the first redirect target, else the URL itself).
    async fn authorize(&self, http: &Client, pkce: &Pkce) -> Result<Url, PelotonError> {
        let mut url = authorize_url(&self.endpoint("/authorize")?, pkce);
        let mut first_target: Option<Url> = None;
        for _ in 0..MAX_HOPS {
            let resp = self
                .send(|| http.get(url.clone()).header(ACCEPT, HTML_ACCEPT))
                .await?;
            match redirect_target(&resp, &url) {
                Some(next) if next.as_str().starts_with(REDIRECT_URI) => {
                    return Err(PelotonError::LoginFlowChanged(format!(
                        "/authorize went to the callback before the login ({})",
                        query_param(&next, "error").unwrap_or_else(|| "no error code".into())
                    )));
                }
                Some(next) => {
                    first_target.get_or_insert_with(|| next.clone());
                    url = next;
                }
                None if resp.status().is_success() => {
                    // Read the page so its cookies and connection are settled.
                    let _ = resp.bytes().await;
                    return Ok(first_target.unwrap_or(url));
                }
                None => {
                    return Err(PelotonError::LoginFlowChanged(format!(
                        "/authorize answered {}",
                        resp.status()
                    )))
                }
            }
        }
        Err(PelotonError::LoginFlowChanged(
            "/authorize redirected too often".into(),
        ))
    }

    /// Step 3: posts the hidden form; returns where it redirects.
    async fn submit_form(&self, http: &Client, form: &HiddenForm) -> Result<Url, PelotonError> {
        let action =
            self.settings.auth_url.join(&form.action).map_err(|_| {
                PelotonError::LoginFlowChanged("the form's action is not a URL".into())
            })?;
        let resp = self
            .send(|| {
                http.post(action.clone())
                    .header(ACCEPT, HTML_ACCEPT)
                    .form(&form.fields)
            })
            .await?;
        redirect_target(&resp, &action).ok_or_else(|| {
            PelotonError::LoginFlowChanged(format!(
                "the login form's target answered {} without a redirect",
                resp.status()
            ))
        })
    }

    /// Step 4: walks `Location` headers until the redirect URI, never fetching
    /// it; returns its `code`.
    async fn walk_to_callback(&self, http: &Client, mut url: Url) -> Result<String, PelotonError> {
        for _ in 0..MAX_HOPS {
            if url.as_str().starts_with(REDIRECT_URI) {
                return query_param(&url, "code")
                    .filter(|c| !c.is_empty())
                    .ok_or_else(|| {
                        PelotonError::LoginFlowChanged(format!(
                            "the callback carried no code ({})",
                            query_param(&url, "error").unwrap_or_else(|| "no error code".into())
                        ))
                    });
            }
            let resp = self
                .send(|| http.get(url.clone()).header(ACCEPT, HTML_ACCEPT))
                .await?;
            url = redirect_target(&resp, &url).ok_or_else(|| {
                PelotonError::LoginFlowChanged(format!(
                    "the sign-in stopped at a {} answer before the callback",
                    resp.status()
                ))
            })?;
        }
        Err(PelotonError::LoginFlowChanged(
            "the sign-in redirected too often".into(),
        ))
    }

    /// Finishes a browser sign-in (`browser_login`): trades the code for
    /// tokens and keeps the refresh token through the store. A token answer
    /// without a refresh token is refused, since nothing else would last.
    pub(crate) async fn sign_in_with_code(
        &self,
        code: &str,
        pkce: &Pkce,
    ) -> Result<(), PelotonError> {
        let tokens = self.exchange_code(code, pkce).await?;
        if tokens.refresh.is_none() {
            return Err(PelotonError::LoginFlowChanged(
                "the code exchange gave no refresh token".into(),
            ));
        }
        let mut state = self.state.lock().await;
        state.refresh = None;
        self.install(&mut state, tokens)
    }

    /// Step 5: the code and the PKCE verifier for tokens.
    async fn exchange_code(&self, code: &str, pkce: &Pkce) -> Result<Tokens, PelotonError> {
        let url = self.endpoint("/oauth/token")?;
        let resp = self
            .send(|| {
                self.http
                    .post(url.clone())
                    .header(ACCEPT, "application/json")
                    .json(&serde_json::json!({
                        "grant_type": "authorization_code",
                        "client_id": WEB_CLIENT_ID,
                        "code_verifier": pkce.verifier,
                        "code": code,
                        "redirect_uri": REDIRECT_URI,
                    }))
            })
            .await?;
        let status = resp.status();
        if status.is_success() {
            return self
                .read_tokens(resp, Source::Web, "the code exchange")
                .await;
        }
        if status.is_client_error() {
            let code = auth0_error_code(resp).await;
            return Err(PelotonError::LoginFlowChanged(format!(
                "the code exchange answered {status} ({code})"
            )));
        }
        Err(PelotonError::Server(status.as_u16()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pkce_challenge_matches_rfc7636() {
        // RFC 7636, appendix B.
        assert_eq!(
            challenge_for("dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk"),
            "E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM"
        );
    }

    #[test]
    fn pkce_values_follow_the_recipe() {
        let p = Pkce::new();
        let url_safe = |s: &str| {
            s.bytes()
                .all(|c| c.is_ascii_alphanumeric() || c == b'-' || c == b'_')
        };
        assert_eq!(p.verifier.len(), 64);
        assert_eq!(p.state.len(), 32);
        assert_eq!(p.nonce.len(), 32);
        assert!(url_safe(&p.verifier) && url_safe(&p.state) && url_safe(&p.nonce));
        assert_eq!(p.challenge, challenge_for(&p.verifier));
        assert_eq!(p.challenge.len(), 43);
        assert_ne!(Pkce::new().verifier, p.verifier);
    }

    #[test]
    fn auth0_hidden_form_is_parsed() {
        let html = r#"<html><body>
            <FORM method="post" name="hiddenform" action="https://auth.onepeloton.com/login/callback?a=1&amp;b=2">
              <input type="hidden" name="wa" value="wsignin1.0">
              <input type="hidden" name="wresult" value="eyJ.x.y">
              <input name='wctx' type='HIDDEN' value='{&#34;strategy&#34;:&#34;auth0&#34;}'/>
              <input type="text" name="visible" value="no">
              <input type=hidden name=bare value=v1>
              <noscript><input type="submit" value="Continue"></noscript>
            </FORM>
            <form action="/second"><input type="hidden" name="other" value="x"></form>
            <script>document.forms[0].submit()</script></body></html>"#;
        let form = parse_hidden_form(html).unwrap();
        assert_eq!(
            form.action,
            "https://auth.onepeloton.com/login/callback?a=1&b=2"
        );
        let fields: Vec<(&str, &str)> = form
            .fields
            .iter()
            .map(|(n, v)| (n.as_str(), v.as_str()))
            .collect();
        assert_eq!(
            fields,
            [
                ("wa", "wsignin1.0"),
                ("wresult", "eyJ.x.y"),
                ("wctx", r#"{"strategy":"auth0"}"#),
                ("bare", "v1"),
            ]
        );
        assert!(!format!("{form:?}").contains("eyJ"));
    }

    #[test]
    fn pages_without_a_usable_form_are_refused() {
        assert!(parse_hidden_form("<html><p>Wrong email or password</p></html>").is_none());
        assert!(parse_hidden_form("<formation>text</formation>").is_none());
        assert!(
            parse_hidden_form(r#"<form method="post"><input type="hidden" name="a"></form>"#)
                .is_none()
        );
        // As in a browser: an input cut off inside its tag is no input, an
        // unclosed form still is a form, a value-less input has an empty value.
        let cut = parse_hidden_form(r#"<form action="/x"><input type="hidden" name="a""#).unwrap();
        assert!(cut.fields.is_empty());
        let unclosed =
            parse_hidden_form(r#"<form action="/x"><input type="hidden" name="a">"#).unwrap();
        assert_eq!(unclosed.fields, vec![("a".to_string(), String::new())]);
    }

    #[test]
    fn auth0_error_codes_are_read_from_either_shape() {
        assert_eq!(
            error_code_of(br#"{"error":"too_many_attempts","error_description":"x"}"#),
            "too_many_attempts"
        );
        assert_eq!(
            error_code_of(br#"{"name":"AnomalyDetected","code":"blocked_user","statusCode":429}"#),
            "blocked_user"
        );
        assert_eq!(error_code_of(b"<html>busy</html>"), "no error code");
        assert_eq!(
            error_code_of(br#"{"error":"has spaces in it"}"#),
            "no error code"
        );
    }

    #[test]
    fn a_stop_holds_for_its_email_and_password_only_until_cleared() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("sub/stopped");
        let file = LoginStopFile::new(path.clone());
        let wrong = SecretString::from("hunter2-wrong");
        let at = DateTime::parse_from_rfc3339("2026-03-01T08:00:00Z")
            .unwrap()
            .with_timezone(&Utc);
        assert_eq!(file.stopped("rider@example.com", &wrong, at), None);
        file.record(StopReason::Refused, at, "rider@example.com", &wrong)
            .unwrap();
        // The e-mail as typed another time still matches.
        assert_eq!(
            file.stopped(" Rider@Example.com", &wrong, at),
            Some(StopReason::Refused)
        );
        let other = SecretString::from("another password");
        assert_eq!(file.stopped("rider@example.com", &other, at), None);
        assert_eq!(file.stopped("someone@example.com", &wrong, at), None);
        // Neither the password nor the e-mail is in the file.
        let text = std::fs::read_to_string(&path).unwrap();
        assert!(
            !text.contains("hunter2") && !text.contains("rider"),
            "{text}"
        );

        file.record(StopReason::Blocked, at, "rider@example.com", &wrong)
            .unwrap();
        assert_eq!(
            file.stopped("rider@example.com", &wrong, at),
            Some(StopReason::Blocked)
        );
        // A refusal or a block holds for ever; an unfinished login for an hour.
        let later = at + chrono::Duration::days(30);
        assert_eq!(
            file.stopped("rider@example.com", &wrong, later),
            Some(StopReason::Blocked)
        );
        file.record(StopReason::Unfinished, at, "rider@example.com", &wrong)
            .unwrap();
        let minute = chrono::Duration::minutes(1);
        assert_eq!(
            file.stopped("rider@example.com", &wrong, at + PASSWORD_PAUSE - minute),
            Some(StopReason::Unfinished)
        );
        assert_eq!(
            file.stopped("rider@example.com", &wrong, at + PASSWORD_PAUSE),
            None
        );
        // A clock set back a day does not wait 25 hours.
        let earlier = at - chrono::Duration::days(1);
        assert_eq!(file.stopped("rider@example.com", &wrong, earlier), None);
        file.clear().unwrap();
        assert_eq!(file.stopped("rider@example.com", &wrong, at), None);
        file.clear().unwrap();
        std::fs::write(&path, "garbage").unwrap();
        assert_eq!(file.stopped("rider@example.com", &wrong, at), None);
    }

    #[test]
    fn csrf_is_read_from_the_cookie_header() {
        assert_eq!(
            cookie_value("did=abc; _csrf=tok-1; other=x", "_csrf").as_deref(),
            Some("tok-1")
        );
        assert_eq!(cookie_value("x_csrf=1; did=2", "_csrf"), None);
        assert_eq!(cookie_value("_csrf=", "_csrf"), None);
    }

    #[test]
    fn jar_returns_the_csrf_cookie_for_the_login_path_only() {
        let jar = Jar::default();
        let page = Url::parse("http://127.0.0.1:9/login?state=s").unwrap();
        jar.add_cookie_str("_csrf=abc; Path=/usernamepassword/login; HttpOnly", &page);
        let login = Url::parse("http://127.0.0.1:9/usernamepassword/login").unwrap();
        let header = jar.cookies(&login).unwrap();
        assert_eq!(
            cookie_value(header.to_str().unwrap(), "_csrf").as_deref(),
            Some("abc")
        );
        assert!(jar.cookies(&page).is_none());
    }

    #[test]
    fn relative_redirects_resolve_against_the_answering_url() {
        let base = Url::parse("http://127.0.0.1:9/login/callback").unwrap();
        assert_eq!(
            base.join("/authorize/resume?state=x").unwrap().as_str(),
            "http://127.0.0.1:9/authorize/resume?state=x"
        );
        let cb = base
            .join("https://members.onepeloton.com/callback?code=c0de&state=x")
            .unwrap();
        assert!(cb.as_str().starts_with(REDIRECT_URI));
        assert_eq!(query_param(&cb, "code").as_deref(), Some("c0de"));
    }
}
