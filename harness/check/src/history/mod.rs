//! # The history format (`history.jsonl`)
//!
//! Everything a run recorded, one JSON object per line, each tagged by `"kind"`. The
//! harness writes it while the run goes on; `harness check` re-analyses it. The checker
//! needs nothing else: every verdict can be recomputed from this file alone.
//!
//! **Times** are microseconds (`u64`) since the run started, all read from one monotonic
//! clock on one host, so times from different recorders (load generator, tap, lag
//! sampler, fault executor) are comparable. Field names ending in `_us` are such times.
//!
//! **Strictness.** Blank lines are skipped. Every other line must be a JSON object with a
//! known `"kind"` and exactly the fields listed for it: an unknown kind, an unknown field
//! or a missing required field is an error naming the line (1-based) and, for JSON syntax
//! errors, the column. Fields marked *optional* may be omitted or `null`. At most one
//! `meta` line. Lines of different kinds may be interleaved in any order; the order of
//! lines of one kind is kept.
//!
//! **Written as the run goes.** Recorders hand their lines to one writer, which appends
//! them as they come (so kinds interleave), flushes at least twice a second and syncs the
//! file to disk at each phase boundary (end of warm-up, of load, of drain). The `meta`
//! line is written last, when the run ends: a history without one did not end (its
//! harness was killed), and is judged `inconclusive` with nothing claimed of its
//! guarantee and no `phantom` judged (an order observed just before the cut may have no
//! `send` line yet). A killed writer may leave its last line cut in the middle:
//! `harness check` leaves that line out with a warning and judges the run incomplete.
//!
//! **Compressed.** With `history = "zstd"` in the experiment the run writes
//! `history.jsonl.zst` instead: the same lines, zstd-compressed as they are written,
//! each flush ending a block, so a killed run's file decodes up to its last flush.
//! `harness check` reads either (it tells them by their first bytes).
//!
//! | kind | one line per | fields |
//! | --- | --- | --- |
//! | `meta` | run (at most one) | `experiment`, `seed`, `backend` (`redis` \| `kafka`), `guarantee` (`at-most-once` \| `at-least-once` \| `exactly-once`), `warmup_end_us`, `load_end_us`, `drain_end_us`, `complete`, `drain` (optional), `analysis` (optional), `thresholds` (optional), `faults` (optional) |
//! | `send` | order the load generator scheduled | `order_id`, `intended_us`, `sent_us` (optional), `acked_us` (optional), `outcome` (`acked` \| `rejected` \| `error` \| `dropped`), `error` (optional) |
//! | `observe` | message the tap read | `event_id`, `event_type`, `key`, `seq`, `causation_id` (optional), `produced_us` (optional), `observed_us`, `topic`, `partition`, `position` |
//! | `fault` | injected fault | `id`, `fault` (`latency` \| `bandwidth` \| `timeout` \| `reset_peer` \| `slicer` \| `limit_data` \| `down` \| `kill` \| `pause` \| `restart`), `target`, `start_us`, `end_us` |
//! | `lag` | sample (1 Hz per consumer group, and the tap) | `t_us`, `group`, `lag`, `pending` (optional), `positions` (optional) |
//! | `charge` | charge in the payment gateway's final ledger | `order_id`, `charge_id` |
//! | `stock` | SKU and shard, final inventory | `sku`, `shard`, `available`, `reserved`, `initial` |
//! | `metric` | scraped sample of a service counter | `t_us`, `service`, `instance`, `name`, `value` |
//! | `dead_letter` | record the tap read on a service's dead-letter stream/topic | `order_id` (optional), `service`, `reason_kind`, `reason`, `attempts`, `input_event_id` (optional), `input_topic`, `observed_us` |
//!
//! Notes on the fields:
//!
//! - `meta.complete` is `false` when the run was interrupted (Ctrl-C): the drain may not
//!   have finished, so the verdict is at best `inconclusive`.
//! - `meta.drain` says how the drain ended: `finished` (every acknowledged order
//!   reached a terminal event), `idle` (every consumer group and the tap had caught
//!   up and nothing new arrived for the settle window), `timed_out` (the experiment's
//!   `drain_timeout` ran out while the system was busy) or `stopped`.
//! - `send.intended_us` is the open-loop schedule's intended send time. Latency is
//!   measured from it, not from `sent_us`, so a generator that falls behind does not hide
//!   the delay (no coordinated omission). `acked` means the system acknowledged the
//!   order (HTTP 2xx or broker ack): from then on it is obligated to finish it.
//!   `dropped` means the generator fell behind and never sent it (`sent_us` is `null`).
//! - `observe` records one read of one message; the same `event_id` may appear on
//!   several lines (a duplicate in the log, or the tap re-reading one entry: see
//!   [`crate::detect`]). `key` is the order id for order-flow events. `seq` is the
//!   per-key sequence number from the envelope. `position` is the backend's position of
//!   the entry in its partition (Kafka offset, Redis stream id) as text. Redis streams
//!   have one partition, `0`.
//! - `fault.fault` is the fault's kind. It is not called `kind` because `"kind"` already
//!   says what the line is (a JSON object should not repeat a key).
//! - `meta.analysis` holds the analysis options the run judged itself with: an object
//!   with `late_after_us`, `causality_slack_us`, `recovery_factor`,
//!   `recovery_margin_us`, `terminal_types` (the event types that end an order; empty
//!   or absent: `OrderShipped` and `OrderCancelled`) and `final_state_unread` (`true`:
//!   the system's ledger and inventory were not read, an external platform's), each
//!   optional (the default when left out; an unknown key is an error). `harness check` re-analyses with them, so it gives the run's own
//!   verdict; a history without the field (written before it existed) is analysed with
//!   the defaults.
//! - `meta.faults` repeats the `fault` lines (the same records, in the same order), so
//!   that a reader that has read the meta line first — from the end of the file — can
//!   judge the history in one pass; absent in older histories.
//! - `meta.thresholds` lists the experiment's thresholds as written, each
//!   `{"metric": ..., "expression": ...}` (e.g. `latency.e2e.p99`, `< 800ms`), so that
//!   `harness check` judges them as the run did; `--threshold` on its command line
//!   replaces them. Absent when the experiment has none (and in older histories).
//! - `lag.pending` is Redis's pending-entries count (`XINFO GROUPS`); Kafka has none.
//!   `lag.lag` counts entries the group has not yet read: on Kafka the readable
//!   entries at or after its committed offset (transaction markers, which take an
//!   offset each but carry nothing, are not counted).
//! - `lag.positions` lists, per partition the group reads, `{"topic", "partition",
//!   "next"}`: every entry of the partition before `next` has been processed by the
//!   group ([`GroupPosition`]). The checker's in-flight rule ([`crate::inflight`])
//!   compares an unfinished order's last observed entry with it.
//! - The group `tap` is the harness's own reader: its `lag` is the entries written
//!   but not yet read, its `positions` the next entry it will read.
//! - `stock.available` and `stock.reserved` are signed so that a broken store (below
//!   zero) can be recorded and reported rather than rejected.
//! - `dead_letter` is one record of a `dlq.<service>` stream/topic: the service that
//!   gave the input up, its reason (`reason_kind`, e.g. `too_many_attempts`,
//!   `undecodable`, `rejected`, `state_timeout`, and the service's message), the
//!   attempts made, the input's event id and topic. `order_id` is the key of the input
//!   (the order id for order-flow events), absent when it could not be read (an
//!   undecodable message without a key). The checker names, for each lost order, the
//!   dead letter that holds it; a dead letter of anything that is not an acknowledged
//!   order (poison, foreign messages) is counted, never lost.
//!
//! Example (lines as a run writes them: kinds interleaved, the meta line last):
//!
//! ```text
//! {"kind":"send","order_id":"o-17","intended_us":5000000,"sent_us":5000120,"acked_us":5003400,"outcome":"acked","error":null}
//! {"kind":"observe","event_id":"6f1c…","event_type":"OrderPlaced","key":"o-17","seq":1,"causation_id":null,"produced_us":5003100,"observed_us":5004000,"topic":"orders","partition":0,"position":"1700000000000-0"}
//! {"kind":"fault","id":"f1","fault":"latency","target":"redis","start_us":20000000,"end_us":30000000}
//! {"kind":"lag","t_us":21000000,"group":"inventory","lag":123,"pending":4,"positions":[{"topic":"orders","partition":0,"next":"1700000000000-0"}]}
//! {"kind":"charge","order_id":"o-17","charge_id":"ch-3"}
//! {"kind":"stock","sku":"sku-3","shard":0,"available":990,"reserved":10,"initial":1000}
//! {"kind":"metric","t_us":35000000,"service":"payment","instance":0,"name":"retries_total","value":3.0}
//! {"kind":"dead_letter","order_id":"o-23","service":"order","reason_kind":"too_many_attempts","reason":"failed 8 times; last: order o-23 not in the read model yet","attempts":8,"input_event_id":"9b2e…","input_topic":"payments","observed_us":21500000}
//! {"kind":"meta","experiment":"quickstart","seed":42,"backend":"redis","guarantee":"at-least-once","warmup_end_us":5000000,"load_end_us":35000000,"drain_end_us":40000000,"complete":true}
//! ```

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use crate::analysis::AnalysisOptions;
pub use crate::inflight::{GroupPosition, position_key};

