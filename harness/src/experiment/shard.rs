//! `--shard I/N`: this harness process runs the I-th (from 0) of N disjoint slices of
//! the schedule, by order key, so that N processes — on N machines, such as the pods of
//! a Kubernetes Indexed Job — drive one system together and `harness merge` combines
//! what each measured. Which orders and events are whose is [`check::merge::shard_of`].

use std::fmt;
use std::str::FromStr;

use serde::Serialize;

/// One slice of a sharded run.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct Shard {
    /// From 0 (a Kubernetes Indexed Job's completion index).
    pub index: u32,
    /// How many shards the run has (at least 1).
    pub count: u32,
}

impl Shard {
    /// Whether the order or event keyed `key` belongs to this shard.
    pub fn owns(&self, key: &str) -> bool {
        check::merge::shard_of(key, self.count) == self.index
    }

    /// The shard that injects the faults on the shared services (brokers, Redis, the
    /// lab's proxies): the first. The others record the same windows on their own
    /// clocks without acting, so a toxic is never added twice.
    pub fn injects_shared_faults(&self) -> bool {
        self.index == 0
    }
}

impl fmt::Display for Shard {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{}", self.index, self.count)
    }
}

impl FromStr for Shard {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let usage = "expected I/N with 0 <= I < N, e.g. 0/4 (I counts from 0, as a \
                     Kubernetes Indexed Job's completion index)";
        let Some((i, n)) = s.split_once('/') else {
            return Err(format!("`{s}`: {usage}"));
        };
        let (Ok(index), Ok(count)) = (i.trim().parse::<u32>(), n.trim().parse::<u32>()) else {
            return Err(format!("`{s}`: {usage}"));
        };
        if count == 0 || index >= count {
            return Err(format!("`{s}`: {usage}"));
        }
        Ok(Shard { index, count })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn shards_parse_and_bad_ones_say_how() {
        assert_eq!("1/3".parse::<Shard>(), Ok(Shard { index: 1, count: 3 }));
        assert_eq!("0/1".parse::<Shard>(), Ok(Shard { index: 0, count: 1 }));
        for bad in ["3/3", "1/0", "x/2", "1", "-1/2", "1/2/3", ""] {
            let err = bad.parse::<Shard>().expect_err(bad);
            assert!(err.contains("0 <= I < N"), "{bad}: {err}");
        }
    }

    #[test]
    fn the_shards_of_a_run_own_each_key_once() {
        let shards: Vec<Shard> = (0..3).map(|index| Shard { index, count: 3 }).collect();
        for i in 0..3000 {
            let key = format!("o42-{i}");
            assert_eq!(shards.iter().filter(|s| s.owns(&key)).count(), 1, "{key}");
        }
    }
}
