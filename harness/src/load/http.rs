//! The `http` driver: Goose sends `POST /orders` to the order service, configured in code
//! (no argv parsing by Goose; its telnet controller is off and its WebSocket controller
//! is off by default, so it opens no listening socket).
//!
//! Goose users are closed loops, so the open loop is kept here: every user takes the
//! next planned order, sleeps until its *intended* time and sends it. There are enough
//! users for a few seconds of the peak rate to be in flight; when they are all waiting
//! for answers, the next order goes out late and its latency still counts from its
//! intended time (reported as `late` in the shortfall, never hidden by slowing down).
//! Goose's own request statistics go to `logs/goose.txt`.

use std::path::Path;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::time::Duration;

use check::{SendOutcome, SendRecord};
use goose::config::{GooseConfiguration, GooseDefault, GooseDefaultType};
use goose::prelude::{GooseAttack, GooseUser, Scenario, Transaction, TransactionResult};

use super::{MAX_IN_FLIGHT, PlannedOrder};
use crate::journal::Recorder;
use crate::stop::{Stop, Stopper};

/// How long one request may take before it counts as an error.
const REQUEST_TIMEOUT_S: u64 = 10;
/// Users per order/s of the peak rate: this many seconds of orders may be in flight.
const SECONDS_IN_FLIGHT: usize = 4;
const MIN_USERS: usize = 16;

/// What every Goose user shares: the plan, the next order to take, and the stop signal.
#[derive(Debug)]
struct Shared {
    orders: Vec<PlannedOrder>,
    /// Index of the next order a user takes.
    next: AtomicUsize,
    /// Orders taken and not yet recorded.
    in_flight: AtomicUsize,
    /// Set at stop: users take no more orders.
    closed: AtomicBool,
    recorder: Arc<Recorder>,
    stop: Stop,
    /// Turns true once the supervisor ends the attack: idle users return.
    finished: Stop,
}

impl Shared {
    fn take(&self) -> Option<&PlannedOrder> {
        if self.closed.load(Ordering::SeqCst) {
            return None;
        }
        self.in_flight.fetch_add(1, Ordering::SeqCst);
        let order = self.orders.get(self.next.fetch_add(1, Ordering::SeqCst));
        if order.is_none() {
            self.in_flight.fetch_sub(1, Ordering::SeqCst);
        }
        order
    }

    fn all_taken(&self) -> bool {
        self.closed.load(Ordering::SeqCst) || self.next.load(Ordering::SeqCst) >= self.orders.len()
    }
}

/// The largest number of orders intended within any one second.
fn peak_per_second(orders: &[PlannedOrder]) -> usize {
    let mut peak = 0;
    let mut start = 0;
    for (end, order) in orders.iter().enumerate() {
        while order.intended.saturating_sub(orders[start].intended) >= Duration::from_secs(1) {
            start += 1;
        }
        peak = peak.max(end + 1 - start);
    }
    peak
}

/// Users for a plan: enough for [`SECONDS_IN_FLIGHT`] seconds of its peak rate.
fn users_for(orders: &[PlannedOrder]) -> usize {
    (peak_per_second(orders) * SECONDS_IN_FLIGHT).clamp(MIN_USERS, MAX_IN_FLIGHT / 2)
}

/// How an HTTP answer counts.
fn classify(status: u16) -> (SendOutcome, Option<String>) {
    match status {
        200..=299 => (SendOutcome::Acked, None),
        400..=499 => (SendOutcome::Rejected, Some(format!("HTTP {status}"))),
        _ => (SendOutcome::Error, Some(format!("HTTP {status}"))),
    }
}

