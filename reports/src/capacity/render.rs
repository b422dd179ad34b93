//! The renderings of `capacity.json`: `capacity.md`, `capacity.html` and its charts.

use std::io::Write;
use std::path::{Path, PathBuf};

use super::{CapacityDocument, CombinationCapacity, TrialResult};
use crate::chart::{self, Chart, Series, Window, XAxis};
use crate::error::ReportError;
use crate::escape;
use crate::markdown::table;
use crate::results::ms;

/// `capacity.md`.
pub fn write_md<W: Write>(out: &mut W, doc: &CapacityDocument) -> std::io::Result<()> {
    writeln!(out, "# Capacity: {}\n", doc.experiment)?;
    if !doc.complete {
        writeln!(out, "- the search was interrupted: partial results\n")?;
    }
    let rate = |r: Option<f64>| r.map_or("-".to_string(), |r| format!("{r:.0}/s"));
    let rows: Vec<Vec<String>> = doc
        .combinations
        .iter()
        .map(|c| {
            vec![
                label(c),
                rate(c.max_sustainable_per_s),
                rate(c.min_unsustained_per_s),
                c.trials.len().to_string(),
                c.stopped.clone(),
            ]
        })
        .collect();
    table(
        out,
        &[
            "combination",
            "max sustainable",
            "first unsustained",
            "trials",
            "why it stopped",
        ],
        &rows,
    )?;
    if let Some(cost) = &doc.cost {
        writeln!(
            out,
            "\n## The cost of the guarantees at capacity\n\nhighest rate every guarantee sustained: {}\n",
            rate(cost.common_rate_per_s)
        )?;
        let rows: Vec<Vec<String>> = cost
            .guarantees
            .iter()
            .map(|g| {
                vec![
                    g.guarantee.clone(),
                    rate(g.max_sustainable_per_s),
                    g.ratio_to_at_least_once
                        .map_or("-".into(), |r| format!("{:.2}×", r)),
                    ms(g.p50_us_at_common),
                    ms(g.p99_us_at_common),
                ]
            })
            .collect();
        table(
            out,
            &[
                "guarantee",
                "max sustainable",
                "vs at-least-once",
                "p50 at common rate",
                "p99 at common rate",
            ],
            &rows,
        )?;
    }
    for c in &doc.combinations {
        writeln!(out, "\n## {}\n", label(c))?;
        let rows: Vec<Vec<String>> = c.trials.iter().map(trial_row).collect();
        table(
            out,
            &[
                "offered",
                "completed",
                "p50",
                "p99",
                "lag max",
                "lag growth",
                "sustained",
                "why not",
            ],
            &rows,
        )?;
    }
    writeln!(out, "\nA rate is sustained when:\n")?;
    for c in &doc.criteria {
        writeln!(out, "- {c}")?;
    }
    Ok(())
}

fn label(c: &CombinationCapacity) -> String {
    if c.combination.is_empty() {
        c.name.clone()
    } else {
        c.combination.clone()
    }
}

fn trial_row(t: &TrialResult) -> Vec<String> {
    vec![
        format!("{:.0}/s", t.offered_per_s),
        format!("{:.1}/s", t.completed_per_s),
        ms(t.p50_us),
        ms(t.p99_us),
        t.lag_max.to_string(),
        format!("{:.0}", t.lag_growth),
        if t.sustained { "yes" } else { "no" }.to_string(),
        t.reasons.join("; "),
    ]
}

