//! The order flow as a saga: which step each step reacts to ([`EventType::caused_by`]),
//! and from that the flow's order — the path an order takes when everything succeeds,
//! then the compensation branch, then the by-products — for reports that list or draw
//! hops (`"Cause->Effect"`) the way an order travels rather than alphabetically.
//!
//! Derived, not listed: the **main** path is every step that leads to a terminal event
//! which is not an order outcome (`OrderShipped`: the order was fulfilled) or that
//! leads to no terminal at all; the **compensation** branch is every other step (those
//! that only lead to the cancelling outcome); **side** events are the by-products
//! (not [`EventType::is_step`]). Within a branch, hops follow their cause's depth (the
//! longest chain of causes back to `OrderPlaced`), then the catalog's order.

use crate::event::EventType;

/// Where a hop or an event type sits in the order flow.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Branch {
    /// The path of an order that succeeds: `OrderPlaced` … `OrderShipped`.
    Main,
    /// The saga's other outcome: rejections, failures and what undoes them.
    Compensation,
    /// By-products (stock updates, notifications, metrics) and unknown event types.
    Side,
}

impl Branch {
    pub const fn name(self) -> &'static str {
        match self {
            Branch::Main => "main",
            Branch::Compensation => "compensation",
            Branch::Side => "side",
        }
    }
}

impl EventType {
    /// The steps whose handling emits this step (its `causation_id`'s type); empty for
    /// `OrderPlaced` (an HTTP request causes it) and for by-products, which any event
    /// their emitter consumes may cause. Each cause is consumed by this type's emitter
    /// (a test checks it against the catalog's `consumed_by`).
    pub const fn caused_by(self) -> &'static [EventType] {
        use EventType::*;
        match self {
            StockReserved | StockRejected => &[OrderPlaced],
            PaymentCaptured | PaymentFailed => &[StockReserved],
            StockReleased => &[PaymentFailed],
            OrderConfirmed => &[PaymentCaptured],
            OrderCancelled => &[StockRejected, StockReleased],
            ShipmentCreated | OrderShipped => &[OrderConfirmed],
            _ => &[],
        }
    }

    /// The longest chain of [`EventType::caused_by`] back to a step without a cause
    /// (`OrderPlaced` 0, `StockReserved` 1, …).
    pub fn depth(self) -> usize {
        self.caused_by()
            .iter()
            .map(|c| c.depth() + 1)
            .max()
            .unwrap_or(0)
    }

    /// Whether `self` is `target` or one of its causes, transitively.
    fn leads_to(self, target: EventType) -> bool {
        self == target || target.caused_by().iter().any(|c| self.leads_to(*c))
    }

    /// The branch of the flow this type is on (see the module docs).
    pub fn branch(self) -> Branch {
        if !self.is_step() {
            return Branch::Side;
        }
        let terminals = EventType::ALL
            .into_iter()
            .filter(|t| t.is_terminal_for_order());
        let (mut fulfils, mut cancels) = (false, false);
        for t in terminals {
            if self.leads_to(t) {
                if t.is_order_outcome() {
                    cancels = true;
                } else {
                    fulfils = true;
                }
            }
        }
        if cancels && !fulfils {
            Branch::Compensation
        } else {
            Branch::Main
        }
    }

    fn catalog_index(self) -> usize {
        EventType::ALL
            .iter()
            .position(|t| *t == self)
            .unwrap_or(usize::MAX)
    }
}

/// A hop's place in the flow: sort hops by it. The branch is the effect's (a
/// by-product's hop is a side hop whatever its cause), then the cause's depth, the
/// effect's depth, and the catalog's order of effect and cause.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub struct FlowKey {
    pub branch: Branch,
    cause_depth: usize,
    effect_depth: usize,
    effect: usize,
    cause: usize,
}

impl FlowKey {
    pub fn of(cause: EventType, effect: EventType) -> FlowKey {
        FlowKey {
            branch: effect.branch(),
            cause_depth: cause.depth(),
            effect_depth: effect.depth(),
            effect: effect.catalog_index(),
            cause: cause.catalog_index(),
        }
    }
}

