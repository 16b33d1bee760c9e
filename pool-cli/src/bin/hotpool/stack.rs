//! A pool with its helpers, built from a [`Config`]: DNS refresh (pool-dns) and health
//! checks (pool-health) around a `Pool<D>`.

use hotpool::ConfigOptions;
use std::net::{IpAddr, SocketAddr};
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use pool_config::{Config, HostConfig, Transport as TransportKind};
use pool_core::{Dialer, Pool, PoolOptions};
use pool_dns::DnsRefresher;
use pool_health::{HealthChecker, RequestProbe, TransportProbe};
use pool_http::{Empty, HttpConnection, RequestError, RequestOptions, Validation};
use pool_redis::RedisFleet;

use crate::Error;

/// Where a command's host lives: its name, port and transport.
#[derive(Clone, Debug)]
pub struct HostSpec {
    /// Host name (or IP literal): SNI and certificate name.
    pub name: String,
    /// Port dialed.
    pub port: u16,
    /// Transport from the host's `[[hosts]]` entry (default h2).
    pub transport: TransportKind,
    /// The `[[hosts]]` entry, if any.
    pub entry: Option<HostConfig>,
}

impl HostSpec {
    /// `HOST` or `HOST:PORT` (IPv6 literals in brackets), completed from `[[hosts]]`.
    pub fn parse(text: &str, cfg: &Config) -> Result<Self, Error> {
        let (name, port) = split_host_port(text)?;
        let entry = cfg
            .hosts
            .iter()
            .find(|h| h.name.eq_ignore_ascii_case(&name))
            .cloned();
        let port = port.or(entry.as_ref().map(|h| h.port)).unwrap_or(443);
        let transport = entry.as_ref().map(|h| h.transport).unwrap_or_default();
        Ok(Self {
            name,
            port,
            transport,
            entry,
        })
    }
}

/// Splits `host[:port]` / `[v6][:port]`.
pub fn split_host_port(text: &str) -> Result<(String, Option<u16>), Error> {
    let bad = || Error::new(format!("not a host or host:port: {text:?}"));
    if let Some(rest) = text.strip_prefix('[') {
        let (ip, after) = rest.split_once(']').ok_or_else(bad)?;
        let port = match after.strip_prefix(':') {
            Some(p) => Some(p.parse().map_err(|_| bad())?),
            None if after.is_empty() => None,
            None => return Err(bad()),
        };
        return Ok((ip.to_owned(), port));
    }
    if text.parse::<IpAddr>().is_ok() {
        return Ok((text.to_owned(), None));
    }
    match text.rsplit_once(':') {
        Some((host, port)) => {
            let port = port.parse().map_err(|_| bad())?;
            if host.is_empty() {
                return Err(bad());
            }
            Ok((host.to_owned(), Some(port)))
        }
        None if text.is_empty() => Err(bad()),
        None => Ok((text.to_owned(), None)),
    }
}

/// The HTTP/2 dialer for `host` from the config.
pub fn h2_dialer(cfg: &Config, host: &HostSpec) -> Result<pool_dial_rustls::H2Dialer, Error> {
    let options = cfg
        .h2_options(host.entry.as_ref())
        .map_err(|e| Error::new(e.to_string()))?;
    pool_dial_rustls::H2Dialer::new(options).map_err(|e| Error::new(format!("TLS setup: {e}")))
}

/// The HTTP/1.1 dialer for `host` from the config (`transport = "h1"`).
pub fn h1_dialer(cfg: &Config, host: &HostSpec) -> Result<pool_dial_rustls::H1Dialer, Error> {
    let options = cfg
        .h1_options(host.entry.as_ref())
        .map_err(|e| Error::new(e.to_string()))?;
    pool_dial_rustls::H1Dialer::new(options).map_err(|e| Error::new(format!("TLS setup: {e}")))
}

/// The auto-ALPN HTTPS dialer for `host` from the config (`transport = "auto"`).
pub fn https_dialer(cfg: &Config, host: &HostSpec) -> Result<pool_dial_rustls::HttpsDialer, Error> {
    let options = cfg
        .https_options(host.entry.as_ref())
        .map_err(|e| Error::new(e.to_string()))?;
    pool_dial_rustls::HttpsDialer::new(options).map_err(|e| Error::new(format!("TLS setup: {e}")))
}

/// The HTTP/3 (QUIC) dialer for `host` from the config.
pub fn quic_dialer(cfg: &Config, host: &HostSpec) -> Result<pool_dial_quic::QuicDialer, Error> {
    let options = cfg
        .quic_options(host.entry.as_ref())
        .map_err(|e| Error::new(e.to_string()))?;
    pool_dial_quic::QuicDialer::new(options).map_err(|e| Error::new(format!("QUIC setup: {e}")))
}

