//! Facts about the platform that the services, the harness and the checker share, each
//! defined once: the backends, the delivery guarantees, the consuming services and what
//! each one subscribes to, the order flow's steps and its terminal events.
//!
//! The subscriptions are derived from the catalog ([`EventType::spec`]`.consumed_by`), so
//! the lag sampler, the services and `docs/events.md` cannot disagree about who reads
//! which topic; a test in the order platform ties each service's `topics()` to
//! [`Service::subscriptions`].

use crate::event::{EventType, Topic};

/// A value that is not one of an enum's names, with the names it could have been.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("unknown {what} {found:?} (expected one of {})", expected.join(", "))]
pub struct UnknownName {
    /// What was being named (`backend`, `guarantee`, `service`).
    pub what: &'static str,
    pub found: String,
    pub expected: &'static [&'static str],
}

/// A closed set of choices written as fixed names (in files, on command lines, in JSON):
/// the enum with `ALL`, `NAMES`, `name()`, `from_name()`, `Display`, `FromStr` (an
/// [`UnknownName`] error) and serde as the name. The harness's experiment model uses it
/// for its own choices too. The caller needs `serde` as a dependency.
#[macro_export]
macro_rules! named_enum {
    ($what:literal, $(#[$meta:meta])* $name:ident { $($(#[$vmeta:meta])* $variant:ident = $text:literal,)+ }) => {
        $(#[$meta])*
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
        pub enum $name {
            $($(#[$vmeta])* $variant,)+
        }

        impl $name {
            pub const ALL: &'static [$name] = &[$($name::$variant,)+];
            /// The names, in declaration order.
            pub const NAMES: &'static [&'static str] = &[$($text,)+];

            /// The name written in files, flags and JSON.
            pub const fn name(self) -> &'static str {
                match self {
                    $($name::$variant => $text,)+
                }
            }

            pub fn from_name(text: &str) -> Option<Self> {
                match text {
                    $($text => Some($name::$variant),)+
                    _ => None,
                }
            }
        }

        impl ::std::fmt::Display for $name {
            fn fmt(&self, f: &mut ::std::fmt::Formatter<'_>) -> ::std::fmt::Result {
                f.write_str(self.name())
            }
        }

        impl ::std::str::FromStr for $name {
            type Err = $crate::platform::UnknownName;

            fn from_str(s: &str) -> Result<Self, Self::Err> {
                $name::from_name(s).ok_or_else(|| $crate::platform::UnknownName {
                    what: $what,
                    found: s.to_owned(),
                    expected: $name::NAMES,
                })
            }
        }

        impl ::serde::Serialize for $name {
            fn serialize<S: ::serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
                s.serialize_str(self.name())
            }
        }

        impl<'de> ::serde::Deserialize<'de> for $name {
            fn deserialize<D: ::serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
                let text = <String as ::serde::Deserialize>::deserialize(d)?;
                text.parse().map_err(<D::Error as ::serde::de::Error>::custom)
            }
        }
    };
}

named_enum! {
    "backend",
    /// The message broker the events travel on.
    Backend {
        Redis = "redis",
        Kafka = "kafka",
    }
}

named_enum! {
    "guarantee",
    /// How a service acknowledges its inputs relative to its outputs.
    // The names are the delivery modes' own.
    #[allow(clippy::enum_variant_names)]
    Guarantee {
        /// Acknowledge before processing: a crash loses what was in flight.
        AtMostOnce = "at-most-once",
        /// Acknowledge after the outputs are published: a crash redelivers.
        AtLeastOnce = "at-least-once",
        /// Outputs and acknowledgement in one atomic step (Kafka transactions, one Redis
        /// Lua script).
        ExactlyOnce = "exactly-once",
    }
}

named_enum! {
    "service",
    /// The services that consume events (each one a consumer group). The payment gateway
    /// is an HTTP dependency, not a consumer, and is not listed.
    Service {
        Order = "order",
        Inventory = "inventory",
        Payment = "payment",
        Shipping = "shipping",
        Notification = "notification",
        Analytics = "analytics",
    }
}

impl Service {
    /// The topics this service's consumer group reads: every topic that carries an
    /// event type the catalog says it consumes, in [`Topic::ALL`] order.
    pub fn subscriptions(self) -> Vec<Topic> {
        Topic::ALL
            .into_iter()
            .filter(|topic| {
                topic
                    .event_types()
                    .any(|t| t.spec().consumed_by.contains(&self.name()))
            })
            .collect()
    }

    /// The stream or topic the service dead-letters to (logical name).
    pub fn dead_letter_topic(self) -> String {
        dead_letter_topic(self.name())
    }
}

/// The dead-letter stream/topic of a service (logical name): `dlq.<service>`.
pub fn dead_letter_topic(service: &str) -> String {
    format!("dlq.{service}")
}

