//! The fleet-wide request rate per host (`[[hosts]] fleet_rate_limit`) on Redis:
//! [`RedisRates`] implements pool-core's [`FleetTokens`] port.
//!
//! One GCRA per host for the whole fleet, its *theoretical arrival time* in one key. A
//! worker leases a batch of `n` tokens in one atomic script call: the script reserves the
//! fleet's next `n` slots (moving the time on by `n` emission intervals) and answers when
//! the first one is, relative to Redis's clock (so the workers' clocks never meet). The
//! worker spends the slots locally (`pool_core::FleetAccount`): one round trip per batch,
//! not per request. The same call refreshes the worker in the host's registry of leasing
//! workers and returns how many are live — the divisor of each worker's fallback share
//! when Redis is lost.
//!
//! Keys, both hash-tagged on the host so a host's keys share one Redis Cluster slot:
//! - `{prefix}rate:{<host>}`: the fleet's next free slot, ms since the epoch (Redis's
//!   clock), expiring once it is in the past by `member_ttl`;
//! - `{prefix}rate-workers:{<host>}`: sorted set, worker → expiry (ms), members older
//!   than `member_ttl` pruned on every lease.
//!
//! Every call has the backend's deadline (`call_timeout`); a failure is counted in
//! `hotpool_fleet_errors_total{op="rate"}` and reported to the account, which falls back
//! to its share. The connection is made on the first lease (inside the runtime), so
//! building this needs none and an unreachable Redis delays nothing.

use std::sync::Arc;
use std::time::Duration;

use pool_core::fleet::FleetFuture;
use pool_core::{FleetTokens, FleetTokensError, RateLimit, TokenGrant};
use redis::IntoConnectionInfo;
use redis::aio::ConnectionLike;

use crate::metrics::ERRORS_TOTAL;
use crate::{CommandConn, FleetConfig, FleetError, Keys, Redis, wire};

/// One lease. KEYS: the host's next-slot key, its worker registry. ARGV: the emission
/// interval (ms), the tolerance (ms, for bursts), tokens wanted, the worker, how long a
/// worker stays registered (ms). Returns {granted, first slot in µs from now, workers}.
const LEASE: &str = r"
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + tonumber(t[2]) / 1000
local interval, tolerance = tonumber(ARGV[1]), tonumber(ARGV[2])
local want, worker, ttl = tonumber(ARGV[3]), ARGV[4], tonumber(ARGV[5])
local tat = tonumber(redis.call('GET', KEYS[1]) or '0')
local first = math.max(now, tat - tolerance)
local next = math.max(tat, now) + want * interval
redis.call('SET', KEYS[1], string.format('%.3f', next), 'PX', math.ceil(next - now + ttl))
redis.call('ZADD', KEYS[2], now + ttl, worker)
redis.call('ZREMRANGEBYSCORE', KEYS[2], '-inf', now)
redis.call('PEXPIRE', KEYS[2], math.ceil(ttl))
local workers = redis.call('ZCARD', KEYS[2])
return {want, math.floor((first - now) * 1000), workers}
";

/// How long a worker counts as live in a host's registry after its last lease.
pub const MEMBER_TTL: Duration = Duration::from_secs(5);

/// The fleet-wide rates of the hosts, on Redis ([`FleetTokens`]). Share one per process
/// (`HostRates::with_fleet` in pool-http).
pub struct RedisRates {
    /// The fleet's command connection in its mode (single, cluster, sentinel), opened on
    /// the first lease.
    conn: tokio::sync::OnceCell<CommandConn>,
    cfg: FleetConfig,
    keys: Keys,
    script: redis::Script,
    member_ttl: Duration,
}

impl std::fmt::Debug for RedisRates {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RedisRates")
            .field("url", &self.cfg.url)
            .field("prefix", &self.cfg.prefix)
            .field("worker", &self.cfg.worker)
            .finish()
    }
}

