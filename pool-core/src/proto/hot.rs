//! Hot hosts stay hot, and a host whose addresses fail at once is an outage, not N bans
//! (`docs/stay-hot.md`).
//!
//! - *Re-warm*: a host warmed by `plan_warm` is hot. When an address of a hot host loses its
//!   last live connection for a cause the peer or time made (GOAWAY, peer closed, lost,
//!   broken, expired, unhealthy, errors), a replacement is dialed at once
//!   ([`DialPurpose::Rewarm`]), within the limits; a failing address backs off
//!   (`rewarm_backoff` doubling to `rewarm_backoff_max`) and follows the blacklist rules as
//!   any dial. A draining connection does not hold its place under `max_conns_per_ip` /
//!   `max_conns_per_host` (it never did), so a GOAWAY'd connection finishing its streams
//!   never blocks its replacement.
//! - *Outage*: when an address reaches `max_retries` while `host_outage_threshold` of its
//!   host's addresses are failing, nothing is banned: the host is down. Its failure bans are
//!   lifted, callers fail fast with [`Error::HostDown`] (or wait, when they asked to), and
//!   one address at a time is re-tested (`outage_retest` doubling to `outage_retest_max`).
//!   The first dial that connects ends the outage and re-warms every address.

use std::net::SocketAddr;
use std::time::{Duration, Instant};

use super::dials::DialPurpose;
use super::hosts::Outage;
use super::ids::{ConnId, HostId};
use super::timers::IpTimer;
use super::{Action, PoolState};
use crate::error::Error;
use crate::types::{BlacklistReason, CloseReason};

/// `first` doubled `n` times, at most `max`.
fn backoff(first: Duration, n: u32, max: Duration) -> Duration {
    first.saturating_mul(1u32 << n.min(20)).min(max)
}

impl<T> PoolState<T> {
    /// Whether `reason` is a loss the pool replaces for a hot host: what the peer or time
    /// did to a connection, not the pool's own choice (idle, shed, limits, bans, address
    /// removed, closing).
    fn replaced_when_lost(reason: CloseReason) -> bool {
        matches!(
            reason,
            CloseReason::GoAway
                | CloseReason::PeerClosed
                | CloseReason::Lost
                | CloseReason::Broken
                | CloseReason::Expired
                | CloseReason::Unhealthy
                | CloseReason::Errors
        )
    }

    /// Whether `h` is kept hot now.
    pub(super) fn is_hot(&self, h: HostId) -> bool {
        self.opts.stay_hot && self.hosts.get(h).hot && !self.closing
    }

    /// Marks `host` hot (or not); a hot host gets a re-warm of every address without a
    /// connection. Unknown hosts are ignored.
    pub fn set_hot(&mut self, host: &str, hot: bool) {
        let Some(h) = self.hosts.lookup(host) else {
            return;
        };
        self.hosts.get_mut(h).hot = hot;
        if hot {
            self.rewarm_host(h);
        }
    }

    /// Whether `host` is kept hot.
    pub fn host_is_hot(&self, host: &str) -> bool {
        self.hosts.lookup(host).is_some_and(|h| self.is_hot(h))
    }

    /// When `host`'s current outage began, if it is in one.
    pub fn host_down_since(&self, host: &str) -> Option<Instant> {
        let h = self.hosts.lookup(host)?;
        self.hosts.get(h).outage.map(|o| o.since)
    }

    /// Whether address `addr` of `h` needs a re-warm dial: the host is hot and not in an
    /// outage, the address is known, allowed, without a live connection or a dial.
    fn needs_rewarm(&self, h: HostId, addr: SocketAddr) -> bool {
        if !self.is_hot(h) || self.hosts.get(h).outage.is_some() {
            return false;
        }
        let Some(a) = self.hosts.get(h).addrs.get(&addr) else {
            return false;
        };
        a.conns == 0 && a.dialing == 0 && self.blacklist.is_allowed(addr.ip())
    }

