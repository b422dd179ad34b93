//! What the harness watches while the system runs, none of it through a proxy:
//! - [`tap`]: every message of every topic (Kafka `read_committed`), as observations,
//!   and per partition what it has read ([`read_log`], in memory that does not grow
//!   with the entries);
//! - [`lag`]: once a second, per consumer group, how far behind it is (Kafka: end minus
//!   committed offsets; Redis: `XINFO GROUPS` lag and pending);
//! - [`scrape`]: once a second, the services' `/metrics` counters;
//! - final reads: the gateway's ledger and the inventory.

pub mod lag;
pub mod read_log;
pub mod scrape;
pub mod tap;
