//! **The streaming checker**: a history judged line by line, its memory following the
//! keys still open rather than the history's length.
//!
//! Every rule of [`crate::detect`] but the ledger's and the stock's is a rule about one
//! key (an order id): its duplicates, its steps, its sequence numbers, its causes. So
//! the checker keeps each key's events in full only while the key is *open*, and
//! *settles* it — judges it and keeps a few numbers — once no more lines for it can
//! come. What stays per key after that is 40 bytes or so (its intended time, when it
//! was placed and finished, its flags), plus, for an acknowledged order that never
//! finished, the steps the in-flight rule and the attribution need. Latencies go into
//! HdrHistograms as keys settle.
//!
//! When a key can be settled is the caller's knowledge:
//! - [`check_reader_from`] (a history file whose meta line, read from its end, lists
//!   the fault windows) reads it once, settling each key a minute (run time) after its
//!   last line; a line for a key already settled sends it back to two passes.
//! - [`check_reader`] reads the file twice: a first pass notes each key's last line
//!   (and the meta and fault lines, which come last but shape the judgement: phases,
//!   per-window latency), the second judges, settling each key right after its last
//!   line.
//! - [`crate::analyze`] (a history in memory) settles every key at the end.
//!
//! Whichever way, the answers are exactly [`crate::analysis::analyze_reference`]'s.
//!
//! One assumption, which the platform's envelope guarantees: an event id belongs to one
//! key. A cause under another key than its effect is looked up in a last pass over the
//! file (rarely needed: only for such a cause, or one never observed).

mod canonical;
mod fast;
mod file;
mod finish;
mod ids;
mod key;
mod live;
mod names;

pub use fast::{Fast, ObserveView, SendView};
pub use file::{Checked, ReadError, check_reader, check_reader_from, meta_of_tail};
pub use live::{LIVE_ANOMALIES, Live, SoFar};

use std::collections::HashMap;

/// A map hashed with foldhash: for the small integer keys touched at every line or
/// hop (SipHash showed in the profile).
pub(crate) type FoldMap<K, V> = HashMap<K, V, foldhash::fast::FixedState>;

use crate::analysis::AnalysisOptions;
use crate::anomaly::Anomaly;
use crate::history::{FaultRecord, History, Line, Meta, SendOutcome};
use crate::stats::Recorder;
use ids::EventId;
use key::{KeyState, Unfinished};
use names::{Keys, Small, Types};

/// What the checker knows before the lines: the options, the meta line (the phases;
/// `None` when the run did not end: then derived from the lines, warm-up 0) and the
/// fault windows (for the latency of each window).
#[derive(Debug, Clone, Default)]
pub struct Setup {
    pub options: AnalysisOptions,
    pub meta: Option<Meta>,
    pub faults: Vec<FaultRecord>,
}

const NONE: u64 = u64::MAX;
const HAS_SEND: u8 = 1;
const ACKED: u8 = 2;
const SENT: u8 = 4;
const SETTLED: u8 = 8;
const PLACED: u8 = 16;
const TERMINAL: u8 = 32;

/// What stays of a key for the whole run.
#[derive(Debug, Clone, Copy)]
struct KeyRec {
    /// Earliest intended time of its send lines (`NONE`: no send line).
    intended_us: u64,
    /// First observation of its `OrderPlaced` (with the flag `PLACED`).
    placed_us: u64,
    /// First observation of a terminal event (with the flag `TERMINAL`).
    terminal_us: u64,
    charges: u32,
    /// Its open state's slot (`u32::MAX`: none).
    slot: u32,
    /// The latest time its lines showed (for settling after a horizon).
    last_us: u64,
    flags: u8,
}

impl KeyRec {
    const NEW: KeyRec = KeyRec {
        intended_us: NONE,
        placed_us: 0,
        terminal_us: 0,
        charges: 0,
        slot: u32::MAX,
        last_us: 0,
        flags: 0,
    };

