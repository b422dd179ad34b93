//! `analytics`: live counters over every business event. Every `every` events it
//! publishes `MetricUpdated` for the headline numbers, and it raises `AlertTriggered`
//! for low stock and for a cancellation rate above a threshold.

use std::collections::BTreeMap;

use events::{AlertTriggered, Envelope, Event, MetricUpdated, Severity};

use super::runner::{Decision, Failure, Handler, StateView};

#[derive(Debug)]
pub struct Analytics {
    /// Publish metrics after this many events.
    pub every: u64,
    /// Alert when cancelled / decided orders exceeds this (after 20 decided orders).
    pub cancel_rate_alert: f64,
    seen: u64,
    counts: BTreeMap<&'static str, f64>,
    cancel_alerted: bool,
}

impl Analytics {
    pub fn new(every: u64, cancel_rate_alert: f64) -> Self {
        Analytics {
            every: every.max(1),
            cancel_rate_alert,
            seen: 0,
            counts: BTreeMap::new(),
            cancel_alerted: false,
        }
    }

    fn add(&mut self, name: &'static str, by: f64) {
        *self.counts.entry(name).or_default() += by;
    }

    fn get(&self, name: &str) -> f64 {
        self.counts.get(name).copied().unwrap_or(0.0)
    }
}

impl Handler for Analytics {
    fn topics(&self) -> Vec<&'static str> {
        super::subscriptions(events::Service::Analytics)
    }

    async fn handle(
        &mut self,
        _input: &Envelope,
        event: &Event,
        _state: &mut StateView<'_>,
    ) -> Result<Decision, Failure> {
        self.seen += 1;
        let mut events = Vec::new();
        match event {
            Event::OrderPlaced(_) => self.add("orders_placed", 1.0),
            Event::OrderConfirmed(o) => {
                self.add("orders_confirmed", 1.0);
                self.add("revenue_cents", o.amount_cents as f64);
            }
            Event::OrderCancelled(_) => self.add("orders_cancelled", 1.0),
            Event::OrderShipped(_) => self.add("orders_shipped", 1.0),
            Event::NotificationSent(_) => self.add("notifications_sent", 1.0),
            Event::LowStockAlert(alert) => events.push(Event::AlertTriggered(AlertTriggered {
                name: "low_stock".into(),
                severity: Severity::Warning,
                metric: "available".into(),
                observed: alert.available_after as f64,
                threshold: alert.threshold as f64,
                subject: Some(alert.sku.clone()),
                message: format!("{} is down to {} units", alert.sku, alert.available_after),
            })),
            _ => {}
        }
        let decided = self.get("orders_confirmed") + self.get("orders_cancelled");
        let rate = if decided > 0.0 {
            self.get("orders_cancelled") / decided
        } else {
            0.0
        };
        if decided >= 20.0 && rate > self.cancel_rate_alert && !self.cancel_alerted {
            self.cancel_alerted = true;
            events.push(Event::AlertTriggered(AlertTriggered {
                name: "cancellation_rate".into(),
                severity: Severity::Critical,
                metric: "cancellation_rate".into(),
                observed: rate,
                threshold: self.cancel_rate_alert,
                subject: None,
                message: format!("{:.0}% of decided orders were cancelled", rate * 100.0),
            }));
        }
        if self.seen.is_multiple_of(self.every) {
            for (name, unit) in [
                ("orders_placed", "orders"),
                ("orders_confirmed", "orders"),
                ("revenue_cents", "cents"),
            ] {
                events.push(Event::MetricUpdated(MetricUpdated {
                    name: name.into(),
                    value: self.get(name),
                    unit: unit.into(),
                    window_secs: 0,
                    labels: BTreeMap::new(),
                }));
            }
        }
        Ok(Decision::emit(events))
    }
}
