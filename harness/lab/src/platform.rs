//! The system under test as lab processes: one `order-platform` process per service
//! instance, connected to the lab's brokers *through their proxies*, and to the payment
//! gateway through a proxy of its own (`gateway`), so every dependency can be faulted.
//! Each process logs to `logs/{service}-{instance}.log` and is reaped with the handle.
//!
//! One launcher for everyone: `harness run` deploys with [`Platform::deploy`]; the
//! platform's own integration tests use [`Platform::deploy_tuned`] with shorter
//! timeouts ([`Tuning`]) and a gateway proxy per deployment, so several deployments
//! share one lab. The services get the endpoints' security settings as flags and
//! their passwords by environment (`flags`).

mod flags;

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::{Mutex, MutexGuard};
use std::time::{Duration, Instant};

use super::ports::{free_ports, loopback};
use super::{Lab, LabError, ManagedProcess, ProcessSpec};
use crate::toxiproxy::ProxyConfig;

/// The services, in start order (the gateway first: payment needs it).
pub const SERVICES: [&str; 7] = [
    "payment-gateway",
    "order",
    "inventory",
    "payment",
    "shipping",
    "notification",
    "analytics",
];

/// Name of the gateway's proxy in Toxiproxy (the `gateway` fault target).
pub const GATEWAY_PROXY: &str = "gateway";

/// How to deploy the platform.
#[derive(Debug, Clone)]
pub struct PlatformSpec {
    pub backend: events::Backend,
    pub guarantee: events::Guarantee,
    /// Prefix of every stream, topic and group of this deployment.
    pub namespace: String,
    pub partitions: u32,
    pub skus: u32,
    pub initial_stock: u32,
    /// The gateway declines this share of orders.
    pub decline_ratio: f64,
    pub seed: u64,
    /// Instances per service (services not named run one instance).
    pub replicas: Vec<(String, u32)>,
    /// Redis: a dead consumer's pending entries are claimed after this.
    pub claim_idle: Duration,
    /// Kafka replication factor of the topics the services create; `None`: the
    /// brokers' default (the local lab's matches its size; an external cluster's may not).
    pub replication: Option<u32>,
}

/// Service settings an experiment file does not set. [`Default`] leaves every one at
/// the `order-platform` binary's own default (what `harness run` deploys).
#[derive(Debug, Clone, Default)]
pub struct Tuning {
    /// Payment: how long the circuit breaker stays open before a half-open probe
    /// (`None`: the binary's default). Tests of the breaker shorten it.
    pub breaker_open: Option<Duration>,
    /// Name of the gateway's proxy in Toxiproxy (`None`: [`GATEWAY_PROXY`], the name
    /// the harness's `gateway` fault target uses). Deployments sharing one lab need
    /// distinct names: a deployment replaces a proxy of its own name.
    pub gateway_proxy: Option<String>,
    /// Order: how long a payment for an order it has not seen yet waits before it is
    /// dead-lettered as `state_timeout` (`None`: the binary's default). Tests of the
    /// bound shorten it.
    pub state_wait: Option<Duration>,
}

impl PlatformSpec {
    fn instances(&self, service: &str) -> u32 {
        if service == "payment-gateway" {
            return 1;
        }
        self.replicas
            .iter()
            .find(|(s, _)| s == service)
            .map_or(1, |(_, n)| (*n).max(1))
    }
}

#[derive(Debug)]
struct Instance {
    service: String,
    instance: u32,
    http: SocketAddr,
    process: Mutex<ManagedProcess>,
}

/// A deployed platform. Dropping it SIGKILLs what is left; [`Platform::shutdown`] is
/// the graceful way.
#[derive(Debug)]
pub struct Platform {
    instances: Vec<Instance>,
    /// The gateway's proxy address (what payment calls).
    pub gateway_proxied: SocketAddr,
    /// The gateway's proxy name in Toxiproxy (disable it to take the gateway down).
    pub gateway_proxy: String,
}

