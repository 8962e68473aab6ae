//! What both binaries' logs may hold: the filter every log layer uses and
//! the scrubber every log line goes through, so no log level carries a
//! token, cookie, code or password (cli.md, "Secrets").
//!
//! The HTTP stack's own crates log cookies, headers and URLs with codes at
//! debug and trace, and people paste debug logs into bug reports. So they
//! are capped at `info` whatever `RUST_LOG` asks, unless the user opts in
//! with [`WIRE_LOG_VAR`]`=1`; and even then each line is scrubbed of what
//! looks like a secret ([`scrub`]). The scrubber is a last net, not the
//! rule: our own code logs no secret at any level.

use std::borrow::Cow;
use std::io::Write;

use tracing_subscriber::fmt::MakeWriter;

/// The variable that lets the HTTP stack's crates log below `info`.
pub const WIRE_LOG_VAR: &str = "PCS_WIRE_LOG";

/// Crates that log cookies, headers, URLs or page content below `info`. The
/// HTML parser is among them: at debug it logs every tag of the login pages
/// it reads, hidden inputs and their signed values included.
const WIRE_CRATES: &[&str] = &[
    "cookie_store",
    "hyper",
    "hyper_util",
    "reqwest",
    "h2",
    "rustls",
    "tokio_rustls",
    "hyper_rustls",
    "html5ever",
    "markup5ever",
    "selectors",
    "scraper",
];

/// Whether the value of [`WIRE_LOG_VAR`] opts in (`1`, `true`, `yes`).
pub fn wire_opt_in(value: Option<&str>) -> bool {
    value.is_some_and(|v| matches!(v.trim().to_ascii_lowercase().as_str(), "1" | "true" | "yes"))
}

/// The directives for a `tracing_subscriber::EnvFilter`: `requested` (a
/// `RUST_LOG` value; `info` when `None`) with the wire crates capped at
/// `info`, unless `wire` opts in. A directive of the user's naming a wire
/// crate is dropped when capped, so it cannot outrank the cap.
pub fn filter_directives(requested: Option<&str>, wire: bool) -> String {
    let requested = requested.map(str::trim).filter(|r| !r.is_empty());
    let mut directives: Vec<String> = split_directives(requested.unwrap_or("info"))
        .into_iter()
        .filter(|d| wire || !names_wire_crate(d))
        .collect();
    if !wire {
        directives.extend(WIRE_CRATES.iter().map(|c| format!("{c}=info")));
    }
    directives.join(",")
}

/// Splits on the commas between directives, not those inside `[...]` or `{...}`.
fn split_directives(s: &str) -> Vec<String> {
    let mut out = Vec::new();
    let mut depth = 0i32;
    let mut current = String::new();
    for c in s.chars() {
        match c {
            '[' | '{' => depth += 1,
            ']' | '}' => depth -= 1,
            ',' if depth <= 0 => {
                if !current.trim().is_empty() {
                    out.push(current.trim().to_string());
                }
                current.clear();
                continue;
            }
            _ => {}
        }
        current.push(c);
    }
    if !current.trim().is_empty() {
        out.push(current.trim().to_string());
    }
    out
}

fn names_wire_crate(directive: &str) -> bool {
    let target = directive
        .split(['=', '['])
        .next()
        .unwrap_or_default()
        .trim();
    WIRE_CRATES
        .iter()
        .any(|c| target == *c || target.starts_with(&format!("{c}::")))
}

/// Keys whose value is a secret, in `key=value`, `key: value` or
/// `"key":"value"` form (case-insensitive).
const SECRET_KEYS: &[&str] = &[
    "access_token",
    "refresh_token",
    "id_token",
    "code",
    "code_verifier",
    "_csrf",
    "password",
    "wresult",
    "auth0",
    "token",
    "authorization",
];

/// Keys whose value runs to the end of the line or quote (a whole header).
const HEADER_KEYS: &[&str] = &["cookie", "set-cookie"];

