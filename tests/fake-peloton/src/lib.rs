//! A faithful, stateful fake of Peloton's auth host and API host on one local port, for
//! tests, demos and benchmarks. It never imports the core crate: it is built from the spec
//! (`docs/peloton-api.md`) and serves the real fixtures, so a misreading of the API in
//! core cannot hide behind shared types.
//!
//! Start one with [`FakePeloton::start`], point both `PELOTON_AUTH_URL` and
//! `PELOTON_API_URL` at [`FakePeloton::url`], switch faults through [`FakePeloton::faults`]
//! and count requests with [`FakePeloton::requests`]. Unknown routes answer 404 and are
//! logged as unexpected, so tests can fail loudly on them.

#![warn(missing_docs)]

mod api;
mod auth;
mod data;
mod faults;
mod log;

use std::net::SocketAddr;
use std::sync::{Arc, Mutex, OnceLock};

use axum::extract::{ConnectInfo, Request, State};
use axum::http::{header, Method, StatusCode};
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use serde_json::{json, Value};
use tokio::net::TcpListener;
use tokio::sync::oneshot;

use crate::auth::AuthStore;
pub use crate::auth::{AUDIENCE, MOBILE_CLIENT_ID, REDIRECT_URI, WEB_CLIENT_ID};
use crate::data::{Fixtures, NewFriend, World};
use crate::faults::Injected;
pub use crate::faults::{EntryDrift, FaultSettings, Faults, GraphFault, ListKind};
pub use crate::log::Logged;
use crate::log::{lock, RequestLog};
use testkit::conn::{KillSwitch, KillableListener};

/// What the fake is started with.
#[derive(Clone, Debug)]
pub struct Config {
    /// E-mail accepted at login (test-only value).
    pub email: String,
    /// Password accepted at login (test-only value).
    pub password: String,
    /// The signed-in user's 32-hex id.
    pub user_id: String,
    /// The signed-in user's username (also accepted at login).
    pub username: String,
    /// Number of the user's own workouts to generate.
    pub workouts: usize,
    /// The people the user follows.
    pub friends: Vec<FriendSpec>,
    /// Minimum number of instructors served (real fixture ones first, then generated).
    pub instructors: usize,
    /// Seed of every random choice (ids, gaps, fault draws).
    pub seed: u64,
    /// Access token lifetime in seconds (`expires_in`).
    pub token_ttl_secs: u64,
}

impl Default for Config {
    fn default() -> Self {
        Self {
            email: "rider@example.com".into(),
            password: "correct horse".into(),
            user_id: "5f3c1b9a7e2d4c6b8a0f1e3d5c7b9a1f".into(),
            username: "fake_rider".into(),
            workouts: 10,
            friends: vec![
                FriendSpec::public("PowerZonePal", 5),
                FriendSpec::public("TreadBuddy", 3),
            ],
            instructors: 20,
            seed: 1,
            token_ttl_secs: 172_800,
        }
    }
}

/// One person the user follows.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct FriendSpec {
    /// Username.
    pub username: String,
    /// Private profile: their workouts answer 403.
    pub private: bool,
    /// Number of their workouts to generate.
    pub workouts: usize,
}

impl FriendSpec {
    /// A public friend with `workouts` workouts.
    pub fn public(username: &str, workouts: usize) -> Self {
        Self {
            username: username.into(),
            private: false,
            workouts,
        }
    }

    /// A private friend with `workouts` workouts (which the user cannot see).
    pub fn private(username: &str, workouts: usize) -> Self {
        Self {
            username: username.into(),
            private: true,
            workouts,
        }
    }
}

/// Accepted credentials; behind a mutex so tests can change the password.
pub(crate) struct Credentials {
    pub email: String,
    pub password: String,
    pub username: String,
    pub user_id: String,
    /// The one-time code the sign-in page asks for after the password; `None`: no MFA.
    pub mfa_code: Option<String>,
}

/// State shared by every handler.
pub(crate) struct Shared {
    pub base_url: String,
    pub fixtures: &'static Fixtures,
    pub credentials: Mutex<Credentials>,
    pub world: Mutex<World>,
    pub auth: Mutex<AuthStore>,
    pub faults: Faults,
    pub log: RequestLog,
}

