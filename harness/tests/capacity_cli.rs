//! `harness capacity` end to end on a real Redis lab, kept short: two trials at rates a
//! debug build sustains, then capacity.json, capacity.md, capacity.html and the PNG
//! charts. And a `[capacity]` table that cannot be searched is refused, located.

use std::process::Command;

use reports::capacity::CapacityDocument;

fn harness() -> Command {
    Command::new(env!("CARGO_BIN_EXE_harness"))
}

const EXPERIMENT: &str = r#"name = "capacity-small"
seed = 5
duration = "3s"
warmup = "1s"
drain_timeout = "5s"

[system]
backend = "redis"
guarantee = "at-least-once"
skus = 10
initial_stock = 1000000

[workload]
driver = "direct"
rate = 10
customers = 100

[capacity]
start = 10
max = 20
trial = "3s"
max_trials = 2

[capacity.slo]
"latency.e2e.p99" = "< 30s"
"#;

#[test]
fn a_short_search_writes_its_documents_with_a_positive_capacity() {
    let tmp = tempfile::tempdir().expect("tempdir");
    let file = tmp.path().join("capacity-small.toml");
    std::fs::write(&file, EXPERIMENT).expect("write");
    let runs = tmp.path().join("runs");
    let out = harness()
        .arg("capacity")
        .arg(&file)
        .arg("--runs")
        .arg(&runs)
        .output()
        .expect("run the harness");
    let text = format!(
        "stdout:\n{}\nstderr:\n{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(out.status.code(), Some(0), "{text}");
    let dir = std::fs::read_dir(runs.join("capacity-small"))
        .expect("the search's directory")
        .flatten()
        .map(|e| e.path())
        .find(|p| p.to_string_lossy().ends_with("-capacity"))
        .unwrap_or_else(|| panic!("no *-capacity directory\n{text}"));
    let json = std::fs::read_to_string(dir.join("capacity.json")).expect("capacity.json");
    let doc = CapacityDocument::parse(&json).expect("capacity.json parses");
    assert!(doc.complete, "{text}");
    let found = &doc.combinations[0];
    assert_eq!(found.trials.len(), 2, "{text}");
    assert!(
        found.max_sustainable_per_s.is_some_and(|m| m >= 10.0),
        "{found:?}\n{text}"
    );
    for t in &found.trials {
        assert!(
            dir.join(&t.run).join("results.json").is_file(),
            "{} has no results.json",
            t.run
        );
    }
    for name in [
        "capacity.md",
        "capacity.html",
        "capacity_completed.png",
        "capacity_p99.png",
    ] {
        assert!(dir.join(name).is_file(), "{name} missing\n{text}");
    }
    let md = std::fs::read_to_string(dir.join("capacity.md")).expect("capacity.md");
    assert!(md.contains("max sustainable"), "{md}");
    assert!(text.contains("capacity.json"), "{text}");
}

#[test]
fn a_capacity_table_that_cannot_be_searched_is_refused_with_its_place() {
    let tmp = tempfile::tempdir().expect("tempdir");
    let file = tmp.path().join("bad.toml");
    let bad = EXPERIMENT
        .replace("start = 10", "start = 50")
        .replace("max_trials = 2", "max_trials = 2\nsteps = 3");
    std::fs::write(&file, bad).expect("write");
    let out = harness()
        .arg("capacity")
        .arg(&file)
        .output()
        .expect("run the harness");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{stderr}");
    assert!(stderr.contains("unknown key `steps`"), "{stderr}");
    let bad = EXPERIMENT.replace("start = 10", "start = 50");
    std::fs::write(&file, bad).expect("write");
    let out = harness()
        .arg("validate")
        .arg(&file)
        .output()
        .expect("run the harness");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{stderr}");
    assert!(
        stderr.contains("start (50/s) is above max (20/s)"),
        "{stderr}"
    );
    assert!(stderr.contains("bad.toml:"), "{stderr}");
    // Against services that are not described where it says: refused before any trial.
    std::fs::write(&file, EXPERIMENT).expect("write");
    let missing = tmp.path().join("missing-endpoints.json");
    let out = harness()
        .arg("capacity")
        .arg(&file)
        .arg("--endpoints")
        .arg(&missing)
        .args(["--runs"])
        .arg(tmp.path().join("runs"))
        .output()
        .expect("run the harness");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{stderr}");
    assert!(stderr.contains("missing-endpoints.json"), "{stderr}");
    assert!(!tmp.path().join("runs").exists(), "no trial ran");
}
