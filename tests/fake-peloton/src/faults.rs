//! Fault switches, settable at runtime from tests (through [`Faults`]) or over HTTP
//! (`POST /__control/faults` with a [`FaultSettings`] JSON body): errors, latency, dropped
//! connections, auth refusals, drifted workout fields, one drifted entry in a list, a
//! list answered `200 {}` without its `data` array, and one workout's performance graph
//! missing, drifted or failing.
//!
//! Fractions are stored as parts per million in atomics so handlers read them without locks;
//! random draws come from one seeded RNG so a failing run can be replayed with the same seed.

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicBool, AtomicU32, AtomicU64, Ordering};
use std::sync::Mutex;

use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::log::lock;

const MILLION: u32 = 1_000_000;
/// Sentinel for "no Retry-After header".
const NO_RETRY_AFTER: u64 = u64::MAX;

/// Live fault switches of one fake server. Everything starts switched off.
pub struct Faults {
    rate_429: AtomicU32,
    retry_after: AtomicU64,
    rate_5xx: AtomicU32,
    latency_ms: AtomicU64,
    drop_rate: AtomicU32,
    token_ttl_secs: AtomicU64,
    refuse_refresh: AtomicBool,
    no_csrf_logins: AtomicU32,
    lockout_logins: AtomicBool,
    user_blocked: AtomicBool,
    throttle_logins: AtomicU32,
    walled_refreshes: AtomicU32,
    fields: Mutex<FieldFaults>,
    lists: Mutex<ListFaults>,
    graphs: Mutex<BTreeMap<String, GraphFault>>,
    rng: Mutex<StdRng>,
}

/// How the performance graph of one workout answers, while its detail answers normally.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum GraphFault {
    /// `404` in the API's error envelope, as for a workout Peloton has no graph of.
    Missing,
    /// `200` with the graph whose `summaries` is a string instead of a list.
    Drifted,
    /// `503` on every try.
    Unavailable,
}

/// A paged list the API serves.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ListKind {
    /// `GET /api/user/{id}/workouts`, for the user and for every friend.
    Workouts,
    /// `GET /api/user/{id}/following`.
    Following,
    /// `GET /api/instructor`.
    Instructors,
}

/// One entry of a list whose field drifted: set to `value` (which may be `null`), or removed
/// when `remove` is true. The entry is the one at `index` in the whole list (0 is the first
/// entry of page 0, newest first for workouts) or the one whose `id` is `id`; for workouts
/// the index counts in each user's list.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct EntryDrift {
    /// Which list.
    pub list: ListKind,
    /// Position in the whole list.
    #[serde(default)]
    pub index: Option<usize>,
    /// The entry's own `id`, as served before the drift.
    #[serde(default)]
    pub id: Option<String>,
    /// Top-level field of the entry.
    pub field: String,
    /// The drifted value; absent means `null`.
    #[serde(default)]
    pub value: Value,
    /// Removes the field instead.
    #[serde(default)]
    pub remove: bool,
}

impl EntryDrift {
    /// The entry at `index` of `list` gets `field` set to `value` (e.g. a string
    /// `start_time`, a `null` id).
    pub fn at(list: ListKind, index: usize, field: &str, value: Value) -> Self {
        Self {
            list,
            index: Some(index),
            id: None,
            field: field.to_owned(),
            value,
            remove: false,
        }
    }

    /// The entry whose `id` is `id` gets `field` set to `value`.
    pub fn of(list: ListKind, id: &str, field: &str, value: Value) -> Self {
        Self {
            id: Some(id.to_owned()),
            index: None,
            ..Self::at(list, 0, field, value)
        }
    }

    /// The same entry loses the field instead.
    pub fn removing(mut self) -> Self {
        self.remove = true;
        self
    }

    fn hits(&self, list: ListKind, position: usize, entry: &Value) -> bool {
        self.list == list
            && self.index.is_none_or(|i| i == position)
            && self
                .id
                .as_deref()
                .is_none_or(|id| entry.get("id").and_then(Value::as_str) == Some(id))
    }
}

