//! Kafka producers: the idempotent producer (`acks=all`) the order service and the
//! harness publish through, and the transactional producer a consumer's outputs go
//! through in exactly-once, with the follow-up rules for failed transactional calls.

use std::time::Duration;

use rdkafka::ClientConfig;
use rdkafka::TopicPartitionList;
use rdkafka::consumer::ConsumerGroupMetadata;
use rdkafka::error::KafkaError;
use rdkafka::producer::{FutureProducer, FutureRecord, Producer};
use rdkafka::util::Timeout;

use super::kafka::{base_config, blocking, ensure_topics, kafka_err};
use super::{BusConfig, BusError, Guarantee, Outgoing};

/// How long a new producer waits for its topics' partitions to have ready leaders.
const LEADER_WAIT: Duration = Duration::from_secs(20);

/// Attempts of a transactional call whose error says "retriable".
const TRANSACTION_ATTEMPTS: u32 = 5;

pub(super) fn producer_config(config: &BusConfig) -> Result<ClientConfig, BusError> {
    let mut client = base_config(config)?;
    client
        .set("acks", "all")
        .set("enable.idempotence", "true")
        .set("linger.ms", config.tuning.linger_ms.to_string())
        .set("compression.type", &config.tuning.compression)
        .set(
            "message.timeout.ms",
            (config.request_timeout.as_millis() * 6).to_string(),
        )
        .set(
            "request.timeout.ms",
            config.request_timeout.as_millis().to_string(),
        );
    Ok(client)
}

/// How long the coordinator keeps a transaction open before it aborts it.
pub(super) const TRANSACTION_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(10);

/// The producer a consumer's outputs go through: transactional (one transactional id
/// per instance, so a restarted instance fences its zombie) in exactly-once.
pub(super) async fn output_producer(config: &BusConfig) -> Result<FutureProducer, BusError> {
    let group = config.group();
    let mut client = producer_config(config)?;
    if config.guarantee == Guarantee::ExactlyOnce {
        client
            .set("transactional.id", format!("{}.{}", group, config.member()))
            // A dead instance's open transaction blocks read_committed readers until it
            // times out: keep that short.
            .set(
                "transaction.timeout.ms",
                TRANSACTION_TIMEOUT.as_millis().to_string(),
            )
            .set("message.timeout.ms", "10000");
    }
    let producer: FutureProducer = client.create().map_err(kafka_err("producer", &group))?;
    if config.guarantee == Guarantee::ExactlyOnce {
        let p = producer.clone();
        let timeout = config.request_timeout * 3;
        // Bounded here too: the call can outlive its own timeout while the coordinator
        // moves.
        let init = blocking("init_transactions", move || p.init_transactions(timeout));
        tokio::time::timeout(timeout * 2, init)
            .await
            .map_err(|_| BusError::Timeout {
                op: "init_transactions",
                target: group.clone(),
                after: timeout * 2,
            })?
            .map_err(kafka_err("init_transactions", &group))?;
    }
    Ok(producer)
}

/// How a failed transactional call must be followed up (librdkafka's error flags).
pub(super) fn transaction_error(e: &KafkaError) -> (bool, bool) {
    match e {
        KafkaError::Transaction(t) => (t.is_retriable(), t.is_fatal()),
        _ => (false, false),
    }
}

/// How a transaction that could not be committed ended.
#[derive(Debug)]
pub(super) enum CommitFailure {
    /// The transaction is known not to have committed and must be aborted.
    Abortable(KafkaError),
    /// It may or may not have committed (a timeout, retries exhausted, a fatal error):
    /// only the transaction coordinator knows; a new producer with the same
    /// transactional id settles it.
    Unknown(KafkaError),
}

impl std::fmt::Display for CommitFailure {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            CommitFailure::Abortable(e) => write!(f, "transaction aborted: {e}"),
            CommitFailure::Unknown(e) => write!(f, "transaction outcome unknown: {e}"),
        }
    }
}

