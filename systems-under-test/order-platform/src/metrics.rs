//! Prometheus metrics every service exposes on `GET /metrics`: events processed (by
//! outcome), retries, dead letters, circuit-breaker state and transitions, processing
//! latency. Labels carry the service and instance so one scrape config fits all.

use std::sync::Arc;
use std::sync::atomic::AtomicU64;

use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::{Histogram, exponential_buckets};
use prometheus_client::registry::Registry;

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct OutcomeLabels {
    /// `committed`, `duplicate`, `conflict`, `dead_lettered`, `retry`, `error`.
    pub outcome: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct TransitionLabels {
    pub from: String,
    pub to: String,
}

/// All metrics of one process. Cheap to clone (shared handles).
#[derive(Clone, Debug)]
pub struct Metrics {
    registry: Arc<Registry>,
    pub processed: Family<OutcomeLabels, Counter>,
    pub retries: Counter,
    pub dead_letters: Counter,
    /// Input deliveries the broker had made before (Redis: an entry claimed from a
    /// consumer that stopped acknowledging, or read again from the pending list).
    pub redelivered: Counter,
    pub published: Counter,
    /// 0 closed, 1 half-open, 2 open.
    pub breaker_state: Gauge<i64, std::sync::atomic::AtomicI64>,
    pub breaker_transitions: Family<TransitionLabels, Counter>,
    pub processing_seconds: Histogram,
    pub http_requests: Family<OutcomeLabels, Counter<u64, AtomicU64>>,
}

impl Metrics {
    pub fn new(service: &str, instance: u32) -> Self {
        let mut registry = Registry::with_prefix_and_labels(
            "order_platform",
            [
                (
                    std::borrow::Cow::Borrowed("service"),
                    std::borrow::Cow::Owned(service.to_string()),
                ),
                (
                    std::borrow::Cow::Borrowed("instance"),
                    std::borrow::Cow::Owned(instance.to_string()),
                ),
            ]
            .into_iter(),
        );
        let processed = Family::<OutcomeLabels, Counter>::default();
        let retries = Counter::default();
        let dead_letters = Counter::default();
        let redelivered = Counter::default();
        let published = Counter::default();
        let breaker_state = Gauge::<i64, std::sync::atomic::AtomicI64>::default();
        let breaker_transitions = Family::<TransitionLabels, Counter>::default();
        let processing_seconds = Histogram::new(exponential_buckets(0.0005, 2.0, 16));
        let http_requests = Family::<OutcomeLabels, Counter>::default();
        registry.register(
            "events_processed",
            "Input events by outcome",
            processed.clone(),
        );
        registry.register(
            "retries",
            "Processing attempts that failed and will be retried",
            retries.clone(),
        );
        registry.register(
            "redelivered",
            "Input deliveries the broker had delivered before (claimed from a stopped consumer, or re-read)",
            redelivered.clone(),
        );
        registry.register(
            "dead_letters",
            "Events routed to the dead-letter topic",
            dead_letters.clone(),
        );
        registry.register(
            "events_published",
            "Events published outside a consumed input",
            published.clone(),
        );
        registry.register(
            "breaker_state",
            "Circuit breaker: 0 closed, 1 half-open, 2 open",
            breaker_state.clone(),
        );
        registry.register(
            "breaker_transitions",
            "Circuit breaker transitions",
            breaker_transitions.clone(),
        );
        registry.register(
            "processing_seconds",
            "Time to process one input event",
            processing_seconds.clone(),
        );
        registry.register(
            "http_requests",
            "HTTP requests by outcome",
            http_requests.clone(),
        );
        Metrics {
            registry: Arc::new(registry),
            processed,
            retries,
            dead_letters,
            redelivered,
            published,
            breaker_state,
            breaker_transitions,
            processing_seconds,
            http_requests,
        }
    }

    pub fn outcome(&self, outcome: &str) {
        self.processed
            .get_or_create(&OutcomeLabels {
                outcome: outcome.to_string(),
            })
            .inc();
    }

    /// The Prometheus text exposition.
    pub fn encode(&self) -> String {
        let mut text = String::new();
        if prometheus_client::encoding::text::encode(&mut text, &self.registry).is_err() {
            text.clear();
        }
        text
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn exposition_names_service_and_outcomes() {
        let metrics = Metrics::new("payment", 1);
        metrics.outcome("committed");
        metrics.outcome("committed");
        metrics.retries.inc();
        let text = metrics.encode();
        assert!(
            text.contains(r#"order_platform_events_processed_total{service="payment",instance="1",outcome="committed"} 2"#),
            "{text}"
        );
        assert!(text.contains("order_platform_retries_total"), "{text}");
    }
}
