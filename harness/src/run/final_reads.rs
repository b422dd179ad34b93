//! Final reads: what the system says about itself once the drain is over — the payment
//! gateway's ledger (one charge per line) and the inventory's stock per SKU and shard —
//! recorded into the history for the checker's `duplicate_effect` and invariant rules.

use std::time::Duration;

use check::Charge;

use super::inventory;

use crate::experiment::Experiment;
use crate::journal::Recorder;
use crate::lab::platform::Platform;

/// The gateway's ledger and the inventory, read once at the end.
pub(super) async fn read(platform: &Platform, experiment: &Experiment, recorder: &Recorder) {
    let client = reqwest::Client::builder()
        .timeout(Duration::from_secs(5))
        .no_proxy()
        .build()
        .unwrap_or_default();
    if let Some(gateway) = platform.http("payment-gateway", 0) {
        let ledger: Option<serde_json::Value> =
            match client.get(format!("http://{gateway}/ledger")).send().await {
                Ok(r) => r.json().await.ok(),
                Err(_) => None,
            };
        let charges: Vec<Charge> = ledger
            .as_ref()
            .and_then(|l| l["charges"].as_array())
            .map(|list| {
                list.iter()
                    .filter_map(|c| {
                        Some(Charge {
                            order_id: c["order_id"].as_str()?.into(),
                            charge_id: c["charge_id"].as_str()?.into(),
                        })
                    })
                    .collect()
            })
            .unwrap_or_default();
        recorder.history().charges.extend(charges);
    }
    if let Some(inventory) = platform.http("inventory", 0) {
        let initial = i64::from(experiment.system.initial_stock);
        let mut unreadable = Vec::new();
        for sku in 0..experiment.system.skus.get() {
            let sku = format!("sku-{sku}");
            let url = format!("http://{inventory}/inventory/{sku}");
            let view = match client.get(&url).send().await {
                Ok(response) => response.json::<serde_json::Value>().await.ok(),
                Err(_) => None,
            };
            let Some(shards) = view.as_ref().and_then(|v| v["shards"].as_array()) else {
                unreadable.push(format!("{sku} (no readable answer)"));
                continue;
            };
            let (lines, skipped) = inventory::stock_lines(&sku, shards, initial);
            if skipped > 0 {
                unreadable.push(format!(
                    "{sku} ({skipped} shard(s) without shard, available or reserved)"
                ));
            }
            recorder.history().stock.extend(lines);
        }
        if !unreadable.is_empty() {
            eprintln!(
                "harness: warning: the final stock of {} SKU(s) could not be read in full; what could not be read is not judged: {}",
                unreadable.len(),
                unreadable.join(", ")
            );
        }
    }
}
