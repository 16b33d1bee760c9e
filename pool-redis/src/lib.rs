//! # pool-redis: a fleet of hotpool pools sharing what they learn, on Redis
//!
//! [`RedisFleet`] implements pool-core's [`SharedState`] port: every pool of the fleet
//! (processes, machines) publishes its bans and passing re-tests, applies the others'
//! within milliseconds, and re-tests a banned address only when it holds the lease.
//!
//! - **Bans** are keys with a TTL, `{prefix}ban:{<host>}:{ip:port}` (the value is the ban
//!   message, see [`wire`]; the host in braces is a Redis Cluster hash tag: every key of a
//!   host lives in one slot), so expiry needs no coordinator, plus one pub/sub channel,
//!   `{prefix}events`, that carries every ban and unban at once. A worker that starts or
//!   reconnects loads the current set (`SCAN` of the prefix, on every master in cluster
//!   mode) before it reads the channel.
//! - **Re-test leases**: `SET {prefix}retest:{ip:port} {worker} NX PX {interval}`: one
//!   worker per interval dials a banned address.
//! - **Workers**: `{prefix}worker:{id}` holds the hosts a worker pools, with a TTL renewed
//!   by a heartbeat (what `hotpool fleet status` shows).
//! - **Deployments** ([`FleetMode`]): one server, Redis Cluster (seed nodes) or Sentinel
//!   (sentinels and the master's name), on redis-rs's own cluster and sentinel clients.
//!
//! Redis down or slow never blocks a request or a dial: publishing only queues (a full queue
//! drops and counts), every Redis call has a deadline, a lease that cannot be had in time
//! is granted (fail open), failures count `hotpool_fleet_errors_total`, and the subscriber
//! reconnects with a capped exponential backoff and re-syncs. Received messages are parsed
//! strictly ([`wire::parse`]); malformed, oversized and unknown-host ones are counted in
//! `hotpool_fleet_dropped_total{reason}` and dropped. The URL's password is never logged
//! ([`RedisUrl`]). Every key and message: `docs/fleet.md`.
//!
//! ```no_run
//! # use std::net::SocketAddr;
//! # use pool_core::{Connection, DialError, Dialer, Pool, PoolOptions, Target};
//! # struct D; struct C;
//! # impl Connection for C { fn capacity(&self) -> usize { 1 } fn is_closed(&self) -> bool { false } }
//! # impl Dialer for D { type Conn = C; async fn dial(&self, _: &Target) -> Result<C, DialError> { Ok(C) } }
//! use pool_redis::{FleetConfig, RedisFleet, RedisUrl};
//! # #[tokio::main] async fn main() -> Result<(), Box<dyn std::error::Error>> {
//! let fleet = RedisFleet::start(FleetConfig::new(RedisUrl::parse("redis://127.0.0.1:6379/0")?))?;
//! let pool = Pool::with_shared_state(D, PoolOptions::default(), fleet.clone())?;
//! fleet.attach(&pool); // the subscriber: applies the fleet's events until the pool closes
//! # Ok(()) }
//! ```

mod budget;
mod conn;
mod metrics;
mod rate;
mod status;
mod url;
pub mod wire;
mod worker;

use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use pool_core::fleet::FleetFuture;
use pool_core::{Dialer, FleetEvent, Pool, SharedState};
use tokio::sync::mpsc;

pub(crate) use crate::conn::{CommandConn, KeyNode, Redis};

pub use crate::conn::FleetMode;
pub use crate::metrics::{
    APPLIED_TOTAL, DROPPED_TOTAL, ERRORS_TOTAL, FleetStats, PUBLISHED_TOTAL, SYNCS_TOTAL,
};
pub use crate::rate::{MEMBER_TTL, RedisRates};
pub use crate::status::{BanEntry, BudgetEntry, FleetStatus, WorkerEntry, status, status_of};
pub use crate::url::{RedisUrl, UrlError};

