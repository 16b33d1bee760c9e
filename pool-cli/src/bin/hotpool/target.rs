//! Where a command goes, with curl's habits: an `https://` URL, and the command-line options
//! that override the config file for it (`--proto`, `--resolve`, `--connect-to`, `--cacert`,
//! `--insecure`, `--timeout`, `--profile`), and `--rtt` (a WAN relay on loopback in front of
//! the host, [`TargetArgs::wan_relay`]). They are applied to the loaded [`Config`] before the pool is
//! built, so every command sees one configuration.

use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::path::PathBuf;

use pool_config::{Config, HostConfig};
use pool_testkit::{WanOptions, WanRelay};

use crate::Error;
use crate::args::{Proto, TargetArgs};
use crate::stack::{HostSpec, split_host_port};

/// A parsed `https://host[:port]/path` URL.
#[derive(Debug, PartialEq, Eq)]
pub struct Url {
    /// `host` or `host:port` as written.
    pub authority: String,
    /// Path and query, `/` when absent.
    pub path: String,
}

/// Parses an `https://` URL (the only scheme: every transport here is TLS-based).
pub fn parse_url(url: &str) -> Result<Url, Error> {
    let rest = url
        .strip_prefix("https://")
        .ok_or_else(|| Error::new(format!("expected an https:// URL, got {url:?}")))?;
    let (authority, path) = match rest.find(['/', '?']) {
        Some(i) if rest.as_bytes()[i] == b'/' => (&rest[..i], rest[i..].to_owned()),
        Some(i) => (&rest[..i], format!("/{}", &rest[i..])),
        None => (rest, "/".to_owned()),
    };
    if authority.is_empty() || authority.contains('@') {
        return Err(Error::new(format!("no usable host in {url:?}")));
    }
    Ok(Url {
        authority: authority.to_owned(),
        path,
    })
}

/// `--resolve HOST:PORT:ADDR[,ADDR...]`: HOST at PORT is at these addresses (no DNS).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Resolve {
    host: String,
    port: u16,
    addrs: Vec<IpAddr>,
}

/// `--connect-to HOST:PORT:ADDR:PORT2`: connections for HOST at PORT go to ADDR at PORT2
/// (the certificate is still verified for HOST). An empty HOST or PORT matches any.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ConnectTo {
    host: Option<String>,
    port: Option<u16>,
    addr: IpAddr,
    to_port: u16,
}

/// An IP literal, IPv6 in brackets or bare.
fn parse_ip(text: &str, what: &str) -> Result<IpAddr, String> {
    let bare = text
        .strip_prefix('[')
        .and_then(|t| t.strip_suffix(']'))
        .unwrap_or(text);
    bare.parse().map_err(|_| {
        format!("{what}: {text:?} is not an IP address (host names are not supported here)")
    })
}

fn parse_port(text: &str, what: &str) -> Result<u16, String> {
    match text.parse::<u16>() {
        Ok(0) | Err(_) => Err(format!("{what}: {text:?} is not a port (1-65535)")),
        Ok(port) => Ok(port),
    }
}

/// Splits `a:b:rest` where `rest` may hold colons (IPv6) — the first two fields never do.
fn split3(text: &str) -> Option<(&str, &str, &str)> {
    let (a, rest) = text.split_once(':')?;
    let (b, rest) = rest.split_once(':')?;
    Some((a, b, rest))
}

/// Parses one `--resolve` value.
pub fn parse_resolve(text: &str) -> Result<Resolve, String> {
    let what = "--resolve";
    let (host, port, addrs) = split3(text)
        .ok_or_else(|| format!("{what}: expected HOST:PORT:ADDR[,ADDR...], got {text:?}"))?;
    if host.is_empty() {
        return Err(format!("{what}: no host in {text:?}"));
    }
    let addrs = addrs
        .split(',')
        .map(|a| parse_ip(a.trim(), what))
        .collect::<Result<Vec<_>, _>>()?;
    Ok(Resolve {
        host: host.to_ascii_lowercase(),
        port: parse_port(port, what)?,
        addrs,
    })
}

/// Parses one `--connect-to` value.
pub fn parse_connect_to(text: &str) -> Result<ConnectTo, String> {
    let what = "--connect-to";
    let bad = || format!("{what}: expected HOST:PORT:ADDR:PORT, got {text:?}");
    let (host, port, rest) = split3(text).ok_or_else(bad)?;
    let (addr, to_port) = rest.rsplit_once(':').ok_or_else(bad)?;
    Ok(ConnectTo {
        host: (!host.is_empty()).then(|| host.to_ascii_lowercase()),
        port: if port.is_empty() {
            None
        } else {
            Some(parse_port(port, what)?)
        },
        addr: parse_ip(addr, what)?,
        to_port: parse_port(to_port, what)?,
    })
}

impl TargetArgs {
    /// Applies these options to `cfg` for the command's target `authority` (`host[:port]`)
    /// and returns where the command goes. `--resolve` and `--connect-to` entries that do
    /// not match the target are reported on stderr and ignored, as curl does.
    pub fn apply(&self, cfg: &mut Config, authority: &str) -> Result<HostSpec, Error> {
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
            crate::stack::use_profile(cfg, browser)?;
        }
        if self.wait_for_host {
            cfg.pool.wait_for_host = true;
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
            let index = match cfg
                .hosts
                .iter()
                .position(|h| h.name.eq_ignore_ascii_case(&name))
            {
                Some(i) => i,
                None => {
                    cfg.hosts.push(HostConfig::new(name.clone()));
                    cfg.hosts.len() - 1
                }
            };
            let entry = &mut cfg.hosts[index];
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
    }

    #[test]
    fn resolve_forms() {
        let r = parse_resolve("A.test:8443:127.0.0.2,[::1]").unwrap();
        assert_eq!(r.host, "a.test");
        assert_eq!(r.port, 8443);
        assert_eq!(
            r.addrs,
            [
                "127.0.0.2".parse::<IpAddr>().unwrap(),
                "::1".parse().unwrap()
            ]
        );
        assert!(parse_resolve("a.test:443").is_err());
        assert!(parse_resolve("a.test:0:127.0.0.2").is_err());
        let e = parse_resolve("a.test:443:origin.test").unwrap_err();
        assert!(e.contains("not an IP address"), "{e}");
    }

    #[test]
    fn connect_to_forms() {
        let c = parse_connect_to("a.test:443:127.0.0.3:8443").unwrap();
        assert_eq!(c.host.as_deref(), Some("a.test"));
        assert_eq!((c.port, c.to_port), (Some(443), 8443));
        let c = parse_connect_to("::[::1]:9000").unwrap();
        assert_eq!((c.host, c.port), (None, None));
        assert_eq!(c.addr, "::1".parse::<IpAddr>().unwrap());
        assert!(parse_connect_to("a.test:443:127.0.0.3").is_err());
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

        let mut cfg = Config::default();
        let spec = target(&[]).apply(&mut cfg, "b.test").unwrap();
        assert!(
            spec.entry.is_none(),
            "no option, no entry: DNS as configured"
        );
    }
}