/// `$HARNESS_SUT`, else `order-platform` next to the running executable.
pub fn sut_binary() -> Result<PathBuf, LabError> {
    if let Some(path) = std::env::var_os("HARNESS_SUT") {
        return Ok(PathBuf::from(path));
    }
    let exe = std::env::current_exe().map_err(|e| LabError::io(Path::new("current_exe"), e))?;
    let candidates = sut_candidates(&exe);
    candidates
        .iter()
        .find(|p| p.is_file())
        .cloned()
        .ok_or_else(|| LabError::SutNotBuilt {
            path: candidates.first().cloned().unwrap_or_default(),
        })
}

/// Where `order-platform` is looked for, given the running executable: beside it
/// (`target/debug/harness`), or one level up for test and bench binaries
/// (`target/debug/deps/…`, whichever crate they belong to).
fn sut_candidates(exe: &Path) -> Vec<PathBuf> {
    exe.ancestors()
        .skip(1)
        .take(2)
        .map(|dir| dir.join("order-platform"))
        .collect()
}

fn lock(process: &Mutex<ManagedProcess>) -> MutexGuard<'_, ManagedProcess> {
    process
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner)
}

impl Platform {
    /// Starts every service instance and waits until each answers `/health`.
    pub async fn deploy(
        lab: &Lab,
        spec: &PlatformSpec,
        logs: &Path,
        ready_timeout: Duration,
    ) -> Result<Platform, LabError> {
        Self::deploy_tuned(lab, spec, &Tuning::default(), logs, ready_timeout).await
    }

    /// [`deploy`](Self::deploy) with service settings beyond the spec.
    pub async fn deploy_tuned(
        lab: &Lab,
        spec: &PlatformSpec,
        tuning: &Tuning,
        logs: &Path,
        ready_timeout: Duration,
    ) -> Result<Platform, LabError> {
        let program = sut_binary()?;
        let gateway_proxy = tuning
            .gateway_proxy
            .clone()
            .unwrap_or_else(|| GATEWAY_PROXY.to_string());
        let endpoints = lab.endpoints();
        // Without a Toxiproxy (an external lab may have none) payment calls the
        // gateway directly: no gateway faults.
        let toxiproxy = lab.toxiproxy();
        let total: u32 = SERVICES.iter().map(|s| spec.instances(s)).sum();
        let mut ports = free_ports(total as usize)?.into_iter();
        let redis_url = endpoints
            .redis
            .as_ref()
            .map(|r| r.proxied_url())
            .unwrap_or_default();
        let kafka = endpoints
            .kafka
            .as_ref()
            .map(|k| k.bootstrap_proxied.clone())
            .unwrap_or_default();

        let (security_args, security_env) = flags::security(endpoints)?;
        let mut instances = Vec::new();
        let mut gateway_proxied = loopback(0);
        for service in SERVICES {
            for instance in 0..spec.instances(service) {
                let port = ports
                    .next()
                    .ok_or_else(|| LabError::Ports("ran out of ports".into()))?;
                let http = loopback(port);
                let mut args: Vec<String> = vec![
                    service.into(),
                    "--backend".into(),
                    spec.backend.name().into(),
                    "--guarantee".into(),
                    spec.guarantee.name().into(),
                    "--instance".into(),
                    instance.to_string(),
                    "--namespace".into(),
                    spec.namespace.clone(),
                    "--redis-url".into(),
                    redis_url.clone(),
                    "--kafka-bootstrap".into(),
                    kafka.clone(),
                    "--partitions".into(),
                    spec.partitions.to_string(),
                    "--skus".into(),
                    spec.skus.to_string(),
                    "--initial-stock".into(),
                    spec.initial_stock.to_string(),
                    "--decline-ratio".into(),
                    spec.decline_ratio.to_string(),
                    "--seed".into(),
                    spec.seed.to_string(),
                    "--claim-idle-ms".into(),
                    spec.claim_idle.as_millis().to_string(),
                    "--http".into(),
                    http.to_string(),
                ];
                args.extend(security_args.iter().cloned());
                if let Some(replication) = spec.replication {
                    args.push("--replication".into());
                    args.push(replication.to_string());
                }
                if let (true, Some(wait)) = (service == "order", tuning.state_wait) {
                    args.push("--state-wait-ms".into());
                    args.push(wait.as_millis().to_string());
                }
                if service == "payment" {
                    args.push("--gateway-url".into());
                    args.push(format!("http://{gateway_proxied}"));
                    if let Some(open) = tuning.breaker_open {
                        args.push("--breaker-open-ms".into());
                        args.push(open.as_millis().to_string());
                    }
                }
                let process = ManagedProcess::spawn(ProcessSpec {
                    name: format!("{service}#{instance}"),
                    program: program.clone(),
                    args,
                    env: [("RUST_LOG".to_string(), "info".to_string())]
                        .into_iter()
                        .chain(security_env.iter().cloned())
                        .collect(),
                    cwd: None,
                    log: logs.join(format!("{service}-{instance}.log")),
                })?;
                instances.push(Instance {
                    service: service.into(),
                    instance,
                    http,
                    process: Mutex::new(process),
                });
                if service == "payment-gateway" {
                    wait_healthy(&instances[instances.len() - 1], ready_timeout).await?;
                    let Some(toxiproxy) = &toxiproxy else {
                        gateway_proxied = http;
                        continue;
                    };
                    // A fresh proxy for this deployment, replacing one a previous run left.
                    let _ = toxiproxy.delete_proxy(&gateway_proxy).await;
                    let listen = loopback(free_ports(1)?[0]);
                    let proxy = toxiproxy
                        .create_proxy(&ProxyConfig::new(&gateway_proxy, listen, http))
                        .await?;
                    gateway_proxied = proxy.listen.parse().unwrap_or(listen);
                }
            }
        }
        let platform = Platform {
            instances,
            gateway_proxied,
            gateway_proxy,
        };
        for instance in &platform.instances {
            wait_healthy(instance, ready_timeout).await?;
        }
        Ok(platform)
    }

