//! Coda's error answers, `{"statusCode", "statusMessage", "message"}`, and the JSON response
//! helper every handler uses (Coda sends `application/json; charset=utf-8`).

use axum::http::{header, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use serde_json::{json, Value};

/// An error answer.
#[derive(Debug)]
pub(crate) struct ApiError {
    status: StatusCode,
    message: String,
    retry_after: Option<u64>,
}

impl ApiError {
    /// An error with this status and message.
    pub fn new(status: StatusCode, message: impl Into<String>) -> Self {
        Self {
            status,
            message: message.into(),
            retry_after: None,
        }
    }

    /// 400 with a message.
    pub fn bad_request(message: impl Into<String>) -> Self {
        Self::new(StatusCode::BAD_REQUEST, message)
    }

    /// 404 with a message.
    pub fn not_found(message: impl Into<String>) -> Self {
        Self::new(StatusCode::NOT_FOUND, message)
    }

    /// 401, for a bad, missing or revoked token.
    pub fn unauthorized() -> Self {
        Self::new(StatusCode::UNAUTHORIZED, "Unauthorized")
    }

    /// 429, with `Retry-After` only when the fault switch asks for it.
    pub fn too_many_requests(retry_after: Option<u64>) -> Self {
        Self {
            retry_after,
            ..Self::new(StatusCode::TOO_MANY_REQUESTS, "Too Many Requests")
        }
    }

    /// The 400 for `X-Coda-Doc-Version` when the snapshot is stale.
    pub fn doc_not_up_to_date() -> Self {
        Self::bad_request("Doc is not yet up to date.")
    }

    /// The 404 for an unknown or deleted doc.
    pub fn doc_not_found() -> Self {
        Self::not_found("Could not find a doc with the specified ID.")
    }

    /// The 404 for an unknown table.
    pub fn table_not_found() -> Self {
        Self::not_found("Could not find a table with the specified ID or name.")
    }

    /// The 404 for an unknown row.
    pub fn row_not_found() -> Self {
        Self::not_found("Could not find a row with the specified ID or name.")
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let body = json!({
            "statusCode": self.status.as_u16(),
            "statusMessage": self.status.canonical_reason().unwrap_or(""),
            "message": self.message,
        });
        let mut response = json_response(self.status, &body);
        if let Some(secs) = self.retry_after {
            response
                .headers_mut()
                .insert(header::RETRY_AFTER, HeaderValue::from(secs));
        }
        response
    }
}

/// A JSON answer with Coda's content type.
pub(crate) fn json_response(status: StatusCode, body: &Value) -> Response {
    let mut response = (status, body.to_string()).into_response();
    response.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/json; charset=utf-8"),
    );
    response
}
