//! `compare.html`: the runs, the cost of exactly-once, the delta table and the overlaid
//! charts on one self-contained page (template `templates/compare.html`).

use std::io::Write;

use crate::chart::Chart;
use crate::compare::{COST_NOTE, NO_COST, below_capacity_note, cost_table, delta_table, labels};
use crate::diagram::Diagram;
use crate::error::ReportError;
use crate::escape;
use crate::html::{Cell, STYLE, figure, fill, table};
use crate::results::Results;

const COMPARE: &str = include_str!("../templates/compare.html");

fn text_table(header: &[String], rows: &[Vec<String>]) -> String {
    let header: Vec<&str> = header.iter().map(String::as_str).collect();
    let rows: Vec<Vec<Cell>> = rows
        .iter()
        .map(|r| r.iter().map(Cell::text).collect())
        .collect();
    table(&header, &rows)
}

/// Writes compare.html; `charts` are [`crate::charts::compare_charts`] of `runs`
/// (the distributions first), `diagrams` one flow diagram per run, shown side by side.
pub fn write<W: Write>(
    out: &mut W,
    runs: &[Results],
    charts: &[Chart],
    diagrams: &[Diagram],
) -> Result<(), ReportError> {
    let labels = labels(runs);
    let run_rows: Vec<Vec<Cell>> = runs
        .iter()
        .zip(&labels)
        .map(|(r, l)| {
            vec![
                Cell::text(l),
                Cell::text(r.guarantee().unwrap_or("-")),
                Cell::text(r.backend().unwrap_or("-")),
                Cell::status(r.verdict.name()),
                Cell::text(&r.started_at),
                Cell::text(&r.command),
            ]
        })
        .collect();
    let (header, rows) = cost_table(runs, &labels);
    let cost = if rows.is_empty() {
        format!("<p class=\"note\">{}</p>", escape::text(NO_COST))
    } else {
        text_table(&header, &rows).replacen("<table>", "<table class=\"fit\">", 1)
            + &format!("\n<p class=\"note\">{}</p>", escape::text(COST_NOTE))
            + &below_capacity_note(runs)
                .map(|n| format!("\n<p class=\"note\">{}</p>", escape::text(&n)))
                .unwrap_or_default()
    };
    let (header, rows) = delta_table(runs, &labels);
    // The distributions lead (the percentile charts), then the rest.
    let (spectra, rest): (Vec<&Chart>, Vec<&Chart>) = charts
        .iter()
        .partition(|c| c.x == crate::chart::XAxis::LogPercentile);
    let figures = |charts: Vec<&Chart>| -> Result<String, ReportError> {
        let mut out = Vec::new();
        for chart in charts {
            out.push(figure(chart)?);
        }
        Ok(out.join("\n"))
    };
    let mut flows = Vec::new();
    for d in diagrams {
        flows.push(figure(d)?);
    }
    let title = match runs.first() {
        Some(r) => format!("Comparison: {} ({} runs)", r.base_name(), runs.len()),
        None => "Comparison".into(),
    };
    use crate::html::Slot::{Html, Text};
    let page = fill(
        "compare.html",
        COMPARE,
        vec![
            ("style", Html(STYLE.to_string())),
            ("title", Text(title)),
            (
                "baseline",
                Text(labels.first().map_or("-", |l| l.as_str()).to_string()),
            ),
            (
                "runs",
                Html(table(
                    &[
                        "run",
                        "guarantee",
                        "backend",
                        "verdict",
                        "started",
                        "command",
                    ],
                    &run_rows,
                )),
            ),
            ("cost", Html(cost)),
            ("deltas", Html(text_table(&header, &rows))),
            ("distributions", Html(figures(spectra)?)),
            (
                "flows",
                Html(format!("<div class=\"side\">{}</div>", flows.join("\n"))),
            ),
            ("charts", Html(figures(rest)?)),
        ],
    )?;
    out.write_all(page.as_bytes())
        .map_err(|source| ReportError::Write {
            path: "compare.html".into(),
            source,
        })
}