    fn find(&self, service: &str, instance: u32) -> Result<&Instance, LabError> {
        self.instances
            .iter()
            .find(|i| i.service == service && i.instance == instance)
            .ok_or_else(|| LabError::UnknownService(format!("{service}#{instance}")))
    }

    /// The HTTP address of one instance.
    pub fn http(&self, service: &str, instance: u32) -> Option<SocketAddr> {
        self.find(service, instance).ok().map(|i| i.http)
    }

    /// Every (service, instance, http address).
    pub fn instances(&self) -> Vec<(String, u32, SocketAddr)> {
        self.instances
            .iter()
            .map(|i| (i.service.clone(), i.instance, i.http))
            .collect()
    }

    /// Every (service, instance, pid; `None` while killed).
    pub fn pids(&self) -> Vec<(String, u32, Option<u32>)> {
        self.instances
            .iter()
            .map(|i| (i.service.clone(), i.instance, lock(&i.process).pid()))
            .collect()
    }

    pub fn kill(&self, service: &str, instance: u32) -> Result<(), LabError> {
        lock(&self.find(service, instance)?.process).kill()
    }

    pub fn pause(&self, service: &str, instance: u32) -> Result<(), LabError> {
        lock(&self.find(service, instance)?.process).pause()
    }

    pub fn resume(&self, service: &str, instance: u32) -> Result<(), LabError> {
        lock(&self.find(service, instance)?.process).resume()
    }

    /// Starts a killed instance again (same command line) and waits for `/health`.
    pub async fn start(
        &self,
        service: &str,
        instance: u32,
        timeout: Duration,
    ) -> Result<(), LabError> {
        let target = self.find(service, instance)?;
        lock(&target.process).start()?;
        wait_healthy(target, timeout).await
    }

