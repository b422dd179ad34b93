//! A reader of whole topics from the beginning, outside any consumer group: what the
//! read models (and the harness's tap) use. Kafka reads are `read_committed`.

use std::time::Duration;

use futures::FutureExt;
use rdkafka::consumer::{Consumer as _, StreamConsumer};
use rdkafka::message::Message;
use rdkafka::{Offset, TopicPartitionList};
use redis::AsyncCommands;
use redis::aio::ConnectionManager;
use redis::streams::{StreamReadOptions, StreamReadReply};

use super::{Backend, BusConfig, BusError, Delivery};

/// Reads every message of some topics, in order per stream/partition.
pub struct Reader {
    config: BusConfig,
    inner: Inner,
}

enum Inner {
    Redis {
        conn: ConnectionManager,
        streams: Vec<(String, String, String)>,
    },
    Kafka {
        consumer: StreamConsumer,
        topics: Vec<(String, String)>,
    },
}

impl std::fmt::Debug for Reader {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Reader")
            .field("backend", &self.config.backend)
            .finish_non_exhaustive()
    }
}

/// Where a [`Reader`] starts in each (logical topic, partition): a Kafka offset, or on
/// Redis the stream id to read *after*. Missing entries start at the beginning.
pub type StartPositions = std::collections::BTreeMap<(String, i32), String>;

impl Reader {
    /// A reader of `topics` from their beginning.
    pub async fn connect(config: &BusConfig, topics: &[&str]) -> Result<Self, BusError> {
        Self::connect_from(config, topics, &StartPositions::new()).await
    }

    /// A reader of `topics` from `start` (what a reader must not see again, e.g. what a
    /// long-running system wrote before a run, is skipped).
    pub async fn connect_from(
        config: &BusConfig,
        topics: &[&str],
        start: &StartPositions,
    ) -> Result<Self, BusError> {
        let inner = match config.backend {
            Backend::Redis => {
                let client = connect::redis_client(&config.redis_url, &config.redis_security)?;
                let manager = redis::aio::ConnectionManagerConfig::new()
                    .set_connection_timeout(Some(config.request_timeout))
                    .set_response_timeout(Some(config.request_timeout + Duration::from_secs(2)));
                let conn = redis::aio::ConnectionManager::new_with_config(client, manager)
                    .await
                    .map_err(|source| BusError::Redis {
                        op: "connect",
                        target: config.redis_url.clone(),
                        source,
                    })?;
                let streams = topics
                    .iter()
                    .map(|t| {
                        let from = start.get(&(t.to_string(), 0)).cloned();
                        (
                            t.to_string(),
                            config.physical(t),
                            from.unwrap_or("0".into()),
                        )
                    })
                    .collect();
                Inner::Redis { conn, streams }
            }
            Backend::Kafka => {
                let consumer: StreamConsumer =
                    connect::kafka_config(&config.kafka_bootstrap, &config.kafka_security)?
                        .set(
                            "group.id",
                            format!(
                                "{}.reader.{}",
                                config.namespace,
                                uuid::Uuid::new_v4().simple()
                            ),
                        )
                        .set("enable.auto.commit", "false")
                        .set("isolation.level", "read_committed")
                        // A partition whose topic does not exist yet at assignment fails its
                        // offset lookup and falls back to this: the start, or the reader
                        // would miss what is written before it looks again.
                        .set("auto.offset.reset", "earliest")
                        .set("log_level", "4")
                        .create()
                        .map_err(|source| BusError::Kafka {
                            op: "reader",
                            target: config.kafka_bootstrap.clone(),
                            source,
                        })?;
                let mut assignment = TopicPartitionList::new();
                let physical: Vec<(String, String)> = topics
                    .iter()
                    .map(|t| (t.to_string(), config.physical(t)))
                    .collect();
                for (logical, topic) in &physical {
                    for partition in 0..config.partitions {
                        let offset = start
                            .get(&(logical.clone(), partition))
                            .and_then(|o| o.parse().ok())
                            .map_or(Offset::Beginning, Offset::Offset);
                        assignment
                            .add_partition_offset(topic, partition, offset)
                            .map_err(|source| BusError::Kafka {
                                op: "assign",
                                target: topic.clone(),
                                source,
                            })?;
                    }
                }
                consumer
                    .assign(&assignment)
                    .map_err(|source| BusError::Kafka {
                        op: "assign",
                        target: config.kafka_bootstrap.clone(),
                        source,
                    })?;
                Inner::Kafka {
                    consumer,
                    topics: physical,
                }
            }
        };
        Ok(Reader {
            config: config.clone(),
            inner,
        })
    }

