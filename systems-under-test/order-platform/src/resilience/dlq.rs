//! The dead-letter record: what failed, where it came from, why, and after how many attempts.
//!
//! Serialized as JSON onto [`dlq_topic`]`(service)`. The original bytes are kept verbatim
//! (as UTF-8 text when valid, base64 otherwise) so a person can inspect or replay them.

use std::fmt;

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as BASE64;
use serde::{Deserialize, Serialize};

use super::poison::Reason;

/// Version of the [`DeadLetter`] JSON layout; bump it when a field changes meaning.
pub const DEAD_LETTER_SCHEMA_VERSION: u32 = 1;

/// The dead-letter topic (Kafka) or stream (Redis) of a service, e.g. `dlq.payment`
/// (defined once, in `events::platform`, so the harness's tap reads the same name).
pub use events::dead_letter_topic as dlq_topic;

/// Errors encoding or decoding dead-letter records.
#[derive(Debug, thiserror::Error)]
pub enum DlqError {
    /// The record could not be serialized.
    #[error("could not encode dead-letter record for topic {topic}")]
    Encode {
        /// The original topic of the failed message.
        topic: String,
        /// The serializer's error.
        #[source]
        source: serde_json::Error,
    },
    /// The bytes are not a dead-letter record.
    #[error("could not decode dead-letter record")]
    Decode(#[source] serde_json::Error),
    /// The payload was marked base64 but is not valid base64.
    #[error("dead-letter payload is not valid base64")]
    Base64(#[source] base64::DecodeError),
}

/// Where the failed message sat in its topic or stream.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum Position {
    /// A Kafka record: `{"kind":"kafka_offset","partition":3,"offset":42}`.
    KafkaOffset {
        /// Partition number.
        partition: i32,
        /// Offset within the partition.
        offset: i64,
    },
    /// A Redis Streams entry: `{"kind":"stream_id","id":"1700000000000-0"}`.
    StreamId {
        /// The entry id.
        id: String,
    },
}

impl fmt::Display for Position {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::KafkaOffset { partition, offset } => {
                write!(f, "partition {partition} offset {offset}")
            }
            Self::StreamId { id } => write!(f, "entry {id}"),
        }
    }
}

/// The failed message's raw bytes: `{"encoding":"utf8","data":"{...}"}` or
/// `{"encoding":"base64","data":"3q2+7w=="}`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "encoding", content = "data", rename_all = "snake_case")]
pub enum OriginalPayload {
    /// The bytes were valid UTF-8 and are stored as text.
    Utf8(String),
    /// The bytes were not valid UTF-8 and are stored as standard base64 (with padding).
    Base64(String),
}

impl OriginalPayload {
    /// Stores `bytes` as text when valid UTF-8, base64 otherwise.
    pub fn from_bytes(bytes: &[u8]) -> Self {
        match std::str::from_utf8(bytes) {
            Ok(text) => Self::Utf8(text.to_owned()),
            Err(_) => Self::Base64(BASE64.encode(bytes)),
        }
    }

    /// The original bytes.
    pub fn to_bytes(&self) -> Result<Vec<u8>, DlqError> {
        match self {
            Self::Utf8(text) => Ok(text.as_bytes().to_vec()),
            Self::Base64(encoded) => BASE64.decode(encoded).map_err(DlqError::Base64),
        }
    }
}

/// The category of a dead-letter [`Reason`], for filtering and metric labels.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ReasonKind {
    /// See [`Reason::Undecodable`].
    Undecodable,
    /// See [`Reason::TooManyAttempts`].
    TooManyAttempts,
    /// See [`Reason::Rejected`].
    Rejected,
    /// The input came before the state its decision needs (e.g. `PaymentCaptured` for an
    /// order the service has not seen yet) and that state did not arrive within the
    /// wait bound. Not poison: the input was valid; the service's view stayed behind.
    StateTimeout,
}

impl ReasonKind {
    /// The name on the wire and in the harness's history (`too_many_attempts`).
    pub const fn name(self) -> &'static str {
        match self {
            Self::Undecodable => "undecodable",
            Self::TooManyAttempts => "too_many_attempts",
            Self::Rejected => "rejected",
            Self::StateTimeout => "state_timeout",
        }
    }
}

/// Why the message was dead-lettered: a machine-readable kind and a human-readable message.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct DeadLetterReason {
    /// The category.
    pub kind: ReasonKind,
    /// The [`Reason`]'s `Display`, e.g. `failed 5 times; last error: gateway timeout`.
    pub message: String,
}

impl From<&Reason> for DeadLetterReason {
    fn from(reason: &Reason) -> Self {
        let kind = match reason {
            Reason::Undecodable(_) => ReasonKind::Undecodable,
            Reason::TooManyAttempts { .. } => ReasonKind::TooManyAttempts,
            Reason::Rejected(_) => ReasonKind::Rejected,
        };
        Self {
            kind,
            message: reason.to_string(),
        }
    }
}

/// One dead-lettered message, as published on [`dlq_topic`].
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct DeadLetter {
    /// [`DEAD_LETTER_SCHEMA_VERSION`] when written, so readers can tell layouts apart.
    pub schema_version: u32,
    /// The service that gave up, e.g. `payment`.
    pub service: String,
    /// The instance that gave up, e.g. `payment#1`, to find its logs.
    pub instance: String,
    /// The topic or stream the message was read from.
    pub original_topic: String,
    /// Where in that topic or stream, so it can be found or replayed.
    pub original_position: Position,
    /// The bytes as received, even when they do not decode.
    pub original_payload: OriginalPayload,
    /// Why it was dead-lettered.
    pub reason: DeadLetterReason,
    /// Processing attempts made (deliveries for undecodable messages).
    pub attempts: u32,
    /// RFC 3339 time of the first failure (the dead-letter time if the first is unknown).
    pub first_failed_at: String,
    /// RFC 3339 time the record was written.
    pub dead_lettered_at: String,
    /// The envelope's `event_id` when it could be read, so the harness can match it to its ack.
    pub original_event_id: Option<String>,
}

