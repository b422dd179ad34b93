//! A batch on Redis in a few round trips, whatever its size: the counters its decisions
//! read and (exactly-once) which of its inputs are already processed, in one pipeline
//! before it is decided ([`RedisConsumer::prefetch`]); its decisions staged in memory
//! ([`RedisConsumer::commit`]: later inputs of the batch decide on the staged changes);
//! then one write ([`RedisConsumer::flush`]):
//!
//! | mode | flush |
//! | --- | --- |
//! | at-least-once | the changes by one script (`apply_batch.lua`), then every output `XADD` and every `XACK` in one pipeline |
//! | at-most-once | the same without acks (read with `NOACK`) |
//! | exactly-once | one script for the batch (`exactly_once_batch.lua`): per input, processed-id check, changes, outputs, ack, processed-id record |
//!
//! Stateless batches (no changes) skip the script in the first two modes. The scripts
//! stop at the first input whose changes would cross a floor against the counters as
//! they are now: `flush` returns it and the inputs after it, which the runner decides
//! again from fresh state.

use std::collections::{HashMap, HashSet};

use redis::{FromRedisValue, Value};

use super::{RedisConsumer, redis_err, state_key};
use crate::bus::{BusError, Change, Commit, CommitOutcome, Delivery, Guarantee, Outgoing};

/// One decided input, waiting for the flush.
#[derive(Debug)]
struct Staged {
    /// Logical topic and entry id (what `flush` reports back when not applied).
    topic: String,
    position: String,
    /// Physical input stream (for the ack).
    stream: String,
    outputs: Vec<Outgoing>,
    changes: Vec<Change>,
    input_id: Option<String>,
}

/// What the current batch read and decided.
#[derive(Debug, Default)]
pub(super) struct Batch {
    /// Counter values as read from Redis for this batch (hash → field → value).
    read: HashMap<String, HashMap<String, i64>>,
    /// The staged changes' deltas, not yet in Redis (hash → field → delta).
    staged_deltas: HashMap<String, HashMap<String, i64>>,
    /// Input ids the prefetch found processed (exactly-once).
    processed: HashSet<String>,
    staged: Vec<Staged>,
}

impl Batch {
    fn value(&self, hash: &str, field: &str) -> Option<i64> {
        let read = *self.read.get(hash)?.get(field)?;
        let delta = self
            .staged_deltas
            .get(hash)
            .and_then(|f| f.get(field))
            .copied()
            .unwrap_or(0);
        Some(read + delta)
    }
}

fn parse<T: FromRedisValue>(value: Value, what: &str) -> Result<T, BusError> {
    T::from_redis_value(value).map_err(|e| BusError::Other(format!("redis reply to {what}: {e}")))
}

fn floor_arg(change: &Change) -> String {
    change.floor.map(|f| f.to_string()).unwrap_or_default()
}

impl RedisConsumer {
    fn processed_set(&self) -> String {
        format!(
            "{}:processed:{}",
            self.config.namespace, self.config.service
        )
    }

