//! `harness lab up | status | down | smoke`.

use std::path::PathBuf;
use std::time::Duration;

use anyhow::{Context, bail};
use clap::{Args, Subcommand};
use lab::state::LabState;
use lab::{Endpoints, Installation, Lab, LabSpec, RedisPersistence, smoke};

use crate::exit;
use crate::signals;

#[derive(Debug, Subcommand)]
pub enum LabCommand {
    /// Start the services on free loopback ports and wait until they are ready.
    Up(UpArgs),
    /// Show the processes and endpoints of the lab that `up` started.
    Status(DirArgs),
    /// Stop the lab that `up` started and delete its data.
    Down(DownArgs),
    /// Start a temporary lab, do a produce/consume round trip through the proxies on
    /// Redis and Kafka, print the endpoints, stop it.
    Smoke(SmokeArgs),
    /// Check services the harness did not start (compose.yaml, a real cluster),
    /// described by an endpoints file in the shape `lab up --json` prints.
    Check(CheckArgs),
}

#[derive(Debug, Args)]
pub struct CheckArgs {
    /// Endpoints JSON (e.g. lab/compose-endpoints.json).
    #[arg(long)]
    pub endpoints: PathBuf,
    /// Print JSON instead of text.
    #[arg(long)]
    pub json: bool,
}

#[derive(Debug, Args)]
pub struct DirArgs {
    /// The lab's data directory [default: .lab/run]
    #[arg(long)]
    pub dir: Option<PathBuf>,
    /// Print JSON instead of a table.
    #[arg(long)]
    pub json: bool,
}

#[derive(Debug, Args)]
pub struct UpArgs {
    /// Kafka nodes: 1 (one combined node) or 3 (three voters, replication 3, min ISR 2); 0: none.
    #[arg(long, default_value_t = 1, value_parser = clap::value_parser!(u8).range(0..=3))]
    pub brokers: u8,
    /// Redis persistence: none, everysec or always.
    #[arg(long, default_value = "none")]
    pub redis_persistence: RedisPersistence,
    /// Do not start Redis.
    #[arg(long)]
    pub no_redis: bool,
    /// JVM heap per Kafka broker, in MiB.
    #[arg(long, default_value_t = 512)]
    pub broker_heap_mb: u32,
    /// Seconds each service may take to become ready.
    #[arg(long, default_value_t = 90)]
    pub ready_timeout: u64,
    /// Stay in the foreground and stop everything on Ctrl-C or SIGTERM (no state file).
    #[arg(long)]
    pub foreground: bool,
    /// Clients connect as to a secured cluster: Kafka SASL_SSL (PLAIN and SCRAM-SHA-512)
    /// with ACLs, Redis TLS with an ACL user; a throwaway CA and passwords in files (mode
    /// 0600) in the lab's directory, which the printed endpoints name (never the
    /// passwords). A test lab, not a security boundary: the brokers' own listeners
    /// between themselves stay plaintext on loopback (docs/security.md).
    #[arg(long)]
    pub secure: bool,
    #[command(flatten)]
    pub dir: DirArgs,
}

#[derive(Debug, Args)]
pub struct DownArgs {
    /// The lab's data directory [default: .lab/run]
    #[arg(long)]
    pub dir: Option<PathBuf>,
    /// Keep data directories and logs (for a post-mortem).
    #[arg(long)]
    pub keep_data: bool,
    /// Seconds each service gets to exit after SIGTERM before SIGKILL.
    #[arg(long, default_value_t = 15)]
    pub grace: u64,
}

#[derive(Debug, Args)]
pub struct SmokeArgs {
    /// Kafka nodes for the round trip: 1 or 3.
    #[arg(long, default_value_t = 1, value_parser = clap::value_parser!(u8).range(1..=3))]
    pub brokers: u8,
    /// The round trip on a secured lab (as `lab up --secure`).
    #[arg(long)]
    pub secure: bool,
    /// Print JSON instead of text.
    #[arg(long)]
    pub json: bool,
}

pub async fn run(command: LabCommand) -> anyhow::Result<u8> {
    match command {
        LabCommand::Up(args) => up(args).await,
        LabCommand::Status(args) => status(args),
        LabCommand::Down(args) => down(args),
        LabCommand::Smoke(args) => smoke(args).await,
        LabCommand::Check(args) => check(args).await,
    }
}

/// `--dir`, or `run/` inside the installation (`.lab/run`).
fn lab_dir(dir: Option<PathBuf>) -> anyhow::Result<(PathBuf, bool)> {
    match dir {
        Some(dir) => Ok((dir, false)),
        None => Ok((Installation::discover()?.home.join("run"), true)),
    }
}