/// The flow key of a hop named `"Cause->Effect"`; `None` when either side is not a
/// catalog event type (such hops go last, by name).
pub fn hop_key(hop: &str) -> Option<FlowKey> {
    let (cause, effect) = hop.split_once("->")?;
    Some(FlowKey::of(cause.parse().ok()?, effect.parse().ok()?))
}

/// Hop names in flow order: catalog hops by [`hop_key`], then any others by name.
pub fn sort_hops<T>(hops: &mut [(String, T)]) {
    hops.sort_by(|(a, _), (b, _)| match (hop_key(a), hop_key(b)) {
        (Some(x), Some(y)) => x.cmp(&y).then_with(|| a.cmp(b)),
        (Some(_), None) => std::cmp::Ordering::Less,
        (None, Some(_)) => std::cmp::Ordering::Greater,
        (None, None) => a.cmp(b),
    });
}

/// The hops of the order flow the catalog defines: every step and one of its causes,
/// in flow order (main path first, then compensation).
pub fn step_hops() -> Vec<(EventType, EventType)> {
    let mut hops: Vec<(EventType, EventType)> = EventType::ALL
        .into_iter()
        .flat_map(|effect| effect.caused_by().iter().map(move |c| (*c, effect)))
        .collect();
    hops.sort_by_key(|(c, e)| FlowKey::of(*c, *e));
    hops
}

#[cfg(test)]
mod tests {
    use super::*;
    use EventType::*;

    #[test]
    fn every_cause_is_consumed_by_the_emitter() {
        for t in EventType::ALL {
            for cause in t.caused_by() {
                assert!(
                    cause.spec().consumed_by.contains(&t.emitted_by()),
                    "{t:?} is caused by {cause:?}, which {} does not consume",
                    t.emitted_by()
                );
                assert!(cause.is_step() && t.is_step(), "{cause:?} -> {t:?}");
            }
        }
    }

    #[test]
    fn branches_follow_the_saga() {
        let main: Vec<EventType> = EventType::ALL
            .into_iter()
            .filter(|t| t.branch() == Branch::Main)
            .collect();
        assert_eq!(
            main,
            [
                OrderPlaced,
                OrderConfirmed,
                StockReserved,
                PaymentCaptured,
                ShipmentCreated,
                OrderShipped
            ]
        );
        for t in [StockRejected, StockReleased, PaymentFailed, OrderCancelled] {
            assert_eq!(t.branch(), Branch::Compensation, "{t:?}");
        }
        assert_eq!(MetricUpdated.branch(), Branch::Side);
        assert_eq!(OrderPlaced.depth(), 0);
        assert_eq!(OrderShipped.depth(), 4);
        assert_eq!(OrderCancelled.depth(), 4);
    }

    #[test]
    fn hops_sort_in_flow_order() {
        let mut hops: Vec<(String, ())> = [
            "NotificationSent->MetricUpdated",
            "OrderConfirmed->OrderShipped",
            "PaymentFailed->StockReleased",
            "OrderPlaced->StockUpdated",
            "Foo->Bar",
            "StockReserved->PaymentCaptured",
            "OrderConfirmed->ShipmentCreated",
            "OrderPlaced->StockReserved",
            "StockReleased->OrderCancelled",
            "PaymentCaptured->OrderConfirmed",
            "OrderPlaced->StockRejected",
            "StockReserved->PaymentFailed",
        ]
        .map(|h| (h.to_string(), ()))
        .to_vec();
        sort_hops(&mut hops);
        let names: Vec<&str> = hops.iter().map(|(h, _)| h.as_str()).collect();
        assert_eq!(
            names,
            [
                "OrderPlaced->StockReserved",
                "StockReserved->PaymentCaptured",
                "PaymentCaptured->OrderConfirmed",
                "OrderConfirmed->ShipmentCreated",
                "OrderConfirmed->OrderShipped",
                "OrderPlaced->StockRejected",
                "StockReserved->PaymentFailed",
                "PaymentFailed->StockReleased",
                "StockReleased->OrderCancelled",
                "OrderPlaced->StockUpdated",
                "NotificationSent->MetricUpdated",
                "Foo->Bar",
            ]
        );
        assert_eq!(step_hops().len(), 10);
        assert_eq!(step_hops()[0], (OrderPlaced, StockReserved));
    }
}
