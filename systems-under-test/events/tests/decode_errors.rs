//! The decoder names what is wrong, and never panics.

use events::{DecodeError, Envelope, Event, EventType, example};
use proptest::prelude::*;
use serde_json::{Value, json};

#[test]
fn unknown_event_type_is_named() {
    let mut envelope = example(EventType::OrderPlaced);
    envelope.event_type = "OrderPlacd".into();
    let err = envelope.decode().expect_err("unknown type");
    assert_eq!(
        err,
        DecodeError::UnknownEventType {
            event_type: "OrderPlacd".into()
        }
    );
    assert_eq!(err.to_string(), "unknown event type \"OrderPlacd\"");
}

#[test]
fn unsupported_version_names_type_version_and_supported_ones() {
    let mut envelope = example(EventType::StockReserved);
    envelope.schema_version = 2;
    assert_eq!(
        envelope.decode(),
        Err(DecodeError::UnsupportedVersion {
            event_type: EventType::StockReserved,
            version: 2,
            supported: &[1],
        })
    );
    let err = Event::from_payload("OrderPlaced", 0, &json!({})).expect_err("v0");
    assert_eq!(
        err.to_string(),
        "OrderPlaced schema version 0 is not supported (supported: 1, 2)"
    );
}

fn bad_payload(envelope: &Envelope) -> (EventType, u32, String) {
    match envelope.decode() {
        Err(DecodeError::BadPayload {
            event_type,
            version,
            detail,
        }) => (event_type, version, detail),
        other => panic!("expected BadPayload, got {other:?}"),
    }
}

#[test]
fn malformed_payloads_name_the_field() {
    let mut missing = example(EventType::PaymentCaptured);
    missing
        .payload
        .as_object_mut()
        .expect("object")
        .remove("charge_id");
    let (t, v, detail) = bad_payload(&missing);
    assert_eq!((t, v), (EventType::PaymentCaptured, 1));
    assert!(detail.contains("missing field `charge_id`"), "{detail}");

    let mut wrong_type = example(EventType::OrderPlaced);
    wrong_type.payload["quantity"] = json!("two");
    let (t, v, detail) = bad_payload(&wrong_type);
    assert_eq!((t, v), (EventType::OrderPlaced, 2));
    assert!(detail.contains("invalid type: string \"two\""), "{detail}");

    let mut unknown = example(EventType::ShipmentCreated);
    unknown.payload["colour"] = json!("red");
    let (_, _, detail) = bad_payload(&unknown);
    assert!(detail.contains("unknown field `colour`"), "{detail}");

    let mut bad_enum = example(EventType::NotificationSent);
    bad_enum.payload["channel"] = json!("pigeon");
    let (_, _, detail) = bad_payload(&bad_enum);
    assert!(detail.contains("unknown variant `pigeon`"), "{detail}");

    let mut negative = example(EventType::OrderPlaced);
    negative.payload["amount_cents"] = json!(-5);
    bad_payload(&negative);

    let mut not_an_object = example(EventType::OrderCancelled);
    not_an_object.payload = json!([1, 2, 3]);
    bad_payload(&not_an_object);

    let mut null = example(EventType::AlertTriggered);
    null.payload = Value::Null;
    bad_payload(&null);
}

#[test]
fn non_finite_metric_values_fail_to_decode_instead_of_panicking() {
    let mut envelope = example(EventType::MetricUpdated);
    if let Ok(Event::MetricUpdated(mut metric)) = envelope.decode() {
        metric.value = f64::NAN;
        envelope.payload = Event::MetricUpdated(metric).to_payload();
    }
    assert_eq!(envelope.payload["value"], Value::Null);
    bad_payload(&envelope);
}

/// Any JSON value: scalars, then arrays and objects of them, a few levels deep.
fn any_json() -> impl Strategy<Value = Value> {
    let leaf = prop_oneof![
        Just(Value::Null),
        any::<bool>().prop_map(Value::Bool),
        any::<i64>().prop_map(Value::from),
        any::<u64>().prop_map(Value::from),
        any::<f64>().prop_map(Value::from),
        ".{0,12}".prop_map(Value::String),
    ];
    leaf.prop_recursive(4, 48, 8, |inner| {
        prop_oneof![
            prop::collection::vec(inner.clone(), 0..6).prop_map(Value::Array),
            prop::collection::btree_map(field_name(), inner, 0..8)
                .prop_map(|m| Value::Object(m.into_iter().collect())),
        ]
    })
}

/// Field names, biased towards real ones so payloads get past the first missing field.
fn field_name() -> impl Strategy<Value = String> {
    let real: Vec<&'static str> = EventType::ALL
        .into_iter()
        .flat_map(|t| t.spec().fields.iter().map(|f| f.name))
        .collect();
    prop_oneof![
        prop::sample::select(real).prop_map(str::to_owned),
        ".{0,10}"
    ]
}

fn event_type_name() -> impl Strategy<Value = String> {
    prop_oneof![
        prop::sample::select(EventType::ALL.to_vec()).prop_map(|t| t.as_str().to_owned()),
        ".{0,20}",
    ]
}

/// An example payload with one field replaced by an arbitrary value: close to valid, so
/// the decoder's deeper paths run too.
fn mutated_example() -> impl Strategy<Value = (EventType, Value)> {
    (
        prop::sample::select(EventType::ALL.to_vec()),
        any::<prop::sample::Index>(),
        any_json(),
    )
        .prop_map(|(t, index, value)| {
            let mut payload = example(t).payload;
            if let Some(object) = payload.as_object_mut() {
                let keys: Vec<String> = object.keys().cloned().collect();
                let key = index.get(&keys).clone();
                object.insert(key, value);
            }
            (t, payload)
        })
}

proptest! {
    #[test]
    fn arbitrary_input_never_panics_the_decoder(
        event_type in event_type_name(),
        version in prop_oneof![0u32..4, any::<u32>()],
        payload in any_json(),
    ) {
        match Event::from_payload(&event_type, version, &payload) {
            Ok(event) => prop_assert_eq!(event.event_type().as_str(), event_type.as_str()),
            Err(DecodeError::UnknownEventType { event_type: named }) => {
                prop_assert_eq!(named, event_type.clone());
                prop_assert!(event_type.parse::<EventType>().is_err());
            }
            Err(DecodeError::UnsupportedVersion { event_type: t, version: v, .. }) => {
                prop_assert_eq!(t.as_str(), event_type.as_str());
                prop_assert_eq!(v, version);
            }
            Err(DecodeError::BadPayload { event_type: t, version: v, .. }) => {
                prop_assert_eq!(t.as_str(), event_type.as_str());
                prop_assert_eq!(v, version);
            }
        }
    }

    #[test]
    fn near_valid_payloads_decode_or_fail_cleanly((t, payload) in mutated_example()) {
        match Event::from_payload(t.as_str(), t.current_version(), &payload) {
            Ok(event) => prop_assert_eq!(event.event_type(), t),
            Err(DecodeError::BadPayload { event_type, .. }) => prop_assert_eq!(event_type, t),
            Err(other) => prop_assert!(false, "unexpected {}", other),
        }
    }
}
