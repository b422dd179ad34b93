//! Backlog is not loss: a real Redis run driven far past its capacity (the `direct`
//! driver at 2000 orders/s while the platform's link to Redis is squeezed to 64 KB/s for
//! the whole load, so it completes a few dozen a second; the tap reads Redis directly
//! and keeps up)
//! whose drain is too short to catch up must end **inconclusive** (exit 3) with
//! orders in flight and none lost; the same run with a drain long enough passes, every
//! order finished. Before the in-flight rule, the first run failed with thousands of
//! "lost" orders that were only queued.

use std::path::Path;
use std::process::Command;

use check::Results;

fn experiment(drain: &str) -> String {
    format!(
        r#"name = "breaking-point"
description = "overloaded Redis at-least-once, drain {drain}"
seed = 3
duration = "4s"
warmup = "1s"
drain_timeout = "{drain}"

[system]
backend = "redis"
guarantee = "at-least-once"
skus = 20
initial_stock = 1000000

[workload]
driver = "direct"
rate = 2000
customers = 500

# The platform, not the harness, is the bottleneck: since it works in batches, the debug
# build completes about 1500 orders/s, about what the tap reads, and an overload of
# both made the tap read the topics unevenly (effects seen before their causes).
[[faults]]
at = "0s"
for = "4s"
kind = "bandwidth"
target = "redis"
rate_kbps = 64
"#
    )
}

fn run(dir: &Path, drain: &str) -> (i32, Results, String) {
    let file = dir.join(format!("overload-{drain}.toml"));
    std::fs::write(&file, experiment(drain)).expect("write the experiment");
    let runs = dir.join(format!("runs-{drain}"));
    let out = Command::new(env!("CARGO_BIN_EXE_harness"))
        .arg("run")
        .arg(&file)
        .arg("--runs")
        .arg(&runs)
        .arg("--quiet")
        .output()
        .expect("run the harness");
    let text = format!(
        "stdout:\n{}\nstderr:\n{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    let results = runs
        .join("breaking-point")
        .join("latest")
        .join("results.json");
    let json = std::fs::read_to_string(&results)
        .unwrap_or_else(|e| panic!("{}: {e}\n{text}", results.display()));
    let results = Results::parse(&json).unwrap_or_else(|e| panic!("{e}\n{text}"));
    (out.status.code().unwrap_or(-1), results, text)
}

#[test]
fn an_overloaded_run_whose_drain_is_cut_short_is_inconclusive_not_lossy() {
    let tmp = tempfile::tempdir().expect("tempdir");

    let (code, short, text) = run(tmp.path(), "1s");
    assert_eq!(code, 3, "a cut-short drain is inconclusive\n{text}");
    assert_eq!(short.anomaly("lost"), 0, "{text}");
    assert!(short.in_flight.count > 0, "{text}");
    assert!(
        short
            .reasons
            .iter()
            .any(|r| r.starts_with("the drain did not finish: ")
                && r.contains("in flight, backlog ")),
        "{:?}",
        short.reasons
    );
    let drain = short.drain.as_ref().expect("the drain is recorded");
    assert_eq!(drain.ended, Some(check::DrainEnd::TimedOut), "{text}");

    let (code, long, text) = run(tmp.path(), "180s");
    assert_eq!(code, 0, "with time to catch up the run passes\n{text}");
    assert_eq!(long.in_flight.count, 0, "{text}");
    assert_eq!(long.anomaly("lost"), 0, "{text}");
    assert_eq!(long.counts.completed, long.counts.acknowledged, "{text}");
    let drain = long.drain.as_ref().expect("the drain is recorded");
    assert_eq!(drain.ended, Some(check::DrainEnd::Finished), "{text}");
    assert!(
        drain.seconds > 1.0,
        "the drain took {} s\n{text}",
        drain.seconds
    );
}
