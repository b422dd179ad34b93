//! `harness run --endpoints` against a lab someone else started: a three-broker lab
//! brought up by `harness lab up --json` in its own process, as a user would. A run with
//! a network fault through that lab's Toxiproxy passes, leaves the lab running and holds
//! none of the run's topics, groups or proxies afterwards; `lab down` then leaves nothing.
//! Refused before any load, with exit 2: a process fault on a lab service (located in the
//! file), an unreachable endpoint (named), a proxy Toxiproxy lacks (named).

mod common;

use std::path::{Path, PathBuf};

use common::external::{
    UpLab, assert_nothing_left, harness, histories, kafka_names, results, run_command, said,
};

const NETWORK_FAULT: &str = r#"
name = "external-latency"
seed = 7
duration = "6s"
warmup = "2s"
drain_timeout = "40s"

[system]
backend = "kafka"
brokers = 3
partitions = 3

[workload]
rate = 20

[[faults]]
at = "1s"
for = "3s"
kind = "latency"
target = "kafka-1"
latency = "100ms"
"#;

const REDIS_FAULT: &str = r#"
name = "external-redis"
duration = "4s"
warmup = "1s"
drain_timeout = "30s"

[system]
backend = "redis"

[workload]
rate = 20

[[faults]]
at = "1s"
for = "2s"
kind = "latency"
target = "redis"
latency = "50ms"
"#;

const PROCESS_FAULT: &str = r#"
name = "external-kill"
duration = "6s"

[system]
backend = "kafka"
brokers = 3

[workload]
rate = 20

[[faults]]
at = "1s"
restart_after = "2s"
kind = "kill"
target = "kafka-1"
"#;

fn write(dir: &Path, name: &str, text: &str) -> PathBuf {
    let path = dir.join(name);
    std::fs::write(&path, text).expect("write file");
    path
}

