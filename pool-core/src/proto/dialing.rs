//! The coordinator's dial logic: room under the limits, which address to dial, dials for
//! waiters, what a dial's result does (admission, failure streaks, the blacklist), the
//! blacklist re-tests and the `keep_warm` replacements.

use std::net::{IpAddr, SocketAddr};
use std::time::Instant;

use super::blacklist::BanSource;
use super::conns::{ConnEntry, Phase, Replacement};
use super::dials::{DialEntry, DialPurpose, DialRequest, Opened};
use super::ids::{ConnId, HostId};
use super::timers::{IpTimer, Tick};
use super::{Action, PoolState, clamp_capacity};
use crate::error::Error;
use crate::fleet::{FleetBan, FleetEvent};
use crate::transport::{DialError, DialErrorKind};
use crate::types::{BlacklistReason, CloseReason};

impl<T> PoolState<T> {
    /// Whether a dial of `h` to `addr` fits the limits; with `evict`, an idle connection of
    /// another host may be closed to make room under `max_connections`.
    pub(super) fn room_for_dial(&mut self, h: HostId, addr: SocketAddr, evict: bool) -> bool {
        let (per_host, per_ip) = (self.opts.max_conns_per_host, self.opts.max_conns_per_ip);
        self.hosts.get(h).has_room_at(addr, per_host, per_ip) && self.room_in_total(h, evict)
    }

    fn room_in_total(&mut self, h: HostId, evict: bool) -> bool {
        if self.conns.open() + self.dials.len() < self.opts.max_connections {
            return true;
        }
        if !evict {
            return false;
        }
        let idle = self.conns.idle_by_age(|e| e.host != h);
        idle.into_iter()
            .any(|id| self.close_if_idle(id, CloseReason::Evicted, |_| true))
    }

    /// The next address of `h` to dial (round robin), within the limits.
    fn pick_dial_addr(&mut self, h: HostId) -> Option<SocketAddr> {
        let host = self.hosts.get(h);
        if !host.has_room(self.opts.max_conns_per_host) {
            return None;
        }
        let addr = host.next_addr(self.opts.max_conns_per_ip, |ip| {
            self.blacklist.is_allowed(ip)
        })?;
        if !self.room_in_total(h, true) {
            return None;
        }
        self.hosts.get_mut(h).dialed(addr);
        Some(addr)
    }

    /// Records a dial; `counted` dials count in the host's and address's `dialing`.
    pub(super) fn start_dial(
        &mut self,
        h: HostId,
        addr: SocketAddr,
        purpose: DialPurpose,
        counted: bool,
        replaces: Option<ConnId>,
    ) -> DialRequest {
        if counted {
            self.hosts.get_mut(h).count_dial(addr, true);
        }
        let id = self.dials.start(DialEntry {
            host: h,
            addr,
            purpose,
            counted,
            replaces,
        });
        self.counters.dials_started += 1;
        DialRequest {
            id,
            host: self.hosts.get(h).name.clone(),
            addr,
            purpose,
        }
    }

    /// Starts as many dials as the host's queue needs (one connection of the last seen
    /// capacity serves that many waiters), within the limits.
    pub(super) fn dial_for_waiters(&mut self, h: HostId) {
        if self.closing || self.hosts.get(h).outage.is_some() {
            return; // a host that is down is only re-tested (see `hot.rs`)
        }
        loop {
            let host = self.hosts.get(h);
            let covered = host.dialing * host.last_capacity as usize;
            if covered >= host.waiters.len() {
                break;
            }
            let Some(addr) = self.pick_dial_addr(h) else {
                break;
            };
            let request = self.start_dial(h, addr, DialPurpose::Checkout, true, None);
            self.actions.push_back(Action::Dial(request));
        }
    }

    /// After a connection of `h` left service (closed, or draining while leased) or its
    /// addresses changed: its place under the limits may be dialed for the host's waiters,
    /// or, with nothing left to dial, they fail now instead of at their timeout. O(1) when
    /// nobody waits.
    pub(super) fn refill(&mut self, h: HostId) {
        self.dial_for_waiters(h);
        self.fail_waiters_without_addrs(h);
    }

    /// Fails the host's waiters when no address is left to dial and nothing can serve them.
    fn fail_waiters_without_addrs(&mut self, h: HostId) {
        let host = self.hosts.get(h);
        if host.waiters.is_empty() || host.usable > 0 || host.dialing > 0 {
            return;
        }
        let error = if host.addrs.is_empty() {
            Error::NoAddresses {
                host: host.name.clone(),
            }
        } else if self.allowed_addr_count(h) == 0 {
            Error::NoUsableAddress {
                host: host.name.clone(),
            }
        } else {
            return; // limits are full: wait for room (bounded by checkout_timeout)
        };
        self.fail_all_waiters(h, error);
    }

