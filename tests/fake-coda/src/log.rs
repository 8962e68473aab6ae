//! The request log: every API request with its answer, so tests can prove what the client
//! sent (and that it sent nothing it should not).

use tokio::time::Instant;

/// One request as the fake saw it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Logged {
    /// HTTP method, e.g. `POST`.
    pub method: String,
    /// Path, e.g. `/apis/v1/docs/AbCDeFGH/tables/grid-…/rows` (percent-encoding kept).
    pub path: String,
    /// The raw query string, if any.
    pub query: Option<String>,
    /// Status sent; 0 when the connection was dropped without an answer.
    pub status: u16,
    /// When the request arrived.
    pub at: Instant,
    /// True for a request no route serves (the catch-all answered it).
    pub unexpected: bool,
}

impl Logged {
    /// True for a row write: POST/PUT/PATCH/DELETE on `…/tables/{t}/rows[/{row}]`.
    pub fn is_row_write(&self) -> bool {
        is_row_write(&self.method, &self.path)
    }
}

/// True for a row write: POST/PUT/PATCH/DELETE on `/apis/v1/docs/{d}/tables/{t}/rows[/{r}]`.
pub(crate) fn is_row_write(method: &str, path: &str) -> bool {
    if !matches!(method, "POST" | "PUT" | "PATCH" | "DELETE") {
        return false;
    }
    let segments: Vec<&str> = path.trim_end_matches('/').split('/').collect();
    matches!(
        segments.as_slice(),
        ["", "apis", "v1", "docs", _, "tables", _, "rows"]
            | ["", "apis", "v1", "docs", _, "tables", _, "rows", _]
    )
}

#[cfg(test)]
mod tests {
    use super::is_row_write;

    #[test]
    fn row_writes_are_recognised_by_method_and_path() {
        assert!(is_row_write("POST", "/apis/v1/docs/D/tables/T/rows"));
        assert!(is_row_write("DELETE", "/apis/v1/docs/D/tables/T/rows/i-1"));
        assert!(!is_row_write("GET", "/apis/v1/docs/D/tables/T/rows"));
        assert!(!is_row_write("POST", "/apis/v1/docs/D/tables/T/columns"));
    }
}
