//! A shortened experiments/sweep.toml (the reliability grid) end to end: a few cells
//! per backend, chosen with `--set` over the same file — Redis or a broker killed, a
//! squeezed or slowed link, a service instance killed — under at-least-once and
//! exactly-once, with a network fault on a service instance skipped (Redis). Every cell must lose nothing and break
//! no invariant; exactly-once must apply nothing twice; the grid must list every cell.
//! The whole grid is `harness run experiments/sweep.toml` (docs/reliability.md).

mod experiments_common;

use std::path::Path;

fn results(runs: &Path) -> Vec<serde_json::Value> {
    let mut out = Vec::new();
    for entry in std::fs::read_dir(runs.join("sweep"))
        .expect("runs/sweep")
        .flatten()
    {
        let path = entry.path().join("results.json");
        if entry.file_name() != "latest" && path.is_file() {
            let text = std::fs::read_to_string(&path).expect("read");
            out.push(serde_json::from_str(&text).expect("JSON"));
        }
    }
    out
}

fn sweep(backend: &str, faults: &str, targets: &str, cells: usize, skips: bool) {
    let runs = tempfile::tempdir().expect("tempdir");
    let backends = format!("matrix.backend=[\"{backend}\"]");
    let faults = format!("matrix.\"faults.0\"={faults}");
    let targets = format!("matrix.\"faults.0.target\"={targets}");
    let output = experiments_common::run(
        "sweep.toml",
        runs.path(),
        &[
            "--set",
            &backends,
            "--set",
            &faults,
            "--set",
            &targets,
            "--set",
            "matrix.guarantee=[\"at-least-once\", \"exactly-once\"]",
            "--set",
            "duration=12s",
        ],
    );
    let stdout = String::from_utf8_lossy(&output.stdout);
    let stderr = String::from_utf8_lossy(&output.stderr);
    let docs = results(runs.path());
    assert_eq!(docs.len(), cells, "{cells} cells:\n{stdout}\n{stderr}");
    assert!(
        !skips || stdout.contains("skipped"),
        "the unsuited cell is skipped:\n{stdout}"
    );
    let grid = std::fs::read_dir(runs.path().join("sweep"))
        .expect("runs/sweep")
        .flatten()
        .map(|e| e.path().join("grid.md"))
        .find(|p| p.is_file())
        .unwrap_or_else(|| panic!("no grid.md:\n{stdout}"));
    let grid = std::fs::read_to_string(grid).expect("grid.md");
    assert!(grid.contains(&format!("{cells} cells")), "{grid}");
    assert!(!skips || grid.contains("skipped"), "{grid}");
    assert!(grid.contains("report.html"), "{grid}");
    for doc in &docs {
        let name = doc["experiment"].as_str().unwrap_or("?");
        let count = |a: &str| doc["anomalies"][a]["count"].as_u64();
        assert_eq!(doc["complete"], true, "{name}");
        assert_eq!(
            count("lost"),
            Some(0),
            "{name}: {}\n{stdout}",
            doc["anomalies"]
        );
        assert_eq!(
            count("invariant_violation"),
            Some(0),
            "{name}: {}",
            doc["anomalies"]
        );
        if doc["config"]["system"]["guarantee"] == "exactly-once" {
            assert_eq!(
                count("duplicate_effect"),
                Some(0),
                "{name}: {}",
                doc["anomalies"]
            );
            assert_eq!(doc["verdict"], "pass", "{name}: {}", doc["reasons"]);
        }
    }
}

#[test]
fn a_shortened_sweep_on_redis_loses_nothing() {
    sweep(
        "redis",
        "[{kind=\"kill\",restart_after=\"3s\"},{kind=\"bandwidth\",rate_kbps=32,for=\"5s\"}]",
        "[\"redis\",\"inventory#0\"]",
        6,
        true,
    );
}

#[test]
fn a_shortened_sweep_on_kafka_loses_nothing() {
    sweep(
        "kafka",
        "[{kind=\"kill\",restart_after=\"3s\"},{kind=\"latency\",latency=\"200ms\",for=\"5s\"}]",
        "[\"kafka-2\"]",
        4,
        false,
    );
}
