//! deploy/: the Prometheus scrape config and alerting rules pass Prometheus's own
//! checks (`promtool`, Debian's `prometheus` package, installed by `lab/install`), the
//! rules' unit tests pass, and every metric the rules and the Grafana dashboard query
//! is one the harness's `/metrics` or the services' `/metrics` exposes. A missing
//! promtool fails naming the install step, never skips.

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use std::process::Command;

fn deploy() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../deploy")
}

fn promtool(args: &[&str], dir: &Path) {
    let out = Command::new("promtool")
        .args(args)
        .current_dir(dir)
        .output()
        .unwrap_or_else(|e| {
            panic!(
                "promtool ({e}): run `bash lab/install` (it installs Debian's `prometheus` package)"
            )
        });
    assert!(
        out.status.success(),
        "promtool {args:?}:\n{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
}

#[test]
fn the_scrape_config_and_the_rules_pass_promtool_and_the_rules_tests() {
    let dir = deploy().join("prometheus");
    promtool(&["check", "config", "prometheus.yml"], &dir);
    promtool(&["check", "rules", "harness.rules.yml"], &dir);
    promtool(&["test", "rules", "harness.rules.test.yml"], &dir);
}

/// The sample names an exposition holds (`harness_orders_total`, `..._bucket`, ...).
fn exposed(text: &str) -> BTreeSet<String> {
    text.lines()
        .filter(|l| !l.starts_with('#') && !l.is_empty())
        .filter_map(|l| l.split(['{', ' ']).next())
        .map(str::to_string)
        .collect()
}

/// The metric names a PromQL expression mentions (ours start `harness_` or `order_platform_`).
fn mentioned(expr: &str) -> Vec<String> {
    let mut found = Vec::new();
    for prefix in ["harness_", "order_platform_"] {
        let mut rest = expr;
        while let Some(at) = rest.find(prefix) {
            let name: String = rest[at..]
                .chars()
                .take_while(|c| c.is_ascii_alphanumeric() || *c == '_')
                .collect();
            rest = &rest[at + name.len()..];
            found.push(name);
        }
    }
    found
}

#[test]
fn every_metric_the_rules_and_the_grafana_dashboard_query_is_exposed() {
    // The harness's families, with every optional one present.
    let mut status = harness::run::Status {
        run: 1,
        // A name that must be escaped in a label value.
        experiment: "a \"quoted\" \\ name\nline two".into(),
        ..Default::default()
    };
    status.lags.insert(
        "inventory".into(),
        harness::run::status::GroupLag {
            lag: 1,
            pending: Some(1),
            t_us: 1,
        },
    );
    status.faults_active.push(harness::journal::ActiveFault {
        id: "f1".into(),
        kind: check::FaultKind::Latency,
        target: "redis".into(),
        start_us: 1,
    });
    let mut totals = harness::dashboard::metrics::Totals::default();
    totals.update(&status);
    let text = totals.render_classic(&status);
    let path = std::env::temp_dir().join(format!("harness-metrics-{}.txt", std::process::id()));
    std::fs::write(&path, &text).expect("write");
    let out = Command::new("promtool")
        .args(["check", "metrics"])
        .stdin(std::fs::File::open(&path).expect("open"))
        .output()
        .expect("promtool: run `bash lab/install`");
    let _ = std::fs::remove_file(&path);
    assert!(
        out.status.success(),
        "promtool check metrics: {}{}\n{text}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    let mut names = exposed(&text);
    let service = order_platform::metrics::Metrics::new("payment", 0);
    names.extend(exposed(&service.encode()));

    let mut queries: Vec<(String, String)> = Vec::new();
    let rules =
        std::fs::read_to_string(deploy().join("prometheus/harness.rules.yml")).expect("rules");
    for line in rules.lines() {
        queries.push(("harness.rules.yml".into(), line.to_string()));
    }
    let grafana: serde_json::Value = serde_json::from_str(
        &std::fs::read_to_string(deploy().join("grafana/harness.json")).expect("grafana"),
    )
    .expect("grafana/harness.json is JSON");
    let panels = grafana["panels"].as_array().expect("panels");
    assert!(panels.len() >= 8, "the dashboard has its panels");
    for panel in panels {
        for target in panel["targets"].as_array().expect("targets") {
            let expr = target["expr"].as_str().expect("expr");
            queries.push((format!("panel {}", panel["title"]), expr.to_string()));
        }
    }
    for a in grafana["annotations"]["list"]
        .as_array()
        .expect("annotations")
    {
        queries.push((
            "annotation".into(),
            a["expr"].as_str().unwrap_or("").to_string(),
        ));
    }
    let mut checked = 0;
    for (place, expr) in &queries {
        for name in mentioned(expr) {
            assert!(
                names.contains(&name),
                "{place}: {name} is not exposed (exposed: {names:?})"
            );
            checked += 1;
        }
    }
    assert!(checked >= 20, "only {checked} metric references found");
}
