//! The fleet's state as Redis holds it, for `hotpool fleet status`: the bans (with their
//! remaining TTL) and the workers (with the hosts each pools).

use std::time::Duration;

use crate::wire::{self, Message};
use crate::{CommandConn, FleetConfig, FleetError, KeyNode, Keys, Redis, RedisUrl};

/// One ban of the fleet.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct BanEntry {
    /// The ban (its `ttl` is what remains).
    pub message: Message,
}

/// One live worker.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct WorkerEntry {
    /// Its id.
    pub worker: String,
    /// The hosts it pools.
    pub hosts: Vec<String>,
}

/// One host's fleet budget: what each worker claimed (live claims; expired ones are
/// removed at the next claim).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct BudgetEntry {
    /// The host.
    pub host: String,
    /// Worker → connections held or granted.
    pub claims: Vec<(String, u64)>,
}

/// What [`status`] read.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct FleetStatus {
    /// Every ban, by key order.
    pub bans: Vec<BanEntry>,
    /// Every worker whose heartbeat is live.
    pub workers: Vec<WorkerEntry>,
    /// Every host with a fleet budget.
    pub budgets: Vec<BudgetEntry>,
    /// Keys under the prefix that did not parse (counted, not shown).
    pub malformed: usize,
}

impl FleetStatus {
    /// Workers per host, by host name.
    pub fn workers_per_host(&self) -> Vec<(String, usize)> {
        let mut per: std::collections::BTreeMap<String, usize> = Default::default();
        for w in &self.workers {
            for h in &w.hosts {
                *per.entry(h.clone()).or_default() += 1;
            }
        }
        per.into_iter().collect()
    }
}

/// Reads the fleet's bans and workers under `prefix` on one server (single mode), each
/// call within `timeout`. [`status_of`] reads any deployment.
pub async fn status(
    url: &RedisUrl,
    prefix: &str,
    timeout: Duration,
) -> Result<FleetStatus, FleetError> {
    let mut cfg = FleetConfig::new(url.clone());
    cfg.prefix = prefix.into();
    status_of(&cfg, timeout).await
}

/// Reads the fleet's bans and workers of `cfg` (its mode, servers and prefix), each call
/// within `timeout` (in cluster mode every master must answer).
pub async fn status_of(cfg: &FleetConfig, timeout: Duration) -> Result<FleetStatus, FleetError> {
    let keys = Keys::new(&cfg.prefix)?;
    let mut cfg = cfg.clone();
    cfg.call_timeout = timeout;
    let redis = Redis::open(&cfg)?;
    let within = Within(timeout);
    let nodes = within.run("connect", redis.key_nodes()).await?;
    let mut m: CommandConn = redis.commands.clone();
    let mut out = FleetStatus::default();
    for key in scan(&within, &nodes, &keys.bans()).await? {
        let mut pipe = redis::pipe();
        pipe.cmd("GET").arg(&key).cmd("PTTL").arg(&key);
        let (value, pttl): (Option<Vec<u8>>, i64) =
            within.run("read", pipe.query_async(&mut m)).await?;
        let Some(value) = value else { continue };
        match wire::parse(&value) {
            Ok(mut message) => {
                if let pool_core::FleetEvent::Ban(ban) = &mut message.event {
                    ban.ttl = Duration::from_millis(u64::try_from(pttl).unwrap_or(0));
                }
                out.bans.push(BanEntry { message });
            }
            Err(_) => out.malformed += 1,
        }
    }
    let worker_prefix = keys.worker("");
    for key in scan(&within, &nodes, &keys.workers()).await? {
        let mut get = redis::cmd("GET");
        get.arg(&key);
        let Some(value) = within
            .run("read", get.query_async::<Option<String>>(&mut m))
            .await?
        else {
            continue;
        };
        let worker = key.strip_prefix(&worker_prefix).unwrap_or(&key).to_string();
        let hosts = value
            .split(' ')
            .filter(|h| wire::valid_host(h))
            .map(String::from)
            .collect();
        out.workers.push(WorkerEntry { worker, hosts });
    }
    for key in scan(&within, &nodes, &keys.budgets()).await? {
        let mut read = redis::cmd("HGETALL");
        read.arg(&key);
        let claims = within
            .run("read", read.query_async::<Vec<(String, u64)>>(&mut m))
            .await?;
        let Some(host) = keys.budget_host(&key) else {
            out.malformed += 1;
            continue;
        };
        let host = host.to_string();
        out.budgets.push(BudgetEntry { host, claims });
    }
    Ok(out)
}

/// One deadline for every call of a status read.
struct Within(Duration);

impl Within {
    async fn run<T>(
        &self,
        op: &'static str,
        call: impl Future<Output = redis::RedisResult<T>>,
    ) -> Result<T, FleetError> {
        let after = self.0;
        tokio::time::timeout(after, call)
            .await
            .map_err(|_| FleetError::Timeout { op, after })?
            .map_err(FleetError::from)
    }
}

/// Every key matching `pattern` on every node, sorted, once each.
async fn scan(
    within: &Within,
    nodes: &[KeyNode],
    pattern: &str,
) -> Result<Vec<String>, FleetError> {
    let mut found = Vec::new();
    for node in nodes {
        let mut node = node.clone();
        let mut cursor: u64 = 0;
        loop {
            let mut scan = redis::cmd("SCAN");
            scan.arg(cursor)
                .arg("MATCH")
                .arg(pattern)
                .arg("COUNT")
                .arg(256);
            let (next, batch): (u64, Vec<String>) =
                within.run("scan", scan.query_async(&mut node)).await?;
            found.extend(batch);
            if next == 0 {
                break;
            }
            cursor = next;
        }
    }
    found.sort();
    found.dedup();
    Ok(found)
}
