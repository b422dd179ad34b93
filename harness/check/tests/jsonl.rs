//! The history format: round trips, and errors that name the line.

mod support;

use check::{
    AnalysisOptions, FaultKind, Guarantee, History, HistoryError, RecordedThreshold, SendOutcome,
};
use proptest::prelude::*;
use support::{Flow, generate};

const EXAMPLE: &str = r#"{"kind":"meta","experiment":"quickstart","seed":42,"backend":"redis","guarantee":"at-least-once","warmup_end_us":5000000,"load_end_us":35000000,"drain_end_us":40000000,"complete":true}
{"kind":"send","order_id":"o-17","intended_us":5000000,"sent_us":5000120,"acked_us":5003400,"outcome":"acked","error":null}
{"kind":"send","order_id":"o-18","intended_us":5003333,"outcome":"dropped"}

{"kind":"observe","event_id":"6f1c","event_type":"OrderPlaced","key":"o-17","seq":1,"causation_id":null,"produced_us":5003100,"observed_us":5004000,"topic":"orders","partition":0,"position":"1700000000000-0"}
{"kind":"fault","id":"f1","fault":"reset_peer","target":"redis","start_us":20000000,"end_us":30000000}
{"kind":"lag","t_us":21000000,"group":"inventory","lag":123,"pending":4}
{"kind":"lag","t_us":21000000,"group":"payment","lag":7}
{"kind":"charge","order_id":"o-17","charge_id":"ch-3"}
{"kind":"stock","sku":"sku-3","shard":0,"available":990,"reserved":10,"initial":1000}
{"kind":"metric","t_us":35000000,"service":"payment","instance":0,"name":"retries_total","value":3.0}
"#;

#[test]
fn the_documented_example_parses() {
    let h = History::from_jsonl(EXAMPLE).expect("the example parses");
    let meta = h.meta.as_ref().expect("meta");
    assert_eq!(meta.guarantee, Guarantee::AtLeastOnce);
    assert_eq!(h.sends.len(), 2);
    assert_eq!(h.sends[1].outcome, SendOutcome::Dropped);
    assert_eq!(h.sends[1].sent_us, None, "optional fields may be omitted");
    assert_eq!(h.observations[0].causation_id, None);
    assert_eq!(h.faults[0].kind, FaultKind::ResetPeer);
    assert_eq!(h.lags[1].pending, None);
    assert_eq!((h.charges.len(), h.stock.len(), h.metrics.len()), (1, 1, 1));
}

