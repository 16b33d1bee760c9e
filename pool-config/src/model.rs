//! The configuration data model, declared once per key with [`section!`]: each key's type,
//! reader, default, doc, default-file note and check are written here together (see
//! `docs/config-reader.md`).

use std::net::{IpAddr, SocketAddr};
use std::path::PathBuf;
use std::time::Duration;

use pool_core::{IpRange, Placement, PoolOptions};
use serde::Serialize;

use crate::checks as check;
use crate::keys::{Meta, Section, section};
use crate::names::*;
use crate::values::{ByteSize, Fraction, ProxyUrl, Rate};
use crate::values::{duration as dur, opt_duration as opt_dur};
use humantime_serde::serialize as hms;

/// Declares [`Config`]: each plain section with its doc and its note in the default file,
/// then `[[hosts]]`; and the lists of plain sections reading and checking walk.
macro_rules! config {
    ($($(#[$doc:meta])* $name:ident: $ty:ty, $note:literal;)*) => {
        /// The whole configuration file.
        ///
        /// Build one with [`Config::default`], [`Config::from_file`] or
        /// [`Config::from_str_named`] and change fields directly; the struct is
        /// `#[non_exhaustive]` so new sections can be added without breaking callers.
        #[derive(Clone, Debug, Default, PartialEq, Serialize)]
        #[non_exhaustive]
        pub struct Config {
            $($(#[$doc])* pub $name: $ty,)*
            /// `[[hosts]]`: the hosts kept warm.
            pub hosts: Vec<HostConfig>,
            /// Where each explicitly set key came from, and the warnings of the last validation.
            #[serde(skip)]
            pub(crate) meta: Meta,
        }

        impl Config {
            /// The plain sections in file order, each with its note in the default file.
            pub(crate) fn sections_with_notes(&self) -> Vec<(&'static str, &'static str, &dyn Section)> {
                vec![$((stringify!($name), $note, &self.$name)),*]
            }

            /// The plain section called `name`.
            pub(crate) fn section_mut(&mut self, name: &str) -> Option<&mut dyn Section> {
                match name {
                    $(stringify!($name) => Some(&mut self.$name),)*
                    _ => None,
                }
            }
        }
    };
}

config! {
    /// `[pool]`: limits, timeouts and intervals of the pool itself.
    pool: PoolConfig, "";
    /// `[whitelist]`: when non-empty, only these addresses are dialed.
    whitelist: IpListConfig, "non-empty: dial only these";
    /// `[blacklist]`: addresses that are never dialed.
    blacklist: IpListConfig, "never dialed";
    /// `[dns]`: how host names are resolved.
    dns: DnsConfig, "";
    /// `[tls]`: certificate verification and TLS profiles.
    tls: TlsConfig, "";
    /// `[h2]`: HTTP/2 flow-control windows of the rustls dialers.
    h2: H2Config, "HTTP/2 receive windows, rustls engine (docs/h2-windows.md)";
    /// `[health]`: health probes of idle connections.
    health: HealthConfig, "";
    /// `[validation]`: the "hot connect" check of new connections.
    validation: ValidationConfig, "the \"hot connect\" check; its banned status is pool.banned_status";
    /// `[h3]`: QUIC windows, initial RTT and congestion control of HTTP/3 connections.
    h3: H3Config, "QUIC windows, initial RTT, congestion control (docs/quic-tuning.md)";
    /// `[tcp]`: keepalive and `TCP_USER_TIMEOUT` of every TCP dial.
    tcp: TcpConfig, "keepalive and TCP_USER_TIMEOUT of every TCP dial (docs/tcp-keepalive.md)";
    /// `[source_addrs]`: local addresses dials bind to.
    source_addrs: SourceAddrsConfig, "local addresses to bind, rotated per dial";
    /// `[egress]`: the proxy every TCP dial goes through.
    egress: EgressConfig, "proxies of TCP dials (docs/egress.md)";
    /// `[metrics]`: the Prometheus exporter.
    metrics: MetricsConfig, "";
    /// `[fleet]`: share bans, re-test leases and connection budgets with other workers.
    fleet: FleetConfig, "share bans, re-tests and budgets with other workers (docs/fleet.md)";
}

section! {
    /// `[pool]`: limits, timeouts and intervals. Key names match the original system's.
    pub struct PoolConfig {
        max_connections: usize = (default "100"), "total connections, all hosts (>= 1)";
        max_conns_per_host: usize = (default "10"),
            "per host, over all its IPs (1 ..= max_connections)";
        max_idle_conns: usize = (default "20"),
            "idle connections kept, LRU beyond (1 ..= max_connections)";
        #[serde(skip_serializing_if = "Option::is_none")] max_conns_per_ip: Option<usize> = (optional "1"),
            "optional; absent: 1 for h2/h3, 6 for h1/auto/tls (<= max_conns_per_host)";
        #[serde(serialize_with = "hms")] conn_timeout: Duration as dur = (default "30"), "TCP connect + TLS/QUIC handshake",
            check check::nonzero;
        #[serde(serialize_with = "hms")] idle_timeout: Duration as dur = (default "60"), "close a connection with no lease for this long",
            check check::nonzero;
        #[serde(serialize_with = "hms")] max_lifetime: Duration as dur = (default "300"),
            "drain and replace a connection older than this", check check::nonzero;
        #[serde(serialize_with = "hms")] test_timeout: Duration as dur = (default "15"), "validation request and health probe timeout",
            check check::nonzero;
        #[serde(serialize_with = "hms")] health_check_interval: Duration as dur = (default "30"), "probe idle connections this often",
            check check::nonzero;
        #[serde(serialize_with = "hms")] cleanup_interval: Duration as dur = (default "60"),
            "accepted for compatibility; no effect (cleanup runs at each connection's deadline)",
            check check::nonzero;
        #[serde(serialize_with = "hms")] blacklist_check_interval: Duration as dur = (default "300"), "re-test blacklisted IPs this often",
            check check::nonzero;
        #[serde(serialize_with = "hms")] dns_update_interval: Duration as dur = (default "1800"),
            "re-resolve hosts this often (a shorter TTL wins)", check check::nonzero;
        max_retries: u32 = (default "3"), "consecutive failures before an IP is blacklisted (>= 1)";
        max_errors: u32 = (default "10"), "a connection with more errors than this is closed";
        #[serde(serialize_with = "hms")] request_timeout: Duration as dur = (default "30"), "deadline of a request's response headers",
            check check::nonzero;
        #[serde(serialize_with = "hms")] body_idle_timeout: Option<Duration> as opt_dur = (optional "\"60s\""),
            "optional: fail a response body idle this long";
        max_response_header_size: usize = (default "262144"),
            "largest response header list accepted, bytes (a larger one: peer_limit error)",
            check check::nonzero;
        #[serde(serialize_with = "hms")] checkout_timeout: Duration as dur = (default "10"), "how long get() waits when everything is busy",
            check check::nonzero;
        #[serde(serialize_with = "hms")] blacklist_timeout: Duration as dur = (default "3600"),
            "a blacklisted IP returns after this long at the latest", check check::nonzero;
        keep_warm: bool = (default "true"), "dial a replacement before max_lifetime is reached";
        warm_concurrency: usize = (default "64"), "dials in flight while warming a host";
        placement: PlacementKind = (default "\"spread\""),
            "\"spread\" or \"fill\" (fill: one connection to fill_streams, then the next)";
        fill_streams: Option<usize> = (optional "16"),
            "with placement = \"fill\": leases per connection (absent: its capacity)";
        banned_status: u16 = (default "403"), // = pool_http::DEFAULT_BANNED_STATUS (tested)
            "HTTP status that blacklists an IP (validation and HTTP probes)",
            check check::http_status;
        memory_limit: Option<ByteSize> = (optional "\"512MiB\""),
            "optional: shed idle connections above this resident memory";
        memory_low_water: Option<ByteSize> = (optional "\"460MiB\""),
            "optional: stop shedding below this (default 90 % of memory_limit)";
        shed_fraction: Fraction = (default "0.2"),
            "share of idle connections shed per reading under pressure (0 < f <= 1)";
        #[serde(serialize_with = "hms")] memory_check_interval: Duration as dur = (default "1"),
            "how often resident memory is read (with memory_limit)", check check::nonzero;
        stay_hot: bool = (default "true"), "warmed hosts keep a connection to every address";
        #[serde(serialize_with = "hms")] rewarm_backoff: Duration as dur = (default "\"100ms\""),
            "first wait before re-trying a failed re-warm dial (doubles)", check check::nonzero;
        #[serde(serialize_with = "hms")] rewarm_backoff_max: Duration as dur = (default "\"30s\""),
            "longest wait between re-warm dials of a failing address";
        host_outage: bool = (default "true"),
            "addresses failing at once: a host outage, not bans";
        #[serde(skip_serializing_if = "Option::is_none")] rate_limit: Option<Rate> = (optional "\"150/s\""),
            "optional: requests per second (/m, /h) to each host without its own rate";
        adaptive_rate: bool = (default "true"),
            "429/503 slow a host down (AIMD, Retry-After), successes speed it back up";
        status_retries: bool = (default "true"),
            "idempotent requests answered 429/503 are sent again (backoff, retry budget)";
        host_outage_threshold: Fraction = (default "0.5"),
            "an outage: more than this share of a host's addresses failing at once";
        #[serde(serialize_with = "hms")] outage_retest: Duration as dur = (default "\"100ms\""),
            "first re-test of a host in an outage (doubles)", check check::nonzero;
        #[serde(serialize_with = "hms")] outage_retest_max: Duration as dur = (default "\"1s\""),
            "longest wait between re-tests of a host in an outage";
        wait_for_host: bool = (default "false"),
            "requests wait (up to their deadline) for a host that is down";
    }
}

section! {
    /// `[whitelist]` / `[blacklist]`: a list of IP addresses and CIDR ranges.
    pub struct IpListConfig {
        ips: Vec<IpRange> = (default "[]"), "IPs or CIDRs (host bits masked: 10.1.2.3/8 is 10.0.0.0/8)";
    }
}

section! {
    /// One `[[hosts]]` entry.
    pub struct HostConfig {
        name: String = (required "the host name", "\"example.com\""),
            "required; SNI and certificate name", check check::host_name;
        port: u16 = (default "443"), "port dialed on every address", check check::nonzero;
        transport: Transport = (default "\"h2\""), "\"tls\", \"h1\", \"h2\", \"auto\", \"h3\" or \"h2c\" (http://)";
        #[serde(skip_serializing_if = "Option::is_none")] addrs: Option<Vec<IpAddr>> = (optional "[\"192.0.2.10\"]"),
            "static IPs; when present DNS is not used for this host", check check::host_addrs;
        #[serde(skip_serializing_if = "Option::is_none")] alpn: Option<Vec<String>> = (optional "[\"h2\"]"),
            "ALPN ids offered; default depends on the transport", check check::alpn_ids;
        #[serde(skip_serializing_if = "Option::is_none")] proxies: Option<Vec<ProxyUrl>> = (optional "[]"),
            "this host's proxies instead of [egress] proxies ([] = direct)";
        #[serde(skip_serializing_if = "Option::is_none")] rate_limit: Option<Rate> = (optional "\"150/s\""),
            "this host's request rate instead of pool.rate_limit";
    }
}

impl HostConfig {
    /// A host with this name and every other field at its default.
    #[must_use]
    pub fn new(name: impl Into<String>) -> Self {
        Self {
            name: name.into(),
            ..Self::default()
        }
    }
}

impl PoolConfig {
    /// `max_conns_per_ip` for a pool of `transport`: the value written, else the
    /// transport's default ([`Transport::default_conns_per_ip`]) capped at
    /// `max_conns_per_host` (so the default always fits the per-host limit).
    #[must_use]
    pub fn conns_per_ip(&self, transport: Transport) -> usize {
        self.max_conns_per_ip.unwrap_or_else(|| {
            transport
                .default_conns_per_ip()
                .min(self.max_conns_per_host.max(1))
        })
    }
}

/// The longest lead with which `keep_warm` dials a replacement before `max_lifetime` runs
/// out (pool-core's default lead).
const KEEP_WARM_LEAD: Duration = Duration::from_secs(30);

impl Config {
    /// The `pool-core` options: `[pool]`, `[whitelist]`, `[blacklist]` (an absent
    /// `max_conns_per_ip` resolved for `h2`). Keys of other crates (`conn_timeout`,
    /// `dns_update_interval`, …) are not carried; `cleanup_interval` has no effect at all
    /// (`docs/cleanup-deadlines.md`).
    #[must_use]
    pub fn pool_options(&self) -> PoolOptions {
        self.pool_options_for(Transport::default())
    }

    /// [`Config::pool_options`] for a pool of `transport`
    /// ([`PoolConfig::conns_per_ip`]).
    #[must_use]
    pub fn pool_options_for(&self, transport: Transport) -> PoolOptions {
        let p = &self.pool;
        PoolOptions {
            max_connections: p.max_connections,
            max_conns_per_host: p.max_conns_per_host,
            max_idle_conns: p.max_idle_conns,
            max_conns_per_ip: p.conns_per_ip(transport),
            idle_timeout: p.idle_timeout,
            max_lifetime: p.max_lifetime,
            keep_warm: p.keep_warm,
            // A quarter of a short `max_lifetime`, so short lifetimes still get a
            // replacement before expiry without replacing connections as soon as made.
            keep_warm_lead: KEEP_WARM_LEAD.min(p.max_lifetime / 4),
            max_errors: p.max_errors,
            max_retries: p.max_retries,
            blacklist_check_interval: p.blacklist_check_interval,
            blacklist_timeout: p.blacklist_timeout,
            health_check_interval: Some(p.health_check_interval),
            checkout_timeout: p.checkout_timeout,
            warm_concurrency: p.warm_concurrency,
            whitelist: self.whitelist.ips.clone(),
            blacklist: self.blacklist.ips.clone(),
            placement: match p.placement {
                PlacementKind::Spread => Placement::Spread,
                PlacementKind::Fill => Placement::Fill {
                    streams: p.fill_streams.unwrap_or(usize::MAX),
                },
            },
            memory_limit: p.memory_limit.map(|b| b.0),
            memory_low_water: p.memory_low_water.map(|b| b.0),
            shed_fraction: p.shed_fraction.get(),
            memory_check_interval: p.memory_check_interval,
            stay_hot: p.stay_hot,
            rewarm_backoff: p.rewarm_backoff,
            rewarm_backoff_max: p.rewarm_backoff_max,
            host_outage_threshold: p.host_outage.then(|| p.host_outage_threshold.get()),
            outage_retest: p.outage_retest,
            outage_retest_max: p.outage_retest_max,
        }
    }
}

section! {
    /// One `[[dns.servers]]` entry: a name server with its own transport.
    pub struct DnsServerConfig {
        addr: SocketAddr = (required "the server's \"ip:port\"", "\"127.0.0.1:853\""),
            "required; \"ip:port\"", check check::server_addr;
        protocol: DnsProtocol = (default "\"udp\""), "\"udp\", \"tcp\", \"tls\" or \"https\"";
        #[serde(skip_serializing_if = "Option::is_none")] tls_name: Option<String> = (optional "\"dns.example.com\""),
            "required for tls and https; the certificate's name";
    }
}

section! {
    /// `[dns]`: how host names are resolved.
    pub struct DnsConfig {
        name_servers: Vec<SocketAddr> as crate::values::name_servers = (default "[]"),
            "\"ip:port\" (port defaults to 53); empty = system resolver",
            check check::name_servers;
        protocol: DnsProtocol = (default "\"udp\""), "\"udp\" or \"tcp\" (of name_servers)",
            check check::plain_dns_protocol;
        servers: Vec<DnsServerConfig> as crate::keys::Reader::entries = (default "[]"),
            "or [[dns.servers]] tables instead: addr, protocol (udp|tcp|tls|https), tls_name";
        #[serde(skip_serializing_if = "Option::is_none")] resolv_conf: Option<PathBuf> = (optional "\"/etc/resolv.conf\""),
            "when no name server is configured; default: the system's";
        prefer: IpPreference = (default "\"both\""), "\"ipv4\", \"ipv6\" or \"both\"";
        #[serde(serialize_with = "hms")] min_ttl: Duration as dur = (default "5"), "floor on record TTLs when scheduling re-resolution";
        #[serde(serialize_with = "hms")] timeout: Duration as dur = (default "5"), "one query", check check::nonzero;
        #[serde(serialize_with = "hms")] stale_after: Duration as dur = (default "\"24h\""),
            "a failing family keeps its last good answer this long",
            check check::nonzero;
        nxdomain_confirmations: u32 = (default "2"),
            "NXDOMAIN answers in a row before a host's addresses are removed (>= 1)",
            check check::nonzero;
    }
}

section! {
    /// `[tls]`: certificate verification and profiles.
    pub struct TlsConfig {
        ca_files: Vec<PathBuf> = (default "[]"), "extra PEM CA files (relative to this file)",
            check check::ca_files;
        use_webpki_roots: bool = (default "true"), "trust the bundled Mozilla roots";
        insecure_skip_verify: bool = (default "false"), "DANGER: accept any certificate",
            check check::insecure;
        engine: TlsEngine = (default "\"rustls\""),
            "\"rustls\" or \"boring\" (boring: a build with the `boring` feature)",
            check check::engine;
        profiles: Vec<String> = (default "[\"default\"]"),
            "\"default\", \"chrome-like\", \"firefox-like\", \"safari-like\" or \"tls13-only\"; \
             engine boring: \"default\", \"chrome\", \"firefox\", \"safari\", \"edge\" or a version: \
             \"chrome-143\", \"chrome-156\", \"edge-143\", \"edge-156\", \"firefox-144\", \"firefox-153\"";
        profile_rotation: ProfileRotation = (default "\"round-robin\""),
            "\"round-robin\" or \"random\"; also picks accept_languages";
        accept_languages: Vec<String> = (default "[]"),
            "Accept-Language values, one per connection; empty = none",
            check check::accept_languages;
        #[serde(skip_serializing_if = "Option::is_none")] client_cert: Option<PathBuf> = (optional "\"client.pem\""),
            "mutual TLS: PEM chain offered to servers that ask (with client_key)";
        #[serde(skip_serializing_if = "Option::is_none")] client_key: Option<PathBuf> = (optional "\"client.key\""),
            "its PEM private key (relative to this file)";
    }
}

section! {
    /// `[h2]`: HTTP/2 receive windows of the rustls dialers (not boring's; `docs/config.md`).
    pub struct H2Config {
        stream_window: ByteSize = (default "\"2MiB\""),
            "per-stream receive window (65535 ..= 2147483647)", check check::h2_window;
        connection_window: ByteSize = (default "\"5MiB\""),
            "per-connection receive window (65535 ..= 2147483647)", check check::h2_window;
        adaptive_window: bool = (default "true"),
            "grow the windows from the measured bandwidth-delay product (up to 16MiB)";
    }
}

section! {
    /// `[health]`: probes of idle connections (every `pool.health_check_interval`).
    pub struct HealthConfig {
        probe: ProbeKind = (default "\"ping\""), "\"ping\" or \"http\" (ping: HTTP/2 or QUIC PING)";
        path: String = (default "\"/\""), "for probe = \"http\"", check check::http_path;
        method: String = (default "\"GET\""), "for probe = \"http\"", check check::http_method;
        concurrency: usize = (default "32"), "probes in flight", check check::nonzero;
    }
}

section! {
    /// `[validation]`: the "hot connect" request a new connection must pass to be admitted.
    pub struct ValidationConfig {
        enabled: bool = (default "false"), "run the check before admitting a connection";
        method: String = (default "\"GET\""), "request method", check check::http_method;
        path: String = (default "\"/\""), "request path", check check::http_path;
        #[serde(skip_serializing_if = "Option::is_none")] body: Option<String> = (optional "\"\""), "optional request body";
    }
}

section! {
    /// `[h3]`: QUIC windows, initial RTT and congestion control (`docs/quic-tuning.md`).
    pub struct H3Config {
        stream_receive_window: ByteSize = (default "\"6MiB\""),
            "per stream: one body moves at most this per RTT (quinn: 1.25MB)",
            check check::quic_stream_window;
        receive_window: ByteSize = (default "\"15MiB\""),
            "per connection, all streams (quinn: unlimited)", check check::quic_window;
        send_window: ByteSize = (default "\"10MB\""), "request data in flight (quinn's)",
            check check::quic_window;
        #[serde(serialize_with = "hms")] initial_rtt: Duration as dur = (default "\"100ms\""),
            "RTT assumed before the first sample (quinn: 333ms)", check check::nonzero;
        congestion: CongestionKind = (default "\"cubic\""),
            "\"cubic\", \"newreno\" or \"bbr\" (of what the client sends)";
    }
}

section! {
    /// `[tcp]`: keepalive and `TCP_USER_TIMEOUT` of every TCP dial (`docs/config.md`).
    pub struct TcpConfig {
        #[serde(serialize_with = "hms")] keepalive_idle: Duration as dur = (default "15"), "first keepalive probe after this idle; 0 = off";
        #[serde(serialize_with = "hms")] keepalive_interval: Duration as dur = (default "5"), "between unanswered probes",
            check check::nonzero;
        keepalive_retries: u32 = (default "3"), "unanswered probes before reset (1-127)",
            check check::keepalive_retries;
        #[serde(serialize_with = "hms")] user_timeout: Duration as dur = (default "20"), "reset after this long unacknowledged; 0 = kernel default";
    }
}

section! {
    /// `[egress]`: how TCP dials leave (`docs/egress.md`).
    pub struct EgressConfig {
        proxies: Vec<ProxyUrl> = (default "[]"),
            "proxy URLs (http, socks5, socks5h, socks4, socks4a), one pool each; empty: direct";
        rotation: EgressRotation = (default "\"round-robin\""),
            "which proxy a request leaves by: \"round-robin\", \"random\", \"sticky\" (per host)";
        connect_by: ConnectBy = (default "\"ip\""),
            "ask the proxy for each address (\"ip\") or for the host (\"name\")";
        from_env: bool = (default "true"),
            "with no proxies: https_proxy, ALL_PROXY and NO_PROXY, as curl reads them";
    }
}

section! {
    /// `[source_addrs]`: local addresses dials bind to (rotated, matching the family).
    pub struct SourceAddrsConfig {
        addrs: Vec<IpAddr> = (default "[]"), "local IPv4/IPv6 addresses; empty = the OS picks";
        #[serde(skip_serializing_if = "Option::is_none")] ipv6_prefix: Option<IpRange> = (optional "\"2001:db8::/64\""),
            "optional IPv6 prefix to draw source addresses from", check check::ipv6_prefix;
    }
}

section! {
    /// `[metrics]`: the Prometheus exporter.
    pub struct MetricsConfig {
        enabled: bool = (default "false"), "serve Prometheus metrics";
        listen: SocketAddr = (default "\"127.0.0.1:9898\""),
            "loopback by default; any address if you write it";
    }
}

section! {
    /// `[fleet]`: what workers share through a backend (`"none"`: nothing; `docs/fleet.md`).
    pub struct FleetConfig {
        backend: FleetBackend = (default "\"none\""), "\"none\" or \"redis\"";
        #[serde(serialize_with = "crate::values::hidden_url")] url: String = (default "\"redis://127.0.0.1:6379/0\""),
            "its password is never logged", check check::fleet_url;
        prefix: String = (default "\"hotpool:\""), "of every key and channel",
            check check::fleet_prefix;
        share: Vec<FleetShare> = (default "[\"blacklist\", \"budgets\", \"stats\"]"),
            "\"blacklist\", \"budgets\" or \"stats\"";
        #[serde(skip_serializing_if = "Option::is_none")] fleet_max_conns_per_host: Option<usize> = (optional "16"),
            "optional fleet-wide connections per host";
    }
}
