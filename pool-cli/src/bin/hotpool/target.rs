//! Where a command goes, with curl's habits: an `https://` URL (`get`: or `http://`), and
//! the command-line options that override the config file for it (`--proto`, `--resolve`,
//! `--connect-to`, `--cacert`, `--insecure`, `--timeout`, `--profile`), and `--rtt` (a WAN
//! relay on loopback in front of the host, [`TargetArgs::wan_relay`]). They are applied to
//! the loaded [`Config`] before the pool is built, so every command sees one configuration.
//! (The options are declared and their values parsed with the rest of the command line, in
//! `args.rs`.)

use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::path::PathBuf;

use pool_config::{Config, HostConfig};
use pool_testkit::{WanOptions, WanRelay};

use crate::Error;
use crate::args::{Proto, ProxyRotation, TargetArgs};
use hotpool::stack::{HostSpec, split_host_port};

/// A parsed `https://host[:port]/path` (or, for `get`, `http://…`) URL.
#[derive(Debug, PartialEq, Eq)]
pub struct Url {
    /// `https` (true) or `http`.
    pub tls: bool,
    /// `host` or `host:port` as written.
    pub authority: String,
    /// Path and query, `/` when absent.
    pub path: String,
}

/// Parses an `https://` URL (the commands other than `get` speak TLS-based transports only).
pub fn parse_url(url: &str) -> Result<Url, Error> {
    let rest = url
        .strip_prefix("https://")
        .ok_or_else(|| Error::new(format!("expected an https:// URL, got {url:?}")))?;
    split_url(url, rest, true)
}

/// Parses an `https://` or `http://` URL (`get`: plain HTTP/1.1, or h2c, for `http://`).
pub fn parse_http_url(url: &str) -> Result<Url, Error> {
    if let Some(rest) = url.strip_prefix("https://") {
        split_url(url, rest, true)
    } else if let Some(rest) = url.strip_prefix("http://") {
        split_url(url, rest, false)
    } else {
        Err(Error::new(format!(
            "expected an https:// or http:// URL, got {url:?}"
        )))
    }
}

/// `rest` (what follows the scheme of `url`) split into authority and path.
fn split_url(url: &str, rest: &str, tls: bool) -> Result<Url, Error> {
    let (authority, path) = match rest.find(['/', '?']) {
        Some(i) if rest.as_bytes()[i] == b'/' => (&rest[..i], rest[i..].to_owned()),
        Some(i) => (&rest[..i], format!("/{}", &rest[i..])),
        None => (rest, "/".to_owned()),
    };
    if authority.is_empty() || authority.contains('@') {
        return Err(Error::new(format!("no usable host in {url:?}")));
    }
    Ok(Url {
        tls,
        authority: authority.to_owned(),
        path,
    })
}

impl TargetArgs {
    /// Applies these options to `cfg` for the command's target `authority` (`host[:port]`)
    /// and returns where the command goes. `--resolve` and `--connect-to` entries that do
    /// not match the target are reported on stderr and ignored, as curl does.
    pub fn apply(&self, cfg: &mut Config, authority: &str) -> Result<HostSpec, Error> {
        self.apply_to(cfg, authority, None)
    }

    /// [`apply`](Self::apply) for a command that follows redirects (`get -L`): the
    /// `--resolve` entries of other hosts are kept for the hosts the redirects lead to (as
    /// curl applies them to every host of a transfer), each a `[[hosts]]` entry with those
    /// addresses, at that port, over `others` (`--proto`, else `auto`).
    pub fn apply_following(
        &self,
        cfg: &mut Config,
        authority: &str,
        others: pool_config::Transport,
    ) -> Result<HostSpec, Error> {
        self.apply_to(cfg, authority, Some(others))
    }

