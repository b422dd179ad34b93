//! The grid as data, from the run directories' contents alone (pure: no file, no
//! clock). One column per guarantee when `guarantee` is a matrix key, one row per
//! combination of the other keys (the backend first), a [`Cell`] per run.

use std::cmp::Ordering;
use std::fmt;

use serde_json::Value;

use super::cell::{Cell, Content, Link, run_content};
use crate::compare::strength;
use crate::results::{Decision, Results};

/// One run directory as the grid sees it.
#[derive(Debug, Clone)]
pub struct Entry {
    /// The directory's name (`20260101T000000Z-guarantee_at-least-once`): the only
    /// label a run without results has.
    pub name: String,
    /// Where its cell links to, relative to the grid's directory.
    pub link: Link,
    /// Its results.json, or why it could not be read (the error and its causes).
    pub results: Result<Results, String>,
}

/// A row header column: the text shown and the matrix key it stands for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Key {
    pub header: String,
    pub key: String,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Row {
    /// One per [`Grid::keys`].
    pub labels: Vec<String>,
    /// One per [`Grid::columns`]; `None`: no run given for it.
    pub cells: Vec<Option<Cell>>,
}

/// How many cells passed, failed, were inconclusive or have no results; how many of
/// them were interrupted and how many combinations were skipped.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct GridSummary {
    pub pass: usize,
    pub fail: usize,
    pub inconclusive: usize,
    pub no_results: usize,
    /// Cells (among pass, fail, inconclusive) whose run was interrupted.
    pub incomplete: usize,
    pub skipped: usize,
}

impl GridSummary {
    /// Every run given: one cell each.
    pub fn cells(&self) -> usize {
        self.pass + self.fail + self.inconclusive + self.no_results
    }
}

impl fmt::Display for GridSummary {
    /// `6 cells: 4 PASS, 1 FAIL, 1 INCONCLUSIVE, 0 no results; 2 combinations skipped`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{}: {} PASS, {} FAIL, {} INCONCLUSIVE, {} no results",
            plural(self.cells(), "cell"),
            self.pass,
            self.fail,
            self.inconclusive,
            self.no_results
        )?;
        if self.incomplete > 0 {
            write!(f, " ({} incomplete)", self.incomplete)?;
        }
        if self.skipped > 0 {
            write!(f, "; {} skipped", plural(self.skipped, "combination"))?;
        }
        Ok(())
    }
}

/// `1 cell`, `2 cells`.
pub fn plural(n: usize, word: &str) -> String {
    format!("{n} {word}{}", if n == 1 { "" } else { "s" })
}

/// The sum of the runs' wall-clock durations (`started_at..finished_at`).
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct WallTime {
    pub seconds: f64,
    /// Runs with both times readable, of `runs` with results.
    pub timed: usize,
    pub runs: usize,
}

/// The whole grid, ready to render.
#[derive(Debug, Clone)]
pub struct Grid {
    /// The experiments' base names (`config.base_name`), in the runs' order.
    pub experiments: Vec<String>,
    pub keys: Vec<Key>,
    /// The guarantee of each column, weakest first; a single column without a
    /// `guarantee` key (headed by the runs' common guarantee, else `result`).
    pub columns: Vec<String>,
    pub rows: Vec<Row>,
    /// (combination, reason) of the combinations that did not run.
    pub skipped: Vec<(String, String)>,
    pub summary: GridSummary,
    pub wall: WallTime,
}

/// A combination value as text: strings as they are, anything else as JSON.
fn value_text(value: &Value) -> String {
    match value {
        Value::String(s) => s.clone(),
        other => other.to_string(),
    }
}

/// The run's matrix keys and values in the matrix's order. results.json's map has
/// lost it (its keys read sorted), but the experiment's name spells the combination
/// in order (`name[backend=redis,guarantee=exactly-once]`); keys it does not name
/// follow, sorted.
pub fn combination(r: &Results) -> Vec<(String, String)> {
    let Some(Value::Object(map)) = r.config.pointer("/combination") else {
        return Vec::new();
    };
    let spelled = r
        .experiment
        .strip_prefix(r.base_name())
        .and_then(|rest| rest.strip_prefix('['))
        .unwrap_or("");
    let position = |key: &str| {
        let at = format!("{key}=");
        if spelled.starts_with(&at) {
            return Some(0);
        }
        spelled.find(&format!(",{at}")).map(|i| i + 1)
    };
    let mut pairs: Vec<(Option<usize>, String, String)> = map
        .iter()
        .map(|(k, v)| (position(k), k.clone(), value_text(v)))
        .collect();
    // Named keys by their place, the others after them (None sorts first, hence the flag).
    pairs.sort_by_key(|(place, key, _)| (place.is_none(), *place, key.clone()));
    pairs.into_iter().map(|(_, k, v)| (k, v)).collect()
}