/// Fixtures are parsed once per process: tests start many fakes.
fn fixtures() -> &'static Fixtures {
    static FX: OnceLock<Fixtures> = OnceLock::new();
    FX.get_or_init(Fixtures::load)
}

/// Marks a response as "no route matched" for the request log.
#[derive(Clone, Copy)]
struct Unexpected;

/// A running fake server. Dropping it shuts the server down.
pub struct FakePeloton {
    shared: Arc<Shared>,
    addr: SocketAddr,
    shutdown: Option<oneshot::Sender<()>>,
}

impl FakePeloton {
    /// Starts a fake on `127.0.0.1` with a free port.
    pub async fn start(config: Config) -> FakePeloton {
        let listener = TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind 127.0.0.1:0 for the fake Peloton server");
        Self::serve(config, listener)
    }

    /// Serves on an already bound listener (the binary binds the port it was asked for).
    /// Must be called inside a Tokio runtime.
    pub fn serve(config: Config, listener: TcpListener) -> FakePeloton {
        let addr = listener.local_addr().expect("listener has a local address");
        let base_url = format!("http://{addr}");
        let fx = fixtures();
        let friends: Vec<NewFriend<'_>> = config
            .friends
            .iter()
            .map(|f| NewFriend {
                username: &f.username,
                private: f.private,
                workouts: f.workouts,
            })
            .collect();
        let world = World::new(
            fx,
            config.seed,
            &config.user_id,
            &config.username,
            config.workouts,
            &friends,
            config.instructors,
        );
        let shared = Arc::new(Shared {
            base_url,
            fixtures: fx,
            credentials: Mutex::new(Credentials {
                email: config.email,
                password: config.password,
                username: config.username,
                user_id: config.user_id,
                mfa_code: None,
            }),
            world: Mutex::new(world),
            auth: Mutex::new(AuthStore::new(config.seed)),
            faults: Faults::new(config.seed, config.token_ttl_secs),
            log: RequestLog::default(),
        });
        let app = router(shared.clone());
        let (tx, rx) = oneshot::channel::<()>();
        let server = axum::serve(
            KillableListener(listener),
            app.into_make_service_with_connect_info::<KillSwitch>(),
        )
        .with_graceful_shutdown(async {
            let _ = rx.await;
        });
        tokio::spawn(async move {
            let _ = server.await;
        });
        FakePeloton {
            shared,
            addr,
            shutdown: Some(tx),
        }
    }

    /// Base URL of both hosts, `http://127.0.0.1:PORT` (no trailing slash).
    pub fn url(&self) -> String {
        self.shared.base_url.clone()
    }

    /// The bound address.
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// The live fault switches.
    pub fn faults(&self) -> &Faults {
        &self.shared.faults
    }

    /// The signed-in user's id.
    pub fn user_id(&self) -> String {
        lock(&self.shared.credentials).user_id.clone()
    }

    /// The accepted e-mail.
    pub fn email(&self) -> String {
        lock(&self.shared.credentials).email.clone()
    }

    /// The accepted password (test-only value).
    pub fn password(&self) -> String {
        lock(&self.shared.credentials).password.clone()
    }

    /// Changes the accepted password (e.g. Peloton reset it); issued tokens stay valid.
    pub fn set_password(&self, password: &str) {
        lock(&self.shared.credentials).password = password.to_owned();
    }

    /// Makes the sign-in page ask for this one-time code after the password (MFA);
    /// `None` switches the second step off. The password grant and method A's JSON
    /// login are not affected.
    pub fn set_mfa_code(&self, code: Option<&str>) {
        lock(&self.shared.credentials).mfa_code = code.map(str::to_owned);
    }

    /// Adds `n` workouts to the user, all newer than every existing one; ids newest first.
    pub fn add_workouts(&self, n: usize) -> Vec<String> {
        lock(&self.shared.world).add_workouts(self.shared.fixtures, 0, n)
    }

    /// Adds `n` newer workouts to the friend with this id; empty if there is no such friend.
    pub fn add_friend_workouts(&self, friend_id: &str, n: usize) -> Vec<String> {
        let mut world = lock(&self.shared.world);
        match world.user_index(friend_id) {
            Some(i) if i > 0 => world.add_workouts(self.shared.fixtures, i, n),
            _ => Vec::new(),
        }
    }

