//! Readiness probes, each with a deadline: Redis PING (direct and through its proxy),
//! Toxiproxy `/version` plus its proxies, Kafka metadata listing every broker (on the
//! DIRECT listeners, and through the proxies at the proxies' ports). A process that
//! exits while being waited for fails at once, with the tail of its log.
//!
//! Every client is built by `connect` from the endpoints' security settings, and a
//! failure a person can fix (a wrong password, an untrusted certificate, a missing
//! permission) is explained by `connect::kafka::explain` / `connect::redis::explain`,
//! naming the endpoint and where the password comes from (never the password).

use std::future::Future;
use std::net::SocketAddr;
use std::sync::Mutex;
use std::time::Duration;

use connect::{KafkaSecurity, RedisSecurity};
use rdkafka::admin::{AdminClient, AdminOptions, NewTopic, TopicReplication};
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
        let security = kafka.security.clone();
        let anchor = processes
            .iter()
            .find(|(id, _)| matches!(id, ServiceId::Kafka(_)));
        if let Some((_, process)) = anchor {
            poll("kafka (through the proxies)", process, timeout, || {
                let bootstrap = bootstrap.clone();
                let expected = expected.clone();
                let security = security.clone();
                async move { brokers_at(&bootstrap, &security, &expected).await }
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
            let url = redis.direct_url();
            let security = &redis.security;
            poll(&name, process, timeout, || redis_ping_with(&url, security)).await
        }
        ServiceId::Kafka(node_id) => {
            let Some(direct) = super::services::broker_direct(endpoints, node_id) else {
                return Err(LabError::UnknownService(name));
            };
            let security = endpoints
                .kafka
                .as_ref()
                .map(|k| k.security.clone())
                .unwrap_or_default();
            poll(&name, process, timeout, || async {
                let brokers =
                    kafka_brokers_with(&direct.to_string(), &security, PROBE_TIMEOUT).await?;
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
async fn brokers_at(
    bootstrap: &str,
    security: &KafkaSecurity,
    expected: &[(i32, u16)],
) -> Result<(), String> {
    let brokers = kafka_brokers_with(bootstrap, security, PROBE_TIMEOUT).await?;
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

/// PING a plaintext Redis without AUTH, with bounded connect and response times.
pub async fn redis_ping(addr: SocketAddr) -> Result<(), String> {
    redis_ping_with(&format!("redis://{addr}/"), &RedisSecurity::default()).await
}

/// PING `url` with `security` applied (user, password, TLS); a failure a person can fix
/// is explained (`redis 127.0.0.1:PORT: authentication failed (...)`).
pub async fn redis_ping_with(url: &str, security: &RedisSecurity) -> Result<(), String> {
    let endpoint = url
        .split("://")
        .nth(1)
        .unwrap_or(url)
        .trim_end_matches('/')
        .to_string();
    let explain = |step: &str, e: String| {
        connect::redis::explain(&endpoint, security, &e)
            .unwrap_or_else(|| format!("{step} {endpoint}: {e}"))
    };
    let client = connect::redis_client(url, security).map_err(|e| e.to_string())?;
    let config = redis::AsyncConnectionConfig::new()
        .set_connection_timeout(Some(PROBE_TIMEOUT))
        .set_response_timeout(Some(PROBE_TIMEOUT));
    let mut conn = client
        .get_multiplexed_async_connection_with_config(&config)
        .await
        .map_err(|e| explain("connect", e.to_string()))?;
    let pong: String = redis::cmd("PING")
        .query_async(&mut conn)
        .await
        .map_err(|e| explain("PING", e.to_string()))?;
    if pong == "PONG" {
        Ok(())
    } else {
        Err(format!("PING {endpoint} answered {pong:?}"))
    }
}

/// One broker in a metadata response.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MetadataBroker {
    pub id: i32,
    pub host: String,
    pub port: u16,
}

/// The brokers a metadata request to a PLAINTEXT `bootstrap` returns.
pub async fn kafka_brokers(
    bootstrap: &str,
    timeout: Duration,
) -> Result<Vec<MetadataBroker>, String> {
    kafka_brokers_with(bootstrap, &KafkaSecurity::default(), timeout).await
}

/// The brokers a metadata request to `bootstrap` returns (rdkafka, on a blocking
/// thread), connecting with `security`; a failure a person can fix is explained.
pub async fn kafka_brokers_with(
    bootstrap: &str,
    security: &KafkaSecurity,
    timeout: Duration,
) -> Result<Vec<MetadataBroker>, String> {
    let bootstrap = bootstrap.to_string();
    let security = security.clone();
    tokio::task::spawn_blocking(move || {
        let consumer: BaseConsumer<connect::kafka::ErrorLog> =
            connect::kafka_config(&bootstrap, &security)
                .map_err(|e| format!("kafka {bootstrap}: {e}"))?
                .set("socket.connection.setup.timeout.ms", "2000")
                .set("log_level", "4")
                .create_with_context(connect::kafka::ErrorLog::default())
                .map_err(|e| format!("kafka client for {bootstrap}: {e}"))?;
        let metadata = consumer.fetch_metadata(None, timeout).map_err(|e| {
            // Error reports are events: serve them so the context sees them.
            let _ = consumer.poll(Duration::from_millis(100));
            let mut texts = consumer.context().errors();
            texts.push(e.to_string());
            connect::kafka::explain(&bootstrap, &security, &texts)
                .unwrap_or_else(|| format!("metadata from {bootstrap}: {e}"))
        })?;
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

/// The name of the probe that asks whether the user may create topics: a run that
/// creates none (an external platform, Redis) does not need it to pass.
pub const CREATE_TOPICS_PROBE: &str = "kafka permission to create topics (direct)";

/// Checks every endpoint once (no retries): Toxiproxy and its proxies, Redis direct and
/// proxied, Kafka metadata on both bootstraps listing every broker at the advertised
/// ports. For an external lab, before a run relies on it.
pub async fn probe(endpoints: &Endpoints) -> Vec<Probe> {
    let mut probes = Vec::new();
    // Settings that cannot work, or a password that cannot be read, fail once here
    // (naming the field, variable or file) instead of once per connection below.
    if let Err(e) = endpoints.resolve_secrets() {
        probes.push(Probe {
            what: "security settings and passwords".into(),
            error: Some(e),
        });
        return probes;
    }
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
        let security = &redis.security;
        push(
            "redis PING (direct)",
            redis_ping_with(&redis.direct_url(), security).await,
        );
        push(
            "redis PING (proxied)",
            redis_ping_with(&redis.proxied_url(), security).await,
        );
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
            let result = brokers_at(bootstrap, &kafka.security, &expected).await;
            push(what, result);
        }
        let result = may_create_topics(&kafka.bootstrap_direct, &kafka.security).await;
        push(CREATE_TOPICS_PROBE, result);
    }
    probes
}

/// Whether the user may create topics: a validate-only CreateTopics of a probe name,
/// so nothing is created. A user without the CREATE permission (ACL) gets a message
/// naming the endpoint, the user and the missing permission.
pub async fn may_create_topics(bootstrap: &str, security: &KafkaSecurity) -> Result<(), String> {
    let admin: AdminClient<connect::kafka::ErrorLog> = connect::kafka_config(bootstrap, security)
        .map_err(|e| format!("kafka {bootstrap}: {e}"))?
        .set("socket.connection.setup.timeout.ms", "2000")
        .set("log_level", "3")
        .create_with_context(connect::kafka::ErrorLog::default())
        .map_err(|e| format!("kafka admin client for {bootstrap}: {e}"))?;
    let name = format!("harness-permission-probe-{}", uuid::Uuid::new_v4().simple());
    let topic = NewTopic::new(&name, 1, TopicReplication::Fixed(-1));
    let options = AdminOptions::new()
        .validate_only(true)
        .request_timeout(Some(PROBE_TIMEOUT))
        .operation_timeout(Some(PROBE_TIMEOUT));
    let failure = match admin.create_topics([&topic], &options).await {
        Ok(results) => match results.into_iter().next() {
            Some(Err((_, code))) => code.to_string(),
            _ => return Ok(()),
        },
        Err(e) => e.to_string(),
    };
    let user = security.username.as_deref().unwrap_or("ANONYMOUS");
    if failure.to_ascii_lowercase().contains("authorization") {
        return Err(format!(
            "kafka {bootstrap}: user {user} may not create topics ({failure}): grant it CREATE and DESCRIBE on the run's topics (an ACL)"
        ));
    }
    let mut texts = admin.inner().context().errors();
    texts.push(failure.clone());
    Err(connect::kafka::explain(bootstrap, security, &texts)
        .unwrap_or_else(|| format!("kafka {bootstrap}: validate-only create topics: {failure}")))
}
