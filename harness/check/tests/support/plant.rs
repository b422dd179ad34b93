//! Strategies and plants shared by the property tests: the flows of a generated
//! history, anomalies planted into one (each a known count), and small arbitrary
//! histories.

use check::{Anomaly, Charge, Guarantee, History, Observation};
use proptest::prelude::*;

use super::{Flow, Generated, Rng, generate};

/// A case count, without persisting failures (the seeds are printed instead).
pub fn config(cases: u32) -> ProptestConfig {
    ProptestConfig {
        cases,
        failure_persistence: None,
        ..ProptestConfig::default()
    }
}

/// A generated history with an anomaly of a random kind planted (1 to 4 of it), and
/// that kind.
pub fn planted_history() -> impl Strategy<Value = (History, Anomaly)> {
    (
        flows(),
        any::<u64>(),
        guarantee(),
        0..Anomaly::ALL.len(),
        1usize..5,
        any::<u64>(),
    )
        .prop_map(|(flows, seed, guarantee, which, k, plant_seed)| {
            let mut generated = generate(&flows, seed, guarantee);
            let kind = Anomaly::ALL[which];
            plant(&mut generated, kind, k, &mut Rng::new(plant_seed));
            (generated.history, kind)
        })
}

pub fn flows() -> impl Strategy<Value = Vec<Flow>> {
    let flow = prop_oneof![
        6 => Just(Flow::Shipped),
        2 => Just(Flow::StockRejected),
        2 => Just(Flow::PaymentFailed),
        1 => Just(Flow::Rejected),
        1 => Just(Flow::Dropped),
    ];
    // the first six always ship, so every plant has targets
    proptest::collection::vec(flow, 0..30).prop_map(|rest| {
        let mut flows = vec![Flow::Shipped; 6];
        flows.extend(rest);
        flows
    })
}

pub fn guarantee() -> impl Strategy<Value = Guarantee> {
    prop_oneof![
        Just(Guarantee::AtMostOnce),
        Just(Guarantee::AtLeastOnce),
        Just(Guarantee::ExactlyOnce),
    ]
}

/// Plants `k` anomalies of `kind` (fewer if there are fewer targets); returns how many.
pub fn plant(generated: &mut Generated, kind: Anomaly, k: usize, rng: &mut Rng) -> usize {
    let acked = generated.acked();
    let shipped = generated.with_flow(Flow::Shipped);
    let last = generated.last_time();
    let step_events = |g: &Generated, order: &str| -> Vec<Observation> {
        let mut firsts: Vec<Observation> = Vec::new();
        for o in &g.history.observations {
            if o.key == order
                && check::STEP_TYPES.contains(&o.event_type.as_str())
                && !firsts.iter().any(|f| f.event_id == o.event_id)
            {
                firsts.push(o.clone());
            }
        }
        firsts
    };
    match kind {
        Anomaly::Lost => {
            let targets = rng.pick(&acked, k);
            for order in &targets {
                let terminal = format!(
                    "{}/{}",
                    order.id,
                    if order.flow == Flow::Shipped {
                        "OrderShipped"
                    } else {
                        "OrderCancelled"
                    }
                );
                generated
                    .history
                    .observations
                    .retain(|o| o.event_id != terminal);
            }
            targets.len()
        }
        Anomaly::Unobserved => {
            let targets = rng.pick(&acked, k);
            for order in &targets {
                let placed = format!("{}/OrderPlaced", order.id);
                generated
                    .history
                    .observations
                    .retain(|o| o.event_id != placed);
            }
            targets.len()
        }
        Anomaly::DuplicateDelivery => {
            let targets = rng.pick(&acked, k);
            for (n, order) in targets.iter().enumerate() {
                let events = step_events(generated, &order.id);
                let event = rng.pick(&events, 1).remove(0);
                // republished: a new log entry, read late (after higher seqs)
                generated.history.observations.push(Observation {
                    observed_us: last + 1 + n as u64,
                    position: format!("dup-{n}"),
                    ..event
                });
            }
            targets.len()
        }
        Anomaly::DuplicateEffect => {
            let targets = rng.pick(&acked, k);
            for (n, order) in targets.iter().enumerate() {
                if order.flow == Flow::Shipped && rng.chance(30) {
                    generated.history.charges.push(Charge {
                        order_id: order.id.clone(),
                        charge_id: format!("ch-again-{n}"),
                    });
                    continue;
                }
                let events = step_events(generated, &order.id);
                let event = rng.pick(&events, 1).remove(0);
                // the same step again, under a new id, right after the first
                generated.history.observations.push(Observation {
                    event_id: format!("{}/again", event.event_id),
                    observed_us: event.observed_us + 1,
                    position: format!("again-{n}"),
                    ..event
                });
            }
            targets.len()
        }
        Anomaly::OrderingViolation => {
            let targets = rng.pick(&acked, k);
            for order in &targets {
                let events = step_events(generated, &order.id);
                if rng.chance(50) {
                    // swap the seqs of the two step events on the orders topic
                    let on_orders: Vec<&Observation> =
                        events.iter().filter(|o| o.topic == "orders").collect();
                    let (a, b) = (on_orders[0].clone(), on_orders[1].clone());
                    for o in &mut generated.history.observations {
                        if o.event_id == a.event_id {
                            o.seq = b.seq;
                        } else if o.event_id == b.event_id {
                            o.seq = a.seq;
                        }
                    }
                } else {
                    // the second step is produced, and becomes visible, before its
                    // cause (its producer's time is what proves the reversal)
                    let (placed, second) = (&events[0], &events[1]);
                    for o in &mut generated.history.observations {
                        if o.event_id == second.event_id {
                            o.observed_us = placed.observed_us - 1;
                            o.produced_us = placed.produced_us.map(|p| p.saturating_sub(1));
                        }
                    }
                }
            }
            targets.len()
        }
        Anomaly::Phantom => {
            for n in 0..k {
                generated.history.observations.push(super::ev(
                    &format!("foreign-{n}"),
                    "OrderPlaced",
                    &format!("x-{n}"),
                    1,
                    None,
                    rng.range(0, last + 1),
                ));
            }
            k
        }
        Anomaly::InvariantViolation => {
            let mut targets: Vec<Option<usize>> =
                (0..generated.history.stock.len()).map(Some).collect();
            targets.extend(shipped.iter().map(|_| None));
            let chosen = rng.pick(&targets, k);
            let mut shipped_iter = rng.pick(&shipped, shipped.len()).into_iter();
            for target in &chosen {
                match target {
                    Some(line) if rng.chance(50) => generated.history.stock[*line].available -= 1,
                    Some(line) => {
                        let line = &mut generated.history.stock[*line];
                        line.available = -3;
                        line.reserved = line.initial + 3;
                    }
                    None => {
                        let order = shipped_iter.next().expect("one shipped order per target");
                        let confirmed = generated.event(&order.id, "OrderConfirmed");
                        generated.history.observations.push(Observation {
                            event_id: format!("{}/OrderCancelled", order.id),
                            event_type: "OrderCancelled".into(),
                            seq: 5,
                            causation_id: Some(confirmed.event_id.clone()),
                            observed_us: confirmed.observed_us + 1,
                            position: format!("cancel-{}", order.id),
                            ..confirmed
                        });
                    }
                }
            }
            chosen.len()
        }
    }
}

