//! Redis deployments of several Debian `redis-server` processes, for the fleet tests:
//! - [`RedisCluster`]: three masters (`--cluster-enabled yes`, no replicas), joined with
//!   `CLUSTER MEET` and given a third of the slots each with `CLUSTER ADDSLOTSRANGE`;
//!   `cluster-require-full-coverage no`, so a killed node costs only its own slots. A node
//!   can be killed and started again (it keeps its `nodes.conf` and rejoins, empty).
//! - [`RedisSentinel`]: a master, a replica and one sentinel (`redis-server --sentinel`,
//!   quorum 1, the master "down" after 500 ms); killing the master makes the sentinel
//!   promote the replica.
//!
//! Each node is a [`RedisServer`] (free ports, its own directory, killed on drop). Every
//! wait has a deadline and ends in [`RedisServerError`]. The few commands sent to set them
//! up go over a plain socket ([`command`]): the testkit has no Redis client.

use std::io::{self, BufRead, BufReader, Write};
use std::net::{SocketAddr, TcpStream};
use std::time::{Duration, Instant};

use crate::redis::{RedisServer, RedisServerError, binary, free_port};

/// How long a deployment may take to settle (slots agreed, replica synced, failover done).
const SETTLE_WITHIN: Duration = Duration::from_secs(30);

/// Three Redis Cluster masters on 127.0.0.1.
pub struct RedisCluster {
    nodes: Vec<RedisServer>,
}

impl RedisCluster {
    /// Starts three masters, joins them, assigns the slots (node 0: 0–5460, node 1:
    /// 5461–10922, node 2: 10923–16383) and waits until every node says `cluster_state:ok`
    /// and knows the other two.
    pub fn start() -> Result<Self, RedisServerError> {
        let mut nodes = Vec::new();
        for _ in 0..3 {
            let mut node = RedisServer::stopped(&binary(), None)?;
            let bus = free_port()?;
            node.args = [
                "--cluster-enabled",
                "yes",
                "--cluster-config-file",
                "nodes.conf",
                "--cluster-node-timeout",
                "1000",
                "--cluster-require-full-coverage",
                "no",
                "--cluster-announce-ip",
                "127.0.0.1",
                "--cluster-port",
                &bus.to_string(),
            ]
            .map(String::from)
            .to_vec();
            node.restart()?;
            nodes.push((node, bus));
        }
        let first = nodes[0].0.addr();
        for (node, bus) in &nodes[1..] {
            let (port, bus) = (node.port().to_string(), bus.to_string());
            command(first, &["CLUSTER", "MEET", "127.0.0.1", &port, &bus])?;
        }
        let ranges = [(0, 5460), (5461, 10922), (10923, 16383)];
        for ((node, _), (from, to)) in nodes.iter().zip(ranges) {
            let (from, to) = (from.to_string(), to.to_string());
            command(node.addr(), &["CLUSTER", "ADDSLOTSRANGE", &from, &to])?;
        }
        let cluster = Self {
            nodes: nodes.into_iter().map(|(node, _)| node).collect(),
        };
        cluster.wait_ok()?;
        Ok(cluster)
    }

    /// The nodes' URLs (`redis://127.0.0.1:PORT`), node 0 first.
    pub fn urls(&self) -> Vec<String> {
        self.nodes
            .iter()
            .map(|n| format!("redis://127.0.0.1:{}", n.port()))
            .collect()
    }

    /// Node `i` (0–2).
    pub fn node(&self, i: usize) -> &RedisServer {
        &self.nodes[i]
    }

    /// The node holding `key`'s slot (its hash tag's, if it has one): asked of node 0
    /// (`CLUSTER KEYSLOT`), mapped with the ranges [`RedisCluster::start`] assigned.
    pub fn node_of(&self, key: &str) -> Result<usize, RedisServerError> {
        let live = self
            .nodes
            .iter()
            .find(|n| n.is_running())
            .expect("a live node");
        let slot: u32 = command(live.addr(), &["CLUSTER", "KEYSLOT", key])?
            .parse()
            .map_err(|_| io::Error::other("CLUSTER KEYSLOT: not a number"))?;
        Ok(match slot {
            0..=5460 => 0,
            5461..=10922 => 1,
            _ => 2,
        })
    }

