//! The configuration data model: plain structs with public fields and documented defaults.

use std::fmt;
use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::path::PathBuf;
use std::str::FromStr;
use std::time::Duration;

use serde::{Serialize, Serializer};

use crate::error::ConfigWarning;

/// The whole configuration file.
///
/// Build one with [`Config::default`], [`Config::from_file`] or [`Config::from_str_named`]
/// and change fields directly; the struct is `#[non_exhaustive]` so new sections can be added
/// without breaking callers.
#[derive(Clone, Debug, Default, PartialEq, Serialize)]
#[non_exhaustive]
pub struct Config {
    /// `[pool]`: limits, timeouts and intervals of the pool itself.
    pub pool: PoolConfig,
    /// `[whitelist]`: when non-empty, only these addresses are dialed.
    pub whitelist: IpListConfig,
    /// `[blacklist]`: addresses that are never dialed.
    pub blacklist: IpListConfig,
    /// `[[hosts]]`: the hosts kept warm.
    pub hosts: Vec<HostConfig>,
    /// `[dns]`: how host names are resolved.
    pub dns: DnsConfig,
    /// `[tls]`: certificate verification and TLS profiles.
    pub tls: TlsConfig,
    /// `[health]`: health probes of idle connections.
    pub health: HealthConfig,
    /// `[validation]`: the "hot connect" check of new connections.
    pub validation: ValidationConfig,
    /// `[source_addrs]`: local addresses dials bind to.
    pub source_addrs: SourceAddrsConfig,
    /// `[metrics]`: the Prometheus exporter.
    pub metrics: MetricsConfig,
    /// Where each explicitly set key came from, and the warnings of the last validation.
    #[serde(skip)]
    pub(crate) meta: Meta,
}

/// Bookkeeping that is not configuration: ignored by `PartialEq`.
#[derive(Clone, Debug, Default)]
pub(crate) struct Meta {
    /// Name of the file the config was read from (for error messages).
    pub(crate) file: Option<String>,
    /// The file's text, kept to turn byte offsets into line and column numbers.
    pub(crate) text: Option<std::sync::Arc<str>>,
    /// Dotted key → where its value came from. Keys absent here have their default.
    pub(crate) origins: std::collections::HashMap<String, Origin>,
    /// Warnings of the last validation.
    pub(crate) warnings: Vec<ConfigWarning>,
}

impl PartialEq for Meta {
    fn eq(&self, _: &Self) -> bool {
        true
    }
}

/// Where a value came from.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) enum Origin {
    /// The config file, at this byte range of its text.
    File(std::ops::Range<usize>),
    /// An environment variable with this name.
    Env(String),
}

/// `[pool]`: limits, timeouts and intervals. Key names match the original system's.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
#[non_exhaustive]
pub struct PoolConfig {
    /// Total connections across all hosts. Default 100; must be at least 1.
    pub max_connections: usize,
    /// Connections to one host (over all its IPs). Default 10; at least 1, at most
    /// `max_connections`.
    pub max_conns_per_host: usize,
    /// Idle connections kept; beyond this the least recently used are closed. Default 20; at
    /// least 1, at most `max_connections`.
    pub max_idle_conns: usize,
    /// Connections to one IP address (and port). Default 1 (a multiplexed transport needs no
    /// more); at least 1, at most `max_conns_per_host`.
    pub max_conns_per_ip: usize,
    /// TCP connect + handshake timeout. Default 30s; must not be zero.
    #[serde(with = "humantime_serde")]
    pub conn_timeout: Duration,
    /// A connection with no lease for this long is closed. Default 60s; must not be zero.
    #[serde(with = "humantime_serde")]
    pub idle_timeout: Duration,
    /// A connection older than this is drained and replaced. Default 300s; must not be zero.
    /// `idle_timeout > max_lifetime` is allowed (the idle timeout then never fires) but warned.
    #[serde(with = "humantime_serde")]
    pub max_lifetime: Duration,
    /// Timeout of the validation request and of health probes. Default 15s; must not be zero.
    #[serde(with = "humantime_serde")]
    pub test_timeout: Duration,
    /// How often idle connections are probed. Default 30s; must not be zero.
    #[serde(with = "humantime_serde")]
    pub health_check_interval: Duration,
    /// The original system's cleanup sweep period. Default 60s; must not be zero. Accepted
    /// for compatibility but has **no effect**: pool-core closes idle and expired connections
    /// at their own deadlines instead of on a periodic sweep (`docs/cleanup-deadlines.md`),
    /// so [`Config::pool_options`] does not carry it over.
    #[serde(with = "humantime_serde")]
    pub cleanup_interval: Duration,
    /// How often blacklisted IPs are re-tested. Default 300s; must not be zero.
    #[serde(with = "humantime_serde")]
    pub blacklist_check_interval: Duration,
    /// How often host names are re-resolved (a shorter DNS TTL, floored by `dns.min_ttl`,
    /// wins). Default 1800s; must not be zero.
    #[serde(with = "humantime_serde")]
    pub dns_update_interval: Duration,
    /// Consecutive dial/handshake/validation failures before an IP is blacklisted.
    /// Default 3; at least 1.
    pub max_retries: u32,
    /// A connection with more errors than this is unhealthy and closed. Default 10; 0 means
    /// the first error closes it.
    pub max_errors: u32,
    /// How long `get` waits for a connection when all are busy and limits are reached.
    /// Default 10s; must not be zero.
    #[serde(with = "humantime_serde")]
    pub checkout_timeout: Duration,
    /// A dynamically blacklisted IP returns after this long even if re-tests keep failing.
    /// Default 3600s; must not be zero.
    #[serde(with = "humantime_serde")]
    pub blacklist_timeout: Duration,
    /// Dial a replacement before a connection reaches `max_lifetime`. Default true.
    pub keep_warm: bool,
    /// Dials in flight at once while warming a host. Default 64; at least 1.
    pub warm_concurrency: usize,
    /// HTTP status that marks an IP as banned (blacklisted) — used by both the validation
    /// request (`[validation]`) and HTTP health probes (`[health] probe = "http"`), so it lives
    /// here, in one place. Default 403; 100–599.
    pub banned_status: u16,
}

