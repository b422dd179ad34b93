//! Re-analysis gives the run's verdict: a short real run on Redis and one on Kafka
//! (real services from the lab), then `harness check RUN/history.jsonl --json` must
//! print the run's own results — every anomaly count and sample, the counts, the
//! verdict, and everything else measured — because the run records the analysis
//! options and thresholds it used in the history's meta line (a run allows 250 ms of
//! causality slack; the checker's default is none, which once turned a passing run
//! into 22 ordering violations on re-analysis).

mod common;

use std::path::{Path, PathBuf};

use check::Results;
use common::{harness, text};

/// A short experiment: ~10 s of load at 20 orders/s on one broker, with a latency
/// fault in the middle so the history has a fault window and some disorder to judge.
fn experiment(name: &str, backend: &str, guarantee: &str, target: &str, history: &str) -> String {
    format!(
        r#"name = "{name}"
history = "{history}"
description = "re-analysis reproduces the run ({backend}, {guarantee})"
seed = 7
duration = "10s"
warmup = "2s"
drain_timeout = "30s"

[system]
backend = "{backend}"
guarantee = "{guarantee}"
brokers = 1
partitions = 3
skus = 10
initial_stock = 100000

[workload]
driver = "http"
rate = 20
customers = 100
key_distribution = "zipf:1.1"
payment_failure_ratio = 0.05

[[faults]]
at = "4s"
for = "3s"
kind = "latency"
target = "{target}"
latency = "40ms"
jitter = "10ms"

[thresholds]
lost = "== 0"
"latency.e2e.p99" = "< 60s"
"#
    )
}

/// The run directory `runs/<name>/latest` points at.
fn latest(runs: &Path, name: &str) -> PathBuf {
    let dir = runs.join(name).join("latest");
    std::fs::canonicalize(&dir).unwrap_or(dir)
}

fn read_results(path: &Path) -> Results {
    let text = std::fs::read_to_string(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    Results::parse(&text).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

/// Runs the experiment, re-checks its history, and compares the two documents.
fn run_then_recheck(name: &str, backend: &str, guarantee: &str, target: &str, history: &str) {
    let tmp = tempfile::tempdir().expect("tempdir");
    let file = tmp.path().join(format!("{name}.toml"));
    std::fs::write(&file, experiment(name, backend, guarantee, target, history)).expect("write");
    let runs = tmp.path().join("runs");
    let run = harness()
        .arg("run")
        .arg(&file)
        .args(["--quiet", "--runs"])
        .arg(&runs)
        .output()
        .expect("run harness");
    // The verdict itself may go either way on a busy machine; what is judged here is
    // that re-analysis reproduces it. Exit 2 means no results were written.
    assert!(
        matches!(run.status.code(), Some(0 | 1 | 3)),
        "{name}: the run did not finish: {}",
        text(&run)
    );
    let dir = latest(&runs, name);
    let ran = read_results(&dir.join("results.json"));
    assert!(
        ran.complete,
        "{name}: the run was interrupted: {}",
        text(&run)
    );
    assert!(
        ran.counts.acknowledged > 100,
        "{name}: too few orders to judge: {:?}",
        ran.counts
    );

    let file = dir.join(match history {
        "zstd" => "history.jsonl.zst",
        _ => "history.jsonl",
    });
    let bytes = std::fs::read(&file).unwrap_or_else(|e| panic!("{}: {e}", file.display()));
    let lines = match history {
        "zstd" => zstd::stream::decode_all(&bytes[..]).expect("a complete zstd stream"),
        _ => bytes,
    };
    let lines = String::from_utf8(lines).expect("UTF-8");
    // The history is written as the run goes; its meta line closes it.
    let meta = lines.lines().last().unwrap_or_default();
    assert!(
        meta.starts_with(r#"{"kind":"meta""#),
        "{name}: the last line is the meta line: {meta}"
    );
    assert!(
        meta.contains(r#""analysis":{"#) && meta.contains(r#""causality_slack_us":250000"#),
        "{name}: the meta line records the run's analysis options: {meta}"
    );
    assert!(
        meta.contains(r#""thresholds":["#)
            && meta.contains(r#"{"metric":"lost","expression":"== 0"}"#),
        "{name}: the meta line records the experiment's thresholds: {meta}"
    );

    // No --threshold: check judges the thresholds the run recorded.
    let recheck = harness()
        .arg("check")
        .arg(&file)
        .arg("--json")
        .output()
        .expect("harness check");
    let again: Results = serde_json::from_slice(&recheck.stdout).unwrap_or_else(|e| {
        panic!(
            "{name}: check --json printed no results document ({e}): {}",
            text(&recheck)
        )
    });
    assert_eq!(
        recheck.status.code(),
        run.status.code(),
        "{name}: check's exit code is the run's: {}",
        text(&recheck)
    );

    assert_eq!(again.experiment, ran.experiment, "{name}");
    assert_eq!(
        again.verdict, ran.verdict,
        "{name}: verdict; reasons now {:?}, in the run {:?}",
        again.reasons, ran.reasons
    );
    for (anomaly, finding) in &ran.anomalies {
        assert_eq!(
            again.anomalies.get(anomaly),
            Some(finding),
            "{name}: anomaly {anomaly} (count and sample)"
        );
    }
    assert_eq!(
        again.anomalies.len(),
        ran.anomalies.len(),
        "{name}: anomalies"
    );
    assert_eq!(again.counts, ran.counts, "{name}: counts");
    assert_eq!(again.reasons, ran.reasons, "{name}: reasons");
    assert_eq!(again.expectations, ran.expectations, "{name}: expectations");
    assert_eq!(again.thresholds, ran.thresholds, "{name}: thresholds");
    assert_eq!(
        again.anomaly_details, ran.anomaly_details,
        "{name}: anomaly details"
    );
    assert_eq!(again.faults, ran.faults, "{name}: fault windows");
    // Everything measured agrees; only what the run alone knows differs.
    let mut expected = ran.clone();
    expected.description = None;
    expected.started_at.clear();
    expected.finished_at.clear();
    expected.command.clear();
    expected.environment = serde_json::Value::Null;
    expected.config = serde_json::Value::Null;
    expected.cross_check = None;
    assert!(
        again == expected,
        "{name}: the re-analysis differs from results.json beyond the run's own fields"
    );
}

#[test]
fn redis_run_rechecks_to_its_results() {
    run_then_recheck("recheck-redis", "redis", "at-least-once", "redis", "jsonl");
}

/// The same with the history compressed as it is written (`history = "zstd"`).
#[test]
fn compressed_redis_run_rechecks_to_its_results() {
    run_then_recheck(
        "recheck-redis-zstd",
        "redis",
        "exactly-once",
        "redis",
        "zstd",
    );
}

#[test]
fn kafka_run_rechecks_to_its_results() {
    run_then_recheck("recheck-kafka", "kafka", "exactly-once", "kafka-1", "jsonl");
}
