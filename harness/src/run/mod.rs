//! `harness run`: one experiment, in explicit phases —
//! setup (lab, platform, observers) → warm-up + load + faults → heal → drain → final
//! reads → check → results. Ctrl-C at any phase heals the faults, reaps every process
//! and writes what was recorded, marked incomplete.

pub mod output;
pub mod recorder;

use std::io::IsTerminal;
use std::path::PathBuf;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use anyhow::Context;
use check::{Charge, Meta, StockLine};
use lab::platform::{Platform, PlatformSpec};
use lab::{Lab, LabSpec, RedisPersistence};
use order_platform::bus::{Backend as BusBackend, BusConfig, Guarantee as BusGuarantee};
use tokio::sync::watch;

use crate::chaos::executor::{self, Targets};
use crate::experiment::{Backend, Driver, Experiment, Guarantee};
use crate::observe::tap::TapState;
use crate::observe::{lag, scrape, tap};
use recorder::Recorder;

/// How a run is carried out (not part of the experiment).
#[derive(Debug, Clone)]
pub struct RunOptions {
    /// Where run directories go (`runs/`).
    pub runs_dir: PathBuf,
    /// No live progress line.
    pub quiet: bool,
    /// The command that reproduces the run, recorded in results.json.
    pub command: String,
}

/// What a run produced.
#[derive(Debug, Clone)]
pub struct RunOutcome {
    pub dir: PathBuf,
    pub decision: check::Decision,
    pub interrupted: bool,
}

fn bus_backend(backend: Backend) -> BusBackend {
    match backend {
        Backend::Redis => BusBackend::Redis,
        Backend::Kafka => BusBackend::Kafka,
    }
}

