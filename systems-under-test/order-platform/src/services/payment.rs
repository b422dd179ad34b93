//! `payment`: charges each reserved order at the payment gateway over HTTP, with
//! retries (exponential backoff, full jitter) and a circuit breaker around the gateway.
//! A decline is a `PaymentFailed` (which starts the saga's compensation); a failing
//! gateway is retried, then the input is redelivered later. Failures count towards
//! dead-lettering only while the breaker is closed: once it is open, inputs wait for
//! the gateway without being blamed for its outage.
//!
//! In exactly-once mode the charge carries an `Idempotency-Key` (`charge-{order_id}`),
//! so a redelivered order is not charged twice: broker transactions do not cover this
//! external side effect, the key does. The other modes send none, as a naive client
//! would, and the gateway's ledger shows the double charges.

use std::time::{Duration, Instant};

use events::{Envelope, Event, PaymentCaptured, PaymentFailed, PaymentFailureReason};
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

#[derive(Debug)]
pub struct Payment {
    config: PaymentConfig,
    http: reqwest::Client,
    breaker: CircuitBreaker,
    backoff: Backoff,
    rng: StdRng,
    metrics: Metrics,
}

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
            .build()
            .unwrap_or_default();
        let attempts = std::num::NonZeroU32::new(config.attempts_per_delivery.max(1))
            .unwrap_or(std::num::NonZeroU32::MIN);
        Payment {
            breaker: CircuitBreaker::new(config.breaker),
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
        }
    }

    fn export_breaker(&mut self) {
        for t in self.breaker.drain_transitions() {
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
        let state = match self.breaker.state(Instant::now()) {
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
        &mut self,
        order_id: &str,
        amount_cents: u64,
    ) -> Result<(Charge, u32), Failure> {
        let mut last = String::new();
        for attempt in 1..=self.config.attempts_per_delivery.max(1) {
            let permit = match self.breaker.allow(Instant::now()) {
                Ok(permit) => permit,
                Err(rejected) => {
                    self.export_breaker();
                    return Err(Failure::Unavailable(format!("circuit open: {rejected}")));
                }
            };
            match self.attempt(order_id, amount_cents).await {
                Ok(charge) => {
                    self.breaker.on_success(permit, Instant::now());
                    self.export_breaker();
                    return Ok((charge, attempt));
                }
                Err(e) => {
                    self.breaker.on_failure(permit, Instant::now());
                    self.export_breaker();
                    self.metrics.retries.inc();
                    last = e;
                }
            }
            match self.backoff.delay(attempt, &mut self.rng) {
                Some(delay) => tokio::time::sleep(delay).await,
                None => break,
            }
        }
        Err(Failure::Retry(last))
    }
}

impl Handler for Payment {
    fn topics(&self) -> Vec<&'static str> {
        super::subscriptions(events::Service::Payment)
    }

    async fn handle(
        &mut self,
        _input: &Envelope,
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
        let (charge, attempts) = self
            .charge(&reserved.order_id, reserved.amount_cents)
            .await?;
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
