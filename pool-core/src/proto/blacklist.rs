//! Which addresses may be dialed: the static whitelist and blacklist of the options, the
//! dynamic blacklist (entries with their reason and re-test state), and the streaks of
//! consecutive dial failures that lead to it.

use std::collections::HashMap;
use std::net::{IpAddr, SocketAddr};
use std::time::Instant;

use super::ids::HostId;
use crate::ip_range::IpRange;
use crate::options::PoolOptions;
use crate::types::BlacklistReason;

/// What put a `Banned` entry on the list, which decides what may lift it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) enum BanSource {
    /// Not banned (`max_retries` failures): any successful re-test dial lifts it.
    None,
    /// A dial's validation answered "banned". A dialer that validates validates every
    /// dial, re-tests included, so a successful re-test dial was validated: it lifts it.
    Dial,
    /// A health probe answered "banned". A dial cannot re-check that (the dialer may not
    /// validate at all), so no re-test dial lifts it: only `blacklist_timeout` does.
    Probe,
}

/// One address on the dynamic blacklist.
pub(super) struct BlacklistEntry {
    /// When it ends (`blacklist_timeout` after a local ban; a fleet ban's own expiry).
    pub(super) expires: Instant,
    pub(super) reason: BlacklistReason,
    pub(super) source: BanSource,
    /// The host and address to dial for the re-test.
    pub(super) retest: (HostId, SocketAddr),
    /// Whether a re-test dial is in flight.
    pub(super) retesting: bool,
}

impl BlacklistEntry {
    /// Whether a successful dial may lift it (see [`BanSource`]).
    pub(super) fn lifted_by_dial(&self) -> bool {
        self.source != BanSource::Probe
    }
}

/// The allow rules and the dynamic blacklist.
pub(super) struct Blacklist {
    whitelist: Vec<IpRange>,
    statics: Vec<IpRange>,
    entries: HashMap<IpAddr, BlacklistEntry>,
    /// Consecutive failed dials per address since its last success.
    fail_streaks: HashMap<IpAddr, u32>,
}

impl Blacklist {
    /// The rules of `opts`, with an empty dynamic blacklist.
    pub(super) fn new(opts: &PoolOptions) -> Self {
        Self {
            whitelist: opts.whitelist.clone(),
            statics: opts.blacklist.clone(),
            entries: HashMap::new(),
            fail_streaks: HashMap::new(),
        }
    }

    /// Whether `ip` may be dialed: inside the whitelist (when set) and on no blacklist.
    pub(super) fn is_allowed(&self, ip: IpAddr) -> bool {
        (self.whitelist.is_empty() || self.whitelist.iter().any(|r| r.contains(ip)))
            && !self.statics.iter().any(|r| r.contains(ip))
            && !self.entries.contains_key(&ip)
    }

    /// Why `ip` is on the dynamic blacklist, if it is.
    pub(super) fn reason(&self, ip: IpAddr) -> Option<BlacklistReason> {
        self.entries.get(&ip).map(|b| b.reason)
    }

    /// Addresses on the dynamic blacklist.
    pub(super) fn len(&self) -> usize {
        self.entries.len()
    }

    /// The entry of `ip`.
    pub(super) fn get(&self, ip: IpAddr) -> Option<&BlacklistEntry> {
        self.entries.get(&ip)
    }

    /// Counts a failed dial of `ip`; returns the failures in a row.
    pub(super) fn record_failure(&mut self, ip: IpAddr) -> u32 {
        let streak = self.fail_streaks.entry(ip).or_default();
        *streak += 1;
        *streak
    }

    /// Failed dials of `ip` in a row (0 after a success).
    pub(super) fn streak(&self, ip: IpAddr) -> u32 {
        self.fail_streaks.get(&ip).copied().unwrap_or(0)
    }

    /// A dial of `ip` succeeded: its streak ends.
    pub(super) fn record_success(&mut self, ip: IpAddr) {
        self.fail_streaks.remove(&ip);
    }

    /// Puts `addr`'s IP on the list (dialed for host `h`) until `expires`. Returns true when
    /// it is new; an existing entry only takes a `Banned` reason (and the stricter source).
    pub(super) fn insert(
        &mut self,
        h: HostId,
        addr: SocketAddr,
        reason: BlacklistReason,
        source: BanSource,
        expires: Instant,
    ) -> bool {
        let ip = addr.ip();
        self.fail_streaks.remove(&ip);
        if let Some(entry) = self.entries.get_mut(&ip) {
            if reason == BlacklistReason::Banned {
                entry.reason = reason;
                if source == BanSource::Probe || entry.source == BanSource::None {
                    entry.source = source;
                }
            }
            return false;
        }
        self.entries.insert(
            ip,
            BlacklistEntry {
                expires,
                reason,
                source,
                retest: (h, addr),
                retesting: false,
            },
        );
        true
    }

