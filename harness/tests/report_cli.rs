//! `harness report RUN_DIR`, `harness compare RUN RUN...` and `harness grid RUN_DIR...`
//! on the reports crate's committed example results (recorded by real runs): no broker
//! needed. Exit 0 with every file written; exit 2 with the path for a missing or
//! malformed results.json (report, compare) or a RUN that is not a directory (grid: a
//! directory without results is a "no results" cell, not an error).

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

/// `runs/redis-consumer-kill/<stamp>-guarantee_at-least-once`, as a matrix names it.
fn at_least_once_run(runs: &Path) -> PathBuf {
    run_dir(
        runs,
        "redis-consumer-kill",
        "20260101T000000Z-guarantee_at-least-once",
        "redis-consumer-kill-alo.results.json",
    )
}

/// The directory printed after `prefix` (`comparison: `, `grid: `) on stdout.
fn printed_path(out: &Output, prefix: &str) -> PathBuf {
    String::from_utf8_lossy(&out.stdout)
        .lines()
        .find_map(|l| l.strip_prefix(prefix))
        .map(PathBuf::from)
        .unwrap_or_else(|| panic!("no {prefix:?} line\n{}", text(out)))
}

/// `dir` is `<experiment>/<timestamp>-<suffix>`: beside the runs, not inside one.
fn assert_beside(dir: &Path, experiment: &Path, suffix: &str) {
    let name = dir.file_name().expect("name").to_string_lossy();
    assert!(name.ends_with(suffix), "{}", dir.display());
    assert_eq!(
        std::fs::canonicalize(dir.parent().expect("parent")).expect("canonical"),
        std::fs::canonicalize(experiment).expect("canonical")
    );
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
    let alo = at_least_once_run(runs.path());
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
    let dir = printed_path(&out, "comparison: ");
    assert_beside(&dir, &runs.path().join("redis-consumer-kill"), "-compare");
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

#[test]
fn grid_writes_beside_the_first_run_and_exits_0() {
    let runs = tempfile::tempdir().expect("tempdir");
    let alo = at_least_once_run(runs.path());
    let eos = run_dir(
        runs.path(),
        "redis-consumer-kill",
        "20260101T000100Z-guarantee_exactly-once",
        "redis-consumer-kill-eos.results.json",
    );
    // an at-most-once run that left no results.json
    let amo = runs
        .path()
        .join("redis-consumer-kill/20260101T000200Z-guarantee_at-most-once");
    std::fs::create_dir_all(&amo).expect("mkdir");

    // a comparison written beside the runs (a glob over the runs matches it): no cell
    let compare = runs
        .path()
        .join("redis-consumer-kill/20260101T000300Z-compare");
    std::fs::create_dir_all(&compare).expect("mkdir");
    std::fs::write(compare.join("compare.md"), "## Comparison\n").expect("write");

    let out = harness(&[Path::new("grid"), &alo, &eos, &amo, &compare]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("a comparison or a grid, not a run"),
        "{}",
        text(&out)
    );
    assert!(
        String::from_utf8_lossy(&out.stdout)
            .contains("3 cells: 2 PASS, 0 FAIL, 0 INCONCLUSIVE, 1 no results"),
        "{}",
        text(&out)
    );
    let html = printed_path(&out, "grid: ");
    let dir = html.parent().expect("grid dir");
    assert_beside(dir, &runs.path().join("redis-consumer-kill"), "-grid");
    assert!(html.is_file(), "{}", text(&out));
    let md = std::fs::read_to_string(dir.join("grid.md")).expect("grid.md");
    assert!(
        md.contains("[run directory](../20260101T000000Z-guarantee_at-least-once/)"),
        "{md}"
    );
    assert!(md.contains("**no results**"), "{md}");
    // the directory without results sits in the column its name gives
    let header = md
        .lines()
        .find(|l| l.starts_with("| backend"))
        .expect("grid");
    let columns: Vec<&str> = header.split('|').map(str::trim).collect();
    assert_eq!(
        columns[1..5],
        ["backend", "at-most-once", "at-least-once", "exactly-once"]
    );

    let chosen = runs.path().join("chosen");
    let out = harness(&[Path::new("grid"), &alo, Path::new("--out"), &chosen]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    assert!(chosen.join("grid.html").is_file() && chosen.join("grid.md").is_file());
}

#[test]
fn grid_of_a_path_that_is_not_a_directory_is_exit_2_naming_it() {
    let runs = tempfile::tempdir().expect("tempdir");
    let alo = at_least_once_run(runs.path());
    for bad in [runs.path().join("nothing"), alo.join("results.json")] {
        let out = harness(&[Path::new("grid"), &alo, &bad]);
        assert_eq!(out.status.code(), Some(2), "{}", text(&out));
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert!(
            stderr.contains(&format!("{} is not a run directory", bad.display())),
            "{stderr}"
        );
        assert!(!stderr.contains("panicked"), "{stderr}");
    }
    assert!(
        !runs
            .path()
            .join("redis-consumer-kill")
            .read_dir()
            .expect("read")
            .any(|e| e
                .expect("entry")
                .file_name()
                .to_string_lossy()
                .ends_with("-grid")),
        "nothing written on bad input"
    );
    let out = harness(&[Path::new("grid")]);
    assert_eq!(out.status.code(), Some(2), "{}", text(&out));
}
