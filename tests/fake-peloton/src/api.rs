//! The API host: `/api/...` routes serving the generated world in the real response shapes,
//! behind the bearer-token check that answers the real 401/3020 body.

use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;

use axum::extract::{Path, Query, Request, State};
use axum::http::{header, StatusCode};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use serde_json::{json, Map, Value};

use crate::data::{list_entry, strip_instructor, subsample_graph, NOT_LOGGED_IN};
use crate::faults::{GraphFault, ListKind};
use crate::log::lock;
use crate::Shared;

/// The signed-in user's id, put into request extensions by [`require_token`].
#[derive(Clone)]
pub struct Caller(pub String);

type Q = Query<HashMap<String, String>>;

/// Largest page the fake serves; clients use 100 and call it the maximum (spec §5).
const MAX_LIMIT: usize = 100;
const DEFAULT_LIMIT: usize = 20;

fn json_ok(body: Value) -> Response {
    (
        StatusCode::OK,
        [(header::CONTENT_TYPE, "application/json")],
        body.to_string(),
    )
        .into_response()
}

/// An error in the API's envelope (`status, error_code, subcode, message, details`). Only the
/// 401/3020 body is real; others use the same envelope with `error_code` null.
pub fn api_error(status: StatusCode, message: &str) -> Response {
    (
        status,
        [(header::CONTENT_TYPE, "application/json")],
        json!({"status": status.as_u16(), "error_code": null, "subcode": null, "message": message, "details": null})
            .to_string(),
    )
        .into_response()
}