    /// A connection of `h` to `addr` left service for `reason` (drained or closed): when
    /// that was the address's last one and the host is hot, it is replaced now.
    pub(super) fn lost_conn(&mut self, h: HostId, addr: SocketAddr, reason: CloseReason) {
        if !Self::replaced_when_lost(reason) || !self.needs_rewarm(h, addr) {
            return;
        }
        let now = self.timers.latest();
        if let Some(a) = self.hosts.get_mut(h).addrs.get_mut(&addr) {
            if a.rewarm.lost_at.is_none() {
                a.rewarm.lost_at = now;
            }
            if a.rewarm.retry_at.is_some() {
                return; // backing off already: the timer dials it
            }
        }
        self.rewarm_addr(h, addr);
    }

    /// Dials a re-warm of `addr` if it fits the limits now; otherwise tries again after the
    /// address's backoff.
    fn rewarm_addr(&mut self, h: HostId, addr: SocketAddr) {
        if !self.needs_rewarm(h, addr) {
            return;
        }
        if self.room_for_dial(h, addr, false) {
            let request = self.start_dial(h, addr, DialPurpose::Rewarm, true, None);
            self.counters.rewarm_started += 1;
            self.actions.push_back(Action::Dial(request));
        } else {
            self.schedule_rewarm(h, addr);
        }
    }

    /// Re-warms every address of `h` that needs it (a warm-up, the end of an outage).
    pub(super) fn rewarm_host(&mut self, h: HostId) {
        if !self.is_hot(h) {
            return;
        }
        let addrs: Vec<SocketAddr> = self.hosts.get(h).addrs.keys().copied().collect();
        for addr in addrs {
            if let Some(a) = self.hosts.get_mut(h).addrs.get_mut(&addr) {
                a.rewarm.failures = 0;
            }
            if self
                .hosts
                .get(h)
                .addrs
                .get(&addr)
                .is_some_and(|a| a.rewarm.retry_at.is_none())
            {
                self.rewarm_addr(h, addr);
            }
        }
    }

    /// Schedules the next re-warm try of `addr` after its backoff.
    fn schedule_rewarm(&mut self, h: HostId, addr: SocketAddr) {
        let (first, max) = (self.opts.rewarm_backoff, self.opts.rewarm_backoff_max);
        let Some(now) = self.timers.latest() else {
            return;
        };
        let Some(a) = self.hosts.get_mut(h).addrs.get_mut(&addr) else {
            return;
        };
        if a.rewarm.retry_at.is_some() {
            return;
        }
        let at = now + backoff(first, a.rewarm.failures.saturating_sub(1), max);
        a.rewarm.retry_at = Some(at);
        self.timers.schedule_ip(at, IpTimer::Rewarm(h, addr));
    }

    /// A re-warm try of `addr` is due.
    pub(super) fn fire_rewarm(&mut self, h: HostId, addr: SocketAddr) {
        if let Some(a) = self.hosts.get_mut(h).addrs.get_mut(&addr) {
            a.rewarm.retry_at = None;
        }
        self.rewarm_addr(h, addr);
    }

    /// A re-warm dial of `addr` failed — or a warm-up dial (`rewarm: false`): a hot host
    /// keeps trying every address — so the next try is due after the backoff.
    pub(super) fn rewarm_failed(&mut self, h: HostId, addr: SocketAddr, rewarm: bool) {
        self.counters.rewarm_failed += u64::from(rewarm);
        if let Some(a) = self.hosts.get_mut(h).addrs.get_mut(&addr) {
            a.rewarm.failures = a.rewarm.failures.saturating_add(1);
        }
        if self.needs_rewarm(h, addr) {
            self.schedule_rewarm(h, addr);
        }
    }

    /// A re-warm dial of `addr` was cancelled (never ran): tried again after the backoff,
    /// not counted as failed.
    pub(super) fn rewarm_cancelled(&mut self, h: HostId, addr: SocketAddr, now: Instant) {
        self.timers.tick(now);
        if self.needs_rewarm(h, addr) {
            self.schedule_rewarm(h, addr);
        }
    }

