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

    let bind = |address: &str| {
        TcpListener::bind(address)
            .inspect_err(|e| tracing::error!(bind = %address, error = %e, "cannot listen"))
    };
    let (Ok(listener), Ok(admin)) = (bind(&config.bind), bind(&config.admin_bind)) else {
        return ExitCode::FAILURE;
    };
    match run(config, listener, admin).await {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            tracing::error!(error = %e, "prism-server failed");
            ExitCode::FAILURE
        }
    }
}
