//! `report.html`: one self-contained page — inline CSS, inline SVG charts, no script,
//! no URL of any kind — from the template `templates/report.html`. Every text taken
//! from the results is escaped ([`crate::escape`]).

use std::io::{self, Write};

use crate::chart::{self, Chart, Drawable};
use crate::diagram::Diagram;
use crate::error::ReportError;
use crate::results::{
    Percentiles, Results, actual_text, anomaly_names, dead_letter_lines, environment_rows, ms,
    secs, upper,
};
use crate::{escape, headline};

pub(crate) const STYLE: &str = include_str!("../templates/style.css");
const REPORT: &str = include_str!("../templates/report.html");

/// One table cell: its text (escaped when written) and a CSS class.
#[derive(Debug, Clone)]
pub(crate) struct Cell {
    text: String,
    class: &'static str,
}

impl Cell {
    pub(crate) fn text(s: impl Into<String>) -> Cell {
        Cell {
            text: s.into(),
            class: "",
        }
    }
    pub(crate) fn num(s: impl Into<String>) -> Cell {
        Cell {
            text: s.into(),
            class: "num",
        }
    }
    pub(crate) fn ids(s: impl Into<String>) -> Cell {
        Cell {
            text: s.into(),
            class: "ids",
        }
    }
    /// `pass`, `fail` or `inconclusive`, coloured.
    pub(crate) fn status(s: &'static str) -> Cell {
        Cell {
            text: s.into(),
            class: s,
        }
    }
}

/// An HTML table; numeric columns' headers are right-aligned like their cells.
pub(crate) fn table(header: &[&str], rows: &[Vec<Cell>]) -> String {
    let mut out = String::from("<table>\n<tr>");
    for (i, h) in header.iter().enumerate() {
        let numeric = rows
            .first()
            .and_then(|r| r.get(i))
            .is_some_and(|c| c.class == "num");
        let class = if numeric { " class=\"num\"" } else { "" };
        out.push_str(&format!("<th{class}>{}</th>", escape::text(h)));
    }
    out.push_str("</tr>\n");
    for row in rows {
        out.push_str("<tr>");
        for cell in row {
            if cell.class.is_empty() {
                out.push_str(&format!("<td>{}</td>", escape::text(&cell.text)));
            } else {
                out.push_str(&format!(
                    "<td class=\"{}\">{}</td>",
                    cell.class,
                    escape::text(&cell.text)
                ));
            }
        }
        out.push_str("</tr>\n");
    }
    out.push_str("</table>");
    out
}

/// One value of a page: text, which the template engine escapes, or HTML this crate
/// built (tables, figures, lists of escaped text), inserted as it is.
#[derive(Debug, Clone)]
pub(crate) enum Slot {
    Text(String),
    Html(String),
}

/// Renders a page template (minijinja, HTML auto-escaping: the template's name ends in
/// `.html`) in one pass: a value is never read as template syntax, so an experiment
/// named `{{seed}}` shows as `{{seed}}`. A key the values do not name renders as nothing.
pub(crate) fn fill(
    name: &str,
    template: &str,
    values: Vec<(&str, Slot)>,
) -> Result<String, ReportError> {
    let mut env = minijinja::Environment::new();
    env.add_template(name, template)
        .map_err(|e| ReportError::Template {
            template: name.to_string(),
            message: format!("{e:#}"),
        })?;
    let context: std::collections::BTreeMap<String, minijinja::Value> = values
        .into_iter()
        .map(|(key, slot)| {
            let value = match slot {
                Slot::Text(text) => minijinja::Value::from(text),
                Slot::Html(html) => minijinja::Value::from_safe_string(html),
            };
            (key.to_string(), value)
        })
        .collect();
    env.get_template(name)
        .and_then(|t| t.render(minijinja::Value::from(context)))
        .map_err(|e| ReportError::Template {
            template: name.to_string(),
            message: format!("{e:#}"),
        })
}

/// A chart or diagram as a figure with its inline SVG and the name of its PNG.
pub(crate) fn figure<T: Drawable>(item: &T) -> Result<String, ReportError> {
    Ok(format!(
        "<figure id=\"{}\">\n{}\n<figcaption>{} (also {}.png)</figcaption>\n</figure>",
        escape::attr(item.slug()),
        chart::svg(item)?,
        escape::text(item.title()),
        escape::text(item.slug()),
    ))
}

