//! The first screen of a report: the key numbers of the run and the sentences that say
//! what happened, generated from the results (never written by hand): which service
//! fell behind during which fault, on which hop, and how soon it recovered.

use events::EventType;
use events::flow::{Branch, hop_key};

use crate::diagram::short_duration;
use crate::results::{ANOMALIES, FaultWindow, Latency, Percentiles, Results};

/// One of the key numbers: a label, the value, a line of detail and a CSS class
/// (`pass`, `fail` or empty) that colours it.
#[derive(Debug, Clone, PartialEq)]
pub struct KeyNumber {
    pub label: &'static str,
    pub value: String,
    pub detail: String,
    pub class: &'static str,
}

/// The step hop (main path or compensation) with the highest p99 in `latency`; any
/// hop when there is no step hop.
pub fn slowest_hop(latency: &Latency) -> Option<(&str, &Percentiles)> {
    let is_step = |h: &str| hop_key(h).is_some_and(|k| k.branch != Branch::Side);
    let best = |step: bool| {
        latency
            .hops
            .iter()
            .filter(|(h, p)| is_step(h) == step && p.p99_us.is_some())
            .max_by_key(|(_, p)| p.p99_us)
            .map(|(h, p)| (h.as_str(), p))
    };
    best(true).or_else(|| best(false))
}

/// The service that handles a hop: the emitter of its effect.
fn handler(hop: &str) -> Option<&'static str> {
    let (_, effect) = hop.split_once("->")?;
    effect.parse::<EventType>().ok().map(|t| t.emitted_by())
}

fn arrow(hop: &str) -> String {
    hop.replace("->", "→")
}

fn total_anomalies(r: &Results) -> u64 {
    r.anomalies.values().map(|f| f.count).sum()
}

/// The anomalies found, as `name count`.
fn named_anomalies(r: &Results) -> Vec<String> {
    r.anomalies
        .iter()
        .filter(|(_, f)| f.count > 0)
        .map(|(a, f)| format!("{a} {}", f.count))
        .collect()
}

/// The fault that hurt most: the highest p99 during its window.
fn worst_fault(r: &Results) -> Option<&FaultWindow> {
    r.faults.iter().max_by_key(|f| f.p99_us)
}

/// The 3 to 5 numbers that matter: completed, p99, lag, anomalies, and recovery when
/// faults were injected.
pub fn key_numbers(r: &Results) -> Vec<KeyNumber> {
    let c = &r.counts;
    let mut out = Vec::new();
    let completed = (c.acknowledged > 0).then(|| c.completed as f64 / c.acknowledged as f64);
    out.push(KeyNumber {
        label: "completed",
        value: completed.map_or("-".into(), |f| format!("{:.1} %", f * 100.0)),
        detail: format!(
            "{} of {} acknowledged orders{}",
            c.completed,
            c.acknowledged,
            r.throughput
                .mean_per_s
                .map_or(String::new(), |m| format!("; {m:.1}/s"))
        ),
        class: match completed {
            Some(f) if f >= 1.0 => "pass",
            Some(_) => "fail",
            None => "",
        },
    });
    let e2e = &r.latency.e2e;
    out.push(KeyNumber {
        label: "p99 end to end",
        value: e2e.p99_us.map_or("-".into(), short_duration),
        detail: format!(
            "p50 {}, max {}",
            e2e.p50_us.map_or("-".into(), short_duration),
            e2e.max_us.map_or("-".into(), short_duration)
        ),
        class: "",
    });
    let worst_group = r.lag.max_by_group.iter().max_by_key(|(_, lag)| **lag);
    out.push(KeyNumber {
        label: "lag max",
        value: r.lag.max.map_or("-".into(), |m| m.to_string()),
        detail: worst_group.map_or("no lag samples".into(), |(g, _)| {
            format!("entries behind, in {g}")
        }),
        class: "",
    });
    let anomalies = total_anomalies(r);
    let named = named_anomalies(r);
    out.push(KeyNumber {
        label: "anomalies",
        value: anomalies.to_string(),
        detail: if named.is_empty() {
            format!("none of the {} kinds", ANOMALIES.len())
        } else {
            named.join(", ")
        },
        class: if anomalies == 0 { "pass" } else { "fail" },
    });
    if !r.faults.is_empty() {
        let never = r.faults.iter().find(|f| f.recovery_s.is_none());
        let slowest = r
            .faults
            .iter()
            .filter_map(|f| f.recovery_s.map(|s| (f, s)))
            .max_by(|a, b| a.1.total_cmp(&b.1));
        let (value, detail, class) = match (never, slowest) {
            (Some(f), _) => (
                "never".to_string(),
                format!("after {} {}", f.kind.name(), f.target),
                "fail",
            ),
            (None, Some((f, s))) => (
                format!("{s:.1} s"),
                format!("after {} {} ended", f.kind.name(), f.target),
                "",
            ),
            (None, None) => ("-".into(), String::new(), ""),
        };
        out.push(KeyNumber {
            label: "recovery",
            value,
            detail,
            class,
        });
    }
    out
}