const REDACTED: &str = "[redacted]";

fn is_ident(b: u8) -> bool {
    b.is_ascii_alphanumeric() || b == b'_' || b == b'-'
}

/// `text` with every value that looks like a secret replaced by
/// `[redacted]`: the values of [`SECRET_KEYS`] and of cookie headers, the
/// word after `Bearer`, and anything shaped like a JWT (`eyJ...`).
pub fn scrub(text: &str) -> Cow<'_, str> {
    let b = text.as_bytes();
    let lower = text.to_ascii_lowercase();
    let lb = lower.as_bytes();
    let mut cuts: Vec<(usize, usize)> = Vec::new();
    let mut i = 0;
    while i < b.len() {
        let at_word = i == 0 || !is_ident(b[i - 1]);
        if let Some(range) = at_word.then(|| secret_value_at(lb, i)).flatten() {
            cuts.push(range);
            i = range.1.max(i + 1);
            continue;
        }
        i += 1;
    }
    if cuts.is_empty() {
        return Cow::Borrowed(text);
    }
    let mut out = String::with_capacity(text.len());
    let mut last = 0;
    for (start, end) in cuts {
        out.push_str(&text[last..start]);
        out.push_str(REDACTED);
        last = end;
    }
    out.push_str(&text[last..]);
    Cow::Owned(out)
}

/// The byte range of a secret value starting at a key (or a JWT) at `i`.
fn secret_value_at(lb: &[u8], i: usize) -> Option<(usize, usize)> {
    let rest = &lb[i..];
    if rest.starts_with(b"eyj") {
        let end = i + rest
            .iter()
            .take_while(|&&c| is_ident(c) || c == b'.')
            .count();
        return (end - i > 16).then_some((i, end));
    }
    if rest.starts_with(b"bearer ") {
        let start = i + 7;
        let end = value_end(lb, start, false);
        return (end > start).then_some((start, end));
    }
    let (key, whole) = HEADER_KEYS
        .iter()
        .map(|k| (*k, true))
        .chain(SECRET_KEYS.iter().map(|k| (*k, false)))
        .filter(|(k, _)| rest.starts_with(k.as_bytes()))
        .max_by_key(|(k, _)| k.len())?;
    let mut j = i + key.len();
    if j < lb.len() && is_ident(lb[j]) {
        return None;
    }
    // `"key"` then `:` or `=`, with spaces and a quote around the value.
    if lb.get(j) == Some(&b'"') {
        j += 1;
    }
    while lb.get(j) == Some(&b' ') {
        j += 1;
    }
    if !matches!(lb.get(j), Some(b'=' | b':')) {
        return None;
    }
    j += 1;
    while matches!(lb.get(j), Some(b' ' | b'"' | b'\\')) {
        j += 1;
    }
    if lb[j..].starts_with(b"bearer ") {
        j += 7;
    }
    let end = value_end(lb, j, whole);
    (end > j).then_some((j, end))
}

fn value_end(lb: &[u8], start: usize, whole: bool) -> usize {
    let stop = |c: u8| {
        if whole {
            matches!(c, b'\n' | b'"')
        } else {
            matches!(
                c,
                b'&' | b';' | b',' | b'"' | b'\'' | b'\\' | b'}' | b')' | b']' | b'\n'
            ) || c.is_ascii_whitespace()
        }
    };
    start + lb[start..].iter().take_while(|&&c| !stop(c)).count()
}

/// A `MakeWriter` whose writers pass every line through [`scrub`].
#[derive(Debug, Clone)]
pub struct Scrubbing<M>(pub M);

/// The writer [`Scrubbing`] makes.
#[derive(Debug)]
pub struct ScrubbingWriter<W>(W);

impl<W: Write> Write for ScrubbingWriter<W> {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        // The fmt layer writes one whole event per call; a chunk that is not
        // UTF-8 is scrubbed in its readable parts.
        let text = String::from_utf8_lossy(buf);
        self.0.write_all(scrub(&text).as_bytes())?;
        Ok(buf.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        self.0.flush()
    }
}

