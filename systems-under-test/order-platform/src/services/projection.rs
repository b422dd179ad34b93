//! Following topics from the beginning to keep a read model up to date: the loop both
//! read models (orders, inventory) share — connect (retrying), read batches, hand them
//! to the model, back off on errors, stop with the service.

use std::future::Future;
use std::time::Duration;

use tokio::sync::watch;

use super::runner::sleep_or_stop;
use crate::bus::{BusConfig, Delivery, Reader};

/// Reads `topics` until `shutdown`, giving every batch to `apply`.
pub async fn follow<F, Fut>(
    bus: BusConfig,
    topics: &[&str],
    model: &str,
    mut shutdown: watch::Receiver<bool>,
    mut apply: F,
) where
    F: FnMut(Vec<Delivery>) -> Fut,
    Fut: Future<Output = ()>,
{
    let mut reader = loop {
        match Reader::connect(&bus, topics).await {
            Ok(r) => break r,
            Err(e) => {
                tracing::warn!(error = %e, model, "read model: cannot connect yet");
                if sleep_or_stop(Duration::from_secs(1), &mut shutdown).await {
                    return;
                }
            }
        }
    };
    while !*shutdown.borrow() {
        let batch = tokio::select! {
            b = reader.next_batch(500, Duration::from_millis(500)) => b,
            _ = shutdown.changed() => return,
        };
        match batch {
            Ok(batch) => apply(batch).await,
            Err(e) => {
                tracing::warn!(error = %e, model, "read model: read failed");
                sleep_or_stop(Duration::from_millis(500), &mut shutdown).await;
            }
        }
    }
}