/// Which broker carried the events, and the guarantee the system ran with: the
/// platform's own definitions (`events::platform`).
pub use events::{Backend, Guarantee};

/// What the run was and where its phases ended.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Meta {
    pub experiment: String,
    pub seed: u64,
    pub backend: Backend,
    pub guarantee: Guarantee,
    /// Orders intended before this are warm-up: checked for correctness, left out of
    /// every statistic.
    pub warmup_end_us: u64,
    /// End of the load phase; throughput is averaged over `warmup_end_us..load_end_us`.
    pub load_end_us: u64,
    /// End of the drain phase (when the tap stopped).
    pub drain_end_us: u64,
    /// `false` when the run was interrupted before its drain finished.
    pub complete: bool,
    /// How the drain ended (absent in older histories).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub drain: Option<DrainEnd>,
    /// The analysis options the run judged itself with, so that `harness check` on
    /// this history gives the run's verdict (absent in histories written before it was
    /// recorded: then the defaults).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub analysis: Option<AnalysisOptions>,
    /// The experiment's thresholds as written, so that `harness check` judges them
    /// too and gives the run's verdict (empty in older histories: then only those
    /// given on its command line).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub thresholds: Vec<RecordedThreshold>,
    /// The run's fault windows, the same as its `fault` lines: read with the meta line
    /// from the file's end, they let a reader judge the history in one pass (the
    /// `fault` lines come as each fault heals, after the orders it touched). Absent in
    /// histories written before it was recorded (then two passes).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub faults: Option<Vec<FaultRecord>>,
}

