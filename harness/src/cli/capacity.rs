//! `harness capacity FILE`: the highest open-loop rate each matrix combination
//! sustains, found by short constant-rate trials (the rules of "sustained" and of the
//! next rate are pure, in `reports::capacity`). Writes
//! `runs/<name>/<stamp>-capacity/` with `capacity.json`, `capacity.md`,
//! `capacity.html`, the charts' PNGs and every trial's run under `trials/`.

use std::path::{Path, PathBuf};
use std::time::Duration;

use clap::Args;
use reports::capacity::{
    Bracket, COMPLETED_SHARE, CapacityDocument, CombinationCapacity, LAG_GROWTH_FLOOR,
    LAG_GROWTH_SECONDS, TrialResult, judge_trial, next_rate,
};

use super::run::{ExperimentArgs, command_line, load, stop_on_signals};
use crate::exit;
use crate::experiment::{Capacity, Experiment, Schedule};
use crate::run::RunOptions;
use crate::stop::Stop;

#[derive(Debug, Args)]
pub struct CapacityArgs {
    #[command(flatten)]
    pub experiment: ExperimentArgs,
    /// Where the search's directory goes.
    #[arg(long, default_value = "runs")]
    pub runs: PathBuf,
    /// Only the final table and paths on stdout; no per-trial lines on stderr.
    #[arg(long)]
    pub quiet: bool,
    /// Run the trials against these services instead of a lab of their own, as
    /// `harness run --endpoints` (the shape `harness lab up --json` prints); wins over
    /// the file's `[lab] endpoints`.
    #[arg(long, value_name = "FILE")]
    pub endpoints: Option<PathBuf>,
}

/// A trial's drain is capped at this: a capacity trial needs its load phase, not a
/// full drain (orders still queued make it inconclusive, not unsustained).
const TRIAL_DRAIN_CAP: Duration = Duration::from_secs(10);

fn criteria(capacity: &Capacity) -> Vec<String> {
    let mut out = vec![
        format!(
            "the completed rate over the measured load is at least {:.0} % of the offered rate",
            COMPLETED_SHARE * 100.0
        ),
        format!(
            "no consumer group's lag (side consumers included) grows over the second half of the load by more than max({LAG_GROWTH_FLOOR:.0} entries, {LAG_GROWTH_SECONDS} s of the offered rate)"
        ),
        "no rule the guarantee requires is broken".to_string(),
    ];
    for t in &capacity.slo {
        out.push(format!("SLO: {} {}", t.metric, t.expression));
    }
    out.push(format!(
        "each trial: {:?} of load at one constant rate after the file's warm-up, no faults",
        capacity.trial
    ));
    out
}

/// The experiment of one trial: the combination at `rate`, without faults, its
/// thresholds replaced by the SLO.
fn trial_experiment(e: &Experiment, capacity: &Capacity, rate: f64) -> Experiment {
    let mut t = e.clone();
    t.name = format!("{} at {rate}/s", e.name);
    t.base_name = format!("{rate}-per-s");
    t.combination = Default::default();
    t.duration = capacity.trial;
    t.drain_timeout = e.drain_timeout.min(TRIAL_DRAIN_CAP);
    t.faults.clear();
    t.thresholds = capacity.slo.clone();
    t.workload.schedule = Schedule::Constant(rate);
    t
}

/// Runs one trial under `dir` and judges it.
async fn trial(
    e: &Experiment,
    capacity: &Capacity,
    rate: f64,
    dir: &Path,
    out: &Path,
    stop: &Stop,
) -> anyhow::Result<Option<TrialResult>> {
    let experiment = trial_experiment(e, capacity, rate);
    let options = RunOptions {
        runs_dir: dir.to_path_buf(),
        quiet: true,
        summary: false,
        command: command_line(),
        status: None,
        start_at: None,
        lab: crate::run::ExternalLab::of_file(e)?,
        keep: false,
    };
    let outcome = crate::run::run(&experiment, &options, stop.clone()).await?;
    if outcome.interrupted {
        return Ok(None);
    }
    let results = reports::results::load(&outcome.dir.join("results.json"))?;
    let relative = outcome
        .dir
        .strip_prefix(out)
        .unwrap_or(&outcome.dir)
        .display()
        .to_string();
    Ok(Some(judge_trial(&results, rate, relative)))
}

fn say(quiet: bool, text: String) {
    if !quiet {
        eprintln!("{text}");
    }
}

fn trial_line(t: &TrialResult) -> String {
    let held = if t.sustained {
        "sustained".to_string()
    } else {
        format!("not sustained: {}", t.reasons.join("; "))
    };
    format!(
        "  {:.0}/s offered, {:.1}/s completed, p99 {}: {held}",
        t.offered_per_s,
        t.completed_per_s,
        reports::results::ms(t.p99_us)
    )
}

