//! The soak over TCP + TLS: HTTP/1.1 ([`H1Dialer`]), HTTP/2 ([`H2Dialer`]) and auto ALPN
//! ([`HttpsDialer`], one host whose origin speaks only HTTP/1.1 and one whose origin
//! picks h2). Each host is an origin behind a [`FaultProxy`] on six addresses.

use std::net::IpAddr;
use std::sync::Arc;
use std::time::{Duration, Instant};

use pool_core::PoolOptions;
use pool_dial_rustls::{H1Dialer, H2Dialer, H2Options, HttpsDialer, HttpsOptions, TlsOptions};
use pool_testkit::{Fault, FaultProxy, H2Origin, H2OriginOptions, Http1Options, TestCa};

use crate::dns::Dns;
use crate::load::{self, Baseline, Rig, Rng, run};

const ZONE: &str = "soak.test";
const PROXIES: u8 = 6;

/// Which dialer the run uses.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Kind {
    H1,
    H2,
    Auto,
}

/// One host: its origin, and the proxy whose addresses are the host's.
struct Site {
    host: &'static str,
    origin: H2Origin,
    proxy: FaultProxy,
    ips: Vec<IpAddr>,
    /// The origin speaks HTTP/2 (else HTTP/1.1 only).
    h2: bool,
}

/// A fault to undo later.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Restore {
    /// New connections to this address of this site pass again.
    Fault(usize, IpAddr),
    /// Reset the (held) open connections of this address.
    ResetOpen(usize, IpAddr),
    /// The site's origin answers PINGs (HTTP/2) or without delay (HTTP/1.1) again.
    Origin(usize),
    /// The site's origin listens again (a restart: down in between).
    Restart(usize),
}

/// The TCP servers of a run.
struct TcpRig {
    sites: Vec<Site>,
    dns: Dns,
    restores: Vec<(Instant, Restore)>,
}