#[derive(Clone, Default)]
struct ListFaults {
    drifts: Vec<EntryDrift>,
    without_data: Vec<ListKind>,
}

#[derive(Clone, Default)]
struct FieldFaults {
    remove: Option<String>,
    retype: Option<String>,
    extra: Option<String>,
}

/// What the fault middleware decided for one request.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Injected {
    /// Answer normally.
    None,
    /// Close the connection without a response.
    Drop,
    /// Answer 429, with this Retry-After (seconds) if any.
    TooMany(Option<u64>),
    /// Answer this 5xx status.
    ServerError(u16),
}

/// A JSON view of the switches, used by the control endpoint; absent members leave the
/// current value unchanged. Fractions are between 0 and 1.
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq)]
#[serde(default, deny_unknown_fields)]
pub struct FaultSettings {
    /// Fraction of `/api` and `/oauth` requests answered 429.
    pub rate_429: Option<f64>,
    /// Retry-After seconds sent with injected 429s; `null` in a reply means none.
    pub retry_after_secs: Option<u64>,
    /// Clears the Retry-After header when true.
    pub no_retry_after: Option<bool>,
    /// Fraction answered 500, 502 or 503.
    pub server_error_rate: Option<f64>,
    /// Delay added to every request, in milliseconds.
    pub latency_ms: Option<u64>,
    /// Fraction of `/api` and `/oauth` requests whose connection is closed without a response.
    pub drop_rate: Option<f64>,
    /// Lifetime of access tokens issued from now on, in seconds.
    pub token_ttl_secs: Option<u64>,
    /// Refuse every refresh-token grant with 403 `invalid_grant`.
    pub refuse_refresh: Option<bool>,
    /// Serve the next N login pages without the `_csrf` cookie.
    pub no_csrf_logins: Option<u32>,
    /// Answer every password submission (`/usernamepassword/login` and the password grant)
    /// with Auth0's brute-force block: `429` `too_many_attempts`.
    pub lockout_logins: Option<bool>,
    /// Answer the password grant as Auth0 answers for a user an administrator
    /// blocked: `401` `unauthorized`, "user is blocked".
    pub user_blocked: Option<bool>,
    /// Answer the next N password submissions with a plain `429` `too_many_requests`
    /// (with `Retry-After: 0`).
    pub throttle_logins: Option<u32>,
    /// Answer the next N refresh-token grants with a bot wall's page: `403`
    /// in HTML, no Auth0 error code (the token stays good).
    pub walled_refreshes: Option<u32>,
    /// Remove this top-level field from every workout JSON (empty string clears).
    pub remove_field: Option<String>,
    /// Change the JSON type of this top-level workout field (empty string clears).
    pub retype_field: Option<String>,
    /// Add an unknown top-level field with this name to every workout (empty string clears).
    pub extra_field: Option<String>,
    /// Adds these drifted list entries (a reply lists every one in force).
    pub drift_entries: Option<Vec<EntryDrift>>,
    /// The lists answered `200 {}`, without a `data` array (replaces the set).
    pub lists_without_data: Option<Vec<ListKind>>,
    /// The workouts whose performance graph answers otherwise, by workout id (replaces
    /// the set).
    pub graph_faults: Option<BTreeMap<String, GraphFault>>,
    /// Switch every fault off (applied before the other members).
    pub clear: Option<bool>,
}

