//! `order-platform SERVICE --backend redis|kafka --guarantee ...`: parse, run one service
//! instance until SIGTERM or SIGINT, shut down gracefully.

use std::process::ExitCode;

use clap::Parser;
use order_platform::config::Args;
use tokio::signal::unix::{SignalKind, signal};

fn main() -> ExitCode {
    let args = Args::parse();
    if let Err(e) = args.validate() {
        eprintln!("order-platform: {e}");
        return ExitCode::from(2);
    }
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env()
                .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info")),
        )
        .with_writer(std::io::stderr)
        .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()))
        .init();
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(r) => r,
        Err(e) => {
            eprintln!("order-platform: starting the runtime: {e}");
            return ExitCode::from(2);
        }
    };
    let service = args.service.name();
    let instance = args.instance;
    let result = runtime.block_on(async move {
        let (stop, shutdown) = tokio::sync::watch::channel(false);
        let mut terminate = signal(SignalKind::terminate())?;
        let mut interrupt = signal(SignalKind::interrupt())?;
        tokio::spawn(async move {
            tokio::select! {
                _ = terminate.recv() => {}
                _ = interrupt.recv() => {}
            }
            tracing::info!("shutting down");
            let _ = stop.send(true);
        });
        order_platform::services::run(args, shutdown).await
    });
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("order-platform {service}#{instance}: {e:#}");
            ExitCode::from(1)
        }
    }
}
