//! The event bus: one interface over Redis Streams and Kafka, where each delivery mode's
//! acknowledgement logic lives. Services decide *what* to emit; the bus decides *when*
//! the input counts as done relative to the outputs and state changes:
//!
//! | mode | Redis Streams | Kafka |
//! | --- | --- | --- |
//! | at-most-once | `XREADGROUP ... NOACK` (never pending) | commit offsets before processing |
//! | at-least-once | state, `XADD` outputs, then `XACK`; a dead consumer's pending entries are `XAUTOCLAIM`ed | state, produce (acked), then commit offsets |
//! | exactly-once | one Lua script per batch: per input, processed-id check, state, `XADD`, `XACK` | a transaction: outputs, changelog, `send_offsets_to_transaction` per batch (or across batches up to `--commit-interval-ms`) |
//!
//! Every mode works a batch at a time: the state a batch needs is read in one round trip
//! ([`Consumer::prefetch`]), its decisions are staged, and one write makes it durable
//! (`redis_streams/batch.rs`, `kafka/interval.rs`).
//!
//! State that must change with the outputs is expressed as counter [`Change`]s. On Redis
//! they are hash fields changed by Lua (atomic with the rest in exactly-once); on Kafka
//! they live in memory per partition and are written to a changelog topic, from which a
//! new owner of the partition restores them after a rebalance (as Kafka Streams does).
//!
//! Modules:
//! - `redis_streams`: [`RedisConsumer`] and [`RedisProducer`] (each mode's XREADGROUP /
//!   XACK / Lua logic; the scripts are in `lua/`).
//! - `kafka`: [`KafkaConsumer`] (`kafka/mod.rs`: the consume loop, offsets, staging) and
//!   `kafka/rebalance.rs` (partition movements, state restore, hold-back).
//! - `kafka_producer`: [`KafkaProducer`], plain and transactional.
//! - `kafka_state`: the per-partition counters and their changelog topic.
//! - `reader`: [`Reader`], a plain reader from the beginning of topics (projections, the
//!   harness's tap).

mod kafka;
mod kafka_producer;
mod kafka_state;
mod reader;
mod redis_streams;

use std::time::Duration;

pub use kafka::KafkaConsumer;
pub use kafka_producer::KafkaProducer;
pub use reader::{Reader, StartPositions, next_stream_id};
pub use redis_streams::{RedisConsumer, RedisProducer};

/// Which broker carries the events, and how inputs are acknowledged relative to
/// outputs (see the module table): the platform's one definition, in `events`.
pub use events::{Backend, Guarantee};

/// Where the bus connects and how it names things.
#[derive(Debug, Clone)]
pub struct BusConfig {
    pub backend: Backend,
    pub guarantee: Guarantee,
    /// Prefix of every stream/topic/group, so several deployments (or tests) can share
    /// one broker: streams are `{namespace}:{topic}`, Kafka topics `{namespace}.{topic}`.
    pub namespace: String,
    /// The service (and so the consumer group) this process belongs to.
    pub service: String,
    pub instance: u32,
    /// `redis://` or `rediss://` (TLS), never with a password in it.
    pub redis_url: String,
    /// ACL user, where its password is, TLS CA (`connect::redis_client`).
    pub redis_security: connect::RedisSecurity,
    pub kafka_bootstrap: String,
    /// security.protocol, SASL user, where its password is, CA (`connect::kafka_config`).
    pub kafka_security: connect::KafkaSecurity,
    /// Kafka partitions per topic (topics are created with this count if missing).
    pub partitions: i32,
    /// Kafka replication factor for created topics (-1: the broker's default).
    pub replication: i32,
    /// Redis: a pending entry idle this long belongs to a dead consumer and is claimed.
    pub claim_idle: Duration,
    /// Upper bound on every broker request, so a fault can delay but never hang a service.
    pub request_timeout: Duration,
    /// Logical topics to create (Kafka, with `partitions` each) if they do not exist yet:
    /// everything this process consumes or publishes.
    pub topics: Vec<String>,
    /// Kafka producer settings (chosen by measurement: docs/performance.md).
    pub tuning: Tuning,
}

