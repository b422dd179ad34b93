//! `cargo bench -p check`: how fast the checker reads and judges a history, and how
//! much memory it takes, on a synthetic clean history (`check::synth`, about 10
//! observations an order). `BENCH_ORDERS` sets its size (default 100 000 orders, about
//! 1 M observations). Prints observations per second for parsing alone and for parsing
//! and judging, and the process's peak resident memory (VmHWM) after each.
//!
//! Figures and how they compare: docs/performance.md ("The checker at soak scale").

use std::time::Instant;

use check::{AnalysisOptions, History, analyze, synth, verdict};

fn peak_rss_mib() -> f64 {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with("VmHWM:"))
                .and_then(|l| l.split_whitespace().nth(1))
                .and_then(|kb| kb.parse::<f64>().ok())
        })
        .map_or(f64::NAN, |kb| kb / 1024.0)
}

fn main() {
    // `cargo test --benches` runs this with `--bench`-less args; keep it short then.
    let quick = !std::env::args().any(|a| a == "--bench");
    let orders: u64 = std::env::var("BENCH_ORDERS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(if quick { 2_000 } else { 100_000 });
    let mut text = Vec::new();
    let written = synth::write(
        &synth::Synth {
            orders,
            ..Default::default()
        },
        &mut text,
    )
    .expect("generates into memory");
    let obs = written.observations as f64;
    println!(
        "history: {orders} orders, {} observations, {} lines, {:.1} MB ({:.0} B per observation); peak RSS after generating {:.0} MiB",
        written.observations,
        written.lines,
        written.bytes as f64 / 1e6,
        written.bytes as f64 / obs,
        peak_rss_mib()
    );

    let started = Instant::now();
    let history = History::from_jsonl_bytes(&text).expect("parses");
    let parse_s = started.elapsed().as_secs_f64();
    println!(
        "parse:           {:>7.2} s  {:>10.0} observations/s  peak RSS {:.0} MiB",
        parse_s,
        obs / parse_s,
        peak_rss_mib()
    );

    let started = Instant::now();
    let analysis = analyze(&history, &AnalysisOptions::default());
    let v = verdict(history.meta.as_ref(), &analysis, &[]);
    let analyze_s = started.elapsed().as_secs_f64();
    println!(
        "analyze:         {:>7.2} s  {:>10.0} observations/s  peak RSS {:.0} MiB",
        analyze_s,
        obs / analyze_s,
        peak_rss_mib()
    );
    println!(
        "parse + analyze: {:>7.2} s  {:>10.0} observations/s  verdict {:?}",
        parse_s + analyze_s,
        obs / (parse_s + analyze_s),
        v.decision
    );
    assert_eq!(v.decision, check::Decision::Pass, "{:?}", v.reasons);
}
