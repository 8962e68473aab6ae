//! Everything that can go wrong talking to Coda, and the one sentence a user
//! sees for each.
//!
//! Variants are chosen from the HTTP status alone (Coda's messages are free
//! text and differ by case, `coda-api.md` §10); Coda's `message` is only
//! carried along to be shown. No variant holds the API token.

use reqwest::StatusCode;

use crate::net::NetError;

/// A Coda API call that failed for good (after `net`'s retry rules ran out).
#[derive(Debug, thiserror::Error)]
pub enum CodaError {
    /// 401: the token is wrong, revoked or missing.
    #[error("Coda refused the API token (401)")]
    TokenRefused,
    /// 403: the token is valid but may not open this doc (a token restricted
    /// to another doc, or to reading).
    #[error("the Coda API token has no access to {}", doc_id.as_deref().unwrap_or("this resource"))]
    Forbidden {
        /// The doc that was addressed, when there was one.
        doc_id: Option<String>,
    },
    /// 404 on a doc, or a doc reference Coda could not resolve.
    #[error("Coda doc {doc} was not found")]
    DocNotFound {
        /// The doc ID or URL the user gave.
        doc: String,
    },
    /// 404 on a table (renamed or deleted since the schema check).
    #[error("Coda table {table} was not found in doc {doc_id}")]
    TableNotFound {
        /// The doc.
        doc_id: String,
        /// The table's name (or ID when the name is unknown).
        table: String,
    },
    /// 400 (or another 4xx that retrying cannot fix), with Coda's message.
    #[error("Coda rejected {endpoint} with {status}: {message}")]
    BadRequest {
        /// The endpoint, as a template (`POST /docs/{docId}/tables/{tableId}/rows`).
        endpoint: &'static str,
        /// The HTTP status.
        status: u16,
        /// Coda's `message`, for display only.
        message: String,
    },
    /// One row alone is bigger than the request size limit, so it can never be sent.
    #[error("row {key} needs {bytes} bytes, over the {limit}-byte request limit")]
    RequestTooLarge {
        /// The row's key.
        key: String,
        /// Its encoded size.
        bytes: usize,
        /// The limit it broke.
        limit: usize,
    },
    /// 429s went on until the retry policy gave up.
    #[error("Coda kept answering 429 Too Many Requests after {attempts} attempts")]
    RateLimited {
        /// Attempts made on the last request.
        attempts: u32,
    },
    /// The network failed (connection refused, dropped, timed out) on every try.
    #[error("could not reach Coda at {host}: {message}")]
    Unreachable {
        /// The API host.
        host: String,
        /// The last transport error.
        message: String,
    },
    /// 5xx until the retry policy gave up, or a status the API never documents.
    #[error("Coda answered HTTP {0}")]
    Server(u16),
    /// A 2xx answer whose JSON did not have the expected shape.
    #[error("could not read Coda's answer to {endpoint} at {path}: {message}")]
    Decode {
        /// The endpoint, as a template.
        endpoint: &'static str,
        /// Where in the JSON it went wrong (`items[3].format.type`).
        path: String,
        /// The decoder's message.
        message: String,
    },
    /// The text the user gave is neither a doc ID nor a URL with one.
    #[error("not a Coda doc URL or ID: {0:?}")]
    InvalidDocRef(String),
    /// The token holds characters no HTTP header may carry.
    #[error("the Coda API token holds characters a header cannot carry")]
    TokenUnusable,
    /// The configured API base URL cannot be used.
    #[error("invalid Coda API URL {url:?}: {message}")]
    InvalidApiUrl {
        /// The configured URL.
        url: String,
        /// Why it was refused.
        message: String,
    },
}

