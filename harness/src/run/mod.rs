//! `harness run`: one experiment, told in phases, each a function of its own module:
//!
//! ```text
//! setup ─► load and faults ─► heal ─► drain ─► final reads ─► teardown ─► judge ─► write
//! (lab,     (warm-up, load,    (every   (until    (gateway     (platform,   (the pure  (run
//!  platform, faults on their    fault    every     ledger,      observers,   checker)   directory)
//!  observers) schedule)         undone)  order     inventory)   cross-check,
//!                                        ends)                  lab)
//! ```
//!
//! A stop (Ctrl-C, SIGTERM: [`Stop`]) at any phase skips ahead to heal, then tears down
//! and writes what was recorded, marked incomplete.
//!
//! Modules: `setup`, `load` (load and faults; heal), `drain`, `final_reads`, `teardown`, `judge`, [`output`] (the run directory), [`status`] (what the run publishes each
//! second for a progress line or dashboard; the line itself is the CLI's).

mod cleanup;
mod drain;
mod external;
mod final_reads;
mod judge;
mod load;
pub mod output;
mod setup;
pub mod status;
mod teardown;

use std::path::PathBuf;

use crate::experiment::Experiment;
use crate::stop::Stop;
pub use external::ExternalLab;
pub use status::{Phase, Status, StatusBoard};

/// How a run is carried out (not part of the experiment).
#[derive(Debug, Clone)]
pub struct RunOptions {
    /// Where run directories go (`runs/`).
    pub runs_dir: PathBuf,
    /// No messages on stderr.
    pub quiet: bool,
    /// Print the summary and the run's paths on stdout at the end (`harness run`);
    /// off for runs that are steps of a larger command (`harness capacity`'s trials).
    pub summary: bool,
    /// The command that reproduces the run, recorded in results.json.
    pub command: String,
    /// Where the run publishes its live status (a progress line, a dashboard), if anyone
    /// listens.
    pub status: Option<StatusBoard>,
    /// `--start-at`: the run's clock (and so its warm-up, load and faults) starts at
    /// this wall-clock time, after the lab and platform are up, so that the shards of a
    /// sharded run on several machines run their schedules together.
    pub start_at: Option<time::OffsetDateTime>,
    /// Run against these services instead of starting a lab (`--endpoints`, `[lab]
    /// endpoints`).
    pub lab: Option<ExternalLab>,
    /// On an external lab: keep what the run created there (`--keep`).
    pub keep: bool,
}

/// What a run produced.
#[derive(Debug, Clone)]
pub struct RunOutcome {
    pub dir: PathBuf,
    pub decision: check::Decision,
    pub interrupted: bool,
}

/// Runs one (matrix-expanded) experiment until it ends or `stop` comes.
pub async fn run(
    experiment: &Experiment,
    options: &RunOptions,
    stop: Stop,
) -> anyhow::Result<RunOutcome> {
    // A system the harness did not start gets order ids no earlier run used.
    let tagged;
    let experiment =
        if experiment.run_id.is_none() && experiment.system.platform.external().is_some() {
            let mut e = experiment.clone();
            e.run_id = Some(uuid::Uuid::new_v4().simple().to_string()[..8].to_owned());
            tagged = e;
            &tagged
        } else {
            experiment
        };
    let started = time::OffsetDateTime::now_utc();
    let dir = output::create_dir(&options.runs_dir, experiment, started)?;
    // The harness's own log (tap, samplers, faults) for this run; none if it cannot open.
    let _log = crate::runlog::open(&dir.join("logs").join("harness.log")).ok();
    let say = Say(options.quiet);
    say.line(format!("harness: {} → {}", experiment.name, dir.display()));
    let board = options.status.clone().unwrap_or_default();
    board.begin(experiment);
    // Every stream, topic and consumer group of the run starts with it.
    let namespace = format!("h{}", &uuid::Uuid::new_v4().simple().to_string()[..10]);
    // Set once an external lab passed its preflight: from then on the run may create things there.
    let touched = std::sync::atomic::AtomicBool::new(false);
    let outcome = phases(experiment, options, &namespace, dir, stop, &board, &touched).await;
    // On an external lab, whatever happened (an error, a stop), the run's traces go;
    // what became of them is said on stdout (with --quiet too: it is about someone
    // else's services).
    let touched = touched.load(std::sync::atomic::Ordering::SeqCst);
    if let Some(lab) = options.lab.as_ref().filter(|_| touched) {
        let line = if options.keep {
            format!(
                "harness: --keep: the run's streams, topics and groups (namespace {namespace}) stay on {}",
                lab.name
            )
        } else {
            let cleaned =
                cleanup::cleanup(&lab.endpoints, experiment.system.backend, &namespace).await;
            format!("harness: {}", cleaned.summary(&namespace))
        };
        match options.summary {
            true => crate::say!("{line}"),
            false => say.line(line),
        }
    }
    outcome
}

