//! Kafka: one topic per logical topic (`{namespace}.{topic}`, created with `partitions`
//! partitions), one consumer group per service using the KIP-848 consumer protocol
//! (incremental, cooperative rebalancing) with the server-side `range` assignor, which
//! keeps partition numbers co-located across topics so a partition is a state shard.
//! `rebalance` holds what happens when partitions move; `client` the client plumbing
//! (configuration, topic creation, blocking calls with a watchdog) the producers share.

use std::collections::{BTreeMap, BTreeSet};
use std::time::{Duration, Instant};

use futures::FutureExt;
use rdkafka::consumer::{CommitMode, Consumer, StreamConsumer};
use rdkafka::message::{BorrowedMessage, Message};
use rdkafka::producer::{FutureProducer, FutureRecord, Producer};
use rdkafka::util::Timeout;
use rdkafka::{Offset, TopicPartitionList};

mod client;
mod interval;
mod rebalance;

use client::watched;
pub(super) use client::{base_config, blocking, ensure_topics, kafka_err};

use super::kafka_producer::{
    CommitFailure, TRANSACTION_TIMEOUT, abort_transaction, commit_transaction, output_producer,
    transaction_error,
};
use super::kafka_state::Counters;
use super::{BusConfig, BusError, Commit, CommitOutcome, Delivery, Guarantee};
use rebalance::RebalanceContext;

/// One instance's membership of its service's consumer group, with the producer its
/// outputs go through (transactional in exactly-once).
pub struct KafkaConsumer {
    config: BusConfig,
    consumer: StreamConsumer<RebalanceContext>,
    producer: FutureProducer,
    context: RebalanceContext,
    /// (logical, physical) per consumed topic.
    topics: Vec<(String, String)>,
    changelog: String,
    counters: Counters,
    /// Per partition number, how many topic-partitions of it this member holds: the
    /// shard's state is restored when the first arrives and dropped when the last goes.
    held: BTreeMap<i32, usize>,
    /// Held partitions whose state is not restored yet: their deliveries are held back
    /// (sought back) until it is, never processed against missing state.
    unrestored: BTreeSet<i32>,
    /// The batch committed but not yet flushed.
    staged: Staged,
    /// Topic-partitions revoked since [`take_moved`](Self::take_moved) was last called.
    moved: BTreeSet<(String, i32)>,
    /// Set when a failed flush moved every position to the committed offsets: the
    /// runner's following `abandon` must not seek back over that.
    resynced: bool,
    /// Deliveries received to see whether more input is ready (`interval`), handed out
    /// by the next poll.
    lookahead: Vec<Delivery>,
}

/// What [`KafkaConsumer::commit`] staged since the last flush.
#[derive(Default)]
struct Staged {
    deliveries: Vec<(String, rdkafka::producer::DeliveryFuture)>,
    /// Next offset to consume per (topic, partition): what gets committed.
    next: BTreeMap<(String, i32), i64>,
    /// Earliest staged offset per (topic, partition): where to seek back on failure.
    earliest: BTreeMap<(String, i32), i64>,
    /// Counter values before the batch changed them (partition, key, field, old).
    undo: Vec<(i32, String, String, i64)>,
    in_transaction: bool,
    /// When the open transaction began, and how many inputs it holds.
    opened: Option<Instant>,
    inputs: usize,
}

/// Why a flush failed, which decides how the batch is undone.
enum Flush {
    /// Nothing of the batch is committed: undo it and consume it again.
    Failed(BusError),
    /// The transaction may have committed: reload committed state and positions.
    Unknown(BusError),
}

impl Staged {
    fn is_empty(&self) -> bool {
        self.deliveries.is_empty() && self.next.is_empty() && !self.in_transaction
    }
}

impl std::fmt::Debug for KafkaConsumer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("KafkaConsumer")
            .field("group", &self.config.group())
            .field("member", &self.config.member())
            .field("topics", &self.topics)
            .finish_non_exhaustive()
    }
}

