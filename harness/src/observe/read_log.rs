//! What the tap has read of one partition, in memory that does not grow with the
//! entries read: Kafka offsets as runs of consecutive offsets (one run per partition
//! while nothing is skipped; a transaction marker, which takes an offset and carries
//! nothing, starts a new one), Redis stream ids as the highest id read. Both count the
//! distinct entries read — a re-read after a reconnect counts once — for the
//! cross-check with an independent reader, and the Kafka runs say how many entries the
//! tap read at or after a group's committed offset (that group's lag).

/// One partition's read entries.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct PartitionLog {
    /// Kafka: disjoint, ascending `[start, end)` runs of offsets read.
    runs: Vec<(i64, i64)>,
    /// Redis: the highest stream id read (`ms`, `seq`).
    highest: Option<(u64, u64)>,
    /// Distinct entries read.
    distinct: u64,
}

impl PartitionLog {
    /// Records one entry read at `position` (a Kafka offset or a Redis stream id).
    /// A position of neither form counts as a new entry.
    pub fn record(&mut self, position: &str) {
        if let Ok(offset) = position.parse::<i64>() {
            if self.insert_offset(offset) {
                self.distinct += 1;
            }
        } else if let Some(id) = redis_id(position) {
            if self.highest.is_none_or(|h| id > h) {
                self.highest = Some(id);
                self.distinct += 1;
            }
        } else {
            self.distinct += 1;
        }
    }

    /// Distinct entries read.
    pub fn distinct(&self) -> u64 {
        self.distinct
    }

    /// Kafka: entries read at or after `offset`.
    pub fn read_since(&self, offset: i64) -> u64 {
        self.runs
            .iter()
            .rev()
            .take_while(|&&(_, end)| end > offset)
            .map(|&(start, end)| u64::try_from(end - start.max(offset)).unwrap_or(0))
            .sum()
    }

    /// Adds `offset`; false when it was read already.
    fn insert_offset(&mut self, offset: i64) -> bool {
        // The usual case: the next offset, or one after a gap, at the end.
        match self.runs.last_mut() {
            None => {
                self.runs.push((offset, offset + 1));
                return true;
            }
            Some(last) if offset == last.1 => {
                last.1 += 1;
                return true;
            }
            Some(last) if offset > last.1 => {
                self.runs.push((offset, offset + 1));
                return true;
            }
            Some(_) => {}
        }
        // Before the end: read already, or a hole filled late.
        let i = self.runs.partition_point(|&(_, end)| end <= offset);
        if self.runs.get(i).is_some_and(|&(start, _)| start <= offset) {
            return false;
        }
        let joins_before = i > 0 && self.runs[i - 1].1 == offset;
        let joins_after = self
            .runs
            .get(i)
            .is_some_and(|&(start, _)| start == offset + 1);
        match (joins_before, joins_after) {
            (true, true) => {
                self.runs[i - 1].1 = self.runs[i].1;
                self.runs.remove(i);
            }
            (true, false) => self.runs[i - 1].1 += 1,
            (false, true) => self.runs[i].0 -= 1,
            (false, false) => self.runs.insert(i, (offset, offset + 1)),
        }
        true
    }

    /// How many runs are kept (memory: 16 bytes each).
    pub fn runs(&self) -> usize {
        self.runs.len()
    }
}

/// A Redis stream id `ms-seq`.
fn redis_id(position: &str) -> Option<(u64, u64)> {
    let (ms, seq) = position.split_once('-')?;
    Some((ms.parse().ok()?, seq.parse().ok()?))
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn consecutive_offsets_are_one_run_and_rereads_count_once() {
        let mut log = PartitionLog::default();
        for o in 0..1000 {
            log.record(&o.to_string());
        }
        for o in 500..600 {
            log.record(&o.to_string());
        }
        assert_eq!(log.distinct(), 1000);
        assert_eq!(log.runs(), 1);
        assert_eq!(log.read_since(990), 10);
        assert_eq!(log.read_since(0), 1000);
        assert_eq!(log.read_since(2000), 0);
    }

    #[test]
    fn redis_ids_count_once_in_order() {
        let mut log = PartitionLog::default();
        for id in ["1-0", "1-1", "2-0", "1-1", "2-0", "10-0"] {
            log.record(id);
        }
        assert_eq!(log.distinct(), 4);
    }

    proptest! {
        /// The runs answer as the list of every offset read would (what the tap kept
        /// before): distinct count, and entries at or after any offset.
        #[test]
        fn runs_answer_as_the_set_of_offsets(reads in prop::collection::vec(0i64..300, 0..400), probe in 0i64..320) {
            let mut log = PartitionLog::default();
            let mut set = std::collections::BTreeSet::new();
            for o in &reads {
                log.record(&o.to_string());
                set.insert(*o);
            }
            prop_assert_eq!(log.distinct(), set.len() as u64);
            prop_assert_eq!(log.read_since(probe), set.range(probe..).count() as u64);
            prop_assert!(log.runs.windows(2).all(|w| w[0].1 < w[1].0), "disjoint, ascending, not touching");
        }
    }
}
