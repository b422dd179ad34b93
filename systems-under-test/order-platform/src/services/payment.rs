//! `payment`: charges each reserved order at the payment gateway over HTTP, with
//! retries (exponential backoff, full jitter) and a circuit breaker around the gateway.
//! A decline is a `PaymentFailed` (which starts the saga's compensation); a failing
//! gateway is retried, then the input is redelivered later. Failures count towards
//! dead-lettering only while the breaker is closed: once it is open, inputs wait for
//! the gateway without being blamed for its outage.
//!
//! A batch's charges go out concurrently ([`CONCURRENCY`] at a time over one pooled
//! keep-alive client), one after another per order, in [`Handler::prepare`]; the
//! decisions then take the batch's results in order. A result stays until its input is
//! decided, so an input given back after an earlier one failed, and delivered again, is
//! not charged twice.
//!
//! In exactly-once mode the charge carries an `Idempotency-Key` (`charge-{order_id}`),
//! so a redelivered order is not charged twice: broker transactions do not cover this
//! external side effect, the key does. The other modes send none, as a naive client
//! would, and the gateway's ledger shows the double charges.

use std::collections::{HashMap, VecDeque};
use std::sync::Mutex;
use std::time::{Duration, Instant};

use futures::StreamExt;
use rand::Rng;
use uuid::Uuid;

use events::{
    Envelope, Event, PaymentCaptured, PaymentFailed, PaymentFailureReason, StockReserved,
};
use rand::SeedableRng;
use rand::rngs::StdRng;
use serde::Deserialize;

use super::gateway::{ChargeRequest, ChargeResponse};
use super::runner::{Decision, Failure, Handler, StateView};
use crate::metrics::{Metrics, TransitionLabels};
use crate::resilience::{Backoff, BreakerConfig, CircuitBreaker, Jitter, State};

#[derive(Debug, Clone)]
pub struct PaymentConfig {
    /// The gateway's base URL (through its Toxiproxy proxy in experiments).
    pub gateway_url: String,
    pub use_idempotency_key: bool,
    /// Per charge request.
    pub request_timeout: Duration,
    /// Attempts within one delivery before handing the input back for redelivery.
    pub attempts_per_delivery: u32,
    pub breaker: BreakerConfig,
    pub seed: u64,
}

/// A charge's outcome: the charge and the attempts it took, or why there is none.
type Charged = Result<(Charge, u32), Failure>;

/// Gateway calls in flight at once for one batch.
pub const CONCURRENCY: usize = 32;

/// Charge results kept for inputs not decided yet (past it the oldest go: an input
/// decided much later is charged again, harmless with an idempotency key).
const PREPARED_LIMIT: usize = 10_000;

#[derive(Debug)]
pub struct Payment {
    config: PaymentConfig,
    http: reqwest::Client,
    /// Shared by a batch's concurrent calls (held only between awaits).
    breaker: Mutex<CircuitBreaker>,
    backoff: Backoff,
    rng: StdRng,
    metrics: Metrics,
    /// Results of charges made in `prepare`, by input event id, until decided.
    prepared: HashMap<Uuid, Charged>,
    prepared_order: VecDeque<Uuid>,
}

#[derive(Debug)]
enum Charge {
    Captured(ChargeResponse),
    Declined(String),
}

#[derive(Deserialize)]
struct GatewayError {
    #[serde(default)]
    detail: String,
}

impl Payment {
    pub fn new(config: PaymentConfig, metrics: Metrics) -> Self {
        let http = reqwest::Client::builder()
            .timeout(config.request_timeout)
            .connect_timeout(config.request_timeout)
            .no_proxy()
            .pool_max_idle_per_host(CONCURRENCY)
            .tcp_nodelay(true)
            .build()
            .unwrap_or_default();
        let attempts = std::num::NonZeroU32::new(config.attempts_per_delivery.max(1))
            .unwrap_or(std::num::NonZeroU32::MIN);
        Payment {
            breaker: Mutex::new(CircuitBreaker::new(config.breaker)),
            backoff: Backoff {
                base: Duration::from_millis(20),
                max: Duration::from_millis(500),
                multiplier: 2.0,
                jitter: Jitter::Full,
                max_attempts: attempts,
            },
            rng: StdRng::seed_from_u64(config.seed),
            http,
            config,
            metrics,
            prepared: HashMap::new(),
            prepared_order: VecDeque::new(),
        }
    }

