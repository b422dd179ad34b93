//! Readiness probes, each with a deadline: Redis PING (direct and through its proxy),
//! Toxiproxy `/version` plus its proxies, Kafka metadata listing every broker (on the
//! DIRECT listeners, and through the proxies at the proxies' ports). A process that
//! exits while being waited for fails at once, with the tail of its log.

use std::future::Future;
use std::net::SocketAddr;
use std::sync::Mutex;
use std::time::Duration;

use rdkafka::ClientConfig;
use rdkafka::consumer::{BaseConsumer, Consumer};

use super::endpoints::Endpoints;
use super::process::ManagedProcess;
use super::{LabError, ServiceId, lock};
use crate::toxiproxy::Toxiproxy;

const PROBE_TIMEOUT: Duration = Duration::from_secs(3);

/// Waits for every service of a freshly started lab (all probes run concurrently).
pub(crate) async fn all(
    endpoints: &Endpoints,
    processes: &[(ServiceId, Mutex<ManagedProcess>)],
    timeout: Duration,
) -> Result<(), LabError> {
    let mut first_error = None;
    let probes = processes
        .iter()
        .map(|(id, p)| service(endpoints, *id, p, timeout));
    for result in futures::future::join_all(probes).await {
        if let Err(e) = result {
            first_error.get_or_insert(e);
        }
    }
    if let Some(e) = first_error {
        return Err(e);
    }
    // Every broker is up on its own: now the cluster as a whole, through the proxies.
    if let Some(kafka) = &endpoints.kafka {
        let expected: Vec<(i32, u16)> = kafka
            .brokers
            .iter()
            .map(|b| (b.node_id as i32, b.proxied.port()))
            .collect();
        let bootstrap = kafka.bootstrap_proxied.clone();
        let anchor = processes
            .iter()
            .find(|(id, _)| matches!(id, ServiceId::Kafka(_)));
        if let Some((_, process)) = anchor {
            poll("kafka (through the proxies)", process, timeout, || {
                let bootstrap = bootstrap.clone();
                let expected = expected.clone();
                async move { brokers_at(&bootstrap, &expected).await }
            })
            .await?;
        }
    }
    Ok(())
}

/// Waits until one service answers its probe.
pub(crate) async fn service(
    endpoints: &Endpoints,
    id: ServiceId,
    process: &Mutex<ManagedProcess>,
    timeout: Duration,
) -> Result<(), LabError> {
    let name = id.to_string();
    match id {
        ServiceId::Toxiproxy => {
            let Some(api) = endpoints.toxiproxy else {
                return Ok(());
            };
            let client = Toxiproxy::new(api);
            let expected: Vec<String> = endpoints.proxies.iter().map(|p| p.name.clone()).collect();
            poll(&name, process, timeout, || {
                let client = client.clone();
                let expected = expected.clone();
                async move {
                    client.version().await.map_err(|e| e.to_string())?;
                    let proxies = client.proxies().await.map_err(|e| e.to_string())?;
                    match expected.iter().find(|name| !proxies.contains_key(*name)) {
                        Some(missing) => Err(format!("proxy `{missing}` not created (yet)")),
                        None => Ok(()),
                    }
                }
            })
            .await
        }
        ServiceId::Redis => {
            let Some(redis) = &endpoints.redis else {
                return Ok(());
            };
            let direct = redis.direct;
            poll(&name, process, timeout, || redis_ping(direct)).await
        }
        ServiceId::Kafka(node_id) => {
            let Some(direct) = super::services::broker_direct(endpoints, node_id) else {
                return Err(LabError::UnknownService(name));
            };
            poll(&name, process, timeout, || async move {
                let brokers = kafka_brokers(&direct.to_string(), PROBE_TIMEOUT).await?;
                if brokers.iter().any(|b| b.id == node_id as i32) {
                    Ok(())
                } else {
                    Err(format!("broker {node_id} not yet in the cluster metadata"))
                }
            })
            .await
        }
    }
}