impl Default for PoolConfig {
    fn default() -> Self {
        Self {
            max_connections: 100,
            max_conns_per_host: 10,
            max_idle_conns: 20,
            max_conns_per_ip: 1,
            conn_timeout: Duration::from_secs(30),
            idle_timeout: Duration::from_secs(60),
            max_lifetime: Duration::from_secs(300),
            test_timeout: Duration::from_secs(15),
            health_check_interval: Duration::from_secs(30),
            cleanup_interval: Duration::from_secs(60),
            blacklist_check_interval: Duration::from_secs(300),
            dns_update_interval: Duration::from_secs(1800),
            max_retries: 3,
            max_errors: 10,
            checkout_timeout: Duration::from_secs(10),
            blacklist_timeout: Duration::from_secs(3600),
            keep_warm: true,
            warm_concurrency: 64,
            banned_status: 403,
        }
    }
}

/// `[whitelist]` / `[blacklist]`: a list of IP addresses and CIDR ranges.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize)]
#[non_exhaustive]
pub struct IpListConfig {
    /// Addresses (`"10.0.0.1"`, a /32 or /128) and ranges (`"10.0.0.0/8"`). Default empty.
    pub ips: Vec<IpNet>,
}

/// An IP network: an address and a prefix length, with host bits cleared.
///
/// Parsing accepts a bare address (a /32 or /128) or `addr/len`; like Go's
/// `net.ParseCIDR`, host bits are masked off (`10.1.2.3/8` becomes `10.0.0.0/8`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct IpNet {
    addr: IpAddr,
    prefix_len: u8,
}

impl IpNet {
    /// A network from an address and a prefix length; host bits are cleared.
    /// Returns `None` when the prefix is longer than the address (32 or 128 bits).
    #[must_use]
    pub fn new(addr: IpAddr, prefix_len: u8) -> Option<Self> {
        let max = if addr.is_ipv4() { 32 } else { 128 };
        if prefix_len > max {
            return None;
        }
        let addr = match addr {
            IpAddr::V4(a) => {
                let mask = u32::MAX
                    .checked_shl(32 - u32::from(prefix_len))
                    .unwrap_or(0);
                IpAddr::V4((u32::from(a) & mask).into())
            }
            IpAddr::V6(a) => {
                let mask = u128::MAX
                    .checked_shl(128 - u32::from(prefix_len))
                    .unwrap_or(0);
                IpAddr::V6((u128::from(a) & mask).into())
            }
        };
        Some(Self { addr, prefix_len })
    }

    /// The network address (host bits cleared).
    #[must_use]
    pub fn addr(&self) -> IpAddr {
        self.addr
    }

    /// The prefix length in bits.
    #[must_use]
    pub fn prefix_len(&self) -> u8 {
        self.prefix_len
    }

    /// Whether `ip` lies in this network (an IPv4 address never lies in an IPv6 network).
    #[must_use]
    pub fn contains(&self, ip: IpAddr) -> bool {
        IpNet::new(ip, self.prefix_len).is_some_and(|n| n.addr == self.addr)
    }
}

impl From<IpAddr> for IpNet {
    fn from(addr: IpAddr) -> Self {
        let prefix_len = if addr.is_ipv4() { 32 } else { 128 };
        Self { addr, prefix_len }
    }
}

impl fmt::Display for IpNet {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{}", self.addr, self.prefix_len)
    }
}

/// Why a string is not an [`IpNet`].
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct IpNetParseError(String);

