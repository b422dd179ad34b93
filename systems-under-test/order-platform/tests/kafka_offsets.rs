//! Kafka membership, on a real broker:
//! - at-least-once: what a member commits is the next offset to consume, so the
//!   partition's next owner starts at the first message not processed yet. (The offset
//!   was once stored one too far, and every change of owner after a caught-up member
//!   skipped one message: a SIGKILLed inventory instance lost an order about one run in
//!   four of `instance_kill`.)
//! - a partition that went to another member and came back is reported as moved, so
//!   the runner drops what it kept aside (parked) of it: the other member may have
//!   processed those inputs meanwhile.

mod common;

use std::collections::BTreeSet;
use std::time::{Duration, Instant};

use order_platform::bus::{Backend, Commit, Consumer, Delivery, Guarantee};

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
    let batch = common::poll_for(&mut first, 3, Duration::from_secs(60)).await;
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
    let batch = common::poll_for(&mut next, 1, Duration::from_secs(60)).await;
    let positions: Vec<&str> = batch.iter().map(|d| d.position.as_str()).collect();
    assert_eq!(
        positions,
        ["3"],
        "the next owner must start at the first message not processed (offset 3)"
    );
    next.close().await;
}

/// A delivery of `orders` partition `partition` (what `holds` asks about).
fn on(partition: i32) -> Delivery {
    Delivery {
        topic: "orders".into(),
        partition,
        position: "0".into(),
        key: None,
        payload: Vec::new(),
        deliveries: 1,
    }
}

/// Polls each of `members` until `done` holds of them, or panics naming `what`.
async fn poll_until(
    members: &mut [&mut Consumer],
    what: &str,
    mut done: impl FnMut(&[&mut Consumer]) -> bool,
) {
    let deadline = Instant::now() + Duration::from_secs(90);
    while !done(members) {
        assert!(Instant::now() < deadline, "within 90 s: {what}");
        for m in members.iter_mut() {
            m.poll(10, Duration::from_millis(200)).await.expect("poll");
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_partition_that_went_away_and_came_back_is_reported_as_moved() {
    let platform = common::Platform::reader_only(Backend::Kafka).await;
    let mut bus = platform.reader_config();
    bus.service = "moves".into();
    bus.guarantee = Guarantee::ExactlyOnce;
    bus.partitions = 2;
    bus.topics = vec!["orders".into()];

    let mut a = Consumer::connect(&bus, &["orders"])
        .await
        .expect("consumer");
    poll_until(
        &mut [&mut a],
        "the first member holds both partitions",
        |m| m[0].holds(&on(0)) && m[0].holds(&on(1)),
    )
    .await;
    assert_eq!(a.take_moved(), BTreeSet::new(), "nothing moved yet");

    bus.instance = 1;
    let mut b = Consumer::connect(&bus, &["orders"])
        .await
        .expect("consumer");
    poll_until(&mut [&mut a, &mut b], "the second member takes one", |m| {
        (0..2).all(|p| m[0].holds(&on(p)) != m[1].holds(&on(p)))
            && (0..2).any(|p| m[1].holds(&on(p)))
    })
    .await;
    let taken = (0..2).find(|&p| b.holds(&on(p))).expect("one partition");
    b.close().await;
    poll_until(&mut [&mut a], "the first member holds both again", |m| {
        m[0].holds(&on(0)) && m[0].holds(&on(1))
    })
    .await;
    assert_eq!(
        a.take_moved(),
        BTreeSet::from([("orders".to_string(), taken)]),
        "the partition that went to the other member, and only it"
    );
    assert_eq!(a.take_moved(), BTreeSet::new(), "reported once");
    a.close().await;
}