/// Every phase after the run directory exists: setup to write.
async fn phases(
    experiment: &Experiment,
    options: &RunOptions,
    namespace: &str,
    dir: PathBuf,
    stop: Stop,
    board: &StatusBoard,
    touched: &std::sync::atomic::AtomicBool,
) -> anyhow::Result<RunOutcome> {
    let say = Say(options.quiet);
    let board = board.clone();
    let setup = setup::setup(experiment, options, namespace, &dir, &stop, &say, touched).await?;
    board.targets(
        setup
            .platform
            .as_ref()
            .map(|p| p.instances())
            .unwrap_or_default(),
    );
    let load = load::load_and_faults(experiment, &setup, &stop, &board).await?;
    load::heal(experiment, &setup, &board).await;
    let load_end_us = setup.recorder.now_us();
    // Each phase boundary syncs the history to disk (a killed harness loses at most
    // the last flush interval of what came after it).
    setup.recorder.sync().await;
    let drained = drain::drain(experiment, &setup, &stop, &say, &board).await;
    setup.recorder.sync().await;
    let interrupted = load.interrupted || drained == check::DrainEnd::Stopped;
    let drain_end_us = setup.recorder.now_us();
    board.phase(Phase::FinalReads);
    if let Some(platform) = &setup.platform {
        final_reads::read(platform, experiment, &setup.recorder).await;
    } else {
        say.line(
            "harness: the platform is external: its payment ledger and inventory are not read \
             (double charges and stock invariants are not checked; the verdict says so)",
        );
    }
    board.phase(Phase::Teardown);
    let torn = teardown::teardown(setup, options, &dir, &say).await?;

    board.phase(Phase::Judge);
    let phases = judge::PhaseEnds {
        warmup_end_us: torn.recorder.at_us(load.load_start),
        load_end_us: load_end_us.min(torn.recorder.at_us(load.load_end)),
        drain_end_us,
        drained,
    };
    let history = judge::close_history(experiment, &torn.recorder, phases, !interrupted)?;
    let judged = judge::judge(experiment, history)?;
    board.phase(Phase::Write);
    let written = output::write(&dir, experiment, options, torn, &judged)?;
    board.finish(&dir, judged.verdict.decision);
    if !options.quiet {
        eprintln!();
    }
    if options.summary {
        use std::io::Write as _;
        let _ = std::io::stdout().lock().write_all(&written.summary);
        crate::say!("\nresults: {}", dir.display());
        crate::say!("report:  {}", dir.join("report.html").display());
    }
    Ok(RunOutcome {
        dir,
        decision: judged.verdict.decision,
        interrupted,
    })
}

/// The run's messages on stderr (none with `--quiet`).
#[derive(Debug, Clone, Copy)]
struct Say(bool);

impl Say {
    fn line(self, text: impl AsRef<str>) {
        if !self.0 {
            eprintln!("{}", text.as_ref());
        }
    }
}
