//! The reliability grid on run directories built from a committed example
//! (redis-consumer-kill at-least-once, recorded by a real run) with its combination,
//! verdict and anomaly counts changed: rows and columns, cells, links, the skipped
//! section, escaping, and directories without results.

mod support;

use std::path::{Path, PathBuf};

use serde_json::{Value, json};
use support::data;

/// Whether `guarantee` requires each rule (`check::expectations_for`).
fn required(guarantee: &str, anomaly: &str) -> bool {
    match anomaly {
        "lost" | "unobserved" => guarantee != "at-most-once",
        "duplicate_delivery" => guarantee == "exactly-once",
        "duplicate_effect" => guarantee != "at-least-once",
        _ => true,
    }
}

/// The example with the combination `pairs` (in matrix order), `verdict` and the
/// anomaly counts; the expectations follow the guarantee and the counts.
fn doc(pairs: &[(&str, Value)], verdict: &str, anomalies: &[(&str, u64)]) -> Value {
    let text = std::fs::read_to_string(data("redis-consumer-kill-alo.results.json")).expect("read");
    let mut doc: Value = serde_json::from_str(&text).expect("JSON");
    let spelled: Vec<String> = pairs
        .iter()
        .map(|(k, v)| match v {
            Value::String(s) => format!("{k}={s}"),
            other => format!("{k}={other}"),
        })
        .collect();
    let base = doc["config"]["base_name"]
        .as_str()
        .expect("base")
        .to_string();
    doc["experiment"] = format!("{base}[{}]", spelled.join(",")).into();
    let combination: serde_json::Map<String, Value> = pairs
        .iter()
        .map(|(k, v)| (k.to_string(), v.clone()))
        .collect();
    doc["config"]["combination"] = Value::Object(combination);
    let guarantee = pairs
        .iter()
        .find(|(k, _)| *k == "guarantee")
        .and_then(|(_, v)| v.as_str())
        .unwrap_or("at-least-once");
    doc["config"]["system"]["guarantee"] = guarantee.into();
    if let Some((_, Value::String(b))) = pairs.iter().find(|(k, _)| *k == "backend") {
        doc["config"]["system"]["backend"] = b.as_str().into();
    }
    for (name, count) in anomalies {
        doc["anomalies"][*name]["count"] = (*count).into();
    }
    for e in doc["expectations"].as_array_mut().expect("expectations") {
        let anomaly = e["anomaly"].as_str().expect("anomaly").to_string();
        let count = doc_count(anomalies, &anomaly);
        e["required"] = required(guarantee, &anomaly).into();
        e["actual"] = count.into();
        e["status"] = if count > 0 { "broken" } else { "held" }.into();
    }
    doc["verdict"] = verdict.into();
    doc
}

fn doc_count(anomalies: &[(&str, u64)], name: &str) -> u64 {
    anomalies
        .iter()
        .find(|(n, _)| *n == name)
        .map_or(0, |(_, c)| *c)
}

/// `root/<dir>` with `doc` as its results.json and a report.html.
fn write_run(root: &Path, dir: &str, doc: &Value) -> PathBuf {
    let path = root.join(dir);
    std::fs::create_dir_all(&path).expect("mkdir");
    std::fs::write(path.join("results.json"), doc.to_string()).expect("write");
    std::fs::write(path.join("report.html"), "<!DOCTYPE html>").expect("write");
    path
}

fn read(dir: &Path, file: &str) -> String {
    std::fs::read_to_string(dir.join(file)).unwrap_or_else(|e| panic!("{file}: {e}"))
}

/// The cells of the first Markdown table, trimmed (escaped pipes kept inside cells).
fn md_table(md: &str) -> Vec<Vec<String>> {
    md.lines()
        .skip_while(|l| !l.starts_with('|'))
        .take_while(|l| l.starts_with('|'))
        .filter(|l| !l.starts_with("| -"))
        .map(|l| {
            let mut cells = vec![String::new()];
            let mut escaped = false;
            for c in l.trim().trim_matches('|').chars() {
                match c {
                    '|' if !escaped => cells.push(String::new()),
                    _ => cells.last_mut().expect("cell").push(c),
                }
                escaped = c == '\\' && !escaped;
            }
            cells.iter().map(|c| c.trim().to_string()).collect()
        })
        .collect()
}

const GUARANTEES: [&str; 3] = ["at-most-once", "at-least-once", "exactly-once"];