    fn fail_all_waiters(&mut self, h: HostId, error: Error) {
        let waiters = self.hosts.get_mut(h).waiters.take_all();
        for waiter in waiters {
            self.waiters.remove(waiter);
            self.actions.push_back(Action::Fail {
                waiter,
                error: error.clone(),
            });
        }
    }

    /// Addresses of `h` that may be dialed.
    pub(super) fn allowed_addr_count(&self, h: HostId) -> usize {
        self.hosts
            .get(h)
            .addrs
            .keys()
            .filter(|a| self.blacklist.is_allowed(a.ip()))
            .count()
    }

    pub(super) fn dial_succeeded(
        &mut self,
        d: DialEntry,
        handle: T,
        opened: Opened,
        now: Instant,
    ) -> Option<ConnId> {
        let ip = d.addr.ip();
        self.counters.dials_ok += 1;
        self.blacklist.record_success(ip);
        let h = d.host;
        self.hosts.get_mut(h).failures_since_success = 0;
        match d.purpose {
            // Waiters are served after the connection is inserted below: dialing for them
            // now would overshoot the limits (this dial no longer counts as in flight).
            DialPurpose::Retest => self.retest_passed(ip, now),
            DialPurpose::Replace => self.replaced(d.replaces),
            DialPurpose::Rewarm => self.counters.rewarm_ok += 1,
            DialPurpose::OutageRetest => {
                if let Some(o) = self.hosts.get_mut(h).outage.as_mut() {
                    o.retesting = false;
                }
            }
            DialPurpose::Checkout | DialPurpose::Warm => {}
        }
        let known = self.hosts.get(h).addrs.contains_key(&d.addr);
        let (per_host, per_ip) = (self.opts.max_conns_per_host, self.opts.max_conns_per_ip);
        let admissible = !self.closing
            && known
            && self.blacklist.is_allowed(ip)
            && (d.counted || self.hosts.get(h).has_room_at(d.addr, per_host, per_ip));
        let id = self.insert_conn(handle, h, d.addr, opened, now);
        if !admissible {
            self.close_conn(id, CloseReason::NotAdmitted);
            self.dial_for_waiters(h);
            return None;
        }
        self.counters.admitted += 1;
        self.hosts.get_mut(h).last_capacity = clamp_capacity(opened.capacity);
        self.addr_warm(h, d.addr, now);
        // After the insertion: the re-warm of the other addresses sees this one connected.
        self.end_outage(h);
        self.serve_waiters(h);
        self.trim_idle();
        self.dial_for_waiters(h);
        self.conns.get(id).map(|_| id)
    }

    pub(super) fn dial_failed(&mut self, d: DialEntry, error: DialError, now: Instant) {
        self.counters.dial_failures += 1;
        let ip = d.addr.ip();
        let h = d.host;
        tracing::debug!(host = %self.hosts.get(h).name, addr = %d.addr, %error, "dial failed");
        match d.purpose {
            DialPurpose::Retest => {
                self.retest_ended(ip, now);
                return;
            }
            DialPurpose::Replace => self.replacement_failed(d.replaces, now),
            DialPurpose::Checkout | DialPurpose::Warm => {}
            DialPurpose::Rewarm | DialPurpose::OutageRetest => {} // below, after the blacklist
        }
        if matches!(
            error.kind(),
            DialErrorKind::Local | DialErrorKind::Unsupported | DialErrorKind::Proxy
        ) {
            // Redialing would hit the same local limit (or the same protocol answer, or the
            // same proxy), and the address is not to blame: waiters fail now unless another
            // dial may still serve them.
            let host = self.hosts.get(h);
            if host.usable == 0 && host.dialing == 0 && !host.waiters.is_empty() {
                let error = Error::Dial {
                    host: host.name.clone(),
                    last: error,
                };
                self.fail_all_waiters(h, error);
            }
            return;
        }
        self.hosts.get_mut(h).failures_since_success += 1;
        match error.kind() {
            DialErrorKind::Banned => {
                let reason = BlacklistReason::Banned;
                self.add_to_blacklist(h, d.addr, reason, BanSource::Dial, now);
            }
            kind if kind.counts_toward_blacklist() => self.count_failure(h, d.addr, now),
            _ => {}
        }
        match d.purpose {
            DialPurpose::Rewarm => self.rewarm_failed(h, d.addr, true),
            DialPurpose::Warm => self.rewarm_failed(h, d.addr, false),
            DialPurpose::OutageRetest => self.host_retest_failed(h),
            _ => {}
        }
        if self.hosts.get(h).outage.is_some() {
            self.fail_impatient_waiters(h);
            return;
        }
        let host = self.hosts.get(h);
        if host.waiters.is_empty() {
            return;
        }
        let allowed = self.allowed_addr_count(h);
        let give_up_after = (host.addrs.len().max(1) as u32).saturating_mul(self.opts.max_retries);
        if allowed > 0 && host.failures_since_success < give_up_after {
            self.dial_for_waiters(h);
            return;
        }
        if host.usable == 0 && host.dialing == 0 {
            let error = Error::Dial {
                host: host.name.clone(),
                last: error,
            };
            self.hosts.get_mut(h).failures_since_success = 0;
            self.fail_all_waiters(h, error);
        }
    }

