//! The system under test as lab processes: one `order-platform` process per service
//! instance, connected to the lab's brokers *through their proxies*, and to the payment
//! gateway through a proxy of its own (`gateway`), so every dependency can be faulted.
//! Each process logs to `logs/{service}-{instance}.log` and is reaped with the handle.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::{Mutex, MutexGuard};
use std::time::{Duration, Instant};

use super::ports::{free_ports, loopback};
use super::{Lab, LabError, ManagedProcess, ProcessSpec};
use crate::chaos::toxiproxy::ProxyConfig;

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
    /// `redis` or `kafka`.
    pub backend: String,
    /// `at-most-once`, `at-least-once` or `exactly-once`.
    pub guarantee: String,
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
}

impl PlatformSpec {
    fn instances(&self, service: &str) -> u32 {
        if service == "payment-gateway" || service == "order" {
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
}

/// `$HARNESS_SUT`, else `order-platform` next to the running executable.
pub fn sut_binary() -> Result<PathBuf, LabError> {
    if let Some(path) = std::env::var_os("HARNESS_SUT") {
        return Ok(PathBuf::from(path));
    }
    let exe = std::env::current_exe().map_err(|e| LabError::io(Path::new("current_exe"), e))?;
    // Test binaries live one level deeper (target/debug/deps).
    let candidates = exe
        .ancestors()
        .skip(1)
        .take(2)
        .map(|dir| dir.join("order-platform"))
        .collect::<Vec<_>>();
    candidates
        .iter()
        .find(|p| p.is_file())
        .cloned()
        .ok_or_else(|| LabError::SutNotBuilt {
            path: candidates.first().cloned().unwrap_or_default(),
        })
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
        let program = sut_binary()?;
        let endpoints = lab.endpoints();
        let toxiproxy = lab
            .toxiproxy()
            .ok_or_else(|| LabError::Spec("the lab has no Toxiproxy".into()))?;
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
                    spec.backend.clone(),
                    "--guarantee".into(),
                    spec.guarantee.clone(),
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
                if service == "payment" {
                    args.push("--gateway-url".into());
                    args.push(format!("http://{gateway_proxied}"));
                }
                let process = ManagedProcess::spawn(ProcessSpec {
                    name: format!("{service}#{instance}"),
                    program: program.clone(),
                    args,
                    env: vec![("RUST_LOG".into(), "info".into())],
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
                    // A fresh proxy for this deployment, replacing one a previous run left.
                    let _ = toxiproxy.delete_proxy(GATEWAY_PROXY).await;
                    let listen = loopback(free_ports(1)?[0]);
                    let proxy = toxiproxy
                        .create_proxy(&ProxyConfig::new(GATEWAY_PROXY, listen, http))
                        .await?;
                    gateway_proxied = proxy.listen.parse().unwrap_or(listen);
                }
            }
        }
        let platform = Platform {
            instances,
            gateway_proxied,
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

async fn wait_healthy(instance: &Instance, timeout: Duration) -> Result<(), LabError> {
    let client = reqwest::Client::builder()
        .timeout(Duration::from_secs(2))
        .no_proxy()
        .build()
        .unwrap_or_default();
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
