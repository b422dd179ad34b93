//! Poison-message detection: decide whether a message is processed, retried or dead-lettered.
//!
//! A message is poison when it can never succeed: it does not decode, the handler rejects it
//! permanently, or it has failed `max_attempts` times. Redis counts deliveries itself
//! (`XPENDING`'s delivery count); Kafka does not, so [`AttemptTracker`] counts failures per
//! message id in memory for it.

use std::collections::{BTreeMap, HashMap};
use std::fmt;
use std::num::{NonZeroU32, NonZeroUsize};

use super::retry::Retryable;

/// When a message stops being retried.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PoisonPolicy {
    /// Processing attempts allowed per message; after this many failures it is dead-lettered.
    pub max_attempts: NonZeroU32,
}

/// What to do with a message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Verdict {
    /// Process it (it has not failed before).
    Process,
    /// Process it again, after a backoff delay: it failed before but has attempts left.
    Retry,
    /// Stop: publish it to the dead-letter topic with this reason and acknowledge it.
    DeadLetter(Reason),
}

/// Why a message was dead-lettered. [`Reason::kind`] gives a stable label for metrics.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Reason {
    /// The payload could not be decoded, e.g. `invalid JSON at line 1 column 7`. Never retried.
    Undecodable(String),
    /// Processing failed this many times, e.g. 5 attempts, last error `gateway timeout`.
    TooManyAttempts {
        /// Failed attempts.
        attempts: u32,
        /// The last failure's message, if known.
        last_error: Option<String>,
    },
    /// The handler refused it permanently, e.g. `unknown sku "X-1"`. Never retried.
    Rejected(String),
}

impl Reason {
    /// A stable snake_case name: `undecodable`, `too_many_attempts` or `rejected`.
    pub fn kind(&self) -> &'static str {
        match self {
            Self::Undecodable(_) => "undecodable",
            Self::TooManyAttempts { .. } => "too_many_attempts",
            Self::Rejected(_) => "rejected",
        }
    }
}

impl fmt::Display for Reason {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Undecodable(detail) => write!(f, "undecodable payload: {detail}"),
            Self::TooManyAttempts {
                attempts,
                last_error: Some(error),
            } => {
                write!(f, "failed {attempts} times; last error: {error}")
            }
            Self::TooManyAttempts {
                attempts,
                last_error: None,
            } => {
                write!(f, "failed {attempts} times")
            }
            Self::Rejected(detail) => write!(f, "rejected: {detail}"),
        }
    }
}

impl PoisonPolicy {
    /// Classifies a message before (re)processing.
    ///
    /// `attempts` is how many times processing of this message has already failed (0 when
    /// fresh); `last_error` the latest failure, or the decode error when `decode_ok` is false.
    /// Undecodable → dead letter at once; `attempts >= max_attempts` → dead letter;
    /// `attempts > 0` → retry; otherwise process. Never returns [`Reason::Rejected`].
    pub fn classify(&self, decode_ok: bool, attempts: u32, last_error: Option<&str>) -> Verdict {
        if !decode_ok {
            let detail = last_error.unwrap_or("payload could not be decoded");
            return Verdict::DeadLetter(Reason::Undecodable(detail.to_owned()));
        }
        if attempts >= self.max_attempts.get() {
            return Verdict::DeadLetter(Reason::TooManyAttempts {
                attempts,
                last_error: last_error.map(str::to_owned),
            });
        }
        if attempts > 0 {
            Verdict::Retry
        } else {
            Verdict::Process
        }
    }

    /// Classifies a message right after a processing failure.
    ///
    /// `attempts` counts failures including this one. A [`Retryable::No`] error dead-letters
    /// at once as [`Reason::Rejected`]; otherwise as [`PoisonPolicy::classify`].
    pub fn after_failure(&self, attempts: u32, error: &str, retryable: Retryable) -> Verdict {
        match retryable {
            Retryable::No => Verdict::DeadLetter(Reason::Rejected(error.to_owned())),
            Retryable::Yes => self.classify(true, attempts.max(1), Some(error)),
        }
    }
}