/// Everything that can go wrong setting the backend up or reading the fleet's status.
/// (Once running, failures are counted, never returned: the pool keeps working.)
#[derive(Debug, thiserror::Error)]
pub enum FleetError {
    /// The URL is not a Redis URL.
    #[error(transparent)]
    Url(#[from] UrlError),
    /// The key prefix is not 1–64 of `[A-Za-z0-9:._-]`.
    #[error("invalid fleet key prefix {0:?}: 1-64 of [A-Za-z0-9:._-]")]
    Prefix(String),
    /// The worker id is not 1–64 of `[A-Za-z0-9._-]`.
    #[error("invalid fleet worker id {0:?}: 1-64 of [A-Za-z0-9._-]")]
    Worker(String),
    /// A Redis call failed.
    #[error("redis: {0}")]
    Redis(#[from] redis::RedisError),
    /// A Redis call did not answer within its deadline.
    #[error("redis did not answer {op} within {after:?}")]
    Timeout {
        /// The call.
        op: &'static str,
        /// Its deadline.
        after: Duration,
    },
}

/// How the backend reaches Redis and names things there.
#[derive(Clone, Debug)]
pub struct FleetConfig {
    /// The server (single mode), the first seed node (cluster) or the first sentinel
    /// (sentinel).
    pub url: RedisUrl,
    /// More seed nodes (cluster) or sentinels (sentinel); none in single mode.
    pub more_nodes: Vec<RedisUrl>,
    /// The deployment (default [`FleetMode::Single`]).
    pub mode: FleetMode,
    /// Prefix of every key and of the channel (default `hotpool:`).
    pub prefix: String,
    /// This worker's id, unique in the fleet (default: `w{pid}-{n}`).
    pub worker: String,
    /// The deadline of every Redis call (default 250 ms).
    pub call_timeout: Duration,
    /// First reconnect delay of the subscriber (doubles up to `max_backoff`; default 50 ms).
    pub min_backoff: Duration,
    /// Longest reconnect delay (default 2 s).
    pub max_backoff: Duration,
    /// How often the worker key is renewed (it lives three times as long; default 2 s).
    pub heartbeat: Duration,
    /// Events waiting to be published at most; more are dropped and counted (default 1024).
    pub queue: usize,
    /// The fleet-wide budget of connections per host (`None`, the default: no budget).
    pub max_conns_per_host: Option<usize>,
    /// How often a worker claims its share of each host's budget (default 100 ms).
    pub budget_tick: Duration,
    /// How long a claim lives unless renewed (default 2 s): a crashed worker's share
    /// returns after this.
    pub budget_ttl: Duration,
    /// Share bans and unbans and ask for re-test leases (default true).
    pub share_blacklist: bool,
    /// Keep the worker key (its hosts, for `hotpool fleet status`) alive (default true).
    pub share_stats: bool,
}

impl FleetConfig {
    /// The defaults for Redis Cluster with these seed nodes (at least one).
    ///
    /// # Panics
    /// With no seed node.
    pub fn cluster(seeds: Vec<RedisUrl>) -> Self {
        let mut seeds = seeds.into_iter();
        let mut cfg = Self::new(seeds.next().expect("a seed node"));
        cfg.more_nodes = seeds.collect();
        cfg.mode = FleetMode::Cluster;
        cfg
    }

    /// The defaults for Redis Sentinel: these sentinels (at least one), watching the
    /// master named `master`. The sentinels' URL's user, password and database serve for
    /// the master too.
    ///
    /// # Panics
    /// With no sentinel.
    pub fn sentinel(sentinels: Vec<RedisUrl>, master: &str) -> Self {
        let mut cfg = Self::cluster(sentinels);
        cfg.mode = FleetMode::Sentinel {
            master: master.into(),
        };
        cfg
    }

    /// `url`, then `more_nodes`.
    pub fn nodes(&self) -> impl Iterator<Item = &RedisUrl> {
        std::iter::once(&self.url).chain(&self.more_nodes)
    }

    /// The defaults for one server at `url`.
    pub fn new(url: RedisUrl) -> Self {
        static NEXT: AtomicU64 = AtomicU64::new(0);
        let n = NEXT.fetch_add(1, Ordering::Relaxed);
        Self {
            url,
            more_nodes: Vec::new(),
            mode: FleetMode::Single,
            prefix: "hotpool:".into(),
            worker: format!("w{}-{n}", std::process::id()),
            call_timeout: Duration::from_millis(250),
            min_backoff: Duration::from_millis(50),
            max_backoff: Duration::from_secs(2),
            heartbeat: Duration::from_secs(2),
            queue: 1024,
            max_conns_per_host: None,
            budget_tick: Duration::from_millis(100),
            budget_ttl: Duration::from_secs(2),
            share_blacklist: true,
            share_stats: true,
        }
    }
}

/// Key names under one prefix.
#[derive(Clone, Debug)]
pub(crate) struct Keys {
    prefix: String,
}

/// Checks a key prefix: 1–64 of `[A-Za-z0-9:._-]` (no glob character, so it is its own
/// `SCAN` pattern).
pub fn check_prefix(prefix: &str) -> Result<(), FleetError> {
    let ok = (1..=64).contains(&prefix.len())
        && prefix
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b':' | b'.' | b'_' | b'-'));
    if ok {
        Ok(())
    } else {
        Err(FleetError::Prefix(prefix.into()))
    }
}

