//! One Kafka broker behind its proxy: clients that bootstrap through the proxy are told
//! the broker lives at the proxy's port, produce and consume work through it, and a
//! latency toxic on the proxy delays a proxied consumer by at least the toxic while a
//! consumer on the DIRECT listener is not delayed.

mod common;

use std::time::{Duration, Instant};

use common::kafka::{create_topic, pinned_consumer, producer};
use lab::toxiproxy::Toxic;
use lab::{LabSpec, kafka_brokers};
use rdkafka::Message;
use rdkafka::consumer::StreamConsumer;
use rdkafka::producer::FutureRecord;

/// Receives until the message with `payload` arrives; returns when it did.
async fn receive(consumer: &StreamConsumer, payload: &str, within: Duration) -> Instant {
    let deadline = Instant::now() + within;
    loop {
        let left = deadline.saturating_duration_since(Instant::now());
        let message = tokio::time::timeout(left, consumer.recv())
            .await
            .unwrap_or_else(|_| panic!("`{payload}` did not arrive within {within:?}"))
            .expect("consume");
        if message.payload() == Some(payload.as_bytes()) {
            return Instant::now();
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn one_broker_behind_its_proxy() {
    let lab = common::start_lab(LabSpec::kafka_only(1)).await;
    let kafka = lab.endpoints().kafka.clone().expect("the lab has kafka");
    let broker = &kafka.brokers[0];
    let toxiproxy = lab.toxiproxy().expect("toxiproxy");

    // Metadata through the proxy names the proxy's port; on DIRECT, the broker's own.
    let timeout = Duration::from_secs(10);
    let proxied = kafka_brokers(&kafka.bootstrap_proxied, timeout)
        .await
        .expect("metadata");
    assert_eq!(proxied.len(), 1);
    assert_eq!((proxied[0].id, proxied[0].port), (1, broker.proxied.port()));
    let direct = kafka_brokers(&kafka.bootstrap_direct, timeout)
        .await
        .expect("metadata");
    assert_eq!((direct[0].id, direct[0].port), (1, broker.direct.port()));

    // Produce and consume through the proxied bootstrap.
    let topic = common::unique("orders");
    create_topic(&kafka.bootstrap_proxied, &topic, 1, 1).await;
    let proxied_producer = producer(&kafka.bootstrap_proxied);
    let through_proxy = pinned_consumer(
        &kafka.bootstrap_proxied,
        &topic,
        0,
        rdkafka::Offset::Beginning,
    );
    let on_direct = pinned_consumer(
        &kafka.bootstrap_direct,
        &topic,
        0,
        rdkafka::Offset::Beginning,
    );
    proxied_producer
        .send(
            FutureRecord::to(&topic).key("k").payload("warm-up"),
            Duration::from_secs(30),
        )
        .await
        .expect("produce through the proxy");
    receive(&through_proxy, "warm-up", Duration::from_secs(30)).await;
    receive(&on_direct, "warm-up", Duration::from_secs(30)).await;

    // A clean hop first, to know the baseline on this machine.
    let direct_producer = producer(&kafka.bootstrap_direct);
    let send = |payload: &'static str| {
        let record = FutureRecord::to(&topic).key("k").payload(payload);
        let started = Instant::now();
        let future = direct_producer.send(record, Duration::from_secs(30));
        async move {
            future.await.expect("produce on DIRECT");
            started
        }
    };
    let sent = send("clean").await;
    let clean_proxied = receive(&through_proxy, "clean", Duration::from_secs(10)).await - sent;
    receive(&on_direct, "clean", Duration::from_secs(10)).await;

    // 1 s on everything the broker sends back through its proxy.
    let toxic = Duration::from_millis(1000);
    toxiproxy
        .add_toxic(
            &broker.proxy,
            &Toxic::latency("slow-broker", toxic, Duration::ZERO),
        )
        .await
        .expect("add toxic");
    let sent = send("delayed").await;
    let (proxied_at, direct_at) = tokio::join!(
        receive(&through_proxy, "delayed", Duration::from_secs(30)),
        receive(&on_direct, "delayed", Duration::from_secs(30)),
    );
    let (proxied_delay, direct_delay) = (proxied_at - sent, direct_at - sent);
    assert!(
        proxied_delay >= toxic,
        "proxied consumer got it after {proxied_delay:?} (clean: {clean_proxied:?}), expected >= {toxic:?}"
    );
    assert!(
        direct_delay < toxic / 2,
        "the DIRECT consumer was delayed too: {direct_delay:?} (toxic {toxic:?})"
    );
    toxiproxy
        .remove_toxic(&broker.proxy, "slow-broker")
        .await
        .expect("remove toxic");
}
