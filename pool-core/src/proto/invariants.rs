//! The structural invariants of [`PoolState`], checked by the tests after every step.

use std::collections::HashMap;
use std::net::SocketAddr;

use super::PoolState;
use super::conns::Phase;
use super::hosts::HostId;

impl<T> PoolState<T> {
    /// Checks every structural invariant; panics with a description when one fails.
    pub(crate) fn check_invariants(&self) {
        let o = &self.opts;
        let (mut open, mut idle, mut in_use, mut draining, mut probing) = (0, 0, 0, 0, 0);
        let mut leases = 0u64;
        let hosts = self.hosts.len();
        let mut host_conns = vec![0usize; hosts];
        let mut host_usable = vec![0usize; hosts];
        let mut addr_conns: HashMap<(HostId, SocketAddr), usize> = HashMap::new();
        let mut ready_per_host = vec![0usize; hosts];
        let mut linked = 0usize;
        for (id, e) in self.conns.iter() {
            let hi = e.host.0 as usize;
            open += 1;
            leases += u64::from(e.leases);
            assert!(
                e.leases <= e.capacity,
                "{id:?}: {} leases > capacity {}",
                e.leases,
                e.capacity
            );
            let usable = e.is_available();
            let is_idle = usable && e.leases == 0;
            assert_eq!(e.idle_links.linked, is_idle, "{id:?}: idle list membership");
            assert!(
                !(e.idle_links.linked && e.leases > 0),
                "{id:?}: both idle and leased"
            );
            assert!(!(e.probing && e.leases > 0), "{id:?}: probed while leased");
            let ready = usable && e.leases < e.capacity;
            assert_eq!(
                e.ready_level.is_some(),
                ready,
                "{id:?}: ready index membership"
            );
            assert_eq!(e.ready_links.linked, ready, "{id:?}: ready links");
            if let Some(level) = e.ready_level {
                assert_eq!(level, e.leases, "{id:?}: ready level is its load");
                ready_per_host[hi] += 1;
            }
            if let Phase::Draining(_) = e.phase {
                assert!(!e.is_unheld(), "{id:?}: draining with nothing holding it");
                draining += 1;
            } else {
                host_usable[hi] += 1;
            }
            if e.phase == Phase::Live {
                host_conns[hi] += 1;
                *addr_conns.entry((e.host, e.addr)).or_default() += 1;
            }
            idle += usize::from(is_idle);
            in_use += usize::from(e.leases > 0);
            probing += usize::from(e.probing);
            if e.addr_links.linked {
                assert!(
                    self.conns_at(e.host, e.addr).contains(&id),
                    "{id:?}: missing from its address list"
                );
                linked += 1;
            } else {
                assert!(
                    matches!(e.phase, Phase::Draining(_)),
                    "{id:?}: in no address list but not draining"
                );
            }
        }
        let c = &self.conns;
        assert_eq!(open, c.open(), "open count");
        assert_eq!(idle, c.idle_len(), "idle count");
        assert_eq!(in_use, c.in_use, "in-use count");
        assert_eq!(draining, c.draining, "draining count");
        assert_eq!(probing, c.probing, "probing count");
        assert_eq!(leases, c.leases_out, "leases out");
        let addrs = || self.hosts.iter().flat_map(|(_, h)| h.addrs.values());
        let listed: usize = addrs().map(|a| a.list.len).sum();
        assert_eq!(listed, linked, "address list sizes");
        let pairs = addrs().filter(|a| a.list.len > 0).count();
        assert_eq!(pairs, self.hosts.connected_pairs, "connected pairs");
        let mut walked = 0;
        let mut cursor = c.idle_front();
        while let Some(id) = cursor {
            walked += 1;
            assert!(walked <= c.idle_len(), "idle list longer than its count");
            let next = c.get(id).map_or(u32::MAX, |e| e.idle_links.next);
            cursor = c.get(c.id_at(next)).map(|_| c.id_at(next));
        }
        assert_eq!(walked, c.idle_len(), "idle list length");
        assert!(
            c.idle_len() <= o.max_idle_conns,
            "idle {} > max_idle_conns",
            c.idle_len()
        );
        let mut host_dialing = vec![0usize; hosts];
        let mut addr_dialing: HashMap<(HostId, SocketAddr), usize> = HashMap::new();
        for d in self.dials.iter().filter(|d| d.counted) {
            host_dialing[d.host.0 as usize] += 1;
            *addr_dialing.entry((d.host, d.addr)).or_default() += 1;
        }
        assert!(
            open + self.dials.len() <= o.max_connections,
            "total {} + dialing {} > max",
            open,
            self.dials.len()
        );
        let mut waiting = 0;
        for (h, host) in self.hosts.iter() {
            let i = h.0 as usize;
            assert_eq!(host.conns, host_conns[i], "host conns");
            assert_eq!(host.ready.len(), ready_per_host[i], "ready index size");
            assert_eq!(host.usable, host_usable[i], "host usable");
            assert_eq!(host.dialing, host_dialing[i], "host dialing");
            assert!(
                host.conns + host.dialing <= o.max_conns_per_host,
                "per-host limit"
            );
            assert!(
                host.waiters.is_empty() || host.ready.is_empty(),
                "waiters while ready"
            );
            for w in &host.waiters {
                assert_eq!(self.waiters.host_of(*w), Some(h), "waiter index");
            }
            waiting += host.waiters.len();
            for (addr, a) in &host.addrs {
                let key = (h, *addr);
                let conns = addr_conns.get(&key).copied().unwrap_or(0);
                assert_eq!(a.conns, conns, "addr conns");
                let dialing = addr_dialing.get(&key).copied().unwrap_or(0);
                assert_eq!(a.dialing, dialing, "addr dialing");
                assert!(a.conns + a.dialing <= o.max_conns_per_ip, "per-ip limit");
            }
        }
        assert_eq!(self.waiters.len(), waiting, "waiter count");
        assert_eq!(
            self.counters.inserted - self.counters.closed_total(),
            open as u64,
            "leak: inserted - closed != open"
        );
        let stats = self.stats();
        assert_eq!(
            stats.connections,
            stats.idle + stats.in_use + stats.probing,
            "stats partition"
        );
    }
}
