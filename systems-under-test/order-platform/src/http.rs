//! The HTTP side every service shares: `GET /health`, `GET /metrics`, JSON errors, and
//! a server bound on loopback that stops with the process's shutdown signal.

use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use axum::Json;
use axum::Router;
use axum::extract::State;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use serde::Serialize;
use tokio::sync::watch;

use crate::metrics::Metrics;

/// Whether the service considers itself healthy (its bus loop runs).
#[derive(Debug, Clone, Default)]
pub struct Health(Arc<AtomicBool>);

impl Health {
    pub fn set(&self, healthy: bool) {
        self.0.store(healthy, Ordering::Relaxed);
    }

    pub fn get(&self) -> bool {
        self.0.load(Ordering::Relaxed)
    }
}

#[derive(Clone)]
struct Common {
    service: String,
    instance: u32,
    health: Health,
    metrics: Metrics,
}

#[derive(Serialize)]
struct HealthBody<'a> {
    status: &'a str,
    service: &'a str,
    instance: u32,
}

async fn health_handler(State(c): State<Common>) -> Response {
    let status = if c.health.get() { "ok" } else { "starting" };
    let code = if c.health.get() {
        StatusCode::OK
    } else {
        StatusCode::SERVICE_UNAVAILABLE
    };
    (
        code,
        Json(HealthBody {
            status,
            service: &c.service,
            instance: c.instance,
        }),
    )
        .into_response()
}

async fn metrics_handler(State(c): State<Common>) -> Response {
    (
        [(
            axum::http::header::CONTENT_TYPE,
            "application/openmetrics-text; version=1.0.0; charset=utf-8",
        )],
        c.metrics.encode(),
    )
        .into_response()
}

/// `/health` and `/metrics` merged into a service's own routes.
pub fn with_common(
    routes: Router,
    service: &str,
    instance: u32,
    health: Health,
    metrics: Metrics,
) -> Router {
    let common = Common {
        service: service.to_string(),
        instance,
        health,
        metrics,
    };
    routes.merge(
        Router::new()
            .route("/health", get(health_handler))
            .route("/metrics", get(metrics_handler))
            .with_state(common),
    )
}

/// A JSON error body: `{"error": "...", "detail": "..."}`.
#[derive(Debug, Serialize)]
pub struct ApiError {
    pub error: &'static str,
    pub detail: String,
}

pub fn error(status: StatusCode, error: &'static str, detail: impl Into<String>) -> Response {
    (
        status,
        Json(ApiError {
            error,
            detail: detail.into(),
        }),
    )
        .into_response()
}

/// Binds `addr` (port 0: any free port), announces the bound address on stdout as one
/// JSON line (`{"service": ..., "instance": ..., "http": "127.0.0.1:PORT"}`) so a
/// supervisor can find it, and serves until `shutdown` turns true.
pub async fn serve(
    router: Router,
    addr: SocketAddr,
    service: &str,
    instance: u32,
    mut shutdown: watch::Receiver<bool>,
) -> std::io::Result<(SocketAddr, tokio::task::JoinHandle<std::io::Result<()>>)> {
    let listener = tokio::net::TcpListener::bind(addr).await?;
    let bound = listener.local_addr()?;
    println!(
        "{}",
        serde_json::json!({"service": service, "instance": instance, "http": bound.to_string()})
    );
    let handle = tokio::spawn(async move {
        axum::serve(listener, router)
            .with_graceful_shutdown(async move {
                let _ = shutdown.wait_for(|stop| *stop).await;
            })
            .await
    });
    Ok((bound, handle))
}
