//! A reader started before its topics exist (the harness's tap starts before the
//! services create them, and reads dead-letter topics that may never exist) reads every
//! entry from the first. On Kafka it dropped the entries of a batch when an error (an
//! absent topic) came in the middle of it: the tap missed the first entries of some
//! partitions (found as `unobserved` orders in kafka-broker-kill). Against real Kafka
//! and Redis.

mod common;

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use events::EventType;
use order_platform::bus::{Backend, Outgoing, Producer, Reader};

/// Positions read per partition until `expected` entries came or `within` ran out.
async fn read(
    reader: &mut Reader,
    expected: usize,
    within: Duration,
) -> BTreeMap<i32, Vec<String>> {
    let deadline = Instant::now() + within;
    let mut seen: BTreeMap<i32, Vec<String>> = BTreeMap::new();
    while seen.values().map(Vec::len).sum::<usize>() < expected && Instant::now() < deadline {
        for d in reader
            .next_batch(500, Duration::from_millis(200))
            .await
            .expect("read")
        {
            seen.entry(d.partition).or_default().push(d.position);
        }
    }
    seen
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_reader_started_before_its_topic_exists_reads_every_entry_from_the_first() {
    for backend in [Backend::Kafka, Backend::Redis] {
        let platform = common::Platform::reader_only(backend).await;
        let mut config = platform.reader_config();
        config.topics = vec!["orders".into()];
        // A topic that never exists keeps failing its offset lookup on Kafka: those
        // errors come between the entries of the other topic.
        let mut reader = Reader::connect(&config, &["orders", "dlq.never-written"])
            .await
            .expect("reader");
        let early = read(&mut reader, 1, Duration::from_millis(600)).await;
        assert!(early.is_empty(), "{early:?}");
        let sent = 400;
        let publish = async {
            let producer = Producer::connect(&config).await.expect("producer");
            let input = events::example(EventType::OrderPlaced);
            for i in 0..sent {
                producer
                    .publish(Outgoing {
                        topic: "orders".into(),
                        key: format!("o-{i}"),
                        payload: input.to_bytes().expect("json"),
                    })
                    .await
                    .expect("publish");
                tokio::time::sleep(Duration::from_millis(10)).await;
            }
        };
        let ((), seen) = tokio::join!(publish, read(&mut reader, sent, Duration::from_secs(60)));
        let count: usize = seen.values().map(Vec::len).sum();
        assert_eq!(count, sent, "{backend:?}: read {seen:?}");
        if backend == Backend::Kafka {
            for (partition, positions) in &seen {
                let expected: Vec<String> = (0..positions.len()).map(|o| o.to_string()).collect();
                assert_eq!(positions, &expected, "{backend:?}: partition {partition}");
            }
        }
    }
}
