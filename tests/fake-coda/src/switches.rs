//! The fault switches themselves, as the server's state holds them; below
//! both the state and the `faults` handle that flips them.

use rand::Rng;
use serde::{Deserialize, Serialize};

/// The fault switches. All off by default.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(default, rename_all = "camelCase", deny_unknown_fields)]
pub struct FaultSettings {
    /// Fraction (0..=1) of requests answered 429.
    pub error_429_fraction: f64,
    /// Fraction (0..=1) of requests answered 500 or 503 (half each).
    pub error_5xx_fraction: f64,
    /// Delay added before every answer.
    pub latency_ms: u64,
    /// Fraction (0..=1) of requests whose connection is closed with no answer at all.
    pub drop_fraction: f64,
    /// Every request is 401, as after the user deleted the token.
    pub token_revoked: bool,
    /// The doc is gone: every doc path and `resolveBrowserLink` answer 404.
    pub doc_deleted: bool,
    /// Every request is 429, however long the client waits.
    pub sticky_429: bool,
    /// The next this many requests are answered 429, whatever the fractions
    /// roll (counts down), so a test can be sure a 429 happened.
    pub next_429s: u32,
    /// When set, 429 answers carry `Retry-After: <n>` (Coda sends none).
    pub retry_after_secs: Option<u64>,
}

impl FaultSettings {
    /// Rolls the dice for a fraction.
    pub(crate) fn roll(fraction: f64) -> bool {
        fraction > 0.0 && rand::thread_rng().gen::<f64>() < fraction
    }
}
