//! What the checker made of a test's history, and the messages a failing test prints.

use check::{Analysis, Anomaly, Decision, Verdict};

/// What the checker made of a test's history.
#[derive(Debug)]
pub struct Judged {
    pub analysis: Analysis,
    pub verdict: Verdict,
    /// Holds `history.jsonl` and the services' logs.
    pub dir: std::path::PathBuf,
}

impl Judged {
    pub fn count(&self, anomaly: Anomaly) -> u64 {
        self.analysis.anomalies.count(anomaly)
    }

    /// Panics, naming `what` and with the summary, unless the verdict is `decision` and
    /// each anomaly of `none` counts 0.
    pub fn expect(&self, what: &str, decision: Decision, none: &[Anomaly]) {
        assert_eq!(
            self.verdict.decision,
            decision,
            "{what}: {}",
            self.summary()
        );
        for &anomaly in none {
            let n = self.count(anomaly);
            assert_eq!(n, 0, "{what}: {} = {n}: {}", anomaly.name(), self.summary());
        }
    }

    /// The verdict's reasons, every anomaly found (count and sample) and the e2e
    /// latency from the intended send time: for messages.
    pub fn summary(&self) -> String {
        let a = &self.analysis;
        let found: Vec<String> = Anomaly::ALL
            .into_iter()
            .filter(|&anomaly| self.count(anomaly) > 0)
            .map(|anomaly| {
                let sample = a.anomalies.sample(anomaly).join(", ");
                format!("{} = {} [{sample}]", anomaly.name(), self.count(anomaly))
            })
            .collect();
        let ms = |us: Option<u64>| us.map_or("-".into(), |us| format!("{:.1} ms", us as f64 / 1e3));
        format!(
            "{:?} ({}); anomalies: {}; e2e latency p50 {}, p99 {}, max {} over {} orders; history and logs in {}",
            self.verdict.decision,
            self.verdict.reasons.join("; "),
            if found.is_empty() {
                "none".into()
            } else {
                found.join(", ")
            },
            ms(a.latency.e2e.p50_us),
            ms(a.latency.e2e.p99_us),
            ms(a.latency.e2e.max_us),
            a.latency.e2e.count,
            self.dir.display(),
        )
    }
}
