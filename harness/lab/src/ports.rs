//! Free loopback ports.
//!
//! Ports are found by binding `127.0.0.1:0`; every port handed out is remembered for
//! the life of the process so that two labs started by one test binary never get the
//! same port, even after the probing sockets are closed.

use std::collections::BTreeSet;
use std::net::{Ipv4Addr, SocketAddr, TcpListener};
use std::sync::Mutex;

use super::LabError;

static HANDED_OUT: Mutex<BTreeSet<u16>> = Mutex::new(BTreeSet::new());

/// `n` distinct free ports on 127.0.0.1, none handed out before by this process.
pub fn free_ports(n: usize) -> Result<Vec<u16>, LabError> {
    let mut held = Vec::with_capacity(n);
    let mut ports = Vec::with_capacity(n);
    let mut handed_out = HANDED_OUT
        .lock()
        .map_err(|_| LabError::Ports("lock poisoned".into()))?;
    let mut attempts = 0;
    while ports.len() < n {
        attempts += 1;
        if attempts > n * 20 + 100 {
            return Err(LabError::Ports(format!(
                "could not find {n} free loopback ports"
            )));
        }
        let listener = TcpListener::bind((Ipv4Addr::LOCALHOST, 0))
            .map_err(|e| LabError::Ports(format!("bind 127.0.0.1:0: {e}")))?;
        let port = listener
            .local_addr()
            .map_err(|e| LabError::Ports(e.to_string()))?
            .port();
        if handed_out.insert(port) {
            ports.push(port);
        }
        // Hold every probe open until all are chosen, so the kernel cannot repeat one.
        held.push(listener);
    }
    Ok(ports)
}

/// `127.0.0.1:port`
pub fn loopback(port: u16) -> SocketAddr {
    SocketAddr::from((Ipv4Addr::LOCALHOST, port))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ports_are_distinct_across_calls() {
        let a = free_ports(20).expect("ports");
        let b = free_ports(20).expect("ports");
        let all: BTreeSet<u16> = a.iter().chain(&b).copied().collect();
        assert_eq!(all.len(), 40);
        assert!(all.iter().all(|&p| p != 0));
    }
}
