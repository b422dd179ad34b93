//! The order platform's event catalog. For now, the envelope every event carries on
//! both backends; the harness relies on the envelope only, so any system that stamps
//! it can be measured.

use serde::{Deserialize, Serialize};
use time::OffsetDateTime;
use uuid::Uuid;

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

impl Envelope {
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
}
