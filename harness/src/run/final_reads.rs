//! Final reads: what the system says about itself once the drain is over — the payment
//! gateway's ledger (one charge per line) and the inventory's stock per SKU and shard —
//! recorded into the history for the checker's `duplicate_effect` and invariant rules.

use std::time::Duration;

use check::{Charge, StockLine};

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
        for sku in 0..experiment.system.skus.get() {
            let url = format!("http://{inventory}/inventory/sku-{sku}");
            let Ok(response) = client.get(&url).send().await else {
                continue;
            };
            let Ok(view) = response.json::<serde_json::Value>().await else {
                continue;
            };
            let lines: Vec<StockLine> = view["shards"]
                .as_array()
                .map(|shards| {
                    shards
                        .iter()
                        .map(|s| StockLine {
                            sku: format!("sku-{sku}"),
                            shard: s["shard"].as_u64().unwrap_or(0) as u32,
                            available: s["available"].as_i64().unwrap_or(0),
                            reserved: s["reserved"].as_i64().unwrap_or(0),
                            initial,
                        })
                        .collect()
                })
                .unwrap_or_default();
            recorder.history().stock.extend(lines);
        }
    }
}
