//! Kafka helpers for the tests: clients on a given bootstrap, topic creation, and a
//! consumer pinned to a partition (no group rebalance to wait for).

use std::time::Duration;

use rdkafka::admin::{AdminClient, AdminOptions, NewTopic, TopicReplication};
use rdkafka::client::DefaultClientContext;
use rdkafka::consumer::{Consumer, StreamConsumer};
use rdkafka::producer::FutureProducer;
use rdkafka::{ClientConfig, Offset, TopicPartitionList};

pub fn config(bootstrap: &str) -> ClientConfig {
    let mut config = ClientConfig::new();
    config
        .set("bootstrap.servers", bootstrap)
        .set("log_level", "3");
    config
}

pub async fn create_topic(bootstrap: &str, topic: &str, partitions: i32, replication: i32) {
    let admin: AdminClient<DefaultClientContext> = config(bootstrap).create().expect("admin");
    let options = AdminOptions::new().operation_timeout(Some(Duration::from_secs(30)));
    let new_topic = NewTopic::new(topic, partitions, TopicReplication::Fixed(replication));
    for result in admin
        .create_topics([&new_topic], &options)
        .await
        .expect("create topics")
    {
        result.unwrap_or_else(|(t, code)| panic!("create topic {t}: {code}"));
    }
}

pub fn producer(bootstrap: &str) -> FutureProducer {
    config(bootstrap)
        .set("acks", "all")
        .set("enable.idempotence", "true")
        .set("message.timeout.ms", "60000")
        .set("linger.ms", "2")
        .create()
        .expect("producer")
}

/// A consumer assigned to `topic`/`partition` from `offset`.
pub fn pinned_consumer(
    bootstrap: &str,
    topic: &str,
    partition: i32,
    offset: Offset,
) -> StreamConsumer {
    let consumer: StreamConsumer = config(bootstrap)
        .set("group.id", super::unique("pinned"))
        .set("enable.auto.commit", "false")
        .set("fetch.wait.max.ms", "100")
        .create()
        .expect("consumer");
    let mut assignment = TopicPartitionList::new();
    assignment
        .add_partition_offset(topic, partition, offset)
        .expect("assignment");
    consumer.assign(&assignment).expect("assign");
    consumer
}
