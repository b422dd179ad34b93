//! The order platform's event catalog: every event's payload, schema versions, topic and
//! the envelope it travels in on both backends. The harness relies on the envelope only,
//! so any system that stamps it can be measured; the services use the rest.
//! `docs/events.md` is rendered from this crate.
//!
//! Modules:
//! - [`envelope`]: [`Envelope`] and [`Source`] (the wire format), [`Envelope::new`] and
//!   [`Envelope::decode`] with [`DecodeError`]; decoding upcasts `OrderPlaced` v1 to v2.
//! - [`event`]: [`Event`] (one variant per event type), [`EventType`] (names, versions,
//!   order lifecycle) and [`Topic`] (the stream or topic each type is published on).
//! - [`payloads`]: one struct per event type, plus the enums they use.
//! - [`catalog`]: emitter, consumers, ordering key and field descriptions per event type
//!   ([`EventType::spec`]), and the service names.
//! - [`examples`]: one deterministic example envelope per event type.
//! - [`docs`]: [`catalog_markdown`], the renderer of `docs/events.md`.
//! - [`flow`]: the saga: which step each step reacts to, and from it the flow's order
//!   (main path, compensation, by-products) that reports list and draw hops in.
//! - [`platform`]: facts shared by the services, the harness and the checker, each
//!   defined once: [`Backend`], [`Guarantee`], the consuming [`Service`]s and their
//!   subscriptions (derived from the catalog), the step and terminal event types.

pub mod catalog;
pub mod docs;
pub mod envelope;
pub mod event;
pub mod examples;
pub mod flow;
pub mod payloads;
pub mod platform;

pub use catalog::{EventSpec, FieldSpec, service};
pub use docs::catalog_markdown;
pub use envelope::{DecodeError, Envelope, Source};
pub use event::{Event, EventType, Topic, UnknownEventType, UnknownTopic};
pub use examples::{example, example_event, example_v1_order_placed};
pub use payloads::*;
pub use platform::{
    Backend, Guarantee, KNOWN_TYPES, STEP_TYPES, Service, TERMINAL_TYPES, UnknownName,
    dead_letter_topic,
};
