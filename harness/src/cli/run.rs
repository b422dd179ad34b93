//! `harness run FILE` and `harness validate FILE`.

use std::path::PathBuf;

use anyhow::Context;
use clap::Args;

use crate::exit;
use crate::experiment::{Experiment, ExperimentError, Override};
use crate::run::RunOptions;
use crate::signals;

#[derive(Debug, Args)]
pub struct ExperimentArgs {
    /// The experiment file (TOML).
    pub file: PathBuf,
    /// Override a value of the file, e.g. `--set duration=30s --set workload.rate=100`.
    #[arg(long = "set", value_name = "KEY=VALUE")]
    pub overrides: Vec<String>,
}

#[derive(Debug, Args)]
pub struct ValidateArgs {
    #[command(flatten)]
    pub experiment: ExperimentArgs,
    /// Check the experiment against these services too (the shape `harness lab up
    /// --json` prints): process faults on them are refused, network faults need their
    /// proxies. Wins over `[lab] endpoints` in the file.
    #[arg(long, value_name = "FILE")]
    pub endpoints: Option<PathBuf>,
}

#[derive(Debug, Args)]
pub struct RunArgs {
    #[command(flatten)]
    pub experiment: ExperimentArgs,
    /// Run against services you already run, described by FILE (the shape `harness lab
    /// up --json` prints) instead of starting a lab; wins over `[lab] endpoints`.
    #[arg(long, value_name = "FILE")]
    pub endpoints: Option<PathBuf>,
    /// On an external lab: keep the run's streams, topics and consumer groups
    /// (deleted after the run by default).
    #[arg(long)]
    pub keep: bool,
    /// Where run directories go.
    #[arg(long, default_value = "runs")]
    pub runs: PathBuf,
    /// No live progress line (for CI logs).
    #[arg(long)]
    pub quiet: bool,
    /// Run each experiment N times (same seed), as trials for `harness gate`:
    /// `runs/<experiment>/<timestamp>/trial-1..N/` plus `trials.json`.
    #[arg(long, value_name = "N", default_value = "1")]
    pub repeat: std::num::NonZeroU32,
    /// Serve a live dashboard of the run (and its Prometheus `/metrics`) on ADDR; the
    /// address is printed at the start. Without ADDR: 127.0.0.1 on a free port.
    #[arg(long, value_name = "ADDR", num_args = 0..=1, default_missing_value = "127.0.0.1:0")]
    pub dashboard: Option<std::net::SocketAddr>,
    /// With --dashboard: keep serving it (the report of every run, the last numbers)
    /// after the runs end, until Ctrl-C or SIGTERM.
    #[arg(long, requires = "dashboard")]
    pub linger: bool,
    /// Run the I-th (from 0) of N disjoint slices of the schedule, by order key, and
    /// record only those orders' events: N harness processes (a Kubernetes Indexed
    /// Job's pods, `--shard $JOB_COMPLETION_INDEX/N`) drive one system together, and
    /// `harness merge` combines their runs (docs/sharding.md).
    #[arg(long, value_name = "I/N")]
    pub shard: Option<crate::experiment::Shard>,
    /// Start the run's clock (warm-up, load, faults) at this wall-clock time, RFC 3339
    /// (`2026-12-03T12:00:00Z`), once the lab and platform are up: the shards of one
    /// run on several machines then run their schedules together. A time already past
    /// starts at once, with a warning.
    #[arg(long, value_name = "TIME", value_parser = parse_start_at)]
    pub start_at: Option<time::OffsetDateTime>,
    /// Part of every order id (`o<seed>-<ID>-<n>`): the same in every shard of one
    /// sharded run against a system the harness did not start (`platform =
    /// "external"`), so their slices are of one schedule; without it each such run
    /// draws its own, so no two runs share an order id on the system's topics. Letters
    /// and digits, at most 16.
    #[arg(long, value_name = "ID", value_parser = parse_run_id)]
    pub run_id: Option<String>,
}

fn parse_run_id(text: &str) -> Result<String, String> {
    let ok =
        !text.is_empty() && text.len() <= 16 && text.chars().all(|c| c.is_ascii_alphanumeric());
    ok.then(|| text.to_owned())
        .ok_or_else(|| format!("`{text}`: letters and digits only, 1 to 16 of them"))
}

