//! `[dns]` and `[[dns.servers]]` → `pool_dns::DnsOptions` (feature `dns`).

use std::net::SocketAddr;

use pool_dns::{DnsOptions, NameServer};

use crate::{Config, DnsProtocol, IpPreference};

/// One name server. An encrypted one without a TLS name (which validation refuses)
/// checks the certificate against its IP address.
fn name_server(addr: SocketAddr, protocol: DnsProtocol, tls_name: Option<&str>) -> NameServer {
    let tls_name = || tls_name.map_or_else(|| addr.ip().to_string(), str::to_owned);
    match protocol {
        DnsProtocol::Udp => NameServer::udp(addr),
        DnsProtocol::Tcp => NameServer::tcp(addr),
        DnsProtocol::Tls => NameServer::tls(addr, tls_name()),
        DnsProtocol::Https => NameServer::https(addr, tls_name()),
    }
}

impl Config {
    /// The `pool-dns` options: `[dns]` (`name_servers`, then `[[dns.servers]]`),
    /// `pool.dns_update_interval`, and the `[tls]` trust for encrypted servers.
    #[must_use]
    pub fn dns_options(&self) -> DnsOptions {
        let plain = self
            .dns
            .name_servers
            .iter()
            .map(|addr| name_server(*addr, self.dns.protocol, None));
        let servers = self
            .dns
            .servers
            .iter()
            .map(|s| name_server(s.addr, s.protocol, s.tls_name.as_deref()));
        DnsOptions {
            name_servers: plain.chain(servers).collect(),
            resolv_conf: self.dns.resolv_conf.clone(),
            tls: self.trust(),
            prefer: match self.dns.prefer {
                IpPreference::Ipv4 => pool_dns::IpPreference::Ipv4,
                IpPreference::Ipv6 => pool_dns::IpPreference::Ipv6,
                IpPreference::Both => pool_dns::IpPreference::Both,
            },
            dns_update_interval: self.pool.dns_update_interval,
            min_ttl: self.dns.min_ttl,
            query_timeout: self.dns.timeout,
            stale_after: self.dns.stale_after,
            nxdomain_confirmations: self.dns.nxdomain_confirmations,
            ..DnsOptions::default()
        }
    }
}
