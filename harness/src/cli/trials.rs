//! Repeated trials on disk: `harness run --repeat N` writes them, `harness gate` and
//! `harness baseline save` read them.
//!
//! Layout of a repeated run (N > 1):
//!
//! ```text
//! runs/<experiment>/<timestamp>[-<combination>]/
//!   trials.json        {"format":1,"experiment":"ci-gate","requested":3,"complete":true,"trials":["trial-1","trial-2","trial-3"]}
//!   trial-1/           a whole run directory: results.json, history.jsonl, summary.md, logs/, ...
//!   trial-2/
//!   trial-3/
//! runs/<experiment>/latest -> <timestamp>[-<combination>]
//! ```
//!
//! Every trial repeats the same experiment with the same seed: the same orders, keys and
//! content, so the trials differ only by what the machine did. `trials.json` is
//! rewritten after each trial; `complete` turns true after the last one, so a set that
//! was interrupted (Ctrl-C stops after the current trial, which is itself marked
//! incomplete) says so.
//!
//! A RUN argument of the gate is any of: a run directory (`results.json`), a repeated
//! run (`trials.json`, or `trial-*/results.json` without an index), or a `latest` link
//! to either.

use std::path::{Path, PathBuf};

use crate::stop::Stop;
use check::Decision;
use check::Results;
use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::experiment::Experiment;
use crate::run::{RunOptions, RunOutcome, output, run};

/// `trials.json`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct TrialsIndex {
    pub format: u32,
    pub experiment: String,
    /// `--repeat N`.
    pub requested: u32,
    /// True once every requested trial ran to its end.
    pub complete: bool,
    /// The trial directories, relative to the index, in the order they ran.
    pub trials: Vec<String>,
}

/// A RUN that cannot be read.
#[derive(Debug, thiserror::Error)]
pub enum TrialsError {
    #[error("{}: {source}", path.display())]
    Io {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("{}: not valid JSON: {source}", path.display())]
    Json {
        path: PathBuf,
        source: serde_json::Error,
    },
    #[error("{}: not a results document: {source}", path.display())]
    Results {
        path: PathBuf,
        source: serde_json::Error,
    },
    #[error(
        "{}: no results.json, trials.json or trial-*/results.json here (expected a run directory, a repeated run, or runs/<experiment>/latest)",
        path.display()
    )]
    NotARun { path: PathBuf },
}

/// The trials of one RUN argument.
#[derive(Debug, Clone)]
pub struct RunTrials {
    /// The directory (the RUN argument; a `latest` link is followed when used).
    pub dir: PathBuf,
    /// `(label, parsed results.json)` per trial; the label is the trial's directory.
    pub results: Vec<(String, Results)>,
    /// Why the set is unfinished (trials.json says `complete: false`).
    pub unfinished: Option<String>,
}

fn read_json(path: &Path) -> Result<Value, TrialsError> {
    let text = std::fs::read_to_string(path).map_err(|source| TrialsError::Io {
        path: path.to_owned(),
        source,
    })?;
    serde_json::from_str(&text).map_err(|source| TrialsError::Json {
        path: path.to_owned(),
        source,
    })
}

fn trial(dir: &Path) -> Result<(String, Results), TrialsError> {
    let path = dir.join("results.json");
    let results = serde_json::from_value(read_json(&path)?)
        .map_err(|source| TrialsError::Results { path, source })?;
    Ok((dir.display().to_string(), results))
}

/// Reads the trials of a RUN argument.
pub fn load(dir: &Path) -> Result<RunTrials, TrialsError> {
    let index_path = dir.join("trials.json");
    if index_path.is_file() {
        let index: TrialsIndex =
            serde_json::from_value(read_json(&index_path)?).map_err(|source| {
                TrialsError::Json {
                    path: index_path.clone(),
                    source,
                }
            })?;
        let results = index
            .trials
            .iter()
            .map(|t| trial(&dir.join(t)))
            .collect::<Result<Vec<_>, _>>()?;
        let unfinished = (!index.complete).then(|| {
            format!(
                "{}: {} of {} trials ran, then the run was interrupted or failed",
                index_path.display(),
                index.trials.len(),
                index.requested
            )
        });
        return Ok(RunTrials {
            dir: dir.to_owned(),
            results,
            unfinished,
        });
    }
    if dir.join("results.json").is_file() {
        return Ok(RunTrials {
            dir: dir.to_owned(),
            results: vec![trial(dir)?],
            unfinished: None,
        });
    }
    // Trial directories without an index (copied by hand, say).
    let entries = std::fs::read_dir(dir).map_err(|source| TrialsError::Io {
        path: dir.to_owned(),
        source,
    })?;
    let mut numbered: Vec<(u32, PathBuf)> = entries
        .flatten()
        .filter_map(|e| {
            let name = e.file_name().to_string_lossy().into_owned();
            let n = name.strip_prefix("trial-")?.parse().ok()?;
            e.path()
                .join("results.json")
                .is_file()
                .then(|| (n, e.path()))
        })
        .collect();
    numbered.sort();
    if numbered.is_empty() {
        return Err(TrialsError::NotARun {
            path: dir.to_owned(),
        });
    }
    Ok(RunTrials {
        dir: dir.to_owned(),
        results: numbered
            .iter()
            .map(|(_, p)| trial(p))
            .collect::<Result<_, _>>()?,
        unfinished: None,
    })
}