impl KafkaConsumer {
    pub async fn connect(config: &BusConfig, topics: &[&str]) -> Result<Self, BusError> {
        let changelog = config.physical(&format!("{}-changelog", config.service));
        ensure_topics(config, std::slice::from_ref(&changelog)).await?;
        let group = config.group();
        let context = RebalanceContext::default();
        let mut client = base_config(config)?;
        client
            .set("group.id", &group)
            .set("group.protocol", "consumer")
            .set("group.remote.assignor", "range")
            .set("isolation.level", "read_committed")
            .set("auto.offset.reset", "earliest")
            .set("enable.partition.eof", "false")
            .set("fetch.min.bytes", config.tuning.fetch_min_bytes.to_string())
            .set("fetch.wait.max.ms", config.tuning.fetch_wait_ms.to_string());
        match config.guarantee {
            // Offsets are stored after processing and committed in the background.
            Guarantee::AtLeastOnce => client
                .set("enable.auto.commit", "true")
                .set("enable.auto.offset.store", "false")
                .set("auto.commit.interval.ms", "500"),
            // Committed before processing (at-most-once) or inside the transaction.
            Guarantee::AtMostOnce | Guarantee::ExactlyOnce => {
                client.set("enable.auto.commit", "false")
            }
        };
        let consumer: StreamConsumer<RebalanceContext> = client
            .create_with_context(context.clone())
            .map_err(kafka_err("consumer", &group))?;
        let physical: Vec<(String, String)> = topics
            .iter()
            .map(|t| (t.to_string(), config.physical(t)))
            .collect();
        let names: Vec<&str> = physical.iter().map(|(_, p)| p.as_str()).collect();
        consumer
            .subscribe(&names)
            .map_err(kafka_err("subscribe", names.join(",")))?;

        let producer = output_producer(config).await?;
        Ok(KafkaConsumer {
            config: config.clone(),
            consumer,
            producer,
            context,
            topics: physical,
            changelog,
            counters: Counters::default(),
            held: BTreeMap::new(),
            unrestored: BTreeSet::new(),
            moved: BTreeSet::new(),
            staged: Staged::default(),
            resynced: false,
            lookahead: Vec::new(),
        })
    }

    fn logical(&self, physical: &str) -> String {
        self.topics
            .iter()
            .find(|(_, p)| p == physical)
            .map(|(l, _)| l.clone())
            .unwrap_or_else(|| physical.to_string())
    }

    fn delivery(&self, message: &BorrowedMessage<'_>) -> Delivery {
        Delivery {
            topic: self.logical(message.topic()),
            partition: message.partition(),
            position: message.offset().to_string(),
            key: message
                .key()
                .map(|k| String::from_utf8_lossy(k).into_owned()),
            payload: message.payload().map(<[u8]>::to_vec).unwrap_or_default(),
            deliveries: 1,
        }
    }

    pub async fn poll(&mut self, max: usize, wait: Duration) -> Result<Vec<Delivery>, BusError> {
        self.handle_rebalances().await;
        let mut out = std::mem::take(&mut self.lookahead);
        if out.is_empty() {
            match tokio::time::timeout(wait, self.consumer.recv()).await {
                Err(_) => {}
                Ok(result) => {
                    let message = result.map_err(kafka_err("poll", self.config.group()))?;
                    out.push(self.delivery(&message));
                }
            }
        }
        if !out.is_empty() {
            while out.len() < max {
                let Some(next) = self.consumer.recv().now_or_never() else {
                    break;
                };
                match next {
                    Ok(message) => out.push(self.delivery(&message)),
                    // What was received so far is handed out; the error comes again.
                    Err(e) => {
                        tracing::warn!(error = %e, "poll failed after part of a batch");
                        break;
                    }
                }
            }
        }
        // A rebalance during recv() may have moved partitions: restore before processing.
        self.handle_rebalances().await;
        let out = self.hold_back_unready(out);
        if self.config.guarantee == Guarantee::AtMostOnce && !out.is_empty() {
            let mut offsets = TopicPartitionList::new();
            for d in &out {
                let next = offset(d)? + 1;
                let topic = self.config.physical(&d.topic);
                offsets
                    .add_partition_offset(&topic, d.partition, Offset::Offset(next))
                    .map_err(kafka_err("offsets", topic.clone()))?;
            }
            // Committed before processing (at-most-once), synchronously: the worker
            // thread is handed over meanwhile, so the process's other tasks go on.
            tokio::task::block_in_place(|| self.consumer.commit(&offsets, CommitMode::Sync))
                .map_err(kafka_err("commit (before processing)", self.config.group()))?;
        }
        Ok(out)
    }

    pub fn counter(&self, partition: i32, key: &str, field: &str) -> i64 {
        self.counters.get(partition, key, field)
    }

