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

    /// Send a bulk request once this many documents are waiting.
    #[arg(long, env = "PRISM_ES_BATCH_DOCS", default_value_t = 1_000)]
    pub batch_docs: usize,

    /// Send a bulk request once this many bytes are waiting.
    #[arg(long, env = "PRISM_ES_BATCH_BYTES", default_value_t = 5 * 1024 * 1024)]
    pub batch_bytes: usize,

    /// Send what is waiting this many milliseconds after its first record.
    #[arg(long, env = "PRISM_ES_BATCH_AGE_MS", default_value_t = 1_000)]
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
    /// Elasticsearch or OpenSearch base URL.
    #[arg(
        long = "es-url",
        env = "PRISM_ES_URL",
        default_value = "http://127.0.0.1:9200"
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
