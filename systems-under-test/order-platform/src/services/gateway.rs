//! `payment-gateway`: a stand-in for an external card processor, reached over HTTP
//! (through a Toxiproxy proxy in experiments) like a real dependency. It keeps a ledger
//! of every charge, honours `Idempotency-Key` when given, declines a deterministic share
//! of orders, and can be told to be slow or to fail — so the payment service's retries,
//! circuit breaker and idempotency can be exercised, and double charges counted.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::{Duration, Instant};

use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use serde::{Deserialize, Serialize};
use tokio::sync::Mutex;

use crate::http::error;

/// How the gateway behaves.
#[derive(Debug, Clone)]
pub struct GatewayConfig {
    /// Share of orders declined (decided by a hash of the order id, so a retry of the
    /// same order gets the same answer).
    pub decline_ratio: f64,
    /// Share of requests answered 503 (random, seeded): a flaky dependency.
    pub error_ratio: f64,
    /// Added to every charge request.
    pub latency: Duration,
    pub seed: u64,
}

/// A charge request.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct ChargeRequest {
    pub order_id: String,
    pub amount_cents: u64,
}

/// One ledger entry.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Charge {
    pub charge_id: String,
    pub order_id: String,
    pub amount_cents: u64,
    pub idempotency_key: Option<String>,
    /// Milliseconds since the gateway started.
    pub at_ms: u64,
}

/// The answer to a successful charge (201 new, 200 replayed by idempotency key).
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct ChargeResponse {
    #[serde(flatten)]
    pub charge: Charge,
    pub replayed: bool,
}

/// `GET /ledger`.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct LedgerResponse {
    pub count: usize,
    pub charges: Vec<Charge>,
}

#[derive(Debug)]
struct Ledger {
    charges: Vec<Charge>,
    by_key: HashMap<String, usize>,
    rng: StdRng,
}

#[derive(Clone)]
struct Gateway {
    config: GatewayConfig,
    ledger: Arc<Mutex<Ledger>>,
    started: Instant,
}

/// A number in [0, 1) from the seed and a string (FNV-1a, then a 64-bit mix).
pub fn unit_hash(seed: u64, text: &str) -> f64 {
    let mut h: u64 = 0xcbf2_9ce4_8422_2325 ^ seed;
    for b in text.bytes() {
        h ^= u64::from(b);
        h = h.wrapping_mul(0x0100_0000_01b3);
    }
    h ^= h >> 33;
    h = h.wrapping_mul(0xff51_afd7_ed55_8ccd);
    h ^= h >> 33;
    (h >> 11) as f64 / (1u64 << 53) as f64
}

/// Whether the gateway declines this order (the harness can predict it the same way).
pub fn declines(seed: u64, decline_ratio: f64, order_id: &str) -> bool {
    unit_hash(seed, order_id) < decline_ratio
}

async fn charge(State(g): State<Gateway>, headers: HeaderMap, body: axum::body::Bytes) -> Response {
    let request: ChargeRequest = match serde_json::from_slice(&body) {
        Ok(r) => r,
        Err(e) => return error(StatusCode::BAD_REQUEST, "bad_request", e.to_string()),
    };
    if !g.config.latency.is_zero() {
        tokio::time::sleep(g.config.latency).await;
    }
    let key = headers
        .get("idempotency-key")
        .and_then(|v| v.to_str().ok())
        .map(str::to_string);
    let mut ledger = g.ledger.lock().await;
    if g.config.error_ratio > 0.0 && ledger.rng.random::<f64>() < g.config.error_ratio {
        return error(
            StatusCode::SERVICE_UNAVAILABLE,
            "unavailable",
            "injected gateway error",
        );
    }
    if let Some(index) = key.as_ref().and_then(|k| ledger.by_key.get(k)) {
        let charge = ledger.charges[*index].clone();
        return (
            StatusCode::OK,
            Json(ChargeResponse {
                charge,
                replayed: true,
            }),
        )
            .into_response();
    }
    if declines(g.config.seed, g.config.decline_ratio, &request.order_id) {
        return error(
            StatusCode::PAYMENT_REQUIRED,
            "declined",
            format!("card declined for {}", request.order_id),
        );
    }
    let charge = Charge {
        charge_id: format!("ch-{}", ledger.charges.len() + 1),
        order_id: request.order_id,
        amount_cents: request.amount_cents,
        idempotency_key: key.clone(),
        at_ms: g.started.elapsed().as_millis() as u64,
    };
    if let Some(key) = key {
        let index = ledger.charges.len();
        ledger.by_key.insert(key, index);
    }
    ledger.charges.push(charge.clone());
    (
        StatusCode::CREATED,
        Json(ChargeResponse {
            charge,
            replayed: false,
        }),
    )
        .into_response()
}

async fn ledger(State(g): State<Gateway>) -> Json<LedgerResponse> {
    let ledger = g.ledger.lock().await;
    Json(LedgerResponse {
        count: ledger.charges.len(),
        charges: ledger.charges.clone(),
    })
}

async fn ledger_for(
    State(g): State<Gateway>,
    Path(order_id): Path<String>,
) -> Json<LedgerResponse> {
    let ledger = g.ledger.lock().await;
    let charges: Vec<Charge> = ledger
        .charges
        .iter()
        .filter(|c| c.order_id == order_id)
        .cloned()
        .collect();
    Json(LedgerResponse {
        count: charges.len(),
        charges,
    })
}

/// The gateway's routes: `POST /charges`, `GET /ledger`, `GET /ledger/{order_id}`.
pub fn router(config: GatewayConfig) -> Router {
    let rng = StdRng::seed_from_u64(config.seed);
    let gateway = Gateway {
        config,
        ledger: Arc::new(Mutex::new(Ledger {
            charges: Vec::new(),
            by_key: HashMap::new(),
            rng,
        })),
        started: Instant::now(),
    };
    Router::new()
        .route("/charges", post(charge))
        .route("/ledger", get(ledger))
        .route("/ledger/{order_id}", get(ledger_for))
        .with_state(gateway)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn decline_share_is_close_to_the_ratio_and_stable() {
        let declined = (0..10_000)
            .filter(|i| declines(7, 0.1, &format!("o-{i}")))
            .count();
        assert!((800..1200).contains(&declined), "{declined}");
        assert_eq!(declines(7, 0.1, "o-42"), declines(7, 0.1, "o-42"));
        assert!(!declines(7, 0.0, "o-42"));
        assert!(declines(7, 1.0, "o-42"));
    }
}