    /// The user's workout ids, newest first.
    pub fn workout_ids(&self) -> Vec<String> {
        self.user_workout_ids(&self.user_id())
    }

    /// Workout ids of any user (the user or a friend), newest first.
    pub fn user_workout_ids(&self, user_id: &str) -> Vec<String> {
        let world = lock(&self.shared.world);
        world
            .users
            .iter()
            .find(|u| u.id == user_id)
            .map(|u| u.workouts.clone())
            .unwrap_or_default()
    }

    /// Friends' user ids, in following-list order.
    pub fn friend_ids(&self) -> Vec<String> {
        lock(&self.shared.world).users[1..]
            .iter()
            .map(|u| u.id.clone())
            .collect()
    }

    /// The id of the friend with this username.
    pub fn friend_id(&self, username: &str) -> Option<String> {
        lock(&self.shared.world).users[1..]
            .iter()
            .find(|u| u.username == username)
            .map(|u| u.id.clone())
    }

    /// Replaces all friends (and their workouts).
    pub fn set_friends(&self, friends: Vec<FriendSpec>) {
        let specs: Vec<NewFriend<'_>> = friends
            .iter()
            .map(|f| NewFriend {
                username: &f.username,
                private: f.private,
                workouts: f.workouts,
            })
            .collect();
        lock(&self.shared.world).set_friends(self.shared.fixtures, &specs);
    }

    /// Makes a friend's profile private or public; false if there is no such friend.
    pub fn set_friend_private(&self, friend_id: &str, private: bool) -> bool {
        let mut world = lock(&self.shared.world);
        match world.users.iter_mut().skip(1).find(|u| u.id == friend_id) {
            Some(u) => {
                u.private = private;
                true
            }
            None => false,
        }
    }

    /// The stored detail JSON of a workout (as `GET /api/workout/{id}?joins=ride,ride.instructor`
    /// serves it before field faults).
    pub fn workout_json(&self, id: &str) -> Option<Value> {
        lock(&self.shared.world)
            .workouts
            .get(id)
            .map(|w| w.detail.clone())
    }

    /// Changes a stored workout (e.g. its `total_work`); false if it does not exist. Keep
    /// `id` and `user_id` unchanged.
    pub fn update_workout(&self, id: &str, change: impl FnOnce(&mut Value)) -> bool {
        match lock(&self.shared.world).workouts.get_mut(id) {
            Some(w) => {
                change(&mut w.detail);
                true
            }
            None => false,
        }
    }

    /// Deletes a workout (the member deleted it); false if it does not exist.
    pub fn remove_workout(&self, id: &str) -> bool {
        let mut world = lock(&self.shared.world);
        let Some(w) = world.workouts.remove(id) else {
            return false;
        };
        if let Some(u) = world.users.iter_mut().find(|u| u.id == w.owner) {
            u.workouts.retain(|x| x != id);
        }
        true
    }

    /// Ids of every instructor served.
    pub fn instructor_ids(&self) -> Vec<String> {
        lock(&self.shared.world)
            .instructors
            .iter()
            .filter_map(|i| i["id"].as_str().map(str::to_owned))
            .collect()
    }

    /// Expires every access token issued so far (the next API call answers 401/3020);
    /// refresh tokens stay valid.
    pub fn expire_tokens(&self) {
        lock(&self.shared.auth).expire_access_tokens();
    }

    /// Revokes every access and refresh token.
    pub fn revoke_tokens(&self) {
        lock(&self.shared.auth).revoke_all();
    }

    /// Every access, id and refresh token this fake ever issued (revoked
    /// ones too): what a secrets audit must never find on disk or on screen.
    pub fn issued_tokens(&self) -> Vec<String> {
        lock(&self.shared.auth).issued()
    }

    /// Every secret this fake ever handed out: the tokens of
    /// [`FakePeloton::issued_tokens`], plus each authorization code, `_csrf`
    /// value, `auth0` session cookie value and signed `wresult`.
    pub fn issued_secrets(&self) -> Vec<String> {
        let auth = lock(&self.shared.auth);
        let mut all = auth.issued();
        all.extend(auth.handed_out());
        all
    }

