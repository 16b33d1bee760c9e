//! The backend's tasks: the publisher (drains the queue into Redis), the subscriber (loads
//! the ban set, then applies the channel's messages; reconnects with backoff and loads
//! again), the heartbeat (the worker key), and the re-test lease.

use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::Duration;

use futures_util::StreamExt;
use pool_core::{Dialer, FleetApplied, FleetEvent, Pool};
use tokio::sync::mpsc;

use crate::wire::{self, Rejected};
use crate::{CommandConn, Conn, FleetMode, KeyNode};

/// Publishes queued events until the backend is dropped. A ban is its key (with the ban's
/// TTL) plus a message on the channel; an unban deletes the key and says so.
pub(crate) async fn publish(conn: Arc<Conn>, mut queue: mpsc::Receiver<FleetEvent>) {
    let channel = conn.keys.channel();
    while let Some(event) = queue.recv().await {
        publish_one(&conn, &channel, &event).await;
        conn.pending.fetch_sub(1, Ordering::SeqCst);
        conn.progress.notify_waiters();
    }
}

/// One event: a ban is `SET key message PX ttl`, an unban `DEL key`; both are followed by
/// `PUBLISH channel message`, in one pipeline under the call deadline. In cluster mode the
/// two go separately (the key to its slot's master, the message to any node), so a lost
/// master costs the key, not the message: the live workers still hear it.
async fn publish_one(conn: &Conn, channel: &str, event: &FleetEvent) {
    let Some(message) = wire::encode(event, &conn.cfg.worker) else {
        return; // a host name the wire cannot carry: not shared
    };
    let mut store = redis::pipe();
    match event {
        FleetEvent::Ban(ban) => {
            let ttl = ban.ttl.min(wire::MAX_TTL).as_millis().max(1) as u64;
            let key = conn.keys.ban(&ban.host, ban.addr);
            store.cmd("SET").arg(key).arg(&message).arg("PX").arg(ttl);
        }
        FleetEvent::Unban { host, addr } => {
            store.cmd("DEL").arg(conn.keys.ban(host, *addr));
        }
    }
    store.ignore();
    let mut tell = redis::pipe();
    tell.cmd("PUBLISH").arg(channel).arg(&message).ignore();
    let sent = if conn.cfg.mode == FleetMode::Cluster {
        let (stored, told) = tokio::join!(
            conn.call("publish", async |m| store.query_async::<()>(m).await),
            conn.call("publish", async |m| tell.query_async::<()>(m).await),
        );
        stored.and(told)
    } else {
        store.add_command(tell.cmd_iter().next().expect("PUBLISH").clone());
        store.ignore();
        conn.call("publish", async |m| store.query_async::<()>(m).await)
            .await
    };
    if sent.is_some() {
        conn.counters.published();
    }
}

/// The re-test lease: `SET NX PX`; granted when Redis cannot say in time (fail open).
pub(crate) async fn retest_lease(conn: &Conn, addr: SocketAddr, interval: Duration) -> bool {
    let key = conn.keys.retest(addr);
    let ms = u64::try_from(interval.as_millis())
        .unwrap_or(u64::MAX)
        .max(1);
    let worker = &conn.cfg.worker;
    let set = async |m: &mut CommandConn| {
        redis::cmd("SET")
            .arg(&key)
            .arg(worker)
            .arg("NX")
            .arg("PX")
            .arg(ms)
            .query_async::<Option<String>>(m)
            .await
    };
    match conn.call("lease", set).await {
        Some(Some(_)) | None => true,
        Some(None) => {
            conn.counters.lease_refused();
            false
        }
    }
}

/// Renews this worker's key (the hosts it pools) until the pool closes.
pub(crate) async fn heartbeat<D: Dialer>(conn: Arc<Conn>, pool: Pool<D>) {
    let every = conn.cfg.heartbeat.max(Duration::from_millis(10));
    let ttl = u64::try_from((every * 3).as_millis()).unwrap_or(u64::MAX);
    let key = conn.keys.worker(&conn.cfg.worker);
    let mut tick = tokio::time::interval(every);
    loop {
        tokio::select! {
            _ = pool.closed() => break,
            _ = tick.tick() => {}
        }
        let mut hosts = pool.hosts();
        hosts.retain(|h| wire::valid_host(h));
        hosts.sort();
        let value = hosts.join(" ");
        conn.call("heartbeat", async |m| {
            redis::cmd("SET")
                .arg(&key)
                .arg(&value)
                .arg("PX")
                .arg(ttl)
                .query_async::<()>(m)
                .await
        })
        .await;
    }
    conn.call("heartbeat", async |m| {
        redis::cmd("DEL").arg(&key).query_async::<()>(m).await
    })
    .await;
}

/// Applies the fleet's events to `pool` until it closes: connect, subscribe, load the ban
/// set, read the channel; on any failure wait (backoff, doubling to the cap) and again.
pub(crate) async fn subscribe<D: Dialer>(conn: Arc<Conn>, pool: Pool<D>) {
    let mut backoff = conn.cfg.min_backoff;
    loop {
        let connected = tokio::select! {
            _ = pool.closed() => return,
            connected = session(&conn, &pool) => connected,
        };
        if connected {
            backoff = conn.cfg.min_backoff;
        }
        tokio::select! {
            _ = pool.closed() => return,
            _ = tokio::time::sleep(backoff) => {}
        }
        backoff = (backoff * 2).min(conn.cfg.max_backoff);
    }
}

