//! `harness run --dashboard [ADDR]`: a live page of the run and its `/metrics`, served
//! on one loopback address (axum) while the command runs.
//!
//! - `/`: the page (its HTML, JS and CSS compiled into the binary; nothing is loaded
//!   from anywhere else). It gets the run from `/events`, server-sent events once a
//!   second, and draws it: phase, rates, end-to-end p50/p99 with the fault windows
//!   shaded, lag per group, active faults, the anomalies proven so far, the services'
//!   retries, dead letters and breaker states, and at the end the link to the report.
//! - `/events`: a `hello` event (the current run's points so far, the runs that
//!   ended), then a `tick` a second (`view::View::tick`).
//! - `/metrics`: Prometheus text ([`metrics`]): OpenMetrics to a Prometheus server
//!   (it asks for it), the classic 0.0.4 text format to the rest.
//! - `/sd`: the services' `/metrics` addresses, as Prometheus HTTP service discovery.
//! - `/runs/<run>/<file>`: the files of a run that ended (its `report.html` first),
//!   for as long as the command runs (`--linger` keeps it up after).
//!
//! The dashboard follows the run's [`StatusBoard`]; the run does not know it exists.

pub mod metrics;
pub mod view;

use std::net::SocketAddr;
use std::path::{Component, Path, PathBuf};
use std::sync::{Arc, Mutex};

use axum::Router;
use axum::extract::{Path as UrlPath, State};
use axum::http::{StatusCode, header};
use axum::response::sse::{Event, KeepAlive, Sse};
use axum::response::{Html, IntoResponse, Response};
use axum::routing::get;
use tokio::sync::broadcast;

use crate::run::StatusBoard;

const PAGE: &str = include_str!("assets/index.html");
const SCRIPT: &str = include_str!("assets/app.js");
const STYLE: &str = include_str!("assets/app.css");
const ICON: &str = include_str!("assets/favicon.svg");

/// Files of a run served whole; a bigger one (a soak's history) is named, not sent.
const SERVE_MAX: u64 = 64 << 20;

#[derive(Debug, Default)]
struct Watched {
    view: view::View,
    totals: metrics::Totals,
}

#[derive(Debug, Clone)]
struct Shared {
    watched: Arc<Mutex<Watched>>,
    ticks: broadcast::Sender<Arc<str>>,
}

impl Shared {
    fn watched(&self) -> std::sync::MutexGuard<'_, Watched> {
        self.watched
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }
}

/// A dashboard being served.
#[derive(Debug)]
pub struct Dashboard {
    /// The address it listens on (the port chosen when `:0` was asked for).
    pub addr: SocketAddr,
    server: tokio::task::JoinHandle<()>,
    follower: tokio::task::JoinHandle<()>,
}

impl Dashboard {
    /// Binds `addr` and serves the runs `board` publishes. A taken or foreign address
    /// is an error naming it.
    pub async fn start(addr: SocketAddr, board: &StatusBoard) -> anyhow::Result<Dashboard> {
        let listener = tokio::net::TcpListener::bind(addr)
            .await
            .map_err(|e| anyhow::anyhow!("--dashboard {addr}: cannot listen there: {e}"))?;
        let addr = listener.local_addr()?;
        let (ticks, _) = broadcast::channel(64);
        let shared = Shared {
            watched: Arc::default(),
            ticks,
        };
        let follower = {
            let shared = shared.clone();
            let mut status = board.subscribe();
            tokio::spawn(async move {
                while status.changed().await.is_ok() {
                    let s = status.borrow_and_update().clone();
                    let tick = {
                        let mut w = shared.watched();
                        w.totals.update(&s);
                        w.view.update(s)
                    };
                    let _ = shared.ticks.send(Arc::from(tick.to_string()));
                }
            })
        };
        let app = Router::new()
            .route("/", get(page))
            .route("/app.js", get(script))
            .route("/app.css", get(style))
            .route("/favicon.svg", get(icon))
            .route("/favicon.ico", get(icon))
            .route("/events", get(events))
            .route("/metrics", get(prometheus))
            .route("/sd", get(service_discovery))
            .route("/runs/{run}/{*file}", get(run_file))
            .with_state(shared);
        let server = tokio::spawn(async move {
            if let Err(e) = axum::serve(listener, app).await {
                tracing::warn!("dashboard: {e}");
            }
        });
        Ok(Dashboard {
            addr,
            server,
            follower,
        })
    }

    /// The page's address.
    pub fn url(&self) -> String {
        format!("http://{}/", self.addr)
    }
}

impl Drop for Dashboard {
    fn drop(&mut self) {
        self.server.abort();
        self.follower.abort();
    }
}

async fn page() -> Html<&'static str> {
    Html(PAGE)
}

fn asset(content_type: &'static str, body: &'static str) -> Response {
    (
        [
            (header::CONTENT_TYPE, content_type),
            (header::CACHE_CONTROL, "no-cache"),
        ],
        body,
    )
        .into_response()
}

