//! `harness lab` as a user runs it: up/status/down leave nothing behind; SIGINT or
//! SIGTERM to a foreground lab (during start-up or after) reaps every process; a missing
//! installation is a clear error naming `lab/install`, not a panic.

mod common;

use std::io::{BufRead, BufReader};
use std::process::{Child, Output, Stdio};
use std::time::{Duration, Instant};

use nix::sys::signal::{Signal, kill};
use nix::unistd::Pid;

use common::{DownOnDrop, harness, with_dir};

fn wait_exit(child: &mut Child, within: Duration) -> std::process::ExitStatus {
    let deadline = Instant::now() + within;
    loop {
        if let Some(status) = child.try_wait().expect("try_wait") {
            return status;
        }
        if Instant::now() > deadline {
            let _ = child.kill();
            panic!("harness did not exit within {within:?}");
        }
        std::thread::sleep(Duration::from_millis(50));
    }
}

fn wait_dead(pids: &[u32], within: Duration) {
    let deadline = Instant::now() + within;
    while pids.iter().any(|&p| common::alive(p)) {
        assert!(
            Instant::now() < deadline,
            "still running: {:?}",
            pids.iter()
                .filter(|&&p| common::alive(p))
                .collect::<Vec<_>>()
        );
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// Starts `harness lab up --foreground --json`, waits for the endpoints line, sends
/// `signal`, and checks that the harness exits and every service it started is gone.
fn foreground_lab_stops_on(signal: Signal) {
    let mut child = harness()
        .args(["lab", "up", "--foreground", "--json", "--brokers", "1"])
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .spawn()
        .expect("spawn harness");
    let stdout = child.stdout.take().expect("stdout");
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        let mut line = String::new();
        let _ = BufReader::new(stdout).read_line(&mut line);
        let _ = tx.send(line);
    });
    let line = rx
        .recv_timeout(Duration::from_secs(120))
        .expect("endpoints printed within 120 s");
    let endpoints = lab::Endpoints::from_json(&line).expect("endpoints JSON");
    assert!(endpoints.kafka.is_some() && endpoints.redis.is_some());
    let services = common::children_of(child.id());
    assert!(
        services.len() >= 3,
        "expected toxiproxy, redis and a broker, found {services:?}"
    );

    kill(Pid::from_raw(child.id() as i32), signal).expect("signal harness");
    let status = wait_exit(&mut child, Duration::from_secs(60));
    assert!(
        status.success(),
        "a foreground lab stopped by {signal} exits 0, got {status}"
    );
    wait_dead(&services, Duration::from_secs(10));
}

#[test]
fn sigint_stops_a_foreground_lab_and_all_its_processes() {
    foreground_lab_stops_on(Signal::SIGINT);
}

#[test]
fn sigterm_stops_a_foreground_lab_and_all_its_processes() {
    foreground_lab_stops_on(Signal::SIGTERM);
}

#[test]
fn sigint_during_start_up_reaps_what_was_started() {
    let mut child = harness()
        .args(["lab", "up", "--foreground", "--brokers", "3"])
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn harness");
    // Wait until the brokers' JVMs are running, then interrupt before they are ready.
    let deadline = Instant::now() + Duration::from_secs(60);
    let services = loop {
        let children = common::children_of(child.id());
        if children.len() >= 5 {
            break children;
        }
        assert!(
            Instant::now() < deadline,
            "the lab's processes never appeared: {children:?}"
        );
        std::thread::sleep(Duration::from_millis(20));
    };
    kill(Pid::from_raw(child.id() as i32), Signal::SIGINT).expect("SIGINT");
    let status = wait_exit(&mut child, Duration::from_secs(60));
    let mut stderr = String::new();
    let _ = std::io::Read::read_to_string(child.stderr.as_mut().expect("stderr"), &mut stderr);
    assert_eq!(
        status.code(),
        Some(130),
        "exit code after SIGINT during start-up; stderr: {stderr}"
    );
    assert!(stderr.contains("interrupted"), "stderr: {stderr}");
    wait_dead(&services, Duration::from_secs(10));
}

#[test]
fn a_missing_installation_names_lab_install() {
    let empty = tempfile::tempdir().expect("tempdir");
    for args in [&["lab", "up"][..], &["lab", "smoke"][..]] {
        let output: Output = harness()
            .args(args)
            .env(lab::HOME_ENV, empty.path())
            .output()
            .expect("run harness");
        let stderr = String::from_utf8_lossy(&output.stderr);
        assert_eq!(output.status.code(), Some(2), "{args:?}: {stderr}");
        assert!(stderr.contains("lab/install"), "{args:?}: {stderr}");
        assert!(!stderr.contains("panicked"), "{args:?}: {stderr}");
    }
}

#[test]
fn up_status_down_with_three_brokers_leaves_nothing_behind() {
    let parent = tempfile::tempdir().expect("tempdir");
    let dir = parent.path().join("lab");
    let _down = DownOnDrop(&dir);
    let up = with_dir(&["lab", "up", "--brokers", "3", "--json"], &dir);
    let stderr = String::from_utf8_lossy(&up.stderr);
    assert!(up.status.success(), "lab up: {stderr}");
    lab::Endpoints::from_json(String::from_utf8_lossy(&up.stdout).trim())
        .expect("endpoints JSON on stdout");

    // A second `up` on the same directory refuses, naming the running lab.
    let again = with_dir(&["lab", "up", "--brokers", "1"], &dir);
    assert_eq!(again.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&again.stderr).contains("already up"));

    let status = with_dir(&["lab", "status", "--json"], &dir);
    assert!(
        status.status.success(),
        "status: {}",
        String::from_utf8_lossy(&status.stderr)
    );
    let doc: serde_json::Value = serde_json::from_slice(&status.stdout).expect("status JSON");
    assert_eq!(doc["up"], true);
    let pids: Vec<u32> = doc["processes"]
        .as_array()
        .expect("processes")
        .iter()
        .map(|p| p["pid"].as_u64().expect("pid") as u32)
        .collect();
    assert_eq!(pids.len(), 5, "toxiproxy, redis and three brokers: {doc}");
    assert!(pids.iter().all(|&p| common::alive(p)));

    let down = with_dir(&["lab", "down"], &dir);
    assert!(
        down.status.success(),
        "down: {}",
        String::from_utf8_lossy(&down.stderr)
    );
    wait_dead(&pids, Duration::from_secs(5));
    assert!(!dir.exists(), "down removes the data directory");

    let status = with_dir(&["lab", "status"], &dir);
    assert_eq!(status.status.code(), Some(1), "status of a stopped lab");
}