fn bus_guarantee(guarantee: Guarantee) -> BusGuarantee {
    match guarantee {
        Guarantee::AtMostOnce => BusGuarantee::AtMostOnce,
        Guarantee::AtLeastOnce => BusGuarantee::AtLeastOnce,
        Guarantee::ExactlyOnce => BusGuarantee::ExactlyOnce,
    }
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

/// Waits for `duration`, or returns early (true) when `interrupt` fires.
async fn wait_or_interrupt(duration: Duration, interrupt: &mut watch::Receiver<bool>) -> bool {
    tokio::select! {
        _ = tokio::time::sleep(duration) => {}
        _ = interrupt.wait_for(|s| *s) => {}
    }
    *interrupt.borrow()
}

/// Runs one (matrix-expanded) experiment. `interrupt` turns true on Ctrl-C / SIGTERM.
pub async fn run(
    experiment: &Experiment,
    options: &RunOptions,
    mut interrupt: watch::Receiver<bool>,
) -> anyhow::Result<RunOutcome> {
    let setup_started = Instant::now();
    let dir = output::create_dir(
        &options.runs_dir,
        experiment,
        time::OffsetDateTime::now_utc(),
    )?;
    let logs = dir.join("logs");
    let say = |text: String| {
        if !options.quiet {
            eprintln!("{text}");
        }
    };
    say(format!("harness: {} → {}", experiment.name, dir.display()));

    // --- setup -------------------------------------------------------------------
    let lab = tokio::select! {
        lab = Lab::start(lab_spec(experiment)) => lab.context("starting the lab")?,
        _ = interrupt.wait_for(|s| *s) => anyhow::bail!("interrupted while starting the lab; nothing was run"),
    };
    let namespace = format!("h{}", &uuid::Uuid::new_v4().simple().to_string()[..10]);
    let spec = PlatformSpec {
        backend: experiment.system.backend.to_string(),
        guarantee: experiment.system.guarantee.to_string(),
        namespace: namespace.clone(),
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
    };
    let platform = tokio::select! {
        p = Platform::deploy(&lab, &spec, &logs, Duration::from_secs(90)) => p,
        _ = interrupt.wait_for(|s| *s) => {
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
    say(format!(
        "harness: lab and platform up after {:.1} s",
        setup_started.elapsed().as_secs_f64()
    ));
    let toxiproxy = lab.toxiproxy().context("the lab has no Toxiproxy")?;
    let endpoints = lab.endpoints().clone();
    let observer_bus = BusConfig {
        backend: bus_backend(experiment.system.backend),
        guarantee: bus_guarantee(experiment.system.guarantee),
        namespace,
        service: "harness-tap".into(),
        instance: 0,
        redis_url: endpoints
            .redis
            .as_ref()
            .map(|r| r.direct_url())
            .unwrap_or_default(),
        kafka_bootstrap: endpoints
            .kafka
            .as_ref()
            .map(|k| k.bootstrap_direct.clone())
            .unwrap_or_default(),
        partitions: experiment.system.partitions.get() as i32,
        replication: -1,
        claim_idle: Duration::from_secs(5),
        request_timeout: Duration::from_secs(5),
        topics: Vec::new(),
    };

    // The run's clock starts now: warm-up, then the load phase.
    let recorder = Arc::new(Recorder::new());
    let (stop_observers, observers_stop) = watch::channel(false);
    let tap_state = Arc::new(Mutex::new(TapState::default()));
    let tap_task = tokio::spawn(tap::run(
        observer_bus.clone(),
        recorder.clone(),
        tap_state.clone(),
        observers_stop.clone(),
    ));
    let lag_task = tokio::spawn(lag::run(
        observer_bus.clone(),
        recorder.clone(),
        observers_stop.clone(),
    ));
    let scrape_task = tokio::spawn(scrape::run(
        platform.instances(),
        recorder.clone(),
        observers_stop.clone(),
    ));

    // --- warm-up + load + faults ---------------------------------------------------
    let orders = crate::load::plan(experiment);
    let planned = orders.len();
    let load_start = recorder.t0() + experiment.warmup;
    let load_end = load_start + experiment.duration;
    let (stop_load, load_stop) = watch::channel(false);
    let order_url = format!(
        "http://{}",
        platform.http("order", 0).context("no order service")?
    );
    let mut producer_bus = observer_bus.clone();
    producer_bus.topics = tap::TOPICS.iter().map(|t| t.to_string()).collect();
    let poison_count = (planned as f64 * experiment.workload.poison_ratio.get()).round() as u64;
    let poison = tokio::spawn(crate::load::direct::poison(
        poison_count,
        experiment.warmup + experiment.duration,
        producer_bus.clone(),
        load_stop.clone(),
    ));
    let load = match experiment.workload.driver {
        Driver::Http => {
            let (recorder, stop, logs) = (recorder.clone(), load_stop.clone(), logs.clone());
            tokio::spawn(async move {
                crate::load::http::run(orders, order_url, recorder, stop, &logs).await
            })
        }
        Driver::Direct => tokio::spawn(crate::load::direct::run(
            orders,
            producer_bus,
            recorder.clone(),
            load_stop.clone(),
        )),
    };
    let progress = (!options.quiet).then(|| {
        tokio::spawn(progress(
            recorder.clone(),
            tap_state.clone(),
            planned,
            experiment.warmup + experiment.duration,
            load_stop.clone(),
        ))
    });
    let targets = Targets {
        lab: &lab,
        platform: &platform,
    };
    let mut interrupted = false;
    {
        let faults = executor::run(
            &experiment.faults,
            targets,
            toxiproxy.clone(),
            recorder.clone(),
            load_start,
            load_end,
            load_stop.clone(),
        );
        tokio::pin!(faults);
        let mut faults_done = false;
        let deadline = tokio::time::sleep_until(load_end.into());
        tokio::pin!(deadline);
        loop {
            tokio::select! {
                _ = &mut faults, if !faults_done => faults_done = true,
                _ = &mut deadline => break,
                _ = interrupt.wait_for(|s| *s) => { interrupted = true; break; }
            }
        }
        let _ = stop_load.send(true);
        // Faults still active end now (their tasks see the stop and heal).
        if !faults_done {
            faults.await;
        }
    }
    let _ = load.await;
    let _ = poison.await;
    if let Some(p) = progress {
        p.abort();
        if std::io::stderr().is_terminal() {
            eprintln!();
        }
    }
    // --- heal ----------------------------------------------------------------------
    executor::heal_all(&experiment.faults, targets, &toxiproxy).await;
    let load_end_us = recorder.now_us();

    // --- drain ---------------------------------------------------------------------
    if !interrupted {
        say(format!(
            "harness: load done; draining (up to {:?})",
            experiment.drain_timeout
        ));
        let acked: Vec<String> = recorder
            .history()
            .sends
            .iter()
            .filter(|s| s.outcome == check::SendOutcome::Acked)
            .map(|s| s.order_id.clone())
            .collect();
        let drain_deadline = Instant::now() + experiment.drain_timeout;
        loop {
            let done = tap_state
                .lock()
                .map(|s| acked.iter().all(|o| s.terminal.contains(o)))
                .unwrap_or(false);
            if done || Instant::now() >= drain_deadline {
                break;
            }
            if wait_or_interrupt(Duration::from_millis(250), &mut interrupt).await {
                interrupted = true;
                break;
            }
        }
    }
    // Let the tap read what is already there.
    tokio::time::sleep(Duration::from_millis(500)).await;
    let drain_end_us = recorder.now_us();

    // --- final reads -----------------------------------------------------------------
    final_reads(&platform, experiment, &recorder).await;
    let platform_running = platform.running();
    tokio::task::spawn_blocking(move || platform.shutdown(Duration::from_secs(5))).await?;
    // Nothing writes any more: let the tap read to the end, then stop the observers.
    let settle = Instant::now() + Duration::from_secs(10);
    let mut last = u64::MAX;
    loop {
        let now = tap_state
            .lock()
            .map(|s| s.observed + s.undecodable)
            .unwrap_or(0);
        if now == last || Instant::now() >= settle {
            break;
        }
        last = now;
        tokio::time::sleep(Duration::from_millis(700)).await;
    }
    let _ = stop_observers.send(true);
    for task in [tap_task, lag_task, scrape_task] {
        let _ = task.await;
    }
    let cross_check = cross_check(&lab, &observer_bus, &tap_state).await;
    copy_lab_logs(&lab, &logs);
    let environment = environment(&lab);
    tokio::task::spawn_blocking(move || drop(lab)).await?;
    for (service, instance, up) in platform_running {
        if !up {
            say(format!(
                "harness: note: {service}#{instance} was not running at the end of the run"
            ));
        }
    }

    // --- check and results ------------------------------------------------------------
    let mut history = std::mem::take(&mut *recorder.history());
    history.meta = Some(Meta {
        experiment: experiment.name.clone(),
        seed: experiment.seed,
        backend: match experiment.system.backend {
            Backend::Redis => check::Backend::Redis,
            Backend::Kafka => check::Backend::Kafka,
        },
        guarantee: match experiment.system.guarantee {
            Guarantee::AtMostOnce => check::Guarantee::AtMostOnce,
            Guarantee::AtLeastOnce => check::Guarantee::AtLeastOnce,
            Guarantee::ExactlyOnce => check::Guarantee::ExactlyOnce,
        },
        warmup_end_us: recorder.at_us(load_start),
        load_end_us: load_end_us.min(recorder.at_us(load_end)),
        drain_end_us,
        complete: !interrupted,
    });
    history.sends.sort_by_key(|s| s.intended_us);
    std::fs::write(dir.join("history.jsonl"), history.to_jsonl())
        .context("writing history.jsonl")?;
    let analysis = check::analyze(
        &history,
        &check::AnalysisOptions {
            causality_slack_us: 250_000,
            ..Default::default()
        },
    );
    let thresholds: Vec<check::Threshold> = experiment
        .thresholds
        .iter()
        .filter_map(|t| check::parse_threshold(&t.metric, &t.expression).ok())
        .collect();
    let results = check::evaluate(&analysis, &thresholds);
    let verdict = check::verdict(history.meta.as_ref(), &analysis, &results);
    let document = output::results(
        experiment,
        recorder.started_at(),
        time::OffsetDateTime::now_utc(),
        !interrupted,
        environment,
        &options.command,
        &analysis,
        &results,
        &verdict,
    );
    let mut document = document;
    document["cross_check"] = cross_check;
    std::fs::write(
        dir.join("results.json"),
        serde_json::to_string_pretty(&document)?,
    )
    .context("writing results.json")?;
    let summary = output::write_reports(&dir, &document)?;
    output::link_latest(&dir);
    if !options.quiet {
        eprintln!();
    }
    {
        use std::io::Write as _;
        let _ = std::io::stdout().lock().write_all(&summary);
    }
    crate::say!("\nresults: {}", dir.display());
    crate::say!("report:  {}", dir.join("report.html").display());
    Ok(RunOutcome {
        dir,
        decision: verdict.decision,
        interrupted,
    })
}

/// The gateway's ledger and the inventory, read once at the end.
async fn final_reads(platform: &Platform, experiment: &Experiment, recorder: &Recorder) {
    let client = reqwest::Client::builder()
        .timeout(Duration::from_secs(5))
        .no_proxy()
        .build()
        .unwrap_or_default();
    if let Some(gateway) = platform.http("payment-gateway", 0) {
        let ledger: Option<serde_json::Value> =
            match client.get(format!("http://{gateway}/ledger")).send().await {
                Ok(r) => r.json().await.ok(),
                Err(_) => None,
            };
        let charges: Vec<Charge> = ledger
            .as_ref()
            .and_then(|l| l["charges"].as_array())
            .map(|list| {
                list.iter()
                    .filter_map(|c| {
                        Some(Charge {
                            order_id: c["order_id"].as_str()?.into(),
                            charge_id: c["charge_id"].as_str()?.into(),
                        })
                    })
                    .collect()
            })
            .unwrap_or_default();
        recorder.history().charges.extend(charges);
    }
    if let Some(inventory) = platform.http("inventory", 0) {
        let initial = i64::from(experiment.system.initial_stock);
        for sku in 0..experiment.system.skus.get() {
            let url = format!("http://{inventory}/inventory/sku-{sku}");
            let Ok(response) = client.get(&url).send().await else {
                continue;
            };
            let Ok(view) = response.json::<serde_json::Value>().await else {
                continue;
            };
            let lines: Vec<StockLine> = view["shards"]
                .as_array()
                .map(|shards| {
                    shards
                        .iter()
                        .map(|s| StockLine {
                            sku: format!("sku-{sku}"),
                            shard: s["shard"].as_u64().unwrap_or(0) as u32,
                            available: s["available"].as_i64().unwrap_or(0),
                            reserved: s["reserved"].as_i64().unwrap_or(0),
                            initial,
                        })
                        .collect()
                })
                .unwrap_or_default();
            recorder.history().stock.extend(lines);
        }
    }
}

/// Entries per topic as the tap read them and as an independent reader counts them
/// (`redis-cli XLEN` on Redis, `kcat` read_committed on Kafka), on the direct endpoints.
async fn cross_check(lab: &Lab, bus: &BusConfig, tap: &Mutex<TapState>) -> serde_json::Value {
    let Some(installation) = lab.installation() else {
        return serde_json::Value::Null;
    };
    let endpoints = lab.endpoints();
    let mut out = serde_json::Map::new();
    for topic in tap::TOPICS {
        let physical = bus.physical(topic);
        let mut command = match bus.backend {
            BusBackend::Redis => {
                let Some(redis) = &endpoints.redis else {
                    continue;
                };
                let mut c = tokio::process::Command::new(installation.redis_cli());
                c.args([
                    "-h",
                    "127.0.0.1",
                    "-p",
                    &redis.direct.port().to_string(),
                    "XLEN",
                    &physical,
                ]);
                c
            }
            BusBackend::Kafka => {
                let Some(kafka) = &endpoints.kafka else {
                    continue;
                };
                let mut c = tokio::process::Command::new(installation.kcat());
                c.args([
                    "-C",
                    "-b",
                    &kafka.bootstrap_direct,
                    "-t",
                    &physical,
                    "-e",
                    "-q",
                    "-f",
                    "%o\\n",
                ]);
                c.args(["-X", "isolation.level=read_committed"]);
                c
            }
        };
        command
            .kill_on_drop(true)
            .stdin(std::process::Stdio::null());
        let Ok(Ok(output)) = tokio::time::timeout(Duration::from_secs(30), command.output()).await
        else {
            continue;
        };
        let text = String::from_utf8_lossy(&output.stdout);
        let independent = match bus.backend {
            BusBackend::Redis => text.trim().parse::<u64>().unwrap_or(0),
            BusBackend::Kafka => text.lines().filter(|l| !l.trim().is_empty()).count() as u64,
        };
        let read = tap
            .lock()
            .map(|s| s.entries.get(topic).map_or(0, |e| e.len() as u64))
            .unwrap_or(0);
        out.insert(
            topic.to_string(),
            serde_json::json!({"tap": read, "independent": independent}),
        );
    }
    serde_json::Value::Object(out)
}

fn copy_lab_logs(lab: &Lab, logs: &std::path::Path) {
    let Some(dir) = lab.dir() else { return };
    if let Ok(entries) = std::fs::read_dir(dir.join("logs")) {
        for entry in entries.flatten() {
            let _ = std::fs::copy(entry.path(), logs.join(entry.file_name()));
        }
    }
}

fn environment(lab: &Lab) -> serde_json::Value {
    serde_json::json!({
        "harness": env!("CARGO_PKG_VERSION"),
        "lab": lab.installation().map(|i| i.versions()).unwrap_or(serde_json::Value::Null),
        "os": std::env::consts::OS,
        "arch": std::env::consts::ARCH,
        "cpus": std::thread::available_parallelism().map(|n| n.get()).unwrap_or(0),
    })
}

/// The live line: elapsed, target vs achieved rate, acked, observed, completed.
async fn progress(
    recorder: Arc<Recorder>,
    tap: Arc<Mutex<TapState>>,
    planned: usize,
    total: Duration,
    mut stop: watch::Receiver<bool>,
) {
    let terminal = std::io::stderr().is_terminal();
    let mut ticker = tokio::time::interval(Duration::from_secs(1));
    let mut last_sent = 0usize;
    let mut tick = 0u64;
    loop {
        tokio::select! {
            _ = ticker.tick() => {}
            _ = stop.wait_for(|s| *s) => return,
        }
        tick += 1;
        let (sent, acked, lags) = {
            let h = recorder.history();
            let acked = h
                .sends
                .iter()
                .filter(|s| s.outcome == check::SendOutcome::Acked)
                .count();
            let lag: u64 = h.lags.iter().rev().take(6).map(|l| l.lag).sum();
            (h.sends.len(), acked, lag)
        };
        let (observed, completed) = tap
            .lock()
            .map(|s| (s.observed, s.terminal.len()))
            .unwrap_or((0, 0));
        let line = format!(
            "[{:>5.1}/{:.0}s] sent {sent}/{planned} ({}/s), acked {acked}, observed {observed}, completed {completed}, lag {lags}",
            recorder.t0().elapsed().as_secs_f64(),
            total.as_secs_f64(),
            sent - last_sent,
        );
        last_sent = sent;
        if terminal {
            eprint!("\r{line:<110}");
        } else if tick.is_multiple_of(5) {
            eprintln!("{line}");
        }
    }
}
