//! Coda's limits: per-token sliding-window rate limits (read, write, doc-content write) and
//! the 2 MB request / 85 KB row size limits with the messages Coda sends.

use std::collections::{HashMap, VecDeque};
use std::time::Duration;

use serde_json::Value;
use tokio::time::Instant;

use crate::config::{Bucket, RateLimits};

/// Largest accepted request body. "2 MB" is read as 2,000,000 bytes, the stricter reading.
pub(crate) const MAX_BODY_BYTES: usize = 2_000_000;

/// Largest accepted row edit. "85 KB" is read as 85,000 bytes, the stricter reading.
pub(crate) const MAX_ROW_BYTES: usize = 85_000;

/// Which buckets a request counts against.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Class {
    /// GETs: the read bucket.
    Read,
    /// Row writes: the write bucket and the doc-content write bucket.
    Write,
    /// `GET /docs`: the read bucket and the list-docs bucket.
    ListDocs,
}

/// Request times per bucket for one token.
#[derive(Default)]
struct Windows {
    read: VecDeque<Instant>,
    write: VecDeque<Instant>,
    doc_write: VecDeque<Instant>,
    list_docs: VecDeque<Instant>,
}

/// The rate limiter. Rejected requests are not counted, as Coda did not execute them.
pub(crate) struct Limiter {
    /// False lets everything through.
    pub enabled: bool,
    limits: RateLimits,
    per_token: HashMap<String, Windows>,
}

impl Limiter {
    /// A limiter with these buckets.
    pub fn new(limits: RateLimits) -> Self {
        Self {
            enabled: limits.enabled,
            limits,
            per_token: HashMap::new(),
        }
    }

    /// Counts a request, or says how long until the fullest bucket has room.
    pub fn admit(&mut self, token: &str, class: Class, now: Instant) -> Result<(), Duration> {
        if !self.enabled {
            return Ok(());
        }
        let w = self.per_token.entry(token.to_owned()).or_default();
        let mut buckets: Vec<(&mut VecDeque<Instant>, Bucket)> = match class {
            Class::Read => vec![(&mut w.read, self.limits.read)],
            Class::Write => vec![
                (&mut w.write, self.limits.write),
                (&mut w.doc_write, self.limits.doc_write),
            ],
            Class::ListDocs => vec![
                (&mut w.read, self.limits.read),
                (&mut w.list_docs, self.limits.list_docs),
            ],
        };
        let mut wait: Option<Duration> = None;
        for (times, bucket) in &mut buckets {
            while times
                .front()
                .is_some_and(|t| now.duration_since(*t) >= bucket.window)
            {
                times.pop_front();
            }
            if times.len() >= bucket.limit {
                let frees_at = times.front().map_or(now, |t| *t + bucket.window);
                wait = Some(wait.unwrap_or_default().max(frees_at.duration_since(now)));
            }
        }
        if let Some(wait) = wait {
            return Err(wait);
        }
        for (times, _) in buckets {
            times.push_back(now);
        }
        Ok(())
    }
}

/// A row edit's size as Coda counts it: values as UTF-8 bytes, each newline counted twice.
pub(crate) fn row_size<'a>(values: impl IntoIterator<Item = &'a Value>) -> usize {
    values.into_iter().map(value_size).sum()
}

fn value_size(value: &Value) -> usize {
    match value {
        Value::String(s) => s.len() + s.matches('\n').count(),
        Value::Array(items) => items.iter().map(value_size).sum(),
        Value::Null => 0,
        Value::Bool(_) | Value::Number(_) | Value::Object(_) => value.to_string().len(),
    }
}

/// Coda's message for a row over the limit, e.g. "Row edit of size 131 KB exceeds maximum
/// size of 85 KB.".
pub(crate) fn row_too_large_message(size: usize) -> String {
    format!(
        "Row edit of size {} KB exceeds maximum size of 85 KB.",
        size.div_ceil(1000)
    )
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    fn limiter(doc_writes: usize) -> Limiter {
        let mut limits = RateLimits::default();
        limits.doc_write.limit = doc_writes;
        Limiter::new(limits)
    }

    #[test]
    fn the_fourth_write_in_ten_seconds_is_refused_until_the_first_leaves_the_window() {
        let mut l = limiter(3);
        let start = Instant::now();
        for _ in 0..3 {
            assert!(l.admit("t", Class::Write, start).is_ok());
        }
        let wait = l
            .admit("t", Class::Write, start + Duration::from_secs(4))
            .unwrap_err();
        assert_eq!(wait, Duration::from_secs(6));
        assert!(l
            .admit("t", Class::Write, start + Duration::from_secs(10))
            .is_ok());
        assert!(
            l.admit("other", Class::Write, start).is_ok(),
            "limits are per token"
        );
    }

    #[test]
    fn reads_do_not_use_the_write_buckets() {
        let mut l = limiter(1);
        let now = Instant::now();
        assert!(l.admit("t", Class::Write, now).is_ok());
        for _ in 0..100 {
            assert!(l.admit("t", Class::Read, now).is_ok());
        }
        assert!(l.admit("t", Class::Read, now).is_err());
        l.enabled = false;
        assert!(l.admit("t", Class::Read, now).is_ok());
    }

    #[test]
    fn the_fifth_doc_list_within_six_seconds_is_refused() {
        let mut l = limiter(3);
        let now = Instant::now();
        for _ in 0..4 {
            assert!(l.admit("t", Class::ListDocs, now).is_ok());
        }
        assert!(l.admit("t", Class::ListDocs, now).is_err());
        assert!(l.admit("t", Class::Read, now).is_ok(), "other reads go on");
        assert!(l
            .admit("t", Class::ListDocs, now + Duration::from_secs(6))
            .is_ok());
    }

    #[test]
    fn row_size_counts_newlines_twice() {
        assert_eq!(
            row_size([&json!("a\nb"), &json!(12), &json!(["xy", true])]),
            4 + 2 + 2 + 4
        );
        assert_eq!(
            row_too_large_message(130_001),
            "Row edit of size 131 KB exceeds maximum size of 85 KB."
        );
    }
}
