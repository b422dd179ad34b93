//! Free loopback ports.
//!
//! Ports are chosen below the kernel's ephemeral range and probed by binding them
//! (falling back to binding `127.0.0.1:0` when there is no room there); every port
//! handed out is remembered for the life of the process so that two labs started by
//! one test binary never get the same port, even after the probing sockets are closed.

use std::collections::BTreeSet;
use std::net::{Ipv4Addr, SocketAddr, TcpListener};
use std::sync::Mutex;

use super::LabError;

static HANDED_OUT: Mutex<BTreeSet<u16>> = Mutex::new(BTreeSet::new());

/// The range ports are chosen from: below the kernel's ephemeral range (where bind(0)
/// and every outgoing connection's source port come from), so a port chosen here is not
/// taken between the probe and the service's bind by some connection's source port —
/// the flake of lab starts under a parallel build, when thousands of short-lived
/// connections cycle through the ephemeral range. `None`: no such room (then bind(0)).
fn quiet_range() -> Option<std::ops::Range<u16>> {
    let text = std::fs::read_to_string("/proc/sys/net/ipv4/ip_local_port_range").ok()?;
    let mut bounds = text.split_whitespace().map(|n| n.parse::<u16>().ok());
    let (low, high) = (bounds.next()??, bounds.next()??);
    const FLOOR: u16 = 20_000;
    if low >= FLOOR + 2_000 {
        Some(FLOOR..low)
    } else if high <= 65_535 - 2_000 {
        Some(high + 1..65_535)
    } else {
        None
    }
}

/// Where in the range this process starts looking: differs between processes, so
/// test binaries running side by side do not probe the same ports in the same order.
fn start_offset(len: usize) -> usize {
    use std::hash::{BuildHasher, Hasher};
    let mut h = std::collections::hash_map::RandomState::new().build_hasher();
    h.write_u32(std::process::id());
    (h.finish() % len.max(1) as u64) as usize
}

/// `n` distinct free ports on 127.0.0.1, none handed out before by this process, taken
/// from [`quiet_range`] when there is one.
pub fn free_ports(n: usize) -> Result<Vec<u16>, LabError> {
    let mut held = Vec::with_capacity(n);
    let mut ports = Vec::with_capacity(n);
    let mut handed_out = HANDED_OUT
        .lock()
        .map_err(|_| LabError::Ports("lock poisoned".into()))?;
    if let Some(range) = quiet_range() {
        let len = range.len();
        let first = start_offset(len);
        for i in 0..len {
            if ports.len() == n {
                break;
            }
            let port = range.start + ((first + i) % len) as u16;
            if handed_out.contains(&port) {
                continue;
            }
            // Hold every probe open until all are chosen.
            if let Ok(listener) = TcpListener::bind((Ipv4Addr::LOCALHOST, port)) {
                handed_out.insert(port);
                ports.push(port);
                held.push(listener);
            }
        }
        if ports.len() == n {
            return Ok(ports);
        }
    }
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

    #[test]
    fn ports_come_from_outside_the_ephemeral_range() {
        let Some(range) = quiet_range() else {
            panic!(
                "this machine's ephemeral range leaves no room: /proc/sys/net/ipv4/ip_local_port_range"
            );
        };
        let ports = free_ports(10).expect("ports");
        assert!(
            ports.iter().all(|p| range.contains(p)),
            "{ports:?} not in {range:?}"
        );
    }
}