    // ----- the blacklist ---------------------------------------------------------------

    /// Counts a failed dial of `addr`; `max_retries` in a row blacklist it — unless
    /// `host_outage_threshold` of the host's addresses are failing with it: then the host
    /// is down (an outage: no bans, a short re-test; see `hot.rs`).
    fn count_failure(&mut self, h: HostId, addr: SocketAddr, now: Instant) {
        let streak = self.blacklist.record_failure(addr.ip());
        if self.hosts.get(h).outage.is_some() || streak < self.opts.max_retries {
            return;
        }
        if self.looks_down(h) {
            self.start_outage(h, now);
        } else {
            let reason = BlacklistReason::Failures;
            self.add_to_blacklist(h, addr, reason, BanSource::None, now);
        }
    }

    /// Blacklists `addr` for `blacklist_timeout` on the pool's own evidence, and (when the
    /// pool shares its blacklist) publishes the ban to the fleet.
    pub(super) fn add_to_blacklist(
        &mut self,
        h: HostId,
        addr: SocketAddr,
        reason: BlacklistReason,
        source: BanSource,
        now: Instant,
    ) {
        let ttl = self.opts.blacklist_timeout;
        if self.ban(h, addr, reason, source, now, now + ttl) && self.sharing {
            let ban = FleetBan {
                host: self.hosts.get(h).name.to_string(),
                addr,
                reason,
                retestable: source != BanSource::Probe,
                ttl,
            };
            self.actions
                .push_back(Action::Publish(FleetEvent::Ban(ban)));
        }
    }

    /// Puts `addr`'s IP on the dynamic blacklist until `expires`, with its re-test timer;
    /// a `Banned` address's connections drain. Returns whether the entry is new.
    pub(super) fn ban(
        &mut self,
        h: HostId,
        addr: SocketAddr,
        reason: BlacklistReason,
        source: BanSource,
        now: Instant,
        expires: Instant,
    ) -> bool {
        let ip = addr.ip();
        if !self.blacklist.insert(h, addr, reason, source, expires) {
            return false;
        }
        tracing::warn!(%ip, ?reason, "address blacklisted");
        self.counters.blacklisted += 1;
        let interval = self.opts.blacklist_check_interval;
        self.timers.schedule_ip(now + interval, IpTimer::Retest(ip));
        self.timers.schedule_ip(expires, IpTimer::Unblacklist(ip));
        if reason == BlacklistReason::Banned {
            let mut ids = Vec::new();
            for (h, host) in self.hosts.iter() {
                for addr in host.addrs.keys().filter(|a| a.ip() == ip) {
                    ids.extend(self.conns_at(h, *addr));
                }
            }
            for id in ids {
                self.drain(id, CloseReason::Blacklisted);
            }
        }
        true
    }

    /// The re-test deadline of `ip` fired: dial it once (outside the host and address
    /// limits, within `max_connections`). An entry no dial can lift (a probe's ban) is not
    /// dialed: it ends at `blacklist_timeout`.
    pub(super) fn retest(&mut self, ip: IpAddr, now: Instant) {
        let Some(entry) = self.blacklist.get(ip) else {
            return;
        };
        if self.closing || entry.retesting || !entry.lifted_by_dial() {
            return;
        }
        if self.conns.open() + self.dials.len() >= self.opts.max_connections {
            let interval = self.opts.blacklist_check_interval;
            self.timers.schedule_ip(now + interval, IpTimer::Retest(ip));
            return;
        }
        let Some((h, addr)) = self.blacklist.start_retest(ip) else {
            return;
        };
        let request = self.start_dial(h, addr, DialPurpose::Retest, false, None);
        self.actions.push_back(Action::Dial(request));
    }

