//! Seals finished hours of the lake (`_manifest.json`, `_SUCCESS`) and
//! shows their state. Exit status 0: done; 1: an hour the sink group is
//! past is not complete in the lake; 2: it could not run.

use clap::Parser;
use prism_sinks::audit::Format;
use prism_sinks::audit::kafka::TopicReader;
use prism_sinks::audit::report::hour_name;
use prism_sinks::lake::seal::{self, Outcome};
use prism_sinks::lake::{Command, LakeConfig, LakeError, Store, status};
use tracing::{error, info};

#[tokio::main]
async fn main() {
    prism_sinks::init_cli_tracing();
    let config = LakeConfig::parse();
    let code = match &config.command {
        Command::Status { format } => match show_status(&config, *format).await {
            Ok(()) => 0,
            Err(e) => {
                eprintln!("prism-lake: {e}");
                2
            }
        },
        Command::Seal(repeat) => match repeat.every {
            None => seal_once(&config).await,
            Some(every) => seal_every(&config, every).await,
        },
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
async fn seal_pass(config: &LakeConfig) -> Result<bool, LakeError> {
    let store = Store::open(config)?;
    let progress = tokio::task::block_in_place(|| config.progress())?;
    let mut topic = TopicReader::new(config.topic_spec())?;
    let mut complete = true;
    for hour in config.recent_hours().into_iter().rev() {
        let outcome = seal::seal_hour(config, &store, &progress, &mut topic, hour).await?;
        match &outcome {
            Outcome::Issued { .. } => println!("{} {}", hour_name(hour), outcome.describe()),
            Outcome::Incomplete { .. } => {
                complete = false;
                println!("{} {}", hour_name(hour), outcome.describe());
            }
            _ => {}
        }
    }
    Ok(complete)
}

async fn seal_once(config: &LakeConfig) -> i32 {
    match seal_pass(config).await {
        Ok(true) => 0,
        Ok(false) => 1,
        Err(e) => {
            eprintln!("prism-lake: {e}");
            2
        }
    }
}

/// Passes until SIGTERM; a failed pass is logged and the next one tried.
async fn seal_every(config: &LakeConfig, every: std::time::Duration) -> i32 {
    let mut stopped = match prism_sinks::shutdown_signal() {
        Ok(stopped) => stopped,
        Err(e) => {
            eprintln!("prism-lake: {e}");
            return 2;
        }
    };
    info!(every_ms = every.as_millis() as u64, "sealing in a loop");
    loop {
        if let Err(e) = seal_pass(config).await {
            error!(error = %e, "a sealing pass failed; trying again next time");
        }
        tokio::select! {
            _ = tokio::time::sleep(every) => {}
            _ = stopped.changed() => return 0,
        }
    }
}