    fn apply_to(
        &self,
        cfg: &mut Config,
        authority: &str,
        others: Option<pool_config::Transport>,
    ) -> Result<HostSpec, Error> {
        let (name, port) = split_host_port(authority)?;
        let key = name.to_ascii_lowercase();
        let port = port
            .or_else(|| HostSpec::parse(&name, cfg).ok().map(|h| h.port))
            .unwrap_or(443);
        if !self.cacert.is_empty() {
            let cwd = std::env::current_dir()
                .map_err(|e| Error::new(format!("--cacert: no current directory: {e}")))?;
            cfg.tls.ca_files = self
                .cacert
                .iter()
                .map(|f| cwd.join(f))
                .collect::<Vec<PathBuf>>();
            // As curl: the given CAs replace the bundled roots.
            cfg.tls.use_webpki_roots = false;
        }
        if self.insecure {
            eprintln!("warning: --insecure: server certificates are NOT verified (testing only)");
            cfg.tls.insecure_skip_verify = true;
        }
        if let Some(browser) = self.profile {
            crate::client::use_profile(cfg, browser)?;
        }
        if self.wait_for_host {
            cfg.pool.wait_for_host = true;
        }
        if let Some(rate) = &self.rate {
            let rate = rate
                .parse()
                .map_err(|e| Error::new(format!("--rate {rate:?}: {e}")))?;
            cfg.pool.rate_limit = Some(pool_config::Rate(rate));
            // A host's own rate would win over the command line's: the command line wins.
            for h in &mut cfg.hosts {
                h.rate_limit = None;
            }
        }
        if !self.proxy.is_empty() {
            if self.proto == Some(Proto::H3) {
                return Err(Error::new(
                    "--proxy: HTTP/3 cannot go through a proxy (it carries TCP); use --proto h2, h1 or auto",
                ));
            }
            let mut proxies = Vec::with_capacity(self.proxy.len());
            for url in &self.proxy {
                let url = pool_config::ProxyUrl::parse(url)
                    .map_err(|e| Error::new(format!("--proxy: {e}")))?;
                let mut proxy = url.0;
                if let Some(user) = &self.proxy_user {
                    let (name, password) = user.split_once(':').unwrap_or((user, ""));
                    proxy =
                        proxy.with_credentials(pool_dial_rustls::Credentials::new(name, password));
                }
                proxies.push(pool_config::ProxyUrl(proxy));
            }
            cfg.egress.proxies = proxies;
            if let Some(rotation) = self.proxy_rotation {
                cfg.egress.rotation = match rotation {
                    ProxyRotation::RoundRobin => pool_config::EgressRotation::RoundRobin,
                    ProxyRotation::Random => pool_config::EgressRotation::Random,
                    ProxyRotation::Sticky => pool_config::EgressRotation::Sticky,
                };
            }
            // A host's own proxies would win over the command line's: the command line wins.
            for h in &mut cfg.hosts {
                h.proxies = None;
            }
        }
        if let Some(timeout) = self.timeout {
            cfg.pool.conn_timeout = cfg.pool.conn_timeout.min(timeout);
            cfg.pool.checkout_timeout = cfg.pool.checkout_timeout.min(timeout);
            cfg.pool.test_timeout = cfg.pool.test_timeout.min(timeout);
            cfg.pool.request_timeout = timeout;
            let idle = cfg.pool.body_idle_timeout.filter(|d| !d.is_zero());
            cfg.pool.body_idle_timeout = Some(idle.map_or(timeout, |d| d.min(timeout)));
        }
        let mut addrs: Option<Vec<IpAddr>> = None;
        let mut dial_port = port;
        for r in &self.resolve {
            if r.host == key && r.port == port {
                addrs = Some(r.addrs.clone());
            } else if let Some(transport) = others
                && r.host != key
            {
                let entry = host_entry(cfg, &r.host, transport);
                entry.port = r.port;
                entry.addrs = Some(r.addrs.clone());
            } else {
                eprintln!(
                    "warning: --resolve {}:{} does not match {name}:{port}; ignored",
                    r.host, r.port
                );
            }
        }
        for c in &self.connect_to {
            let host_ok = c.host.as_ref().is_none_or(|h| *h == key);
            let port_ok = c.port.is_none_or(|p| p == port);
            if host_ok && port_ok {
                addrs = Some(vec![c.addr]);
                dial_port = c.to_port;
            } else {
                eprintln!("warning: --connect-to entry does not match {name}:{port}; ignored");
            }
        }
        let needs_entry = addrs.is_some() || self.proto.is_some() || dial_port != port;
        if needs_entry {
            let entry = host_entry(cfg, &name, pool_config::Transport::default());
            entry.port = dial_port;
            if let Some(addrs) = addrs {
                entry.addrs = Some(addrs);
            }
            if let Some(proto) = self.proto {
                entry.transport = proto.transport();
                entry.alpn = None;
            }
        }
        let mut spec = HostSpec::parse(&name, cfg)?;
        spec.port = dial_port;
        Ok(spec)
    }
}

