//! Local source addresses for dials: a pool of addresses rotated per dial, matched to the
//! target's address family. Transport-neutral, so every dialer (TLS, QUIC) shares it.

use std::collections::hash_map::RandomState;
use std::hash::{BuildHasher, Hasher};
use std::net::{IpAddr, Ipv6Addr};
use std::sync::atomic::{AtomicUsize, Ordering};

/// Where a dial's local address comes from: a static list (IPv4 and/or IPv6) and/or an
/// IPv6 prefix to draw random addresses from. Empty (the default) lets the OS choose.
///
/// [`SourceAddrs::pick`] rotates through the list per dial and only ever returns an
/// address of the target's family (never an IPv4 source for an IPv6 target); an IPv6
/// target with no static IPv6 address but a prefix gets a random address of the prefix.
/// Binding an address of a prefix that is not configured on an interface needs
/// `IP_FREEBIND` (set by the dialers) or an `AnyIP` route (`ip -6 route add local PREFIX
/// dev lo`).
#[derive(Debug, Default)]
pub struct SourceAddrs {
    addrs: Vec<IpAddr>,
    prefix: Option<(Ipv6Addr, u8)>,
    next_v4: AtomicUsize,
    next_v6: AtomicUsize,
    random: RandomState,
}

impl Clone for SourceAddrs {
    fn clone(&self) -> Self {
        Self::new(self.addrs.clone(), self.prefix)
    }
}

impl SourceAddrs {
    /// A pool of `addrs` and, optionally, an IPv6 `prefix` (address, prefix length ≤ 128).
    pub fn new(addrs: Vec<IpAddr>, prefix: Option<(Ipv6Addr, u8)>) -> Self {
        Self {
            addrs,
            prefix: prefix.map(|(a, len)| (a, len.min(128))),
            next_v4: AtomicUsize::new(0),
            next_v6: AtomicUsize::new(0),
            random: RandomState::new(),
        }
    }

    /// Whether no source address is configured (the OS picks).
    pub fn is_empty(&self) -> bool {
        self.addrs.is_empty() && self.prefix.is_none()
    }

    /// The static addresses.
    pub fn addrs(&self) -> &[IpAddr] {
        &self.addrs
    }

    /// The IPv6 prefix, if any.
    pub fn prefix(&self) -> Option<(Ipv6Addr, u8)> {
        self.prefix
    }

    /// The local address for the next dial to `target` (of the same family), or `None`
    /// when none of that family is configured. The second value is true when the address
    /// was drawn from the prefix (it may need `IP_FREEBIND` to bind).
    pub fn pick(&self, target: IpAddr) -> Option<(IpAddr, bool)> {
        let v6 = target.is_ipv6();
        let count = self.addrs.iter().filter(|a| a.is_ipv6() == v6).count();
        if count > 0 {
            let cursor = if v6 { &self.next_v6 } else { &self.next_v4 };
            let n = cursor.fetch_add(1, Ordering::Relaxed) % count;
            return self
                .addrs
                .iter()
                .filter(|a| a.is_ipv6() == v6)
                .nth(n)
                .map(|a| (*a, false));
        }
        match (v6, self.prefix) {
            (true, Some((base, len))) => Some((IpAddr::V6(self.draw(base, len)), true)),
            _ => None,
        }
    }

    /// A random address inside `base/len`.
    fn draw(&self, base: Ipv6Addr, len: u8) -> Ipv6Addr {
        if len >= 128 {
            return base;
        }
        let mut hasher = self.random.build_hasher();
        hasher.write_usize(self.next_v6.fetch_add(1, Ordering::Relaxed));
        let high = u128::from(hasher.finish()) << 64;
        hasher.write_u8(0x5a);
        let random = high | u128::from(hasher.finish());
        let host_mask = u128::MAX >> len;
        Ipv6Addr::from((u128::from(base) & !host_mask) | (random & host_mask))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ip(s: &str) -> IpAddr {
        s.parse().unwrap()
    }

    #[test]
    fn rotates_within_the_family() {
        let pool = SourceAddrs::new(vec![ip("10.0.0.1"), ip("::1"), ip("10.0.0.2")], None);
        let v4: Vec<_> = (0..4)
            .map(|_| pool.pick(ip("1.2.3.4")).unwrap().0)
            .collect();
        assert_eq!(
            v4,
            [
                ip("10.0.0.1"),
                ip("10.0.0.2"),
                ip("10.0.0.1"),
                ip("10.0.0.2")
            ]
        );
        assert_eq!(pool.pick(ip("2001:db8::1")), Some((ip("::1"), false)));
    }

    #[test]
    fn never_crosses_families() {
        let v4_only = SourceAddrs::new(vec![ip("10.0.0.1")], None);
        assert_eq!(v4_only.pick(ip("2001:db8::1")), None);
        let v6_only = SourceAddrs::new(vec![], Some(("2001:db8:1::".parse().unwrap(), 64)));
        assert_eq!(v6_only.pick(ip("192.0.2.1")), None);
        assert!(SourceAddrs::default().is_empty());
    }

    #[test]
    fn prefix_draws_stay_inside_and_vary() {
        let base: Ipv6Addr = "2001:db8:1:2::".parse().unwrap();
        let pool = SourceAddrs::new(vec![], Some((base, 64)));
        let mut seen = std::collections::HashSet::new();
        for _ in 0..32 {
            let (addr, from_prefix) = pool.pick(ip("2001:db8::1")).unwrap();
            assert!(from_prefix);
            let IpAddr::V6(a) = addr else {
                panic!("v4 from a v6 prefix")
            };
            assert_eq!(u128::from(a) >> 64, u128::from(base) >> 64);
            seen.insert(a);
        }
        assert!(seen.len() > 1, "prefix draws should differ");
        let single = SourceAddrs::new(vec![], Some((Ipv6Addr::LOCALHOST, 128)));
        assert_eq!(single.pick(ip("::1")), Some((ip("::1"), true)));
    }
}