fn run(experiment: &Path, endpoints: &Path, runs: &Path) -> std::process::Output {
    run_command(experiment, endpoints, runs)
        .output()
        .expect("run harness")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_run_against_an_external_lab_passes_and_leaves_nothing_of_itself() {
    let lab = UpLab::up(3);
    let work = tempfile::tempdir().expect("tempdir");
    let runs = work.path().join("runs");
    let before = kafka_names(lab.bootstrap());

    // A process fault on a service of the external lab: refused, located, by both.
    let kill = write(work.path(), "kill.toml", PROCESS_FAULT);
    let validate = harness()
        .arg("validate")
        .arg(&kill)
        .arg("--endpoints")
        .arg(&lab.file)
        .output()
        .expect("run harness validate");
    let located = format!(
        "{}:16:10: faults[0].target: `kill` on `kafka-1`: the lab is external",
        kill.display()
    );
    assert_eq!(validate.status.code(), Some(2), "{}", said(&validate));
    assert!(said(&validate).contains(&located), "{}", said(&validate));
    let refused = run(&kill, &lab.file, &runs);
    assert_eq!(refused.status.code(), Some(2), "{}", said(&refused));
    assert!(said(&refused).contains(&located), "{}", said(&refused));

    let experiment = write(work.path(), "latency.toml", NETWORK_FAULT);
    let output = run(&experiment, &lab.file, &runs);
    assert_eq!(output.status.code(), Some(0), "{}", said(&output));
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(stdout.contains("harness: deleted the run's"), "{stdout}");
    assert!(!stdout.contains("could not"), "{stdout}");
    // It did create topics and groups (so their absence below is the cleanup's doing).
    let deleted = |what: &str| -> u64 {
        let line = stdout
            .lines()
            .find(|l| l.contains("deleted the run's"))
            .expect("line");
        let before = line.split(what).next().expect("count");
        before
            .rsplit(' ')
            .next()
            .and_then(|n| n.parse().ok())
            .unwrap_or(0)
    };
    assert!(deleted(" topic(s)") > 0, "{stdout}");
    assert!(deleted(" consumer group(s)") > 0, "{stdout}");
    let doc = results(&runs, "external-latency");
    assert_eq!(doc["verdict"], "pass", "{}", doc["reasons"]);
    assert_eq!(doc["faults"][0]["target"], "kafka-1");
    assert!(doc["counts"]["acknowledged"].as_u64().expect("acked") >= 100);
    assert_eq!(
        doc["environment"]["external_lab"]["endpoints_file"],
        lab.file.display().to_string()
    );
    assert_eq!(doc["environment"]["external_lab"]["kept"], false);

    // The lab still runs, and holds none of the run's topics, groups or proxies.
    let status = lab.lab(&["status", "--json"]);
    assert!(status.status.success(), "{}", said(&status));
    let doc: serde_json::Value = serde_json::from_slice(&status.stdout).expect("status JSON");
    assert_eq!(doc["up"], true, "{doc}");
    let pids: Vec<u32> = doc["processes"]
        .as_array()
        .expect("processes")
        .iter()
        .map(|p| p["pid"].as_u64().expect("pid") as u32)
        .collect();
    assert_eq!(pids.len(), 5, "{doc}");
    assert!(pids.iter().all(|&p| common::alive(p)), "{doc}");
    assert_nothing_left(lab.bootstrap(), &before, "the run");
    let toxiproxy = lab::Lab::external(lab.endpoints.clone())
        .toxiproxy()
        .expect("toxiproxy");
    let proxies = toxiproxy.proxies().await.expect("proxies");
    let mut names: Vec<&String> = proxies.keys().collect();
    names.sort();
    assert_eq!(
        names,
        ["kafka-1", "kafka-2", "kafka-3", "redis"],
        "only the lab's own proxies are left"
    );
    assert!(
        proxies.values().all(|p| p.toxics.is_empty() && p.enabled),
        "{proxies:?}"
    );

    // On Redis too, with the endpoints named in the file (`[lab] endpoints`, relative
    // to it): the run's streams and keys are gone afterwards.
    std::fs::copy(&lab.file, work.path().join("cluster.json")).expect("copy endpoints");
    let text = format!("{REDIS_FAULT}\n[lab]\nendpoints = \"cluster.json\"\n");
    let redis = write(work.path(), "redis.toml", &text);
    let output = harness()
        .arg("run")
        .arg(&redis)
        .args(["--quiet", "--runs"])
        .arg(&runs)
        .output()
        .expect("run harness");
    assert_eq!(output.status.code(), Some(0), "{}", said(&output));
    let doc = results(&runs, "external-redis");
    assert_eq!(doc["verdict"], "pass", "{}", doc["reasons"]);
    let recorded = doc["environment"]["external_lab"]["endpoints_file"].to_string();
    assert!(recorded.ends_with("cluster.json\""), "{recorded}");
    let stdout = String::from_utf8_lossy(&output.stdout);
    let line = stdout
        .lines()
        .find(|l| l.contains("deleted the run's"))
        .unwrap_or_default();
    let keys: u64 = line
        .split(" Redis key(s)")
        .next()
        .and_then(|b| b.rsplit(' ').next())
        .and_then(|n| n.parse().ok())
        .unwrap_or(0);
    assert!(keys > 0, "{stdout}");
    let url = lab.endpoints.redis.as_ref().expect("redis").direct_url();
    let mut conn = redis::Client::open(url)
        .expect("redis client")
        .get_multiplexed_async_connection()
        .await
        .expect("redis connection");
    let left: Vec<String> = redis::cmd("KEYS")
        .arg("*")
        .query_async(&mut conn)
        .await
        .expect("KEYS");
    assert!(left.is_empty(), "the run left Redis keys: {left:?}");

    // An unreachable endpoint: exit 2 naming it, before any load.
    let mut unreachable = lab.endpoints.clone();
    unreachable.kafka.as_mut().expect("kafka").bootstrap_direct = "127.0.0.1:1".into();
    let file = write(
        work.path(),
        "unreachable.json",
        &serde_json::to_string(&unreachable).expect("json"),
    );
    let quiet_runs = work.path().join("refused");
    let output = run(&experiment, &file, &quiet_runs);
    assert_eq!(output.status.code(), Some(2), "{}", said(&output));
    assert!(said(&output).contains("127.0.0.1:1"), "{}", said(&output));
    assert!(
        said(&output).contains("unreachable.json"),
        "{}",
        said(&output)
    );
    assert!(histories(&quiet_runs).is_empty(), "no load was sent");

    // A proxy Toxiproxy lacks (the file names one it does not have): exit 2 naming it.
    let mut missing = lab.endpoints.clone();
    let broker = &mut missing.kafka.as_mut().expect("kafka").brokers[0];
    broker.proxy = "kafka-1-elsewhere".into();
    missing.proxies[1].name = "kafka-1-elsewhere".into();
    let file = write(
        work.path(),
        "missing.json",
        &serde_json::to_string(&missing).expect("json"),
    );
    let output = run(&experiment, &file, &quiet_runs);
    assert_eq!(output.status.code(), Some(2), "{}", said(&output));
    assert!(
        said(&output).contains("proxy `kafka-1-elsewhere` does not exist"),
        "{}",
        said(&output)
    );
    assert!(histories(&quiet_runs).is_empty(), "no load was sent");

    // `lab down` leaves nothing: no process, no directory.
    let down = lab.lab(&["down"]);
    assert!(down.status.success(), "{}", said(&down));
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
    while pids.iter().any(|&p| common::alive(p)) {
        assert!(
            std::time::Instant::now() < deadline,
            "still running: {pids:?}"
        );
        std::thread::sleep(std::time::Duration::from_millis(50));
    }
    assert!(!lab.dir.exists(), "lab down removes its directory");
}
