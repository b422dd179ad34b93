//! One cell of the grid: a run's verdict, its non-zero anomalies by short name with
//! their standing under the run's guarantee (counted, allowed, not judged), the lost
//! orders a dead letter holds, and the link to the run. Pure.

use check::Anomaly;

use crate::results::{Decision, ExpectationStatus, Results, anomaly_names};

/// A relative link: `href` is percent-encoded, safe in Markdown and in an attribute.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Link {
    pub href: String,
    /// `report` (the run's report.html) or `run directory` (it has none).
    pub label: &'static str,
}

/// How an anomaly counted under the run's guarantee.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Standing {
    /// A required rule broke, or no rule covers it: it counts against the run.
    Counted,
    /// The guarantee allows it: its rule is not required, or the rule leaves these out
    /// (duplicate deliveries of `OrderPlaced`, a producer's retries).
    Allowed,
    /// The run was interrupted before its drain finished: not judged.
    NotJudged,
}

/// One non-zero anomaly of a cell: `lost 3 (2 dead-lettered)`, `dup delivery 12 (allowed)`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Mark {
    /// The short name ([`short_name`]).
    pub name: String,
    pub count: u64,
    /// For `lost`: how many of them a dead letter holds (when any).
    pub dead_lettered: Option<u64>,
    pub standing: Standing,
}

impl Mark {
    pub fn text(&self) -> String {
        let mut text = format!("{} {}", self.name, self.count);
        if let Some(n) = self.dead_lettered {
            text.push_str(&format!(" ({n} dead-lettered)"));
        }
        match self.standing {
            Standing::Counted => {}
            Standing::Allowed => text.push_str(" (allowed)"),
            Standing::NotJudged => text.push_str(" (not judged)"),
        }
        text
    }
}

/// What a cell shows.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Content {
    Run {
        verdict: Decision,
        marks: Vec<Mark>,
        /// `complete: false`: interrupted, partial results.
        incomplete: bool,
        /// The first reason of a run that did not pass with no counted anomaly to show
        /// why (a threshold, a drain that did not finish).
        reason: Option<String>,
    },
    /// The directory has no readable results.json: the error.
    NoResults { error: String },
}

/// One run in the grid.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Cell {
    pub content: Content,
    pub link: Link,
}

/// The short name a cell uses for an anomaly (the legend lists them).
pub fn short(anomaly: Anomaly) -> &'static str {
    match anomaly {
        Anomaly::Lost => "lost",
        Anomaly::DuplicateDelivery => "dup delivery",
        Anomaly::DuplicateEffect => "dup effect",
        Anomaly::OrderingViolation => "out of order",
        Anomaly::Unobserved => "unobserved",
        Anomaly::Phantom => "phantom",
        Anomaly::InvariantViolation => "invariant",
    }
}

/// What the anomaly is, in a line, for the legend.
pub fn meaning(anomaly: Anomaly) -> &'static str {
    match anomaly {
        Anomaly::Lost => "an acknowledged order that never reached a terminal event",
        Anomaly::DuplicateDelivery => {
            "the same event id in more than one log entry: a consumer sees it again"
        }
        Anomaly::DuplicateEffect => {
            "one step applied twice: two events of one type for an order, or two charges"
        }
        Anomaly::OrderingViolation => {
            "an event of an order observed after one with a higher seq, or an effect before its cause"
        }
        Anomaly::Unobserved => "acknowledged by the broker, never read by the tap",
        Anomaly::Phantom => "observed but never produced",
        Anomaly::InvariantViolation => {
            "a business invariant broken (stock below zero, an order both confirmed and cancelled)"
        }
    }
}

/// The short name of an anomaly named in results.json; an unknown one with spaces
/// for underscores.
pub fn short_name(name: &str) -> String {
    Anomaly::from_name(name).map_or_else(|| name.replace('_', " "), |a| short(a).to_string())
}

/// A run's marks: each non-zero anomaly, in report order, with its standing.
fn marks(r: &Results) -> Vec<Mark> {
    anomaly_names(r)
        .into_iter()
        .filter(|name| r.anomaly(name) > 0)
        .map(|name| {
            let rule = r.expectations.iter().find(|e| e.anomaly.name() == name);
            let standing = match rule {
                None => Standing::Counted,
                Some(e) if e.status == ExpectationStatus::NotJudged => Standing::NotJudged,
                Some(e) if e.required && e.status == ExpectationStatus::Broken => Standing::Counted,
                Some(_) => Standing::Allowed,
            };
            let dead = r.lost_attribution.dead_lettered_count();
            Mark {
                name: short_name(name),
                count: r.anomaly(name),
                dead_lettered: (name == "lost" && dead > 0).then_some(dead),
                standing,
            }
        })
        .collect()
}

/// The first of a run's reasons when nothing in its marks explains its verdict;
/// shortened to a cell's width.
fn reason(r: &Results, marks: &[Mark]) -> Option<String> {
    let explained = marks.iter().any(|m| m.standing == Standing::Counted);
    if r.verdict == Decision::Pass || (r.verdict == Decision::Fail && explained) {
        return None;
    }
    let first = r.reasons.first()?;
    const WIDTH: usize = 100;
    Some(if first.chars().count() > WIDTH {
        format!("{}…", first.chars().take(WIDTH).collect::<String>())
    } else {
        first.clone()
    })
}

/// What a run's cell shows.
pub(crate) fn run_content(r: &Results) -> Content {
    let marks = marks(r);
    Content::Run {
        verdict: r.verdict,
        incomplete: !r.complete,
        reason: reason(r, &marks),
        marks,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn marks_name_each_anomaly_with_its_standing_under_the_guarantee() {
        let r = Results::parse(
            r#"{"experiment":"x","verdict":"fail","complete":false,
                "anomalies":{"lost":{"count":3},"duplicate_delivery":{"count":12},
                             "duplicate_effect":{"count":0},"unobserved":{"count":1},
                             "torn_write":{"count":2}},
                "lost_attribution":{"dead_lettered":[{"service":"order","reason_kind":"k","orders":2,"example_reason":"r"}]},
                "expectations":[
                  {"rule":"lost == 0","anomaly":"lost","actual":3,"required":true,"status":"broken"},
                  {"rule":"d","anomaly":"duplicate_delivery","actual":12,"required":false,"status":"broken"},
                  {"rule":"u","anomaly":"unobserved","actual":1,"required":true,"status":"not_judged"}]}"#,
        )
        .expect("parse");
        let texts: Vec<String> = marks(&r).iter().map(Mark::text).collect();
        assert_eq!(
            texts,
            [
                "lost 3 (2 dead-lettered)",
                "dup delivery 12 (allowed)",
                "unobserved 1 (not judged)",
                "torn write 2"
            ]
        );
        let Content::Run {
            incomplete, reason, ..
        } = run_content(&r)
        else {
            panic!("a run")
        };
        assert!(incomplete);
        assert_eq!(reason, None, "lost explains the failure");
    }
}