impl<'a, M: MakeWriter<'a>> MakeWriter<'a> for Scrubbing<M> {
    type Writer = ScrubbingWriter<M::Writer>;

    fn make_writer(&'a self) -> Self::Writer {
        ScrubbingWriter(self.0.make_writer())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn wire_crates_are_capped_unless_opted_in() {
        assert_eq!(
            filter_directives(None, false),
            "info,cookie_store=info,hyper=info,hyper_util=info,reqwest=info,h2=info,rustls=info,tokio_rustls=info,hyper_rustls=info,html5ever=info,markup5ever=info,selectors=info,scraper=info"
        );
        let capped = filter_directives(
            Some("trace,cookie_store=trace,hyper_util::client=debug,pcs_core=debug"),
            false,
        );
        assert!(
            capped.starts_with("trace,pcs_core=debug,cookie_store=info"),
            "{capped}"
        );
        assert!(
            !capped.contains("=trace,") && !capped.contains("=debug,h"),
            "{capped}"
        );
        assert_eq!(filter_directives(Some("trace"), true), "trace");
        assert_eq!(filter_directives(Some("  "), true), "info");
        // Commas inside a span filter stay in their directive.
        assert_eq!(
            split_directives("a[s{x=1,y=2}]=debug,b=info"),
            ["a[s{x=1,y=2}]=debug", "b=info"]
        );
    }

    #[test]
    fn only_an_explicit_yes_opts_in() {
        assert!(wire_opt_in(Some("1")) && wire_opt_in(Some("TRUE")) && wire_opt_in(Some("yes")));
        assert!(!wire_opt_in(None) && !wire_opt_in(Some("0")) && !wire_opt_in(Some("")));
    }

    #[test]
    fn secrets_are_scrubbed_in_every_shape() {
        let check = |input: &str, expect: &str| assert_eq!(scrub(input), expect, "{input}");
        check(
            "GET https://members.onepeloton.com/callback?code=c0de42&state=s1",
            "GET https://members.onepeloton.com/callback?code=[redacted]&state=s1",
        );
        check(
            r#"{"access_token":"abc.def","refresh_token": "v1.xyz","expires_in":3}"#,
            r#"{"access_token":"[redacted]","refresh_token": "[redacted]","expires_in":3}"#,
        );
        check(
            "cookie: _csrf=tok-1; auth0=sess-9\nnext line",
            "cookie: [redacted]\nnext line",
        );
        check(
            r#"headers={"set-cookie": "auth0=sess-9; Path=/; HttpOnly"}"#,
            r#"headers={"set-cookie": "[redacted]"}"#,
        );
        check(
            "authorization: Bearer abc123 done",
            "authorization: Bearer [redacted] done",
        );
        check("_csrf=q1w2e3; Path=/x", "_csrf=[redacted]; Path=/x");
        check(
            "token eyJhbGciOiJSUzI1NiJ9.eyJzdWIiOiJ4In0.sig-nature here",
            "token [redacted] here",
        );
        check(r#"password: "hunter2" "#, r#"password: "[redacted]" "#);
        // Words that merely contain a key, and plain lines, are left alone.
        check("barcode=7 encode: x", "barcode=7 encode: x");
        check(
            "Peloton answered 429 (code too_many_attempts)",
            "Peloton answered 429 (code too_many_attempts)",
        );
        assert!(matches!(scrub("nothing secret here"), Cow::Borrowed(_)));
    }

    #[test]
    fn the_writer_scrubs_what_it_writes() {
        let mut out = Vec::new();
        {
            let mut w = ScrubbingWriter(&mut out);
            w.write_all(b"refresh_token=v1.abc done\n").unwrap();
        }
        assert_eq!(out, b"refresh_token=[redacted] done\n");
    }
}
