//! The services: each a [`runner::Handler`] (what to do with an event) plus HTTP routes,
//! started by [`run`] from the command line.

pub mod analytics;
mod batch;
pub mod gateway;
pub mod inventory;
pub mod inventory_view;
pub mod notification;
pub mod order;
pub mod order_model;
pub mod payment;
pub mod projection;
pub mod runner;
pub mod shipping;
mod step;

use std::num::NonZeroU32;
use std::sync::Arc;
use std::time::Duration;

use axum::Router;
use events::{Source, Topic};
use tokio::sync::{Mutex, watch};

use crate::config::{Args, ServiceKind};
use crate::http::{self, Health};
use crate::metrics::Metrics;
use crate::resilience::{BreakerConfig, dlq_topic};
use runner::{Handler, RunnerConfig};

/// The logical topics a consuming service reads: its subscriptions as the events catalog
/// defines them (one definition for the services, the harness's lag sampler and the docs).
fn subscriptions(service: events::Service) -> Vec<&'static str> {
    service
        .subscriptions()
        .into_iter()
        .map(|t| t.as_str())
        .collect()
}

/// Runs one service until `shutdown` turns true.
pub async fn run(args: Args, shutdown: watch::Receiver<bool>) -> anyhow::Result<()> {
    let service = args.service.name();
    let metrics = Metrics::new(service, args.instance);
    let health = Health::default();
    let mut topics: Vec<String> = Topic::ALL.iter().map(|t| t.as_str().to_string()).collect();
    topics.push(dlq_topic(service));
    let bus = args.bus(topics);
    let catalog = inventory::Catalog {
        skus: args.skus,
        initial_stock: args.initial_stock,
        low_stock_threshold: args.low_stock_threshold,
    };
    let runner = RunnerConfig {
        bus: bus.clone(),
        max_attempts: args.max_attempts,
        batch: args.batch,
        poll_wait: Duration::from_millis(500),
        seed: args.seed,
        state_wait: Duration::from_millis(args.state_wait_ms),
    };
    let serve = |routes: Router, health: Health| {
        let router = http::with_common(routes, service, args.instance, health, metrics.clone());
        http::serve(router, args.http, service, args.instance, shutdown.clone())
    };
    match args.service {
        ServiceKind::PaymentGateway => {
            health.set(true);
            let gateway = gateway::router(gateway::GatewayConfig {
                decline_ratio: args.decline_ratio,
                error_ratio: args.error_ratio,
                latency: Duration::from_millis(args.latency_ms),
                seed: args.seed,
            });
            let (_, server) = serve(gateway, health).await?;
            server.await??;
        }
        ServiceKind::Order => {
            let store = Arc::new(Mutex::new(order_model::OrderStore::new(
                args.snapshot_every,
            )));
            let producer = crate::bus::Producer::connect(&bus).await?;
            let source = Source {
                service: service.into(),
                instance: args.instance,
            };
            let routes = order::router(producer, catalog, source, store.clone(), metrics.clone());
            let (_, server) = serve(routes, health.clone()).await?;
            let projection =
                tokio::spawn(order::project(bus.clone(), store.clone(), shutdown.clone()));
            consume(
                runner,
                order::OrderSaga { store },
                metrics,
                health,
                shutdown,
            )
            .await?;
            let _ = projection.await;
            server.await??;
        }
        ServiceKind::Inventory => {
            let stock = inventory_view::Stock::default();
            let (_, server) = serve(
                inventory_view::router(catalog.clone(), stock.clone()),
                health.clone(),
            )
            .await?;
            let projection = tokio::spawn(inventory_view::project(
                bus.clone(),
                stock,
                shutdown.clone(),
            ));
            consume(
                runner,
                inventory::Inventory { catalog },
                metrics,
                health,
                shutdown,
            )
            .await?;
            let _ = projection.await;
            server.await??;
        }
        ServiceKind::Payment => {
            let config = payment::PaymentConfig {
                gateway_url: args.gateway_url.trim_end_matches('/').to_string(),
                use_idempotency_key: args.guarantee == crate::bus::Guarantee::ExactlyOnce,
                request_timeout: Duration::from_millis(args.request_timeout_ms.min(2000)),
                // At-most-once charges once: a retry after a timeout may charge again
                // (no idempotency key outside exactly-once), an effect twice.
                attempts_per_delivery: match args.guarantee {
                    crate::bus::Guarantee::AtMostOnce => 1,
                    _ => 3,
                },
                breaker: BreakerConfig {
                    failure_threshold: NonZeroU32::new(args.breaker_failures)
                        .unwrap_or(NonZeroU32::MIN),
                    open_for: Duration::from_millis(args.breaker_open_ms),
                    half_open_probes: NonZeroU32::MIN,
                    failure_ratio: None,
                },
                seed: args.seed,
            };
            let (_, server) = serve(Router::new(), health.clone()).await?;
            consume(
                runner,
                payment::Payment::new(config, metrics.clone()),
                metrics,
                health,
                shutdown,
            )
            .await?;
            server.await??;
        }
        ServiceKind::Shipping => {
            let (_, server) = serve(Router::new(), health.clone()).await?;
            consume(runner, shipping::Shipping, metrics, health, shutdown).await?;
            server.await??;
        }
        ServiceKind::Notification => {
            let (_, server) = serve(Router::new(), health.clone()).await?;
            consume(
                runner,
                notification::Notification,
                metrics,
                health,
                shutdown,
            )
            .await?;
            server.await??;
        }
        ServiceKind::Analytics => {
            let (_, server) = serve(Router::new(), health.clone()).await?;
            consume(
                runner,
                analytics::Analytics::new(50, 0.5),
                metrics,
                health,
                shutdown,
            )
            .await?;
            server.await??;
        }
    }
    Ok(())
}

async fn consume<H: Handler>(
    config: RunnerConfig,
    handler: H,
    metrics: Metrics,
    health: Health,
    shutdown: watch::Receiver<bool>,
) -> anyhow::Result<()> {
    runner::run(config, handler, metrics, health, shutdown).await?;
    Ok(())
}