/// `name`'s `[[hosts]]` entry, added (with `transport`) when it has none.
fn host_entry<'a>(
    cfg: &'a mut Config,
    name: &str,
    transport: pool_config::Transport,
) -> &'a mut HostConfig {
    let index = match cfg
        .hosts
        .iter()
        .position(|h| h.name.eq_ignore_ascii_case(name))
    {
        Some(i) => i,
        None => {
            let mut entry = HostConfig::new(name.to_owned());
            entry.transport = transport;
            cfg.hosts.push(entry);
            cfg.hosts.len() - 1
        }
    };
    &mut cfg.hosts[index]
}

/// The most addresses `--rtt` puts behind the relay (one loopback front each).
const MAX_RELAYED: usize = 254;

/// The relay front for the `i`-th address of the host: 127.0.77.1, 127.0.77.2, …
fn relay_front(i: usize) -> IpAddr {
    IpAddr::V4(Ipv4Addr::new(127, 0, 77, 1 + (i % MAX_RELAYED) as u8))
}

impl TargetArgs {
    /// `--rtt`: starts a [`WanRelay`] with that round trip in front of `host`'s addresses
    /// (its `--resolve`/`--connect-to`/`[[hosts]]` addresses, else the system resolver's,
    /// at most 254) and points `host` at the relay's loopback fronts (127.0.77.x, one port),
    /// keeping its name for SNI and certificate checks. The relay runs on the current
    /// runtime until dropped. `None` without `--rtt`.
    pub async fn wan_relay(
        &self,
        cfg: &mut Config,
        host: &mut HostSpec,
    ) -> Result<Option<WanRelay>, Error> {
        let Some(rtt) = self.rtt else {
            return Ok(None);
        };
        let upstreams: Vec<SocketAddr> = match host.entry.as_ref().and_then(|e| e.addrs.clone()) {
            Some(ips) => ips
                .into_iter()
                .map(|ip| SocketAddr::new(ip, host.port))
                .collect(),
            None => tokio::net::lookup_host((host.name.as_str(), host.port))
                .await
                .map_err(|e| Error::new(format!("--rtt: cannot resolve {}: {e}", host.name)))?
                .collect(),
        };
        if upstreams.is_empty() {
            return Err(Error::new(format!("--rtt: {} has no address", host.name)));
        }
        let routes: Vec<(IpAddr, SocketAddr)> = upstreams
            .iter()
            .take(MAX_RELAYED)
            .enumerate()
            .map(|(i, up)| (relay_front(i), *up))
            .collect();
        let relay = WanRelay::start(&routes, WanOptions::rtt(rtt))
            .await
            .map_err(|e| Error::new(format!("--rtt: cannot start the relay: {e}")))?;
        let index = match cfg
            .hosts
            .iter()
            .position(|h| h.name.eq_ignore_ascii_case(&host.name))
        {
            Some(i) => i,
            None => {
                let mut entry = HostConfig::new(host.name.clone());
                entry.transport = host.transport;
                cfg.hosts.push(entry);
                cfg.hosts.len() - 1
            }
        };
        let entry = &mut cfg.hosts[index];
        entry.port = relay.port();
        entry.addrs = Some(routes.iter().map(|(front, _)| *front).collect());
        host.port = relay.port();
        host.entry = Some(entry.clone());
        eprintln!(
            "--rtt {}: {} through a WAN relay on {} (port {}), {} address(es)",
            humantime::format_duration(rtt),
            host.name,
            relay_front(0),
            relay.port(),
            routes.len()
        );
        Ok(Some(relay))
    }
}

