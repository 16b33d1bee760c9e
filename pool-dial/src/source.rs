//! Local source addresses for dials: a pool of addresses rotated per dial, matched to the
//! target's address family. Transport-neutral, so every dialer (TLS, QUIC) shares it.

use std::net::IpAddr;

use pool_core::IpRange;

use crate::rotate::RoundRobin;

/// Where a dial's local address comes from: a static list (IPv4 and/or IPv6) and/or an
/// IPv6 prefix to draw random addresses from. Empty (the default) lets the OS choose.
///
/// [`SourceAddrs::pick`] rotates through the list per dial and only ever returns an
/// address of the target's family (never an IPv4 source for an IPv6 target); a target with
/// no static address of its family but a prefix of that family gets a random address of
/// the prefix. Binding an address of a prefix that is not configured on an interface needs
/// `IP_FREEBIND` (set by the dialers) or an `AnyIP` route (`ip -6 route add local PREFIX
/// dev lo`).
#[derive(Debug, Default)]
pub struct SourceAddrs {
    addrs: Vec<IpAddr>,
    prefix: Option<IpRange>,
    v4: RoundRobin<IpAddr>,
    v6: RoundRobin<IpAddr>,
}

impl Clone for SourceAddrs {
    fn clone(&self) -> Self {
        Self::new(self.addrs.clone(), self.prefix)
    }
}

impl SourceAddrs {
    /// A pool of `addrs` and, optionally, a `prefix` (normally IPv6, e.g. `2001:db8::/64`)
    /// to draw addresses from for targets of its family.
    pub fn new(addrs: Vec<IpAddr>, prefix: Option<IpRange>) -> Self {
        let of = |v6: bool| {
            addrs
                .iter()
                .copied()
                .filter(|a| a.is_ipv6() == v6)
                .collect()
        };
        Self {
            v4: RoundRobin::new(of(false)),
            v6: RoundRobin::new(of(true)),
            addrs,
            prefix,
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

    /// The prefix, if any.
    pub fn prefix(&self) -> Option<IpRange> {
        self.prefix
    }

    /// The local address for the next dial to `target` (of the same family), or `None`
    /// when none of that family is configured. The second value is true when the address
    /// was drawn from the prefix (it may need `IP_FREEBIND` to bind).
    pub fn pick(&self, target: IpAddr) -> Option<(IpAddr, bool)> {
        let v6 = target.is_ipv6();
        let list = if v6 { &self.v6 } else { &self.v4 };
        if let Some(addr) = list.next() {
            return Some((*addr, false));
        }
        let prefix = self.prefix.filter(|p| p.is_ipv6() == v6)?;
        let random = u128::from(list.random_u64()) << 64 | u128::from(list.random_u64());
        Some((prefix.with_host_bits(random), true))
    }
}

#[cfg(test)]
mod tests {
    use std::net::Ipv6Addr;

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
        let v6_only = SourceAddrs::new(vec![], Some("2001:db8:1::/64".parse().unwrap()));
        assert_eq!(v6_only.pick(ip("192.0.2.1")), None);
        assert!(SourceAddrs::default().is_empty());
    }

    #[test]
    fn prefix_draws_stay_inside_and_vary() {
        let base: Ipv6Addr = "2001:db8:1:2::".parse().unwrap();
        let pool = SourceAddrs::new(vec![], Some(IpRange::new(base.into(), 64).unwrap()));
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
        let single = SourceAddrs::new(
            vec![],
            Some(IpRange::from(IpAddr::from(Ipv6Addr::LOCALHOST))),
        );
        assert_eq!(single.pick(ip("::1")), Some((ip("::1"), true)));
    }

    #[test]
    fn static_addresses_win_over_the_prefix_and_prefix_matches_its_family() {
        let prefix: IpRange = "2001:db8:9::/48".parse().unwrap();
        let pool = SourceAddrs::new(vec![ip("::5")], Some(prefix));
        assert_eq!(pool.pick(ip("2001:db8::1")), Some((ip("::5"), false)));
        assert_eq!(pool.prefix(), Some(prefix));
        let v4 = SourceAddrs::new(vec![], Some("10.9.0.0/16".parse().unwrap()));
        let (addr, from_prefix) = v4.pick(ip("192.0.2.1")).unwrap();
        assert!(from_prefix && "10.9.0.0/16".parse::<IpRange>().unwrap().contains(addr));
        assert_eq!(v4.pick(ip("2001:db8::1")), None);
    }
}
