//! Reconciles the topic, the lake and Elasticsearch hour by hour: what is
//! missing or duplicated where. Exit status 0: nothing missing beyond the
//! tolerance and every sealed hour matches its manifest; 1: something is
//! missing, or a sealed hour's files differ from its manifest; 2: the
//! audit could not run.

use clap::Parser;
use prism_sinks::audit::{self, AuditConfig, Format};

#[tokio::main]
async fn main() {
    let config = AuditConfig::parse();
    let report = match audit::run(&config).await {
        Ok(report) => report,
        Err(e) => {
            eprintln!("prism-audit: {e}");
            std::process::exit(2);
        }
    };
    match config.format {
        Format::Table => print!("{}", report.table()),
        Format::Json => match serde_json::to_string_pretty(&report) {
            Ok(json) => println!("{json}"),
            Err(e) => {
                eprintln!("prism-audit: {e}");
                std::process::exit(2);
            }
        },
    }
    let missing = report.missing();
    if missing > config.max_missing {
        eprintln!(
            "prism-audit: {missing} events missing, more than the {} tolerated",
            config.max_missing
        );
        std::process::exit(1);
    }
    let unmatched = report.unmatched_seals();
    if !unmatched.is_empty() {
        eprintln!(
            "prism-audit: {} sealed hour(s) whose files differ from their manifest",
            unmatched.len()
        );
        std::process::exit(1);
    }
}