impl RedisRates {
    /// The rates of the fleet `cfg` (its URL, prefix, worker id and call deadline). Needs
    /// no runtime and no answer from Redis: the connection is made on the first lease.
    ///
    /// # Errors
    /// An invalid prefix or worker id, or a URL the client refuses.
    pub fn new(cfg: &FleetConfig) -> Result<Arc<Self>, FleetError> {
        let keys = Keys::new(&cfg.prefix)?;
        if !wire::valid_worker(&cfg.worker) {
            return Err(FleetError::Worker(cfg.worker.clone()));
        }
        for url in cfg.nodes() {
            url.expose().into_connection_info()?;
        }
        Ok(Arc::new(Self {
            conn: tokio::sync::OnceCell::new(),
            cfg: cfg.clone(),
            keys,
            script: redis::Script::new(LEASE),
            member_ttl: MEMBER_TTL,
        }))
    }

    /// This worker's id.
    pub fn worker(&self) -> &str {
        &self.cfg.worker
    }

    async fn conn(&self) -> Result<CommandConn, FleetError> {
        let open = || async { Redis::open(&self.cfg).map(|redis| redis.commands) };
        self.conn.get_or_try_init(open).await.cloned()
    }

    async fn lease_within_deadline(
        &self,
        host: &str,
        limit: RateLimit,
        want: u32,
    ) -> Result<TokenGrant, FleetTokensError> {
        if !wire::valid_host(host) {
            return Err(FleetTokensError(format!("host {host:?} has no fleet key")));
        }
        let call = async {
            let mut conn = self.conn().await.map_err(|e| e.to_string())?;
            lease(
                &mut conn,
                &self.script,
                &self.keys.rate(host),
                limit,
                want,
                &self.cfg.worker,
                self.member_ttl,
            )
            .await
            .map_err(|e| e.to_string())
        };
        match tokio::time::timeout(self.cfg.call_timeout, call).await {
            Ok(Ok(grant)) => Ok(grant),
            Ok(Err(error)) => {
                tracing::debug!(host, %error, "fleet rate: lease failed");
                metrics::counter!(ERRORS_TOTAL, "op" => "rate").increment(1);
                Err(FleetTokensError(error.to_string()))
            }
            Err(_) => {
                tracing::debug!(host, "fleet rate: lease timed out");
                metrics::counter!(ERRORS_TOTAL, "op" => "rate").increment(1);
                Err(FleetTokensError(format!(
                    "no answer within {:?}",
                    self.cfg.call_timeout
                )))
            }
        }
    }
}

impl FleetTokens for RedisRates {
    fn lease(
        &self,
        host: &str,
        limit: RateLimit,
        want: u32,
    ) -> FleetFuture<'_, Result<TokenGrant, FleetTokensError>> {
        let host = host.to_owned();
        Box::pin(async move { self.lease_within_deadline(&host, limit, want).await })
    }
}

/// One lease script call on any Redis connection (a single node's or a cluster's: both
/// keys share the host's slot).
async fn lease<C: ConnectionLike>(
    conn: &mut C,
    script: &redis::Script,
    (next, workers): &(String, String),
    limit: RateLimit,
    want: u32,
    worker: &str,
    member_ttl: Duration,
) -> redis::RedisResult<TokenGrant> {
    let interval = limit.per().as_secs_f64() * 1000.0 / f64::from(limit.requests());
    let tolerance = interval * f64::from(limit.burst() - 1);
    let (granted, first_in_us, live): (u32, i64, u32) = script
        .key(next)
        .key(workers)
        .arg(interval)
        .arg(tolerance)
        .arg(want.max(1))
        .arg(worker)
        .arg(member_ttl.as_millis() as u64)
        .invoke_async(conn)
        .await?;
    Ok(TokenGrant {
        granted,
        first_in: Duration::from_micros(first_in_us.max(0).unsigned_abs()),
        interval: Duration::from_secs_f64(interval / 1000.0),
        workers: live,
    })
}

impl Keys {
    /// The fleet rate of `host`: its next free slot and its registry of leasing workers,
    /// both tagged `{host}` (one Redis Cluster slot).
    pub(crate) fn rate(&self, host: &str) -> (String, String) {
        (
            self.of_host("rate", host),
            self.of_host("rate-workers", host),
        )
    }
}
