//! Getting and keeping Peloton's OAuth tokens (spec `peloton-api.md` §3, §4).
//!
//! Order of preference, so that a quiet run never logs in again: the access
//! token in memory while it is fresh; else the refresh token (memory, then the
//! [`SecretStore`]); else a full login. The full login is Auth0's Universal
//! Login with PKCE (method A, what the web app does); when that flow does not
//! go as expected for a reason other than a refused password, the password
//! grant of the mobile client id (method B) is tried once.
//!
//! Invariant: the access token lives only in memory; the refresh token is
//! written only through the store. No token, code, `_csrf` value, cookie or
//! password reaches a log line or an error.

use std::sync::Arc;
use std::time::Duration;

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine as _;
use chrono::{DateTime, Utc};
use rand::RngCore;
use reqwest::cookie::{CookieStore as _, Jar};
use reqwest::header::{ACCEPT, CONTENT_TYPE, LOCATION, ORIGIN, REFERER};
use reqwest::{redirect, Client, RequestBuilder, Response, StatusCode};
use secrecy::{ExposeSecret, SecretString};
use serde::Deserialize;
use sha2::{Digest, Sha256};
use url::Url;

use super::error::PelotonError;
use crate::clock::SharedClock;
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

/// Decodes the HTML character references Auth0's pages use (named basics and
/// numeric ones); anything unknown is kept as written.
pub(crate) fn decode_entities(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    let mut rest = s;
    while let Some(i) = rest.find('&') {
        out.push_str(&rest[..i]);
        rest = &rest[i..];
        let decoded = rest.find(';').filter(|&end| end <= 12).and_then(|end| {
            let name = &rest[1..end];
            let c = match name {
                "amp" => Some('&'),
                "lt" => Some('<'),
                "gt" => Some('>'),
                "quot" => Some('"'),
                "apos" => Some('\''),
                "nbsp" => Some('\u{a0}'),
                _ => {
                    let num = name.strip_prefix('#')?;
                    let code = match num.strip_prefix(['x', 'X']) {
                        Some(hex) => u32::from_str_radix(hex, 16).ok()?,
                        None => num.parse().ok()?,
                    };
                    char::from_u32(code)
                }
            }?;
            Some((c, end))
        });
        match decoded {
            Some((c, end)) => {
                out.push(c);
                rest = &rest[end + 1..];
            }
            None => {
                out.push('&');
                rest = &rest[1..];
            }
        }
    }
    out.push_str(rest);
    out
}

/// Attributes of one tag, from just after its name to its `>`; names are
/// lower-cased, values entity-decoded. Returns them and the rest after `>`.
fn parse_attributes(s: &str) -> (Vec<(String, String)>, &str) {
    let mut attrs = Vec::new();
    let b = s.as_bytes();
    let mut i = 0;
    loop {
        while i < b.len() && (b[i].is_ascii_whitespace() || b[i] == b'/') {
            i += 1;
        }
        if i >= b.len() {
            return (attrs, "");
        }
        if b[i] == b'>' {
            return (attrs, &s[i + 1..]);
        }
        let start = i;
        while i < b.len() && !b[i].is_ascii_whitespace() && !matches!(b[i], b'=' | b'>' | b'/') {
            i += 1;
        }
        let name = s[start..i].to_ascii_lowercase();
        while i < b.len() && b[i].is_ascii_whitespace() {
            i += 1;
        }
        let mut value = String::new();
        if i < b.len() && b[i] == b'=' {
            i += 1;
            while i < b.len() && b[i].is_ascii_whitespace() {
                i += 1;
            }
            if i < b.len() && (b[i] == b'"' || b[i] == b'\'') {
                let quote = b[i];
                let vstart = i + 1;
                let vend = s[vstart..]
                    .bytes()
                    .position(|c| c == quote)
                    .map_or(b.len(), |p| vstart + p);
                value = decode_entities(&s[vstart..vend]);
                i = (vend + 1).min(b.len());
            } else {
                let vstart = i;
                while i < b.len() && !b[i].is_ascii_whitespace() && b[i] != b'>' {
                    i += 1;
                }
                value = decode_entities(&s[vstart..i]);
            }
        }
        if !name.is_empty() {
            attrs.push((name, value));
        }
    }
}

fn find_ci(haystack: &str, needle: &str) -> Option<usize> {
    haystack
        .as_bytes()
        .windows(needle.len())
        .position(|w| w.eq_ignore_ascii_case(needle.as_bytes()))
}

/// Finds the tag `<name` followed by whitespace, `>` or `/` (so `<formx` is skipped).
fn find_tag(html: &str, name: &str) -> Option<usize> {
    let open = format!("<{name}");
    let mut from = 0;
    while let Some(i) = find_ci(&html[from..], &open) {
        let at = from + i;
        let after = html.as_bytes().get(at + open.len()).copied();
        if matches!(after, None | Some(b'>' | b'/'))
            || after.is_some_and(|c| c.is_ascii_whitespace())
        {
            return Some(at);
        }
        from = at + open.len();
    }
    None
}

