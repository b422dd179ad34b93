//! The inventory read model behind `GET /inventory/{sku}`: the latest `StockUpdated` per
//! SKU and shard (Kafka partition; one shard on Redis), kept up to date from the
//! `inventory` topic.

use std::collections::BTreeMap;
use std::sync::Arc;

use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::{Json, Router};
use events::{Envelope, Event};
use serde::{Deserialize, Serialize};
use tokio::sync::{Mutex, watch};

use super::inventory::Catalog;
use crate::bus::BusConfig;
use crate::http::error;

/// Stock of one SKU in one shard.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct ShardStock {
    pub shard: i32,
    pub available: i64,
    pub reserved: i64,
}

/// `GET /inventory/{sku}`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct StockView {
    pub sku: String,
    /// Units each shard started with.
    pub initial_per_shard: i64,
    /// Shards that have seen an order for this SKU (others still hold `initial_per_shard`).
    pub shards: Vec<ShardStock>,
    /// Sums over `shards`.
    pub available: i64,
    pub reserved: i64,
}

pub type Stock = Arc<Mutex<BTreeMap<(String, i32), ShardStock>>>;

#[derive(Clone)]
struct Api {
    catalog: Catalog,
    stock: Stock,
}

async fn get_stock(State(api): State<Api>, Path(sku): Path<String>) -> Response {
    if !api.catalog.knows(&sku) {
        return error(
            StatusCode::NOT_FOUND,
            "not_found",
            format!("unknown sku {sku}"),
        );
    }
    let stock = api.stock.lock().await;
    let shards: Vec<ShardStock> = stock
        .range((sku.clone(), i32::MIN)..=(sku.clone(), i32::MAX))
        .map(|(_, s)| *s)
        .collect();
    let view = StockView {
        available: shards.iter().map(|s| s.available).sum(),
        reserved: shards.iter().map(|s| s.reserved).sum(),
        initial_per_shard: api.catalog.initial_stock,
        sku,
        shards,
    };
    Json(view).into_response()
}

pub fn router(catalog: Catalog, stock: Stock) -> Router {
    Router::new()
        .route("/inventory/{sku}", get(get_stock))
        .with_state(Api { catalog, stock })
}

/// Follows the `inventory` topic until shutdown.
pub async fn project(bus: BusConfig, stock: Stock, shutdown: watch::Receiver<bool>) {
    super::projection::follow(bus, &["inventory"], "inventory", shutdown, |batch| {
        let stock = stock.clone();
        async move {
            let mut stock = stock.lock().await;
            for d in batch {
                let Ok(envelope) = Envelope::from_bytes(&d.payload) else {
                    continue;
                };
                let Ok(Event::StockUpdated(u)) = envelope.decode() else {
                    continue;
                };
                let shard = ShardStock {
                    shard: d.partition,
                    available: u.available_after,
                    reserved: u.reserved_after,
                };
                stock.insert((u.sku, d.partition), shard);
            }
        }
    })
    .await;
}
