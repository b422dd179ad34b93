//! `harness run` end to end, on real services: the quick-start experiment passes and
//! writes its run directory; a malformed experiment is exit 2 with a location; Ctrl-C
//! during the load phase leaves no process behind and writes results marked incomplete;
//! the tap's counts agree with an independent reader.

mod common;

use std::io::{BufRead, BufReader};
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use nix::sys::signal::{Signal, kill};
use nix::unistd::Pid;

fn harness() -> Command {
    Command::new(env!("CARGO_BIN_EXE_harness"))
}

fn experiment(name: &str) -> String {
    format!("{}/../experiments/{name}", env!("CARGO_MANIFEST_DIR"))
}

fn results(runs: &Path, name: &str) -> serde_json::Value {
    let latest = runs.join(name).join("latest");
    let text = std::fs::read_to_string(latest.join("results.json"))
        .expect("results.json in runs/<name>/latest");
    serde_json::from_str(&text).expect("results.json is JSON")
}

#[test]
fn quickstart_passes_and_writes_its_run_directory() {
    let runs = tempfile::tempdir().expect("tempdir");
    let output = harness()
        .args(["run", &experiment("quickstart.toml"), "--quiet", "--runs"])
        .arg(runs.path())
        // The machine running the tests is shared: judge correctness, not speed, here.
        .args(["--set", "thresholds.\"latency.e2e.p99\"=< 60s"])
        .output()
        .expect("run harness");
    let stdout = String::from_utf8_lossy(&output.stdout);
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert_eq!(
        output.status.code(),
        Some(0),
        "stdout:\n{stdout}\nstderr:\n{stderr}"
    );
    assert!(stdout.contains("quickstart: PASS"), "{stdout}");
    assert!(stdout.contains("results: "), "{stdout}");
    assert!(stdout.contains("report:  "), "{stdout}");
    // Goose's own "All N users launched." goes to the run's logs, not our stdout.
    assert!(!stdout.contains("users launched"), "{stdout}");

    let doc = results(runs.path(), "quickstart");
    // results.json follows its committed schema (what reports and other tools rely on).
    let schema: serde_json::Value =
        serde_json::from_str(include_str!("../../reports/results.schema.json"))
            .expect("schema is JSON");
    let validator = jsonschema::validator_for(&schema).expect("a valid JSON Schema");
    let errors: Vec<String> = validator
        .iter_errors(&doc)
        .map(|e| format!("{} at {}", e, e.instance_path()))
        .collect();
    assert!(
        errors.is_empty(),
        "results.json does not match reports/results.schema.json: {errors:#?}"
    );
    assert_eq!(doc["complete"], true);
    assert_eq!(doc["verdict"], "pass");
    assert_eq!(doc["anomalies"]["lost"]["count"], 0);
    assert!(
        doc["counts"]["acknowledged"].as_u64().expect("acked") > 1000,
        "{}",
        doc["counts"]
    );
    assert_eq!(doc["faults"][0]["kind"], "latency");
    assert_eq!(doc["faults"][0]["target"], "redis");
    assert!(doc["latency"]["e2e"]["p99_us"].as_u64().is_some());
    // The tap and an independent reader (redis-cli XLEN) count the same entries.
    for (topic, counts) in doc["cross_check"].as_object().expect("cross_check") {
        assert_eq!(counts["tap"], counts["independent"], "{topic}: {counts}");
    }
    let dir = runs.path().join("quickstart/latest");
    for file in [
        "history.jsonl",
        "summary.md",
        "report.html",
        "junit.xml",
        "latency-over-time.png",
        "throughput.png",
        "logs/order-0.log",
        "logs/redis.log",
        "logs/toxiproxy.log",
        "logs/goose-stdout.txt",
    ] {
        assert!(
            dir.join(file).is_file(),
            "{file} missing in the run directory"
        );
    }
    // The recorded history re-analyses to the same verdict offline.
    let offline = harness()
        .arg("check")
        .arg(dir.join("history.jsonl"))
        .output()
        .expect("harness check");
    assert_eq!(
        offline.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&offline.stdout)
    );
}