    fn is_order(&self) -> bool {
        self.flags & HAS_SEND != 0
    }

    fn acked(&self) -> bool {
        self.flags & ACKED != 0
    }

    fn terminal(&self) -> Option<u64> {
        (self.flags & TERMINAL != 0).then_some(self.terminal_us)
    }

    fn placed(&self) -> Option<u64> {
        (self.flags & PLACED != 0).then_some(self.placed_us)
    }
}

/// One finding, kept until the end so that samples come out in the reference order.
#[derive(Debug, Clone)]
struct Occ {
    anomaly: Anomaly,
    /// The reference's order: the rule (0 lost, 1 unobserved, 2 duplicate deliveries,
    /// 3 duplicate steps, 4 charges, 5 seq rule, 6 cause rule, 7 phantoms, 8 stock,
    /// 9 confirmed and cancelled), then two numbers, then the id.
    rank: (u8, u64, u64),
    id: String,
    /// The key of the scheduled order it belongs to.
    order: Option<u32>,
    weight: u64,
}

/// An effect whose cause is not among its key's events: judged once the cause's first
/// observation is looked up elsewhere.
#[derive(Debug, Clone)]
struct Orphan {
    key: u32,
    observed_us: u64,
    produced_us: Option<u64>,
    line: u64,
    ty: u16,
    id: EventId,
    cause: EventId,
}

/// Where a cause looked up for an [`Orphan`] was first observed.
#[derive(Debug, Clone, Copy)]
struct CauseSeen {
    observed_us: u64,
    /// When its producer stamped it (the envelope's time), if the line says.
    produced_us: Option<u64>,
    ty: u16,
}

/// A cause's first observation, looked up by id: when it was observed and produced,
/// and its type.
pub(crate) type FirstSeen = (u64, Option<u64>, String);

/// Counts made as lines arrive.
#[derive(Debug, Default, Clone)]
struct Tally {
    reads: u64,
    events: u64,
    entries: u64,
    rejected: u64,
    errors: u64,
    dropped: u64,
    late: u64,
    short_dropped: u64,
    short_late: u64,
    max_send_delay_us: Option<u64>,
    last_intended: Option<u64>,
    last_observed: Option<u64>,
    /// Acknowledgements per second of `acked_us`.
    acked_per_s: FoldMap<u64, u64>,
    by_type: FoldMap<u16, u64>,
}

/// The streaming checker. Feed it lines ([`Checker::line`], or the typed
/// [`Checker::send`] and [`Checker::observe`]), settle keys when no more of their
/// lines can come ([`Checker::settle`]), then [`Checker::finish`].
#[derive(Debug)]
pub struct Checker {
    setup: Setup,
    warmup_end_us: u64,
    keys: Keys,
    recs: Vec<KeyRec>,
    open: Vec<KeyState>,
    free: Vec<u32>,
    types: Types,
    topics: Small,
    tally: Tally,
    occs: Vec<Occ>,
    hops: FoldMap<(u16, u16), Recorder>,
    /// Per fault window (in [`Setup::faults`] order), its measured hops.
    window_hops: Vec<FoldMap<(u16, u16), Recorder>>,
    orphans: Vec<Orphan>,
    unfinished: Vec<Unfinished>,
    /// Meta, fault, lag, stock, metric and dead-letter lines: the small kinds.
    small: History,
    /// Lines the checker could not use because their key was already settled.
    late_lines: u64,
    /// The next line's key id, if the caller knows it (checked, then used).
    hint: Option<u32>,
    /// Settle a key this long after its last line's time, by the latest time seen.
    horizon_us: Option<u64>,
    watermark_us: u64,
    /// (latest time, key) as lines came: the keys to settle once the watermark passes.
    recent: std::collections::VecDeque<(u64, u32)>,
    /// Forget a key once settled (its id is reused): for a judge that never finishes
    /// ([`Live`]), whose memory must not grow with the keys seen.
    forget: bool,
    /// The hashes of the keys forgotten (8 bytes a key): a line for one of them is
    /// late, never the start of a new key (whose "first" observations would be
    /// repeats). A collision can only drop a new key's lines.
    forgotten: hashbrown::HashSet<u64, foldhash::fast::FixedState>,
    /// Scheduled orders settled (what [`Live`] shows as judged).
    settled_orders: u64,
}

