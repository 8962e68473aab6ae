//! The fake's data: real fixtures (compiled in) turned into workout templates and
//! instructors, and the generated world (the user, friends, their workouts) built from them.
//!
//! Workouts are clones of the fixture workouts with new ids and shifted times, so every
//! served body has the real shape, including keys a client must ignore.

use std::collections::HashMap;

use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use serde_json::{json, Map, Value};

macro_rules! fixture {
    ($name:literal) => {
        include_str!(concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/../fixtures/peloton/",
            $name
        ))
    };
}

/// Body of the 401 every API route answers without a usable token.
pub const NOT_LOGGED_IN: &str = fixture!("error_401_3020_not_logged_in.json");
/// Body of the 403 the retired `POST /auth/login` answers.
pub const LEGACY_LOGIN_RETIRED: &str = fixture!("error_403_legacy_auth_login_retired.json");
/// Body Auth0 answers to a password grant with the web client id.
pub const UNAUTHORIZED_CLIENT: &str =
    fixture!("auth0_token_error_unauthorized_client_password_grant.json");
const ME: &str = fixture!("me.json");
const ROWER_PAGE: &str = fixture!("workouts_page_rower_joins_ride.json");

/// (detail, performance graph) fixture pairs, newest-first order of use.
const PAIRS: &[(&str, &str, &str)] = &[
    (
        "cycling_class",
        fixture!("workout_cycling_class.json"),
        fixture!("performance_graph_cycling_class.json"),
    ),
    (
        "cycling_class_2024",
        fixture!("workout_cycling_class_2024.json"),
        fixture!("performance_graph_cycling_class_2024.json"),
    ),
    (
        "tread_running_class",
        fixture!("workout_tread_running_class.json"),
        fixture!("performance_graph_tread_running_class.json"),
    ),
    (
        "cycling_just_ride_2024",
        fixture!("workout_cycling_just_ride_2024.json"),
        fixture!("performance_graph_cycling_just_ride_2024.json"),
    ),
    (
        "strength",
        fixture!("workout_strength.json"),
        fixture!("performance_graph_strength.json"),
    ),
    (
        "cycling_scenic_2024",
        fixture!("workout_cycling_scenic_2024.json"),
        fixture!("performance_graph_cycling_scenic_2024.json"),
    ),
    (
        "outdoor_walking_class_gps",
        fixture!("workout_outdoor_walking_class_gps.json"),
        fixture!("performance_graph_outdoor_walking_class_gps.json"),
    ),
    (
        "meditation",
        fixture!("workout_meditation.json"),
        fixture!("performance_graph_meditation.json"),
    ),
    (
        "cycling_just_ride",
        fixture!("workout_cycling_just_ride.json"),
        fixture!("performance_graph_cycling_just_ride.json"),
    ),
    (
        "running_class_no_metrics",
        fixture!("workout_running_class_no_metrics.json"),
        fixture!("performance_graph_running_class_no_metrics.json"),
    ),
];
const ROWER_GRAPH: &str = fixture!("performance_graph_rower.json");
const RIDE_DETAILS: &str = fixture!("ride_details_cycling_class.json");

/// Keys only the detail endpoint carries (spec §7.1: list entries lack them).
pub const DETAIL_ONLY_KEYS: &[&str] = &[
    "leaderboard_rank",
    "total_leaderboard_users",
    "achievement_templates",
    "ftp_info",
    "device_type_display_name",
    "average_effort_score",
    "total_heart_rate_zone_durations",
    "is_skip_intro_available",
    "is_paused",
    "has_paused",
    "is_pause_available",
    "pause_time_elapsed",
    "pause_time_remaining",
    "pause_time_limit",
    // cyrii42's storage key, kept in the detail only so clients meet an unknown key there.
    "workout_id",
];

/// Newest generated workout starts here (2026-01-01T12:00:00Z); fixed so runs are
/// reproducible and nothing reads the wall clock.
const ANCHOR_START: i64 = 1_767_268_800;