/// Kafka client settings.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Tuning {
    /// `linger.ms`: how long a record waits for others to share its batch.
    pub linger_ms: u32,
    /// `compression.type`: `none`, `lz4`, `zstd`, ...
    pub compression: String,
    /// Consumers' `fetch.min.bytes` and `fetch.wait.max.ms`: how much a fetch waits
    /// to gather before the broker answers.
    pub fetch_min_bytes: u32,
    pub fetch_wait_ms: u32,
    /// Exactly-once: how long a transaction may stay open to take more batches while
    /// input is ready (`kafka/interval.rs`); 0 commits every batch.
    pub commit_interval_ms: u32,
}

impl Default for Tuning {
    fn default() -> Self {
        Tuning {
            linger_ms: DEFAULT_LINGER_MS,
            compression: DEFAULT_COMPRESSION.into(),
            fetch_min_bytes: DEFAULT_FETCH_MIN_BYTES,
            fetch_wait_ms: DEFAULT_FETCH_WAIT_MS,
            commit_interval_ms: DEFAULT_COMMIT_INTERVAL_MS,
        }
    }
}

/// The measured choices (docs/performance.md, "Settings").
pub const DEFAULT_LINGER_MS: u32 = 1;
pub const DEFAULT_COMPRESSION: &str = "none";
pub const DEFAULT_FETCH_MIN_BYTES: u32 = 1;
pub const DEFAULT_FETCH_WAIT_MS: u32 = 500;
/// Off by default: with 100 ms, a broker-kill test lost one exactly-once order in two of
/// four full test runs, not yet explained (docs/performance.md).
pub const DEFAULT_COMMIT_INTERVAL_MS: u32 = 0;
/// Most inputs a service takes per poll (XREADGROUP COUNT, Kafka messages per batch).
pub const DEFAULT_BATCH: usize = 1024;

impl BusConfig {
    /// The stream (Redis) or topic (Kafka) name of a logical topic.
    pub fn physical(&self, topic: &str) -> String {
        physical_name(self.backend, &self.namespace, topic)
    }

    /// The consumer group of this service.
    pub fn group(&self) -> String {
        match self.backend {
            Backend::Redis => self.service.clone(),
            Backend::Kafka => format!("{}.{}", self.namespace, self.service),
        }
    }

    /// This instance's consumer name / transactional id suffix.
    pub fn member(&self) -> String {
        format!("{}-{}", self.service, self.instance)
    }
}

/// `{namespace}:{topic}` on Redis, `{namespace}.{topic}` on Kafka.
pub fn physical_name(backend: Backend, namespace: &str, topic: &str) -> String {
    match backend {
        Backend::Redis => format!("{namespace}:{topic}"),
        Backend::Kafka => format!("{namespace}.{topic}"),
    }
}

/// One message handed to a service.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Delivery {
    /// Logical topic (`orders`, `payments`, ...).
    pub topic: String,
    /// Kafka partition (the state shard); 0 on Redis.
    pub partition: i32,
    /// Kafka offset or Redis entry id, as text (for dead letters and logs).
    pub position: String,
    /// The message key (the order id) when the backend carries one.
    pub key: Option<String>,
    /// Raw bytes: a service decodes them, and undecodable bytes are poison.
    pub payload: Vec<u8>,
    /// How many times this message has been delivered (Redis counts across consumers;
    /// Kafka: 1, with local retries counted by the service).
    pub deliveries: u32,
}

/// A message to publish.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Outgoing {
    pub topic: String,
    /// Partition key (the order id): all events of one order stay in order.
    pub key: String,
    pub payload: Vec<u8>,
}

/// A change to a counter that must happen together with the outputs: `field` of `key`
/// moves by `delta`, and the commit fails with [`CommitOutcome::Conflict`] if that would
/// take it below `floor`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Change {
    pub key: String,
    pub field: String,
    pub delta: i64,
    pub floor: Option<i64>,
}

