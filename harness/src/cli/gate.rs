//! `harness gate RUN... --baseline FILE|RUN` and `harness baseline save RUN --to FILE`.
//!
//! The gate reads the trials of each RUN (see [`super::trials`]) and the baseline's,
//! calls the pure [`check::gate::gate`], prints the table, writes `gate.json` and
//! `gate.md` into the first RUN, and exits 0 (pass), 1 (regressed), 3 (inconclusive) or
//! 2 (usage or unreadable input).

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use anyhow::{Context, bail};
use check::gate::baseline::Baseline;
use check::gate::bootstrap::BootstrapOptions;
use check::gate::metric::METRICS;
use check::gate::trial::TrialSet;
use check::gate::{GateDocument, GateOptions, gate};
use clap::{Args, Subcommand};
use rand::SeedableRng;
use rand::rngs::StdRng;

use super::gate_table;
use super::trials;
use crate::exit;

#[derive(Debug, Args)]
pub struct GateArgs {
    /// The run(s) to judge: run directories, repeated runs (`--repeat`) or
    /// `runs/<experiment>/latest`. Several RUNs are pooled as trials of one run.
    #[arg(required = true)]
    pub runs: Vec<PathBuf>,
    /// The baseline: a file saved by `harness baseline save`, or a run directory.
    #[arg(long, value_name = "FILE|RUN")]
    pub baseline: PathBuf,
    /// A metric's tolerance in percent, replacing its default (repeatable), e.g.
    /// `latency.e2e.p99=50`. A dotted prefix covers several: `latency=40`.
    #[arg(long = "tolerance", value_name = "METRIC=PCT")]
    pub tolerances: Vec<String>,
    /// The confidence level of the bootstrap intervals.
    #[arg(long, default_value_t = 0.95)]
    pub confidence: f64,
    /// Bootstrap resamples per metric.
    #[arg(long, default_value_t = 10_000)]
    pub resamples: usize,
    /// The bootstrap's random seed (the same inputs and seed give the same report).
    #[arg(long, default_value_t = 1)]
    pub seed: u64,
}

#[derive(Debug, Subcommand)]
pub enum BaselineCommand {
    /// Save a run's trials as a baseline file for `harness gate --baseline`.
    Save(SaveArgs),
}

#[derive(Debug, Args)]
pub struct SaveArgs {
    /// The run(s): run directories, repeated runs (`--repeat`) or
    /// `runs/<experiment>/latest`; several are pooled as trials of one experiment.
    #[arg(required = true)]
    pub runs: Vec<PathBuf>,
    /// Where to write the baseline, e.g. baselines/main.json.
    #[arg(long)]
    pub to: PathBuf,
}

/// `--tolerance METRIC=PCT` pairs as fractions.
fn tolerances(pairs: &[String]) -> anyhow::Result<BTreeMap<String, f64>> {
    let names: Vec<&str> = METRICS.iter().map(|m| m.name).collect();
    pairs
        .iter()
        .map(|pair| {
            let (key, pct) = pair.split_once('=').with_context(|| {
                format!("--tolerance {pair}: expected METRIC=PCT, e.g. latency.e2e.p99=50")
            })?;
            let key = key.trim();
            let covers = names.iter().any(|n| {
                *n == key || (n.starts_with(key) && n.as_bytes().get(key.len()) == Some(&b'.'))
            });
            if !covers {
                bail!(
                    "--tolerance {pair}: `{key}` is not a gated metric or a prefix of one ({})",
                    names.join(", ")
                );
            }
            let pct: f64 = pct
                .trim()
                .trim_end_matches('%')
                .trim()
                .parse()
                .ok()
                .filter(|p: &f64| p.is_finite() && *p >= 0.0)
                .with_context(|| {
                    format!("--tolerance {pair}: the percentage must be a number >= 0")
                })?;
            Ok((key.to_owned(), pct / 100.0))
        })
        .collect()
}

/// The trials of RUN arguments, pooled; `Err` with the message when a set is unfinished.
fn current(runs: &[PathBuf]) -> anyhow::Result<Result<TrialSet, String>> {
    let mut results = Vec::new();
    for run in runs {
        let loaded = trials::load(run)?;
        if let Some(why) = loaded.unfinished {
            return Ok(Err(why));
        }
        results.extend(loaded.results);
    }
    Ok(Ok(TrialSet::from_results(&results)?))
}

