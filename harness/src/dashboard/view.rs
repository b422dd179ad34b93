//! What the dashboard shows, built from the run's [`Status`]: one JSON tick a second
//! (counters, rates, the last second's latency, lag per group, faults, anomalies so
//! far, the services' health), the current run's series of points (so a page opened
//! mid-run draws the whole run), and the runs that ended, with their reports.

use std::path::PathBuf;
use std::time::Duration;

use serde_json::{Value, json};

use crate::run::{Phase, Status};

/// Points kept of one run (one a second): a day.
const SERIES_CAP: usize = 86_400;

/// One run that ended, its directory served under `/runs/<run>/`.
#[derive(Debug, Clone)]
pub struct Finished {
    pub run: u64,
    pub experiment: String,
    pub dir: PathBuf,
    pub decision: Option<check::Decision>,
}

impl Finished {
    pub fn report(&self) -> String {
        format!("/runs/{}/report.html", self.run)
    }

    fn json(&self) -> Value {
        json!({
            "run": self.run,
            "experiment": self.experiment,
            "dir": self.dir.display().to_string(),
            "verdict": self.decision.map(|d| d.name()),
            "report": self.report(),
        })
    }
}

/// The dashboard's view of what the board published so far.
#[derive(Debug, Default)]
pub struct View {
    pub latest: Status,
    /// The current run's points.
    series: Vec<Value>,
    /// The counters at the previous point: `(elapsed, sent, acked, completed)`.
    previous: Option<(Duration, usize, usize, usize)>,
    pub finished: Vec<Finished>,
}

fn secs_us(us: u64) -> f64 {
    us as f64 / 1e6
}

fn ms(us: u64) -> f64 {
    (us as f64 / 1e3 * 10.0).round() / 10.0
}

impl View {
    /// Takes a new status; returns the tick to send to the pages.
    pub fn update(&mut self, s: Status) -> Value {
        if s.run != self.latest.run {
            self.series.clear();
            self.previous = None;
        }
        let mut point = None;
        let counting = matches!(s.phase, Phase::Load | Phase::Drain);
        let moved = self.previous.is_none_or(|(t, ..)| s.elapsed > t);
        if counting && moved && !s.elapsed.is_zero() {
            let (t0, sent0, acked0, completed0) = self.previous.unwrap_or_default();
            let dt = (s.elapsed - t0).as_secs_f64().max(1e-3);
            let rate = |now: usize, before: usize| (now.saturating_sub(before) as f64 / dt).round();
            let p = json!({
                "t": (s.elapsed.as_secs_f64() * 10.0).round() / 10.0,
                "phase": s.phase.name(),
                "offered": rate(s.sent, sent0),
                "acked": rate(s.acked, acked0),
                "completed": rate(s.completed, completed0),
                "p50_ms": s.e2e_second.map(|l| ms(l.p50_us)),
                "p99_ms": s.e2e_second.map(|l| ms(l.p99_us)),
                "lag": s.lag,
                "lags": s.lags.iter().map(|(g, l)| (g.clone(), json!(l.lag))).collect::<serde_json::Map<_, _>>(),
            });
            self.previous = Some((s.elapsed, s.sent, s.acked, s.completed));
            if self.series.len() == SERIES_CAP {
                self.series.remove(0);
            }
            self.series.push(p.clone());
            point = Some(p);
        }
        if let (Phase::Done, Some(dir)) = (s.phase, &s.results) {
            match self.finished.iter_mut().find(|f| f.run == s.run) {
                // Moved (a trial renamed into its set).
                Some(f) => f.dir = dir.clone(),
                None => self.finished.push(Finished {
                    run: s.run,
                    experiment: s.experiment.clone(),
                    dir: dir.clone(),
                    decision: s.decision,
                }),
            }
        }
        self.latest = s;
        self.tick(point)
    }

