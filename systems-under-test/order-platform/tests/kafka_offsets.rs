//! Kafka at-least-once: what a member commits is the next offset to consume, so the
//! partition's next owner starts at the first message not processed yet. (The offset
//! was once stored one too far, and every change of owner after a caught-up member
//! skipped one message: a SIGKILLed inventory instance lost an order about one run in
//! four of `instance_kill`.)

mod common;

use std::time::{Duration, Instant};

use order_platform::bus::{Backend, Commit, Consumer, Delivery, Guarantee};

/// Polls until `n` deliveries came, or `within` passed.
async fn poll_for(consumer: &mut Consumer, n: usize, within: Duration) -> Vec<Delivery> {
    let deadline = Instant::now() + within;
    let mut out = Vec::new();
    while out.len() < n && Instant::now() < deadline {
        out.extend(
            consumer
                .poll(n - out.len(), Duration::from_millis(300))
                .await
                .expect("poll"),
        );
    }
    out
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_next_owner_starts_at_the_first_unprocessed_message() {
    let platform = common::Platform::reader_only(Backend::Kafka).await;
    let mut bus = platform.reader_config();
    bus.service = "offsets".into();
    bus.guarantee = Guarantee::AtLeastOnce;
    bus.partitions = 1;
    bus.topics = vec!["orders".into()];
    common::publish_example_order(&bus, 3).await;

    // A member processes everything there is, and leaves.
    let mut first = Consumer::connect(&bus, &["orders"])
        .await
        .expect("consumer");
    let batch = poll_for(&mut first, 3, Duration::from_secs(60)).await;
    let positions: Vec<&str> = batch.iter().map(|d| d.position.as_str()).collect();
    assert_eq!(positions, ["0", "1", "2"], "first member's deliveries");
    for d in &batch {
        let commit = Commit {
            outputs: Vec::new(),
            changes: Vec::new(),
            input_id: None,
        };
        first.commit(d, commit).await.expect("commit");
    }
    first.flush().await.expect("flush");
    // Past the auto-commit interval, so the stored offset is committed whatever the
    // leaving does.
    tokio::time::sleep(Duration::from_millis(1500)).await;
    first.close().await;

    // One more message, for the next owner of the partition.
    common::publish_example_order(&bus, 1).await;
    bus.instance = 1;
    let mut next = Consumer::connect(&bus, &["orders"])
        .await
        .expect("consumer");
    let batch = poll_for(&mut next, 1, Duration::from_secs(60)).await;
    let positions: Vec<&str> = batch.iter().map(|d| d.position.as_str()).collect();
    assert_eq!(
        positions,
        ["3"],
        "the next owner must start at the first message not processed (offset 3)"
    );
    next.close().await;
}