    /// SIGTERM, then SIGKILL after `grace`, then start again.
    pub async fn restart(
        &self,
        service: &str,
        instance: u32,
        grace: Duration,
    ) -> Result<(), LabError> {
        let target = self.find(service, instance)?;
        let _ = lock(&target.process).request_stop();
        let deadline = Instant::now() + grace;
        while lock(&target.process).is_running() {
            if Instant::now() >= deadline {
                let _ = lock(&target.process).kill();
                break;
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        self.start(service, instance, Duration::from_secs(60)).await
    }

    /// The payment gateway's ledger, as the checker reads it: one [`check::Charge`] per
    /// charge (several for one order are double charges).
    pub async fn charges(&self) -> Result<Vec<check::Charge>, LabError> {
        let ledger = self.get_json("payment-gateway", "/ledger").await?;
        let charges = ledger["charges"]
            .as_array()
            .map(Vec::as_slice)
            .unwrap_or(&[]);
        Ok(charges
            .iter()
            .filter_map(|c| {
                Some(check::Charge {
                    order_id: c["order_id"].as_str()?.into(),
                    charge_id: c["charge_id"].as_str()?.into(),
                })
            })
            .collect())
    }

    /// Final inventory of `sku-0 .. sku-{skus-1}` per shard, as inventory#0 serves it
    /// (`GET /inventory/{sku}`), for the checker's stock invariants; and what could not
    /// be read (a SKU without an answer, a shard without its numbers), which is left out:
    /// a missing number is not a fact about stock.
    pub async fn stock(&self, skus: u32, initial: i64) -> Result<FinalStock, LabError> {
        let mut stock = FinalStock::default();
        for sku in (0..skus).map(|n| format!("sku-{n}")) {
            let view = match self
                .get_json("inventory", &format!("/inventory/{sku}"))
                .await
            {
                Ok(view) => view,
                Err(LabError::Http { message, .. }) => {
                    stock.unreadable.push(format!("{sku} ({message})"));
                    continue;
                }
                Err(e) => return Err(e),
            };
            let Some(shards) = view["shards"].as_array() else {
                stock
                    .unreadable
                    .push(format!("{sku} (no shards in the answer)"));
                continue;
            };
            let (lines, skipped) = stock_lines(&sku, shards, initial);
            if skipped > 0 {
                stock.unreadable.push(format!(
                    "{sku} ({skipped} shard(s) without shard, available or reserved)"
                ));
            }
            stock.lines.extend(lines);
        }
        Ok(stock)
    }

    /// `GET path` on instance 0 of `service`, as JSON.
    pub async fn get_json(&self, service: &str, path: &str) -> Result<serde_json::Value, LabError> {
        let url = format!("http://{}{path}", self.find(service, 0)?.http);
        let failed = |message: String| LabError::Http {
            url: url.clone(),
            message,
        };
        let response = http_client()
            .get(&url)
            .send()
            .await
            .map_err(|e| failed(e.to_string()))?;
        if !response.status().is_success() {
            return Err(failed(format!("answered {}", response.status())));
        }
        response.json().await.map_err(|e| failed(e.to_string()))
    }

    /// Whether each instance is still running (a crash is worth reporting).
    pub fn running(&self) -> Vec<(String, u32, bool)> {
        self.instances
            .iter()
            .map(|i| (i.service.clone(), i.instance, lock(&i.process).is_running()))
            .collect()
    }

    /// Graceful stop: SIGTERM everything (consumers leave their groups), then SIGKILL
    /// what is left after `grace`.
    pub fn shutdown(self, grace: Duration) {
        for i in &self.instances {
            let _ = lock(&i.process).request_stop();
        }
        let deadline = Instant::now() + grace;
        for i in &self.instances {
            let left = deadline.saturating_duration_since(Instant::now());
            lock(&i.process).terminate(left);
        }
    }
}

/// A client for the services' HTTP APIs: loopback, never through a system proxy.
fn http_client() -> reqwest::Client {
    reqwest::Client::builder()
        .timeout(Duration::from_secs(5))
        .no_proxy()
        .build()
        .unwrap_or_default()
}

async fn wait_healthy(instance: &Instance, timeout: Duration) -> Result<(), LabError> {
    let client = http_client();
    let url = format!("http://{}/health", instance.http);
    let started = Instant::now();
    let name = format!("{}#{}", instance.service, instance.instance);
    loop {
        {
            let mut process = lock(&instance.process);
            if let Some(status) = process.exit_status() {
                return Err(LabError::Exited {
                    name,
                    status: status.to_string(),
                    log_tail: process.log_tail(30),
                });
            }
        }
        let last = match client.get(&url).send().await {
            Ok(r) if r.status().is_success() => return Ok(()),
            Ok(r) => format!("/health answered {}", r.status()),
            Err(e) => e.to_string(),
        };
        if started.elapsed() >= timeout {
            let log_tail = lock(&instance.process).log_tail(30);
            return Err(LabError::NotReady {
                name,
                waited: timeout,
                last_error: last,
                log_tail,
            });
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// The inventory at the end of a run: the stock lines read, and what could not be.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct FinalStock {
    pub lines: Vec<check::StockLine>,
    /// `sku (why)` for each SKU read only in part or not at all.
    pub unreadable: Vec<String>,
}

/// The stock lines of one SKU's `shards` (each `{"shard", "available", "reserved"}`),
/// and how many entries were left out because a field was missing or not a number: a
/// missing number is not a fact about stock, so it is not recorded as 0 (which the
/// checker would judge against the stock invariants).
pub fn stock_lines(
    sku: &str,
    shards: &[serde_json::Value],
    initial: i64,
) -> (Vec<check::StockLine>, usize) {
    let lines: Vec<check::StockLine> = shards
        .iter()
        .filter_map(|s| {
            Some(check::StockLine {
                sku: sku.to_owned(),
                shard: s["shard"].as_u64().and_then(|v| u32::try_from(v).ok())?,
                available: s["available"].as_i64()?,
                reserved: s["reserved"].as_i64()?,
                initial,
            })
        })
        .collect();
    let skipped = shards.len() - lines.len();
    (lines, skipped)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_binary_is_looked_for_beside_the_executable_and_one_level_up() {
        // A test binary of any crate (harness, lab, order-platform) or a bench.
        let test = Path::new("target/debug/deps/flow-0123abcd");
        assert_eq!(
            sut_candidates(test),
            [
                PathBuf::from("target/debug/deps/order-platform"),
                PathBuf::from("target/debug/order-platform"),
            ]
        );
        let bin = Path::new("target/debug/harness");
        assert_eq!(
            sut_candidates(bin)[0],
            PathBuf::from("target/debug/order-platform")
        );
    }

    #[test]
    fn a_shard_with_a_missing_field_is_left_out_and_counted() {
        let shards = [
            serde_json::json!({"shard": 0, "available": 90, "reserved": 10}),
            serde_json::json!({"available": 5, "reserved": 0}),
            serde_json::json!({"shard": 2, "reserved": 0}),
            serde_json::json!({"shard": 3, "available": 5}),
            serde_json::json!({"shard": 4, "available": "5", "reserved": 0}),
            serde_json::json!({"shard": 5, "available": -2, "reserved": 3}),
        ];
        let (lines, skipped) = stock_lines("sku-1", &shards, 100);
        assert_eq!(skipped, 4);
        let read: Vec<(u32, i64, i64)> = lines
            .iter()
            .map(|l| (l.shard, l.available, l.reserved))
            .collect();
        // A real negative stock is kept: that one is a fact for the checker to judge.
        assert_eq!(read, vec![(0, 90, 10), (5, -2, 3)]);
        assert!(lines.iter().all(|l| l.sku == "sku-1" && l.initial == 100));
    }
}
