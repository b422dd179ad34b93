//! Comparing runs: the delta of every headline number against the first run, and the
//! "cost of exactly-once" — for runs that differ only in their guarantee, what the
//! stronger one costs in throughput and latency against the anomalies it avoids.
//! Pure numbers here; `compare_md` and [`crate::compare_html`] render them.

use std::io::{self, Write};

use crate::markdown::table;
use crate::results::{ANOMALIES, AVOIDABLE, Results};

/// A change against the baseline: `value - base`, and that relative to `base`.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Change {
    pub absolute: f64,
    /// `None` when the base is 0 (or either value is missing upstream).
    pub relative: Option<f64>,
}

/// The change from `base` to `value`; `None` when either is missing or not finite.
pub fn change(base: Option<f64>, value: Option<f64>) -> Option<Change> {
    let (b, v) = (base?, value?);
    if !(b.is_finite() && v.is_finite()) {
        return None;
    }
    Some(Change {
        absolute: v - b,
        relative: (b != 0.0).then(|| (v - b) / b),
    })
}

/// How a metric's values print.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Unit {
    PerSecond,
    /// Stored in microseconds, printed in milliseconds.
    Micros,
    Seconds,
    Count,
}

impl Unit {
    pub fn format(self, v: f64) -> String {
        match self {
            Unit::PerSecond => format!("{v:.1}/s"),
            Unit::Micros => format!("{:.1} ms", v / 1000.0),
            Unit::Seconds => format!("{v:.2} s"),
            Unit::Count => format!("{v}"),
        }
    }
}

/// One row of the delta table: a metric's value in every run.
#[derive(Debug, Clone, PartialEq)]
pub struct Row {
    pub metric: String,
    pub unit: Unit,
    pub values: Vec<Option<f64>>,
}

impl Row {
    /// Each run's change against the first.
    pub fn changes(&self) -> Vec<Option<Change>> {
        let base = self.values.first().copied().flatten();
        self.values.iter().map(|v| change(base, *v)).collect()
    }
}

/// Text of a change: `+12.0 ms (+4.1 %)`; `-` when there is none.
pub fn change_text(c: Option<Change>, unit: Unit) -> String {
    let Some(c) = c else { return "-".into() };
    let sign = if c.absolute > 0.0 { "+" } else { "" };
    let abs = format!("{sign}{}", unit.format(c.absolute));
    match c.relative {
        Some(r) => format!(
            "{abs} ({}{:.1} %)",
            if r > 0.0 { "+" } else { "" },
            r * 100.0
        ),
        None => abs,
    }
}

fn us(v: Option<u64>) -> Option<f64> {
    v.map(|v| v as f64)
}

/// The delta table's rows: throughput, e2e percentiles, lag, anomalies, per-fault
/// recovery and drain (faults matched by position).
pub fn rows(runs: &[Results]) -> Vec<Row> {
    let row = |metric: &str, unit: Unit, f: &dyn Fn(&Results) -> Option<f64>| Row {
        metric: metric.to_string(),
        unit,
        values: runs.iter().map(f).collect(),
    };
    let mut rows = vec![
        row("throughput (mean completed)", Unit::PerSecond, &|r| {
            r.throughput.mean_per_s
        }),
        row("latency e2e p50", Unit::Micros, &|r| {
            us(r.latency.e2e.p50_us)
        }),
        row("latency e2e p90", Unit::Micros, &|r| {
            us(r.latency.e2e.p90_us)
        }),
        row("latency e2e p99", Unit::Micros, &|r| {
            us(r.latency.e2e.p99_us)
        }),
        row("latency e2e p99.9", Unit::Micros, &|r| {
            us(r.latency.e2e.p999_us)
        }),
        row("lag max", Unit::Count, &|r| r.lag.max.map(|v| v as f64)),
    ];
    for name in ANOMALIES {
        rows.push(row(name, Unit::Count, &|r| Some(r.anomaly(name) as f64)));
    }
    let faults = runs.iter().map(|r| r.faults.len()).max().unwrap_or(0);
    for i in 0..faults {
        let label = runs
            .iter()
            .find_map(|r| r.faults.get(i))
            .map(|f| format!("{} {}", f.kind.name(), f.target))
            .unwrap_or_default();
        rows.push(row(&format!("recovery: {label}"), Unit::Seconds, &|r| {
            r.faults.get(i).and_then(|f| f.recovery_s)
        }));
        rows.push(row(&format!("drain: {label}"), Unit::Seconds, &|r| {
            r.faults.get(i).and_then(|f| f.drain_s)
        }));
    }
    rows
}

