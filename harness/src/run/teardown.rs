//! Teardown: the platform stopped, the tap left to read to the end, the observers
//! stopped, the tap cross-checked against an independent reader, the lab's logs copied
//! and the lab stopped. What is left is the recorder and what the judge needs.

use std::collections::BTreeMap;
use std::path::Path;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use order_platform::bus::{Backend, BusConfig};

use super::Say;
use super::setup::{Setup, copy_lab_logs};
use crate::journal::Recorder;
use crate::observe::tap::{self, TapState};
use lab::Lab;
use lab::platform::Platform;

/// What outlives the services.
#[derive(Debug)]
pub(crate) struct TornDown {
    pub recorder: Arc<Recorder>,
    /// Per topic: entries the tap read and entries an independent reader counted
    /// (`None` without a lab installation to run the independent reader from).
    pub cross_check: Option<BTreeMap<String, check::CrossCount>>,
    /// Versions of the harness, the lab's services and the machine.
    pub environment: serde_json::Value,
}

/// Stops everything the setup started, in order.
pub(super) async fn teardown(
    setup: Setup,
    options: &super::RunOptions,
    dir: &Path,
    say: &Say,
) -> anyhow::Result<TornDown> {
    let Setup {
        lab,
        platform,
        toxiproxy,
        bus,
        recorder,
        tap,
        observers,
        ..
    } = setup;
    let platform_running = platform.as_ref().map(Platform::running).unwrap_or_default();
    if let Some(platform) = platform {
        // On an external lab the gateway's proxy was this run's own: it goes too.
        let proxy = platform.gateway_proxy.clone();
        tokio::task::spawn_blocking(move || platform.shutdown(Duration::from_secs(5))).await?;
        if let (false, Some(toxiproxy)) = (lab.is_local(), &toxiproxy) {
            let _ = toxiproxy.delete_proxy(&proxy).await;
        }
    }
    settle_tap(&tap).await;
    observers.stopper.stop();
    for task in observers.tasks {
        let _ = task.await;
    }
    let cross_check = cross_check(&lab, &bus, &tap).await;
    copy_lab_logs(&lab, &dir.join("logs"));
    let environment = environment(&lab, options);
    tokio::task::spawn_blocking(move || drop(lab)).await?;
    for (service, instance, up) in platform_running {
        if !up {
            say.line(format!(
                "harness: note: {service}#{instance} was not running at the end of the run"
            ));
        }
    }
    Ok(TornDown {
        recorder,
        cross_check,
        environment,
    })
}

/// Nothing writes any more: lets the tap read to the end (until its count stops moving,
/// at most 10 s).
async fn settle_tap(tap: &Mutex<TapState>) {
    let settle = Instant::now() + Duration::from_secs(10);
    let mut last = u64::MAX;
    loop {
        let now = tap
            .lock()
            .map(|s| s.observed + s.undecodable + s.other_shards)
            .unwrap_or(0);
        if now == last || Instant::now() >= settle {
            break;
        }
        last = now;
        tokio::time::sleep(Duration::from_millis(700)).await;
    }
}

