//! Sharded runs and `harness merge`, against real services: a lab brought up by
//! `harness lab up --json` in its own process, and one experiment run against it as two
//! shards at once (`--endpoints`, `--shard 0/2` and `--shard 1/2`, a common
//! `--start-at`), then merged. The shards' orders are disjoint and together the whole
//! schedule; the merged run acknowledges the sum of both and passes; the fault on the
//! shared Redis proxy is applied by the first shard and recorded by both. Then a loss
//! is planted in one shard's history (its terminal events removed from the file): the
//! merged verdict fails with that order lost, because the merge re-analyses every
//! shard's history. Bad merges (a shard missing, given twice, of another experiment)
//! and bad flags are refused with exit 2.

mod common;

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use std::process::Output;

use check::Results;
use common::external::UpLab;
use common::{harness, text};

const EXPERIMENT: &str = r#"name = "shards"
description = "two shards of one run, merged"
seed = 11
duration = "6s"
warmup = "2s"
drain_timeout = "30s"

[system]
backend = "redis"
guarantee = "at-least-once"
skus = 10
initial_stock = 100000

[workload]
driver = "http"
rate = 30
customers = 100
payment_failure_ratio = 0.05

[[faults]]
at = "2s"
for = "2s"
kind = "latency"
target = "redis"
latency = "20ms"

[thresholds]
lost = "== 0"
"#;

/// Starts shard `shard` of the experiment against `lab`, into its own runs directory.
fn start_shard(
    file: &Path,
    runs: &Path,
    lab: &UpLab,
    shard: &str,
    at: &str,
) -> std::process::Child {
    harness()
        .arg("run")
        .arg(file)
        .args(["--quiet", "--runs"])
        .arg(runs)
        .arg("--endpoints")
        .arg(&lab.file)
        .args(["--shard", shard, "--start-at", at])
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .expect("run harness")
}

/// Waits for a shard and returns its run directory.
fn finish_shard(child: std::process::Child, runs: &Path, shard: &str) -> PathBuf {
    let out = child.wait_with_output().expect("wait for harness");
    assert_eq!(out.status.code(), Some(0), "shard {shard}: {}", text(&out));
    let dir = std::fs::read_link(runs.join("shards/latest")).expect("latest link");
    let dir = runs.join("shards").join(dir);
    let name = dir.file_name().unwrap().to_string_lossy().to_string();
    let (i, n) = shard.split_once('/').unwrap();
    assert!(name.ends_with(&format!("-shard-{i}of{n}")), "{name}");
    dir
}

fn results(dir: &Path) -> Results {
    Results::parse(&std::fs::read_to_string(dir.join("results.json")).expect("results.json"))
        .expect("a results document")
}

fn sent_orders(dir: &Path) -> BTreeSet<String> {
    std::fs::read_to_string(dir.join("history.jsonl"))
        .expect("history")
        .lines()
        .filter_map(|l| serde_json::from_str::<serde_json::Value>(l).ok())
        .filter(|v| v["kind"] == "send")
        .filter_map(|v| v["order_id"].as_str().map(str::to_owned))
        .collect()
}

fn merge(runs: &[&Path], out: &Path) -> Output {
    harness()
        .arg("merge")
        .args(runs)
        .arg("--out")
        .arg(out)
        .output()
        .expect("run harness merge")
}

/// A copy of the run directory `dir` in which `order`'s terminal events (and the
/// notifications of its steps) were never observed.
fn with_planted_loss(dir: &Path, into: &Path, order: &str) {
    std::fs::create_dir_all(into).expect("mkdir");
    for name in ["results.json", "history.jsonl"] {
        std::fs::copy(dir.join(name), into.join(name)).expect("copy");
    }
    let history = std::fs::read_to_string(dir.join("history.jsonl")).expect("history");
    let kept: Vec<&str> = history
        .lines()
        .filter(|l| {
            let v: serde_json::Value = serde_json::from_str(l).expect("a JSON line");
            let ty = v["event_type"].as_str().unwrap_or("");
            !(v["kind"] == "observe"
                && v["key"] == order
                && (check::TERMINAL_TYPES.contains(&ty) || ty == "NotificationSent"))
        })
        .collect();
    assert!(
        kept.len() < history.lines().count(),
        "{order} had no terminal event"
    );
    std::fs::write(into.join("history.jsonl"), kept.join("\n") + "\n").expect("write");
}