/// Labels of the runs: the experiment name (with its matrix combination), made unique.
pub fn labels(runs: &[Results]) -> Vec<String> {
    let mut out: Vec<String> = Vec::new();
    for r in runs {
        let mut label = r.experiment.clone();
        let combination = r.combination();
        if !combination.is_empty() && !label.contains(&combination) {
            label = format!("{label} [{combination}]");
        }
        let mut n = 2;
        let base = label.clone();
        while out.contains(&label) {
            label = format!("{base} #{n}");
            n += 1;
        }
        out.push(label);
    }
    out
}

/// Guarantees weakest first (unknown ones last): the order runs are paired and the
/// grid's columns stand in.
pub(crate) fn strength(guarantee: &str) -> u8 {
    match guarantee {
        "at-most-once" => 0,
        "at-least-once" => 1,
        "exactly-once" => 2,
        _ => 3,
    }
}

/// Everything that identifies a run's setup except its guarantee: runs compared in the
/// cost table must agree on it.
fn setup_without_guarantee(r: &Results) -> String {
    let mut combination = r
        .config
        .pointer("/combination")
        .cloned()
        .unwrap_or_default();
    if let Some(map) = combination.as_object_mut() {
        map.remove("guarantee");
    }
    format!(
        "{}|{}|{combination}",
        r.base_name(),
        r.backend().unwrap_or("")
    )
}

