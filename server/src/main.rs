use std::net::TcpListener;
use std::process::ExitCode;

use clap::Parser;
use prism_server::{Config, run};
use tracing_subscriber::EnvFilter;

#[actix_web::main]
async fn main() -> ExitCode {
    let config = Config::parse();
    tracing_subscriber::fmt()
        .with_env_filter(
            EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new("info")),
        )
        .init();

    let listener = match TcpListener::bind(&config.bind) {
        Ok(l) => l,
        Err(e) => {
            tracing::error!(bind = %config.bind, error = %e, "cannot listen");
            return ExitCode::FAILURE;
        }
    };
    match run(config, listener).await {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            tracing::error!(error = %e, "prism-server failed");
            ExitCode::FAILURE
        }
    }
}
