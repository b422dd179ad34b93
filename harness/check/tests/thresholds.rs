//! The threshold grammar: good and bad expressions, helpful errors, evaluation, and no
//! panic on any input.

mod support;

use check::{
    AnalysisOptions, Anomaly, Metric, Op, Part, Pct, Quantity, ThresholdStatus, Unit, analyze,
    evaluate, parse_threshold,
};
use proptest::prelude::*;

#[test]
fn good_expressions() {
    let cases: [(&str, &str, Metric, Op, f64); 12] = [
        ("lost", "== 0", Metric::Anomaly(Anomaly::Lost), Op::Eq, 0.0),
        (
            "duplicate_effect",
            "<=2",
            Metric::Anomaly(Anomaly::DuplicateEffect),
            Op::Le,
            2.0,
        ),
        (
            "latency.e2e.p99",
            "< 800ms",
            Metric::E2e(Pct::P99),
            Op::Lt,
            800_000.0,
        ),
        (
            "latency.e2e.p99.9",
            "<1.5s",
            Metric::E2e(Pct::P999),
            Op::Lt,
            1_500_000.0,
        ),
        (
            "latency.e2e.max",
            " <= 2m ",
            Metric::E2e(Pct::Max),
            Op::Le,
            120_000_000.0,
        ),
        (
            "latency.e2e.p50",
            "> 250us",
            Metric::E2e(Pct::P50),
            Op::Gt,
            250.0,
        ),
        (
            "latency.e2e.p90",
            "!= 3 µs",
            Metric::E2e(Pct::P90),
            Op::Ne,
            3.0,
        ),
        (
            "throughput.mean",
            ">= 280/s",
            Metric::ThroughputMean,
            Op::Ge,
            280.0,
        ),
        ("lag.max", "< 1000", Metric::LagMax, Op::Lt, 1000.0),
        (
            "shortfall.dropped",
            "== 0",
            Metric::ShortfallDropped,
            Op::Eq,
            0.0,
        ),
        ("recovery.max", "< 0", Metric::RecoveryMax, Op::Lt, 0.0),
        (
            "service.payment.retries_total",
            "< 2.5",
            Metric::Service {
                service: "payment".into(),
                name: "retries_total".into(),
            },
            Op::Lt,
            2.5,
        ),
    ];
    for (metric, expr, expected, op, value) in cases {
        let t = parse_threshold(metric, expr).unwrap_or_else(|e| panic!("{metric} {expr}: {e}"));
        assert_eq!(
            (t.metric, t.op, t.value),
            (expected, op, value),
            "{metric} {expr}"
        );
        assert_eq!(
            (t.metric_text.as_str(), t.expression.as_str()),
            (metric, expr)
        );
    }
    let hop = parse_threshold("latency.hop.OrderPlaced->StockReserved.p99.9", "< 50ms").unwrap();
    assert_eq!(
        hop.metric,
        Metric::Hop {
            from: "OrderPlaced".into(),
            to: "StockReserved".into(),
            pct: Pct::P999
        }
    );
    assert_eq!(hop.quantity, Quantity::Duration { us: 50_000.0 });
}

