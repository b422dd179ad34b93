//! A batch on a real Redis: decided on what the batch read, written by one flush; when
//! another instance moved a counter in between so that an input's change would cross
//! its floor, the flush applies the inputs before it and nothing from it on (they stay
//! pending, and are reported to be decided again), in every mode that acknowledges.
//! Exactly-once also acknowledges, and does not apply again, an input already processed.

mod common;

use std::time::Duration;

use order_platform::bus::{
    Backend, BusConfig, Change, Commit, CommitOutcome, Consumer, Delivery, Guarantee, Outgoing,
};
use redis::AsyncCommands;

/// Takes one unit of `stock` (never below -2), emitting one event to `shipping`.
fn take_one(input: &str) -> Commit {
    Commit {
        outputs: vec![Outgoing {
            topic: "shipping".into(),
            key: input.into(),
            payload: format!("out-{input}").into_bytes(),
        }],
        changes: vec![Change {
            key: "stock".into(),
            field: "n".into(),
            delta: -1,
            floor: Some(-2),
        }],
        input_id: Some(input.into()),
    }
}

fn stateless(input: &str) -> Commit {
    Commit {
        changes: Vec::new(),
        ..take_one(input)
    }
}

async fn redis(bus: &BusConfig) -> redis::aio::MultiplexedConnection {
    redis::Client::open(bus.redis_url.as_str())
        .expect("url")
        .get_multiplexed_async_connection()
        .await
        .expect("redis")
}

async fn setup(
    guarantee: Guarantee,
    n: usize,
) -> (common::Platform, BusConfig, Consumer, Vec<Delivery>) {
    let platform = common::Platform::reader_only(Backend::Redis).await;
    let mut bus = platform.reader_config();
    bus.service = "batch".into();
    bus.guarantee = guarantee;
    common::publish_example_order(&bus, n).await;
    let mut consumer = Consumer::connect(&bus, &["orders"])
        .await
        .expect("consumer");
    let batch = common::poll_for(&mut consumer, n, Duration::from_secs(30)).await;
    assert_eq!(batch.len(), n, "deliveries");
    (platform, bus, consumer, batch)
}

async fn shipped(bus: &BusConfig) -> Vec<String> {
    let mut conn = redis(bus).await;
    let reply: redis::streams::StreamRangeReply = conn
        .xrange_all(bus.physical("shipping"))
        .await
        .expect("XRANGE");
    reply
        .ids
        .iter()
        .map(|e| e.get::<String>("payload").unwrap_or_default())
        .collect()
}

async fn pending(bus: &BusConfig) -> usize {
    let mut conn = redis(bus).await;
    let reply: redis::streams::StreamPendingReply = conn
        .xpending(bus.physical("orders"), bus.group())
        .await
        .expect("XPENDING");
    reply.count()
}

