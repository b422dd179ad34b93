//! SIGINT and SIGTERM as a future: long operations `select!` on it and unwind in order
//! (heal, reap, write what they have) instead of dying with processes left behind.

use tokio::signal::unix::{SignalKind, signal};

/// Which signal asked us to stop.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Shutdown {
    Interrupt,
    Terminate,
}

impl Shutdown {
    /// The conventional exit code: 128 + the signal number.
    pub fn exit_code(self) -> u8 {
        match self {
            Shutdown::Interrupt => 130,
            Shutdown::Terminate => 143,
        }
    }
}

/// Resolves at the first SIGINT or SIGTERM. Install it early: the handlers are
/// registered when this is called, not when it is first polled.
///
/// A no-op `ctrlc` handler is installed first: a library that later calls
/// `ctrlc::set_handler` (Goose does, when a load starts) then fails quietly instead of
/// replacing ours, and the handlers registered here chain to it.
pub fn shutdown() -> std::io::Result<impl std::future::Future<Output = Shutdown>> {
    let _ = ctrlc::set_handler(|| {});
    let mut interrupt = signal(SignalKind::interrupt())?;
    let mut terminate = signal(SignalKind::terminate())?;
    Ok(async move {
        tokio::select! {
            _ = interrupt.recv() => Shutdown::Interrupt,
            _ = terminate.recv() => Shutdown::Terminate,
        }
    })
}