impl Checker {
    pub fn new(setup: Setup) -> Checker {
        let warmup_end_us = setup.meta.as_ref().map_or(0, |m| m.warmup_end_us);
        let window_hops = setup.faults.iter().map(|_| FoldMap::default()).collect();
        let types = Types {
            info: Vec::new(),
            terminal: setup.options.terminal_types.clone(),
        };
        Checker {
            setup,
            warmup_end_us,
            keys: Keys::default(),
            recs: Vec::new(),
            open: Vec::new(),
            free: Vec::new(),
            types,
            topics: Small::default(),
            tally: Tally::default(),
            occs: Vec::new(),
            hops: FoldMap::default(),
            window_hops,
            orphans: Vec::new(),
            unfinished: Vec::new(),
            small: History::default(),
            late_lines: 0,
            hint: None,
            horizon_us: None,
            watermark_us: 0,
            recent: std::collections::VecDeque::new(),
            forget: false,
            forgotten: hashbrown::HashSet::default(),
            settled_orders: 0,
        }
    }

    fn key(&mut self, text: &str) -> u32 {
        if let Some(id) = self.hint.take()
            && (id as usize) < self.recs.len()
            && self.keys.name(id) == text
        {
            return id;
        }
        let (id, new) = self.keys.intern(text);
        if new {
            match self.recs.get_mut(id as usize) {
                Some(rec) => *rec = KeyRec::NEW,
                None => self.recs.push(KeyRec::NEW),
            }
        }
        id
    }

    /// Settles each key once a line `horizon_us` later than its last line has been read
    /// (by their times: observed, intended, sent, acknowledged): for a caller that
    /// cannot know which line is a key's last. A line that comes for a key after that
    /// is counted in [`Checker::late_lines`].
    pub fn settle_after(&mut self, horizon_us: u64) {
        self.horizon_us = Some(horizon_us);
    }

    /// Notes that key `id` had a line at `t_us`, and settles the keys left behind.
    fn touch(&mut self, id: u32, t_us: u64) {
        if self.horizon_us.is_none() {
            return;
        }
        let rec = &mut self.recs[id as usize];
        rec.last_us = rec.last_us.max(t_us);
        self.recent.push_back((rec.last_us, id));
        self.advance(t_us);
    }

    /// Moves the watermark to `t_us` (if later): with [`Checker::settle_after`], the
    /// keys with no line since `t_us` − horizon are settled. For a caller whose lines
    /// stop coming while time goes on (a run judged live).
    pub fn advance(&mut self, t_us: u64) {
        let Some(horizon) = self.horizon_us else {
            return;
        };
        self.watermark_us = self.watermark_us.max(t_us);
        while let Some(&(t, key)) = self.recent.front() {
            if t.saturating_add(horizon) >= self.watermark_us {
                break;
            }
            self.recent.pop_front();
            let rec = &self.recs[key as usize];
            if rec.last_us == t && rec.flags & SETTLED == 0 {
                self.settle(key);
            }
        }
    }

    /// Whether key `text` was settled and forgotten (with [`Live`]).
    pub(crate) fn was_forgotten(&self, text: &str) -> bool {
        !self.forgotten.is_empty() && self.forgotten.contains(&self.keys.hash(text))
    }

    /// Lines that came for a key already settled (and were not used): 0 unless keys
    /// were settled too early.
    pub fn late_lines(&self) -> u64 {
        self.late_lines
    }

