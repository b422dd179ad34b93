//! Setup: the lab (started here, or an external one checked before any load), the
//! order platform behind its proxies (unless the platform is external), and the
//! observers (tap, lag sampler, metrics scrape) on the direct endpoints. The run's
//! clock starts when the observers do.

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
use lab::platform::{Platform, PlatformSpec, Tuning};
use lab::toxiproxy::Toxiproxy;
use lab::{Lab, LabSpec, RedisPersistence};

/// Everything the later phases work with.
#[derive(Debug)]
pub(super) struct Setup {
    /// Put before each fault's id to name its toxic (`h1a2b…-f1` on an external lab).
    pub toxic_prefix: String,
    pub lab: Lab,
    /// The reference platform the harness deployed; `None` when it is external.
    pub platform: Option<Platform>,
    /// The lab's Toxiproxy; an external lab may have none (no network faults).
    pub toxiproxy: Option<Toxiproxy>,
    /// Where the http driver POSTs orders (`http://host:port`).
    pub order_url: Option<String>,
    /// The logical topic the direct driver produces `OrderPlaced` (and poison) to.
    pub input: String,
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

fn platform_spec(experiment: &Experiment, namespace: &str, external_lab: bool) -> PlatformSpec {
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
        // The local lab's brokers default to the experiment's replication; an external
        // cluster's defaults are its own, so the experiment's count is asked for.
        replication: (external_lab && experiment.system.backend == Backend::Kafka)
            .then(|| experiment.system.brokers.count()),
    }
}

/// The observers' bus; `namespace` is the run's, or an external platform's.
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

/// Starts (or checks) the lab and deploys the platform, then the observers; the run's
/// clock starts with them. `touched` is set once an external lab passed its checks
/// (from then on the run may create streams, topics and groups there).
pub(super) async fn setup(
    experiment: &Experiment,
    options: &super::RunOptions,
    namespace: &str,
    dir: &Path,
    stop: &Stop,
    say: &Say,
    touched: &std::sync::atomic::AtomicBool,
) -> anyhow::Result<Setup> {
    let started = Instant::now();
    let logs = dir.join("logs");
    if experiment.system.platform.external().is_some() && options.lab.is_none() {
        // `harness run` refuses this with a located message; a library caller learns here.
        anyhow::bail!(
            "platform = \"external\" needs an external lab (--endpoints FILE or [lab] endpoints)"
        );
    }
    let lab = match &options.lab {
        Some(external) => {
            super::external::preflight(external, experiment).await?;
            touched.store(true, std::sync::atomic::Ordering::SeqCst);
            Lab::external(external.endpoints.clone())
        }
        None => tokio::select! {
            lab = Lab::start(lab_spec(experiment)) => lab.context("starting the lab")?,
            _ = stop.stopped() => anyhow::bail!("interrupted while starting the lab; nothing was run"),
        },
    };
    let external = experiment.system.platform.external();
    let platform = match external {
        Some(_) => None,
        None => Some(deploy(experiment, &lab, namespace, &logs, stop).await?),
    };
    say.line(format!(
        "harness: {} and {} after {:.1} s",
        if lab.is_local() {
            "lab up"
        } else {
            "external lab answered"
        },
        if platform.is_some() {
            "platform up"
        } else {
            "external platform named"
        },
        started.elapsed().as_secs_f64()
    ));
    let toxiproxy = lab.toxiproxy();
    let order_url = match (external, &platform) {
        (Some(e), _) => e.order_url.clone(),
        (None, Some(p)) => p.http("order", 0).map(|a| format!("http://{a}")),
        (None, None) => None,
    };
    let input = external.map_or_else(|| "orders".to_owned(), |e| e.input.clone());
    // The tap reads an external platform's topics under its own namespace.
    let bus_namespace = external.map_or_else(|| namespace.to_owned(), |e| e.namespace.clone());
    let bus = observer_bus(experiment, &lab, bus_namespace);
    let topics: Vec<String> = match external {
        Some(e) => e.topics.clone(),
        None => tap::TOPICS.iter().map(|t| t.to_string()).collect(),
    };

    if let Some(at) = options.start_at {
        wait_until(at, stop, say).await?;
    }
    let history = dir.join(experiment.history.file_name());
    let recorder = Arc::new(
        Recorder::create(
            &history,
            experiment.history,
            super::judge::analysis_options(experiment),
        )
        .with_context(|| format!("creating {}", history.display()))?,
    );
    let stopper = Stopper::new();
    let tap = Arc::new(Mutex::new(TapState {
        topics: topics.clone(),
        ..TapState::default()
    }));
    // An external platform's topics hold what it did before the run: the tap starts
    // where they end now, before any load is sent.
    let start = match external {
        Some(_) => tap::ends(&bus, &topics, &tap).await.map_err(|e| {
            anyhow::anyhow!("finding where the external platform's topics end: {e}")
        })?,
        None => Default::default(),
    };
    let tasks = vec![
        tokio::spawn(tap::run(
            bus.clone(),
            topics,
            start,
            recorder.clone(),
            tap.clone(),
            experiment.shard,
            stopper.stop_token(),
        )),
        tokio::spawn(lag::run(
            bus.clone(),
            recorder.clone(),
            tap.clone(),
            stopper.stop_token(),
        )),
        tokio::spawn(scrape::run(
            platform.as_ref().map(|p| p.instances()).unwrap_or_default(),
            recorder.clone(),
            stopper.stop_token(),
        )),
    ];
    Ok(Setup {
        // Toxics on a lab the harness did not start carry the run's namespace, so runs
        // sharing its Toxiproxy never add, or heal, each other's.
        toxic_prefix: if lab.is_local() {
            String::new()
        } else {
            format!("{namespace}-")
        },
        lab,
        platform,
        toxiproxy,
        order_url,
        input,
        bus,
        recorder,
        tap,
        observers: Observers { stopper, tasks },
        logs,
    })
}