/// What finishing one delivery does: publish `outputs`, apply `changes`, and mark the
/// input done, in the order (or atomically) the guarantee prescribes.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Commit {
    pub outputs: Vec<Outgoing>,
    pub changes: Vec<Change>,
    /// Idempotency id of the input (its event id): exactly-once skips inputs already done.
    pub input_id: Option<String>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CommitOutcome {
    /// Done.
    Committed,
    /// A change's floor would have been crossed (another instance got there first, on
    /// Redis): nothing was applied, the input is still pending; decide again.
    Conflict,
    /// Exactly-once: this input was already processed; it was acknowledged, nothing else.
    Duplicate,
}

/// Errors from either backend, naming the stream/topic and operation.
#[derive(Debug, thiserror::Error)]
pub enum BusError {
    #[error("redis {op} on {target}: {source}")]
    Redis {
        op: &'static str,
        target: String,
        #[source]
        source: redis::RedisError,
    },
    #[error("kafka {op} on {target}: {source}")]
    Kafka {
        op: &'static str,
        target: String,
        #[source]
        source: rdkafka::error::KafkaError,
    },
    #[error("{op} on {target} timed out after {after:?}")]
    Timeout {
        op: &'static str,
        target: String,
        after: Duration,
    },
    /// The security settings cannot be used (a password variable unset, a CA file
    /// missing), naming the setting, never the secret.
    #[error(transparent)]
    Security(#[from] connect::SecurityError),
    #[error("{0}")]
    Other(String),
}

/// Consumes for one service instance (one member of the service's group).
#[derive(Debug)]
pub enum Consumer {
    Redis(Box<RedisConsumer>),
    Kafka(Box<KafkaConsumer>),
}

impl Consumer {
    /// Joins the service's group on `topics` (creating streams/topics and groups as needed).
    pub async fn connect(config: &BusConfig, topics: &[&str]) -> Result<Self, BusError> {
        Ok(match config.backend {
            Backend::Redis => {
                Consumer::Redis(Box::new(RedisConsumer::connect(config, topics).await?))
            }
            Backend::Kafka => {
                Consumer::Kafka(Box::new(KafkaConsumer::connect(config, topics).await?))
            }
        })
    }

    /// Up to `max` deliveries, waiting at most `wait` for the first.
    pub async fn poll(&mut self, max: usize, wait: Duration) -> Result<Vec<Delivery>, BusError> {
        match self {
            Consumer::Redis(c) => c.poll(max, wait).await,
            Consumer::Kafka(c) => c.poll(max, wait).await,
        }
    }

    /// The current value of a counter as this instance sees it (for decisions).
    /// Several counters of one key, read as one snapshot (see
    /// [`redis_streams`]'s `counters`; on Kafka the instance's own state).
    pub async fn counters(
        &mut self,
        partition: i32,
        key: &str,
        fields: &[&str],
    ) -> Result<Vec<i64>, BusError> {
        match self {
            Consumer::Redis(c) => c.counters(key, fields).await,
            Consumer::Kafka(c) => Ok(fields
                .iter()
                .map(|f| c.counter(partition, key, f))
                .collect()),
        }
    }

    pub async fn counter(
        &mut self,
        partition: i32,
        key: &str,
        field: &str,
    ) -> Result<i64, BusError> {
        match self {
            Consumer::Redis(c) => c.counter(key, field).await,
            Consumer::Kafka(c) => Ok(c.counter(partition, key, field)),
        }
    }

    /// Finishes one delivery (see [`Commit`]). Depending on backend and mode the work is
    /// done now or staged until [`flush`](Self::flush).
    pub async fn commit(
        &mut self,
        delivery: &Delivery,
        commit: Commit,
    ) -> Result<CommitOutcome, BusError> {
        match self {
            Consumer::Redis(c) => c.commit(delivery, commit).await,
            Consumer::Kafka(c) => c.commit(delivery, commit).await,
        }
    }

    /// Reads, in one round trip, the counters a batch's decisions will read and (Redis
    /// exactly-once) which of its inputs are already processed: later reads of them in
    /// this batch are answered from memory, with the batch's own staged changes applied.
    /// Kafka's state is in memory already: nothing to do.
    pub async fn prefetch(
        &mut self,
        reads: &[(String, &'static [&'static str])],
        input_ids: &[String],
    ) -> Result<(), BusError> {
        match self {
            Consumer::Redis(c) => c.prefetch(reads, input_ids).await,
            Consumer::Kafka(_) => Ok(()),
        }
    }

