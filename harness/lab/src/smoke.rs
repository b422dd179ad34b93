//! A round trip through the proxies on both backends: the proof that a lab is wired the
//! way the system under test will use it (`harness lab smoke`, `make quickstart`). The
//! clients connect with the endpoints' security settings, as the platform does.

use std::time::{Duration, Instant};

use rdkafka::admin::{AdminClient, AdminOptions, NewTopic, TopicReplication};
use rdkafka::client::DefaultClientContext;
use rdkafka::consumer::{Consumer, StreamConsumer};
use rdkafka::producer::{FutureProducer, FutureRecord};
use rdkafka::{ClientConfig, Message, Offset, TopicPartitionList};
use redis::AsyncCommands;
use redis::streams::{StreamReadOptions, StreamReadReply};

use super::{KafkaEndpoints, Lab, RedisEndpoints};

/// A failed round trip, naming the backend and the step.
#[derive(Debug, thiserror::Error)]
#[error("{backend} round trip: {step}: {message}")]
pub struct SmokeError {
    pub backend: &'static str,
    pub step: &'static str,
    pub message: String,
}

fn fail(backend: &'static str, step: &'static str) -> impl Fn(String) -> SmokeError {
    move |message| SmokeError {
        backend,
        step,
        message,
    }
}

/// How long each round trip took (write through the proxy, read it back through the proxy).
#[derive(Debug, Clone, Default, serde::Serialize)]
pub struct SmokeReport {
    pub redis_round_trip_ms: Option<f64>,
    pub kafka_round_trip_ms: Option<f64>,
}

/// Round trips on every backend the lab has.
pub async fn run(lab: &Lab) -> Result<SmokeReport, SmokeError> {
    let mut report = SmokeReport::default();
    let tag = uuid::Uuid::new_v4().simple().to_string();
    if let Some(redis) = &lab.endpoints().redis {
        let took = redis_round_trip(redis, &tag).await?;
        report.redis_round_trip_ms = Some(took.as_secs_f64() * 1e3);
    }
    if let Some(kafka) = &lab.endpoints().kafka {
        let took = kafka_round_trip(kafka, &tag).await?;
        report.kafka_round_trip_ms = Some(took.as_secs_f64() * 1e3);
    }
    Ok(report)
}

/// XADD then XREADGROUP (and XACK) through the Redis proxy.
pub async fn redis_round_trip(redis: &RedisEndpoints, tag: &str) -> Result<Duration, SmokeError> {
    let err = |step| fail("redis", step);
    let client = connect::redis_client(&redis.proxied_url(), &redis.security)
        .map_err(|e| err("client")(e.to_string()))?;
    let config = redis::AsyncConnectionConfig::new()
        .set_connection_timeout(Some(Duration::from_secs(3)))
        .set_response_timeout(Some(Duration::from_secs(5)));
    let mut conn = client
        .get_multiplexed_async_connection_with_config(&config)
        .await
        .map_err(|e| err("connect")(e.to_string()))?;
    let stream = format!("smoke-{tag}");
    let started = Instant::now();
    let _: () = conn
        .xgroup_create_mkstream(&stream, "smoke", "$")
        .await
        .map_err(|e| err("XGROUP CREATE")(e.to_string()))?;
    let id: String = conn
        .xadd(&stream, "*", &[("tag", tag)])
        .await
        .map_err(|e| err("XADD")(e.to_string()))?;
    let options = StreamReadOptions::default()
        .group("smoke", "c1")
        .count(1)
        .block(3000);
    let reply: StreamReadReply = conn
        .xread_options(&[&stream], &[">"], &options)
        .await
        .map_err(|e| err("XREADGROUP")(e.to_string()))?;
    let got = reply
        .keys
        .first()
        .and_then(|k| k.ids.first())
        .map(|e| e.id.clone());
    if got.as_deref() != Some(id.as_str()) {
        return Err(err("XREADGROUP")(format!("read {got:?}, expected {id}")));
    }
    let _: i64 = conn
        .xack(&stream, "smoke", &[&id])
        .await
        .map_err(|e| err("XACK")(e.to_string()))?;
    let took = started.elapsed();
    let _: i64 = conn
        .del(&stream)
        .await
        .map_err(|e| err("DEL")(e.to_string()))?;
    Ok(took)
}

/// Create a topic, produce (acks=all) and consume through the proxied bootstrap.
pub async fn kafka_round_trip(kafka: &KafkaEndpoints, tag: &str) -> Result<Duration, SmokeError> {
    let err = |step| fail("kafka", step);
    let topic = format!("smoke-{tag}");
    let config = |step| client_config(kafka).map_err(|e| err(step)(e.to_string()));
    let admin: AdminClient<DefaultClientContext> = config("admin client")?
        .create()
        .map_err(|e| err("admin client")(e.to_string()))?;
    let new_topic = NewTopic::new(&topic, 1, TopicReplication::Fixed(-1));
    let options = AdminOptions::new().operation_timeout(Some(Duration::from_secs(20)));
    let results = admin
        .create_topics([&new_topic], &options)
        .await
        .map_err(|e| err("create topic")(e.to_string()))?;
    for result in results {
        result.map_err(|(t, code)| err("create topic")(format!("{t}: {code}")))?;
    }

    let producer: FutureProducer = config("producer")?
        .set("acks", "all")
        .set("enable.idempotence", "true")
        .set("message.timeout.ms", "30000")
        .create()
        .map_err(|e| err("producer")(e.to_string()))?;
    let consumer: StreamConsumer = config("consumer")?
        .set("group.id", format!("smoke-{tag}"))
        .set("enable.auto.commit", "false")
        .set("isolation.level", "read_committed")
        .create()
        .map_err(|e| err("consumer")(e.to_string()))?;
    let mut assignment = TopicPartitionList::new();
    assignment
        .add_partition_offset(&topic, 0, Offset::Beginning)
        .map_err(|e| err("assign")(e.to_string()))?;
    consumer
        .assign(&assignment)
        .map_err(|e| err("assign")(e.to_string()))?;

    let started = Instant::now();
    producer
        .send(
            FutureRecord::to(&topic).key(tag).payload(tag),
            Duration::from_secs(30),
        )
        .await
        .map_err(|(e, _)| err("produce")(e.to_string()))?;
    let message = tokio::time::timeout(Duration::from_secs(30), consumer.recv())
        .await
        .map_err(|_| err("consume")("nothing arrived within 30 s".into()))?
        .map_err(|e| err("consume")(e.to_string()))?;
    let took = started.elapsed();
    if message.payload() != Some(tag.as_bytes()) {
        return Err(err("consume")("read back a different payload".into()));
    }
    let _ = admin.delete_topics(&[&topic], &options).await;
    Ok(took)
}

/// Through the proxies, with the endpoints' security settings.
fn client_config(kafka: &KafkaEndpoints) -> Result<ClientConfig, connect::SecurityError> {
    let mut config = connect::kafka_config(&kafka.bootstrap_proxied, &kafka.security)?;
    config.set("log_level", "3");
    Ok(config)
}