    /// A re-test dial of `ip` succeeded: the entry ends, unless it became one no dial can
    /// lift while the dial was in flight (a probe banned the address meanwhile).
    fn retest_passed(&mut self, ip: IpAddr, now: Instant) {
        if self.blacklist.get(ip).is_some_and(|b| b.lifted_by_dial()) {
            let Some((h, addr)) = self.blacklist.get(ip).map(|b| b.retest) else {
                return;
            };
            self.restore(ip);
            if self.sharing {
                let host = self.hosts.get(h).name.to_string();
                let unban = FleetEvent::Unban { host, addr };
                self.actions.push_back(Action::Publish(unban));
            }
        } else {
            self.retest_ended(ip, now);
        }
    }

    /// A re-test of `ip` failed or was cancelled: the next one is due an interval later,
    /// unless the entry's `blacklist_timeout` ran out meanwhile (its expiry fired during
    /// the re-test and waited for it): then it ends now.
    pub(super) fn retest_ended(&mut self, ip: IpAddr, now: Instant) {
        if !self.blacklist.end_retest(ip) {
            return;
        }
        if self.blacklist.is_expired(ip, now) {
            self.expire(ip, now);
            return;
        }
        if self.blacklist.get(ip).is_some_and(|b| b.lifted_by_dial()) {
            let interval = self.opts.blacklist_check_interval;
            self.timers.schedule_ip(now + interval, IpTimer::Retest(ip));
        }
    }

    /// Takes `ip` off the dynamic blacklist; returns the host it was last dialed for.
    pub(super) fn restore(&mut self, ip: IpAddr) -> Option<HostId> {
        let entry = self.blacklist.remove(ip)?;
        tracing::info!(%ip, "address restored from blacklist");
        self.counters.restored += 1;
        Some(entry.retest.0)
    }

    // ----- keep-warm replacements ------------------------------------------------------

    /// Whether `e`'s replacement dial (or its next try) is due at `now`.
    pub(super) fn replacement_due(&self, e: &ConnEntry<T>, now: Tick) -> bool {
        match (self.spans.replace, e.phase) {
            (Some(replace), Phase::Live) => e.created.after(replace) <= now,
            (_, Phase::Retiring(Replacement::RetryAt(n))) => self
                .spans
                .replace_try(e.created, n)
                .is_some_and(|at| at <= now),
            _ => false,
        }
    }

    /// Dials a replacement for `id`, which is about to reach `max_lifetime`. It retires
    /// first: its own place under the limits goes to the replacement. When no dial can
    /// be made now (no room under the limits, or the address is blacklisted), the next
    /// try is due at the next multiple of `keep_warm_lead / 4` after the first; the tries
    /// end at expiry.
    pub(super) fn replace(&mut self, id: ConnId, now: Tick) {
        let Some(e) = self.conns.get(id) else { return };
        let due = matches!(
            e.phase,
            Phase::Live | Phase::Retiring(Replacement::RetryAt(_))
        );
        if !due || self.closing {
            return;
        }
        let (h, addr) = (e.host, e.addr);
        let dialable =
            self.hosts.get(h).addrs.contains_key(&addr) && self.blacklist.is_allowed(addr.ip());
        self.set_phase(id, Phase::Retiring(Replacement::Dialing));
        if dialable && self.room_for_dial(h, addr, false) {
            let request = self.start_dial(h, addr, DialPurpose::Replace, true, Some(id));
            self.actions.push_back(Action::Dial(request));
        } else {
            self.retry_replacement(id, now);
        }
    }

    /// The replacement of `old` was made: no more tries.
    fn replaced(&mut self, old: Option<ConnId>) {
        let Some(old) = old else { return };
        if self.conns.get(old).map(|e| e.phase) == Some(Phase::Retiring(Replacement::Dialing)) {
            self.set_phase(old, Phase::Retiring(Replacement::Done));
        }
    }

    /// The replacement dial of `old` failed or was cancelled: it is tried again later.
    pub(super) fn replacement_failed(&mut self, old: Option<ConnId>, now: Instant) {
        let Some(old) = old else { return };
        if self.conns.get(old).map(|e| e.phase) == Some(Phase::Retiring(Replacement::Dialing)) {
            let now = self.timers.tick(now);
            self.retry_replacement(old, now);
        }
    }

    fn retry_replacement(&mut self, id: ConnId, now: Tick) {
        let Some(created) = self.conns.get(id).map(|e| e.created) else {
            return;
        };
        let next = self.spans.next_replace_try(created, now);
        self.set_phase(id, Phase::Retiring(Replacement::RetryAt(next)));
        self.arm(id);
    }
}
