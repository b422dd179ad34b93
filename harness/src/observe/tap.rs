//! The tap: reads every topic of the deployment from the beginning on the DIRECT
//! endpoints and records one observation per message read, and every dead-letter
//! stream/topic (`dlq.<service>`), recording one `dead_letter` line per record.

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use check::{DeadLetterRecord, Observation};
use events::{Envelope, Service, Topic};
use order_platform::bus::{BusConfig, Delivery, Reader, StartPositions};
use order_platform::resilience::DeadLetter;

use super::read_log::PartitionLog;
use crate::experiment::Shard;
use crate::journal::Recorder;
use crate::stop::Stop;

/// The topics the tap reads: every topic of the platform ([`Topic::ALL`]).
pub const TOPICS: [&str; Topic::ALL.len()] = {
    let mut out = [""; Topic::ALL.len()];
    let mut i = 0;
    while i < out.len() {
        out[i] = Topic::ALL[i].as_str();
        i += 1;
    }
    out
};

/// The dead-letter streams/topics the tap reads too: one per consuming service.
pub fn dead_letter_topics() -> Vec<String> {
    Service::ALL.iter().map(|s| s.dead_letter_topic()).collect()
}

/// A dead-letter record as a history line; `None` when the bytes are not one.
fn dead_letter_line(d: &Delivery, observed_us: u64) -> Option<DeadLetterRecord> {
    let letter = DeadLetter::from_json(&d.payload).ok()?;
    Some(DeadLetterRecord {
        // The failed input's own key when it is an envelope; else the entry's key.
        order_id: letter.original_key().or_else(|| d.key.clone()),
        service: letter.service.clone(),
        reason_kind: letter.reason.kind.name().to_owned(),
        reason: letter.reason.message,
        attempts: letter.attempts,
        input_event_id: letter.original_event_id,
        input_topic: letter.original_topic,
        observed_us,
    })
}

/// What the tap knows so far, for the drain phase and the progress line.
#[derive(Debug, Default)]
pub struct TapState {
    pub observed: u64,
    /// Messages that were not envelopes (poison): read, not recorded.
    pub undecodable: u64,
    /// Events of other shards' orders (`--shard`): read, not recorded.
    pub other_shards: u64,
    /// Dead-letter records read (each recorded as a `dead_letter` line).
    pub dead_letters: u64,
    /// What was read per (topic, partition), envelopes or not: the distinct entries
    /// (what an independent reader of the same topic should count) and, on Kafka, the
    /// offsets read — a group's lag counts those at or after its committed offset, so
    /// transaction markers (an offset each, nothing to read) are not backlog.
    pub read: BTreeMap<(String, i32), PartitionLog>,
    /// The next position the tap will read per (topic, partition); `None` before it
    /// read anything there ([`Reader::positions`]).
    pub next: BTreeMap<(String, i32), Option<String>>,
    /// Redis: entries of each topic written before the tap's start (an external
    /// platform's earlier history), which it does not read and which are no backlog.
    pub skipped: BTreeMap<String, u64>,
    /// The topics the tap reads (logical names), over which its own lag is sampled;
    /// empty: the catalog's ([`TOPICS`]).
    pub topics: Vec<String>,
}

impl TapState {
    /// Entries read in `partition` of `topic` at or after `offset` (Kafka).
    pub fn read_since(&self, topic: &str, partition: i32, offset: i64) -> u64 {
        self.read
            .get(&(topic.to_string(), partition))
            .map_or(0, |log| log.read_since(offset))
    }

    /// Distinct entries read of `topic`, all partitions.
    pub fn entries(&self, topic: &str) -> u64 {
        self.read
            .iter()
            .filter(|((t, _), _)| t == topic)
            .map(|(_, log)| log.distinct())
            .sum()
    }
}

