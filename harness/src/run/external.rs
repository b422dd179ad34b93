//! An external lab: services the harness did not start, described by an endpoints file
//! (`--endpoints FILE` or `[lab] endpoints`). Before any load, [`preflight`] checks
//! that they answer ([`lab::probe`]), that the Kafka cluster has the brokers the
//! experiment needs, and that Toxiproxy holds every proxy its faults go through: a
//! problem is an error naming the endpoint (the run exits 2).

use std::path::{Path, PathBuf};
use std::time::Duration;

use anyhow::{Context, bail};

use crate::experiment::{Backend, Experiment, Target};
use lab::CREATE_TOPICS_PROBE;
use lab::Endpoints;

/// The services of an endpoints file.
#[derive(Debug, Clone)]
pub struct ExternalLab {
    /// The file, as given (recorded in results.json; it holds no secret itself).
    pub file: PathBuf,
    /// `file` for messages.
    pub name: String,
    pub endpoints: Endpoints,
}

impl ExternalLab {
    /// Reads an endpoints file; errors name it.
    pub fn load(path: &Path) -> anyhow::Result<Self> {
        let name = path.display().to_string();
        let text = std::fs::read_to_string(path)
            .with_context(|| format!("cannot read the endpoints file {name}"))?;
        let endpoints = Endpoints::from_json(&text).with_context(|| {
            format!("endpoints file {name}: not the shape `harness lab up --json` prints")
        })?;
        if endpoints.redis.is_none() && endpoints.kafka.is_none() {
            bail!("endpoints file {name}: names neither \"redis\" nor \"kafka\"");
        }
        Ok(ExternalLab {
            file: path.to_path_buf(),
            name,
            endpoints: without_absent_proxies(endpoints),
        })
    }

    /// The lab the experiment file names in `[lab] endpoints`, if any.
    pub fn of_file(experiment: &Experiment) -> anyhow::Result<Option<Self>> {
        experiment
            .lab
            .endpoints
            .as_deref()
            .map(Self::load)
            .transpose()
    }
}

/// Without a Toxiproxy there are no proxies: clients (the platform) connect straight to
/// the services, whatever "proxied" addresses the file gives.
fn without_absent_proxies(mut endpoints: Endpoints) -> Endpoints {
    if endpoints.toxiproxy.is_some() {
        return endpoints;
    }
    endpoints.proxies.clear();
    if let Some(redis) = &mut endpoints.redis {
        redis.proxied = redis.direct;
    }
    if let Some(kafka) = &mut endpoints.kafka {
        kafka.bootstrap_proxied = kafka.bootstrap_direct.clone();
        for broker in &mut kafka.brokers {
            broker.proxied = broker.direct;
        }
    }
    endpoints
}