impl DeadLetter {
    /// Serializes the record as JSON bytes.
    pub fn to_json(&self) -> Result<Vec<u8>, DlqError> {
        serde_json::to_vec(self).map_err(|source| DlqError::Encode {
            topic: self.original_topic.clone(),
            source,
        })
    }

    /// The failed input's own `key` (the order id) when its bytes are a JSON object
    /// with one: an envelope, even one whose payload did not decode.
    pub fn original_key(&self) -> Option<String> {
        let bytes = self.original_payload.to_bytes().ok()?;
        let value: serde_json::Value = serde_json::from_slice(&bytes).ok()?;
        value.get("key")?.as_str().map(str::to_owned)
    }

    /// Parses a record from JSON bytes; unknown fields are ignored for forward compatibility.
    pub fn from_json(bytes: &[u8]) -> Result<Self, DlqError> {
        serde_json::from_slice(bytes).map_err(DlqError::Decode)
    }
}

/// The top-level `event_id` string of a JSON payload, if there is one — useful when the
/// envelope parses but its `payload` does not, to fill [`DeadLetter::original_event_id`].
pub fn sniff_event_id(raw: &[u8]) -> Option<String> {
    let value: serde_json::Value = serde_json::from_slice(raw).ok()?;
    value.get("event_id")?.as_str().map(str::to_owned)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn record(payload: &[u8]) -> DeadLetter {
        let reason = Reason::TooManyAttempts {
            attempts: 5,
            last_error: Some("timeout".into()),
        };
        DeadLetter {
            schema_version: DEAD_LETTER_SCHEMA_VERSION,
            service: "payment".into(),
            instance: "payment#1".into(),
            original_topic: "inventory.events".into(),
            original_position: Position::KafkaOffset {
                partition: 3,
                offset: 42,
            },
            original_payload: OriginalPayload::from_bytes(payload),
            reason: DeadLetterReason::from(&reason),
            attempts: 5,
            first_failed_at: "2025-01-02T03:04:05Z".into(),
            dead_lettered_at: "2025-01-02T03:04:09.5Z".into(),
            original_event_id: sniff_event_id(payload),
        }
    }

    #[test]
    fn reason_kind_names_are_the_wire_names() {
        for kind in [
            ReasonKind::Undecodable,
            ReasonKind::TooManyAttempts,
            ReasonKind::Rejected,
            ReasonKind::StateTimeout,
        ] {
            let json = serde_json::to_string(&kind).unwrap_or_default();
            assert_eq!(json, format!("\"{}\"", kind.name()));
        }
        let dl = record(br#"{"event_id":"e-1","key":"o-9","payload":{}}"#);
        assert_eq!(dl.original_key().as_deref(), Some("o-9"));
        assert_eq!(record(b"\xff").original_key(), None);
    }

    #[test]
    fn topic_name() {
        assert_eq!(dlq_topic("payment"), "dlq.payment");
    }

    #[test]
    fn round_trips_text_payload_and_pins_the_wire_format() -> Result<(), DlqError> {
        let dl = record(br#"{"event_id":"e-1","payload":{}}"#);
        assert_eq!(dl.original_event_id.as_deref(), Some("e-1"));
        let json = dl.to_json()?;
        assert_eq!(DeadLetter::from_json(&json)?, dl);
        let value: serde_json::Value = serde_json::from_slice(&json).map_err(DlqError::Decode)?;
        assert_eq!(
            value,
            serde_json::json!({
                "schema_version": 1,
                "service": "payment",
                "instance": "payment#1",
                "original_topic": "inventory.events",
                "original_position": {"kind": "kafka_offset", "partition": 3, "offset": 42},
                "original_payload": {
                    "encoding": "utf8",
                    "data": r#"{"event_id":"e-1","payload":{}}"#,
                },
                "reason": {
                    "kind": "too_many_attempts",
                    "message": "failed 5 times; last error: timeout",
                },
                "attempts": 5,
                "first_failed_at": "2025-01-02T03:04:05Z",
                "dead_lettered_at": "2025-01-02T03:04:09.5Z",
                "original_event_id": "e-1",
            })
        );
        Ok(())
    }

    #[test]
    fn round_trips_binary_payload_as_base64() -> Result<(), DlqError> {
        let raw = [0xde, 0xad, 0xbe, 0xef, 0xff];
        let mut dl = record(&raw);
        dl.original_position = Position::StreamId {
            id: "1700000000000-0".into(),
        };
        dl.reason = DeadLetterReason::from(&Reason::Undecodable("not UTF-8".into()));
        assert_eq!(
            dl.original_payload,
            OriginalPayload::Base64("3q2+7/8=".into())
        );
        assert_eq!(dl.original_event_id, None);
        let back = DeadLetter::from_json(&dl.to_json()?)?;
        assert_eq!(back.original_payload.to_bytes()?, raw);
        assert_eq!(back, dl);
        Ok(())
    }

    #[test]
    fn bad_input_is_an_error_not_a_panic() {
        assert!(matches!(
            DeadLetter::from_json(b"{not json"),
            Err(DlqError::Decode(_))
        ));
        let bad = OriginalPayload::Base64("***".into());
        assert!(matches!(bad.to_bytes(), Err(DlqError::Base64(_))));
        assert_eq!(sniff_event_id(b"\xff"), None);
        assert_eq!(sniff_event_id(br#"{"event_id": 7}"#), None);
        assert_eq!(sniff_event_id(br#"["e-1"]"#), None);
    }
}