pub fn time() -> impl Strategy<Value = u64> {
    prop_oneof![0u64..3_000_000, any::<u64>(), Just(u64::MAX), Just(0)]
}

/// Any observation of a few ids, keys, types and positions. With `keyed`, an event id
/// names its key (`o-1/e-3`), as the platform's do: one id, one key.
pub fn any_observation(keyed: bool) -> impl Strategy<Value = Observation> {
    (
        "e-[0-5]",
        proptest::sample::select(check::KNOWN_TYPES.to_vec()),
        "o-[0-3]",
        prop_oneof![0u64..8, any::<u64>()],
        proptest::option::of(if keyed { "o-[0-3]/e-[0-5]" } else { "e-[0-5]" }),
        time(),
        0u32..2,
        "[0-3]",
    )
        .prop_map(
            move |(
                event_id,
                event_type,
                key,
                seq,
                causation_id,
                observed_us,
                partition,
                position,
            )| {
                let event_id = if keyed {
                    format!("{key}/{event_id}")
                } else {
                    event_id
                };
                Observation {
                    topic: super::topic_of(event_type).into(),
                    event_type: event_type.into(),
                    event_id,
                    key,
                    seq,
                    causation_id,
                    produced_us: None,
                    observed_us,
                    partition,
                    position,
                }
            },
        )
}

/// Any small history (see [`any_observation`] for `keyed`).
pub fn any_history(keyed: bool) -> impl Strategy<Value = History> {
    let send = ("o-[0-4]", time(), proptest::option::of(time()), 0usize..4).prop_map(
        |(order_id, intended_us, sent_us, outcome)| check::SendRecord {
            order_id,
            intended_us,
            sent_us,
            acked_us: sent_us,
            outcome: [
                check::SendOutcome::Acked,
                check::SendOutcome::Rejected,
                check::SendOutcome::Error,
                check::SendOutcome::Dropped,
            ][outcome],
            error: None,
        },
    );
    let fault = (time(), time()).prop_map(|(start_us, end_us)| check::FaultRecord {
        id: "f".into(),
        kind: check::FaultKind::Kill,
        target: "t".into(),
        start_us,
        end_us,
    });
    let lag = (time(), "[ab]", any::<u64>()).prop_map(|(t_us, group, lag)| check::LagSample {
        t_us,
        group,
        lag,
        pending: None,
        positions: Vec::new(),
    });
    let stock =
        (any::<i64>(), any::<i64>(), any::<i64>()).prop_map(|(available, reserved, initial)| {
            check::StockLine {
                sku: "s".into(),
                shard: 0,
                available,
                reserved,
                initial,
            }
        });
    let meta = (time(), time(), any::<bool>(), guarantee()).prop_map(
        |(warmup_end_us, load_end_us, complete, guarantee)| check::Meta {
            complete,
            warmup_end_us,
            load_end_us,
            ..super::meta(guarantee, 0)
        },
    );
    (
        proptest::option::of(meta),
        proptest::collection::vec(send, 0..8),
        proptest::collection::vec(any_observation(keyed), 0..16),
        proptest::collection::vec(fault, 0..3),
        proptest::collection::vec(lag, 0..6),
        proptest::collection::vec(stock, 0..3),
    )
        .prop_map(|(meta, sends, observations, faults, lags, stock)| History {
            meta,
            sends,
            observations,
            faults,
            lags,
            stock,
            ..History::default()
        })
}
