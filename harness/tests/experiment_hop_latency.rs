//! experiments/hop-latency.toml twice, side by side in one test: once with its 100 ms
//! latency toxic on the Kafka broker link and once with the same toxic at 0 ms. Every
//! hop of the saga must move by 100 ms ± 15 % at the median: the harness measures what
//! it injects, no more and no less.

mod experiments_common;

use experiments_common::run;

/// The saga's hops, each one consumer reading a cause and producing its effect.
const HOPS: [&str; 4] = [
    "OrderPlaced->StockReserved",
    "StockReserved->PaymentCaptured",
    "PaymentCaptured->OrderConfirmed",
    "OrderConfirmed->OrderShipped",
];

/// Each hop's p50 in µs, from the one run under `runs`.
fn hop_p50s(runs: &std::path::Path, output: &std::process::Output) -> Vec<(String, f64, u64)> {
    assert_eq!(
        output.status.code(),
        Some(0),
        "{}\n{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
    let path = runs.join("hop-latency/latest/results.json");
    let text = std::fs::read_to_string(&path).expect("results.json");
    let doc: serde_json::Value = serde_json::from_str(&text).expect("JSON");
    assert_eq!(doc["anomalies"]["lost"]["count"], 0, "{}", doc["anomalies"]);
    HOPS.iter()
        .map(|hop| {
            let h = &doc["latency"]["hops"][hop];
            let p50 = h["p50_us"]
                .as_f64()
                .unwrap_or_else(|| panic!("no p50 for {hop}: {}", doc["latency"]["hops"]));
            (hop.to_string(), p50, h["count"].as_u64().unwrap_or(0))
        })
        .collect()
}

#[test]
fn a_100ms_broker_latency_moves_every_hop_p50_by_100ms() {
    let base_runs = tempfile::tempdir().expect("tempdir");
    let base = run(
        "hop-latency.toml",
        base_runs.path(),
        &["--set", "faults.0.latency=0ms"],
    );
    let base = hop_p50s(base_runs.path(), &base);
    let slow_runs = tempfile::tempdir().expect("tempdir");
    let slow = run("hop-latency.toml", slow_runs.path(), &[]);
    let slow = hop_p50s(slow_runs.path(), &slow);

    let mut report = String::new();
    let mut bad = Vec::new();
    for ((hop, before, n_before), (_, after, n_after)) in base.iter().zip(&slow) {
        let shift_ms = (after - before) / 1000.0;
        report.push_str(&format!(
            "{hop}: p50 {:.1} ms (n={n_before}) -> {:.1} ms (n={n_after}): +{shift_ms:.1} ms\n",
            before / 1000.0,
            after / 1000.0
        ));
        // At 2 orders/s over 25 s each hop is measured about 50 times.
        assert!(
            *n_before >= 30 && *n_after >= 30,
            "too few samples:\n{report}"
        );
        if !(85.0..=115.0).contains(&shift_ms) {
            bad.push(hop.clone());
        }
    }
    eprintln!("{report}");
    assert!(
        bad.is_empty(),
        "hops not moved by 100 ms ± 15 %: {bad:?}\n{report}"
    );
}
