//! Polling with a deadline, never a sleep as synchronisation: every wait
//! says what it waited for, and on a timeout what it saw last.

use std::future::Future;
use std::time::Duration;

use anyhow::{bail, Result};
use tokio::time::Instant;

/// How long most waits may take: an app start, a sync against the fakes, a
/// window update. Generous, because a 2-core machine may be busy.
pub const PATIENCE: Duration = Duration::from_secs(60);

/// How often a condition is checked.
const EVERY: Duration = Duration::from_millis(100);

/// Calls `check` until it returns `Ok(Some(v))`, and returns `v`. `Ok(None)`
/// and errors both mean "not yet"; after [`PATIENCE`] the error names `what`
/// and the last error seen.
pub async fn until<T, F, Fut>(what: &str, check: F) -> Result<T>
where
    F: FnMut() -> Fut,
    Fut: Future<Output = Result<Option<T>>>,
{
    until_within(what, PATIENCE, check).await
}

/// [`until`] with another deadline.
pub async fn until_within<T, F, Fut>(what: &str, patience: Duration, check: F) -> Result<T>
where
    F: FnMut() -> Fut,
    Fut: Future<Output = Result<Option<T>>>,
{
    until_every(what, patience, EVERY, check).await
}

/// [`until`] with another deadline and another pace.
pub async fn until_every<T, F, Fut>(
    what: &str,
    patience: Duration,
    every: Duration,
    mut check: F,
) -> Result<T>
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
        tokio::time::sleep(every).await;
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::{AtomicU32, Ordering};

    #[tokio::test(start_paused = true)]
    async fn returns_the_value_once_the_condition_holds() {
        let calls = AtomicU32::new(0);
        let v = until("three calls", || async {
            let n = calls.fetch_add(1, Ordering::SeqCst) + 1;
            Ok((n == 3).then_some(n))
        })
        .await
        .unwrap();
        assert_eq!(v, 3);
    }

    #[tokio::test(start_paused = true)]
    async fn a_timeout_names_what_was_awaited_and_the_last_error() {
        let e = until_within("the moon", Duration::from_secs(1), || async {
            Err::<Option<()>, _>(anyhow::anyhow!("still dark"))
        })
        .await
        .unwrap_err()
        .to_string();
        assert!(e.contains("the moon") && e.contains("still dark"), "{e}");
    }
}
