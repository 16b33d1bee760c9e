//! The commands of [`PoolState`]: what the shell asks of it on behalf of callers.

use std::collections::BTreeSet;
use std::net::SocketAddr;
use std::time::Instant;

use super::conns::{Phase, addr_links};
use super::dials::DialPurpose;
use super::gauge::Use;
use super::hosts::AddrEntry;
use super::ids::{ConnId, WaiterId};
use super::{Action, AddrChange, Checkout, PoolState, WarmPlan, clamp_capacity};
use crate::error::Error;
use crate::types::{CloseReason, Outcome, WarmLimit};

impl<T> PoolState<T> {
    /// Asks for a lease on a connection to `host`.
    ///
    /// `Ready` is a lease counted now (on the least loaded connection, or by `fill`); `Wait`
    /// queues the caller in FIFO order and may start dials (see [`Action::Dial`]).
    pub fn checkout(&mut self, host: &str) -> Result<Checkout, Error> {
        self.checkout_with(host, false)
    }

    /// [`PoolState::checkout`], saying what to do while the host is down (a host outage,
    /// see `docs/stay-hot.md`) and no connection to it is open: with `wait_for_host`, wait
    /// (until served, or the caller's own deadline); without, fail now with
    /// [`Error::HostDown`].
    pub fn checkout_with(&mut self, host: &str, wait_for_host: bool) -> Result<Checkout, Error> {
        if self.closing {
            return Err(Error::Closed);
        }
        let Some(h) = self.hosts.lookup(host) else {
            return Err(Error::NoAddresses { host: host.into() });
        };
        if self.hosts.get(h).waiters.is_empty() {
            if let Some(id) = self.take_ready(h) {
                return Ok(Checkout::Ready(id));
            }
        }
        let entry = self.hosts.get(h);
        if entry.addrs.is_empty() {
            return Err(Error::NoAddresses {
                host: entry.name.clone(),
            });
        }
        if entry.usable == 0 && entry.dialing == 0 && self.allowed_addr_count(h) == 0 {
            return Err(Error::NoUsableAddress {
                host: entry.name.clone(),
            });
        }
        // Down, and nothing open to serve the caller: fail fast unless asked to wait (with
        // connections still open to some addresses, it waits for one of them).
        let nothing_open = entry.usable == 0;
        if let Some(down) = self.host_down(h).filter(|_| !wait_for_host && nothing_open) {
            return Err(down);
        }
        let waiter = self.waiters.add(h, wait_for_host);
        self.hosts.get_mut(h).waiters.push_back(waiter);
        // The re-scan after the waiter is counted: a lease a lane return freed before it
        // saw the count is found here (see `WaitQueue::push_back`).
        self.serve_waiters(h);
        self.dial_for_waiters(h);
        Ok(Checkout::Wait(waiter))
    }

    /// Gives up waiting (timeout or the caller went away). Returns false when the waiter
    /// was already served or failed (its grant is in the action queue or delivered).
    pub fn cancel_waiter(&mut self, waiter: WaiterId) -> bool {
        let Some(h) = self.waiters.remove(waiter) else {
            return false;
        };
        self.hosts.get_mut(h).waiters.remove(waiter);
        true
    }

    /// Ends a lease. `capacity` is the connection's current capacity (it may have changed).
    pub fn release(&mut self, id: ConnId, outcome: Outcome, capacity: usize, now: Instant) {
        let max_errors = self.opts.max_errors;
        let t = self.timers.tick(now);
        let Some(e) = self.conns.get_mut(id) else {
            return;
        };
        if e.gauge
            .give_back(clamp_capacity(capacity), t.nanos(), Use::from(outcome))
            .is_none()
        {
            return;
        }
        let host = e.host;
        let verdict = match outcome {
            Outcome::Error => {
                e.error_count += 1;
                (e.error_count > max_errors).then_some(CloseReason::Errors)
            }
            Outcome::Broken => Some(CloseReason::Broken),
            Outcome::Success | Outcome::Unused => None,
        };
        if let Some(reason) = verdict {
            self.drain(id, reason);
        }
        self.returned(id, host);
    }

    /// A lease of `id` was returned by the shell's fast lane while waiters were counted:
    /// serves them (the returned lease is free again).
    pub fn handle_returned(&mut self, id: ConnId) {
        if let Some(host) = self.conns.get(id).map(|e| e.host) {
            self.serve_waiters(host);
        }
    }

