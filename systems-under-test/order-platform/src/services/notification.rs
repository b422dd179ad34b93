//! `notification`: tells the customer what happened to their order, on the channel
//! their id maps to (email, SMS or push), recorded as `NotificationSent`.

use events::{Envelope, Event, NotificationChannel, NotificationSent};

use super::runner::{Decision, Failure, Handler, StateView};

#[derive(Debug, Default)]
pub struct Notification;

fn channel(customer_id: &str) -> NotificationChannel {
    let sum: u32 = customer_id.bytes().map(u32::from).sum();
    match sum % 3 {
        0 => NotificationChannel::Email,
        1 => NotificationChannel::Sms,
        _ => NotificationChannel::Push,
    }
}

impl Handler for Notification {
    fn topics(&self) -> Vec<&'static str> {
        super::subscriptions(events::Service::Notification)
    }

    async fn handle(
        &mut self,
        input: &Envelope,
        event: &Event,
        _state: &mut StateView<'_>,
    ) -> Result<Decision, Failure> {
        let (order_id, customer_id, template) = match event {
            Event::OrderConfirmed(e) => (&e.order_id, &e.customer_id, "order-confirmed"),
            Event::OrderCancelled(e) => (&e.order_id, &e.customer_id, "order-cancelled"),
            Event::OrderShipped(e) => (&e.order_id, &e.customer_id, "order-shipped"),
            Event::StockRejected(e) => (&e.order_id, &e.customer_id, "out-of-stock"),
            Event::PaymentFailed(e) => (&e.order_id, &e.customer_id, "payment-failed"),
            _ => return Ok(Decision::none()),
        };
        Ok(Decision::emit([Event::NotificationSent(
            NotificationSent {
                notification_id: format!("n-{}", input.event_id.simple()),
                order_id: order_id.clone(),
                customer_id: customer_id.clone(),
                channel: channel(customer_id),
                trigger: event.event_type(),
                template: template.to_string(),
            },
        )]))
    }
}