    /// Stages one delivery's outputs, changelog records and offset: records are enqueued
    /// now (inside the open transaction in exactly-once), counters change now (later
    /// inputs of the batch decide on them, with an undo log), and [`flush`](Self::flush)
    /// makes the batch durable.
    pub async fn commit(
        &mut self,
        delivery: &Delivery,
        commit: Commit,
    ) -> Result<CommitOutcome, BusError> {
        let Some(values) = self.counters.preview(delivery.partition, &commit.changes) else {
            return Ok(CommitOutcome::Conflict);
        };
        if self.config.guarantee == Guarantee::ExactlyOnce && !self.staged.in_transaction {
            if let Err(e) = self.producer.begin_transaction() {
                // Fatal, or still busy with a call that outlived its bound (a previous
                // replacement may have failed): a new producer fences the old one.
                tracing::warn!(error = %e, fatal = transaction_error(&e).1, "begin_transaction failed; replacing the producer");
                self.replace_producer().await?;
                self.producer
                    .begin_transaction()
                    .map_err(kafka_err("begin_transaction", self.config.group()))?;
            }
            self.staged.in_transaction = true;
            self.staged.opened = Some(Instant::now());
        }
        self.staged.inputs += 1;
        let topic = self.config.physical(&delivery.topic);
        let position = offset(delivery)?;
        let slot = self
            .staged
            .earliest
            .entry((topic.clone(), delivery.partition))
            .or_insert(position);
        *slot = (*slot).min(position);
        let next = self
            .staged
            .next
            .entry((topic, delivery.partition))
            .or_insert(position + 1);
        *next = (*next).max(position + 1);
        for (topic, partition, key, payload) in self.records(delivery, &commit, &values) {
            let mut record = FutureRecord::to(&topic).key(&key).payload(&payload);
            if let Some(p) = partition {
                record = record.partition(p);
            }
            let future = self
                .producer
                .send_result(record)
                .map_err(|(e, _)| kafka_err("produce", topic.clone())(e))?;
            self.staged.deliveries.push((topic, future));
        }
        for (key, field, value) in values {
            let old = self.counters.get(delivery.partition, &key, &field);
            self.staged
                .undo
                .push((delivery.partition, key.clone(), field.clone(), old));
            self.counters.set(delivery.partition, key, field, value);
        }
        Ok(CommitOutcome::Committed)
    }

    /// Makes the staged batch durable, in the mode's order: every record acknowledged,
    /// then the offsets stored (at-least-once) or sent to the transaction and committed
    /// (exactly-once). On failure the batch is undone and will be consumed again.
    pub async fn flush(&mut self) -> Result<(), BusError> {
        if self.staged.is_empty() {
            return Ok(());
        }
        match self.flush_inner().await {
            Ok(()) => {
                self.staged = Staged::default();
                Ok(())
            }
            Err(Flush::Failed(e)) => {
                self.undo_staged().await;
                Err(e)
            }
            Err(Flush::Unknown(e)) => {
                self.resync().await;
                Err(e)
            }
        }
    }

    async fn flush_inner(&mut self) -> Result<(), Flush> {
        for (topic, future) in std::mem::take(&mut self.staged.deliveries) {
            match watched("produce (delivery report)", future).await {
                Ok(Ok(_)) => {}
                Ok(Err((e, _))) => return Err(Flush::Failed(kafka_err("produce", topic)(e))),
                Err(_) => {
                    return Err(Flush::Failed(BusError::Other(format!(
                        "kafka produce to {topic}: delivery dropped"
                    ))));
                }
            }
        }
        let group = self.config.group();
        match self.config.guarantee {
            Guarantee::AtMostOnce => Ok(()),
            Guarantee::AtLeastOnce => {
                for ((topic, partition), next) in &self.staged.next {
                    // `store_offset` (librdkafka's `rd_kafka_offset_store`) takes the
                    // last processed offset and stores it + 1 as the next to consume:
                    // handing it `next` skipped one message at each change of owner.
                    self.consumer
                        .store_offset(topic, *partition, *next - 1)
                        .map_err(kafka_err("store offset", topic.clone()))
                        .map_err(Flush::Failed)?;
                }
                Ok(())
            }
            Guarantee::ExactlyOnce => {
                let mut offsets = TopicPartitionList::new();
                for ((topic, partition), next) in &self.staged.next {
                    offsets
                        .add_partition_offset(topic, *partition, Offset::Offset(*next))
                        .map_err(kafka_err("offsets", topic.clone()))
                        .map_err(Flush::Failed)?;
                }
                let metadata = self.consumer.group_metadata().ok_or_else(|| {
                    Flush::Failed(BusError::Other(format!("kafka {group}: no group metadata")))
                })?;
                let timeout = self.config.request_timeout;
                // Past the bound the outcome counts as unknown and the producer is
                // replaced; the stuck call ends on its own thread.
                let bound = TRANSACTION_BOUND;
                let committing = commit_transaction(&self.producer, offsets, metadata, timeout);
                match tokio::time::timeout(bound, committing).await {
                    Ok(Ok(())) => {
                        self.staged.in_transaction = false;
                        Ok(())
                    }
                    Ok(Err(CommitFailure::Abortable(e))) => {
                        Err(Flush::Failed(kafka_err("commit_transaction", &group)(e)))
                    }
                    Ok(Err(CommitFailure::Unknown(e))) => {
                        Err(Flush::Unknown(kafka_err("commit_transaction", &group)(e)))
                    }
                    Err(_) => Err(Flush::Unknown(BusError::Timeout {
                        op: "commit_transaction",
                        target: group.clone(),
                        after: bound,
                    })),
                }
            }
        }
    }

