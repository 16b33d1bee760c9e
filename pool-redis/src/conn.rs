//! How the backend reaches Redis in each [`FleetMode`]: one connection for commands
//! ([`CommandConn`], a `ConnectionLike`, so the backend's calls are the same in every mode),
//! the servers that hold keys (what a full load `SCAN`s: [`Redis::key_nodes`]), and where the
//! subscriber reads the channel ([`Redis::pubsub`]).
//!
//! - **single**: redis-rs's `ConnectionManager` (reconnects by itself); the subscriber on
//!   the same server.
//! - **cluster**: redis-rs's `cluster_async::ClusterConnection` (routes each command by its
//!   key's slot, follows `MOVED`, reconnects nodes). A `PUBLISH` reaches the subscribers of
//!   every node, so the subscriber reads the channel on one node (the seeds first, then the
//!   masters the cluster reports) and moves to the next one when it is lost. `SCAN` runs on
//!   every master (`CLUSTER SLOTS`).
//! - **sentinel**: redis-rs's `sentinel::SentinelClient` names the master; commands go to a
//!   multiplexed connection to it, dropped after a connection error or a `READONLY` answer
//!   (a demoted master), so the next command asks the sentinels again. The subscriber reads
//!   the master's channel and leaves when the sentinels name another master.

use std::sync::Mutex;
use std::sync::atomic::{AtomicUsize, Ordering};

use futures_util::FutureExt;
use redis::aio::{
    ConnectionLike, ConnectionManager, ConnectionManagerConfig, MultiplexedConnection, PubSub,
};
use redis::cluster::ClusterConfig;
use redis::cluster_async::ClusterConnection;
use redis::cluster_routing::{RoutingInfo, SingleNodeRoutingInfo};
use redis::sentinel::{SentinelClient, SentinelNodeConnectionInfo, SentinelServerType};
use redis::{
    AsyncConnectionConfig, Cmd, ConnectionAddr, ConnectionInfo, ErrorKind, IntoConnectionInfo,
    Pipeline, RedisFuture, RedisResult, ServerErrorKind, Value,
};

use crate::{FleetConfig, FleetError};

/// The fleet's Redis deployment (`[fleet] mode`).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub enum FleetMode {
    /// One server (the default): `url`.
    #[default]
    Single,
    /// Redis Cluster: `url` and `more_nodes` are seed nodes.
    Cluster,
    /// Redis Sentinel: `url` and `more_nodes` are sentinels watching the master `master`.
    Sentinel {
        /// The master's name, as the sentinels know it (`sentinel monitor NAME …`).
        master: String,
    },
}

/// The connection every command of the backend goes through, whatever the mode (cheap to
/// clone: each variant is a handle). Run commands and scripts on it as on any redis-rs
/// async connection (`query_async(&mut conn)`, `Script::invoke_async(&mut conn)`); in
/// cluster mode a multi-key command or script must keep its keys in one slot (hash-tag
/// them by host, as [`crate::Keys`] does).
#[derive(Clone)]
pub(crate) enum CommandConn {
    Single(ConnectionManager),
    Cluster(ClusterConnection),
    Sentinel(std::sync::Arc<SentinelMaster>),
}

impl ConnectionLike for CommandConn {
    fn req_packed_command<'a>(&'a mut self, cmd: &'a Cmd) -> RedisFuture<'a, Value> {
        match self {
            Self::Single(m) => m.req_packed_command(cmd),
            Self::Cluster(c) => c.req_packed_command(cmd),
            Self::Sentinel(s) => {
                let s = s.clone();
                async move { s.run(async |c| c.req_packed_command(cmd).await).await }.boxed()
            }
        }
    }

