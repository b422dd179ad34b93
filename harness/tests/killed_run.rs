//! A harness killed outright (SIGKILL: no handler, no destructor, no exit hook runs)
//! in the middle of its load phase, on a real lab (Redis, Toxiproxy, the services):
//! every process it started is gone soon after (the lab's watchdog), and the history
//! it was writing reads with `harness check` up to its last flush — the run judged
//! inconclusive (no meta line: it never ended), never failed for what the cut hides.

mod common;

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

const EXPERIMENT: &str = r#"name = "killed"
description = "a run whose harness is killed with SIGKILL mid-load"
seed = 3
duration = "60s"
warmup = "2s"
drain_timeout = "10s"
history = "HISTORY"

[system]
backend = "redis"
guarantee = "at-least-once"
partitions = 1
skus = 10
initial_stock = 100000

[workload]
driver = "http"
rate = 40
customers = 100
"#;

fn run_dir(runs: &Path) -> Option<PathBuf> {
    std::fs::read_dir(runs.join("killed"))
        .ok()?
        .flatten()
        .map(|e| e.path())
        .find(|p| p.is_dir())
}

fn count_sends(text: &str) -> usize {
    text.lines()
        .filter(|l| l.starts_with(r#"{"kind":"send""#))
        .count()
}

fn kill_mid_load_then_check(format: &str, file_name: &str) {
    let tmp = tempfile::tempdir().expect("tempdir");
    let file = tmp.path().join("killed.toml");
    std::fs::write(&file, EXPERIMENT.replace("HISTORY", format)).expect("write");
    let runs = tmp.path().join("runs");
    let log = std::fs::File::create(tmp.path().join("harness.err")).expect("log");
    let mut harness = Command::new(env!("CARGO_BIN_EXE_harness"))
        .arg("run")
        .arg(&file)
        .args(["--quiet", "--runs"])
        .arg(&runs)
        .stdout(Stdio::null())
        .stderr(log)
        .spawn()
        .expect("start harness");
    let pid = harness.id();
    let stderr = || std::fs::read_to_string(tmp.path().join("harness.err")).unwrap_or_default();

    // Wait until the load phase has recorded a few seconds of orders.
    let deadline = Instant::now() + Duration::from_secs(120);
    let history = loop {
        if let Some(status) = harness.try_wait().expect("wait") {
            panic!(
                "the harness ended before it was killed ({status}): {}",
                stderr()
            );
        }
        assert!(
            Instant::now() < deadline,
            "no orders recorded after 120 s (is the lab installed? `lab/install`): {}",
            stderr()
        );
        if let Some(dir) = run_dir(&runs) {
            let path = dir.join(file_name);
            let sends = match format {
                "jsonl" => count_sends(&std::fs::read_to_string(&path).unwrap_or_default()),
                // The compressed file decodes up to its last flush as it grows.
                _ => count_sends(&decode_flushed(&std::fs::read(&path).unwrap_or_default())),
            };
            if sends >= 100 {
                break path;
            }
        }
        std::thread::sleep(Duration::from_millis(200));
    };
    let spawned = common::children_of(pid);
    assert!(
        spawned.len() >= 3,
        "the harness should have started Redis, Toxiproxy and the services: {spawned:?}"
    );

    nix::sys::signal::kill(
        nix::unistd::Pid::from_raw(pid as i32),
        nix::sys::signal::Signal::SIGKILL,
    )
    .expect("SIGKILL");
    common::wait_exit(&mut harness, Duration::from_secs(10));

    // Everything it started is gone within seconds.
    let deadline = Instant::now() + Duration::from_secs(20);
    while spawned.iter().any(|&p| common::alive(p)) && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(100));
    }
    let left: Vec<u32> = spawned
        .iter()
        .copied()
        .filter(|&p| common::alive(p))
        .collect();
    assert!(
        left.is_empty(),
        "processes outlived the killed harness: {left:?}"
    );

    // What it recorded reads, up to its last flush, and is judged inconclusive.
    let check = Command::new(env!("CARGO_BIN_EXE_harness"))
        .arg("check")
        .arg(&history)
        .arg("--json")
        .output()
        .expect("harness check");
    let out = String::from_utf8_lossy(&check.stdout);
    let err = String::from_utf8_lossy(&check.stderr);
    assert_eq!(
        check.status.code(),
        Some(3),
        "inconclusive expected:\n{out}\n{err}"
    );
    let results = check::Results::parse(&out).unwrap_or_else(|e| panic!("{e}: {out}"));
    assert!(
        results.counts.acknowledged >= 50,
        "the recorded orders are read: {:?}",
        results.counts
    );
    assert!(
        results.reasons.iter().any(|r| r.contains("no meta line")),
        "{:?}",
        results.reasons
    );
    assert!(!results.complete, "a killed run is incomplete");
}

#[test]
fn a_killed_harness_leaves_no_process_and_a_readable_history() {
    kill_mid_load_then_check("jsonl", "history.jsonl");
}

#[test]
fn a_killed_harness_leaves_a_readable_compressed_history() {
    kill_mid_load_then_check("zstd", "history.jsonl.zst");
}

/// What a growing zstd stream decodes to so far (its last frame is not finished).
fn decode_flushed(bytes: &[u8]) -> String {
    use std::io::Read as _;
    let mut text = Vec::new();
    if let Ok(mut decoder) = zstd::stream::read::Decoder::new(bytes) {
        let _ = decoder.read_to_end(&mut text);
    }
    String::from_utf8_lossy(&text).into_owned()
}