    /// After a commit whose outcome is unknown: a new producer with the same
    /// transactional id makes the coordinator finish the old transaction one way or
    /// the other; then state and positions are reloaded from what is committed (the
    /// changelog, read committed, and the group's offsets), so the batch is processed
    /// again exactly when it did not commit.
    async fn resync(&mut self) {
        self.staged = Staged::default();
        // Every position goes back to the committed offsets, which come before these.
        self.lookahead.clear();
        self.resynced = true;
        tracing::warn!(
            "transaction outcome unknown; replacing the producer and reloading committed state"
        );
        // The old transaction is settled (committed or aborted) only once a new
        // producer with its transactional id has initialised: reading the committed
        // state before that could read it before the old commit lands, and process
        // the batch a second time. So the replacement is retried until it succeeds
        // (the broker that holds the coordinator may still be coming back).
        let mut attempt = 0u32;
        while let Err(e) = self.replace_producer().await {
            attempt += 1;
            tracing::warn!(error = %e, attempt, "could not replace the transactional producer; trying again");
            tokio::time::sleep(Duration::from_millis(500) * attempt.min(10)).await;
        }
        for partition in self.held.keys() {
            self.counters.drop_partition(*partition);
            self.unrestored.insert(*partition);
        }
        self.restore_pending().await;
        // The positions go to the group's committed offsets, read until every
        // partition's is known: going back over the batch instead would process again
        // what did commit, and a partition whose offset came back with an error
        // (unstable, the coordinator moving) read from the beginning would process
        // again everything before it.
        let mut attempt = 0u32;
        let committed = loop {
            match self
                .consumer
                .committed(Timeout::After(self.config.request_timeout))
            {
                Ok(list) if list.elements().iter().all(|e| e.error().is_ok()) => break list,
                Ok(list) => {
                    let failed: Vec<String> = list
                        .elements()
                        .iter()
                        .filter_map(|e| {
                            e.error()
                                .err()
                                .map(|err| format!("{}[{}]: {err}", e.topic(), e.partition()))
                        })
                        .collect();
                    attempt += 1;
                    tracing::warn!(attempt, failed = %failed.join(", "), "committed offsets not all known yet; asking again");
                }
                Err(e) => {
                    attempt += 1;
                    tracing::warn!(attempt, error = %e, "committed offsets unavailable; asking again");
                }
            }
            tokio::time::sleep(Duration::from_millis(500) * attempt.min(10)).await;
        };
        for e in committed.elements() {
            // No committed offset yet: the start, as `auto.offset.reset` says.
            let to = match e.offset() {
                Offset::Offset(o) => Offset::Offset(o),
                _ => Offset::Beginning,
            };
            let timeout = Timeout::After(self.config.request_timeout);
            if let Err(err) = self.consumer.seek(e.topic(), e.partition(), to, timeout) {
                tracing::warn!(topic = e.topic(), partition = e.partition(), error = %err, "seek to the committed offset failed");
            }
        }
    }

    /// Aborts the open transaction, reverts counters and seeks back to the batch's start.
    async fn undo_staged(&mut self) {
        let staged = std::mem::take(&mut self.staged);
        if staged.in_transaction {
            let timeout = self.config.request_timeout;
            let aborting = abort_transaction(&self.producer, timeout);
            // Bounded like the commit: past it the producer is replaced.
            let bound = TRANSACTION_BOUND;
            let aborted = match tokio::time::timeout(bound, aborting).await {
                Ok(result) => result.map_err(|e| e.to_string()),
                Err(_) => Err(format!("no answer within {bound:?}")),
            };
            if let Err(e) = aborted {
                // Fenced (the coordinator timed the transaction out) or otherwise fatal:
                // this producer is done; a new one with the same transactional id fences
                // whatever is left of the old one.
                tracing::warn!(error = %e, "abort_transaction failed; replacing the producer");
                if let Err(e) = self.replace_producer().await {
                    tracing::warn!(error = %e, "could not replace the transactional producer");
                }
            }
        }
        for (partition, key, field, old) in staged.undo.into_iter().rev() {
            self.counters.set(partition, key, field, old);
        }
        let mut earliest = staged.earliest;
        self.give_back_lookahead(&mut earliest);
        for ((topic, partition), o) in earliest {
            self.seek(&topic, partition, o);
        }
    }