    /// One line of any kind; `line` is its number (any increasing count), which breaks
    /// ties between equal times as the line order does. Returns the key of a send or
    /// observe line.
    pub fn line(&mut self, line: u64, parsed: &Line) -> Option<u32> {
        match parsed {
            Line::Send(s) => Some(self.send(line, s.into())),
            Line::Observe(o) => Some(self.observe(line, o.into())),
            Line::Charge(c) => {
                self.charge(&c.order_id);
                None
            }
            other => {
                self.small.push(other.clone());
                None
            }
        }
    }

    /// A line read by the fast reader.
    pub fn fast(&mut self, line: u64, parsed: Fast<'_>) -> Option<u32> {
        match parsed {
            Fast::Send(s) => Some(self.send(line, s)),
            Fast::Observe(o) => Some(self.observe(line, o)),
            Fast::Charge { order_id } => {
                self.charge(order_id);
                None
            }
        }
    }

    pub fn send(&mut self, _line: u64, s: SendView<'_>) -> u32 {
        let id = self.key(s.order_id);
        let rec = &mut self.recs[id as usize];
        if rec.flags & SETTLED != 0 {
            self.late_lines += 1;
            return id;
        }
        rec.intended_us = rec.intended_us.min(s.intended_us);
        rec.flags |= HAS_SEND;
        if s.outcome == SendOutcome::Acked {
            rec.flags |= ACKED;
        }
        if s.outcome != SendOutcome::Dropped {
            rec.flags |= SENT;
        }
        let t = &mut self.tally;
        match s.outcome {
            SendOutcome::Rejected => t.rejected += 1,
            SendOutcome::Error => t.errors += 1,
            SendOutcome::Dropped => t.dropped += 1,
            SendOutcome::Acked => {}
        }
        let late_after = self.setup.options.late_after_us;
        let delay = s.sent_us.map(|sent| sent.saturating_sub(s.intended_us));
        t.late += u64::from(delay.is_some_and(|d| d > late_after));
        if s.intended_us >= self.warmup_end_us {
            t.short_dropped += u64::from(s.outcome == SendOutcome::Dropped);
            if let Some(d) = delay {
                t.short_late += u64::from(d > late_after);
                t.max_send_delay_us = Some(t.max_send_delay_us.unwrap_or(0).max(d));
            }
        }
        if let (SendOutcome::Acked, Some(at)) = (s.outcome, s.acked_us) {
            *t.acked_per_s
                .entry(at / crate::measure::SECOND_US)
                .or_default() += 1;
        }
        t.last_intended = Some(
            t.last_intended
                .map_or(s.intended_us, |l| l.max(s.intended_us)),
        );
        let latest = s
            .intended_us
            .max(s.sent_us.unwrap_or(0))
            .max(s.acked_us.unwrap_or(0));
        self.touch(id, latest);
        id
    }

    pub fn observe(&mut self, line: u64, o: ObserveView<'_>) -> u32 {
        let id = self.key(o.key);
        let t = &mut self.tally;
        t.reads += 1;
        t.last_observed = Some(
            t.last_observed
                .map_or(o.observed_us, |l| l.max(o.observed_us)),
        );
        let rec = &mut self.recs[id as usize];
        if rec.flags & SETTLED != 0 {
            self.late_lines += 1;
            return id;
        }
        if rec.slot == u32::MAX {
            rec.slot = match self.free.pop() {
                Some(slot) => slot,
                None => {
                    self.open.push(KeyState::default());
                    (self.open.len() - 1) as u32
                }
            };
        }
        let slot = rec.slot as usize;
        let ty = self.types.intern(o.event_type);
        let topic = self.topics.intern(o.topic);
        let step = self.types.get(ty).step;
        self.open[slot].observe(line, &o, ty, topic, step);
        self.touch(id, o.observed_us);
        id
    }