/// One workout shape taken from the fixtures.
pub struct Template {
    /// Fixture name, e.g. `cycling_class`.
    // Read by the unit tests and handy in a debugger; no handler needs it.
    #[allow(dead_code)]
    pub name: &'static str,
    /// Normalised detail body: `ride.instructor` joined where the class has an instructor,
    /// no `peloton`/`user` members (those came from retired or optional joins).
    pub detail: Value,
    /// The performance graph body.
    pub graph: Value,
    /// Step in seconds between samples of `graph` (its `every_n`).
    pub step: u64,
}

/// Everything loaded from fixtures, shared by all worlds.
pub struct Fixtures {
    /// Workout templates in round-robin order.
    pub templates: Vec<Template>,
    /// Instructors referenced by the templates, by id (real ones from the fixtures, plus
    /// generated objects for ids the fixtures reference without an object).
    pub instructors: Vec<Value>,
    /// The `/api/me` user object as captured.
    pub me: Value,
    /// The envelope of the real workouts page, without `data`.
    pub page_envelope: Map<String, Value>,
    /// `GET /api/ride/{id}/details` body of a class.
    pub ride_details: Value,
}

fn parse(text: &str) -> Value {
    serde_json::from_str(text).expect("compiled-in fixture is valid JSON")
}

impl Fixtures {
    /// Parses and normalises every fixture.
    pub fn load() -> Self {
        let mut raw: Vec<(&'static str, Value, Value)> = PAIRS
            .iter()
            .map(|(name, d, g)| (*name, parse(d), parse(g)))
            .collect();
        let rower_page = parse(ROWER_PAGE);
        let mut rower = rower_page["data"][0].clone();
        // No rower detail exists in the fixtures; give the list entry the detail-only
        // members every real detail has, with plausible values.
        if let Some(o) = rower.as_object_mut() {
            o.insert("leaderboard_rank".into(), json!(1234));
            o.insert("total_leaderboard_users".into(), json!(4321));
            o.insert("achievement_templates".into(), json!([]));
            o.insert("device_type_display_name".into(), json!("Row"));
            o.insert(
                "ftp_info".into(),
                json!({"ftp": 0, "ftp_source": null, "ftp_workout_id": null}),
            );
        }
        raw.insert(3, ("rower", rower, parse(ROWER_GRAPH)));

        // Real instructor objects, by id.
        let mut instructors: Vec<Value> = Vec::new();
        let seen = |v: &Value, list: &mut Vec<Value>| {
            if let Some(id) = v.get("id").and_then(Value::as_str) {
                if !list.iter().any(|i| i["id"] == id) {
                    list.push(v.clone());
                }
            }
        };
        let ride_details = parse(RIDE_DETAILS);
        for (_, d, _) in &raw {
            if let Some(i) = d.pointer("/ride/instructor") {
                seen(i, &mut instructors);
            }
        }
        if let Some(i) = ride_details.pointer("/ride/instructor") {
            seen(i, &mut instructors);
        }
        let shape = instructors[0].clone();
        // Ids the fixtures reference without an object get a generated instructor.
        let mut gen_index = 0;
        for (_, d, _) in &raw {
            if let Some(id) = d.pointer("/ride/instructor_id").and_then(Value::as_str) {
                if !instructors.iter().any(|i| i["id"] == id) {
                    let mut rng = StdRng::seed_from_u64(gen_index as u64 + 7);
                    let mut inst = generated_instructor(&shape, gen_index, &mut rng);
                    inst["id"] = json!(id);
                    instructors.push(inst);
                    gen_index += 1;
                }
            }
        }

        let templates = raw
            .into_iter()
            .map(|(name, mut detail, graph)| {
                let o = detail.as_object_mut().expect("workout is an object");
                o.remove("peloton");
                o.remove("user");
                if let Some(ride) = o.get_mut("ride").and_then(Value::as_object_mut) {
                    let iid = ride
                        .get("instructor_id")
                        .and_then(Value::as_str)
                        .map(str::to_owned);
                    if let Some(iid) = iid {
                        if let Some(inst) = instructors.iter().find(|i| i["id"] == iid.as_str()) {
                            ride.insert("instructor".into(), inst.clone());
                        }
                    }
                }
                let step = graph_step(&graph);
                Template {
                    name,
                    detail,
                    graph,
                    step,
                }
            })
            .collect();

        let mut page_envelope = rower_page.as_object().cloned().unwrap_or_default();
        page_envelope.remove("data");
        Fixtures {
            templates,
            instructors,
            me: parse(ME),
            page_envelope,
            ride_details,
        }
    }
}

fn graph_step(graph: &Value) -> u64 {
    let s = graph["seconds_since_pedaling_start"].as_array();
    match s.map(|s| (s.first(), s.get(1))) {
        Some((Some(a), Some(b))) => {
            let step = b.as_i64().unwrap_or(1) - a.as_i64().unwrap_or(0);
            step.max(1) as u64
        }
        _ => 1,
    }
}

/// Subsamples a graph's per-sample arrays for a coarser `every_n`; summaries stay as they
/// are (they are server-side totals).
pub fn subsample_graph(graph: &mut Value, base_step: u64, every_n: u64) {
    if every_n <= base_step {
        return;
    }
    let k = (every_n / base_step).max(1) as usize;
    let thin = |v: &mut Value| {
        if let Some(a) = v.as_array_mut() {
            *a = a.iter().step_by(k).cloned().collect();
        }
    };
    if let Some(s) = graph.get_mut("seconds_since_pedaling_start") {
        thin(s);
    }
    if let Some(metrics) = graph.get_mut("metrics").and_then(Value::as_array_mut) {
        for m in metrics {
            if let Some(v) = m.get_mut("values") {
                thin(v);
            }
            if let Some(alts) = m.get_mut("alternatives").and_then(Value::as_array_mut) {
                for alt in alts {
                    if let Some(v) = alt.get_mut("values") {
                        thin(v);
                    }
                }
            }
        }
    }
}

const FIRST_NAMES: &[&str] = &[
    "Alex", "Sam", "Jordan", "Taylor", "Morgan", "Casey", "Riley", "Jamie", "Avery", "Quinn",
    "Drew", "Reese", "Skyler", "Rowan", "Emerson", "Parker", "Hayden", "Sage", "Logan", "Blake",
];
const LAST_NAMES: &[&str] = &[
    "Rivera",
    "Okafor",
    "Lindqvist",
    "Moreau",
    "Tanaka",
    "Novak",
    "Castillo",
    "Haddad",
    "Brennan",
    "Kowalski",
    "Achebe",
    "Sorensen",
    "Duarte",
    "Nakamura",
    "Fitzgerald",
    "Petrov",
    "Mensah",
    "Delgado",
    "Hartmann",
    "Oyelaran",
];
const DISCIPLINES: &[&[&str]] = &[
    &["cycling"],
    &["running", "walking", "circuit"],
    &["strength", "cardio"],
    &["yoga", "meditation", "stretching"],
    &["caesar", "caesar_bootcamp"],
    &["cycling", "strength", "bike_bootcamp"],
];

/// A random 32-character lowercase hex id, the format of every Peloton id.
pub fn hex_id(rng: &mut StdRng) -> String {
    format!("{:016x}{:016x}", rng.gen::<u64>(), rng.gen::<u64>())
}

/// An instructor object in the shape of a real `ride.instructor`, with invented values.
pub fn generated_instructor(shape: &Value, index: usize, rng: &mut StdRng) -> Value {
    let first = FIRST_NAMES[index % FIRST_NAMES.len()];
    let last = LAST_NAMES[(index / FIRST_NAMES.len() + index * 7) % LAST_NAMES.len()];
    let mut v = shape.clone();
    let image = |rng: &mut StdRng| {
        json!(format!(
            "https://s3.amazonaws.com/workout-metric-images-prod/{}",
            hex_id(rng)
        ))
    };
    let o = v.as_object_mut().expect("instructor is an object");
    o.insert("id".into(), json!(hex_id(rng)));
    o.insert("user_id".into(), json!(hex_id(rng)));
    o.insert("name".into(), json!(format!("{first} {last}")));
    o.insert("first_name".into(), json!(first));
    o.insert("last_name".into(), json!(last));
    o.insert("username".into(), json!(format!("{first}{last}{index}")));
    o.insert(
        "bio".into(),
        json!(format!(
            "{first} is a generated instructor of the fake Peloton server."
        )),
    );
    o.insert("short_bio".into(), json!(format!("\"Ride with {first}.\"")));
    o.insert("quote".into(), json!(format!("Ride with {first}.")));
    o.insert("list_order".into(), json!(100 + index));
    o.insert(
        "fitness_disciplines".into(),
        json!(DISCIPLINES[index % DISCIPLINES.len()]),
    );
    for key in [
        "image_url",
        "about_image_url",
        "life_style_image_url",
        "instructor_hero_image_url",
    ] {
        o.insert(key.into(), image(rng));
    }
    v
}

/// One member of the world: the signed-in user or a friend.
pub struct User {
    /// 32-hex id.
    pub id: String,
    /// Username.
    pub username: String,
    /// Whether the profile is private (the user cannot see the workouts).
    pub private: bool,
    /// Avatar path on the fake's image host (`/cdn/...`, mirroring the real
    /// `https://s3.amazonaws.com/peloton-profile-images/...`); the served
    /// `image_url` is the fake's base URL followed by it.
    pub image_path: String,
    /// Free-text location.
    pub location: String,
    /// Followers count shown in the following list.
    pub total_followers: u64,
    /// Following count shown in the following list.
    pub total_following: u64,
    /// Workout ids, newest first.
    pub workouts: Vec<String>,
}

/// One stored workout.
pub struct Workout {
    /// Owner's user id.
    pub owner: String,
    /// Index into [`Fixtures::templates`].
    pub template: usize,
    /// Full detail body with `ride.instructor` joined where applicable.
    pub detail: Value,
}

impl Workout {
    /// `created_at` epoch seconds, the list's sort key.
    pub fn created_at(&self) -> i64 {
        self.detail["created_at"].as_i64().unwrap_or(0)
    }
}

/// A friend to create.
pub struct NewFriend<'a> {
    /// Username.
    pub username: &'a str,
    /// Private profile.
    pub private: bool,
    /// Number of workouts to generate.
    pub workouts: usize,
}

