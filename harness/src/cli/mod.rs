//! Command-line interface: the argument types (clap) and one function per subcommand.
//! Each returns the process exit code (see [`crate::exit`]); errors become exit 2.

pub mod capacity;
pub mod check;
pub mod gate;
mod gate_table;
pub mod lab;
pub mod progress;
pub mod report;
pub mod run;
pub mod synth;
pub mod trials;

use clap::{Parser, Subcommand};

#[derive(Debug, Parser)]
#[command(
    name = "harness",
    version,
    about = "Load, faults and correctness checks for event-driven systems on Redis Streams and Kafka",
    propagate_version = true
)]
pub struct Cli {
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Start, inspect and stop the local services (Redis, Kafka, Toxiproxy).
    #[command(subcommand)]
    Lab(lab::LabCommand),
    /// Run an experiment: lab, platform, load, faults, check, results.
    Run(run::RunArgs),
    /// Check an experiment file (and its matrix) without running it.
    Validate(run::ValidateArgs),
    /// Re-analyse a recorded history.jsonl offline and print the verdict.
    Check(check::CheckArgs),
    /// Judge a run's trials against a baseline: correctness absolute, performance by
    /// confidence interval against a tolerance (exit 0 pass, 1 regressed, 3 inconclusive).
    Gate(gate::GateArgs),
    /// Save a run's trials as a baseline file for `harness gate`.
    #[command(subcommand)]
    Baseline(gate::BaselineCommand),
    /// Re-render a run's reports (report.html, PNG charts, summary.md, junit.xml) from
    /// its results.json.
    Report(report::ReportArgs),
    /// Find the highest open-loop rate each matrix combination sustains, by short
    /// constant-rate trials (capacity.json, capacity.html, capacity.md).
    Capacity(capacity::CapacityArgs),
    /// Compare runs: overlaid charts, deltas against the first run, the cost of
    /// exactly-once (compare.html, compare.md, PNG charts).
    Compare(report::CompareArgs),
    /// The reliability grid of a sweep: a column per guarantee, a row per combination
    /// of the other matrix keys, each cell a run's verdict, anomalies and report link
    /// (grid.html, grid.md). Exit 0 once written.
    Grid(report::GridArgs),
    /// Write a large clean synthetic history (about 10 observations an order), to
    /// measure `harness check` at soak scale.
    Synth(synth::SynthArgs),
}

/// Runs a parsed command line; `Ok` carries the exit code.
pub async fn run(cli: Cli) -> anyhow::Result<u8> {
    match cli.command {
        Command::Lab(command) => lab::run(command).await,
        Command::Check(args) => check::run(args),
        Command::Synth(args) => synth::run(args),
        Command::Gate(args) => gate::run(args),
        Command::Baseline(command) => gate::baseline_command(command),
        Command::Run(args) => run::run_command(args).await,
        Command::Validate(args) => run::validate(args),
        Command::Report(args) => report::report(args),
        Command::Compare(args) => report::compare(args),
        Command::Grid(args) => report::grid(args),
        Command::Capacity(args) => capacity::capacity_command(args).await,
    }
}
