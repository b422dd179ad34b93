//! experiments/redis-consumer-kill.toml end to end (shortened with `--set`): one of two
//! inventory instances SIGKILLed on Redis Streams, at-least-once and exactly-once side by
//! side. At-least-once must lose nothing; exactly-once must lose nothing and apply no
//! step twice. The matrix's comparison is written beside the runs, with the cost of
//! exactly-once.

mod experiments_common;

use experiments_common::{assert_guarantees_held, run};

#[test]
fn redis_consumer_kill_loses_nothing_in_either_mode() {
    let runs = tempfile::tempdir().expect("tempdir");
    let output = run(
        "redis-consumer-kill.toml",
        runs.path(),
        &[
            "--set",
            "duration=20s",
            // A rate a debug build sustains on a shared machine (the file's is for
            // release builds).
            "--set",
            "workload.rate=80",
            "--set",
            "faults.0.at=6s",
            "--set",
            "faults.0.restart_after=8s",
        ],
    );
    assert_guarantees_held(runs.path(), "redis-consumer-kill", &output);

    let stdout = String::from_utf8_lossy(&output.stdout);
    let compare = stdout
        .lines()
        .find_map(|l| l.strip_prefix("comparison: "))
        .map(std::path::PathBuf::from)
        .unwrap_or_else(|| panic!("the matrix printed no comparison:\n{stdout}"));
    assert!(
        compare.starts_with(runs.path().join("redis-consumer-kill")),
        "{compare:?}"
    );
    let md = std::fs::read_to_string(compare.join("compare.md")).expect("compare.md");
    assert!(
        md.contains("| exactly-once | at-least-once |"),
        "no cost of exactly-once row:\n{md}"
    );
    assert!(compare.join("compare.html").is_file());
}