const LOCATIONS: &[&str] = &[
    "Minneapolis, MN",
    "Noblesville, IN",
    "Brooklyn, NY",
    "Austin, TX",
    "Leeds, UK",
    "Toronto, ON",
    "",
];

/// The mutable world: users, workouts, instructors.
pub struct World {
    /// Random source for ids and gaps; seeded from the config.
    pub rng: StdRng,
    /// The signed-in user (index 0) then friends, in following-list order.
    pub users: Vec<User>,
    /// Workouts by id.
    pub workouts: HashMap<String, Workout>,
    /// All instructors served by `/api/instructor`.
    pub instructors: Vec<Value>,
    next_template: usize,
}

impl World {
    /// Builds a world for `user_id`/`username` with `workouts` workouts, the given friends and
    /// at least `instructors` instructors.
    pub fn new(
        fx: &Fixtures,
        seed: u64,
        user_id: &str,
        username: &str,
        workouts: usize,
        friends: &[NewFriend<'_>],
        instructors: usize,
    ) -> Self {
        let mut rng = StdRng::seed_from_u64(seed);
        let mut all_instructors = fx.instructors.clone();
        let shape = fx.instructors[0].clone();
        let mut i = 0;
        while all_instructors.len() < instructors {
            all_instructors.push(generated_instructor(&shape, 1000 + i, &mut rng));
            i += 1;
        }
        let mut world = World {
            rng,
            users: Vec::new(),
            workouts: HashMap::new(),
            instructors: all_instructors,
            next_template: 0,
        };
        world.users.push(User {
            id: user_id.to_owned(),
            username: username.to_owned(),
            private: false,
            image_path: "/cdn/peloton-profile-images/fake/me.png".into(),
            location: LOCATIONS[0].into(),
            total_followers: 3,
            total_following: friends.len() as u64,
            workouts: Vec::new(),
        });
        world.add_workouts(fx, 0, workouts);
        world.set_friends(fx, friends);
        world
    }

    /// Replaces every friend (and their workouts) with newly generated ones.
    pub fn set_friends(&mut self, fx: &Fixtures, friends: &[NewFriend<'_>]) {
        for old in self.users.drain(1..) {
            for id in old.workouts {
                self.workouts.remove(&id);
            }
        }
        for (n, f) in friends.iter().enumerate() {
            let id = hex_id(&mut self.rng);
            let image_path = format!(
                "/cdn/peloton-profile-images/{}/{}",
                hex_id(&mut self.rng),
                hex_id(&mut self.rng)
            );
            self.users.push(User {
                id,
                username: f.username.to_owned(),
                private: f.private,
                image_path,
                location: LOCATIONS[(n + 1) % LOCATIONS.len()].into(),
                total_followers: self.rng.gen_range(0..500),
                total_following: self.rng.gen_range(0..200),
                workouts: Vec::new(),
            });
            let idx = self.users.len() - 1;
            self.add_workouts(fx, idx, f.workouts);
        }
        self.users[0].total_following = friends.len() as u64;
    }

    /// Adds `n` workouts to user `user_index`, each newer than all of theirs; returns their
    /// ids, newest first.
    pub fn add_workouts(&mut self, fx: &Fixtures, user_index: usize, n: usize) -> Vec<String> {
        // The max, not the first id: a test may have edited a workout's times.
        let newest = self.users[user_index]
            .workouts
            .iter()
            .filter_map(|id| self.workouts.get(id))
            .filter_map(|w| w.detail["start_time"].as_i64())
            .max();
        // Friends are offset by a few hours so their workouts interleave with ours.
        let mut start =
            newest.unwrap_or(ANCHOR_START - 86_400 * n as i64 - 3_600 * user_index as i64);
        let owner = self.users[user_index].id.clone();
        let starts: Vec<i64> = (0..n)
            .map(|_| {
                // About a day apart, with jitter, like a regular rider.
                start += 86_400 - self.rng.gen_range(0..6 * 3_600);
                start
            })
            .collect();
        // Templates go round-robin from the newest down, so a fresh world's newest workout
        // is the first template (a full cycling class).
        let mut added = Vec::with_capacity(n);
        for start in starts.into_iter().rev() {
            let t = self.next_template % fx.templates.len();
            self.next_template += 1;
            let id = hex_id(&mut self.rng);
            let detail = clone_workout(&fx.templates[t].detail, &id, &owner, start);
            self.workouts.insert(
                id.clone(),
                Workout {
                    owner: owner.clone(),
                    template: t,
                    detail,
                },
            );
            added.push(id);
        }
        let user = &mut self.users[user_index];
        let mut ids = added.clone();
        ids.append(&mut user.workouts);
        user.workouts = ids;
        added
    }

    /// Index of the user with this id.
    pub fn user_index(&self, id: &str) -> Option<usize> {
        self.users.iter().position(|u| u.id == id)
    }
}

/// A template cloned for `owner` with a new id, starting at `start` (all timestamps shifted
/// by the same amount, so duration and the time-zone relation of `device_time_created_at`
/// are kept).
pub fn clone_workout(template: &Value, id: &str, owner: &str, start: i64) -> Value {
    let mut w = template.clone();
    let shift = start - template["start_time"].as_i64().unwrap_or(start);
    let o = w.as_object_mut().expect("workout is an object");
    for key in [
        "start_time",
        "end_time",
        "created_at",
        "created",
        "device_time_created_at",
    ] {
        if let Some(t) = o.get(key).and_then(Value::as_i64) {
            o.insert(key.into(), json!(t + shift));
        }
    }
    o.insert("id".into(), json!(id));
    o.insert("user_id".into(), json!(owner));
    if o.contains_key("workout_id") {
        o.insert("workout_id".into(), json!(id));
    }
    w
}

/// The list form of a stored detail: detail-only keys dropped; `ride` kept (with or without
/// its instructor) only when joined. Free rides keep their pseudo-instructor (it has no id).
pub fn list_entry(detail: &Value, join_ride: bool, join_instructor: bool) -> Value {
    let mut w = detail.clone();
    let o = w.as_object_mut().expect("workout is an object");
    for key in DETAIL_ONLY_KEYS {
        o.remove(*key);
    }
    if !join_ride {
        o.remove("ride");
    } else if !join_instructor {
        strip_instructor(o);
    }
    w
}

/// Removes a joined instructor object unless it is a free ride's pseudo-instructor.
pub fn strip_instructor(workout: &mut Map<String, Value>) {
    if let Some(ride) = workout.get_mut("ride").and_then(Value::as_object_mut) {
        let real = ride
            .get("instructor")
            .is_some_and(|i| i.get("id").is_some_and(|id| !id.is_null()));
        if real {
            ride.remove("instructor");
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn templates_cover_every_fixture_pair_and_the_rower() {
        let fx = Fixtures::load();
        assert_eq!(fx.templates.len(), 11);
        assert!(fx.templates.iter().any(|t| t.name == "rower"));
    }

    #[test]
    fn classes_with_instructor_id_have_instructor_objects() {
        let fx = Fixtures::load();
        for t in &fx.templates {
            let ride = &t.detail["ride"];
            if let Some(iid) = ride["instructor_id"].as_str() {
                assert_eq!(ride["instructor"]["id"], iid, "{}", t.name);
            }
        }
        let scenic = fx
            .templates
            .iter()
            .find(|t| t.name == "cycling_scenic_2024");
        assert!(scenic.is_some_and(|t| t.detail["ride"].get("instructor").is_none()));
        let just_ride = fx.templates.iter().find(|t| t.name == "cycling_just_ride");
        assert!(just_ride.is_some_and(|t| t.detail["ride"]["instructor"]["name"] == "JUST RIDE"));
    }

    #[test]
    fn list_entries_lack_leaderboard_and_keep_pseudo_instructor() {
        let fx = Fixtures::load();
        for t in &fx.templates {
            let e = list_entry(&t.detail, true, false);
            assert!(e.get("leaderboard_rank").is_none());
            if let Some(i) = e["ride"].get("instructor") {
                assert!(i.get("id").is_none(), "{}", t.name);
            }
        }
    }

    #[test]
    fn generated_workouts_are_newest_first_with_kept_durations() {
        let fx = Fixtures::load();
        let mut w = World::new(&fx, 1, "u", "me", 30, &[], 20);
        let ids = w.users[0].workouts.clone();
        assert_eq!(ids.len(), 30);
        let starts: Vec<i64> = ids
            .iter()
            .map(|id| w.workouts[id].detail["start_time"].as_i64().unwrap_or(0))
            .collect();
        assert!(starts.windows(2).all(|p| p[0] > p[1]));
        for id in &ids {
            let wk = &w.workouts[id];
            let t = &fx.templates[wk.template].detail;
            let dur = |v: &Value| {
                v["end_time"].as_i64().unwrap_or(0) - v["start_time"].as_i64().unwrap_or(0)
            };
            assert_eq!(dur(&wk.detail), dur(t));
            assert_eq!(wk.detail["timezone"], t["timezone"]);
            assert_eq!(wk.detail["id"], id.as_str());
        }
        assert_eq!(
            fx.templates[w.workouts[&ids[0]].template].name,
            "cycling_class"
        );
        let newer = w.add_workouts(&fx, 0, 2);
        assert_eq!(w.users[0].workouts[..2], newer[..]);
        assert!(w.workouts[&newer[1]].detail["start_time"].as_i64() > Some(starts[0]));
        assert!(w.instructors.len() >= 20);
    }

    #[test]
    fn subsampling_thins_values_but_not_summaries() {
        let fx = Fixtures::load();
        let t = fx.templates.iter().find(|t| t.name == "cycling_class");
        let t = t.expect("cycling class template");
        let mut g = t.graph.clone();
        subsample_graph(&mut g, t.step, 30);
        let secs = &g["seconds_since_pedaling_start"];
        assert_eq!(
            secs[1].as_i64().zip(secs[0].as_i64()).map(|(b, a)| b - a),
            Some(30)
        );
        assert_eq!(g["metrics"][0]["values"].as_array().map(Vec::len), Some(60));
        assert_eq!(g["summaries"], t.graph["summaries"]);
    }
}
