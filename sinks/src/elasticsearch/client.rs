//! HTTP to Elasticsearch / OpenSearch with `reqwest`.

use std::time::Duration;

use reqwest::header::{AUTHORIZATION, CONTENT_TYPE, HeaderValue};

use super::EsConfig;

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
pub struct Answer {
    pub status: u16,
    pub body: Vec<u8>,
}

impl EsClient {
    pub fn new(config: &EsConfig) -> Result<Self, String> {
        let mut builder =
            reqwest::Client::builder().timeout(Duration::from_millis(config.request_timeout_ms));
        if let Some(path) = &config.ca_cert {
            let pem = std::fs::read(path).map_err(|e| format!("{}: {e}", path.display()))?;
            let cert = reqwest::Certificate::from_pem(&pem).map_err(|e| e.to_string())?;
            builder = builder.add_root_certificate(cert);
        }
        let auth = match (&config.api_key, &config.user) {
            (Some(key), _) => {
                let mut value =
                    HeaderValue::from_str(&format!("ApiKey {key}")).map_err(|e| e.to_string())?;
                value.set_sensitive(true);
                Auth::ApiKey(value)
            }
            (None, Some(user)) => Auth::Basic {
                user: user.clone(),
                password: config.password.clone(),
            },
            (None, None) => Auth::None,
        };
        Ok(Self {
            http: builder.build().map_err(|e| e.to_string())?,
            base: config.url.trim_end_matches('/').to_owned(),
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
    pub async fn ping(&self) -> Result<String, String> {
        let res = self
            .request(reqwest::Method::GET, "/")
            .send()
            .await
            .map_err(|e| e.to_string())?;
        let status = res.status();
        let body: serde_json::Value = res.json().await.unwrap_or_default();
        if !status.is_success() {
            return Err(format!("HTTP {status}: {body}"));
        }
        Ok(format!(
            "{} {}",
            body["version"]["distribution"]
                .as_str()
                .unwrap_or("elasticsearch"),
            body["version"]["number"].as_str().unwrap_or("?")
        ))
    }

    /// `PUT /_index_template/<name>` (idempotent).
    pub async fn put_template(&self, name: &str, body: &[u8]) -> Result<(), String> {
        let res = self
            .request(reqwest::Method::PUT, &format!("/_index_template/{name}"))
            .header(CONTENT_TYPE, "application/json")
            .body(body.to_vec())
            .send()
            .await
            .map_err(|e| e.to_string())?;
        let status = res.status();
        if status.is_success() {
            Ok(())
        } else {
            Err(format!(
                "HTTP {status}: {}",
                res.text().await.unwrap_or_default()
            ))
        }
    }

    /// `PUT /<index>` with no body, so the index template gives it its
    /// settings and mappings. An index that already exists is fine.
    pub async fn create_index(&self, index: &str) -> Result<(), String> {
        let res = self
            .request(reqwest::Method::PUT, &format!("/{index}"))
            .send()
            .await
            .map_err(|e| e.to_string())?;
        let status = res.status();
        if status.is_success() {
            return Ok(());
        }
        let body = res.text().await.unwrap_or_default();
        if status == reqwest::StatusCode::BAD_REQUEST
            && body.contains("resource_already_exists_exception")
        {
            return Ok(());
        }
        Err(format!("HTTP {status}: {body}"))
    }

    /// `POST /_bulk` with an NDJSON body.
    pub async fn bulk(&self, body: Vec<u8>) -> Result<Answer, String> {
        let res = self
            .request(reqwest::Method::POST, "/_bulk")
            .header(CONTENT_TYPE, "application/x-ndjson")
            .body(body)
            .send()
            .await
            .map_err(|e| format!("bulk request: {e}"))?;
        let status = res.status().as_u16();
        let body = res
            .bytes()
            .await
            .map_err(|e| format!("bulk answer: {e}"))?
            .to_vec();
        Ok(Answer { status, body })
    }
}
