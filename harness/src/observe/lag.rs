//! Consumer lag, once a second per consumer group, and the tap's own backlog.
//!
//! - **Kafka**: per partition the group reads, its committed offset (recorded as its
//!   position) and its lag: the readable entries at or after that offset. The tap knows
//!   which offsets hold entries; beyond what it has read, the partition's end
//!   (the last stable offset: the watermarks are asked `read_committed`) counts whole.
//!   So a transaction's commit marker, which takes an offset and holds nothing, is not
//!   counted as backlog, and an exactly-once group that has caught up shows 0.
//! - **Redis**: `XINFO GROUPS` lag and pending entries, summed over the group's
//!   streams; its position per stream is the oldest pending entry, or with nothing
//!   pending the id just after the last delivered one.
//! - **The tap** (group [`check::TAP_GROUP`]): entries written but not yet read, and
//!   the next position it will read per partition.

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use check::{GroupPosition, LagSample, TAP_GROUP};
use events::Service;
use order_platform::bus::{Backend, BusConfig, next_stream_id};
use rdkafka::consumer::{BaseConsumer, Consumer};
use rdkafka::{Offset, TopicPartitionList};

use super::tap::TapState;
use crate::journal::Recorder;
use crate::stop::Stop;

/// Each consuming service and the topics its group reads: the platform's
/// subscriptions, derived from the events catalog ([`Service::subscriptions`]).
fn subscribed_groups() -> impl Iterator<Item = (&'static str, Vec<&'static str>)> {
    Service::ALL.iter().map(|s| {
        let topics = s.subscriptions().into_iter().map(|t| t.as_str()).collect();
        (s.name(), topics)
    })
}

/// One group's sample before it is stamped.
#[derive(Debug, Default)]
struct Sample {
    lag: u64,
    pending: Option<u64>,
    positions: Vec<GroupPosition>,
}

/// The connections a sampler keeps from one second to the next.
#[derive(Default)]
struct Clients {
    redis: Option<redis::aio::ConnectionManager>,
    kafka: Option<KafkaGroups>,
}

/// Samples every second until `stop`.
pub async fn run(
    config: BusConfig,
    recorder: Arc<Recorder>,
    tap: Arc<Mutex<TapState>>,
    stop: Stop,
) {
    let mut ticks = stop.every(Duration::from_secs(1));
    let mut clients = Clients::default();
    while ticks.next().await {
        sample(&config, &recorder, &tap, &mut clients).await;
    }
}

/// Takes one sample of every group and the tap now, with connections of its own: the
/// drain's last word on where each group stands, so the checker's in-flight rule
/// reads positions taken at the drain's end rather than up to a second before.
pub async fn sample_once(config: &BusConfig, recorder: &Recorder, tap: &Arc<Mutex<TapState>>) {
    sample(config, recorder, tap, &mut Clients::default()).await;
}

async fn sample(
    config: &BusConfig,
    recorder: &Recorder,
    tap: &Arc<Mutex<TapState>>,
    clients: &mut Clients,
) {
    let t_us = recorder.now_us();
    let samples = match config.backend {
        Backend::Redis => redis_lag(config, &mut clients.redis, tap).await,
        Backend::Kafka => {
            let groups = clients
                .kafka
                .get_or_insert_with(|| kafka_groups(config))
                .clone();
            let tap = tap.clone();
            let tapped = tapped_partitions(config, &tap);
            tokio::task::spawn_blocking(move || kafka_lag(&groups, &tap, &tapped))
                .await
                .unwrap_or_default()
        }
    };
    recorder.lags(
        samples
            .into_iter()
            .map(|(group, s)| LagSample {
                t_us,
                group,
                lag: s.lag,
                pending: s.pending,
                positions: s.positions,
            })
            .collect(),
    );
}

fn text(value: Option<&redis::Value>) -> Option<String> {
    match value {
        Some(redis::Value::BulkString(b)) => Some(String::from_utf8_lossy(b).into_owned()),
        Some(redis::Value::SimpleString(s)) => Some(s.clone()),
        _ => None,
    }
}

fn number(value: Option<&redis::Value>) -> u64 {
    match value {
        Some(redis::Value::Int(n)) => u64::try_from(*n).unwrap_or(0),
        _ => 0,
    }
}