fn baseline(path: &Path) -> anyhow::Result<Result<TrialSet, String>> {
    if path.is_dir() {
        return current(&[path.to_owned()]);
    }
    let text = std::fs::read_to_string(path)
        .with_context(|| format!("reading the baseline {}", path.display()))?;
    let baseline = Baseline::from_json(&text)
        .with_context(|| format!("reading the baseline {}", path.display()))?;
    Ok(Ok(baseline.set))
}

/// Prints to stdout; a closed pipe (`harness gate ... | head`) is not an error.
fn say(text: &str) {
    use std::io::Write;
    let _ = std::io::stdout().lock().write_all(text.as_bytes());
}

pub fn run(args: GateArgs) -> anyhow::Result<u8> {
    if !(args.confidence > 0.0 && args.confidence < 1.0) {
        bail!("--confidence {}: must lie between 0 and 1", args.confidence);
    }
    if args.resamples == 0 {
        bail!("--resamples must be at least 1");
    }
    let options = GateOptions {
        bootstrap: BootstrapOptions {
            confidence: args.confidence,
            resamples: args.resamples,
        },
        tolerances: tolerances(&args.tolerances)?,
    };
    let base = match baseline(&args.baseline)? {
        Ok(set) => set,
        Err(why) => {
            eprintln!(
                "harness gate: the baseline is unfinished: {why}; the gate does not judge incomplete trials"
            );
            return Ok(exit::INCONCLUSIVE);
        }
    };
    let cur = match current(&args.runs)? {
        Ok(set) => set,
        Err(why) => {
            eprintln!("harness gate: {why}; the gate does not judge incomplete trials: run again");
            return Ok(exit::INCONCLUSIVE);
        }
    };
    let report = gate(&base, &cur, &options, &mut StdRng::seed_from_u64(args.seed));
    let current_names: Vec<String> = args.runs.iter().map(|r| r.display().to_string()).collect();
    let table = gate_table::markdown(
        &report,
        &args.baseline.display().to_string(),
        &current_names,
    );
    say(&table);

    let out = &args.runs[0];
    let document = GateDocument {
        format: 1,
        baseline: args.baseline.display().to_string(),
        current: current_names,
        seed: args.seed,
        tolerance_overrides: options.tolerances.clone(),
        report,
    };
    std::fs::write(
        out.join("gate.json"),
        serde_json::to_string_pretty(&document)? + "\n",
    )
    .with_context(|| format!("writing {}", out.join("gate.json").display()))?;
    std::fs::write(out.join("gate.md"), &table)
        .with_context(|| format!("writing {}", out.join("gate.md").display()))?;
    say(&format!("\ngate: {}\n", out.join("gate.json").display()));
    Ok(u8::try_from(document.report.decision.exit_code()).unwrap_or(exit::ERROR))
}

pub fn baseline_command(command: BaselineCommand) -> anyhow::Result<u8> {
    let BaselineCommand::Save(args) = command;
    let set = match current(&args.runs)? {
        Ok(set) => set,
        Err(why) => bail!("{why}: a baseline needs finished trials"),
    };
    if let Some(t) = set.trials.iter().find(|t| !t.complete) {
        bail!(
            "{}: the trial was interrupted (complete: false); a baseline needs finished trials",
            t.label
        );
    }
    let source = args
        .runs
        .iter()
        .map(|r| r.display().to_string())
        .collect::<Vec<_>>()
        .join(" ");
    let baseline = Baseline::new(source, set);
    if let Some(parent) = args.to.parent().filter(|p| !p.as_os_str().is_empty()) {
        std::fs::create_dir_all(parent)
            .with_context(|| format!("creating {}", parent.display()))?;
    }
    std::fs::write(&args.to, serde_json::to_string_pretty(&baseline)? + "\n")
        .with_context(|| format!("writing {}", args.to.display()))?;
    say(&format!(
        "baseline: {} ({} trials of {}, config {})\n",
        args.to.display(),
        baseline.set.trials.len(),
        baseline.set.experiment,
        baseline.set.config_hash
    ));
    Ok(exit::PASS)
}
