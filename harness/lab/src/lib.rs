//! The lab: real Redis, Kafka (KRaft) and Toxiproxy processes on loopback, wired so
//! that every client connection of the system under test goes through a proxy; the
//! order platform deployed on it as processes; and the async Toxiproxy client.
//!
//! This crate is a bottom layer: it depends on neither the `harness` nor the
//! `order-platform` crate (the platform is started as the `order-platform` *binary*),
//! so the harness and the platform's own tests share one launcher.
//!
//! - [`Lab::start`] installs nothing: it runs what `lab/install` put in `.lab/`, on free
//!   ports, waits until each service answers (Redis PING, Kafka metadata listing every
//!   broker, Toxiproxy `/version`), and reaps everything when dropped.
//! - [`Lab::external`] builds the same handle from the addresses of services the user
//!   already runs; it has no processes to control.
//! - Process faults: [`Lab::kill`], [`Lab::pause`], [`Lab::resume`], [`Lab::restart`],
//!   [`Lab::start_service`]; data directories survive them.
//! - [`Lab::detach`] hands the processes over to a state file (`harness lab up`), which
//!   [`state`] reads back for `harness lab status` and `harness lab down`.
//!
//! Modules:
//! - [`toxiproxy`]: the async client for Toxiproxy's HTTP API (proxies and toxics).
//! - [`platform`]: the order platform as lab processes, one per service instance,
//!   behind the lab's proxies ([`platform::Platform::deploy`]).
//! - [`smoke`]: a produce/consume round trip through the proxies (`harness lab smoke`).
//! - [`state`]: the state file of a detached lab.
//! - [`secure`]: `lab up --secure`: the throwaway CA, the users and their password
//!   files, Kafka SASL_SSL with ACLs, Redis TLS with an ACL user.
//! - private: `error` ([`LabError`]), `install` (finding `.lab/`), `ports` (free
//!   loopback ports), `process` (one supervised child), `reaper` (exit-time safety
//!   net), `services` (config files and command lines), `ready` (readiness probes),
//!   `endpoints` (addresses, direct and proxied).

mod endpoints;
mod error;
mod install;
pub mod platform;
mod ports;
mod process;
mod ready;
mod reaper;
pub mod secure;
mod services;
pub mod smoke;
pub mod state;
pub mod toxiproxy;

use std::path::{Path, PathBuf};
use std::str::FromStr;
use std::sync::{Mutex, MutexGuard};
use std::time::Duration;

use crate::toxiproxy::Toxiproxy;

pub use endpoints::{BrokerEndpoints, Endpoints, KafkaEndpoints, ProxyEndpoint, RedisEndpoints};
pub use error::LabError;
pub use install::{HOME_ENV, Installation};
pub use process::{ManagedProcess, ProcessSpec, log_tail};
pub use ready::{
    CREATE_TOPICS_PROBE, MetadataBroker, Probe, kafka_brokers, kafka_brokers_with, probe,
    redis_ping, redis_ping_with,
};
pub use services::java;

/// How Redis persists: none (lost on kill), AOF fsync every second, or on every write.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum RedisPersistence {
    #[default]
    None,
    Everysec,
    Always,
}

impl FromStr for RedisPersistence {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s {
            "none" => Ok(Self::None),
            "everysec" => Ok(Self::Everysec),
            "always" => Ok(Self::Always),
            other => Err(format!("`{other}`: expected none, everysec or always")),
        }
    }
}

/// What to start.
#[derive(Debug, Clone)]
pub struct LabSpec {
    /// Start redis-server (and its proxy) with this persistence; `None`: no Redis.
    pub redis: Option<RedisPersistence>,
    /// Number of Kafka nodes: 0 (no Kafka), 1 (one combined node) or 3 (three voters).
    pub brokers: u8,
    /// JVM heap per broker, in MiB.
    pub broker_heap_mb: u32,
    /// Where data and logs go; `None`: a temporary directory removed with the lab.
    pub dir: Option<PathBuf>,
    /// Where `lab/install` put the services; `None`: discover (see [`Installation::discover`]).
    pub installation: Option<PathBuf>,
    /// How long each service may take to become ready.
    pub ready_timeout: Duration,
    /// Seed for Toxiproxy's toxicity dice, so runs are repeatable.
    pub toxiproxy_seed: u64,
    /// Kafka SASL_SSL with ACLs and Redis TLS with an ACL user ([`secure`]): what a real
    /// cluster looks like, so the secured paths are tested against real services.
    pub secure: bool,
}