async fn script() -> Response {
    asset("text/javascript; charset=utf-8", SCRIPT)
}

async fn style() -> Response {
    asset("text/css; charset=utf-8", STYLE)
}

/// OpenMetrics to what accepts it (a Prometheus server says so), the classic text
/// format to the rest.
async fn icon() -> Response {
    asset("image/svg+xml", ICON)
}

async fn prometheus(State(shared): State<Shared>, headers: axum::http::HeaderMap) -> Response {
    let openmetrics = headers
        .get_all(header::ACCEPT)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .any(|v| v.contains("application/openmetrics-text"));
    let watched = shared.watched();
    let (totals, latest) = (&watched.totals, &watched.view.latest);
    if openmetrics {
        (
            [(header::CONTENT_TYPE, metrics::OPENMETRICS)],
            totals.render(latest),
        )
            .into_response()
    } else {
        (
            [(header::CONTENT_TYPE, metrics::CLASSIC)],
            totals.render_classic(latest),
        )
            .into_response()
    }
}

/// The platform's services as Prometheus HTTP service discovery
/// (`http_sd_configs`, deploy/prometheus/prometheus.yml): their ports are chosen
/// per run, so a Prometheus asks here.
async fn service_discovery(State(shared): State<Shared>) -> Response {
    let targets: Vec<serde_json::Value> = shared
        .watched()
        .view
        .latest
        .targets
        .iter()
        .map(|(service, instance, addr)| {
            serde_json::json!({
                "targets": [addr.to_string()],
                "labels": { "service": service, "service_instance": instance.to_string() },
            })
        })
        .collect();
    axum::Json(targets).into_response()
}

async fn events(
    State(shared): State<Shared>,
) -> Sse<impl futures::Stream<Item = Result<Event, std::convert::Infallible>>> {
    // Subscribed before the hello is built, so no tick falls between them.
    let receiver = shared.ticks.subscribe();
    let hello = shared.watched().view.hello().to_string();
    let first =
        futures::stream::once(async move { Ok(Event::default().event("hello").data(hello)) });
    let ticks = futures::stream::unfold(receiver, |mut receiver| async move {
        loop {
            match receiver.recv().await {
                Ok(tick) => {
                    return Some((Ok(Event::default().event("tick").data(&*tick)), receiver));
                }
                // A slow page misses ticks; the next one carries the whole state.
                Err(broadcast::error::RecvError::Lagged(_)) => continue,
                Err(broadcast::error::RecvError::Closed) => return None,
            }
        }
    });
    Sse::new(futures::StreamExt::chain(first, ticks)).keep_alive(KeepAlive::default())
}

/// `file` inside `dir`, if it names a plain relative path (no `..`, no root).
fn inside(dir: &Path, file: &str) -> Option<PathBuf> {
    let relative = Path::new(file);
    relative
        .components()
        .all(|c| matches!(c, Component::Normal(_)))
        .then(|| dir.join(relative))
}

fn content_type(path: &Path) -> &'static str {
    match path.extension().and_then(|e| e.to_str()) {
        Some("html") => "text/html; charset=utf-8",
        Some("svg") => "image/svg+xml",
        Some("png") => "image/png",
        Some("json") => "application/json",
        Some("css") => "text/css; charset=utf-8",
        Some("js") => "text/javascript; charset=utf-8",
        Some("xml") => "application/xml",
        _ => "text/plain; charset=utf-8",
    }
}

async fn run_file(
    State(shared): State<Shared>,
    UrlPath((run, file)): UrlPath<(u64, String)>,
) -> Response {
    let not_found = |why: String| (StatusCode::NOT_FOUND, why).into_response();
    let Some(dir) = shared.watched().view.dir_of(run) else {
        return not_found(format!(
            "run {run} has not ended (or is not one of this command's)"
        ));
    };
    let Some(path) = inside(&dir, &file) else {
        return not_found(format!("{file}: not a file of run {run}"));
    };
    match tokio::fs::metadata(&path).await {
        Ok(m) if m.is_file() && m.len() > SERVE_MAX => (
            StatusCode::PAYLOAD_TOO_LARGE,
            format!("{} is {} bytes: open it from disk", path.display(), m.len()),
        )
            .into_response(),
        Ok(m) if m.is_file() => match tokio::fs::read(&path).await {
            Ok(bytes) => ([(header::CONTENT_TYPE, content_type(&path))], bytes).into_response(),
            Err(e) => not_found(format!("{}: {e}", path.display())),
        },
        _ => not_found(format!("{}: no such file", path.display())),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_plain_relative_paths_reach_a_run_s_files() {
        let dir = Path::new("runs/x/1");
        assert_eq!(inside(dir, "report.html"), Some(dir.join("report.html")));
        assert_eq!(
            inside(dir, "charts/e2e.svg"),
            Some(dir.join("charts/e2e.svg"))
        );
        assert_eq!(inside(dir, "../secret"), None);
        assert_eq!(inside(dir, "a/../../b"), None);
        assert_eq!(inside(dir, "/etc/passwd"), None);
    }
}