impl Proto {
    /// The config's transport for this protocol.
    pub fn transport(self) -> pool_config::Transport {
        match self {
            Proto::Auto => pool_config::Transport::Auto,
            Proto::H1 => pool_config::Transport::H1,
            Proto::H2 => pool_config::Transport::H2,
            Proto::H3 => pool_config::Transport::H3,
        }
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;

    #[test]
    fn urls() {
        let u = parse_url("https://a.test:8443/x/y?z=1").unwrap();
        assert_eq!(
            (u.authority.as_str(), u.path.as_str()),
            ("a.test:8443", "/x/y?z=1")
        );
        let u = parse_url("https://a.test").unwrap();
        assert_eq!((u.authority.as_str(), u.path.as_str()), ("a.test", "/"));
        let u = parse_url("https://[::1]:443?q").unwrap();
        assert_eq!(
            (u.authority.as_str(), u.path.as_str()),
            ("[::1]:443", "/?q")
        );
        assert!(parse_url("http://a.test/").is_err());
        assert!(parse_url("https:///x").is_err());
        // `get`'s: http:// too.
        let u = parse_http_url("http://a.test:8080/x").unwrap();
        assert!(!u.tls);
        assert_eq!(
            (u.authority.as_str(), u.path.as_str()),
            ("a.test:8080", "/x")
        );
        assert!(parse_http_url("https://a.test").unwrap().tls);
        assert!(parse_http_url("ftp://a.test/").is_err());
        assert!(parse_http_url("http:///x").is_err());
    }

    fn target(args: &[&str]) -> TargetArgs {
        use clap::Parser;
        #[derive(Parser)]
        struct T {
            #[command(flatten)]
            t: TargetArgs,
        }
        let argv = std::iter::once("t").chain(args.iter().copied());
        T::try_parse_from(argv).unwrap().t
    }

    #[test]
    fn overrides_land_in_the_config() {
        let mut cfg = Config::default();
        let t = target(&[
            "--resolve",
            "a.test:8443:127.0.0.2,127.0.0.3",
            "--resolve",
            "other.test:443:127.0.0.9",
            "--cacert",
            "ca.pem",
            "--timeout",
            "2s",
        ]);
        let spec = t.apply(&mut cfg, "a.test:8443").unwrap();
        assert_eq!(spec.port, 8443);
        let entry = spec.entry.expect("an entry for the host");
        assert_eq!(entry.addrs.unwrap().len(), 2);
        assert!(!cfg.tls.use_webpki_roots);
        assert!(cfg.tls.ca_files[0].is_absolute());
        assert_eq!(cfg.pool.conn_timeout, Duration::from_secs(2));
        assert_eq!(cfg.pool.request_timeout, Duration::from_secs(2));
        assert_eq!(cfg.pool.body_idle_timeout, Some(Duration::from_secs(2)));

        let mut cfg = Config::default();
        let t = target(&["--connect-to", "a.test:443:127.0.0.4:9443", "--proto", "h3"]);
        let spec = t.apply(&mut cfg, "a.test").unwrap();
        assert_eq!(spec.port, 9443, "dialed at the connect-to port");
        assert_eq!(spec.name, "a.test", "verified for the URL's host");
        assert_eq!(spec.transport, pool_config::Transport::H3);
        assert_eq!(
            spec.entry.unwrap().addrs.unwrap(),
            ["127.0.0.4".parse::<IpAddr>().unwrap()]
        );

        // Following redirects: another host's --resolve becomes its entry.
        let mut cfg = Config::default();
        let t = target(&[
            "--resolve",
            "a.test:443:127.0.0.2",
            "--resolve",
            "b.test:8443:127.0.0.3",
        ]);
        let auto = pool_config::Transport::Auto;
        t.apply_following(&mut cfg, "a.test", auto).unwrap();
        let b = cfg.hosts.iter().find(|h| h.name == "b.test").unwrap();
        assert_eq!((b.port, b.transport), (8443, auto));
        assert_eq!(
            b.addrs.clone().unwrap(),
            ["127.0.0.3".parse::<IpAddr>().unwrap()]
        );
        let mut cfg = Config::default();
        t.apply(&mut cfg, "a.test").unwrap();
        assert!(cfg.hosts.iter().all(|h| h.name != "b.test"), "ignored");

        let mut cfg = Config::default();
        let spec = target(&[]).apply(&mut cfg, "b.test").unwrap();
        assert!(
            spec.entry.is_none(),
            "no option, no entry: DNS as configured"
        );
    }
}
