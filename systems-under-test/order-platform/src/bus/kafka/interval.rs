//! The transaction commit interval of exactly-once (`--commit-interval-ms`, off by
//! default; 100 ms is what the benchmark measured). A transaction has a fixed cost on
//! the broker whatever it holds (the offsets commit, the coordinator's log, a marker
//! on every partition it wrote to), which small batches pay again and again. So while
//! more input is ready at once, the transaction stays open across batches, up to
//! the interval (100 ms is Kafka Streams' default for exactly-once) and [`MAX_INPUTS`];
//! as soon as no input is ready, or a rebalance is pending, it commits: an idle
//! platform waits for nothing, and a loaded one commits about ten times a second per
//! instance.

use std::collections::BTreeMap;
use std::time::Duration;

use futures::FutureExt;

use super::{KafkaConsumer, offset};
use crate::bus::{BusError, Guarantee};

/// The most inputs one transaction takes across batches.
pub const MAX_INPUTS: usize = 8192;

impl KafkaConsumer {
    /// The runner decided a batch: flush it, or (exactly-once, see the module) keep the
    /// transaction open for the next batch.
    pub async fn end_batch(&mut self) -> Result<(), BusError> {
        if self.keep_open() {
            return Ok(());
        }
        self.flush().await
    }

    fn keep_open(&mut self) -> bool {
        let staged = &self.staged;
        let interval = Duration::from_millis(u64::from(self.config.tuning.commit_interval_ms));
        if self.config.guarantee != Guarantee::ExactlyOnce
            || interval.is_zero()
            || !staged.in_transaction
            || staged.inputs >= MAX_INPUTS
            || staged.opened.is_none_or(|t| t.elapsed() >= interval)
        {
            return false;
        }
        if self.lookahead.is_empty() {
            match self.consumer.recv().now_or_never() {
                Some(Ok(message)) => {
                    let delivery = self.delivery(&message);
                    self.lookahead.push(delivery);
                }
                _ => return false,
            }
        }
        !self.rebalance_pending()
    }

    /// A batch is undone: the look-ahead delivery (received after it) comes again once
    /// its partition is sought back, so its offset joins the seeks in `earliest`.
    pub(super) fn give_back_lookahead(&mut self, earliest: &mut BTreeMap<(String, i32), i64>) {
        for d in std::mem::take(&mut self.lookahead) {
            if let Ok(o) = offset(&d) {
                let slot = earliest
                    .entry((self.config.physical(&d.topic), d.partition))
                    .or_insert(o);
                *slot = (*slot).min(o);
            }
        }
    }
}
