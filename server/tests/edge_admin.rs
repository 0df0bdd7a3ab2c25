//! The operators' side of the edge, as a real process on a real broker:
//! readiness and metrics on their own listener, secrets kept out of
//! `--help`, protocol errors counted rather than logged one by one, and the
//! page's security headers and JSON errors.

use std::io::Write;
use std::time::Instant;

use prism_testkit::unique;
use reqwest::blocking::Client;

#[path = "support/raw.rs"]
mod raw;

use raw::{answer_then_close, connect, metric, start};

#[test]
fn readiness_and_metrics_are_served_only_on_the_admin_listener_and_cost_no_broker_call() {
    let server = start(&unique("edge-admin"), &[]);
    let client = Client::new();
    for path in ["/readyz", "/metrics"] {
        let public = client.get(format!("{}{path}", server.url)).send().unwrap();
        assert_eq!(public.status(), 404, "{path} on the public listener");
        let admin = client
            .get(format!("{}{path}", server.admin))
            .send()
            .unwrap();
        assert_eq!(admin.status(), 200, "{path} on the admin listener");
    }

    // 400 readiness probes from 40 clients at once: answered from state
    // kept in the background, so the server starts no thread for them.
    let pid = server.process.pid().unwrap();
    let threads = || {
        std::fs::read_to_string(format!("/proc/{pid}/status"))
            .unwrap()
            .lines()
            .find_map(|l| l.strip_prefix("Threads:")?.trim().parse::<usize>().ok())
            .unwrap()
    };
    let before = threads();
    let admin = server.admin.clone();
    let probes: Vec<_> = (0..40)
        .map(|_| {
            let admin = admin.clone();
            std::thread::spawn(move || {
                let client = Client::new();
                (0..10)
                    .filter(|_| {
                        client
                            .get(format!("{admin}/readyz"))
                            .send()
                            .is_ok_and(|r| r.status() == 200)
                    })
                    .count()
            })
        })
        .collect();
    let ready: usize = probes.into_iter().map(|p| p.join().unwrap()).sum();
    assert_eq!(ready, 400);
    let after = threads();
    assert!(
        after <= before + 2,
        "threads went from {before} to {after} for readiness probes"
    );
}

#[test]
fn help_never_prints_the_values_of_secret_settings() {
    let help = std::process::Command::new(env!("CARGO_BIN_EXE_prism-server"))
        .arg("--help")
        .env("PRISM_KAFKA_OPTIONS", "sasl.password=hunter2")
        .output()
        .unwrap();
    let help = String::from_utf8_lossy(&help.stdout);
    assert!(help.contains("PRISM_KAFKA_OPTIONS"), "{help}");
    assert!(!help.contains("hunter2"), "{help}");
}

#[test]
fn malformed_requests_are_counted_and_logged_at_most_once_a_second() {
    let server = start(&unique("edge-garbage"), &[]);
    let started = Instant::now();
    for _ in 0..200 {
        let mut s = connect(&server);
        s.write_all(b"GARBAGE \x01\x02 NOT HTTP\r\n\r\n").unwrap();
        let (status, _) = answer_then_close(&mut s);
        assert_eq!(status, 400);
    }
    let seconds = started.elapsed().as_secs() + 1;
    assert_eq!(metric(&server, "prism_http_protocol_errors_total"), 200.0);
    let logged = server.process.output().matches("stream error").count() as u64;
    assert!(
        (1..=seconds + 1).contains(&logged),
        "{logged} protocol errors logged in {seconds} s"
    );
}

#[test]
fn the_page_carries_security_headers_and_static_errors_are_json() {
    let dist = tempfile::tempdir().unwrap();
    std::fs::write(
        dist.path().join("index.html"),
        "<html><head><script type=\"module\">start();</script></head><body></body></html>",
    )
    .unwrap();
    let server = start(
        &unique("edge-page"),
        &[("PRISM_STATIC_DIR", dist.path().to_str().unwrap())],
    );
    let client = Client::new();
    let page = client.get(format!("{}/", server.url)).send().unwrap();
    assert_eq!(page.status(), 200);
    let header = |name: &str| {
        page.headers()
            .get(name)
            .map(|v| v.to_str().unwrap().to_owned())
            .unwrap_or_default()
    };
    let policy = header("content-security-policy");
    // sha256("start();"), computed apart: `printf 'start();' | sha256sum`.
    assert!(
        policy.contains("'sha256-E6jQvrT2ZivWG9GJ4AAEZf4MhI7l3QkLroW4hgvUT4c='"),
        "{policy}"
    );
    assert!(policy.contains("'wasm-unsafe-eval'"), "{policy}");
    assert!(policy.contains("frame-ancestors 'none'"), "{policy}");
    assert!(!policy.contains("unsafe-inline"), "{policy}");
    assert_eq!(header("x-content-type-options"), "nosniff");
    assert_eq!(header("referrer-policy"), "no-referrer");

    for (method, path, status) in [
        ("GET", "/missing.js", 404),
        ("POST", "/", 405),
        ("GET", "/.hidden", 404),
        ("GET", "/%2e%2e/%2e%2e/etc/passwd", 404),
    ] {
        let res = client
            .request(method.parse().unwrap(), format!("{}{path}", server.url))
            .send()
            .unwrap();
        assert_eq!(res.status().as_u16(), status, "{method} {path}");
        assert_eq!(res.headers()["x-content-type-options"], "nosniff");
        let body: prism_event::ErrorBody = res
            .json()
            .unwrap_or_else(|e| panic!("{method} {path}: not the JSON error shape: {e}"));
        assert!(!body.message.is_empty());
    }
}
