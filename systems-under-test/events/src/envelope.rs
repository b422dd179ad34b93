//! The envelope every event carries on both backends, and the conversions between it
//! and [`Event`]: encoding writes the current schema version, decoding dispatches on
//! `event_type` and `schema_version` and upcasts old versions.

use serde::{Deserialize, Serialize};
use time::OffsetDateTime;
use uuid::Uuid;

use crate::event::{Event, EventType, PayloadView};
use crate::payloads::{
    AlertTriggered, LowStockAlert, MetricUpdated, NotificationSent, OrderCancelled, OrderConfirmed,
    OrderPlaced, OrderPlacedV1, OrderShipped, PaymentCaptured, PaymentFailed, ShipmentCreated,
    StockRejected, StockReleased, StockReserved, StockUpdated,
};

/// Who emitted an event: the service and the instance (`payment`, 0).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Source {
    pub service: String,
    pub instance: u32,
}

/// The envelope of every event (DESIGN.md, "The reference system under test").
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Envelope {
    pub event_id: Uuid,
    pub event_type: String,
    pub schema_version: u32,
    pub source: Source,
    #[serde(with = "time::serde::rfc3339")]
    pub occurred_at: OffsetDateTime,
    /// The ordering key (the order id): partition key on Kafka, per-key order check.
    pub key: String,
    /// Per-key sequence number, stamped by the producer of the key's first event and
    /// carried on, so the checker can detect reordering.
    pub seq: u64,
    /// The order this event belongs to.
    pub correlation_id: String,
    /// The event that caused this one (`None` for the first event of an order).
    pub causation_id: Option<Uuid>,
    pub payload: serde_json::Value,
}

/// Why an envelope's payload could not be turned into an [`Event`].
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum DecodeError {
    /// `event_type` names no event in the catalog (a foreign producer, or a poison
    /// message). Example: `"OrderPlacd"`.
    #[error("unknown event type {event_type:?}")]
    UnknownEventType { event_type: String },
    /// The event type is known but not at this schema version. Example: `OrderPlaced`
    /// v3, written by a newer producer than this consumer.
    #[error(
        "{event_type} schema version {version} is not supported (supported: {})",
        list_versions(supported)
    )]
    UnsupportedVersion {
        event_type: EventType,
        version: u32,
        supported: &'static [u32],
    },
    /// The payload does not match the schema of its type and version. `detail` names
    /// the field: ``missing field `sku` ``, ``unknown field `colour` ``,
    /// ``invalid type: string "two", expected u32``.
    #[error("{event_type} v{version} payload does not match its schema: {detail}")]
    BadPayload {
        event_type: EventType,
        version: u32,
        detail: String,
    },
}

fn list_versions(versions: &[u32]) -> String {
    versions
        .iter()
        .map(u32::to_string)
        .collect::<Vec<_>>()
        .join(", ")
}

impl Event {
    /// The payload at the current schema version of its type
    /// ([`EventType::current_version`]).
    pub fn to_payload(&self) -> serde_json::Value {
        to_value(&PayloadView(self))
    }

    /// Decodes a payload written as `event_type` at `schema_version`; old versions are
    /// upcast to the current payload struct. Never panics, whatever the input.
    pub fn from_payload(
        event_type: &str,
        schema_version: u32,
        payload: &serde_json::Value,
    ) -> Result<Event, DecodeError> {
        let ty: EventType = event_type
            .parse()
            .map_err(|_| DecodeError::UnknownEventType {
                event_type: event_type.to_owned(),
            })?;
        if !ty.supported_versions().contains(&schema_version) {
            return Err(DecodeError::UnsupportedVersion {
                event_type: ty,
                version: schema_version,
                supported: ty.supported_versions(),
            });
        }
        let bad = |error: serde_json::Error| DecodeError::BadPayload {
            event_type: ty,
            version: schema_version,
            detail: error.to_string(),
        };
        let event = match (ty, schema_version) {
            (EventType::OrderPlaced, 1) => {
                Event::OrderPlaced(OrderPlacedV1::deserialize(payload).map_err(bad)?.into())
            }
            (EventType::OrderPlaced, _) => OrderPlaced::deserialize(payload).map_err(bad)?.into(),
            (EventType::OrderConfirmed, _) => {
                OrderConfirmed::deserialize(payload).map_err(bad)?.into()
            }
            (EventType::OrderCancelled, _) => {
                OrderCancelled::deserialize(payload).map_err(bad)?.into()
            }
            (EventType::StockReserved, _) => {
                StockReserved::deserialize(payload).map_err(bad)?.into()
            }
            (EventType::StockRejected, _) => {
                StockRejected::deserialize(payload).map_err(bad)?.into()
            }
            (EventType::StockReleased, _) => {
                StockReleased::deserialize(payload).map_err(bad)?.into()
            }
            (EventType::StockUpdated, _) => StockUpdated::deserialize(payload).map_err(bad)?.into(),
            (EventType::LowStockAlert, _) => {
                LowStockAlert::deserialize(payload).map_err(bad)?.into()
            }
            (EventType::PaymentCaptured, _) => {
                PaymentCaptured::deserialize(payload).map_err(bad)?.into()
            }
            (EventType::PaymentFailed, _) => {
                PaymentFailed::deserialize(payload).map_err(bad)?.into()
            }
            (EventType::ShipmentCreated, _) => {
                ShipmentCreated::deserialize(payload).map_err(bad)?.into()
            }
            (EventType::OrderShipped, _) => OrderShipped::deserialize(payload).map_err(bad)?.into(),
            (EventType::NotificationSent, _) => {
                NotificationSent::deserialize(payload).map_err(bad)?.into()
            }
            (EventType::MetricUpdated, _) => {
                MetricUpdated::deserialize(payload).map_err(bad)?.into()
            }
            (EventType::AlertTriggered, _) => {
                AlertTriggered::deserialize(payload).map_err(bad)?.into()
            }
        };
        Ok(event)
    }
}

