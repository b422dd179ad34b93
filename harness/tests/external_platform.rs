//! Bring your own system: the reference order platform started by hand with its own
//! binary (one process per service, as anyone would run it) against a lab from `harness
//! lab up --json`, measured with `platform = "external"` through its order API — and
//! the same experiment run the usual way (the harness deploys the platform) against the
//! same endpoints. Both must reach the same verdict with the same counts.
//!
//! "The same counts", precisely: the same attempted, acknowledged, observed and
//! completed orders; every anomaly count equal; and, per event type of the order flow
//! (`check::STEP_TYPES`: every event an order has up to and including its terminal
//! one), the same number of distinct event ids. By-products (`NotificationSent`,
//! `MetricUpdated`, `AlertTriggered`) are left out: how many of them the tap sees
//! depends on how far those services had read when it stopped, not on the orders.

mod common;

use std::collections::BTreeMap;
use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use common::external::{
    UpLab, assert_nothing_left, histories, kafka_names, results, run_command, said,
};

const SEED: u64 = 11;
const PARTITIONS: u32 = 3;
const DECLINE: f64 = 0.1;

/// The experiment named `name`; `platform` is appended to its `[system]` (nothing for
/// the reference platform).
fn experiment(name: &str, platform: &str) -> String {
    format!(
        r#"
name = "{name}"
seed = {SEED}
duration = "5s"
warmup = "2s"
drain_timeout = "60s"

[system]
backend = "kafka"
partitions = {PARTITIONS}
{platform}

[workload]
rate = 20
payment_failure_ratio = {DECLINE}
"#
    )
}

/// The platform's processes; SIGTERM then SIGKILL, and reaped, when dropped.
struct Processes(Vec<Child>);