    fn req_packed_commands<'a>(
        &'a mut self,
        pipeline: &'a Pipeline,
        offset: usize,
        count: usize,
    ) -> RedisFuture<'a, Vec<Value>> {
        match self {
            Self::Single(m) => m.req_packed_commands(pipeline, offset, count),
            Self::Cluster(c) => c.req_packed_commands(pipeline, offset, count),
            Self::Sentinel(s) => {
                let s = s.clone();
                async move {
                    s.run(async |c| c.req_packed_commands(pipeline, offset, count).await)
                        .await
                }
                .boxed()
            }
        }
    }

    fn get_db(&self) -> i64 {
        match self {
            Self::Single(m) => m.get_db(),
            Self::Cluster(_) => 0,
            Self::Sentinel(s) => s.db,
        }
    }
}

/// One server holding keys, for `SCAN` and the reads of what it found: the command
/// connection itself, or in cluster mode the command connection routed to one master.
#[derive(Clone)]
pub(crate) struct KeyNode {
    conn: CommandConn,
    /// The master (cluster mode).
    at: Option<(String, u16)>,
}

impl KeyNode {
    fn route(&self) -> Option<SingleNodeRoutingInfo> {
        let (host, port) = self.at.clone()?;
        Some(SingleNodeRoutingInfo::ByAddress { host, port })
    }
}

impl ConnectionLike for KeyNode {
    fn req_packed_command<'a>(&'a mut self, cmd: &'a Cmd) -> RedisFuture<'a, Value> {
        match (self.route(), &mut self.conn) {
            (Some(route), CommandConn::Cluster(c)) => c
                .route_command(cmd.clone(), RoutingInfo::SingleNode(route))
                .boxed(),
            (_, conn) => conn.req_packed_command(cmd),
        }
    }

    fn req_packed_commands<'a>(
        &'a mut self,
        pipeline: &'a Pipeline,
        offset: usize,
        count: usize,
    ) -> RedisFuture<'a, Vec<Value>> {
        match (self.route(), &mut self.conn) {
            (Some(route), CommandConn::Cluster(c)) => c
                .route_pipeline(pipeline.clone(), offset, count, route)
                .boxed(),
            (_, conn) => conn.req_packed_commands(pipeline, offset, count),
        }
    }

    fn get_db(&self) -> i64 {
        self.conn.get_db()
    }
}

/// The master named by the sentinels, and the connection to it while it works.
pub(crate) struct SentinelMaster {
    sentinels: tokio::sync::Mutex<SentinelClient>,
    current: Mutex<Option<(String, MultiplexedConnection)>>,
    config: AsyncConnectionConfig,
    db: i64,
}

impl SentinelMaster {
    /// The master's address and a connection to it (the current one, or one to the master
    /// the sentinels name now).
    async fn connection(&self) -> RedisResult<(String, MultiplexedConnection)> {
        if let Some(current) = self.current.lock().expect("not poisoned").clone() {
            return Ok(current);
        }
        let client = self.client().await?;
        let addr = client.get_connection_info().addr().to_string();
        let conn = client
            .get_multiplexed_async_connection_with_config(&self.config)
            .await?;
        *self.current.lock().expect("not poisoned") = Some((addr.clone(), conn.clone()));
        Ok((addr, conn))
    }

    /// A client for the master the sentinels name now (they check it answers as master).
    async fn client(&self) -> RedisResult<redis::Client> {
        self.sentinels.lock().await.async_get_client().await
    }

    /// Runs `call` on the master's connection; a connection error or a `READONLY` answer
    /// drops it, so the next call asks the sentinels again.
    async fn run<T>(
        &self,
        call: impl AsyncFnOnce(&mut MultiplexedConnection) -> RedisResult<T>,
    ) -> RedisResult<T> {
        let (addr, mut conn) = self.connection().await?;
        let result = call(&mut conn).await;
        if let Err(e) = &result
            && (e.is_io_error()
                || e.is_connection_dropped()
                || e.is_connection_refusal()
                || e.is_timeout()
                || e.kind() == ErrorKind::Server(ServerErrorKind::ReadOnly))
        {
            let mut current = self.current.lock().expect("not poisoned");
            if current.as_ref().is_some_and(|(a, _)| *a == addr) {
                *current = None;
            }
        }
        result
    }
}

