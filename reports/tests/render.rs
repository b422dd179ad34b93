//! Rendering the committed example results (recorded by real runs) produces every
//! file; the pages reference no network resource; the charts are drawn; compare of an
//! at-least-once and an exactly-once run has the cost of exactly-once.

mod support;

use std::path::Path;

use support::{assert_offline, data, decode_png, drawn_pixels, load};

const RUN_FILES: [&str; 10] = [
    "report.html",
    "summary.md",
    "junit.xml",
    "latency-percentiles.png",
    "hop-latency-percentiles.png",
    "latency-over-time.png",
    "throughput.png",
    "lag.png",
    "resilience.png",
    "flow.png",
];

fn read(dir: &Path, file: &str) -> String {
    std::fs::read_to_string(dir.join(file)).unwrap_or_else(|e| panic!("{file}: {e}"))
}

#[test]
fn the_examples_follow_the_committed_schema() {
    let schema: serde_json::Value =
        serde_json::from_str(include_str!("../results.schema.json")).expect("schema is JSON");
    let validator = jsonschema::validator_for(&schema).expect("a valid schema");
    for name in [
        "gateway-outage.results.json",
        "redis-consumer-kill-alo.results.json",
        "redis-consumer-kill-eos.results.json",
    ] {
        let doc: serde_json::Value =
            serde_json::from_str(&std::fs::read_to_string(data(name)).expect("read"))
                .expect("JSON");
        let errors: Vec<String> = validator.iter_errors(&doc).map(|e| e.to_string()).collect();
        assert!(errors.is_empty(), "{name}: {errors:#?}");
    }
}