impl Faults {
    /// All faults off; access tokens live `token_ttl_secs`; draws seeded with `seed`.
    pub fn new(seed: u64, token_ttl_secs: u64) -> Self {
        Self {
            rate_429: AtomicU32::new(0),
            retry_after: AtomicU64::new(NO_RETRY_AFTER),
            rate_5xx: AtomicU32::new(0),
            latency_ms: AtomicU64::new(0),
            drop_rate: AtomicU32::new(0),
            token_ttl_secs: AtomicU64::new(token_ttl_secs),
            refuse_refresh: AtomicBool::new(false),
            no_csrf_logins: AtomicU32::new(0),
            lockout_logins: AtomicBool::new(false),
            user_blocked: AtomicBool::new(false),
            throttle_logins: AtomicU32::new(0),
            walled_refreshes: AtomicU32::new(0),
            fields: Mutex::new(FieldFaults::default()),
            lists: Mutex::new(ListFaults::default()),
            graphs: Mutex::new(BTreeMap::new()),
            rng: Mutex::new(StdRng::seed_from_u64(seed ^ 0x5eed_fa17)),
        }
    }

    /// Fraction (0..=1) of `/api` and `/oauth` requests answered 429 Too Many Requests.
    pub fn set_rate_429(&self, fraction: f64) {
        self.rate_429.store(ppm(fraction), Ordering::SeqCst);
    }

    /// Retry-After seconds sent with injected 429s (`None`: no header).
    pub fn set_retry_after(&self, secs: Option<u64>) {
        self.retry_after
            .store(secs.unwrap_or(NO_RETRY_AFTER), Ordering::SeqCst);
    }

    /// Fraction (0..=1) of `/api` and `/oauth` requests answered 500, 502 or 503.
    pub fn set_server_error_rate(&self, fraction: f64) {
        self.rate_5xx.store(ppm(fraction), Ordering::SeqCst);
    }

    /// Delay added before every request is answered.
    pub fn set_latency_ms(&self, ms: u64) {
        self.latency_ms.store(ms, Ordering::SeqCst);
    }

    /// Fraction (0..=1) of `/api` and `/oauth` requests whose connection is closed unanswered.
    pub fn set_drop_rate(&self, fraction: f64) {
        self.drop_rate.store(ppm(fraction), Ordering::SeqCst);
    }

    /// Lifetime of access tokens issued from now on (also their `expires_in`).
    pub fn set_token_ttl_secs(&self, secs: u64) {
        self.token_ttl_secs.store(secs, Ordering::SeqCst);
    }

    /// Current access token lifetime in seconds.
    pub fn token_ttl_secs(&self) -> u64 {
        self.token_ttl_secs.load(Ordering::SeqCst)
    }

    /// Refuse every refresh-token grant (403 `invalid_grant`) while true.
    pub fn set_refuse_refresh(&self, refuse: bool) {
        self.refuse_refresh.store(refuse, Ordering::SeqCst);
    }

    /// Whether refresh grants are refused.
    pub fn refuse_refresh(&self) -> bool {
        self.refuse_refresh.load(Ordering::SeqCst)
    }

    /// Serve the next `n` login pages without setting the `_csrf` cookie.
    pub fn skip_csrf_for_next_logins(&self, n: u32) {
        self.no_csrf_logins.store(n, Ordering::SeqCst);
    }

    /// Consumes one "no _csrf" login if any are pending; true means omit the cookie.
    pub(crate) fn take_no_csrf(&self) -> bool {
        take_one(&self.no_csrf_logins)
    }

    /// While true, every password submission answers Auth0's brute-force block
    /// (`429` `too_many_attempts`), as Peloton does after repeated failures.
    pub fn set_lockout_logins(&self, on: bool) {
        self.lockout_logins.store(on, Ordering::SeqCst);
    }

    /// Whether password submissions are answered with the block.
    pub fn lockout_logins(&self) -> bool {
        self.lockout_logins.load(Ordering::SeqCst)
    }

    /// While true, the password grant answers as Auth0 does for a user an
    /// administrator blocked (`401` `unauthorized`, "user is blocked",
    /// auth0/docs#4767).
    pub fn set_user_blocked(&self, on: bool) {
        self.user_blocked.store(on, Ordering::SeqCst);
    }

    /// Whether the password grant answers "user is blocked".
    pub fn user_blocked(&self) -> bool {
        self.user_blocked.load(Ordering::SeqCst)
    }