    fn breaker(&self) -> std::sync::MutexGuard<'_, CircuitBreaker> {
        self.breaker
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    fn export_breaker(&self) {
        let mut breaker = self.breaker();
        for t in breaker.drain_transitions() {
            tracing::info!(
                from = t.from.as_str(),
                to = t.to.as_str(),
                "circuit breaker"
            );
            self.metrics
                .breaker_transitions
                .get_or_create(&TransitionLabels {
                    from: t.from.as_str().into(),
                    to: t.to.as_str().into(),
                })
                .inc();
        }
        let state = match breaker.state(Instant::now()) {
            State::Closed => 0,
            State::HalfOpen => 1,
            State::Open => 2,
        };
        self.metrics.breaker_state.set(state);
    }

    /// One HTTP attempt. `Err` is a transient failure (retry); a decline is `Ok`.
    async fn attempt(&self, order_id: &str, amount_cents: u64) -> Result<Charge, String> {
        let mut request = self
            .http
            .post(format!("{}/charges", self.config.gateway_url))
            .json(&ChargeRequest {
                order_id: order_id.to_string(),
                amount_cents,
            });
        if self.config.use_idempotency_key {
            request = request.header("Idempotency-Key", format!("charge-{order_id}"));
        }
        let response = request
            .send()
            .await
            .map_err(|e| format!("gateway request: {e}"))?;
        let status = response.status();
        if status.is_success() {
            return response
                .json::<ChargeResponse>()
                .await
                .map(Charge::Captured)
                .map_err(|e| format!("gateway answer: {e}"));
        }
        if status == reqwest::StatusCode::PAYMENT_REQUIRED {
            let detail = response
                .json::<GatewayError>()
                .await
                .map(|e| e.detail)
                .unwrap_or_default();
            return Ok(Charge::Declined(detail));
        }
        Err(format!("gateway answered {status}"))
    }

    /// Up to `attempts_per_delivery` attempts through the breaker, with backoff between.
    async fn charge(
        &self,
        order_id: &str,
        amount_cents: u64,
        rng: &mut StdRng,
    ) -> Result<(Charge, u32), Failure> {
        let mut last = String::new();
        for attempt in 1..=self.config.attempts_per_delivery.max(1) {
            let allowed = self.breaker().allow(Instant::now());
            let permit = match allowed {
                Ok(permit) => permit,
                Err(rejected) => {
                    self.export_breaker();
                    return Err(Failure::Unavailable(format!("circuit open: {rejected}")));
                }
            };
            match self.attempt(order_id, amount_cents).await {
                Ok(charge) => {
                    self.breaker().on_success(permit, Instant::now());
                    self.export_breaker();
                    return Ok((charge, attempt));
                }
                Err(e) => {
                    self.breaker().on_failure(permit, Instant::now());
                    self.export_breaker();
                    self.metrics.retries.inc();
                    last = e;
                }
            }
            match self.backoff.delay(attempt, rng) {
                Some(delay) => tokio::time::sleep(delay).await,
                None => break,
            }
        }
        Err(Failure::Retry(last))
    }

    /// Keeps a prepared result for its input's decision.
    fn keep(&mut self, input: Uuid, result: Charged) {
        if self.prepared.insert(input, result).is_none() {
            self.prepared_order.push_back(input);
        }
        if self.prepared_order.len() > 2 * PREPARED_LIMIT {
            // Decided inputs leave the map only: drop their places too.
            let prepared = &self.prepared;
            self.prepared_order.retain(|id| prepared.contains_key(id));
        }
        while self.prepared.len() > PREPARED_LIMIT {
            match self.prepared_order.pop_front() {
                Some(oldest) => {
                    self.prepared.remove(&oldest);
                }
                None => break,
            }
        }
    }
}

