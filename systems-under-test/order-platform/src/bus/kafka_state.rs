//! Counters of a Kafka-backed service, kept in memory per partition (the partition is
//! the state shard: every event of one order lands in the same partition number of
//! every topic) and written to a changelog topic, `{namespace}.{service}-changelog`,
//! with the same partition numbers. A member that is assigned a partition restores its
//! counters from the changelog before processing it, as Kafka Streams does.

use std::collections::HashMap;
use std::time::{Duration, Instant};

use rdkafka::consumer::{BaseConsumer, Consumer};
use rdkafka::{ClientConfig, Message, Offset, TopicPartitionList};

use super::{BusError, Change};

/// Separates key and field in a changelog record's key.
const SEP: char = '\u{1f}';
/// How long one attempt at a changelog partition's end offsets may take.
const WATERMARK_ATTEMPT: Duration = Duration::from_secs(3);

#[derive(Debug, Default)]
pub(crate) struct Counters {
    shards: HashMap<i32, HashMap<(String, String), i64>>,
}

impl Counters {
    pub fn get(&self, partition: i32, key: &str, field: &str) -> i64 {
        self.shards
            .get(&partition)
            .and_then(|s| s.get(&(key.to_string(), field.to_string())))
            .copied()
            .unwrap_or(0)
    }

    /// The values `changes` would produce, or `None` if a floor would be crossed.
    /// Changes to the same counter accumulate.
    pub fn preview(
        &self,
        partition: i32,
        changes: &[Change],
    ) -> Option<Vec<(String, String, i64)>> {
        let mut next: Vec<(String, String, i64)> = Vec::new();
        for c in changes {
            let current = next
                .iter()
                .rev()
                .find(|(k, f, _)| *k == c.key && *f == c.field)
                .map(|(_, _, v)| *v)
                .unwrap_or_else(|| self.get(partition, &c.key, &c.field));
            let value = current + c.delta;
            if c.floor.is_some_and(|floor| value < floor) {
                return None;
            }
            next.push((c.key.clone(), c.field.clone(), value));
        }
        Some(next)
    }

    pub fn set(&mut self, partition: i32, key: String, field: String, value: i64) {
        self.shards
            .entry(partition)
            .or_default()
            .insert((key, field), value);
    }

    pub fn drop_partition(&mut self, partition: i32) {
        self.shards.remove(&partition);
    }

    pub fn record_key(key: &str, field: &str) -> String {
        format!("{key}{SEP}{field}")
    }

    /// Rebuilds one partition's counters from the changelog (committed records only),
    /// reading up to the end as it is now. Blocking: run on a blocking thread.
    pub fn restore(
        &mut self,
        client: &ClientConfig,
        changelog: &str,
        partition: i32,
        timeout: Duration,
    ) -> Result<usize, BusError> {
        let kafka = |op| {
            let target = format!("{changelog}[{partition}]");
            move |source| BusError::Kafka { op, target, source }
        };
        // One attempt at the end offsets may wait on a leader that just died (its
        // metadata is stale for the attempt's lifetime): retry with a fresh client.
        let deadline = Instant::now() + timeout;
        let (consumer, low, high) = loop {
            let consumer: BaseConsumer = client
                .clone()
                .set("enable.auto.commit", "false")
                .set("isolation.level", "read_committed")
                .set("group.id", format!("{changelog}-restore"))
                .create()
                .map_err(kafka("restore consumer"))?;
            let left = deadline.saturating_duration_since(Instant::now());
            match consumer.fetch_watermarks(changelog, partition, left.min(WATERMARK_ATTEMPT)) {
                Ok((low, high)) => break (consumer, low, high),
                Err(e) if Instant::now() >= deadline => return Err(kafka("watermarks")(e)),
                Err(e) => {
                    tracing::info!(%changelog, partition, error = %e, "changelog end offsets not available yet; retrying");
                    std::thread::sleep(Duration::from_millis(200));
                }
            }
        };
        let mut shard = HashMap::new();
        let mut read = 0;
        if high > low {
            let mut tpl = TopicPartitionList::new();
            tpl.add_partition_offset(changelog, partition, Offset::Beginning)
                .map_err(kafka("assign"))?;
            consumer.assign(&tpl).map_err(kafka("assign"))?;
            loop {
                // Position, not the last offset read: transaction markers take offsets too.
                let position = consumer.position().ok().and_then(|p| {
                    p.find_partition(changelog, partition)
                        .and_then(|e| e.offset().to_raw())
                });
                if position.is_some_and(|p| p >= high) {
                    break;
                }
                if Instant::now() >= deadline {
                    return Err(BusError::Timeout {
                        op: "changelog restore",
                        target: format!("{changelog}[{partition}]"),
                        after: timeout,
                    });
                }
                let Some(message) = consumer.poll(Duration::from_millis(200)) else {
                    continue;
                };
                let message = message.map_err(kafka("restore poll"))?;
                let (Some(key), Some(value)) = (message.key(), message.payload()) else {
                    continue;
                };
                let key = String::from_utf8_lossy(key);
                let Some((k, f)) = key.split_once(SEP) else {
                    continue;
                };
                let Ok(value) = String::from_utf8_lossy(value).parse::<i64>() else {
                    continue;
                };
                shard.insert((k.to_string(), f.to_string()), value);
                read += 1;
            }
        }
        self.shards.insert(partition, shard);
        Ok(read)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn change(key: &str, delta: i64, floor: Option<i64>) -> Change {
        Change {
            key: key.into(),
            field: "available".into(),
            delta,
            floor,
        }
    }

    #[test]
    fn preview_accumulates_and_respects_floors() {
        let mut counters = Counters::default();
        counters.set(0, "sku-1".into(), "available".into(), 5);
        let ok = counters.preview(
            0,
            &[change("sku-1", -3, Some(0)), change("sku-1", -2, Some(0))],
        );
        assert_eq!(ok.expect("fits").last().map(|v| v.2), Some(0));
        assert!(
            counters
                .preview(
                    0,
                    &[change("sku-1", -3, Some(0)), change("sku-1", -3, Some(0))]
                )
                .is_none()
        );
        // Another partition is another shard.
        assert!(
            counters
                .preview(1, &[change("sku-1", -1, Some(0))])
                .is_none()
        );
        assert_eq!(
            counters.get(0, "sku-1", "available"),
            5,
            "preview changes nothing"
        );
    }
}
