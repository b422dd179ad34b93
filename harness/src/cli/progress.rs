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
            "[{:>5.1}/{:.0}s] sent {}/{} ({}/s), acked {}, observed {}, completed {}, lag {}",
            s.elapsed.as_secs_f64(),
            s.load_total.as_secs_f64(),
            s.sent,
            s.planned,
            s.sent.saturating_sub(last_sent),
            s.acked,
            s.observed,
            s.completed,
            s.lag,
        );
        last_sent = s.sent;
        if terminal {
            eprint!("\r{line:<110}");
            drawn = true;
        } else if tick.is_multiple_of(5) {
            eprintln!("{line}");
        }
    }
}
