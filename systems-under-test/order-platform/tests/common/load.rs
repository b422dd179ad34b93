//! Open-loop load at a fixed rate: order `i` is *intended* at `start + i / rate` and
//! goes out at that time whether or not earlier orders were answered, so a slow
//! platform shows up as latency (measured from the intended time) instead of as a
//! slower generator (no coordinated omission). The same rule as the harness's
//! `load::open_loop`, for the platform's own tests, which cannot depend on the harness.

use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use check::{SendOutcome, SendRecord};

use super::tap::Clock;

/// One order to place.
#[derive(Debug, Clone)]
pub struct Order {
    pub id: String,
    pub sku: u32,
    pub quantity: u32,
}

/// The offset of order `i` from the start of a fixed-rate schedule.
pub fn intended_offset(i: usize, per_second: u32) -> Duration {
    Duration::from_secs_f64(i as f64 / f64::from(per_second.max(1)))
}

/// Sends `orders` to `POST {url}` (round robin over `urls`: one per order instance) at
/// `per_second`, from `start`, and appends one send
/// record per order to `sends` (times on `clock`) as its answer arrives. Returns when
/// every order was answered.
pub async fn open_loop(
    client: &reqwest::Client,
    urls: &[String],
    clock: Clock,
    start: Instant,
    per_second: u32,
    orders: Vec<Order>,
    sends: Arc<Mutex<Vec<SendRecord>>>,
) {
    let mut tasks = tokio::task::JoinSet::new();
    for (i, order) in orders.into_iter().enumerate() {
        let at = start + intended_offset(i, per_second);
        tokio::time::sleep_until(at.into()).await;
        let request = client.post(&urls[i % urls.len()]).json(&serde_json::json!({
            "order_id": order.id,
            "customer_id": format!("c-{}", order.sku),
            "sku": format!("sku-{}", order.sku),
            "quantity": order.quantity,
        }));
        let sends = sends.clone();
        let sent_us = clock.now_us();
        tasks.spawn(async move {
            let (outcome, error) = match request.send().await {
                Ok(r) if r.status() == reqwest::StatusCode::CREATED => (SendOutcome::Acked, None),
                Ok(r) if r.status().is_client_error() => {
                    let status = r.status();
                    let text = r.text().await.unwrap_or_default();
                    (SendOutcome::Rejected, Some(format!("{status}: {text}")))
                }
                Ok(r) => (SendOutcome::Error, Some(r.status().to_string())),
                Err(e) => (SendOutcome::Error, Some(e.to_string())),
            };
            let acked_us = (outcome == SendOutcome::Acked).then(|| clock.now_us());
            sends.lock().expect("sends").push(SendRecord {
                order_id: order.id,
                intended_us: clock.us(at),
                sent_us: Some(sent_us),
                acked_us,
                outcome,
                error,
            });
        });
        while tasks.try_join_next().is_some() {}
    }
    while tasks.join_next().await.is_some() {}
}