    /// Whether the last [`prefetch`](Self::prefetch) found this input (by its event id)
    /// already processed (Redis exactly-once): it is acknowledged, not decided again.
    pub fn known_processed(&self, input_id: &str) -> bool {
        match self {
            Consumer::Redis(c) => c.known_processed(input_id),
            Consumer::Kafka(_) => false,
        }
    }

    /// Makes everything committed since the last flush durable (see [`Commit`]): a batch
    /// is flushed once, after its last delivery. Returns the (topic, position) of the
    /// inputs that were not applied because their changes conflicted with the state as
    /// it is now (Redis: another instance moved it since the batch read it; nothing
    /// after the first such input is applied): decide them again. On error the staged
    /// batch is undone and will be delivered again.
    pub async fn flush(&mut self) -> Result<Vec<(String, String)>, BusError> {
        match self {
            Consumer::Redis(c) => c.flush().await,
            Consumer::Kafka(c) => c.flush().await.map(|()| Vec::new()),
        }
    }

    /// The runner decided a batch: [`flush`](Self::flush) it, or, Kafka exactly-once
    /// while more input is ready, keep its transaction open for the next batch (up to a
    /// commit interval of 100 ms: `kafka/interval.rs`). The runner flushes before it
    /// waits on anything else.
    pub async fn end_batch(&mut self) -> Result<Vec<(String, String)>, BusError> {
        match self {
            Consumer::Redis(c) => c.flush().await,
            Consumer::Kafka(c) => c.end_batch().await.map(|()| Vec::new()),
        }
    }

    /// Gives back deliveries of the current batch that will not be committed (after an
    /// error): they are delivered again by the next polls.
    pub async fn abandon(&mut self, remaining: &[Delivery]) {
        match self {
            Consumer::Redis(c) => c.abandon(remaining),
            Consumer::Kafka(c) => c.abandon(remaining).await,
        }
    }

    /// Whether a delivery handed out earlier and kept aside (parked) may still be
    /// processed by this member: on Kafka, whether it still holds the partition (a
    /// revoked partition's new owner consumes it from the committed offset); on Redis
    /// always (a pending entry stays ours until it is claimed, and exactly-once skips
    /// an entry processed twice).
    pub fn holds(&self, delivery: &Delivery) -> bool {
        match self {
            Consumer::Redis(_) => true,
            Consumer::Kafka(c) => c.holds(delivery.partition),
        }
    }

    /// The (topic, partition) pairs this member lost since the last call, even if they
    /// came back since (Kafka; never on Redis, whose pending entries stay a member's
    /// until claimed): inputs of them kept aside are stale.
    pub fn take_moved(&mut self) -> std::collections::BTreeSet<(String, i32)> {
        match self {
            Consumer::Redis(_) => std::collections::BTreeSet::new(),
            Consumer::Kafka(c) => c.take_moved(),
        }
    }

    /// Leaves the group cleanly (graceful shutdown): pending work is handed over at once.
    pub async fn close(self) {
        match self {
            Consumer::Redis(c) => c.close().await,
            Consumer::Kafka(c) => c.close().await,
        }
    }
}

/// Publishes outside any consumed input (the order service's `POST /orders`).
#[derive(Debug, Clone)]
pub enum Producer {
    Redis(RedisProducer),
    Kafka(KafkaProducer),
}

impl Producer {
    pub async fn connect(config: &BusConfig) -> Result<Self, BusError> {
        Ok(match config.backend {
            Backend::Redis => Producer::Redis(RedisProducer::connect(config).await?),
            Backend::Kafka => Producer::Kafka(KafkaProducer::connect(config).await?),
        })
    }

    /// Publishes and waits for the broker's acknowledgement; returns the position
    /// (Redis entry id or `partition:offset`).
    pub async fn publish(&self, message: Outgoing) -> Result<String, BusError> {
        match self {
            Producer::Redis(p) => p.publish(message).await,
            Producer::Kafka(p) => p.publish(message).await,
        }
    }
}
