//! The names a config file writes for a choice (`transport = "h3"`), each an enum with
//! serde's derive, and the known TLS profile names.

use serde::{Deserialize, Serialize};

/// `[egress] rotation`: which proxy a request leaves by (`"round-robin"`, `"random"`,
/// `"sticky"`): pool-core's own choice, read by name.
pub use pool_core::EgressRotation;
/// `[egress] connect_by`: what a proxy is asked for (`"ip"`, `"name"`): pool-dial's own.
pub use pool_dial::ConnectBy;
/// `[tls] profile_rotation`: how each new connection's profile is picked (`"round-robin"`,
/// `"random"`): pool-dial's own.
pub use pool_dial::Rotation as ProfileRotation;

/// Declares a choice written by name: the enum (serde's derive, the `#[default]` variant
/// its [`Default`]) and `as_str`, the name the file writes. Exhaustive on purpose: a new
/// name must be handled where the `hotpool` crate converts it, not fall into a `_` arm.
macro_rules! names {
    ($(#[$m:meta])* pub enum $name:ident { $($(#[$vm:meta])* $variant:ident = $text:literal,)* }) => {
        #[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
        $(#[$m])*
        pub enum $name {
            $($(#[$vm])* #[serde(rename = $text)] $variant,)*
        }

        impl $name {
            /// The name used in the config file.
            #[must_use]
            pub fn as_str(self) -> &'static str {
                match self {
                    $($name::$variant => $text,)*
                }
            }
        }
    };
}

names! {
    /// The transport used to reach a host.
    #[serde(try_from = "String")]
    pub enum Transport {
        /// TLS over TCP, an exclusive stream (`"tls"`).
        Tls = "tls",
        /// HTTP/1.1 over TLS, exclusive connections (`"h1"`).
        H1 = "h1",
        /// HTTP/2 over TLS, multiplexed (`"h2"`, the default).
        #[default]
        H2 = "h2",
        /// HTTPS with the protocol chosen per connection by ALPN: HTTP/2 (multiplexed) or
        /// HTTP/1.1 (exclusive) (`"auto"`).
        Auto = "auto",
        /// HTTP/3 over QUIC, multiplexed (`"h3"`; `"quic"` is an alias).
        H3 = "h3",
        /// HTTP/2 with prior knowledge over plain TCP, for `http://` URLs (`"h2c"`; an
        /// `http://` URL is HTTP/1.1 with every other transport); on `https://`, `h2`.
        H2c = "h2c",
    }
}

impl TryFrom<String> for Transport {
    type Error = String;

    /// A transport's name; `"quic"` is read as `"h3"`.
    fn try_from(name: String) -> Result<Self, String> {
        let all = [
            Transport::Tls,
            Transport::H1,
            Transport::H2,
            Transport::Auto,
            Transport::H3,
            Transport::H2c,
        ];
        let wanted = if name == "quic" { "h3" } else { &name };
        let list = "\"tls\", \"h1\", \"h2\", \"auto\", \"h3\", \"h2c\"";
        all.into_iter()
            .find(|t| t.as_str() == wanted)
            .ok_or(format!("expected one of {list}, got {name:?}"))
    }
}

impl Transport {
    /// The connections per IP address a pool of this transport allows when
    /// `pool.max_conns_per_ip` is absent: 1 for a multiplexed transport (`h2`, `h3`, `h2c`: one
    /// connection carries every request in flight), [`EXCLUSIVE_CONNS_PER_IP`] for one whose
    /// connections may be exclusive (`h1`, `tls`, and `auto`, where an origin that picks
    /// HTTP/1.1 gets exclusive connections: a limit of 1 would serialise it).
    #[must_use]
    pub fn default_conns_per_ip(self) -> usize {
        match self {
            Transport::H2 | Transport::H3 | Transport::H2c => 1,
            Transport::H1 | Transport::Tls | Transport::Auto => EXCLUSIVE_CONNS_PER_IP,
        }
    }
}

/// Connections per IP address by default for exclusive (HTTP/1.1) connections: browsers
/// open at most 6 per host (Chrome's, Firefox's `network.http.max-persistent-connections-per-server`).
pub const EXCLUSIVE_CONNS_PER_IP: usize = 6;

names! {
    /// DNS transport protocol.
    pub enum DnsProtocol {
        /// UDP (default).
        #[default]
        Udp = "udp",
        /// TCP.
        Tcp = "tcp",
        /// DNS over TLS (RFC 7858, usually port 853); needs a `tls_name`, so only in
        /// `[[dns.servers]]`.
        Tls = "tls",
        /// DNS over HTTPS (RFC 8484: HTTP/2, `/dns-query`, usually port 443); needs a
        /// `tls_name`, so only in `[[dns.servers]]`.
        Https = "https",
    }
}

impl DnsProtocol {
    /// Whether the protocol is encrypted (TLS or HTTPS) and so needs a TLS name.
    #[must_use]
    pub fn is_encrypted(self) -> bool {
        matches!(self, DnsProtocol::Tls | DnsProtocol::Https)
    }
}

names! {
    /// Which address families to resolve and dial.
    pub enum IpPreference {
        /// A records only.
        Ipv4 = "ipv4",
        /// AAAA records only.
        Ipv6 = "ipv6",
        /// Both A and AAAA (default).
        #[default]
        Both = "both",
    }
}

/// Names accepted in `tls.profiles` (engine rustls): rustls' defaults, the cipher-suite and
/// group order of Chrome, Firefox or Safari as far as rustls supports them (not a browser's
/// ClientHello byte for byte: that is engine boring), or TLS 1.3 only.
pub const KNOWN_TLS_PROFILES: &[&str] = &[
    "default",
    "chrome-like",
    "firefox-like",
    "safari-like",
    "tls13-only",
];

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

names! {
    /// The TLS implementation of the TCP transports (`h2`, `h1`, `auto`; `h3` is always
    /// rustls inside quinn).
    pub enum TlsEngine {
        /// rustls (`"rustls"`, default): `profiles` from [`KNOWN_TLS_PROFILES`].
        #[default]
        Rustls = "rustls",
        /// BoringSSL with a browser's exact ClientHello and HTTP/2 preface (`"boring"`,
        /// only in a build with the `boring` feature): `profiles` from
        /// [`KNOWN_BORING_PROFILES`].
        Boring = "boring",
    }
}

names! {
    /// `[pool] placement`: which connection with spare capacity a lease goes to.
    pub enum PlacementKind {
        /// The least loaded connection (`"spread"`, default).
        #[default]
        Spread = "spread",
        /// One connection filled to `fill_streams` leases before the next (`"fill"`).
        Fill = "fill",
    }
}

names! {
    /// Kind of health probe.
    pub enum ProbeKind {
        /// Transport-level ping (HTTP/2 PING, QUIC ping) (`"ping"`, default).
        #[default]
        Ping = "ping",
        /// An HTTP request (`method` `path`), classified like the validation request.
        Http = "http",
    }
}

names! {
    /// `[h3] congestion`: the congestion controller of a QUIC connection's sending side.
    pub enum CongestionKind {
        /// CUBIC (`"cubic"`, default).
        #[default]
        Cubic = "cubic",
        /// NewReno (`"newreno"`).
        NewReno = "newreno",
        /// BBR (`"bbr"`, quinn's experimental implementation).
        Bbr = "bbr",
    }
}

names! {
    /// The fleet backend.
    pub enum FleetBackend {
        /// No sharing: a lone pool (`"none"`, the default).
        #[default]
        None = "none",
        /// Redis (`pool-redis`).
        Redis = "redis",
    }
}

names! {
    /// What a worker shares with the fleet.
    pub enum FleetShare {
        /// Bans and unbans, and re-test leases (`"blacklist"`).
        #[default]
        Blacklist = "blacklist",
        /// The per-host connection budget, with `fleet_max_conns_per_host` (`"budgets"`).
        Budgets = "budgets",
        /// The worker's heartbeat and hosts, for `hotpool fleet status` (`"stats"`).
        Stats = "stats",
    }
}
