//! `cargo bench -p check`: how fast the checker reads and judges a history file, and
//! how much memory it takes, on a synthetic clean history (`check::synth`, about 10
//! observations an order) written to a temporary file.
//!
//! - `BENCH_ORDERS` sets its size (default 100 000 orders, about 1 M observations;
//!   1 000 000 is the 10 M-observation target of docs/performance.md).
//! - The streaming checker is measured first, so the peak resident memory (VmHWM) read
//!   after it is its own: in one pass ([`check::stream::check_reader_from`] with the
//!   meta line read from the file's end, what `harness check` does with a plain file),
//!   then in two ([`check::stream::check_reader`], as for a compressed file).
//! - The reference checker (the whole history parsed, then
//!   [`check::analyze_reference`]) runs after it, side by side on the same file, up to
//!   `BENCH_REFERENCE_MAX` observations (default 2 M: it takes about 1.4 KB each).
//!
//! Both must find the history clean, and must agree.
//!
//! Figures and how they compare: docs/performance.md ("The checker at soak scale").

use std::fs::File;
use std::io::{BufWriter, Read};
use std::time::Instant;

use check::{AnalysisOptions, History, analyze_reference, synth, verdict};

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

fn env(name: &str) -> Option<u64> {
    std::env::var(name).ok().and_then(|v| v.parse().ok())
}

fn main() {
    // `cargo test --benches` runs this without `--bench`; keep it short then.
    let quick = !std::env::args().any(|a| a == "--bench");
    let orders = env("BENCH_ORDERS").unwrap_or(if quick { 2_000 } else { 100_000 });
    let reference_max = env("BENCH_REFERENCE_MAX").unwrap_or(2_000_000);
    let dir = tempfile::tempdir().expect("a temporary directory");
    // BENCH_KEEP=FILE keeps the generated history there, and reuses it when it exists.
    let keep = std::env::var_os("BENCH_KEEP").map(std::path::PathBuf::from);
    let path = keep
        .clone()
        .unwrap_or_else(|| dir.path().join("history.jsonl"));
    let written = if keep.is_some() && path.exists() {
        // Counted line by line: the file is not held (its size would be the peak).
        let mut written = synth::Written::default();
        let mut reader =
            std::io::BufReader::new(File::open(&path).expect("opens the kept history"));
        let mut line = Vec::new();
        while std::io::BufRead::read_until(&mut reader, b'\n', &mut line).expect("reads") > 0 {
            written.lines += 1;
            written.bytes += line.len() as u64;
            written.observations += u64::from(line.starts_with(br#"{"kind":"observe""#));
            line.clear();
        }
        written
    } else {
        let mut out = BufWriter::new(File::create(&path).expect("creates the history file"));
        synth::write(
            &synth::Synth {
                orders,
                ..Default::default()
            },
            &mut out,
        )
        .expect("writes the history")
    };
    let obs = written.observations as f64;
    println!(
        "history: {orders} orders, {} observations, {} lines, {:.1} MB ({:.0} B per observation); peak RSS after generating {:.0} MiB",
        written.observations,
        written.lines,
        written.bytes as f64 / 1e6,
        written.bytes as f64 / obs,
        peak_rss_mib()
    );

    // As `harness check` judges a plain file: the meta line read from the end first,
    // then one pass; and in two passes, as a compressed or older history is judged.
    let tail = {
        use std::io::{Seek, SeekFrom};
        let mut file = File::open(&path).expect("opens the history");
        let len = file.metadata().expect("its size").len();
        file.seek(SeekFrom::Start(len.saturating_sub(1 << 20)))
            .expect("seeks");
        let mut tail = Vec::new();
        file.read_to_end(&mut tail).expect("reads its end");
        check::stream::meta_of_tail(&tail)
    };
    let started = Instant::now();
    let checked =
        check::stream::check_reader_from(|| File::open(&path), tail).expect("reads and judges");
    let stream_s = started.elapsed().as_secs_f64();
    let v = verdict(checked.meta.as_ref(), &checked.analysis, &[]);
    println!(
        "streaming check, {} pass(es): {:>7.2} s  {:>10.0} observations/s  peak RSS {:.0} MiB  verdict {:?}",
        checked.passes,
        stream_s,
        obs / stream_s,
        peak_rss_mib(),
        v.decision
    );
    assert_eq!(v.decision, check::Decision::Pass, "{:?}", v.reasons);
    let started = Instant::now();
    let two = check::stream::check_reader(|| File::open(&path)).expect("reads and judges");
    let two_s = started.elapsed().as_secs_f64();
    println!(
        "streaming check, {} passes: {:>7.2} s  {:>10.0} observations/s  peak RSS {:.0} MiB",
        two.passes,
        two_s,
        obs / two_s,
        peak_rss_mib()
    );
    assert_eq!(
        two.analysis, checked.analysis,
        "one and two passes disagree"
    );

    if written.observations > reference_max {
        println!(
            "reference checker: not run ({} observations > BENCH_REFERENCE_MAX {reference_max})",
            written.observations
        );
        return;
    }
    let started = Instant::now();
    let mut text = Vec::new();
    File::open(&path)
        .and_then(|mut f| f.read_to_end(&mut text))
        .expect("reads the history");
    let history = History::from_jsonl_bytes(&text).expect("parses");
    drop(text);
    let parse_s = started.elapsed().as_secs_f64();
    let analysis = analyze_reference(&history, &AnalysisOptions::default());
    let reference_s = started.elapsed().as_secs_f64();
    println!(
        "reference check (parse {:.2} s + judge): {:>7.2} s  {:>10.0} observations/s  peak RSS {:.0} MiB",
        parse_s,
        reference_s,
        obs / reference_s,
        peak_rss_mib()
    );
    println!(
        "streaming / reference speed: {:.1}x",
        reference_s / stream_s
    );
    assert_eq!(analysis, checked.analysis, "the two checkers disagree");
}