impl Default for LabSpec {
    fn default() -> Self {
        LabSpec {
            redis: Some(RedisPersistence::None),
            brokers: 1,
            broker_heap_mb: 512,
            dir: None,
            installation: None,
            ready_timeout: Duration::from_secs(90),
            toxiproxy_seed: 42,
            secure: false,
        }
    }
}

impl LabSpec {
    /// Redis and Toxiproxy only.
    pub fn redis_only() -> Self {
        LabSpec {
            brokers: 0,
            ..Self::default()
        }
    }

    /// Kafka with `brokers` nodes and Toxiproxy, no Redis.
    pub fn kafka_only(brokers: u8) -> Self {
        LabSpec {
            redis: None,
            brokers,
            ..Self::default()
        }
    }

    /// Toxiproxy alone (for testing the client).
    pub fn toxiproxy_only() -> Self {
        LabSpec {
            redis: None,
            brokers: 0,
            ..Self::default()
        }
    }

    fn validate(&self) -> Result<(), LabError> {
        if !matches!(self.brokers, 0 | 1 | 3) {
            return Err(LabError::Spec(format!(
                "brokers = {}: the lab runs 1 Kafka node or a 3-node quorum (or 0 for none)",
                self.brokers
            )));
        }
        if self.broker_heap_mb < 128 {
            return Err(LabError::Spec(format!(
                "broker heap {} MiB is too small for a Kafka broker (at least 128)",
                self.broker_heap_mb
            )));
        }
        Ok(())
    }
}

/// A service the lab can signal: `redis`, `toxiproxy` or `kafka-N` (N = node id from 1).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum ServiceId {
    Redis,
    Toxiproxy,
    Kafka(u32),
}

impl std::fmt::Display for ServiceId {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            ServiceId::Redis => f.write_str("redis"),
            ServiceId::Toxiproxy => f.write_str("toxiproxy"),
            ServiceId::Kafka(id) => write!(f, "kafka-{id}"),
        }
    }
}

impl FromStr for ServiceId {
    type Err = LabError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s {
            "redis" => Ok(ServiceId::Redis),
            "toxiproxy" => Ok(ServiceId::Toxiproxy),
            _ => s
                .strip_prefix("kafka-")
                .and_then(|n| n.parse::<u32>().ok())
                .filter(|&n| n >= 1)
                .map(ServiceId::Kafka)
                .ok_or_else(|| LabError::UnknownService(s.to_string())),
        }
    }
}

/// Where the lab keeps its data: removed with the lab, or kept for `lab down`.
#[derive(Debug)]
enum Root {
    Temp(tempfile::TempDir),
    Kept(PathBuf),
}

impl Root {
    fn path(&self) -> &Path {
        match self {
            Root::Temp(dir) => dir.path(),
            Root::Kept(path) => path,
        }
    }
}

/// The processes of a lab the harness started itself.
#[derive(Debug)]
struct Local {
    installation: Installation,
    spec: LabSpec,
    /// Dropped last (fields drop in order), after every process is reaped.
    processes: Vec<(ServiceId, Mutex<ManagedProcess>)>,
    root: Root,
}

/// Running lab services: started here ([`Lab::start`]) or already running elsewhere
/// ([`Lab::external`]). Dropping a started lab reaps every process it started.
#[derive(Debug)]
pub struct Lab {
    endpoints: Endpoints,
    local: Option<Local>,
}

impl Lab {
    /// Starts the services of `spec` on free loopback ports and waits until all are ready.
    /// On error, whatever was started is reaped before returning.
    pub async fn start(spec: LabSpec) -> Result<Lab, LabError> {
        spec.validate()?;
        let installation = match &spec.installation {
            Some(home) => Installation::at(home.clone())?,
            None => Installation::discover()?,
        };
        installation.require(spec.redis.is_some(), spec.brokers > 0)?;
        let root = match &spec.dir {
            Some(dir) => {
                std::fs::create_dir_all(dir).map_err(|e| LabError::io(dir, e))?;
                Root::Kept(std::path::absolute(dir).map_err(|e| LabError::io(dir, e))?)
            }
            None => Root::Temp(
                tempfile::Builder::new()
                    .prefix("harness-lab-")
                    .tempdir()
                    .map_err(|e| LabError::io(&std::env::temp_dir(), e))?,
            ),
        };
        if let Root::Temp(dir) = &root {
            reaper::register_dir(dir.path());
        }
        let (endpoints, processes) = start_with_retries(&installation, &spec, &root).await?;
        Ok(Lab {
            endpoints,
            local: Some(Local {
                installation,
                spec,
                processes,
                root,
            }),
        })
    }

