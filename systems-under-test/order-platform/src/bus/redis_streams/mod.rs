//! Redis Streams: one stream per logical topic (`{namespace}:{topic}`), one consumer
//! group per service, one consumer per instance. Entries carry two fields, `key` and
//! `payload`. How a batch is decided and written in a few round trips is in `batch`.

mod batch;

use std::time::{Duration, Instant};

use redis::aio::{ConnectionManager, ConnectionManagerConfig};
use redis::streams::{
    StreamAutoClaimOptions, StreamAutoClaimReply, StreamId, StreamPendingCountReply,
    StreamReadOptions, StreamReadReply,
};
use redis::{AsyncCommands, Script, Value};

use super::{BusConfig, BusError, Delivery, Guarantee, Outgoing};

const APPLY_BATCH: &str = include_str!("lua/apply_batch.lua");
const EXACTLY_ONCE_BATCH: &str = include_str!("lua/exactly_once_batch.lua");

fn redis_err(op: &'static str, target: &str) -> impl FnOnce(redis::RedisError) -> BusError {
    let target = target.to_string();
    move |source| BusError::Redis { op, target, source }
}

/// A connection that reconnects by itself after a fault, with bounded waits.
async fn connect(
    config: &BusConfig,
    response_timeout: Duration,
) -> Result<ConnectionManager, BusError> {
    let client = connect::redis_client(&config.redis_url, &config.redis_security)?;
    let manager_config = ConnectionManagerConfig::new()
        .set_connection_timeout(Some(config.request_timeout))
        .set_response_timeout(Some(response_timeout))
        .set_number_of_retries(2)
        .set_max_delay(Duration::from_millis(500));
    ConnectionManager::new_with_config(client, manager_config)
        .await
        .map_err(redis_err("connect", &config.redis_url))
}

/// The hash holding a service's counters for `key`.
fn state_key(config: &BusConfig, key: &str) -> String {
    format!("{}:state:{}:{key}", config.namespace, config.service)
}

/// One instance's membership of its service's consumer group.
pub struct RedisConsumer {
    config: BusConfig,
    /// Blocking reads get their own connection: a `BLOCK` stalls a connection's pipeline.
    reader: ConnectionManager,
    conn: ConnectionManager,
    /// (logical, physical) per consumed topic.
    streams: Vec<(String, String)>,
    group: String,
    consumer: String,
    /// Re-read our own pending entries (after a restart, a conflict or an error) before
    /// asking for new ones.
    recover_own: bool,
    /// Per stream, the last own pending entry handed out while recovering: recovery
    /// pages through the pending list instead of reading its first entries again, so
    /// entries the service keeps pending on purpose (parked, waiting for state) cannot
    /// stall it.
    recover_after: Vec<String>,
    last_claim: Instant,
    /// At-most-once: deliveries given back unprocessed, handed out by the next poll.
    carried: Vec<Delivery>,
    /// What the current batch read and decided, written by `flush`.
    batch: batch::Batch,
    apply_batch: Script,
    exactly_once_batch: Script,
}

impl std::fmt::Debug for RedisConsumer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RedisConsumer")
            .field("group", &self.group)
            .field("consumer", &self.consumer)
            .field("streams", &self.streams)
            .finish_non_exhaustive()
    }
}

impl RedisConsumer {
    pub async fn connect(config: &BusConfig, topics: &[&str]) -> Result<Self, BusError> {
        // Reads block for at most the poll wait, which stays below this.
        let reader = connect(config, config.request_timeout + Duration::from_secs(2)).await?;
        let mut conn = connect(config, config.request_timeout).await?;
        let group = config.group();
        let streams: Vec<(String, String)> = topics
            .iter()
            .map(|t| (t.to_string(), config.physical(t)))
            .collect();
        for (_, stream) in &streams {
            // From the beginning: entries published before this group existed count too.
            let created: redis::RedisResult<()> =
                conn.xgroup_create_mkstream(stream, &group, "0").await;
            if let Err(e) = created
                && e.code() != Some("BUSYGROUP")
            {
                return Err(redis_err("XGROUP CREATE", stream)(e));
            }
        }
        Ok(RedisConsumer {
            consumer: config.member(),
            config: config.clone(),
            reader,
            conn,
            streams,
            group,
            recover_own: true,
            recover_after: vec!["0".to_string(); topics.len()],
            last_claim: Instant::now(),
            carried: Vec::new(),
            batch: batch::Batch::default(),
            apply_batch: Script::new(APPLY_BATCH),
            exactly_once_batch: Script::new(EXACTLY_ONCE_BATCH),
        })
    }

    fn logical(&self, physical: &str) -> String {
        self.streams
            .iter()
            .find(|(_, p)| p == physical)
            .map(|(l, _)| l.clone())
            .unwrap_or_else(|| physical.to_string())
    }

    fn delivery(&self, stream: &str, entry: &StreamId, deliveries: u32) -> Delivery {
        let bytes = |field: &str| match entry.map.get(field) {
            Some(Value::BulkString(b)) => Some(b.clone()),
            Some(Value::SimpleString(s)) => Some(s.clone().into_bytes()),
            _ => None,
        };
        Delivery {
            topic: self.logical(stream),
            partition: 0,
            position: entry.id.clone(),
            key: bytes("key").map(|k| String::from_utf8_lossy(&k).into_owned()),
            // An entry without a payload field is delivered empty: poison, not a crash.
            payload: bytes("payload").unwrap_or_default(),
            deliveries,
        }
    }

