//! `summary.md`: the verdict, counts, anomalies with sample ids, latency, throughput,
//! faults and thresholds as Markdown — short enough for a pull-request comment, and
//! what `harness run` and `harness check` print on the terminal.

use std::io::{self, Write};

use crate::markdown::table;
use crate::results::{
    Percentiles, Results, actual_text, anomaly_names, dead_letter_lines, ms, secs, upper,
};

fn percentile_row(name: &str, p: &Percentiles) -> Vec<String> {
    vec![
        name.to_string(),
        p.count.to_string(),
        ms(p.p50_us),
        ms(p.p90_us),
        ms(p.p99_us),
        ms(p.p999_us),
        ms(p.max_us),
    ]
}

/// "drain: 4.2 s (every consuming group caught up ...)": how long the drain took and
/// how it ended.
pub fn drain_text(drain: &check::Drain) -> String {
    let how = match drain.ended {
        Some(check::DrainEnd::Finished) => "every acknowledged order finished",
        Some(check::DrainEnd::Idle) => "every group and the tap caught up, then nothing moved",
        Some(check::DrainEnd::TimedOut) => "drain_timeout ran out while the system was busy",
        Some(check::DrainEnd::Stopped) => "the run was stopped",
        None => "how it ended was not recorded",
    };
    format!("drain: {:.1} s ({how})", drain.seconds)
}

/// "redelivery: ..." when a service read an input again or the history holds
/// duplicates: what a crash cost, and what the guarantee made of it.
pub fn redelivery_text(r: &Results) -> Option<String> {
    let again: f64 = r
        .services
        .totals
        .iter()
        .filter(|(name, _)| name.ends_with(".redelivered_total"))
        .map(|(_, v)| v)
        .sum();
    let deliveries = r.anomaly_details.processing_duplicate_deliveries();
    let effects = r.anomaly("duplicate_effect");
    (again > 0.0 || deliveries > 0 || effects > 0).then(|| {
        format!(
            "redelivery: {again:.0} input deliveries read again (claimed from a stopped consumer or re-read); duplicates in the log: {deliveries} deliveries (OrderPlaced aside), {effects} effects"
        )
    })
}