/// How a run's drain ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum DrainEnd {
    /// Every acknowledged order reached a terminal event.
    Finished,
    /// Every consumer group and the tap had caught up (no lag, nothing pending) and
    /// nothing new was observed for the settle window: the system was idle.
    Idle,
    /// `drain_timeout` ran out while the system was still busy.
    TimedOut,
    /// The run was stopped (Ctrl-C, SIGTERM) during the drain.
    Stopped,
}

impl DrainEnd {
    pub fn name(self) -> &'static str {
        match self {
            DrainEnd::Finished => "finished",
            DrainEnd::Idle => "idle",
            DrainEnd::TimedOut => "timed_out",
            DrainEnd::Stopped => "stopped",
        }
    }
}

/// One threshold of the experiment, as text: `metric` and `expression` exactly as the
/// experiment file gave them (parsed by [`crate::parse_threshold`] when judged).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RecordedThreshold {
    pub metric: String,
    pub expression: String,
}

/// How one scheduled send ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum SendOutcome {
    /// The system acknowledged the order: it is obligated to finish it.
    Acked,
    /// The system answered but refused (HTTP 4xx, broker rejection).
    Rejected,
    /// No answer or a failure answer (timeout, 5xx, connection reset).
    Error,
    /// The generator fell behind and never sent it (shortfall, not an anomaly).
    Dropped,
}

impl SendOutcome {
    pub const ALL: [SendOutcome; 4] = [
        SendOutcome::Acked,
        SendOutcome::Rejected,
        SendOutcome::Error,
        SendOutcome::Dropped,
    ];

    /// The name on history lines (`acked`).
    pub const fn name(self) -> &'static str {
        match self {
            SendOutcome::Acked => "acked",
            SendOutcome::Rejected => "rejected",
            SendOutcome::Error => "error",
            SendOutcome::Dropped => "dropped",
        }
    }
}

/// One order the load generator scheduled.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SendRecord {
    pub order_id: String,
    /// The open-loop schedule's intended send time: latency starts here.
    pub intended_us: u64,
    /// When it actually left (`None` for dropped sends).
    #[serde(default)]
    pub sent_us: Option<u64>,
    #[serde(default)]
    pub acked_us: Option<u64>,
    pub outcome: SendOutcome,
    /// The error text for `rejected` and `error` outcomes.
    #[serde(default)]
    pub error: Option<String>,
}

/// One message read by the tap.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Observation {
    pub event_id: String,
    pub event_type: String,
    /// The ordering key: the order id for order-flow events.
    pub key: String,
    /// Per-key sequence number from the envelope.
    pub seq: u64,
    /// The event that caused this one (`None` for an order's first event).
    #[serde(default)]
    pub causation_id: Option<String>,
    /// The broker's or producer's timestamp mapped to the run clock, when known.
    #[serde(default)]
    pub produced_us: Option<u64>,
    pub observed_us: u64,
    pub topic: String,
    pub partition: u32,
    /// The entry's position in its partition (Kafka offset, Redis stream id): tells a
    /// duplicate in the log from the tap reading one entry twice.
    pub position: String,
}

