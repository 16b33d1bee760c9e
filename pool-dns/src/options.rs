//! What shapes the refresher: name servers, address families, timing.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use pool_rustls::Trust;

/// The transport used to talk to a name server.
#[derive(Clone, Debug, Default, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum DnsProtocol {
    /// DNS over UDP (the default).
    #[default]
    Udp,
    /// DNS over TCP.
    Tcp,
    /// DNS over TLS (RFC 7858; the server usually listens on port 853). The server's
    /// certificate must be valid for `tls_name` and chain to [`DnsOptions::tls`].
    Tls {
        /// The name the server's certificate is checked against (a DNS name or an IP
        /// address). Not sent as SNI: a DoT server needs none.
        tls_name: Arc<str>,
    },
    /// DNS over HTTPS (RFC 8484: HTTP/2, `POST /dns-query`; usually port 443). The server's
    /// certificate must be valid for `tls_name` and chain to [`DnsOptions::tls`].
    Https {
        /// The name the server's certificate is checked against, also sent as SNI and as
        /// the request's authority.
        tls_name: Arc<str>,
    },
}

impl DnsProtocol {
    /// A short, stable label (`udp`, `tcp`, `tls`, `https`; the config file's names).
    pub fn as_str(&self) -> &'static str {
        match self {
            DnsProtocol::Udp => "udp",
            DnsProtocol::Tcp => "tcp",
            DnsProtocol::Tls { .. } => "tls",
            DnsProtocol::Https { .. } => "https",
        }
    }

    /// The TLS name of an encrypted transport (`None` for UDP and TCP).
    pub fn tls_name(&self) -> Option<&str> {
        match self {
            DnsProtocol::Udp | DnsProtocol::Tcp => None,
            DnsProtocol::Tls { tls_name } | DnsProtocol::Https { tls_name } => Some(tls_name),
        }
    }
}

/// One name server: its address (IP and port) and transport.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct NameServer {
    /// IP address and port (53 for UDP and TCP, 853 for DNS-over-TLS, 443 for
    /// DNS-over-HTTPS, usually).
    pub addr: SocketAddr,
    /// UDP, TCP, TLS or HTTPS.
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

    /// A DNS-over-TLS name server at `addr` whose certificate is valid for `tls_name`.
    pub fn tls(addr: SocketAddr, tls_name: impl Into<Arc<str>>) -> Self {
        Self {
            addr,
            protocol: DnsProtocol::Tls {
                tls_name: tls_name.into(),
            },
        }
    }

    /// A DNS-over-HTTPS name server at `addr` whose certificate is valid for `tls_name`.
    pub fn https(addr: SocketAddr, tls_name: impl Into<Arc<str>>) -> Self {
        Self {
            addr,
            protocol: DnsProtocol::Https {
                tls_name: tls_name.into(),
            },
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
    /// (`/etc/resolv.conf`, or [`resolv_conf`](Self::resolv_conf)).
    pub name_servers: Vec<NameServer>,
    /// The resolv.conf file read when `name_servers` is empty (`nameserver` lines, each
    /// asked on port 53 over UDP and TCP, and `options`; `search` and `domain` do not
    /// apply: names are looked up fully qualified). `None` (the default): the platform's
    /// system configuration (`/etc/resolv.conf` on Unix). Ignored when `name_servers` is
    /// not empty.
    pub resolv_conf: Option<PathBuf>,
    /// What the certificates of DNS-over-TLS and DNS-over-HTTPS servers are checked
    /// against: the same [`Trust`] as the TLS and QUIC dialers (webpki roots, extra CAs,
    /// the loudly logged insecure switch, the key log). Unused without an encrypted name
    /// server. Default: webpki roots.
    pub tls: Trust,
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
            resolv_conf: None,
            tls: Trust::default(),
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