    /// Reads in one pipeline every declared counter not read yet in this batch and
    /// (exactly-once) which of `input_ids` are processed.
    pub async fn prefetch(
        &mut self,
        reads: &[(String, &'static [&'static str])],
        input_ids: &[String],
    ) -> Result<(), BusError> {
        let mut wanted: Vec<(String, Vec<&str>)> = Vec::new();
        for (key, fields) in reads {
            let hash = state_key(&self.config, key);
            for &field in *fields {
                if self.batch.value(&hash, field).is_some() {
                    continue;
                }
                match wanted.iter_mut().find(|(h, _)| *h == hash) {
                    Some((_, f)) if f.contains(&field) => {}
                    Some((_, f)) => f.push(field),
                    None => wanted.push((hash.clone(), vec![field])),
                }
            }
        }
        let dedup = self.config.guarantee == Guarantee::ExactlyOnce && !input_ids.is_empty();
        if wanted.is_empty() && !dedup {
            return Ok(());
        }
        let mut pipe = redis::pipe();
        for (hash, fields) in &wanted {
            pipe.cmd("HMGET").arg(hash).arg(fields);
        }
        if dedup {
            pipe.cmd("SMISMEMBER")
                .arg(self.processed_set())
                .arg(input_ids);
        }
        let replies: Vec<Value> = pipe
            .query_async(&mut self.conn)
            .await
            .map_err(redis_err("HMGET+SMISMEMBER", "batch state"))?;
        let mut replies = replies.into_iter();
        for (hash, fields) in wanted {
            let values: Vec<Option<i64>> = parse(replies.next().unwrap_or(Value::Nil), "HMGET")?;
            let read = self.batch.read.entry(hash).or_default();
            for (field, value) in fields.into_iter().zip(values) {
                read.insert(field.to_string(), value.unwrap_or(0));
            }
        }
        if dedup {
            let members: Vec<i64> = parse(replies.next().unwrap_or(Value::Nil), "SMISMEMBER")?;
            for (id, member) in input_ids.iter().zip(members) {
                if member == 1 {
                    self.batch.processed.insert(id.clone());
                }
            }
        }
        Ok(())
    }

    pub fn known_processed(&self, input_id: &str) -> bool {
        self.batch.processed.contains(input_id)
    }

    /// Several fields of one key's hash as one snapshot (values that change together, a
    /// reservation moving stock from `available` to `reserved`, are read together even
    /// while another instance changes them), with the batch's staged changes applied.
    /// What the batch has not read yet is read now, in one `HMGET`.
    pub async fn counters(&mut self, key: &str, fields: &[&str]) -> Result<Vec<i64>, BusError> {
        let hash = state_key(&self.config, key);
        if fields.iter().any(|f| self.batch.value(&hash, f).is_none()) {
            let values: Vec<Option<i64>> = redis::cmd("HMGET")
                .arg(&hash)
                .arg(fields)
                .query_async(&mut self.conn)
                .await
                .map_err(redis_err("HMGET", &hash))?;
            let read = self.batch.read.entry(hash.clone()).or_default();
            for (field, value) in fields.iter().zip(values) {
                read.insert(field.to_string(), value.unwrap_or(0));
            }
        }
        Ok(fields
            .iter()
            .map(|f| self.batch.value(&hash, f).unwrap_or(0))
            .collect())
    }

    pub async fn counter(&mut self, key: &str, field: &str) -> Result<i64, BusError> {
        Ok(self
            .counters(key, &[field])
            .await?
            .first()
            .copied()
            .unwrap_or(0))
    }

    /// Stages one input's decision. Its changes are checked against the batch's view of
    /// the counters: one that would cross its floor is a conflict (decide again; what
    /// it read is read again from Redis). An input the prefetch found processed
    /// (exactly-once) is staged as an acknowledgement only.
    pub async fn commit(
        &mut self,
        delivery: &Delivery,
        commit: Commit,
    ) -> Result<CommitOutcome, BusError> {
        let duplicate = commit
            .input_id
            .as_ref()
            .is_some_and(|id| self.batch.processed.contains(id));
        let (outputs, changes) = if duplicate {
            (Vec::new(), Vec::new())
        } else {
            (commit.outputs, commit.changes)
        };
        let hashes: Vec<String> = changes
            .iter()
            .map(|c| state_key(&self.config, &c.key))
            .collect();
        for (change, hash) in changes.iter().zip(&hashes) {
            let current = match self.batch.value(hash, &change.field) {
                Some(v) => v,
                None => self.counters(&change.key, &[&change.field]).await?[0],
            };
            if change
                .floor
                .is_some_and(|floor| current + change.delta < floor)
            {
                for hash in &hashes {
                    self.batch.read.remove(hash);
                }
                return Ok(CommitOutcome::Conflict);
            }
        }
        for (change, hash) in changes.iter().zip(hashes) {
            *self
                .batch
                .staged_deltas
                .entry(hash)
                .or_default()
                .entry(change.field.clone())
                .or_default() += change.delta;
        }
        self.batch.staged.push(Staged {
            topic: delivery.topic.clone(),
            position: delivery.position.clone(),
            stream: self.config.physical(&delivery.topic),
            outputs,
            changes,
            input_id: commit.input_id,
        });
        Ok(if duplicate {
            CommitOutcome::Duplicate
        } else {
            CommitOutcome::Committed
        })
    }

    /// Writes the staged batch (see the module); returns the inputs not applied.
    pub async fn flush(&mut self) -> Result<Vec<(String, String)>, BusError> {
        let batch = std::mem::take(&mut self.batch);
        if batch.staged.is_empty() {
            return Ok(Vec::new());
        }
        let result = match self.config.guarantee {
            Guarantee::ExactlyOnce => self.flush_atomically(&batch.staged).await,
            Guarantee::AtLeastOnce | Guarantee::AtMostOnce => {
                self.flush_in_steps(&batch.staged).await
            }
        };
        match result {
            Ok(done) => Ok(batch.staged[done..]
                .iter()
                .map(|s| (s.topic.clone(), s.position.clone()))
                .collect()),
            Err(e) => {
                self.recover();
                Err(e)
            }
        }
    }

    /// At-least-once and at-most-once: the changes (one script, if any), then outputs
    /// and acks of the inputs applied, in one pipeline. Returns how many were applied.
    async fn flush_in_steps(&mut self, staged: &[Staged]) -> Result<usize, BusError> {
        let with_changes: Vec<usize> = (0..staged.len())
            .filter(|&i| !staged[i].changes.is_empty())
            .collect();
        let mut done = staged.len();
        if !with_changes.is_empty() {
            let mut invocation = self.apply_batch.prepare_invoke();
            invocation.arg(with_changes.len());
            for &i in &with_changes {
                let changes = &staged[i].changes;
                invocation.arg(changes.len());
                for c in changes {
                    invocation.key(state_key(&self.config, &c.key));
                    invocation.arg(&c.field).arg(c.delta).arg(floor_arg(c));
                }
            }
            let applied: usize = invocation
                .invoke_async(&mut self.conn)
                .await
                .map_err(redis_err("EVALSHA apply_batch", "state"))?;
            if let Some(&first_undone) = with_changes.get(applied) {
                done = first_undone;
            }
        }
        let ack = self.config.guarantee == Guarantee::AtLeastOnce;
        let mut pipe = redis::pipe();
        // At-most-once acknowledges nothing: a batch whose decisions emitted nothing
        // has nothing to write (an empty pipeline is an error).
        let mut commands = 0;
        for input in &staged[..done] {
            commands += input.outputs.len() + usize::from(ack);
            for out in &input.outputs {
                pipe.xadd(
                    self.config.physical(&out.topic),
                    "*",
                    &[("key", out.key.as_bytes()), ("payload", &out.payload)],
                )
                .ignore();
            }
        }
        if ack {
            for input in &staged[..done] {
                pipe.xack(&input.stream, &self.group, &[&input.position])
                    .ignore();
            }
        }
        if commands > 0 {
            pipe.query_async::<()>(&mut self.conn)
                .await
                .map_err(redis_err("XADD+XACK", "staged batch"))?;
        }
        Ok(done)
    }

    /// Exactly-once: the whole batch in one script. Returns how many inputs were done.
    async fn flush_atomically(&mut self, staged: &[Staged]) -> Result<usize, BusError> {
        let mut invocation = self.exactly_once_batch.prepare_invoke();
        invocation.key(self.processed_set());
        invocation.arg(&self.group).arg(staged.len());
        for input in staged {
            invocation.key(&input.stream);
            for c in &input.changes {
                invocation.key(state_key(&self.config, &c.key));
            }
            for out in &input.outputs {
                invocation.key(self.config.physical(&out.topic));
            }
            invocation
                .arg(&input.position)
                .arg(input.input_id.as_deref().unwrap_or(""))
                .arg(input.changes.len())
                .arg(input.outputs.len());
            for c in &input.changes {
                invocation.arg(&c.field).arg(c.delta).arg(floor_arg(c));
            }
            for out in &input.outputs {
                invocation.arg(&out.key).arg(&out.payload);
            }
        }
        let (done, _duplicates): (usize, usize) = invocation
            .invoke_async(&mut self.conn)
            .await
            .map_err(redis_err("EVALSHA exactly_once_batch", "staged batch"))?;
        Ok(done)
    }
}