    pub async fn poll(&mut self, max: usize, wait: Duration) -> Result<Vec<Delivery>, BusError> {
        if !self.carried.is_empty() {
            let rest = self.carried.split_off(self.carried.len().min(max));
            return Ok(std::mem::replace(&mut self.carried, rest));
        }
        let processing = self.config.guarantee != Guarantee::AtMostOnce;
        if processing && self.recover_own {
            let after = self.recover_after.clone();
            let own = self.read(max, None, &after).await?;
            if !own.is_empty() {
                for d in &own {
                    if let Some(i) = self.streams.iter().position(|(l, _)| *l == d.topic) {
                        self.recover_after[i] = d.position.clone();
                    }
                }
                return self.with_delivery_counts(own).await;
            }
            self.recover_own = false;
            self.recover_after.fill("0".to_string());
        }
        if processing && self.last_claim.elapsed() >= self.config.claim_idle / 2 {
            self.last_claim = Instant::now();
            let claimed = self.claim(max).await?;
            if !claimed.is_empty() {
                return self.with_delivery_counts(claimed).await;
            }
        }
        let wait = wait.min(self.config.request_timeout);
        let new = vec![">".to_string(); self.streams.len()];
        self.read(max, Some(wait), &new).await
    }

    /// Starts recovery of our own pending entries from the beginning of the list.
    fn recover(&mut self) {
        self.recover_own = true;
        self.recover_after.fill("0".to_string());
    }

    /// XREADGROUP on every stream; per stream, `ids` is `>` (new) or an entry id (our
    /// own pending entries after it).
    async fn read(
        &mut self,
        max: usize,
        block: Option<Duration>,
        ids: &[String],
    ) -> Result<Vec<Delivery>, BusError> {
        let mut options = StreamReadOptions::default()
            .group(&self.group, &self.consumer)
            .count(max);
        if let Some(block) = block {
            options = options.block(block.as_millis().max(1) as usize);
        }
        if self.config.guarantee == Guarantee::AtMostOnce {
            options = options.noack();
        }
        let keys: Vec<&str> = self.streams.iter().map(|(_, p)| p.as_str()).collect();
        let reply: Option<StreamReadReply> = self
            .reader
            .xread_options(&keys, ids, &options)
            .await
            .map_err(redis_err("XREADGROUP", &keys.join(",")))?;
        let mut out = Vec::new();
        for stream in reply.map(|r| r.keys).unwrap_or_default() {
            for entry in &stream.ids {
                out.push(self.delivery(&stream.key, entry, 1));
            }
        }
        Ok(out)
    }

    /// Takes over entries another (dead) consumer left pending for longer than `claim_idle`.
    async fn claim(&mut self, max: usize) -> Result<Vec<Delivery>, BusError> {
        let mut out = Vec::new();
        let idle = self.config.claim_idle.as_millis() as usize;
        for (_, stream) in self.streams.clone() {
            let options = StreamAutoClaimOptions::default().count(max);
            let reply: StreamAutoClaimReply = self
                .conn
                .xautoclaim_options(&stream, &self.group, &self.consumer, idle, "0-0", options)
                .await
                .map_err(redis_err("XAUTOCLAIM", &stream))?;
            for entry in &reply.claimed {
                out.push(self.delivery(&stream, entry, 1));
            }
        }
        Ok(out)
    }

    /// Fills in how often each re-read entry has been delivered (XPENDING).
    async fn with_delivery_counts(
        &mut self,
        mut deliveries: Vec<Delivery>,
    ) -> Result<Vec<Delivery>, BusError> {
        for d in &mut deliveries {
            let stream = self.config.physical(&d.topic);
            let reply: StreamPendingCountReply = self
                .conn
                .xpending_count(&stream, &self.group, &d.position, &d.position, 1)
                .await
                .map_err(redis_err("XPENDING", &stream))?;
            if let Some(p) = reply.ids.first() {
                d.deliveries = u32::try_from(p.times_delivered).unwrap_or(u32::MAX);
            }
        }
        Ok(deliveries)
    }

    /// Uncommitted deliveries stay in our pending list: read them again first. At
    /// most once, nothing is pending (`NOACK`): the first of `remaining` (the input
    /// that failed) is given up, and the rest, never processed, are handed out again by
    /// the next poll, as Kafka does by seeking back.
    pub fn abandon(&mut self, remaining: &[Delivery]) {
        self.batch = batch::Batch::default();
        if self.config.guarantee == Guarantee::AtMostOnce {
            self.carried = remaining.iter().skip(1).cloned().collect();
        }
        self.recover();
    }

    /// Nothing to hand over on Redis: our pending entries are claimed by the others
    /// after `claim_idle` (deleting the consumer would drop them).
    pub async fn close(self) {}
}

/// Publishes with XADD through a self-reconnecting connection.
#[derive(Clone)]
pub struct RedisProducer {
    config: BusConfig,
    conn: ConnectionManager,
}

impl std::fmt::Debug for RedisProducer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RedisProducer")
            .field("url", &self.config.redis_url)
            .finish_non_exhaustive()
    }
}

impl RedisProducer {
    pub async fn connect(config: &BusConfig) -> Result<Self, BusError> {
        Ok(RedisProducer {
            config: config.clone(),
            conn: connect(config, config.request_timeout).await?,
        })
    }

    pub async fn publish(&self, message: Outgoing) -> Result<String, BusError> {
        let stream = self.config.physical(&message.topic);
        let mut conn = self.conn.clone();
        conn.xadd(
            &stream,
            "*",
            &[
                ("key", message.key.as_bytes()),
                ("payload", &message.payload),
            ],
        )
        .await
        .map_err(redis_err("XADD", &stream))
    }
}