/// The two charts: completed vs offered, p99 vs offered; each combination a series,
/// its knee (maximum sustainable rate) marked by a thin band.
pub fn charts(doc: &CapacityDocument) -> Vec<Chart> {
    let mut completed = Vec::new();
    let mut p99 = Vec::new();
    let mut knees = Vec::new();
    for c in &doc.combinations {
        let mut trials: Vec<&TrialResult> = c.trials.iter().collect();
        trials.sort_by(|a, b| a.offered_per_s.total_cmp(&b.offered_per_s));
        completed.push(Series::new(
            label(c),
            trials
                .iter()
                .map(|t| (t.offered_per_s, t.completed_per_s))
                .collect(),
        ));
        p99.push(Series::new(
            label(c),
            trials
                .iter()
                .filter_map(|t| Some((t.offered_per_s, t.p99_us? as f64 / 1e3)))
                .collect(),
        ));
        if let Some(knee) = c.max_sustainable_per_s {
            let width = (knee * 0.004).max(0.5);
            knees.push(Window {
                start: knee - width,
                end: knee + width,
                label: format!("{knee:.0}/s"),
            });
        }
    }
    let top = doc
        .combinations
        .iter()
        .flat_map(|c| &c.trials)
        .map(|t| t.offered_per_s)
        .fold(0.0, f64::max);
    completed.push(Series {
        light: true,
        ..Series::new("offered = completed", vec![(0.0, 0.0), (top, top)])
    });
    let chart = |slug: &str, title: &str, y: &str, series, y_log| Chart {
        slug: slug.into(),
        title: title.into(),
        x: XAxis::Seconds,
        x_label: "offered rate (orders/s); bands: maximum sustainable rate".into(),
        y_label: y.into(),
        y_log,
        series,
        windows: knees.clone(),
        heat: Vec::new(),
    };
    vec![
        chart(
            "capacity_completed",
            "Completed vs offered",
            "completed (orders/s)",
            completed,
            false,
        ),
        chart(
            "capacity_p99",
            "End-to-end p99 vs offered",
            "p99 (ms, log scale)",
            p99,
            true,
        ),
    ]
}

/// `capacity.html`: the table, the charts inline (SVG), every trial.
pub fn write_html<W: Write>(
    out: &mut W,
    doc: &CapacityDocument,
    charts: &[Chart],
) -> Result<(), ReportError> {
    let mut md = Vec::new();
    write_md(&mut md, doc).map_err(io)?;
    let mut body = String::new();
    body.push_str(&format!(
        "<h1>Capacity: {}</h1>\n",
        escape::text(&doc.experiment)
    ));
    for c in charts {
        body.push_str(&chart::svg(c)?);
        body.push('\n');
    }
    body.push_str("<pre class=\"capacity\">");
    body.push_str(&escape::text(&String::from_utf8_lossy(&md)));
    body.push_str("</pre>\n<h2>Trials</h2>\n<ul>\n");
    for c in &doc.combinations {
        for t in &c.trials {
            body.push_str(&format!(
                "<li>{} at {:.0}/s: <a href=\"{}/report.html\">report</a></li>\n",
                escape::text(&label(c)),
                t.offered_per_s,
                escape::attr(&t.run)
            ));
        }
    }
    body.push_str("</ul>\n");
    write!(
        out,
        "<!doctype html>\n<html lang=\"en\"><head><meta charset=\"utf-8\"><title>Capacity: {}</title>\n<style>{}</style></head>\n<body>\n{body}</body></html>\n",
        escape::text(&doc.experiment),
        include_str!("../../templates/style.css")
    )
    .map_err(io)?;
    Ok(())
}

fn io(e: std::io::Error) -> ReportError {
    ReportError::Write {
        path: PathBuf::new(),
        source: e,
    }
}

/// Writes capacity.json, capacity.md, capacity.html and the charts' PNGs into `dir`.
pub fn write_all(dir: &Path, doc: &CapacityDocument) -> Result<Vec<PathBuf>, ReportError> {
    let write = |name: &str, bytes: &[u8]| -> Result<PathBuf, ReportError> {
        let path = dir.join(name);
        std::fs::write(&path, bytes).map_err(|source| ReportError::Write {
            path: path.clone(),
            source,
        })?;
        Ok(path)
    };
    let mut written = Vec::new();
    let json = serde_json::to_vec_pretty(doc).unwrap_or_default();
    written.push(write("capacity.json", &json)?);
    let mut md = Vec::new();
    write_md(&mut md, doc).map_err(io)?;
    written.push(write("capacity.md", &md)?);
    let charts = charts(doc);
    for c in &charts {
        let mut png = Vec::new();
        chart::png(c, &mut png)?;
        written.push(write(&format!("{}.png", c.slug), &png)?);
    }
    let mut html = Vec::new();
    write_html(&mut html, doc, &charts)?;
    written.push(write("capacity.html", &html)?);
    Ok(written)
}
