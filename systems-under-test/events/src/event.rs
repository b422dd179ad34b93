//! [`Event`] (a decoded payload), [`EventType`] (its name on the wire) and [`Topic`]
//! (the stream or topic it is published on).

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};

use crate::payloads::{
    AlertTriggered, LowStockAlert, MetricUpdated, NotificationSent, OrderCancelled, OrderConfirmed,
    OrderPlaced, OrderShipped, PaymentCaptured, PaymentFailed, ShipmentCreated, StockRejected,
    StockReleased, StockReserved, StockUpdated,
};

/// Declares [`EventType`] and [`Event`] from one list, so the two cannot drift: each
/// event type has exactly one variant in each, named like its payload struct.
macro_rules! event_catalog {
    ($($name:ident),+ $(,)?) => {
        /// The name of an event type, as written in `Envelope::event_type`.
        ///
        /// Serializes as its name (`"OrderPlaced"`), like [`EventType::as_str`].
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
        pub enum EventType {
            $($name,)+
        }

        impl EventType {
            /// Every event type, in flow order (orders, inventory, payments, shipping,
            /// notifications, analytics).
            pub const ALL: [EventType; [$(stringify!($name)),+].len()] = [$(EventType::$name,)+];

            /// The name on the wire (`"OrderPlaced"`).
            pub const fn as_str(self) -> &'static str {
                match self {
                    $(EventType::$name => stringify!($name),)+
                }
            }
        }

        /// A decoded event: one variant per event type, holding its payload at the
        /// current schema version (older versions are upcast when decoded).
        #[derive(Debug, Clone, PartialEq)]
        pub enum Event {
            $($name($name),)+
        }

        impl Event {
            pub fn event_type(&self) -> EventType {
                match self {
                    $(Event::$name(_) => EventType::$name,)+
                }
            }
        }

        $(
            impl From<$name> for Event {
                fn from(payload: $name) -> Self {
                    Event::$name(payload)
                }
            }
        )+

        /// Serializes the payload alone (no tag): what goes in `Envelope::payload`.
        /// Kept private so the envelope stays the only wire format.
        pub(crate) struct PayloadView<'a>(pub(crate) &'a Event);

        impl Serialize for PayloadView<'_> {
            fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
                match self.0 {
                    $(Event::$name(payload) => payload.serialize(serializer),)+
                }
            }
        }
    };
}

event_catalog!(
    OrderPlaced,
    OrderConfirmed,
    OrderCancelled,
    StockReserved,
    StockRejected,
    StockReleased,
    StockUpdated,
    LowStockAlert,
    PaymentCaptured,
    PaymentFailed,
    ShipmentCreated,
    OrderShipped,
    NotificationSent,
    MetricUpdated,
    AlertTriggered,
);

impl EventType {
    /// The stream (Redis) or topic (Kafka) this event type is published on.
    pub const fn topic(self) -> Topic {
        use EventType::*;
        match self {
            OrderPlaced | OrderConfirmed | OrderCancelled => Topic::Orders,
            StockReserved | StockRejected | StockReleased | StockUpdated | LowStockAlert => {
                Topic::Inventory
            }
            PaymentCaptured | PaymentFailed => Topic::Payments,
            ShipmentCreated | OrderShipped => Topic::Shipping,
            NotificationSent => Topic::Notifications,
            MetricUpdated | AlertTriggered => Topic::Analytics,
        }
    }

    /// The schema version producers write.
    pub const fn current_version(self) -> u32 {
        match self {
            EventType::OrderPlaced => 2,
            _ => 1,
        }
    }

    /// Every schema version the decoder accepts, oldest first.
    pub const fn supported_versions(self) -> &'static [u32] {
        match self {
            EventType::OrderPlaced => &[1, 2],
            _ => &[1],
        }
    }

    /// The order's business decision: `OrderConfirmed` or `OrderCancelled`. Exactly one
    /// of them must exist per acknowledged order; both, or neither, is an anomaly.
    pub const fn is_order_outcome(self) -> bool {
        matches!(self, EventType::OrderConfirmed | EventType::OrderCancelled)
    }

    /// The last event an order will ever have when the shipping service runs:
    /// `OrderShipped` or `OrderCancelled`.
    ///
    /// `OrderConfirmed` is *not* terminal: shipping reacts to it, so an order that stops
    /// at `OrderConfirmed` is still in flight (or was lost between order and shipping).
    /// The harness waits for a terminal event per order before it stops draining; when
    /// a run has no shipping service, use [`EventType::is_order_outcome`] instead.
    pub const fn is_terminal_for_order(self) -> bool {
        matches!(self, EventType::OrderShipped | EventType::OrderCancelled)
    }
}

impl fmt::Display for EventType {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// An `event_type` string that names no event type in the catalog.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("unknown event type {0:?}")]
pub struct UnknownEventType(pub String);

impl FromStr for EventType {
    type Err = UnknownEventType;

