//! The fault plan on the run's clock: each fault starts at its `at` (from the start of
//! the load phase), lasts its `for`, and is healed; each records its real start and end.
//! [`heal_all`] undoes whatever is still active — at the end of the load phase, on error
//! and on Ctrl-C.

use std::sync::Arc;
use std::time::{Duration, Instant};

use check::FaultRecord;
use lab::platform::Platform;
use lab::toxiproxy::{Toxic as ProxyToxic, Toxiproxy};
use lab::{Lab, LabError, ServiceId};

use crate::experiment::{Fault, FaultKind, Stream, Target, Toxic};
use crate::journal::Recorder;
use crate::stop::Stop;

const NO_TOXIPROXY: &str = "the lab has no Toxiproxy: network faults cannot be applied";

/// What faults act on.
#[derive(Debug, Clone, Copy)]
pub struct Targets<'a> {
    pub lab: &'a Lab,
    /// The platform the harness deployed (`None` for an external platform: validation
    /// refuses faults on its instances).
    pub platform: Option<&'a Platform>,
    /// Whether this process acts on the services every shard of a sharded run shares
    /// (Redis, the brokers and their proxies): only the first shard does; the others
    /// record those faults' windows without acting, so a toxic is not added twice.
    /// Faults on the shard's own platform (its instances, its gateway proxy) act in
    /// every shard. Always `true` for a run that is not sharded.
    pub shared: bool,
    /// Put before a fault's id (`f1`) to name its toxic: the run's namespace on a lab
    /// the harness did not start, whose Toxiproxy other runs may share.
    pub toxic_prefix: &'a str,
}

/// Whether `target` is one of the services every shard shares.
fn is_shared(target: Target) -> bool {
    matches!(target, Target::Redis | Target::Broker(_))
}

impl<'a> Targets<'a> {
    fn platform(self) -> Result<&'a Platform, LabError> {
        self.platform.ok_or_else(|| LabError::NoProcessControl {
            service: "the platform".into(),
            reason: "the platform is external: the harness did not start it".into(),
        })
    }
}

/// The Toxiproxy proxy a network fault on `target` goes through, as the lab's endpoints
/// name it; the gateway's is the deployed platform's own (`lab::platform::GATEWAY_PROXY`
/// unless it was deployed with another name).
fn proxy_name(target: Target, targets: Targets<'_>) -> Option<String> {
    let endpoints = targets.lab.endpoints();
    match target {
        Target::Redis => endpoints.redis.as_ref().map(|r| r.proxy.clone()),
        Target::Broker(n) => endpoints.broker(n).map(|b| b.proxy.clone()),
        Target::Gateway => targets.platform.map(|p| p.gateway_proxy.clone()),
        Target::Service { .. } => None,
    }
}

fn proxy_toxic(name: &str, toxic: Toxic, stream: Stream, toxicity: f64) -> ProxyToxic {
    let t = match toxic {
        Toxic::Latency { latency, jitter } => ProxyToxic::latency(name, latency, jitter),
        Toxic::Bandwidth { rate_kbps } => ProxyToxic::bandwidth(name, rate_kbps.get()),
        Toxic::Timeout { timeout } => ProxyToxic::timeout(name, timeout.unwrap_or(Duration::ZERO)),
        Toxic::ResetPeer { timeout } => ProxyToxic::reset_peer(name, timeout),
        Toxic::Slicer {
            average_size,
            size_variation,
            delay,
        } => ProxyToxic::slicer(name, average_size.get(), size_variation, delay),
        Toxic::LimitData { bytes } => ProxyToxic::limit_data(name, bytes),
    };
    let t = match stream {
        Stream::Upstream => t.upstream(),
        Stream::Downstream => t.downstream(),
    };
    t.with_toxicity(toxicity as f32)
}

async fn kill(targets: Targets<'_>, target: Target) -> Result<(), String> {
    match target {
        Target::Redis => targets.lab.kill(ServiceId::Redis),
        Target::Broker(n) => targets.lab.kill(ServiceId::Kafka(n)),
        Target::Service { name, instance } => targets
            .platform()
            .and_then(|p| p.kill(&name.to_string(), instance)),
        Target::Gateway => return Err("the gateway is faulted through its proxy".into()),
    }
    .map_err(|e| e.to_string())
}