    /// A connection of `h` to `addr` was admitted: the address is warm again (its time to
    /// re-warm is reported when it had lost its last connection).
    pub(super) fn addr_warm(&mut self, h: HostId, addr: SocketAddr, now: Instant) {
        let Some(a) = self.hosts.get_mut(h).addrs.get_mut(&addr) else {
            return;
        };
        a.rewarm.failures = 0;
        if let Some(lost) = a.rewarm.lost_at.take() {
            self.counters.rewarmed += 1;
            let after = now.saturating_duration_since(lost);
            self.counters.rewarm_time += after;
            self.counters.rewarm_time_max = self.counters.rewarm_time_max.max(after);
            self.actions.push_back(Action::Rewarmed { addr, after });
        }
    }

    /// Whether the idle timer must keep `id`: the last usable connection of a hot host to
    /// its address (it is probed instead of closed).
    pub(super) fn keeps_address_hot(&self, id: ConnId) -> bool {
        let Some(e) = self.conns.get(id) else {
            return false;
        };
        if !self.is_hot(e.host) {
            return false;
        }
        let usable = self
            .conns_at(e.host, e.addr)
            .into_iter()
            .filter(|c| self.conns.get(*c).is_some_and(|c| c.phase.is_usable()))
            .count();
        usable <= 1
    }

    // ----- host outages ----------------------------------------------------------------

    /// Whether `h` counts as down: more than `host_outage_threshold` of its addresses (two
    /// at least) are failing (failed dials since their last success, or blacklisted for
    /// failures). "More than", as Envoy's panic threshold: one bad address of two is not an
    /// outage at 0.5.
    pub(super) fn looks_down(&self, h: HostId) -> bool {
        let Some(share) = self.opts.host_outage_threshold else {
            return false;
        };
        let host = self.hosts.get(h);
        let total = host.addrs.len();
        if total < 2 {
            return false;
        }
        let failing = host
            .addrs
            .keys()
            .filter(|a| {
                let ip = a.ip();
                self.blacklist.streak(ip) > 0
                    || self.blacklist.reason(ip) == Some(BlacklistReason::Failures)
            })
            .count();
        failing as f64 > share * total as f64
    }

    /// `h`'s addresses fail at once: it is down. Its failure bans are lifted (the addresses
    /// are not to blame), callers that would not wait fail with [`Error::HostDown`], and
    /// the first re-test is due after `outage_retest`.
    pub(super) fn start_outage(&mut self, h: HostId, now: Instant) {
        if self.hosts.get(h).outage.is_some() {
            return;
        }
        let name = self.hosts.get(h).name.clone();
        tracing::warn!(host = %name, "host down: its addresses fail at once; re-testing it");
        self.counters.host_outages += 1;
        self.hosts.get_mut(h).outage = Some(Outage {
            since: now,
            retests: 0,
            retesting: false,
        });
        let ips: Vec<_> = self.hosts.get(h).addrs.keys().map(|a| a.ip()).collect();
        for ip in ips {
            let by_failures = self
                .blacklist
                .get(ip)
                .is_some_and(|b| b.reason == BlacklistReason::Failures && !b.retesting);
            if by_failures {
                self.restore(ip);
            }
        }
        self.timers
            .schedule_ip(now + self.opts.outage_retest, IpTimer::OutageRetest(h));
        self.fail_impatient_waiters(h);
    }

    /// The error of a checkout of `h` while it is down, if it is.
    pub(super) fn host_down(&self, h: HostId) -> Option<Error> {
        let host = self.hosts.get(h);
        let outage = host.outage?;
        Some(Error::HostDown {
            host: host.name.clone(),
            since: outage.since,
        })
    }