#[test]
fn a_sweep_has_a_column_per_guarantee_and_a_row_per_remaining_combination() {
    let root = tempfile::tempdir().expect("tempdir");
    let rows = [
        ("redis", "latency", "redis"),
        ("redis", "kill", "inventory#1"),
        ("kafka", "kill", "kafka-1"),
    ];
    let mut runs = Vec::new();
    // given in an order the grid does not keep: exactly-once first, redis first
    for g in GUARANTEES.iter().rev() {
        for (b, kind, target) in rows {
            let pairs = [
                ("backend", json!(b)),
                ("faults.0.kind", json!(kind)),
                ("faults.0.target", json!(target)),
                ("guarantee", json!(g)),
            ];
            let lost = u64::from(*g == "exactly-once" && kind == "kill") * 3;
            let verdict = if lost > 0 { "fail" } else { "pass" };
            let d = doc(&pairs, verdict, &[("lost", lost)]);
            runs.push(write_run(
                root.path(),
                &format!("20260101T000000Z-{b}-{kind}-{g}"),
                &d,
            ));
        }
    }
    let out = root.path().join("grid");
    let summary = reports::grid_into(&runs, &[], &out).expect("grid");
    assert_eq!((summary.pass, summary.fail, summary.cells()), (7, 2, 9));

    let md = read(&out, "grid.md");
    let table = md_table(&md);
    assert_eq!(
        table[0],
        [
            "backend",
            "fault",
            "target",
            "at-most-once",
            "at-least-once",
            "exactly-once"
        ]
    );
    let headers: Vec<&[String]> = table[1..].iter().map(|r| &r[..3]).collect();
    assert_eq!(
        headers,
        [
            ["kafka", "kill", "kafka-1"],
            ["redis", "kill", "inventory#1"],
            ["redis", "latency", "redis"]
        ]
    );
    assert_eq!(
        table[1][5],
        "**FAIL** · lost 3 · [report](../20260101T000000Z-kafka-kill-exactly-once/report.html)"
    );
    assert!(table[2][5].starts_with("**FAIL** · lost 3 · "), "{md}");
    assert!(table[3][3].starts_with("**PASS** · [report]("), "{md}");
    assert!(
        md.starts_with("# Reliability grid: redis-consumer-kill\n"),
        "{md}"
    );
    assert!(
        md.contains("9 cells: 7 PASS, 2 FAIL, 0 INCONCLUSIVE, 0 no results"),
        "{md}"
    );

    let html = read(&out, "grid.html");
    assert_eq!(html.matches("<tr>").count(), 4 + 8, "grid rows and legend");
    assert_eq!(html.matches("class=\"verdict fail\"").count(), 2);
    assert!(
        html.contains("<th title=\"faults.0.kind\">fault</th>"),
        "{html}"
    );
    // every link leads to a run's report
    let hrefs: Vec<&str> = html
        .split("href=\"")
        .skip(1)
        .map(|s| s.split('"').next().expect("href"))
        .collect();
    assert_eq!(hrefs.len(), 9);
    for href in hrefs {
        assert!(!href.contains(':') && !href.starts_with('/'), "{href}");
        assert!(out.join(href).is_file(), "{href} does not resolve");
    }
    for needle in [
        "http:", "https:", "src=", "<script", "<link", "url(", "@import",
    ] {
        assert!(!html.contains(needle), "grid.html contains {needle}");
    }
}

#[test]
fn matrix_keys_keep_their_order_and_numbers_sort_as_numbers() {
    let root = tempfile::tempdir().expect("tempdir");
    let mut runs = Vec::new();
    for rate in [100, 20] {
        for b in ["redis", "kafka"] {
            let pairs = [
                ("guarantee", json!("at-least-once")),
                ("workload.rate", json!(rate)),
                ("backend", json!(b)),
                ("brokers", json!(1)),
            ];
            runs.push(write_run(
                root.path(),
                &format!("r-{rate}-{b}"),
                &doc(&pairs, "pass", &[]),
            ));
        }
    }
    let out = root.path().join("grid");
    reports::grid_into(&runs, &[], &out).expect("grid");
    let table = md_table(&read(&out, "grid.md"));
    assert_eq!(
        table[0],
        ["backend", "workload.rate", "brokers", "at-least-once"]
    );
    let rows: Vec<(&str, &str)> = table[1..]
        .iter()
        .map(|r| (r[0].as_str(), r[1].as_str()))
        .collect();
    assert_eq!(
        rows,
        [
            ("kafka", "20"),
            ("kafka", "100"),
            ("redis", "20"),
            ("redis", "100")
        ]
    );
}

