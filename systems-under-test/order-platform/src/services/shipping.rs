//! `shipping`: ships every confirmed order (`ShipmentCreated`, then `OrderShipped`).

use events::{Envelope, Event, OrderShipped, ShipmentCreated};

use super::runner::{Decision, Failure, Handler, StateView};

const CARRIERS: [&str; 3] = ["dhl", "ups", "postnl"];

#[derive(Debug, Default)]
pub struct Shipping;

impl Handler for Shipping {
    fn topics(&self) -> Vec<&'static str> {
        super::subscriptions(events::Service::Shipping)
    }

    async fn handle(
        &mut self,
        input: &Envelope,
        event: &Event,
        _state: &mut StateView<'_>,
    ) -> Result<Decision, Failure> {
        let Event::OrderConfirmed(order) = event else {
            return Ok(Decision::none());
        };
        // Derived from the input, so a redelivery ships under the same shipment id.
        let shipment_id = format!("sh-{}", input.event_id.simple());
        let carrier = CARRIERS[(input.event_id.as_u128() % 3) as usize].to_string();
        Ok(Decision::emit([
            Event::ShipmentCreated(ShipmentCreated {
                order_id: order.order_id.clone(),
                customer_id: order.customer_id.clone(),
                shipment_id: shipment_id.clone(),
                sku: order.sku.clone(),
                quantity: order.quantity,
                carrier: carrier.clone(),
            }),
            Event::OrderShipped(OrderShipped {
                order_id: order.order_id.clone(),
                customer_id: order.customer_id.clone(),
                tracking_number: format!("{}-{}", carrier.to_uppercase(), &shipment_id[3..15]),
                shipment_id,
                carrier,
            }),
        ]))
    }
}
