//! `harness run --dashboard` during a real run (Redis, Toxiproxy and the services of a
//! lab the run starts itself), watched by headless Chromium (Debian's `chromium`,
//! installed by `lab/install`) and scraped once a second:
//!
//! - the page connects; its numbers change from one second to the next; a fault window
//!   is drawn, marked active, while `/metrics` says the fault is active, and stays drawn
//!   (healed) after; no console error; no request leaves the dashboard's own
//!   127.0.0.1 address; a screenshot is not blank; at the end it links the report,
//!   which the same address serves;
//! - `/metrics` passes `promtool check metrics` (Prometheus's own parser and linter,
//!   Debian's `prometheus` package) and parses with `prometheus-parse`; its counters
//!   never go back; each group's lag gauge is one of the lag samples the history
//!   recorded around the same second (± one sample).
//!
//! A missing Chromium or promtool fails naming the install step, never skips.

#[path = "../../reports/tests/support/mod.rs"]
mod support;

use std::collections::BTreeMap;
use std::io::{BufRead, BufReader, Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use serde_json::Value;
use support::cdp::Browser;

const EXPERIMENT: &str = r#"name = "dashboard"
description = "a short Redis run with a latency fault, watched live"
seed = 11
duration = "24s"
warmup = "2s"
drain_timeout = "30s"

[system]
backend = "redis"
guarantee = "at-least-once"
skus = 20
initial_stock = 100000

[workload]
driver = "http"
rate = 40
customers = 100

[[faults]]
at = "6s"
for = "8s"
kind = "latency"
target = "redis"
latency = "20ms"
"#;

/// The harness, killed and reaped if the test fails before it stops it.
struct Harness(Child);

impl Drop for Harness {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn promtool() -> PathBuf {
    let found = std::env::var_os("PATH").and_then(|paths| {
        std::env::split_paths(&paths)
            .map(|dir| dir.join("promtool"))
            .find(|p| p.is_file())
    });
    found.unwrap_or_else(|| {
        panic!("promtool is not installed: run `bash lab/install` (it installs Debian's `prometheus` package)")
    })
}

/// `GET path` on the dashboard: status code and body.
fn get(addr: SocketAddr, path: &str) -> (u16, String) {
    let (code, _, body) = get_with(addr, path, "*/*");
    (code, body)
}

/// `GET path` with an `Accept` header: status code, head (lower case) and body.
fn get_with(addr: SocketAddr, path: &str, accept: &str) -> (u16, String, String) {
    let mut stream = TcpStream::connect_timeout(&addr, Duration::from_secs(5)).expect("connect");
    stream
        .set_read_timeout(Some(Duration::from_secs(10)))
        .expect("timeout");
    write!(
        stream,
        "GET {path} HTTP/1.0\r\nHost: {addr}\r\nAccept: {accept}\r\n\r\n"
    )
    .expect("request");
    let mut response = String::new();
    stream.read_to_string(&mut response).expect("response");
    let (head, body) = response.split_once("\r\n\r\n").expect("HTTP response");
    let code = head
        .split_whitespace()
        .nth(1)
        .and_then(|c| c.parse().ok())
        .expect("status");
    (code, head.to_ascii_lowercase(), body.to_string())
}

fn samples(text: &str) -> prometheus_parse::Scrape {
    prometheus_parse::Scrape::parse(text.lines().map(|l| Ok(l.to_string())))
        .unwrap_or_else(|e| panic!("/metrics does not parse: {e}\n{text}"))
}

fn number(value: &prometheus_parse::Value) -> Option<f64> {
    match value {
        prometheus_parse::Value::Counter(v)
        | prometheus_parse::Value::Gauge(v)
        | prometheus_parse::Value::Untyped(v) => Some(*v),
        _ => None,
    }
}

/// One sample's identity: name and sorted labels.
fn series_id(s: &prometheus_parse::Sample) -> String {
    let mut labels: Vec<String> = s.labels.iter().map(|(k, v)| format!("{k}={v}")).collect();
    labels.sort();
    format!("{}{{{}}}", s.metric, labels.join(","))
}

#[test]
fn the_dashboard_follows_a_real_run_in_chromium_and_metrics_agree_with_the_history() {
    let promtool = promtool();
    let tmp = tempfile::tempdir().expect("tempdir");
    let file = tmp.path().join("dashboard.toml");
    std::fs::write(&file, EXPERIMENT).expect("write");
    let runs = tmp.path().join("runs");
    let mut child = Command::new(env!("CARGO_BIN_EXE_harness"))
        .arg("run")
        .arg(&file)
        .args(["--quiet", "--dashboard", "--linger", "--runs"])
        .arg(&runs)
        .stdout(Stdio::piped())
        .stderr(std::fs::File::create(tmp.path().join("harness.err")).expect("log"))
        .spawn()
        .expect("start harness");
    let stdout = child.stdout.take().expect("stdout");
    let mut harness = Harness(child);
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        for line in BufReader::new(stdout).lines().map_while(Result::ok) {
            let _ = tx.send(line);
        }
    });
    let err = || std::fs::read_to_string(tmp.path().join("harness.err")).unwrap_or_default();
    let url = loop {
        let line = rx
            .recv_timeout(Duration::from_secs(120))
            .unwrap_or_else(|_| panic!("no dashboard address printed:\n{}", err()));
        if let Some(url) = line.strip_prefix("dashboard: ") {
            break url.trim().to_string();
        }
    };
    let addr: SocketAddr = url
        .trim_start_matches("http://")
        .trim_end_matches('/')
        .parse()
        .expect("host:port");
    assert!(
        addr.ip().is_loopback(),
        "{addr}: the default binds to loopback"
    );

    let mut browser = Browser::start();
    let session = browser.page(1200);
    browser.call(
        "Page.navigate",
        serde_json::json!({ "url": url }),
        Some(&session),
    );
    browser.wait_for("Page.loadEventFired", &session);

    // Once a second until the run ends (the report is linked): what the page shows,
    // and a scrape of /metrics.
    let probe = "JSON.stringify({ connection: document.getElementById('connection').textContent, \
        phase: document.getElementById('phase').textContent, \
        totals: document.getElementById('totals').textContent, \
        windows: document.querySelectorAll('.fault-window').length, \
        active: document.querySelectorAll('.fault-window.active').length, \
        report: document.getElementById('finished-now').hidden ? null : document.getElementById('report-link').getAttribute('href') })";
    let deadline = Instant::now() + Duration::from_secs(240);
    let mut seen: Vec<Value> = Vec::new();
    let mut scrapes: Vec<String> = Vec::new();
    let mut active_agreed = false;
    let mut sd_during_load: Option<String> = None;
    let report = loop {
        assert!(
            Instant::now() < deadline,
            "the run did not end within 240 s:\n{}",
            err()
        );
        std::thread::sleep(Duration::from_secs(1));
        let state: Value = serde_json::from_str(
            browser
                .eval(&session, probe)
                .as_str()
                .expect("probe as JSON"),
        )
        .expect("probe");
        let (code, metrics) = get(addr, "/metrics");
        assert_eq!(code, 200, "/metrics: {metrics}");
        let fault_on = samples(&metrics)
            .samples
            .iter()
            .any(|s| s.metric == "harness_fault_active" && number(&s.value) == Some(1.0));
        if state["active"].as_u64() > Some(0) && fault_on {
            active_agreed = true;
        }
        scrapes.push(metrics);
        if state["phase"] == "load" && sd_during_load.is_none() {
            sd_during_load = Some(get(addr, "/sd").1);
        }
        let done = state["report"].as_str().map(str::to_string);
        seen.push(state);
        if let Some(report) = done {
            break report;
        }
    };

    // The page connected and its numbers moved from one second to the next.
    assert!(
        seen.iter().any(|s| s["connection"] == "live"),
        "never connected: {seen:?}"
    );
    let load: Vec<&Value> = seen.iter().filter(|s| s["phase"] == "load").collect();
    let changes = load
        .windows(2)
        .filter(|w| w[0]["totals"] != w[1]["totals"])
        .count();
    assert!(
        load.len() >= 10 && changes * 10 >= (load.len() - 1) * 8,
        "the totals changed in {changes} of {} seconds of load: {load:?}",
        load.len()
    );
    assert!(
        active_agreed,
        "no fault window was active while /metrics said a fault was: {seen:?}"
    );
    assert!(
        seen.last()
            .is_some_and(|s| s["windows"].as_u64() >= Some(3) && s["active"] == 0),
        "after the run, the healed fault stays drawn on the three charts: {seen:?}"
    );

    // A Prometheus server asks for OpenMetrics and gets it.
    let (code, head, body) = get_with(
        addr,
        "/metrics",
        "application/openmetrics-text;version=1.0.0,text/plain;version=0.0.4;q=0.5",
    );
    assert_eq!(code, 200);
    assert!(
        head.contains("content-type: application/openmetrics-text"),
        "{head}"
    );
    assert!(body.ends_with("# EOF\n"), "{body}");
    // The services' addresses as HTTP service discovery, while they ran.
    let sd: Value = serde_json::from_str(sd_during_load.as_deref().expect("/sd during the load"))
        .expect("/sd is JSON");
    let targets = sd.as_array().expect("a list of target groups");
    assert!(
        targets.len() >= 5
            && targets.iter().all(|t| t["targets"][0]
                .as_str()
                .is_some_and(|a| a.starts_with("127.0.0.1:"))
                && t["labels"]["service"].is_string()),
        "{sd}"
    );

    // The report is served from the same address.
    let (code, page) = get(addr, &report);
    assert_eq!(code, 200, "{report}: {page}");
    assert!(page.contains("<html"), "{report} is not the report");
    let (code, _) = get(addr, "/runs/1/../../etc/passwd");
    assert_ne!(code, 200, "a path out of the run directory is refused");

    // No console errors, no request beyond the dashboard's own address.
    let errors: Vec<&Value> = browser
        .events
        .iter()
        .filter(|e| {
            e["sessionId"] == session
                && (e["method"] == "Runtime.exceptionThrown"
                    || (e["method"] == "Runtime.consoleAPICalled"
                        && e["params"]["type"] == "error")
                    || (e["method"] == "Log.entryAdded"
                        && e["params"]["entry"]["level"] == "error"))
        })
        .collect();
    assert!(errors.is_empty(), "console errors: {errors:?}");
    let own = format!("http://{addr}/");
    let foreign: Vec<String> = browser
        .events_of("Network.requestWillBeSent", &session)
        .filter_map(|e| e["params"]["request"]["url"].as_str().map(str::to_string))
        .filter(|u| !u.starts_with(&own))
        .collect();
    assert!(foreign.is_empty(), "requests beyond {own}: {foreign:?}");

    // A screenshot with the charts drawn.
    let height = browser
        .eval(&session, "document.documentElement.scrollHeight")
        .as_u64()
        .expect("page height") as u32;
    browser.resize(&session, 1200, height);
    let png = browser.screenshot(&session);
    // To look at it: HARNESS_DASHBOARD_SHOT=dashboard.png cargo test -p harness --test dashboard
    if let Some(path) = std::env::var_os("HARNESS_DASHBOARD_SHOT") {
        std::fs::write(path, &png).expect("write the screenshot");
    }
    let shot = support::decode_png(&png);
    let (ink, colour) = support::drawn_pixels(&shot, (0, 0, shot.0, shot.1));
    assert!(
        ink > 20_000 && colour > 2_000,
        "screenshot looks blank: {ink} inked, {colour} coloured pixels"
    );

    // Without JavaScript the page says where the numbers are: its <noscript> is
    // parsed as elements only when scripts are off.
    let plain = browser.page(1200);
    browser.call(
        "Emulation.setScriptExecutionDisabled",
        serde_json::json!({ "value": true }),
        Some(&plain),
    );
    browser.call(
        "Page.navigate",
        serde_json::json!({ "url": url }),
        Some(&plain),
    );
    browser.wait_for("Page.loadEventFired", &plain);
    let document = browser.call("DOM.getDocument", serde_json::json!({}), Some(&plain));
    let found = browser.call(
        "DOM.querySelector",
        serde_json::json!({ "nodeId": document["root"]["nodeId"], "selector": "p.noscript a[href='/metrics']" }),
        Some(&plain),
    );
    assert!(
        found["nodeId"].as_u64() > Some(0),
        "without JavaScript the page shows no plain message"
    );

    // The harness stops lingering on SIGTERM, and ends its command well.
    nix::sys::signal::kill(
        nix::unistd::Pid::from_raw(harness.0.id() as i32),
        nix::sys::signal::Signal::SIGTERM,
    )
    .expect("SIGTERM");
    let status = harness.0.wait().expect("wait");
    assert_eq!(status.code(), Some(0), "the run passes:\n{}", err());

    check_metrics(&promtool, tmp.path(), &scrapes, &runs);
}