/// Payload structs have string keys and no fallible `Serialize` impls, so converting
/// them to a JSON value cannot fail (a non-finite `f64` becomes `null`, not an error).
fn to_value<T: Serialize>(payload: &T) -> serde_json::Value {
    serde_json::to_value(payload).expect("payload structs always convert to JSON values")
}

impl Envelope {
    /// Wraps `event` at its current schema version. Every envelope field is passed in,
    /// ids included: the services derive them deterministically, so a retry rebuilds
    /// the same envelope.
    #[expect(
        clippy::too_many_arguments,
        reason = "one argument per envelope field, in the order the brief fixed"
    )]
    pub fn new(
        event: &Event,
        source: Source,
        key: impl Into<String>,
        seq: u64,
        correlation_id: impl Into<String>,
        causation_id: Option<Uuid>,
        occurred_at: OffsetDateTime,
        event_id: Uuid,
    ) -> Envelope {
        let event_type = event.event_type();
        Envelope {
            event_id,
            event_type: event_type.as_str().to_owned(),
            schema_version: event_type.current_version(),
            source,
            occurred_at,
            key: key.into(),
            seq,
            correlation_id: correlation_id.into(),
            causation_id,
            payload: event.to_payload(),
        }
    }

    /// An `OrderPlaced` written at schema version 1, for tests and harness workloads
    /// that exercise the upcaster. Production code writes v2 through [`Envelope::new`].
    #[expect(
        clippy::too_many_arguments,
        reason = "one argument per envelope field, as in Envelope::new"
    )]
    pub fn new_v1_order_placed(
        order: &OrderPlacedV1,
        source: Source,
        key: impl Into<String>,
        seq: u64,
        correlation_id: impl Into<String>,
        causation_id: Option<Uuid>,
        occurred_at: OffsetDateTime,
        event_id: Uuid,
    ) -> Envelope {
        Envelope {
            event_id,
            event_type: EventType::OrderPlaced.as_str().to_owned(),
            schema_version: 1,
            source,
            occurred_at,
            key: key.into(),
            seq,
            correlation_id: correlation_id.into(),
            causation_id,
            payload: to_value(order),
        }
    }

    /// The payload as an [`Event`], upcast to the current schema version.
    pub fn decode(&self) -> Result<Event, DecodeError> {
        Event::from_payload(&self.event_type, self.schema_version, &self.payload)
    }

    /// Encodes as JSON bytes (what goes on the wire on both backends).
    pub fn to_bytes(&self) -> Result<Vec<u8>, serde_json::Error> {
        serde_json::to_vec(self)
    }

    pub fn from_bytes(bytes: &[u8]) -> Result<Self, serde_json::Error> {
        serde_json::from_slice(bytes)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn envelope_round_trips_through_json() {
        let envelope = Envelope {
            event_id: Uuid::from_u128(7),
            event_type: "OrderPlaced".into(),
            schema_version: 2,
            source: Source {
                service: "order".into(),
                instance: 0,
            },
            occurred_at: OffsetDateTime::from_unix_timestamp(1_700_000_000).expect("time"),
            key: "o-17".into(),
            seq: 1,
            correlation_id: "o-17".into(),
            causation_id: None,
            payload: serde_json::json!({"sku": "sku-3", "quantity": 2}),
        };
        let bytes = envelope.to_bytes().expect("encode");
        let text = String::from_utf8(bytes.clone()).expect("utf8");
        assert!(
            text.contains("\"occurred_at\":\"2023-11-14T22:13:20Z\""),
            "{text}"
        );
        assert_eq!(Envelope::from_bytes(&bytes).expect("decode"), envelope);
    }

    #[test]
    fn decode_error_messages_name_type_version_and_field() {
        let err = Event::from_payload("OrderPlaced", 3, &serde_json::json!({})).unwrap_err();
        assert_eq!(
            err.to_string(),
            "OrderPlaced schema version 3 is not supported (supported: 1, 2)"
        );
        let err = Event::from_payload("OrderPlaced", 1, &serde_json::json!({"order_id": "o-1"}))
            .unwrap_err();
        assert_eq!(
            err.to_string(),
            "OrderPlaced v1 payload does not match its schema: missing field `customer_id`"
        );
    }
}
