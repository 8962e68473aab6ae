//! The auth host: Auth0 Universal Login with PKCE (method A, spec §3), the token endpoint
//! with the authorization-code, refresh-token (rotating) and password (method B, spec §4)
//! grants, and the retired legacy `POST /auth/login`.
//!
//! `/login` is also a page a person (or WebDriver) can use, for the app's sign-in window
//! (issue 18): a plain HTML form that posts, as Auth0's Universal Login page does without
//! script, `state`, `username` and `password` to `/u/login?state=...`; when a one-time code
//! is switched on ([`crate::FakePeloton::set_mfa_code`]) a second page asks for it
//! (`/u/mfa-otp-challenge`); then `/authorize/resume` redirects to the callback.
//!
//! Every step checks what the real client must send, so a client bug shows up as a refused
//! step rather than a silent success. Bodies of refusals follow Auth0's JSON shapes.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use axum::body::Bytes;
use axum::extract::{Query, State};
use axum::http::{header, HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine as _;
use rand::rngs::StdRng;
use rand::{RngCore, SeedableRng};
use serde_json::{json, Value};
use sha2::{Digest, Sha256};
use tokio::time::Instant;

use crate::data::{LEGACY_LOGIN_RETIRED, UNAUTHORIZED_CLIENT};
use crate::log::lock;
use crate::Shared;

/// The members.onepeloton.com web app's public Auth0 client (method A).
pub const WEB_CLIENT_ID: &str = "WVoJxVDdPoFx4RNewvvg6ch2mZ7bwnsM";
/// The mobile client that may use the password grant (method B).
pub const MOBILE_CLIENT_ID: &str = "mgsmWCD0A8Qn6uz6mmqI6qeBNHH9IPwS";
/// The API audience; the trailing slash matters.
pub const AUDIENCE: &str = "https://api.onepeloton.com/";
/// The only redirect URI registered for the web client.
pub const REDIRECT_URI: &str = "https://members.onepeloton.com/callback";
/// Auth0 database connection name.
pub const CONNECTION: &str = "pelo-user-password";
/// Auth0 tenant name.
pub const TENANT: &str = "peloton-prod";
/// Scope the web login must ask for (any order, extra scopes allowed).
const REQUIRED_SCOPES: &[&str] = &["openid", "offline_access", "peloton-api.members:default"];
/// Authorization codes are short-lived at Auth0 too.
const CODE_TTL: Duration = Duration::from_secs(60);
/// The user id claim one 2026 client reads from the access token.
const USER_ID_CLAIM: &str = "http://onepeloton.com/user_id";

/// One Universal Login transaction, keyed by Auth0's transaction state.
struct Transaction {
    client_id: String,
    redirect_uri: String,
    client_state: Option<String>,
    nonce: Option<String>,
    code_challenge: String,
    scope: String,
    csrf: Option<String>,
    authenticated: bool,
    session: Option<String>,
    /// The password was accepted on the sign-in page; the one-time code is still due.
    password_ok: bool,
}

struct CodeGrant {
    client_id: String,
    redirect_uri: String,
    code_challenge: String,
    scope: String,
    expires_at: Instant,
}

struct AccessGrant {
    user_id: String,
    expires_at: Instant,
}

struct RefreshGrant {
    client_id: String,
    scope: String,
}

/// All auth state of one fake: transactions, codes, tokens.
pub struct AuthStore {
    rng: StdRng,
    transactions: HashMap<String, Transaction>,
    wresults: HashMap<String, String>,
    codes: HashMap<String, CodeGrant>,
    access: HashMap<String, AccessGrant>,
    refresh: HashMap<String, RefreshGrant>,
    /// Every token ever issued, revoked or not, for secrets audits.
    issued: Vec<String>,
    /// Every other secret handed out (authorization codes, `_csrf` values,
    /// `auth0` session cookies, signed `wresult`s), for secrets audits.
    handed_out: Vec<String>,
}

impl AuthStore {
    /// An empty store whose random tokens derive from `seed`.
    pub fn new(seed: u64) -> Self {
        Self {
            rng: StdRng::seed_from_u64(seed ^ 0xa11_7ce),
            transactions: HashMap::new(),
            wresults: HashMap::new(),
            codes: HashMap::new(),
            access: HashMap::new(),
            refresh: HashMap::new(),
            issued: Vec::new(),
            handed_out: Vec::new(),
        }
    }

    /// Every authorization code, `_csrf` value, session cookie value and
    /// `wresult` handed out so far, oldest first.
    pub fn handed_out(&self) -> Vec<String> {
        self.handed_out.clone()
    }

    /// Every access, id and refresh token issued so far, oldest first.
    pub fn issued(&self) -> Vec<String> {
        self.issued.clone()
    }

    fn random(&mut self, bytes: usize) -> String {
        let mut buf = vec![0u8; bytes];
        self.rng.fill_bytes(&mut buf);
        URL_SAFE_NO_PAD.encode(buf)
    }

    /// The user id an access token belongs to, if it is known and unexpired.
    pub fn user_for(&self, token: &str) -> Option<String> {
        self.access
            .get(token)
            .filter(|g| g.expires_at > Instant::now())
            .map(|g| g.user_id.clone())
    }

    /// Makes every issued access token expired (refresh tokens stay valid).
    pub fn expire_access_tokens(&mut self) {
        let now = Instant::now();
        for g in self.access.values_mut() {
            g.expires_at = now;
        }
    }

    /// Forgets every access and refresh token.
    pub fn revoke_all(&mut self) {
        self.access.clear();
        self.refresh.clear();
    }

    fn jwt_like(&mut self, claims: Value) -> String {
        let header = URL_SAFE_NO_PAD.encode(br#"{"alg":"RS256","typ":"JWT","kid":"fake-peloton"}"#);
        let payload = URL_SAFE_NO_PAD.encode(claims.to_string());
        let sig = self.random(64);
        format!("{header}.{payload}.{sig}")
    }

    /// Issues an access token (and a refresh token when `offline_access` was granted).
    fn issue(
        &mut self,
        issuer: &str,
        user_id: &str,
        client_id: &str,
        scope: &str,
        ttl: u64,
    ) -> Value {
        let jti = self.random(16);
        let access = self.jwt_like(json!({
            "iss": format!("{issuer}/"),
            "sub": format!("auth0|{user_id}"),
            "aud": [AUDIENCE, format!("{issuer}/userinfo")],
            "azp": client_id,
            "scope": scope,
            USER_ID_CLAIM: user_id,
            "jti": jti,
        }));
        let id_token = self.jwt_like(json!({
            "iss": format!("{issuer}/"),
            "sub": format!("auth0|{user_id}"),
            "aud": client_id,
        }));
        self.issued.push(access.clone());
        self.issued.push(id_token.clone());
        self.access.insert(
            access.clone(),
            AccessGrant {
                user_id: user_id.to_owned(),
                expires_at: Instant::now() + Duration::from_secs(ttl),
            },
        );
        let mut body = json!({
            "access_token": access,
            "id_token": id_token,
            "scope": scope,
            "expires_in": ttl,
            "token_type": "Bearer",
        });
        if scope.split(' ').any(|s| s == "offline_access") {
            let refresh = format!("v1.{}", self.random(48));
            self.issued.push(refresh.clone());
            self.refresh.insert(
                refresh.clone(),
                RefreshGrant {
                    client_id: client_id.to_owned(),
                    scope: scope.to_owned(),
                },
            );
            body["refresh_token"] = json!(refresh);
        }
        body
    }
}

fn json_response(status: StatusCode, body: Value) -> Response {
    (
        status,
        [(header::CONTENT_TYPE, "application/json")],
        body.to_string(),
    )
        .into_response()
}

fn raw_json(status: StatusCode, body: &'static str) -> Response {
    (
        status,
        [(header::CONTENT_TYPE, "application/json")],
        body.trim_end(),
    )
        .into_response()
}

fn oauth_error(status: StatusCode, error: &str, description: &str) -> Response {
    json_response(
        status,
        json!({"error": error, "error_description": description}),
    )
}

/// Auth0's `/usernamepassword/login` error shape.
fn ulp_error(status: StatusCode, name: &str, code: &str, description: &str) -> Response {
    json_response(
        status,
        json!({"name": name, "code": code, "description": description, "statusCode": status.as_u16()}),
    )
}

/// Which endpoint's error shape a password refusal takes.
#[derive(Clone, Copy)]
enum LoginShape {
    /// `/usernamepassword/login`: `{"name", "code", "description", "statusCode"}`.
    UniversalLogin,
    /// `/oauth/token`: `{"error", "error_description"}`.
    OAuth,
}

/// The lockout and throttle switches for a password submission, in Auth0's shapes.
fn login_fault(s: &Shared, shape: LoginShape) -> Option<Response> {
    let (code, description, retry_after) = if s.faults.lockout_logins() {
        (
            "too_many_attempts",
            "Your account has been blocked after multiple consecutive login attempts.",
            None,
        )
    } else if s.faults.take_throttled_login() {
        (
            "too_many_requests",
            "Global limit has been reached",
            Some("0"),
        )
    } else {
        return None;
    };
    let mut resp = match shape {
        LoginShape::UniversalLogin => ulp_error(
            StatusCode::TOO_MANY_REQUESTS,
            "AnomalyDetected",
            code,
            description,
        ),
        LoginShape::OAuth => oauth_error(StatusCode::TOO_MANY_REQUESTS, code, description),
    };
    if let Some(secs) = retry_after {
        resp.headers_mut()
            .insert(header::RETRY_AFTER, HeaderValue::from_static(secs));
    }
    Some(resp)
}

fn redirect(location: &str) -> Response {
    (StatusCode::FOUND, [(header::LOCATION, location.to_owned())]).into_response()
}

fn cookie(headers: &HeaderMap, name: &str) -> Option<String> {
    headers
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .filter_map(|kv| kv.trim().split_once('='))
        .find(|(k, _)| *k == name)
        .map(|(_, v)| v.to_owned())
}

fn query_string(pairs: &[(&str, &str)]) -> String {
    let mut s = url::form_urlencoded::Serializer::new(String::new());
    for (k, v) in pairs {
        s.append_pair(k, v);
    }
    s.finish()
}

fn pkce_matches(verifier: &str, challenge: &str) -> bool {
    URL_SAFE_NO_PAD.encode(Sha256::digest(verifier.as_bytes())) == challenge
}

fn html_escape(s: &str) -> String {
    s.replace('&', "&amp;")
        .replace('"', "&#34;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
}

fn credentials_match(s: &Shared, username: &str, password: &str) -> bool {
    let creds = lock(&s.credentials);
    let who = username.eq_ignore_ascii_case(&creds.email) || username == creds.username;
    who && password == creds.password
}

/// `GET /authorize`: validates the PKCE authorization request and sends the browser to the
/// hosted login page with Auth0's own transaction state.
pub async fn authorize(
    State(s): State<Arc<Shared>>,
    Query(q): Query<HashMap<String, String>>,
) -> Response {
    let get = |k: &str| q.get(k).map(String::as_str).unwrap_or("");
    let bad = |d: &str| oauth_error(StatusCode::BAD_REQUEST, "invalid_request", d);
    if get("client_id") != WEB_CLIENT_ID {
        return bad("Unknown client.");
    }
    if get("response_type") != "code" {
        return bad("Unsupported response_type.");
    }
    if get("redirect_uri") != REDIRECT_URI {
        return bad("Callback URL mismatch.");
    }
    if get("audience") != AUDIENCE {
        return bad("Service not found: audience.");
    }
    let scopes: Vec<&str> = get("scope").split(' ').collect();
    if let Some(missing) = REQUIRED_SCOPES.iter().find(|r| !scopes.contains(r)) {
        return bad(&format!("Missing scope {missing}."));
    }
    if get("code_challenge_method") != "S256" || get("code_challenge").len() < 43 {
        return bad("A PKCE code_challenge with code_challenge_method=S256 is required.");
    }
    if let Some(mode) = q.get("response_mode") {
        if mode != "query" {
            return bad("Unsupported response_mode.");
        }
    }
    let mut auth = lock(&s.auth);
    let txn_state = auth.random(24);
    auth.transactions.insert(
        txn_state.clone(),
        Transaction {
            client_id: get("client_id").to_owned(),
            redirect_uri: get("redirect_uri").to_owned(),
            client_state: q.get("state").cloned(),
            nonce: q.get("nonce").cloned(),
            code_challenge: get("code_challenge").to_owned(),
            scope: get("scope").to_owned(),
            csrf: None,
            authenticated: false,
            session: None,
            password_ok: false,
        },
    );
    drop(auth);
    let qs = query_string(&[
        ("state", &txn_state),
        ("client", WEB_CLIENT_ID),
        ("protocol", "oauth2"),
        ("audience", AUDIENCE),
        ("scope", get("scope")),
        ("response_type", "code"),
        ("response_mode", "query"),
        ("redirect_uri", REDIRECT_URI),
    ]);
    redirect(&format!("{}/login?{qs}", s.base_url))
}

/// `GET /login`: the hosted login page; sets the `_csrf` cookie for the login endpoint
/// (unless the "no _csrf" fault is pending).
pub async fn login_page(
    State(s): State<Arc<Shared>>,
    Query(q): Query<HashMap<String, String>>,
) -> Response {
    let Some(state) = q.get("state") else {
        return (StatusCode::BAD_REQUEST, "Missing state").into_response();
    };
    let omit_cookie = s.faults.take_no_csrf();
    let mut auth = lock(&s.auth);
    let csrf = auth.random(24);
    auth.handed_out.push(csrf.clone());
    let Some(txn) = auth.transactions.get_mut(state) else {
        return (StatusCode::BAD_REQUEST, "Unknown or expired transaction").into_response();
    };
    txn.csrf = Some(csrf.clone());
    drop(auth);
    let mut resp = html_page(StatusCode::OK, &login_form(state, None));
    if !omit_cookie {
        let c = format!("_csrf={csrf}; Path=/usernamepassword/login; HttpOnly");
        if let Ok(v) = HeaderValue::from_str(&c) {
            resp.headers_mut().append(header::SET_COOKIE, v);
        }
    }
    resp
}

const PAGE_STYLE: &str = "body{font-family:sans-serif;background:#f5f5f5;margin:0}\
    main{max-width:22rem;margin:3rem auto;background:#fff;padding:2rem;border-radius:8px}\
    h1{font-size:1.4rem;margin-top:0}label{display:block;margin:1rem 0 .3rem}\
    input{width:100%;box-sizing:border-box;padding:.6rem;font-size:1rem}\
    button{margin-top:1.5rem;width:100%;padding:.7rem;font-size:1rem;background:#222;\
    color:#fff;border:0;border-radius:4px}.error{color:#b00020}";

fn html_page(status: StatusCode, body: &str) -> Response {
    let page = format!(
        "<!DOCTYPE html><html lang=\"en\"><head><meta charset=\"utf-8\">\
         <title>Log in | Peloton</title><style>{PAGE_STYLE}</style></head>\
         <body><main>{body}</main></body></html>"
    );
    (
        status,
        [(header::CONTENT_TYPE, "text/html; charset=utf-8")],
        page,
    )
        .into_response()
}

fn error_line(error: Option<&str>) -> String {
    error.map_or_else(String::new, |e| {
        format!("<p class=\"error\" id=\"error\">{}</p>", html_escape(e))
    })
}

/// The sign-in form: what Auth0's page posts when script is off.
fn login_form(state: &str, error: Option<&str>) -> String {
    let state = html_escape(state);
    format!(
        "<h1>Log in to Peloton</h1>{error}\
         <form method=\"post\" action=\"/u/login?state={state}\" id=\"login\">\
         <input type=\"hidden\" name=\"state\" value=\"{state}\">\
         <label for=\"username\">Email or username</label>\
         <input type=\"text\" id=\"username\" name=\"username\" autocomplete=\"username\" required>\
         <label for=\"password\">Password</label>\
         <input type=\"password\" id=\"password\" name=\"password\" autocomplete=\"current-password\" required>\
         <button type=\"submit\" id=\"submit\" name=\"action\" value=\"default\">Log in</button>\
         </form>",
        error = error_line(error),
    )
}

/// The second step: a one-time code, as an authenticator app gives.
fn mfa_form(state: &str, error: Option<&str>) -> String {
    let state = html_escape(state);
    format!(
        "<h1>Verify your identity</h1><p>Enter the one-time code from your authenticator app.</p>{error}\
         <form method=\"post\" action=\"/u/mfa-otp-challenge?state={state}\" id=\"mfa\">\
         <input type=\"hidden\" name=\"state\" value=\"{state}\">\
         <label for=\"code\">One-time code</label>\
         <input type=\"text\" id=\"code\" name=\"code\" inputmode=\"numeric\" autocomplete=\"one-time-code\" required>\
         <button type=\"submit\" id=\"submit\" name=\"action\" value=\"default\">Continue</button>\
         </form>",
        error = error_line(error),
    )
}

/// Opens the Auth0 session of a transaction whose person is known, and sends the browser
/// on to `/authorize/resume` with the session cookie.
fn authenticated(s: &Shared, auth: &mut AuthStore, state: &str) -> Response {
    let sid = auth.random(24);
    let Some(txn) = auth.transactions.get_mut(state) else {
        return (StatusCode::BAD_REQUEST, "Unknown or expired transaction").into_response();
    };
    txn.authenticated = true;
    txn.session = Some(sid.clone());
    let mut resp = redirect(&format!(
        "{}/authorize/resume?{}",
        s.base_url,
        query_string(&[("state", state)])
    ));
    if let Ok(v) = HeaderValue::from_str(&format!("auth0={sid}; Path=/; HttpOnly")) {
        resp.headers_mut().append(header::SET_COOKIE, v);
    }
    resp
}

/// `POST /u/login?state=...`: the sign-in form. A wrong password shows the form again with
/// one line; a right one goes on to the one-time code when it is switched on, else to
/// `/authorize/resume`.
pub async fn form_login(
    State(s): State<Arc<Shared>>,
    Query(q): Query<HashMap<String, String>>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    s.log.note_login();
    let Some(form) = parse_form(&headers, &body) else {
        return (StatusCode::BAD_REQUEST, "Expected a form body").into_response();
    };
    let get = |k: &str| form.get(k).map(String::as_str).unwrap_or("");
    let state = q.get("state").map(String::as_str).unwrap_or("");
    if state != get("state") {
        return (StatusCode::BAD_REQUEST, "State mismatch").into_response();
    }
    let mfa = lock(&s.credentials).mfa_code.is_some();
    let mut auth = lock(&s.auth);
    if !auth.transactions.contains_key(state) {
        return (StatusCode::BAD_REQUEST, "Unknown or expired transaction").into_response();
    }
    if !credentials_match(&s, get("username"), get("password")) {
        return html_page(
            StatusCode::BAD_REQUEST,
            &login_form(state, Some("Wrong email or password.")),
        );
    }
    if mfa {
        if let Some(txn) = auth.transactions.get_mut(state) {
            txn.password_ok = true;
        }
        return redirect(&format!(
            "{}/u/mfa-otp-challenge?{}",
            s.base_url,
            query_string(&[("state", state)])
        ));
    }
    authenticated(&s, &mut auth, state)
}

/// `GET /u/mfa-otp-challenge?state=...`: the one-time code page, once the password passed.
pub async fn mfa_page(
    State(s): State<Arc<Shared>>,
    Query(q): Query<HashMap<String, String>>,
) -> Response {
    let state = q.get("state").map(String::as_str).unwrap_or("");
    let ok = lock(&s.auth)
        .transactions
        .get(state)
        .is_some_and(|t| t.password_ok);
    if !ok {
        return (StatusCode::BAD_REQUEST, "Unknown or expired transaction").into_response();
    }
    html_page(StatusCode::OK, &mfa_form(state, None))
}

/// `POST /u/mfa-otp-challenge?state=...`: checks the one-time code.
pub async fn mfa_submit(
    State(s): State<Arc<Shared>>,
    Query(q): Query<HashMap<String, String>>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let Some(form) = parse_form(&headers, &body) else {
        return (StatusCode::BAD_REQUEST, "Expected a form body").into_response();
    };
    let state = q.get("state").map(String::as_str).unwrap_or("");
    let expected = lock(&s.credentials).mfa_code.clone();
    let mut auth = lock(&s.auth);
    let password_ok = auth.transactions.get(state).is_some_and(|t| t.password_ok);
    if !password_ok || form.get("state").map(String::as_str) != Some(state) {
        return (StatusCode::BAD_REQUEST, "Unknown or expired transaction").into_response();
    }
    let given = form.get("code").map(|c| c.trim());
    if expected.is_none() || given != expected.as_deref() {
        return html_page(
            StatusCode::BAD_REQUEST,
            &mfa_form(state, Some("The code you entered is invalid.")),
        );
    }
    authenticated(&s, &mut auth, state)
}

/// The 15 fields of the `/usernamepassword/login` body (spec §3.4).
const ULP_FIELDS: &[&str] = &[
    "client_id",
    "redirect_uri",
    "tenant",
    "response_type",
    "scope",
    "audience",
    "_csrf",
    "state",
    "_intstate",
    "nonce",
    "username",
    "password",
    "connection",
    "code_challenge",
    "code_challenge_method",
];

/// `POST /usernamepassword/login`: checks the transaction, CSRF token and credentials, and
/// answers the hidden form that posts the signed result to `/login/callback`.
pub async fn usernamepassword_login(
    State(s): State<Arc<Shared>>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    s.log.note_login();
    if let Some(refusal) = login_fault(&s, LoginShape::UniversalLogin) {
        return refusal;
    }
    let is_json = headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.starts_with("application/json"));
    let parsed: Option<serde_json::Map<String, Value>> =
        serde_json::from_slice(&body).ok().filter(|_| is_json);
    let Some(b) = parsed else {
        return ulp_error(
            StatusCode::BAD_REQUEST,
            "BadRequestError",
            "invalid_body",
            "Expected a JSON body.",
        );
    };
    for f in ULP_FIELDS {
        if !b.get(*f).is_some_and(Value::is_string) {
            return ulp_error(
                StatusCode::BAD_REQUEST,
                "BadRequestError",
                "invalid_request",
                &format!("Missing or non-string field {f}."),
            );
        }
    }
    let get = |k: &str| b.get(k).and_then(Value::as_str).unwrap_or("");
    let mut auth = lock(&s.auth);
    let state = get("state").to_owned();
    let Some(txn) = auth.transactions.get(&state) else {
        return ulp_error(
            StatusCode::FORBIDDEN,
            "AnomalyDetected",
            "invalid_state",
            "Invalid state.",
        );
    };
    let cookie_csrf = cookie(&headers, "_csrf");
    let csrf_ok = txn.csrf.as_deref().is_some_and(|c| c == get("_csrf"))
        && cookie_csrf.as_deref() == Some(get("_csrf"));
    if !csrf_ok {
        return ulp_error(
            StatusCode::FORBIDDEN,
            "ForbiddenError",
            "invalid_csrf",
            "Invalid CSRF token.",
        );
    }
    let checks: [(&str, &str); 10] = [
        ("client_id", &txn.client_id),
        ("redirect_uri", &txn.redirect_uri),
        ("tenant", TENANT),
        ("response_type", "code"),
        ("scope", &txn.scope),
        ("audience", AUDIENCE),
        ("_intstate", "deprecated"),
        ("connection", CONNECTION),
        ("code_challenge", &txn.code_challenge),
        ("code_challenge_method", "S256"),
    ];
    if let Some((field, _)) = checks.iter().find(|(k, want)| get(k) != *want) {
        return ulp_error(
            StatusCode::BAD_REQUEST,
            "BadRequestError",
            "invalid_request",
            &format!("Unexpected value for {field}."),
        );
    }
    if txn.nonce.as_deref().is_some_and(|n| n != get("nonce")) {
        return ulp_error(
            StatusCode::BAD_REQUEST,
            "BadRequestError",
            "invalid_request",
            "Nonce mismatch.",
        );
    }
    let nonce = txn.nonce.clone().unwrap_or_default();
    let scope = txn.scope.clone();
    if !credentials_match(&s, get("username"), get("password")) {
        return ulp_error(
            StatusCode::BAD_REQUEST,
            "ValidationError",
            "invalid_user_password",
            "Wrong email or password.",
        );
    }
    let wresult = auth.jwt_like(json!({"state": state, "sub": "fake"}));
    auth.handed_out.push(wresult.clone());
    auth.wresults.insert(wresult.clone(), state.clone());
    drop(auth);
    let wctx = json!({
        "strategy": "auth0",
        "auth0Client": "",
        "tenant": TENANT,
        "connection": CONNECTION,
        "client_id": WEB_CLIENT_ID,
        "response_type": "code",
        "response_mode": "query",
        "scope": scope,
        "protocol": "oauth2",
        "redirect_uri": REDIRECT_URI,
        "state": state,
        "nonce": nonce,
        "sid": "fake-session",
        "audience": AUDIENCE,
        "realm": CONNECTION,
    });
    let html = format!(
        "<form method=\"post\" name=\"hiddenform\" action=\"{base}/login/callback\">\n\
         \x20   <input type=\"hidden\" name=\"wa\" value=\"wsignin1.0\">\n\
         \x20   <input type=\"hidden\" \n             name=\"wresult\" \n             value=\"{wresult}\">\n\
         \x20   <input type=\"hidden\" name=\"wctx\" value=\"{wctx}\">\n\
         \x20   <noscript>\n        <p>\n            Script is disabled. Click Submit to continue.\n        </p><input type=\"submit\" value=\"Submit\">\n    </noscript>\n\
         </form>",
        base = s.base_url,
        wctx = html_escape(&wctx.to_string()),
    );
    (StatusCode::OK, [(header::CONTENT_TYPE, "text/html")], html).into_response()
}

fn parse_form(headers: &HeaderMap, body: &[u8]) -> Option<HashMap<String, String>> {
    let ct = headers.get(header::CONTENT_TYPE)?.to_str().ok()?;
    ct.starts_with("application/x-www-form-urlencoded")
        .then(|| url::form_urlencoded::parse(body).into_owned().collect())
}

/// `POST /login/callback`: accepts the hidden form, opens the Auth0 session and continues
/// the authorize transaction.
pub async fn login_callback(
    State(s): State<Arc<Shared>>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let Some(form) = parse_form(&headers, &body) else {
        return (StatusCode::BAD_REQUEST, "Expected a form body").into_response();
    };
    let get = |k: &str| form.get(k).map(String::as_str).unwrap_or("");
    if get("wa") != "wsignin1.0" {
        return (StatusCode::BAD_REQUEST, "Invalid wa").into_response();
    }
    let mut auth = lock(&s.auth);
    let Some(state) = auth.wresults.remove(get("wresult")) else {
        return (StatusCode::BAD_REQUEST, "Invalid or reused wresult").into_response();
    };
    // wctx arrives HTML-decoded only if the client decoded entities; the state inside must
    // match the transaction.
    let wctx_state = serde_json::from_str::<Value>(get("wctx"))
        .ok()
        .and_then(|v| v["state"].as_str().map(str::to_owned));
    if wctx_state.as_deref() != Some(state.as_str()) {
        return (StatusCode::BAD_REQUEST, "Invalid wctx").into_response();
    }
    let sid = auth.random(24);
    auth.handed_out.push(sid.clone());
    let Some(txn) = auth.transactions.get_mut(&state) else {
        return (StatusCode::BAD_REQUEST, "Unknown transaction").into_response();
    };
    txn.authenticated = true;
    txn.session = Some(sid.clone());
    drop(auth);
    let mut resp = redirect(&format!(
        "{}/authorize/resume?{}",
        s.base_url,
        query_string(&[("state", &state)])
    ));
    if let Ok(v) = HeaderValue::from_str(&format!("auth0={sid}; Path=/; HttpOnly")) {
        resp.headers_mut().append(header::SET_COOKIE, v);
    }
    resp
}

/// `GET /authorize/resume`: needs the session cookie from `/login/callback`; redirects to
/// the redirect URI with a single-use authorization code and the client's own state.
pub async fn authorize_resume(
    State(s): State<Arc<Shared>>,
    headers: HeaderMap,
    Query(q): Query<HashMap<String, String>>,
) -> Response {
    let state = q.get("state").cloned().unwrap_or_default();
    let session = cookie(&headers, "auth0");
    let mut auth = lock(&s.auth);
    let ok = auth
        .transactions
        .get(&state)
        .is_some_and(|t| t.authenticated && t.session.is_some() && t.session == session);
    if !ok {
        return oauth_error(
            StatusCode::FORBIDDEN,
            "access_denied",
            "Invalid session or state.",
        );
    }
    let Some(txn) = auth.transactions.remove(&state) else {
        return oauth_error(StatusCode::FORBIDDEN, "access_denied", "Invalid state.");
    };
    let code = auth.random(24);
    auth.handed_out.push(code.clone());
    auth.codes.insert(
        code.clone(),
        CodeGrant {
            client_id: txn.client_id,
            redirect_uri: txn.redirect_uri.clone(),
            code_challenge: txn.code_challenge,
            scope: txn.scope,
            expires_at: Instant::now() + CODE_TTL,
        },
    );
    drop(auth);
    let mut pairs = vec![("code", code.as_str())];
    if let Some(st) = txn.client_state.as_deref() {
        pairs.push(("state", st));
    }
    redirect(&format!("{}?{}", txn.redirect_uri, query_string(&pairs)))
}

/// `POST /oauth/token`: the three grants. Accepts JSON or form bodies.
pub async fn token(State(s): State<Arc<Shared>>, headers: HeaderMap, body: Bytes) -> Response {
    let ct = headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("");
    let params: Option<HashMap<String, String>> = if ct.starts_with("application/json") {
        serde_json::from_slice::<serde_json::Map<String, Value>>(&body)
            .ok()
            .map(|m| {
                m.into_iter()
                    .filter_map(|(k, v)| v.as_str().map(|v| (k, v.to_owned())))
                    .collect()
            })
    } else {
        parse_form(&headers, &body)
    };
    let Some(p) = params else {
        return oauth_error(
            StatusCode::BAD_REQUEST,
            "invalid_request",
            "Unsupported body.",
        );
    };
    let get = |k: &str| p.get(k).map(String::as_str).unwrap_or("");
    match get("grant_type") {
        "authorization_code" => code_grant(&s, &p),
        "refresh_token" => refresh_grant(&s, get("client_id"), get("refresh_token")),
        "password" => password_grant(&s, &p),
        _ => oauth_error(
            StatusCode::FORBIDDEN,
            "unsupported_grant_type",
            "Unsupported grant type.",
        ),
    }
}

fn code_grant(s: &Shared, p: &HashMap<String, String>) -> Response {
    let get = |k: &str| p.get(k).map(String::as_str).unwrap_or("");
    let mut auth = lock(&s.auth);
    // Codes are single use: any attempt consumes it, as at Auth0.
    let Some(grant) = auth.codes.remove(get("code")) else {
        return oauth_error(
            StatusCode::FORBIDDEN,
            "invalid_grant",
            "Invalid authorization code",
        );
    };
    if grant.expires_at <= Instant::now() {
        return oauth_error(
            StatusCode::FORBIDDEN,
            "invalid_grant",
            "Invalid authorization code",
        );
    }
    if get("client_id") != grant.client_id {
        return oauth_error(
            StatusCode::FORBIDDEN,
            "invalid_grant",
            "Invalid authorization code",
        );
    }
    if get("redirect_uri") != grant.redirect_uri {
        return oauth_error(
            StatusCode::FORBIDDEN,
            "invalid_grant",
            "Invalid redirect_uri for this authorization code.",
        );
    }
    if !pkce_matches(get("code_verifier"), &grant.code_challenge) {
        return oauth_error(
            StatusCode::FORBIDDEN,
            "invalid_grant",
            "Failed to verify code verifier",
        );
    }
    let user_id = lock(&s.credentials).user_id.clone();
    let body = auth.issue(
        &s.base_url,
        &user_id,
        &grant.client_id,
        &grant.scope,
        s.faults.token_ttl_secs(),
    );
    json_response(StatusCode::OK, body)
}

fn refresh_grant(s: &Shared, client_id: &str, token: &str) -> Response {
    s.log.note_refresh();
    let refused = || {
        oauth_error(
            StatusCode::FORBIDDEN,
            "invalid_grant",
            "Unknown or invalid refresh token.",
        )
    };
    if s.faults.refuse_refresh() {
        return refused();
    }
    if s.faults.take_walled_refresh() {
        return (
            StatusCode::FORBIDDEN,
            [(header::CONTENT_TYPE, "text/html; charset=utf-8")],
            "<html><body><h1>Sorry, you have been blocked</h1></body></html>",
        )
            .into_response();
    }
    let mut auth = lock(&s.auth);
    match auth.refresh.get(token) {
        Some(g) if g.client_id == client_id => {}
        _ => return refused(),
    }
    // Rotation: the presented token is spent, a new one comes with the answer.
    let Some(grant) = auth.refresh.remove(token) else {
        return refused();
    };
    let user_id = lock(&s.credentials).user_id.clone();
    let body = auth.issue(
        &s.base_url,
        &user_id,
        &grant.client_id,
        &grant.scope,
        s.faults.token_ttl_secs(),
    );
    json_response(StatusCode::OK, body)
}

fn password_grant(s: &Shared, p: &HashMap<String, String>) -> Response {
    s.log.note_login();
    if let Some(refusal) = login_fault(s, LoginShape::OAuth) {
        return refusal;
    }
    let get = |k: &str| p.get(k).map(String::as_str).unwrap_or("");
    match get("client_id") {
        MOBILE_CLIENT_ID => {}
        WEB_CLIENT_ID => return raw_json(StatusCode::FORBIDDEN, UNAUTHORIZED_CLIENT),
        _ => return oauth_error(StatusCode::UNAUTHORIZED, "access_denied", "Unauthorized"),
    }
    if s.faults.user_blocked() {
        return oauth_error(StatusCode::UNAUTHORIZED, "unauthorized", "user is blocked");
    }
    if !credentials_match(s, get("username"), get("password")) {
        return oauth_error(
            StatusCode::FORBIDDEN,
            "invalid_grant",
            "Wrong email or password.",
        );
    }
    let scope = if get("scope").is_empty() {
        "openid"
    } else {
        get("scope")
    };
    let user_id = lock(&s.credentials).user_id.clone();
    let body = lock(&s.auth).issue(
        &s.base_url,
        &user_id,
        MOBILE_CLIENT_ID,
        scope,
        s.faults.token_ttl_secs(),
    );
    json_response(StatusCode::OK, body)
}

/// `POST /auth/login`: retired since late 2025.
pub async fn legacy_login() -> Response {
    raw_json(StatusCode::FORBIDDEN, LEGACY_LOGIN_RETIRED)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pkce_s256_checks_the_verifier() {
        // Expected value computed independently (Python hashlib + urlsafe_b64encode).
        let verifier = "dBjftJeZ4CVP-mJ92K9qXrKfGyfoeUjDRLKMHbsWLQ";
        let challenge = "M7Fx-T_CZTROcb1YITYY07SM0ABfXfV7w62v3CP5rFI";
        assert!(pkce_matches(verifier, challenge));
        assert!(!pkce_matches("wrong", challenge));
    }

    #[test]
    fn html_escape_uses_numeric_quote() {
        assert_eq!(
            html_escape(r#"{"a":"<b>&"}"#),
            "{&#34;a&#34;:&#34;&lt;b&gt;&amp;&#34;}"
        );
    }

    #[test]
    fn cookie_finds_named_value() {
        let mut h = HeaderMap::new();
        h.insert(
            header::COOKIE,
            HeaderValue::from_static("a=1; _csrf=xyz; b=2"),
        );
        assert_eq!(cookie(&h, "_csrf").as_deref(), Some("xyz"));
        assert_eq!(cookie(&h, "auth0"), None);
    }
}
