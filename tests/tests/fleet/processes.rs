//! Two processes sharing bans on a three-master Redis Cluster. The test re-executes its own
//! binary (this test alone, with [`CHILD`] set) as worker B; the parent is worker A. B
//! knows the host's addresses but never dials; it writes `fleet-child: ready` once it has
//! loaded the fleet's bans and `fleet-child: applied N` once it has applied A's ban (N:
//! the events it received), and exits.

use std::net::SocketAddr;
use std::process::Stdio;
use std::sync::Arc;

use pool_core::BlacklistReason;
use pool_redis::{FleetConfig, RedisUrl};
use pool_testkit::{RedisCluster, TestCa, eventually};
use tokio::io::{AsyncBufReadExt, BufReader, Lines};
use tokio::process::{ChildStdout, Command};

use crate::bans::options;
use crate::rig::{self, WAIT};

/// Set in the child: the cluster's URLs, comma-separated.
const CHILD: &str = "HOTPOOL_FLEET_TEST_CHILD";
/// Set in the child: the host's addresses, comma-separated (the first is the bad one).
const CHILD_ADDRS: &str = "HOTPOOL_FLEET_TEST_CHILD_ADDRS";
/// This test's name, for `--exact`.
const NAME: &str = "processes::a_ban_crosses_processes_on_a_three_node_cluster";
const HOST: &str = "processes.test";
const PREFIX: &str = "processes:";
const MARK: &str = "fleet-child: ";

fn config(urls: &str) -> FleetConfig {
    let mut cfg = FleetConfig::cluster(RedisUrl::parse_list(urls).unwrap());
    cfg.prefix = PREFIX.into();
    cfg
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_ban_crosses_processes_on_a_three_node_cluster() {
    if let Ok(urls) = std::env::var(CHILD) {
        return child(&urls).await;
    }
    let cluster = tokio::task::block_in_place(RedisCluster::start).unwrap();
    let urls = cluster.urls().join(",");
    let ca = Arc::new(TestCa::new().unwrap());
    let (bad, good) = crate::cluster::origins_for(&ca, HOST, 191, 192).await;
    let addrs = [bad.socket_addrs()[0], good.socket_addrs()[0]];
    let (a, a_fleet) = rig::member(
        config(&urls),
        rig::dialer(&ca, true),
        options(),
        HOST,
        &addrs,
    )
    .await;

    let listed: Vec<String> = addrs.iter().map(SocketAddr::to_string).collect();
    let mut child = Command::new(std::env::current_exe().unwrap())
        .args([NAME, "--exact", "--nocapture", "--test-threads", "1"])
        .env(CHILD, &urls)
        .env(CHILD_ADDRS, listed.join(","))
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .kill_on_drop(true)
        .spawn()
        .expect("re-execute the test binary as worker B");
    let mut lines = BufReader::new(child.stdout.take().unwrap()).lines();
    assert_eq!(marked(&mut lines).await, "ready");

    let report = a.warm(HOST).await;
    assert_eq!((report.ok, report.blacklisted), (1, 1), "{report:?}");
    assert_eq!(
        marked(&mut lines).await,
        "applied 1",
        "B applied exactly a's ban"
    );
    let status = tokio::time::timeout(WAIT, child.wait())
        .await
        .expect("B exits in time");
    assert!(status.unwrap().success(), "worker B failed");
    assert_eq!(a_fleet.stats().published, 1);
    assert_eq!(
        bad.stats().accepted,
        1,
        "one dial of the bad address, fleet-wide"
    );
    a.close().await;
    bad.shutdown().await;
    good.shutdown().await;
}

/// What follows [`MARK`] in the child's next line that has it (libtest's lines skipped),
/// within [`WAIT`].
async fn marked(lines: &mut Lines<BufReader<ChildStdout>>) -> String {
    let next = async {
        while let Some(line) = lines.next_line().await.expect("the child's output") {
            // libtest writes `test NAME ... ` before the test's first line, unended.
            if let Some((_, said)) = line.split_once(MARK) {
                return said.to_string();
            }
        }
        panic!("worker B ended without a line");
    };
    tokio::time::timeout(WAIT, next)
        .await
        .expect("worker B answers in time")
}

/// Worker B: joins the fleet, says `ready`, waits for the ban of the first address, says
/// how many events it received, and returns.
async fn child(urls: &str) {
    let addrs: Vec<SocketAddr> = std::env::var(CHILD_ADDRS)
        .expect("the addresses")
        .split(',')
        .map(|a| a.parse().unwrap())
        .collect();
    let ca = TestCa::new().unwrap(); // never used: B does not dial
    let (b, b_fleet) = rig::member(
        config(urls),
        rig::dialer(&ca, true),
        options(),
        HOST,
        &addrs,
    )
    .await;
    println!("{MARK}ready");
    eventually("B applies A's ban", WAIT, || {
        b.blacklisted(addrs[0].ip()).is_some()
    })
    .await
    .unwrap();
    assert_eq!(b.blacklisted(addrs[0].ip()), Some(BlacklistReason::Banned));
    println!("{MARK}applied {}", b_fleet.stats().received);
    b.close().await;
}