/// One row of the cost table: the stronger guarantee's run against the weaker one's.
#[derive(Debug, Clone, PartialEq)]
pub struct Cost {
    /// Indices into the runs.
    pub weaker: usize,
    pub stronger: usize,
    pub throughput: Option<Change>,
    pub p50: Option<Change>,
    pub p99: Option<Change>,
    /// Per avoidable anomaly: weaker count − stronger count (positive: avoided).
    pub avoided: Vec<(&'static str, i64)>,
}

/// Pairs of runs with the same setup and different guarantees, weaker first.
pub fn costs(runs: &[Results]) -> Vec<Cost> {
    let mut out = Vec::new();
    for (i, a) in runs.iter().enumerate() {
        for (j, b) in runs.iter().enumerate().skip(i + 1) {
            let (Some(ga), Some(gb)) = (a.guarantee(), b.guarantee()) else {
                continue;
            };
            if ga == gb || setup_without_guarantee(a) != setup_without_guarantee(b) {
                continue;
            }
            let (weaker, stronger) = if strength(ga) <= strength(gb) {
                (i, j)
            } else {
                (j, i)
            };
            let (w, s) = (&runs[weaker], &runs[stronger]);
            out.push(Cost {
                weaker,
                stronger,
                throughput: change(w.throughput.mean_per_s, s.throughput.mean_per_s),
                p50: change(us(w.latency.e2e.p50_us), us(s.latency.e2e.p50_us)),
                p99: change(us(w.latency.e2e.p99_us), us(s.latency.e2e.p99_us)),
                avoided: AVOIDABLE
                    .iter()
                    .map(|a| (*a, w.anomaly(a) as i64 - s.anomaly(a) as i64))
                    .collect(),
            });
        }
    }
    out
}

/// The cost table as rows of text: header and rows (shared by Markdown and HTML). The
/// latency change and the anomalies avoided lead; throughput comes last, since at a
/// fixed open-loop rate below capacity both runs complete what they are sent and its
/// change says little (the cost in throughput is a ratio of capacities).
pub fn cost_table(runs: &[Results], _labels: &[String]) -> (Vec<String>, Vec<Vec<String>>) {
    let mut header: Vec<String> = ["stronger", "against", "p50 e2e", "p99 e2e"]
        .map(String::from)
        .to_vec();
    header.extend(AVOIDABLE.iter().map(|a| format!("{a} avoided")));
    header.push("throughput at the offered rate".into());
    let rows = costs(runs)
        .into_iter()
        .map(|c| {
            // The pair has the same setup but its guarantee: the guarantee names a run.
            let name = |i: usize| runs[i].guarantee().unwrap_or("?").to_string();
            let mut row = vec![
                name(c.stronger),
                name(c.weaker),
                change_text(c.p50, Unit::Micros),
                change_text(c.p99, Unit::Micros),
            ];
            row.extend(c.avoided.iter().map(|(_, n)| n.to_string()));
            row.push(change_text(c.throughput, Unit::PerSecond));
            row
        })
        .collect();
    (header, rows)
}

/// What the cost table's columns mean.
pub const COST_NOTE: &str = "Latency: change of the stronger guarantee against the weaker (same setup, same load); avoided: the weaker run's count minus the stronger run's; throughput: the change at the rate both were offered, not a capacity (`harness capacity` measures that).";

/// When every run completed (within 1 %) what it was offered over its load phase:
/// the runs were below capacity, so their throughput cannot differ and the table's
/// throughput column measures the offered rate, not the guarantee.
pub fn below_capacity_note(runs: &[Results]) -> Option<String> {
    let mut offered = Vec::new();
    for r in runs {
        let p = r.phases.as_ref()?;
        let (first, end) = (
            p.warmup_end_us.div_ceil(1_000_000),
            p.load_end_us / 1_000_000,
        );
        let seconds: Vec<_> = r
            .throughput
            .timeline
            .iter()
            .filter(|s| s.t_s >= first && s.t_s < end)
            .collect();
        if seconds.is_empty() {
            return None;
        }
        let attempted: u64 = seconds.iter().map(|s| s.attempted).sum();
        let completed: u64 = seconds.iter().map(|s| s.completed).sum();
        if (completed as f64) < 0.99 * attempted as f64 {
            return None;
        }
        offered.push(attempted as f64 / seconds.len() as f64);
    }
    let rates: Vec<String> = offered.iter().map(|r| format!("{r:.0}/s")).collect();
    Some(format!(
        "Every run completed what it was offered ({}): they ran below capacity, so throughput cannot show what a guarantee costs. The cost in throughput is a ratio of capacities: `harness capacity` on the same setup measures it.",
        rates.join(", ")
    ))
}

/// The delta table as text: the metric, the first run's value, then each other run's
/// value and change.
pub fn delta_table(runs: &[Results], labels: &[String]) -> (Vec<String>, Vec<Vec<String>>) {
    let mut header = vec!["metric".to_string()];
    header.extend(labels.iter().cloned());
    let rows = rows(runs)
        .into_iter()
        .map(|row| {
            let changes = row.changes();
            let mut cells = vec![row.metric.clone()];
            for (i, v) in row.values.iter().enumerate() {
                let value = v.map_or("-".into(), |v| row.unit.format(v));
                cells.push(match changes[i] {
                    _ if i == 0 => value,
                    Some(c) if c.absolute == 0.0 => format!("{value}  Δ 0"),
                    c => format!("{value}  Δ {}", change_text(c, row.unit)),
                });
            }
            cells
        })
        .collect();
    (header, rows)
}

pub(crate) const NO_COST: &str =
    "No two runs differ only in their guarantee, so there is no cost of exactly-once to show.";

/// `compare.md`.
pub fn compare_md<W: Write>(out: &mut W, runs: &[Results]) -> io::Result<()> {
    let labels = labels(runs);
    writeln!(out, "## Comparison of {} runs\n", runs.len())?;
    let run_rows: Vec<Vec<String>> = runs
        .iter()
        .zip(&labels)
        .map(|(r, l)| {
            vec![
                l.clone(),
                r.guarantee().unwrap_or("-").to_string(),
                r.backend().unwrap_or("-").to_string(),
                crate::results::upper(r.verdict).to_string(),
                r.started_at.clone(),
            ]
        })
        .collect();
    table(
        out,
        &["run", "guarantee", "backend", "verdict", "started"],
        &run_rows,
    )?;
    writeln!(out, "\n### Cost of exactly-once\n")?;
    let (header, rows) = cost_table(runs, &labels);
    if rows.is_empty() {
        writeln!(out, "{NO_COST}")?;
    } else {
        let header: Vec<&str> = header.iter().map(String::as_str).collect();
        table(out, &header, &rows)?;
        writeln!(out, "\n{COST_NOTE}")?;
        if let Some(note) = below_capacity_note(runs) {
            writeln!(out, "\n{note}")?;
        }
    }
    writeln!(
        out,
        "\n### Deltas against {}\n",
        labels.first().map_or("-", |l| l.as_str())
    )?;
    let (header, rows) = delta_table(runs, &labels);
    let header: Vec<&str> = header.iter().map(String::as_str).collect();
    table(out, &header, &rows)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn loaded(per_second: &[(u64, u64)]) -> Results {
        let mut r: Results =
            serde_json::from_str(r#"{"experiment":"e","verdict":"pass"}"#).expect("minimal");
        r.phases = Some(check::Phases {
            warmup_end_us: 1_000_000,
            load_end_us: 1_000_000 + per_second.len() as u64 * 1_000_000,
            ..check::Phases::default()
        });
        r.throughput.timeline = per_second
            .iter()
            .enumerate()
            .map(|(i, &(attempted, completed))| check::Second {
                t_s: i as u64 + 1,
                attempted,
                completed,
                ..check::Second::default()
            })
            .collect();
        r
    }

    #[test]
    fn runs_that_completed_what_they_were_offered_were_below_capacity() {
        let easy = loaded(&[(80, 80), (80, 79), (80, 81)]);
        let also = loaded(&[(80, 80), (80, 80), (80, 80)]);
        let note = below_capacity_note(&[easy.clone(), also]).expect("below capacity");
        assert!(note.starts_with("Every run completed what it was offered (80/s, 80/s)"));
        let saturated = loaded(&[(300, 200), (300, 210), (300, 190)]);
        assert_eq!(below_capacity_note(&[easy, saturated]), None);
    }

    #[test]
    fn change_is_absolute_and_relative() {
        let c = change(Some(200.0), Some(150.0)).expect("change");
        assert_eq!(c.absolute, -50.0);
        assert_eq!(c.relative, Some(-0.25));
        assert_eq!(change(Some(0.0), Some(3.0)).expect("c").relative, None);
        assert_eq!(change(None, Some(3.0)), None);
        assert_eq!(change(Some(1.0), None), None);
        assert_eq!(change(Some(f64::NAN), Some(1.0)), None);
        assert_eq!(change(Some(5.0), Some(5.0)).expect("c").relative, Some(0.0));
    }

    #[test]
    fn change_text_signs_and_units() {
        assert_eq!(
            change_text(change(Some(10_000.0), Some(12_500.0)), Unit::Micros),
            "+2.5 ms (+25.0 %)"
        );
        assert_eq!(
            change_text(change(Some(80.0), Some(60.0)), Unit::PerSecond),
            "-20.0/s (-25.0 %)"
        );
        assert_eq!(change_text(change(Some(0.0), Some(3.0)), Unit::Count), "+3");
        assert_eq!(change_text(None, Unit::Count), "-");
    }

    fn run(name: &str, guarantee: &str, mean: f64, p99: u64, lost: u64, dup: u64) -> Results {
        Results::parse(&format!(
            r#"{{"experiment":"{name}","verdict":"pass",
                "config":{{"base_name":"k","system":{{"guarantee":"{guarantee}","backend":"kafka"}},
                          "combination":{{"guarantee":"{guarantee}"}}}},
                "throughput":{{"mean_per_s":{mean}}},
                "latency":{{"e2e":{{"count":10,"p50_us":1000,"p99_us":{p99}}}}},
                "anomalies":{{"lost":{{"count":{lost}}},"duplicate_delivery":{{"count":{dup}}}}},
                "faults":[{{"kind":"kill","target":"kafka-1","start_s":1,"end_s":2,"recovery_s":3.5}}]}}"#
        ))
        .expect("parse")
    }

