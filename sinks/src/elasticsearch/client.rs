//! HTTP to Elasticsearch / OpenSearch with `reqwest`, and what can go wrong
//! with it, as types.

use std::time::Duration;

use reqwest::header::{AUTHORIZATION, CONTENT_TYPE, HeaderValue};
use tracing::warn;

use super::config::EsConnection;
use super::retry::{RequestOutcome, request_outcome};

/// Why a call to the cluster did not give what was asked.
#[derive(Debug, thiserror::Error)]
pub enum EsError {
    /// No answer: refused, reset, timed out.
    #[error("elasticsearch is not reachable: {0}")]
    Unreachable(String),
    /// An answer other than success.
    #[error("HTTP {status}: {body}")]
    Http { status: u16, body: String },
    /// A success whose body is not what the API documents.
    #[error("unreadable answer: {0}")]
    Decode(String),
    /// The client could not be built from the settings.
    #[error("{0}")]
    Config(String),
}

impl EsError {
    /// The cluster refuses who we are or what we may do: retrying the same
    /// request cannot help (a write block is a 403 too, but a retryable one).
    /// The same verdict as for a `_bulk` answer.
    pub fn is_auth(&self) -> bool {
        matches!(self, EsError::Http { status, body }
            if request_outcome(*status, body.as_bytes()) == RequestOutcome::Refused)
    }

    fn unreachable(e: reqwest::Error) -> Self {
        EsError::Unreachable(e.to_string())
    }

    async fn http(res: reqwest::Response) -> Self {
        EsError::Http {
            status: res.status().as_u16(),
            body: res.text().await.unwrap_or_default(),
        }
    }
}

#[derive(Clone)]
pub struct EsClient {
    http: reqwest::Client,
    base: String,
    auth: Auth,
}

#[derive(Clone)]
enum Auth {
    None,
    Basic {
        user: String,
        password: Option<String>,
    },
    ApiKey(HeaderValue),
}

/// A bulk answer as received: status and body.
pub struct RawBulkAnswer {
    pub status: u16,
    pub body: Vec<u8>,
}

impl EsClient {
    /// A client for `config`, every request bounded by `timeout`.
    pub fn new(config: &EsConnection, timeout: Duration) -> Result<Self, EsError> {
        let bad = |e: &dyn std::fmt::Display| EsError::Config(e.to_string());
        let mut builder = reqwest::Client::builder().timeout(timeout);
        if let Some(path) = &config.ca_cert {
            let pem = std::fs::read(path)
                .map_err(|e| EsError::Config(format!("{}: {e}", path.display())))?;
            let cert = reqwest::Certificate::from_pem(&pem).map_err(|e| bad(&e))?;
            builder = builder.add_root_certificate(cert);
        }
        // Credentials written into the URL count as basic authentication
        // (unless set apart), and the URL kept is without them: it appears
        // in logs and errors.
        let in_url = super::config::credentials_in(&config.url);
        let auth = match (&config.api_key, &config.user, in_url) {
            (Some(key), _, _) => {
                let mut value =
                    HeaderValue::from_str(&format!("ApiKey {key}")).map_err(|e| bad(&e))?;
                value.set_sensitive(true);
                Auth::ApiKey(value)
            }
            (None, Some(user), _) => Auth::Basic {
                user: user.clone(),
                password: config.password.clone(),
            },
            (None, None, Some((user, password))) => Auth::Basic { user, password },
            (None, None, None) => Auth::None,
        };
        let base = super::config::redacted(&config.url);
        if !matches!(auth, Auth::None) && base.starts_with("http://") {
            warn!(
                url = %base,
                "credentials for elasticsearch go over plain HTTP; use https:// outside a trusted network"
            );
        }
        Ok(Self {
            http: builder.build().map_err(|e| bad(&e))?,
            base,
            auth,
        })
    }

    fn request(&self, method: reqwest::Method, path: &str) -> reqwest::RequestBuilder {
        let req = self.http.request(method, format!("{}{path}", self.base));
        match &self.auth {
            Auth::None => req,
            Auth::Basic { user, password } => req.basic_auth(user, password.as_ref()),
            Auth::ApiKey(value) => req.header(AUTHORIZATION, value.clone()),
        }
    }

    /// `GET /`: the cluster's name and version, or why it cannot be reached.
    pub async fn ping(&self) -> Result<String, EsError> {
        let res = self
            .request(reqwest::Method::GET, "/")
            .send()
            .await
            .map_err(EsError::unreachable)?;
        if !res.status().is_success() {
            return Err(EsError::http(res).await);
        }
        let body: serde_json::Value = res
            .json()
            .await
            .map_err(|e| EsError::Decode(e.to_string()))?;
        Ok(format!(
            "{} {}",
            body["version"]["distribution"]
                .as_str()
                .unwrap_or("elasticsearch"),
            body["version"]["number"].as_str().unwrap_or("?")
        ))
    }

    /// `POST /<index>/_search` with `body`; missing indices match nothing.
    pub async fn search(
        &self,
        index: &str,
        body: &serde_json::Value,
    ) -> Result<serde_json::Value, EsError> {
        let path = format!("/{index}/_search?ignore_unavailable=true&allow_no_indices=true");
        let res = self
            .request(reqwest::Method::POST, &path)
            .json(body)
            .send()
            .await
            .map_err(EsError::unreachable)?;
        if !res.status().is_success() {
            return Err(EsError::http(res).await);
        }
        res.json().await.map_err(|e| EsError::Decode(e.to_string()))
    }

    /// `PUT /_index_template/<name>` (idempotent).
    pub async fn put_template(&self, name: &str, body: &[u8]) -> Result<(), EsError> {
        let res = self
            .request(reqwest::Method::PUT, &format!("/_index_template/{name}"))
            .header(CONTENT_TYPE, "application/json")
            .body(body.to_vec())
            .send()
            .await
            .map_err(EsError::unreachable)?;
        if res.status().is_success() {
            Ok(())
        } else {
            Err(EsError::http(res).await)
        }
    }

    /// `PUT /<index>` with no body, so the index template gives it its
    /// settings and mappings. An index that already exists is fine.
    pub async fn create_index(&self, index: &str) -> Result<(), EsError> {
        let res = self
            .request(reqwest::Method::PUT, &format!("/{index}"))
            .send()
            .await
            .map_err(EsError::unreachable)?;
        if res.status().is_success() {
            return Ok(());
        }
        match EsError::http(res).await {
            EsError::Http { status: 400, body }
                if body.contains("resource_already_exists_exception") =>
            {
                Ok(())
            }
            other => Err(other),
        }
    }

    /// `POST /_bulk` with an NDJSON body: the raw answer, whatever its
    /// status (the caller decides per status and per item).
    pub async fn bulk(&self, body: Vec<u8>) -> Result<RawBulkAnswer, EsError> {
        let res = self
            .request(reqwest::Method::POST, "/_bulk")
            .header(CONTENT_TYPE, "application/x-ndjson")
            .body(body)
            .send()
            .await
            .map_err(EsError::unreachable)?;
        let status = res.status().as_u16();
        let body = res.bytes().await.map_err(EsError::unreachable)?.to_vec();
        Ok(RawBulkAnswer { status, body })
    }
}