/// `faults.0.kind` → `fault`, `faults.0.target` → `target`, `faults.0` → `fault`
/// (with the fault's number when the keys name more than one fault); other keys as
/// they are. A header two keys would share falls back to the keys themselves.
pub fn headers(keys: &[String]) -> Vec<String> {
    let fault = |key: &str| -> Option<(usize, String)> {
        let rest = key.strip_prefix("faults.")?;
        let (index, field) = rest.split_once('.').unwrap_or((rest, "kind"));
        let index: usize = index.parse().ok()?;
        let name = if field == "kind" { "fault" } else { field };
        Some((index, name.to_string()))
    };
    let mut indices: Vec<usize> = keys.iter().filter_map(|k| fault(k)).map(|f| f.0).collect();
    indices.dedup();
    let numbered = indices.iter().any(|i| *i != indices[0]);
    let pretty: Vec<String> = keys
        .iter()
        .map(|k| match fault(k) {
            Some((i, name)) if numbered => format!("{name} {}", i + 1),
            Some((_, name)) => name,
            None => k.clone(),
        })
        .collect();
    pretty
        .iter()
        .zip(keys)
        .map(|(p, k)| {
            let shared = pretty.iter().filter(|q| *q == p).count() > 1;
            if shared { k.clone() } else { p.clone() }
        })
        .collect()
}

/// Compares two labels as numbers when both are, else as text.
fn compare_label(a: &str, b: &str) -> Ordering {
    match (a.parse::<f64>(), b.parse::<f64>()) {
        (Ok(x), Ok(y)) => x.total_cmp(&y),
        _ => a.cmp(b),
    }
}

fn compare_labels(a: &[String], b: &[String]) -> Ordering {
    a.iter()
        .zip(b)
        .map(|(x, y)| compare_label(x, y))
        .find(|o| o.is_ne())
        .unwrap_or_else(|| a.len().cmp(&b.len()))
}

/// Seconds from `started_at` to `finished_at`, when both read as RFC 3339.
pub fn wall_seconds(r: &Results) -> Option<f64> {
    use time::format_description::well_known::Rfc3339;
    let start = time::OffsetDateTime::parse(&r.started_at, &Rfc3339).ok()?;
    let end = time::OffsetDateTime::parse(&r.finished_at, &Rfc3339).ok()?;
    Some((end - start).as_seconds_f64().max(0.0))
}

/// `42.5 s`, `6 min 12 s`, `1 h 4 min`.
pub fn duration_text(seconds: f64) -> String {
    if seconds < 60.0 {
        return format!("{seconds:.1} s");
    }
    let whole = seconds.round() as u64;
    if whole < 3600 {
        format!("{} min {} s", whole / 60, whole % 60)
    } else {
        format!("{} h {} min", whole / 3600, whole % 3600 / 60)
    }
}

/// The runs with results, each with its combination in matrix order.
struct Loaded<'a> {
    entry: &'a Entry,
    results: &'a Results,
    combination: Vec<(String, String)>,
}

impl Loaded<'_> {
    fn value(&self, key: &str) -> Option<&str> {
        self.combination
            .iter()
            .find(|(k, _)| k == key)
            .map(|(_, v)| v.as_str())
    }
}

/// The row header keys: the experiment (when the runs come from more than one), the
/// backend, then every other matrix key in the order the runs name them.
fn row_keys(loaded: &[Loaded], experiments: &[String], by_guarantee: bool) -> Vec<String> {
    let mut keys: Vec<String> = Vec::new();
    if experiments.len() > 1 {
        keys.push("experiment".into());
    }
    keys.push("backend".into());
    for run in loaded {
        for (key, _) in &run.combination {
            let column = by_guarantee && key == "guarantee";
            if !column && !keys.contains(key) {
                keys.push(key.clone());
            }
        }
    }
    keys
}

fn label(run: &Loaded, key: &str) -> String {
    let fallback = match key {
        "experiment" => Some(run.results.base_name()),
        "backend" => run.results.backend(),
        _ => None,
    };
    run.value(key).or(fallback).unwrap_or("-").to_string()
}

