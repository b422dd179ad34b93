//! The live progress line on stderr: what a run publishes on its
//! [`StatusBoard`](crate::run::StatusBoard), once a second while the load runs. On a
//! terminal the line is redrawn in place; otherwise one line every five seconds.

use std::io::IsTerminal;

use tokio::sync::watch;

use crate::run::{Phase, Status};

/// Prints `status` until the run leaves its load phase (or the board is gone).
pub async fn show(mut status: watch::Receiver<Status>) {
    let terminal = std::io::stderr().is_terminal();
    let mut last_sent = 0usize;
    let mut drawn = false;
    let mut tick = 0u64;
    while status.changed().await.is_ok() {
        let s = status.borrow_and_update().clone();
        match s.phase {
            Phase::Setup => continue,
            Phase::Load => {}
            _ if drawn => {
                if terminal {
                    eprintln!();
                }
                drawn = false;
                continue;
            }
            _ => continue,
        }
        if s.sent == last_sent && s.elapsed.is_zero() {
            continue;
        }
        tick += 1;
        let line = format!(
            "[{:>5.1}/{:.0}s] sent {}/{} ({}/s), acked {}, observed {}, completed {}, lag {}; {}",
            s.elapsed.as_secs_f64(),
            s.load_total.as_secs_f64(),
            s.sent,
            s.planned,
            s.sent.saturating_sub(last_sent),
            s.acked,
            s.observed,
            s.completed,
            s.lag,
            judged(&s.so_far),
        );
        last_sent = s.sent;
        if terminal {
            eprint!("\r{line:<140}");
            drawn = true;
        } else if tick.is_multiple_of(5) {
            eprintln!("{line}");
        }
    }
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
}