    /// A fresh transactional producer (after a fatal error such as being fenced).
    async fn replace_producer(&mut self) -> Result<(), BusError> {
        self.producer = output_producer(&self.config).await?;
        self.staged.in_transaction = false;
        Ok(())
    }

    fn seek(&self, topic: &str, partition: i32, o: i64) {
        let timeout = Timeout::After(self.config.request_timeout);
        if let Err(e) = self
            .consumer
            .seek(topic, partition, Offset::Offset(o), timeout)
        {
            tracing::warn!(%topic, partition, offset = o, error = %e, "seek back failed");
        }
    }

    fn records(
        &self,
        delivery: &Delivery,
        commit: &Commit,
        values: &[(String, String, i64)],
    ) -> Vec<(String, Option<i32>, String, Vec<u8>)> {
        let mut records: Vec<(String, Option<i32>, String, Vec<u8>)> = commit
            .outputs
            .iter()
            .map(|o| {
                (
                    self.config.physical(&o.topic),
                    None,
                    o.key.clone(),
                    o.payload.clone(),
                )
            })
            .collect();
        for (key, field, value) in values {
            records.push((
                self.changelog.clone(),
                Some(delivery.partition),
                Counters::record_key(key, field),
                value.to_string().into_bytes(),
            ));
        }
        records
    }

    /// Gives back the staged batch (undone) and `remaining`: each partition is sought
    /// back to the earliest of them, so they come again.
    pub async fn abandon(&mut self, remaining: &[Delivery]) {
        if std::mem::take(&mut self.resynced) {
            return;
        }
        self.undo_staged().await;
        let mut earliest: BTreeMap<(String, i32), i64> = BTreeMap::new();
        // At-most-once: the failed input (the first given back) was committed before
        // it was processed and is given up, not delivered again (as NOACK does on
        // Redis); a retry would repeat its effects, such as a charge whose answer was
        // lost. The inputs after it were not processed and come again.
        let remaining = match (self.config.guarantee, remaining.split_first()) {
            (Guarantee::AtMostOnce, Some((failed, rest))) => {
                if let Ok(o) = offset(failed) {
                    earliest.insert(
                        (self.config.physical(&failed.topic), failed.partition),
                        o + 1,
                    );
                }
                rest
            }
            _ => remaining,
        };
        for d in remaining {
            if let Ok(o) = offset(d) {
                let slot = earliest
                    .entry((self.config.physical(&d.topic), d.partition))
                    .or_insert(o);
                *slot = (*slot).min(o);
            }
        }
        for ((topic, partition), o) in earliest {
            self.seek(&topic, partition, o);
        }
    }

    pub async fn close(self) {
        // Leave the group now so the partitions move at once, not after a session timeout.
        let consumer = self.consumer;
        let _ = blocking("close", move || {
            consumer.unsubscribe();
            drop(consumer);
        })
        .await;
    }
}

fn offset(delivery: &Delivery) -> Result<i64, BusError> {
    delivery
        .position
        .parse()
        .map_err(|_| BusError::Other(format!("not a Kafka offset: {}", delivery.position)))
}

/// How long a commit or abort may take in all before its outcome counts as unknown
/// (the producer is then replaced and the committed state read back, which is right
/// whatever the outcome was). librdkafka's transactional calls can block well past
/// their own timeouts while the transaction coordinator moves (seen: over 80 s after a
/// broker kill, and a commit sent to a paused coordinator never returning after it
/// came back). A little past the transaction timeout (10 s, `kafka_producer.rs`), past
/// which a coordinator that is up aborts a transaction left open: waiting longer only
/// delays the recovery (it had been 12 × the request timeout, 60 s: a 6 s pause of the
/// coordinator cost a minute, docs/reliability.md).
const TRANSACTION_BOUND: Duration = TRANSACTION_TIMEOUT.saturating_add(Duration::from_secs(5));