/// What happened, in one or two sentences generated from the results.
pub fn sentences(r: &Results) -> Vec<String> {
    let mut out = Vec::new();
    let anomalies = total_anomalies(r);
    if anomalies > 0 {
        let named = named_anomalies(r);
        out.push(format!(
            "{anomalies} anomal{} found: {}.",
            if anomalies == 1 { "y" } else { "ies" },
            named.join(", ")
        ));
    }
    if let Some(f) = worst_fault(r) {
        let latency = f.latency.as_ref().unwrap_or(&r.latency);
        let fault = format!("the {} fault on {}", f.kind.name(), f.target);
        let recovered = match f.recovery_s {
            Some(s) => format!("recovered {s:.1} s after it ended"),
            None => "had not recovered when the load ended".to_string(),
        };
        let slowed = match (f.p99_us, f.steady_p99_us) {
            (Some(during), Some(steady)) => during as f64 > steady as f64 * 1.5,
            (Some(_), None) => true,
            _ => false,
        };
        match slowest_hop(latency) {
            Some((hop, p)) if slowed => out.push(format!(
                "{} fell behind during {fault}: p99 {} on {}, {recovered}.",
                handler(hop).unwrap_or("a service"),
                p.p99_us.map_or("-".into(), short_duration),
                arrow(hop),
            )),
            _ => out.push(format!(
                "The orders kept pace during {fault}: p99 {} during it, {} before it.",
                f.p99_us.map_or("-".into(), short_duration),
                f.steady_p99_us.map_or("-".into(), short_duration),
            )),
        }
    } else if let Some((hop, p)) = slowest_hop(&r.latency) {
        out.push(format!(
            "No faults were injected; p99 {} end to end, the slowest hop {} (p99 {}, in {}).",
            r.latency.e2e.p99_us.map_or("-".into(), short_duration),
            arrow(hop),
            p.p99_us.map_or("-".into(), short_duration),
            handler(hop).unwrap_or("an unknown service"),
        ));
    }
    if out.is_empty() {
        out.push("No latency was measured.".into());
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_sentence_names_the_service_the_hop_and_the_recovery() {
        let r = Results::parse(
            r#"{"experiment":"x","verdict":"pass",
                "latency":{"e2e":{"count":5,"p99_us":8000000}},
                "faults":[{"id":"f1","kind":"latency","target":"redis","start_s":13,"end_s":23,
                  "p99_us":8800000,"steady_p99_us":900000,"recovery_s":1.98,
                  "latency":{"hops":{
                    "OrderPlaced->StockReserved":{"count":5,"p50_us":3000,"p99_us":7900000},
                    "OrderPlaced->StockUpdated":{"count":5,"p50_us":3000,"p99_us":9900000}}}}]}"#,
        )
        .expect("parse");
        assert_eq!(
            sentences(&r),
            [
                "inventory fell behind during the latency fault on redis: p99 7.9 s on OrderPlaced→StockReserved, recovered 2.0 s after it ended."
            ]
        );
        let keys = key_numbers(&r);
        let labels: Vec<&str> = keys.iter().map(|k| k.label).collect();
        assert_eq!(
            labels,
            [
                "completed",
                "p99 end to end",
                "lag max",
                "anomalies",
                "recovery"
            ]
        );
        assert_eq!(keys[4].value, "2.0 s");
    }

    #[test]
    fn anomalies_and_no_faults_are_said_too() {
        let r = Results::parse(
            r#"{"experiment":"x","verdict":"fail","anomalies":{"lost":{"count":2}},
                "latency":{"e2e":{"count":5,"p99_us":12000},"hops":{
                  "StockReserved->PaymentCaptured":{"count":5,"p99_us":9000}}}}"#,
        )
        .expect("parse");
        assert_eq!(
            sentences(&r),
            [
                "2 anomalies found: lost 2.",
                "No faults were injected; p99 12 ms end to end, the slowest hop StockReserved→PaymentCaptured (p99 9.0 ms, in payment)."
            ]
        );
        assert_eq!(key_numbers(&r).len(), 4, "no recovery without faults");
        let empty = Results::parse(r#"{"experiment":"x","verdict":"pass"}"#).expect("parse");
        assert_eq!(sentences(&empty), ["No latency was measured."]);
    }
}