#[test]
fn a_run_renders_every_file_offline() {
    let results = load("gateway-outage.results.json");
    let dir = tempfile::tempdir().expect("tempdir");
    let written = reports::write_run(dir.path(), &results).expect("render");
    for file in RUN_FILES {
        assert!(
            written.contains(&dir.path().join(file)),
            "{file} not written"
        );
        let size = std::fs::metadata(dir.path().join(file)).expect(file).len();
        assert!(size > 200, "{file} is only {size} bytes");
    }

    let html = read(dir.path(), "report.html");
    assert_offline(&html, "report.html");
    assert!(
        html.contains("<div class=\"banner pass\"><strong>PASS</strong>"),
        "verdict banner"
    );
    assert_eq!(
        html.matches("<svg class=\"chart\"").count(),
        7,
        "every chart and the flow diagram inline"
    );
    for section in [
        "Thresholds",
        "Anomalies",
        "Faults",
        "Retries, dead letters and circuit breakers",
        "Reproduce this run with",
    ] {
        assert!(html.contains(section), "{section} missing");
    }
    // the fault table row: kind, target and recovery/drain from the results
    assert!(
        html.contains("<td>down</td><td>gateway</td><td>13.0–23.0 s</td>"),
        "fault row"
    );
    // The template engine escapes `/` as well (`&#x2f;`); a browser shows `/`.
    assert!(
        html.contains(
            "harness run experiments&#x2f;gateway-outage.toml --quiet --set duration=30s"
        )
    );
    assert!(
        html.contains("payment.retries_total"),
        "the services' counters"
    );

    let summary = read(dir.path(), "summary.md");
    assert!(
        summary.starts_with("## gateway-outage: PASS\n"),
        "{summary}"
    );
    assert!(summary.contains("| down  | gateway |"), "{summary}");

    let junit = read(dir.path(), "junit.xml");
    // 1 threshold + 7 rules of at-least-once
    assert!(
        junit.contains(r#"<testsuites name="harness" tests="8" failures="0""#),
        "{junit}"
    );
    assert!(junit.contains(r#"name="lost == 0""#), "{junit}");

    // Each PNG has a drawn plot: ink and coloured series in the plotting area.
    for png in RUN_FILES.iter().filter(|f| f.ends_with(".png")) {
        let bytes = std::fs::read(dir.path().join(png)).expect("png");
        let image = decode_png(&bytes);
        if *png != "flow.png" {
            assert_eq!(
                (image.0, image.1),
                (reports::chart::WIDTH, reports::chart::HEIGHT),
                "{png}"
            );
        }
        let (ink, colour) = drawn_pixels(&image, (0, 0, image.0, image.1));
        assert!(
            ink > 5_000 && colour > 500,
            "{png}: ink {ink}, coloured {colour}"
        );
    }
}

#[test]
fn a_failing_result_fails_in_junit_with_its_sample_ids() {
    let mut results = load("redis-consumer-kill-alo.results.json");
    results.verdict = reports::results::Decision::Fail;
    let lost = results.anomalies.get_mut("lost").expect("lost");
    lost.count = 2;
    lost.sample = vec!["o-17".into(), "o-42".into()];
    for e in results
        .expectations
        .iter_mut()
        .filter(|e| e.anomaly == check::Anomaly::Lost)
    {
        e.status = reports::results::ExpectationStatus::Broken;
        e.actual = 2;
    }
    let dir = tempfile::tempdir().expect("tempdir");
    reports::write_run(dir.path(), &results).expect("render");
    let junit = read(dir.path(), "junit.xml");
    assert!(
        junit.contains(r#"message="lost: 2 (sample ids: o-17 o-42)""#),
        "{junit}"
    );
    let html = read(dir.path(), "report.html");
    assert!(html.contains("banner fail") && html.contains("o-17 o-42"));
}

#[test]
fn compare_of_at_least_once_and_exactly_once_has_the_cost_table() {
    let runs = [
        load("redis-consumer-kill-alo.results.json"),
        load("redis-consumer-kill-eos.results.json"),
    ];
    let dir = tempfile::tempdir().expect("tempdir");
    let written = reports::write_compare(dir.path(), &runs).expect("compare");
    assert_eq!(written.len(), 10, "{written:?}");
    let md = read(dir.path(), "compare.md");
    let html = read(dir.path(), "compare.html");
    assert_offline(&html, "compare.html");
    assert!(html.contains("Cost of exactly-once") && md.contains("### Cost of exactly-once"));

    // The numbers in the cost row are the runs' own.
    let costs = reports::compare::costs(&runs);
    assert_eq!(costs.len(), 1, "one weaker/stronger pair");
    let c = &costs[0];
    assert_eq!((c.weaker, c.stronger), (0, 1));
    let expected = (runs[1].throughput.mean_per_s.expect("eos")
        - runs[0].throughput.mean_per_s.expect("alo"))
        / runs[0].throughput.mean_per_s.expect("alo");
    assert_eq!(c.throughput.expect("throughput").relative, Some(expected));
    let row = md
        .lines()
        .find(|l| l.starts_with("| exactly-once | at-least-once |"))
        .unwrap_or_else(|| panic!("no cost row in compare.md:\n{md}"));
    let p99 = reports::compare::change_text(c.p99, reports::compare::Unit::Micros);
    assert!(row.contains(&p99), "{row} lacks {p99}");
    let cells: Vec<&str> = row
        .split('|')
        .map(str::trim)
        .filter(|c| !c.is_empty())
        .collect();
    let avoided: Vec<String> = c.avoided.iter().map(|(_, n)| n.to_string()).collect();
    assert_eq!(cells[4..8], avoided, "{row}: anomalies avoided");
    assert!(html.contains(&reports::escape::text(&p99)));
    // The delta table lists every anomaly and the fault's recovery.
    for metric in [
        "| throughput (mean completed)",
        "| latency e2e p99.9",
        "| duplicate_effect",
        "| recovery: kill inventory#1",
    ] {
        assert!(md.contains(metric), "{metric} missing:\n{md}");
    }
    assert_eq!(html.matches("<svg class=\"chart\"").count(), 8);
}

#[test]
fn runs_with_one_guarantee_say_there_is_no_cost() {
    let runs = [
        load("gateway-outage.results.json"),
        load("redis-consumer-kill-alo.results.json"),
    ];
    let mut md = Vec::new();
    reports::compare::compare_md(&mut md, &runs).expect("md");
    let md = String::from_utf8(md).expect("utf8");
    assert!(
        md.contains("No two runs differ only in their guarantee"),
        "{md}"
    );
}

#[test]
fn bad_input_is_an_error_naming_the_file() {
    let dir = tempfile::tempdir().expect("tempdir");
    let missing = dir.path().join("results.json");
    let e = reports::results::load(&missing).expect_err("missing");
    assert!(
        e.to_string().contains(&missing.display().to_string()),
        "{e}"
    );
    std::fs::write(&missing, "{\"experiment\": 3").expect("write");
    let e = reports::results::load(&missing).expect_err("malformed");
    assert!(e.to_string().contains("is not a results.json"), "{e}");
    assert!(matches!(
        reports::write_compare(dir.path(), &[]),
        Err(reports::ReportError::NoRuns)
    ));
}

/// A run recorded with histograms (the quickstart, on Redis): every chart is drawn
/// from them; the spectrum's points are the histogram's percentiles, recomputed here;
/// the flow diagram names every hop of the catalog's order flow and marks the one
/// with the highest p99; the per-hop table lists hops in flow order.
#[test]
fn a_run_with_histograms_draws_its_spectrum_flow_and_heatmap() {
    let results = load("quickstart.results.json");
    let e2e = &results.latency.e2e;
    let text = e2e.histogram.as_ref().expect("the example has histograms");

    // The spectrum: p50 ... p99.999 read from the histogram (never above the exact
    // maximum), then the maximum.
    let charts = reports::charts::run_charts(&results).expect("charts");
    let spectrum = &charts[0];
    assert_eq!(spectrum.slug, "latency-percentiles");
    let h = check::stats::decode(text).expect("decode");
    let max = e2e.max_us.expect("max");
    let mut expected: Vec<(f64, f64)> = check::stats::SPECTRUM_QUANTILES
        .iter()
        .map(|&q| {
            let v = h.value_at_quantile(q).min(max);
            (-(1.0 - q).log10(), v as f64 / 1000.0)
        })
        .collect();
    expected.push((reports::chart::MAX_X, max as f64 / 1000.0));
    let drawn = &spectrum.series[0].points;
    assert_eq!(drawn.len(), expected.len());
    for (d, e) in drawn.iter().zip(&expected) {
        assert!((d.0 - e.0).abs() < 1e-9 && d.1 == e.1, "{d:?} != {e:?}");
    }
    assert_eq!(drawn[0].1, e2e.p50_us.expect("p50") as f64 / 1000.0);
    assert_eq!(drawn[4].1, e2e.p99_us.expect("p99") as f64 / 1000.0);
    assert!(
        spectrum.series.len() >= 2,
        "the fault window's spectrum is overlaid"
    );
    let heatmap = &charts[2];
    assert!(!heatmap.heat.is_empty(), "the heatmap has cells");
    let cells: u64 = heatmap.heat.iter().map(|c| c.count).sum();
    let per_second: u64 = results
        .throughput
        .timeline
        .iter()
        .filter_map(|s| s.e2e_histogram.as_deref())
        .map(|t| check::stats::decode(t).expect("decode").len())
        .sum();
    assert_eq!(cells, per_second, "every measured order is in one cell");
    assert!(heatmap.windows.iter().all(|w| w.label == "latency redis"));

    // The flow diagram: every hop of the catalog's flow, the highest p99 marked.
    let diagrams = reports::diagram::run_diagrams(&results);
    assert_eq!(diagrams.len(), 1 + results.faults.len());
    let flow = &diagrams[0];
    let hops: Vec<&str> = flow.arrows.iter().map(|a| a.hop.as_str()).collect();
    let catalog: Vec<String> = events::flow::step_hops()
        .iter()
        .map(|(c, e)| format!("{}->{}", c.as_str(), e.as_str()))
        .collect();
    assert_eq!(hops, catalog);
    let highest = results
        .latency
        .hops
        .iter()
        .filter(|(h, _)| catalog.contains(h))
        .max_by_key(|(_, p)| p.p99_us)
        .map(|(h, _)| h.as_str());
    let marked: Vec<&str> = flow
        .arrows
        .iter()
        .filter(|a| a.slowest)
        .map(|a| a.hop.as_str())
        .collect();
    assert_eq!(marked, [highest.expect("a step hop")]);

    let dir = tempfile::tempdir().expect("tempdir");
    let written = reports::write_run(dir.path(), &results).expect("render");
    assert!(
        written.contains(&dir.path().join("flow-f1.png")),
        "{written:?}"
    );
    let html = read(dir.path(), "report.html");
    assert_offline(&html, "report.html");
    for sentence in reports::headline::sentences(&results) {
        assert!(
            html.contains(&reports::escape::text(&sentence)),
            "{sentence}"
        );
    }
    // The per-hop table in flow order: the main path's first hops come first.
    let at = |hop: &str| html.find(hop).unwrap_or_else(|| panic!("{hop} missing"));
    assert!(
        at("<td>OrderPlaced → StockReserved</td>") < at("<td>StockReserved → PaymentCaptured</td>")
    );
    assert!(
        at("<td>PaymentCaptured → OrderConfirmed</td>")
            < at("<td>StockReserved → PaymentFailed</td>")
    );
    assert!(
        at("<td>PaymentFailed → StockReleased</td>")
            < at("<td>NotificationSent → MetricUpdated</td>")
    );
}

#[test]
fn an_unreadable_histogram_is_an_error_naming_its_latency() {
    let mut results = load("quickstart.results.json");
    let hop = results
        .latency
        .hops
        .get_mut("OrderPlaced->StockReserved")
        .expect("hop");
    hop.histogram = Some("not a histogram".into());
    let e = reports::write_run(tempfile::tempdir().expect("tmp").path(), &results)
        .expect_err("unreadable");
    assert!(
        e.to_string()
            .contains("latency.hops[OrderPlaced->StockReserved]"),
        "{e}"
    );
}
