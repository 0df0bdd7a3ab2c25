//! An HTTP proxy in front of `prism-server` for the page tests: it serves
//! the page through unchanged, and makes the API hang or answer like a
//! captive portal on demand, faults a real server does not produce.

use std::net::TcpListener;
use std::sync::Arc;
use std::sync::atomic::{AtomicU8, AtomicUsize, Ordering};

use actix_web::{App, HttpRequest, HttpResponse, HttpServer, web};

/// What the proxy does with a `POST /api/…`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[repr(u8)]
pub enum Mode {
    /// Passes it to the server.
    Forward,
    /// Never answers (the connection stays open until the browser drops it).
    Hang,
    /// Answers 200 with an HTML login page.
    Portal,
}

struct Shared {
    upstream: String,
    mode: AtomicU8,
    posts: AtomicUsize,
    http: reqwest::Client,
}

pub struct ApiProxy {
    pub url: String,
    shared: Arc<Shared>,
}

const PORTAL: &str = "<!doctype html><title>Wi-Fi</title><p>Please log in to continue.</p>";

impl ApiProxy {
    /// Listens on `host` (`127.0.0.1`, or another address of this machine)
    /// and forwards to `upstream`.
    pub fn start(upstream: &str, host: &str) -> Self {
        let shared = Arc::new(Shared {
            upstream: upstream.to_owned(),
            mode: AtomicU8::new(Mode::Forward as u8),
            posts: AtomicUsize::new(0),
            http: reqwest::Client::builder()
                .timeout(std::time::Duration::from_secs(30))
                .build()
                .expect("an HTTP client"),
        });
        let listener = TcpListener::bind((host, 0)).expect("bind the proxy");
        let url = format!("http://{}", listener.local_addr().expect("an address"));
        let data = web::Data::from(Arc::clone(&shared));
        let server = HttpServer::new(move || {
            App::new()
                .app_data(data.clone())
                .default_service(web::to(handle))
        })
        .workers(1)
        .shutdown_timeout(0)
        .listen(listener)
        .expect("listen")
        .run();
        // Lives as long as the test process: a hung request never ends.
        std::thread::spawn(move || actix_web::rt::System::new().block_on(server));
        Self { url, shared }
    }

    pub fn set(&self, mode: Mode) {
        self.shared.mode.store(mode as u8, Ordering::SeqCst);
    }

    /// API posts the proxy has received.
    pub fn posts(&self) -> usize {
        self.shared.posts.load(Ordering::SeqCst)
    }
}

async fn handle(req: HttpRequest, body: web::Bytes, shared: web::Data<Shared>) -> HttpResponse {
    if req.method() == actix_web::http::Method::POST && req.path().starts_with("/api/") {
        shared.posts.fetch_add(1, Ordering::SeqCst);
        match shared.mode.load(Ordering::SeqCst) {
            m if m == Mode::Hang as u8 => std::future::pending::<()>().await,
            m if m == Mode::Portal as u8 => {
                return HttpResponse::Ok().content_type("text/html").body(PORTAL);
            }
            _ => {}
        }
    }
    let method = reqwest::Method::from_bytes(req.method().as_str().as_bytes())
        .unwrap_or(reqwest::Method::GET);
    let mut upstream = shared
        .http
        .request(method, format!("{}{}", shared.upstream, req.uri()));
    if let Some(kind) = req.headers().get("content-type") {
        upstream = upstream.header("content-type", kind.as_bytes());
    }
    let Ok(answer) = upstream.body(body.to_vec()).send().await else {
        return HttpResponse::BadGateway().finish();
    };
    let mut reply = HttpResponse::build(
        actix_web::http::StatusCode::from_u16(answer.status().as_u16())
            .unwrap_or(actix_web::http::StatusCode::BAD_GATEWAY),
    );
    for name in ["content-type", "retry-after"] {
        if let Some(value) = answer.headers().get(name) {
            reply.insert_header((name, value.as_bytes()));
        }
    }
    reply.body(answer.bytes().await.unwrap_or_default())
}
