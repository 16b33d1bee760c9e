//! The soak's DNS server and its faults, the same for every protocol: each host's answer
//! is four of its six addresses, rotated on a change; SERVFAIL, a silent server and
//! NXDOMAIN for a while, then the current answer again.

use std::net::IpAddr;
use std::time::{Duration, Instant};

use pool_dns::{DnsOptions, NameServer};
use pool_testkit::{DnsMode, DnsServer};

use crate::load::Rng;

/// How many addresses of a host's six are in its answer.
const ANSWER: usize = 4;

/// One host the DNS server answers for.
struct Host {
    name: &'static str,
    /// Every address the host may have.
    candidates: Vec<IpAddr>,
    /// Where the answer's window starts in `candidates`.
    rotation: usize,
}

impl Host {
    fn answer(&self) -> Vec<IpAddr> {
        (0..ANSWER.min(self.candidates.len()))
            .map(|i| self.candidates[(self.rotation + i) % self.candidates.len()])
            .collect()
    }
}

/// The DNS server of a soak run, with its fault and the time it is undone.
pub(crate) struct Dns {
    pub(crate) server: DnsServer,
    hosts: Vec<Host>,
    /// A failure mode is on until then.
    restore_at: Option<Instant>,
}

impl Dns {
    /// A server for `zone` answering each host with four of its `candidates`.
    pub(crate) async fn start(
        zone: &str,
        hosts: &[(&'static str, Vec<IpAddr>)],
    ) -> Result<Dns, String> {
        let server = DnsServer::start_zone(zone)
            .await
            .map_err(|e| e.to_string())?;
        let dns = Dns {
            server,
            hosts: hosts
                .iter()
                .map(|(name, candidates)| Host {
                    name,
                    candidates: candidates.clone(),
                    rotation: 0,
                })
                .collect(),
            restore_at: None,
        };
        for host in &dns.hosts {
            dns.server
                .set_addrs(host.name, &host.answer(), 1)
                .await
                .map_err(|e| e.to_string())?;
        }
        Ok(dns)
    }

    /// The refresher's options: short TTLs, timeouts and backoff.
    pub(crate) fn options(&self) -> DnsOptions {
        DnsOptions {
            name_servers: vec![NameServer::udp(self.server.addr())],
            min_ttl: Duration::from_millis(200),
            query_timeout: Duration::from_millis(300),
            attempts: 1,
            retry_backoff: Duration::from_millis(100),
            max_retry_backoff: Duration::from_millis(500),
            ..DnsOptions::default()
        }
    }

    /// One DNS fault, or `None` while one is on: a changed answer for one host (2 in
    /// 3), else SERVFAIL, silence or NXDOMAIN for every host until `later`.
    pub(crate) async fn inject(&mut self, rng: &mut Rng, later: Instant) -> Option<&'static str> {
        if self.restore_at.is_some() {
            return None;
        }
        if rng.below(3) < 2 {
            let host = rng.below(self.hosts.len() as u64) as usize;
            let host = &mut self.hosts[host];
            host.rotation = (host.rotation + 1) % host.candidates.len();
            let _ = self.server.set_addrs(host.name, &host.answer(), 1).await;
            return Some("dns_change");
        }
        self.restore_at = Some(later);
        Some(match rng.below(3) {
            0 => {
                self.server.set_mode(DnsMode::ServFail);
                "dns_servfail"
            }
            1 => {
                self.server.set_mode(DnsMode::Silent);
                "dns_silent"
            }
            _ => {
                for host in &self.hosts {
                    let _ = self.server.remove(host.name).await;
                }
                "dns_nxdomain"
            }
        })
    }

    /// Undoes the failure mode when it is due (or now, with `all`): normal answers, the
    /// current ones.
    pub(crate) async fn restore(&mut self, now: Instant, all: bool) {
        if self.restore_at.is_none_or(|at| at > now && !all) {
            return;
        }
        self.restore_at = None;
        self.server.set_mode(DnsMode::Normal);
        for host in &self.hosts {
            let _ = self.server.set_addrs(host.name, &host.answer(), 1).await;
        }
    }
}
