//! Three Kafka nodes, replication 3, min ISR 2: SIGKILL the leader of partition 0 while
//! producing with acks=all. Production continues after the election, every
//! acknowledged message is read back by an independent reader (kcat), and the broker,
//! started again on its data directory, rejoins the in-sync replicas.

mod common;

use std::collections::BTreeSet;
use std::time::{Duration, Instant};

use common::kafka::{config, create_topic, producer};
use lab::{LabSpec, ServiceId};
use rdkafka::consumer::{BaseConsumer, Consumer};
use rdkafka::producer::FutureRecord;

/// (leader, isr) per partition of `topic`, from metadata on the DIRECT listeners.
fn partitions(bootstrap: &str, topic: &str) -> Option<Vec<(i32, Vec<i32>)>> {
    let consumer: BaseConsumer = config(bootstrap).create().ok()?;
    let metadata = consumer
        .fetch_metadata(Some(topic), Duration::from_secs(5))
        .ok()?;
    let t = metadata.topics().iter().find(|t| t.name() == topic)?;
    let mut parts: Vec<_> = t
        .partitions()
        .iter()
        .map(|p| (p.id(), p.leader(), p.isr().to_vec()))
        .collect();
    parts.sort();
    Some(
        parts
            .into_iter()
            .map(|(_, leader, isr)| (leader, isr))
            .collect(),
    )
}

async fn partitions_async(bootstrap: &str, topic: &str) -> Option<Vec<(i32, Vec<i32>)>> {
    let (bootstrap, topic) = (bootstrap.to_string(), topic.to_string());
    tokio::task::spawn_blocking(move || partitions(&bootstrap, &topic))
        .await
        .ok()
        .flatten()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn leader_kill_loses_no_acknowledged_message() {
    let lab = common::start_lab(LabSpec::kafka_only(3)).await;
    let kafka = lab.endpoints().kafka.clone().expect("kafka");
    let topic = common::unique("orders");
    create_topic(&kafka.bootstrap_proxied, &topic, 3, 3).await;
    let direct = kafka.bootstrap_direct.clone();
    let initial = common::wait_for(
        "leaders for every partition",
        Duration::from_secs(30),
        || async {
            partitions_async(&direct, &topic)
                .await
                .filter(|p| p.len() == 3 && p.iter().all(|(l, isr)| *l >= 1 && isr.len() == 3))
        },
    )
    .await;
    let victim = initial[0].0;

    // Produce 1500 messages over ~7.5 s through the proxies; the leader of partition 0
    // dies about 2 s in.
    let producer = producer(&kafka.bootstrap_proxied);
    let started = Instant::now();
    let mut deliveries = Vec::new();
    let mut killed_at = None;
    for i in 0..1500u32 {
        if killed_at.is_none() && started.elapsed() >= Duration::from_secs(2) {
            lab.kill(ServiceId::Kafka(victim as u32))
                .expect("SIGKILL the leader");
            killed_at = Some(Instant::now());
        }
        let payload = format!("m-{i}");
        let record = FutureRecord::to(&topic)
            .key(&payload)
            .payload(&payload)
            .partition((i % 3) as i32);
        let delivery = producer
            .send_result(record)
            .map_err(|(e, _)| e)
            .expect("enqueue");
        deliveries.push(tokio::spawn(async move {
            let result = delivery.await.expect("delivery future");
            (
                payload,
                result.map(|d| d.partition).map_err(|(e, _)| e.to_string()),
                Instant::now(),
            )
        }));
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    let killed_at = killed_at.expect("the kill happened");
    let mut acked = BTreeSet::new();
    let mut failed = Vec::new();
    // Sent to partition 0 after its leader died, and still acknowledged (by the new leader).
    let mut acked_on_p0_after_kill = 0;
    for delivery in deliveries {
        let (payload, result, sent_at) = delivery.await.expect("join");
        match result {
            Ok(partition) => {
                if partition == 0 && sent_at > killed_at {
                    acked_on_p0_after_kill += 1;
                }
                acked.insert(payload);
            }
            Err(e) => failed.push(format!("{payload}: {e}")),
        }
    }
    eprintln!(
        "acked {} of 1500, failed {}, acked on p0 after kill {acked_on_p0_after_kill}",
        acked.len(),
        failed.len()
    );
    assert!(
        acked_on_p0_after_kill > 0,
        "no message on partition 0 was acknowledged after the kill"
    );
    assert!(
        failed.is_empty(),
        "acks=all deliveries failed: {:?}",
        &failed[..failed.len().min(5)]
    );

    let after = partitions_async(&kafka.bootstrap_direct, &topic)
        .await
        .expect("metadata");
    assert_ne!(
        after[0].0, victim,
        "partition 0 still led by the killed broker"
    );

    // Every acknowledged message, read back by kcat on the DIRECT listeners.
    let installation = lab.installation().expect("local lab");
    let output = tokio::time::timeout(
        Duration::from_secs(60),
        tokio::process::Command::new(installation.kcat())
            .args([
                "-C",
                "-b",
                &kafka.bootstrap_direct,
                "-t",
                &topic,
                "-o",
                "beginning",
                "-e",
                "-q",
            ])
            .args(["-f", "%s\\n"])
            .kill_on_drop(true)
            .output(),
    )
    .await
    .expect("kcat finished within 60 s")
    .expect("run kcat");
    assert!(
        output.status.success(),
        "kcat: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    let read: BTreeSet<String> = String::from_utf8_lossy(&output.stdout)
        .lines()
        .map(str::to_string)
        .collect();
    let missing: Vec<_> = acked.difference(&read).take(5).collect();
    assert!(
        missing.is_empty(),
        "acknowledged but not read back by kcat: {missing:?}"
    );

    // The killed broker comes back on its data directory and rejoins every ISR.
    lab.start_service(ServiceId::Kafka(victim as u32))
        .await
        .expect("restart the broker");
    common::wait_for(
        "the restarted broker back in every ISR",
        Duration::from_secs(90),
        || async {
            partitions_async(&kafka.bootstrap_direct, &topic)
                .await
                .filter(|p| p.iter().all(|(_, isr)| isr.contains(&victim)))
        },
    )
    .await;
}
