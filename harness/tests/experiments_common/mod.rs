//! Running an experiment file of experiments/ and reading its matrix's results.

#![allow(dead_code)]

use std::path::Path;
use std::process::Command;

pub fn run(file: &str, runs: &Path, extra: &[&str]) -> std::process::Output {
    Command::new(env!("CARGO_BIN_EXE_harness"))
        .arg("run")
        .arg(format!(
            "{}/../experiments/{file}",
            env!("CARGO_MANIFEST_DIR")
        ))
        .args(["--quiet", "--runs"])
        .arg(runs)
        .args(extra)
        .output()
        .expect("run harness")
}

/// results.json of each matrix combination, by guarantee.
fn results(runs: &Path, name: &str) -> Vec<serde_json::Value> {
    let mut out = Vec::new();
    for entry in std::fs::read_dir(runs.join(name))
        .expect("runs/<name>")
        .flatten()
    {
        let path = entry.path().join("results.json");
        if entry.file_name() != "latest" && path.is_file() {
            out.push(
                serde_json::from_str(&std::fs::read_to_string(path).expect("read")).expect("JSON"),
            );
        }
    }
    out
}

pub fn assert_guarantees_held(runs: &Path, name: &str, output: &std::process::Output) {
    let stdout = String::from_utf8_lossy(&output.stdout);
    let docs = results(runs, name);
    assert_eq!(docs.len(), 2, "one run per guarantee:\n{stdout}");
    for doc in docs {
        let guarantee = doc["config"]["system"]["guarantee"]
            .as_str()
            .unwrap_or("?")
            .to_string();
        assert_eq!(doc["complete"], true, "{guarantee}");
        assert_eq!(
            doc["anomalies"]["lost"]["count"], 0,
            "{guarantee}: {}",
            doc["anomalies"]
        );
        assert_eq!(
            doc["anomalies"]["invariant_violation"]["count"], 0,
            "{guarantee}: {}",
            doc["anomalies"]
        );
        if guarantee == "exactly-once" {
            assert_eq!(
                doc["anomalies"]["duplicate_effect"]["count"], 0,
                "{}",
                doc["anomalies"]
            );
        }
        assert!(doc["faults"][0]["kind"] == "kill", "{}", doc["faults"]);
        assert_eq!(doc["verdict"], "pass", "{guarantee}: {}", doc["reasons"]);
    }
    assert_eq!(
        output.status.code(),
        Some(0),
        "{stdout}\n{}",
        String::from_utf8_lossy(&output.stderr)
    );
}