async fn up(args: UpArgs) -> anyhow::Result<u8> {
    let stop = signals::shutdown().context("installing signal handlers")?;
    let spec = LabSpec {
        redis: (!args.no_redis).then_some(args.redis_persistence),
        brokers: args.brokers,
        broker_heap_mb: args.broker_heap_mb,
        ready_timeout: Duration::from_secs(args.ready_timeout),
        secure: args.secure,
        ..LabSpec::default()
    };
    let spec = if args.foreground {
        spec
    } else {
        let (dir, owned) = lab_dir(args.dir.dir)?;
        prepare_dir(&dir, owned)?;
        LabSpec {
            dir: Some(dir),
            ..spec
        }
    };
    tokio::pin!(stop);
    let lab = tokio::select! {
        lab = Lab::start(spec) => lab?,
        signal = &mut stop => {
            // The start future is dropped: every process it started is reaped with it.
            eprintln!("harness lab up: interrupted during start-up; everything started was stopped");
            return Ok(signal.exit_code());
        }
    };
    if args.foreground {
        print_endpoints(
            lab.endpoints(),
            args.dir.json,
            lab.dir().map(|d| d.display().to_string()),
        );
        if !args.dir.json {
            crate::say!("lab is up; Ctrl-C stops it");
        }
        stop.await;
        tokio::task::spawn_blocking(move || lab.shutdown(Duration::from_secs(10))).await?;
        eprintln!("harness lab: stopped");
        return Ok(exit::PASS);
    }
    let state = lab.detach()?;
    print_endpoints(
        &state.endpoints,
        args.dir.json,
        Some(state.dir.display().to_string()),
    );
    if !args.dir.json {
        crate::say!("lab is up; `harness lab status` shows it, `harness lab down` stops it");
    }
    Ok(exit::PASS)
}

/// Refuses to start over a running lab; clears the leftovers of a stopped one.
fn prepare_dir(dir: &std::path::Path, owned: bool) -> anyhow::Result<()> {
    if let Some(state) = LabState::read(dir)? {
        let alive = state.alive();
        if !alive.is_empty() {
            let pids: Vec<String> = alive
                .iter()
                .map(|p| format!("{} ({})", p.service, p.pid))
                .collect();
            bail!(
                "a lab is already up in {} ({}); run `harness lab down` first",
                dir.display(),
                pids.join(", ")
            );
        }
    }
    let empty = std::fs::read_dir(dir)
        .map(|mut d| d.next().is_none())
        .unwrap_or(true);
    if !empty {
        if !owned && LabState::read(dir)?.is_none() {
            bail!(
                "{} is not empty and holds no lab; choose another --dir",
                dir.display()
            );
        }
        std::fs::remove_dir_all(dir).with_context(|| format!("clearing {}", dir.display()))?;
    }
    Ok(())
}

fn status(args: DirArgs) -> anyhow::Result<u8> {
    let (dir, _) = lab_dir(args.dir)?;
    let Some(state) = LabState::read(&dir)? else {
        if args.json {
            crate::say!("{}", serde_json::json!({ "dir": dir, "up": false }));
        } else {
            crate::say!("no lab is up in {}", dir.display());
        }
        return Ok(exit::FAIL);
    };
    let processes: Vec<_> = state.processes.iter().map(|p| (p, p.is_alive())).collect();
    let all_alive = processes.iter().all(|(_, alive)| *alive);
    if args.json {
        let list: Vec<_> = processes
            .iter()
            .map(|(p, alive)| serde_json::json!({"service": p.service, "pid": p.pid, "alive": alive, "log": p.log}))
            .collect();
        let doc = serde_json::json!({
            "dir": state.dir, "up": all_alive, "processes": list, "endpoints": state.endpoints
        });
        crate::say!("{}", serde_json::to_string_pretty(&doc)?);
    } else {
        crate::say!("lab in {}", state.dir.display());
        for (p, alive) in &processes {
            let what = if *alive { "running" } else { "NOT RUNNING" };
            crate::say!(
                "  {:<10} pid {:<8} {:<12} {}",
                p.service,
                p.pid,
                what,
                p.log.display()
            );
        }
        print_endpoints(&state.endpoints, false, None);
    }
    Ok(if all_alive { exit::PASS } else { exit::FAIL })
}

fn down(args: DownArgs) -> anyhow::Result<u8> {
    let (dir, _) = lab_dir(args.dir)?;
    let Some(state) = LabState::read(&dir)? else {
        crate::say!("no lab is up in {}", dir.display());
        return Ok(exit::PASS);
    };
    let stopped = state.down(args.keep_data, Duration::from_secs(args.grace))?;
    for s in &stopped {
        crate::say!("  {:<10} pid {:<8} {}", s.service, s.pid, s.how);
    }
    if args.keep_data {
        crate::say!("lab stopped; data and logs kept in {}", dir.display());
    } else {
        crate::say!("lab stopped and removed");
    }
    Ok(exit::PASS)
}