/// The first screen: the verdict, what happened (generated sentences) and the key
/// numbers.
pub(crate) fn first_screen(r: &Results) -> String {
    let sentences: String = headline::sentences(r)
        .iter()
        .map(|s| format!("<p class=\"said\">{}</p>", escape::text(s)))
        .collect();
    let keys: String = headline::key_numbers(r)
        .iter()
        .map(|k| {
            format!(
                "<div class=\"key {}\"><div class=\"label\">{}</div><div class=\"value\">{}</div><div class=\"detail\">{}</div></div>",
                k.class,
                escape::text(k.label),
                escape::text(&k.value),
                escape::text(&k.detail)
            )
        })
        .collect();
    format!(
        "<div class=\"banner {}\"><strong>{}</strong>{}\n{sentences}</div>\n<div class=\"keys\">{keys}</div>",
        r.verdict.name(),
        upper(r.verdict),
        escape::text(
            &r.guarantee()
                .map(|g| format!(" judged as {g}"))
                .unwrap_or_default()
        ),
    )
}

/// The latency table: end to end, then every hop in the order flow's order (main
/// path, compensation, by-products), each row naming its branch.
pub(crate) fn latency_table(latency: &crate::results::Latency) -> String {
    let mut hops: Vec<(String, &Percentiles)> =
        latency.hops.iter().map(|(h, p)| (h.clone(), p)).collect();
    events::flow::sort_hops(&mut hops);
    let mut rows = vec![with_branch(percentile_row("end to end", &latency.e2e), "")];
    rows.extend(hops.iter().map(|(hop, p)| {
        let branch = events::flow::hop_key(hop).map_or("other", |k| k.branch.name());
        with_branch(percentile_row(&hop.replace("->", " → "), p), branch)
    }));
    table(
        &[
            "latency", "flow", "count", "p50", "p90", "p99", "p99.9", "max",
        ],
        &rows,
    )
}

fn with_branch(mut row: Vec<Cell>, branch: &str) -> Vec<Cell> {
    row.insert(1, Cell::text(branch));
    row
}

pub(crate) fn percentile_row(name: &str, p: &Percentiles) -> Vec<Cell> {
    vec![
        Cell::text(name),
        Cell::num(p.count.to_string()),
        Cell::num(ms(p.p50_us)),
        Cell::num(ms(p.p90_us)),
        Cell::num(ms(p.p99_us)),
        Cell::num(ms(p.p999_us)),
        Cell::num(ms(p.max_us)),
    ]
}

fn list(items: &[String]) -> String {
    items
        .iter()
        .map(|r| format!("<li>{}</li>", escape::text(r)))
        .collect::<Vec<_>>()
        .join("\n")
}

fn status(pass: bool) -> Cell {
    Cell::status(if pass { "pass" } else { "fail" })
}

/// Writes report.html for one run; `charts` are [`crate::charts::run_charts`] of it,
/// `diagrams` its [`crate::diagram::run_diagrams`].
pub fn write<W: Write>(
    out: &mut W,
    results: &Results,
    charts: &[Chart],
    diagrams: &[Diagram],
) -> Result<(), ReportError> {
    let page = render(results, charts, diagrams)?;
    out.write_all(page.as_bytes())
        .map_err(|source| io_error("report.html", source))
}

fn io_error(what: &str, source: io::Error) -> ReportError {
    ReportError::Write {
        path: what.into(),
        source,
    }
}

