//! The inputs of [`PoolState`]: results of what the shell carried out, and time.

use std::net::IpAddr;
use std::time::Instant;

use super::blacklist::BanSource;
use super::conns::{ConnEntry, Phase};
use super::dials::{DialPurpose, Opened};
use super::ids::{ConnId, DialId};
use super::timers::{Due, IpTimer, Tick};
use super::{Action, PoolState};
use crate::transport::DialError;
use crate::types::{BlacklistReason, CloseReason, ProbeVerdict};

impl<T> PoolState<T> {
    /// Reports how a dial ended. On success, returns the id of the admitted connection, or
    /// `None` when it was not admitted (then an [`Action::Close`] hands the handle back).
    pub fn handle_dial_result(
        &mut self,
        dial: DialId,
        result: Result<(T, Opened), DialError>,
        now: Instant,
    ) -> Option<ConnId> {
        self.timers.tick(now);
        let d = self.dials.finish(dial)?;
        if d.counted {
            self.hosts.get_mut(d.host).count_dial(d.addr, false);
        }
        match result {
            Ok((handle, opened)) => self.dial_succeeded(d, handle, opened, now),
            Err(error) => {
                self.dial_failed(d, error, now);
                None
            }
        }
    }

    /// A dial that will never report (its task was cancelled or panicked, or it was planned
    /// and never started): frees its reservation without counting a failure.
    pub fn cancel_dial(&mut self, dial: DialId, now: Instant) {
        self.timers.tick(now);
        let Some(d) = self.dials.finish(dial) else {
            return;
        };
        if d.counted {
            self.hosts.get_mut(d.host).count_dial(d.addr, false);
        }
        match d.purpose {
            DialPurpose::Retest => self.retest_ended(d.addr.ip(), now),
            DialPurpose::Replace => self.replacement_failed(d.replaces, now),
            DialPurpose::Rewarm => self.rewarm_cancelled(d.host, d.addr, now),
            DialPurpose::OutageRetest => self.host_retest_failed(d.host),
            DialPurpose::Checkout | DialPurpose::Warm => {}
        }
        self.refill(d.host);
    }

    /// Reports a health probe's verdict on a connection from [`PoolState::take_probes`].
    pub fn handle_probe_result(&mut self, id: ConnId, verdict: ProbeVerdict, now: Instant) {
        let t = self.timers.tick(now);
        let Some(e) = self.conns.get_mut(id) else {
            return;
        };
        if !e.probing {
            return;
        }
        e.probing = false;
        e.gauge.end_probe();
        let (addr, host) = (e.addr, e.host);
        if verdict == ProbeVerdict::Healthy {
            e.probed = t;
        }
        self.conns.probing -= 1;
        match verdict {
            ProbeVerdict::Healthy => self.counters.probed(false),
            ProbeVerdict::Skipped => {}
            ProbeVerdict::Unhealthy => {
                self.counters.probed(true);
                self.drain(id, CloseReason::Unhealthy);
            }
            ProbeVerdict::Banned => {
                self.counters.probed(true);
                // Not re-warmed: the address is banned next (a re-warm dial would race it).
                self.drain_as(id, CloseReason::Unhealthy, false);
                let reason = BlacklistReason::Banned;
                self.add_to_blacklist(host, addr, reason, BanSource::Probe, now);
            }
        }
        self.returned(id, host);
    }

    /// The transport says this connection is dead, and why: [`CloseReason::GoAway`],
    /// [`CloseReason::PeerClosed`], [`CloseReason::Lost`], or [`CloseReason::Broken`] when
    /// it cannot tell. A hot host's address left without a connection is re-warmed now.
    pub fn handle_conn_closed(&mut self, id: ConnId, reason: CloseReason, now: Instant) {
        self.timers.tick(now);
        let Some(host) = self.conns.get(id).map(|e| e.host) else {
            return;
        };
        self.drain(id, reason);
        self.refill(host);
    }

    /// Runs every deadline due at `now`: idle and expiry cleanup, keep-warm replacements,
    /// probe scheduling, blacklist re-tests and expiry. Costs in proportion to what is due.
    pub fn handle_timeout(&mut self, now: Instant) {
        let t = self.timers.tick(now);
        while let Some(due) = self.timers.pop_due(now, t) {
            match due {
                Due::Conn(id) => {
                    if let Some(e) = self.conns.get_mut(id) {
                        e.timer_at = None;
                    }
                    self.fire_conn(id, t);
                }
                Due::Ip(timer) => self.fire_ip(timer, now),
            }
        }
    }

    /// A connection's timer fired: runs whichever of its deadlines are due, re-arms it.
    fn fire_conn(&mut self, id: ConnId, now: Tick) {
        let spans = self.spans;
        let Some(e) = self.conns.get(id) else { return };
        if matches!(e.phase, Phase::Draining(_)) {
            return;
        }
        if e.created.after(spans.lifetime) <= now {
            self.drain(id, CloseReason::Expired);
            return;
        }
        if self.replacement_due(e, now) {
            self.replace(id, now);
        }
        let idle_due = |e: &ConnEntry<T>| e.last_used().max(e.busy_seen).after(spans.idle) <= now;
        if self.conns.get(id).is_some_and(idle_due) && self.keeps_address_hot(id) {
            // A hot host's last connection to its address: kept (and probed), not closed;
            // looked at again one idle timeout on.
            if let Some(e) = self.conns.get_mut(id) {
                e.busy_seen = now;
            }
        } else if self.conns.get(id).is_some_and(idle_due) {
            if self.close_if_idle(id, CloseReason::Idle, idle_due) {
                return;
            }
            // Busy, or needed by its host's waiters: looked at again one idle timeout on
            // (a use that raced the close moved its deadline already).
            if let Some(e) = self.conns.get_mut(id).filter(|e| idle_due(e)) {
                e.busy_seen = now;
            }
        }
        let Some(e) = self.conns.get_mut(id) else {
            return;
        };
        let probe_due = spans.probe.is_some_and(|probe| {
            !e.probe_queued && e.last_checked().max(e.busy_seen).after(probe) <= now
        });
        if probe_due {
            if e.is_available() && e.gauge.is_unheld() {
                e.probe_queued = true;
                self.probe_due.push_back(id);
                if self.probe_due.len() == 1 {
                    self.actions.push_back(Action::ProbesDue);
                }
            } else {
                e.busy_seen = now;
            }
        }
        self.arm(id);
    }

    /// A blacklist deadline fired.
    fn fire_ip(&mut self, timer: IpTimer, now: Instant) {
        match timer {
            IpTimer::Retest(ip) => self.retest(ip, now),
            IpTimer::Unblacklist(ip) => self.expire(ip, now),
            IpTimer::Rewarm(h, addr) => self.fire_rewarm(h, addr),
            IpTimer::OutageRetest(h) => self.retest_host(h),
        }
    }

    /// Ends `ip`'s entry if its expiry (`blacklist_timeout`, or a fleet ban's own) is up
    /// and no re-test is in flight (a re-test in flight ends it when it finishes, see
    /// `retest_ended`).
    pub(super) fn expire(&mut self, ip: IpAddr, now: Instant) {
        let idle = self.blacklist.get(ip).is_some_and(|b| !b.retesting);
        if idle && self.blacklist.is_expired(ip, now) {
            if let Some(h) = self.restore(ip) {
                self.dial_for_waiters(h);
                self.rewarm_host(h);
            }
        }
    }
}
