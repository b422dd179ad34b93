//! The highest sustained order rate per backend × delivery mode × instances on this
//! machine, beside what the brokers themselves do on the same lab in the same run.
//!
//! For each combination a fresh deployment (N instances of every service but the
//! gateway, Redis and one Kafka broker from the lab, 6 partitions) takes a warm-up, then
//! `BENCH_ORDERS` orders (default 20 000) from `BENCH_CLIENTS` concurrent HTTP clients
//! (default 128) as fast as it accepts them. For every row the CPU each process group
//! used is read from `/proc` and printed. The sustained rate is orders / time until the last one reached its
//! terminal event (shipped or cancelled): the pipeline's end-to-end throughput at
//! saturation, which bounds any open-loop rate the platform can keep up with. The
//! events every order caused (counted on every topic afterwards) give the pipeline's
//! events/s.
//!
//! The ceilings, measured first: `redis-benchmark` XADD (400-byte payloads, 32
//! clients, without and with a pipeline of 16) and Kafka's `ProducerPerformance`
//! (400-byte records, acks=all), each straight to the broker and through its Toxiproxy
//! proxy (the path the services take). Last, Redis at-least-once again with a 25 ms
//! latency toxic on Redis's proxy (`BENCH_LATENCY_MS`, 0 skips it).
//!
//! Run: `cargo bench -p order-platform --bench throughput` (needs `lab/install`).
//! `BENCH_INSTANCES=1,2` picks the instance counts; a filter argument picks rows by
//! name (`redis-at-least-once-x1`, `kafka`, `ceiling`, `latency`). `HARNESS_SUT` points
//! at another `order-platform` binary (an older build, for a before/after table).
//! Prints a Markdown table and writes it to `target/bench-throughput.md`.

#[path = "../tests/common/mod.rs"]
mod common;

use std::collections::HashSet;
use std::process::Command;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use common::{Options, Platform};
use events::{Envelope, Topic};
use futures::StreamExt;
use lab::toxiproxy::Toxic;
use order_platform::bus::{Backend, BusConfig, Guarantee, Producer, Reader};

/// Concurrent HTTP clients placing orders (`BENCH_CLIENTS`).
fn clients() -> usize {
    std::env::var("BENCH_CLIENTS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(128)
}

/// Concurrent clients of `redis-benchmark`.
const CONCURRENCY: usize = 32;
const PAYLOAD: usize = 400;

struct Row {
    backend: Backend,
    guarantee: Guarantee,
    instances: u32,
    note: String,
    orders: usize,
    accepted_per_s: f64,
    completed: usize,
    sustained_per_s: f64,
    events_per_order: f64,
    /// Cores used per process group over the row (load and drain).
    cpu: Vec<(String, f64)>,
}

/// CPU time so far (user + system) of a process, in clock ticks.
fn cpu_ticks(pid: &str) -> Option<u64> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    // After the command's closing parenthesis: state is field 3, utime 14, stime 15.
    let fields: Vec<&str> = stat.rsplit_once(')')?.1.split_whitespace().collect();
    Some(fields.get(11)?.parse::<u64>().ok()? + fields.get(12)?.parse::<u64>().ok()?)
}

/// Clock ticks per second (`getconf CLK_TCK`; 100 on Linux).
fn ticks_per_second() -> f64 {
    Command::new("getconf")
        .arg("CLK_TCK")
        .output()
        .ok()
        .and_then(|o| String::from_utf8_lossy(&o.stdout).trim().parse().ok())
        .unwrap_or(100.0)
}

/// The processes of a row, by group: the brokers and Toxiproxy, each service (its
/// instances together), and this process (the load generator and the tap).
fn processes(platform: &Platform) -> Vec<(String, String)> {
    let mut out: Vec<(String, String)> = platform
        .lab()
        .pids()
        .into_iter()
        .filter_map(|(id, pid)| Some((id.to_string(), pid?.to_string())))
        .collect();
    for (service, _, pid) in platform.pids() {
        if let Some(pid) = pid {
            out.push((service, pid.to_string()));
        }
    }
    out.push(("load + tap (this benchmark)".into(), "self".into()));
    out
}

