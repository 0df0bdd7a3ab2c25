//! Start-up and health: wait for the cluster (but not for credentials it
//! refuses), install the index template, create today's index; and the
//! probe that decides when a paused worker resumes.

use std::time::Duration;

use tracing::{info, warn};

use super::client::{EsClient, EsError};
use super::config::{EsConfig, redacted};
use super::request::index_name;

/// The index template installed at start-up (`sinks/src/elasticsearch/template.json`).
pub const TEMPLATE: &str = include_str!("template.json");

/// Waits until the cluster answers `GET /` (logging why not at each retry),
/// then installs the index template and creates today's index. Credentials
/// the cluster refuses (401, or a 403 that is not a write block) end it at
/// once with the reason: waiting cannot fix them.
pub async fn prepare(client: &EsClient, config: &EsConfig) -> Result<(), EsError> {
    use backon::Retryable;
    let version = (|| client.ping())
        .retry(crate::backoff::exponential(
            Duration::from_millis(500),
            Duration::from_secs(10),
        ))
        .when(|e| !e.is_auth())
        .notify(|e, wait| {
            warn!(url = %redacted(&config.connection.url), error = %e, retry_in_ms = wait.as_millis() as u64, "elasticsearch is not reachable; retrying");
        })
        .await
        .map_err(|e| refused_or(e, config))?;
    info!(url = %redacted(&config.connection.url), %version, "elasticsearch reachable");
    let template = template(config);
    client
        .put_template(&config.index_prefix, template.as_bytes())
        .await
        .map_err(|e| refused_or(e, config))?;
    info!(template = %config.index_prefix, "index template installed");
    // Today's index, empty, so a dashboard opened before the first press
    // finds every field it charts. Loading does not depend on it.
    let today = index_name(&config.index_prefix, time::OffsetDateTime::now_utc());
    match client.create_index(&today).await {
        Ok(()) => info!(index = %today, "today's index is there"),
        Err(e) => warn!(index = %today, error = %e, "could not create today's index"),
    }
    Ok(())
}

/// The index template for the sink's indices as `config` sets them.
pub fn template(config: &EsConfig) -> String {
    template_for(
        &config.index_prefix,
        config.replicas,
        &config.refresh_interval,
    )
}

/// The index template for `<prefix>-*` with `replicas` replicas per index,
/// each refreshed every `refresh_interval`.
pub fn template_for(prefix: &str, replicas: u32, refresh_interval: &str) -> String {
    TEMPLATE
        .replace("select-color-*", &format!("{prefix}-*"))
        .replace(
            r#""number_of_shards": 1"#,
            &format!(
                r#""number_of_shards": 1, "number_of_replicas": {replicas}, "refresh_interval": "{refresh_interval}""#
            ),
        )
}

/// Whether the cluster answers at all (a paused worker resumes on `Ok`).
pub async fn probe(client: &EsClient) -> Result<(), EsError> {
    client.ping().await.map(|_| ())
}

fn refused_or(e: EsError, config: &EsConfig) -> EsError {
    if e.is_auth() {
        EsError::Config(format!(
            "elasticsearch at {} refused our credentials ({e}); check PRISM_ES_USER / \
             PRISM_ES_PASSWORD / PRISM_ES_API_KEY and the role's index privileges",
            redacted(&config.connection.url)
        ))
    } else {
        e
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(clap::Parser)]
    struct Flags {
        #[command(flatten)]
        es: EsConfig,
    }

    fn config(args: &[&str]) -> Result<EsConfig, clap::Error> {
        use clap::Parser;
        let args = ["prism-es-sink", "--es-url", "http://127.0.0.1:9200"]
            .iter()
            .chain(args);
        Flags::try_parse_from(args).map(|f| f.es)
    }

    #[test]
    fn the_template_takes_the_prefix_replicas_and_refresh_interval() {
        let flags = [
            "--index-prefix",
            "clicks",
            "--replicas",
            "0",
            "--refresh-interval",
            "500ms",
        ];
        let template = template(&config(&flags).unwrap());
        let template: serde_json::Value = serde_json::from_str(&template).unwrap();
        assert_eq!(template["index_patterns"], serde_json::json!(["clicks-*"]));
        let settings = &template["template"]["settings"];
        assert_eq!(settings["number_of_shards"], 1);
        assert_eq!(settings["number_of_replicas"], 0);
        assert_eq!(settings["refresh_interval"], "500ms");
    }

    #[test]
    fn the_refresh_interval_is_one_second_unless_set_and_nonsense_is_refused() {
        let default: serde_json::Value =
            serde_json::from_str(&template(&config(&[]).unwrap())).unwrap();
        assert_eq!(default["template"]["settings"]["refresh_interval"], "1s");
        for ok in ["-1", "30s", "2m"] {
            assert!(config(&["--refresh-interval", ok]).is_ok(), "{ok}");
        }
        for bad in ["", "1", "s", "1.5s", "fast", "-2s"] {
            let error = config(&["--refresh-interval", bad])
                .err()
                .map(|e| e.to_string());
            assert!(
                error
                    .as_deref()
                    .is_some_and(|e| e.contains("not a refresh interval")),
                "{bad}: {error:?}"
            );
        }
    }
}