/// One subscriber connection's life; returns whether it got as far as reading the channel.
async fn session<D: Dialer>(conn: &Conn, pool: &Pool<D>) -> bool {
    let deadline = conn.cfg.call_timeout;
    let (mut pubsub, at) = match tokio::time::timeout(deadline, conn.redis.pubsub()).await {
        Ok(Ok(pubsub)) => pubsub,
        _ => {
            conn.counters.error("connect");
            conn.redis.subscriber_lost();
            return false;
        }
    };
    let channel = conn.keys.channel();
    if !matches!(
        tokio::time::timeout(deadline, pubsub.subscribe(&channel)).await,
        Ok(Ok(()))
    ) {
        conn.counters.error("subscribe");
        conn.redis.subscriber_lost();
        return false;
    }
    // Subscribed first, loaded second: a ban published in between is seen (twice, which
    // is harmless), none is missed.
    let mut synced = match sync(conn, pool).await {
        Synced::All => true,
        Synced::Partly => false,
        Synced::Not => return false,
    };
    tracing::debug!(worker = %conn.cfg.worker, ?at, "fleet: subscribed and synced");
    // A `PING` every heartbeat on the same connection: a hung (not closed) Redis ends the
    // session too, after one call deadline. The same tick loads again what a lost cluster
    // node kept from the last load, and in sentinel mode leaves a master no longer named.
    let (mut sink, mut messages) = pubsub.split();
    let mut ping = tokio::time::interval(conn.cfg.heartbeat.max(Duration::from_millis(10)));
    ping.tick().await;
    loop {
        tokio::select! {
            message = messages.next() => match message {
                Some(message) => receive(conn, pool, message.get_payload_bytes(), None, true),
                None => break, // the connection ended
            },
            _ = ping.tick() => {
                let pong = tokio::time::timeout(deadline, sink.ping::<redis::Value>()).await;
                if !matches!(pong, Ok(Ok(_))) {
                    break;
                }
                let current = conn.within("subscribe", conn.redis.still_current(&at)).await;
                if current == Some(false) {
                    tracing::info!(worker = %conn.cfg.worker, "fleet: the master moved");
                    break;
                }
                if !synced {
                    synced = matches!(sync(conn, pool).await, Synced::All);
                }
            }
        }
    }
    conn.counters.disconnected();
    conn.redis.subscriber_lost();
    true
}

/// How far a full load got.
enum Synced {
    /// Every server's bans were loaded.
    All,
    /// Some servers (cluster masters) did not answer: loaded again until they do.
    Partly,
    /// Nothing could be listed.
    Not,
}

/// Loads every ban under the prefix from every server holding keys; counts a load when
/// every server answered. (In single and sentinel mode there is one server: `Partly`
/// never happens.)
async fn sync<D: Dialer>(conn: &Conn, pool: &Pool<D>) -> Synced {
    let Some(nodes) = conn.within("sync", conn.redis.key_nodes()).await else {
        return Synced::Not;
    };
    let mut loaded = 0;
    for node in &nodes {
        if sync_node(conn, pool, node.clone()).await {
            loaded += 1;
        }
    }
    if loaded < nodes.len() {
        return if loaded == 0 && nodes.len() == 1 {
            Synced::Not
        } else {
            Synced::Partly
        };
    }
    conn.counters.synced();
    conn.progress.notify_waiters();
    Synced::All
}

/// Loads the bans one server holds (`SCAN`, then each key's value and remaining TTL).
async fn sync_node<D: Dialer>(conn: &Conn, pool: &Pool<D>, mut node: KeyNode) -> bool {
    let pattern = conn.keys.bans();
    let mut cursor: u64 = 0;
    loop {
        let mut scan = redis::cmd("SCAN");
        scan.arg(cursor)
            .arg("MATCH")
            .arg(&pattern)
            .arg("COUNT")
            .arg(256);
        let scan = scan.query_async::<(u64, Vec<String>)>(&mut node);
        let Some((next, keys)) = conn.within("sync", scan).await else {
            return false;
        };
        if !keys.is_empty() {
            let mut pipe = redis::pipe();
            for key in &keys {
                pipe.cmd("GET").arg(key).cmd("PTTL").arg(key);
            }
            let read = pipe.query_async::<Vec<(Option<Vec<u8>>, i64)>>(&mut node);
            let Some(values) = conn.within("sync", read).await else {
                return false;
            };
            for (key, (value, pttl)) in keys.iter().zip(values) {
                // Gone meanwhile, or no TTL (not one of ours): skipped.
                let (Some(value), Ok(ms)) = (value, u64::try_from(pttl)) else {
                    continue;
                };
                if ms > 0 {
                    let ttl = Duration::from_millis(ms);
                    receive(conn, pool, &value, Some((key, ttl)), false);
                }
            }
        }
        if next == 0 {
            return true;
        }
        cursor = next;
    }
}

/// Parses one message and applies it. `from_key`: the ban key it was read from and its
/// remaining TTL (the message must be a ban stored under exactly that key). `echo`: a
/// message of this worker's own is skipped (it came back on the channel).
fn receive<D: Dialer>(
    conn: &Conn,
    pool: &Pool<D>,
    bytes: &[u8],
    from_key: Option<(&str, Duration)>,
    echo: bool,
) {
    let mut message = match wire::parse(bytes) {
        Ok(message) => message,
        Err(why) => return conn.counters.rejected(why),
    };
    if echo && message.worker == conn.cfg.worker {
        return;
    }
    if let Some((key, ttl)) = from_key {
        let FleetEvent::Ban(ban) = &mut message.event else {
            return conn.counters.rejected(Rejected::Malformed);
        };
        if conn.keys.ban(&ban.host, ban.addr) != key {
            return conn.counters.rejected(Rejected::Malformed);
        }
        ban.ttl = ttl;
    }
    match pool.apply_fleet_event(message.event) {
        FleetApplied::UnknownHost => conn.counters.rejected(Rejected::UnknownHost),
        FleetApplied::Applied | FleetApplied::Unchanged => conn.counters.received(),
    }
}