fn render(r: &Results, charts: &[Chart], diagrams: &[Diagram]) -> Result<String, ReportError> {
    let thresholds = if r.thresholds.is_empty() {
        "<p class=\"note\">The experiment sets no thresholds.</p>".to_string()
    } else {
        let rows: Vec<Vec<Cell>> = r
            .thresholds
            .iter()
            .map(|t| {
                vec![
                    Cell::text(&t.metric),
                    Cell::text(&t.expression),
                    Cell::num(actual_text(t)),
                    status(t.pass),
                    Cell::text(t.note.clone().unwrap_or_default()),
                ]
            })
            .collect();
        table(&["metric", "expression", "actual", "result", "note"], &rows)
    };
    let names = anomaly_names(r);
    let anomaly_rows: Vec<Vec<Cell>> = names
        .iter()
        .map(|name| {
            let finding = r.anomalies.get(*name).cloned().unwrap_or_default();
            let expectation = r.expectations.iter().find(|e| e.anomaly.name() == *name);
            let rule = expectation.map_or(String::new(), |e| {
                let need = if e.required {
                    "required"
                } else {
                    "allowed to break"
                };
                format!("{} ({need}): {}", e.rule, e.status.name().replace('_', " "))
            });
            vec![
                Cell::text(*name),
                Cell::num(finding.count.to_string()),
                Cell::ids(finding.sample.join(" ")),
                Cell::text(rule),
            ]
        })
        .collect();
    let c = &r.counts;
    let counts = format!(
        "<p>Orders: {} attempted, {} acknowledged, {} observed, {} completed; {} rejected, {} errors, {} dropped, {} late. {} distinct events observed.</p>",
        c.attempted,
        c.acknowledged,
        c.observed,
        c.completed,
        c.rejected,
        c.errors,
        c.dropped,
        c.late,
        c.events
    );
    let counts = match &r.drain {
        Some(drain) => format!(
            "{counts}\n<p>{}</p>",
            escape::text(&crate::summary::drain_text(drain))
        ),
        None => counts,
    };
    let counts = match crate::summary::redelivery_text(r) {
        Some(line) => format!("{counts}\n<p>{}</p>", escape::text(&line)),
        None => counts,
    };
    let counts = if r.in_flight.count > 0 {
        format!(
            "{counts}\n<p><strong>In flight</strong> when the drain ended (neither lost nor finished): {}. Sample: <code>{}</code>.</p>",
            escape::text(&r.in_flight.summary()),
            escape::text(&r.in_flight.sample.join(" "))
        )
    } else {
        counts
    };
    let latency_table = latency_table(&r.latency);
    let faults = if r.faults.is_empty() {
        "<p class=\"note\">No faults were injected.</p>".to_string()
    } else {
        let rows: Vec<Vec<Cell>> = r
            .faults
            .iter()
            .map(|f| {
                let found: Vec<String> = f
                    .anomalies
                    .iter()
                    .filter(|(_, n)| **n > 0)
                    .map(|(a, n)| format!("{a} {n}"))
                    .collect();
                vec![
                    Cell::text(f.kind.name()),
                    Cell::text(&f.target),
                    Cell::text(format!("{:.1}–{:.1} s", f.start_s, f.end_s)),
                    Cell::text(if found.is_empty() {
                        "none".into()
                    } else {
                        found.join(", ")
                    }),
                    Cell::num(ms(f.p99_us)),
                    Cell::num(ms(f.steady_p99_us)),
                    Cell::num(secs(f.recovery_s)),
                    Cell::num(secs(f.drain_s)),
                ]
            })
            .collect();
        table(
            &[
                "kind",
                "target",
                "window",
                "anomalies",
                "p99 during",
                "steady p99",
                "time to recover",
                "drain time",
            ],
            &rows,
        ) + "\n<p class=\"note\">Time to recover: from the end of the window until a second's p99 is back within the steady-state band; drain time: until every consumer group's lag is back to its level before the fault. “-”: not reached or no data.</p>"
    };
    let services = if r.services.totals.is_empty() {
        "<p class=\"note\">No service counters were scraped.</p>".to_string()
    } else {
        let rows: Vec<Vec<Cell>> = r
            .services
            .totals
            .iter()
            .map(|(k, v)| vec![Cell::text(k), Cell::num(format!("{v}"))])
            .collect();
        table(
            &[
                "service counter (at least; summed over instances)",
                "final value",
            ],
            &rows,
        )
    };
    let environment: String = environment_rows(r)
        .iter()
        .map(|(k, v)| {
            format!(
                "<tr><th>{}</th><td>{}</td></tr>",
                escape::text(k),
                escape::text(v)
            )
        })
        .collect::<Vec<_>>()
        .join("\n");
    use Slot::{Html, Text};
    let mut values = vec![
        ("style", Html(STYLE.to_string())),
        ("title", Text(r.experiment.clone())),
        (
            "description",
            Text(r.description.clone().unwrap_or_default()),
        ),
        ("first_screen", Html(first_screen(r))),
        ("verdict", Text(r.verdict.name().to_string())),
        ("verdict_upper", Text(upper(r.verdict).to_string())),
        (
            "guarantee",
            Text(
                r.guarantee()
                    .map(|g| format!(" judged as {g}"))
                    .unwrap_or_default(),
            ),
        ),
        ("reasons", Html(list(&r.reasons))),
        (
            "incomplete",
            Html(if r.complete {
                String::new()
            } else {
                "<p class=\"banner inconclusive\">The run was interrupted: these are partial results.</p>".into()
            }),
        ),
        ("thresholds", Html(thresholds)),
        (
            "anomalies",
            Html(format!(
                "{}{}",
                table(
                    &[
                        "anomaly",
                        "count",
                        "sample ids",
                        "rule under this guarantee",
                    ],
                    &anomaly_rows,
                ),
                dead_letter_lines(r)
                    .iter()
                    .map(|l| format!("<p class=\"attribution\">{}</p>", crate::escape::text(l)))
                    .collect::<String>()
            )),
        ),
        ("counts", Html(counts)),
        ("latency_table", Html(latency_table)),
        (
            "mean_throughput",
            Text(
                r.throughput
                    .mean_per_s
                    .map_or("no data".into(), |m| format!("{m:.1}/s")),
            ),
        ),
        (
            "max_lag",
            Text(r.lag.max.map_or("no data".into(), |m| m.to_string())),
        ),
        ("faults", Html(faults)),
        ("services", Html(services)),
        ("seed", Text(r.seed.to_string())),
        ("started_at", Text(r.started_at.clone())),
        ("finished_at", Text(r.finished_at.clone())),
        ("environment", Html(environment)),
        ("command", Text(r.command.clone())),
        (
            "config",
            Text(serde_json::to_string_pretty(&r.config).unwrap_or_default()),
        ),
    ];
    for chart in charts {
        values.push((chart_key(&chart.slug), Html(figure(chart)?)));
    }
    let (whole, windows) = diagrams
        .split_first()
        .map_or((None, &[][..]), |(a, b)| (Some(a), b));
    if let Some(d) = whole {
        values.push(("diagram", Html(figure(d)?)));
    }
    let mut per_fault = Vec::new();
    for d in windows {
        per_fault.push(figure(d)?);
    }
    values.push(("fault_diagrams", Html(per_fault.join("\n"))));
    fill("report.html", REPORT, values)
}