impl fmt::Display for IpNetParseError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for IpNetParseError {}

impl FromStr for IpNet {
    type Err = IpNetParseError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let (addr, len) = match s.split_once('/') {
            Some((a, l)) => (a, Some(l)),
            None => (s, None),
        };
        let addr: IpAddr = addr
            .parse()
            .map_err(|_| IpNetParseError(format!("not an IP address or CIDR range: {s:?}")))?;
        let Some(len) = len else {
            return Ok(Self::from(addr));
        };
        let max = if addr.is_ipv4() { 32 } else { 128 };
        let len: u8 = len.parse().ok().filter(|l| *l <= max).ok_or_else(|| {
            IpNetParseError(format!(
                "invalid prefix length in {s:?}: expected 0..={max}"
            ))
        })?;
        IpNet::new(addr, len).ok_or_else(|| IpNetParseError(format!("invalid CIDR range {s:?}")))
    }
}

impl Serialize for IpNet {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let full = if self.addr.is_ipv4() { 32 } else { 128 };
        if self.prefix_len == full {
            s.collect_str(&self.addr)
        } else {
            s.collect_str(self)
        }
    }
}

/// The transport used to reach a host.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "lowercase")]
#[non_exhaustive]
pub enum Transport {
    /// TLS over TCP, an exclusive stream (`"tls"`).
    Tls,
    /// HTTP/2 over TLS, multiplexed (`"h2"`, the default).
    #[default]
    H2,
    /// QUIC, multiplexed (`"quic"`).
    Quic,
}

impl Transport {
    /// The name used in the config file.
    #[must_use]
    pub fn as_str(self) -> &'static str {
        match self {
            Transport::Tls => "tls",
            Transport::H2 => "h2",
            Transport::Quic => "quic",
        }
    }
}

/// One `[[hosts]]` entry.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
#[non_exhaustive]
pub struct HostConfig {
    /// Host name (required): SNI, certificate name and DNS name. Unique (case-insensitive)
    /// across `[[hosts]]`.
    pub name: String,
    /// Port to connect to. Default 443; 1–65535.
    pub port: u16,
    /// `"tls"`, `"h2"` (default) or `"quic"`.
    pub transport: Transport,
    /// Static IP addresses. When present (it must then be non-empty) DNS is not used for this
    /// host.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub addrs: Option<Vec<IpAddr>>,
    /// ALPN protocols to offer, in order. When absent the transport picks (`h2` for `"h2"`).
    /// For `transport = "h2"` the list must contain `"h2"`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub alpn: Option<Vec<String>>,
}

impl HostConfig {
    /// A host with this name and every other field at its default.
    #[must_use]
    pub fn new(name: impl Into<String>) -> Self {
        Self {
            name: name.into(),
            port: 443,
            transport: Transport::default(),
            addrs: None,
            alpn: None,
        }
    }
}

/// DNS transport protocol.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "lowercase")]
#[non_exhaustive]
pub enum DnsProtocol {
    /// UDP (default).
    #[default]
    Udp,
    /// TCP.
    Tcp,
}

/// Which address families to resolve and dial.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash, Serialize)]
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

/// `[dns]`: how host names are resolved.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
#[non_exhaustive]
pub struct DnsConfig {
    /// Name servers as `"ip:port"` (a bare IP means port 53; IPv6 as `"[::1]:53"`).
    /// Default empty: the system's resolver configuration.
    pub name_servers: Vec<SocketAddr>,
    /// `"udp"` (default) or `"tcp"`.
    pub protocol: DnsProtocol,
    /// `"ipv4"`, `"ipv6"` or `"both"` (default).
    pub prefer: IpPreference,
    /// Floor applied to record TTLs when scheduling re-resolution. Default 5s; may be zero.
    #[serde(with = "humantime_serde")]
    pub min_ttl: Duration,
    /// Timeout of one DNS query. Default 5s; must not be zero.
    #[serde(with = "humantime_serde")]
    pub timeout: Duration,
}

impl Default for DnsConfig {
    fn default() -> Self {
        Self {
            name_servers: Vec::new(),
            protocol: DnsProtocol::Udp,
            prefer: IpPreference::Both,
            min_ttl: Duration::from_secs(5),
            timeout: Duration::from_secs(5),
        }
    }
}

/// Names accepted in `tls.profiles`.
///
/// - `"default"`: rustls defaults (TLS 1.3 and 1.2, rustls' cipher-suite and group order).
/// - `"chrome-like"`: Chrome's cipher-suite and key-exchange-group order, as far as rustls
///   supports them.
/// - `"firefox-like"`: Firefox's cipher-suite and key-exchange-group order, as far as rustls
///   supports them.
/// - `"safari-like"`: Safari's cipher-suite and key-exchange-group order, as far as rustls
///   supports them.
/// - `"tls13-only"`: TLS 1.3 only.
///
/// rustls cannot reproduce a browser's ClientHello byte for byte (extension order, GREASE);
/// a profile only varies what rustls exposes.
pub const KNOWN_TLS_PROFILES: &[&str] = &[
    "default",
    "chrome-like",
    "firefox-like",
    "safari-like",
    "tls13-only",
];

