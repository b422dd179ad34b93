//! Helpers shared by the integration tests: starting a lab (failing loudly, naming the
//! install step, when the services are missing), unique names, and waiting on
//! conditions with a deadline instead of sleeping.

#![allow(dead_code)]

pub mod external;
pub mod kafka;

use std::future::Future;
use std::time::{Duration, Instant};

use lab::{Lab, LabSpec};

/// Starts a lab or fails the test with the reason (e.g. "run `lab/install`").
pub async fn start_lab(spec: LabSpec) -> Lab {
    match Lab::start(spec).await {
        Ok(lab) => lab,
        Err(e) => panic!("could not start the lab (is it installed? `lab/install`): {e}"),
    }
}

/// The `harness` binary under test.
pub fn harness() -> std::process::Command {
    std::process::Command::new(env!("CARGO_BIN_EXE_harness"))
}

/// A finished command's stdout and stderr, for assertion messages.
pub fn text(out: &std::process::Output) -> String {
    format!(
        "stdout:\n{}\nstderr:\n{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    )
}

/// `harness ARGS --dir DIR` (the `lab` subcommands), run to its end.
pub fn with_dir(args: &[&str], dir: &std::path::Path) -> std::process::Output {
    harness()
        .args(args)
        .arg("--dir")
        .arg(dir)
        .output()
        .expect("run harness")
}

/// Runs `harness lab down` on a lab directory when the test ends, passed or not.
pub struct DownOnDrop<'a>(pub &'a std::path::Path);

impl Drop for DownOnDrop<'_> {
    fn drop(&mut self) {
        if self.0.exists() {
            let _ = with_dir(&["lab", "down", "--grace", "2"], self.0);
        }
    }
}

/// A name no other test (or earlier run) uses: `prefix-<uuid>`.
pub fn unique(prefix: &str) -> String {
    format!("{prefix}-{}", uuid::Uuid::new_v4().simple())
}

/// Polls `probe` until it returns `Some`, or panics after `timeout` naming `what`.
pub async fn wait_for<T, F, Fut>(what: &str, timeout: Duration, mut probe: F) -> T
where
    F: FnMut() -> Fut,
    Fut: Future<Output = Option<T>>,
{
    let started = Instant::now();
    loop {
        if let Some(value) = probe().await {
            return value;
        }
        assert!(
            started.elapsed() < timeout,
            "timed out after {timeout:?} waiting for {what}"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// Pids whose parent is `parent` (read from /proc, not from what the harness claims).
pub fn children_of(parent: u32) -> Vec<u32> {
    let mut found = Vec::new();
    for entry in std::fs::read_dir("/proc").expect("/proc").flatten() {
        let Ok(pid) = entry.file_name().to_string_lossy().parse::<u32>() else {
            continue;
        };
        let Ok(stat) = std::fs::read_to_string(entry.path().join("stat")) else {
            continue;
        };
        let Some((_, rest)) = stat.rsplit_once(')') else {
            continue;
        };
        let fields: Vec<&str> = rest.split_whitespace().collect();
        if fields.get(1).and_then(|p| p.parse::<u32>().ok()) == Some(parent) {
            found.push(pid);
        }
    }
    found
}

/// Alive = exists and is not a zombie.
pub fn alive(pid: u32) -> bool {
    std::fs::read_to_string(format!("/proc/{pid}/stat"))
        .ok()
        .and_then(|stat| {
            stat.rsplit_once(')')
                .map(|(_, rest)| rest.trim_start().to_string())
        })
        .is_some_and(|rest| !rest.starts_with('Z') && !rest.starts_with('X'))
}

/// Waits for `child` to exit, or panics after `within` (polling, no blocking wait).
pub fn wait_exit(child: &mut std::process::Child, within: Duration) -> std::process::ExitStatus {
    let deadline = Instant::now() + within;
    loop {
        if let Some(status) = child.try_wait().expect("try_wait") {
            return status;
        }
        assert!(
            Instant::now() < deadline,
            "the child did not exit within {within:?}"
        );
        std::thread::sleep(Duration::from_millis(100));
    }
}

/// Every password of the secure lab in `dir` (`lab up --secure`), read from its files:
/// what no output, message or command line may contain.
pub fn secure_passwords(dir: &std::path::Path) -> Vec<String> {
    let files = lab::secure::SecureFiles::at(&std::path::absolute(dir).expect("absolute"));
    lab::secure::KAFKA_USERS
        .iter()
        .map(|u| files.kafka_password(u))
        .chain([files.redis_password()])
        .map(|p| {
            std::fs::read_to_string(&p)
                .unwrap_or_else(|e| panic!("{}: {e}", p.display()))
                .trim()
                .to_string()
        })
        .collect()
}

/// `endpoints` with the passwords taken from `HARNESS_KAFKA_PASSWORD` and
/// `HARNESS_REDIS_PASSWORD` instead of files, as a CI job's endpoints file would.
pub fn passwords_from_env(mut endpoints: lab::Endpoints) -> lab::Endpoints {
    if let Some(kafka) = &mut endpoints.kafka {
        kafka.security.password_file = None;
        kafka.security.password_env = Some("HARNESS_KAFKA_PASSWORD".into());
    }
    if let Some(redis) = &mut endpoints.redis {
        redis.security.password_file = None;
        redis.security.password_env = Some("HARNESS_REDIS_PASSWORD".into());
    }
    endpoints
}