fn cpu_snapshot(processes: &[(String, String)]) -> Vec<Option<u64>> {
    processes.iter().map(|(_, pid)| cpu_ticks(pid)).collect()
}

/// Cores used per group between two snapshots, busiest first.
fn cores(
    processes: &[(String, String)],
    before: &[Option<u64>],
    after: &[Option<u64>],
    elapsed: Duration,
) -> Vec<(String, f64)> {
    let mut groups: Vec<(String, f64)> = Vec::new();
    let per_s = ticks_per_second() * elapsed.as_secs_f64().max(1e-3);
    for (((group, _), b), a) in processes.iter().zip(before).zip(after) {
        let (Some(b), Some(a)) = (b, a) else { continue };
        let used = a.saturating_sub(*b) as f64 / per_s;
        match groups.iter_mut().find(|(g, _)| g == group) {
            Some((_, total)) => *total += used,
            None => groups.push((group.clone(), used)),
        }
    }
    groups.sort_by(|a, b| b.1.total_cmp(&a.1));
    groups
}

/// A broker's own rate, in messages per second.
struct Ceiling {
    name: String,
    per_s: Option<f64>,
    how: String,
}

/// Counts orders that reached a terminal event, following the topics as they grow.
fn track(platform: &Platform, done: Arc<AtomicUsize>) -> tokio::task::JoinHandle<()> {
    let config = platform.reader_config();
    tokio::spawn(async move {
        let mut reader = Reader::connect(&config, &["orders", "shipping"])
            .await
            .expect("reader");
        let mut terminal = HashSet::new();
        loop {
            let Ok(batch) = reader.next_batch(2000, Duration::from_millis(200)).await else {
                continue;
            };
            for d in batch {
                let Ok(e) = Envelope::from_bytes(&d.payload) else {
                    continue;
                };
                if matches!(e.event_type.as_str(), "OrderShipped" | "OrderCancelled")
                    && terminal.insert(e.key.clone())
                {
                    done.store(terminal.len(), Ordering::Relaxed);
                }
            }
        }
    })
}

/// Every event the deployment's topics hold, read from the beginning.
async fn count_events(platform: &Platform) -> usize {
    let topics: Vec<&str> = Topic::ALL.iter().map(|t| t.as_str()).collect();
    let mut reader = Reader::connect(&platform.reader_config(), &topics)
        .await
        .expect("reader");
    let (mut count, mut idle) = (0, 0);
    while idle < 3 {
        match reader.next_batch(5000, Duration::from_millis(300)).await {
            Ok(batch) if !batch.is_empty() => {
                count += batch.len();
                idle = 0;
            }
            _ => idle += 1,
        }
    }
    count
}