/// Checks the external lab before any load: every endpoint answers, the backend the
/// experiment uses is there, the cluster has enough brokers for its replication, and
/// Toxiproxy has the proxy of every network fault.
pub(super) async fn preflight(lab: &ExternalLab, experiment: &Experiment) -> anyhow::Result<()> {
    let name = &lab.name;
    let endpoints = &lab.endpoints;
    let backend = experiment.system.backend;
    match backend {
        Backend::Redis if endpoints.redis.is_none() => {
            bail!(
                "endpoints file {name}: the experiment runs on redis, and the file names no \"redis\""
            )
        }
        Backend::Kafka if endpoints.kafka.is_none() => {
            bail!(
                "endpoints file {name}: the experiment runs on kafka, and the file names no \"kafka\""
            )
        }
        _ => {}
    }
    let creates_topics = creates_kafka_topics(experiment);
    let mut failed = Vec::new();
    for probe in lab::probe(endpoints).await {
        let Some(error) = probe.error else { continue };
        if refuses_run(&probe.what, creates_topics) {
            failed.push(format!("{}: {error}", probe.what));
        } else {
            eprintln!(
                "harness: note: {}: {error} (this run creates no Kafka topic)",
                probe.what
            );
        }
    }
    if !failed.is_empty() {
        bail!(
            "endpoints file {name}: not reachable, nothing was run:\n  {}",
            failed.join("\n  ")
        );
    }
    if let (Backend::Kafka, Some(kafka)) = (backend, &endpoints.kafka) {
        let needed = experiment.system.brokers.count() as usize;
        let brokers = lab::kafka_brokers_with(
            &kafka.bootstrap_direct,
            &kafka.security,
            Duration::from_secs(5),
        )
        .await
        .map_err(|e| anyhow::anyhow!("endpoints file {name}: {e}"))?;
        if brokers.len() < needed {
            bail!(
                "endpoints file {name}: the Kafka cluster at {} has {} broker(s); the experiment needs {needed} \
                 (brokers = {needed}: replication factor {needed}); nothing was run",
                kafka.bootstrap_direct,
                brokers.len()
            );
        }
    }
    if let (Backend::Kafka, Some(kafka), Some(system)) = (
        backend,
        &endpoints.kafka,
        experiment.system.platform.external(),
    ) {
        let partitions = experiment.system.partitions.get();
        let topics: Vec<String> = system
            .topics
            .iter()
            .map(|t| format!("{}.{t}", system.namespace))
            .collect();
        let bootstrap = kafka.bootstrap_direct.clone();
        let security = kafka.security.clone();
        let found =
            tokio::task::spawn_blocking(move || partition_counts(&bootstrap, &security, &topics))
                .await?
                .map_err(|e| anyhow::anyhow!("endpoints file {name}: {e}"))?;
        for (topic, count) in found {
            match count {
                // The tap reads partitions 0..partitions: with more, it would miss
                // entries and report losses the system never had.
                Some(n) if n != partitions => bail!(
                    "endpoints file {name}: the external platform's topic {topic} at {} has {n} partition(s); \
                     the experiment reads {partitions} ([system] partitions = {n} reads them all); nothing was run",
                    kafka.bootstrap_direct
                ),
                Some(_) => {}
                None => eprintln!(
                    "harness: warning: the external platform's topic {topic} does not exist yet at {}; \
                     the tap will read partitions 0..{partitions} of it once it does",
                    kafka.bootstrap_direct
                ),
            }
        }
    }
    let Some(client) = lab::Lab::external(endpoints.clone()).toxiproxy() else {
        return Ok(());
    };
    let proxies = client
        .proxies()
        .await
        .map_err(|e| anyhow::anyhow!("endpoints file {name}: toxiproxy: {e}"))?;
    for fault in experiment.faults.iter().filter(|f| f.kind.is_network()) {
        let proxy = match fault.target {
            Target::Redis => endpoints.redis.as_ref().map(|r| r.proxy.clone()),
            Target::Broker(n) => endpoints.broker(n).map(|b| b.proxy.clone()),
            Target::Gateway | Target::Service { .. } => None,
        };
        if let Some(proxy) = proxy.filter(|p| !proxies.contains_key(p)) {
            bail!(
                "endpoints file {name}: the fault `{}` on `{}` needs the proxy `{proxy}`, which the Toxiproxy at {} does not have; nothing was run",
                fault.kind.name(),
                fault.target,
                endpoints
                    .toxiproxy
                    .map(|a| a.to_string())
                    .unwrap_or_default()
            );
        }
    }
    Ok(())
}

/// Whether the run creates Kafka topics: only the reference platform on Kafka does (an
/// external platform brings its own; a Redis run has none).
fn creates_kafka_topics(experiment: &Experiment) -> bool {
    matches!(experiment.system.backend, Backend::Kafka)
        && experiment.system.platform.external().is_none()
}

/// Whether a failed probe refuses the run: every one does, except the permission to
/// create topics for a run that creates none (a platform whose topics already exist may
/// be tested by a user without CREATE). `lab check` still reports it.
fn refuses_run(probe: &str, creates_topics: bool) -> bool {
    creates_topics || probe != CREATE_TOPICS_PROBE
}

/// The partition count of each topic at `bootstrap` (`None`: no such topic).
fn partition_counts(
    bootstrap: &str,
    security: &connect::KafkaSecurity,
    topics: &[String],
) -> Result<Vec<(String, Option<u32>)>, String> {
    use rdkafka::consumer::Consumer;
    let consumer = connect::metadata_consumer(bootstrap, security)?;
    let metadata = consumer
        .fetch_metadata(None, Duration::from_secs(10))
        .map_err(|e| format!("metadata from {bootstrap}: {e}"))?;
    Ok(topics
        .iter()
        .map(|topic| {
            let count = metadata
                .topics()
                .iter()
                .find(|t| t.name() == topic)
                .map(|t| t.partitions().len() as u32);
            (topic.clone(), count)
        })
        .collect())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_create_topics_probe_refuses_only_runs_that_create_topics() {
        assert!(refuses_run(CREATE_TOPICS_PROBE, true));
        assert!(!refuses_run(CREATE_TOPICS_PROBE, false));
        for other in ["kafka metadata (direct)", "redis PING (proxied)"] {
            assert!(refuses_run(other, false), "{other}");
            assert!(refuses_run(other, true), "{other}");
        }
    }
}