    /// Fails the waiters of `h` that did not ask to wait through an outage.
    pub(super) fn fail_impatient_waiters(&mut self, h: HostId) {
        let Some(error) = self.host_down(h) else {
            return;
        };
        if self.hosts.get(h).usable > 0 {
            return; // connections still open to some addresses serve them
        }
        let waiters = self.hosts.get_mut(h).waiters.take_all();
        for waiter in waiters {
            if self.waiters.is_patient(waiter) {
                self.hosts.get_mut(h).waiters.push_back(waiter);
                continue;
            }
            self.waiters.remove(waiter);
            let error = error.clone();
            self.actions.push_back(Action::Fail { waiter, error });
        }
    }

    /// The re-test of `h` is due: one dial to its next address (round robin) without a
    /// connection. Counted within the limits when they have room, else outside them (the
    /// connection is then admitted only if room is left when it connects).
    pub(super) fn retest_host(&mut self, h: HostId) {
        let Some(outage) = self.hosts.get(h).outage else {
            return;
        };
        if self.closing || outage.retesting {
            return;
        }
        let host = self.hosts.get(h);
        let per_ip = self.opts.max_conns_per_ip;
        let addr = host
            .next_addr(per_ip, |ip| self.blacklist.is_allowed(ip))
            .or_else(|| host.next_addr(usize::MAX, |ip| self.blacklist.is_allowed(ip)));
        let Some(addr) = addr else {
            self.schedule_host_retest(h);
            return;
        };
        if self.conns.open() + self.dials.len() >= self.opts.max_connections {
            self.schedule_host_retest(h);
            return;
        }
        self.hosts.get_mut(h).dialed(addr);
        let counted = self.room_for_dial(h, addr, false);
        if let Some(o) = self.hosts.get_mut(h).outage.as_mut() {
            o.retesting = true;
        }
        let request = self.start_dial(h, addr, DialPurpose::OutageRetest, counted, None);
        self.actions.push_back(Action::Dial(request));
    }

    /// A re-test of `h` failed (or was cancelled): the next one after the backoff.
    pub(super) fn host_retest_failed(&mut self, h: HostId) {
        let Some(o) = self.hosts.get_mut(h).outage.as_mut() else {
            return;
        };
        o.retesting = false;
        o.retests = o.retests.saturating_add(1);
        self.schedule_host_retest(h);
    }

    fn schedule_host_retest(&mut self, h: HostId) {
        let (first, max) = (self.opts.outage_retest, self.opts.outage_retest_max);
        let (Some(o), Some(now)) = (self.hosts.get(h).outage, self.timers.latest()) else {
            return;
        };
        let at = now + backoff(first, o.retests, max);
        self.timers.schedule_ip(at, IpTimer::OutageRetest(h));
    }

    /// A dial of `h` connected while it was down: the outage ends, every address's failure
    /// streak with it, and a hot host is re-warmed on every address.
    pub(super) fn end_outage(&mut self, h: HostId) {
        if self.hosts.get_mut(h).outage.take().is_none() {
            return;
        }
        tracing::info!(host = %self.hosts.get(h).name, "host back up");
        let ips: Vec<_> = self.hosts.get(h).addrs.keys().map(|a| a.ip()).collect();
        for ip in ips {
            self.blacklist.record_success(ip);
        }
        self.hosts.get_mut(h).failures_since_success = 0;
        self.rewarm_host(h);
    }

    /// Hosts in an outage now.
    pub(super) fn hosts_down(&self) -> usize {
        self.hosts
            .iter()
            .filter(|(_, h)| h.outage.is_some())
            .count()
    }

    /// Hosts kept hot now.
    pub(super) fn hot_hosts(&self) -> usize {
        self.hosts.iter().filter(|(h, _)| self.is_hot(*h)).count()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backoff_doubles_up_to_its_cap() {
        let ms = Duration::from_millis;
        assert_eq!(backoff(ms(100), 0, ms(1000)), ms(100));
        assert_eq!(backoff(ms(100), 3, ms(1000)), ms(800));
        assert_eq!(backoff(ms(100), 4, ms(1000)), ms(1000));
        assert_eq!(backoff(ms(100), 99, ms(1000)), ms(1000), "no overflow");
    }
}
