//! The catalog table describes the payloads the code really writes.

use std::collections::BTreeSet;

use events::{EventType, Topic, example, example_v1_order_placed};

fn keys(payload: &serde_json::Value) -> BTreeSet<String> {
    payload
        .as_object()
        .expect("payloads are objects")
        .keys()
        .cloned()
        .collect()
}

#[test]
fn field_tables_match_the_serialized_payloads() {
    for t in EventType::ALL {
        let documented: BTreeSet<String> =
            t.spec().fields.iter().map(|f| f.name.to_owned()).collect();
        assert_eq!(
            documented.len(),
            t.spec().fields.len(),
            "{t}: duplicate field"
        );
        assert_eq!(keys(&example(t).payload), documented, "{t}");
    }
    let v1: BTreeSet<String> = events::catalog::ORDER_PLACED_V1_FIELDS
        .iter()
        .map(|f| f.name.to_owned())
        .collect();
    assert_eq!(keys(&example_v1_order_placed().payload), v1);
}

#[test]
fn topics_are_as_designed() {
    let on = |topic: Topic| -> Vec<&str> { topic.event_types().map(EventType::as_str).collect() };
    assert_eq!(
        on(Topic::Orders),
        ["OrderPlaced", "OrderConfirmed", "OrderCancelled"]
    );
    assert_eq!(
        on(Topic::Inventory),
        [
            "StockReserved",
            "StockRejected",
            "StockReleased",
            "StockUpdated",
            "LowStockAlert"
        ]
    );
    assert_eq!(on(Topic::Payments), ["PaymentCaptured", "PaymentFailed"]);
    assert_eq!(on(Topic::Shipping), ["ShipmentCreated", "OrderShipped"]);
    assert_eq!(on(Topic::Notifications), ["NotificationSent"]);
    assert_eq!(on(Topic::Analytics), ["MetricUpdated", "AlertTriggered"]);
}

#[test]
fn nobody_consumes_their_own_events_and_analytics_sees_everything_else() {
    for t in EventType::ALL {
        let spec = t.spec();
        assert!(!spec.consumed_by.contains(&spec.emitted_by), "{t}");
        if spec.emitted_by != events::service::ANALYTICS {
            assert!(
                spec.consumed_by.contains(&events::service::ANALYTICS),
                "{t}"
            );
        }
    }
}