    /// Every logged request, oldest first.
    pub fn requests(&self) -> Vec<Logged> {
        self.shared.log.entries()
    }

    /// Number of logged requests matching `pred`.
    pub fn count(&self, pred: impl Fn(&Logged) -> bool) -> usize {
        self.shared.log.count(pred)
    }

    /// Number of logged `/api/...` requests.
    pub fn api_request_count(&self) -> usize {
        self.count(|r| r.path.starts_with("/api/"))
    }

    /// Full logins attempted: `POST /usernamepassword/login` plus password grants.
    pub fn login_count(&self) -> usize {
        self.shared.log.logins()
    }

    /// Refresh-token grants attempted.
    pub fn refresh_count(&self) -> usize {
        self.shared.log.refreshes()
    }

    /// Requests no route matched; a correct client makes none.
    pub fn unexpected_requests(&self) -> Vec<Logged> {
        self.requests()
            .into_iter()
            .filter(|r| r.unexpected)
            .collect()
    }

    /// Forgets the request log and zeroes the login/refresh counters.
    pub fn reset_log(&self) {
        self.shared.log.reset();
    }
}

impl Drop for FakePeloton {
    fn drop(&mut self) {
        if let Some(tx) = self.shutdown.take() {
            let _ = tx.send(());
        }
    }
}

fn router(shared: Arc<Shared>) -> Router {
    let api_routes = Router::new()
        .route("/api/me", get(api::me))
        .route("/api/user/{id}/workouts", get(api::user_workouts))
        .route("/api/user/{id}/following", get(api::following))
        .route("/api/workout/{id}", get(api::workout))
        .route(
            "/api/workout/{id}/performance_graph",
            get(api::performance_graph),
        )
        .route("/api/instructor", get(api::instructors))
        .route("/api/instructor/{id}", get(api::instructor))
        .route("/api/ride/{id}/details", get(api::ride_details))
        .route_layer(middleware::from_fn_with_state(
            shared.clone(),
            api::require_token,
        ));
    Router::new()
        .route("/authorize", get(auth::authorize))
        .route("/login", get(auth::login_page))
        .route("/u/login", post(auth::form_login))
        .route(
            "/u/mfa-otp-challenge",
            get(auth::mfa_page).post(auth::mfa_submit),
        )
        .route(
            "/usernamepassword/login",
            post(auth::usernamepassword_login),
        )
        .route("/login/callback", post(auth::login_callback))
        .route("/authorize/resume", get(auth::authorize_resume))
        .route("/oauth/token", post(auth::token))
        .route("/auth/login", post(auth::legacy_login))
        .route("/cdn/{*path}", get(api::cdn_image))
        .route(
            "/__control/faults",
            get(control_get_faults).post(control_set_faults),
        )
        .route("/__control/requests", get(control_requests))
        .route("/__control/reset_log", post(control_reset_log))
        .route("/__control/workouts", post(control_add_workouts))
        .route("/__control/expire_tokens", post(control_expire_tokens))
        .route("/__control/revoke_tokens", post(control_revoke_tokens))
        .route("/__control/mfa", post(control_mfa))
        .merge(api_routes)
        .fallback(unexpected)
        .method_not_allowed_fallback(unexpected)
        .layer(middleware::from_fn_with_state(
            shared.clone(),
            faults_and_log,
        ))
        .with_state(shared)
}

async fn unexpected() -> Response {
    let mut resp = api::api_error(StatusCode::NOT_FOUND, "Not found");
    resp.extensions_mut().insert(Unexpected);
    resp
}