#[test]
fn a_malformed_experiment_is_exit_2_with_its_location() {
    let dir = tempfile::tempdir().expect("tempdir");
    let cases = [
        ("duration = \"10 sec\"\n", "bad.toml:2:", "10 sec"),
        (
            "duration = \"10s\"\n\n[[faults]]\nat = \"1s\"\nfor = \"1s\"\nkind = \"latency\"\ntarget = \"kafka-3\"\nlatency = \"10ms\"\n",
            "bad.toml:8:",
            "kafka-3",
        ),
        (
            "duration = \"10s\"\ncolour = \"blue\"\n",
            "bad.toml:3:",
            "colour",
        ),
        (
            "duration = \"10s\"\nhistory = \"gz\"\n",
            "bad.toml:3:",
            "jsonl, zstd",
        ),
        (
            "duration = \"10s\"\n\n[thresholds]\n\"latency.e2e.p99\" = \"< 800mss\"\n",
            "bad.toml:5:",
            "mss",
        ),
    ];
    for (body, location, mention) in cases {
        let file = dir.path().join("bad.toml");
        let text = format!(
            "name = \"bad\"\n{body}\n[system]\nbackend = \"redis\"\n\n[workload]\nrate = 10\n"
        );
        std::fs::write(&file, &text).expect("write");
        for command in ["validate", "run"] {
            let output = harness()
                .arg(command)
                .arg(&file)
                .output()
                .expect("run harness");
            let stderr = String::from_utf8_lossy(&output.stderr);
            assert_eq!(
                output.status.code(),
                Some(2),
                "{command} on\n{text}\n{stderr}"
            );
            assert!(
                stderr.contains(location),
                "{command}: expected {location} in: {stderr}"
            );
            assert!(
                stderr.contains(mention),
                "{command}: expected `{mention}` in: {stderr}"
            );
            assert!(!stderr.contains("panicked"), "{stderr}");
        }
    }
}

#[test]
fn ctrl_c_during_the_load_phase_cleans_up_and_marks_results_incomplete() {
    let runs = tempfile::tempdir().expect("tempdir");
    let mut child = harness()
        .args(["run", &experiment("quickstart.toml"), "--runs"])
        .arg(runs.path())
        .args(["--set", "duration=60s"])
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn harness run");
    // Wait until the platform is up and the load runs (the progress line appears).
    let stderr = child.stderr.take().expect("stderr");
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        let mut text = String::new();
        // Not a terminal: the progress line comes as a whole line every few seconds.
        for line in BufReader::new(stderr).split(b'\n').map_while(Result::ok) {
            let line = String::from_utf8_lossy(&line).into_owned();
            text.push_str(&line);
            if line.contains("sent ") {
                let _ = tx.send(line);
            }
        }
    });
    let progress = rx
        .recv_timeout(Duration::from_secs(120))
        .expect("the load phase started");
    // The live judgement ends the progress line.
    assert!(progress.contains("; judged "), "{progress}");
    std::thread::sleep(Duration::from_secs(3));
    let services = common::children_of(child.id());
    assert!(
        services.len() >= 8,
        "lab and platform processes: {services:?}"
    );
    kill(Pid::from_raw(child.id() as i32), Signal::SIGINT).expect("SIGINT");
    let status = common::wait_exit(&mut child, Duration::from_secs(60));
    assert_eq!(status.code(), Some(130));
    let deadline = Instant::now() + Duration::from_secs(10);
    while services.iter().any(|&p| common::alive(p)) {
        assert!(
            Instant::now() < deadline,
            "left running: {:?}",
            services
                .iter()
                .filter(|&&p| common::alive(p))
                .collect::<Vec<_>>()
        );
        std::thread::sleep(Duration::from_millis(50));
    }
    let doc = results(runs.path(), "quickstart");
    let schema: serde_json::Value =
        serde_json::from_str(include_str!("../../reports/results.schema.json"))
            .expect("schema is JSON");
    assert!(
        jsonschema::is_valid(&schema, &doc),
        "partial results.json matches the schema too"
    );
    assert_eq!(doc["complete"], false);
    assert_eq!(doc["verdict"], "inconclusive");
    assert!(doc["counts"]["attempted"].as_u64().expect("attempted") > 0);
}

/// Every file of the catalogue is a valid experiment (`harness validate`, exit 0).
#[test]
fn every_catalogue_file_validates() {
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../experiments");
    let mut files: Vec<_> = std::fs::read_dir(&dir)
        .expect("experiments/")
        .flatten()
        .map(|e| e.path())
        .filter(|p| p.extension().is_some_and(|e| e == "toml"))
        .collect();
    files.sort();
    assert!(files.len() >= 10, "{files:?}");
    for file in files {
        let output = harness()
            .arg("validate")
            .arg(&file)
            .output()
            .expect("run harness");
        assert_eq!(
            output.status.code(),
            Some(0),
            "{}: {}",
            file.display(),
            String::from_utf8_lossy(&output.stderr)
        );
    }
}