    /// Answer the next `n` password submissions with a plain rate limit (`429`
    /// `too_many_requests`, `Retry-After: 0`).
    pub fn throttle_next_logins(&self, n: u32) {
        self.throttle_logins.store(n, Ordering::SeqCst);
    }

    /// Consumes one pending throttled login; true means answer the rate limit.
    pub(crate) fn take_throttled_login(&self) -> bool {
        take_one(&self.throttle_logins)
    }

    /// Answer the next `n` refresh-token grants with a bot wall's `403`
    /// page in HTML instead of Auth0's answer.
    pub fn wall_next_refreshes(&self, n: u32) {
        self.walled_refreshes.store(n, Ordering::SeqCst);
    }

    /// Consumes one pending walled refresh; true means answer the wall.
    pub(crate) fn take_walled_refresh(&self) -> bool {
        take_one(&self.walled_refreshes)
    }

    /// Remove this top-level field from every workout JSON served (`None` clears).
    pub fn set_remove_field(&self, field: Option<&str>) {
        lock(&self.fields).remove = field.map(str::to_owned);
    }

    /// Change the JSON type of this top-level workout field (number to string, string to
    /// number, bool to string, anything else to a string) (`None` clears).
    pub fn set_retype_field(&self, field: Option<&str>) {
        lock(&self.fields).retype = field.map(str::to_owned);
    }

    /// Add an unknown top-level field with this name to every workout (`None` clears).
    pub fn set_extra_field(&self, field: Option<&str>) {
        lock(&self.fields).extra = field.map(str::to_owned);
    }

    /// Makes one entry of a list drift, on top of those already drifting.
    pub fn drift_entry(&self, drift: EntryDrift) {
        lock(&self.lists).drifts.push(drift);
    }

    /// Makes `list` answer `200 {}`, without a `data` array, or answer normally again.
    pub fn set_list_without_data(&self, list: ListKind, on: bool) {
        let mut lists = lock(&self.lists);
        lists.without_data.retain(|l| *l != list);
        if on {
            lists.without_data.push(list);
        }
    }

    /// Whether `list` answers `200 {}`.
    pub(crate) fn list_without_data(&self, list: ListKind) -> bool {
        lock(&self.lists).without_data.contains(&list)
    }

    /// Makes the performance graph of workout `id` answer as `fault` says, or normally
    /// again with `None`.
    pub fn set_graph_fault(&self, id: &str, fault: Option<GraphFault>) {
        let mut graphs = lock(&self.graphs);
        match fault {
            Some(f) => graphs.insert(id.to_owned(), f),
            None => graphs.remove(id),
        };
    }

    /// How the performance graph of workout `id` answers, when not normally.
    pub(crate) fn graph_fault(&self, id: &str) -> Option<GraphFault> {
        lock(&self.graphs).get(id).copied()
    }

    /// Applies the drifts to one page of `list` whose first entry is at `start`.
    pub(crate) fn drift_page(&self, list: ListKind, start: usize, items: &mut [Value]) {
        let lists = lock(&self.lists);
        for (i, entry) in items.iter_mut().enumerate() {
            let hits: Vec<&EntryDrift> = lists
                .drifts
                .iter()
                .filter(|d| d.hits(list, start + i, entry))
                .collect();
            let Some(obj) = entry.as_object_mut() else {
                continue;
            };
            for d in hits {
                if d.remove {
                    obj.remove(&d.field);
                } else {
                    obj.insert(d.field.clone(), d.value.clone());
                }
            }
        }
    }

    /// Switches every fault off (the token lifetime is left as it is).
    pub fn clear(&self) {
        self.set_rate_429(0.0);
        self.set_retry_after(None);
        self.set_server_error_rate(0.0);
        self.set_latency_ms(0);
        self.set_drop_rate(0.0);
        self.set_refuse_refresh(false);
        self.skip_csrf_for_next_logins(0);
        self.set_lockout_logins(false);
        self.set_user_blocked(false);
        self.throttle_next_logins(0);
        *lock(&self.fields) = FieldFaults::default();
        *lock(&self.lists) = ListFaults::default();
        lock(&self.graphs).clear();
    }