/// Runs the soak over TCP for `duration` with the dialer of `kind`.
pub(crate) async fn soak(kind: Kind, duration: Duration) -> Result<(), String> {
    let start = Baseline::now();
    let ca = Arc::new(TestCa::new().map_err(|e| e.to_string())?);
    // (host, origin speaks h2, the /24 it lives in)
    let hosts: &[(&'static str, bool)] = match kind {
        Kind::H1 => &[("www.soak.test", false)],
        Kind::H2 => &[("www.soak.test", true)],
        Kind::Auto => &[("h1.soak.test", false), ("h2.soak.test", true)],
    };
    let net = match kind {
        Kind::H2 => 200,
        Kind::H1 => 201,
        Kind::Auto => 202,
    };
    let mut sites = Vec::new();
    for (n, (host, h2)) in hosts.iter().enumerate() {
        let n = n as u8;
        let ip = |last: u8| IpAddr::from([127, 0, net, last]);
        let names = [*host];
        let options = if *h2 {
            H2OriginOptions {
                max_concurrent_streams: Some(16),
                ..H2OriginOptions::new(&[ip(1 + n)], &names, &ca)
            }
        } else {
            H2OriginOptions {
                // Now and then a `Connection: close`, as real HTTP/1.1 servers do.
                http1: Http1Options {
                    close_after: Some(100),
                    ..Http1Options::default()
                },
                ..H2OriginOptions::h1_only(&[ip(1 + n)], &names, &ca)
            }
        };
        let origin = H2Origin::start(options).await.map_err(|e| e.to_string())?;
        let ips: Vec<IpAddr> = (0..PROXIES).map(|i| ip(10 * (n + 1) + i)).collect();
        let proxy = FaultProxy::start(&ips, origin.socket_addrs()[0])
            .await
            .map_err(|e| e.to_string())?;
        sites.push(Site {
            host,
            origin,
            proxy,
            ips,
            h2: *h2,
        });
    }
    let dns_hosts: Vec<(&'static str, Vec<IpAddr>)> =
        sites.iter().map(|s| (s.host, s.ips.clone())).collect();
    let dns = Dns::start(ZONE, &dns_hosts).await?;
    let rig = TcpRig {
        sites,
        dns,
        restores: Vec::new(),
    };

    let mut tls = TlsOptions::default();
    tls.trust.webpki_roots = false;
    tls.trust.extra_ca_certs = vec![ca.ca_cert_der().to_vec()];
    tls.conn_timeout = Duration::from_millis(500);
    tls.test_timeout = Duration::from_millis(500);
    let options = load::pool_options();
    // HTTP/1.1 connections are exclusive: room for a connection per worker.
    let exclusive = PoolOptions {
        max_connections: 40,
        max_conns_per_host: 20,
        max_idle_conns: 32,
        max_conns_per_ip: 6,
        ..options.clone()
    };
    match kind {
        Kind::H1 => {
            let dialer = H1Dialer::new(tls).map_err(|e| e.to_string())?;
            run(dialer, exclusive, rig, start, duration).await
        }
        Kind::H2 => {
            let defaults = H2Options::default();
            let h2 = H2Options {
                tls: TlsOptions {
                    alpn: defaults.tls.alpn.clone(),
                    ..tls
                },
                ..defaults
            };
            let dialer = H2Dialer::new(h2).map_err(|e| e.to_string())?;
            run(dialer, options, rig, start, duration).await
        }
        Kind::Auto => {
            let defaults = HttpsOptions::default();
            let https = HttpsOptions {
                tls: TlsOptions {
                    alpn: defaults.tls.alpn.clone(),
                    ..tls
                },
                ..defaults
            };
            let dialer = HttpsDialer::new(https).map_err(|e| e.to_string())?;
            run(dialer, exclusive, rig, start, duration).await
        }
    }
}

impl TcpRig {
    fn busy(&self, what: Restore) -> bool {
        self.restores.iter().any(|(_, r)| *r == what)
    }

    async fn apply(&self, restore: Restore) {
        match restore {
            Restore::Fault(site, ip) => self.sites[site].proxy.set_fault(ip, Fault::Pass),
            Restore::ResetOpen(site, ip) => {
                self.sites[site].proxy.inject(ip, Fault::Reset);
            }
            Restore::Origin(site) => {
                let origin = &self.sites[site].origin;
                origin.set_ping_frozen(false);
                origin.set_delay(None);
            }
            Restore::Restart(site) => {
                if let Err(e) = self.sites[site].origin.resume_listening().await {
                    eprintln!("soak: the origin of site {site} could not listen again: {e}");
                }
            }
        }
    }
}

impl Rig for TcpRig {
    fn hosts(&self) -> Vec<(&'static str, u16)> {
        self.sites
            .iter()
            .map(|s| (s.host, s.proxy.port()))
            .collect()
    }

    fn dns(&mut self) -> &mut Dns {
        &mut self.dns
    }

    async fn inject(&mut self, rng: &mut Rng, later: Instant) -> &'static str {
        let n = rng.below(self.sites.len() as u64) as usize;
        let site = &self.sites[n];
        let target = site.ips[rng.below(u64::from(PROXIES)) as usize];
        match rng.below(13) {
            0 => {
                site.proxy.inject(target, Fault::Reset);
                "reset_open"
            }
            // A graceful reload (nginx -s reload): every connection of every address
            // drains at once (GOAWAY then close; HTTP/1.1: closed when idle).
            9 => {
                site.origin.reload();
                "reload"
            }
            // A restart: the origin stops listening (its connections closed) until later,
            // then listens again on the same address: every address fails at once.
            10 if !self.busy(Restore::Restart(n)) => {
                site.origin.stop_listening().await;
                self.restores.push((later, Restore::Restart(n)));
                "restart"
            }
            1 => {
                site.origin.goaway_all();
                "goaway_all"
            }
            2..=5 if !self.busy(Restore::Fault(n, target)) => {
                let (fault, name) = match rng.below(4) {
                    0 => (Fault::Stall, "stall_new"),
                    1 => (Fault::BlackHole, "black_hole"),
                    2 => (Fault::Refuse, "refuse"),
                    _ => (Fault::Delay(Duration::from_millis(20)), "slow_link"),
                };
                site.proxy.set_fault(target, fault);
                self.restores.push((later, Restore::Fault(n, target)));
                name
            }
            6 => {
                site.proxy
                    .inject(target, Fault::CloseAfter(100 + rng.below(4000)));
                "close_after_bytes"
            }
            7 => {
                site.proxy.inject(target, Fault::StallResponses);
                self.restores.push((later, Restore::ResetOpen(n, target)));
                "responses_held_then_reset"
            }
            8 if !self.busy(Restore::Origin(n)) => {
                self.restores.push((later, Restore::Origin(n)));
                if site.h2 {
                    site.origin.set_ping_frozen(true);
                    "pings_frozen"
                } else {
                    site.origin.set_delay(Some(Duration::from_millis(100)));
                    "slow_origin"
                }
            }
            _ => "none",
        }
    }

    async fn restore(&mut self, now: Instant, all: bool) {
        let (due, later): (Vec<_>, Vec<_>) = self
            .restores
            .drain(..)
            .partition(|(at, _)| all || *at <= now);
        self.restores = later;
        for (_, restore) in due {
            self.apply(restore).await;
        }
        self.dns.restore(now, all).await;
    }

    fn drained(&self) -> bool {
        self.sites.iter().all(|s| s.proxy.stats().open == 0)
    }

    fn report(&self) -> Vec<String> {
        self.sites
            .iter()
            .map(|s| {
                let (p, o) = (s.proxy.stats(), s.origin.stats());
                format!(
                    "{}: proxy accepted {}, resets {}, bytes up {} / down {}; origin ({}): handshakes {}, h2 {} / http1 {} connections, requests {}",
                    s.host,
                    p.accepted,
                    p.resets,
                    p.bytes_up,
                    p.bytes_down,
                    if s.h2 { "h2, http/1.1" } else { "http/1.1" },
                    o.handshakes,
                    o.h2_connections,
                    o.http1_connections,
                    o.requests
                )
            })
            .collect()
    }

    async fn shutdown(&self) {
        for site in &self.sites {
            site.proxy.shutdown().await;
            site.origin.shutdown().await;
        }
        self.dns.server.shutdown().await;
    }
}