/// The guarantee a run directory's name gives (`...-guarantee_exactly-once`, as
/// `harness run` names a combination's directory): all a run without results tells.
fn named_guarantee(name: &str) -> Option<&'static str> {
    ["at-most-once", "at-least-once", "exactly-once"]
        .into_iter()
        .find(|g| {
            let at = format!("guarantee_{g}");
            name.match_indices(&at).any(|(i, _)| {
                let rest = &name[i + at.len()..];
                rest.is_empty() || rest.starts_with('_')
            })
        })
}

/// Places a cell in the last row with these labels whose column is free, else in a
/// new row (a combination given twice gets a second row).
fn place(rows: &mut Vec<Row>, labels: Vec<String>, column: usize, width: usize, cell: Cell) {
    let free = rows
        .iter()
        .rposition(|r| r.labels == labels && r.cells[column].is_none());
    let index = free.unwrap_or_else(|| {
        rows.push(Row {
            labels,
            cells: vec![None; width],
        });
        rows.len() - 1
    });
    rows[index].cells[column] = Some(cell);
}

/// Lays the runs out; `skipped` are (combination, reason) of combinations not run.
pub fn grid(entries: &[Entry], skipped: &[(String, String)]) -> Grid {
    let loaded: Vec<Loaded> = entries
        .iter()
        .filter_map(|entry| {
            let results = entry.results.as_ref().ok()?;
            Some(Loaded {
                entry,
                results,
                combination: combination(results),
            })
        })
        .collect();
    let mut experiments: Vec<String> = Vec::new();
    for run in &loaded {
        let name = run.results.base_name().to_string();
        if !experiments.contains(&name) {
            experiments.push(name);
        }
    }
    let unreadable: Vec<(&Entry, &String)> = entries
        .iter()
        .filter_map(|e| e.results.as_ref().err().map(|error| (e, error)))
        .collect();
    let by_guarantee = loaded.iter().any(|r| r.value("guarantee").is_some())
        || unreadable
            .iter()
            .any(|(e, _)| named_guarantee(&e.name).is_some());
    let column_of = |run: &Loaded| -> String {
        run.value("guarantee")
            .or(run.results.guarantee())
            .unwrap_or("-")
            .to_string()
    };
    let mut columns: Vec<String> = Vec::new();
    if by_guarantee {
        let named = unreadable
            .iter()
            .filter_map(|(e, _)| named_guarantee(&e.name));
        for g in loaded.iter().map(column_of).chain(named.map(String::from)) {
            if !columns.contains(&g) {
                columns.push(g);
            }
        }
        columns.sort_by(|a, b| strength(a).cmp(&strength(b)).then(a.cmp(b)));
    } else {
        let mut guarantees: Vec<Option<&str>> =
            loaded.iter().map(|r| r.results.guarantee()).collect();
        guarantees.dedup();
        columns.push(match guarantees[..] {
            [Some(g)] => g.to_string(),
            _ => "result".into(),
        });
    }
    let names = row_keys(&loaded, &experiments, by_guarantee);
    let keys: Vec<Key> = headers(&names)
        .into_iter()
        .zip(&names)
        .map(|(header, key)| Key {
            header,
            key: key.clone(),
        })
        .collect();

    let mut placed: Vec<(Vec<String>, usize, &Loaded)> = loaded
        .iter()
        .map(|run| {
            let labels = names.iter().map(|k| label(run, k)).collect();
            let column = if by_guarantee {
                let g = column_of(run);
                columns.iter().position(|c| *c == g).unwrap_or(0)
            } else {
                0
            };
            (labels, column, run)
        })
        .collect();
    placed.sort_by(|a, b| compare_labels(&a.0, &b.0));
    let width = columns.len();
    let mut rows = Vec::new();
    let mut summary = GridSummary {
        skipped: skipped.len(),
        ..GridSummary::default()
    };
    let mut wall = WallTime::default();
    for (labels, column, run) in placed {
        match run.results.verdict {
            Decision::Pass => summary.pass += 1,
            Decision::Fail => summary.fail += 1,
            Decision::Inconclusive => summary.inconclusive += 1,
        }
        summary.incomplete += usize::from(!run.results.complete);
        wall.runs += 1;
        if let Some(s) = wall_seconds(run.results) {
            wall.seconds += s;
            wall.timed += 1;
        }
        let cell = Cell {
            content: run_content(run.results),
            link: run.entry.link.clone(),
        };
        place(&mut rows, labels, column, width, cell);
    }

    // Runs without results after the others, by directory name, a row each: their
    // combination is unknown.
    let mut unreadable = unreadable;
    unreadable.sort_by(|a, b| a.0.name.cmp(&b.0.name));
    for (entry, error) in unreadable {
        summary.no_results += 1;
        let mut labels = vec![String::new(); names.len()];
        labels[0] = entry.name.clone();
        let cell = Cell {
            content: Content::NoResults {
                error: error.clone(),
            },
            link: entry.link.clone(),
        };
        let column = named_guarantee(&entry.name)
            .and_then(|g| columns.iter().position(|c| c == g))
            .unwrap_or(0);
        let mut cells = vec![None; width];
        cells[column] = Some(cell);
        rows.push(Row { labels, cells });
    }
    Grid {
        experiments,
        keys,
        columns,
        rows,
        skipped: skipped.to_vec(),
        summary,
        wall,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn results(experiment: &str, combination: &str) -> Results {
        Results::parse(&format!(
            r#"{{"experiment":"{experiment}","verdict":"pass",
                "config":{{"base_name":"k","system":{{"backend":"redis"}},"combination":{combination}}}}}"#
        ))
        .expect("parse")
    }

    #[test]
    fn the_combination_keeps_the_order_the_name_spells() {
        let r = results(
            "k[guarantee=exactly-once,faults.0.kind=kill,backend=redis]",
            r#"{"backend":"redis","faults.0.kind":"kill","guarantee":"exactly-once","zeta":3}"#,
        );
        let keys: Vec<String> = combination(&r).into_iter().map(|(k, _)| k).collect();
        assert_eq!(keys, ["guarantee", "faults.0.kind", "backend", "zeta"]);
        assert_eq!(combination(&r)[3].1, "3");
        // a key that is a prefix of another is found at its own place
        let r = results(
            "k[faults.0.kind=kill,faults.0=kill kafka-1]",
            r#"{"faults.0":"kill kafka-1","faults.0.kind":"kill"}"#,
        );
        let keys: Vec<String> = combination(&r).into_iter().map(|(k, _)| k).collect();
        assert_eq!(keys, ["faults.0.kind", "faults.0"]);
        // a name that does not spell it: sorted
        let r = results("other", r#"{"b":"1","a":"2"}"#);
        let keys: Vec<String> = combination(&r).into_iter().map(|(k, _)| k).collect();
        assert_eq!(keys, ["a", "b"]);
    }

    #[test]
    fn fault_keys_get_short_headers_unless_they_would_collide() {
        let keys = |k: &[&str]| headers(&k.iter().map(|s| s.to_string()).collect::<Vec<_>>());
        assert_eq!(
            keys(&["backend", "faults.0.kind", "faults.0.target"]),
            ["backend", "fault", "target"]
        );
        assert_eq!(
            keys(&["faults.0.kind", "faults.1.kind"]),
            ["fault 1", "fault 2"]
        );
        assert_eq!(
            keys(&["faults.0", "faults.0.kind", "brokers"]),
            ["faults.0", "faults.0.kind", "brokers"]
        );
    }

    #[test]
    fn labels_compare_as_numbers_when_both_are() {
        assert_eq!(compare_label("9", "10"), Ordering::Less);
        assert_eq!(compare_label("kafka", "redis"), Ordering::Less);
        assert_eq!(compare_label("10", "a"), Ordering::Less);
    }

    #[test]
    fn durations_read_in_their_unit() {
        assert_eq!(duration_text(42.46), "42.5 s");
        assert_eq!(duration_text(372.0), "6 min 12 s");
        assert_eq!(duration_text(3840.0), "1 h 4 min");
    }

    #[test]
    fn a_run_directory_name_gives_its_guarantee() {
        let name = "20260101T000000Z-guarantee_at-least-once_backend_redis";
        assert_eq!(named_guarantee(name), Some("at-least-once"));
        let name = "20260101T000000Z-guarantee_exactly-once";
        assert_eq!(named_guarantee(name), Some("exactly-once"));
        assert_eq!(named_guarantee("x-guarantee_at-least-oncex"), None);
        assert_eq!(named_guarantee("whatever"), None);
    }

    #[test]
    fn the_summary_line_counts_every_cell() {
        let s = GridSummary {
            pass: 4,
            fail: 1,
            inconclusive: 1,
            no_results: 1,
            incomplete: 1,
            skipped: 2,
        };
        assert_eq!(
            s.to_string(),
            "7 cells: 4 PASS, 1 FAIL, 1 INCONCLUSIVE, 1 no results (1 incomplete); 2 combinations skipped"
        );
    }
}