    #[test]
    fn deltas_are_against_the_first_run() {
        let runs = [
            run("a", "at-least-once", 100.0, 10_000, 0, 4),
            run("b", "exactly-once", 80.0, 15_000, 0, 0),
        ];
        let rows = rows(&runs);
        let throughput = &rows[0];
        assert_eq!(throughput.values, vec![Some(100.0), Some(80.0)]);
        assert_eq!(throughput.changes()[1], change(Some(100.0), Some(80.0)));
        let recovery = rows
            .iter()
            .find(|r| r.metric == "recovery: kill kafka-1")
            .expect("recovery row");
        assert_eq!(recovery.values, vec![Some(3.5), Some(3.5)]);
        let dup = rows
            .iter()
            .find(|r| r.metric == "duplicate_delivery")
            .expect("row");
        assert_eq!(dup.changes()[1].expect("c").absolute, -4.0);
    }

    #[test]
    fn delta_cells_show_the_value_and_its_change() {
        let runs = [
            run("a", "at-least-once", 100.0, 10_000, 0, 4),
            run("b", "exactly-once", 80.0, 15_000, 0, 0),
        ];
        let (header, rows) = delta_table(&runs, &labels(&runs));
        assert_eq!(header.len(), 3);
        assert_eq!(
            rows[0],
            [
                "throughput (mean completed)",
                "100.0/s",
                "80.0/s  Δ -20.0/s (-20.0 %)"
            ]
        );
        let lost = rows.iter().find(|r| r[0] == "lost").expect("lost row");
        assert_eq!(lost[2], "0  Δ 0");
        let recovery = rows
            .iter()
            .find(|r| r[0].starts_with("recovery"))
            .expect("row");
        assert_eq!(recovery[1..], ["3.50 s", "3.50 s  Δ 0"]);
    }

