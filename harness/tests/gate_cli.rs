//! `harness gate` and `harness baseline save` on results.json files derived from a real
//! ci-gate run (tests/data/ci-gate-results.json): identical trials pass (exit 0), a lost
//! order fails with unchanged performance (1), trials too noisy to decide are
//! inconclusive (3), incomplete trials are refused (3), bad input is exit 2 with the
//! path named and never a panic.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use serde_json::{Value, json};

const REAL: &str = include_str!("data/ci-gate-results.json");

fn harness(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_harness"))
        .args(args)
        .output()
        .expect("run harness")
}

fn text(output: &Output) -> String {
    format!(
        "{}{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    )
}

fn real() -> Value {
    serde_json::from_str(REAL).expect("test data is JSON")
}

/// Multiplies the end-to-end latency percentiles by `factor`.
fn slower(mut doc: Value, factor: f64) -> Value {
    for p in ["p50_us", "p90_us", "p99_us", "p999_us", "max_us"] {
        let v = doc["latency"]["e2e"][p].as_f64().expect("percentile");
        // Whole microseconds, as the harness writes them.
        doc["latency"]["e2e"][p] = json!((v * factor).round() as u64);
    }
    doc
}

/// One lost order, as the run would have recorded it.
fn with_a_lost_order(mut doc: Value) -> Value {
    doc["anomalies"]["lost"] = json!({"count": 1, "sample": ["o-000017"]});
    for e in doc["expectations"].as_array_mut().expect("expectations") {
        if e["anomaly"] == "lost" {
            e["actual"] = json!(1);
            e["status"] = json!("broken");
        }
    }
    for t in doc["thresholds"].as_array_mut().expect("thresholds") {
        if t["metric"] == "lost" {
            t["actual"] = json!(1.0);
            t["pass"] = json!(false);
        }
    }
    doc["verdict"] = json!("fail");
    doc
}

/// A repeated run: `dir/trial-<i>/results.json` and `dir/trials.json`.
fn trials(dir: &Path, docs: &[Value], complete: bool) -> PathBuf {
    let mut names = Vec::new();
    for (i, doc) in docs.iter().enumerate() {
        let name = format!("trial-{}", i + 1);
        std::fs::create_dir_all(dir.join(&name)).expect("mkdir");
        std::fs::write(
            dir.join(&name).join("results.json"),
            serde_json::to_string_pretty(doc).expect("JSON"),
        )
        .expect("write");
        names.push(name);
    }
    let index = json!({"format": 1, "experiment": "ci-gate", "requested": docs.len(),
        "complete": complete, "trials": names});
    std::fs::write(dir.join("trials.json"), index.to_string()).expect("write");
    dir.to_owned()
}

/// Three trials with the small spread of a quiet machine.
fn steady(dir: &Path) -> PathBuf {
    trials(
        dir,
        &[real(), slower(real(), 1.03), slower(real(), 0.98)],
        true,
    )
}

fn path(p: &Path) -> &str {
    p.to_str().expect("UTF-8 path")
}

#[test]
fn identical_trials_pass_and_the_verdict_is_written() {
    let tmp = tempfile::tempdir().expect("tempdir");
    let base = steady(&tmp.path().join("base"));
    let current = steady(&tmp.path().join("current"));
    let file = tmp.path().join("baselines/ci.json");
    let saved = harness(&["baseline", "save", path(&base), "--to", path(&file)]);
    assert_eq!(saved.status.code(), Some(0), "{}", text(&saved));
    let baseline: Value =
        serde_json::from_str(&std::fs::read_to_string(&file).expect("baseline")).expect("JSON");
    assert_eq!(baseline["kind"], "harness-baseline");
    assert_eq!(baseline["experiment"], "ci-gate");
    assert_eq!(baseline["trials"].as_array().map(Vec::len), Some(3));

    let out = harness(&["gate", path(&current), "--baseline", path(&file)]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(stdout.contains("## gate: PASS"), "{stdout}");
    assert!(
        stdout.contains("| latency.e2e.p99 "),
        "the table has the metrics: {stdout}"
    );
    let verdict: Value = serde_json::from_str(
        &std::fs::read_to_string(current.join("gate.json")).expect("gate.json"),
    )
    .expect("JSON");
    assert_eq!(verdict["report"]["decision"], "pass");
    assert!(current.join("gate.md").is_file());

    // A run directory works as the baseline too.
    let out = harness(&["gate", path(&current), "--baseline", path(&base)]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
}

#[test]
fn a_lost_order_fails_even_when_performance_is_unchanged() {
    let tmp = tempfile::tempdir().expect("tempdir");
    let base = steady(&tmp.path().join("base"));
    let current = trials(
        &tmp.path().join("current"),
        &[
            real(),
            with_a_lost_order(slower(real(), 1.03)),
            slower(real(), 0.98),
        ],
        true,
    );
    let out = harness(&["gate", path(&current), "--baseline", path(&base)]);
    assert_eq!(out.status.code(), Some(1), "{}", text(&out));
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(stdout.contains("## gate: REGRESSED"), "{stdout}");
    assert!(stdout.contains("lost = 1 in"), "{stdout}");
    assert!(
        !stdout.contains("| REGRESSED"),
        "no performance metric regressed: {stdout}"
    );
}

#[test]
fn a_much_slower_run_regresses_naming_the_metric() {
    let tmp = tempfile::tempdir().expect("tempdir");
    let base = steady(&tmp.path().join("base"));
    let current = trials(
        &tmp.path().join("current"),
        &[
            slower(real(), 3.0),
            slower(real(), 3.1),
            slower(real(), 2.9),
        ],
        true,
    );
    let out = harness(&["gate", path(&current), "--baseline", path(&base)]);
    assert_eq!(out.status.code(), Some(1), "{}", text(&out));
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        stdout.contains("regression: latency.e2e.p99 changed"),
        "{stdout}"
    );
}

#[test]
fn trials_too_noisy_to_decide_are_inconclusive() {
    let tmp = tempfile::tempdir().expect("tempdir");
    let base = steady(&tmp.path().join("base"));
    // One trial ran on a busy machine: its latencies are eight times the others'.
    let current = trials(
        &tmp.path().join("current"),
        &[real(), slower(real(), 8.0), slower(real(), 1.01)],
        true,
    );
    let out = harness(&["gate", path(&current), "--baseline", path(&base)]);
    assert_eq!(out.status.code(), Some(3), "{}", text(&out));
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(stdout.contains("## gate: INCONCLUSIVE"), "{stdout}");
    assert!(stdout.contains("too noisy to decide"), "{stdout}");
}

#[test]
fn incomplete_trials_are_refused() {
    let tmp = tempfile::tempdir().expect("tempdir");
    let base = steady(&tmp.path().join("base"));
    let mut interrupted = real();
    interrupted["complete"] = json!(false);
    let current = trials(&tmp.path().join("current"), &[real(), interrupted], true);
    let out = harness(&["gate", path(&current), "--baseline", path(&base)]);
    assert_eq!(out.status.code(), Some(3), "{}", text(&out));
    assert!(
        text(&out).contains("trial-2/ is incomplete")
            || text(&out).contains("trial-2 is incomplete"),
        "{}",
        text(&out)
    );

    // A set stopped before all its trials ran: refused before any comparison.
    let unfinished = trials(&tmp.path().join("unfinished"), &[real()], false);
    let out = harness(&["gate", path(&unfinished), "--baseline", path(&base)]);
    assert_eq!(out.status.code(), Some(3), "{}", text(&out));
    assert!(
        text(&out).contains("does not judge incomplete trials"),
        "{}",
        text(&out)
    );

    let saved = harness(&[
        "baseline",
        "save",
        path(&current),
        "--to",
        path(&tmp.path().join("b.json")),
    ]);
    assert_eq!(saved.status.code(), Some(2), "{}", text(&saved));
    assert!(text(&saved).contains("interrupted"), "{}", text(&saved));
}

#[test]
fn bad_input_is_exit_2_naming_the_path() {
    let tmp = tempfile::tempdir().expect("tempdir");
    let base = steady(&tmp.path().join("base"));
    let missing = tmp.path().join("no-such-run");
    let out = harness(&["gate", path(&missing), "--baseline", path(&base)]);
    assert_eq!(out.status.code(), Some(2), "{}", text(&out));
    assert!(text(&out).contains("no-such-run"), "{}", text(&out));
    assert!(!text(&out).contains("panicked"), "{}", text(&out));

    let broken = tmp.path().join("broken");
    std::fs::create_dir_all(&broken).expect("mkdir");
    std::fs::write(broken.join("results.json"), "{\"format\": 1,").expect("write");
    let out = harness(&["gate", path(&broken), "--baseline", path(&base)]);
    assert_eq!(out.status.code(), Some(2), "{}", text(&out));
    assert!(
        text(&out).contains("broken/results.json: not valid JSON"),
        "{}",
        text(&out)
    );

    let mut no_expectations = real();
    no_expectations
        .as_object_mut()
        .expect("object")
        .remove("expectations");
    let odd = trials(&tmp.path().join("odd"), &[no_expectations], true);
    let out = harness(&["gate", path(&odd), "--baseline", path(&base)]);
    assert_eq!(out.status.code(), Some(2), "{}", text(&out));
    assert!(
        text(&out).contains("`expectations` is missing"),
        "{}",
        text(&out)
    );

    // JSON, but not a results document: named with the file and the field's problem.
    let mut maybe = real();
    maybe["verdict"] = json!("maybe");
    let odd = trials(&tmp.path().join("maybe"), &[maybe], true);
    let out = harness(&["gate", path(&odd), "--baseline", path(&base)]);
    assert_eq!(out.status.code(), Some(2), "{}", text(&out));
    assert!(
        text(&out).contains(
            "maybe/trial-1/results.json: not a results document: unknown variant `maybe`"
        ),
        "{}",
        text(&out)
    );

    // A results.json passed as the baseline file.
    let out = harness(&[
        "gate",
        path(&base),
        "--baseline",
        path(&base.join("trial-1/results.json")),
    ]);
    assert_eq!(out.status.code(), Some(2), "{}", text(&out));
    assert!(text(&out).contains("not a baseline file"), "{}", text(&out));

    let out = harness(&[
        "gate",
        path(&base),
        "--baseline",
        path(&base),
        "--tolerance",
        "latency.e3e=5",
    ]);
    assert_eq!(out.status.code(), Some(2), "{}", text(&out));
    assert!(text(&out).contains("not a gated metric"), "{}", text(&out));
}

#[test]
fn several_runs_pool_as_trials_and_a_tolerance_widens_the_band() {
    let tmp = tempfile::tempdir().expect("tempdir");
    let base = steady(&tmp.path().join("base"));
    let one = |name: &str, factor: f64| {
        let dir = tmp.path().join(name);
        std::fs::create_dir_all(&dir).expect("mkdir");
        std::fs::write(
            dir.join("results.json"),
            serde_json::to_string(&slower(real(), factor)).expect("JSON"),
        )
        .expect("write");
        dir
    };
    let (a, b) = (one("a", 1.4), one("b", 1.42));
    let out = harness(&["gate", path(&a), path(&b), "--baseline", path(&base)]);
    assert_eq!(out.status.code(), Some(1), "{}", text(&out));
    let out = harness(&[
        "gate",
        path(&a),
        path(&b),
        "--baseline",
        path(&base),
        "--tolerance",
        "latency=60",
    ]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    assert!(String::from_utf8_lossy(&out.stdout).contains("(trials: 2)"));

    // A baseline pools several runs the same way.
    let file = tmp.path().join("pooled.json");
    let saved = harness(&[
        "baseline",
        "save",
        path(&a),
        path(&b),
        path(&base),
        "--to",
        path(&file),
    ]);
    assert_eq!(saved.status.code(), Some(0), "{}", text(&saved));
    let pooled: Value =
        serde_json::from_str(&std::fs::read_to_string(&file).expect("baseline")).expect("JSON");
    assert_eq!(pooled["trials"].as_array().map(Vec::len), Some(5));
}

#[test]
fn a_repeated_run_offers_its_first_trial_to_tools_reading_one_results_json() {
    let tmp = tempfile::tempdir().expect("tempdir");
    let set = steady(&tmp.path().join("set"));
    assert_eq!(harness::cli::trials::first_trial(&set), set.join("trial-1"));
    let single = set.join("trial-2");
    assert_eq!(harness::cli::trials::first_trial(&single), single);
}