async fn poll<F, Fut>(
    name: &str,
    process: &Mutex<ManagedProcess>,
    timeout: Duration,
    mut probe: F,
) -> Result<(), LabError>
where
    F: FnMut() -> Fut,
    Fut: Future<Output = Result<(), String>>,
{
    let started = tokio::time::Instant::now();
    loop {
        {
            let mut guard = lock(process);
            if let Some(status) = guard.exit_status() {
                return Err(LabError::Exited {
                    name: name.to_string(),
                    status: status.to_string(),
                    log_tail: guard.log_tail(30),
                });
            }
        }
        let last_error = match tokio::time::timeout(PROBE_TIMEOUT * 2, probe()).await {
            Ok(Ok(())) => return Ok(()),
            Ok(Err(e)) => e,
            Err(_) => "probe timed out".to_string(),
        };
        if started.elapsed() >= timeout {
            return Err(LabError::NotReady {
                name: name.to_string(),
                waited: timeout,
                last_error,
                log_tail: lock(process).log_tail(30),
            });
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

/// Ok when metadata from `bootstrap` lists exactly `expected` (node id, port), sorted.
async fn brokers_at(bootstrap: &str, expected: &[(i32, u16)]) -> Result<(), String> {
    let brokers = kafka_brokers(bootstrap, PROBE_TIMEOUT).await?;
    let mut seen: Vec<(i32, u16)> = brokers.iter().map(|b| (b.id, b.port)).collect();
    seen.sort_unstable();
    if seen == expected {
        Ok(())
    } else {
        Err(format!(
            "metadata from {bootstrap} lists brokers (id, port) {seen:?}, expected {expected:?}"
        ))
    }
}

/// PING with bounded connect and response times.
pub async fn redis_ping(addr: SocketAddr) -> Result<(), String> {
    let client = redis::Client::open(format!("redis://{addr}/")).map_err(|e| e.to_string())?;
    let config = redis::AsyncConnectionConfig::new()
        .set_connection_timeout(Some(PROBE_TIMEOUT))
        .set_response_timeout(Some(PROBE_TIMEOUT));
    let mut conn = client
        .get_multiplexed_async_connection_with_config(&config)
        .await
        .map_err(|e| format!("connect {addr}: {e}"))?;
    let pong: String = redis::cmd("PING")
        .query_async(&mut conn)
        .await
        .map_err(|e| format!("PING {addr}: {e}"))?;
    if pong == "PONG" {
        Ok(())
    } else {
        Err(format!("PING {addr} answered {pong:?}"))
    }
}

/// One broker in a metadata response.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MetadataBroker {
    pub id: i32,
    pub host: String,
    pub port: u16,
}

/// The brokers a metadata request to `bootstrap` returns (rdkafka, on a blocking thread).
pub async fn kafka_brokers(
    bootstrap: &str,
    timeout: Duration,
) -> Result<Vec<MetadataBroker>, String> {
    let bootstrap = bootstrap.to_string();
    tokio::task::spawn_blocking(move || {
        let consumer: BaseConsumer = ClientConfig::new()
            .set("bootstrap.servers", &bootstrap)
            .set("socket.connection.setup.timeout.ms", "2000")
            .set("log_level", "0")
            .create()
            .map_err(|e| format!("kafka client for {bootstrap}: {e}"))?;
        let metadata = consumer
            .fetch_metadata(None, timeout)
            .map_err(|e| format!("metadata from {bootstrap}: {e}"))?;
        Ok(metadata
            .brokers()
            .iter()
            .map(|b| MetadataBroker {
                id: b.id(),
                host: b.host().to_string(),
                port: u16::try_from(b.port()).unwrap_or(0),
            })
            .collect())
    })
    .await
    .map_err(|e| format!("metadata task: {e}"))?
}

/// The outcome of one check of [`probe`].
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct Probe {
    /// What was checked, e.g. `kafka metadata (proxied)`.
    pub what: String,
    /// `None` when it answered as expected; otherwise why not.
    pub error: Option<String>,
}

/// Checks every endpoint once (no retries): Toxiproxy and its proxies, Redis direct and
/// proxied, Kafka metadata on both bootstraps listing every broker at the advertised
/// ports. For an external lab, before a run relies on it.
pub async fn probe(endpoints: &Endpoints) -> Vec<Probe> {
    let mut probes = Vec::new();
    let mut push = |what: &str, result: Result<(), String>| {
        probes.push(Probe {
            what: what.to_string(),
            error: result.err(),
        });
    };
    if let Some(api) = endpoints.toxiproxy {
        let client = Toxiproxy::new(api);
        let result = async {
            client.version().await.map_err(|e| e.to_string())?;
            let proxies = client.proxies().await.map_err(|e| e.to_string())?;
            match endpoints
                .proxies
                .iter()
                .find(|p| !proxies.contains_key(&p.name))
            {
                Some(p) => Err(format!("proxy `{}` does not exist", p.name)),
                None => Ok(()),
            }
        }
        .await;
        push("toxiproxy API and proxies", result);
    }
    if let Some(redis) = &endpoints.redis {
        push("redis PING (direct)", redis_ping(redis.direct).await);
        push("redis PING (proxied)", redis_ping(redis.proxied).await);
    }
    if let Some(kafka) = &endpoints.kafka {
        let expect = |port: fn(&super::BrokerEndpoints) -> u16| {
            let mut v: Vec<(i32, u16)> = kafka
                .brokers
                .iter()
                .map(|b| (b.node_id as i32, port(b)))
                .collect();
            v.sort_unstable();
            v
        };
        for (what, bootstrap, expected) in [
            (
                "kafka metadata (direct)",
                &kafka.bootstrap_direct,
                expect(|b| b.direct.port()),
            ),
            (
                "kafka metadata (proxied)",
                &kafka.bootstrap_proxied,
                expect(|b| b.proxied.port()),
            ),
        ] {
            let result = brokers_at(bootstrap, &expected).await;
            push(what, result);
        }
    }
    probes
}