/// Searches one combination; `false` with it when the search could not go on
/// (interrupted, or a trial failed to run: `stopped` says which), the trials so far
/// kept.
async fn search(
    e: &Experiment,
    capacity: &Capacity,
    out: &Path,
    stop: &Stop,
    quiet: bool,
) -> anyhow::Result<(CombinationCapacity, bool)> {
    let combination = e.combination.to_string();
    let slug = if combination.is_empty() {
        "run".to_string()
    } else {
        combination.replace(['=', ',', ' ', '/'], "_")
    };
    let dir = out.join("trials").join(slug);
    let mut found = CombinationCapacity {
        name: e.name.clone(),
        combination,
        backend: e.system.backend.to_string(),
        guarantee: e.system.guarantee.to_string(),
        ..CombinationCapacity::default()
    };
    let mut bracket = Bracket {
        lo: None,
        hi: None,
        max: capacity.max,
        resolution: capacity.resolution,
    };
    let mut rate = capacity.start.min(capacity.max);
    say(quiet, format!("harness: capacity of {}", e.name));
    loop {
        if found.trials.len() as u32 >= capacity.max_trials {
            found.stopped = format!("max_trials ({}) reached", capacity.max_trials);
            break;
        }
        let t = match trial(e, capacity, rate, &dir, out, stop).await {
            Ok(Some(t)) => t,
            Ok(None) => {
                found.stopped = "interrupted".into();
                return Ok((found, false));
            }
            // The trials so far are kept and written; the error is the reason.
            Err(error) => {
                found.stopped = format!("a trial at {rate}/s failed to run: {error:#}");
                found.max_sustainable_per_s = bracket.lo;
                found.min_unsustained_per_s = bracket.hi;
                return Ok((found, false));
            }
        };
        say(quiet, trial_line(&t));
        if t.sustained {
            bracket.lo = Some(bracket.lo.map_or(rate, |lo: f64| lo.max(rate)));
        } else {
            bracket.hi = Some(bracket.hi.map_or(rate, |hi: f64| hi.min(rate)));
        }
        let next = next_rate(bracket, &t);
        found.trials.push(t);
        match next {
            Ok(r) => rate = r,
            Err(why) => {
                found.stopped = why;
                break;
            }
        }
    }
    found.max_sustainable_per_s = bracket.lo;
    found.min_unsustained_per_s = bracket.hi;
    Ok((found, true))
}

pub async fn capacity_command(args: CapacityArgs) -> anyhow::Result<u8> {
    let mut experiments = match load(&args.experiment)? {
        Ok(experiments) => experiments,
        Err(e) => {
            eprintln!("{e}");
            return Ok(exit::ERROR);
        }
    };
    if let Some(path) = &args.endpoints {
        for e in &mut experiments {
            e.lab.endpoints = Some(path.clone());
        }
    }
    // The same refusals as `harness run` (process faults, proxies the file lacks, an
    // external platform without endpoints), before any trial.
    if let Err(code) = super::run::against_lab(&experiments, args.endpoints.as_deref())? {
        return Ok(code);
    }
    let Some(first) = experiments.first() else {
        return Ok(exit::ERROR);
    };
    let capacity = first.capacity.clone().unwrap_or_else(|| Capacity {
        start: 100.0,
        max: 20_000.0,
        trial: Duration::from_secs(10),
        resolution: 0.1,
        max_trials: 8,
        slo: Vec::new(),
    });
    let (stop, signal) = stop_on_signals()?;
    let started = time::OffsetDateTime::now_utc();
    let out = args
        .runs
        .join(&first.base_name)
        .join(format!("{}-capacity", crate::run::output::stamp(started)));
    std::fs::create_dir_all(&out)
        .map_err(|e| anyhow::anyhow!("creating {}: {e}", out.display()))?;
    let mut doc = CapacityDocument {
        experiment: first.base_name.clone(),
        started_at: crate::run::output::rfc3339(started)?,
        command: command_line(),
        criteria: criteria(&capacity),
        complete: true,
        ..CapacityDocument::default()
    };
    let clock = std::time::Instant::now();
    for e in &experiments {
        let (found, complete) = search(e, &capacity, &out, &stop, args.quiet).await?;
        doc.combinations.push(found);
        if !complete {
            doc.complete = false;
            break;
        }
    }
    // Latency at a common rate: each guarantee's trial at the highest rate all of
    // them sustained (run now where the search did not try exactly that rate).
    let common = doc
        .combinations
        .iter()
        .map(|c| c.max_sustainable_per_s)
        .collect::<Option<Vec<f64>>>()
        .and_then(|m| m.into_iter().reduce(f64::min));
    if let Some(rate) = common.filter(|_| doc.complete && experiments.len() > 1) {
        for (e, found) in experiments.iter().zip(doc.combinations.iter_mut()) {
            let tried = found
                .trials
                .iter()
                .any(|t| t.sustained && (t.offered_per_s - rate).abs() < 0.5);
            if tried {
                continue;
            }
            let dir = out.join("trials").join("common-rate");
            say(
                args.quiet,
                format!("harness: {} at the common rate {rate}/s", e.name),
            );
            match trial(e, &capacity, rate, &dir, &out, &stop).await {
                Ok(Some(t)) => {
                    say(args.quiet, trial_line(&t));
                    found.trials.push(t);
                }
                Ok(None) => {
                    doc.complete = false;
                    break;
                }
                Err(error) => {
                    eprintln!("harness: the trial at the common rate failed to run: {error:#}");
                    doc.complete = false;
                    break;
                }
            }
        }
    }
    doc.compute_cost();
    doc.finished_at = crate::run::output::rfc3339(time::OffsetDateTime::now_utc())?;
    signal.abort();
    reports::capacity::write_all(&out, &doc)?;
    let mut md = Vec::new();
    reports::capacity::write_md(&mut md, &doc)?;
    {
        use std::io::Write as _;
        let _ = std::io::stdout().lock().write_all(&md);
    }
    crate::say!(
        "\nsearch took {:.0} s; capacity: {}",
        clock.elapsed().as_secs_f64(),
        out.join("capacity.json").display()
    );
    crate::say!("report:   {}", out.join("capacity.html").display());
    if !doc.complete {
        let interrupted = doc.combinations.iter().any(|c| c.stopped == "interrupted");
        return Ok(if interrupted {
            exit::INTERRUPTED
        } else {
            exit::ERROR
        });
    }
    let all_found = doc
        .combinations
        .iter()
        .all(|c| c.max_sustainable_per_s.is_some());
    Ok(if all_found {
        exit::PASS
    } else {
        exit::INCONCLUSIVE
    })
}
