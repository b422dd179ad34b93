//! `harness check HISTORY.jsonl`: the offline re-analysis a user runs on a recorded
//! history — exit 0 for a clean history, 1 when an anomaly or threshold fails, 3 when
//! inconclusive, 2 with the file and line for a malformed history; and the format's
//! documentation stays the one in the checker's source.

use std::io::Write;
use std::process::{Command, Output};

fn history(lines: &[String]) -> tempfile::NamedTempFile {
    let mut file = tempfile::NamedTempFile::new().expect("temp file");
    for line in lines {
        writeln!(file, "{line}").expect("write");
    }
    file
}

fn check(file: &tempfile::NamedTempFile, extra: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_harness"))
        .arg("check")
        .arg(file.path())
        .args(extra)
        .output()
        .expect("run harness check")
}

/// One order flowing through the whole chain, 10 ms per hop, after warm-up.
fn clean(order: &str, t0: u64, acked: bool) -> Vec<String> {
    let mut lines = vec![format!(
        r#"{{"kind":"send","order_id":"{order}","intended_us":{t0},"sent_us":{t0},"acked_us":{},"outcome":"{}","error":null}}"#,
        if acked {
            (t0 + 1000).to_string()
        } else {
            "null".into()
        },
        if acked { "acked" } else { "error" }
    )];
    let chain = [
        "OrderPlaced",
        "StockReserved",
        "PaymentCaptured",
        "OrderConfirmed",
        "ShipmentCreated",
        "OrderShipped",
    ];
    let topics = [
        "orders",
        "inventory",
        "payments",
        "orders",
        "shipping",
        "shipping",
    ];
    let mut cause: Option<String> = None;
    for (i, (event_type, topic)) in chain.iter().zip(topics).enumerate() {
        let id = format!("{order}-e{i}");
        let causation = cause
            .as_ref()
            .map(|c| format!("\"{c}\""))
            .unwrap_or_else(|| "null".into());
        lines.push(format!(
            r#"{{"kind":"observe","event_id":"{id}","event_type":"{event_type}","key":"{order}","seq":{},"causation_id":{causation},"produced_us":null,"observed_us":{},"topic":"{topic}","partition":0,"position":"{i}"}}"#,
            i + 1,
            t0 + 10_000 * (i as u64 + 1)
        ));
        cause = Some(id);
    }
    lines
}

fn meta(complete: bool) -> String {
    format!(
        r#"{{"kind":"meta","experiment":"cli-test","seed":1,"backend":"redis","guarantee":"at-least-once","warmup_end_us":0,"load_end_us":3000000,"drain_end_us":4000000,"complete":{complete}}}"#
    )
}

#[test]
fn a_clean_history_passes() {
    let mut lines = vec![meta(true)];
    for i in 0..20 {
        lines.extend(clean(&format!("o-{i}"), 100_000 * i, true));
    }
    let output = check(
        &history(&lines),
        &[
            "--threshold",
            "lost=== 0",
            "--threshold",
            "latency.e2e.p99=< 100ms",
        ],
    );
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert_eq!(
        output.status.code(),
        Some(0),
        "{stdout}{}",
        String::from_utf8_lossy(&output.stderr)
    );
    assert!(stdout.contains("cli-test: PASS"), "{stdout}");
    assert!(stdout.contains("| lost "), "{stdout}");
}

