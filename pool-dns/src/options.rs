//! What shapes the refresher: name servers, address families, timing.

use std::net::SocketAddr;
use std::time::Duration;

/// The transport used to talk to a name server.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub enum DnsProtocol {
    /// DNS over UDP (the default).
    #[default]
    Udp,
    /// DNS over TCP.
    Tcp,
}

/// One name server: its address (IP and port) and transport.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct NameServer {
    /// IP address and port (usually 53).
    pub addr: SocketAddr,
    /// UDP or TCP.
    pub protocol: DnsProtocol,
}

impl NameServer {
    /// A UDP name server at `addr`.
    pub fn udp(addr: SocketAddr) -> Self {
        Self {
            addr,
            protocol: DnsProtocol::Udp,
        }
    }

    /// A TCP name server at `addr`.
    pub fn tcp(addr: SocketAddr) -> Self {
        Self {
            addr,
            protocol: DnsProtocol::Tcp,
        }
    }
}

/// Which address families are resolved, and which wins when both exist.
///
/// A hot pool connects to *every* address of a host, so the default resolves both A and
/// AAAA and uses all of them; the `Prefer*` variants use the other family only when the
/// preferred one has no records.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub enum IpPreference {
    /// A records only.
    Ipv4,
    /// AAAA records only.
    Ipv6,
    /// A and AAAA, every address of both (the default).
    #[default]
    Both,
    /// A records; AAAA only when the name has no A records.
    PreferIpv4,
    /// AAAA records; A only when the name has no AAAA records.
    PreferIpv6,
}

/// Options of a [`DnsRefresher`](crate::DnsRefresher). Plain fields with defaults; the
/// config crate converts its `[dns]` section and `pool.dns_update_interval` into them.
#[derive(Clone, Debug, PartialEq)]
pub struct DnsOptions {
    /// The name servers to ask, in order. Empty (the default): the system's configuration
    /// (`/etc/resolv.conf`).
    pub name_servers: Vec<NameServer>,
    /// Which address families to resolve.
    pub prefer: IpPreference,
    /// Re-resolve at least this often, even when the records' TTL is longer
    /// (`pool.dns_update_interval`; default 30 minutes).
    pub dns_update_interval: Duration,
    /// Floor of the re-resolve delay taken from a record TTL, so a TTL of 0 cannot make the
    /// refresher spin (default 5 s).
    pub min_ttl: Duration,
    /// Timeout of one DNS query (default 5 s).
    pub query_timeout: Duration,
    /// Tries per query before the resolution counts as failed (default 2).
    pub attempts: usize,
    /// First retry delay after a failed resolution; doubles with every consecutive failure
    /// (default 1 s).
    pub retry_backoff: Duration,
    /// Longest retry delay after failures (default 60 s; never longer than
    /// `dns_update_interval`).
    pub max_retry_backoff: Duration,
    /// Warm new addresses (`Pool::warm`) as soon as they appear (default true).
    pub warm_new_addrs: bool,
    /// How long a family that keeps failing keeps its last good answer (default 24 h);
    /// past it the family's addresses are removed (their connections drain).
    pub stale_after: Duration,
    /// NXDOMAIN answers in a row before a family's addresses are removed (default 2; 0
    /// counts as 1). NXDOMAIN is the only answer that removes addresses.
    pub nxdomain_confirmations: u32,
}

impl Default for DnsOptions {
    fn default() -> Self {
        Self {
            name_servers: Vec::new(),
            prefer: IpPreference::Both,
            dns_update_interval: Duration::from_secs(1800),
            min_ttl: Duration::from_secs(5),
            query_timeout: Duration::from_secs(5),
            attempts: 2,
            retry_backoff: Duration::from_secs(1),
            max_retry_backoff: Duration::from_secs(60),
            warm_new_addrs: true,
            stale_after: Duration::from_secs(24 * 3600),
            nxdomain_confirmations: 2,
        }
    }
}

/// The shortest delay the refresher ever sleeps between two resolutions of one host,
/// whatever the options say (zero TTLs, zero floors, zero backoff).
pub(crate) const MIN_DELAY: Duration = Duration::from_millis(10);

impl DnsOptions {
    /// The delay before re-resolving after an answer whose smallest TTL was `ttl`:
    /// `min(ttl, dns_update_interval)`, at least `min_ttl`.
    pub fn refresh_delay(&self, ttl: Duration) -> Duration {
        ttl.min(self.dns_update_interval)
            .max(self.min_ttl)
            .max(MIN_DELAY)
    }

    /// The delay before retrying after `failures` consecutive failed resolutions (1 for
    /// the first): `retry_backoff` doubled per further failure, at most
    /// `max_retry_backoff` and `dns_update_interval`.
    pub fn retry_delay(&self, failures: u32) -> Duration {
        let doublings = failures.saturating_sub(1).min(20);
        self.retry_backoff
            .saturating_mul(1 << doublings)
            .min(self.max_retry_backoff)
            .min(self.dns_update_interval)
            .max(MIN_DELAY)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ttl_is_clamped_between_floor_and_interval() {
        let o = DnsOptions {
            dns_update_interval: Duration::from_secs(60),
            min_ttl: Duration::from_secs(5),
            ..DnsOptions::default()
        };
        assert_eq!(o.refresh_delay(Duration::ZERO), Duration::from_secs(5));
        assert_eq!(
            o.refresh_delay(Duration::from_secs(30)),
            Duration::from_secs(30)
        );
        assert_eq!(
            o.refresh_delay(Duration::from_secs(3600)),
            Duration::from_secs(60)
        );
        let zero = DnsOptions {
            min_ttl: Duration::ZERO,
            ..o
        };
        assert_eq!(zero.refresh_delay(Duration::ZERO), MIN_DELAY);
    }

    #[test]
    fn backoff_doubles_up_to_its_cap() {
        let o = DnsOptions {
            retry_backoff: Duration::from_secs(1),
            max_retry_backoff: Duration::from_secs(10),
            ..DnsOptions::default()
        };
        let delays: Vec<u64> = (1..=6).map(|n| o.retry_delay(n).as_secs()).collect();
        assert_eq!(delays, [1, 2, 4, 8, 10, 10]);
        assert_eq!(o.retry_delay(u32::MAX), Duration::from_secs(10));
        let short = DnsOptions {
            dns_update_interval: Duration::from_secs(3),
            ..o
        };
        assert_eq!(short.retry_delay(5), Duration::from_secs(3));
    }
}