impl Handler for Payment {
    fn topics(&self) -> Vec<&'static str> {
        super::subscriptions(events::Service::Payment)
    }

    /// Charges the batch's reserved orders concurrently: orders of different keys at
    /// once (up to [`CONCURRENCY`]), one key's in order. Inputs with a kept success are
    /// not charged again; a kept failure is tried afresh.
    async fn prepare(&mut self, inputs: &[(&Envelope, &Event)]) {
        let mut lanes: Vec<(&str, Vec<(Uuid, &StockReserved)>)> = Vec::new();
        let mut lane_of: HashMap<&str, usize> = HashMap::new();
        for (envelope, event) in inputs {
            let Event::StockReserved(reserved) = event else {
                continue;
            };
            if matches!(self.prepared.get(&envelope.event_id), Some(Ok(_))) {
                continue;
            }
            let charge = (envelope.event_id, reserved);
            let key = envelope.key.as_str();
            match lane_of.get(key) {
                Some(&i) => lanes[i].1.push(charge),
                None => {
                    lane_of.insert(key, lanes.len());
                    lanes.push((key, vec![charge]));
                }
            }
        }
        if lanes.is_empty() {
            return;
        }
        let seeds: Vec<u64> = lanes.iter().map(|_| self.rng.random()).collect();
        let this = &*self;
        let results: Vec<Vec<(Uuid, Charged)>> =
            futures::stream::iter(lanes.into_iter().zip(seeds))
                .map(|((_, lane), seed)| async move {
                    let mut rng = StdRng::seed_from_u64(seed);
                    let mut out = Vec::with_capacity(lane.len());
                    for (id, reserved) in lane {
                        let result = this
                            .charge(&reserved.order_id, reserved.amount_cents, &mut rng)
                            .await;
                        // A later charge of the key must not overtake a failed one.
                        let failed = result.is_err();
                        out.push((id, result));
                        if failed {
                            break;
                        }
                    }
                    out
                })
                .buffer_unordered(CONCURRENCY)
                .collect()
                .await;
        for (id, result) in results.into_iter().flatten() {
            self.keep(id, result);
        }
    }

    async fn handle(
        &mut self,
        input: &Envelope,
        event: &Event,
        _state: &mut StateView<'_>,
    ) -> Result<Decision, Failure> {
        let Event::StockReserved(reserved) = event else {
            return Ok(Decision::none());
        };
        let key = if self.config.use_idempotency_key {
            format!("charge-{}", reserved.order_id)
        } else {
            String::new()
        };
        let prepared = self.prepared.remove(&input.event_id);
        let (charge, attempts) = match prepared {
            Some(result) => result?,
            None => {
                let mut rng = StdRng::seed_from_u64(self.rng.random());
                self.charge(&reserved.order_id, reserved.amount_cents, &mut rng)
                    .await?
            }
        };
        let event = match charge {
            Charge::Captured(response) => Event::PaymentCaptured(PaymentCaptured {
                order_id: reserved.order_id.clone(),
                customer_id: reserved.customer_id.clone(),
                amount_cents: reserved.amount_cents,
                currency: reserved.currency,
                charge_id: response.charge.charge_id,
                idempotency_key: key,
                attempts,
            }),
            Charge::Declined(detail) => Event::PaymentFailed(PaymentFailed {
                order_id: reserved.order_id.clone(),
                customer_id: reserved.customer_id.clone(),
                sku: reserved.sku.clone(),
                quantity: reserved.quantity,
                amount_cents: reserved.amount_cents,
                currency: reserved.currency,
                reason: PaymentFailureReason::Declined,
                detail,
                idempotency_key: key,
                attempts,
            }),
        };
        Ok(Decision::emit([event]))
    }
}
