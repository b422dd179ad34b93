//! A histogram results.json keeps is read back by an independent HdrHistogram: the
//! Python `hdrhistogram` package (installed by `lab/install` into `.lab/py`). It must
//! see the same count, the same buckets and the same percentiles as we do. Python or
//! the package missing is a failure naming the install step, never a skip.

use std::io::Write;
use std::path::PathBuf;
use std::process::{Command, Stdio};

use check::stats::{Recorder, SPECTRUM_QUANTILES, decode, spectrum};
use serde_json::{Value, json};

const INSTALL: &str = "run `bash lab/install` (its step 'python hdrhistogram' makes the venv \
                       .lab/py with the PyPI package `hdrhistogram`), or set HARNESS_PYTHON to a \
                       Python that can `import hdrh`";

/// `HARNESS_PYTHON`, else the lab's venv (`$HARNESS_LAB_HOME` or `.lab/` at the
/// workspace root).
fn python() -> PathBuf {
    if let Some(path) = std::env::var_os("HARNESS_PYTHON") {
        return PathBuf::from(path);
    }
    let lab = std::env::var_os("HARNESS_LAB_HOME").map_or_else(
        || PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../.lab"),
        PathBuf::from,
    );
    let python = lab.join("py/bin/python");
    assert!(
        python.is_file(),
        "{} does not exist: {INSTALL}",
        python.display()
    );
    python
}

/// What the Python package reads from each histogram: count, min, max, the value at
/// each percentile, and every recorded bucket as `[value, count]`.
const SCRIPT: &str = r#"
import json, sys
from hdrh.histogram import HdrHistogram
request = json.load(sys.stdin)
out = []
for text in request["histograms"]:
    h = HdrHistogram.decode(text)
    out.append({
        "count": h.get_total_count(),
        "min": h.get_min_value(),
        "max": h.get_max_value(),
        "percentiles": [h.get_value_at_percentile(p) for p in request["percentiles"]],
        "buckets": [[i.value_iterated_to, i.count_at_value_iterated_to]
                    for i in h.get_recorded_iterator()],
    })
json.dump(out, sys.stdout)
"#;

fn read_in_python(histograms: &[String], percentiles: &[f64]) -> Vec<Value> {
    let python = python();
    let mut child = Command::new(&python)
        .args(["-c", SCRIPT])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap_or_else(|e| panic!("starting {}: {e}; {INSTALL}", python.display()));
    let request = json!({ "histograms": histograms, "percentiles": percentiles });
    child
        .stdin
        .take()
        .expect("stdin piped")
        .write_all(request.to_string().as_bytes())
        .expect("write to python");
    let output = child.wait_with_output().expect("python runs");
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        output.status.success(),
        "{} failed ({}): {stderr}\n{INSTALL}",
        python.display(),
        output.status
    );
    serde_json::from_slice(&output.stdout).expect("python printed JSON")
}

/// Latencies shaped like a run's: most orders in a few milliseconds, a slow band
/// around 200 ms, a tail out to 10 s (a fault), all deterministic.
fn run_like(n: u64) -> Vec<u64> {
    (0..n)
        .map(|i| {
            let spread = (i * 7919) % 1000;
            match i % 100 {
                0 => 1_000_000 + spread * 9_000,
                1..=9 => 150_000 + spread * 100,
                _ => 800 + spread * 5 + (i % 13) * 17,
            }
        })
        .collect()
}

#[test]
fn python_hdrhistogram_reads_our_histograms_with_the_same_percentiles() {
    let samples: Vec<Vec<u64>> = vec![
        run_like(20_000),
        run_like(1_500),
        vec![42],
        (1..=1000).collect(),
        vec![3, 3, 3, 10_329_948, 10_329_948],
    ];
    let finished: Vec<_> = samples
        .iter()
        .map(|values| {
            let mut r = Recorder::new();
            values.iter().for_each(|&v| r.record(v));
            r.finish()
        })
        .collect();
    let texts: Vec<String> = finished
        .iter()
        .map(|p| p.histogram.clone().expect("every recorder here has values"))
        .collect();
    let percentiles: Vec<f64> = SPECTRUM_QUANTILES.iter().map(|q| q * 100.0).collect();
    let python = read_in_python(&texts, &percentiles);
    assert_eq!(python.len(), texts.len());

    for ((p, text), py) in finished.iter().zip(&texts).zip(&python) {
        let ours = decode(text).expect("our own text decodes");
        assert_eq!(py["count"], ours.len(), "{text}");
        assert_eq!(py["min"], ours.min(), "{text}");
        assert_eq!(py["max"], ours.max(), "{text}");
        let buckets: Vec<[u64; 2]> = ours
            .iter_recorded()
            .map(|v| [v.value_iterated_to(), v.count_at_value()])
            .collect();
        assert_eq!(py["buckets"], json!(buckets), "{text}: buckets");

        // The same percentiles: Python's value at each, capped at the exact maximum as
        // ours are, equals the spectrum's and the results' own percentiles.
        let max = p.max_us.expect("a maximum");
        let py_values: Vec<u64> = py["percentiles"]
            .as_array()
            .expect("percentiles")
            .iter()
            .map(|v| v.as_u64().expect("an integer").min(max))
            .collect();
        let spectrum: Vec<u64> = spectrum(p)
            .expect("spectrum")
            .iter()
            .filter(|s| s.quantile.is_some())
            .map(|s| s.value_us)
            .collect();
        assert_eq!(py_values, spectrum, "{text}: percentiles");
        let at = |q: f64| {
            let i = SPECTRUM_QUANTILES
                .iter()
                .position(|x| *x == q)
                .expect("a spectrum quantile");
            Some(py_values[i])
        };
        assert_eq!(
            [p.p50_us, p.p90_us, p.p99_us, p.p999_us],
            [at(0.5), at(0.9), at(0.99), at(0.999)],
            "{text}: results' percentiles"
        );
    }
}
