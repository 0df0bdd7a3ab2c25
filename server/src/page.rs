//! How the page and every other answer are served to a browser: security
//! headers on every response (a Content-Security-Policy that allows the
//! page's own inline start-up script by its hash and WebAssembly, nothing
//! from elsewhere, no framing), and errors always in the JSON shape, also
//! where the static file service would answer in plain text.

use actix_web::body::{EitherBody, MessageBody};
use actix_web::dev::{ServiceRequest, ServiceResponse};
use actix_web::http::StatusCode;
use actix_web::http::header::CONTENT_TYPE;
use actix_web::middleware::{DefaultHeaders, Next};
use base64::Engine;
use sha2::{Digest, Sha256};

use crate::error::ApiError;

/// The policy for a page whose `index.html` is `index`: its inline scripts
/// by hash, everything else from this origin only.
pub fn content_security_policy(index: Option<&str>) -> String {
    let Some(index) = index else {
        // No page: nothing here is meant to run in a browser.
        return "default-src 'none'; frame-ancestors 'none'".to_owned();
    };
    let hashes: String = inline_scripts(index)
        .map(|script| {
            let digest = Sha256::digest(script.as_bytes());
            format!(
                " 'sha256-{}'",
                base64::engine::general_purpose::STANDARD.encode(digest)
            )
        })
        .collect();
    format!(
        "default-src 'self'; script-src 'self' 'wasm-unsafe-eval'{hashes}; \
         style-src 'self'; img-src 'self' data:; connect-src 'self'; \
         object-src 'none'; base-uri 'none'; form-action 'self'; frame-ancestors 'none'"
    )
}

/// The text of every `<script>` without a `src`.
fn inline_scripts(html: &str) -> impl Iterator<Item = &str> {
    html.split("<script").skip(1).filter_map(|rest| {
        let (attributes, body) = rest.split_once('>')?;
        if attributes.contains("src=") {
            return None;
        }
        body.split_once("</script>").map(|(script, _)| script)
    })
}

/// The headers every answer carries.
pub fn security_headers(policy: &str) -> DefaultHeaders {
    DefaultHeaders::new()
        .add(("Content-Security-Policy", policy.to_owned()))
        .add(("X-Content-Type-Options", "nosniff"))
        .add(("X-Frame-Options", "DENY"))
        .add(("Referrer-Policy", "no-referrer"))
}

/// Middleware: an error answered in anything but JSON (the static file
/// service's plain-text 404, 405 and bad-path 400) is answered again in
/// the API's error shape.
pub async fn json_errors(
    req: ServiceRequest,
    next: Next<impl MessageBody>,
) -> Result<ServiceResponse<EitherBody<impl MessageBody>>, actix_web::Error> {
    let res = next.call(req).await?;
    let status = res.status();
    let json = res
        .headers()
        .get(CONTENT_TYPE)
        .is_some_and(|v| v.as_bytes().starts_with(b"application/json"));
    if json || !(status.is_client_error() || status.is_server_error()) {
        return Ok(res.map_into_left_body());
    }
    let error = match status {
        StatusCode::METHOD_NOT_ALLOWED => ApiError::MethodNotAllowed,
        s if s.is_server_error() => ApiError::Internal,
        // A path that cannot name a file names nothing.
        _ => ApiError::NotFound,
    };
    let (req, _) = res.into_parts();
    Ok(ServiceResponse::new(req, error.into_response()).map_into_right_body())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_policy_names_each_inline_script_by_its_hash() {
        let index = r#"<html><head><script type="module">boot();</script>
            <script src="/app.js"></script><script>
            second();
            </script></head></html>"#;
        let policy = content_security_policy(Some(index));
        let hash = |s: &str| {
            base64::engine::general_purpose::STANDARD.encode(Sha256::digest(s.as_bytes()))
        };
        assert!(
            policy.contains(&format!("'sha256-{}'", hash("boot();"))),
            "{policy}"
        );
        assert!(
            policy.contains(&format!(
                "'sha256-{}'",
                hash("\n            second();\n            ")
            )),
            "{policy}"
        );
        assert_eq!(policy.matches("'sha256-").count(), 2, "{policy}");
        assert!(policy.contains("'wasm-unsafe-eval'"));
        assert!(policy.contains("frame-ancestors 'none'"));
        assert!(!policy.contains("unsafe-inline"));
    }

    #[test]
    fn without_a_page_nothing_may_run() {
        assert_eq!(
            content_security_policy(None),
            "default-src 'none'; frame-ancestors 'none'"
        );
    }
}
