//! The services' counters, once a second from `GET /metrics`: retries, dead letters,
//! circuit-breaker state and transitions, events by outcome.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use check::MetricSample;
use tokio::sync::watch;

use crate::run::recorder::Recorder;

/// Which metric families are kept (without the `order_platform_` prefix).
const KEPT: [&str; 4] = [
    "retries_total",
    "dead_letters_total",
    "breaker_state",
    "breaker_transitions_total",
];

/// `(name, value)` pairs of the kept families in a Prometheus text exposition; labels
/// other than `service` and `instance` are folded into the name (`breaker_transitions_total{from=closed,to=open}`).
pub fn parse(text: &str) -> Vec<(String, f64)> {
    text.lines()
        .filter(|l| !l.starts_with('#'))
        .filter_map(|line| {
            let rest = line.strip_prefix("order_platform_")?;
            let (series, value) = rest.rsplit_once(' ')?;
            let value: f64 = value.parse().ok()?;
            let (family, labels) = match series.split_once('{') {
                Some((f, l)) => (f, l.trim_end_matches('}')),
                None => (series, ""),
            };
            if !KEPT.contains(&family) {
                return None;
            }
            let extra: Vec<&str> = labels
                .split(',')
                .filter(|l| {
                    !l.is_empty() && !l.starts_with("service=") && !l.starts_with("instance=")
                })
                .collect();
            let name = if extra.is_empty() {
                family.to_string()
            } else {
                format!("{family}{{{}}}", extra.join(",").replace('"', ""))
            };
            Some((name, value))
        })
        .collect()
}

/// Scrapes every instance every second until `stop`.
pub async fn run(
    instances: Vec<(String, u32, SocketAddr)>,
    recorder: Arc<Recorder>,
    mut stop: watch::Receiver<bool>,
) {
    let client = reqwest::Client::builder()
        .timeout(Duration::from_millis(800))
        .no_proxy()
        .build()
        .unwrap_or_default();
    let mut ticker = tokio::time::interval(Duration::from_secs(1));
    ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Skip);
    loop {
        tokio::select! {
            _ = ticker.tick() => {}
            _ = stop.wait_for(|s| *s) => return,
        }
        for (service, instance, http) in &instances {
            let Ok(response) = client.get(format!("http://{http}/metrics")).send().await else {
                continue;
            };
            let Ok(text) = response.text().await else {
                continue;
            };
            let t_us = recorder.now_us();
            let samples = parse(&text);
            let mut history = recorder.history();
            for (name, value) in samples {
                history.metrics.push(MetricSample {
                    t_us,
                    service: service.clone(),
                    instance: *instance,
                    name,
                    value,
                });
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keeps_the_counters_that_matter() {
        let text = "# HELP x\norder_platform_retries_total{service=\"payment\",instance=\"0\"} 3\n\
                    order_platform_breaker_transitions_total{service=\"payment\",instance=\"0\",from=\"closed\",to=\"open\"} 1\n\
                    order_platform_events_processed_total{service=\"payment\",instance=\"0\",outcome=\"committed\"} 9\n";
        assert_eq!(
            parse(text),
            vec![
                ("retries_total".to_string(), 3.0),
                (
                    "breaker_transitions_total{from=closed,to=open}".to_string(),
                    1.0
                )
            ]
        );
    }
}