    /// Applies a control-endpoint body.
    pub fn apply(&self, s: &FaultSettings) {
        if s.clear == Some(true) {
            self.clear();
        }
        if let Some(f) = s.rate_429 {
            self.set_rate_429(f);
        }
        if let Some(secs) = s.retry_after_secs {
            self.set_retry_after(Some(secs));
        }
        if s.no_retry_after == Some(true) {
            self.set_retry_after(None);
        }
        if let Some(f) = s.server_error_rate {
            self.set_server_error_rate(f);
        }
        if let Some(ms) = s.latency_ms {
            self.set_latency_ms(ms);
        }
        if let Some(f) = s.drop_rate {
            self.set_drop_rate(f);
        }
        if let Some(ttl) = s.token_ttl_secs {
            self.set_token_ttl_secs(ttl);
        }
        if let Some(r) = s.refuse_refresh {
            self.set_refuse_refresh(r);
        }
        if let Some(n) = s.no_csrf_logins {
            self.skip_csrf_for_next_logins(n);
        }
        if let Some(drifts) = &s.drift_entries {
            lock(&self.lists).drifts.extend(drifts.iter().cloned());
        }
        if let Some(lists) = &s.lists_without_data {
            lock(&self.lists).without_data = lists.clone();
        }
        if let Some(graphs) = &s.graph_faults {
            *lock(&self.graphs) = graphs.clone();
        }
        if let Some(on) = s.lockout_logins {
            self.set_lockout_logins(on);
        }
        if let Some(on) = s.user_blocked {
            self.set_user_blocked(on);
        }
        if let Some(n) = s.throttle_logins {
            self.throttle_next_logins(n);
        }
        if let Some(n) = s.walled_refreshes {
            self.wall_next_refreshes(n);
        }
        let non_empty = |v: &String| (!v.is_empty()).then(|| v.clone());
        let mut fields = lock(&self.fields);
        if let Some(v) = &s.remove_field {
            fields.remove = non_empty(v);
        }
        if let Some(v) = &s.retype_field {
            fields.retype = non_empty(v);
        }
        if let Some(v) = &s.extra_field {
            fields.extra = non_empty(v);
        }
    }

    /// The current switches as JSON-friendly settings.
    pub fn snapshot(&self) -> FaultSettings {
        let fields = lock(&self.fields).clone();
        let lists = lock(&self.lists).clone();
        let retry_after = self.retry_after.load(Ordering::SeqCst);
        FaultSettings {
            rate_429: Some(fraction(self.rate_429.load(Ordering::SeqCst))),
            retry_after_secs: (retry_after != NO_RETRY_AFTER).then_some(retry_after),
            no_retry_after: None,
            server_error_rate: Some(fraction(self.rate_5xx.load(Ordering::SeqCst))),
            latency_ms: Some(self.latency_ms.load(Ordering::SeqCst)),
            drop_rate: Some(fraction(self.drop_rate.load(Ordering::SeqCst))),
            token_ttl_secs: Some(self.token_ttl_secs()),
            refuse_refresh: Some(self.refuse_refresh()),
            no_csrf_logins: Some(self.no_csrf_logins.load(Ordering::SeqCst)),
            lockout_logins: Some(self.lockout_logins()),
            user_blocked: Some(self.user_blocked()),
            throttle_logins: Some(self.throttle_logins.load(Ordering::SeqCst)),
            walled_refreshes: Some(self.walled_refreshes.load(Ordering::SeqCst)),
            remove_field: fields.remove,
            retype_field: fields.retype,
            extra_field: fields.extra,
            drift_entries: Some(lists.drifts),
            lists_without_data: Some(lists.without_data),
            graph_faults: Some(lock(&self.graphs).clone()),
            clear: None,
        }
    }

