//! What the Peloton client tests share (`mod common;` in each test file).

use std::time::Duration;

use fake_peloton::FakePeloton;
use pcs_core::net::{RateLimit, RetryBudget, RetryPolicy};
use pcs_core::peloton::PelotonConfig;

/// Retries in milliseconds, so fault storms finish fast.
pub fn fast_retry() -> RetryPolicy {
    RetryPolicy {
        base: Duration::from_millis(1),
        floor_429: Duration::from_millis(1),
        max_delay: Duration::from_millis(20),
        max_attempts: 30,
        max_consecutive_429: 30,
        budget: RetryBudget::new(Duration::from_secs(120)),
    }
}

/// The client's configuration for `fake`: both URLs on it, no pacing to
/// speak of, [`fast_retry`].
pub fn config(fake: &FakePeloton) -> PelotonConfig {
    PelotonConfig {
        api_url: fake.url(),
        auth_url: fake.url(),
        rate: RateLimit {
            requests: 1000,
            per: Duration::from_secs(1),
        },
        retry: fast_retry(),
        ..PelotonConfig::default()
    }
}
