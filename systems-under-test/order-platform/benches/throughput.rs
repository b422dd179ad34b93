//! The highest sustained order rate per backend × delivery mode on this machine.
//!
//! For each combination a fresh deployment (one instance per service, Redis and one
//! Kafka broker from the lab, 6 partitions) takes a warm-up, then `BENCH_ORDERS` orders
//! (default 2000) from 32 concurrent HTTP clients as fast as it accepts them. The
//! sustained rate is orders / time until the last one reached its terminal event
//! (shipped or cancelled): the pipeline's end-to-end throughput at saturation, which
//! bounds any open-loop rate the platform can keep up with.
//!
//! Run: `cargo bench -p order-platform --bench throughput` (needs `lab/install`).
//! Prints a Markdown table and writes it to `target/bench-throughput.md`.

#[path = "../tests/common/mod.rs"]
mod common;

use std::collections::HashSet;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use common::{Options, Platform};
use events::Envelope;
use futures::StreamExt;
use order_platform::bus::{Backend, Guarantee, Reader};

const CONCURRENCY: usize = 32;

struct Row {
    backend: Backend,
    guarantee: Guarantee,
    orders: usize,
    accepted_per_s: f64,
    completed: usize,
    sustained_per_s: f64,
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

async fn measure(backend: Backend, guarantee: Guarantee, orders: usize) -> Row {
    let options = Options {
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
    let done = Arc::new(AtomicUsize::new(0));
    let tracker = track(&platform, done.clone());

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
        .buffer_unordered(CONCURRENCY)
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
    tracker.abort();
    let completed = done.load(Ordering::Relaxed).saturating_sub(warm.len());
    Row {
        backend,
        guarantee,
        orders,
        accepted_per_s: accepted as f64 / accepted_after.as_secs_f64(),
        completed,
        sustained_per_s: completed as f64 / elapsed.as_secs_f64(),
    }
}

#[tokio::main(flavor = "multi_thread", worker_threads = 2)]
async fn main() {
    // `cargo bench` passes `--bench`; a filter argument picks combinations by name.
    let filter: Vec<String> = std::env::args()
        .skip(1)
        .filter(|a| !a.starts_with("--"))
        .collect();
    let orders: usize = std::env::var("BENCH_ORDERS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(2000);
    let mut rows = Vec::new();
    for backend in [Backend::Redis, Backend::Kafka] {
        for guarantee in [
            Guarantee::AtMostOnce,
            Guarantee::AtLeastOnce,
            Guarantee::ExactlyOnce,
        ] {
            let name = format!("{backend:?}-{}", guarantee.name()).to_lowercase();
            if !filter.is_empty() && !filter.iter().any(|f| name.contains(f.as_str())) {
                continue;
            }
            eprintln!("measuring {name} with {orders} orders ...");
            let row = measure(backend, guarantee, orders).await;
            eprintln!(
                "  {:.0} orders/s sustained ({} of {} completed)",
                row.sustained_per_s, row.completed, row.orders
            );
            rows.push(row);
        }
    }
    let mut table = String::from(
        "| backend | mode | orders | accepted/s (HTTP) | sustained orders/s (end to end) | completed |\n| --- | --- | ---: | ---: | ---: | ---: |\n",
    );
    for r in &rows {
        table.push_str(&format!(
            "| {:?} | {} | {} | {:.0} | {:.0} | {} |\n",
            r.backend,
            r.guarantee.name(),
            r.orders,
            r.accepted_per_s,
            r.sustained_per_s,
            r.completed
        ));
    }
    println!("{table}");
    let out =
        std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../../target/bench-throughput.md");
    if let Err(e) = std::fs::write(&out, &table) {
        eprintln!("could not write {}: {e}", out.display());
    }
}
