//! Seals finished hours of the lake (`_manifest.json`, `_SUCCESS`),
//! compacts sealed ones to Parquet, and shows their state. Exit status 0:
//! done; 1: an hour the sink group is past is not complete in the lake, or
//! an hour could not be compacted; 2: it could not run.

use std::time::Duration;

use clap::Parser;
use prism_sinks::audit::Format;
use prism_sinks::audit::kafka::TopicReader;
use prism_sinks::audit::report::hour_name;
use prism_sinks::lake::compact::{self, compact_hour};
use prism_sinks::lake::seal::{self, Outcome};
use prism_sinks::lake::{Command, LakeConfig, LakeError, Store, status};
use tracing::{error, info};

/// A temporary file of this tool older than this was left by a run that
/// was killed.
const STALE: Duration = Duration::from_secs(3600);

/// What one pass does.
#[derive(Clone, Copy)]
struct Work {
    seal: bool,
    compact: bool,
}

#[tokio::main]
async fn main() {
    prism_sinks::init_cli_tracing();
    let config = LakeConfig::parse();
    let (work, every) = match &config.command {
        Command::Status { format } => {
            let code = match show_status(&config, *format).await {
                Ok(()) => 0,
                Err(e) => {
                    eprintln!("prism-lake: {e}");
                    2
                }
            };
            std::process::exit(code);
        }
        Command::Seal { repeat, compact } => (
            Work {
                seal: true,
                compact: *compact,
            },
            repeat.every,
        ),
        Command::Compact(repeat) => (
            Work {
                seal: false,
                compact: true,
            },
            repeat.every,
        ),
    };
    let code = match every {
        None => match pass(&config, work).await {
            Ok(true) => 0,
            Ok(false) => 1,
            Err(e) => {
                eprintln!("prism-lake: {e}");
                2
            }
        },
        Some(every) => repeat(&config, work, every).await,
    };
    std::process::exit(code);
}

async fn show_status(config: &LakeConfig, format: Format) -> Result<(), LakeError> {
    let store = Store::open(config)?;
    let rows = status::status(config, &store).await?;
    match format {
        Format::Table => print!("{}", status::table(&rows)),
        Format::Json => match serde_json::to_string_pretty(&rows) {
            Ok(json) => println!("{json}"),
            Err(e) => return Err(LakeError::Lake(e.to_string())),
        },
    }
    Ok(())
}

/// One pass over the recent hours, oldest first; prints what changed.
/// `false` when an hour is not complete or could not be compacted.
async fn pass(config: &LakeConfig, work: Work) -> Result<bool, LakeError> {
    let store = Store::open(config)?;
    store.remove_stale_temporaries(STALE).await?;
    let mut clean = true;
    if work.seal {
        let progress = tokio::task::block_in_place(|| config.progress())?;
        let mut topic = TopicReader::new(config.topic_spec())?;
        for hour in config.recent_hours().into_iter().rev() {
            let outcome = seal::seal_hour(config, &store, &progress, &mut topic, hour).await?;
            match &outcome {
                Outcome::Issued { .. } => println!("{} {}", hour_name(hour), outcome.describe()),
                Outcome::Incomplete { .. } => {
                    clean = false;
                    println!("{} {}", hour_name(hour), outcome.describe());
                }
                _ => {}
            }
        }
    }
    if work.compact {
        for hour in config.recent_hours().into_iter().rev() {
            match compact_hour(config, &store, hour).await {
                Ok(outcome @ compact::Outcome::Done { .. }) => {
                    println!("{} {}", hour_name(hour), outcome.describe())
                }
                Ok(outcome @ compact::Outcome::Skipped(_)) => {
                    println!("{} {}", hour_name(hour), outcome.describe())
                }
                Ok(_) => {}
                Err(e) => {
                    // One hour's trouble does not stop the others.
                    clean = false;
                    println!("{} not compacted: {e}", hour_name(hour));
                }
            }
        }
    }
    Ok(clean)
}

/// Passes until SIGTERM; a failed pass is logged and the next one tried.
async fn repeat(config: &LakeConfig, work: Work, every: Duration) -> i32 {
    let mut stopped = match prism_sinks::shutdown_signal() {
        Ok(stopped) => stopped,
        Err(e) => {
            eprintln!("prism-lake: {e}");
            return 2;
        }
    };
    info!(every_ms = every.as_millis() as u64, "running in a loop");
    loop {
        if let Err(e) = pass(config, work).await {
            error!(error = %e, "a pass failed; trying again next time");
        }
        tokio::select! {
            _ = tokio::time::sleep(every) => {}
            _ = stopped.changed() => return 0,
        }
    }
}