    /// The delay to add to the current request.
    pub(crate) fn latency(&self) -> std::time::Duration {
        std::time::Duration::from_millis(self.latency_ms.load(Ordering::SeqCst))
    }

    /// Draws which fault, if any, hits the current request (drop, then 429, then 5xx).
    pub(crate) fn draw(&self) -> Injected {
        let drop = self.drop_rate.load(Ordering::SeqCst);
        let too_many = self.rate_429.load(Ordering::SeqCst);
        let server = self.rate_5xx.load(Ordering::SeqCst);
        if drop == 0 && too_many == 0 && server == 0 {
            return Injected::None;
        }
        let mut rng = lock(&self.rng);
        if hit(&mut rng, drop) {
            return Injected::Drop;
        }
        if hit(&mut rng, too_many) {
            let ra = self.retry_after.load(Ordering::SeqCst);
            return Injected::TooMany((ra != NO_RETRY_AFTER).then_some(ra));
        }
        if hit(&mut rng, server) {
            return Injected::ServerError([500, 502, 503][rng.gen_range(0..3)]);
        }
        Injected::None
    }

    /// Applies the field faults to one workout object (list entry or detail).
    pub(crate) fn mangle_workout(&self, workout: &mut Value) {
        let fields = lock(&self.fields).clone();
        let Some(obj) = workout.as_object_mut() else {
            return;
        };
        if let Some(name) = &fields.remove {
            obj.remove(name);
        }
        if let Some(name) = &fields.retype {
            if let Some(v) = obj.get_mut(name) {
                *v = retyped(v);
            }
        }
        if let Some(name) = &fields.extra {
            obj.insert(
                name.clone(),
                serde_json::json!({"added_by": "fake-peloton", "values": [1, 2, 3]}),
            );
        }
    }
}

/// A value of a different JSON type carrying the same information where possible.
fn retyped(v: &Value) -> Value {
    match v {
        Value::Number(n) => Value::String(n.to_string()),
        Value::String(s) => s
            .parse::<f64>()
            .ok()
            .and_then(serde_json::Number::from_f64)
            .map(Value::Number)
            .unwrap_or_else(|| Value::from(12345)),
        Value::Bool(b) => Value::String(b.to_string()),
        Value::Null => Value::String("null".into()),
        Value::Array(_) | Value::Object(_) => Value::String("unexpected".into()),
    }
}

fn hit(rng: &mut StdRng, ppm: u32) -> bool {
    ppm > 0 && rng.gen_range(0..MILLION) < ppm
}

fn ppm(fraction: f64) -> u32 {
    // Clamped so a typo like 5 (meaning 5 %) cannot overflow; NaN becomes 0.
    (fraction.clamp(0.0, 1.0) * f64::from(MILLION)).round() as u32
}

fn fraction(ppm: u32) -> f64 {
    f64::from(ppm) / f64::from(MILLION)
}

