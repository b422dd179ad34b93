//! Encoding and decoding: every example round-trips, v1 `OrderPlaced` is upcast.

use events::{
    Currency, Envelope, Event, EventType, OrderPlaced, SalesChannel, V1_DEFAULT_CHANNEL,
    V1_DEFAULT_CURRENCY, example, example_event, example_v1_order_placed,
};

#[test]
fn every_example_round_trips_through_the_wire() {
    for t in EventType::ALL {
        let envelope = example(t);
        assert_eq!(envelope.schema_version, t.current_version(), "{t}");
        let bytes = envelope.to_bytes().expect("encode");
        let back = Envelope::from_bytes(&bytes).expect("envelope decodes");
        assert_eq!(back, envelope, "{t}");
        assert_eq!(back.decode(), Ok(example_event(t)), "{t}");
    }
}

#[test]
fn envelope_new_stamps_type_version_and_topic() {
    let event = example_event(EventType::PaymentFailed);
    let envelope = example(EventType::PaymentFailed);
    assert_eq!(envelope.event_type, "PaymentFailed");
    assert_eq!(envelope.schema_version, 1);
    assert_eq!(event.topic().as_str(), "payments");
    assert_eq!(envelope.payload, event.to_payload());
    assert_eq!(event.order_id(), Some("o-1044"));
}

#[test]
fn order_placed_is_written_as_v2() {
    let envelope = example(EventType::OrderPlaced);
    assert_eq!(envelope.schema_version, 2);
    assert_eq!(envelope.payload["currency"], "EUR");
    assert_eq!(envelope.payload["channel"], "mobile");
}

#[test]
fn v1_order_placed_decodes_and_upcasts_with_the_documented_defaults() {
    let envelope = example_v1_order_placed();
    assert_eq!(envelope.event_type, "OrderPlaced");
    assert_eq!(envelope.schema_version, 1);
    assert!(envelope.payload.get("currency").is_none());
    assert!(envelope.payload.get("channel").is_none());

    let expected = OrderPlaced {
        order_id: "o-1041".into(),
        customer_id: "c-12".into(),
        sku: "sku-8".into(),
        quantity: 1,
        amount_cents: 1_999,
        currency: Currency::Eur,
        channel: SalesChannel::Web,
    };
    assert_eq!(V1_DEFAULT_CURRENCY, Currency::Eur);
    assert_eq!(V1_DEFAULT_CHANNEL, SalesChannel::Web);
    let bytes = envelope.to_bytes().expect("encode");
    let decoded = Envelope::from_bytes(&bytes).expect("envelope").decode();
    assert_eq!(decoded, Ok(Event::OrderPlaced(expected)));
}

#[test]
fn re_encoding_an_upcast_v1_event_writes_v2() {
    let v1 = example_v1_order_placed();
    let event = v1.decode().expect("v1 decodes");
    let v2 = Envelope::new(
        &event,
        v1.source.clone(),
        v1.key.clone(),
        v1.seq,
        v1.correlation_id.clone(),
        v1.causation_id,
        v1.occurred_at,
        v1.event_id,
    );
    assert_eq!(v2.schema_version, 2);
    assert_eq!(v2.payload["currency"], "EUR");
    assert_eq!(v2.decode(), Ok(event));
}

#[test]
fn v2_payload_is_not_accepted_as_v1() {
    // v1 rejects unknown fields, so a v2 payload mislabelled v1 is caught, not truncated.
    let mut envelope = example(EventType::OrderPlaced);
    envelope.schema_version = 1;
    let err = envelope.decode().expect_err("v2 fields are unknown to v1");
    assert!(
        err.to_string()
            .contains("OrderPlaced v1 payload does not match its schema: unknown field"),
        "{err}"
    );
}