    /// Sets the addresses of `host` (from DNS, config, or the user's own source).
    /// Connections to removed addresses drain; new addresses become dialable.
    pub fn set_addrs(
        &mut self,
        host: &str,
        addrs: impl IntoIterator<Item = SocketAddr>,
    ) -> AddrChange {
        let h = self.hosts.id_or_insert(host);
        let new: BTreeSet<SocketAddr> = addrs.into_iter().collect();
        let entry = self.hosts.get_mut(h);
        let removed: Vec<SocketAddr> = entry
            .addrs
            .keys()
            .filter(|a| !new.contains(a))
            .copied()
            .collect();
        let added: Vec<SocketAddr> = new
            .iter()
            .filter(|a| !entry.addrs.contains_key(a))
            .copied()
            .collect();
        let mut orphans = Vec::new();
        for addr in &removed {
            let Some(a) = self.hosts.get_mut(h).addrs.remove(addr) else {
                continue;
            };
            // Its connections drain below; they leave the address's list now.
            orphans.extend(self.conns.detach_list(&a.list, addr_links));
            if a.list.len > 0 {
                self.hosts.connected_pairs -= 1;
            }
        }
        for addr in &added {
            // A dial may still be in flight from before the address was removed.
            let dialing = self.dials.counted_to(h, *addr);
            self.hosts.get_mut(h).addrs.insert(
                *addr,
                AddrEntry {
                    dialing,
                    ..AddrEntry::default()
                },
            );
        }
        for id in orphans {
            self.drain(id, CloseReason::AddressRemoved);
        }
        if !added.is_empty() || !removed.is_empty() {
            tracing::debug!(
                host,
                added = added.len(),
                removed = removed.len(),
                "addresses changed"
            );
        }
        self.refill(h);
        if !added.is_empty() {
            self.rewarm_host(h); // a hot host keeps a connection to every address
        }
        AddrChange { added, removed }
    }

    /// Reserves dials for every allowed address of `host` that has no connection yet,
    /// within the limits (total, per host, per address, and idle: warm connections are idle,
    /// so no more are dialed than `max_idle_conns` keeps). The caller runs them (with
    /// bounded concurrency) and reports each with `handle_dial_result`. The plan also says
    /// how many addresses are allowed and which limit, if any, stopped it short of them.
    pub fn plan_warm(&mut self, host: &str) -> WarmPlan {
        let mut plan = WarmPlan::default();
        if self.closing {
            return plan;
        }
        let Some(h) = self.hosts.lookup(host) else {
            return plan;
        };
        self.hosts.get_mut(h).hot = true; // kept hot from now on (with `stay_hot`)
        let entry = self.hosts.get(h);
        plan.allowed = entry
            .addrs
            .keys()
            .filter(|addr| self.blacklist.is_allowed(addr.ip()))
            .count();
        let targets: Vec<SocketAddr> = entry
            .addrs
            .iter()
            .filter(|(addr, a)| {
                a.conns == 0 && a.dialing == 0 && self.blacklist.is_allowed(addr.ip())
            })
            .map(|(addr, _)| *addr)
            .collect();
        let (per_host, per_ip) = (self.opts.max_conns_per_host, self.opts.max_conns_per_ip);
        let idle = self.conns.idle_count();
        for addr in targets {
            // The limits in the order they are checked; the first one reached ends the plan.
            let cap = if idle + plan.dials.len() >= self.opts.max_idle_conns {
                Some(WarmLimit::MaxIdleConns(self.opts.max_idle_conns))
            } else if !self.hosts.get(h).has_room_at(addr, per_host, per_ip) {
                Some(WarmLimit::MaxConnsPerHost(per_host))
            } else if !self.room_for_dial(h, addr, false) {
                Some(WarmLimit::MaxConnections(self.opts.max_connections))
            } else {
                None
            };
            if cap.is_some() {
                plan.capped_by = cap;
                break;
            }
            let dial = self.start_dial(h, addr, DialPurpose::Warm, true, None);
            plan.dials.push(dial);
        }
        plan
    }

    /// Closes `fraction` (0.0–1.0) of the idle connections, least recently used first.
    /// Returns how many were closed.
    pub fn shed(&mut self, fraction: f64) -> usize {
        let fraction = if fraction.is_nan() {
            0.0
        } else {
            fraction.clamp(0.0, 1.0)
        };
        let idle = self.conns.idle_by_age(|_| true);
        let count = (idle.len() as f64 * fraction).ceil() as usize;
        let mut closed = 0;
        for id in idle.into_iter().take(count) {
            closed += usize::from(self.close_if_idle(id, CloseReason::Shed, |_| true));
        }
        closed
    }

    /// Starts closing the pool: waiters fail, idle connections close, leased ones close
    /// at release, dials in flight are closed when they finish.
    pub fn close(&mut self) {
        if self.closing {
            return;
        }
        self.closing = true;
        for waiter in self.waiters.ids() {
            self.cancel_waiter(waiter);
            self.actions.push_back(Action::Fail {
                waiter,
                error: Error::Closed,
            });
        }
        for id in self.conns.ids() {
            self.drain(id, CloseReason::PoolClosed);
        }
        self.timers.clear();
        self.probe_due.clear();
    }

    /// Takes up to `max` connections due for a health probe. Each is held out of checkout
    /// until [`PoolState::handle_probe_result`]; a leased connection is never returned.
    pub fn take_probes(&mut self, max: usize) -> Vec<ConnId> {
        let mut taken = Vec::new();
        while taken.len() < max {
            let Some(id) = self.probe_due.pop_front() else {
                break;
            };
            let Some(e) = self.conns.get_mut(id) else {
                continue;
            };
            e.probe_queued = false;
            let draining = matches!(e.phase, Phase::Draining(_));
            // Held for the probe only if idle (a racing lane lease makes the CAS fail).
            if e.probing || draining || !e.gauge.try_probe() {
                self.arm(id); // its probe deadline counts again once it is idle
                continue;
            }
            e.probing = true;
            self.conns.probing += 1;
            taken.push(id);
        }
        taken
    }
}