async fn measure(
    backend: Backend,
    guarantee: Guarantee,
    instances: u32,
    orders: usize,
    redis_latency: Option<Duration>,
) -> Row {
    let options = Options {
        instances,
        skus: 50,
        initial_stock: 1_000_000,
        decline_ratio: 0.02,
        partitions: 6,
        ..Options::default()
    };
    let platform = Platform::start(backend, guarantee, options).await;
    let warm = platform.place_many("warm", 20).await;
    assert!(
        platform
            .wait_terminal(&warm, Duration::from_secs(60))
            .await
            .is_empty(),
        "warm-up did not complete"
    );
    let redis_proxy = platform
        .lab()
        .endpoints()
        .redis
        .as_ref()
        .expect("redis")
        .proxy
        .clone();
    if let Some(latency) = redis_latency {
        platform
            .toxiproxy()
            .add_toxic(
                &redis_proxy,
                &Toxic::latency("bench-latency", latency, Duration::ZERO),
            )
            .await
            .expect("latency toxic");
    }
    let done = Arc::new(AtomicUsize::new(0));
    let tracker = track(&platform, done.clone());
    let processes = processes(&platform);
    let cpu_before = cpu_snapshot(&processes);

    let started = Instant::now();
    let accepted = futures::stream::iter(0..orders)
        .map(|i| {
            let platform = &platform;
            async move {
                platform
                    .place(&format!("b-{i}"), (i % 50) as u32, 1)
                    .await
                    .is_ok()
            }
        })
        .buffer_unordered(clients())
        .filter(|ok| std::future::ready(*ok))
        .count()
        .await;
    let accepted_after = started.elapsed();
    let target = accepted + warm.len();
    let deadline = started + Duration::from_secs(300);
    while done.load(Ordering::Relaxed) < target && Instant::now() < deadline {
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let elapsed = started.elapsed();
    let cpu = cores(&processes, &cpu_before, &cpu_snapshot(&processes), elapsed);
    tracker.abort();
    if redis_latency.is_some() {
        let _ = platform
            .toxiproxy()
            .remove_toxic(&redis_proxy, "bench-latency")
            .await;
    }
    let completed = done.load(Ordering::Relaxed).saturating_sub(warm.len());
    let events = count_events(&platform).await;
    Row {
        backend,
        guarantee,
        instances,
        note: redis_latency.map_or(String::new(), |l| format!("Redis +{} ms", l.as_millis())),
        orders,
        accepted_per_s: accepted as f64 / accepted_after.as_secs_f64(),
        completed,
        sustained_per_s: completed as f64 / elapsed.as_secs_f64(),
        events_per_order: events as f64 / (accepted + warm.len()).max(1) as f64,
        cpu,
    }
}

/// `redis-benchmark` XADD of 400-byte payloads from 32 clients.
fn redis_ceiling(label: &str, addr: std::net::SocketAddr, pipeline: u32) -> Ceiling {
    let payload = "x".repeat(PAYLOAD);
    let args = [
        "-h".to_string(),
        addr.ip().to_string(),
        "-p".into(),
        addr.port().to_string(),
        "-n".into(),
        "200000".into(),
        "-c".into(),
        CONCURRENCY.to_string(),
        "-P".into(),
        pipeline.to_string(),
        "-q".into(),
        "XADD".into(),
        "bench:ceiling".into(),
        "MAXLEN".into(),
        "~".into(),
        "100000".into(),
        "*".into(),
        "payload".into(),
        payload,
    ];
    let how = format!("redis-benchmark -n 200000 -c {CONCURRENCY} -P {pipeline} XADD (400 B)");
    let bin = lab::Installation::discover()
        .map(|i| i.home.join("bin/redis-benchmark"))
        .expect("the lab is installed (`lab/install`)");
    let per_s = Command::new(bin).args(&args).output().ok().and_then(|out| {
        // "XADD ...: 67024.13 requests per second, p50=..."; with -q the progress
        // lines end in \r, the result line is last.
        let text = String::from_utf8_lossy(&out.stdout).into_owned();
        let line = text
            .rsplit(['\r', '\n'])
            .find(|l| l.contains("requests per second"))?;
        let before = line.split(" requests per second").next()?;
        before.rsplit(' ').next()?.parse::<f64>().ok()
    });
    if per_s.is_none() {
        eprintln!(
            "  redis-benchmark failed or printed no rate (is redis-tools installed? `lab/install`)"
        );
    }
    Ceiling {
        name: format!("redis XADD, {label}, pipeline {pipeline}"),
        per_s,
        how,
    }
}

/// Kafka's `ProducerPerformance`: 200 000 records of 400 bytes, acks=all, as fast as
/// it can.
async fn kafka_ceiling(label: &str, bootstrap: &str, bus: &BusConfig) -> Ceiling {
    // The topic, created by the platform's own producer with the benchmark's partitions.
    let topic = bus.physical("ceiling");
    let _ = Producer::connect(bus).await;
    let home = lab::Installation::discover()
        .map(|i| i.home)
        .expect("the lab is installed (`lab/install`)");
    let classpath = format!("{}/kafka/libs/*", home.display());
    let how = "ProducerPerformance --num-records 200000 --record-size 400 acks=all".to_string();
    let java = lab::java().expect("java for ProducerPerformance (`lab/install`)");
    let out = Command::new(java)
        .args([
            "-cp",
            &classpath,
            "org.apache.kafka.tools.ProducerPerformance",
            "--topic",
            &topic,
            "--num-records",
            "200000",
            "--record-size",
            &PAYLOAD.to_string(),
            "--throughput",
            "-1",
            "--producer-props",
            &format!("bootstrap.servers={bootstrap}"),
            "acks=all",
        ])
        .output();
    // The last line: "200000 records sent, 31250.0 records/sec (11.92 MB/sec), ...".
    let per_s = out.ok().and_then(|out| {
        let text = String::from_utf8_lossy(&out.stdout).into_owned();
        let line = text.lines().rev().find(|l| l.contains("records/sec"))?;
        let before = line.split(" records/sec").next()?;
        before.rsplit(' ').next()?.parse::<f64>().ok()
    });
    if per_s.is_none() {
        eprintln!("  ProducerPerformance failed or printed no rate");
    }
    Ceiling {
        name: format!("kafka produce, {label}"),
        per_s,
        how,
    }
}

async fn ceilings() -> Vec<Ceiling> {
    let lab = common::lab().await;
    let e = lab.endpoints();
    let redis = e.redis.as_ref().expect("redis");
    let kafka = e.kafka.as_ref().expect("kafka");
    let mut out = Vec::new();
    for (label, addr) in [
        ("direct", redis.direct),
        ("through its proxy", redis.proxied),
    ] {
        for pipeline in [1, 16] {
            eprintln!("ceiling: redis-benchmark XADD {label}, pipeline {pipeline} ...");
            out.push(redis_ceiling(label, addr, pipeline));
        }
    }
    let bus = Platform::reader_only(Backend::Kafka).await.reader_config();
    let bus = BusConfig {
        partitions: 6,
        topics: vec!["ceiling".into()],
        ..bus
    };
    for (label, bootstrap) in [
        ("direct", kafka.bootstrap_direct.as_str()),
        ("through its proxy", kafka.bootstrap_proxied.as_str()),
    ] {
        eprintln!("ceiling: ProducerPerformance {label} ...");
        out.push(kafka_ceiling(label, bootstrap, &bus).await);
    }
    out
}

fn list(var: &str, default: &str) -> Vec<u32> {
    std::env::var(var)
        .unwrap_or_else(|_| default.into())
        .split(',')
        .filter_map(|v| v.trim().parse().ok())
        .collect()
}

fn table(rows: &[Row], ceilings: &[Ceiling]) -> String {
    let rate = |name: &str| {
        ceilings
            .iter()
            .find(|c| c.name == name)
            .and_then(|c| c.per_s)
    };
    let redis_ceiling = rate("redis XADD, through its proxy, pipeline 1");
    let kafka_ceiling = rate("kafka produce, through its proxy");
    let mut t = String::from(
        "| backend | mode | instances | orders | accepted/s (HTTP) | sustained orders/s (end to end) | completed | events/order | events/s | of the broker's ceiling |\n| --- | --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |\n",
    );
    for r in rows {
        let events_per_s = r.sustained_per_s * r.events_per_order;
        let ceiling = match r.backend {
            Backend::Redis => redis_ceiling,
            Backend::Kafka => kafka_ceiling,
        };
        let fraction = ceiling.map_or("-".into(), |c| format!("{:.0} %", 100.0 * events_per_s / c));
        let mode = if r.note.is_empty() {
            r.guarantee.name().to_string()
        } else {
            format!("{} ({})", r.guarantee.name(), r.note)
        };
        t.push_str(&format!(
            "| {:?} | {mode} | {} | {} | {:.0} | {:.0} | {} | {:.1} | {:.0} | {fraction} |\n",
            r.backend,
            r.instances,
            r.orders,
            r.accepted_per_s,
            r.sustained_per_s,
            r.completed,
            r.events_per_order,
            events_per_s,
        ));
    }
    t.push_str("\nWhere the CPU went (cores used over each row's load and drain, of 2):\n\n");
    for r in rows {
        let groups: Vec<String> = r
            .cpu
            .iter()
            .filter(|(_, c)| *c >= 0.01)
            .map(|(g, c)| format!("{g} {c:.2}"))
            .collect();
        let total: f64 = r.cpu.iter().map(|(_, c)| c).sum();
        t.push_str(&format!(
            "- {:?} {} x{}{}: {total:.2} in all — {}\n",
            r.backend,
            r.guarantee.name(),
            r.instances,
            if r.note.is_empty() {
                String::new()
            } else {
                format!(" ({})", r.note)
            },
            groups.join(", ")
        ));
    }
    if !ceilings.is_empty() {
        t.push_str("\n| ceiling | messages/s | measured with |\n| --- | ---: | --- |\n");
        for c in ceilings {
            t.push_str(&format!(
                "| {} | {} | {} |\n",
                c.name,
                c.per_s.map_or("failed".into(), |r| format!("{r:.0}")),
                c.how
            ));
        }
        t.push_str("\nThe fraction compares the pipeline's events/s with the unpipelined ceiling through the proxy (XADD on Redis, produce on Kafka).\n");
    }
    t
}

#[tokio::main(flavor = "multi_thread", worker_threads = 2)]
async fn main() {
    // `cargo bench` passes `--bench`; a filter argument picks rows by name.
    let filter: Vec<String> = std::env::args()
        .skip(1)
        .filter(|a| !a.starts_with("--"))
        .collect();
    let wanted = |name: &str| filter.is_empty() || filter.iter().any(|f| name.contains(f.as_str()));
    let orders: usize = std::env::var("BENCH_ORDERS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(20000);
    let latency_ms = list("BENCH_LATENCY_MS", "25").first().copied().unwrap_or(0);
    let ceilings = if wanted("ceiling") {
        ceilings().await
    } else {
        Vec::new()
    };
    let mut rows = Vec::new();
    for instances in list("BENCH_INSTANCES", "1,2") {
        for backend in [Backend::Redis, Backend::Kafka] {
            for guarantee in [
                Guarantee::AtMostOnce,
                Guarantee::AtLeastOnce,
                Guarantee::ExactlyOnce,
            ] {
                let name = format!("{backend:?}-{}-x{instances}", guarantee.name()).to_lowercase();
                if !wanted(&name) {
                    continue;
                }
                eprintln!("measuring {name} with {orders} orders ...");
                let row = measure(backend, guarantee, instances, orders, None).await;
                eprintln!(
                    "  {:.0} orders/s sustained ({} of {} completed)",
                    row.sustained_per_s, row.completed, row.orders
                );
                rows.push(row);
            }
        }
    }
    let latency_name = "redis-at-least-once-x1-latency";
    if latency_ms > 0 && wanted(latency_name) {
        let latency = Duration::from_millis(u64::from(latency_ms));
        let n = (orders / 2).max(100);
        eprintln!("measuring {latency_name} ({latency_ms} ms on Redis) with {n} orders ...");
        let row = measure(Backend::Redis, Guarantee::AtLeastOnce, 1, n, Some(latency)).await;
        eprintln!("  {:.0} orders/s sustained", row.sustained_per_s);
        rows.push(row);
    }
    let table = table(&rows, &ceilings);
    println!("{table}");
    let out =
        std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../../target/bench-throughput.md");
    if let Err(e) = std::fs::write(&out, &table) {
        eprintln!("could not write {}: {e}", out.display());
    }
}
