//! Open-loop load as data: the experiment's schedule gives every order an *intended*
//! send time (warm-up at the schedule's first rate, then the load phase); a driver sends
//! each order at that time whether or not earlier ones were answered, and records
//! intended, sent and acknowledged times, so latency starts at the intended time and a
//! system that falls behind shows up as late or dropped sends — never as a slower
//! generator. Content comes from the seed: order ids, customers (uniform or Zipf) and
//! SKUs are the same in every run of the same experiment.

pub mod direct;
pub mod http;

use std::sync::Arc;
use std::time::{Duration, Instant};

use check::{SendOutcome, SendRecord};
use rand::Rng;
use rand::rngs::StdRng;
use tokio::sync::Semaphore;

use crate::experiment::{Experiment, KeyDistribution, Schedule};
use crate::journal::Recorder;
use crate::stop::Stop;

/// Sends still waiting for an answer beyond this are dropped (and reported as such).
pub const MAX_IN_FLIGHT: usize = 2048;

/// One order to send.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PlannedOrder {
    pub order_id: String,
    /// Offset from the start of the run (warm-up included).
    pub intended: Duration,
    pub customer_id: String,
    pub sku: String,
    pub quantity: u32,
}

/// Draws customers uniformly or by a Zipf law (inverse CDF over precomputed weights).
#[derive(Debug)]
struct Customers {
    cumulative: Vec<f64>,
}

impl Customers {
    fn new(count: u32, distribution: KeyDistribution) -> Self {
        let mut total = 0.0;
        let cumulative = (1..=count.max(1))
            .map(|rank| {
                total += match distribution {
                    KeyDistribution::Uniform => 1.0,
                    KeyDistribution::Zipf(s) => 1.0 / f64::from(rank).powf(s),
                };
                total
            })
            .collect();
        Customers { cumulative }
    }

    fn pick(&self, rng: &mut StdRng) -> usize {
        let total = self.cumulative.last().copied().unwrap_or(1.0);
        let x = rng.random::<f64>() * total;
        self.cumulative
            .partition_point(|&c| c < x)
            .min(self.cumulative.len() - 1)
    }
}

/// Every order of the run, in intended order: the warm-up at the schedule's first rate,
/// then the schedule over the load phase. A shard (`--shard I/N`) keeps its own orders
/// of the whole run's plan: the same ids, times and contents as unsharded.
pub fn plan(experiment: &Experiment) -> Vec<PlannedOrder> {
    let mut orders = whole_plan(experiment);
    if let Some(shard) = experiment.shard {
        orders.retain(|o| shard.owns(&o.order_id));
    }
    orders
}

fn whole_plan(experiment: &Experiment) -> Vec<PlannedOrder> {
    let schedule = &experiment.workload.schedule;
    let warmup_rate = schedule.rate_at(Duration::ZERO);
    let warmup = Schedule::Constant(warmup_rate.max(1.0));
    let times = warmup.intended_times(experiment.warmup).chain(
        schedule
            .intended_times(experiment.duration)
            .map(|t| experiment.warmup + t),
    );
    let mut rng = experiment.rng("orders");
    let customers = Customers::new(
        experiment.workload.customers.get(),
        experiment.workload.key_distribution,
    );
    let skus = experiment.system.skus.get();
    times
        .enumerate()
        .map(|(i, intended)| PlannedOrder {
            order_id: match &experiment.run_id {
                Some(run) => format!("o{}-{run}-{i}", experiment.seed),
                None => format!("o{}-{i}", experiment.seed),
            },
            intended,
            customer_id: format!("c-{}", customers.pick(&mut rng)),
            sku: format!("sku-{}", rng.random_range(0..skus)),
            quantity: rng.random_range(1..=3),
        })
        .collect()
}

/// How one send ended: (outcome, acknowledged at, error).
pub type Sent = (SendOutcome, Option<u64>, Option<String>);

/// The one open loop every driver uses: each order goes out at its intended time,
/// whether or not earlier ones were answered, through `send`; its intended, sent and
/// acknowledged times are recorded. More than [`MAX_IN_FLIGHT`] unanswered sends and
/// the order is dropped (recorded as such). Returns when every send was answered or
/// `stop` turned true.
pub async fn open_loop<F, Fut>(
    orders: Vec<PlannedOrder>,
    recorder: Arc<Recorder>,
    stop: Stop,
    send: F,
) where
    F: Fn(PlannedOrder, Arc<Recorder>) -> Fut,
    Fut: std::future::Future<Output = Sent> + Send + 'static,
{
    let slots = Arc::new(Semaphore::new(MAX_IN_FLIGHT));
    let mut tasks = tokio::task::JoinSet::new();
    for order in orders {
        let at = recorder.t0() + order.intended;
        tokio::select! {
            _ = tokio::time::sleep_until(at.into()) => {}
            _ = stop.stopped() => break,
        }
        let intended_us = recorder.at_us(at);
        let Ok(permit) = slots.clone().try_acquire_owned() else {
            recorder.send(SendRecord {
                order_id: order.order_id,
                intended_us,
                sent_us: None,
                acked_us: None,
                outcome: SendOutcome::Dropped,
                error: Some(format!("more than {MAX_IN_FLIGHT} orders in flight")),
            });
            continue;
        };
        let order_id = order.order_id.clone();
        let sent_us = recorder.now_us();
        let sending = send(order, recorder.clone());
        let recorder = recorder.clone();
        tasks.spawn(async move {
            let _permit = permit;
            let (outcome, acked_us, error) = sending.await;
            recorder.send(SendRecord {
                order_id,
                intended_us,
                sent_us: Some(sent_us),
                acked_us,
                outcome,
                error,
            });
        });
        // Reap finished sends as we go, so the set stays small.
        while tasks.try_join_next().is_some() {}
    }
    while tasks.join_next().await.is_some() {}
}

/// How far behind the generator is allowed to be before a send counts as late.
pub const LATE_AFTER: Duration = Duration::from_millis(10);

/// Elapsed run time, for progress lines.
pub fn elapsed(recorder: &Recorder) -> Duration {
    Instant::now().saturating_duration_since(recorder.t0())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn zipf_prefers_the_first_customers_and_uniform_does_not() {
        let mut rng = <StdRng as rand::SeedableRng>::seed_from_u64(1);
        let zipf = Customers::new(100, KeyDistribution::Zipf(1.1));
        let uniform = Customers::new(100, KeyDistribution::Uniform);
        let first =
            |c: &Customers, rng: &mut StdRng| (0..10_000).filter(|_| c.pick(rng) == 0).count();
        let z = first(&zipf, &mut rng);
        let u = first(&uniform, &mut rng);
        assert!(z > 1000, "zipf: customer 0 drawn {z} times of 10000");
        assert!(
            (50..200).contains(&u),
            "uniform: customer 0 drawn {u} times of 10000"
        );
    }
}