/// One Goose transaction: take the next order, wait for its intended time, send it,
/// record it. With no order left, wait until the attack ends.
async fn send_next(user: &mut GooseUser, shared: Arc<Shared>) -> TransactionResult {
    let Some(order) = shared.take() else {
        shared.finished.stopped().await;
        return Ok(());
    };
    let recorder = &shared.recorder;
    let at = recorder.t0() + order.intended;
    tokio::select! {
        _ = tokio::time::sleep_until(at.into()) => {}
        _ = shared.stop.stopped() => {
            shared.in_flight.fetch_sub(1, Ordering::SeqCst);
            return Ok(());
        }
    }
    let intended_us = recorder.at_us(at);
    let sent_us = recorder.now_us();
    let body = serde_json::json!({
        "order_id": order.order_id, "customer_id": order.customer_id,
        "sku": order.sku, "quantity": order.quantity,
    });
    let (outcome, acked_us, error) = match user.post_json("/orders", &body).await {
        Ok(answer) => match answer.response {
            Ok(response) => {
                let (outcome, error) = classify(response.status().as_u16());
                let acked = (outcome == SendOutcome::Acked).then(|| recorder.now_us());
                (outcome, acked, error)
            }
            Err(e) => (SendOutcome::Error, None, Some(e.to_string())),
        },
        Err(e) => (SendOutcome::Error, None, Some(e.to_string())),
    };
    recorder.send(SendRecord {
        order_id: order.order_id.clone(),
        intended_us,
        sent_us: Some(sent_us),
        acked_us,
        outcome,
        error,
    });
    shared.in_flight.fetch_sub(1, Ordering::SeqCst);
    Ok(())
}

/// Ends the attack once every order was taken and answered, or at stop once the
/// orders in flight were answered.
async fn supervise(shared: Arc<Shared>, finished: Stopper) {
    let mut tick = tokio::time::interval(Duration::from_millis(20));
    loop {
        tokio::select! {
            _ = tick.tick() => {}
            _ = shared.stop.stopped() => shared.closed.store(true, Ordering::SeqCst),
        }
        if shared.all_taken() && shared.in_flight.load(Ordering::SeqCst) == 0 {
            break;
        }
    }
    finished.stop();
    goose::trigger_killswitch("harness: every planned order was sent and answered");
}

/// Discards `log` records. Goose installs a terminal logger for the whole process
/// unless one is set already, which would print every warning of every library that
/// logs through `log` (librdkafka's connection errors among them) over the progress
/// line; the harness reports through its own output instead.
#[derive(Debug)]
struct Silent;