/// How the subscriber finds a server to read the channel on.
enum Subscribers {
    Single(redis::Client),
    /// Seeds first, then the masters found by the last full load; `next` is the one to
    /// try, moved on when a subscriber's connection is lost.
    Cluster {
        nodes: Mutex<Vec<ConnectionInfo>>,
        next: AtomicUsize,
    },
    Sentinel(std::sync::Arc<SentinelMaster>),
}

/// The backend's way to Redis: commands, key nodes, the subscriber's server.
pub(crate) struct Redis {
    pub(crate) commands: CommandConn,
    subscribers: Subscribers,
}

/// Where a subscriber reads the channel (to tell whether it is still the right place).
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct SubscribedAt(String);

impl Redis {
    /// Connects lazily (an unreachable Redis neither fails nor delays this) per `cfg.mode`.
    pub(crate) fn open(cfg: &FleetConfig) -> Result<Self, FleetError> {
        let timeout = cfg.call_timeout;
        let infos = cfg
            .nodes()
            .map(|url| url.expose().into_connection_info())
            .collect::<RedisResult<Vec<_>>>()?;
        Ok(match &cfg.mode {
            FleetMode::Single => {
                let client = redis::Client::open(infos[0].clone())?;
                let manager = ConnectionManager::new_lazy_with_config(
                    client.clone(),
                    ConnectionManagerConfig::new()
                        .set_connection_timeout(Some(timeout))
                        .set_response_timeout(Some(timeout))
                        .set_number_of_retries(1)
                        .set_min_delay(cfg.min_backoff)
                        .set_max_delay(cfg.max_backoff),
                )?;
                Self {
                    commands: CommandConn::Single(manager),
                    subscribers: Subscribers::Single(client),
                }
            }
            FleetMode::Cluster => {
                let client = redis::cluster::ClusterClientBuilder::new(infos.clone())
                    .retries(1)
                    .min_retry_wait(10)
                    .max_retry_wait(u64::try_from(timeout.as_millis()).unwrap_or(u64::MAX))
                    .build()?;
                let conn = client.get_pending_async_connection_with_config(
                    ClusterConfig::new()
                        .set_connection_timeout(timeout)
                        .set_response_timeout(timeout),
                );
                Self {
                    commands: CommandConn::Cluster(conn),
                    subscribers: Subscribers::Cluster {
                        nodes: Mutex::new(infos),
                        next: AtomicUsize::new(0),
                    },
                }
            }
            FleetMode::Sentinel { master } => {
                // The sentinels' URL's user, password and database serve for the master.
                let redis_info = infos[0].redis_settings().clone();
                let db = redis_info.db();
                let node =
                    SentinelNodeConnectionInfo::default().set_redis_connection_info(redis_info);
                let sentinels = SentinelClient::build(
                    infos,
                    master.clone(),
                    Some(node),
                    SentinelServerType::Master,
                )?;
                let master = std::sync::Arc::new(SentinelMaster {
                    sentinels: tokio::sync::Mutex::new(sentinels),
                    current: Mutex::new(None),
                    config: AsyncConnectionConfig::new()
                        .set_connection_timeout(Some(timeout))
                        .set_response_timeout(Some(timeout)),
                    db,
                });
                Self {
                    commands: CommandConn::Sentinel(master.clone()),
                    subscribers: Subscribers::Sentinel(master),
                }
            }
        })
    }

    /// A pub/sub connection to the server the subscriber should read the channel on.
    pub(crate) async fn pubsub(&self) -> RedisResult<(PubSub, SubscribedAt)> {
        let client = match &self.subscribers {
            Subscribers::Single(client) => client.clone(),
            Subscribers::Cluster { nodes, next } => {
                let info = {
                    let nodes = nodes.lock().expect("not poisoned");
                    nodes[next.load(Ordering::Relaxed) % nodes.len()].clone()
                };
                redis::Client::open(info)?
            }
            Subscribers::Sentinel(master) => master.client().await?,
        };
        let at = SubscribedAt(client.get_connection_info().addr().to_string());
        Ok((client.get_async_pubsub().await?, at))
    }