/// `--profile BROWSER`: the BoringSSL engine with that one profile (an error in a build
/// without the `boring` feature).
pub fn use_profile(cfg: &mut Config, browser: crate::args::Browser) -> Result<(), Error> {
    if !cfg!(feature = "boring") {
        return Err(Error::new(format!(
            "--profile {}: this hotpool is built without the boring feature (build it with \
             `--features boring`; BoringSSL needs cmake and libclang)",
            browser.name()
        )));
    }
    cfg.tls.engine = pool_config::TlsEngine::Boring;
    cfg.tls.profiles = vec![browser.name().to_owned()];
    Ok(())
}

/// Whether the TCP transports dial with BoringSSL (`[tls] engine = "boring"`).
#[cfg(feature = "boring")]
pub fn uses_boring(cfg: &Config) -> bool {
    cfg.tls.engine == pool_config::TlsEngine::Boring
}

/// The BoringSSL dialer for `host` from the config (`[tls] engine = "boring"`; the mode
/// follows the host's transport).
#[cfg(feature = "boring")]
pub fn boring_dialer(
    cfg: &Config,
    host: &HostSpec,
) -> Result<pool_dial_boring::BoringDialer, Error> {
    let options = cfg
        .boring_options(host.entry.as_ref())
        .map_err(|e| Error::new(e.to_string()))?;
    pool_dial_boring::BoringDialer::new(options)
        .map_err(|e| Error::new(format!("BoringSSL setup: {e}")))
}

/// Evaluates `$body` with `$dialer` bound to the dialer of `$host`'s transport — one arm per
/// transport that speaks HTTP, and the BoringSSL dialer for h2, h1 and auto with
/// `[tls] engine = "boring"` — so a command is written once, generic over the dialer.
macro_rules! with_dialer {
    ($cfg:expr, $host:expr, |$dialer:ident| $body:expr) => {
        match $host.transport {
            #[cfg(feature = "boring")]
            pool_config::Transport::H2 | pool_config::Transport::H1 | pool_config::Transport::Auto
                if $crate::stack::uses_boring($cfg) =>
            {
                let $dialer = $crate::stack::boring_dialer($cfg, $host)?;
                $body
            }
            pool_config::Transport::H2 => {
                let $dialer = $crate::stack::h2_dialer($cfg, $host)?;
                $body
            }
            pool_config::Transport::H1 => {
                let $dialer = $crate::stack::h1_dialer($cfg, $host)?;
                $body
            }
            pool_config::Transport::Auto => {
                let $dialer = $crate::stack::https_dialer($cfg, $host)?;
                $body
            }
            pool_config::Transport::H3 => {
                let $dialer = $crate::stack::quic_dialer($cfg, $host)?;
                $body
            }
            other => Err($crate::Error::new(format!(
                "transport {:?} of {} is not supported by the CLI (it sends requests over h1, h2, auto or h3)",
                other.as_str(),
                $host.name
            ))),
        }
    };
}
pub(crate) use with_dialer;

/// `GET path`, as the commands send it.
pub fn get_request(path: &str) -> Result<http::Request<Empty<Bytes>>, RequestError> {
    Ok(http::Request::get(path).body(Empty::new())?)
}

/// `GET path` to `host` through `pool`, over any transport whose connections speak HTTP:
/// `pool-http`'s [`send_with`](pool_http::send_with) under `options` (the config's
/// `request_timeout` / `body_idle_timeout`; outcome reported when the body ends, retried
/// once when safe), the body read whole (at most [`pool_http::DEFAULT_COLLECT_LIMIT`]).
pub async fn get<D>(
    pool: &Pool<D>,
    host: &str,
    path: &str,
    options: &RequestOptions,
) -> Result<http::Response<Bytes>, RequestError>
where
    D: Dialer<Conn: HttpConnection>,
{
    let response = pool_http::send_with(pool, host, get_request(path)?, options).await?;
    let (parts, body) = response.into_parts();
    Ok(http::Response::from_parts(parts, body.bytes().await?))
}

/// A running pool and its helpers.
pub struct Stack<D: Dialer> {
    /// The transport's name in the config (`h2`, `h3`, ...), for reports.
    pub transport: &'static str,
    /// The pool.
    pub pool: Pool<D>,
    /// The options the pool runs with (limits resolved for the transport).
    pub options: PoolOptions,
    /// DNS refresh feeding the pool.
    pub dns: DnsRefresher,
    /// Health checks of idle connections.
    pub health: HealthChecker,
    /// The deadlines requests are sent under (`pool.request_timeout`,
    /// `pool.body_idle_timeout`).
    pub request: RequestOptions,
    /// The fleet backend, with a `[fleet]` backend.
    pub fleet: Option<Arc<RedisFleet>>,
}

/// How long a command waits for the fleet's bans at start and its events at exit.
const FLEET_WAIT: Duration = Duration::from_secs(1);

