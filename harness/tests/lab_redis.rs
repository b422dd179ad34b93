//! Redis through its Toxiproxy proxy: a stream round trip works, a latency toxic slows
//! it by at least the toxic, a disabled proxy makes the client fail within its timeout,
//! and re-enabling it restores service.

mod common;

use std::time::{Duration, Instant};

use lab::LabSpec;
use lab::toxiproxy::Toxic;
use redis::AsyncCommands;
use redis::aio::MultiplexedConnection;
use redis::streams::{StreamReadOptions, StreamReadReply};

const RESPONSE_TIMEOUT: Duration = Duration::from_secs(1);

async fn connect(url: &str) -> redis::RedisResult<MultiplexedConnection> {
    let config = redis::AsyncConnectionConfig::new()
        .set_connection_timeout(Some(RESPONSE_TIMEOUT))
        .set_response_timeout(Some(RESPONSE_TIMEOUT));
    redis::Client::open(url)?
        .get_multiplexed_async_connection_with_config(&config)
        .await
}

/// XADD one entry, read it with XREADGROUP, XACK it; returns how long that took.
async fn round_trip(conn: &mut MultiplexedConnection, stream: &str, value: &str) -> Duration {
    let started = Instant::now();
    let id: String = conn.xadd(stream, "*", &[("v", value)]).await.expect("XADD");
    let options = StreamReadOptions::default().group("g", "c").count(1);
    let reply: StreamReadReply = conn
        .xread_options(&[stream], &[">"], &options)
        .await
        .expect("XREADGROUP");
    let entry = reply
        .keys
        .first()
        .and_then(|k| k.ids.first())
        .expect("one entry read back");
    assert_eq!(entry.id, id);
    assert_eq!(entry.get::<String>("v").as_deref(), Some(value));
    let acked: i64 = conn.xack(stream, "g", &[&id]).await.expect("XACK");
    assert_eq!(acked, 1);
    started.elapsed()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn redis_through_its_proxy_round_trips_and_is_faultable() {
    let lab = common::start_lab(LabSpec::redis_only()).await;
    let redis = lab.endpoints().redis.clone().expect("the lab has redis");
    let toxiproxy = lab.toxiproxy().expect("the lab has toxiproxy");
    let stream = common::unique("orders");

    let mut conn = connect(&redis.proxied_url())
        .await
        .expect("connect through the proxy");
    let _: () = conn
        .xgroup_create_mkstream(&stream, "g", "$")
        .await
        .expect("XGROUP CREATE");
    let clean = round_trip(&mut conn, &stream, "first").await;
    assert!(
        clean < Duration::from_millis(300),
        "an unfaulted round trip took {clean:?}"
    );

    // The same round trip with 300 ms added to every reply.
    toxiproxy
        .add_toxic(
            &redis.proxy,
            &Toxic::latency("slow", Duration::from_millis(300), Duration::ZERO),
        )
        .await
        .expect("add latency toxic");
    let slowed = round_trip(&mut conn, &stream, "second").await;
    assert!(
        slowed >= Duration::from_millis(300),
        "with a 300 ms toxic: {slowed:?}"
    );
    toxiproxy
        .remove_toxic(&redis.proxy, "slow")
        .await
        .expect("remove toxic");
    let healed = round_trip(&mut conn, &stream, "third").await;
    assert!(
        healed < Duration::from_millis(300),
        "after removing the toxic: {healed:?}"
    );

    // Proxy down: the open connection and a new one both fail, within the timeouts.
    toxiproxy
        .set_enabled(&redis.proxy, false)
        .await
        .expect("disable proxy");
    let started = Instant::now();
    let ping: redis::RedisResult<String> = redis::cmd("PING").query_async(&mut conn).await;
    assert!(
        ping.is_err(),
        "PING through a disabled proxy answered {ping:?}"
    );
    let reconnect = connect(&redis.proxied_url()).await;
    assert!(reconnect.is_err(), "connected through a disabled proxy");
    let waited = started.elapsed();
    assert!(
        waited < RESPONSE_TIMEOUT * 2 + Duration::from_secs(1),
        "errors took {waited:?}"
    );

    // The harness's own view (direct) never went away.
    lab::redis_ping(redis.direct)
        .await
        .expect("direct PING while the proxy is down");

    toxiproxy
        .set_enabled(&redis.proxy, true)
        .await
        .expect("enable proxy");
    let mut conn = connect(&redis.proxied_url())
        .await
        .expect("reconnect after re-enabling");
    let back = round_trip(&mut conn, &stream, "fourth").await;
    assert!(
        back < Duration::from_millis(300),
        "after re-enabling: {back:?}"
    );
    let len: u64 = conn.xlen(&stream).await.expect("XLEN");
    assert_eq!(len, 4);
}
