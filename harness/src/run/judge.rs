//! Judge: the recorded history handed to the pure checker with the options the run
//! uses, its thresholds evaluated and the guarantee's verdict given.

use check::{Analysis, History, Meta, ThresholdResult, Verdict};

use crate::experiment::Experiment;
use crate::journal::Recorder;

/// Where the phases ended, in microseconds of the run's clock.
#[derive(Debug, Clone, Copy)]
pub(super) struct PhaseEnds {
    pub warmup_end_us: u64,
    pub load_end_us: u64,
    pub drain_end_us: u64,
}

/// The run's history and what the checker made of it.
#[derive(Debug)]
pub(crate) struct Judged {
    pub history: History,
    pub analysis: Analysis,
    pub thresholds: Vec<ThresholdResult>,
    pub verdict: Verdict,
}

/// The analysis options of every run (and so of `harness check` on its history).
pub(crate) fn analysis_options() -> check::AnalysisOptions {
    check::AnalysisOptions {
        causality_slack_us: 250_000,
        ..Default::default()
    }
}

pub(super) fn judge(
    experiment: &Experiment,
    recorder: &Recorder,
    phases: PhaseEnds,
    complete: bool,
) -> Judged {
    let mut history = std::mem::take(&mut *recorder.history());
    history.meta = Some(Meta {
        experiment: experiment.name.clone(),
        seed: experiment.seed,
        backend: experiment.system.backend,
        guarantee: experiment.system.guarantee,
        warmup_end_us: phases.warmup_end_us,
        load_end_us: phases.load_end_us,
        drain_end_us: phases.drain_end_us,
        complete,
    });
    history.sends.sort_by_key(|s| s.intended_us);
    let analysis = check::analyze(&history, &analysis_options());
    let thresholds: Vec<check::Threshold> = experiment
        .thresholds
        .iter()
        .filter_map(|t| check::parse_threshold(&t.metric, &t.expression).ok())
        .collect();
    let thresholds = check::evaluate(&analysis, &thresholds);
    let verdict = check::verdict(history.meta.as_ref(), &analysis, &thresholds);
    Judged {
        history,
        analysis,
        thresholds,
        verdict,
    }
}
