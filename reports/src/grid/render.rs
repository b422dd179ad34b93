//! `grid.md` and `grid.html` from a [`Grid`]. Every text taken from the runs is
//! escaped: for HTML by [`crate::escape`], for Markdown by [`md`] (and the table's pipes
//! by [`crate::markdown::table`]); links are percent-encoded relative paths.

use std::io::{self, Write};

use check::Anomaly;

use super::cell::{Cell, Content, Mark, Standing, meaning, short};
use super::layout::{Grid, duration_text, plural};
use crate::error::ReportError;
use crate::escape;
use crate::html::{self, STYLE, Slot, fill};
use crate::markdown::table;
use crate::results::upper;

const GRID: &str = include_str!("../../templates/grid.html");

const LEGEND_HEADER: [&str; 3] = ["in a cell", "anomaly", "what it is"];

/// What a muted mark means, under the legend.
const STANDING_NOTE: &str = "(allowed): the run's guarantee allows it — its rule is not required under that guarantee, or leaves these out (duplicate deliveries of OrderPlaced, the producer's retries); (not judged): the run was interrupted before its drain finished. An empty cell: no run was given for it.";

/// Text from a run for Markdown: Markdown's inline punctuation backslash-escaped, line
/// breaks and control characters as spaces (a table row is one line).
pub fn md(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for (i, c) in text.chars().enumerate() {
        match c {
            // `#` starts a heading only at the start of a line (of a list item here).
            '#' if i == 0 => out.push_str("\\#"),
            '\\' | '`' | '*' | '_' | '[' | ']' | '<' | '>' | '&' | '~' => {
                out.push('\\');
                out.push(c);
            }
            c if c.is_control() => out.push(' '),
            c => out.push(c),
        }
    }
    out
}

fn title(grid: &Grid) -> String {
    match grid.experiments.is_empty() {
        true => "Reliability grid".into(),
        false => format!("Reliability grid: {}", grid.experiments.join(", ")),
    }
}

/// `wall time: 6 min 12 s (the sum of the runs' durations)`, saying how many runs
/// had no times.
fn wall_text(grid: &Grid) -> String {
    let w = grid.wall;
    if w.timed == 0 {
        return "wall time: unknown (no run recorded its start and end)".into();
    }
    let mut text = format!(
        "wall time: {} (started_at..finished_at summed over {})",
        duration_text(w.seconds),
        plural(w.timed, "run")
    );
    if w.timed < w.runs {
        text.push_str(&format!(
            "; {} without times",
            plural(w.runs - w.timed, "run")
        ));
    }
    text
}

/// The legend's rows: short name, anomaly, meaning.
fn legend_rows() -> Vec<[String; 3]> {
    Anomaly::ALL
        .iter()
        .map(|a| {
            [
                short(*a).to_string(),
                a.name().to_string(),
                meaning(*a).to_string(),
            ]
        })
        .collect()
}

/// The grid's header for Markdown: the row keys' headers, then the columns.
fn md_header(grid: &Grid) -> Vec<String> {
    let keys = grid.keys.iter().map(|k| &k.header);
    keys.chain(&grid.columns).map(|h| md(h)).collect()
}

fn md_mark(mark: &Mark) -> String {
    match mark.standing {
        Standing::Counted => md(&mark.text()),
        _ => format!("*{}*", md(&mark.text())),
    }
}