    /// The latest status as a tick, with `point` if a new one was drawn.
    pub fn tick(&self, point: Option<Value>) -> Value {
        let s = &self.latest;
        let anomalies: serde_json::Map<String, Value> = s
            .so_far
            .anomalies
            .iter()
            .map(|(a, n)| (a.name().to_string(), json!(n)))
            .collect();
        let services: Vec<Value> = s
            .services
            .iter()
            .map(|((service, instance), now)| {
                json!({
                    "service": service,
                    "instance": instance,
                    "retries": now.retries,
                    "dead_letters": now.dead_letters,
                    "redelivered": now.redelivered,
                    "breaker": now.breaker_state.map(breaker_name),
                })
            })
            .collect();
        let report = self
            .finished
            .iter()
            .find(|f| f.run == s.run)
            .map(Finished::report);
        json!({
            "run": s.run,
            "experiment": s.experiment,
            "combination": s.position.combination.map(|(k, of)| json!([k, of])),
            "trial": s.position.trial.map(|(i, of)| json!([i, of])),
            "phase": s.phase.name(),
            "elapsed_s": (s.elapsed.as_secs_f64() * 10.0).round() / 10.0,
            "load_total_s": s.load_total.as_secs_f64(),
            "drain_total_s": s.drain_total.as_secs_f64(),
            "planned": s.planned,
            "sent": s.sent,
            "acked": s.acked,
            "completed": s.completed,
            "observed": s.observed,
            "lag": s.lag,
            "lags": s.lags.iter().map(|(g, l)| (g.clone(), json!({"lag": l.lag, "pending": l.pending}))).collect::<serde_json::Map<_, _>>(),
            "outcomes": s.outcomes,
            "e2e_second": s.e2e_second.map(|l| json!({"orders": l.orders, "p50_ms": ms(l.p50_us), "p99_ms": ms(l.p99_us), "capped": l.capped})),
            "faults_active": s.faults_active.iter().map(|f| json!({
                "id": f.id, "kind": f.kind.name(), "target": f.target, "start_s": secs_us(f.start_us),
            })).collect::<Vec<_>>(),
            "faults_done": s.faults_done.iter().map(|f| json!({
                "id": f.id, "kind": f.kind.name(), "target": f.target,
                "start_s": secs_us(f.start_us), "end_s": secs_us(f.end_us),
            })).collect::<Vec<_>>(),
            "judged": s.so_far.orders,
            "anomalies": anomalies,
            "services": services,
            "verdict": s.decision.map(|d| d.name()),
            "results": s.results.as_ref().map(|d| d.display().to_string()),
            "report": report,
            "point": point,
        })
    }

    /// What a page gets when it connects: the current run's series, the latest tick,
    /// the runs that ended.
    pub fn hello(&self) -> Value {
        json!({
            "series": self.series,
            "tick": self.tick(None),
            "finished": self.finished.iter().map(Finished::json).collect::<Vec<_>>(),
        })
    }

    /// The finished run `run`'s directory.
    pub fn dir_of(&self, run: u64) -> Option<PathBuf> {
        self.finished
            .iter()
            .find(|f| f.run == run)
            .map(|f| f.dir.clone())
    }
}

/// The services' `breaker_state` gauge as a word.
pub fn breaker_name(state: f64) -> &'static str {
    match state.round() as i64 {
        0 => "closed",
        1 => "half-open",
        2 => "open",
        _ => "unknown",
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::journal::SecondLatency;

    fn status(run: u64, phase: Phase, secs: u64, sent: usize) -> Status {
        Status {
            run,
            phase,
            elapsed: Duration::from_secs(secs),
            sent,
            acked: sent,
            completed: sent / 2,
            e2e_second: Some(SecondLatency {
                orders: 10,
                p50_us: 12_345,
                p99_us: 98_765,
                capped: false,
            }),
            ..Status::default()
        }
    }

    #[test]
    fn points_carry_rates_per_second_and_a_new_run_starts_a_new_series() {
        let mut view = View::default();
        assert!(view.update(status(1, Phase::Setup, 0, 0))["point"].is_null());
        let p = view.update(status(1, Phase::Load, 1, 50))["point"].clone();
        assert_eq!(
            (p["offered"].as_f64(), p["completed"].as_f64()),
            (Some(50.0), Some(25.0))
        );
        let p = view.update(status(1, Phase::Load, 3, 150))["point"].clone();
        assert_eq!(p["offered"].as_f64(), Some(50.0), "100 over 2 s");
        assert_eq!(
            (p["p50_ms"].as_f64(), p["p99_ms"].as_f64()),
            (Some(12.3), Some(98.8))
        );
        // The same second again (a phase change): no new point.
        assert!(view.update(status(1, Phase::Heal, 3, 150))["point"].is_null());
        assert_eq!(view.hello()["series"].as_array().map(Vec::len), Some(2));
        view.update(status(2, Phase::Load, 1, 10));
        assert_eq!(view.hello()["series"].as_array().map(Vec::len), Some(1));
    }

    #[test]
    fn the_tick_says_which_combination_and_trial_is_running() {
        let mut view = View::default();
        let mut s = status(3, Phase::Load, 2, 10);
        s.position.combination = Some((2, 4));
        s.position.trial = Some((1, 3));
        let tick = view.update(s);
        assert_eq!(tick["combination"], json!([2, 4]));
        assert_eq!(tick["trial"], json!([1, 3]));
        assert!(view.update(status(4, Phase::Setup, 0, 0))["trial"].is_null());
    }

    #[test]
    fn a_run_that_ended_is_listed_with_its_report() {
        let mut view = View::default();
        let mut done = status(4, Phase::Done, 9, 10);
        done.results = Some(PathBuf::from("runs/x/1"));
        done.decision = Some(check::Decision::Pass);
        let tick = view.update(done);
        assert_eq!(tick["report"], "/runs/4/report.html");
        assert_eq!(tick["verdict"], "pass");
        assert_eq!(view.dir_of(4), Some(PathBuf::from("runs/x/1")));
        assert_eq!(view.hello()["finished"][0]["verdict"], "pass");
    }
}