/// Where `topics` end now, to start the tap there: what an external platform wrote
/// before the run is none of the run's orders (read, its `OrderPlaced`s would be
/// phantoms). Sets the tap's `next` positions (and, on Redis, `skipped`) accordingly.
/// Kafka: each partition's high watermark; Redis: each stream's last id. A topic that
/// does not exist yet is read from its beginning.
pub async fn ends(
    config: &BusConfig,
    topics: &[String],
    state: &Mutex<TapState>,
) -> Result<StartPositions, String> {
    let mut start = StartPositions::new();
    // The dead-letter streams/topics too: earlier runs' dead letters are not this run's.
    let mut topics = topics.to_vec();
    topics.extend(dead_letter_topics());
    let topics = &topics[..];
    match config.backend {
        events::Backend::Kafka => {
            let (config, topics) = (config.clone(), topics.to_vec());
            start = tokio::task::spawn_blocking(move || kafka_ends(&config, &topics))
                .await
                .map_err(|e| e.to_string())??;
            let mut s = state.lock().map_err(|e| e.to_string())?;
            for (key, offset) in &start {
                s.next.insert(key.clone(), Some(offset.clone()));
            }
        }
        events::Backend::Redis => {
            let client = connect::redis_client(&config.redis_url, &config.redis_security)
                .map_err(|e| e.to_string())?;
            let mut conn = client
                .get_multiplexed_async_connection()
                .await
                .map_err(|e| format!("redis {}: {e}", config.redis_url))?;
            for topic in topics {
                let info: redis::RedisResult<BTreeMap<String, redis::Value>> = redis::cmd("XINFO")
                    .arg("STREAM")
                    .arg(config.physical(topic))
                    .query_async(&mut conn)
                    .await;
                let info = match info {
                    Ok(info) => info,
                    // No such stream yet: read from its beginning when it comes.
                    Err(e) if e.to_string().contains("no such key") => continue,
                    // Anything else (no permission, a timeout) would read the system's
                    // whole history as this run's: refused.
                    Err(e) => return Err(format!("XINFO STREAM {}: {e}", config.physical(topic))),
                };
                let text = |name: &str| match info.get(name) {
                    Some(redis::Value::BulkString(b)) => {
                        Some(String::from_utf8_lossy(b).into_owned())
                    }
                    Some(redis::Value::SimpleString(s)) => Some(s.clone()),
                    _ => None,
                };
                let added = match info.get("entries-added") {
                    Some(redis::Value::Int(n)) => u64::try_from(*n).unwrap_or(0),
                    _ => 0,
                };
                let Some(last) = text("last-generated-id") else {
                    continue;
                };
                let mut s = state.lock().map_err(|e| e.to_string())?;
                s.next.insert(
                    (topic.clone(), 0),
                    order_platform::bus::next_stream_id(&last),
                );
                s.skipped.insert(topic.clone(), added);
                start.insert((topic.clone(), 0), last);
            }
        }
    }
    Ok(start)
}

/// Each existing partition's high watermark, by (logical topic, partition).
fn kafka_ends(config: &BusConfig, topics: &[String]) -> Result<StartPositions, String> {
    use rdkafka::consumer::Consumer;
    let consumer = connect::metadata_consumer(&config.kafka_bootstrap, &config.kafka_security)?;
    let timeout = Duration::from_secs(10);
    let metadata = consumer
        .fetch_metadata(None, timeout)
        .map_err(|e| format!("metadata from {}: {e}", config.kafka_bootstrap))?;
    let mut out = StartPositions::new();
    for topic in topics {
        let physical = config.physical(topic);
        let Some(found) = metadata.topics().iter().find(|t| t.name() == physical) else {
            continue;
        };
        for partition in found.partitions() {
            let (_, high) = consumer
                .fetch_watermarks(&physical, partition.id(), timeout)
                .map_err(|e| format!("end of {physical}/{}: {e}", partition.id()))?;
            out.insert((topic.clone(), partition.id()), high.to_string());
        }
    }
    Ok(out)
}