    #[test]
    fn the_cost_pairs_the_weaker_with_the_stronger_guarantee() {
        // exactly-once listed first: still oriented weaker → stronger
        let runs = [
            run("e", "exactly-once", 80.0, 15_000, 0, 0),
            run("a", "at-least-once", 100.0, 10_000, 1, 4),
        ];
        let costs = costs(&runs);
        assert_eq!(costs.len(), 1);
        let c = &costs[0];
        assert_eq!((c.weaker, c.stronger), (1, 0));
        assert_eq!(c.throughput.expect("t").relative, Some(-0.2));
        assert_eq!(c.p99.expect("p").absolute, 5_000.0);
        assert_eq!(c.avoided[0], ("lost", 1));
        assert_eq!(c.avoided[1], ("duplicate_delivery", 4));
    }

    #[test]
    fn runs_of_different_setups_or_equal_guarantees_have_no_cost() {
        let mut other = run("b", "exactly-once", 80.0, 15_000, 0, 0);
        other.config["system"]["backend"] = "redis".into();
        assert!(costs(&[run("a", "at-least-once", 100.0, 1, 0, 0), other]).is_empty());
        assert!(
            costs(&[
                run("a", "at-least-once", 1.0, 1, 0, 0),
                run("b", "at-least-once", 1.0, 1, 0, 0)
            ])
            .is_empty()
        );
    }

    #[test]
    fn labels_are_unique() {
        let runs = [
            run("x", "at-least-once", 1.0, 1, 0, 0),
            run("x", "at-least-once", 1.0, 1, 0, 0),
        ];
        assert_eq!(
            labels(&runs),
            [
                "x [guarantee=at-least-once]",
                "x [guarantee=at-least-once] #2"
            ]
        );
    }
}
