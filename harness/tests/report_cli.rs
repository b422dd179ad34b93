//! `harness report RUN_DIR` and `harness compare RUN RUN...` on the reports crate's
//! committed example results (recorded by real runs): no broker needed. Exit 0 with
//! every file written; exit 2 with the path for a missing or malformed results.json.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

fn harness(args: &[&Path]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_harness"))
        .args(args)
        .output()
        .expect("run harness")
}

fn text(output: &Output) -> String {
    format!(
        "stdout:\n{}\nstderr:\n{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    )
}

/// `runs/<name>/<dir>` holding a copy of an example results.json.
fn run_dir(runs: &Path, name: &str, dir: &str, example: &str) -> PathBuf {
    let path = runs.join(name).join(dir);
    std::fs::create_dir_all(&path).expect("mkdir");
    let source = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../reports/tests/data")
        .join(example);
    std::fs::copy(&source, path.join("results.json"))
        .unwrap_or_else(|e| panic!("{}: {e}", source.display()));
    path
}

/// A run directory holding the gateway-outage example.
fn gateway_outage_run(runs: &Path) -> PathBuf {
    run_dir(
        runs,
        "gateway-outage",
        "20260101T000000Z",
        "gateway-outage.results.json",
    )
}

#[test]
fn report_renders_every_file_from_results_json() {
    let runs = tempfile::tempdir().expect("tempdir");
    let dir = gateway_outage_run(runs.path());
    let out = harness(&[Path::new("report"), &dir]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    for file in [
        "report.html",
        "summary.md",
        "junit.xml",
        "latency-over-time.png",
        "resilience.png",
    ] {
        assert!(dir.join(file).is_file(), "{file} missing\n{}", text(&out));
    }
}

#[test]
fn report_without_or_with_a_malformed_results_json_is_exit_2_naming_it() {
    let runs = tempfile::tempdir().expect("tempdir");
    let out = harness(&[Path::new("report"), runs.path()]);
    assert_eq!(out.status.code(), Some(2), "{}", text(&out));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains("results.json") && stderr.contains("No such file"),
        "{stderr}"
    );

    std::fs::write(runs.path().join("results.json"), "{\"experiment\": \"x\",").expect("write");
    let out = harness(&[Path::new("report"), runs.path()]);
    assert_eq!(out.status.code(), Some(2), "{}", text(&out));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("is not a results.json"), "{stderr}");
    assert!(!stderr.contains("panicked"), "{stderr}");
}

#[test]
fn compare_follows_latest_links_and_writes_beside_the_first_run() {
    let runs = tempfile::tempdir().expect("tempdir");
    let alo = run_dir(
        runs.path(),
        "redis-consumer-kill",
        "20260101T000000Z-guarantee_at-least-once",
        "redis-consumer-kill-alo.results.json",
    );
    let eos = run_dir(
        runs.path(),
        "redis-consumer-kill-eos",
        "20260101T000100Z",
        "redis-consumer-kill-eos.results.json",
    );
    let latest = runs.path().join("redis-consumer-kill-eos/latest");
    std::os::unix::fs::symlink(eos.file_name().expect("name"), &latest).expect("symlink");

    let out = harness(&[Path::new("compare"), &alo, &latest]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    let stdout = String::from_utf8_lossy(&out.stdout);
    let dir = stdout
        .lines()
        .find_map(|l| l.strip_prefix("comparison: "))
        .map(PathBuf::from)
        .unwrap_or_else(|| panic!("no comparison path\n{}", text(&out)));
    assert!(
        dir.file_name()
            .expect("name")
            .to_string_lossy()
            .ends_with("-compare")
    );
    assert_eq!(
        std::fs::canonicalize(dir.parent().expect("parent")).expect("canonical"),
        std::fs::canonicalize(runs.path().join("redis-consumer-kill")).expect("canonical")
    );
    let md = std::fs::read_to_string(dir.join("compare.md")).expect("compare.md");
    assert!(md.contains("| exactly-once | at-least-once |"), "{md}");
    assert!(dir.join("compare.html").is_file() && dir.join("compare-throughput.png").is_file());

    let out_dir = runs.path().join("chosen");
    let out = harness(&[
        Path::new("compare"),
        &alo,
        &eos,
        Path::new("--out"),
        &out_dir,
    ]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    assert!(out_dir.join("compare.html").is_file());

    let out = harness(&[Path::new("compare"), &alo, &runs.path().join("nothing")]);
    assert_eq!(out.status.code(), Some(2), "{}", text(&out));
    assert!(String::from_utf8_lossy(&out.stderr).contains("is not a run directory"));
}

#[test]
fn report_to_a_closed_stdout_still_writes_every_file_without_a_panic() {
    // `harness report DIR | head -0`: the reader is gone before the first line.
    let runs = tempfile::tempdir().expect("tempdir");
    let dir = gateway_outage_run(runs.path());
    let mut child = Command::new(env!("CARGO_BIN_EXE_harness"))
        .arg("report")
        .arg(&dir)
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .expect("run harness");
    drop(child.stdout.take());
    let out = child.wait_with_output().expect("wait for harness");
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    assert!(
        !String::from_utf8_lossy(&out.stderr).contains("panicked"),
        "{}",
        text(&out)
    );
    assert!(dir.join("report.html").is_file(), "{}", text(&out));
}