/// One line of a cell under its badge, whatever the format.
enum Line<'a> {
    Note(&'a str),
    Marks(&'a [Mark]),
}

/// A cell's badge (text and CSS class) and the lines under it: the verdict, whether
/// the run was interrupted, its marks and reason; or "no results" and the error.
fn lines(content: &Content) -> (&'static str, &'static str, Vec<Line<'_>>) {
    match content {
        Content::Run {
            verdict,
            marks,
            incomplete,
            reason,
        } => {
            let mut lines = Vec::new();
            if *incomplete {
                lines.push(Line::Note("incomplete (interrupted)"));
            }
            if !marks.is_empty() {
                lines.push(Line::Marks(marks));
            }
            lines.extend(reason.as_deref().map(Line::Note));
            (upper(*verdict), verdict.name(), lines)
        }
        Content::NoResults { error } => ("no results", "noresults", vec![Line::Note(error)]),
    }
}

fn md_cell(cell: &Cell) -> String {
    let (badge, _, lines) = lines(&cell.content);
    let mut parts = vec![format!("**{badge}**")];
    for line in lines {
        match line {
            Line::Note(text) => parts.push(md(text)),
            Line::Marks(marks) => parts.extend(marks.iter().map(md_mark)),
        }
    }
    parts.push(format!("[{}]({})", cell.link.label, cell.link.href));
    parts.join(" · ")
}

/// `grid.md`: the title, the counts and wall time, the grid, the skipped combinations,
/// the legend.
pub fn markdown<W: Write>(out: &mut W, grid: &Grid) -> io::Result<()> {
    writeln!(out, "# {}\n", md(&title(grid)))?;
    writeln!(out, "{}  \n{}\n", grid.summary, wall_text(grid))?;
    let rows: Vec<Vec<String>> = grid
        .rows
        .iter()
        .map(|row| {
            let mut cells: Vec<String> = row.labels.iter().map(|l| md(l)).collect();
            cells.extend(
                row.cells
                    .iter()
                    .map(|c| c.as_ref().map_or_else(String::new, md_cell)),
            );
            cells
        })
        .collect();
    let header = md_header(grid);
    table(
        out,
        &header.iter().map(String::as_str).collect::<Vec<_>>(),
        &rows,
    )?;
    if !grid.skipped.is_empty() {
        writeln!(out, "\n## Skipped combinations\n")?;
        for (combination, reason) in &grid.skipped {
            writeln!(out, "- {}: {}", md(combination), md(reason))?;
        }
    }
    writeln!(out, "\n## Legend\n")?;
    let legend: Vec<Vec<String>> = legend_rows().into_iter().map(Vec::from).collect();
    table(out, &LEGEND_HEADER, &legend)?;
    writeln!(out, "\n{}", md(STANDING_NOTE))
}

fn html_mark(mark: &Mark) -> String {
    let text = escape::text(&mark.text());
    match mark.standing {
        Standing::Counted => text,
        _ => format!("<span class=\"muted\">{text}</span>"),
    }
}

fn html_cell(cell: &Cell) -> String {
    let (badge, class, lines) = lines(&cell.content);
    let lines: Vec<String> = lines
        .into_iter()
        .map(|line| match line {
            Line::Note(text) => format!("<div class=\"note\">{}</div>", escape::text(text)),
            Line::Marks(marks) => {
                let marks: Vec<String> = marks.iter().map(html_mark).collect();
                format!("<div class=\"marks\">{}</div>", marks.join(" · "))
            }
        })
        .collect();
    format!(
        "<td class=\"cell\"><span class=\"verdict {class}\">{badge}</span>{}<div><a href=\"{}\">{}</a></div></td>",
        lines.concat(),
        escape::attr(&cell.link.href),
        escape::text(cell.link.label)
    )
}

fn html_table(grid: &Grid) -> String {
    let mut out = String::from("<table class=\"grid\">\n<tr>");
    for key in &grid.keys {
        out.push_str(&format!(
            "<th title=\"{}\">{}</th>",
            escape::attr(&key.key),
            escape::text(&key.header)
        ));
    }
    for column in &grid.columns {
        out.push_str(&format!("<th>{}</th>", escape::text(column)));
    }
    out.push_str("</tr>\n");
    for row in &grid.rows {
        out.push_str("<tr>");
        for label in &row.labels {
            out.push_str(&format!("<th scope=\"row\">{}</th>", escape::text(label)));
        }
        for cell in &row.cells {
            match cell {
                Some(cell) => out.push_str(&html_cell(cell)),
                None => out.push_str("<td class=\"cell\"></td>"),
            }
        }
        out.push_str("</tr>\n");
    }
    out.push_str("</table>");
    out
}

fn html_skipped(grid: &Grid) -> String {
    if grid.skipped.is_empty() {
        return String::new();
    }
    let items: Vec<String> = grid
        .skipped
        .iter()
        .map(|(combination, reason)| {
            format!(
                "<li><code>{}</code>: {}</li>",
                escape::text(combination),
                escape::text(reason)
            )
        })
        .collect();
    format!(
        "<h2>Skipped combinations</h2>\n<ul class=\"skipped\">\n{}\n</ul>",
        items.join("\n")
    )
}

fn html_legend() -> String {
    let rows: Vec<Vec<html::Cell>> = legend_rows()
        .into_iter()
        .map(|[short, name, what]| {
            vec![
                html::Cell::text(short),
                html::Cell::ids(name),
                html::Cell::text(what),
            ]
        })
        .collect();
    format!(
        "{}\n<p class=\"note\">{}</p>",
        html::table(&LEGEND_HEADER, &rows),
        escape::text(STANDING_NOTE)
    )
}

/// `grid.html`: the same as `grid.md` on one self-contained page, verdicts coloured,
/// allowed anomalies muted.
pub fn html<W: Write>(out: &mut W, grid: &Grid) -> Result<(), ReportError> {
    use Slot::{Html, Text};
    let page = fill(
        "grid.html",
        GRID,
        vec![
            ("style", Html(STYLE.to_string())),
            ("title", Text(title(grid))),
            ("summary", Text(grid.summary.to_string())),
            ("wall", Text(wall_text(grid))),
            ("grid", Html(html_table(grid))),
            ("skipped", Html(html_skipped(grid))),
            ("legend", Html(html_legend())),
        ],
    )?;
    out.write_all(page.as_bytes())
        .map_err(|source| ReportError::Write {
            path: "grid.html".into(),
            source,
        })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn markdown_punctuation_and_line_breaks_are_neutralised() {
        assert_eq!(md("a*b_[c](d)\n<x>"), "a\\*b\\_\\[c\\](d) \\<x\\>");
        assert_eq!(md("at-least-once 3.5"), "at-least-once 3.5");
        assert_eq!(md("#1 inventory#1"), "\\#1 inventory#1");
    }
}
