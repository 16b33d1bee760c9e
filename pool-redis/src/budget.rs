//! The fleet-wide connection budget per host (`fleet_max_conns_per_host`), held with
//! expiring leases: every tick, for each host it pools, a worker claims what it holds and
//! wants, and gets its share (`min(wanted, max − what the other live workers hold)`); the
//! pool then dials only within that share ([`Pool::set_fleet_cap`]). A worker's claim lives
//! `budget_ttl`: a crashed worker's share returns by itself. Redis unreachable: the share
//! is dropped (local limits only) until it answers again — the pool never stalls on Redis.

use std::sync::Arc;
use std::time::Duration;

use pool_core::{Dialer, Pool};

use crate::Conn;
use crate::wire;

/// One atomic claim. KEYS: the claims hash (worker → connections) and the expiry set
/// (worker → expiry in ms). ARGV: ttl ms, worker, held, wanted, max. Returns the share.
const CLAIM: &str = r"
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
local ttl, worker = tonumber(ARGV[1]), ARGV[2]
local held, wanted, max = tonumber(ARGV[3]), tonumber(ARGV[4]), tonumber(ARGV[5])
for _, w in ipairs(redis.call('ZRANGEBYSCORE', KEYS[2], '-inf', now)) do
  redis.call('HDEL', KEYS[1], w)
end
redis.call('ZREMRANGEBYSCORE', KEYS[2], '-inf', now)
local others = 0
local claims = redis.call('HGETALL', KEYS[1])
for i = 1, #claims, 2 do
  if claims[i] ~= worker then others = others + tonumber(claims[i + 1]) end
end
local share = math.max(0, math.min(wanted, max - others))
redis.call('HSET', KEYS[1], worker, math.max(share, held))
redis.call('ZADD', KEYS[2], now + ttl, worker)
redis.call('PEXPIRE', KEYS[1], ttl)
redis.call('PEXPIRE', KEYS[2], ttl)
return share
";

/// Claims the pool's share of every host it knows, every `budget_tick`, until it closes;
/// then gives the shares back.
pub(crate) async fn run<D: Dialer>(conn: Arc<Conn>, pool: Pool<D>, max: usize) {
    let ttl = u64::try_from(conn.cfg.budget_ttl.as_millis())
        .unwrap_or(u64::MAX)
        .max(1);
    let mut tick = tokio::time::interval(conn.cfg.budget_tick.max(Duration::from_millis(1)));
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    let script = redis::Script::new(CLAIM);
    loop {
        tokio::select! {
            _ = pool.closed() => break,
            _ = tick.tick() => {}
        }
        for host in pool.hosts() {
            let Some(demand) = pool.fleet_demand(&host) else {
                continue;
            };
            if !wire::valid_host(&host) {
                continue;
            }
            let (claims, expiry) = conn.keys.budget(&host);
            let claim = async |m: &mut crate::CommandConn| {
                script
                    .key(&claims)
                    .key(&expiry)
                    .arg(ttl)
                    .arg(&conn.cfg.worker)
                    .arg(demand.held)
                    .arg(demand.wanted)
                    .arg(max)
                    .invoke_async::<usize>(m)
                    .await
            };
            // No answer: local limits only (fail open) until Redis answers again.
            let share = conn.call("budget", claim).await;
            pool.set_fleet_cap(&host, share);
        }
    }
    for host in pool.hosts() {
        let (claims, _) = conn.keys.budget(&host);
        conn.call("budget", async |m| {
            redis::cmd("HDEL")
                .arg(&claims)
                .arg(&conn.cfg.worker)
                .query_async::<()>(m)
                .await
        })
        .await;
    }
}