fn parse_start_at(text: &str) -> Result<time::OffsetDateTime, String> {
    time::OffsetDateTime::parse(text, &time::format_description::well_known::Rfc3339)
        .map_err(|e| format!("`{text}`: {e}; expected RFC 3339, e.g. 2026-12-03T12:00:00Z"))
}

/// The threshold check the experiment parser calls: the checker's own parser, so an
/// expression that validates is one the checker can evaluate.
fn threshold_check(metric: &str, expression: &str) -> Result<(), (usize, String)> {
    check::parse_threshold(metric, expression)
        .map(drop)
        .map_err(|e| match e.part {
            // Errors in the metric name point at the start of the expression's string.
            check::Part::Metric => (0, format!("metric `{metric}`: {}; {}", e.message, e.hint)),
            check::Part::Expression => (e.offset, format!("{}; {}", e.message, e.hint)),
        })
}

pub(super) fn load(
    args: &ExperimentArgs,
) -> anyhow::Result<Result<Vec<Experiment>, ExperimentError>> {
    let overrides = args
        .overrides
        .iter()
        .map(|o| Override::parse(o).map_err(|e| anyhow::anyhow!("--set {o}: {e}")))
        .collect::<anyhow::Result<Vec<_>>>()?;
    Ok(Experiment::from_file_with(
        &args.file,
        &overrides,
        &threshold_check,
    ))
}

/// The experiments checked against the lab they run against (`--endpoints` or the
/// file's `[lab] endpoints`): `Err(exit code)` after printing the problems.
pub(super) fn against_lab(
    experiments: &[Experiment],
    flag: Option<&std::path::Path>,
) -> anyhow::Result<Result<Option<crate::run::ExternalLab>, u8>> {
    let Some(first) = experiments.first() else {
        return Ok(Ok(None));
    };
    let lab = match flag {
        Some(path) => crate::run::ExternalLab::load(path).map(Some),
        None => crate::run::ExternalLab::of_file(first),
    };
    let lab = match lab {
        Ok(lab) => lab,
        Err(e) => {
            eprintln!("harness: {e:#}");
            return Ok(Err(exit::ERROR));
        }
    };
    let kind = match &lab {
        Some(l) => crate::experiment::LabKind::External {
            file: &l.name,
            endpoints: &l.endpoints,
        },
        None => crate::experiment::LabKind::Local,
    };
    let mut failed = false;
    for e in experiments {
        if let Err(problems) = crate::experiment::against_lab(e, kind) {
            eprintln!("{problems}");
            failed = true;
        }
    }
    Ok(if failed { Err(exit::ERROR) } else { Ok(lab) })
}

pub fn validate(args: ValidateArgs) -> anyhow::Result<u8> {
    let ValidateArgs {
        experiment: args,
        endpoints,
    } = args;
    match load(&args)? {
        Ok(experiments) => {
            if let Err(code) = against_lab(&experiments, endpoints.as_deref())? {
                return Ok(code);
            }
            for e in &experiments {
                crate::say!(
                    "ok  {} ({} faults, {} thresholds)",
                    e.name,
                    e.faults.len(),
                    e.thresholds.len()
                );
            }
            Ok(exit::PASS)
        }
        Err(e) => {
            eprintln!("{e}");
            Ok(exit::ERROR)
        }
    }
}

