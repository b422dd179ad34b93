//! The services' counters, once a second from `GET /metrics`: retries, dead letters, redeliveries,
//! circuit-breaker state and transitions (the families in `KEPT`; the events-processed
//! counters are not kept: the tap counts events itself).

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use check::MetricSample;
use prometheus_parse::Value;

use crate::journal::Recorder;
use crate::stop::Stop;

/// Which metric families are kept (without the `order_platform_` prefix).
const KEPT: [&str; 5] = [
    "retries_total",
    "dead_letters_total",
    "redelivered_total",
    "breaker_state",
    "breaker_transitions_total",
];

/// `(name, value)` pairs of the kept families in a Prometheus text exposition, parsed
/// by a Prometheus text parser (the `prometheus-parse` crate, which the order
/// platform's tests use too); labels other than `service` and `instance` are folded into
/// the name, sorted (`breaker_transitions_total{from=closed,to=open}`).
pub fn parse(text: &str) -> Vec<(String, f64)> {
    let lines = text.lines().map(|l| Ok(l.to_string()));
    let Ok(scrape) = prometheus_parse::Scrape::parse(lines) else {
        return Vec::new();
    };
    scrape
        .samples
        .into_iter()
        .filter_map(|sample| {
            let family = sample.metric.strip_prefix("order_platform_")?;
            if !KEPT.contains(&family) {
                return None;
            }
            let value = match sample.value {
                Value::Counter(v) | Value::Gauge(v) | Value::Untyped(v) => v,
                Value::Histogram(_) | Value::Summary(_) => return None,
            };
            let mut extra: Vec<String> = sample
                .labels
                .iter()
                .filter(|(k, _)| k.as_str() != "service" && k.as_str() != "instance")
                .map(|(k, v)| format!("{k}={v}"))
                .collect();
            extra.sort();
            let name = if extra.is_empty() {
                family.to_string()
            } else {
                format!("{family}{{{}}}", extra.join(","))
            };
            Some((name, value))
        })
        .collect()
}

/// Scrapes every instance every second until `stop`.
pub async fn run(instances: Vec<(String, u32, SocketAddr)>, recorder: Arc<Recorder>, stop: Stop) {
    let client = reqwest::Client::builder()
        .timeout(Duration::from_millis(800))
        .no_proxy()
        .build()
        .unwrap_or_default();
    let mut ticks = stop.every(Duration::from_secs(1));
    while ticks.next().await {
        for (service, instance, http) in &instances {
            let Ok(response) = client.get(format!("http://{http}/metrics")).send().await else {
                continue;
            };
            let Ok(text) = response.text().await else {
                continue;
            };
            let t_us = recorder.now_us();
            let samples = parse(&text);
            recorder.metrics(
                samples
                    .into_iter()
                    .map(|(name, value)| MetricSample {
                        t_us,
                        service: service.clone(),
                        instance: *instance,
                        name,
                        value,
                    })
                    .collect(),
            );
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