#[test]
fn a_history_round_trips() {
    let h = History::from_jsonl(EXAMPLE).expect("parses");
    let again = History::from_jsonl(&h.to_jsonl()).expect("its own output parses");
    assert_eq!(again, h);
    assert!(h.to_jsonl().starts_with(r#"{"kind":"meta""#));
}

#[test]
fn the_meta_line_records_the_analysis_options() {
    let line = |analysis: &str| {
        format!(
            r#"{{"kind":"meta","experiment":"x","seed":1,"backend":"kafka","guarantee":"exactly-once","warmup_end_us":0,"load_end_us":1,"drain_end_us":2,"complete":true{analysis}}}"#
        )
    };
    // Older histories have no `analysis`: the defaults.
    let old = History::from_jsonl(&line("")).expect("parses");
    assert_eq!(old.meta.as_ref().expect("meta").analysis, None);
    // Fields left out take their defaults.
    let partial = History::from_jsonl(&line(
        r#","analysis":{"causality_slack_us":250000},"thresholds":[{"metric":"lost","expression":"== 0"}]"#,
    ))
    .expect("parses");
    assert_eq!(
        partial.meta.as_ref().map(|m| m.thresholds.clone()),
        Some(vec![RecordedThreshold {
            metric: "lost".into(),
            expression: "== 0".into()
        }])
    );
    let options = partial.meta.as_ref().and_then(|m| m.analysis.clone());
    assert_eq!(
        options,
        Some(AnalysisOptions {
            causality_slack_us: 250_000,
            ..AnalysisOptions::default()
        })
    );
    let again = History::from_jsonl(&partial.to_jsonl()).expect("its own output parses");
    assert_eq!(again, partial);
    // An unknown option is an error naming the line, like every other field.
    let e = error_of(&line(r#","analysis":{"slack":1}"#));
    assert_eq!(e.line(), 1, "{e}");
}

#[test]
fn an_empty_history_is_empty() {
    assert_eq!(History::from_jsonl("").unwrap(), History::default());
    assert_eq!(History::from_jsonl("\n  \n").unwrap(), History::default());
    assert_eq!(History::default().to_jsonl(), "");
}

fn error_of(text: &str) -> HistoryError {
    History::from_jsonl(text).expect_err("must be rejected")
}

#[test]
fn an_unknown_kind_names_its_line() {
    let text = format!(
        "{}\n{}",
        EXAMPLE.trim_end(),
        r#"{"kind":"observation","event_id":"x"}"#
    );
    let e = error_of(&text);
    assert_eq!(e.line(), 12);
    assert_eq!(
        e.to_string(),
        "history line 12: unknown kind `observation`; expected one of meta, send, observe, fault, lag, charge, stock, metric, dead_letter"
    );
}

#[test]
fn malformed_lines_name_their_line() {
    let cases = [
        // (text, line, words the message must contain)
        ("{\"kind\":\"send\"", 1, "EOF"),
        ("\n\n{\"order_id\":\"o-1\"}", 3, "no \"kind\""),
        ("{\"kind\":7}", 1, "unknown kind `7`"),
        (
            r#"{"kind":"send","order_id":"o-1","intended_us":1,"outcome":"acked","acked_at":3}"#,
            1,
            "unknown field `acked_at`",
        ),
        (
            r#"{"kind":"send","order_id":"o-1","outcome":"acked"}"#,
            1,
            "history line 1: missing field `intended_us`",
        ),
        (
            r#"{"kind":"send","order_id":"o-1","intended_us":-5,"outcome":"acked"}"#,
            1,
            "invalid value",
        ),
        (
            r#"{"kind":"lag","t_us":1,"group":"g","lag":1,"pending":null,"kind":"lag"}"#,
            1,
            "duplicate field `kind`",
        ),
        (
            // the fault's kind goes in `fault`, not in a second `kind`
            r#"{"kind":"fault","id":"f1","kind":"latency","target":"kafka-1","start_us":1,"end_us":2}"#,
            1,
            "duplicate field `kind` (`kind` says what the line is; a fault's own kind goes in `fault`)",
        ),
        ("[1, 2]", 1, ""),
        ("not json", 1, "expected"),
    ];
    for (text, line, words) in cases {
        let e = error_of(text);
        assert_eq!(e.line(), line, "{text}: {e}");
        assert!(e.to_string().contains(words), "{text}: {e}");
        assert!(
            e.to_string().starts_with(&format!("history line {line}")),
            "{e}"
        );
    }
}

#[test]
fn json_errors_carry_a_column() {
    let e = error_of("{\"kind\":\"meta\", \"seed\": x}");
    let HistoryError::Json {
        line,
        column,
        message,
    } = e
    else {
        panic!("a JSON error: {e:?}")
    };
    assert_eq!((line, column), (1, Some(25)));
    assert!(!message.contains("at line"), "{message}");
}

#[test]
fn a_second_meta_line_is_an_error() {
    let meta = EXAMPLE.lines().next().unwrap();
    let e = error_of(&format!("{meta}\n{meta}\n"));
    assert_eq!(
        e,
        HistoryError::DuplicateMeta {
            line: 2,
            first_line: 1
        }
    );
}

#[test]
fn invalid_utf8_names_its_line_and_byte() {
    let mut bytes = EXAMPLE.as_bytes().to_vec();
    let second = bytes.iter().position(|&b| b == b'\n').unwrap() + 1;
    // A byte that starts no UTF-8 sequence, 5 bytes into the second line.
    bytes[second + 4] = 0xff;
    let e = History::from_jsonl_bytes(&bytes).unwrap_err();
    assert_eq!(e, HistoryError::NotUtf8 { line: 2, column: 5 });
    assert_eq!(e.line(), 2);
    assert!(
        e.to_string()
            .starts_with("history line 2, byte 5: not valid UTF-8")
    );
    assert_eq!(
        History::from_jsonl_bytes(EXAMPLE.as_bytes()),
        History::from_jsonl(EXAMPLE)
    );
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 32, failure_persistence: None, ..ProptestConfig::default() })]

    #[test]
    fn generated_histories_round_trip(n in 0usize..12, seed in any::<u64>()) {
        let flows: Vec<Flow> = (0..n).map(|i| [Flow::Shipped, Flow::PaymentFailed, Flow::Dropped][i % 3]).collect();
        let h = generate(&flows, seed, Guarantee::ExactlyOnce).history;
        prop_assert_eq!(History::from_jsonl(&h.to_jsonl()).expect("parses"), h);
    }

    #[test]
    fn arbitrary_text_never_panics(text in ".{0,200}") {
        let _ = History::from_jsonl(&text);
    }

    #[test]
    fn arbitrary_lines_of_json_never_panic(
        lines in proptest::collection::vec(
            prop_oneof![
                Just(r#"{"kind":"send","#.to_string()),
                Just(r#""order_id":"o-1","#.to_string()),
                Just(r#""intended_us":1,"#.to_string()),
                Just(r#""outcome":"acked"}"#.to_string()),
                Just("{\"kind\":\"meta\"}".to_string()),
                "[a-z{}\":,0-9]{0,20}",
            ],
            0..8,
        )
    ) {
        let _ = History::from_jsonl(&lines.concat());
        let _ = History::from_jsonl(&lines.join("\n"));
    }
}

/// A history whose writer was killed in the middle of a line: `load` reads every whole
/// line and names the cut one; the strict reader calls it an error.
#[test]
fn a_cut_last_line_is_left_out_by_load_and_named() {
    let whole = EXAMPLE.trim_end();
    let cut_at = whole.len() - 20;
    let bytes = whole.as_bytes()[..cut_at].to_vec();
    assert!(History::from_jsonl_bytes(&bytes).is_err());
    let loaded = History::load(&bytes).expect("reads up to the cut");
    let tail = loaded.truncated.expect("the cut line is named");
    assert_eq!(tail.line, whole.lines().count(), "the last line");
    let full = History::from_jsonl(EXAMPLE).expect("parses");
    assert_eq!(loaded.history.metrics.len(), full.metrics.len() - 1);
    assert_eq!(loaded.history.stock, full.stock);

    // A last line that is whole but has no newline is read, not cut.
    let loaded = History::load(whole.as_bytes()).expect("reads");
    assert!(loaded.truncated.is_none());
    assert_eq!(loaded.history, full);

    // A cut before the last line is still an error with its line.
    let mut broken = whole.as_bytes().to_vec();
    broken.splice(10..12, []);
    assert!(History::load(&broken).is_err());
}