/// A run directory for tools that read one `results.json`: the first trial of a
/// repeated run, else `dir` itself.
pub fn first_trial(dir: &Path) -> PathBuf {
    let index = dir.join("trials.json");
    let first = std::fs::read_to_string(&index)
        .ok()
        .and_then(|text| serde_json::from_str::<TrialsIndex>(&text).ok())
        .and_then(|index| index.trials.first().map(|t| dir.join(t)));
    first.unwrap_or_else(|| dir.to_owned())
}

fn worse(a: Decision, b: Decision) -> Decision {
    match (a, b) {
        (Decision::Fail, _) | (_, Decision::Fail) => Decision::Fail,
        (Decision::Inconclusive, _) | (_, Decision::Inconclusive) => Decision::Inconclusive,
        _ => Decision::Pass,
    }
}

fn write_index(group: &Path, index: &TrialsIndex) -> anyhow::Result<()> {
    let path = group.join("trials.json");
    let text = serde_json::to_string_pretty(index)?;
    std::fs::write(&path, text + "\n")
        .map_err(|e| anyhow::anyhow!("writing {}: {e}", path.display()))
}

/// Runs `experiment` `repeat` times (a plain [`run`] when `repeat` is 1). The outcome's
/// `dir` is the directory of all trials, its decision the worst trial's.
pub async fn run_repeated(
    experiment: &Experiment,
    options: &RunOptions,
    repeat: u32,
    stop: Stop,
) -> anyhow::Result<RunOutcome> {
    if repeat <= 1 {
        return run(experiment, options, stop).await;
    }
    let group = output::create_dir(
        &options.runs_dir,
        experiment,
        time::OffsetDateTime::now_utc(),
    )?;
    let _ = std::fs::remove_dir(group.join("logs"));
    // Each trial runs into a staging directory and is then renamed to trial-<i>.
    let staging = group.join(".staging");
    let mut index = TrialsIndex {
        format: 1,
        experiment: experiment.name.clone(),
        requested: repeat,
        complete: false,
        trials: Vec::new(),
    };
    write_index(&group, &index)?;
    output::link_latest(&group);
    let mut decision = Decision::Pass;
    for i in 1..=repeat {
        if stop.is_stopped() {
            return Ok(RunOutcome {
                dir: group,
                decision,
                interrupted: true,
            });
        }
        let name = format!("trial-{i}");
        eprintln!(
            "harness: trial {i} of {repeat} → {}",
            group.join(&name).display()
        );
        let trial_options = RunOptions {
            runs_dir: staging.clone(),
            ..options.clone()
        };
        if let Some(board) = &options.status {
            board.trial(Some((i, repeat)));
        }
        let outcome = run(experiment, &trial_options, stop.clone()).await?;
        std::fs::rename(&outcome.dir, group.join(&name)).map_err(|e| {
            anyhow::anyhow!(
                "moving {} to {}: {e}",
                outcome.dir.display(),
                group.join(&name).display()
            )
        })?;
        if let Some(board) = &options.status {
            board.moved(&group.join(&name));
        }
        let _ = std::fs::remove_dir_all(&staging);
        eprintln!(
            "harness: trial {i} of {repeat} done: {}",
            group.join(&name).display()
        );
        index.trials.push(name);
        decision = worse(decision, outcome.decision);
        if outcome.interrupted {
            write_index(&group, &index)?;
            return Ok(RunOutcome {
                dir: group,
                decision,
                interrupted: true,
            });
        }
        index.complete = i == repeat;
        write_index(&group, &index)?;
    }
    crate::say!("\ntrials: {} ({repeat} trials)", group.display());
    Ok(RunOutcome {
        dir: group,
        decision,
        interrupted: false,
    })
}