impl Keys {
    pub(crate) fn new(prefix: &str) -> Result<Self, FleetError> {
        check_prefix(prefix)?;
        Ok(Self {
            prefix: prefix.into(),
        })
    }

    /// `{prefix}{kind}:{<host>}`: a key of `host`'s. The braces are literal: the host is
    /// the key's Redis Cluster hash tag, so every key made here for one host lives in one
    /// slot, and a script may touch several of them in cluster mode. (Every per-host key
    /// of the backend is made here.)
    pub(crate) fn of_host(&self, kind: &str, host: &str) -> String {
        format!("{}{kind}:{{{host}}}", self.prefix)
    }

    /// `{prefix}ban:{<host>}:<ip:port>`.
    pub(crate) fn ban(&self, host: &str, addr: SocketAddr) -> String {
        format!("{}:{addr}", self.of_host("ban", host))
    }

    /// The `SCAN` pattern of every ban (the prefix holds no glob character).
    pub(crate) fn bans(&self) -> String {
        format!("{}ban:*", self.prefix)
    }

    pub(crate) fn channel(&self) -> String {
        format!("{}events", self.prefix)
    }

    pub(crate) fn retest(&self, addr: SocketAddr) -> String {
        format!("{}retest:{addr}", self.prefix)
    }

    pub(crate) fn worker(&self, id: &str) -> String {
        format!("{}worker:{id}", self.prefix)
    }

    pub(crate) fn workers(&self) -> String {
        format!("{}worker:*", self.prefix)
    }

    /// The budget claims of `host` (hash: worker → connections) and their expiries
    /// (sorted set: worker → expiry in ms since the epoch, Redis's clock); both tagged
    /// with the host, so one script may touch both in cluster mode.
    pub(crate) fn budget(&self, host: &str) -> (String, String) {
        (
            self.of_host("budget", host),
            self.of_host("budget-exp", host),
        )
    }

    /// The host of a budget claims key (`{prefix}budget:{<host>}`).
    pub(crate) fn budget_host<'k>(&self, key: &'k str) -> Option<&'k str> {
        let tagged = key.strip_prefix(&self.prefix)?.strip_prefix("budget:")?;
        tagged.strip_prefix('{')?.strip_suffix('}')
    }

    pub(crate) fn budgets(&self) -> String {
        format!("{}budget:*", self.prefix)
    }
}