/// Sends the offsets to the open transaction and commits it, calling again while
/// librdkafka says the error is retriable (aborting then would conflict with the call
/// still in progress).
pub(super) async fn commit_transaction(
    producer: &FutureProducer,
    offsets: TopicPartitionList,
    metadata: ConsumerGroupMetadata,
    timeout: Duration,
) -> Result<(), CommitFailure> {
    let producer = producer.clone();
    blocking("commit_transaction", move || {
        let mut attempt = 0;
        loop {
            attempt += 1;
            let result = producer
                .send_offsets_to_transaction(&offsets, &metadata, timeout)
                .and_then(|()| producer.commit_transaction(timeout));
            let Err(e) = result else { return Ok(()) };
            match &e {
                KafkaError::Transaction(t) if t.txn_requires_abort() => {
                    return Err(CommitFailure::Abortable(e));
                }
                KafkaError::Transaction(t)
                    if t.is_retriable() && attempt < TRANSACTION_ATTEMPTS => {}
                _ => return Err(CommitFailure::Unknown(e)),
            }
        }
    })
    .await
}

/// Aborts the open transaction, calling again while the error is retriable.
pub(super) async fn abort_transaction(
    producer: &FutureProducer,
    timeout: Duration,
) -> Result<(), KafkaError> {
    let producer = producer.clone();
    blocking("abort_transaction", move || {
        let mut attempt = 0;
        loop {
            attempt += 1;
            match producer.abort_transaction(timeout) {
                Err(e) if transaction_error(&e).0 && attempt < TRANSACTION_ATTEMPTS => continue,
                other => break other,
            }
        }
    })
    .await
}

/// Waits until every partition of `topics` has a leader that answers for it (its end
/// offsets), or `deadline` passes. Topics just created take seconds to get their logs on
/// a busy cluster; a service that accepts work before then sends it into a cluster
/// still settling (on this project's lab, early acknowledged orders went missing in
/// that window), so the order service reports healthy only after this.
fn wait_for_leaders(producer: &FutureProducer, topics: &[String], deadline: Duration) {
    let until = std::time::Instant::now() + deadline;
    let attempt =
        || Duration::from_secs(2).min(until.saturating_duration_since(std::time::Instant::now()));
    for topic in topics {
        loop {
            let ready = producer
                .client()
                .fetch_metadata(Some(topic), attempt())
                .ok()
                .and_then(|md| {
                    let t = md.topics().iter().find(|t| t.name() == topic)?;
                    let partitions: Vec<i32> = t.partitions().iter().map(|p| p.id()).collect();
                    (!partitions.is_empty() && t.partitions().iter().all(|p| p.leader() >= 0))
                        .then_some(partitions)
                })
                .is_some_and(|partitions| {
                    partitions.iter().all(|&p| {
                        producer
                            .client()
                            .fetch_watermarks(topic, p, attempt())
                            .is_ok()
                    })
                });
            if ready {
                break;
            }
            if std::time::Instant::now() >= until {
                tracing::warn!(%topic, "partitions still without a ready leader; going on");
                return;
            }
            std::thread::sleep(Duration::from_millis(200));
        }
    }
}

/// Publishes with acks=all and idempotence, waiting for the broker's acknowledgement.
#[derive(Clone)]
pub struct KafkaProducer {
    config: BusConfig,
    producer: FutureProducer,
}

impl std::fmt::Debug for KafkaProducer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("KafkaProducer")
            .field("bootstrap", &self.config.kafka_bootstrap)
            .finish_non_exhaustive()
    }
}

impl KafkaProducer {
    pub async fn connect(config: &BusConfig) -> Result<Self, BusError> {
        ensure_topics(config, &[]).await?;
        let producer: FutureProducer = producer_config(config)?
            .create()
            .map_err(kafka_err("producer", config.member()))?;
        let topics: Vec<String> = config.topics.iter().map(|t| config.physical(t)).collect();
        let client = producer.clone();
        blocking("wait for leaders", move || {
            wait_for_leaders(&client, &topics, LEADER_WAIT)
        })
        .await;
        Ok(KafkaProducer {
            config: config.clone(),
            producer,
        })
    }

    pub async fn publish(&self, message: Outgoing) -> Result<String, BusError> {
        let topic = self.config.physical(&message.topic);
        let record = FutureRecord::to(&topic)
            .key(&message.key)
            .payload(&message.payload);
        match self
            .producer
            .send(record, Timeout::After(self.config.request_timeout * 6))
            .await
        {
            Ok(delivery) => Ok(format!("{}:{}", delivery.partition, delivery.offset)),
            Err((e, _)) => Err(kafka_err("produce", topic)(e)),
        }
    }
}
