//! A run judged as it goes: the streaming checker fed the run's lines as they are
//! recorded, each key settled once it has been quiet for a while by the run's clock,
//! and forgotten after: its memory follows the keys in flight, not the run's length
//! (of a judged key only an 8-byte hash stays, so that its later lines are left out
//! rather than taken for a new key's first).
//!
//! What it shows is what the lines seen so far *prove*: the anomalies no later line can
//! undo (a second delivery of one event, a step applied twice, a sequence number going
//! back, an effect seen before its cause, an order both confirmed and cancelled). What
//! only the end can tell (an order lost or never observed, a phantom whose send line
//! may still come, the ledger and the stock) is left to the verdict, which reads the
//! history file again. A key judged too early can only hide an anomaly from this view
//! (its later lines are left out), never invent one.

use std::collections::BTreeMap;

use super::{Checker, Setup};
use crate::analysis::AnalysisOptions;
use crate::anomaly::Anomaly;
use crate::history::Line;

/// The anomalies [`Live`] reports: those the lines seen so far prove.
pub const LIVE_ANOMALIES: [Anomaly; 4] = [
    Anomaly::DuplicateDelivery,
    Anomaly::DuplicateEffect,
    Anomaly::OrderingViolation,
    Anomaly::InvariantViolation,
];

/// What [`Live`] has judged so far.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct SoFar {
    /// Scheduled orders judged (settled).
    pub orders: u64,
    /// Each of [`LIVE_ANOMALIES`] found so far, with its count (0 left out).
    pub anomalies: BTreeMap<Anomaly, u64>,
}

/// The live judge of one run.
#[derive(Debug)]
pub struct Live {
    checker: Checker,
    line: u64,
    found: BTreeMap<Anomaly, u64>,
}

impl Live {
    /// A key is judged once `quiet_us` (run time) passed without a line for it.
    pub fn new(options: AnalysisOptions, quiet_us: u64) -> Live {
        let mut checker = Checker::new(Setup {
            options,
            meta: None,
            faults: Vec::new(),
        });
        checker.settle_after(quiet_us);
        checker.forget = true;
        Live {
            checker,
            line: 0,
            found: BTreeMap::new(),
        }
    }

    /// One recorded line (only send and observe lines matter here).
    pub fn line(&mut self, line: &Line) {
        self.line += 1;
        let key = match line {
            Line::Send(s) => &s.order_id,
            Line::Observe(o) => &o.key,
            _ => return,
        };
        if self.checker.was_forgotten(key) {
            // Its key was judged: left out (a repeat would pass for a first sight).
            return;
        }
        match line {
            Line::Send(s) => {
                self.checker.send(self.line, s.into());
            }
            Line::Observe(o) => {
                self.checker.observe(self.line, o.into());
            }
            _ => {}
        }
        self.collect();
    }

    /// The run's clock reached `now_us`: keys quiet since then − `quiet_us` are judged.
    pub fn advance(&mut self, now_us: u64) {
        self.checker.advance(now_us);
        self.collect();
    }

    /// Judges every key still open (the lines have ended).
    pub fn settle_all(&mut self) {
        self.checker.settle_all();
        self.collect();
    }

    pub fn so_far(&self) -> SoFar {
        SoFar {
            orders: self.checker.settled_orders,
            anomalies: self.found.clone(),
        }
    }

    /// Keys held now (not yet judged and forgotten).
    pub fn keys_held(&self) -> usize {
        self.checker.keys.held()
    }

    /// Folds the findings of the keys just settled into counts, and drops what only a
    /// finishing checker reads.
    fn collect(&mut self) {
        let c = &mut self.checker;
        for occ in c.occs.drain(..) {
            if LIVE_ANOMALIES.contains(&occ.anomaly) {
                *self.found.entry(occ.anomaly).or_default() += occ.weight;
            }
        }
        c.unfinished.clear();
        c.orphans.clear();
    }
}