/// Entries per topic as the tap read them and as an independent reader counts them
/// (`redis-cli XLEN` on Redis, `kcat` read_committed on Kafka), on the direct endpoints;
/// `None` without a lab installation (no independent reader to run). They connect with
/// the endpoints' security settings; a password reaches redis-cli by `REDISCLI_AUTH`
/// and kcat by a properties file (`-F`, a temporary file of mode 0600), never on a
/// command line.
pub(super) async fn cross_check(
    lab: &Lab,
    bus: &BusConfig,
    tap: &Mutex<TapState>,
) -> Option<BTreeMap<String, check::CrossCount>> {
    let installation = lab.installation()?;
    let endpoints = lab.endpoints();
    let mut out = BTreeMap::new();
    // Removed when the cross-check ends.
    let mut kcat_files = Vec::new();
    for topic in tap::TOPICS {
        let physical = bus.physical(topic);
        let mut command = match bus.backend {
            Backend::Redis => {
                let Some(redis) = &endpoints.redis else {
                    continue;
                };
                let mut c = tokio::process::Command::new(installation.redis_cli());
                let env = match connect::redis_cli_env(&redis.security) {
                    Ok(env) => env,
                    Err(e) => {
                        tracing::warn!(error = %e, "cross-check: redis-cli has no password");
                        continue;
                    }
                };
                c.args(["-h", "127.0.0.1", "-p", &redis.direct.port().to_string()])
                    .args(connect::redis_cli_args(&redis.security))
                    .args(["XLEN", &physical])
                    .envs(env);
                c
            }
            Backend::Kafka => {
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
                match connect::kcat_properties(&kafka.security) {
                    Ok(None) => {}
                    Ok(Some(text)) => match kcat_file(&text) {
                        Ok(file) => {
                            c.arg("-F").arg(file.path());
                            kcat_files.push(file);
                        }
                        Err(e) => {
                            tracing::warn!(error = %e, "cross-check: no kcat properties file");
                            continue;
                        }
                    },
                    Err(e) => {
                        tracing::warn!(error = %e, "cross-check: kcat has no password");
                        continue;
                    }
                }
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
        let independent = match independent_count(bus.backend, &output) {
            Ok(n) => n,
            Err(reason) => {
                // Left out rather than counted as 0: a refused AUTH is no empty topic.
                tracing::warn!(
                    topic = %physical,
                    reason = %reason,
                    "cross-check: the independent reader failed; topic left out"
                );
                continue;
            }
        };
        let read = tap.lock().map(|s| s.entries(topic)).unwrap_or(0);
        out.insert(
            topic.to_string(),
            check::CrossCount {
                tap: read,
                independent,
            },
        );
    }
    Some(out)
}

/// The independent reader's count from its output: `XLEN`'s number (redis-cli), or one
/// line per entry (kcat). A failed reader (an exit status other than 0, or redis-cli
/// printing no number) is an error with its message's first line: stderr, or stdout
/// where redis-cli writes an error reply. Neither holds a password, which goes by
/// `REDISCLI_AUTH` or a properties file.
fn independent_count(backend: Backend, output: &std::process::Output) -> Result<u64, String> {
    let stdout = String::from_utf8_lossy(&output.stdout);
    let failure = || {
        let first_line = |bytes: &[u8]| {
            String::from_utf8_lossy(bytes)
                .lines()
                .map(str::trim)
                .find(|l| !l.is_empty())
                .map(str::to_string)
        };
        let message = first_line(&output.stderr)
            .or_else(|| first_line(&output.stdout))
            .unwrap_or_else(|| "no output".into());
        format!("{}: {message}", output.status)
    };
    if !output.status.success() {
        return Err(failure());
    }
    match backend {
        Backend::Redis => stdout.trim().parse::<u64>().map_err(|_| failure()),
        Backend::Kafka => Ok(stdout.lines().filter(|l| !l.trim().is_empty()).count() as u64),
    }
}

/// A temporary kcat properties file (mode 0600, outside the run directory).
fn kcat_file(text: &str) -> std::io::Result<tempfile::NamedTempFile> {
    use std::io::Write;
    let mut file = tempfile::Builder::new()
        .prefix("harness-kcat-")
        .tempfile()?;
    file.write_all(text.as_bytes())?;
    file.flush()?;
    Ok(file)
}

/// Versions of the harness, the lab's services and the machine; on an external lab also
/// `external_lab` (the endpoints file's path and whether the run's traces were kept;
/// nothing secret: the file itself holds addresses only). A local lab adds nothing, so
/// environments compare equal with baselines recorded before.
fn environment(lab: &Lab, options: &super::RunOptions) -> serde_json::Value {
    let mut environment = serde_json::json!({
        "harness": env!("CARGO_PKG_VERSION"),
        "lab": lab.installation().map(|i| i.versions()).unwrap_or(serde_json::Value::Null),
        "os": std::env::consts::OS,
        "arch": std::env::consts::ARCH,
        "cpus": std::thread::available_parallelism().map(|n| n.get()).unwrap_or(0),
    });
    if let (Some(external), Some(map)) = (&options.lab, environment.as_object_mut()) {
        map.insert(
            "external_lab".into(),
            serde_json::json!({
                "endpoints_file": external.name,
                "kept": options.keep,
            }),
        );
    }
    environment
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::process::ExitStatusExt;

    fn output(code: i32, stdout: &str, stderr: &str) -> std::process::Output {
        std::process::Output {
            // A wait status: the exit code sits in the second byte.
            status: std::process::ExitStatus::from_raw(code << 8),
            stdout: stdout.as_bytes().to_vec(),
            stderr: stderr.as_bytes().to_vec(),
        }
    }

    #[test]
    fn a_reader_that_succeeded_is_counted() {
        assert_eq!(
            independent_count(Backend::Redis, &output(0, "42\n", "")),
            Ok(42)
        );
        assert_eq!(
            independent_count(Backend::Kafka, &output(0, "0\n1\n\n2\n", "")),
            Ok(3)
        );
        assert_eq!(independent_count(Backend::Kafka, &output(0, "", "")), Ok(0));
    }

    #[test]
    fn a_failed_reader_is_no_count_of_zero() {
        let auth = output(
            1,
            "NOAUTH Authentication required.\n",
            "AUTH failed: WRONGPASS invalid username-password pair or user is disabled.\nmore\n",
        );
        let err = independent_count(Backend::Redis, &auth).expect_err("auth failed");
        assert!(
            err.ends_with(
                ": AUTH failed: WRONGPASS invalid username-password pair or user is disabled."
            ),
            "{err}"
        );
        assert!(err.contains("exit status: 1"), "{err}");
        // redis-cli writes an error reply on stdout; without stderr, that is the reason.
        let reply = output(1, "ERR unknown\n", "");
        assert!(
            independent_count(Backend::Redis, &reply)
                .expect_err("error reply")
                .ends_with(": ERR unknown")
        );
        let kcat = output(
            1,
            "",
            "% ERROR: Topic x error: Broker: Topic authorization failed\n",
        );
        assert!(
            independent_count(Backend::Kafka, &kcat)
                .expect_err("kcat failed")
                .ends_with("Topic authorization failed")
        );
        // Exit 0 without a number (an error reply in an older redis-cli): no count.
        assert!(independent_count(Backend::Redis, &output(0, "NOAUTH x\n", "")).is_err());
    }
}
