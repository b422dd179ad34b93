//! `harness merge RUN... --out DIR`: the runs of one sharded run (`harness run --shard
//! I/N`, one per shard) combined into one results.json and report. Each shard's history
//! is re-analysed (so the merge stands on what was recorded, not on rounded figures),
//! the analyses merged exactly ([`check::merge`]: histograms added, anomalies united,
//! counts added, faults taken once), and the merged run judged by the thresholds and
//! guarantee the shards recorded.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use anyhow::{Context, bail};
use check::{CrossCount, Results, RunInfo};
use clap::Args;
use serde_json::Value;

use crate::exit;

#[derive(Debug, Args)]
pub struct MergeArgs {
    /// The shards' run directories (or `runs/<name>/latest` links), one per shard, all
    /// of one sharded run: the same experiment file, seed and endpoints.
    #[arg(required = true, num_args = 1..)]
    pub runs: Vec<PathBuf>,
    /// Where results.json, the report and shards.json go (created).
    #[arg(long)]
    pub out: PathBuf,
}

/// One shard's run, read back.
struct ShardRun {
    dir: PathBuf,
    index: u32,
    count: u32,
    results: Results,
    checked: crate::journal::CheckedFile,
}

/// The history file of a run directory: `history.jsonl` or `history.jsonl.zst`.
fn history_of(dir: &Path) -> anyhow::Result<PathBuf> {
    for format in [
        crate::journal::HistoryFormat::Jsonl,
        crate::journal::HistoryFormat::Zstd,
    ] {
        let path = dir.join(format.file_name());
        if path.is_file() {
            return Ok(path);
        }
    }
    bail!(
        "{}: no history.jsonl or history.jsonl.zst: the merge re-analyses every shard's history",
        dir.display()
    )
}

fn read_shard(dir: &Path) -> anyhow::Result<ShardRun> {
    let path = dir.join("results.json");
    let text = std::fs::read_to_string(&path).with_context(|| {
        format!(
            "reading {} (is {} a run directory?)",
            path.display(),
            dir.display()
        )
    })?;
    let results = Results::parse(&text)
        .with_context(|| format!("{}: not a results document", path.display()))?;
    let shard = results.config.get("shard");
    let field = |name: &str| shard.and_then(|s| s.get(name)).and_then(Value::as_u64);
    let (Some(index), Some(count)) = (field("index"), field("count")) else {
        bail!(
            "{}: not a shard (its run had no --shard I/N); merge takes the runs of one sharded run",
            dir.display()
        );
    };
    let history = history_of(dir)?;
    let checked = crate::journal::check(&history)?;
    if let Some(why) = &checked.cut_short {
        eprintln!(
            "harness: warning: {} is cut short: {why}; the merged run is judged incomplete",
            history.display()
        );
    }
    Ok(ShardRun {
        dir: dir.to_path_buf(),
        index: u32::try_from(index).unwrap_or(u32::MAX),
        count: u32::try_from(count).unwrap_or(u32::MAX),
        results,
        checked,
    })
}

/// The experiment as run, without the shard: what every shard must share.
fn config_without_shard(config: &Value) -> Value {
    let mut config = config.clone();
    if let Some(map) = config.as_object_mut() {
        map.remove("shard");
    }
    config
}

/// The rules that make a merge valid: every shard of one run, each once.
fn check_one_run(shards: &[ShardRun]) -> anyhow::Result<()> {
    let first = &shards[0];
    let count = first.count;
    // More shards than directories given is a missing shard; far more is a damaged file
    // (and no reason to allocate for it).
    if count == 0 || count as usize > shards.len().max(1) * 64 {
        bail!(
            "{}: shard count {count} does not fit the {} run(s) given",
            first.dir.display(),
            shards.len()
        );
    }
    let mut seen = vec![None::<&Path>; count as usize];
    for s in shards {
        if s.count != count {
            bail!(
                "{} is shard {}/{} but {} is shard {}/{}: shards of different runs",
                s.dir.display(),
                s.index,
                s.count,
                first.dir.display(),
                first.index,
                first.count
            );
        }
        match seen.get_mut(s.index as usize) {
            Some(Some(other)) => bail!(
                "shard {}/{count} given twice: {} and {}",
                s.index,
                other.display(),
                s.dir.display()
            ),
            Some(slot) => *slot = Some(&s.dir),
            None => bail!(
                "{}: shard index {} is not below {count}",
                s.dir.display(),
                s.index
            ),
        }
        let (a, b) = (
            config_without_shard(&first.results.config),
            config_without_shard(&s.results.config),
        );
        if a != b {
            let keys: Vec<String> = match (a.as_object(), b.as_object()) {
                (Some(a), Some(b)) => a
                    .keys()
                    .chain(b.keys())
                    .filter(|k| a.get(*k) != b.get(*k))
                    .cloned()
                    .collect::<std::collections::BTreeSet<_>>()
                    .into_iter()
                    .collect(),
                _ => vec!["config".into()],
            };
            bail!(
                "{} and {} ran different experiments (they differ in {}): a merge needs the same \
                 experiment file, overrides and seed in every shard",
                first.dir.display(),
                s.dir.display(),
                keys.join(", ")
            );
        }
    }
    let missing: Vec<String> = seen
        .iter()
        .enumerate()
        .filter(|(_, d)| d.is_none())
        .map(|(i, _)| format!("{i}/{count}"))
        .collect();
    if !missing.is_empty() {
        bail!(
            "shard {} missing: a merge of part of the shards would report part of the run",
            missing.join(", ")
        );
    }
    Ok(())
}

