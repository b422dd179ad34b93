//! The Kafka client plumbing shared by the consumer and the producers: client
//! configuration, topic creation, error context, and blocking librdkafka calls run off
//! the async threads with a watchdog log.

use std::time::Duration;

use rdkafka::ClientConfig;
use rdkafka::admin::{AdminClient, AdminOptions, NewTopic, TopicReplication};
use rdkafka::client::DefaultClientContext;
use rdkafka::error::{KafkaError, RDKafkaErrorCode};

use crate::bus::{BusConfig, BusError};

pub(in crate::bus) fn kafka_err(
    op: &'static str,
    target: impl Into<String>,
) -> impl FnOnce(KafkaError) -> BusError {
    let target = target.into();
    move |source| BusError::Kafka { op, target, source }
}

/// The settings every client of this process starts from: the bootstrap and the
/// security settings (`connect::kafka_config`, its password read now), then ours.
pub(in crate::bus) fn base_config(config: &BusConfig) -> Result<ClientConfig, BusError> {
    let mut client = connect::kafka_config(&config.kafka_bootstrap, &config.kafka_security)?;
    client
        .set("client.id", config.member())
        .set("socket.connection.setup.timeout.ms", "5000")
        .set("log_level", "4");
    Ok(client)
}

/// Creates the topics (and this service's changelog) that do not exist yet.
pub(in crate::bus) async fn ensure_topics(
    config: &BusConfig,
    extra: &[String],
) -> Result<(), BusError> {
    let admin: AdminClient<DefaultClientContext> = base_config(config)?
        .create()
        .map_err(kafka_err("admin client", &config.kafka_bootstrap))?;
    let names: Vec<String> = config
        .topics
        .iter()
        .map(|t| config.physical(t))
        .chain(extra.iter().cloned())
        .collect();
    // Nothing to create (a client of topics someone else owns): an empty request is
    // an error to the admin API.
    if names.is_empty() {
        return Ok(());
    }
    let new: Vec<NewTopic<'_>> = names
        .iter()
        .map(|n| {
            NewTopic::new(
                n,
                config.partitions,
                TopicReplication::Fixed(config.replication),
            )
        })
        .collect();
    let options = AdminOptions::new().operation_timeout(Some(config.request_timeout));
    let results = admin
        .create_topics(&new, &options)
        .await
        .map_err(kafka_err("create topics", names.join(",")))?;
    for result in results {
        match result {
            Ok(_) | Err((_, RDKafkaErrorCode::TopicAlreadyExists)) => {}
            Err((topic, code)) => {
                return Err(BusError::Other(format!(
                    "kafka create topic {topic}: {code}"
                )));
            }
        }
    }
    Ok(())
}

/// Runs a blocking librdkafka call off the async threads, saying every
/// [`WATCH_EVERY`] while it is still running, so a stalled service's log shows where.
pub(in crate::bus) async fn blocking<T: Send + 'static>(
    op: &'static str,
    f: impl FnOnce() -> T + Send + 'static,
) -> T {
    match watched(op, tokio::task::spawn_blocking(f)).await {
        Ok(value) => value,
        Err(e) => std::panic::resume_unwind(e.into_panic()),
    }
}

/// How often a call still running is logged.
const WATCH_EVERY: Duration = Duration::from_secs(10);

/// Awaits `future`, logging a warning every [`WATCH_EVERY`] while it is pending.
pub(in crate::bus) async fn watched<F: std::future::Future>(
    op: &'static str,
    future: F,
) -> F::Output {
    let started = std::time::Instant::now();
    tokio::pin!(future);
    loop {
        tokio::select! {
            output = &mut future => {
                if started.elapsed() >= WATCH_EVERY {
                    tracing::warn!(op, took_s = started.elapsed().as_secs(), "slow Kafka call done");
                }
                return output;
            }
            _ = tokio::time::sleep(WATCH_EVERY) => {
                tracing::warn!(op, waited_s = started.elapsed().as_secs(), "still waiting on a Kafka call");
            }
        }
    }
}
