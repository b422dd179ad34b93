//! Judge: the recorded history closed with its meta line (what the run was, where its
//! phases ended, the analysis options and thresholds it is judged by), then handed to
//! the pure checker: anomalies, thresholds, the guarantee's verdict.

use check::{Analysis, Meta, ThresholdResult, Verdict};

use crate::experiment::Experiment;
use crate::journal::Recorder;

/// Where the phases ended, in microseconds of the run's clock.
#[derive(Debug, Clone, Copy)]
pub(super) struct PhaseEnds {
    pub warmup_end_us: u64,
    pub load_end_us: u64,
    pub drain_end_us: u64,
    pub drained: check::DrainEnd,
}

/// The run's meta line and what the checker made of its history.
#[derive(Debug)]
pub(crate) struct Judged {
    pub meta: Option<Meta>,
    pub analysis: Analysis,
    pub thresholds: Vec<ThresholdResult>,
    pub verdict: Verdict,
}

/// The analysis options of a run. The tap reads the topics concurrently and can
/// lag on one behind another: an effect read up to this long before its cause is not an
/// ordering violation. An external platform names its own terminal types, and its
/// final state (ledger, inventory) is not read. They go into the meta line, so
/// `harness check` judges alike.
pub(crate) fn analysis_options(experiment: &Experiment) -> check::AnalysisOptions {
    let external = experiment.system.platform.external();
    check::AnalysisOptions {
        causality_slack_us: 250_000,
        terminal_types: external
            .map(|e| e.terminal_types.clone())
            .unwrap_or_default(),
        final_state_unread: external.is_some(),
        ..Default::default()
    }
}

/// Closes the history file with its meta line and reads it back: the run is judged
/// from the file, exactly as `harness check` judges it later.
pub(super) fn close_history(
    experiment: &Experiment,
    recorder: &Recorder,
    phases: PhaseEnds,
    complete: bool,
) -> anyhow::Result<crate::journal::CheckedFile> {
    let meta = Meta {
        experiment: experiment.name.clone(),
        seed: experiment.seed,
        backend: experiment.system.backend,
        guarantee: experiment.system.guarantee,
        warmup_end_us: phases.warmup_end_us,
        load_end_us: phases.load_end_us,
        drain_end_us: phases.drain_end_us,
        complete,
        drain: Some(phases.drained),
        analysis: Some(analysis_options(experiment)),
        thresholds: experiment
            .thresholds
            .iter()
            .map(|t| check::RecordedThreshold {
                metric: t.metric.clone(),
                expression: t.expression.clone(),
            })
            .collect(),
        faults: Some(recorder.live().faults.clone()),
    };
    recorder.close(meta).map_err(anyhow::Error::msg)?;
    crate::journal::check(recorder.path())
}

/// Judges the checked history by the experiment's thresholds and its guarantee (the
/// analysis used the options the meta line recorded: [`analysis_options`]).
pub(super) fn judge(
    experiment: &Experiment,
    file: crate::journal::CheckedFile,
) -> anyhow::Result<Judged> {
    let analysis = file.analysis;
    // `harness run` checks every expression when it reads the file; a library caller
    // that loaded the experiment without that check gets the error here, not a
    // threshold silently left out of the verdict.
    let thresholds = experiment
        .thresholds
        .iter()
        .map(|t| {
            check::parse_threshold(&t.metric, &t.expression).map_err(|e| {
                anyhow::anyhow!(
                    "threshold {} = {:?}: {e} (history.jsonl is written: judge it with `harness check`)",
                    t.metric,
                    t.expression
                )
            })
        })
        .collect::<anyhow::Result<Vec<_>>>()?;
    let thresholds = check::evaluate(&analysis, &thresholds);
    let verdict = check::verdict(file.meta.as_ref(), &analysis, &thresholds);
    Ok(Judged {
        meta: file.meta,
        analysis,
        thresholds,
        verdict,
    })
}