    /// Exact, case-sensitive match on the name (`"OrderPlaced"`).
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        EventType::ALL
            .into_iter()
            .find(|t| t.as_str() == s)
            .ok_or_else(|| UnknownEventType(s.to_owned()))
    }
}

impl Event {
    /// The stream or topic this event is published on.
    pub fn topic(&self) -> Topic {
        self.event_type().topic()
    }

    /// The order the event is about, if any: every order-flow event has one;
    /// `StockUpdated` and `LowStockAlert` have one unless caused by a restock;
    /// `MetricUpdated` and `AlertTriggered` never do.
    pub fn order_id(&self) -> Option<&str> {
        match self {
            Event::OrderPlaced(p) => Some(&p.order_id),
            Event::OrderConfirmed(p) => Some(&p.order_id),
            Event::OrderCancelled(p) => Some(&p.order_id),
            Event::StockReserved(p) => Some(&p.order_id),
            Event::StockRejected(p) => Some(&p.order_id),
            Event::StockReleased(p) => Some(&p.order_id),
            Event::StockUpdated(p) => p.order_id.as_deref(),
            Event::LowStockAlert(p) => p.order_id.as_deref(),
            Event::PaymentCaptured(p) => Some(&p.order_id),
            Event::PaymentFailed(p) => Some(&p.order_id),
            Event::ShipmentCreated(p) => Some(&p.order_id),
            Event::OrderShipped(p) => Some(&p.order_id),
            Event::NotificationSent(p) => Some(&p.order_id),
            Event::MetricUpdated(_) | Event::AlertTriggered(_) => None,
        }
    }
}

/// A logical stream (Redis Streams) or topic (Kafka). The name is logical: a backend
/// may prefix it (per run, per test) but must keep one stream per topic.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Topic {
    Orders,
    Inventory,
    Payments,
    Shipping,
    Notifications,
    Analytics,
}

impl Topic {
    pub const ALL: [Topic; 6] = [
        Topic::Orders,
        Topic::Inventory,
        Topic::Payments,
        Topic::Shipping,
        Topic::Notifications,
        Topic::Analytics,
    ];

    /// The logical name (`"orders"`).
    pub const fn as_str(self) -> &'static str {
        match self {
            Topic::Orders => "orders",
            Topic::Inventory => "inventory",
            Topic::Payments => "payments",
            Topic::Shipping => "shipping",
            Topic::Notifications => "notifications",
            Topic::Analytics => "analytics",
        }
    }

    /// The event types published on this topic, in [`EventType::ALL`] order.
    pub fn event_types(self) -> impl Iterator<Item = EventType> {
        EventType::ALL
            .into_iter()
            .filter(move |t| t.topic() == self)
    }
}

impl fmt::Display for Topic {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A topic name that is not one of [`Topic::ALL`].
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error(
    "unknown topic {0:?} (expected one of orders, inventory, payments, shipping, notifications, analytics)"
)]
pub struct UnknownTopic(pub String);

impl FromStr for Topic {
    type Err = UnknownTopic;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Topic::ALL
            .into_iter()
            .find(|t| t.as_str() == s)
            .ok_or_else(|| UnknownTopic(s.to_owned()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn event_type_names_round_trip_and_match_serde() {
        for t in EventType::ALL {
            assert_eq!(t.as_str().parse::<EventType>(), Ok(t));
            assert_eq!(
                serde_json::to_value(t).expect("serialize"),
                serde_json::Value::String(t.as_str().to_owned())
            );
        }
        assert_eq!(EventType::ALL.len(), 15);
        assert!("orderplaced".parse::<EventType>().is_err());
    }

    #[test]
    fn topics_partition_the_event_types() {
        let mut covered: Vec<EventType> = Topic::ALL
            .into_iter()
            .flat_map(Topic::event_types)
            .collect();
        covered.sort();
        let mut all = EventType::ALL.to_vec();
        all.sort();
        assert_eq!(covered, all);
        for topic in Topic::ALL {
            assert_eq!(topic.as_str().parse::<Topic>(), Ok(topic));
            assert_eq!(
                serde_json::to_value(topic).expect("serialize"),
                serde_json::Value::String(topic.as_str().to_owned())
            );
        }
    }

    #[test]
    fn terminal_and_outcome_sets() {
        let terminal: Vec<_> = EventType::ALL
            .into_iter()
            .filter(|t| t.is_terminal_for_order())
            .collect();
        assert_eq!(
            terminal,
            [EventType::OrderCancelled, EventType::OrderShipped]
        );
        let outcome: Vec<_> = EventType::ALL
            .into_iter()
            .filter(|t| t.is_order_outcome())
            .collect();
        assert_eq!(
            outcome,
            [EventType::OrderConfirmed, EventType::OrderCancelled]
        );
    }

    #[test]
    fn current_version_is_the_newest_supported() {
        for t in EventType::ALL {
            assert_eq!(
                t.supported_versions().last(),
                Some(&t.current_version()),
                "{t}"
            );
        }
    }
}