/// The kinds of fault the harness injects (DESIGN.md, "Faults"): the one list of their
/// names, which experiment files, history lines and results all use.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum FaultKind {
    Latency,
    Bandwidth,
    Timeout,
    ResetPeer,
    Slicer,
    LimitData,
    Down,
    Kill,
    Pause,
    Restart,
}

impl FaultKind {
    pub const ALL: [FaultKind; 10] = [
        FaultKind::Latency,
        FaultKind::Bandwidth,
        FaultKind::Timeout,
        FaultKind::ResetPeer,
        FaultKind::Slicer,
        FaultKind::LimitData,
        FaultKind::Down,
        FaultKind::Kill,
        FaultKind::Pause,
        FaultKind::Restart,
    ];

    /// The name in experiment files and on history lines (`reset_peer`).
    pub const fn name(self) -> &'static str {
        match self {
            FaultKind::Latency => "latency",
            FaultKind::Bandwidth => "bandwidth",
            FaultKind::Timeout => "timeout",
            FaultKind::ResetPeer => "reset_peer",
            FaultKind::Slicer => "slicer",
            FaultKind::LimitData => "limit_data",
            FaultKind::Down => "down",
            FaultKind::Kill => "kill",
            FaultKind::Pause => "pause",
            FaultKind::Restart => "restart",
        }
    }

    /// Every name, in [`FaultKind::ALL`] order.
    pub const NAMES: [&'static str; 10] = {
        let mut out = [""; 10];
        let mut i = 0;
        while i < 10 {
            out[i] = FaultKind::ALL[i].name();
            i += 1;
        }
        out
    };
}

/// One injected fault and its window.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FaultRecord {
    pub id: String,
    /// The fault's kind (named `fault` on the line because `kind` names the line).
    #[serde(rename = "fault")]
    pub kind: FaultKind,
    pub target: String,
    pub start_us: u64,
    pub end_us: u64,
}

/// One sample of one consumer group's backlog.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LagSample {
    pub t_us: u64,
    pub group: String,
    pub lag: u64,
    /// Redis pending entries (delivered, not acknowledged); `None` on Kafka.
    #[serde(default)]
    pub pending: Option<u64>,
    /// Where the group stands in each partition it reads: every entry before `next`
    /// has been processed. Empty in histories written before it was recorded (then
    /// only `lag` and `pending` say whether the group is done).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub positions: Vec<GroupPosition>,
}

/// One charge in the payment gateway's ledger at the end of the run.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Charge {
    pub order_id: String,
    pub charge_id: String,
}

/// Final inventory of one SKU in one shard.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct StockLine {
    pub sku: String,
    pub shard: u32,
    pub available: i64,
    pub reserved: i64,
    pub initial: i64,
}

/// One scraped sample of a service counter or gauge.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct MetricSample {
    pub t_us: u64,
    pub service: String,
    pub instance: u32,
    pub name: String,
    pub value: f64,
}

/// One dead letter the tap read (a service gave an input up).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct DeadLetterRecord {
    /// The input's key (the order id for order-flow events), when readable.
    #[serde(default)]
    pub order_id: Option<String>,
    /// The service that dead-lettered it.
    pub service: String,
    /// `too_many_attempts`, `undecodable`, `rejected`, `state_timeout`, ...: the
    /// platform's category, kept as text so a new one reads.
    pub reason_kind: String,
    /// The service's own words, e.g. `failed 8 times; last: ...`.
    pub reason: String,
    pub attempts: u32,
    /// The input's event id, when readable: matches an `observe` line's `event_id`.
    #[serde(default)]
    pub input_event_id: Option<String>,
    /// The topic the input was read from.
    pub input_topic: String,
    pub observed_us: u64,
}

/// Everything a run recorded, grouped by kind.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct History {
    pub meta: Option<Meta>,
    pub sends: Vec<SendRecord>,
    pub observations: Vec<Observation>,
    pub faults: Vec<FaultRecord>,
    pub lags: Vec<LagSample>,
    pub charges: Vec<Charge>,
    pub stock: Vec<StockLine>,
    pub metrics: Vec<MetricSample>,
    pub dead_letters: Vec<DeadLetterRecord>,
}

mod jsonl;

pub use jsonl::{HistoryError, Line, LineParser, Loaded, TruncatedTail};
