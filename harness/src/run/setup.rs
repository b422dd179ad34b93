//! Setup: the lab, the order platform behind its proxies, and the observers (tap, lag
//! sampler, metrics scrape) on the direct endpoints. The run's clock starts when the
//! observers do.

use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use anyhow::Context;
use order_platform::bus::BusConfig;
use tokio::task::JoinHandle;

use super::Say;
use crate::experiment::{Backend, Experiment};
use crate::journal::Recorder;
use crate::observe::tap::TapState;
use crate::observe::{lag, scrape, tap};
use crate::stop::{Stop, Stopper};
use lab::platform::{Platform, PlatformSpec};
use lab::toxiproxy::Toxiproxy;
use lab::{Lab, LabSpec, RedisPersistence};

/// Everything the later phases work with.
#[derive(Debug)]
pub(super) struct Setup {
    pub lab: Lab,
    pub platform: Platform,
    pub toxiproxy: Toxiproxy,
    /// The observers' bus: the run's namespace on the DIRECT endpoints, so measuring is
    /// not itself faulted.
    pub bus: BusConfig,
    pub recorder: Arc<Recorder>,
    pub tap: Arc<Mutex<TapState>>,
    pub observers: Observers,
    pub logs: PathBuf,
}

/// The observer tasks and what stops them.
#[derive(Debug)]
pub(super) struct Observers {
    pub stopper: Stopper,
    pub tasks: Vec<JoinHandle<()>>,
}

fn lab_spec(experiment: &Experiment) -> LabSpec {
    let system = &experiment.system;
    let persistence = match system.redis_persistence {
        crate::experiment::RedisPersistence::None => RedisPersistence::None,
        crate::experiment::RedisPersistence::Everysec => RedisPersistence::Everysec,
        crate::experiment::RedisPersistence::Always => RedisPersistence::Always,
    };
    LabSpec {
        redis: (system.backend == Backend::Redis).then_some(persistence),
        brokers: if system.backend == Backend::Kafka {
            system.brokers.count() as u8
        } else {
            0
        },
        toxiproxy_seed: experiment.seed,
        ..LabSpec::default()
    }
}

fn platform_spec(experiment: &Experiment, namespace: &str) -> PlatformSpec {
    PlatformSpec {
        backend: experiment.system.backend,
        guarantee: experiment.system.guarantee,
        namespace: namespace.to_string(),
        partitions: experiment.system.partitions.get(),
        skus: experiment.system.skus.get(),
        initial_stock: experiment.system.initial_stock,
        decline_ratio: experiment.workload.payment_failure_ratio.get(),
        seed: experiment.seed,
        replicas: experiment
            .system
            .replicas
            .iter()
            .map(|(s, n)| (s.to_string(), n.get()))
            .collect(),
        claim_idle: Duration::from_secs(3),
    }
}

fn observer_bus(experiment: &Experiment, lab: &Lab, namespace: String) -> BusConfig {
    let endpoints = lab.endpoints();
    BusConfig {
        backend: experiment.system.backend,
        guarantee: experiment.system.guarantee,
        namespace,
        service: "harness-tap".into(),
        instance: 0,
        redis_url: endpoints
            .redis
            .as_ref()
            .map(|r| r.direct_url())
            .unwrap_or_default(),
        redis_security: endpoints
            .redis
            .as_ref()
            .map(|r| r.security.clone())
            .unwrap_or_default(),
        kafka_bootstrap: endpoints
            .kafka
            .as_ref()
            .map(|k| k.bootstrap_direct.clone())
            .unwrap_or_default(),
        kafka_security: endpoints
            .kafka
            .as_ref()
            .map(|k| k.security.clone())
            .unwrap_or_default(),
        partitions: experiment.system.partitions.get() as i32,
        replication: -1,
        claim_idle: Duration::from_secs(5),
        request_timeout: Duration::from_secs(5),
        topics: Vec::new(),
        tuning: Default::default(),
    }
}

/// Starts the lab and the platform, then the observers; the run's clock starts with them.
pub(super) async fn setup(
    experiment: &Experiment,
    dir: &Path,
    stop: &Stop,
    say: &Say,
) -> anyhow::Result<Setup> {
    let started = Instant::now();
    let logs = dir.join("logs");
    let lab = tokio::select! {
        lab = Lab::start(lab_spec(experiment)) => lab.context("starting the lab")?,
        _ = stop.stopped() => anyhow::bail!("interrupted while starting the lab; nothing was run"),
    };
    let namespace = format!("h{}", &uuid::Uuid::new_v4().simple().to_string()[..10]);
    let spec = platform_spec(experiment, &namespace);
    let platform = tokio::select! {
        p = Platform::deploy(&lab, &spec, &logs, Duration::from_secs(90)) => p,
        _ = stop.stopped() => {
            copy_lab_logs(&lab, &logs);
            anyhow::bail!("interrupted while deploying the platform; nothing was run");
        }
    };
    let platform = match platform {
        Ok(p) => p,
        Err(e) => {
            copy_lab_logs(&lab, &logs);
            return Err(e).context("deploying the order platform");
        }
    };
    say.line(format!(
        "harness: lab and platform up after {:.1} s",
        started.elapsed().as_secs_f64()
    ));
    let toxiproxy = lab.toxiproxy().context("the lab has no Toxiproxy")?;
    let bus = observer_bus(experiment, &lab, namespace);

    let history = dir.join(experiment.history.file_name());
    let recorder = Arc::new(
        Recorder::create(
            &history,
            experiment.history,
            super::judge::analysis_options(),
        )
        .with_context(|| format!("creating {}", history.display()))?,
    );
    let stopper = Stopper::new();
    let tap = Arc::new(Mutex::new(TapState::default()));
    let tasks = vec![
        tokio::spawn(tap::run(
            bus.clone(),
            recorder.clone(),
            tap.clone(),
            stopper.stop_token(),
        )),
        tokio::spawn(lag::run(
            bus.clone(),
            recorder.clone(),
            tap.clone(),
            stopper.stop_token(),
        )),
        tokio::spawn(scrape::run(
            platform.instances(),
            recorder.clone(),
            stopper.stop_token(),
        )),
    ];
    Ok(Setup {
        lab,
        platform,
        toxiproxy,
        bus,
        recorder,
        tap,
        observers: Observers { stopper, tasks },
        logs,
    })
}

/// The lab's own logs (brokers, Redis, Toxiproxy) into the run's `logs/`.
pub(super) fn copy_lab_logs(lab: &Lab, logs: &Path) {
    let Some(dir) = lab.dir() else { return };
    if let Ok(entries) = std::fs::read_dir(dir.join("logs")) {
        for entry in entries.flatten() {
            let _ = std::fs::copy(entry.path(), logs.join(entry.file_name()));
        }
    }
}