/// (metric, expression, part, offset, message, hint)
const BAD: &[(&str, &str, Part, usize, &str, &str)] = &[
    (
        "lost",
        "",
        Part::Expression,
        0,
        "the expression is empty",
        "write e.g. `< 800ms`, `== 0` or `>= 280/s`",
    ),
    (
        "lost",
        "0",
        Part::Expression,
        0,
        "`0` is not an operator",
        "expected an operator like `<` or `==`, e.g. `< 800ms`",
    ),
    (
        "lost",
        "= 0",
        Part::Expression,
        0,
        "`=` is not an operator",
        "write `==` to compare for equality",
    ),
    (
        "lost",
        " =< 3",
        Part::Expression,
        1,
        "`=<` is not an operator",
        "write `<=`",
    ),
    (
        "lost",
        "<",
        Part::Expression,
        1,
        "expected a value after `<`",
        "write e.g. `< 800ms`, `== 0` or `>= 280/s`",
    ),
    (
        "lost",
        "< -1",
        Part::Expression,
        2,
        "the value cannot be negative",
        "write e.g. `< 800ms`, `== 0` or `>= 280/s`",
    ),
    (
        "lost",
        "< 1.",
        Part::Expression,
        4,
        "expected digits after the decimal point",
        "write e.g. `2.5`",
    ),
    (
        "lost",
        "< 1 2",
        Part::Expression,
        4,
        "unexpected `2` after the value",
        "a threshold is one comparison, e.g. `< 800ms`",
    ),
    (
        "latency.e2e.p99",
        "< 800mss",
        Part::Expression,
        5,
        "unknown unit `mss`",
        "use us, ms, s or m (durations) or /s (rates)",
    ),
    (
        "throughput.mean",
        ">= 280/m",
        Part::Expression,
        6,
        "unknown rate unit `/m`",
        "use /s",
    ),
    (
        "latency.e2e.p99",
        "< 800",
        Part::Expression,
        2,
        "`latency.e2e.p99` is a duration, so the value needs a time unit",
        "write e.g. `< 800ms` (us, ms, s or m)",
    ),
    (
        "lost",
        "== 0ms",
        Part::Expression,
        3,
        "`lost` is a count, so the value takes no unit",
        "compare with a plain number, e.g. `== 0`",
    ),
    (
        "throughput.mean",
        ">= 280",
        Part::Expression,
        3,
        "`throughput.mean` is a rate, so the value needs `/s`",
        "write e.g. `>= 280/s`",
    ),
    (
        "latncy.e2e.p99",
        "< 1s",
        Part::Metric,
        0,
        "unknown metric `latncy.e2e.p99`",
        "did you mean `latency.e2e.p99`?",
    ),
    (
        "lots",
        "== 0",
        Part::Metric,
        0,
        "unknown metric `lots`",
        "did you mean `lost`?",
    ),
    (
        "latency.e2e.p98",
        "< 1s",
        Part::Metric,
        12,
        "unknown percentile `p98`",
        "use p50, p90, p99, p99.9 or max",
    ),
    (
        "latency.hop.OrderPlaced->StockReserve.p99",
        "< 1s",
        Part::Metric,
        25,
        "unknown event type `StockReserve`",
        "did you mean `StockReserved`?",
    ),
    (
        "latency.hop.OrderPlaced.p99",
        "< 1s",
        Part::Metric,
        12,
        "`OrderPlaced` is not a hop",
        "write `latency.hop.<From>-><To>.<pct>`, e.g. `latency.hop.OrderPlaced->StockReserved.p99`",
    ),
    (
        "latency.hop.A->B.p42",
        "< 1s",
        Part::Metric,
        17,
        "expected a percentile at the end of the hop metric",
        "use p50, p90, p99, p99.9 or max",
    ),
    (
        "",
        "== 0",
        Part::Metric,
        0,
        "the metric name is empty",
        "name an anomaly (`lost`) or a measurement (`latency.e2e.p99`)",
    ),
];

#[test]
fn bad_expressions_say_where_what_and_what_instead() {
    for (metric, expr, part, offset, message, hint) in BAD {
        let e = parse_threshold(metric, expr).expect_err(&format!("{metric} = {expr:?}"));
        assert_eq!(
            (e.part, e.offset, e.message.as_str(), e.hint.as_str()),
            (*part, *offset, *message, *hint),
            "{metric} = {expr:?}"
        );
    }
}

#[test]
fn an_error_renders_with_a_caret() {
    let e = parse_threshold("latency.e2e.p99", "< 800mss").unwrap_err();
    assert_eq!(
        e.caret("< 800mss"),
        "< 800mss\n     ^ unknown unit `mss`; use us, ms, s or m (durations) or /s (rates)"
    );
}

