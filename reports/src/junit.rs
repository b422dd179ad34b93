//! `junit.xml`: one test case per threshold and per anomaly rule of the guarantee, so a
//! CI system shows which check failed and why (actual value, sample ids).

use std::io::{self, Write};

use crate::escape::{attr, text};
use crate::results::{ANOMALIES, Results, actual_text};
use check::ExpectationStatus;

struct Case {
    class: &'static str,
    name: String,
    /// `Some(message)` for a failed check.
    failure: Option<String>,
    /// `Some(message)` for a check that could not be judged.
    skipped: Option<String>,
    output: String,
}

fn cases(r: &Results) -> Vec<Case> {
    let mut cases: Vec<Case> = r
        .thresholds
        .iter()
        .map(|t| Case {
            class: "thresholds",
            name: format!("{} {}", t.metric, t.expression),
            failure: (!t.pass).then(|| {
                let note = t
                    .note
                    .as_deref()
                    .map(|n| format!(" ({n})"))
                    .unwrap_or_default();
                format!(
                    "{} {}: actual {}{note}",
                    t.metric,
                    t.expression,
                    actual_text(t)
                )
            }),
            skipped: None,
            output: format!("actual {}", actual_text(t)),
        })
        .collect();
    let samples = |anomaly: &str| {
        r.anomalies
            .get(anomaly)
            .map(|f| f.sample.join(" "))
            .unwrap_or_default()
    };
    let guarantee = r.guarantee().unwrap_or("the run's guarantee");
    if r.expectations.is_empty() {
        // No rules recorded: one case per anomaly, failing on any occurrence.
        for name in ANOMALIES {
            let count = r.anomaly(name);
            cases.push(Case {
                class: "anomalies",
                name: format!("{name} == 0"),
                failure: (count > 0)
                    .then(|| format!("{name}: {count} (sample ids: {})", samples(name))),
                skipped: None,
                output: format!("{name}: {count}"),
            });
        }
    }
    for e in &r.expectations {
        let broken = e.status == ExpectationStatus::Broken;
        let detail = format!(
            "{}: {} (sample ids: {})",
            e.anomaly.name(),
            e.actual,
            samples(e.anomaly.name())
        );
        cases.push(Case {
            class: "anomalies",
            name: e.rule.clone(),
            failure: (broken && e.required).then(|| detail.clone()),
            skipped: (e.status == ExpectationStatus::NotJudged)
                .then(|| "not judged: the run was interrupted before its drain finished".into()),
            output: if broken && !e.required {
                format!("{detail}; allowed under {guarantee}")
            } else {
                format!("{}: {}", e.anomaly.name(), e.actual)
            },
        });
    }
    cases
}

/// Writes junit.xml for one run.
pub fn write<W: Write>(out: &mut W, r: &Results) -> io::Result<()> {
    let cases = cases(r);
    let failures = cases.iter().filter(|c| c.failure.is_some()).count();
    let skipped = cases.iter().filter(|c| c.skipped.is_some()).count();
    writeln!(out, r#"<?xml version="1.0" encoding="UTF-8"?>"#)?;
    writeln!(
        out,
        r#"<testsuites name="harness" tests="{}" failures="{failures}" skipped="{skipped}">"#,
        cases.len()
    )?;
    writeln!(
        out,
        r#"  <testsuite name="{}" tests="{}" failures="{failures}" skipped="{skipped}" errors="0" timestamp="{}">"#,
        attr(&r.experiment),
        cases.len(),
        attr(&r.started_at)
    )?;
    for case in &cases {
        writeln!(
            out,
            r#"    <testcase classname="{}.{}" name="{}">"#,
            attr(&r.experiment),
            case.class,
            attr(&case.name)
        )?;
        if let Some(message) = &case.failure {
            writeln!(
                out,
                r#"      <failure type="{}" message="{}">{}</failure>"#,
                case.class,
                attr(message),
                text(message)
            )?;
        }
        if let Some(message) = &case.skipped {
            writeln!(out, r#"      <skipped message="{}"/>"#, attr(message))?;
        }
        writeln!(out, "      <system-out>{}</system-out>", text(&case.output))?;
        writeln!(out, "    </testcase>")?;
    }
    writeln!(out, "  </testsuite>\n</testsuites>")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn xml(json: &str) -> String {
        let r = Results::parse(json).expect("parse");
        let mut out = Vec::new();
        write(&mut out, &r).expect("write");
        String::from_utf8(out).expect("utf8")
    }

    #[test]
    fn failed_thresholds_and_broken_required_rules_fail_with_their_values() {
        let x = xml(r#"{"experiment":"e<1>","verdict":"fail",
                "config":{"system":{"guarantee":"at-least-once"}},
                "anomalies":{"lost":{"count":2,"sample":["o-1","o-2"]},
                             "duplicate_delivery":{"count":1,"sample":["ev-9"]}},
                "thresholds":[{"metric":"lost","expression":"== 0","actual":2,"unit":"count","pass":false},
                              {"metric":"latency.e2e.p99","expression":"< 1s","actual":5000,"unit":"us","pass":true}],
                "expectations":[{"rule":"lost == 0","anomaly":"lost","actual":2,"required":true,"status":"broken"},
                                {"rule":"duplicate_delivery == 0","anomaly":"duplicate_delivery","actual":1,"required":false,"status":"broken"}]}"#);
        assert!(x.contains(r#"tests="4" failures="2""#), "{x}");
        assert!(x.contains(r#"<testsuite name="e&lt;1&gt;""#), "{x}");
        assert!(x.contains(r#"message="lost == 0: actual 2""#), "{x}");
        assert!(
            x.contains(r#"message="lost: 2 (sample ids: o-1 o-2)""#),
            "{x}"
        );
        assert!(x.contains("allowed under at-least-once"), "{x}");
        assert!(x.contains("actual 5.0 ms"), "{x}");
    }

    #[test]
    fn without_rules_every_anomaly_is_a_case() {
        let x = xml(r#"{"experiment":"e","verdict":"pass"}"#);
        assert!(x.contains(r#"tests="7" failures="0""#), "{x}");
        let x = xml(r#"{"experiment":"e","verdict":"inconclusive",
                "expectations":[{"rule":"lost == 0","anomaly":"lost","actual":0,"required":true,"status":"not_judged"}]}"#);
        assert!(
            x.contains(r#"skipped="1""#) && x.contains("<skipped"),
            "{x}"
        );
    }
}