/// What the backend's tasks share.
pub(crate) struct Conn {
    /// Events queued or being published; `flush` waits for zero.
    pub(crate) pending: AtomicU64,
    /// Wakes `flush` (an event done) and `wait_synced` (a load done).
    pub(crate) progress: tokio::sync::Notify,
    pub(crate) cfg: FleetConfig,
    pub(crate) keys: Keys,
    /// Commands (reconnect by themselves), the key nodes, the subscriber's server.
    pub(crate) redis: Redis,
    pub(crate) counters: metrics::Counters,
}

impl Conn {
    /// Runs `call` on the command connection within the call deadline; a failure is
    /// counted under `op`. (How any part of the backend talks to Redis, in every mode.)
    pub(crate) async fn call<T, F>(&self, op: &'static str, call: F) -> Option<T>
    where
        F: AsyncFnOnce(&mut CommandConn) -> redis::RedisResult<T>,
    {
        let mut conn = self.redis.commands.clone();
        self.within(op, call(&mut conn)).await
    }

    /// Awaits `call` within the call deadline; a failure is counted under `op`.
    pub(crate) async fn within<T>(
        &self,
        op: &'static str,
        call: impl Future<Output = redis::RedisResult<T>>,
    ) -> Option<T> {
        match tokio::time::timeout(self.cfg.call_timeout, call).await {
            Ok(Ok(value)) => Some(value),
            Ok(Err(error)) => {
                tracing::debug!(op, %error, "fleet: redis call failed");
                self.counters.error(op);
                None
            }
            Err(_) => {
                tracing::debug!(op, "fleet: redis call timed out");
                self.counters.error(op);
                None
            }
        }
    }
}

/// The Redis fleet backend: hand it to [`Pool::with_shared_state`], then
/// [`RedisFleet::attach`] the pool.
pub struct RedisFleet {
    conn: Arc<Conn>,
    queue: mpsc::Sender<FleetEvent>,
}

impl std::fmt::Debug for RedisFleet {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RedisFleet")
            .field("url", &self.conn.cfg.url)
            .field("prefix", &self.conn.keys.prefix)
            .field("worker", &self.conn.cfg.worker)
            .finish()
    }
}

impl RedisFleet {
    /// Starts the backend (inside a tokio runtime): its publisher task, and a connection
    /// made lazily, so an unreachable Redis does not fail or delay the start.
    pub fn start(cfg: FleetConfig) -> Result<Arc<Self>, FleetError> {
        let keys = Keys::new(&cfg.prefix)?;
        if !wire::valid_worker(&cfg.worker) {
            return Err(FleetError::Worker(cfg.worker));
        }
        let redis = Redis::open(&cfg)?;
        let (queue, rx) = mpsc::channel(cfg.queue.max(1));
        tracing::info!(url = %cfg.url, mode = ?cfg.mode, prefix = %keys.prefix, worker = %cfg.worker, "fleet: redis backend");
        let conn = Arc::new(Conn {
            pending: AtomicU64::new(0),
            progress: tokio::sync::Notify::new(),
            cfg,
            keys,
            redis,
            counters: metrics::Counters::default(),
        });
        let _detached = tokio::spawn(worker::publish(conn.clone(), rx));
        Ok(Arc::new(Self { conn, queue }))
    }

    /// Starts the subscriber of `pool` (applies the fleet's events, re-syncs after every
    /// reconnect), its heartbeat and, with `max_conns_per_host`, its budget claims; all end
    /// when the pool closes.
    pub fn attach<D: Dialer>(&self, pool: &Pool<D>) {
        // The subscriber runs without `share_blacklist` too: it is what reconnects and
        // re-syncs, and an unshared blacklist publishes nothing to apply.
        let _detached = tokio::spawn(worker::subscribe(self.conn.clone(), pool.clone()));
        if self.conn.cfg.share_stats {
            let _detached = tokio::spawn(worker::heartbeat(self.conn.clone(), pool.clone()));
        }
        if let Some(max) = self.conn.cfg.max_conns_per_host {
            // No dial of a known host before its first claim answered (a failed claim
            // lifts this: local limits only). A host added later is unbudgeted until the
            // next tick.
            for host in pool.hosts() {
                pool.set_fleet_cap(&host, Some(0));
            }
            let _detached = tokio::spawn(budget::run(self.conn.clone(), pool.clone(), max));
        }
    }

