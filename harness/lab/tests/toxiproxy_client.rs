//! The Toxiproxy client against a real toxiproxy-server (started by the lab), with real
//! TCP peers behind its proxies. Needs `lab/install`; fails (never skips) without it.

use std::io::ErrorKind;
use std::net::SocketAddr;
use std::time::{Duration, Instant};

use lab::toxiproxy::{
    Proxy, ProxyConfig, ProxyUpdate, Stream, Toxic, ToxicKind, Toxiproxy, ToxiproxyError,
};
use lab::{Lab, LabSpec};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::time::timeout;

/// Upper bound on any single network step, so that no test can hang.
const BOUND: Duration = Duration::from_secs(5);

fn ms(n: u64) -> Duration {
    Duration::from_millis(n)
}

/// `127.0.0.1:0`: Toxiproxy picks the port and reports it back in `Proxy::listen`.
fn any_port() -> SocketAddr {
    SocketAddr::from(([127, 0, 0, 1], 0))
}

async fn start_lab() -> (Lab, Toxiproxy) {
    let lab = Lab::start(LabSpec::toxiproxy_only()).await;
    let lab = lab.unwrap_or_else(|e| panic!("starting toxiproxy-server: {e}"));
    let client = lab
        .toxiproxy()
        .expect("a toxiproxy-only lab has a Toxiproxy");
    (lab, client)
}

/// A TCP server on a free loopback port: writes `greeting` to each connection, then
/// echoes everything back (`echo`) or closes the connection at once.
async fn upstream(greeting: Vec<u8>, echo: bool) -> SocketAddr {
    let listener = TcpListener::bind(any_port()).await.expect("bind upstream");
    let addr = listener.local_addr().expect("upstream address");
    tokio::spawn(async move {
        while let Ok((mut conn, _)) = listener.accept().await {
            let greeting = greeting.clone();
            tokio::spawn(async move {
                if conn.write_all(&greeting).await.is_err() {
                    return;
                }
                if echo {
                    let (mut read, mut write) = conn.split();
                    let _ = tokio::io::copy(&mut read, &mut write).await;
                }
                let _ = conn.shutdown().await;
            });
        }
    });
    addr
}

async fn echo_server() -> SocketAddr {
    upstream(Vec::new(), true).await
}

fn pattern(n: usize) -> Vec<u8> {
    (0..n).map(|i| (i % 251) as u8).collect()
}

/// Creates a proxy on a port Toxiproxy picks; returns it and the address it listens on.
async fn proxy_to(client: &Toxiproxy, name: &str, to: SocketAddr) -> (Proxy, SocketAddr) {
    let config = ProxyConfig::new(name, any_port(), to);
    let proxy = client.create_proxy(&config).await.expect("create proxy");
    let addr = listen_addr(&proxy);
    assert_ne!(addr.port(), 0, "Toxiproxy reports the port it listens on");
    (proxy, addr)
}

fn listen_addr(proxy: &Proxy) -> SocketAddr {
    proxy.listen.parse().expect("listen is host:port")
}

async fn connect(addr: SocketAddr) -> TcpStream {
    let conn = timeout(BOUND, TcpStream::connect(addr)).await;
    conn.expect("connect timed out").expect("connect")
}

/// Sends `msg` on a fresh connection and reads it back; returns the round-trip time.
async fn echo_once(addr: SocketAddr, msg: &[u8]) -> Duration {
    let mut conn = connect(addr).await;
    let start = Instant::now();
    conn.write_all(msg).await.expect("write");
    let mut back = vec![0; msg.len()];
    let read = timeout(BOUND, conn.read_exact(&mut back)).await;
    read.expect("echo timed out").expect("read echo");
    assert_eq!(back, msg, "echo came back changed");
    start.elapsed()
}

/// How a read-until-close ended.
#[derive(Debug, PartialEq)]
enum End {
    Eof,
    Error(ErrorKind),
    /// Nothing happened within the client-side bound.
    StillOpen,
}