/// The first `<form>` of a page: its `action` and its hidden inputs (§3.4).
/// `None` when there is no form or it has no action.
pub(crate) fn parse_hidden_form(html: &str) -> Option<HiddenForm> {
    let start = find_tag(html, "form")?;
    let (attrs, mut body) = parse_attributes(&html[start + 5..]);
    let action = attrs
        .into_iter()
        .find(|(n, _)| n == "action")
        .map(|(_, v)| v)
        .filter(|v| !v.trim().is_empty())?;
    if let Some(end) = find_ci(body, "</form") {
        body = &body[..end];
    }
    let mut fields = Vec::new();
    while let Some(i) = find_tag(body, "input") {
        let (attrs, rest) = parse_attributes(&body[i + 6..]);
        body = rest;
        let get = |key: &str| attrs.iter().find(|(n, _)| n == key).map(|(_, v)| v.clone());
        let hidden = get("type").is_some_and(|t| t.eq_ignore_ascii_case("hidden"));
        if let (true, Some(name)) = (hidden, get("name")) {
            fields.push((name, get("value").unwrap_or_default()));
        }
    }
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

/// Auth0's error body; only `error` (a code) is ever shown.
#[derive(Deserialize, Default)]
struct Auth0Error {
    #[serde(default)]
    error: Option<String>,
}

async fn auth0_error_code(resp: Response) -> String {
    let body = resp.bytes().await.unwrap_or_default();
    serde_json::from_slice::<Auth0Error>(&body)
        .unwrap_or_default()
        .error
        .filter(|e| e.len() <= 64 && e.bytes().all(|c| c.is_ascii_alphanumeric() || c == b'_'))
        .unwrap_or_else(|| "no error code".to_string())
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
    refresh: Option<(SecretString, Source)>,
    /// Whether the store was read already (read once, at the first need).
    store_read: bool,
}

/// Where to reach Auth0 and how to pace and time requests to it.
pub(crate) struct AuthSettings {
    pub(crate) auth_url: Url,
    pub(crate) timeout: Duration,
    pub(crate) retry: RetryPolicy,
    pub(crate) pacer: Arc<Pacer>,
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

    async fn renew(&self, state: &mut TokenState) -> Result<(), PelotonError> {
        if !state.store_read {
            if let Some(stored) = self.secrets.get(SecretKey::PelotonRefreshToken)? {
                state.refresh = Some((stored, Source::Unknown));
            }
            state.store_read = true;
        }
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
            Err(PelotonError::MissingPassword) if refused => Err(PelotonError::SignedOut),
            other => other,
        }?;
        self.install(state, tokens)
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
        if status.is_client_error() {
            let code = auth0_error_code(resp).await;
            tracing::info!(%status, code, ?source, "refresh token refused");
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

    /// A full login: method A, then method B when A's flow broke.
    async fn login(&self) -> Result<Tokens, PelotonError> {
        let password = self.password()?;
        match self.login_web(&password).await {
            Ok(t) => Ok(t),
            Err(PelotonError::LoginFlowChanged(why)) => {
                tracing::warn!(why, "web login failed; trying the password grant");
                self.login_password_grant(&password).await
            }
            Err(e) => Err(e),
        }
    }

    /// Method B (§4): one token request with the mobile client id.
    async fn login_password_grant(&self, password: &SecretString) -> Result<Tokens, PelotonError> {
        let url = self.endpoint("/oauth/token")?;
        let resp = self
            .send(|| {
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
        let status = resp.status();
        if status.is_success() {
            return self
                .read_tokens(resp, Source::Mobile, "the password grant")
                .await;
        }
        if status.is_client_error() {
            let code = auth0_error_code(resp).await;
            if code == "invalid_grant"
                || (status == StatusCode::FORBIDDEN && code != "unauthorized_client")
            {
                return Err(PelotonError::LoginRefused);
            }
            return Err(PelotonError::LoginFlowChanged(format!(
                "the password grant answered {status} ({code})"
            )));
        }
        Err(PelotonError::Server(status.as_u16()))
    }

    /// Method A (§3.3 to §3.7).
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

        let resp = self
            .send(|| {
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
        let status = resp.status();
        if status.is_client_error() {
            // One attempt only: repeating a refused password is what locks accounts.
            return Err(PelotonError::LoginRefused);
        }
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
        state.store_read = true;
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
    fn entities_are_decoded() {
        let check = |input: &str, expect: &str| assert_eq!(decode_entities(input), expect);
        check(
            "{&#34;strategy&#34;:&quot;auth0&quot;}",
            r#"{"strategy":"auth0"}"#,
        );
        check("a&amp;b&lt;c&gt;d&#x27;e&#X41;", "a&b<c>d'eA");
        check("fish & chips", "fish & chips");
        check("&unknown; &#zz; &", "&unknown; &#zz; &");
        check("caf&#233;", "café");
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
        let unclosed =
            parse_hidden_form(r#"<form action="/x"><input type="hidden" name="a""#).unwrap();
        assert_eq!(unclosed.fields, vec![("a".to_string(), String::new())]);
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