async fn start(targets: Targets<'_>, target: Target) -> Result<(), String> {
    match target {
        Target::Redis => targets.lab.start_service(ServiceId::Redis).await,
        Target::Broker(n) => targets.lab.start_service(ServiceId::Kafka(n)).await,
        Target::Service { name, instance } => match targets.platform() {
            Ok(p) => {
                p.start(&name.to_string(), instance, Duration::from_secs(60))
                    .await
            }
            Err(e) => Err(e),
        },
        Target::Gateway => return Ok(()),
    }
    .map_err(|e| e.to_string())
}

fn pause(targets: Targets<'_>, target: Target, on: bool) -> Result<(), String> {
    let result = match (target, on) {
        (Target::Redis, true) => targets.lab.pause(ServiceId::Redis),
        (Target::Redis, false) => targets.lab.resume(ServiceId::Redis),
        (Target::Broker(n), true) => targets.lab.pause(ServiceId::Kafka(n)),
        (Target::Broker(n), false) => targets.lab.resume(ServiceId::Kafka(n)),
        (Target::Service { name, instance }, true) => targets
            .platform()
            .and_then(|p| p.pause(&name.to_string(), instance)),
        (Target::Service { name, instance }, false) => targets
            .platform()
            .and_then(|p| p.resume(&name.to_string(), instance)),
        (Target::Gateway, _) => return Err("the gateway is faulted through its proxy".into()),
    };
    result.map_err(|e| e.to_string())
}

/// Applies one fault; returns how to heal it.
async fn apply(
    targets: Targets<'_>,
    toxiproxy: Option<&Toxiproxy>,
    id: &str,
    fault: &Fault,
) -> Result<(), String> {
    let proxy = proxy_name(fault.target, targets);
    match fault.kind {
        FaultKind::Toxic {
            toxic,
            stream,
            toxicity,
            ..
        } => {
            let proxy = proxy.ok_or("not a proxied target")?;
            toxiproxy
                .ok_or(NO_TOXIPROXY)?
                .add_toxic(
                    &proxy,
                    &proxy_toxic(
                        &format!("{}{id}", targets.toxic_prefix),
                        toxic,
                        stream,
                        toxicity.get(),
                    ),
                )
                .await
                .map(drop)
                .map_err(|e| e.to_string())
        }
        FaultKind::Down { .. } => {
            let proxy = proxy.ok_or("not a proxied target")?;
            toxiproxy
                .ok_or(NO_TOXIPROXY)?
                .set_enabled(&proxy, false)
                .await
                .map(drop)
                .map_err(|e| e.to_string())
        }
        FaultKind::Kill { .. } => kill(targets, fault.target).await,
        FaultKind::Pause { .. } => pause(targets, fault.target, true),
        FaultKind::Restart => match fault.target {
            Target::Redis => targets
                .lab
                .restart(ServiceId::Redis, Duration::from_secs(10))
                .await
                .map_err(|e| e.to_string()),
            Target::Broker(n) => targets
                .lab
                .restart(ServiceId::Kafka(n), Duration::from_secs(10))
                .await
                .map_err(|e| e.to_string()),
            Target::Service { name, instance } => targets
                .platform()
                .map_err(|e| e.to_string())?
                .restart(&name.to_string(), instance, Duration::from_secs(10))
                .await
                .map_err(|e| e.to_string()),
            Target::Gateway => Err("the gateway is faulted through its proxy".into()),
        },
    }
}

async fn heal(
    targets: Targets<'_>,
    toxiproxy: Option<&Toxiproxy>,
    id: &str,
    fault: &Fault,
) -> Result<(), String> {
    let proxy = proxy_name(fault.target, targets);
    match fault.kind {
        FaultKind::Toxic { .. } => match proxy {
            Some(p) => toxiproxy
                .ok_or(NO_TOXIPROXY)?
                .remove_toxic(&p, &format!("{}{id}", targets.toxic_prefix))
                .await
                .map_err(|e| e.to_string()),
            None => Ok(()),
        },
        FaultKind::Down { .. } => match proxy {
            Some(p) => toxiproxy
                .ok_or(NO_TOXIPROXY)?
                .set_enabled(&p, true)
                .await
                .map(drop)
                .map_err(|e| e.to_string()),
            None => Ok(()),
        },
        FaultKind::Kill { .. } => start(targets, fault.target).await,
        FaultKind::Pause { .. } => pause(targets, fault.target, false),
        FaultKind::Restart => Ok(()),
    }
}