fn results_for(pairs: &[(&str, &str)], analysis: &check::Analysis) -> Vec<check::ThresholdResult> {
    let thresholds: Vec<_> = pairs
        .iter()
        .map(|(m, e)| parse_threshold(m, e).expect("valid"))
        .collect();
    evaluate(analysis, &thresholds)
}

#[test]
fn evaluation_against_an_analysis() {
    let flows = [support::Flow::Shipped; 8];
    let mut history = support::generate(&flows, 7, check::Guarantee::AtLeastOnce).history;
    history.faults.clear();
    history
        .sends
        .push(support::send("o-err", 1_500_000, check::SendOutcome::Error));
    let a = analyze(&history, &AnalysisOptions::default());
    let results = results_for(
        &[
            ("lost", "== 0"),
            ("errors", "== 0"),
            ("latency.e2e.max", "< 1m"),
            ("latency.hop.OrderPlaced->StockReserved.p50", "> 0"),
            ("latency.hop.OrderPlaced->StockRejected.p50", "< 1s"),
            ("recovery.max", "< 10s"),
            ("service.payment.retries_total", ">= 0"),
            ("service.order.retries_total", "== 0"),
        ],
        &a,
    );
    let status: Vec<_> = results.iter().map(|r| r.status).collect();
    use ThresholdStatus::*;
    assert_eq!(
        status,
        [Pass, Fail, Pass, Pass, NoData, NoData, Pass, NoData]
    );
    assert_eq!(results[1].actual, Some(1.0));
    assert!(!results[1].pass);
    assert_eq!(results[2].unit, Unit::Us);
    assert_eq!(
        results[4].note.as_deref(),
        Some("no `OrderPlaced->StockRejected` hop was observed after warm-up")
    );
    assert_eq!(results[5].note.as_deref(), Some("the run had no faults"));
}

#[test]
fn a_fault_that_never_recovered_fails_recovery_max() {
    let flows = [support::Flow::Shipped; 8];
    let mut history = support::generate(&flows, 7, check::Guarantee::AtLeastOnce).history;
    history.faults[0].end_us = u64::MAX / 2; // ends after the load: no second to recover in
    let mut a = analyze(&history, &AnalysisOptions::default());
    a.faults[0].steady_p99_us = Some(1); // pretend there was a steady state
    let results = results_for(&[("recovery.max", "< 10s")], &a);
    assert_eq!(results[0].status, ThresholdStatus::Fail);
    assert_eq!(
        results[0].note.as_deref(),
        Some("fault `f1` never recovered")
    );
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 2000, failure_persistence: None, ..ProptestConfig::default() })]

    #[test]
    fn arbitrary_strings_never_panic(metric in any::<String>(), expr in any::<String>()) {
        if let Err(e) = parse_threshold(&metric, &expr) {
            let text = if e.part == Part::Metric { &metric } else { &expr };
            prop_assert!(text.is_char_boundary(e.offset) && e.offset <= text.len());
            let _ = e.caret(text);
        }
    }

    #[test]
    fn near_valid_strings_never_panic(
        metric in "(lost|latency\\.(e2e|hop)\\.[A-Za-zµ>\\-]{0,12}\\.?p?[0-9.]{0,4}|throughput\\.mean|service\\.[a-z.]{0,6}|[a-zé.]{0,10})",
        expr in "[ <>=!]{0,3}[ \\-]?[0-9.]{0,5}[ ]?(µs|us|ms|s|m|/s|/|x|é|[a-z/%]{0,3})[ a-z0-9]{0,2}",
    ) {
        if let Err(e) = parse_threshold(&metric, &expr) {
            let text = if e.part == Part::Metric { &metric } else { &expr };
            prop_assert!(text.is_char_boundary(e.offset) && e.offset <= text.len());
            prop_assert!(!e.message.is_empty() && !e.hint.is_empty());
        }
    }
}