#[test]
fn cells_show_dead_letters_allowed_anomalies_and_why_a_run_did_not_pass() {
    let root = tempfile::tempdir().expect("tempdir");
    let pairs = |g: &str| [("guarantee", json!(g)), ("backend", json!("redis"))];
    let mut lost = doc(
        &pairs("exactly-once"),
        "fail",
        &[("lost", 3), ("duplicate_effect", 2)],
    );
    lost["lost_attribution"]["dead_lettered"] = json!([{
        "service": "order", "reason_kind": "too_many_attempts", "orders": 2,
        "example_reason": "failed 8 times"
    }]);
    let allowed = doc(
        &pairs("at-least-once"),
        "pass",
        &[("duplicate_delivery", 12)],
    );
    let mut unsure = doc(&pairs("at-most-once"), "inconclusive", &[]);
    unsure["reasons"] = json!(["the drain did not finish: 4 orders in flight"]);
    unsure["complete"] = json!(false);
    let runs = [
        write_run(root.path(), "eos", &lost),
        write_run(root.path(), "alo", &allowed),
        write_run(root.path(), "amo", &unsure),
    ];
    let out = root.path().join("grid");
    let summary = reports::grid_into(&runs, &[], &out).expect("grid");
    assert_eq!(
        (summary.pass, summary.fail, summary.inconclusive),
        (1, 1, 1)
    );
    assert_eq!(summary.incomplete, 1);

    let table = md_table(&read(&out, "grid.md"));
    assert_eq!(table.len(), 2, "one row: {table:?}");
    let row = &table[1];
    assert_eq!(
        row[1],
        "**INCONCLUSIVE** · incomplete (interrupted) · the drain did not finish: 4 orders in flight · [report](../amo/report.html)"
    );
    assert_eq!(
        row[2],
        "**PASS** · *dup delivery 12 (allowed)* · [report](../alo/report.html)"
    );
    assert_eq!(
        row[3],
        "**FAIL** · lost 3 (2 dead-lettered) · dup effect 2 · [report](../eos/report.html)"
    );

    let html = read(&out, "grid.html");
    assert!(
        html.contains("<span class=\"muted\">dup delivery 12 (allowed)</span>"),
        "{html}"
    );
    assert!(html.contains("<span class=\"verdict inconclusive\">INCONCLUSIVE</span>"));
    assert!(html.contains("lost 3 (2 dead-lettered) · dup effect 2"));
    assert!(
        html.contains("<td class=\"ids\">duplicate_delivery</td>"),
        "legend"
    );
}

#[test]
fn skipped_combinations_are_listed_below_the_grid() {
    let root = tempfile::tempdir().expect("tempdir");
    let pairs = [
        ("backend", json!("redis")),
        ("faults.0.kind", json!("kill")),
    ];
    let runs = [write_run(root.path(), "a", &doc(&pairs, "pass", &[]))];
    let skipped = [(
        "backend=redis,faults.0.kind=latency,faults.0.target=inventory#1".to_string(),
        "a network fault needs a proxied target".to_string(),
    )];
    let out = root.path().join("grid");
    let summary = reports::grid_into(&runs, &skipped, &out).expect("grid");
    assert_eq!(summary.skipped, 1);
    let md = read(&out, "grid.md");
    let grid_at = md.find("| backend").expect("grid");
    let skipped_at = md.find("## Skipped combinations").expect("skipped section");
    assert!(grid_at < skipped_at && skipped_at < md.find("## Legend").expect("legend"));
    assert!(
        md.contains("- backend=redis,faults.0.kind=latency,faults.0.target=inventory#1: a network fault needs a proxied target"),
        "{md}"
    );
    assert!(
        md.contains("1 cell: 1 PASS, 0 FAIL, 0 INCONCLUSIVE, 0 no results; 1 combination skipped")
    );
    // without a guarantee key: one column, headed by the runs' guarantee
    assert_eq!(md_table(&md)[0], ["backend", "fault", "at-least-once"]);
    let html = read(&out, "grid.html");
    let at = html.find("<h2>Skipped combinations</h2>").expect("section");
    assert!(html.find("<table class=\"grid\">").expect("grid") < at);
    assert!(html[at..].contains("a network fault needs a proxied target"));
}

#[test]
fn odd_values_are_escaped_and_odd_directory_names_encoded() {
    let root = tempfile::tempdir().expect("tempdir");
    let pairs = [
        ("backend", json!("redis")),
        ("faults.0", json!("<b>kill</b> | *x* & \"y\"\nz")),
    ];
    let mut d = doc(&pairs, "pass", &[]);
    d["config"]["base_name"] = json!("odd & <name>");
    d["experiment"] = json!("odd & <name>[backend=redis,faults.0=...]");
    let runs = [write_run(root.path(), "run with space & <x>", &d)];
    let out = root.path().join("grid");
    reports::grid_into(&runs, &[("<i>c</i>".into(), "r & s".into())], &out).expect("grid");

    let html = read(&out, "grid.html");
    assert!(!html.contains("<b>") && !html.contains("<i>") && !html.contains("<name>"));
    assert!(
        html.contains("&lt;b&gt;kill&lt;/b&gt; | *x* &amp; &quot;y&quot;\nz"),
        "{html}"
    );
    assert!(html.contains("odd &amp; &lt;name&gt;"), "{html}");
    assert!(
        html.contains("href=\"../run%20with%20space%20%26%20%3Cx%3E/report.html\""),
        "{html}"
    );
    assert!(out.join("../run with space & <x>/report.html").is_file());

    let md = read(&out, "grid.md");
    assert!(
        md.starts_with("# Reliability grid: odd \\& \\<name\\>\n"),
        "{md}"
    );
    let table = md_table(&md);
    assert_eq!(
        table.len(),
        2,
        "the value's line break stays in its row: {md}"
    );
    assert_eq!(table[1][1], "\\<b\\>kill\\</b\\> \\| \\*x\\* \\& \"y\" z");
    assert!(md.contains("- \\<i\\>c\\</i\\>: r \\& s"), "{md}");
}

