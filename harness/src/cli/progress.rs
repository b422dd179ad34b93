//! The live progress line on stderr: what a run publishes on its
//! [`StatusBoard`](crate::run::StatusBoard), once a second while the load runs and
//! while the drain waits for the system to finish (the orders still open, the lag, and
//! what the live judge found). On a terminal the line is redrawn in place; otherwise
//! one line every five seconds.

use std::io::IsTerminal;
use std::time::{Duration, Instant};

use tokio::sync::watch;

use crate::run::{Phase, Status};

/// Prints `status` until the run leaves its drain (or the board is gone).
pub async fn show(mut status: watch::Receiver<Status>) {
    let terminal = std::io::stderr().is_terminal();
    let mut last_sent = 0usize;
    let mut drawn = false;
    let mut tick = 0u64;
    let mut drain_since: Option<Instant> = None;
    while status.changed().await.is_ok() {
        let s = status.borrow_and_update().clone();
        let line = match s.phase {
            Phase::Setup => continue,
            Phase::Load => {
                if s.sent == last_sent && s.elapsed.is_zero() {
                    continue;
                }
                let line = load_line(&s, s.sent.saturating_sub(last_sent));
                last_sent = s.sent;
                line
            }
            Phase::Drain => {
                let since = *drain_since.get_or_insert_with(Instant::now);
                drain_line(&s, since.elapsed())
            }
            // Between and after them: end the line drawn.
            _ => {
                if drawn && terminal {
                    eprintln!();
                }
                drawn = false;
                continue;
            }
        };
        tick += 1;
        if terminal {
            eprint!("\r{line:<140}");
            drawn = true;
        } else if tick.is_multiple_of(5) {
            eprintln!("{line}");
        }
    }
}

/// The line while the load runs (`per_second`: sent since the last line).
fn load_line(s: &Status, per_second: usize) -> String {
    format!(
        "[{:>5.1}/{:.0}s] sent {}/{} ({}/s), acked {}, observed {}, completed {}, lag {}; {}",
        s.elapsed.as_secs_f64(),
        s.load_total.as_secs_f64(),
        s.sent,
        s.planned,
        per_second,
        s.acked,
        s.observed,
        s.completed,
        s.lag,
        judged(&s.so_far),
    )
}

/// The line while the drain waits, `waited` into it: what is still open.
fn drain_line(s: &Status, waited: Duration) -> String {
    format!(
        "[drain {:>5.1}/{:.0}s] {} of {} acknowledged orders open, observed {}, lag {}; {}",
        waited.as_secs_f64(),
        s.drain_total.as_secs_f64(),
        s.acked.saturating_sub(s.completed),
        s.acked,
        s.observed,
        s.lag,
        judged(&s.so_far),
    )
}

/// The live judgement: orders judged so far and what their lines prove.
fn judged(so_far: &check::stream::SoFar) -> String {
    let found: Vec<String> = so_far
        .anomalies
        .iter()
        .map(|(a, n)| format!("{n} {}", a.name()))
        .collect();
    if found.is_empty() {
        format!("judged {}: no anomaly so far", so_far.orders)
    } else {
        format!("judged {}: {}", so_far.orders, found.join(", "))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use check::Anomaly;

    #[test]
    fn the_live_judgement_names_what_was_found() {
        let mut so_far = check::stream::SoFar {
            orders: 120,
            ..Default::default()
        };
        assert_eq!(judged(&so_far), "judged 120: no anomaly so far");
        so_far.anomalies.insert(Anomaly::OrderingViolation, 2);
        so_far.anomalies.insert(Anomaly::DuplicateDelivery, 7);
        assert_eq!(
            judged(&so_far),
            "judged 120: 7 duplicate_delivery, 2 ordering_violation"
        );
    }

    #[test]
    fn the_drain_line_says_what_is_still_open() {
        let s = Status {
            phase: Phase::Drain,
            drain_total: Duration::from_secs(60),
            acked: 500,
            completed: 480,
            observed: 5123,
            lag: 7,
            ..Status::default()
        };
        assert_eq!(
            drain_line(&s, Duration::from_millis(3250)),
            "[drain   3.2/60s] 20 of 500 acknowledged orders open, observed 5123, lag 7; judged 0: no anomaly so far"
        );
    }
}