    /// Kills node `i` (as a crash would).
    pub fn kill(&mut self, i: usize) {
        self.nodes[i].stop();
    }

    /// Starts node `i` again (empty; it rejoins with its slots) and waits until the
    /// cluster is whole again.
    pub fn restart(&mut self, i: usize) -> Result<(), RedisServerError> {
        self.nodes[i].restart()?;
        self.wait_ok()
    }

    /// Waits until every running node reports `cluster_state:ok` and three known nodes
    /// (none flagged failing).
    fn wait_ok(&self) -> Result<(), RedisServerError> {
        let running: Vec<SocketAddr> = self
            .nodes
            .iter()
            .filter(|n| n.is_running())
            .map(RedisServer::addr)
            .collect();
        settle(|| {
            for at in &running {
                let info = command(*at, &["CLUSTER", "INFO"])?;
                let nodes = command(*at, &["CLUSTER", "NODES"])?;
                let ok = info.contains("cluster_state:ok")
                    && info.contains("cluster_known_nodes:3")
                    && info.contains("cluster_slots_assigned:16384")
                    && !nodes.contains("fail");
                if !ok {
                    return Ok(false);
                }
            }
            Ok(true)
        })
    }
}

/// A master, its replica and one sentinel watching them, on 127.0.0.1.
pub struct RedisSentinel {
    master: RedisServer,
    replica: RedisServer,
    sentinel: RedisServer,
    name: String,
}

impl RedisSentinel {
    /// Starts the master, the replica (`--replicaof`) and the sentinel (quorum 1, the master
    /// down after 500 ms, failover timeout 2 s) watching the master as `name`; waits until
    /// the replica is in sync and the sentinel knows it.
    pub fn start(name: &str) -> Result<Self, RedisServerError> {
        let master = RedisServer::start()?;
        let mut replica = RedisServer::stopped(&binary(), None)?;
        replica.args = ["--replicaof", "127.0.0.1", &master.port().to_string()]
            .map(String::from)
            .to_vec();
        replica.restart()?;
        let mut sentinel = RedisServer::stopped(&binary(), None)?;
        let conf = format!(
            "sentinel monitor {name} 127.0.0.1 {port} 1\n\
             sentinel down-after-milliseconds {name} 500\n\
             sentinel failover-timeout {name} 2000\n",
            port = master.port()
        );
        std::fs::write(sentinel.dir.join("sentinel.conf"), conf)?;
        sentinel.conf = Some("sentinel.conf".into());
        sentinel.args = vec!["--sentinel".into()];
        sentinel.restart()?;
        let deployment = Self {
            master,
            replica,
            sentinel,
            name: name.into(),
        };
        settle(|| {
            let replication = command(deployment.replica.addr(), &["INFO", "replication"])?;
            let watched = command(deployment.sentinel.addr(), &["INFO", "sentinel"])?;
            Ok(replication.contains("master_link_status:up")
                && watched.contains("status=ok")
                && watched.contains("slaves=1"))
        })?;
        Ok(deployment)
    }

    /// The sentinel's URL (`redis://127.0.0.1:PORT`).
    pub fn sentinel_url(&self) -> String {
        format!("redis://127.0.0.1:{}", self.sentinel.port())
    }

    /// The name the sentinel knows the master by.
    pub fn master_name(&self) -> &str {
        &self.name
    }

    /// The first master (killed by [`RedisSentinel::kill_master`]).
    pub fn master(&self) -> &RedisServer {
        &self.master
    }

    /// The replica (the master after a failover).
    pub fn replica(&self) -> &RedisServer {
        &self.replica
    }

    /// The master's address as the sentinel reports it now (`INFO sentinel`).
    pub fn master_addr(&self) -> Result<SocketAddr, RedisServerError> {
        let info = command(self.sentinel.addr(), &["INFO", "sentinel"])?;
        info.split(',')
            .find_map(|field| field.strip_prefix("address="))
            .and_then(|addr| addr.trim().parse().ok())
            .ok_or_else(|| io::Error::other(format!("no master address in {info:?}")).into())
    }

