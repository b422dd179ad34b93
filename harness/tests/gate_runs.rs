//! The gate on real runs (Redis, Toxiproxy, the order platform): 200 ms of latency on
//! Redis for the whole load phase regresses against the committed CI baseline
//! (baselines/ci.json) and the gate names the latency metrics; Ctrl-C during
//! `harness run --repeat` stops after the current trial, marks the set incomplete, and
//! the gate refuses it.

mod common;

use std::io::{BufRead, BufReader};
use std::path::Path;
use std::process::{Command, Output, Stdio};
use std::time::Duration;

use nix::sys::signal::{Signal, kill};
use nix::unistd::Pid;

fn harness() -> Command {
    Command::new(env!("CARGO_BIN_EXE_harness"))
}

fn repo(path: &str) -> String {
    format!("{}/../{path}", env!("CARGO_MANIFEST_DIR"))
}

fn text(output: &Output) -> String {
    format!(
        "{}{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    )
}

fn gate(run: &Path) -> Output {
    harness()
        .arg("gate")
        .arg(run)
        .args(["--baseline", &repo("baselines/ci.json")])
        .output()
        .expect("harness gate")
}

#[test]
fn a_200ms_redis_latency_regresses_against_the_ci_baseline() {
    let runs = tempfile::tempdir().expect("tempdir");
    // The experiment's one fault, turned into 200 ms on every Redis reply for the
    // whole load phase (12 s from its start).
    let run = harness()
        .args([
            "run",
            &repo("experiments/ci-gate.toml"),
            "--quiet",
            "--runs",
        ])
        .arg(runs.path())
        .args(["--set", "faults.0.at=0s", "--set", "faults.0.for=12s"])
        .args([
            "--set",
            "faults.0.latency=200ms",
            "--set",
            "faults.0.jitter=0ms",
        ])
        .output()
        .expect("harness run");
    assert!(
        matches!(run.status.code(), Some(0 | 1 | 3)),
        "the run itself worked: {}",
        text(&run)
    );
    let out = gate(&runs.path().join("ci-gate/latest"));
    assert_eq!(out.status.code(), Some(1), "{}", text(&out));
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        stdout.contains("regression: latency.e2e.p50 changed"),
        "the gate names the latency metric: {stdout}"
    );
    assert!(
        stdout.contains("different configuration"),
        "and warns that the configuration differs: {stdout}"
    );
}

#[test]
fn ctrl_c_during_repeated_trials_stops_and_the_gate_refuses_the_set() {
    let runs = tempfile::tempdir().expect("tempdir");
    let mut child = harness()
        .args(["run", &repo("experiments/ci-gate.toml"), "--repeat", "3"])
        .arg("--runs")
        .arg(runs.path())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn harness run");
    let stderr = child.stderr.take().expect("stderr");
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        // Not a terminal: the progress line comes as a whole line every few seconds.
        for line in BufReader::new(stderr).split(b'\n').map_while(Result::ok) {
            if String::from_utf8_lossy(&line).contains("sent ") {
                let _ = tx.send(());
            }
        }
    });
    rx.recv_timeout(Duration::from_secs(120))
        .expect("trial 1's load phase started");
    kill(Pid::from_raw(child.id() as i32), Signal::SIGINT).expect("SIGINT");
    let status = common::wait_exit(&mut child, Duration::from_secs(60));
    assert_eq!(status.code(), Some(130));

    let set = runs.path().join("ci-gate/latest");
    let index: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(set.join("trials.json")).expect("index"))
            .expect("JSON");
    assert_eq!(index["complete"], false, "{index}");
    assert_eq!(index["requested"], 3, "{index}");
    assert_eq!(index["trials"], serde_json::json!(["trial-1"]), "{index}");
    assert!(!set.join("trial-2").exists(), "no second trial started");
    let results: serde_json::Value = serde_json::from_str(
        &std::fs::read_to_string(set.join("trial-1/results.json")).expect("results"),
    )
    .expect("JSON");
    assert_eq!(results["complete"], false);

    let out = gate(&set);
    assert_eq!(out.status.code(), Some(3), "{}", text(&out));
    assert!(
        text(&out).contains("does not judge incomplete trials"),
        "{}",
        text(&out)
    );
}