async fn redis_lag(
    config: &BusConfig,
    conn: &mut Option<redis::aio::ConnectionManager>,
    tap: &Mutex<TapState>,
) -> Vec<(String, Sample)> {
    if conn.is_none() {
        let client = match connect::redis_client(&config.redis_url, &config.redis_security) {
            Ok(client) => client,
            Err(e) => {
                tracing::warn!(error = %e, "lag sampler: no redis client");
                return Vec::new();
            }
        };
        let manager = redis::aio::ConnectionManagerConfig::new()
            .set_connection_timeout(Some(Duration::from_secs(1)))
            .set_response_timeout(Some(Duration::from_secs(1)));
        *conn = redis::aio::ConnectionManager::new_with_config(client, manager)
            .await
            .ok();
    }
    let Some(conn) = conn.as_mut() else {
        return Vec::new();
    };
    let mut out: BTreeMap<String, Sample> = BTreeMap::new();
    for (service, topics) in subscribed_groups() {
        for topic in topics {
            let stream = config.physical(topic);
            let groups: redis::RedisResult<Vec<BTreeMap<String, redis::Value>>> =
                redis::cmd("XINFO")
                    .arg("GROUPS")
                    .arg(&stream)
                    .query_async(conn)
                    .await;
            for group in groups.unwrap_or_default() {
                if text(group.get("name")).as_deref() != Some(service) {
                    continue;
                }
                let pending = number(group.get("pending"));
                let next = if pending > 0 {
                    // XPENDING's summary: [count, smallest id, greatest id, consumers].
                    let summary: redis::RedisResult<redis::Value> = redis::cmd("XPENDING")
                        .arg(&stream)
                        .arg(service)
                        .query_async(conn)
                        .await;
                    match summary {
                        Ok(redis::Value::Array(items)) => text(items.get(1)),
                        _ => None,
                    }
                } else {
                    text(group.get("last-delivered-id")).and_then(|id| next_stream_id(&id))
                };
                let sample = out.entry(service.to_string()).or_default();
                sample.lag += number(group.get("lag"));
                *sample.pending.get_or_insert(0) += pending;
                if let Some(next) = next {
                    sample.positions.push(GroupPosition {
                        topic: topic.to_string(),
                        partition: 0,
                        next,
                    });
                }
            }
        }
    }
    // The tap: entries added to each stream minus the entries it has read there.
    let mut tap_sample = Sample {
        pending: Some(0),
        ..Sample::default()
    };
    let mut complete = true;
    let tapped: Vec<String> = match tap.lock().map(|s| s.topics.clone()) {
        Ok(topics) if !topics.is_empty() => topics,
        _ => super::tap::TOPICS.iter().map(|t| t.to_string()).collect(),
    };
    for topic in &tapped {
        let topic = topic.as_str();
        let info: redis::RedisResult<BTreeMap<String, redis::Value>> = redis::cmd("XINFO")
            .arg("STREAM")
            .arg(config.physical(topic))
            .query_async(conn)
            .await;
        let added = match info {
            Ok(info) => number(info.get("entries-added")),
            // No such stream yet: nothing written, nothing to read.
            Err(e) if matches!(e.kind(), redis::ErrorKind::Server(_)) => 0,
            Err(_) => {
                complete = false;
                continue;
            }
        };
        let Ok(state) = tap.lock() else { continue };
        let read = state.entries(topic);
        let skipped = state.skipped.get(topic).copied().unwrap_or(0);
        tap_sample.lag += added.saturating_sub(read + skipped);
        if let Some(Some(next)) = state.next.get(&(topic.to_string(), 0)) {
            tap_sample.positions.push(GroupPosition {
                topic: topic.to_string(),
                partition: 0,
                next: next.clone(),
            });
        }
    }
    let mut samples: Vec<(String, Sample)> = out.into_iter().collect();
    if complete {
        samples.push((TAP_GROUP.to_string(), tap_sample));
    }
    samples
}

/// One client per consumer group (created once, reused every second) with the
/// partitions its group reads, as (physical, logical) topic names.
type KafkaGroups = Arc<
    Vec<(
        String,
        BaseConsumer,
        TopicPartitionList,
        Vec<(String, String)>,
    )>,
>;

fn kafka_groups(config: &BusConfig) -> KafkaGroups {
    let mut groups = Vec::new();
    for (service, topics) in subscribed_groups() {
        let mut client =
            match connect::kafka_config(&config.kafka_bootstrap, &config.kafka_security) {
                Ok(client) => client,
                Err(e) => {
                    tracing::warn!(error = %e, "lag sampler: no kafka client");
                    return Arc::new(groups);
                }
            };
        let consumer: Result<BaseConsumer, _> = client
            .set("group.id", format!("{}.{service}", config.namespace))
            .set("enable.auto.commit", "false")
            // The end of a partition as a read_committed reader sees it: the last
            // stable offset, not entries of a transaction still open.
            .set("isolation.level", "read_committed")
            .set("log_level", "3")
            .create();
        let Ok(consumer) = consumer else { continue };
        let mut tpl = TopicPartitionList::new();
        let names: Vec<(String, String)> = topics
            .iter()
            .map(|t| (config.physical(t), t.to_string()))
            .collect();
        for (physical, _) in &names {
            for p in 0..config.partitions {
                tpl.add_partition(physical, p);
            }
        }
        groups.push((service.to_string(), consumer, tpl, names));
    }
    Arc::new(groups)
}

