//! The names a config file writes for a choice (`transport = "h3"`), each an enum with
//! serde's derive, and the known TLS profile names.

use serde::{Deserialize, Serialize};

/// The transport used to reach a host.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(try_from = "String")]
#[serde(rename_all = "lowercase")]
#[non_exhaustive]
pub enum Transport {
    /// TLS over TCP, an exclusive stream (`"tls"`).
    Tls,
    /// HTTP/1.1 over TLS, exclusive connections (`"h1"`).
    H1,
    /// HTTP/2 over TLS, multiplexed (`"h2"`, the default).
    #[default]
    H2,
    /// HTTPS with the protocol chosen per connection by ALPN: HTTP/2 (multiplexed) or
    /// HTTP/1.1 (exclusive) (`"auto"`).
    Auto,
    /// HTTP/3 over QUIC, multiplexed (`"h3"`; `"quic"` is an alias).
    H3,
}

impl TryFrom<String> for Transport {
    type Error = String;

    /// A transport's name; `"quic"` is read as `"h3"`.
    fn try_from(name: String) -> Result<Self, String> {
        Ok(match name.as_str() {
            "tls" => Transport::Tls,
            "h1" => Transport::H1,
            "h2" => Transport::H2,
            "auto" => Transport::Auto,
            "h3" | "quic" => Transport::H3,
            _ => {
                return Err(format!(
                    "expected one of \"tls\", \"h1\", \"h2\", \"auto\", \"h3\", got {name:?}"
                ));
            }
        })
    }
}

impl Transport {
    /// The name used in the config file.
    #[must_use]
    pub fn as_str(self) -> &'static str {
        match self {
            Transport::Tls => "tls",
            Transport::H1 => "h1",
            Transport::H2 => "h2",
            Transport::Auto => "auto",
            Transport::H3 => "h3",
        }
    }

    /// The connections per IP address a pool of this transport allows when
    /// `pool.max_conns_per_ip` is absent: 1 for a multiplexed transport (`h2`, `h3`: one
    /// connection carries every request in flight), [`EXCLUSIVE_CONNS_PER_IP`] for one whose
    /// connections may be exclusive (`h1`, `tls`, and `auto`, where an origin that picks
    /// HTTP/1.1 gets exclusive connections: a limit of 1 would serialise it).
    #[must_use]
    pub fn default_conns_per_ip(self) -> usize {
        match self {
            Transport::H2 | Transport::H3 => 1,
            Transport::H1 | Transport::Tls | Transport::Auto => EXCLUSIVE_CONNS_PER_IP,
        }
    }
}

/// Connections per IP address by default for exclusive (HTTP/1.1) connections: browsers
/// open at most 6 per host (Chrome's, Firefox's `network.http.max-persistent-connections-per-server`).
pub const EXCLUSIVE_CONNS_PER_IP: usize = 6;

/// DNS transport protocol.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
#[non_exhaustive]
pub enum DnsProtocol {
    /// UDP (default).
    #[default]
    Udp,
    /// TCP.
    Tcp,
    /// DNS over TLS (RFC 7858, usually port 853); needs a `tls_name`, so only in
    /// `[[dns.servers]]`.
    Tls,
    /// DNS over HTTPS (RFC 8484: HTTP/2, `/dns-query`, usually port 443); needs a
    /// `tls_name`, so only in `[[dns.servers]]`.
    Https,
}

impl DnsProtocol {
    /// The name used in the config file.
    #[must_use]
    pub fn as_str(self) -> &'static str {
        match self {
            DnsProtocol::Udp => "udp",
            DnsProtocol::Tcp => "tcp",
            DnsProtocol::Tls => "tls",
            DnsProtocol::Https => "https",
        }
    }

    /// Whether the protocol is encrypted (TLS or HTTPS) and so needs a TLS name.
    #[must_use]
    pub fn is_encrypted(self) -> bool {
        matches!(self, DnsProtocol::Tls | DnsProtocol::Https)
    }
}

/// Which address families to resolve and dial.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
#[non_exhaustive]
pub enum IpPreference {
    /// A records only.
    Ipv4,
    /// AAAA records only.
    Ipv6,
    /// Both A and AAAA (default).
    #[default]
    Both,
}

/// Names accepted in `tls.profiles` (engine rustls): rustls' defaults, the cipher-suite and
/// group order of Chrome, Firefox or Safari as far as rustls supports them (not a browser's
/// ClientHello byte for byte: that is engine boring), or TLS 1.3 only.
pub const KNOWN_TLS_PROFILES: &[&str] =
    &["default", "chrome-like", "firefox-like", "safari-like", "tls13-only"];

/// Names accepted in `tls.profiles` with `engine = "boring"`: the browser profiles of
/// `pool-dial-boring` (`BrowserProfile::by_name`: the newest tables, then the versioned
/// ones of `BrowserProfile::VERSIONED`), and `"default"` for its default (Chrome).
pub const KNOWN_BORING_PROFILES: &[&str] = &[
    "default",
    "chrome",
    "firefox",
    "safari",
    "edge",
    "chrome-143",
    "chrome-156",
    "edge-143",
    "edge-156",
    "firefox-144",
    "firefox-153",
];

/// The TLS implementation of the TCP transports (`h2`, `h1`, `auto`; `h3` is always
/// rustls inside quinn).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
#[non_exhaustive]
pub enum TlsEngine {
    /// rustls (`"rustls"`, default): `profiles` from [`KNOWN_TLS_PROFILES`].
    #[default]
    Rustls,
    /// BoringSSL with a browser's exact ClientHello and HTTP/2 preface (`"boring"`,
    /// only in a build with the `boring` feature): `profiles` from
    /// [`KNOWN_BORING_PROFILES`].
    Boring,
}

/// How the TLS profile of each new connection is chosen.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
#[non_exhaustive]
pub enum ProfileRotation {
    /// In list order, wrapping around (`"round-robin"`, default).
    #[default]
    RoundRobin,
    /// Uniformly at random (`"random"`).
    Random,
}

/// `[pool] placement`: which connection with spare capacity a lease goes to.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
#[non_exhaustive]
pub enum PlacementKind {
    /// The least loaded connection (`"spread"`, default).
    #[default]
    Spread,
    /// One connection filled to `fill_streams` leases before the next (`"fill"`).
    Fill,
}

/// Kind of health probe.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
#[non_exhaustive]
pub enum ProbeKind {
    /// Transport-level ping (HTTP/2 PING, QUIC ping) (`"ping"`, default).
    #[default]
    Ping,
    /// An HTTP request (`method` `path`), classified like the validation request.
    Http,
}

/// `[h3] congestion`: the congestion controller of a QUIC connection's sending side.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
#[non_exhaustive]
pub enum CongestionKind {
    /// CUBIC (`"cubic"`, default).
    #[default]
    Cubic,
    /// NewReno (`"newreno"`).
    NewReno,
    /// BBR (`"bbr"`, quinn's experimental implementation).
    Bbr,
}

/// The fleet backend.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
#[non_exhaustive]
pub enum FleetBackend {
    /// No sharing: a lone pool (`"none"`, the default).
    #[default]
    None,
    /// Redis (`pool-redis`).
    Redis,
}

/// What a worker shares with the fleet.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
#[non_exhaustive]
pub enum FleetShare {
    /// Bans and unbans, and re-test leases (`"blacklist"`).
    #[default]
    Blacklist,
    /// The per-host connection budget, with `fleet_max_conns_per_host` (`"budgets"`).
    Budgets,
    /// The worker's heartbeat and hosts, for `hotpool fleet status` (`"stats"`).
    Stats,
}
