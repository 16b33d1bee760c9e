//! One resolution of one host: A and/or AAAA lookups, classified into an answer or a
//! failure kind.

use std::fmt;
use std::net::IpAddr;
use std::time::Duration;

use hickory_resolver::TokioResolver;
use hickory_resolver::config::{ConnectionConfig, NameServerConfig, ResolverConfig};
use hickory_resolver::net::runtime::TokioRuntimeProvider;
use hickory_resolver::net::{DnsError, NetError};
use hickory_resolver::proto::op::ResponseCode;
use hickory_resolver::proto::rr::{RData, RecordType};

use crate::{DnsOptions, DnsProtocol, IpPreference};

/// Why a resolution did not produce addresses. The last good answer is kept in every case.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum FailureKind {
    /// The name does not exist (NXDOMAIN).
    NxDomain,
    /// The server answered SERVFAIL.
    ServFail,
    /// No answer within the query timeout (every attempt).
    Timeout,
    /// The name exists but has no address of the wanted families.
    Empty,
    /// Anything else: refused, malformed, no connection to any name server.
    Other,
}

impl FailureKind {
    /// Every kind, in a fixed order.
    pub const ALL: [FailureKind; 5] = [
        FailureKind::NxDomain,
        FailureKind::ServFail,
        FailureKind::Timeout,
        FailureKind::Empty,
        FailureKind::Other,
    ];

    /// A short, stable label (used in metrics).
    pub fn as_str(self) -> &'static str {
        match self {
            FailureKind::NxDomain => "nxdomain",
            FailureKind::ServFail => "servfail",
            FailureKind::Timeout => "timeout",
            FailureKind::Empty => "empty",
            FailureKind::Other => "other",
        }
    }
}

/// A failed resolution: its kind and the resolver's message.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ResolveError {
    /// What kind of failure.
    pub kind: FailureKind,
    /// The resolver's description (not API: for logs).
    pub message: String,
}

impl fmt::Display for ResolveError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {}", self.kind.as_str(), self.message)
    }
}

impl std::error::Error for ResolveError {}

/// The resolver could not be built (bad system configuration).
#[derive(Debug)]
pub struct SetupError(pub(crate) String);

impl fmt::Display for SetupError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "cannot set up the DNS resolver: {}", self.0)
    }
}

impl std::error::Error for SetupError {}

/// The addresses of one successful resolution.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct Answer {
    /// Sorted, without duplicates.
    pub(crate) ips: Vec<IpAddr>,
    /// The smallest TTL among the records used.
    pub(crate) ttl: Duration,
}

/// What one family's lookup gave.
enum Family {
    Found(Vec<IpAddr>, Duration),
    /// NOERROR without records (NODATA).
    NoData,
    Failed(ResolveError),
}

pub(crate) fn build_resolver(options: &DnsOptions) -> Result<TokioResolver, SetupError> {
    let mut builder = if options.name_servers.is_empty() {
        TokioResolver::builder_tokio().map_err(|e| SetupError(e.to_string()))?
    } else {
        let servers = options
            .name_servers
            .iter()
            .map(|ns| {
                let mut conn = match ns.protocol {
                    DnsProtocol::Udp => ConnectionConfig::udp(),
                    DnsProtocol::Tcp => ConnectionConfig::tcp(),
                };
                conn.port = ns.addr.port();
                NameServerConfig::new(ns.addr.ip(), true, vec![conn])
            })
            .collect();
        TokioResolver::builder_with_config(
            ResolverConfig::from_parts(None, vec![], servers),
            TokioRuntimeProvider::default(),
        )
    };
    let opts = builder.options_mut();
    // The refresher schedules re-resolution from the TTL itself: a cache would only
    // answer the refresh with the record it is meant to replace.
    opts.cache_size = 0;
    opts.timeout = options.query_timeout;
    opts.attempts = options.attempts.max(1);
    builder.build().map_err(|e| SetupError(e.to_string()))
}

/// The fully qualified form of `host` (no search-domain expansion).
pub(crate) fn fqdn(host: &str) -> String {
    if host.ends_with('.') {
        host.to_owned()
    } else {
        format!("{host}.")
    }
}