#[test]
fn two_shards_merge_into_the_whole_run() {
    let tmp = tempfile::tempdir().expect("tempdir");
    let file = tmp.path().join("shards.toml");
    std::fs::write(&file, EXPERIMENT).expect("write experiment");
    let runs = tmp.path().join("runs");
    // Bad flags are refused before anything starts.
    for (flag, value, says) in [
        ("--shard", "2/2", "0 <= I < N"),
        ("--start-at", "tomorrow", "RFC 3339"),
    ] {
        let out = harness()
            .arg("run")
            .arg(&file)
            .args([flag, value, "--quiet", "--runs"])
            .arg(&runs)
            .output()
            .expect("run harness");
        assert_eq!(out.status.code(), Some(2), "{}", text(&out));
        assert!(text(&out).contains(says), "{says}: {}", text(&out));
    }
    // Run ids: letters and digits; not one for several trials; and shards of a system
    // the harness did not start need one (refused before its endpoints are even read).
    let external = tmp.path().join("external.toml");
    std::fs::write(
        &external,
        "name = \"ext\"\nduration = \"5s\"\n[lab]\nendpoints = \"nowhere.json\"\n\
         [system]\nbackend = \"redis\"\nplatform = \"external\"\n\
         [system.external]\nnamespace = \"shop\"\norder_url = \"http://127.0.0.1:9\"\n\
         [workload]\nrate = 10\n",
    )
    .expect("write experiment");
    for (file, args, says) in [
        (&file, &["--run-id", "a-b"][..], "letters and digits only"),
        (
            &file,
            &["--run-id", "ab", "--repeat", "2"][..],
            "--run-id with --repeat",
        ),
        (
            &external,
            &["--shard", "0/2"][..],
            "needs --run-id ID, the same in every shard",
        ),
    ] {
        let out = harness()
            .arg("run")
            .arg(file)
            .args(args)
            .args(["--quiet", "--runs"])
            .arg(&runs)
            .output()
            .expect("run harness");
        assert_eq!(out.status.code(), Some(2), "{}", text(&out));
        assert!(text(&out).contains(says), "{says}: {}", text(&out));
    }
    assert!(!runs.exists(), "nothing ran");
    // Both shards at once against one lab, their clocks started together.
    let lab = UpLab::up(0);
    let at = time::OffsetDateTime::now_utc() + time::Duration::seconds(20);
    let at = at
        .format(&time::format_description::well_known::Rfc3339)
        .expect("format");
    let (runs_a, runs_b) = (runs.join("a"), runs.join("b"));
    let child_a = start_shard(&file, &runs_a, &lab, "0/2", &at);
    let child_b = start_shard(&file, &runs_b, &lab, "1/2", &at);
    let a = finish_shard(child_a, &runs_a, "0/2");
    let b = finish_shard(child_b, &runs_b, "1/2");
    // The lab outlives the runs.
    let status = lab.lab(&["status"]);
    assert_eq!(
        status.status.code(),
        Some(0),
        "lab status: {}",
        text(&status)
    );
    let (ra, rb) = (results(&a), results(&b));

    // Disjoint slices of one schedule, each about half of it.
    let (oa, ob) = (sent_orders(&a), sent_orders(&b));
    assert!(
        oa.is_disjoint(&ob),
        "both shards sent {:?}",
        oa.intersection(&ob).next()
    );
    assert!(oa.iter().all(|o| check::merge::shard_of(o, 2) == 0));
    assert!(ob.iter().all(|o| check::merge::shard_of(o, 2) == 1));
    let total = oa.len() + ob.len();
    assert_eq!(
        total,
        8 * 30,
        "the two shards together are the whole schedule"
    );
    assert!(
        oa.len() > total / 4 && ob.len() > total / 4,
        "{} / {}",
        oa.len(),
        ob.len()
    );
    // The fault: applied by shard 0, recorded by both.
    assert_eq!(ra.faults.len(), 1);
    assert_eq!(rb.faults.len(), 1);
    assert!(
        std::fs::read_to_string(b.join("logs/harness.log"))
            .unwrap_or_default()
            .contains("the first shard applies it"),
        "shard 1 should leave the shared fault to shard 0"
    );

    let merged_dir = tmp.path().join("merged");
    let out = merge(&[&b, &a], &merged_dir);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    let merged = results(&merged_dir);
    assert_eq!(
        merged.counts.acknowledged,
        ra.counts.acknowledged + rb.counts.acknowledged
    );
    assert_eq!(merged.counts.attempted, total as u64);
    assert_eq!(
        merged.latency.e2e.count,
        ra.latency.e2e.count + rb.latency.e2e.count
    );
    assert_eq!(merged.anomaly("lost"), 0);
    assert_eq!(merged.verdict, check::Decision::Pass);
    assert_eq!(merged.faults.len(), 1);
    assert_eq!(merged.config["shard"]["count"], 2);
    for name in ["report.html", "summary.md", "shards.json"] {
        assert!(merged_dir.join(name).is_file(), "{name} written");
    }

    // A loss planted in one shard fails the merged run.
    let victim = ob
        .iter()
        .find(|o| {
            std::fs::read_to_string(b.join("history.jsonl"))
                .unwrap()
                .lines()
                .any(|l| l.contains("\"OrderShipped\"") && l.contains(&format!("\"key\":\"{o}\"")))
        })
        .expect("a shipped order in shard 1")
        .clone();
    let planted = tmp.path().join("planted");
    with_planted_loss(&b, &planted, &victim);
    let out = merge(&[&a, &planted], &tmp.path().join("merged-lost"));
    assert_eq!(out.status.code(), Some(1), "{}", text(&out));
    let lost = results(&tmp.path().join("merged-lost"));
    assert_eq!(lost.anomaly("lost"), 1, "{:?}", lost.anomalies.get("lost"));
    assert_eq!(lost.anomalies["lost"].sample, vec![victim]);
    assert_eq!(lost.verdict, check::Decision::Fail);

    // Merges that would not be one run are refused.
    for (runs, says) in [
        (vec![a.as_path()], "shard 1/2 missing"),
        (vec![a.as_path(), a.as_path()], "given twice"),
    ] {
        let out = merge(&runs, &tmp.path().join("refused"));
        assert_eq!(out.status.code(), Some(2), "{}", text(&out));
        assert!(text(&out).contains(says), "{says}: {}", text(&out));
    }
    let other = tmp.path().join("other");
    std::fs::create_dir_all(&other).unwrap();
    std::fs::copy(b.join("history.jsonl"), other.join("history.jsonl")).unwrap();
    let mut doc: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(b.join("results.json")).unwrap()).unwrap();
    doc["config"]["seed"] = 12.into();
    std::fs::write(other.join("results.json"), doc.to_string()).unwrap();
    let out = merge(&[&a, &other], &tmp.path().join("refused"));
    assert_eq!(out.status.code(), Some(2), "{}", text(&out));
    assert!(text(&out).contains("differ in seed"), "{}", text(&out));

    let down = lab.lab(&["down"]);
    assert!(down.status.success(), "lab down: {}", text(&down));
    assert!(!lab.dir.exists(), "lab down leaves nothing");
}
