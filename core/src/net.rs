//! What both HTTP clients share: pacing under a rate limit and the retry rules.
//!
//! The rules, written once:
//! - 429: wait `Retry-After` when sent, else exponential backoff from a floor.
//! - 5xx, timeouts, dropped connections: exponential backoff with full jitter, capped.
//! - Any other status (2xx, 3xx, 4xx) is returned to the caller, which knows
//!   what a 401 means for its API; a 4xx that retrying cannot fix is never retried.
//! - Every wait, and the time every failed attempt took (a timeout waited
//!   out), is drawn from one [`RetryBudget`] per run shared by both services;
//!   when it is spent the request fails. One `Retry-After` takes at most
//!   [`MAX_RETRY_AFTER`]; a longer one ends the request at once.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use rand::Rng;
use reqwest::{RequestBuilder, Response, StatusCode};
use tokio::sync::{Semaphore, SemaphorePermit};
use tokio::time::Instant;

/// A configured API address (either service's, from the environment or the
/// settings file) as a base to join paths to: an http(s) URL with a host.
/// The error says why, for the service's own sentence.
pub fn base_url(s: &str) -> Result<reqwest::Url, String> {
    let url = reqwest::Url::parse(s).map_err(|e| e.to_string())?;
    if !matches!(url.scheme(), "http" | "https") || url.cannot_be_a_base() {
        return Err("must be an http or https URL".into());
    }
    if url.host_str().is_none() {
        return Err("has no host".into());
    }
    Ok(url)
}

/// A rate limit: at most `requests` in any window of `per`.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct RateLimit {
    /// Requests allowed in one window.
    pub requests: u32,
    /// The window.
    pub per: Duration,
}

impl RateLimit {
    /// The spacing that keeps a steady stream under this limit.
    pub fn spacing(&self) -> Duration {
        self.per / self.requests.max(1)
    }
}

/// Spaces requests evenly under a rate limit and caps how many are in flight.
///
/// A pacer may let a short burst through after a pause (a generic cell
/// rate: a slot may lie up to `burst − 1` spacings in the past), so a few
/// requests that go out together do not queue one spacing apart. Any window
/// of length `T` then holds at most `burst + T / spacing` requests.
#[derive(Debug)]
pub struct Pacer {
    in_flight: Semaphore,
    spacing: Duration,
    /// How far behind now a free slot may lie: `(burst − 1) · spacing`.
    tolerance: Duration,
    next_slot: Mutex<Option<Instant>>,
}

impl Pacer {
    /// A pacer allowing `max_in_flight` concurrent requests under `limit`,
    /// each at least one spacing after the one before.
    pub fn new(max_in_flight: usize, limit: RateLimit) -> Self {
        Self::with_burst(max_in_flight, limit, 1)
    }

    /// [`Pacer::new`], letting up to `burst` requests start at once after a
    /// pause.
    pub fn with_burst(max_in_flight: usize, limit: RateLimit, burst: u32) -> Self {
        let spacing = limit.spacing();
        Self {
            in_flight: Semaphore::new(max_in_flight.max(1)),
            spacing,
            tolerance: spacing * burst.saturating_sub(1),
            next_slot: Mutex::new(None),
        }
    }

    /// Waits for a free slot; the returned permit is held while the request runs.
    pub async fn acquire(&self) -> SemaphorePermit<'_> {
        #[allow(clippy::expect_used)] // the semaphore is never closed
        let permit = self
            .in_flight
            .acquire()
            .await
            .expect("pacer semaphore closed");
        let wait_until = {
            let mut next = self.next_slot.lock().unwrap_or_else(|e| e.into_inner());
            let now = Instant::now();
            let earliest = now.checked_sub(self.tolerance).unwrap_or(now);
            let slot = match *next {
                Some(t) if t > earliest => t,
                _ => earliest,
            };
            *next = Some(slot + self.spacing);
            slot
        };
        tokio::time::sleep_until(wait_until).await;
        permit
    }
}