/// What a read-until-close saw: the bytes, in how many reads, how it ended, and when.
#[derive(Debug)]
struct Read {
    data: Vec<u8>,
    reads: usize,
    end: End,
    took: Duration,
}

/// Reads until EOF, an error or `bound`.
async fn read_until_close(conn: &mut TcpStream, bound: Duration) -> Read {
    let start = Instant::now();
    let (mut data, mut reads, mut buf) = (Vec::new(), 0, [0u8; 8192]);
    let end = loop {
        let left = bound.saturating_sub(start.elapsed());
        match timeout(left, conn.read(&mut buf)).await {
            Err(_) => break End::StillOpen,
            Ok(Ok(0)) => break End::Eof,
            Ok(Ok(n)) => {
                data.extend_from_slice(&buf[..n]);
                reads += 1;
            }
            Ok(Err(e)) => break End::Error(e.kind()),
        }
    };
    let took = start.elapsed();
    Read {
        data,
        reads,
        end,
        took,
    }
}

/// Connects to `addr` and reads until close (or `BOUND`).
async fn read_from(addr: SocketAddr) -> Read {
    read_until_close(&mut connect(addr).await, BOUND).await
}

fn status(result: Result<impl std::fmt::Debug, ToxiproxyError>) -> u16 {
    match result {
        Err(ToxiproxyError::Status { status, .. }) => status,
        other => panic!("expected an HTTP status error, got {other:?}"),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn proxies_crud() {
    let (_lab, client) = start_lab().await;
    let version = client.version().await.expect("version");
    assert!(!version.trim().is_empty(), "empty version");

    let first = upstream(b"first".to_vec(), false).await;
    let echo = echo_server().await;
    let (created, addr) = proxy_to(&client, "crud", first).await;
    assert_eq!(
        (created.name.as_str(), created.upstream.clone()),
        ("crud", first.to_string())
    );
    assert!(created.enabled && created.toxics.is_empty(), "{created:?}");
    let all = client.proxies().await.expect("proxies");
    assert_eq!(all.get("crud"), Some(&created), "listed: {all:?}");
    assert_eq!(client.proxy("crud").await.expect("get"), created);
    let read = read_from(addr).await;
    assert_eq!((read.data.as_slice(), read.end), (&b"first"[..], End::Eof));

    // A new upstream, on the same listen address.
    let update = ProxyUpdate {
        upstream: Some(echo.to_string()),
        ..ProxyUpdate::default()
    };
    let updated = client.update_proxy("crud", &update).await.expect("update");
    assert_eq!(updated.upstream, echo.to_string());
    assert_eq!(updated.listen, created.listen);
    let read_back = client.proxy("crud").await.expect("get");
    assert_eq!(read_back.upstream, echo.to_string());
    echo_once(addr, b"hello").await;

    // Disabled: open connections are closed and new ones refused.
    let mut open = connect(addr).await;
    open.write_all(b"x").await.expect("write");
    let echoed = timeout(BOUND, open.read_exact(&mut [0u8; 1])).await;
    echoed.expect("bounded").expect("echo");
    let disabled = client.set_enabled("crud", false).await.expect("disable");
    assert!(!disabled.enabled);
    let read = read_until_close(&mut open, BOUND).await;
    assert_ne!(
        read.end,
        End::StillOpen,
        "an open connection survived disabling"
    );
    let refused = timeout(BOUND, TcpStream::connect(addr))
        .await
        .expect("bounded");
    let refused = refused.map_err(|e| e.kind()).err();
    assert_eq!(refused, Some(ErrorKind::ConnectionRefused));
    let enabled = client.set_enabled("crud", true).await.expect("enable");
    assert!(enabled.enabled);
    echo_once(addr, b"again").await;

    // A duplicate name conflicts (on another port); a deleted proxy is gone.
    let duplicate = ProxyConfig::new("crud", any_port(), echo);
    assert_eq!(status(client.create_proxy(&duplicate).await), 409);
    client.delete_proxy("crud").await.expect("delete");
    assert_eq!(status(client.proxy("crud").await), 404);
    assert_eq!(status(client.delete_proxy("crud").await), 404);
    let all = client.proxies().await.expect("proxies");
    assert!(!all.contains_key("crud"), "{all:?}");

    // Populate creates both; reset drops toxics and enables every proxy.
    let configs = ["pop-a", "pop-b"].map(|name| ProxyConfig::new(name, any_port(), echo));
    let populated = client.populate(&configs).await.expect("populate");
    let mut names: Vec<_> = populated.iter().map(|p| p.name.as_str()).collect();
    names.sort_unstable();
    assert_eq!(names, ["pop-a", "pop-b"]);
    let all = client.proxies().await.expect("proxies");
    assert!(
        all.contains_key("pop-a") && all.contains_key("pop-b"),
        "{all:?}"
    );
    echo_once(listen_addr(&all["pop-a"]), b"populated").await;

    let slow = Toxic::latency("slow", ms(100), Duration::ZERO);
    client.add_toxic("pop-a", &slow).await.expect("add toxic");
    client.set_enabled("pop-b", false).await.expect("disable");
    client.reset().await.expect("reset");
    assert!(client.toxics("pop-a").await.expect("toxics").is_empty());
    let b = client.proxy("pop-b").await.expect("get");
    assert!(b.enabled, "reset re-enables");
    echo_once(listen_addr(&b), b"reset").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn toxics_crud() {
    let (_lab, client) = start_lab().await;
    proxy_to(&client, "tox", echo_server().await).await;
    assert!(client.toxics("tox").await.expect("toxics").is_empty());

    let up = Toxic::latency("up", ms(50), ms(5))
        .upstream()
        .with_toxicity(0.5);
    assert_eq!(client.add_toxic("tox", &up).await.expect("add"), up);
    let down = Toxic::bandwidth("down", 100);
    assert_eq!(client.add_toxic("tox", &down).await.expect("add"), down);
    assert_eq!(
        status(client.add_toxic("tox", &down).await),
        409,
        "duplicate"
    );

    let mut listed = client.toxics("tox").await.expect("toxics");
    listed.sort_by(|a, b| a.name.cmp(&b.name));
    assert_eq!(listed, [down.clone(), up.clone()]);
    let got = client.toxic("tox", "up").await.expect("get");
    assert_eq!(got, up);
    assert_eq!((got.stream, got.toxicity), (Stream::Upstream, 0.5));
    let got = client.toxic("tox", "down").await.expect("get");
    assert_eq!(got.stream, Stream::Downstream);
    assert_eq!(client.proxy("tox").await.expect("proxy").toxics.len(), 2);

    let changed = Toxic::latency("up", ms(70), ms(9))
        .upstream()
        .with_toxicity(0.25);
    let updated = client.update_toxic("tox", &changed).await.expect("update");
    assert_eq!(updated, changed);
    let read_back = client.toxic("tox", "up").await.expect("get");
    let latency = ToxicKind::Latency {
        latency: 70,
        jitter: 9,
    };
    assert_eq!(read_back.kind, latency);
    assert_eq!(
        (read_back.stream, read_back.toxicity),
        (Stream::Upstream, 0.25)
    );

    // Toxiproxy keeps the stream and type on update; the client reports the mismatch.
    let flipped = Toxic::latency("up", ms(70), ms(9)).downstream();
    match client.update_toxic("tox", &flipped).await {
        Err(ToxiproxyError::Immutable { toxic, .. }) => assert_eq!(toxic, "up"),
        other => panic!("changing a toxic's stream: {other:?}"),
    }
    let retyped = Toxic::bandwidth("up", 10).upstream();
    assert!(matches!(
        client.update_toxic("tox", &retyped).await,
        Err(ToxiproxyError::Immutable { .. })
    ));

    // Names travel percent-encoded in the URL path.
    let odd = Toxic::latency("odd name?#", ms(5), ms(0));
    client
        .add_toxic("tox", &odd)
        .await
        .expect("add a toxic with an odd name");
    assert_eq!(
        client.toxic("tox", "odd name?#").await.expect("get").name,
        "odd name?#"
    );
    client
        .remove_toxic("tox", "odd name?#")
        .await
        .expect("remove");

    client.remove_toxic("tox", "up").await.expect("remove");
    assert_eq!(status(client.toxic("tox", "up").await), 404);
    client.remove_toxic("tox", "down").await.expect("remove");
    assert!(client.toxics("tox").await.expect("toxics").is_empty());
    assert_eq!(status(client.toxics("missing").await), 404);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn latency_delays_until_removed() {
    let (_lab, client) = start_lab().await;
    let (_, addr) = proxy_to(&client, "latency", echo_server().await).await;
    let toxic = Toxic::latency("lag", ms(300), Duration::ZERO).downstream();
    client.add_toxic("latency", &toxic).await.expect("add");
    let slow = echo_once(addr, b"ping").await;
    assert!(slow >= ms(300), "round trip {slow:?} with 300 ms latency");
    client.remove_toxic("latency", "lag").await.expect("remove");
    let fast = echo_once(addr, b"ping").await;
    assert!(fast < ms(150), "round trip {fast:?} without latency");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bandwidth_limits_the_rate() {
    let (_lab, client) = start_lab().await;
    let data = pattern(64 * 1024);
    let (_, addr) = proxy_to(&client, "bw", upstream(data.clone(), false).await).await;
    let toxic = Toxic::bandwidth("narrow", 32);
    client.add_toxic("bw", &toxic).await.expect("add");
    let read = read_until_close(&mut connect(addr).await, ms(10_000)).await;
    assert_eq!(read.end, End::Eof);
    assert!(
        read.data == data,
        "got {} bytes, not the 64 KiB sent",
        read.data.len()
    );
    // 65536 bytes at 32 KB/s take about 2 s.
    assert!(
        read.took >= ms(1500),
        "64 KiB at 32 KB/s took {:?}",
        read.took
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn slow_close_delays_the_eof() {
    let (_lab, client) = start_lab().await;
    let (_, addr) = proxy_to(&client, "sc", upstream(b"bye".to_vec(), false).await).await;
    let quick = read_from(addr).await;
    assert_eq!(quick.end, End::Eof);
    assert!(
        quick.took < ms(300),
        "EOF without the toxic took {:?}",
        quick.took
    );
    let toxic = Toxic::slow_close("late", ms(500));
    client.add_toxic("sc", &toxic).await.expect("add");
    let read = read_from(addr).await;
    assert_eq!((read.data.as_slice(), read.end), (&b"bye"[..], End::Eof));
    assert!(
        read.took >= ms(450),
        "EOF after {:?} with 500 ms slow_close",
        read.took
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn timeout_stops_data_then_closes() {
    let (_lab, client) = start_lab().await;
    let (_, addr) = proxy_to(&client, "to", echo_server().await).await;
    let toxic = Toxic::timeout("cut", ms(300));
    client.add_toxic("to", &toxic).await.expect("add");
    let mut conn = connect(addr).await;
    conn.write_all(b"lost").await.expect("write");
    let read = read_until_close(&mut conn, BOUND).await;
    assert!(
        read.data.is_empty(),
        "data passed a timeout toxic: {read:?}"
    );
    assert_eq!(read.end, End::Eof, "not closed after the 300 ms timeout");
    assert!(read.took >= ms(250), "closed after only {:?}", read.took);

    // timeout 0: no data, and never closed.
    let forever = Toxic::timeout("cut", Duration::ZERO);
    client.update_toxic("to", &forever).await.expect("update");
    let mut conn = connect(addr).await;
    conn.write_all(b"lost").await.expect("write");
    let read = read_until_close(&mut conn, ms(800)).await;
    assert_eq!((read.data.len(), read.end), (0, End::StillOpen));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn reset_peer_resets_the_connection() {
    let (_lab, client) = start_lab().await;
    let (_, addr) = proxy_to(&client, "rst", echo_server().await).await;
    let toxic = Toxic::reset_peer("rst", ms(200));
    client.add_toxic("rst", &toxic).await.expect("add");
    // The clock starts with the first data on the stream (here: the echo coming back).
    let mut conn = connect(addr).await;
    conn.write_all(b"ping").await.expect("write");
    let read = read_until_close(&mut conn, BOUND).await;
    assert_eq!(read.end, End::Error(ErrorKind::ConnectionReset), "{read:?}");
    assert!(read.data.is_empty(), "data passed reset_peer: {read:?}");
    assert!(read.took >= ms(150), "reset after only {:?}", read.took);

    // timeout 0: reset as soon as data flows; an idle connection is left alone.
    let now = Toxic::reset_peer("rst", Duration::ZERO);
    client.update_toxic("rst", &now).await.expect("update");
    let idle = read_until_close(&mut connect(addr).await, ms(400)).await;
    assert_eq!(
        idle.end,
        End::StillOpen,
        "reset_peer acted on an idle connection"
    );
    let mut conn = connect(addr).await;
    conn.write_all(b"ping").await.expect("write");
    let read = read_until_close(&mut conn, BOUND).await;
    assert_eq!(read.end, End::Error(ErrorKind::ConnectionReset), "{read:?}");
    assert!(
        read.took < ms(150),
        "reset with timeout 0 took {:?}",
        read.took
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn slicer_keeps_data_intact() {
    let (_lab, client) = start_lab().await;
    let data = pattern(4000);
    let (_, addr) = proxy_to(&client, "slice", upstream(data.clone(), false).await).await;
    let toxic = Toxic::slicer("bits", 10, 5, Duration::from_micros(100));
    client.add_toxic("slice", &toxic).await.expect("add");
    let read = read_from(addr).await;
    assert_eq!(read.end, End::Eof);
    assert!(
        read.data == data,
        "sliced data changed ({} bytes)",
        read.data.len()
    );
    // About 400 slices of 5..15 bytes; unsliced, 4000 bytes on loopback come in one read.
    assert!(
        read.reads >= 20,
        "{} reads: the data was not sliced",
        read.reads
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn limit_data_closes_after_the_limit() {
    let (_lab, client) = start_lab().await;
    let data = pattern(1000);
    let (_, addr) = proxy_to(&client, "limit", upstream(data.clone(), false).await).await;
    let toxic = Toxic::limit_data("cap", 100);
    client.add_toxic("limit", &toxic).await.expect("add");
    let read = read_from(addr).await;
    assert_eq!(read.end, End::Eof);
    assert_eq!(read.data, data[..100]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn zero_toxicity_never_applies() {
    let (_lab, client) = start_lab().await;
    let (_, addr) = proxy_to(&client, "dice", echo_server().await).await;
    let toxic = Toxic::latency("never", ms(500), Duration::ZERO).with_toxicity(0.0);
    client.add_toxic("dice", &toxic).await.expect("add");
    let got = client.toxic("dice", "never").await.expect("get");
    assert_eq!(got.toxicity, 0.0);
    for _ in 0..3 {
        let took = echo_once(addr, b"ping").await;
        assert!(
            took < ms(250),
            "toxicity 0 delayed a connection by {took:?}"
        );
    }
    // The same toxic at toxicity 1 does delay, so the check above can fail.
    let always = toxic.with_toxicity(1.0);
    client.update_toxic("dice", &always).await.expect("update");
    let took = echo_once(addr, b"ping").await;
    assert!(took >= ms(500), "toxicity 1 took only {took:?}");
}
