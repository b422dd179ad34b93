//! experiments/redis-consumer-kill.toml end to end (shortened with `--set`): one of two
//! inventory instances SIGKILLed on Redis Streams, at-least-once and exactly-once side by
//! side. At-least-once must lose nothing; exactly-once must lose nothing and apply no
//! step twice.

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
            "--set",
            "faults.0.at=6s",
            "--set",
            "faults.0.restart_after=8s",
        ],
    );
    assert_guarantees_held(runs.path(), "redis-consumer-kill", &output);
}