/// Runs the plan: faults start `at` after `load_start`; each is healed after its `for`
/// (a kill without `restart_after` stays until the load phase ends). Returns when every
/// fault has ended or `stop` turns true; [`heal_all`] then undoes the rest.
pub async fn run(
    faults: &[Fault],
    targets: Targets<'_>,
    toxiproxy: Option<Toxiproxy>,
    recorder: Arc<Recorder>,
    load_start: Instant,
    load_end: Instant,
    stop: Stop,
) {
    let tasks = faults.iter().enumerate().map(|(i, fault)| {
        let toxiproxy = toxiproxy.clone();
        let recorder = recorder.clone();
        let stop = stop.clone();
        async move {
            let id = format!("f{}", i + 1);
            tokio::select! {
                _ = tokio::time::sleep_until((load_start + fault.at).into()) => {}
                _ = stop.stopped() => return,
            }
            let start_us = recorder.now_us();
            // Another shard acts on it: this one records the window on its own clock.
            let acts = targets.shared || !is_shared(fault.target);
            if !acts {
                tracing::info!(fault = %id, target = %fault.target, "fault on a shared service: the first shard applies it");
            } else if let Err(e) = apply(targets, toxiproxy.as_ref(), &id, fault).await {
                tracing::warn!(fault = %id, target = %fault.target, error = %e, "could not apply fault");
                eprintln!("harness: fault {id} ({} on {}) could not be applied: {e}", fault.kind.name(), fault.target);
                return;
            }
            tracing::info!(fault = %id, kind = fault.kind.name(), target = %fault.target, "fault started");
            recorder.fault_started(&id, fault.kind.record_kind(), &fault.target.to_string(), start_us);
            let until = fault.end().map_or(load_end, |end| load_start + end).min(load_end.max(load_start + fault.at));
            tokio::select! {
                _ = tokio::time::sleep_until(until.into()) => {}
                _ = stop.stopped() => {}
            }
            if acts && let Err(e) = heal(targets, toxiproxy.as_ref(), &id, fault).await {
                tracing::warn!(fault = %id, error = %e, "could not heal fault");
            }
            recorder.fault(FaultRecord {
                id,
                kind: fault.kind.record_kind(),
                target: fault.target.to_string(),
                start_us,
                end_us: recorder.now_us(),
            });
        }
    });
    futures::future::join_all(tasks).await;
}

/// Undoes every fault that may still be active: all toxics removed and proxies enabled
/// (Toxiproxy `/reset`), paused processes resumed, killed ones started again.
///
/// On an external lab the Toxiproxy may be shared, and in a sharded run the first shard
/// owns the shared proxies: then only this run's toxics are removed and only the
/// proxies its faults took down are enabled again (no `/reset`).
pub async fn heal_all(faults: &[Fault], targets: Targets<'_>, toxiproxy: Option<&Toxiproxy>) {
    match toxiproxy {
        Some(toxiproxy) if targets.lab.is_local() && targets.shared => {
            if let Err(e) = toxiproxy.reset().await {
                eprintln!("harness: could not reset Toxiproxy: {e}");
            }
        }
        Some(toxiproxy) => {
            for (i, fault) in faults.iter().enumerate() {
                if fault.kind.is_network() && (targets.shared || !is_shared(fault.target)) {
                    // Already healed on schedule: nothing to remove, which is no error.
                    let _ = heal(targets, Some(toxiproxy), &format!("f{}", i + 1), fault).await;
                }
            }
        }
        None => {}
    }
    for fault in faults
        .iter()
        .filter(|f| targets.shared || !is_shared(f.target))
    {
        match fault.kind {
            FaultKind::Pause { .. } => {
                let _ = pause(targets, fault.target, false);
            }
            FaultKind::Kill { .. } | FaultKind::Restart => {
                let running = match fault.target {
                    Target::Service { name, instance } => targets
                        .platform
                        .map(Platform::running)
                        .unwrap_or_default()
                        .iter()
                        .any(|(s, i, up)| *s == name.to_string() && *i == instance && *up),
                    Target::Redis => targets
                        .lab
                        .pids()
                        .iter()
                        .any(|(id, pid)| *id == ServiceId::Redis && pid.is_some()),
                    Target::Broker(n) => targets
                        .lab
                        .pids()
                        .iter()
                        .any(|(id, pid)| *id == ServiceId::Kafka(n) && pid.is_some()),
                    Target::Gateway => true,
                };
                if !running && let Err(e) = start(targets, fault.target).await {
                    eprintln!("harness: could not restart {}: {e}", fault.target);
                }
            }
            _ => {}
        }
    }
}