/// How the TLS profile of each new connection is chosen.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "kebab-case")]
#[non_exhaustive]
pub enum ProfileRotation {
    /// In list order, wrapping around (`"round-robin"`, default).
    #[default]
    RoundRobin,
    /// Uniformly at random (`"random"`).
    Random,
}

/// `[tls]`: certificate verification and profiles.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
#[non_exhaustive]
pub struct TlsConfig {
    /// Extra PEM CA files. Relative paths are resolved against the config file's directory
    /// by [`Config::from_file`]. Default empty. Existence is checked when the files are read,
    /// not here.
    pub ca_files: Vec<PathBuf>,
    /// Trust the bundled webpki roots. Default true.
    pub use_webpki_roots: bool,
    /// Skip certificate verification entirely. Default false; setting it true is warned.
    pub insecure_skip_verify: bool,
    /// Profiles to rotate over, from [`KNOWN_TLS_PROFILES`]. Default `["default"]`; must not be
    /// empty.
    pub profiles: Vec<String>,
    /// `"round-robin"` (default) or `"random"`.
    pub profile_rotation: ProfileRotation,
    /// `Accept-Language` values, one picked per connection. Default empty: no header.
    pub accept_languages: Vec<String>,
}

impl Default for TlsConfig {
    fn default() -> Self {
        Self {
            ca_files: Vec::new(),
            use_webpki_roots: true,
            insecure_skip_verify: false,
            profiles: vec!["default".to_owned()],
            profile_rotation: ProfileRotation::RoundRobin,
            accept_languages: Vec::new(),
        }
    }
}

/// Kind of health probe.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "lowercase")]
#[non_exhaustive]
pub enum ProbeKind {
    /// Transport-level ping (HTTP/2 PING, QUIC ping) (`"ping"`, default).
    #[default]
    Ping,
    /// An HTTP request (`method` `path`), classified like the validation request.
    Http,
}

/// `[health]`: health probes of idle connections (every `pool.health_check_interval`, with
/// `pool.test_timeout`).
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
#[non_exhaustive]
pub struct HealthConfig {
    /// `"ping"` (default) or `"http"`.
    pub probe: ProbeKind,
    /// Request path for `probe = "http"`. Default `"/"`; must start with `/`.
    pub path: String,
    /// Request method for `probe = "http"`. Default `"GET"`.
    pub method: String,
    /// Probes in flight at once. Default 32; at least 1.
    pub concurrency: usize,
}

impl Default for HealthConfig {
    fn default() -> Self {
        Self {
            probe: ProbeKind::Ping,
            path: "/".to_owned(),
            method: "GET".to_owned(),
            concurrency: 32,
        }
    }
}

/// `[validation]`: the "hot connect" request a new connection must pass before it is admitted
/// (with `pool.test_timeout`). A response with `pool.banned_status` blacklists the IP.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
#[non_exhaustive]
pub struct ValidationConfig {
    /// Run the check. Default false (new connections are admitted after the handshake).
    pub enabled: bool,
    /// Request method. Default `"GET"`.
    pub method: String,
    /// Request path. Default `"/"`; must start with `/`.
    pub path: String,
    /// Request body. Default none.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub body: Option<String>,
}

impl Default for ValidationConfig {
    fn default() -> Self {
        Self {
            enabled: false,
            method: "GET".to_owned(),
            path: "/".to_owned(),
            body: None,
        }
    }
}

/// `[source_addrs]`: local addresses that dials bind to, rotated per dial and matched to the
/// target's address family.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize)]
#[non_exhaustive]
pub struct SourceAddrsConfig {
    /// Static local IPv4/IPv6 addresses. Default empty (the OS picks).
    pub addrs: Vec<IpAddr>,
    /// An IPv6 prefix (e.g. `"2001:db8::/64"`) to draw source addresses from. Default none.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub ipv6_prefix: Option<IpNet>,
}

/// `[metrics]`: the Prometheus exporter.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
#[non_exhaustive]
pub struct MetricsConfig {
    /// Serve metrics. Default false.
    pub enabled: bool,
    /// Listen address. Default `127.0.0.1:9898` (loopback only); any other address is allowed
    /// when written explicitly (a warning notes a non-loopback address).
    pub listen: SocketAddr,
}

impl Default for MetricsConfig {
    fn default() -> Self {
        Self {
            enabled: false,
            listen: SocketAddr::new(IpAddr::V4(Ipv4Addr::LOCALHOST), 9898),
        }
    }
}