pub async fn run_command(args: RunArgs) -> anyhow::Result<u8> {
    let mut experiments = match load(&args.experiment)? {
        Ok(experiments) => experiments,
        Err(e) => {
            eprintln!("{e}");
            return Ok(exit::ERROR);
        }
    };
    for (k, e) in experiments.iter_mut().enumerate() {
        e.shard = args.shard;
        // One id for every combination of a matrix would give them the same orders:
        // each gets its own, numbered in the matrix's order (the same in every shard).
        let matrix = !e.combination.is_empty();
        e.run_id = args.run_id.as_ref().map(|id| match matrix {
            true => format!("{id}c{k}"),
            false => id.clone(),
        });
    }
    if let Some(problem) = run_id_problem(&experiments, &args) {
        eprintln!("harness: {problem}");
        return Ok(exit::ERROR);
    }
    let lab = match against_lab(&experiments, args.endpoints.as_deref())? {
        Ok(lab) => lab,
        Err(code) => return Ok(code),
    };
    if args.shard.is_some() && lab.is_none() {
        // Each shard would start a lab of its own: their faults (applied by shard 0
        // alone) and their system would not be shared, and the merge would be wrong.
        eprintln!(
            "harness: --shard needs the services every shard shares: --endpoints FILE (or \
             [lab] endpoints in the experiment)"
        );
        return Ok(exit::ERROR);
    }
    if let Some(first) = experiments.first().filter(|e| !e.skipped.is_empty()) {
        crate::say!(
            "harness: {} combinations to run; {} skipped (the fault cannot act on its target there):",
            experiments.len(),
            first.skipped.len()
        );
        // The reasons, each once with how often (every skipped cell is in the grid).
        let mut reasons: Vec<(&str, usize)> = Vec::new();
        for s in first.skipped.iter() {
            match reasons.iter_mut().find(|(r, _)| *r == s.reason) {
                Some((_, n)) => *n += 1,
                None => reasons.push((&s.reason, 1)),
            }
        }
        for (reason, n) in reasons {
            crate::say!("  {n} × {reason}");
        }
    }
    let (stop, signal) = stop_on_signals()?;
    let command = command_line();
    // The live progress line and the dashboard: what the run publishes, shown here
    // (not by the run).
    let status = (!args.quiet || args.dashboard.is_some()).then(crate::run::StatusBoard::default);
    if let Some(board) = status.as_ref().filter(|_| !args.quiet) {
        tokio::spawn(crate::cli::progress::show(board.subscribe()));
    }
    let dashboard = match (args.dashboard, &status) {
        (Some(addr), Some(board)) => {
            let dashboard = crate::dashboard::Dashboard::start(addr, board).await?;
            // On stdout, with --quiet too: the line a script waiting for the page reads.
            crate::say!("dashboard: {}", dashboard.url());
            Some(dashboard)
        }
        _ => None,
    };
    let options = RunOptions {
        runs_dir: args.runs,
        quiet: args.quiet,
        summary: true,
        command,
        status,
        start_at: args.start_at,
        lab,
        keep: args.keep,
    };
    let mut worst = exit::PASS;
    let mut dirs = Vec::new();
    let mut interrupted = false;
    for (k, experiment) in experiments.iter().enumerate() {
        if let Some(board) = &options.status {
            board.combination((experiments.len() > 1).then_some((k + 1, experiments.len())));
        }
        let run =
            crate::cli::trials::run_repeated(experiment, &options, args.repeat.get(), stop.clone())
                .await;
        let outcome = match run {
            Ok(outcome) => outcome,
            // Stopped before this combination ran anything (while its lab started):
            // what ran before it still gets its grid.
            Err(e) if stop.is_stopped() && !dirs.is_empty() => {
                eprintln!("harness: {e:#}");
                interrupted = true;
                break;
            }
            Err(e) => return Err(e),
        };
        let code = u8::try_from(outcome.decision.exit_code()).unwrap_or(exit::ERROR);
        // With --repeat, a combination's comparison uses its first trial.
        dirs.push(crate::cli::trials::first_trial(&outcome.dir));
        if outcome.interrupted {
            interrupted = true;
            break;
        }
        worst = match (worst, code) {
            (exit::FAIL, _) | (_, exit::FAIL) => exit::FAIL,
            (exit::INCONCLUSIVE, _) | (_, exit::INCONCLUSIVE) => exit::INCONCLUSIVE,
            _ => exit::PASS,
        };
    }
    signal.abort();
    // A [matrix]: every combination ran, so compare them side by side; a matrix over
    // faults (a sweep) is read as a grid instead: one cell per combination.
    if let Some(first) = experiments.first().filter(|e| !e.combination.is_empty()) {
        let stamp = crate::run::output::stamp(time::OffsetDateTime::now_utc());
        let base = options.runs_dir.join(&first.base_name);
        let sweep = first
            .combination
            .0
            .iter()
            .any(|s| s.fault_index().is_some());
        // Interrupted: the grid of what ran (the last cell marked incomplete).
        if sweep || !first.skipped.is_empty() {
            let out = base.join(format!("{stamp}-grid"));
            let skipped: Vec<(String, String)> = first
                .skipped
                .iter()
                .map(|s| (s.name.clone(), s.reason.clone()))
                .collect();
            let summary = reports::grid_into(&dirs, &skipped, &out)?;
            crate::say!("grid: {} ({summary})", out.join("grid.html").display());
        }
        if !sweep && !interrupted {
            let out = base.join(format!("{stamp}-compare"));
            crate::cli::report::compare_into(&dirs, &out)?;
            crate::say!("comparison: {}", out.display());
        }
    }
    if let Some(dashboard) = dashboard.filter(|_| args.linger && !stop.is_stopped()) {
        let shutdown = signals::shutdown().context("installing signal handlers")?;
        crate::say!(
            "dashboard: {} stays up until Ctrl-C (--linger)",
            dashboard.url()
        );
        shutdown.await;
    }
    Ok(if interrupted {
        exit::INTERRUPTED
    } else {
        worst
    })
}