    /// A lab made of services the user runs (compose.yaml, a real cluster). The same
    /// endpoints shape as `harness lab up --json` prints; no process control.
    pub fn external(endpoints: Endpoints) -> Lab {
        Lab {
            endpoints,
            local: None,
        }
    }

    /// True when the harness started (and so controls) the processes.
    pub fn is_local(&self) -> bool {
        self.local.is_some()
    }

    pub fn endpoints(&self) -> &Endpoints {
        &self.endpoints
    }

    /// A client for the lab's Toxiproxy, if it has one.
    pub fn toxiproxy(&self) -> Option<Toxiproxy> {
        self.endpoints.toxiproxy.map(Toxiproxy::new)
    }

    /// The directory holding data and `logs/` (local labs only).
    pub fn dir(&self) -> Option<&Path> {
        self.local.as_ref().map(|l| l.root.path())
    }

    pub fn installation(&self) -> Option<&Installation> {
        self.local.as_ref().map(|l| &l.installation)
    }

    /// The services this lab started, with their current pids (`None` while killed).
    pub fn pids(&self) -> Vec<(ServiceId, Option<u32>)> {
        let Some(local) = &self.local else {
            return Vec::new();
        };
        local
            .processes
            .iter()
            .map(|(id, p)| (*id, lock(p).pid()))
            .collect()
    }

    fn process(&self, id: ServiceId) -> Result<MutexGuard<'_, ManagedProcess>, LabError> {
        let Some(local) = &self.local else {
            return Err(LabError::NoProcessControl {
                service: id.to_string(),
                reason: "this is an external lab: its processes are managed outside the harness"
                    .into(),
            });
        };
        local
            .processes
            .iter()
            .find(|(pid, _)| *pid == id)
            .map(|(_, p)| lock(p))
            .ok_or_else(|| LabError::UnknownService(id.to_string()))
    }

    /// SIGKILL a service (its data directory stays, for [`start_service`](Self::start_service)).
    pub fn kill(&self, id: ServiceId) -> Result<(), LabError> {
        self.process(id)?.kill()
    }

    /// SIGSTOP a service: its sockets stay open, it answers nothing.
    pub fn pause(&self, id: ServiceId) -> Result<(), LabError> {
        self.process(id)?.pause()
    }

    /// SIGCONT a paused service.
    pub fn resume(&self, id: ServiceId) -> Result<(), LabError> {
        self.process(id)?.resume()
    }

    /// Starts a killed or stopped service again with its data and waits until it is ready.
    pub async fn start_service(&self, id: ServiceId) -> Result<(), LabError> {
        self.process(id)?.start()?;
        self.wait_ready(id).await
    }

    /// SIGTERM (then SIGKILL after `grace`), start again, wait until ready.
    pub async fn restart(&self, id: ServiceId, grace: Duration) -> Result<(), LabError> {
        self.process(id)?.request_stop()?;
        let deadline = tokio::time::Instant::now() + grace;
        while self.process(id)?.is_running() {
            if tokio::time::Instant::now() >= deadline {
                self.process(id)?.kill()?;
                break;
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        self.process(id)?.start()?;
        self.wait_ready(id).await
    }

    /// Waits until a service answers its readiness probe again.
    pub async fn wait_ready(&self, id: ServiceId) -> Result<(), LabError> {
        let Some(local) = &self.local else {
            return Ok(());
        };
        let process = local
            .processes
            .iter()
            .find(|(pid, _)| *pid == id)
            .map(|(_, p)| p)
            .ok_or_else(|| LabError::UnknownService(id.to_string()))?;
        ready::service(&self.endpoints, id, process, local.spec.ready_timeout).await
    }

    /// Stops every process in order (brokers, Redis, then Toxiproxy): SIGTERM with
    /// `grace` each, then SIGKILL. Data in a kept directory survives.
    pub fn shutdown(mut self, grace: Duration) {
        if let Some(local) = self.local.take() {
            shutdown_processes(&local.processes, grace);
            if let Root::Temp(dir) = &local.root {
                reaper::unregister_dir(dir.path());
            }
        }
    }

    /// Leaves the processes running after this handle is gone and writes the state file
    /// that `harness lab status` and `harness lab down` read. Only for a lab with a
    /// kept directory (`LabSpec::dir`).
    pub fn detach(mut self) -> Result<state::LabState, LabError> {
        let Some(local) = self.local.take() else {
            return Err(LabError::Spec(
                "an external lab has nothing to detach".into(),
            ));
        };
        let Root::Kept(dir) = &local.root else {
            return Err(LabError::Spec(
                "a lab in a temporary directory cannot be detached".into(),
            ));
        };
        let lab_state = state::LabState::new(dir, &self.endpoints, &local.spec, &local.processes);
        lab_state.write()?;
        for (_, process) in &local.processes {
            lock(process).detach();
        }
        Ok(lab_state)
    }
}

impl Drop for Lab {
    fn drop(&mut self) {
        if let Some(local) = self.local.take() {
            // A temporary lab's data is discarded: no need to wait for clean shutdowns.
            let grace = match &local.root {
                Root::Temp(dir) => {
                    reaper::unregister_dir(dir.path());
                    Duration::ZERO
                }
                Root::Kept(_) => Duration::from_secs(5),
            };
            shutdown_processes(&local.processes, grace);
        }
    }
}

fn shutdown_processes(processes: &[(ServiceId, Mutex<ManagedProcess>)], grace: Duration) {
    let order = |id: &ServiceId| match id {
        ServiceId::Kafka(_) => 0,
        ServiceId::Redis => 1,
        ServiceId::Toxiproxy => 2,
    };
    let mut sorted: Vec<_> = processes.iter().collect();
    sorted.sort_by_key(|(id, _)| order(id));
    if grace.is_zero() {
        for (_, process) in sorted {
            lock(process).terminate(Duration::ZERO);
        }
        return;
    }
    // Brokers shut down together (one at a time would move leadership around for nothing).
    std::thread::scope(|scope| {
        for (_, process) in sorted.iter().filter(|(id, _)| order(id) == 0) {
            scope.spawn(move || lock(process).terminate(grace));
        }
    });
    for (_, process) in sorted.iter().filter(|(id, _)| order(id) > 0) {
        lock(process).terminate(grace);
    }
}

/// A poisoned lock still guards a valid process handle: take it.
fn lock(process: &Mutex<ManagedProcess>) -> MutexGuard<'_, ManagedProcess> {
    process
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner)
}