/// Per topic: the entries the shards' taps read (each read every entry; only its own
/// are recorded, so each count is the whole topic's) and an independent reader's, as
/// the first shard's.
fn merged_cross_check(shards: &[ShardRun]) -> Option<BTreeMap<String, CrossCount>> {
    shards[0].results.cross_check.clone()
}

pub fn run(args: MergeArgs) -> anyhow::Result<u8> {
    let mut shards = args
        .runs
        .iter()
        .map(|dir| read_shard(dir))
        .collect::<anyhow::Result<Vec<_>>>()?;
    shards.sort_by_key(|s| s.index);
    check_one_run(&shards)?;
    let analyses: Vec<check::Analysis> =
        shards.iter().map(|s| s.checked.analysis.clone()).collect();
    let analysis = check::merge::merge(&analyses)?;
    // A shard without its meta line did not end (its harness was killed): the merged
    // run has no meta either, so it is judged as such (inconclusive).
    let metas: Option<Vec<check::Meta>> = shards.iter().map(|s| s.checked.meta.clone()).collect();
    let meta = match metas {
        Some(metas) => Some(check::merge::merge_meta(&metas)?),
        None => None,
    };
    let thresholds = super::check::recorded_thresholds(meta.as_ref(), &shards[0].dir)?;
    let evaluated = check::evaluate(&analysis, &thresholds);
    let verdict = check::verdict(meta.as_ref(), &analysis, &evaluated);

    let first = &shards[0].results;
    let mut config = first.config.clone();
    if let Some(map) = config.as_object_mut() {
        map.insert(
            "shard".into(),
            serde_json::json!({ "count": shards.len(), "merged": true }),
        );
    }
    let run = RunInfo {
        experiment: first.experiment.clone(),
        description: first.description.clone(),
        seed: first.seed,
        // RFC 3339 in UTC: text order is time order.
        started_at: shards
            .iter()
            .map(|s| s.results.started_at.clone())
            .min()
            .unwrap_or_default(),
        finished_at: shards
            .iter()
            .map(|s| s.results.finished_at.clone())
            .max()
            .unwrap_or_default(),
        complete: meta.as_ref().is_some_and(|m| m.complete)
            && shards
                .iter()
                .all(|s| s.results.complete && s.checked.cut_short.is_none()),
        command: super::run::command_line(),
        environment: serde_json::json!({
            "shards": shards.iter().map(|s| s.results.environment.clone()).collect::<Vec<_>>(),
        }),
        config,
        cross_check: merged_cross_check(&shards),
    };
    let results = Results::from_analysis(run, &analysis, &evaluated, &verdict);
    std::fs::create_dir_all(&args.out)
        .with_context(|| format!("creating {}", args.out.display()))?;
    crate::run::output::write_results(&args.out, &results)?;
    let summary = crate::run::output::write_reports(&args.out, &results)?;
    let listing: Vec<Value> = shards
        .iter()
        .map(|s| {
            serde_json::json!({
                "shard": format!("{}/{}", s.index, s.count),
                "dir": s.dir,
                "verdict": s.results.verdict.name(),
                "acknowledged": s.checked.analysis.counts.acknowledged,
                "lost": s.checked.analysis.anomalies.count(check::Anomaly::Lost),
            })
        })
        .collect();
    let path = args.out.join("shards.json");
    std::fs::write(&path, serde_json::to_string_pretty(&listing)? + "\n")
        .with_context(|| format!("writing {}", path.display()))?;
    {
        use std::io::Write as _;
        let _ = std::io::stdout().lock().write_all(&summary);
    }
    crate::say!("\nmerged {} shards: {}", shards.len(), args.out.display());
    crate::say!("report:  {}", args.out.join("report.html").display());
    Ok(match verdict.decision {
        check::Decision::Pass => exit::PASS,
        check::Decision::Fail => exit::FAIL,
        check::Decision::Inconclusive => exit::INCONCLUSIVE,
    })
}