fn classify(error: &NetError) -> FailureKind {
    if error.is_nx_domain() {
        return FailureKind::NxDomain;
    }
    match error {
        NetError::Timeout => FailureKind::Timeout,
        NetError::Io(io) if io.kind() == std::io::ErrorKind::TimedOut => FailureKind::Timeout,
        NetError::Dns(DnsError::ResponseCode(ResponseCode::ServFail)) => FailureKind::ServFail,
        _ => {
            // Name-server pools wrap per-server errors; fall back to the description.
            let text = format!("{error:?}");
            if text.contains("ServFail") {
                FailureKind::ServFail
            } else if text.contains("Timeout") || text.contains("timed out") {
                FailureKind::Timeout
            } else {
                FailureKind::Other
            }
        }
    }
}

async fn lookup_family(resolver: &TokioResolver, name: &str, record_type: RecordType) -> Family {
    match resolver.lookup(name, record_type).await {
        Ok(lookup) => {
            let mut ttl = None::<u32>;
            let mut ips = Vec::new();
            for record in lookup.answers() {
                let ip = match &record.data {
                    RData::A(a) => IpAddr::V4(a.0),
                    RData::AAAA(a) => IpAddr::V6(a.0),
                    // CNAMEs on the way count toward the TTL too.
                    _ => {
                        ttl = Some(ttl.map_or(record.ttl, |t| t.min(record.ttl)));
                        continue;
                    }
                };
                ttl = Some(ttl.map_or(record.ttl, |t| t.min(record.ttl)));
                ips.push(ip);
            }
            if ips.is_empty() {
                Family::NoData
            } else {
                Family::Found(ips, Duration::from_secs(u64::from(ttl.unwrap_or(0))))
            }
        }
        Err(e) if e.is_no_records_found() && !e.is_nx_domain() => Family::NoData,
        Err(e) => Family::Failed(ResolveError {
            kind: classify(&e),
            message: e.to_string(),
        }),
    }
}

fn answer(found: Vec<(Vec<IpAddr>, Duration)>) -> Answer {
    let ttl = found.iter().map(|(_, t)| *t).min().unwrap_or_default();
    let mut ips: Vec<IpAddr> = found.into_iter().flat_map(|(ips, _)| ips).collect();
    ips.sort();
    ips.dedup();
    Answer { ips, ttl }
}

fn empty(host: &str) -> ResolveError {
    ResolveError {
        kind: FailureKind::Empty,
        message: format!("{host} has no address records"),
    }
}

/// Resolves `host` (already fully qualified) by `prefer`.
pub(crate) async fn resolve(
    resolver: &TokioResolver,
    host: &str,
    prefer: IpPreference,
) -> Result<Answer, ResolveError> {
    let (first, second) = match prefer {
        IpPreference::Ipv4 => (RecordType::A, None),
        IpPreference::Ipv6 => (RecordType::AAAA, None),
        IpPreference::PreferIpv4 => (RecordType::A, Some(RecordType::AAAA)),
        IpPreference::PreferIpv6 => (RecordType::AAAA, Some(RecordType::A)),
        IpPreference::Both => {
            let (v4, v6) = tokio::join!(
                lookup_family(resolver, host, RecordType::A),
                lookup_family(resolver, host, RecordType::AAAA)
            );
            return combine_both(host, v4, v6);
        }
    };
    match lookup_family(resolver, host, first).await {
        Family::Found(ips, ttl) => return Ok(answer(vec![(ips, ttl)])),
        Family::Failed(e) if e.kind != FailureKind::NxDomain || second.is_none() => {
            return Err(e);
        }
        Family::Failed(_) | Family::NoData => {}
    }
    let Some(second) = second else {
        return Err(empty(host));
    };
    match lookup_family(resolver, host, second).await {
        Family::Found(ips, ttl) => Ok(answer(vec![(ips, ttl)])),
        Family::NoData => Err(empty(host)),
        Family::Failed(e) => Err(e),
    }
}

/// Both families wanted: any transient failure fails the whole resolution (so a lost
/// AAAA answer never drains the IPv6 connections); NXDOMAIN next to records of the other
/// family counts as no data.
fn combine_both(host: &str, v4: Family, v6: Family) -> Result<Answer, ResolveError> {
    let mut found = Vec::new();
    let mut nx = None;
    for family in [v4, v6] {
        match family {
            Family::Found(ips, ttl) => found.push((ips, ttl)),
            Family::NoData => {}
            Family::Failed(e) if e.kind == FailureKind::NxDomain => nx = Some(e),
            Family::Failed(e) => return Err(e),
        }
    }
    if !found.is_empty() {
        return Ok(answer(found));
    }
    Err(nx.unwrap_or_else(|| empty(host)))
}