#[test]
fn a_directory_without_readable_results_is_a_no_results_cell() {
    let root = tempfile::tempdir().expect("tempdir");
    let pairs = |g: &str| [("guarantee", json!(g)), ("backend", json!("redis"))];
    let good = write_run(
        root.path(),
        "ok",
        &doc(&pairs("at-least-once"), "pass", &[]),
    );
    let empty = root.path().join("20260101T000000Z-guarantee_exactly-once");
    std::fs::create_dir_all(&empty).expect("mkdir");
    let broken = root.path().join("broken");
    std::fs::create_dir_all(&broken).expect("mkdir");
    std::fs::write(broken.join("results.json"), "{\"experiment\": \"x\",").expect("write");
    let out = root.path().join("grid");
    let summary = reports::grid_into(&[good, empty, broken], &[], &out).expect("grid");
    assert_eq!(
        (summary.pass, summary.no_results, summary.cells()),
        (1, 2, 3)
    );

    let table = md_table(&read(&out, "grid.md"));
    assert_eq!(table[0], ["backend", "at-least-once", "exactly-once"]);
    // the unreadable ones after the runs, by name; each in the column its name gives
    assert_eq!(table[2][0], "20260101T000000Z-guarantee\\_exactly-once");
    assert!(table[2][1].is_empty());
    assert!(
        table[2][2].starts_with("**no results** · reading "),
        "{table:?}"
    );
    assert!(table[2][2].contains("No such file"), "{table:?}");
    assert!(table[2][2].ends_with("[run directory](../20260101T000000Z-guarantee_exactly-once/)"));
    assert_eq!(table[3][0], "broken");
    assert!(
        table[3][1].contains("is not a results.json the reports can read"),
        "{table:?}"
    );

    let html = read(&out, "grid.html");
    assert_eq!(
        html.matches("<span class=\"verdict noresults\">no results</span>")
            .count(),
        2
    );
}

#[test]
fn the_total_wall_time_adds_up_the_runs() {
    let root = tempfile::tempdir().expect("tempdir");
    let mut runs = Vec::new();
    for (g, start, end) in [
        (
            "at-least-once",
            "2026-01-01T10:00:00Z",
            "2026-01-01T10:01:30.5Z",
        ),
        (
            "exactly-once",
            "2026-01-01T10:02:00Z",
            "2026-01-01T10:02:29.5Z",
        ),
        ("at-most-once", "", ""),
    ] {
        let mut d = doc(&[("guarantee", json!(g))], "pass", &[]);
        d["started_at"] = json!(start);
        d["finished_at"] = json!(end);
        runs.push(write_run(root.path(), g, &d));
    }
    let out = root.path().join("grid");
    reports::grid_into(&runs, &[], &out).expect("grid");
    let md = read(&out, "grid.md");
    assert!(
        md.contains(
            "wall time: 2 min 0 s (started_at..finished_at summed over 2 runs); 1 run without times"
        ),
        "{md}"
    );
    assert!(read(&out, "grid.html").contains("wall time: 2 min 0 s"));
}

#[test]
fn runs_of_several_experiments_are_told_apart_and_no_runs_is_an_error() {
    let root = tempfile::tempdir().expect("tempdir");
    let runs: Vec<PathBuf> = ["gateway-outage", "quickstart"]
        .iter()
        .map(|name| {
            let text =
                std::fs::read_to_string(data(&format!("{name}.results.json"))).expect("read");
            write_run(
                root.path(),
                name,
                &serde_json::from_str(&text).expect("JSON"),
            )
        })
        .collect();
    let out = root.path().join("grid");
    reports::grid_into(&runs, &[], &out).expect("grid");
    let md = read(&out, "grid.md");
    assert!(
        md.starts_with("# Reliability grid: gateway-outage, quickstart\n"),
        "{md}"
    );
    let table = md_table(&md);
    assert_eq!(table[0], ["experiment", "backend", "at-least-once"]);
    assert_eq!(table[1][..2], ["gateway-outage", "redis"]);
    assert_eq!(table[2][..2], ["quickstart", "redis"]);

    let err = reports::grid_into(&[], &[], &out).expect_err("no runs");
    assert!(matches!(err, reports::ReportError::NoGridRuns), "{err}");
}