/// The partitions the tap reads, as ((logical topic, partition), physical topic): its
/// own lag is sampled over these, whichever group reads them.
fn tapped_partitions(config: &BusConfig, tap: &Mutex<TapState>) -> Vec<((String, i32), String)> {
    let topics = tap.lock().map(|s| s.topics.clone()).unwrap_or_default();
    let topics: Vec<String> = if topics.is_empty() {
        super::tap::TOPICS.iter().map(|t| t.to_string()).collect()
    } else {
        topics
    };
    topics
        .iter()
        .flat_map(|t| (0..config.partitions).map(move |p| ((t.clone(), p), config.physical(t))))
        .collect()
}

fn kafka_lag(
    groups: &KafkaGroups,
    tap: &Mutex<TapState>,
    tapped: &[((String, i32), String)],
) -> Vec<(String, Sample)> {
    let timeout = Duration::from_secs(2);
    let mut out = Vec::new();
    // (logical topic, partition) → (low, end): asked once per partition per second.
    let mut ends: BTreeMap<(String, i32), (i64, i64)> = BTreeMap::new();
    for (service, consumer, tpl, names) in groups.iter() {
        let Ok(committed) = consumer.committed_offsets(tpl.clone(), timeout) else {
            continue;
        };
        let mut sample = Sample::default();
        let mut complete = true;
        for element in committed.elements() {
            let Some((_, logical)) = names.iter().find(|(p, _)| p == element.topic()) else {
                continue;
            };
            let key = (logical.clone(), element.partition());
            let (low, end) = match ends.get(&key) {
                Some(known) => *known,
                None => {
                    match consumer.fetch_watermarks(element.topic(), element.partition(), timeout) {
                        Ok(known) => *ends.entry(key.clone()).or_insert(known),
                        Err(_) => {
                            complete = false;
                            continue;
                        }
                    }
                }
            };
            let position = match element.offset() {
                Offset::Offset(o) => o,
                _ => low,
            };
            let Ok(state) = tap.lock() else { continue };
            let tap_next = tap_next(&state, &key, low);
            // Entries the tap has read at or after the group's position, and
            // everything the tap has not read yet.
            let read = if position < tap_next {
                state.read_since(logical, element.partition(), position)
            } else {
                0
            };
            sample.lag += read + u64::try_from(end - tap_next.max(position)).unwrap_or(0);
            sample.positions.push(GroupPosition {
                topic: logical.clone(),
                partition: u32::try_from(element.partition()).unwrap_or(0),
                next: position.to_string(),
            });
        }
        if complete {
            out.push((service.clone(), sample));
        }
    }
    // The tap, over every partition it reads: those no group reads are asked here (a
    // system's topic without a known group would otherwise look caught up). Without
    // every partition's end there is no tap sample this second.
    let Some((_, consumer, _, _)) = groups.first() else {
        return out;
    };
    for (key, physical) in tapped {
        if ends.contains_key(key) {
            continue;
        }
        match consumer.fetch_watermarks(physical, key.1, timeout) {
            Ok(known) => {
                ends.insert(key.clone(), known);
            }
            // A topic not created yet holds nothing to read.
            Err(rdkafka::error::KafkaError::MetadataFetch(_)) => {}
            Err(e)
                if e.to_string().contains("Unknown topic")
                    || e.to_string().contains("UnknownTopic") => {}
            Err(_) => return out,
        }
    }
    let tapped_keys: std::collections::BTreeSet<&(String, i32)> =
        tapped.iter().map(|(k, _)| k).collect();
    let Ok(state) = tap.lock() else { return out };
    ends.retain(|key, _| tapped_keys.contains(key));
    if !ends.is_empty() {
        let mut sample = Sample::default();
        for (key, (low, end)) in &ends {
            let next = tap_next(&state, key, *low);
            sample.lag += u64::try_from(end - next).unwrap_or(0);
            sample.positions.push(GroupPosition {
                topic: key.0.clone(),
                partition: u32::try_from(key.1).unwrap_or(0),
                next: next.to_string(),
            });
        }
        out.push((TAP_GROUP.to_string(), sample));
    }
    out
}

/// The tap's next offset in a partition: its position, or the partition's start
/// before it has fetched there.
fn tap_next(state: &TapState, key: &(String, i32), low: i64) -> i64 {
    match state.next.get(key) {
        Some(Some(next)) => next.parse().unwrap_or(low),
        _ => low,
    }
}