impl Drop for Processes {
    fn drop(&mut self) {
        for child in &self.0 {
            let _ = nix::sys::signal::kill(
                nix::unistd::Pid::from_raw(child.id() as i32),
                nix::sys::signal::Signal::SIGTERM,
            );
        }
        let deadline = Instant::now() + Duration::from_secs(10);
        for child in &mut self.0 {
            while child.try_wait().ok().flatten().is_none() && Instant::now() < deadline {
                std::thread::sleep(Duration::from_millis(50));
            }
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}

fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .expect("a free port")
        .port()
}

async fn wait_healthy(name: &str, port: u16, child: &mut Child, log: &Path) {
    let client = reqwest::Client::builder()
        .no_proxy()
        .build()
        .expect("client");
    let url = format!("http://127.0.0.1:{port}/health");
    let deadline = Instant::now() + Duration::from_secs(90);
    loop {
        if let Ok(Some(status)) = child.try_wait() {
            let tail = std::fs::read_to_string(log).unwrap_or_default();
            panic!("{name} exited ({status}) while starting:\n{tail}");
        }
        if client
            .get(&url)
            .send()
            .await
            .is_ok_and(|r| r.status().is_success())
        {
            return;
        }
        assert!(
            Instant::now() < deadline,
            "{name} not healthy at {url} within 90 s"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// Starts the order platform's services by hand under `namespace`, connected through
/// the lab's proxies; returns them and the order API's base URL.
async fn start_by_hand(lab: &UpLab, namespace: &str, logs: &Path) -> (Processes, String) {
    start_by_hand_on(lab, "kafka", namespace, logs).await
}

/// [`start_by_hand`] on `backend` (`kafka` or `redis`).
async fn start_by_hand_on(
    lab: &UpLab,
    backend: &str,
    namespace: &str,
    logs: &Path,
) -> (Processes, String) {
    let program = lab::platform::sut_binary().expect("target/debug/order-platform is built");
    let bus: [String; 2] = match backend {
        "kafka" => [
            "--kafka-bootstrap".into(),
            lab.endpoints
                .kafka
                .as_ref()
                .expect("kafka")
                .bootstrap_proxied
                .clone(),
        ],
        _ => [
            "--redis-url".into(),
            lab.endpoints.redis.as_ref().expect("redis").proxied_url(),
        ],
    };
    let mut processes = Processes(Vec::new());
    let mut order_url = String::new();
    let mut gateway_url = String::new();
    for service in lab::platform::SERVICES {
        let port = free_port();
        let log = logs.join(format!("{service}.log"));
        let mut command = Command::new(&program);
        command
            .arg(service)
            .args(["--backend", backend, "--guarantee", "at-least-once"])
            .args(["--instance", "0", "--namespace", namespace])
            .args(&bus)
            .args(["--partitions", &PARTITIONS.to_string()])
            .args(["--decline-ratio", &DECLINE.to_string()])
            .args(["--seed", &SEED.to_string()])
            .args(["--http", &format!("127.0.0.1:{port}")]);
        if service == "payment" {
            command.args(["--gateway-url", &gateway_url]);
        }
        let file = std::fs::File::create(&log).expect("log file");
        let mut child = command
            .stdin(Stdio::null())
            .stdout(file.try_clone().expect("log file"))
            .stderr(file)
            .spawn()
            .expect("spawn order-platform");
        wait_healthy(service, port, &mut child, &log).await;
        processes.0.push(child);
        match service {
            "payment-gateway" => gateway_url = format!("http://127.0.0.1:{port}"),
            "order" => order_url = format!("http://127.0.0.1:{port}"),
            _ => {}
        }
    }
    (processes, order_url)
}

/// A run with order ids `o<seed>-same-<n>` (`--run-id same`): the reference and the
/// external run send the same orders, so the gateway declines the same ones (it decides
/// by order id) and their counts per event type can be compared one for one.
fn run(file: &Path, lab: &UpLab, runs: &Path) -> serde_json::Value {
    let output = run_command(file, &lab.file, runs)
        .args(["--run-id", "same"])
        .output()
        .expect("run harness");
    assert_eq!(output.status.code(), Some(0), "{}", said(&output));
    let name = file
        .file_stem()
        .expect("stem")
        .to_string_lossy()
        .to_string();
    results(runs, &name)
}

/// Distinct event ids per event type of the order flow, from a run's history.
fn steps(runs: &Path, name: &str) -> BTreeMap<String, usize> {
    let history = runs.join(name).join("latest").join("history.jsonl");
    let text = std::fs::read_to_string(&history).expect("history.jsonl");
    let mut ids: BTreeMap<String, std::collections::BTreeSet<String>> = BTreeMap::new();
    for line in text.lines() {
        let v: serde_json::Value = serde_json::from_str(line).expect("history line");
        let ty = v["event_type"].as_str().unwrap_or_default();
        if v["kind"] == "observe" && check::STEP_TYPES.contains(&ty) {
            let id = v["event_id"].as_str().expect("event_id").to_string();
            ids.entry(ty.to_string()).or_default().insert(id);
        }
    }
    ids.into_iter().map(|(t, s)| (t, s.len())).collect()
}

fn write(dir: &Path, name: &str, text: &str) -> PathBuf {
    let path = dir.join(format!("{name}.toml"));
    std::fs::write(&path, text).expect("write experiment");
    path
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_platform_started_by_hand_measures_like_the_one_the_harness_starts() {
    let lab = UpLab::up(1);
    let work = tempfile::tempdir().expect("tempdir");
    let runs = work.path().join("runs");

    let reference = write(
        work.path(),
        "byo-reference",
        &experiment("byo-reference", ""),
    );
    let usual = run(&reference, &lab, &runs);

    let namespace = common::unique("byo").replace('-', "");
    let (platform, order_url) = start_by_hand(&lab, &namespace, work.path()).await;
    let external = format!(
        "platform = \"external\"\n\n[system.external]\nnamespace = \"{namespace}\"\n\
         order_url = \"{order_url}\"\nterminal_types = [\"OrderShipped\", \"OrderCancelled\"]"
    );
    let foreign = write(
        work.path(),
        "byo-external",
        &experiment("byo-external", &external),
    );
    let measured = run(&foreign, &lab, &runs);
    // Read with fewer partitions than its topics have, the tap would miss entries:
    // refused before any load, naming the topic.
    let fewer = run_command(&foreign, &lab.file, &work.path().join("fewer"))
        .args(["--set", "system.partitions=2"])
        .output()
        .expect("run harness");
    assert_eq!(fewer.status.code(), Some(2), "{}", said(&fewer));
    let expected = format!(
        "topic {namespace}.orders at {} has {PARTITIONS} partition(s)",
        lab.bootstrap()
    );
    assert!(said(&fewer).contains(&expected), "{}", said(&fewer));
    // Measured again (the same experiment and seed), the system's topics now hold the
    // first run's events: the tap starts where they end, and the run draws its own run
    // id, so none of them is taken for this run's.
    let again = run_command(&foreign, &lab.file, &work.path().join("again"))
        .output()
        .expect("run harness");
    assert_eq!(again.status.code(), Some(0), "{}", said(&again));
    let second = results(&work.path().join("again"), "byo-external");
    assert_eq!(
        second["anomalies"]["phantom"]["count"], 0,
        "{}",
        second["reasons"]
    );
    assert_eq!(
        second["counts"]["observed"],
        second["counts"]["acknowledged"]
    );
    let run_id = second["config"]["run_id"].as_str().expect("a drawn run id");
    assert_ne!(run_id, "same");
    for anomaly in [
        "duplicate_delivery",
        "duplicate_effect",
        "ordering_violation",
    ] {
        assert_eq!(second["anomalies"][anomaly]["count"], 0, "{anomaly}");
    }
    // The direct driver produces OrderPlaced to the system's input topic itself.
    let direct_runs = work.path().join("direct");
    let direct = run_command(&foreign, &lab.file, &direct_runs)
        .args(["--set", "workload.driver=direct"])
        .output()
        .expect("run harness");
    assert_eq!(direct.status.code(), Some(0), "{}", said(&direct));
    let third = results(&direct_runs, "byo-external");
    assert!(third["counts"]["acknowledged"].as_u64().expect("acked") >= 100);
    assert_eq!(
        third["counts"]["completed"],
        third["counts"]["acknowledged"]
    );
    drop(platform);

    assert_eq!(usual["verdict"], "pass", "{}", usual["reasons"]);
    assert_eq!(
        measured["verdict"], usual["verdict"],
        "{}",
        measured["reasons"]
    );
    let reasons = measured["reasons"].to_string();
    assert!(
        reasons.contains("not checked: gateway double charges"),
        "{reasons}"
    );
    for count in ["attempted", "acknowledged", "observed", "completed"] {
        assert_eq!(
            measured["counts"][count], usual["counts"][count],
            "counts.{count}: external {} vs reference {}",
            measured["counts"], usual["counts"]
        );
    }
    assert!(usual["counts"]["acknowledged"].as_u64().expect("acked") >= 100);
    for (anomaly, value) in usual["anomalies"].as_object().expect("anomalies") {
        assert_eq!(
            measured["anomalies"][anomaly]["count"], value["count"],
            "anomaly {anomaly}"
        );
    }
    let usual_steps = steps(&runs, "byo-reference");
    assert!(usual_steps.contains_key("OrderShipped"), "{usual_steps:?}");
    assert!(
        usual_steps.contains_key("OrderCancelled"),
        "{usual_steps:?}"
    );
    assert_eq!(steps(&runs, "byo-external"), usual_steps);
    assert_eq!(
        measured["config"]["system"]["platform"]["external"]["namespace"],
        namespace
    );
}

/// On the same kind of lab: a cluster with fewer brokers than the experiment needs is
/// exit 2 before any load, naming the bootstrap and both numbers; a run interrupted
/// during its load still deletes what it created.
/// The same on Redis: the platform started by hand on a Redis-only lab, measured as
/// external through its order API, then again (its streams now hold the first run's
/// entries: the tap starts after their last ids, and the skipped entries are no
/// backlog, so the drain ends), then with the direct driver producing `OrderPlaced` to
/// its input stream itself.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn on_redis_a_platform_started_by_hand_is_measured_run_after_run() {
    let lab = UpLab::up(0);
    let work = tempfile::tempdir().expect("tempdir");
    let namespace = common::unique("byor").replace('-', "");
    let (platform, order_url) = start_by_hand_on(&lab, "redis", &namespace, work.path()).await;
    let external = format!(
        "platform = \"external\"\n\n[system.external]\nnamespace = \"{namespace}\"\n\
         order_url = \"{order_url}\""
    );
    let text =
        experiment("byo-redis", &external).replace("backend = \"kafka\"", "backend = \"redis\"");
    let file = write(work.path(), "byo-redis", &text);
    for (round, extra) in [(1, None), (2, None), (3, Some("workload.driver=direct"))] {
        let runs = work.path().join(format!("round-{round}"));
        let mut command = run_command(&file, &lab.file, &runs);
        if let Some(set) = extra {
            command.args(["--set", set]);
        }
        let output = command.output().expect("run harness");
        assert_eq!(
            output.status.code(),
            Some(0),
            "round {round}: {}",
            said(&output)
        );
        let r = results(&runs, "byo-redis");
        assert_eq!(r["verdict"], "pass", "round {round}: {}", r["reasons"]);
        assert!(
            r["counts"]["acknowledged"].as_u64().expect("acked") >= 100,
            "round {round}"
        );
        assert_eq!(
            r["counts"]["completed"], r["counts"]["acknowledged"],
            "round {round}"
        );
        for anomaly in [
            "phantom",
            "duplicate_delivery",
            "duplicate_effect",
            "ordering_violation",
        ] {
            assert_eq!(
                r["anomalies"][anomaly]["count"], 0,
                "round {round}: {anomaly}"
            );
        }
        // The drain ended because the system caught up, not because time ran out.
        let drain = r["drain"]["ended"].as_str().unwrap_or("");
        assert!(
            matches!(drain, "finished" | "idle"),
            "round {round}: drain {drain}"
        );
    }
    drop(platform);
}

#[test]
fn too_few_brokers_are_refused_and_an_interrupted_run_cleans_up() {
    let lab = UpLab::up(1);
    let work = tempfile::tempdir().expect("tempdir");
    let runs = work.path().join("runs");
    let three = experiment("byo-three", "brokers = 3");
    let file = write(work.path(), "byo-three", &three);
    let output = run_command(&file, &lab.file, &runs)
        .output()
        .expect("run harness");
    assert_eq!(output.status.code(), Some(2), "{}", said(&output));
    let expected = format!(
        "the Kafka cluster at {} has 1 broker(s); the experiment needs 3",
        lab.bootstrap()
    );
    assert!(said(&output).contains(&expected), "{}", said(&output));
    assert!(histories(&runs).is_empty(), "no load was sent");

    // --keep: what the run created stays, and it says so.
    let keep = experiment("byo-keep", "").replace("duration = \"5s\"", "duration = \"2s\"");
    let file = write(work.path(), "byo-keep", &keep);
    let kept = run_command(&file, &lab.file, &runs)
        .arg("--keep")
        .output()
        .expect("run harness");
    assert_eq!(kept.status.code(), Some(0), "{}", said(&kept));
    let stdout = String::from_utf8_lossy(&kept.stdout);
    let namespace = stdout
        .split("harness: --keep: the run's streams, topics and groups (namespace ")
        .nth(1)
        .and_then(|rest| rest.split(')').next())
        .unwrap_or_else(|| panic!("no --keep line: {stdout}"))
        .to_string();
    let topics = kafka_names(lab.bootstrap()).0;
    assert!(
        topics.contains(&format!("{namespace}.orders")),
        "{namespace}: {topics:?}"
    );
    assert_eq!(
        results(&runs, "byo-keep")["environment"]["external_lab"]["kept"],
        true
    );

    let before = kafka_names(lab.bootstrap());
    let long = experiment("byo-long", "").replace("duration = \"5s\"", "duration = \"60s\"");
    let file = write(work.path(), "byo-long", &long);
    let interrupted = work.path().join("interrupted");
    let mut child = run_command(&file, &lab.file, &interrupted)
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .expect("spawn harness run");
    // Interrupt once orders are being sent (send lines in the history).
    let deadline = Instant::now() + Duration::from_secs(120);
    while !histories(&interrupted)
        .iter()
        .any(|h| std::fs::read_to_string(h).is_ok_and(|t| t.contains("\"kind\":\"send\"")))
    {
        assert!(Instant::now() < deadline, "the run never started sending");
        std::thread::sleep(Duration::from_millis(200));
    }
    nix::sys::signal::kill(
        nix::unistd::Pid::from_raw(child.id() as i32),
        nix::sys::signal::Signal::SIGINT,
    )
    .expect("SIGINT");
    let status = common::wait_exit(&mut child, Duration::from_secs(120));
    let output = child.wait_with_output().expect("output");
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert_eq!(status.code(), Some(130), "{stdout}");
    assert!(stdout.contains("harness: deleted the run's"), "{stdout}");
    assert_nothing_left(lab.bootstrap(), &before, "the interrupted run");
}