    /// This worker's id.
    pub fn worker(&self) -> &str {
        &self.conn.cfg.worker
    }

    /// The backend's counters.
    pub fn stats(&self) -> FleetStats {
        self.conn.counters.snapshot()
    }

    /// Waits (at most `within`) until the fleet's bans were loaded once; returns whether
    /// they were. A short-lived process (the CLI) calls it before its first dial.
    pub async fn wait_synced(&self, within: Duration) -> bool {
        self.wait(within, || self.stats().syncs > 0).await
    }

    /// Waits (at most `within`) until every queued event was published (or failed);
    /// returns whether the queue emptied. A process calls it before it exits.
    pub async fn flush(&self, within: Duration) -> bool {
        self.wait(within, || self.conn.pending.load(Ordering::SeqCst) == 0)
            .await
    }

    async fn wait(&self, within: Duration, done: impl Fn() -> bool) -> bool {
        let deadline = tokio::time::Instant::now() + within;
        loop {
            let progress = self.conn.progress.notified();
            tokio::pin!(progress);
            progress.as_mut().enable();
            if done() {
                return true;
            }
            if tokio::time::timeout_at(deadline, progress).await.is_err() {
                return done();
            }
        }
    }
}

impl SharedState for RedisFleet {
    fn publish(&self, event: FleetEvent) {
        if !self.conn.cfg.share_blacklist {
            return;
        }
        self.conn.pending.fetch_add(1, Ordering::SeqCst);
        if self.queue.try_send(event).is_err() {
            self.conn.pending.fetch_sub(1, Ordering::SeqCst);
            self.conn.counters.queue_full();
        }
    }

    fn retest_lease(&self, addr: SocketAddr, interval: Duration) -> FleetFuture<'_, bool> {
        if !self.conn.cfg.share_blacklist {
            return Box::pin(std::future::ready(true));
        }
        Box::pin(worker::retest_lease(&self.conn, addr, interval))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_hosts_keys_share_its_hash_tag() {
        let keys = Keys::new("fleet:").unwrap();
        let addr: SocketAddr = "192.0.2.7:443".parse().unwrap();
        assert_eq!(
            keys.ban("example.com", addr),
            "fleet:ban:{example.com}:192.0.2.7:443"
        );
        let (claims, expiry) = keys.budget("example.com");
        assert_eq!(claims, "fleet:budget:{example.com}");
        assert_eq!(expiry, "fleet:budget-exp:{example.com}");
        assert_eq!(keys.budget_host(&claims), Some("example.com"));
        assert_eq!(keys.budget_host("fleet:budget:example.com"), None);
        assert_eq!(keys.budget_host(&expiry), None);
        // The prefix holds no brace (it is checked), so the host's is the key's hash tag.
        assert!(Keys::new("a{b}:").is_err());
    }

    #[test]
    fn configs_name_their_servers_and_mode() {
        let url = |s: &str| RedisUrl::parse(s).unwrap();
        let single = FleetConfig::new(url("redis://a:1"));
        assert_eq!(
            (single.mode.clone(), single.nodes().count()),
            (FleetMode::Single, 1)
        );
        let cluster = FleetConfig::cluster(vec![url("redis://a:1"), url("redis://b:2")]);
        let nodes: Vec<&str> = cluster.nodes().map(RedisUrl::expose).collect();
        assert_eq!(nodes, ["redis://a:1", "redis://b:2"]);
        assert_eq!(cluster.mode, FleetMode::Cluster);
        let sentinel = FleetConfig::sentinel(vec![url("redis://s:26379")], "crawl");
        let master = FleetMode::Sentinel {
            master: "crawl".into(),
        };
        assert_eq!((sentinel.mode, sentinel.more_nodes.len()), (master, 0));
    }
}