impl<D: Dialer<Conn: HttpConnection>> Stack<D> {
    /// Builds the pool with `dialer` and the config's options, starts DNS refresh and health
    /// checks, and registers `host`: a static address list (IP literal or the host's
    /// `addrs`) or DNS resolution (waiting for the first answer). New addresses are not
    /// warmed automatically: the commands warm with a progress bar.
    ///
    /// With a `[fleet]` backend the pool shares its blacklist (and budgets) with the fleet;
    /// the subscriber is attached once the host is registered, so its first load of the
    /// fleet's bans already knows the host.
    pub async fn start(cfg: &Config, dialer: D, host: &HostSpec) -> Result<Self, Error> {
        let fleet = match cfg.fleet_config() {
            None => None,
            Some(Ok(fleet)) => {
                Some(RedisFleet::start(fleet).map_err(|e| Error::new(format!("fleet: {e}")))?)
            }
            Some(Err(e)) => return Err(Error::new(format!("fleet: {e}"))),
        };
        // An absent `pool.max_conns_per_ip` resolves for this host's transport: 1 for h2
        // and h3, 6 where connections may be exclusive HTTP/1.1 (h1, auto).
        let options = cfg.pool_options_for(host.transport);
        let pool = match &fleet {
            Some(fleet) => Pool::with_shared_state(dialer, options.clone(), fleet.clone()),
            None => Pool::new(dialer, options.clone()),
        }
        .map_err(|e| Error::new(format!("pool options: {e}")))?;
        let mut dns_options = cfg.dns_options();
        dns_options.warm_new_addrs = false;
        let dns =
            DnsRefresher::start(&pool, dns_options).map_err(|e| Error::new(format!("DNS: {e}")))?;
        let health = if cfg.health.probe == pool_config::ProbeKind::Http {
            let method = http::Method::from_bytes(cfg.health.method.as_bytes())
                .map_err(|e| Error::new(format!("health.method: {e}")))?;
            let probe = RequestProbe::new(Validation {
                method,
                path: cfg.health.path.clone(),
                body: None,
                banned_statuses: vec![cfg.pool.banned_status],
            });
            HealthChecker::start(&pool, probe, cfg.health_options())
        } else {
            HealthChecker::start(&pool, TransportProbe, cfg.health_options())
        };
        let stack = Self {
            transport: host.transport.as_str(),
            pool,
            options,
            dns,
            health,
            request: cfg.request_options(),
            fleet: None,
        };
        let static_addrs: Option<Vec<IpAddr>> = match host.name.parse::<IpAddr>() {
            Ok(ip) => Some(vec![ip]),
            Err(_) => host.entry.as_ref().and_then(|h| h.addrs.clone()),
        };
        let result = match static_addrs {
            Some(ips) => {
                stack.dns.add_static(
                    &host.name,
                    ips.into_iter().map(|ip| SocketAddr::new(ip, host.port)),
                );
                Ok(())
            }
            None => stack
                .dns
                .add_host(&host.name, host.port)
                .await
                .map(drop)
                .map_err(|e| Error::new(format!("cannot resolve {}: {e}", host.name))),
        };
        if let Err(e) = result {
            stack.stop().await;
            return Err(e);
        }
        if let Some(fleet) = &fleet {
            fleet.attach(&stack.pool);
            // The fleet's bans before the first dial, bounded: a slow Redis delays the
            // start by at most this, and an unreachable one does not stop the command.
            if !fleet.wait_synced(FLEET_WAIT).await {
                eprintln!("warning: fleet: the fleet's bans were not loaded within {FLEET_WAIT:?}");
            }
        }
        Ok(Self { fleet, ..stack })
    }

    /// Stops the helpers and closes the pool; the fleet's queue is flushed (bounded).
    pub async fn stop(&self) {
        self.health.stop().await;
        self.dns.stop().await;
        self.pool.close().await;
        if let Some(fleet) = &self.fleet {
            if !fleet.flush(FLEET_WAIT).await {
                eprintln!("warning: fleet: events not published within {FLEET_WAIT:?}");
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn host_port_forms() {
        let s = |t: &str| split_host_port(t).unwrap();
        assert_eq!(s("a.test"), ("a.test".to_owned(), None));
        assert_eq!(s("a.test:8443"), ("a.test".to_owned(), Some(8443)));
        assert_eq!(s("127.0.0.2"), ("127.0.0.2".to_owned(), None));
        assert_eq!(s("::1"), ("::1".to_owned(), None));
        assert_eq!(s("[::1]:443"), ("::1".to_owned(), Some(443)));
        assert!(split_host_port("a.test:x").is_err());
        assert!(split_host_port(":443").is_err());
        assert!(split_host_port("").is_err());
    }

    #[test]
    fn hosts_entry_fills_port_and_transport() {
        let cfg = Config::from_str_named(
            "[[hosts]]\nname = \"q.test\"\nport = 8443\ntransport = \"h3\"\n",
            "t.toml",
        )
        .unwrap();
        let h = HostSpec::parse("Q.test", &cfg).unwrap();
        assert_eq!((h.port, h.transport), (8443, TransportKind::H3));
        let h = HostSpec::parse("q.test:9000", &cfg).unwrap();
        assert_eq!(h.port, 9000);
        let h = HostSpec::parse("other.test", &cfg).unwrap();
        assert_eq!((h.port, h.transport), (443, TransportKind::H2));
    }
}
