//! The harness: drives an event-driven system on Redis Streams or Kafka, injects
//! faults, and measures what was lost, duplicated, reordered or late.
//!
//! Modules:
//! - [`lab`]: the `lab` crate, re-exported (`harness::lab::…` keeps working): the local
//!   services (redis-server, Kafka KRaft JVMs, toxiproxy-server) on loopback, or an
//!   external lab built from addresses; process faults; the platform launcher; the
//!   state file behind `harness lab up / status / down`; and the async Toxiproxy client
//!   [`lab::toxiproxy`]. It is a layer below everything here and imports nothing of it.
//! - [`chaos`]: fault injection: the fault plan executor over the lab and Toxiproxy.
//! - [`experiment`]: experiment files — model, parse, validate (file:line:col), `--set`
//!   overrides, matrix expansion.
//! - [`load`]: open-loop schedules as intended send times, and the HTTP driver.
//! - [`observe`]: the tap, the lag sampler and the metrics scrape.
//! - [`run`]: the phases of `harness run` (one module each), the run directory and the
//!   status a run publishes.
//! - [`dashboard`]: `harness run --dashboard`: the live page, its server-sent events
//!   and `/metrics`, following what a run publishes (beside the progress line).
//! - [`cli`]: the subcommands' implementations and the progress line; `main.rs` only
//!   parses and maps exit codes.
//! - [`journal`]: the run's clock and its history, which every recorder appends to.
//! - [`stop`]: the one stop signal ([`stop::Stopper`] / [`stop::Stop`]) every task of a
//!   run waits on.
//! - [`signals`]: Ctrl-C and SIGTERM as a future, so every phase can stop in order.
//!
//! Layers (docs/architecture.md): `journal`, `stop`, `signals` at the bottom; `lab`
//! (with the Toxiproxy client); `load`, `observe`, `chaos`; `run`; `dashboard`, `cli`. A module
//! imports only from layers below it.

pub mod chaos;
pub mod cli;
pub mod dashboard;
pub mod experiment;
pub mod journal;
pub mod load;
pub mod observe;
pub mod run;
pub mod runlog;
pub mod signals;
pub mod stop;

pub use lab;

/// `println!` for the harness's own output: a closed stdout (`harness lab status | head -1`)
/// drops the rest of the output instead of panicking, and the command still finishes
/// (a run still heals its faults and reaps its processes) with its own exit code.
#[macro_export]
macro_rules! say {
    ($($arg:tt)*) => {{
        use std::io::Write as _;
        let _ = writeln!(std::io::stdout().lock(), $($arg)*);
    }};
}

/// Exit codes shared by every subcommand (DESIGN.md, "Exit codes").
pub mod exit {
    /// Everything passed.
    pub const PASS: u8 = 0;
    /// A threshold, anomaly or regression failed (or: the lab is not up, for `status`).
    pub const FAIL: u8 = 1;
    /// Usage or harness error.
    pub const ERROR: u8 = 2;
    /// Inconclusive.
    pub const INCONCLUSIVE: u8 = 3;
    /// Stopped by SIGINT (128 + 2), after cleaning up.
    pub const INTERRUPTED: u8 = 130;
}
