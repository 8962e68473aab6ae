//! A proxy in front of the fake Peloton that truncates some answers, so the
//! client sees malformed JSON (the fake itself only ever sends valid JSON).

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;

use axum::body::Body;
use axum::extract::{Request, State};
use axum::http::{header, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Router;

struct Shared {
    upstream: String,
    http: reqwest::Client,
    path_prefix: &'static str,
    every: usize,
    seen: AtomicUsize,
    corrupted: AtomicUsize,
}

/// A running proxy. Dropping it stops it.
pub struct CorruptingProxy {
    shared: Arc<Shared>,
    url: String,
    task: tokio::task::JoinHandle<()>,
}

impl Drop for CorruptingProxy {
    fn drop(&mut self) {
        self.task.abort();
    }
}

impl CorruptingProxy {
    /// Forwards everything to `upstream`; every `every`-th answer to a path
    /// starting with `path_prefix` is cut in half.
    pub async fn start(upstream: String, path_prefix: &'static str, every: usize) -> Self {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind the proxy");
        let url = format!(
            "http://{}",
            listener.local_addr().expect("the proxy's address")
        );
        let shared = Arc::new(Shared {
            upstream,
            http: reqwest::Client::builder()
                .redirect(reqwest::redirect::Policy::none())
                .build()
                .expect("an HTTP client"),
            path_prefix,
            every: every.max(1),
            seen: AtomicUsize::new(0),
            corrupted: AtomicUsize::new(0),
        });
        let app = Router::new().fallback(forward).with_state(shared.clone());
        let task = tokio::spawn(async move {
            let _ = axum::serve(listener, app).await;
        });
        Self { shared, url, task }
    }

    /// The proxy's base URL.
    pub fn url(&self) -> String {
        self.url.clone()
    }

    /// Answers truncated so far.
    pub fn corrupted(&self) -> usize {
        self.shared.corrupted.load(Ordering::SeqCst)
    }
}

async fn forward(State(s): State<Arc<Shared>>, req: Request) -> Response {
    let path = req
        .uri()
        .path_and_query()
        .map(|p| p.as_str().to_owned())
        .unwrap_or_default();
    let method = req.method().clone();
    let mut out = s.http.request(method, format!("{}{path}", s.upstream));
    for (name, value) in req.headers() {
        if name != header::HOST && name != header::CONTENT_LENGTH {
            out = out.header(name, value);
        }
    }
    let body = axum::body::to_bytes(req.into_body(), usize::MAX)
        .await
        .unwrap_or_default();
    let answer = match out.body(body).send().await {
        Ok(a) => a,
        Err(_) => return StatusCode::BAD_GATEWAY.into_response(),
    };
    let status = answer.status();
    let content_type = answer.headers().get(header::CONTENT_TYPE).cloned();
    let mut bytes = answer.bytes().await.unwrap_or_default();
    if status.is_success() && path.starts_with(s.path_prefix) {
        let n = s.seen.fetch_add(1, Ordering::SeqCst) + 1;
        if n % s.every == 0 {
            bytes = bytes.slice(..bytes.len() / 2);
            s.corrupted.fetch_add(1, Ordering::SeqCst);
        }
    }
    let mut resp = Response::builder().status(status.as_u16());
    if let Some(ct) = content_type {
        resp = resp.header(header::CONTENT_TYPE, ct);
    }
    resp.body(Body::from(bytes))
        .unwrap_or_else(|_| StatusCode::BAD_GATEWAY.into_response())
}