async fn smoke(args: SmokeArgs) -> anyhow::Result<u8> {
    let stop = signals::shutdown().context("installing signal handlers")?;
    tokio::pin!(stop);
    let spec = LabSpec {
        brokers: args.brokers,
        secure: args.secure,
        ..LabSpec::default()
    };
    let started = std::time::Instant::now();
    let work = async {
        let lab = Lab::start(spec).await?;
        let up_after = started.elapsed();
        let report = smoke::run(&lab).await;
        anyhow::Ok((lab, up_after, report))
    };
    let (lab, up_after, report) = tokio::select! {
        result = work => result?,
        signal = &mut stop => {
            eprintln!("harness lab smoke: interrupted; everything started was stopped");
            return Ok(signal.exit_code());
        }
    };
    let report = report?;
    if args.json {
        let doc = serde_json::json!({
            "endpoints": lab.endpoints(), "lab_ready_s": up_after.as_secs_f64(), "round_trips": report
        });
        crate::say!("{}", serde_json::to_string_pretty(&doc)?);
    } else {
        crate::say!("lab ready in {:.1} s", up_after.as_secs_f64());
        print_endpoints(lab.endpoints(), false, None);
        if let Some(ms) = report.redis_round_trip_ms {
            crate::say!("redis: XADD -> XREADGROUP -> XACK through the proxy in {ms:.1} ms");
        }
        if let Some(ms) = report.kafka_round_trip_ms {
            crate::say!("kafka: produce (acks=all) -> consume through the proxies in {ms:.1} ms");
        }
    }
    tokio::task::spawn_blocking(move || lab.shutdown(Duration::from_secs(10))).await?;
    if !args.json {
        crate::say!("lab stopped");
    }
    Ok(exit::PASS)
}

async fn check(args: CheckArgs) -> anyhow::Result<u8> {
    let text = std::fs::read_to_string(&args.endpoints)
        .with_context(|| format!("reading {}", args.endpoints.display()))?;
    let endpoints = Endpoints::from_json(&text)
        .with_context(|| format!("{}: not an endpoints file", args.endpoints.display()))?;
    // Settings that cannot work and passwords that cannot be read are the file's (or the
    // environment's) fault, not the services': exit 2 naming them, before connecting.
    if let Err(e) = endpoints.resolve_secrets() {
        bail!("{}: {e}", args.endpoints.display());
    }
    let lab = Lab::external(endpoints);
    let probes = lab::probe(lab.endpoints()).await;
    let ok = probes.iter().all(|p| p.error.is_none());
    if args.json {
        crate::say!(
            "{}",
            serde_json::to_string_pretty(&serde_json::json!({"ok": ok, "probes": probes}))?
        );
    } else {
        for p in &probes {
            match &p.error {
                None => crate::say!("ok    {}", p.what),
                Some(e) => crate::say!("FAIL  {}: {e}", p.what),
            }
        }
    }
    Ok(if ok { exit::PASS } else { exit::FAIL })
}

/// `, password_file PATH` (where the password is, never the password).
fn password_where(
    source: Result<Option<connect::PasswordSource>, connect::SecurityError>,
) -> String {
    match source {
        Ok(Some(source)) => format!(", {source}"),
        _ => String::new(),
    }
}

fn ca_where(ca: Option<&std::path::Path>) -> String {
    ca.map(|ca| format!(", ca_file {}", ca.display()))
        .unwrap_or_default()
}

fn print_endpoints(endpoints: &Endpoints, json: bool, dir: Option<String>) {
    if json {
        // One line, so scripts can read it with a single `read`.
        crate::say!("{}", serde_json::to_string(endpoints).unwrap_or_default());
        return;
    }
    if let Some(dir) = dir {
        crate::say!("data and logs    {dir}");
    }
    if let Some(api) = endpoints.toxiproxy {
        crate::say!("toxiproxy API    http://{api}");
    }
    if let Some(redis) = &endpoints.redis {
        crate::say!(
            "redis            {} (proxied)   {} (direct)",
            redis.proxied_url(),
            redis.direct_url()
        );
    }
    if let Some(redis) = endpoints
        .redis
        .as_ref()
        .filter(|r| !r.security.is_plaintext())
    {
        let s = &redis.security;
        crate::say!(
            "redis security   {}{}{}",
            s.describe(),
            password_where(s.password_source()),
            ca_where(s.ca_file.as_deref())
        );
    }
    if let Some(kafka) = &endpoints.kafka {
        crate::say!("kafka bootstrap  {} (proxied)", kafka.bootstrap_proxied);
        crate::say!("                 {} (direct)", kafka.bootstrap_direct);
        let s = &kafka.security;
        if !s.is_plaintext() {
            crate::say!(
                "kafka security   {} {}{}{}",
                s.security_protocol.name(),
                s.describe(),
                password_where(s.password_source()),
                ca_where(s.ca_file.as_deref())
            );
        }
    }
    for p in &endpoints.proxies {
        crate::say!("proxy {:<10} {} -> {}", p.name, p.listen, p.upstream);
    }
}
