//! Final reads: what the system says about itself once the drain is over — the payment
//! gateway's ledger (one charge per line) and the inventory's stock per SKU and shard —
//! recorded into the history for the checker's `duplicate_effect` and invariant rules.
//! The launcher reads both (`lab::platform`), as the order platform's tests do.

use lab::platform::Platform;

use crate::experiment::Experiment;
use crate::journal::Recorder;

/// The gateway's ledger and the inventory, read once at the end. What cannot be read is
/// said on stderr and left out of the history (not judged), never recorded as zeros.
pub(super) async fn read(platform: &Platform, experiment: &Experiment, recorder: &Recorder) {
    match platform.charges().await {
        Ok(charges) => recorder.charges(charges),
        Err(e) => eprintln!(
            "harness: warning: the payment gateway's ledger could not be read ({e}); gateway charges are not judged"
        ),
    }
    let initial = i64::from(experiment.system.initial_stock);
    match platform.stock(experiment.system.skus.get(), initial).await {
        Ok(stock) => {
            if !stock.unreadable.is_empty() {
                eprintln!(
                    "harness: warning: the final stock of {} SKU(s) could not be read in full; what could not be read is not judged: {}",
                    stock.unreadable.len(),
                    stock.unreadable.join(", ")
                );
            }
            recorder.stock(stock.lines);
        }
        Err(e) => eprintln!(
            "harness: warning: the final stock could not be read ({e}); stock invariants are not judged"
        ),
    }
}
