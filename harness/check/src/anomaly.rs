//! The anomalies the checker names. One enum, each variant documented with an example,
//! and a report that carries counts *and* sample ids so a person can go and look.
//! The exact counting rules are in [`crate::detect`].

use std::collections::BTreeMap;

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

/// What can go wrong with events in an event-driven system.
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize, JsonSchema,
)]
#[serde(rename_all = "snake_case")]
pub enum Anomaly {
    /// An order the system acknowledged (HTTP 2xx or broker ack) never reached a terminal
    /// event. Example: `POST /orders` answered 201 for order `o-17`, but neither
    /// `OrderConfirmed` nor `OrderCancelled` for `o-17` was ever observed.
    Lost,
    /// The same `event_id` in more than one log entry, so a consumer that should have
    /// seen it once sees it again. Example: inventory crashed after publishing
    /// `StockReserved` `e-9` but before acknowledging its input; the redelivered input
    /// republished `e-9` at a new offset. Counted per extra entry; the tap reading one
    /// entry twice does not count.
    DuplicateDelivery,
    /// One logical step applied twice: two events of the same type for one order with
    /// different ids, or two gateway charges. Example: two `PaymentCaptured` for `o-17`.
    DuplicateEffect,
    /// For one key, an event observed after one with a higher `seq`, or an effect before
    /// its cause. Example: `OrderShipped` (seq 4) for `o-17` observed before
    /// `OrderConfirmed` (seq 3).
    OrderingViolation,
    /// Acknowledged by the producer but never seen by the tap within the drain timeout:
    /// an acknowledged order whose `OrderPlaced` was never observed. Example: the broker
    /// acked `o-17`'s `OrderPlaced` at offset 812 of partition 2, the tap never read it.
    Unobserved,
    /// Observed but never produced (corrupted or foreign): an observed `OrderPlaced`
    /// whose order id the load generator never scheduled. Example: `OrderPlaced` `e-4`
    /// for `o-999` when the generator only sent `o-0` to `o-500`.
    Phantom,
    /// A business invariant broken. Example: stock of `sku-3` below zero, or order
    /// `o-17` both confirmed and cancelled.
    InvariantViolation,
}

impl Anomaly {
    pub const ALL: [Anomaly; 7] = [
        Anomaly::Lost,
        Anomaly::DuplicateDelivery,
        Anomaly::DuplicateEffect,
        Anomaly::OrderingViolation,
        Anomaly::Unobserved,
        Anomaly::Phantom,
        Anomaly::InvariantViolation,
    ];

    /// The name used in results.json and threshold expressions (`lost`, ...).
    pub fn name(self) -> &'static str {
        match self {
            Anomaly::Lost => "lost",
            Anomaly::DuplicateDelivery => "duplicate_delivery",
            Anomaly::DuplicateEffect => "duplicate_effect",
            Anomaly::OrderingViolation => "ordering_violation",
            Anomaly::Unobserved => "unobserved",
            Anomaly::Phantom => "phantom",
            Anomaly::InvariantViolation => "invariant_violation",
        }
    }

    pub fn from_name(name: &str) -> Option<Anomaly> {
        Anomaly::ALL.into_iter().find(|a| a.name() == name)
    }
}

/// One anomaly's count and a bounded sample of the ids involved.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(default)]
pub struct Finding {
    pub count: u64,
    /// At most `AnomalyReport::SAMPLE` (10) ids, the first found (deterministic order).
    pub sample: Vec<String>,
}

/// Counts and samples for every anomaly (all present, zero when none were found).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AnomalyReport {
    pub findings: BTreeMap<Anomaly, Finding>,
}

impl Default for AnomalyReport {
    fn default() -> Self {
        AnomalyReport {
            findings: Anomaly::ALL
                .into_iter()
                .map(|a| (a, Finding::default()))
                .collect(),
        }
    }
}

impl AnomalyReport {
    /// How many ids a finding keeps.
    pub const SAMPLE: usize = 10;

    /// Records one occurrence of `anomaly` involving `id`.
    pub fn record(&mut self, anomaly: Anomaly, id: impl Into<String>) {
        let finding = self.findings.entry(anomaly).or_default();
        finding.count += 1;
        if finding.sample.len() < Self::SAMPLE {
            finding.sample.push(id.into());
        }
    }

    /// Records `n` occurrences of `anomaly` involving `id`, keeping `id` in the sample
    /// once (for example an event id read three times: two extra deliveries, one id).
    pub fn record_many(&mut self, anomaly: Anomaly, id: impl Into<String>, n: u64) {
        if n == 0 {
            return;
        }
        let finding = self.findings.entry(anomaly).or_default();
        finding.count += n;
        if finding.sample.len() < Self::SAMPLE {
            finding.sample.push(id.into());
        }
    }

    pub fn count(&self, anomaly: Anomaly) -> u64 {
        self.findings.get(&anomaly).map_or(0, |f| f.count)
    }

    pub fn is_clean(&self) -> bool {
        self.findings.values().all(|f| f.count == 0)
    }

    /// The sample of ids kept for `anomaly` (empty when none were found).
    pub fn sample(&self, anomaly: Anomaly) -> &[String] {
        self.findings
            .get(&anomaly)
            .map_or(&[], |f| f.sample.as_slice())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn names_round_trip_and_match_serde() {
        for anomaly in Anomaly::ALL {
            assert_eq!(Anomaly::from_name(anomaly.name()), Some(anomaly));
            let json = serde_json::to_string(&anomaly).expect("serialise");
            assert_eq!(json, format!("\"{}\"", anomaly.name()));
        }
        assert_eq!(Anomaly::from_name("latency"), None);
    }

    #[test]
    fn a_new_report_lists_every_anomaly_at_zero() {
        let report = AnomalyReport::default();
        assert!(report.is_clean());
        assert_eq!(report.findings.len(), Anomaly::ALL.len());
    }

    proptest! {
        #[test]
        fn counts_are_exact_and_samples_bounded(ids in proptest::collection::vec((0usize..7, "[a-z0-9]{1,8}"), 0..200)) {
            let mut report = AnomalyReport::default();
            let mut expected = [0u64; 7];
            for (which, id) in &ids {
                report.record(Anomaly::ALL[*which], id.clone());
                expected[*which] += 1;
            }
            for (i, anomaly) in Anomaly::ALL.into_iter().enumerate() {
                prop_assert_eq!(report.count(anomaly), expected[i]);
                let sample = &report.findings[&anomaly].sample;
                prop_assert_eq!(sample.len() as u64, expected[i].min(AnomalyReport::SAMPLE as u64));
            }
            prop_assert_eq!(report.is_clean(), ids.is_empty());
        }
    }
}