/// Takes one from a count of pending one-shot faults; true when one was
/// pending (and is now spent).
fn take_one(pending: &AtomicU32) -> bool {
    pending
        .fetch_update(Ordering::SeqCst, Ordering::SeqCst, |n| n.checked_sub(1))
        .is_ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn zero_rates_never_inject() {
        let f = Faults::new(1, 10);
        assert!((0..1000).all(|_| f.draw() == Injected::None));
    }

    #[test]
    fn full_rate_429_always_injects_with_retry_after() {
        let f = Faults::new(1, 10);
        f.set_rate_429(1.0);
        f.set_retry_after(Some(7));
        assert!((0..100).all(|_| f.draw() == Injected::TooMany(Some(7))));
    }

    #[test]
    fn half_rate_injects_roughly_half() {
        let f = Faults::new(42, 10);
        f.set_server_error_rate(0.5);
        let n = (0..2000)
            .filter(|_| matches!(f.draw(), Injected::ServerError(_)))
            .count();
        assert!((800..1200).contains(&n), "{n} of 2000");
    }

    #[test]
    fn no_csrf_counts_down() {
        let f = Faults::new(1, 10);
        f.skip_csrf_for_next_logins(2);
        assert!(f.take_no_csrf());
        assert!(f.take_no_csrf());
        assert!(!f.take_no_csrf());
    }

    #[test]
    fn one_entry_drifts_by_position_or_by_id_and_only_in_its_list() {
        let f = Faults::new(1, 10);
        f.drift_entry(EntryDrift::at(
            ListKind::Workouts,
            3,
            "start_time",
            "x".into(),
        ));
        f.drift_entry(EntryDrift::of(ListKind::Workouts, "b", "id", Value::Null));
        f.drift_entry(EntryDrift::at(ListKind::Following, 0, "id", Value::Null).removing());
        let page = || -> Vec<Value> {
            ["a", "b", "c"]
                .iter()
                .map(|id| serde_json::json!({"id": id, "start_time": 1}))
                .collect()
        };
        let mut second_page = page();
        f.drift_page(ListKind::Workouts, 2, &mut second_page);
        assert_eq!(
            second_page[0],
            serde_json::json!({"id": "a", "start_time": 1})
        );
        assert_eq!(
            second_page[1],
            serde_json::json!({"id": null, "start_time": "x"})
        );
        let mut instructors = page();
        f.drift_page(ListKind::Instructors, 0, &mut instructors);
        assert_eq!(instructors, page());
        let mut following = page();
        f.drift_page(ListKind::Following, 0, &mut following);
        assert_eq!(following[0], serde_json::json!({"start_time": 1}));
        f.clear();
        let mut again = page();
        f.drift_page(ListKind::Workouts, 2, &mut again);
        assert_eq!(again, page());
    }

    #[test]
    fn lists_without_data_are_switched_one_by_one() {
        let f = Faults::new(1, 10);
        f.set_list_without_data(ListKind::Following, true);
        assert!(f.list_without_data(ListKind::Following));
        assert!(!f.list_without_data(ListKind::Workouts));
        f.apply(&FaultSettings {
            lists_without_data: Some(vec![ListKind::Workouts]),
            ..Default::default()
        });
        assert!(!f.list_without_data(ListKind::Following));
        assert!(f.list_without_data(ListKind::Workouts));
        f.set_list_without_data(ListKind::Workouts, false);
        assert!(!f.list_without_data(ListKind::Workouts));
    }

    #[test]
    fn graph_faults_are_per_workout_and_cleared() {
        let f = Faults::new(1, 10);
        f.set_graph_fault("a", Some(GraphFault::Missing));
        f.apply(&FaultSettings {
            graph_faults: Some(BTreeMap::from([("b".into(), GraphFault::Drifted)])),
            ..Default::default()
        });
        assert_eq!(f.graph_fault("a"), None);
        assert_eq!(f.graph_fault("b"), Some(GraphFault::Drifted));
        f.set_graph_fault("c", Some(GraphFault::Unavailable));
        f.set_graph_fault("b", None);
        assert_eq!(f.graph_fault("b"), None);
        assert_eq!(f.graph_fault("c"), Some(GraphFault::Unavailable));
        f.clear();
        assert_eq!(f.graph_fault("c"), None);
    }

    #[test]
    fn field_faults_remove_retype_and_add() {
        let f = Faults::new(1, 10);
        f.apply(&FaultSettings {
            remove_field: Some("total_work".into()),
            retype_field: Some("start_time".into()),
            extra_field: Some("surprise".into()),
            ..Default::default()
        });
        let mut w = serde_json::json!({"total_work": 1.5, "start_time": 10, "id": "x"});
        f.mangle_workout(&mut w);
        assert!(w.get("total_work").is_none());
        assert_eq!(w["start_time"], "10");
        assert!(w["surprise"].is_object());
        f.apply(&FaultSettings {
            clear: Some(true),
            ..Default::default()
        });
        let mut w = serde_json::json!({"total_work": 1.5});
        f.mangle_workout(&mut w);
        assert_eq!(w["total_work"], 1.5);
    }
}