    /// The subscriber lost its server (or never reached it): in cluster mode the next one
    /// is tried next time.
    pub(crate) fn subscriber_lost(&self) {
        if let Subscribers::Cluster { next, .. } = &self.subscribers {
            next.fetch_add(1, Ordering::Relaxed);
        }
    }

    /// Whether `at` is still where the subscriber belongs: in sentinel mode, whether the
    /// sentinels still name it master (a failover moves the subscriber to the new one).
    pub(crate) async fn still_current(&self, at: &SubscribedAt) -> RedisResult<bool> {
        match &self.subscribers {
            Subscribers::Sentinel(master) => {
                let client = master.client().await?;
                Ok(client.get_connection_info().addr().to_string() == at.0)
            }
            _ => Ok(true),
        }
    }

    /// Every server that holds keys: the one server, or every master of the cluster (asked
    /// with `CLUSTER SLOTS`, and remembered as places the subscriber may read from).
    pub(crate) async fn key_nodes(&self) -> RedisResult<Vec<KeyNode>> {
        let mut conn = self.commands.clone();
        let Subscribers::Cluster { nodes, .. } = &self.subscribers else {
            return Ok(vec![KeyNode { conn, at: None }]);
        };
        let slots: Value = redis::cmd("CLUSTER")
            .arg("SLOTS")
            .query_async(&mut conn)
            .await?;
        let masters = masters_of(&slots);
        {
            let mut nodes = nodes.lock().expect("not poisoned");
            for (host, port) in &masters {
                let addr = ConnectionAddr::Tcp(host.clone(), *port);
                if !nodes.iter().any(|n| *n.addr() == addr) {
                    let info = nodes[0].clone().set_addr(addr);
                    nodes.push(info);
                }
            }
        }
        Ok(masters
            .into_iter()
            .map(|at| KeyNode {
                conn: conn.clone(),
                at: Some(at),
            })
            .collect())
    }
}

/// The masters in a `CLUSTER SLOTS` answer (`[[start, end, [host, port, id…], replicas…]…]`),
/// each once, in order.
fn masters_of(slots: &Value) -> Vec<(String, u16)> {
    let mut masters: Vec<(String, u16)> = Vec::new();
    let Value::Array(ranges) = slots else {
        return masters;
    };
    for range in ranges {
        let Value::Array(fields) = range else {
            continue;
        };
        let Some(Value::Array(master)) = fields.get(2) else {
            continue;
        };
        let host = match master.first() {
            Some(Value::BulkString(b)) => String::from_utf8_lossy(b).into_owned(),
            Some(Value::SimpleString(s)) => s.clone(),
            _ => continue,
        };
        let Some(Value::Int(port)) = master.get(1) else {
            continue;
        };
        let Ok(port) = u16::try_from(*port) else {
            continue;
        };
        if !masters.iter().any(|(h, p)| *h == host && *p == port) {
            masters.push((host, port));
        }
    }
    masters
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn masters_are_read_from_cluster_slots_once_each() {
        let node = |host: &str, port: i64| {
            Value::Array(vec![
                Value::BulkString(host.as_bytes().to_vec()),
                Value::Int(port),
                Value::BulkString(b"id".to_vec()),
            ])
        };
        let range = |start: i64, end: i64, master: Value, replica: Option<Value>| {
            let mut fields = vec![Value::Int(start), Value::Int(end), master];
            fields.extend(replica);
            Value::Array(fields)
        };
        let slots = Value::Array(vec![
            range(
                0,
                5460,
                node("127.0.0.1", 7000),
                Some(node("127.0.0.1", 7100)),
            ),
            range(5461, 10922, node("127.0.0.1", 7001), None),
            range(10923, 12000, node("127.0.0.1", 7002), None),
            range(12001, 16383, node("127.0.0.1", 7002), None),
            Value::Int(3), // not a range: skipped
        ]);
        assert_eq!(
            masters_of(&slots),
            [
                ("127.0.0.1".to_string(), 7000),
                ("127.0.0.1".to_string(), 7001),
                ("127.0.0.1".to_string(), 7002)
            ]
        );
        assert!(masters_of(&Value::Nil).is_empty());
    }
}
