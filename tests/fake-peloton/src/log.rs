//! The request log tests count: one entry per request that reached the fake (control
//! requests excluded), plus counters for things a path alone cannot tell (password grants).

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Mutex;

/// One request as the fake saw it. Bodies are never recorded (they hold passwords and codes).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Logged {
    /// HTTP method, e.g. `GET`.
    pub method: String,
    /// Path without the query, e.g. `/api/me`.
    pub path: String,
    /// Raw query string without the `?`, empty when there was none.
    pub query: String,
    /// Status sent; `0` when the connection was dropped on purpose without a response.
    pub status: u16,
    /// When the request arrived (comparable with the fake Coda's log: one clock).
    pub at: tokio::time::Instant,
    /// True when no route matched: the client called something the real server does not
    /// serve (or the fake does not know). Tests should assert there are none.
    pub unexpected: bool,
}

/// Thread-safe request log plus login counters.
#[derive(Default)]
pub struct RequestLog {
    entries: Mutex<Vec<Logged>>,
    logins: AtomicUsize,
    refreshes: AtomicUsize,
}

impl RequestLog {
    /// Appends one entry.
    pub fn push(&self, entry: Logged) {
        lock(&self.entries).push(entry);
    }

    /// A copy of all entries, oldest first.
    pub fn entries(&self) -> Vec<Logged> {
        lock(&self.entries).clone()
    }

    /// Counts entries matching `pred`.
    pub fn count(&self, pred: impl Fn(&Logged) -> bool) -> usize {
        lock(&self.entries).iter().filter(|r| pred(r)).count()
    }

    /// Records one full login attempt (credentials sent).
    pub fn note_login(&self) {
        self.logins.fetch_add(1, Ordering::SeqCst);
    }

    /// Records one refresh-token grant attempt.
    pub fn note_refresh(&self) {
        self.refreshes.fetch_add(1, Ordering::SeqCst);
    }

    /// Full login attempts since the last reset.
    pub fn logins(&self) -> usize {
        self.logins.load(Ordering::SeqCst)
    }

    /// Refresh-token grant attempts since the last reset.
    pub fn refreshes(&self) -> usize {
        self.refreshes.load(Ordering::SeqCst)
    }

    /// Forgets every entry and zeroes the counters.
    pub fn reset(&self) {
        lock(&self.entries).clear();
        self.logins.store(0, Ordering::SeqCst);
        self.refreshes.store(0, Ordering::SeqCst);
    }
}

/// Locks a mutex, ignoring poisoning: a panicking test thread must not hide the log.
pub(crate) fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|e| e.into_inner())
}
