use std::io::IsTerminal;
use std::net::TcpListener;
use std::process::ExitCode;

use clap::Parser;
use prism_server::{Config, run};
use tracing_subscriber::EnvFilter;
use tracing_subscriber::Layer;
use tracing_subscriber::filter::FilterExt;
use tracing_subscriber::layer::SubscriberExt;
use tracing_subscriber::util::SubscriberInitExt;

#[actix_web::main]
async fn main() -> ExitCode {
    let config = Config::parse();
    let levels = EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new("info"));
    tracing_subscriber::registry()
        .with(
            tracing_subscriber::fmt::layer()
                .with_ansi(std::io::stdout().is_terminal())
                .with_filter(prism_server::logging::ProtocolErrors::default().and(levels)),
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