/// Failure counts per message id, for backends without a delivery count (Kafka).
///
/// Bounded: beyond `capacity` ids the one that failed least recently is forgotten (counted in
/// [`AttemptTracker::evictions`]), which may give that message extra attempts — preferable to
/// unbounded memory. Call [`AttemptTracker::forget`] after success or dead-lettering.
#[derive(Debug, Clone)]
pub struct AttemptTracker {
    capacity: NonZeroUsize,
    /// id → (failures, recency stamp of its latest failure).
    counts: HashMap<String, (u32, u64)>,
    /// recency stamp → id, oldest first, so eviction is `pop_first`.
    by_recency: BTreeMap<u64, String>,
    next_stamp: u64,
    evictions: u64,
}

impl AttemptTracker {
    /// An empty tracker remembering at most `capacity` message ids.
    pub fn new(capacity: NonZeroUsize) -> Self {
        Self {
            capacity,
            counts: HashMap::new(),
            by_recency: BTreeMap::new(),
            next_stamp: 0,
            evictions: 0,
        }
    }

    /// Failures recorded for `id` (0 when unknown).
    pub fn failures(&self, id: &str) -> u32 {
        self.counts.get(id).map_or(0, |(failures, _)| *failures)
    }

    /// Records one more failure of `id` and returns its failure count.
    pub fn record_failure(&mut self, id: &str) -> u32 {
        let stamp = self.next_stamp;
        self.next_stamp = self.next_stamp.wrapping_add(1);
        let failures = match self.counts.get_mut(id) {
            Some((failures, old_stamp)) => {
                self.by_recency.remove(old_stamp);
                *failures = failures.saturating_add(1);
                *old_stamp = stamp;
                *failures
            }
            None => {
                while self.counts.len() >= self.capacity.get() {
                    let Some((_, oldest)) = self.by_recency.pop_first() else {
                        break;
                    };
                    self.counts.remove(&oldest);
                    self.evictions = self.evictions.saturating_add(1);
                }
                self.counts.insert(id.to_owned(), (1, stamp));
                1
            }
        };
        self.by_recency.insert(stamp, id.to_owned());
        failures
    }

    /// Forgets `id` (after success or dead-lettering), returning its failure count if known.
    pub fn forget(&mut self, id: &str) -> Option<u32> {
        let (failures, stamp) = self.counts.remove(id)?;
        self.by_recency.remove(&stamp);
        Some(failures)
    }

    /// Ids currently tracked.
    pub fn len(&self) -> usize {
        self.counts.len()
    }

    /// Whether no id is tracked.
    pub fn is_empty(&self) -> bool {
        self.counts.is_empty()
    }

    /// The most ids kept at once.
    pub fn capacity(&self) -> NonZeroUsize {
        self.capacity
    }