/// Reads `topics` (logical names) and every dead-letter topic from `start` (see
/// [`ends`]; empty: from their beginning) until `stop`, recording observations; with
/// `shard`, only those of the events and dead letters of its own orders (by the order an
/// event belongs to, its envelope's correlation id; a dead letter without a key goes to
/// the first shard).
pub async fn run(
    config: BusConfig,
    topics: Vec<String>,
    start: StartPositions,
    recorder: Arc<Recorder>,
    state: Arc<Mutex<TapState>>,
    shard: Option<Shard>,
    stop: Stop,
) {
    let mine = |order: Option<&str>| match (shard, order) {
        (None, _) => true,
        (Some(s), Some(order)) => s.owns(order),
        (Some(s), None) => s.index == 0,
    };
    let dlq = dead_letter_topics();
    let mut topics: Vec<&str> = topics.iter().map(String::as_str).collect();
    topics.extend(dlq.iter().map(String::as_str));
    let mut reader = loop {
        match Reader::connect_from(&config, &topics, &start).await {
            Ok(r) => break r,
            Err(e) => {
                tracing::warn!(error = %e, "tap: cannot connect yet");
                tokio::select! {
                    _ = tokio::time::sleep(Duration::from_millis(500)) => {}
                    _ = stop.stopped() => return,
                }
            }
        }
    };
    loop {
        let batch = tokio::select! {
            b = reader.next_batch(2000, Duration::from_millis(200)) => b,
            _ = stop.stopped() => return,
        };
        let batch = match batch {
            Ok(b) => b,
            Err(e) => {
                tracing::warn!(error = %e, "tap: read failed");
                tokio::time::sleep(Duration::from_millis(200)).await;
                continue;
            }
        };
        let observed_us = recorder.now_us();
        let mut observations = Vec::with_capacity(batch.len());
        let mut undecodable = 0;
        let mut other_shards = 0;
        let mut letters = Vec::new();
        // Dead-letter topics are left out of the per-topic counts the cross-check
        // compares with an independent reader of the platform's topics.
        let positions: Vec<(String, i32, String)> = batch
            .iter()
            .filter(|d| !dlq.contains(&d.topic))
            .map(|d| (d.topic.clone(), d.partition, d.position.clone()))
            .collect();
        for d in batch {
            if dlq.contains(&d.topic) {
                match dead_letter_line(&d, observed_us) {
                    Some(line) if mine(line.order_id.as_deref()) => letters.push(line),
                    Some(_) => other_shards += 1,
                    None => undecodable += 1,
                }
                continue;
            }
            let Ok(envelope) = Envelope::from_bytes(&d.payload) else {
                undecodable += 1;
                continue;
            };
            if !mine(Some(&envelope.correlation_id)) {
                other_shards += 1;
                continue;
            }
            observations.push(Observation {
                event_id: envelope.event_id.to_string(),
                event_type: envelope.event_type,
                key: envelope.key,
                seq: envelope.seq,
                causation_id: envelope.causation_id.map(|c| c.to_string()),
                produced_us: recorder.wall_us(envelope.occurred_at),
                observed_us,
                topic: d.topic,
                partition: u32::try_from(d.partition).unwrap_or(0),
                position: d.position,
            });
        }
        let next = reader.positions();
        if let Ok(mut s) = state.lock() {
            s.observed += observations.len() as u64;
            s.undecodable += undecodable;
            s.other_shards += other_shards;
            s.dead_letters += letters.len() as u64;
            for (topic, partition, position) in positions {
                s.read
                    .entry((topic, partition))
                    .or_default()
                    .record(&position);
            }
            // A Kafka reader knows its position only once it has handed out an entry
            // of the partition: until then the start placed by `ends` stands (replaced
            // by "unknown", the tap's lag would count the topic's whole history).
            for (topic, partition, position) in next {
                let slot = s.next.entry((topic, partition)).or_default();
                if position.is_some() {
                    *slot = position;
                }
            }
        }
        recorder.observed(observations, letters);
    }
}