/// A refusal decided before the response is built; small, unlike `Response`.
struct Refusal(StatusCode, &'static str);

impl IntoResponse for Refusal {
    fn into_response(self) -> Response {
        api_error(self.0, self.1)
    }
}

fn not_logged_in() -> Response {
    (
        StatusCode::UNAUTHORIZED,
        [(header::CONTENT_TYPE, "application/json")],
        NOT_LOGGED_IN.trim_end(),
    )
        .into_response()
}

/// Middleware: a valid unexpired `Authorization: Bearer` token, else 401 with the real
/// "Not logged in" body.
pub async fn require_token(State(s): State<Arc<Shared>>, mut req: Request, next: Next) -> Response {
    let token = req
        .headers()
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer "))
        .map(str::trim);
    let user = token.and_then(|t| lock(&s.auth).user_for(t));
    match user {
        Some(id) => {
            req.extensions_mut().insert(Caller(id));
            next.run(req).await
        }
        None => not_logged_in(),
    }
}

struct Paging {
    page: usize,
    limit: usize,
}

fn paging(q: &HashMap<String, String>) -> Result<Paging, Refusal> {
    let num = |k: &str, default: usize| match q.get(k) {
        None => Ok(default),
        Some(v) => v
            .parse::<usize>()
            .map_err(|_| Refusal(StatusCode::BAD_REQUEST, "Request was invalid")),
    };
    Ok(Paging {
        page: num("page", 0)?,
        limit: num("limit", DEFAULT_LIMIT)?.clamp(1, MAX_LIMIT),
    })
}

/// The common envelope members (spec §5) for one page of `total` items.
fn envelope(items: Vec<Value>, p: &Paging, total: usize) -> Map<String, Value> {
    let page_count = total.div_ceil(p.limit);
    let mut m = Map::new();
    m.insert("count".into(), json!(items.len()));
    m.insert("data".into(), Value::Array(items));
    m.insert("limit".into(), json!(p.limit));
    m.insert("page".into(), json!(p.page));
    m.insert("total".into(), json!(total));
    m.insert("page_count".into(), json!(page_count));
    m.insert("show_previous".into(), json!(p.page > 0));
    m.insert("show_next".into(), json!(p.page + 1 < page_count));
    m
}

struct Joins {
    ride: bool,
    instructor: bool,
    user: bool,
}

/// Parses `joins`; the pre-2021 `peloton...` forms and anything unknown are refused like the
/// real API did (400 "Request was invalid").
fn joins(q: &HashMap<String, String>) -> Result<Joins, Refusal> {
    let mut j = Joins {
        ride: false,
        instructor: false,
        user: false,
    };
    for part in q.get("joins").map(String::as_str).unwrap_or("").split(',') {
        match part.trim() {
            "" => {}
            "ride" => j.ride = true,
            "ride.instructor" => j.instructor = true,
            "user" => j.user = true,
            _ => return Err(Refusal(StatusCode::BAD_REQUEST, "Request was invalid")),
        }
    }
    // `ride.instructor` implies the ride itself.
    j.ride |= j.instructor;
    Ok(j)
}

fn caller(req_caller: &Caller) -> &str {
    &req_caller.0
}

/// `GET /api/me`.
pub async fn me(
    State(s): State<Arc<Shared>>,
    axum::Extension(c): axum::Extension<Caller>,
) -> Response {
    let world = lock(&s.world);
    let Some(u) = world.users.iter().find(|u| u.id == c.0) else {
        return api_error(StatusCode::NOT_FOUND, "Not found");
    };
    let email = lock(&s.credentials).email.clone();
    let mut me = s.fixtures.me.clone();
    me["id"] = json!(u.id);
    me["username"] = json!(u.username);
    me["email"] = json!(email);
    me["total_workouts"] = json!(u.workouts.len());
    me["total_following"] = json!(u.total_following);
    me["is_profile_private"] = json!(false);
    json_ok(me)
}

/// `GET /api/user/{id}/workouts`: newest first, paged, with optional joins.
pub async fn user_workouts(
    State(s): State<Arc<Shared>>,
    axum::Extension(c): axum::Extension<Caller>,
    Path(user_id): Path<String>,
    Query(q): Q,
) -> Response {
    let (p, j) = match (paging(&q), joins(&q)) {
        (Ok(p), Ok(j)) => (p, j),
        (Err(e), _) | (_, Err(e)) => return e.into_response(),
    };
    let world = lock(&s.world);
    let Some(user) = world.users.iter().find(|u| u.id == user_id) else {
        return api_error(StatusCode::NOT_FOUND, "User not found");
    };
    if user.private && user.id != caller(&c) {
        return api_error(StatusCode::FORBIDDEN, "This profile is private.");
    }
    if s.faults.list_without_data(ListKind::Workouts) {
        return json_ok(json!({}));
    }
    let mut all: Vec<&crate::data::Workout> = user
        .workouts
        .iter()
        .filter_map(|id| world.workouts.get(id))
        .collect();
    all.sort_by(|a, b| {
        b.created_at()
            .cmp(&a.created_at())
            .then_with(|| b.detail["id"].as_str().cmp(&a.detail["id"].as_str()))
    });
    let total = all.len();
    let start = p.page.saturating_mul(p.limit).min(total);
    let end = (start + p.limit).min(total);
    let mut items: Vec<Value> = all[start..end]
        .iter()
        .map(|w| {
            let mut e = list_entry(&w.detail, j.ride, j.instructor);
            s.faults.mangle_workout(&mut e);
            e
        })
        .collect();
    s.faults.drift_page(ListKind::Workouts, start, &mut items);
    let mut summary = BTreeMap::new();
    for w in &all {
        if let Some(month) = chrono::DateTime::from_timestamp(w.created_at(), 0) {
            *summary
                .entry(month.format("%Y-%m").to_string())
                .or_insert(0u64) += 1;
        }
    }
    let mut body = s.fixtures.page_envelope.clone();
    body.extend(envelope(items, &p, total));
    body.insert("sort_by".into(), json!("-created_at,-pk"));
    let next = all
        .get(end)
        .filter(|_| end < total)
        .map(|w| json!({"workout_id": w.detail["id"], "created_at": w.created_at()}))
        .unwrap_or(Value::Null);
    body.insert("next".into(), next);
    // Newest month first, like the captured page.
    let summary: Map<String, Value> = summary
        .into_iter()
        .rev()
        .map(|(k, v)| (k, json!(v)))
        .collect();
    body.insert("summary".into(), Value::Object(summary));
    json_ok(Value::Object(body))
}

/// Finds a workout the caller may see: 404 when unknown, 403 when its owner is private.
fn visible<'a>(
    world: &'a crate::data::World,
    caller: &str,
    id: &str,
) -> Result<&'a crate::data::Workout, Refusal> {
    let w = world
        .workouts
        .get(id)
        .ok_or(Refusal(StatusCode::NOT_FOUND, "Workout not found"))?;
    let private = world
        .users
        .iter()
        .any(|u| u.id == w.owner && u.private && u.id != caller);
    if private {
        return Err(Refusal(StatusCode::FORBIDDEN, "This profile is private."));
    }
    Ok(w)
}

