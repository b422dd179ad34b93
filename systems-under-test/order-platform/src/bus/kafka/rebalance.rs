//! Partition movements of a Kafka consumer: the rebalance callback's log, and what the
//! consumer does with it before handing out deliveries (restore each new partition's
//! state from the changelog; hold back deliveries of partitions not restored or no
//! longer held).

use std::collections::{BTreeMap, BTreeSet};
use std::sync::{Arc, Mutex};

use rdkafka::client::ClientContext;
use rdkafka::consumer::{BaseConsumer, ConsumerContext, Rebalance};

use super::{KafkaConsumer, base_config, blocking, offset};
use crate::bus::Delivery;

/// Partition assignments and revocations seen by the rebalance callback, handled by the
/// consumer before it hands out the next deliveries.
#[derive(Debug, Default)]
pub(super) struct RebalanceLog {
    assigned: Vec<i32>,
    revoked: Vec<i32>,
    /// The revoked topic-partitions (physical topic names), for [`KafkaConsumer::take_moved`].
    revoked_topics: Vec<(String, i32)>,
}

#[derive(Debug, Default, Clone)]
pub(super) struct RebalanceContext {
    pub(super) log: Arc<Mutex<RebalanceLog>>,
}

impl ClientContext for RebalanceContext {}

impl ConsumerContext for RebalanceContext {
    fn post_rebalance(&self, _consumer: &BaseConsumer<Self>, rebalance: &Rebalance<'_>) {
        let Ok(mut log) = self.log.lock() else { return };
        match rebalance {
            Rebalance::Assign(tpl) => log
                .assigned
                .extend(tpl.elements().iter().map(|e| e.partition())),
            Rebalance::Revoke(tpl) => {
                for e in tpl.elements() {
                    log.revoked.push(e.partition());
                    log.revoked_topics
                        .push((e.topic().to_string(), e.partition()));
                }
            }
            Rebalance::Error(_) => {}
        }
    }
}

impl KafkaConsumer {
    /// Keeps the deliveries this member may process now: those of partitions it holds
    /// with restored state. A partition held but not restored is sought back to its
    /// first delivery here, so it comes again once restored; a partition no longer held
    /// was revoked, and its new owner consumes it from the committed offset.
    pub(super) fn hold_back_unready(&mut self, batch: Vec<Delivery>) -> Vec<Delivery> {
        let mut ready = Vec::with_capacity(batch.len());
        let mut rewind: BTreeMap<(String, i32), i64> = BTreeMap::new();
        for d in batch {
            if !self.held.contains_key(&d.partition) {
                continue;
            }
            if self.unrestored.contains(&d.partition) {
                if let Ok(o) = offset(&d) {
                    let slot = rewind
                        .entry((self.config.physical(&d.topic), d.partition))
                        .or_insert(o);
                    *slot = (*slot).min(o);
                }
                continue;
            }
            ready.push(d);
        }
        for ((topic, partition), o) in rewind {
            self.seek(&topic, partition, o);
        }
        ready
    }

    /// The topic-partitions (logical topic names) revoked since the last call, even if
    /// assigned back since: an input of one kept aside (parked) before is stale, since
    /// another member may have processed it meanwhile, and this member consumes the
    /// partition again from its committed offset.
    pub fn take_moved(&mut self) -> BTreeSet<(String, i32)> {
        std::mem::take(&mut self.moved)
    }

    /// Whether this member holds `partition` with its state restored: a delivery of it
    /// kept aside (parked) may still be processed.
    pub fn holds(&self, partition: i32) -> bool {
        self.held.contains_key(&partition) && !self.unrestored.contains(&partition)
    }

    /// Whether the callback logged a movement not handled yet.
    pub(super) fn rebalance_pending(&self) -> bool {
        self.context.log.lock().map_or(true, |log| {
            !log.assigned.is_empty() || !log.revoked.is_empty()
        })
    }

    pub(super) async fn handle_rebalances(&mut self) {
        let (assigned, revoked, revoked_topics) = match self.context.log.lock() {
            Ok(mut log) => (
                std::mem::take(&mut log.assigned),
                std::mem::take(&mut log.revoked),
                std::mem::take(&mut log.revoked_topics),
            ),
            Err(_) => return,
        };
        for (topic, partition) in revoked_topics {
            let topic = self.logical(&topic);
            self.moved.insert((topic, partition));
        }
        for partition in revoked {
            let count = self.held.entry(partition).or_default();
            *count = count.saturating_sub(1);
            if *count == 0 {
                self.held.remove(&partition);
                self.unrestored.remove(&partition);
                self.counters.drop_partition(partition);
            }
        }
        for partition in assigned {
            let count = self.held.entry(partition).or_default();
            *count += 1;
            if *count == 1 {
                self.unrestored.insert(partition);
            }
        }
        self.restore_pending().await;
    }

    /// Restores the state of held partitions not restored yet, from the changelog. A
    /// partition that fails stays pending (its deliveries held back) and is tried again
    /// at the next poll.
    pub(super) async fn restore_pending(&mut self) {
        for partition in self.unrestored.clone() {
            let client = match base_config(&self.config) {
                Ok(client) => client,
                Err(e) => {
                    tracing::warn!(partition, error = %e, "changelog restore: no client; trying again at the next poll");
                    continue;
                }
            };
            let mut counters = std::mem::take(&mut self.counters);
            let changelog = self.changelog.clone();
            let timeout = self.config.request_timeout * 6;
            let (counters, result) = blocking("changelog restore", move || {
                let result = counters.restore(&client, &changelog, partition, timeout);
                (counters, result)
            })
            .await;
            self.counters = counters;
            match result {
                Ok(restored) => {
                    self.unrestored.remove(&partition);
                    tracing::info!(partition, restored, changelog = %self.changelog, "partition assigned; state restored");
                }
                Err(e) => {
                    tracing::warn!(partition, error = %e, "restoring a partition's state failed; its deliveries wait");
                    return;
                }
            }
        }
    }
}