impl CodaError {
    /// One sentence a user can act on.
    pub fn user_message(&self) -> String {
        match self {
            CodaError::TokenRefused => "Coda refused the API token; create a new one in Coda's account settings and enter it in Settings.".to_string(),
            CodaError::Forbidden { .. } => "The Coda API token may not open this doc (it may be limited to another doc or to reading only); create a token with read and write access to the doc and enter it in Settings.".to_string(),
            CodaError::DocNotFound { doc } => format!(
                "Coda doc \"{doc}\" was not found, or the token cannot open it; check the doc URL."
            ),
            CodaError::TableNotFound { table, .. } => format!(
                "The Coda table \"{table}\" is gone (renamed or deleted); check the table names in Settings, then sync again."
            ),
            CodaError::BadRequest { message, .. } => format!(
                "Coda refused a request (\"{message}\"); check that the doc's tables and columns match the README, then sync again."
            ),
            CodaError::RequestTooLarge { key, .. } => format!(
                "The row \"{key}\" is too large for Coda's API; please report this with the log file."
            ),
            CodaError::RateLimited { .. } => "Coda kept asking the app to slow down; wait a few minutes, then sync again.".to_string(),
            CodaError::Unreachable { .. } => "Coda could not be reached; check the internet connection, then sync again.".to_string(),
            CodaError::Server(status) => format!(
                "Coda had a problem on its side (HTTP {status}); try again later."
            ),
            CodaError::Decode { .. } => "Coda sent an answer the app does not understand; please report this with the log file.".to_string(),
            CodaError::InvalidDocRef(input) => format!(
                "\"{input}\" is not a Coda doc URL or doc ID; copy the doc's URL from the browser's address bar into Settings."
            ),
            CodaError::TokenUnusable => "The Coda API token holds characters a token cannot have; copy it again from Coda's account settings and enter it in Settings.".to_string(),
            // The Settings window has no field for it: it comes from
            // CODA_API_URL or the settings file.
            CodaError::InvalidApiUrl { url, .. } => format!(
                "The Coda API URL \"{url}\" is not valid; fix CODA_API_URL or coda_api_url in the settings file, or remove it to use the default."
            ),
        }
    }

    /// True when retrying later could succeed without the user changing anything.
    pub fn is_transient(&self) -> bool {
        matches!(
            self,
            CodaError::RateLimited { .. } | CodaError::Unreachable { .. } | CodaError::Server(_)
        )
    }

    /// Maps a transport failure from [`crate::net::send_with_retry`].
    pub(crate) fn from_net(e: NetError) -> Self {
        match e {
            NetError::GaveUp {
                status, attempts, ..
            } if status == StatusCode::TOO_MANY_REQUESTS => CodaError::RateLimited { attempts },
            NetError::GaveUp { status, .. } => CodaError::Server(status.as_u16()),
            NetError::Unreachable { host, source } => CodaError::Unreachable {
                host,
                message: source.to_string(),
            },
            // A request that cannot be built means a bad base URL or path segment.
            NetError::Build(message) => CodaError::InvalidApiUrl {
                url: String::new(),
                message,
            },
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_user_message_is_one_sentence() {
        let all = [
            CodaError::TokenRefused,
            CodaError::Forbidden { doc_id: None },
            CodaError::DocNotFound { doc: "X".into() },
            CodaError::TableNotFound {
                doc_id: "d".into(),
                table: "Workouts".into(),
            },
            CodaError::BadRequest {
                endpoint: "POST /x",
                status: 400,
                message: "request entity too large".into(),
            },
            CodaError::RequestTooLarge {
                key: "k".into(),
                bytes: 3,
                limit: 2,
            },
            CodaError::RateLimited { attempts: 8 },
            CodaError::Unreachable {
                host: "h".into(),
                message: "m".into(),
            },
            CodaError::Server(502),
            CodaError::Decode {
                endpoint: "GET /whoami",
                path: "name".into(),
                message: "m".into(),
            },
            CodaError::InvalidDocRef("nope".into()),
            CodaError::InvalidApiUrl {
                url: "u".into(),
                message: "m".into(),
            },
        ];
        for e in all {
            let m = e.user_message();
            assert!(m.ends_with('.'), "{m}");
            assert_eq!(m.matches(". ").count(), 0, "more than one sentence: {m}");
        }
    }

    #[test]
    fn token_refused_tells_the_user_what_to_do() {
        assert_eq!(
            CodaError::TokenRefused.user_message(),
            "Coda refused the API token; create a new one in Coda's account settings and enter it in Settings."
        );
        assert_eq!(
            CodaError::DocNotFound { doc: "X".into() }.user_message(),
            "Coda doc \"X\" was not found, or the token cannot open it; check the doc URL."
        );
    }
}