fn public_profile(u: &crate::data::User, base_url: &str) -> Value {
    json!({
        "id": u.id,
        "username": u.username,
        "image_url": format!("{base_url}{}", u.image_path),
        "location": u.location,
        "is_profile_private": u.private,
        "total_followers": u.total_followers,
        "total_following": u.total_following,
        "total_workouts": if u.private { Value::Null } else { json!(u.workouts.len()) },
    })
}

/// `GET /api/workout/{id}`: the detail, with leaderboard fields.
pub async fn workout(
    State(s): State<Arc<Shared>>,
    axum::Extension(c): axum::Extension<Caller>,
    Path(id): Path<String>,
    Query(q): Q,
) -> Response {
    let j = match joins(&q) {
        Ok(j) => j,
        Err(e) => return e.into_response(),
    };
    let world = lock(&s.world);
    let w = match visible(&world, caller(&c), &id) {
        Ok(w) => w,
        Err(e) => return e.into_response(),
    };
    let mut d = w.detail.clone();
    if let Some(o) = d.as_object_mut() {
        if !j.instructor {
            strip_instructor(o);
        }
        if j.user {
            if let Some(u) = world.users.iter().find(|u| u.id == w.owner) {
                o.insert("user".into(), public_profile(u, &s.base_url));
            }
        }
    }
    s.faults.mangle_workout(&mut d);
    json_ok(d)
}

/// `GET /api/workout/{id}/performance_graph?every_n=N`.
pub async fn performance_graph(
    State(s): State<Arc<Shared>>,
    axum::Extension(c): axum::Extension<Caller>,
    Path(id): Path<String>,
    Query(q): Q,
) -> Response {
    let every_n = match q.get("every_n").map(|v| v.parse::<u64>()) {
        None => None,
        Some(Ok(n)) if n > 0 => Some(n),
        Some(_) => return api_error(StatusCode::BAD_REQUEST, "Request was invalid"),
    };
    let world = lock(&s.world);
    let w = match visible(&world, caller(&c), &id) {
        Ok(w) => w,
        Err(e) => return e.into_response(),
    };
    let t = &s.fixtures.templates[w.template];
    let mut g = t.graph.clone();
    drop(world);
    match s.faults.graph_fault(&id) {
        Some(GraphFault::Missing) => return api_error(StatusCode::NOT_FOUND, "Not found"),
        Some(GraphFault::Unavailable) => {
            return api_error(StatusCode::SERVICE_UNAVAILABLE, "Service Unavailable")
        }
        Some(GraphFault::Drifted) => {
            if let Some(o) = g.as_object_mut() {
                o.insert("summaries".into(), json!("unexpected"));
            }
        }
        None => {}
    }
    if let Some(n) = every_n {
        subsample_graph(&mut g, t.step, n);
    }
    if let Some(o) = g.as_object_mut() {
        if o.contains_key("workout_id") {
            o.insert("workout_id".into(), json!(id));
        }
    }
    json_ok(g)
}

/// `GET /api/user/{id}/following`: built from spec §8.1 (no real page exists).
pub async fn following(
    State(s): State<Arc<Shared>>,
    axum::Extension(c): axum::Extension<Caller>,
    Path(user_id): Path<String>,
    Query(q): Q,
) -> Response {
    let p = match paging(&q) {
        Ok(p) => p,
        Err(e) => return e.into_response(),
    };
    let world = lock(&s.world);
    let Some(idx) = world.user_index(&user_id) else {
        return api_error(StatusCode::NOT_FOUND, "User not found");
    };
    let target = &world.users[idx];
    if target.private && target.id != caller(&c) {
        return api_error(StatusCode::FORBIDDEN, "This profile is private.");
    }
    if s.faults.list_without_data(ListKind::Following) {
        return json_ok(json!({}));
    }
    // Only the signed-in user follows anyone in this world.
    let people: Vec<&crate::data::User> = if idx == 0 {
        world.users[1..].iter().collect()
    } else {
        Vec::new()
    };
    let total = people.len();
    let start = p.page.saturating_mul(p.limit).min(total);
    let end = (start + p.limit).min(total);
    let mut items: Vec<Value> = people[start..end]
        .iter()
        .enumerate()
        .map(|(i, u)| {
            let mut e = public_profile(u, &s.base_url);
            if u.private {
                e["total_followers"] = Value::Null;
                e["total_following"] = Value::Null;
            }
            e["authed_user_follows"] = json!(true);
            // Every other friend follows back, so both relationship values appear.
            let back = if (start + i).is_multiple_of(2) {
                "following"
            } else {
                "none"
            };
            e["relationship"] = json!({"me_to_user": "following", "user_to_me": back});
            e["category"] = json!("following");
            e
        })
        .collect();
    s.faults.drift_page(ListKind::Following, start, &mut items);
    let mut body = envelope(items, &p, total);
    body.insert("sort_by".into(), Value::Null);
    body.insert(
        "next".into(),
        if end < total {
            json!({"page": p.page + 1})
        } else {
            Value::Null
        },
    );
    body.insert("total_non_pending_followers".into(), json!(total));
    json_ok(Value::Object(body))
}

