//! The streaming checker gives the reference checker's answers: on generated histories
//! with planted anomalies of every kind and on small arbitrary ones, the analysis of
//! [`check::analyze`] (the streaming checker over a history in memory) and of
//! [`check::stream::check_reader`] (over its JSONL text, the kinds interleaved in a
//! random order as a run writes them, read in three passes) equals
//! [`check::analyze_reference`]'s, field for field.

mod support;

use std::io::Cursor;

use check::stream::{check_reader, check_reader_from, meta_of_tail};
use check::{AnalysisOptions, Anomaly, History, Line, analyze, analyze_reference};
use proptest::prelude::*;
use support::plant::{any_history, config, flows, guarantee, plant};
use support::{Rng, generate};

/// `history`'s lines with the kinds interleaved at random (each kind's own order kept,
/// which is all the format promises); the meta line last, as a run writes it, when
/// `meta_last`, else anywhere.
fn interleaved(history: &History, seed: u64, meta_last: bool) -> String {
    let meta: Vec<Line> = history.meta.iter().cloned().map(Line::Meta).collect();
    let mut queues: Vec<Vec<Line>> = vec![
        if meta_last { Vec::new() } else { meta.clone() },
        history.sends.iter().cloned().map(Line::Send).collect(),
        history
            .observations
            .iter()
            .cloned()
            .map(Line::Observe)
            .collect(),
        history.faults.iter().cloned().map(Line::Fault).collect(),
        history.lags.iter().cloned().map(Line::Lag).collect(),
        history.charges.iter().cloned().map(Line::Charge).collect(),
        history.stock.iter().cloned().map(Line::Stock).collect(),
        history.metrics.iter().cloned().map(Line::Metric).collect(),
        history
            .dead_letters
            .iter()
            .cloned()
            .map(Line::DeadLetter)
            .collect(),
    ];
    queues.iter_mut().for_each(|q| q.reverse());
    let mut rng = Rng::new(seed);
    let mut out = String::new();
    let mut push = |line: &Line| {
        out.push_str(&line.to_json());
        out.push('\n');
    };
    loop {
        let open: Vec<usize> = (0..queues.len())
            .filter(|&i| !queues[i].is_empty())
            .collect();
        if open.is_empty() {
            break;
        }
        let pick = open[(rng.next() % open.len() as u64) as usize];
        push(&queues[pick].pop().expect("non-empty"));
    }
    if meta_last {
        meta.iter().for_each(&mut push);
    }
    out
}

/// Judged as `harness check` judges a plain file: the meta line read from its end
/// first (one pass when it lists the faults), else two passes.
fn from_text(text: &str) -> check::stream::Checked {
    let bytes = text.as_bytes().to_vec();
    let tail = meta_of_tail(&bytes);
    check_reader_from(|| Ok(Cursor::new(bytes.clone())), tail).expect("a generated history reads")
}

/// The options a history's meta line carries, as `check_reader` uses them.
fn options_of(history: &History) -> AnalysisOptions {
    history
        .meta
        .as_ref()
        .and_then(|m| m.analysis.clone())
        .unwrap_or_default()
}

proptest! {
    #![proptest_config(config(64))]

    #[test]
    fn planted_histories_get_the_reference_answers(
        flows in flows(),
        seed in any::<u64>(),
        guarantee in guarantee(),
        which in 0..Anomaly::ALL.len(),
        k in 1usize..5,
        plant_seed in any::<u64>(),
        order_seed in any::<u64>(),
        meta_faults in any::<bool>(),
        meta_last in any::<bool>(),
    ) {
        let mut generated = generate(&flows, seed, guarantee);
        plant(&mut generated, Anomaly::ALL[which], k, &mut Rng::new(plant_seed));
        let mut history = generated.history;
        if meta_faults && let Some(meta) = history.meta.as_mut() {
            meta.faults = Some(history.faults.clone());
        }
        let options = options_of(&history);
        let reference = analyze_reference(&history, &options);
        prop_assert_eq!(&analyze(&history, &options), &reference);
        let checked = from_text(&interleaved(&history, order_seed, meta_last));
        prop_assert_eq!(&checked.analysis, &reference);
        // A run's history (meta last, listing the faults) is judged in one pass: its
        // lines are never a minute out of order.
        prop_assert_eq!(checked.one_pass, meta_faults && meta_last);
        prop_assert_eq!(checked.meta, history.meta);
    }
}

proptest! {
    #![proptest_config(config(400))]

    #[test]
    fn arbitrary_histories_get_the_reference_answers(
        mut history in any_history(true),
        order_seed in any::<u64>(),
        meta_faults in any::<bool>(),
        meta_last in any::<bool>(),
    ) {
        // Times anywhere in u64: many lines come late for the one-pass reader, which
        // must then start again in two passes and still give the reference's answer.
        if meta_faults && let Some(meta) = history.meta.as_mut() {
            meta.faults = Some(history.faults.clone());
        }
        let options = options_of(&history);
        let reference = analyze_reference(&history, &options);
        prop_assert_eq!(&analyze(&history, &options), &reference);
        let checked = from_text(&interleaved(&history, order_seed, meta_last));
        prop_assert_eq!(&checked.analysis, &reference);
    }
}

#[test]
fn a_cut_last_line_is_left_out_and_reported() {
    let generated = generate(
        &[support::Flow::Shipped; 3],
        7,
        check::Guarantee::AtLeastOnce,
    );
    let text = generated.history.to_jsonl();
    let cut = &text[..text.len() - 20];
    let checked = from_text(cut);
    let tail = checked.truncated.expect("the cut line is reported");
    assert_eq!(tail.line, text.lines().count());
    let loaded = History::load(cut.as_bytes()).expect("reads");
    assert_eq!(loaded.truncated, Some(tail));
    assert_eq!(
        checked.analysis,
        analyze_reference(&loaded.history, &options_of(&loaded.history))
    );
}

#[test]
fn a_bad_line_is_the_same_error_as_the_strict_reader_gives() {
    let text = "{\"kind\":\"send\",\"order_id\":\"o\",\"intended_us\":1,\"outcome\":\"acked\"}\n{\"kind\":\"observe\",\"event_id\":1}\n";
    let error =
        check_reader(|| Ok(Cursor::new(text.as_bytes().to_vec()))).expect_err("line 2 is bad");
    let strict = History::from_jsonl(text).expect_err("line 2 is bad");
    assert_eq!(error.to_string(), strict.to_string());
}
