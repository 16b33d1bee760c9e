//! What the fleet tests share: the dialer, a pool joined to a fleet, Redis connections.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use pool_core::{Pool, PoolOptions};
use pool_dial_rustls::{H1Dialer, TlsOptions, Validation};
use pool_http::{Empty, HttpLeaseExt};
use pool_redis::{FleetConfig, RedisFleet, RedisUrl};
use pool_testkit::{RedisServer, TestCa, eventually};

/// Every wait in these tests is bounded by this.
pub const WAIT: Duration = Duration::from_secs(20);

/// An HTTP/1.1 dialer trusting `ca`; with `validate`, each new connection's `GET /check`
/// must not answer the banned status (403), or its address is banned.
pub fn dialer(ca: &TestCa, validate: bool) -> H1Dialer {
    let mut options = TlsOptions::default();
    options.trust.webpki_roots = false;
    options.trust.extra_ca_certs = vec![ca.ca_cert_der().to_vec()];
    options.conn_timeout = Duration::from_secs(5);
    options.test_timeout = Duration::from_secs(5);
    if validate {
        options.validation = Some(Validation {
            path: "/check".into(),
            ..Validation::default()
        });
    }
    H1Dialer::new(options).unwrap()
}

/// The fleet's defaults on `redis`, its keys under `prefix`.
pub fn fleet_config(redis: &RedisServer, prefix: &str) -> FleetConfig {
    let mut cfg = FleetConfig::new(RedisUrl::parse(&redis.url()).unwrap());
    cfg.prefix = prefix.into();
    cfg
}

/// A pool of `dialer` for `host` at `addrs`, a member of the fleet `cfg`: attached, and
/// synced with Redis once.
pub async fn member(
    cfg: FleetConfig,
    dialer: H1Dialer,
    options: PoolOptions,
    host: &str,
    addrs: &[SocketAddr],
) -> (Pool<H1Dialer>, Arc<RedisFleet>) {
    let fleet = RedisFleet::start(cfg).unwrap();
    let pool = Pool::with_shared_state(dialer, options, fleet.clone()).unwrap();
    pool.set_addrs(host, addrs.iter().copied());
    fleet.attach(&pool);
    eventually("the fleet member synced", WAIT, || fleet.stats().syncs >= 1)
        .await
        .unwrap();
    (pool, fleet)
}

/// `GET path` to `host` through `pool` (within [`WAIT`]); the status, the body read.
pub async fn request(pool: &Pool<H1Dialer>, host: &str, path: &str) -> u16 {
    let lease = pool.get(host).await.expect("a lease");
    let req = http::Request::get(path)
        .body(Empty::<Bytes>::new())
        .unwrap();
    let resp = tokio::time::timeout(WAIT, lease.request(req))
        .await
        .expect("in time")
        .expect("a response");
    let status = resp.status().as_u16();
    resp.into_body().bytes().await.expect("the body");
    status
}

/// A connection of the test's own to `redis`, to read and write keys directly.
pub async fn redis_conn(redis: &RedisServer) -> redis::aio::MultiplexedConnection {
    let client = redis::Client::open(redis.url()).unwrap();
    client.get_multiplexed_async_connection().await.unwrap()
}
