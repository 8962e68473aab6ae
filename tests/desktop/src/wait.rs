//! Polling with a deadline: every wait in these tests says what it waited
//! for, and on a timeout what it saw last.

use std::future::Future;
use std::time::{Duration, Instant};

use anyhow::{bail, Result};

/// How long most waits may take: an app start, a sync against the fakes, a
/// window update. Generous, because a 2-core machine may be busy.
pub const PATIENCE: Duration = Duration::from_secs(60);

/// How often a condition is checked.
const EVERY: Duration = Duration::from_millis(100);

/// Calls `check` until it returns `Ok(Some(v))`, and returns `v`. `Ok(None)`
/// and errors both mean "not yet"; after `PATIENCE` the error names `what`
/// and the last error seen.
pub async fn until<T, F, Fut>(what: &str, check: F) -> Result<T>
where
    F: FnMut() -> Fut,
    Fut: Future<Output = Result<Option<T>>>,
{
    until_within(what, PATIENCE, check).await
}

/// [`until`] with another deadline.
pub async fn until_within<T, F, Fut>(what: &str, patience: Duration, mut check: F) -> Result<T>
where
    F: FnMut() -> Fut,
    Fut: Future<Output = Result<Option<T>>>,
{
    let deadline = Instant::now() + patience;
    let mut last = String::from("(the condition never held)");
    loop {
        match check().await {
            Ok(Some(v)) => return Ok(v),
            Ok(None) => {}
            Err(e) => last = format!("{e:#}"),
        }
        if Instant::now() >= deadline {
            bail!("timed out after {patience:?} waiting for {what}; last error: {last}");
        }
        tokio::time::sleep(EVERY).await;
    }
}