/// Waits for `--start-at` (a time already past: at once, with a warning).
async fn wait_until(at: time::OffsetDateTime, stop: &Stop, say: &Say) -> anyhow::Result<()> {
    let wait = at - time::OffsetDateTime::now_utc();
    if wait.is_negative() {
        say.line(format!(
            "harness: warning: --start-at was {:.1} s ago; starting now (the shards' clocks differ by as much)",
            -wait.as_seconds_f64()
        ));
        return Ok(());
    }
    say.line(format!(
        "harness: waiting {:.1} s for --start-at",
        wait.as_seconds_f64()
    ));
    let wait = Duration::try_from(wait).unwrap_or_default();
    tokio::select! {
        _ = tokio::time::sleep(wait) => Ok(()),
        _ = stop.stopped() => anyhow::bail!("interrupted while waiting for --start-at; nothing was run"),
    }
}

/// Deploys the reference platform on `lab`, under the run's namespace. On an external
/// lab (possibly shared) its gateway proxy is named after the run, so runs do not
/// replace each other's; teardown deletes it.
async fn deploy(
    experiment: &Experiment,
    lab: &Lab,
    namespace: &str,
    logs: &Path,
    stop: &Stop,
) -> anyhow::Result<Platform> {
    let spec = platform_spec(experiment, namespace, !lab.is_local());
    let tuning = Tuning {
        gateway_proxy: (!lab.is_local()).then(|| format!("{namespace}-gateway")),
        ..Tuning::default()
    };
    let platform = tokio::select! {
        p = Platform::deploy_tuned(lab, &spec, &tuning, logs, Duration::from_secs(90)) => p,
        _ = stop.stopped() => {
            copy_lab_logs(lab, logs);
            anyhow::bail!("interrupted while deploying the platform; nothing was run");
        }
    };
    platform.map_err(|e| {
        copy_lab_logs(lab, logs);
        anyhow::Error::new(e).context("deploying the order platform")
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
