//! The structural invariants of [`PoolState`], checked by the tests after every step.

use std::collections::HashMap;
use std::net::SocketAddr;

use super::PoolState;
use super::conns::Phase;
use super::ids::HostId;

impl<T> PoolState<T> {
    /// Checks every structural invariant; panics with a description when one fails.
    pub(crate) fn check_invariants(&self) {
        let o = &self.opts;
        let (mut open, mut idle, mut draining, mut probing) = (0, 0, 0, 0);
        let hosts = self.hosts.len();
        let mut host_conns = vec![0usize; hosts];
        let mut host_usable = vec![0usize; hosts];
        let mut addr_conns: HashMap<(HostId, SocketAddr), usize> = HashMap::new();
        let mut ready_per_host = vec![0usize; hosts];
        let mut linked = 0usize;
        for (id, e) in self.conns.iter() {
            let hi = e.host.0 as usize;
            open += 1;
            let (leases, capacity) = (e.gauge.leases(), e.gauge.capacity());
            assert!(
                leases <= capacity,
                "{id:?}: {leases} leases > capacity {capacity}"
            );
            assert!(!(e.probing && leases > 0), "{id:?}: probed while leased");
            assert_eq!(
                e.probing,
                !e.gauge.is_unheld() && leases == 0,
                "{id:?}: probe flag mirrors the core's"
            );
            let member = self.hosts.get(e.host).members.get(e.member_pos as usize);
            assert_eq!(member.map(|m| m.id), Some(id), "{id:?}: member position");
            if let Phase::Draining(_) = e.phase {
                assert!(
                    !e.gauge.is_unheld(),
                    "{id:?}: draining with nothing holding it"
                );
                assert!(e.gauge.is_retired(), "{id:?}: draining but leasable");
                draining += 1;
            } else {
                assert!(!e.gauge.is_retired(), "{id:?}: usable but retired");
                host_usable[hi] += 1;
            }
            if e.is_available() && leases < capacity {
                ready_per_host[hi] += 1;
            }
            if e.phase == Phase::Live {
                host_conns[hi] += 1;
                *addr_conns.entry((e.host, e.addr)).or_default() += 1;
            }
            idle += usize::from(e.is_idle());
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
        assert_eq!(idle, c.idle_count(), "idle count");
        assert_eq!(draining, c.draining, "draining count");
        assert_eq!(probing, c.probing, "probing count");
        let addrs = || self.hosts.iter().flat_map(|(_, h)| h.addrs.values());
        let listed: usize = addrs().map(|a| a.list.len).sum();
        assert_eq!(listed, linked, "address list sizes");
        let pairs = addrs().filter(|a| a.list.len > 0).count();
        assert_eq!(pairs, self.hosts.connected_pairs, "connected pairs");
        assert!(idle <= o.max_idle_conns, "idle {idle} > max_idle_conns");
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
            let members: usize = self.conns.iter().filter(|(_, e)| e.host == h).count();
            assert_eq!(host.members.len(), members, "host members");
            assert_eq!(host.usable, host_usable[i], "host usable");
            assert_eq!(host.dialing, host_dialing[i], "host dialing");
            assert!(
                host.conns + host.dialing <= o.max_conns_per_host,
                "per-host limit"
            );
            assert!(
                host.waiters.is_empty() || ready_per_host[i] == 0,
                "waiters while ready"
            );
            assert_eq!(
                host.waiters.count(),
                host.waiters.len(),
                "the lane's waiter count"
            );
            for w in host.waiters.iter() {
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