    /// Takes `ip` off the list.
    pub(super) fn remove(&mut self, ip: IpAddr) -> Option<BlacklistEntry> {
        let entry = self.entries.remove(&ip)?;
        self.fail_streaks.remove(&ip);
        Some(entry)
    }

    /// Marks a re-test of `ip` as in flight; returns what to dial, or `None` when it is not
    /// listed or a re-test already runs.
    pub(super) fn start_retest(&mut self, ip: IpAddr) -> Option<(HostId, SocketAddr)> {
        let entry = self.entries.get_mut(&ip)?;
        if entry.retesting {
            return None;
        }
        entry.retesting = true;
        Some(entry.retest)
    }

    /// A re-test of `ip` ended without lifting it; returns whether `ip` is still listed.
    pub(super) fn end_retest(&mut self, ip: IpAddr) -> bool {
        self.entries
            .get_mut(&ip)
            .map(|entry| entry.retesting = false)
            .is_some()
    }

    /// Whether `ip`'s entry has run out at `now`.
    pub(super) fn is_expired(&self, ip: IpAddr, now: Instant) -> bool {
        self.entries.get(&ip).is_some_and(|b| b.expires <= now)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    fn addr(last: u8) -> SocketAddr {
        SocketAddr::from(([127, 0, 0, last], 443))
    }

    #[test]
    fn static_rules_and_dynamic_entries_decide_what_is_allowed() {
        let mut b = Blacklist::new(&PoolOptions {
            whitelist: vec!["127.0.0.0/30".parse().unwrap()],
            blacklist: vec![IpRange::from(addr(3).ip())],
            ..PoolOptions::default()
        });
        assert!(b.is_allowed(addr(2).ip()));
        assert!(!b.is_allowed(addr(3).ip()), "static blacklist");
        assert!(!b.is_allowed(addr(9).ip()), "outside the whitelist");
        let now = Instant::now();
        let banned = BlacklistReason::Banned;
        assert!(b.insert(HostId(0), addr(2), banned, BanSource::Dial, now));
        assert!(!b.is_allowed(addr(2).ip()), "dynamic blacklist");
        assert_eq!((b.reason(addr(2).ip()), b.len()), (Some(banned), 1));
        assert!(b.remove(addr(2).ip()).is_some());
        assert!(b.is_allowed(addr(2).ip()));
    }

    #[test]
    fn an_existing_entry_only_takes_a_ban() {
        let mut b = Blacklist::new(&PoolOptions::default());
        let now = Instant::now();
        let ip = addr(2).ip();
        assert!(b.insert(
            HostId(0),
            addr(2),
            BlacklistReason::Failures,
            BanSource::None,
            now
        ));
        assert!(!b.insert(
            HostId(0),
            addr(2),
            BlacklistReason::Failures,
            BanSource::None,
            now
        ));
        assert!(b.get(ip).unwrap().lifted_by_dial());
        b.insert(
            HostId(0),
            addr(2),
            BlacklistReason::Banned,
            BanSource::Probe,
            now,
        );
        assert_eq!(b.reason(ip), Some(BlacklistReason::Banned));
        assert!(
            !b.get(ip).unwrap().lifted_by_dial(),
            "a probe ban needs more than a dial"
        );
        b.insert(
            HostId(0),
            addr(2),
            BlacklistReason::Banned,
            BanSource::Dial,
            now,
        );
        assert!(
            !b.get(ip).unwrap().lifted_by_dial(),
            "the stricter source stays"
        );
    }

    #[test]
    fn streaks_retests_and_expiry() {
        let mut b = Blacklist::new(&PoolOptions::default());
        let ip = addr(2).ip();
        assert_eq!((b.record_failure(ip), b.record_failure(ip)), (1, 2));
        b.record_success(ip);
        assert_eq!(b.record_failure(ip), 1, "a success ends the streak");
        let now = Instant::now();
        let timeout = Duration::from_secs(10);
        b.insert(
            HostId(0),
            addr(2),
            BlacklistReason::Failures,
            BanSource::None,
            now + timeout,
        );
        assert_eq!(b.record_failure(ip), 1, "blacklisting ends the streak");
        assert_eq!(b.start_retest(ip), Some((HostId(0), addr(2))));
        assert_eq!(b.start_retest(ip), None, "one re-test at a time");
        assert!(b.end_retest(ip));
        assert!(b.start_retest(ip).is_some());
        assert!(!b.is_expired(ip, now + Duration::from_secs(9)));
        assert!(b.is_expired(ip, now + timeout));
        assert!(!b.end_retest(addr(7).ip()), "not listed");
    }
}