    /// Where the reader stands: per (logical topic, partition), the position of the
    /// next entry it will read. Kafka: the consumer's position (past transaction
    /// markers and aborted records it skipped), `None` before its first fetch of that
    /// partition. Redis: the id just after the last one read (`<ms>-<seq+1>`), `None`
    /// before the first.
    pub fn positions(&self) -> Vec<(String, i32, Option<String>)> {
        match &self.inner {
            Inner::Redis { streams, .. } => streams
                .iter()
                .map(|(logical, _, last)| (logical.clone(), 0, next_stream_id(last)))
                .collect(),
            Inner::Kafka { consumer, topics } => {
                let Ok(list) = consumer.position() else {
                    return Vec::new();
                };
                list.elements()
                    .iter()
                    .filter_map(|e| {
                        let logical = topics.iter().find(|(_, p)| p == e.topic())?.0.clone();
                        let next = match e.offset() {
                            Offset::Offset(n) => Some(n.to_string()),
                            _ => None,
                        };
                        Some((logical, e.partition(), next))
                    })
                    .collect()
            }
        }
    }

    /// Up to `max` messages, waiting at most `wait` for the first.
    pub async fn next_batch(
        &mut self,
        max: usize,
        wait: Duration,
    ) -> Result<Vec<Delivery>, BusError> {
        match &mut self.inner {
            Inner::Redis { conn, streams } => {
                let keys: Vec<String> = streams.iter().map(|(_, p, _)| p.clone()).collect();
                let ids: Vec<String> = streams.iter().map(|(_, _, id)| id.clone()).collect();
                let wait = wait.min(self.config.request_timeout);
                let options = StreamReadOptions::default()
                    .count(max)
                    .block(wait.as_millis().max(1) as usize);
                let reply: Option<StreamReadReply> = conn
                    .xread_options(&keys, &ids, &options)
                    .await
                    .map_err(|source| BusError::Redis {
                        op: "XREAD",
                        target: keys.join(","),
                        source,
                    })?;
                let mut out = Vec::new();
                for stream in reply.map(|r| r.keys).unwrap_or_default() {
                    let Some(slot) = streams.iter_mut().find(|(_, p, _)| *p == stream.key) else {
                        continue;
                    };
                    for entry in &stream.ids {
                        let field = |name: &str| match entry.map.get(name) {
                            Some(redis::Value::BulkString(b)) => Some(b.clone()),
                            _ => None,
                        };
                        out.push(Delivery {
                            topic: slot.0.clone(),
                            partition: 0,
                            position: entry.id.clone(),
                            key: field("key").map(|k| String::from_utf8_lossy(&k).into_owned()),
                            payload: field("payload").unwrap_or_default(),
                            deliveries: 1,
                        });
                        slot.2 = entry.id.clone();
                    }
                }
                Ok(out)
            }
            Inner::Kafka { consumer, topics } => {
                let mut out = Vec::new();
                let first = match tokio::time::timeout(wait, consumer.recv()).await {
                    Err(_) => return Ok(out),
                    Ok(m) => m.map_err(|source| BusError::Kafka {
                        op: "read",
                        target: "reader".into(),
                        source,
                    })?,
                };
                let to_delivery = |m: &rdkafka::message::BorrowedMessage<'_>| Delivery {
                    topic: topics
                        .iter()
                        .find(|(_, p)| p == m.topic())
                        .map(|(l, _)| l.clone())
                        .unwrap_or_default(),
                    partition: m.partition(),
                    position: m.offset().to_string(),
                    key: m.key().map(|k| String::from_utf8_lossy(k).into_owned()),
                    payload: m.payload().map(<[u8]>::to_vec).unwrap_or_default(),
                    deliveries: 1,
                };
                out.push(to_delivery(&first));
                drop(first);
                while out.len() < max {
                    let Some(next) = consumer.recv().now_or_never() else {
                        break;
                    };
                    match next {
                        Ok(m) => out.push(to_delivery(&m)),
                        // What was read so far is handed out: returning the error
                        // instead dropped those entries, and the position had moved
                        // past them (the tap missed the first entries of partitions
                        // while a topic it reads did not exist yet).
                        Err(e) => {
                            tracing::warn!(error = %e, "read failed after part of a batch");
                            break;
                        }
                    }
                }
                Ok(out)
            }
        }
    }
}

/// The smallest stream id after `id` (`1700000000000-3` → `1700000000000-4`); `None`
/// for the reader's starting point `0` (nothing read yet) or a malformed id.
pub fn next_stream_id(id: &str) -> Option<String> {
    let (ms, seq) = id.split_once('-')?;
    let (ms, seq): (u64, u64) = (ms.parse().ok()?, seq.parse().ok()?);
    Some(match seq.checked_add(1) {
        Some(next) => format!("{ms}-{next}"),
        None => format!("{}-0", ms.checked_add(1)?),
    })
}

#[cfg(test)]
mod tests {
    use super::next_stream_id;

    #[test]
    fn the_next_stream_id_is_just_after() {
        assert_eq!(next_stream_id("0").as_deref(), None);
        assert_eq!(next_stream_id("5-0").as_deref(), Some("5-1"));
        assert_eq!(
            next_stream_id(&format!("7-{}", u64::MAX)).as_deref(),
            Some("8-0")
        );
        assert_eq!(next_stream_id("x-1"), None);
    }
}
