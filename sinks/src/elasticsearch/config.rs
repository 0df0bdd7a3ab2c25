//! The Elasticsearch sink's settings (flags with `PRISM_ES_*` fallbacks).

use clap::Args;

/// The Elasticsearch sink's own settings.
#[derive(Debug, Clone, Args)]
pub struct EsConfig {
    /// Consumer group.
    #[arg(long, env = "PRISM_GROUP", default_value = "prism-es")]
    pub group: String,

    #[command(flatten)]
    pub connection: EsConnection,

    /// Index name prefix: documents go to `<prefix>-YYYY.MM.DD`, the
    /// template matches `<prefix>-*`.
    #[arg(long, env = "PRISM_ES_INDEX_PREFIX", default_value = "select-color")]
    pub index_prefix: String,

    /// Replicas of each daily index (the template's `number_of_replicas`):
    /// 0 on a single node, where a replica can never be placed and every
    /// index would stay yellow holding twice the shards it needs.
    #[arg(long, env = "PRISM_ES_REPLICAS", default_value_t = 1)]
    pub replicas: u32,

    /// How often each daily index makes new documents searchable (its
    /// `refresh_interval`: `500ms`, `1s`, `30s`, or `-1` for never). Set
    /// explicitly because an index left at the default skips refreshes
    /// while no search has come for 30 s, and the next search waits.
    #[arg(long, env = "PRISM_ES_REFRESH_INTERVAL", default_value = "1s", value_parser = parse_interval, allow_hyphen_values = true)]
    pub refresh_interval: String,

    /// Send a bulk request once this many documents are waiting.
    #[arg(long, env = "PRISM_ES_BATCH_DOCS", default_value_t = 1_000)]
    pub batch_docs: usize,

    /// Send a bulk request once this many bytes are waiting.
    #[arg(long, env = "PRISM_ES_BATCH_BYTES", default_value_t = 5 * 1024 * 1024)]
    pub batch_bytes: usize,

    /// Send what is waiting this many milliseconds after its first record.
    /// With the index refreshed every second, a press is searchable within
    /// about this plus a second plus the bulk's own time
    /// (scripts/bench-searchable); at high rates batches fill before it.
    #[arg(long, env = "PRISM_ES_BATCH_AGE_MS", default_value_t = 250)]
    pub batch_age_ms: u64,

    /// Bulk requests in flight at once.
    #[arg(long, env = "PRISM_ES_CONCURRENCY", default_value_t = 2)]
    pub concurrency: usize,

    /// Milliseconds before a bulk request counts as failed.
    #[arg(long, env = "PRISM_ES_TIMEOUT_MS", default_value_t = 30_000)]
    pub request_timeout_ms: u64,

    /// Index an event under `received_at` instead of `client_ts` when the
    /// two differ by more than this many seconds.
    #[arg(long, env = "PRISM_MAX_CLOCK_SKEW_S", default_value_t = 600)]
    pub max_clock_skew_s: u64,
}

/// Where Elasticsearch is and how to authenticate: shared by the sink and
/// `prism-audit`.
#[derive(Debug, Clone, Args)]
pub struct EsConnection {
    /// Elasticsearch or OpenSearch base URL. Credentials written into it
    /// (`https://user:password@host`) are used as basic authentication and
    /// never logged; prefer `PRISM_ES_USER`/`PRISM_ES_PASSWORD`.
    #[arg(
        long = "es-url",
        env = "PRISM_ES_URL",
        default_value = "http://127.0.0.1:9200",
        hide_env_values = true
    )]
    pub url: String,

    /// User for HTTP basic authentication.
    #[arg(long = "es-user", env = "PRISM_ES_USER")]
    pub user: Option<String>,

    /// Password for HTTP basic authentication.
    #[arg(
        long = "es-password",
        env = "PRISM_ES_PASSWORD",
        hide_env_values = true
    )]
    pub password: Option<String>,

    /// API key (the base64 `id:key` form); takes precedence over user and
    /// password.
    #[arg(long = "es-api-key", env = "PRISM_ES_API_KEY", hide_env_values = true)]
    pub api_key: Option<String>,

    /// PEM file with an extra CA certificate to trust.
    #[arg(long = "es-ca-cert", env = "PRISM_ES_CA_CERT")]
    pub ca_cert: Option<std::path::PathBuf>,
}

/// `url` without the user and password it may carry, for logs and errors.
pub fn redacted(url: &str) -> String {
    match reqwest::Url::parse(url) {
        Ok(mut parsed) => {
            if parsed.password().is_some() || !parsed.username().is_empty() {
                // Only fails for URLs that cannot carry credentials at all.
                let _ = parsed.set_username("");
                let _ = parsed.set_password(None);
            }
            parsed.as_str().trim_end_matches('/').to_owned()
        }
        // Unparsable: keep nothing after a possible `user:password@`.
        Err(_) => match url.rsplit_once('@') {
            Some((_, host)) => format!("(redacted)@{host}"),
            None => url.to_owned(),
        },
    }
}

/// The credentials written into `url` (`user:password@`), percent-decoded.
pub fn credentials_in(url: &str) -> Option<(String, Option<String>)> {
    let parsed = reqwest::Url::parse(url).ok()?;
    if parsed.username().is_empty() {
        return None;
    }
    let decode = |s: &str| percent_decode(s);
    Some((decode(parsed.username()), parsed.password().map(decode)))
}

fn percent_decode(s: &str) -> String {
    let bytes = s.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        let hex = bytes
            .get(i + 1..i + 3)
            .and_then(|h| std::str::from_utf8(h).ok())
            .and_then(|h| u8::from_str_radix(h, 16).ok());
        match (bytes[i], hex) {
            (b'%', Some(b)) => {
                out.push(b);
                i += 3;
            }
            (b, _) => {
                out.push(b);
                i += 1;
            }
        }
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// An Elasticsearch time value as `refresh_interval` takes it: a whole
/// number with a unit (`ms`, `s`, `m`, `h`), or `-1`.
fn parse_interval(value: &str) -> Result<String, String> {
    let number = ["ms", "s", "m", "h"]
        .iter()
        .find_map(|unit| value.strip_suffix(unit));
    match number {
        _ if value == "-1" => Ok(value.to_owned()),
        Some(n) if !n.is_empty() && n.bytes().all(|b| b.is_ascii_digit()) => Ok(value.to_owned()),
        _ => Err(format!(
            "{value:?} is not a refresh interval: a whole number with ms, s, m or h (1s), or -1"
        )),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn credentials_in_a_url_are_taken_out_of_what_is_logged() {
        let url = "https://elastic:s3cr%40t@es.example:9200/";
        assert_eq!(redacted(url), "https://es.example:9200");
        assert_eq!(
            credentials_in(url),
            Some(("elastic".to_owned(), Some("s3cr@t".to_owned())))
        );
        assert_eq!(redacted("http://127.0.0.1:9200"), "http://127.0.0.1:9200");
        assert_eq!(credentials_in("http://127.0.0.1:9200"), None);
        assert_eq!(redacted("not a url u:p@host"), "(redacted)@host");
    }
}