/// Every scrape lints clean with promtool; counters never go back; each lag gauge is
/// one of the history's samples of its group around the same second.
fn check_metrics(promtool: &Path, tmp: &Path, scrapes: &[String], runs: &Path) {
    for (i, text) in scrapes.iter().enumerate() {
        let path = tmp.join(format!("metrics-{i}.txt"));
        std::fs::write(&path, text).expect("write scrape");
        let out = Command::new(promtool)
            .args(["check", "metrics"])
            .stdin(std::fs::File::open(&path).expect("open"))
            .output()
            .expect("run promtool");
        assert!(
            out.status.success(),
            "promtool check metrics on scrape {i}: {}{}\n{text}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
    }
    let mut last: BTreeMap<String, f64> = BTreeMap::new();
    for text in scrapes {
        for s in samples(text).samples {
            let counter = matches!(s.value, prometheus_parse::Value::Counter(_));
            let Some(v) = number(&s.value) else {
                continue;
            };
            if counter {
                let id = series_id(&s);
                let before = last.insert(id.clone(), v).unwrap_or(0.0);
                assert!(v >= before, "{id} went back from {before} to {v}");
            }
        }
    }
    assert!(
        last.get("harness_orders_total{outcome=acked}")
            .is_some_and(|n| *n > 500.0),
        "acknowledged orders counted: {last:?}"
    );

    // The history's lag samples, by group.
    let dir = std::fs::read_dir(runs.join("dashboard"))
        .expect("runs/dashboard")
        .flatten()
        .map(|e| e.path())
        .find(|p| p.join("history.jsonl").is_file())
        .expect("a run directory with its history");
    let mut lags: BTreeMap<String, Vec<(u64, u64)>> = BTreeMap::new();
    let history = std::fs::read_to_string(dir.join("history.jsonl")).expect("history");
    for line in history
        .lines()
        .filter(|l| l.starts_with(r#"{"kind":"lag""#))
    {
        let v: Value = serde_json::from_str(line).expect("lag line");
        lags.entry(v["group"].as_str().expect("group").to_string())
            .or_default()
            .push((
                v["t_us"].as_u64().expect("t_us"),
                v["lag"].as_u64().expect("lag"),
            ));
    }
    let mut compared = 0;
    for text in scrapes {
        let scrape = samples(text);
        let elapsed = scrape
            .samples
            .iter()
            .find(|s| s.metric == "harness_run_elapsed_seconds")
            .and_then(|s| number(&s.value))
            .expect("harness_run_elapsed_seconds");
        let at_us = (elapsed * 1e6) as u64;
        for s in scrape
            .samples
            .iter()
            .filter(|s| s.metric == "harness_consumer_lag")
        {
            let group = s.labels.get("group").expect("group label");
            let value = number(&s.value).expect("lag value") as u64;
            let recorded = lags
                .get(group)
                .unwrap_or_else(|| panic!("no lag samples of {group} in the history"));
            let i = recorded.partition_point(|(t, _)| *t <= at_us);
            let near: Vec<u64> = recorded[i.saturating_sub(2)..(i + 1).min(recorded.len())]
                .iter()
                .map(|(_, lag)| *lag)
                .collect();
            assert!(
                near.contains(&value),
                "{group} at {elapsed} s: /metrics said {value}, the history's samples around then are {near:?}"
            );
            compared += 1;
        }
    }
    assert!(compared >= 40, "only {compared} lag gauges compared");
}
