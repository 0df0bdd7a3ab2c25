//! A scripted HTTP server in front of an OpenSearch node, for the faults a
//! real node cannot be made to produce on demand (a whole-cluster 503,
//! throttling at a set moment, credentials refused, slow answers).

use std::sync::Arc;
use std::sync::atomic::{AtomicU16, AtomicU64, AtomicUsize, Ordering};

use serde_json::Value;

/// A scripted HTTP server in front of a node: it forwards everything, but
/// `fault` may answer a `_bulk` request itself or `rewrite` the node's.
pub struct Proxy {
    pub url: String,
    pub bulks: Arc<AtomicUsize>,
    /// Milliseconds each `_bulk` request is held before it is answered.
    pub delay_ms: Arc<AtomicU64>,
    /// When not 0, every request (any path) is answered with this status and
    /// a `security_exception`, as a cluster refusing our credentials.
    pub refuse: Arc<AtomicU16>,
    _runtime: tokio::runtime::Runtime,
}

pub type Fault = dyn Fn(usize, &[u8]) -> Option<(u16, Value)> + Send + Sync;
pub type Rewrite = dyn Fn(&[u8], Value) -> Value + Send + Sync;

impl Proxy {
    pub fn start(upstream: &str, fault: Box<Fault>, rewrite: Option<Box<Rewrite>>) -> Self {
        use axum::body::Bytes;
        use axum::extract::State;
        use axum::http::header::CONTENT_TYPE;
        use axum::http::{Method, StatusCode, Uri};
        use axum::response::IntoResponse;

        struct Shared {
            upstream: String,
            bulks: Arc<AtomicUsize>,
            delay_ms: Arc<AtomicU64>,
            refuse: Arc<AtomicU16>,
            fault: Box<Fault>,
            rewrite: Option<Box<Rewrite>>,
            http: reqwest::Client,
        }
        async fn handle(
            State(shared): State<Arc<Shared>>,
            method: Method,
            uri: Uri,
            body: Bytes,
        ) -> axum::response::Response {
            let is_bulk = uri.path() == "/_bulk";
            let refuse = shared.refuse.load(Ordering::SeqCst);
            if refuse != 0 {
                let answer = serde_json::json!({"error": {"type": "security_exception", "reason": "unable to authenticate user [prism]"}, "status": refuse});
                return (
                    StatusCode::from_u16(refuse).unwrap(),
                    [(CONTENT_TYPE, "application/json")],
                    answer.to_string(),
                )
                    .into_response();
            }
            if is_bulk {
                let delay = shared.delay_ms.load(Ordering::SeqCst);
                if delay > 0 {
                    tokio::time::sleep(std::time::Duration::from_millis(delay)).await;
                }
                let n = shared.bulks.fetch_add(1, Ordering::SeqCst);
                if let Some((status, answer)) = (shared.fault)(n, &body) {
                    return (
                        StatusCode::from_u16(status).unwrap(),
                        [(CONTENT_TYPE, "application/json")],
                        answer.to_string(),
                    )
                        .into_response();
                }
            }
            let url = format!(
                "{}{}",
                shared.upstream,
                uri.path_and_query().map(|p| p.as_str()).unwrap_or("/")
            );
            let res = shared
                .http
                .request(method, url)
                .header(
                    "content-type",
                    if is_bulk {
                        "application/x-ndjson"
                    } else {
                        "application/json"
                    },
                )
                .body(body.to_vec())
                .send()
                .await;
            // A node that is down (killed by the test) answers through the
            // proxy as through a load balancer: 502.
            let res = match res {
                Ok(res) => res,
                Err(e) => {
                    let answer =
                        serde_json::json!({"error": format!("upstream: {e}"), "status": 502});
                    return (
                        StatusCode::BAD_GATEWAY,
                        [(CONTENT_TYPE, "application/json")],
                        answer.to_string(),
                    )
                        .into_response();
                }
            };
            let status = StatusCode::from_u16(res.status().as_u16()).unwrap();
            let answer: Value = res.json().await.unwrap_or(Value::Null);
            let answer = match (&shared.rewrite, is_bulk) {
                (Some(rewrite), true) => rewrite(&body, answer),
                _ => answer,
            };
            (
                status,
                [(CONTENT_TYPE, "application/json")],
                answer.to_string(),
            )
                .into_response()
        }

        let runtime = tokio::runtime::Runtime::new().unwrap();
        let bulks = Arc::new(AtomicUsize::new(0));
        let delay_ms = Arc::new(AtomicU64::new(0));
        let refuse = Arc::new(AtomicU16::new(0));
        let shared = Arc::new(Shared {
            upstream: upstream.to_owned(),
            bulks: Arc::clone(&bulks),
            delay_ms: Arc::clone(&delay_ms),
            refuse: Arc::clone(&refuse),
            fault,
            rewrite,
            http: reqwest::Client::new(),
        });
        let listener = runtime
            .block_on(tokio::net::TcpListener::bind("127.0.0.1:0"))
            .unwrap();
        let url = format!("http://{}", listener.local_addr().unwrap());
        let app = axum::Router::new().fallback(handle).with_state(shared);
        runtime.spawn(async move { axum::serve(listener, app).await });
        Self {
            url,
            bulks,
            delay_ms,
            refuse,
            _runtime: runtime,
        }
    }
}

/// The documents of a `_bulk` body (every second line).
pub fn docs_in(body: &[u8]) -> Vec<Value> {
    let text = String::from_utf8_lossy(body);
    text.lines()
        .skip(1)
        .step_by(2)
        .map(|l| serde_json::from_str(l).unwrap())
        .collect()
}

/// A `_bulk` answer that refuses every document of `body` with `status`
/// and an error of type `kind`.
pub fn refuse_items(body: &[u8], status: u16, kind: &str, reason: &str) -> Value {
    let items: Vec<Value> = docs_in(body)
        .iter()
        .map(|_| serde_json::json!({"create": {"status": status, "error": {"type": kind, "reason": reason}}}))
        .collect();
    serde_json::json!({"errors": true, "items": items})
}
