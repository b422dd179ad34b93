//! Consumer lag, once a second per consumer group: Kafka end offsets minus the group's
//! committed offsets (summed over its partitions); Redis `XINFO GROUPS` lag and pending
//! entries (summed over its streams).

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

use check::LagSample;
use events::Service;
use order_platform::bus::{Backend, BusConfig};
use rdkafka::consumer::{BaseConsumer, Consumer};
use rdkafka::{ClientConfig, Offset, TopicPartitionList};

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

/// Samples every second until `stop`.
pub async fn run(config: BusConfig, recorder: Arc<Recorder>, stop: Stop) {
    let mut ticks = stop.every(Duration::from_secs(1));
    let mut redis = None;
    let mut kafka: Option<KafkaGroups> = None;
    while ticks.next().await {
        let t_us = recorder.now_us();
        let samples = match config.backend {
            Backend::Redis => redis_lag(&config, &mut redis).await,
            Backend::Kafka => {
                let groups = kafka.get_or_insert_with(|| kafka_groups(&config)).clone();
                tokio::task::spawn_blocking(move || kafka_lag(&groups))
                    .await
                    .unwrap_or_default()
            }
        };
        let mut history = recorder.history();
        for (group, lag, pending) in samples {
            history.lags.push(LagSample {
                t_us,
                group,
                lag,
                pending,
            });
        }
    }
}

async fn redis_lag(
    config: &BusConfig,
    conn: &mut Option<redis::aio::ConnectionManager>,
) -> Vec<(String, u64, Option<u64>)> {
    if conn.is_none() {
        let Ok(client) = redis::Client::open(config.redis_url.as_str()) else {
            return Vec::new();
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
    let mut totals: BTreeMap<String, (u64, u64)> = BTreeMap::new();
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
                let name = match group.get("name") {
                    Some(redis::Value::BulkString(b)) => String::from_utf8_lossy(b).into_owned(),
                    _ => continue,
                };
                if name != service {
                    continue;
                }
                let number = |key: &str| match group.get(key) {
                    Some(redis::Value::Int(n)) => u64::try_from(*n).unwrap_or(0),
                    _ => 0,
                };
                let entry = totals.entry(name).or_default();
                entry.0 += number("lag");
                entry.1 += number("pending");
            }
        }
    }
    totals
        .into_iter()
        .map(|(g, (lag, pending))| (g, lag, Some(pending)))
        .collect()
}

/// One client per consumer group (created once, reused every second) with the
/// partitions its group reads.
type KafkaGroups = Arc<Vec<(String, BaseConsumer, TopicPartitionList)>>;

fn kafka_groups(config: &BusConfig) -> KafkaGroups {
    let mut groups = Vec::new();
    for (service, topics) in subscribed_groups() {
        let consumer: Result<BaseConsumer, _> = ClientConfig::new()
            .set("bootstrap.servers", &config.kafka_bootstrap)
            .set("group.id", format!("{}.{service}", config.namespace))
            .set("enable.auto.commit", "false")
            .set("log_level", "3")
            .create();
        let Ok(consumer) = consumer else { continue };
        let mut tpl = TopicPartitionList::new();
        for topic in topics.iter() {
            for p in 0..config.partitions {
                tpl.add_partition(&config.physical(topic), p);
            }
        }
        groups.push((service.to_string(), consumer, tpl));
    }
    Arc::new(groups)
}

fn kafka_lag(groups: &KafkaGroups) -> Vec<(String, u64, Option<u64>)> {
    let timeout = Duration::from_secs(2);
    let mut out = Vec::new();
    for (service, consumer, tpl) in groups.iter() {
        let Ok(committed) = consumer.committed_offsets(tpl.clone(), timeout) else {
            continue;
        };
        let mut lag = 0u64;
        for element in committed.elements() {
            let Ok((low, high)) =
                consumer.fetch_watermarks(element.topic(), element.partition(), timeout)
            else {
                continue;
            };
            let position = match element.offset() {
                Offset::Offset(o) => o,
                _ => low,
            };
            lag += u64::try_from(high - position).unwrap_or(0);
        }
        out.push((service.clone(), lag, None));
    }
    out
}