fn chart_key(slug: &str) -> &'static str {
    match slug {
        "latency-percentiles" => "chart_latency_percentiles",
        "hop-latency-percentiles" => "chart_hop_latency_percentiles",
        "latency-over-time" => "chart_latency_over_time",
        "throughput" => "chart_throughput",
        "lag" => "chart_lag",
        "resilience" => "chart_resilience",
        _ => "chart_unknown",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fill_escapes_text_keeps_html_and_renders_once() {
        let page = fill(
            "t.html",
            "{{a}} {{b}} {{a}} {{c}}[{{missing}}]",
            vec![
                ("a", Slot::Text("<{{b}}>".into())),
                ("b", Slot::Html("<i>".into())),
                ("c", Slot::Text("{{seed}}".into())),
            ],
        )
        .expect("render");
        assert_eq!(page, "&lt;{{b}}&gt; <i> &lt;{{b}}&gt; {{seed}}[]");
    }

    #[test]
    fn an_experiment_named_like_a_placeholder_keeps_its_name() {
        let r = Results::parse(r#"{"experiment":"x {{seed}} y","verdict":"pass","seed":42}"#)
            .expect("parse");
        let page = render(&r, &[], &[]).expect("render");
        assert!(page.contains("<h1>x {{seed}} y</h1>"), "{page}");
    }

    #[test]
    fn text_from_results_is_escaped() {
        let r = Results::parse(
            r#"{"experiment":"<script>x</script>","verdict":"fail","reasons":["a < b & c"],
                "command":"harness run \"x\"","anomalies":{"lost":{"count":1,"sample":["<o-1>"]}}}"#,
        )
        .expect("parse");
        let charts = crate::charts::run_charts(&r).expect("charts");
        let page = render(&r, &charts, &crate::diagram::run_diagrams(&r)).expect("render");
        assert!(!page.contains("<script>"), "{page}");
        // minijinja escapes `/` too (`&#x2f;`), which is as safe.
        assert!(
            page.contains("&lt;script&gt;x&lt;&#x2f;script&gt;"),
            "{page}"
        );
        assert!(page.contains("a &lt; b &amp; c"));
        assert!(page.contains("&lt;o-1&gt;"));
        assert!(page.contains("harness run &quot;x&quot;"), "{page}");
        assert!(!page.contains("{{"), "every placeholder is filled");
    }
}