    pub fn charge(&mut self, order_id: &str) {
        let id = self.key(order_id);
        let rec = &mut self.recs[id as usize];
        rec.charges = rec.charges.saturating_add(1);
    }

    /// Judges key `id`: no line for it may come after this (one that does is counted
    /// in [`Checker::late_lines`] and left out).
    pub fn settle(&mut self, id: u32) {
        let rec = self.recs[id as usize];
        if rec.flags & SETTLED != 0 {
            return;
        }
        self.recs[id as usize].flags |= SETTLED;
        let state = if rec.slot == u32::MAX {
            KeyState::default()
        } else {
            self.free.push(rec.slot);
            self.recs[id as usize].slot = u32::MAX;
            std::mem::take(&mut self.open[rec.slot as usize])
        };
        self.settled_orders += u64::from(rec.is_order());
        key::settle(self, id, state);
        if self.forget {
            self.forgotten.insert(self.keys.hash(self.keys.name(id)));
            self.keys.release(id);
            self.recs[id as usize] = KeyRec {
                flags: SETTLED,
                ..KeyRec::NEW
            };
        }
    }

    /// Settles every key still open.
    pub fn settle_all(&mut self) {
        for id in 0..self.recs.len() as u32 {
            self.settle(id);
        }
    }

    /// Whether the measured-time `t` of a hop counts, and the fault windows it is in.
    fn hop(&mut self, measure_us: u64, pair: (u16, u16), latency_us: u64) {
        if measure_us < self.warmup_end_us {
            return;
        }
        self.hops.entry(pair).or_default().record(latency_us);
        for (i, f) in self.setup.faults.iter().enumerate() {
            if measure_us >= f.start_us && measure_us <= f.end_us {
                self.window_hops[i]
                    .entry(pair)
                    .or_default()
                    .record(latency_us);
            }
        }
    }

    /// The cause ids to look up elsewhere ([`Checker::resolve_causes`]).
    pub(crate) fn orphan_causes(&self) -> Vec<EventId> {
        self.orphans.iter().map(|o| o.cause.clone()).collect()
    }
}

/// Analyses a history held in memory with the streaming checker (every key settled at
/// the end): [`crate::analyze`].
pub fn analyze_history(history: &History, options: &AnalysisOptions) -> crate::Analysis {
    let mut checker = Checker::new(Setup {
        options: options.clone(),
        meta: history.meta.clone(),
        faults: history.faults.clone(),
    });
    let mut line = 0u64;
    for s in &history.sends {
        line += 1;
        checker.line(line, &Line::Send(s.clone()));
    }
    for o in &history.observations {
        line += 1;
        checker.observe(line, o.into());
    }
    for c in &history.charges {
        checker.charge(&c.order_id);
    }
    checker.small = History {
        meta: history.meta.clone(),
        faults: history.faults.clone(),
        lags: history.lags.clone(),
        stock: history.stock.clone(),
        metrics: history.metrics.clone(),
        dead_letters: history.dead_letters.clone(),
        ..History::default()
    };
    checker.settle_all();
    let causes = first_observations(history, &checker.orphan_causes());
    checker.resolve_causes(&causes);
    checker.finish()
}

/// The first observation (earliest, then first line) of each of `wanted` in `history`.
fn first_observations(history: &History, wanted: &[EventId]) -> HashMap<EventId, FirstSeen> {
    let mut out: HashMap<EventId, FirstSeen> = HashMap::new();
    if wanted.is_empty() {
        return out;
    }
    let wanted: std::collections::HashSet<&EventId> = wanted.iter().collect();
    for o in &history.observations {
        let id = EventId::of(&o.event_id);
        if wanted.contains(&id) {
            let slot =
                out.entry(id)
                    .or_insert((o.observed_us, o.produced_us, o.event_type.clone()));
            if o.observed_us < slot.0 {
                *slot = (o.observed_us, o.produced_us, o.event_type.clone());
            }
        }
    }
    out
}