    /// Kills the master (as a crash would) and waits until the sentinel has promoted the
    /// replica (it reports the replica as master, and the replica says `role:master`).
    pub fn kill_master(&mut self) -> Result<(), RedisServerError> {
        self.master.stop();
        let promoted = self.replica.addr();
        settle(|| {
            let role = command(promoted, &["INFO", "replication"])?;
            Ok(self.master_addr()? == promoted && role.contains("role:master"))
        })
    }
}

/// Polls `done` every 50 ms until it says so, at most [`SETTLE_WITHIN`]; a failed poll
/// (a node not answering yet) counts as "not yet".
fn settle(
    mut done: impl FnMut() -> Result<bool, RedisServerError>,
) -> Result<(), RedisServerError> {
    let deadline = Instant::now() + SETTLE_WITHIN;
    while Instant::now() < deadline {
        if matches!(done(), Ok(true)) {
            return Ok(());
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    Err(RedisServerError::NotSettled {
        within: SETTLE_WITHIN,
    })
}

/// Sends one command to the server at `at` (RESP over a plain socket, 2 s deadlines) and
/// returns its answer: a status, an integer or a bulk string as text. An error answer is
/// an error.
pub fn command(at: SocketAddr, args: &[&str]) -> Result<String, RedisServerError> {
    let mut stream = TcpStream::connect_timeout(&at, Duration::from_secs(2))?;
    stream.set_read_timeout(Some(Duration::from_secs(2)))?;
    stream.set_write_timeout(Some(Duration::from_secs(2)))?;
    let mut request = format!("*{}\r\n", args.len());
    for arg in args {
        request.push_str(&format!("${}\r\n{arg}\r\n", arg.len()));
    }
    stream.write_all(request.as_bytes())?;
    let mut reader = BufReader::new(stream);
    let mut line = String::new();
    reader.read_line(&mut line)?;
    let line = line.trim_end();
    let (kind, rest) = line.split_at(line.len().min(1));
    match kind {
        "+" | ":" => Ok(rest.to_string()),
        "$" => {
            let len: usize = rest
                .parse()
                .map_err(|_| io::Error::other(format!("bad bulk length {rest:?}")))?;
            let mut body = vec![0; len + 2];
            io::Read::read_exact(&mut reader, &mut body)?;
            body.truncate(len);
            Ok(String::from_utf8_lossy(&body).into_owned())
        }
        _ => Err(io::Error::other(format!("{args:?} answered {line:?}")).into()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_cluster_serves_every_slot_loses_one_node_and_takes_it_back() {
        let mut cluster = RedisCluster::start().expect("three nodes joined");
        let owners: Vec<usize> = ["{a}", "{b}", "{c}", "{d}", "{e}"]
            .iter()
            .map(|k| cluster.node_of(k).unwrap())
            .collect();
        for (key, owner) in ["{a}", "{b}", "{c}", "{d}", "{e}"].iter().zip(&owners) {
            let at = cluster.node(*owner).addr();
            assert_eq!(command(at, &["SET", key, "1"]).unwrap(), "OK");
        }
        cluster.kill(1);
        let alive = cluster.node(0).addr();
        let info = command(alive, &["CLUSTER", "INFO"]).unwrap();
        assert!(info.contains("cluster_state:ok"), "{info}");
        cluster.restart(1).expect("node 1 rejoined");
        assert!(cluster.node(1).is_running());
    }

    #[test]
    fn a_killed_master_is_replaced_by_its_replica() {
        let mut deployment = RedisSentinel::start("fleet").expect("sentinel watching");
        assert_eq!(
            deployment.master_addr().unwrap(),
            deployment.master().addr()
        );
        deployment.kill_master().expect("failed over");
        assert_eq!(
            deployment.master_addr().unwrap(),
            deployment.replica().addr()
        );
    }
}