    /// Ids forgotten because the tracker was full.
    pub fn evictions(&self) -> u64 {
        self.evictions
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn policy(max: u32) -> PoisonPolicy {
        PoisonPolicy {
            max_attempts: NonZeroU32::new(max).unwrap_or(NonZeroU32::MIN),
        }
    }

    fn tracker(capacity: usize) -> AttemptTracker {
        AttemptTracker::new(NonZeroUsize::new(capacity).unwrap_or(NonZeroUsize::MIN))
    }

    #[test]
    fn classify_covers_every_branch() {
        let p = policy(3);
        assert_eq!(p.classify(true, 0, None), Verdict::Process);
        assert_eq!(p.classify(true, 2, Some("timeout")), Verdict::Retry);
        assert_eq!(
            p.classify(true, 3, Some("timeout")),
            Verdict::DeadLetter(Reason::TooManyAttempts {
                attempts: 3,
                last_error: Some("timeout".into())
            })
        );
        assert_eq!(
            p.classify(false, 0, Some("expected value at line 1 column 1")),
            Verdict::DeadLetter(Reason::Undecodable(
                "expected value at line 1 column 1".into()
            ))
        );
        assert!(matches!(
            p.classify(false, 0, None),
            Verdict::DeadLetter(Reason::Undecodable(_))
        ));
    }

    #[test]
    fn after_failure_retries_then_gives_up() {
        let p = policy(2);
        assert_eq!(p.after_failure(1, "503", Retryable::Yes), Verdict::Retry);
        assert!(matches!(
            p.after_failure(2, "503", Retryable::Yes),
            Verdict::DeadLetter(Reason::TooManyAttempts { attempts: 2, .. })
        ));
        assert_eq!(
            p.after_failure(1, "unknown sku", Retryable::No),
            Verdict::DeadLetter(Reason::Rejected("unknown sku".into()))
        );
        // A caller that forgot to count this failure still gets a retry, not "process".
        assert_eq!(p.after_failure(0, "503", Retryable::Yes), Verdict::Retry);
    }

    #[test]
    fn reasons_display_and_kind() {
        let too_many = Reason::TooManyAttempts {
            attempts: 5,
            last_error: Some("timeout".into()),
        };
        assert_eq!(too_many.to_string(), "failed 5 times; last error: timeout");
        assert_eq!(too_many.kind(), "too_many_attempts");
        let bare = Reason::TooManyAttempts {
            attempts: 1,
            last_error: None,
        };
        assert_eq!(bare.to_string(), "failed 1 times");
        assert_eq!(
            Reason::Undecodable("bad".into()).to_string(),
            "undecodable payload: bad"
        );
        assert_eq!(Reason::Rejected("no".into()).kind(), "rejected");
    }

    #[test]
    fn tracker_counts_forgets_and_evicts_least_recent() {
        let mut t = tracker(2);
        assert_eq!(t.record_failure("a"), 1);
        assert_eq!(t.record_failure("b"), 1);
        assert_eq!(t.record_failure("a"), 2); // "a" is now the most recent
        assert_eq!(t.record_failure("c"), 1); // evicts "b"
        assert_eq!(
            (t.failures("a"), t.failures("b"), t.failures("c")),
            (2, 0, 1)
        );
        assert_eq!(t.evictions(), 1);
        assert_eq!(t.forget("a"), Some(2));
        assert_eq!(t.forget("a"), None);
        assert_eq!(t.len(), 1);
        assert_eq!(t.record_failure("a"), 1);
    }

    proptest! {
        /// Against a model: exact counts, bounded size, and eviction of the least recent id.
        #[test]
        fn tracker_matches_lru_model(
            capacity in 1usize..8,
            ops in prop::collection::vec((0u8..12, any::<bool>()), 0..300),
        ) {
            let mut t = tracker(capacity);
            // id → (failures, step of latest failure)
            let mut model: HashMap<String, (u32, usize)> = HashMap::new();
            for (step, (id, is_failure)) in ops.into_iter().enumerate() {
                let id = format!("msg-{id}");
                if !is_failure {
                    prop_assert_eq!(t.forget(&id), model.remove(&id).map(|(c, _)| c));
                    continue;
                }
                if !model.contains_key(&id) && model.len() == capacity {
                    let oldest = model.iter().min_by_key(|(_, (_, s))| *s).map(|(k, _)| k.clone());
                    if let Some(oldest) = oldest {
                        model.remove(&oldest);
                    }
                }
                let expected = model.get(&id).map_or(1, |(c, _)| c + 1);
                prop_assert_eq!(t.record_failure(&id), expected);
                model.insert(id, (expected, step));
                prop_assert!(t.len() <= capacity);
                prop_assert_eq!(t.len(), model.len());
                prop_assert_eq!(t.by_recency.len(), model.len());
                for (id, (count, _)) in &model {
                    prop_assert_eq!(t.failures(id), *count);
                }
            }
        }
    }
}