/// Writes the summary of one run.
pub fn write<W: Write>(out: &mut W, r: &Results) -> io::Result<()> {
    writeln!(out, "## {}: {}\n", r.experiment, upper(r.verdict))?;
    if !r.complete {
        writeln!(out, "- the run was interrupted: partial results")?;
    }
    for reason in &r.reasons {
        writeln!(out, "- {reason}")?;
    }
    let c = &r.counts;
    writeln!(
        out,
        "\norders: {} attempted, {} acknowledged, {} observed, {} completed; {} rejected, {} errors, {} dropped, {} late; {} distinct events observed",
        c.attempted,
        c.acknowledged,
        c.observed,
        c.completed,
        c.rejected,
        c.errors,
        c.dropped,
        c.late,
        c.events
    )?;
    if let Some(drain) = &r.drain {
        writeln!(out, "{}", drain_text(drain))?;
    }
    if r.in_flight.count > 0 {
        writeln!(
            out,
            "in flight when the drain ended (neither lost nor finished): {} (sample: {})",
            r.in_flight.summary(),
            r.in_flight.sample.join(" ")
        )?;
    }
    writeln!(out)?;
    let names = anomaly_names(r);
    let anomalies: Vec<Vec<String>> = names
        .iter()
        .filter_map(|name| {
            let f = r.anomalies.get(*name)?;
            Some(vec![
                name.to_string(),
                f.count.to_string(),
                f.sample
                    .iter()
                    .take(3)
                    .cloned()
                    .collect::<Vec<_>>()
                    .join(" "),
            ])
        })
        .collect();
    table(out, &["anomaly", "count", "sample"], &anomalies)?;
    writeln!(out)?;
    let dead_letters = dead_letter_lines(r);
    for line in &dead_letters {
        writeln!(out, "- {line}")?;
    }
    if !dead_letters.is_empty() {
        writeln!(out)?;
    }
    let mut latency = vec![percentile_row("end to end", &r.latency.e2e)];
    latency.extend(r.latency.hops.iter().map(|(hop, p)| percentile_row(hop, p)));
    table(
        out,
        &["latency", "count", "p50", "p90", "p99", "p99.9", "max"],
        &latency,
    )?;
    let mean = r
        .throughput
        .mean_per_s
        .map_or("-".into(), |m| format!("{m:.1}/s"));
    let lag = r.lag.max.map_or("-".into(), |l| l.to_string());
    writeln!(
        out,
        "\nthroughput (completed, load phase): {mean}; max consumer lag: {lag}\n"
    )?;
    if let Some(line) = redelivery_text(r) {
        writeln!(out, "{line}\n")?;
    }
    if !r.faults.is_empty() {
        let rows: Vec<Vec<String>> = r
            .faults
            .iter()
            .map(|f| {
                vec![
                    f.kind.name().to_owned(),
                    f.target.clone(),
                    format!("{:.1}-{:.1} s", f.start_s, f.end_s),
                    f.anomaly_total().to_string(),
                    ms(f.p99_us),
                    secs(f.recovery_s),
                    secs(f.drain_s),
                ]
            })
            .collect();
        table(
            out,
            &[
                "fault",
                "target",
                "window",
                "anomalies",
                "p99 during",
                "recovery",
                "drain",
            ],
            &rows,
        )?;
        writeln!(out)?;
    }
    if !r.thresholds.is_empty() {
        let rows: Vec<Vec<String>> = r
            .thresholds
            .iter()
            .map(|t| {
                vec![
                    t.metric.clone(),
                    t.expression.clone(),
                    actual_text(t),
                    if t.pass { "pass".into() } else { "FAIL".into() },
                ]
            })
            .collect();
        table(out, &["threshold", "expression", "actual", "result"], &rows)?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_minimal_result_summarises() {
        let r = Results::parse(r#"{"experiment":"x","verdict":"inconclusive","complete":false}"#)
            .expect("parse");
        let mut out = Vec::new();
        write(&mut out, &r).expect("write");
        let text = String::from_utf8(out).expect("utf8");
        assert!(text.starts_with("## x: INCONCLUSIVE\n"), "{text}");
        assert!(text.contains("interrupted"));
        assert!(text.contains("| end to end | 0     | -   |"), "{text}");
    }

    #[test]
    fn lost_orders_are_attributed_to_their_dead_letters() {
        let r = Results::parse(
            r#"{"experiment":"x","verdict":"fail",
                "anomalies":{"lost":{"count":2,"sample":["o-1","o-2"]}},
                "lost_attribution":{
                  "orders":[{"order_id":"o-1","last_step":"PaymentCaptured"},{"order_id":"o-2","last_step":"PaymentCaptured"}],
                  "dead_lettered":[{"service":"order","reason_kind":"too_many_attempts","orders":2,
                                    "example_reason":"failed 8 times; last: order o-1 not in the read model yet"}],
                  "dead_letters_total":3,"dead_letters_not_lost":1}}"#,
        )
        .expect("parse");
        let mut out = Vec::new();
        write(&mut out, &r).expect("write");
        let text = String::from_utf8(out).expect("utf8");
        assert!(
            text.contains("- lost 2 — 2 dead-lettered by order (too_many_attempts, e.g. \"failed 8 times; last: order o-1 not in the read model yet\")\n"),
            "{text}"
        );
        assert!(
            text.contains("- 1 dead letters hold no lost order"),
            "{text}"
        );
        let mut html = Vec::new();
        crate::html::write(&mut html, &r, &[], &[]).expect("html");
        let html = String::from_utf8(html).expect("utf8");
        assert!(
            html.contains("lost 2 — 2 dead-lettered by order"),
            "report.html lacks it"
        );
    }
}