impl EventType {
    /// A step of the order flow: one logical action on one order. Only steps take part
    /// in `duplicate_effect` and `ordering_violation`; the other types (`StockUpdated`,
    /// `LowStockAlert`, `NotificationSent`, `MetricUpdated`, `AlertTriggered`) are
    /// by-products whose `seq` depends on which input a service happened to read first.
    pub const fn is_step(self) -> bool {
        use EventType::*;
        matches!(
            self,
            OrderPlaced
                | StockReserved
                | StockRejected
                | StockReleased
                | PaymentCaptured
                | PaymentFailed
                | OrderConfirmed
                | OrderCancelled
                | ShipmentCreated
                | OrderShipped
        )
    }
}

impl EventType {
    /// The consumer groups whose processing of this event takes its order a step
    /// further: the services that consume it ([`EventSpec::consumed_by`]) and emit a
    /// step of the order flow. Side consumers (notification, analytics) are left out:
    /// an order does not wait for them. The checker's in-flight rule asks these groups
    /// whether they have processed an order's last observed event.
    ///
    /// [`EventSpec::consumed_by`]: crate::EventSpec::consumed_by
    pub fn advanced_by(self) -> Vec<&'static str> {
        self.spec()
            .consumed_by
            .iter()
            .copied()
            .filter(|service| {
                EventType::ALL
                    .iter()
                    .any(|t| t.is_step() && t.spec().emitted_by == *service)
            })
            .collect()
    }
}

/// Which event types a derived list holds (const fns cannot call function pointers).
#[derive(Clone, Copy)]
enum List {
    Known,
    Steps,
    Terminal,
}

const fn keeps(list: List, t: EventType) -> bool {
    match list {
        List::Known => true,
        List::Steps => t.is_step(),
        List::Terminal => t.is_terminal_for_order(),
    }
}

/// How many of [`EventType::ALL`] the list holds.
const fn count(list: List) -> usize {
    let mut n = 0;
    let mut i = 0;
    while i < EventType::ALL.len() {
        if keeps(list, EventType::ALL[i]) {
            n += 1;
        }
        i += 1;
    }
    n
}

/// The names of the list's event types, in [`EventType::ALL`] order.
const fn names<const N: usize>(list: List) -> [&'static str; N] {
    let mut out = [""; N];
    let (mut i, mut n) = (0, 0);
    while i < EventType::ALL.len() {
        if keeps(list, EventType::ALL[i]) {
            out[n] = EventType::ALL[i].as_str();
            n += 1;
        }
        i += 1;
    }
    out
}

/// Every event type's name (steps and by-products), in catalog order.
pub const KNOWN_TYPES: [&str; count(List::Known)] = names(List::Known);
/// The order flow's steps ([`EventType::is_step`]).
pub const STEP_TYPES: [&str; count(List::Steps)] = names(List::Steps);
/// The last event an order ever has ([`EventType::is_terminal_for_order`]).
pub const TERMINAL_TYPES: [&str; count(List::Terminal)] = names(List::Terminal);

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_round_trip_through_text_and_json() {
        for b in Backend::ALL {
            assert_eq!(b.name().parse::<Backend>(), Ok(*b));
            let json = serde_json::to_string(b).unwrap();
            assert_eq!(serde_json::from_str::<Backend>(&json).unwrap(), *b);
        }
        for g in Guarantee::ALL {
            assert_eq!(g.name().parse::<Guarantee>(), Ok(*g));
            assert_eq!(serde_json::to_string(g).unwrap(), format!("\"{g}\""));
        }
        let err = "exactly-twice".parse::<Guarantee>().unwrap_err();
        assert!(err.to_string().contains("at-least-once"), "{err}");
    }

    #[test]
    fn subscriptions_follow_the_catalog() {
        use Topic::*;
        assert_eq!(Service::Payment.subscriptions(), vec![Inventory]);
        assert_eq!(Service::Shipping.subscriptions(), vec![Orders]);
        assert_eq!(Service::Inventory.subscriptions(), vec![Orders, Payments]);
        assert_eq!(Service::Order.subscriptions(), vec![Inventory, Payments]);
        for s in Service::ALL {
            assert!(!s.subscriptions().is_empty(), "{s} consumes nothing");
        }
    }

    #[test]
    fn derived_type_lists() {
        assert_eq!(KNOWN_TYPES.len(), EventType::ALL.len());
        let mut terminal = TERMINAL_TYPES.to_vec();
        terminal.sort_unstable();
        assert_eq!(terminal, ["OrderCancelled", "OrderShipped"]);
        assert_eq!(STEP_TYPES.len(), 10);
        assert!(STEP_TYPES.contains(&"OrderPlaced"));
        assert!(!STEP_TYPES.contains(&"MetricUpdated"));
        assert_eq!(EventType::OrderPlaced.advanced_by(), ["inventory"]);
        assert_eq!(EventType::StockReserved.advanced_by(), ["payment"]);
        assert_eq!(EventType::PaymentCaptured.advanced_by(), ["order"]);
        assert!(EventType::OrderShipped.advanced_by().is_empty());
        assert!(EventType::NotificationSent.advanced_by().is_empty());
    }
}