/// Outermost layer: latency, injected faults (on `/api` and `/oauth` only) and the log.
async fn faults_and_log(State(s): State<Arc<Shared>>, req: Request, next: Next) -> Response {
    let path = req.uri().path().to_owned();
    if path.starts_with("/__control/") {
        return next.run(req).await;
    }
    let method = req.method().clone();
    let query = req.uri().query().unwrap_or("").to_owned();
    let at = tokio::time::Instant::now();
    let latency = s.faults.latency();
    if !latency.is_zero() {
        tokio::time::sleep(latency).await;
    }
    let faultable = path.starts_with("/api/") || path.starts_with("/oauth/");
    let injected = if faultable {
        s.faults.draw()
    } else {
        Injected::None
    };
    let is_api = path.starts_with("/api/");
    let resp = match injected {
        Injected::None => next.run(req).await,
        Injected::Drop => {
            if let Some(ConnectInfo(conn)) = req.extensions().get::<ConnectInfo<KillSwitch>>() {
                conn.fire();
            }
            log_request(&s, &method, path, query, at, 0, false);
            // Never delivered: the killed connection fails the write and closes.
            return StatusCode::INTERNAL_SERVER_ERROR.into_response();
        }
        Injected::TooMany(retry_after) => {
            let body = if is_api {
                json!({"status": 429, "error_code": null, "subcode": null, "message": "Too Many Requests", "details": null})
            } else {
                json!({"error": "too_many_requests", "error_description": "Too many requests"})
            };
            let mut resp = (
                StatusCode::TOO_MANY_REQUESTS,
                [(header::CONTENT_TYPE, "application/json")],
                body.to_string(),
            )
                .into_response();
            if let Some(secs) = retry_after {
                resp.headers_mut().insert(
                    header::RETRY_AFTER,
                    secs.to_string().parse().expect("digits"),
                );
            }
            resp
        }
        Injected::ServerError(code) => {
            let status = StatusCode::from_u16(code).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
            if code == 500 {
                api::api_error(status, "Internal server error")
            } else {
                // Gateway errors come from the CDN in front, as HTML.
                let html = format!("<html><head><title>{code}</title></head><body><center><h1>{code}</h1></center><hr><center>cloudflare</center></body></html>");
                (status, [(header::CONTENT_TYPE, "text/html")], html).into_response()
            }
        }
    };
    let unexpected = resp.extensions().get::<Unexpected>().is_some();
    log_request(
        &s,
        &method,
        path,
        query,
        at,
        resp.status().as_u16(),
        unexpected,
    );
    resp
}

fn log_request(
    s: &Shared,
    method: &Method,
    path: String,
    query: String,
    at: tokio::time::Instant,
    status: u16,
    unexpected: bool,
) {
    s.log.push(Logged {
        method: method.to_string(),
        path,
        query,
        status,
        at,
        unexpected,
    });
}

async fn control_get_faults(State(s): State<Arc<Shared>>) -> Json<FaultSettings> {
    Json(s.faults.snapshot())
}

async fn control_set_faults(
    State(s): State<Arc<Shared>>,
    Json(settings): Json<FaultSettings>,
) -> Json<FaultSettings> {
    s.faults.apply(&settings);
    Json(s.faults.snapshot())
}

async fn control_requests(State(s): State<Arc<Shared>>) -> Json<Value> {
    let entries: Vec<Value> = s
        .log
        .entries()
        .into_iter()
        .map(|r| {
            json!({"method": r.method, "path": r.path, "query": r.query, "status": r.status, "unexpected": r.unexpected})
        })
        .collect();
    Json(json!({"requests": entries, "logins": s.log.logins(), "refreshes": s.log.refreshes()}))
}

async fn control_reset_log(State(s): State<Arc<Shared>>) -> StatusCode {
    s.log.reset();
    StatusCode::NO_CONTENT
}

#[derive(serde::Deserialize)]
struct AddWorkouts {
    add: usize,
}

async fn control_add_workouts(
    State(s): State<Arc<Shared>>,
    Json(body): Json<AddWorkouts>,
) -> Json<Value> {
    let ids = lock(&s.world).add_workouts(s.fixtures, 0, body.add);
    Json(json!({"ids": ids}))
}

async fn control_expire_tokens(State(s): State<Arc<Shared>>) -> StatusCode {
    lock(&s.auth).expire_access_tokens();
    StatusCode::NO_CONTENT
}

async fn control_revoke_tokens(State(s): State<Arc<Shared>>) -> StatusCode {
    lock(&s.auth).revoke_all();
    StatusCode::NO_CONTENT
}

/// Body of `POST /__control/mfa`: the one-time code the sign-in page asks for, or null.
#[derive(serde::Deserialize)]
struct MfaSwitch {
    code: Option<String>,
}

async fn control_mfa(State(s): State<Arc<Shared>>, Json(body): Json<MfaSwitch>) -> StatusCode {
    lock(&s.credentials).mfa_code = body.code;
    StatusCode::NO_CONTENT
}
