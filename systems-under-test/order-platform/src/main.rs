//! `order-platform SERVICE --backend redis|kafka --guarantee ...`: one process per
//! service instance of the reference system under test.
//!
//! The command line is fixed here so that the harness and the lab can be written
//! against it; the services themselves are the subject of the order-platform issue.

use std::process::ExitCode;

use clap::{Parser, ValueEnum};

#[derive(Debug, Clone, Copy, ValueEnum)]
enum Service {
    Order,
    Inventory,
    Payment,
    Shipping,
    Notification,
    Analytics,
    PaymentGateway,
}

#[derive(Debug, Clone, Copy, ValueEnum)]
enum Backend {
    Redis,
    Kafka,
}

// The names are the delivery modes' own: at-most-once, at-least-once, exactly-once.
#[allow(clippy::enum_variant_names)]
#[derive(Debug, Clone, Copy, ValueEnum)]
enum Guarantee {
    AtMostOnce,
    AtLeastOnce,
    ExactlyOnce,
}

#[derive(Debug, Parser)]
#[command(
    name = "order-platform",
    version,
    about = "Reference order platform (system under test)"
)]
struct Args {
    service: Service,
    #[arg(long, value_enum)]
    backend: Backend,
    #[arg(long, value_enum, default_value = "at-least-once")]
    guarantee: Guarantee,
    /// Instance number within the service's consumer group.
    #[arg(long, default_value_t = 0)]
    instance: u32,
}

fn main() -> ExitCode {
    let args = Args::parse();
    eprintln!(
        "order-platform: the {:?} service ({:?}, {:?}, instance {}) is not built yet",
        args.service, args.backend, args.guarantee, args.instance
    );
    ExitCode::from(2)
}
