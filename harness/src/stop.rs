//! One stop signal for the tasks of a run: the load generator, the observers, the fault
//! executor and the phases themselves wait on a [`Stop`]; whoever owns the
//! [`Stopper`] ends them. A dropped `Stopper` counts as a stop, so a task never outlives
//! the phase that started it.

use std::time::Duration;

use tokio::sync::watch;

/// Ends the tasks that hold its [`Stop`]s.
#[derive(Debug)]
pub struct Stopper(watch::Sender<bool>);

/// What a task waits on. Cheap to clone; every clone sees the same stop.
#[derive(Debug, Clone)]
pub struct Stop(watch::Receiver<bool>);

/// See [`Stop::every`].
#[derive(Debug)]
pub struct Ticks {
    interval: tokio::time::Interval,
    stop: Stop,
}

impl Ticks {
    /// Waits for the next tick; `false` when the stop came first.
    pub async fn next(&mut self) -> bool {
        tokio::select! {
            _ = self.interval.tick() => !self.stop.is_stopped(),
            _ = self.stop.stopped() => false,
        }
    }
}

impl Stopper {
    pub fn new() -> Stopper {
        Stopper(watch::channel(false).0)
    }

    /// A [`Stop`] for one more task.
    pub fn stop_token(&self) -> Stop {
        Stop(self.0.subscribe())
    }

    /// Stops every task holding a [`Stop`] of this stopper (idempotent).
    pub fn stop(&self) {
        self.0.send_replace(true);
    }
}

impl Default for Stopper {
    fn default() -> Self {
        Self::new()
    }
}

impl Stop {
    /// Whether the stop has come (or its stopper is gone).
    pub fn is_stopped(&self) -> bool {
        *self.0.borrow() || self.0.has_changed().is_err()
    }

    /// Resolves when the stop comes, or at once if it has.
    pub async fn stopped(&self) {
        let mut receiver = self.0.clone();
        let _ = receiver.wait_for(|stopped| *stopped).await;
    }

    /// A ticker for a sampler: [`Ticks::next`] returns once per `period` (a tick missed
    /// while busy is skipped, not made up) and `false` once the stop comes.
    pub fn every(&self, period: Duration) -> Ticks {
        let mut interval = tokio::time::interval(period);
        interval.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Skip);
        Ticks {
            interval,
            stop: self.clone(),
        }
    }

    /// Sleeps for `duration` or until the stop; true when it was the stop.
    pub async fn sleep(&self, duration: Duration) -> bool {
        tokio::select! {
            _ = tokio::time::sleep(duration) => self.is_stopped(),
            _ = self.stopped() => true,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn a_stop_reaches_every_clone() {
        let stopper = Stopper::new();
        let a = stopper.stop_token();
        let b = a.clone();
        assert!(!a.is_stopped());
        let waiter = tokio::spawn(async move { b.stopped().await });
        stopper.stop();
        tokio::time::timeout(Duration::from_secs(5), waiter)
            .await
            .expect("the waiter saw the stop")
            .expect("join");
        assert!(a.is_stopped());
        assert!(a.sleep(Duration::from_secs(60)).await);
    }

    #[tokio::test]
    async fn a_dropped_stopper_is_a_stop() {
        let stopper = Stopper::new();
        let stop = stopper.stop_token();
        drop(stopper);
        assert!(stop.is_stopped());
        tokio::time::timeout(Duration::from_secs(5), stop.stopped())
            .await
            .expect("resolves at once");
    }

    #[tokio::test]
    async fn ticks_end_at_the_stop() {
        let stopper = Stopper::new();
        let mut ticks = stopper.stop_token().every(Duration::from_millis(5));
        assert!(ticks.next().await);
        assert!(ticks.next().await);
        stopper.stop();
        assert!(!ticks.next().await);
    }
}