/// Why `--run-id` (or its absence) cannot work for these runs, if it cannot.
fn run_id_problem(experiments: &[Experiment], args: &RunArgs) -> Option<String> {
    let external = experiments
        .iter()
        .any(|e| e.system.platform.external().is_some());
    if args.shard.is_some() && external && args.run_id.is_none() {
        return Some(
            "--shard against a system the harness did not start (platform = \"external\") needs \
             --run-id ID, the same in every shard: it makes the shards' order ids one \
             schedule's, and this run's alone on the system's topics"
                .into(),
        );
    }
    if args.run_id.is_some() && args.repeat.get() > 1 {
        return Some(
            "--run-id with --repeat would give every trial the same order ids; run the trials \
             without --run-id (each draws its own) or one at a time with distinct ids"
                .into(),
        );
    }
    None
}

/// A stop that comes on Ctrl-C or SIGTERM (the task announces it on stderr); abort
/// the task when done.
pub(super) fn stop_on_signals() -> anyhow::Result<(
    crate::stop::Stop,
    tokio::task::JoinHandle<signals::Shutdown>,
)> {
    let shutdown = signals::shutdown().context("installing signal handlers")?;
    let stopper = crate::stop::Stopper::new();
    let stop = stopper.stop_token();
    let signal = tokio::spawn(async move {
        let s = shutdown.await;
        stopper.stop();
        eprintln!(
            "\nharness: {s:?} received: healing faults, stopping processes, writing partial results"
        );
        s
    });
    Ok((stop, signal))
}

/// This process's command line, each argument shell-quoted.
pub(super) fn command_line() -> String {
    std::env::args()
        .map(|a| shell_quote(&a))
        .collect::<Vec<_>>()
        .join(" ")
}

/// `arg` as a POSIX shell word: unchanged when it is plain, else single-quoted, so the
/// recorded command line can be pasted back into a shell.
pub fn shell_quote(arg: &str) -> String {
    let plain = |c: char| c.is_ascii_alphanumeric() || "_./=:,@%+-".contains(c);
    if !arg.is_empty() && arg.chars().all(plain) {
        arg.to_string()
    } else {
        format!("'{}'", arg.replace('\'', r"'\''"))
    }
}

#[cfg(test)]
mod tests {
    use super::shell_quote;

    #[test]
    fn arguments_are_quoted_only_when_needed() {
        assert_eq!(shell_quote("--set"), "--set");
        assert_eq!(shell_quote("duration=20s"), "duration=20s");
        assert_eq!(
            shell_quote(r#"thresholds."latency.e2e.p99"=< 60s"#),
            r#"'thresholds."latency.e2e.p99"=< 60s'"#
        );
        assert_eq!(shell_quote("it's"), r"'it'\''s'");
        assert_eq!(shell_quote(""), "''");
    }
}