/// `GET /api/instructor`: real instructor objects plus generated ones.
pub async fn instructors(State(s): State<Arc<Shared>>, Query(q): Q) -> Response {
    let p = match paging(&q) {
        Ok(p) => p,
        Err(e) => return e.into_response(),
    };
    if s.faults.list_without_data(ListKind::Instructors) {
        return json_ok(json!({}));
    }
    let world = lock(&s.world);
    let total = world.instructors.len();
    let start = p.page.saturating_mul(p.limit).min(total);
    let end = (start + p.limit).min(total);
    let mut items = world.instructors[start..end].to_vec();
    s.faults
        .drift_page(ListKind::Instructors, start, &mut items);
    let mut body = envelope(items, &p, total);
    body.insert("sort_by".into(), Value::Null);
    body.insert(
        "next".into(),
        if end < total {
            json!({"page": p.page + 1})
        } else {
            Value::Null
        },
    );
    json_ok(Value::Object(body))
}

/// `GET /api/instructor/{id}`.
pub async fn instructor(State(s): State<Arc<Shared>>, Path(id): Path<String>) -> Response {
    let world = lock(&s.world);
    match world.instructors.iter().find(|i| i["id"] == id.as_str()) {
        Some(i) => json_ok(i.clone()),
        None => api_error(StatusCode::NOT_FOUND, "Instructor not found"),
    }
}

/// `GET /api/ride/{id}/details`: the captured class details with this class's `ride`.
pub async fn ride_details(State(s): State<Arc<Shared>>, Path(id): Path<String>) -> Response {
    let ride = s
        .fixtures
        .templates
        .iter()
        .map(|t| &t.detail["ride"])
        .find(|r| r["id"] == id.as_str() && id.chars().any(|c| c != '0'));
    match ride {
        Some(r) => {
            let mut d = s.fixtures.ride_details.clone();
            d["ride"] = r.clone();
            json_ok(d)
        }
        None => api_error(StatusCode::NOT_FOUND, "Ride not found"),
    }
}

/// `GET /cdn/{*path}`: the fake's stand-in for Peloton's image host
/// (`https://s3.amazonaws.com/peloton-profile-images/...`), on the same port:
/// a small PNG whose colour follows the path, so each friend looks different.
/// No token needed and no API faults, like the real CDN; 404 for other paths.
pub async fn cdn_image(Path(path): Path<String>) -> Response {
    if !path.starts_with("peloton-profile-images/") {
        return (StatusCode::NOT_FOUND, "Not found").into_response();
    }
    let digest = <sha2::Sha256 as sha2::Digest>::digest(path.as_bytes());
    let rgb = [digest[0], digest[1], digest[2]];
    ([(header::CONTENT_TYPE, "image/png")], solid_png(16, rgb)).into_response()
}

/// A `size` x `size` PNG of one colour.
fn solid_png(size: u32, rgb: [u8; 3]) -> Vec<u8> {
    let mut out = Vec::new();
    let mut enc = png::Encoder::new(&mut out, size, size);
    enc.set_color(png::ColorType::Rgb);
    enc.set_depth(png::BitDepth::Eight);
    let data: Vec<u8> = rgb
        .iter()
        .copied()
        .cycle()
        .take((size * size * 3) as usize)
        .collect();
    let mut w = enc.write_header().expect("PNG header into memory");
    w.write_image_data(&data).expect("PNG data into memory");
    drop(w);
    out
}
