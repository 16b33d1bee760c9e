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
    /// The `pool-dns` options of this configuration: `[dns]` (`name_servers` with
    /// `protocol`, then `[[dns.servers]]`; `resolv_conf`, `prefer`, `min_ttl`,
    /// `timeout` → `query_timeout`, `stale_after`, `nxdomain_confirmations`),
    /// `pool.dns_update_interval`, and the `[tls]` trust settings for DNS-over-TLS and
    /// DNS-over-HTTPS servers. Retry and warm-up settings keep pool-dns' defaults.
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

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;

    #[test]
    fn dns_keys_are_carried_over() {
        let cfg = Config::from_str_named(
            "[pool]\ndns_update_interval = 120\n[dns]\nname_servers = [\"127.0.0.1:5300\", \
             \"127.0.0.2\"]\nprotocol = \"tcp\"\nprefer = \"ipv4\"\nmin_ttl = 0\ntimeout = \
             \"2s\"\nstale_after = \"1h\"\nnxdomain_confirmations = 5\n",
            "t.toml",
        )
        .unwrap();
        let d = cfg.dns_options();
        assert_eq!(
            d.name_servers,
            [
                NameServer::tcp("127.0.0.1:5300".parse().unwrap()),
                NameServer::tcp("127.0.0.2:53".parse().unwrap())
            ]
        );
        assert_eq!(d.prefer, pool_dns::IpPreference::Ipv4);
        assert_eq!(d.dns_update_interval, Duration::from_secs(120));
        assert_eq!(d.min_ttl, Duration::ZERO);
        assert_eq!(d.query_timeout, Duration::from_secs(2));
        assert_eq!(d.stale_after, Duration::from_secs(3600));
        assert_eq!(d.nxdomain_confirmations, 5);
    }

    #[test]
    fn defaults() {
        let d = Config::default().dns_options();
        assert_eq!(d, DnsOptions::default());
    }

    #[test]
    fn servers_resolv_conf_and_trust_are_carried_over() {
        let cfg = Config::from_str_named(
            "[dns]\nname_servers = [\"127.0.0.1\"]\nresolv_conf = \"/tmp/r.conf\"\n\
             [[dns.servers]]\naddr = \"127.0.0.2:853\"\nprotocol = \"tls\"\n\
             tls_name = \"dns.test\"\n[[dns.servers]]\naddr = \"[::1]:443\"\n\
             protocol = \"https\"\ntls_name = \"::1\"\n[[dns.servers]]\n\
             addr = \"127.0.0.3:53\"\nprotocol = \"tcp\"\n\
             [tls]\nca_files = [\"/etc/ca.pem\"]\nuse_webpki_roots = false\n",
            "t.toml",
        )
        .unwrap();
        let d = cfg.dns_options();
        assert_eq!(
            d.name_servers,
            [
                NameServer::udp("127.0.0.1:53".parse().unwrap()),
                NameServer::tls("127.0.0.2:853".parse().unwrap(), "dns.test"),
                NameServer::https("[::1]:443".parse().unwrap(), "::1"),
                NameServer::tcp("127.0.0.3:53".parse().unwrap()),
            ]
        );
        assert_eq!(
            d.resolv_conf.as_deref(),
            Some(std::path::Path::new("/tmp/r.conf"))
        );
        assert!(!d.tls.webpki_roots);
        assert_eq!(
            d.tls.extra_ca_files,
            [std::path::PathBuf::from("/etc/ca.pem")]
        );
    }
}
