//! Cleanup on an external lab: everything the run created on services the harness does
//! not own is deleted once the run is over — Redis keys and streams whose names start
//! with the run's namespace, Kafka topics and consumer groups named `{namespace}.…` —
//! unless `--keep`. Each deletion is best effort: what fails is said, the rest goes on.
//! The clients connect with the endpoints' security settings (`connect`).

use std::time::Duration;

use connect::{KafkaSecurity, RedisSecurity};
use rdkafka::admin::{AdminClient, AdminOptions};
use rdkafka::client::DefaultClientContext;
use rdkafka::consumer::Consumer;

use crate::experiment::Backend;
use lab::Endpoints;

const TIMEOUT: Duration = Duration::from_secs(10);

/// What the cleanup deleted, and what it could not.
#[derive(Debug, Default)]
pub(super) struct Cleaned {
    pub redis_keys: usize,
    pub topics: usize,
    pub groups: usize,
    pub problems: Vec<String>,
}

impl Cleaned {
    pub fn summary(&self, namespace: &str) -> String {
        let mut text = format!(
            "deleted the run's {} Redis key(s), {} topic(s) and {} consumer group(s) (namespace {namespace})",
            self.redis_keys, self.topics, self.groups
        );
        if !self.problems.is_empty() {
            text.push_str(&format!("; could not: {}", self.problems.join("; ")));
        }
        text
    }
}

/// Deletes what the run with `namespace` created on `backend` of `endpoints` (direct
/// addresses: a fault never stands in the way of the cleanup).
pub(super) async fn cleanup(endpoints: &Endpoints, backend: Backend, namespace: &str) -> Cleaned {
    let mut cleaned = Cleaned::default();
    // The run's gateway proxy, should a failed deploy or a stop have left it.
    if let Some(api) = endpoints.toxiproxy {
        let _ = lab::toxiproxy::Toxiproxy::new(api)
            .delete_proxy(&format!("{namespace}-gateway"))
            .await;
    }
    match backend {
        Backend::Redis => {
            if let Some(redis) = &endpoints.redis {
                match redis_keys(&redis.direct_url(), &redis.security, namespace).await {
                    Ok(n) => cleaned.redis_keys = n,
                    Err(e) => cleaned
                        .problems
                        .push(format!("redis {}: {e}", redis.direct)),
                }
            }
        }
        Backend::Kafka => {
            if let Some(kafka) = &endpoints.kafka {
                let bootstrap = kafka.bootstrap_direct.clone();
                let security = kafka.security.clone();
                let prefix = format!("{namespace}.");
                let result = tokio::task::spawn_blocking(move || {
                    kafka_names(&bootstrap, &security, &prefix)
                })
                .await;
                match result {
                    Ok(Ok((topics, groups))) => {
                        let admin = admin(&kafka.bootstrap_direct, &kafka.security);
                        match admin {
                            Ok(admin) => {
                                delete(&admin, &topics, &groups, &mut cleaned).await;
                            }
                            Err(e) => cleaned.problems.push(e),
                        }
                    }
                    Ok(Err(e)) => cleaned.problems.push(e),
                    Err(e) => cleaned.problems.push(format!("kafka listing task: {e}")),
                }
            }
        }
    }
    cleaned
}

/// SCAN for `{namespace}*` and UNLINK what is found.
async fn redis_keys(url: &str, security: &RedisSecurity, namespace: &str) -> Result<usize, String> {
    let client = connect::redis_client(url, security).map_err(|e| e.to_string())?;
    redis_unlink(&client, namespace)
        .await
        .map_err(|e| e.to_string())
}

async fn redis_unlink(client: &redis::Client, namespace: &str) -> redis::RedisResult<usize> {
    let config = redis::AsyncConnectionConfig::new()
        .set_connection_timeout(Some(TIMEOUT))
        .set_response_timeout(Some(TIMEOUT));
    let mut conn = client
        .get_multiplexed_async_connection_with_config(&config)
        .await?;
    let pattern = format!("{namespace}*");
    let mut cursor: u64 = 0;
    let mut deleted = 0;
    loop {
        let (next, keys): (u64, Vec<String>) = redis::cmd("SCAN")
            .arg(cursor)
            .arg("MATCH")
            .arg(&pattern)
            .arg("COUNT")
            .arg(1000)
            .query_async(&mut conn)
            .await?;
        if !keys.is_empty() {
            let n: usize = redis::cmd("UNLINK")
                .arg(&keys)
                .query_async(&mut conn)
                .await?;
            deleted += n;
        }
        if next == 0 {
            return Ok(deleted);
        }
        cursor = next;
    }
}

/// The topics and consumer groups whose names start with `prefix`.
fn kafka_names(
    bootstrap: &str,
    security: &KafkaSecurity,
    prefix: &str,
) -> Result<(Vec<String>, Vec<String>), String> {
    let consumer = connect::metadata_consumer(bootstrap, security)?;
    let metadata = consumer
        .fetch_metadata(None, TIMEOUT)
        .map_err(|e| format!("listing topics at {bootstrap}: {e}"))?;
    let topics = metadata
        .topics()
        .iter()
        .map(|t| t.name().to_string())
        .filter(|t| t.starts_with(prefix))
        .collect();
    let groups = consumer
        .fetch_group_list(None, TIMEOUT)
        .map_err(|e| format!("listing consumer groups at {bootstrap}: {e}"))?;
    let groups = groups
        .groups()
        .iter()
        .map(|g| g.name().to_string())
        .filter(|g| g.starts_with(prefix))
        .collect();
    Ok((topics, groups))
}

fn admin(
    bootstrap: &str,
    security: &KafkaSecurity,
) -> Result<AdminClient<DefaultClientContext>, String> {
    connect::kafka_config(bootstrap, security)
        .map_err(|e| e.to_string())?
        .set("log_level", "3")
        .create()
        .map_err(|e| format!("kafka admin client for {bootstrap}: {e}"))
}

async fn delete(
    admin: &AdminClient<DefaultClientContext>,
    topics: &[String],
    groups: &[String],
    cleaned: &mut Cleaned,
) {
    let options = AdminOptions::new().operation_timeout(Some(TIMEOUT));
    if !groups.is_empty() {
        let names: Vec<&str> = groups.iter().map(String::as_str).collect();
        let results = admin.delete_groups(&names, &options).await;
        cleaned.groups += tally("group", results, &mut cleaned.problems);
    }
    if !topics.is_empty() {
        let names: Vec<&str> = topics.iter().map(String::as_str).collect();
        let results = admin.delete_topics(&names, &options).await;
        cleaned.topics += tally("topic", results, &mut cleaned.problems);
    }
}

/// How many deletions succeeded; each failure (of one `what` or of the request) is
/// added to `problems`.
fn tally(
    what: &str,
    results: rdkafka::error::KafkaResult<Vec<rdkafka::admin::GroupResult>>,
    problems: &mut Vec<String>,
) -> usize {
    match results {
        Ok(results) => results
            .into_iter()
            .filter(|r| match r {
                Ok(_) => true,
                Err((name, code)) => {
                    problems.push(format!("{what} {name}: {code}"));
                    false
                }
            })
            .count(),
        Err(e) => {
            problems.push(format!("deleting {what}s: {e}"));
            0
        }
    }
}