async fn conflict_stops_the_flush(guarantee: Guarantee) {
    let (_platform, bus, mut consumer, batch) = setup(guarantee, 3).await;
    let hash = format!("{}:state:batch:stock", bus.namespace);
    consumer
        .prefetch(&[("stock".into(), &["n"])], &[])
        .await
        .expect("prefetch");
    assert_eq!(consumer.counter(0, "stock", "n").await.expect("read"), 0);
    // Decided on 0: both reservations fit above the floor of -2.
    for (d, input) in batch.iter().zip(["a", "b"]) {
        let outcome = consumer.commit(d, take_one(input)).await.expect("commit");
        assert_eq!(outcome, CommitOutcome::Committed);
    }
    assert_eq!(
        consumer.counter(0, "stock", "n").await.expect("read"),
        -2,
        "later inputs decide on the batch's staged changes"
    );
    consumer
        .commit(&batch[2], stateless("c"))
        .await
        .expect("commit");
    // Another instance takes a unit meanwhile.
    let _: i64 = redis(&bus)
        .await
        .hincr(&hash, "n", -1)
        .await
        .expect("HINCRBY");

    let undone = consumer.flush().await.expect("flush");
    let positions = |ds: &[Delivery]| -> Vec<(String, String)> {
        ds.iter()
            .map(|d| (d.topic.clone(), d.position.clone()))
            .collect()
    };
    assert_eq!(undone, positions(&batch[1..]), "{guarantee:?}: not applied");
    let n: i64 = redis(&bus).await.hget(&hash, "n").await.expect("HGET");
    assert_eq!(n, -2, "{guarantee:?}: only the first change applied");
    assert_eq!(shipped(&bus).await, ["out-a"], "{guarantee:?}: outputs");
    assert_eq!(pending(&bus).await, 2, "{guarantee:?}: still pending");

    // Decided again on what Redis holds now: the second reservation no longer fits.
    consumer
        .prefetch(&[("stock".into(), &["n"])], &["b".into(), "c".into()])
        .await
        .expect("prefetch");
    assert_eq!(consumer.counter(0, "stock", "n").await.expect("read"), -2);
    assert_eq!(
        consumer
            .commit(&batch[1], take_one("b"))
            .await
            .expect("commit"),
        CommitOutcome::Conflict,
        "{guarantee:?}: crossing the floor on the batch's view"
    );
    consumer
        .commit(&batch[1], stateless("b"))
        .await
        .expect("commit");
    consumer
        .commit(&batch[2], stateless("c"))
        .await
        .expect("commit");
    assert!(consumer.flush().await.expect("flush").is_empty());
    assert_eq!(shipped(&bus).await, ["out-a", "out-b", "out-c"]);
    assert_eq!(pending(&bus).await, 0, "{guarantee:?}: all acknowledged");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn at_least_once_stops_at_a_conflict() {
    conflict_stops_the_flush(Guarantee::AtLeastOnce).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn exactly_once_stops_at_a_conflict() {
    conflict_stops_the_flush(Guarantee::ExactlyOnce).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn exactly_once_acknowledges_what_is_processed_already() {
    let (_platform, bus, mut consumer, batch) = setup(Guarantee::ExactlyOnce, 4).await;
    consumer
        .commit(&batch[0], stateless("a"))
        .await
        .expect("commit");
    assert!(consumer.flush().await.expect("flush").is_empty());
    // The same input (by id) again, found processed only by the flush (another
    // instance got there in between): acknowledged, its outputs not written again.
    assert_eq!(
        consumer
            .commit(&batch[1], stateless("a"))
            .await
            .expect("commit"),
        CommitOutcome::Committed
    );
    assert!(consumer.flush().await.expect("flush").is_empty());
    assert_eq!(shipped(&bus).await, ["out-a"]);
    assert_eq!(pending(&bus).await, 2);
    // Found processed by the batch's read: staged as an acknowledgement only.
    consumer
        .prefetch(&[], &["a".into(), "z".into()])
        .await
        .expect("prefetch");
    assert!(consumer.known_processed("a"));
    assert!(!consumer.known_processed("z"));
    assert_eq!(
        consumer
            .commit(&batch[2], take_one("a"))
            .await
            .expect("commit"),
        CommitOutcome::Duplicate
    );
    assert!(consumer.flush().await.expect("flush").is_empty());
    assert_eq!(pending(&bus).await, 1);
    // Found processed by the flush although its decision changed state the rest of the
    // batch decided on: not applied; decided again.
    consumer
        .commit(&batch[3], take_one("a"))
        .await
        .expect("commit");
    let undone = consumer.flush().await.expect("flush");
    assert_eq!(
        undone,
        [(batch[3].topic.clone(), batch[3].position.clone())]
    );
    assert_eq!(shipped(&bus).await, ["out-a"]);
    let hash = format!("{}:state:batch:stock", bus.namespace);
    let n: Option<i64> = redis(&bus).await.hget(&hash, "n").await.expect("HGET");
    assert_eq!(n, None, "no change applied");
    assert_eq!(pending(&bus).await, 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn at_most_once_writes_nothing_when_nothing_was_emitted_and_gives_back_the_rest() {
    let (_platform, bus, mut consumer, batch) = setup(Guarantee::AtMostOnce, 3).await;
    for d in &batch {
        consumer.commit(d, Commit::default()).await.expect("commit");
    }
    // No outputs and (NOACK) no acks: nothing to write, and that is no error (it once
    // was: "empty command", and the batch's inputs were lost).
    assert!(consumer.flush().await.expect("flush").is_empty());

    common::publish_example_order(&bus, 3).await;
    let again = common::poll_for(&mut consumer, 3, Duration::from_secs(30)).await;
    assert_eq!(again.len(), 3);
    // The first failed: it is given up (at most once); the others were not processed
    // and come again, although nothing is pending under NOACK.
    consumer.abandon(&again).await;
    let back = common::poll_for(&mut consumer, 2, Duration::from_secs(5)).await;
    assert_eq!(back, again[1..]);
    assert!(
        consumer
            .poll(10, Duration::from_millis(300))
            .await
            .expect("poll")
            .is_empty(),
        "the first is not delivered again"
    );
}