/// Total time a run may spend retrying, shared by every request of both
/// services: the sleeps between attempts and the time attempts that failed
/// took (a timeout is waited out in full).
#[derive(Debug, Clone)]
pub struct RetryBudget {
    remaining: Arc<Mutex<Duration>>,
    total: Duration,
}

impl RetryBudget {
    /// A budget of `total` waiting time.
    pub fn new(total: Duration) -> Self {
        Self {
            remaining: Arc::new(Mutex::new(total)),
            total,
        }
    }

    /// Fills the budget up again: each run starts with the whole of it.
    pub fn refill(&self) {
        *self.remaining.lock().unwrap_or_else(|e| e.into_inner()) = self.total;
    }

    /// What is left.
    pub fn remaining(&self) -> Duration {
        *self.remaining.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Counts time already spent (a failed attempt) against the budget;
    /// false when the budget is spent.
    fn spend(&self, spent: Duration) -> bool {
        let mut left = self.remaining.lock().unwrap_or_else(|e| e.into_inner());
        *left = left.saturating_sub(spent);
        !left.is_zero()
    }

    /// Takes `wait` from the budget; false when not enough is left.
    fn take(&self, wait: Duration) -> bool {
        let mut left = self.remaining.lock().unwrap_or_else(|e| e.into_inner());
        if *left < wait {
            *left = Duration::ZERO;
            false
        } else {
            *left -= wait;
            true
        }
    }
}

impl Default for RetryBudget {
    /// The CLI contract: give up after at most 10 minutes of retrying in all.
    fn default() -> Self {
        Self::new(Duration::from_secs(600))
    }
}

/// How one client retries.
#[derive(Debug, Clone)]
pub struct RetryPolicy {
    /// First backoff step for 5xx and network errors.
    pub base: Duration,
    /// First wait after a 429 without `Retry-After`.
    pub floor_429: Duration,
    /// No single wait is longer than this.
    pub max_delay: Duration,
    /// Attempts per request, the first included.
    pub max_attempts: u32,
    /// After this many 429s in a row on one request, stop (Coda's "sticky" 429s).
    pub max_consecutive_429: u32,
    /// Shared across the run and by both services.
    pub budget: RetryBudget,
}

/// The longest one `Retry-After` may take of the budget; a server asking
/// for longer ends the request at once (the sync tries again later).
pub const MAX_RETRY_AFTER: Duration = Duration::from_secs(120);

impl Default for RetryPolicy {
    fn default() -> Self {
        Self {
            base: Duration::from_millis(500),
            floor_429: Duration::from_secs(2),
            max_delay: Duration::from_secs(60),
            max_attempts: 8,
            max_consecutive_429: 8,
            budget: RetryBudget::default(),
        }
    }
}

impl RetryPolicy {
    /// The wait before attempt `attempt + 1` (attempt counts from 1).
    fn backoff(&self, attempt: u32, floor: Duration) -> Duration {
        let exp = floor.saturating_mul(1u32 << (attempt.saturating_sub(1)).min(16));
        let cap = exp.min(self.max_delay);
        // Full jitter, but never below half the step, so a storm still spreads out.
        let half = cap / 2;
        let jitter = rand::thread_rng().gen_range(0..=half.as_millis() as u64);
        half + Duration::from_millis(jitter)
    }
}

/// A request that failed for good after the retry rules ran out.
#[derive(Debug, thiserror::Error)]
pub enum NetError {
    /// The server could not be reached, or the connection kept dropping.
    #[error("could not reach {host}: {source}")]
    Unreachable {
        /// The host that was called.
        host: String,
        /// The last transport error.
        #[source]
        source: reqwest::Error,
    },
    /// Retries were exhausted on 429 or 5xx answers.
    #[error("{host} kept answering {status} after {attempts} attempts")]
    GaveUp {
        /// The host that was called.
        host: String,
        /// The last status seen.
        status: StatusCode,
        /// How many attempts were made.
        attempts: u32,
    },
    /// The request could not be built (a bug, not a server problem).
    #[error("request could not be built: {0}")]
    Build(String),
}

impl NetError {
    /// True when the last answer was a 429.
    pub fn is_rate_limited(&self) -> bool {
        matches!(self, NetError::GaveUp { status, .. } if *status == StatusCode::TOO_MANY_REQUESTS)
    }
}

fn retry_after(resp: &Response) -> Option<Duration> {
    let v = resp
        .headers()
        .get(reqwest::header::RETRY_AFTER)?
        .to_str()
        .ok()?;
    v.trim().parse::<u64>().ok().map(Duration::from_secs)
}

fn should_retry_status(status: StatusCode) -> bool {
    status == StatusCode::TOO_MANY_REQUESTS || status.is_server_error()
}

/// Sends a request built by `build` (called once per attempt), paced by
/// `pacer`, retrying per `policy`. Returns the first response that is not
/// retryable; the caller interprets its status. (About 85 lines: one loop
/// whose every branch spends the one budget; the rules read best together.)
pub async fn send_with_retry<F>(
    pacer: &Pacer,
    policy: &RetryPolicy,
    host: &str,
    mut build: F,
) -> Result<Response, NetError>
where
    F: FnMut() -> RequestBuilder,
{
    let mut attempt = 0u32;
    let mut consecutive_429 = 0u32;
    loop {
        attempt += 1;
        let result = {
            let _permit = pacer.acquire().await;
            let started = Instant::now();
            let result = build().send().await;
            let failed = match &result {
                Ok(resp) => should_retry_status(resp.status()),
                Err(e) => !e.is_builder(),
            };
            // A failed attempt's time (a timeout waited out, a slow 5xx) is
            // retrying too: it comes out of the same budget as the sleeps.
            if failed && !policy.budget.spend(started.elapsed()) {
                return Err(match result {
                    Ok(resp) => NetError::GaveUp {
                        host: host.to_string(),
                        status: resp.status(),
                        attempts: attempt,
                    },
                    Err(e) => NetError::Unreachable {
                        host: host.to_string(),
                        source: e.without_url(),
                    },
                });
            }
            result
        };
        let wait = match result {
            Ok(resp) if should_retry_status(resp.status()) => {
                let status = resp.status();
                let give_up = |attempts| NetError::GaveUp {
                    host: host.to_string(),
                    status,
                    attempts,
                };
                let wait = if status == StatusCode::TOO_MANY_REQUESTS {
                    consecutive_429 += 1;
                    if consecutive_429 >= policy.max_consecutive_429 {
                        return Err(give_up(attempt));
                    }
                    match retry_after(&resp) {
                        Some(wait) if wait > MAX_RETRY_AFTER => return Err(give_up(attempt)),
                        Some(wait) => wait,
                        None => policy.backoff(consecutive_429, policy.floor_429),
                    }
                } else {
                    consecutive_429 = 0;
                    retry_after(&resp)
                        .map(|w| w.min(MAX_RETRY_AFTER))
                        .unwrap_or_else(|| policy.backoff(attempt, policy.base))
                };
                if attempt >= policy.max_attempts || !policy.budget.take(wait) {
                    return Err(give_up(attempt));
                }
                tracing::warn!(host, %status, attempt, wait_ms = wait.as_millis() as u64, "retrying");
                wait
            }
            Ok(resp) => return Ok(resp),
            Err(e) if e.is_builder() => return Err(NetError::Build(e.to_string())),
            Err(e) => {
                consecutive_429 = 0;
                let wait = policy.backoff(attempt, policy.base);
                if attempt >= policy.max_attempts || !policy.budget.take(wait) {
                    return Err(NetError::Unreachable {
                        host: host.to_string(),
                        source: e.without_url(),
                    });
                }
                tracing::warn!(host, attempt, error = %e.without_url(), wait_ms = wait.as_millis() as u64, "retrying after a network error");
                wait
            }
        };
        tokio::time::sleep(wait).await;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backoff_grows_and_is_capped() {
        let p = RetryPolicy {
            base: Duration::from_secs(1),
            max_delay: Duration::from_secs(8),
            ..RetryPolicy::default()
        };
        for _ in 0..50 {
            let first = p.backoff(1, p.base);
            assert!(first >= Duration::from_millis(500) && first <= Duration::from_secs(1));
            let tenth = p.backoff(10, p.base);
            assert!(tenth >= Duration::from_secs(4) && tenth <= Duration::from_secs(8));
        }
    }

    #[test]
    fn budget_runs_out() {
        let b = RetryBudget::new(Duration::from_secs(3));
        assert!(b.take(Duration::from_secs(2)));
        assert!(!b.take(Duration::from_secs(2)));
        assert!(!b.take(Duration::from_millis(1)));
    }

    /// A server that accepts connections and never answers.
    async fn hanging_server() -> (String, tokio::task::JoinHandle<()>) {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let url = format!("http://{}/", listener.local_addr().unwrap());
        let task = tokio::spawn(async move {
            let mut held = Vec::new();
            while let Ok((conn, _)) = listener.accept().await {
                held.push(conn);
            }
        });
        (url, task)
    }

    #[tokio::test(start_paused = true)]
    async fn a_hanging_server_ends_within_the_budget_counting_timeouts() {
        let (url, _server) = hanging_server().await;
        let http = reqwest::Client::builder()
            .timeout(Duration::from_secs(30))
            .build()
            .unwrap();
        let policy = RetryPolicy {
            max_attempts: 1000,
            ..RetryPolicy::default()
        };
        let pacer = Pacer::new(
            4,
            RateLimit {
                requests: 10,
                per: Duration::from_secs(1),
            },
        );
        let start = Instant::now();
        let err = send_with_retry(&pacer, &policy, "hanging", || http.get(&url))
            .await
            .unwrap_err();
        assert!(matches!(err, NetError::Unreachable { .. }), "{err:?}");
        let took = Instant::now() - start;
        // The budget (10 min) counts the 30 s timeouts, not only the sleeps.
        assert!(took <= Duration::from_secs(600 + 90), "{took:?}");
        assert!(took >= Duration::from_secs(540), "{took:?}");
        assert_eq!(policy.budget.remaining(), Duration::ZERO);
    }

    #[test]
    fn refill_gives_a_run_the_whole_budget() {
        let b = RetryBudget::new(Duration::from_secs(3));
        let shared = b.clone();
        assert!(shared.take(Duration::from_secs(2)));
        assert_eq!(b.remaining(), Duration::from_secs(1));
        b.refill();
        assert_eq!(shared.remaining(), Duration::from_secs(3));
    }

    #[tokio::test(start_paused = true)]
    async fn pacer_spaces_requests() {
        let pacer = Pacer::new(
            4,
            RateLimit {
                requests: 5,
                per: Duration::from_secs(1),
            },
        );
        let start = Instant::now();
        for _ in 0..6 {
            drop(pacer.acquire().await);
        }
        // Six requests at 200 ms spacing: the sixth starts 1 s after the first.
        assert_eq!(Instant::now() - start, Duration::from_secs(1));
    }

    #[tokio::test(start_paused = true)]
    async fn a_burst_goes_at_once_and_the_rate_holds_after_it() {
        let limit = RateLimit {
            requests: 5,
            per: Duration::from_secs(1),
        };
        let pacer = Pacer::with_burst(8, limit, 3);
        let start = Instant::now();
        let mut starts = Vec::new();
        for _ in 0..6 {
            drop(pacer.acquire().await);
            starts.push((Instant::now() - start).as_millis());
        }
        // Three at once, then one every 200 ms, as if the burst had been
        // spread over the 400 ms before the first.
        assert_eq!(starts, [0, 0, 0, 200, 400, 600]);
        // After a pause as long as the burst, it goes at once again.
        tokio::time::sleep(Duration::from_millis(1000)).await;
        let again = Instant::now();
        for _ in 0..3 {
            drop(pacer.acquire().await);
        }
        assert_eq!(Instant::now() - again, Duration::ZERO);
        // Any one-second window holds at most burst + 5 starts.
        drop(pacer.acquire().await);
        assert_eq!(Instant::now() - again, Duration::from_millis(200));
    }
}
