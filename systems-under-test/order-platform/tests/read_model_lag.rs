//! The order service's read model behind its consumer must not cost an order (the
//! platform's own version of `experiments/read-model-lag.toml`): exactly-once on Redis,
//! two inventory instances, 60 orders/s for 33 s, Redis's link squeezed for 16 s with
//! inventory#1 paused (SIGSTOP) for 8 s inside that window. The experiment squeezes to
//! 64 KB/s; this test to 32 KB/s, because here (no harness, no goose beside the
//! platform) 64 KB/s left the read model less far behind and the old code lost nothing.
//!
//! Before the fix the order service decided a `PaymentCaptured` from its CQRS read model,
//! which lagged seconds behind under the squeeze: "order not in the read model yet"
//! counted as a failed attempt, and after 8 of them the live order was dead-lettered
//! (the old binary, `HARNESS_SUT=...`, lost 36 of 1980 orders here, each with a dead
//! letter in `dlq.order`). Now
//! the saga decides from the order's own state (read your writes, plus what it
//! consumed) and an early payment waits instead of failing: nothing is lost, nothing
//! dead-lettered, nothing applied twice.
//!
//! Its own test binary, so its own lab: the toxic is on the lab's Redis proxy, which
//! every deployment of a lab shares.

mod common;

use std::time::{Duration, Instant};

use check::{Anomaly, Decision};
use common::{Options, Platform};
use lab::toxiproxy::Toxic;
use order_platform::bus::{Backend, Guarantee};

const RATE: u32 = 60;
const ORDERS: usize = 1980;
const SQUEEZE_AT: Duration = Duration::from_secs(8);
const SQUEEZE_KB_PER_S: u64 = 32;
const SQUEEZE_FOR: Duration = Duration::from_secs(16);
const PAUSE_AT: Duration = Duration::from_secs(12);
const PAUSE_FOR: Duration = Duration::from_secs(8);

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn redis_exactly_once_loses_no_order_while_the_read_model_lags() {
    let options = Options {
        inventory: 2,
        skus: 20,
        initial_stock: 100_000,
        claim_idle: Duration::from_secs(5),
        ..Options::default()
    };
    let platform = Platform::start(Backend::Redis, Guarantee::ExactlyOnce, options).await;
    let toxiproxy = platform.toxiproxy();
    let orders = platform.orders("lag", ORDERS);
    let ids: Vec<String> = orders.iter().map(|o| o.id.clone()).collect();
    let start = Instant::now();
    let faults = async {
        tokio::time::sleep_until((start + SQUEEZE_AT).into()).await;
        toxiproxy
            .add_toxic("redis", &Toxic::bandwidth("squeeze", SQUEEZE_KB_PER_S))
            .await
            .expect("bandwidth toxic on redis");
        tokio::time::sleep_until((start + PAUSE_AT).into()).await;
        platform.pause("inventory", 1);
        tokio::time::sleep_until((start + PAUSE_AT + PAUSE_FOR).into()).await;
        platform.resume("inventory", 1);
        tokio::time::sleep_until((start + SQUEEZE_AT + SQUEEZE_FOR).into()).await;
        toxiproxy
            .remove_toxic("redis", "squeeze")
            .await
            .expect("toxic removed");
    };
    tokio::join!(platform.send_open_loop(orders, start, RATE), faults);

    let missing = platform.wait_terminal(&ids, Duration::from_secs(90)).await;
    let letters = platform.dead_letters("order").await;
    let judged = platform.judge().await;
    let what = format!(
        "Redis exactly-once, {SQUEEZE_KB_PER_S} KB/s on Redis for 16 s, inventory#1 paused 8 s"
    );
    let what = what.as_str();
    eprintln!("{what}: {}", judged.summary());
    assert!(
        letters.is_empty(),
        "{what}: {} orders dead-lettered by the order service, e.g. {:?}",
        letters.len(),
        letters
            .iter()
            .take(3)
            .map(|l| &l.reason.message)
            .collect::<Vec<_>>()
    );
    assert!(
        missing.is_empty(),
        "{what}: {} orders without a terminal event: {:?}",
        missing.len(),
        &missing[..missing.len().min(10)]
    );
    judged.expect(
        what,
        Decision::Pass,
        &[Anomaly::Lost, Anomaly::DuplicateEffect],
    );
}
