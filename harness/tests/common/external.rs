//! Helpers for the tests of external labs and platforms: a lab started with `harness lab
//! up --json` as a user starts one (stopped with `harness lab down` when the test ends,
//! passed or not), the topics and consumer groups a Kafka cluster holds, and the
//! results of a run.

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::time::Duration;

use rdkafka::ClientConfig;
use rdkafka::consumer::{BaseConsumer, Consumer};

pub use super::harness;

/// A lab brought up by `harness lab up --json --dir DIR` in its own process.
pub struct UpLab {
    pub dir: PathBuf,
    pub endpoints: lab::Endpoints,
    /// The endpoints file, as `lab up --json` printed it.
    pub file: PathBuf,
    _parent: tempfile::TempDir,
}

impl UpLab {
    pub fn up(brokers: u8) -> UpLab {
        Self::up_with(&["--brokers", &brokers.to_string()])
    }

    /// `harness lab up --secure` with one broker: Kafka SASL_SSL, Redis TLS + ACL user.
    pub fn up_secure() -> UpLab {
        Self::up_with(&["--brokers", "1", "--secure"])
    }

    fn up_with(args: &[&str]) -> UpLab {
        let parent = tempfile::tempdir().expect("tempdir");
        let dir = parent.path().join("lab");
        let up = harness()
            .args(["lab", "up"])
            .args(args)
            .args(["--json", "--dir"])
            .arg(&dir)
            .output()
            .expect("run harness lab up");
        let stdout = String::from_utf8_lossy(&up.stdout).trim().to_string();
        assert!(
            up.status.success(),
            "harness lab up failed (is the lab installed? `lab/install`): {}",
            String::from_utf8_lossy(&up.stderr)
        );
        let endpoints = lab::Endpoints::from_json(&stdout).expect("endpoints JSON on stdout");
        let file = parent.path().join("endpoints.json");
        std::fs::write(&file, &stdout).expect("write the endpoints file");
        UpLab {
            dir,
            endpoints,
            file,
            _parent: parent,
        }
    }

    /// `harness lab ARGS --dir DIR`.
    pub fn lab(&self, args: &[&str]) -> Output {
        harness()
            .arg("lab")
            .args(args)
            .arg("--dir")
            .arg(&self.dir)
            .output()
            .expect("run harness lab")
    }

    pub fn bootstrap(&self) -> &str {
        &self
            .endpoints
            .kafka
            .as_ref()
            .expect("kafka")
            .bootstrap_direct
    }
}

impl Drop for UpLab {
    fn drop(&mut self) {
        if self.dir.exists() {
            let _ = self.lab(&["down", "--grace", "2"]);
        }
    }
}

/// The topics and consumer groups of the cluster at `bootstrap`.
pub fn kafka_names(bootstrap: &str) -> (BTreeSet<String>, BTreeSet<String>) {
    let consumer: BaseConsumer = ClientConfig::new()
        .set("bootstrap.servers", bootstrap)
        .set("log_level", "3")
        .create()
        .expect("kafka client");
    let timeout = Duration::from_secs(15);
    let metadata = consumer.fetch_metadata(None, timeout).expect("metadata");
    let topics = metadata
        .topics()
        .iter()
        .map(|t| t.name().to_string())
        .collect();
    let groups = consumer
        .fetch_group_list(None, timeout)
        .expect("group list")
        .groups()
        .iter()
        .map(|g| g.name().to_string())
        .collect();
    (topics, groups)
}

/// Fails the test if the cluster at `bootstrap` holds topics or consumer groups that
/// `before` (from [`kafka_names`]) did not; `what` names who left them. Kafka's own
/// `__consumer_offsets`, created with the first group, is not anyone's.
pub fn assert_nothing_left(
    bootstrap: &str,
    before: &(BTreeSet<String>, BTreeSet<String>),
    what: &str,
) {
    let (topics, groups) = kafka_names(bootstrap);
    let left: Vec<_> = topics
        .difference(&before.0)
        .filter(|t| !t.starts_with("__"))
        .collect();
    assert!(left.is_empty(), "{what} left topics: {left:?}");
    let left: Vec<_> = groups.difference(&before.1).collect();
    assert!(left.is_empty(), "{what} left consumer groups: {left:?}");
}

/// `harness run FILE --endpoints ENDPOINTS --quiet --runs RUNS`.
pub fn run_command(file: &Path, endpoints: &Path, runs: &Path) -> Command {
    let mut command = harness();
    command
        .arg("run")
        .arg(file)
        .arg("--endpoints")
        .arg(endpoints)
        .args(["--quiet", "--runs"])
        .arg(runs);
    command
}

/// `runs/<name>/latest/results.json`.
pub fn results(runs: &Path, name: &str) -> serde_json::Value {
    let path = runs.join(name).join("latest").join("results.json");
    let text = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    serde_json::from_str(&text).expect("results.json is JSON")
}

/// Every `history.jsonl` under `dir`.
pub fn histories(dir: &Path) -> Vec<PathBuf> {
    let mut found = Vec::new();
    let Ok(entries) = std::fs::read_dir(dir) else {
        return found;
    };
    for entry in entries.flatten() {
        let path = entry.path();
        if path.is_dir() && !path.is_symlink() {
            found.extend(histories(&path));
        } else if path.file_name().is_some_and(|n| n == "history.jsonl") {
            found.push(path);
        }
    }
    found
}

/// What a command printed, for assertion messages.
pub fn said(output: &Output) -> String {
    format!(
        "exit {:?}\nstdout:\n{}\nstderr:\n{}",
        output.status.code(),
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    )
}