/// Start attempts when a service loses its port to another process.
const START_ATTEMPTS: u32 = 3;

/// Whether a start failed because a port chosen free was taken before the service bound
/// it (ports are probed by binding port 0 and released before the service starts, so
/// another process, or an outgoing connection's ephemeral port, can take one between).
fn lost_a_port(error: &LabError) -> bool {
    let text = error.to_string();
    [
        "Address already in use",
        "address already in use",
        "BindException",
    ]
    .iter()
    .any(|needle| text.contains(needle))
}

/// `services::start_all`, again with fresh ports (and, in a temporary directory, a clean
/// one) when a service lost its port; any other error is returned at once.
async fn start_with_retries(
    installation: &Installation,
    spec: &LabSpec,
    root: &Root,
) -> Result<(Endpoints, services::Processes), LabError> {
    let mut attempt = 1;
    loop {
        match services::start_all(installation, spec, root.path()).await {
            Err(e)
                if attempt < START_ATTEMPTS && lost_a_port(&e) && matches!(root, Root::Temp(_)) =>
            {
                tracing::warn!(attempt, error = %e, "a lab service lost its port; starting again with fresh ports");
                let dir = root.path();
                let entries = std::fs::read_dir(dir).map_err(|e| LabError::io(dir, e))?;
                for entry in entries.flatten() {
                    let path = entry.path();
                    let _ = if path.is_dir() {
                        std::fs::remove_dir_all(&path)
                    } else {
                        std::fs::remove_file(&path)
                    };
                }
                attempt += 1;
            }
            result => return result,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn service_ids_round_trip() {
        for id in [
            ServiceId::Redis,
            ServiceId::Toxiproxy,
            ServiceId::Kafka(1),
            ServiceId::Kafka(3),
        ] {
            assert_eq!(id.to_string().parse::<ServiceId>().expect("parse"), id);
        }
        for bad in ["kafka-0", "kafka-", "kafka-x", "postgres", ""] {
            assert!(bad.parse::<ServiceId>().is_err(), "{bad}");
        }
    }

    #[test]
    fn spec_rejects_two_brokers() {
        let spec = LabSpec {
            brokers: 2,
            ..LabSpec::default()
        };
        let err = spec.validate().expect_err("2 brokers");
        assert!(err.to_string().contains("3-node quorum"), "{err}");
    }
}