impl log::Log for Silent {
    fn enabled(&self, _: &log::Metadata<'_>) -> bool {
        false
    }
    fn log(&self, _: &log::Record<'_>) {}
    fn flush(&self) {}
}

static SILENT: Silent = Silent;

/// Builds the attack: one scenario, one transaction, every option set in code.
fn attack(
    host: &str,
    users: usize,
    run_time_s: usize,
    shared: Arc<Shared>,
) -> Result<GooseAttack, goose::GooseError> {
    let transaction = Transaction::new(Arc::new(move |user| {
        Box::pin(send_next(user, shared.clone()))
    }))
    .set_name("POST /orders");
    let scenario = Scenario::new("orders").register_transaction(transaction);
    // Fails harmlessly when a logger is set already (a second run in this process).
    let _ = log::set_logger(&SILENT);
    let attack = GooseAttack::initialize_with_config(GooseConfiguration::default())?
        .register_scenario(scenario)
        .set_default(GooseDefault::Host, host)?
        .set_default(GooseDefault::Users, users)?
        .set_default(GooseDefault::IncreaseRate, users.to_string().as_str())?
        .set_default(GooseDefault::RunTime, run_time_s)?
        .set_default(
            GooseDefault::Timeout,
            REQUEST_TIMEOUT_S.to_string().as_str(),
        )?
        .set_default(GooseDefault::NoTelnet, true)?
        .set_default(GooseDefault::NoPrintMetrics, true)?
        .set_default(GooseDefault::NoResetMetrics, true)?
        .set_default(GooseDefault::Quiet, 1)?;
    Ok(*attack)
}

/// Runs the plan through Goose against `order_base_url` (e.g. `http://127.0.0.1:8080`);
/// Goose's statistics are written to `logs/goose.txt`.
pub async fn run(
    orders: Vec<PlannedOrder>,
    order_base_url: String,
    recorder: Arc<Recorder>,
    stop: Stop,
    logs: &Path,
) {
    let users = users_for(&orders);
    let last = orders.last().map(|o| o.intended).unwrap_or_default();
    // A bound only: the supervisor ends the attack as soon as every order was answered.
    let run_time_s = usize::try_from(last.as_secs()).unwrap_or(usize::MAX / 2)
        + 2 * REQUEST_TIMEOUT_S as usize
        + 5;
    let finished_tx = Stopper::new();
    let finished = finished_tx.stop_token();
    let shared = Arc::new(Shared {
        orders,
        next: AtomicUsize::new(0),
        in_flight: AtomicUsize::new(0),
        closed: AtomicBool::new(false),
        recorder,
        stop,
        finished,
    });
    let attack = match attack(&order_base_url, users, run_time_s, shared.clone()) {
        Ok(attack) => attack,
        Err(e) => {
            eprintln!("harness: configuring the Goose load: {e}");
            return;
        }
    };
    let supervisor = tokio::spawn(supervise(shared, finished_tx));
    let redirect = StdoutRedirect::to(&logs.join("goose-stdout.txt"));
    let report = match attack.execute().await {
        Ok(metrics) => format!("Goose, {users} users\n\n{metrics}"),
        Err(e) => {
            eprintln!("harness: the Goose load failed: {e}");
            format!("Goose, {users} users: failed: {e}\n")
        }
    };
    drop(redirect);
    supervisor.abort();
    let _ = std::fs::write(logs.join("goose.txt"), report);
}

/// Goose prints "All N users launched." with `println!`, whatever its settings: while
/// the attack runs, the process's standard output goes to a file of the run's `logs/`,
/// so the harness's own stdout carries only its results. The harness writes nothing to
/// stdout during the load phase (the progress line is on stderr). Restored on drop.
#[derive(Debug)]
struct StdoutRedirect {
    saved: std::os::fd::OwnedFd,
}

impl StdoutRedirect {
    fn to(path: &Path) -> Option<StdoutRedirect> {
        use std::io::Write as _;
        let file = std::fs::File::create(path).ok()?;
        let saved = nix::unistd::dup(std::io::stdout()).ok()?;
        let _ = std::io::stdout().flush();
        nix::unistd::dup2_stdout(&file).ok()?;
        Some(StdoutRedirect { saved })
    }
}

impl Drop for StdoutRedirect {
    fn drop(&mut self) {
        use std::io::Write as _;
        let _ = std::io::stdout().flush();
        let _ = nix::unistd::dup2_stdout(&self.saved);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(ms: &[u64]) -> Vec<PlannedOrder> {
        ms.iter()
            .enumerate()
            .map(|(i, &ms)| PlannedOrder {
                order_id: format!("o-{i}"),
                intended: Duration::from_millis(ms),
                customer_id: "c".into(),
                sku: "s".into(),
                quantity: 1,
            })
            .collect()
    }

    #[test]
    fn the_peak_is_the_busiest_second() {
        assert_eq!(peak_per_second(&[]), 0);
        assert_eq!(peak_per_second(&at(&[0])), 1);
        assert_eq!(peak_per_second(&at(&[0, 500, 999, 1000, 1001, 1002])), 5);
        assert_eq!(peak_per_second(&at(&[0, 2000, 4000])), 1);
    }

    #[test]
    fn users_cover_seconds_of_the_peak_within_bounds() {
        assert_eq!(users_for(&[]), MIN_USERS);
        let busy: Vec<u64> = (0..100).map(|i| i * 10).collect();
        assert_eq!(users_for(&at(&busy)), 100 * SECONDS_IN_FLIGHT);
        let flood: Vec<u64> = (0..10_000).collect();
        assert_eq!(users_for(&at(&flood)), MAX_IN_FLIGHT / 2);
    }

    #[test]
    fn statuses_count_as_acked_rejected_or_error() {
        assert_eq!(classify(201).0, SendOutcome::Acked);
        assert_eq!(classify(409).0, SendOutcome::Rejected);
        assert_eq!(classify(503).0, SendOutcome::Error);
        assert_eq!(classify(503).1.as_deref(), Some("HTTP 503"));
    }
}