#[test]
fn a_lost_order_fails_naming_it() {
    let mut lines = vec![meta(true)];
    for i in 0..5 {
        lines.extend(clean(&format!("o-{i}"), 100_000 * i, true));
    }
    // o-lost was acknowledged and then nothing: the order placed never reached the tap.
    lines.push(r#"{"kind":"send","order_id":"o-lost","intended_us":900000,"sent_us":900000,"acked_us":901000,"outcome":"acked","error":null}"#.into());
    let output = check(&history(&lines), &["--json"]);
    assert_eq!(output.status.code(), Some(1));
    // The same document as a run's results.json (check::Results).
    let doc: serde_json::Value = serde_json::from_slice(&output.stdout).expect("JSON");
    assert_eq!(doc["anomalies"]["lost"]["count"], 1);
    assert_eq!(doc["anomalies"]["lost"]["sample"][0], "o-lost");
    assert_eq!(doc["verdict"], "fail");
    assert_eq!(doc["experiment"], "cli-test");
    assert_eq!(doc["format"], 1);
    let results: check::Results =
        serde_json::from_slice(&output.stdout).expect("a results document");
    assert_eq!(results.counts.acknowledged, 6);
    assert!(
        doc.get("config").is_none(),
        "a bare history has no experiment file"
    );
}

/// o-1's chain with `StockReserved` read 100 ms after the `PaymentCaptured` it caused
/// (on another topic, so only the cause rule can see it).
fn read_late() -> Vec<String> {
    clean("o-1", 0, true)
        .into_iter()
        .map(|line| {
            if line.contains(r#""event_type":"StockReserved""#) {
                line.replace(r#""observed_us":20000"#, r#""observed_us":130000"#)
            } else {
                line
            }
        })
        .collect()
}

#[test]
fn the_thresholds_recorded_in_meta_are_judged_unless_replaced() {
    let mut lines = vec![meta(true).replace(
        r#""complete":true}"#,
        r#""complete":true,"thresholds":[{"metric":"latency.e2e.p99","expression":"< 1ms"}]}"#,
    )];
    for i in 0..5 {
        lines.extend(clean(&format!("o-{i}"), 100_000 * i, true));
    }
    let file = history(&lines);
    // The run's own threshold: 60 ms end to end is not under 1 ms.
    let output = check(&file, &["--json"]);
    let doc: serde_json::Value = serde_json::from_slice(&output.stdout).expect("JSON");
    assert_eq!(output.status.code(), Some(1), "{doc}");
    assert_eq!(doc["thresholds"][0]["metric"], "latency.e2e.p99");
    assert_eq!(doc["thresholds"][0]["pass"], false);
    // --threshold replaces the recorded ones.
    let output = check(&file, &["--json", "--threshold", "lost=== 0"]);
    let doc: serde_json::Value = serde_json::from_slice(&output.stdout).expect("JSON");
    assert_eq!(output.status.code(), Some(0), "{doc}");
    assert_eq!(doc["thresholds"].as_array().map(Vec::len), Some(1));
    assert_eq!(doc["thresholds"][0]["metric"], "lost");
}

#[test]
fn the_analysis_options_recorded_in_meta_are_used() {
    // Without recorded options: the defaults (no causality slack), a violation.
    let mut lines = vec![meta(true)];
    lines.extend(read_late());
    let output = check(&history(&lines), &["--json"]);
    let doc: serde_json::Value = serde_json::from_slice(&output.stdout).expect("JSON");
    assert_eq!(doc["anomalies"]["ordering_violation"]["count"], 1, "{doc}");
    assert_eq!(output.status.code(), Some(1));
    // With the run's 250 ms slack recorded: the run's verdict, no violation.
    let mut lines = vec![meta(true).replace(
        r#""complete":true}"#,
        r#""complete":true,"analysis":{"causality_slack_us":250000}}"#,
    )];
    lines.extend(read_late());
    let output = check(&history(&lines), &["--json"]);
    let doc: serde_json::Value = serde_json::from_slice(&output.stdout).expect("JSON");
    assert_eq!(doc["anomalies"]["ordering_violation"]["count"], 0, "{doc}");
    assert_eq!(output.status.code(), Some(0), "{doc}");
}

#[test]
fn an_interrupted_run_is_inconclusive() {
    let mut lines = vec![meta(false)];
    lines.extend(clean("o-1", 0, true));
    assert_eq!(check(&history(&lines), &[]).status.code(), Some(3));
}

#[test]
fn malformed_input_is_exit_2_with_a_location() {
    let lines = vec![meta(true), r#"{"kind":"observe","event_id":"x""#.into()];
    let output = check(&history(&lines), &[]);
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert_eq!(output.status.code(), Some(2), "{stderr}");
    assert!(stderr.contains("line 2"), "{stderr}");
    assert!(!stderr.contains("panicked"), "{stderr}");

    let bad = check(
        &history(&[meta(true)]),
        &["--threshold", "latency.e2e.p99=< 800mss"],
    );
    let stderr = String::from_utf8_lossy(&bad.stderr);
    assert_eq!(bad.status.code(), Some(2), "{stderr}");
    assert!(stderr.contains('^') && stderr.contains("mss"), "{stderr}");

    let missing = Command::new(env!("CARGO_BIN_EXE_harness"))
        .args(["check", "/nonexistent/history.jsonl"])
        .output()
        .expect("run");
    assert_eq!(missing.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&missing.stderr).contains("/nonexistent/history.jsonl"));
}

#[test]
fn docs_history_format_matches_the_checker_source() {
    let source = include_str!("../check/src/history/mod.rs");
    let docs = include_str!("../../docs/history-format.md");
    let module_doc: Vec<&str> = source
        .lines()
        .take_while(|l| l.starts_with("//!"))
        .map(|l| {
            l.strip_prefix("//! ")
                .or_else(|| l.strip_prefix("//!"))
                .unwrap_or(l)
        })
        .collect();
    for line in module_doc.iter().filter(|l| !l.contains("crate::")) {
        assert!(
            docs.contains(line),
            "docs/history-format.md lacks a line of the history module doc: {line:?}\nregenerate it from harness/check/src/history/mod.rs"
        );
    }
}

/// `harness synth` writes a clean history `harness check` passes, plain or compressed
/// (the same verdict and summary from either), and a compressed file is several times
/// smaller.
#[test]
fn a_synthetic_history_checks_clean_plain_and_compressed() {
    let dir = tempfile::tempdir().expect("tempdir");
    let mut summaries = Vec::new();
    let mut sizes = Vec::new();
    for name in ["synth.jsonl", "synth.jsonl.zst"] {
        let path = dir.path().join(name);
        let made = Command::new(env!("CARGO_BIN_EXE_harness"))
            .args(["synth", "--orders", "3000", "--out"])
            .arg(&path)
            .output()
            .expect("harness synth");
        assert_eq!(made.status.code(), Some(0), "{made:?}");
        let said = String::from_utf8_lossy(&made.stdout).into_owned();
        assert!(said.contains("3000 orders"), "{said}");
        let checked = Command::new(env!("CARGO_BIN_EXE_harness"))
            .arg("check")
            .arg(&path)
            .output()
            .expect("harness check");
        let out = String::from_utf8_lossy(&checked.stdout).into_owned();
        assert_eq!(checked.status.code(), Some(0), "{out}");
        assert!(
            checked.stderr.is_empty(),
            "{}",
            String::from_utf8_lossy(&checked.stderr)
        );
        summaries.push(out);
        sizes.push(std::fs::metadata(&path).expect("written").len());
    }
    assert_eq!(
        summaries[0], summaries[1],
        "the same summary from either file"
    );
    assert!(
        sizes[1] * 3 < sizes[0],
        "zstd is several times smaller: {sizes:?}"
    );
}
