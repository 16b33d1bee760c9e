//! One lookup of one address family of one host, classified from hickory's typed errors
//! (response codes and error variants, never message text) into an answer or a
//! [`FailureKind`].

use std::fmt;
use std::net::IpAddr;
use std::time::Duration;

use hickory_resolver::net::{DnsError, NetError, NoRecords};
use hickory_resolver::proto::op::ResponseCode;
use hickory_resolver::proto::rr::{RData, RecordType};

use crate::servers::{DnsResolver, is_tls};

/// An address family: A records (IPv4) or AAAA records (IPv6). Each is resolved,
/// scheduled and remembered on its own.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum IpFamily {
    /// A records.
    V4,
    /// AAAA records.
    V6,
}

impl IpFamily {
    /// Both families, IPv4 first.
    pub const ALL: [IpFamily; 2] = [IpFamily::V4, IpFamily::V6];

    /// A short, stable label (`ipv4`, `ipv6`; used in metrics and logs).
    pub fn as_str(self) -> &'static str {
        match self {
            IpFamily::V4 => "ipv4",
            IpFamily::V6 => "ipv6",
        }
    }

    /// The record type queried for this family (`A` or `AAAA`).
    pub fn record_type(self) -> &'static str {
        match self {
            IpFamily::V4 => "A",
            IpFamily::V6 => "AAAA",
        }
    }

    fn rr(self) -> RecordType {
        match self {
            IpFamily::V4 => RecordType::A,
            IpFamily::V6 => RecordType::AAAA,
        }
    }
}

impl fmt::Display for IpFamily {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} ({})", self.as_str(), self.record_type())
    }
}

/// Why a lookup did not produce addresses. The last good answer is kept in every case;
/// only [`FailureKind::NxDomain`], confirmed `nxdomain_confirmations` times in a row,
/// removes a family's addresses.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum FailureKind {
    /// The name does not exist (NXDOMAIN).
    NxDomain,
    /// The name exists but has no records of the family (NOERROR without answers:
    /// NODATA).
    NoData,
    /// The server answered SERVFAIL.
    ServFail,
    /// The server answered REFUSED (e.g. a forwarder with no upstream for the name).
    Refused,
    /// No answer within the query timeout (every attempt).
    Timeout,
    /// No name server could be reached (connection refused or reset, no route, truncated
    /// answers with no TCP fallback).
    Network,
    /// The TLS handshake with a DNS-over-TLS or DNS-over-HTTPS server failed: its
    /// certificate is not valid for the configured `tls_name`, does not chain to the
    /// trusted roots, or the handshake itself failed. Like a network failure it keeps the
    /// last good answer.
    Tls,
    /// Anything else: another response code, a malformed answer, a stopped refresher.
    Other,
}

impl FailureKind {
    /// Every kind, in a fixed order.
    pub const ALL: [FailureKind; 8] = [
        FailureKind::NxDomain,
        FailureKind::NoData,
        FailureKind::ServFail,
        FailureKind::Refused,
        FailureKind::Timeout,
        FailureKind::Network,
        FailureKind::Tls,
        FailureKind::Other,
    ];

    /// A short, stable label (used in metrics).
    pub fn as_str(self) -> &'static str {
        match self {
            FailureKind::NxDomain => "nxdomain",
            FailureKind::NoData => "nodata",
            FailureKind::ServFail => "servfail",
            FailureKind::Refused => "refused",
            FailureKind::Timeout => "timeout",
            FailureKind::Network => "network",
            FailureKind::Tls => "tls",
            FailureKind::Other => "other",
        }
    }

    /// The index of this kind in [`FailureKind::ALL`].
    pub(crate) fn index(self) -> usize {
        Self::ALL.iter().position(|k| *k == self).unwrap_or(0)
    }
}

/// A failed lookup: its kind, the family it was for, and the resolver's message.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ResolveError {
    /// What kind of failure.
    pub kind: FailureKind,
    /// The family whose lookup failed (`None` when no lookup was made).
    pub family: Option<IpFamily>,
    /// The resolver's description (not API: for logs).
    pub message: String,
}

impl fmt::Display for ResolveError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.family {
            Some(family) => write!(f, "{family}: {}: {}", self.kind.as_str(), self.message),
            None => write!(f, "{}: {}", self.kind.as_str(), self.message),
        }
    }
}

impl std::error::Error for ResolveError {}

/// The addresses of one family's successful lookup.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct Answer {
    /// Sorted, without duplicates.
    pub(crate) ips: Vec<IpAddr>,
    /// The smallest TTL among the records used.
    pub(crate) ttl: Duration,
}

/// A failed lookup and, for negative answers, how long the server says it holds.
#[derive(Clone, Debug)]
pub(crate) struct Failure {
    pub(crate) error: ResolveError,
    /// The SOA's negative TTL of an NXDOMAIN or NODATA answer.
    pub(crate) negative_ttl: Option<Duration>,
}

/// The fully qualified form of `host` (no search-domain expansion).
pub(crate) fn fqdn(host: &str) -> String {
    if host.ends_with('.') {
        host.to_owned()
    } else {
        format!("{host}.")
    }
}

/// The failure kind of a resolver error, from its variant and response code only.
pub(crate) fn classify(error: &NetError) -> FailureKind {
    match error {
        NetError::Dns(DnsError::NoRecordsFound(NoRecords { response_code, .. })) => {
            match *response_code {
                ResponseCode::NXDomain => FailureKind::NxDomain,
                ResponseCode::NoError => FailureKind::NoData,
                code => code_kind(code),
            }
        }
        NetError::Dns(DnsError::ResponseCode(code)) => code_kind(*code),
        NetError::Timeout => FailureKind::Timeout,
        NetError::Io(io) if io.kind() == std::io::ErrorKind::TimedOut => FailureKind::Timeout,
        NetError::Io(io) if is_tls(io) => FailureKind::Tls,
        NetError::Io(_) | NetError::NoConnections | NetError::Busy | NetError::Truncated => {
            FailureKind::Network
        }
        _ => FailureKind::Other,
    }
}

fn code_kind(code: ResponseCode) -> FailureKind {
    match code {
        ResponseCode::ServFail => FailureKind::ServFail,
        ResponseCode::Refused => FailureKind::Refused,
        ResponseCode::NXDomain => FailureKind::NxDomain,
        _ => FailureKind::Other,
    }
}

fn negative_ttl(error: &NetError) -> Option<Duration> {
    match error {
        NetError::Dns(DnsError::NoRecordsFound(NoRecords { negative_ttl, .. })) => {
            negative_ttl.map(|s| Duration::from_secs(u64::from(s)))
        }
        _ => None,
    }
}

/// Looks up one family of `name` (already fully qualified).
pub(crate) async fn lookup(
    resolver: &DnsResolver,
    name: &str,
    family: IpFamily,
) -> Result<Answer, Failure> {
    let tls_before = resolver.connector.tls_failures().count;
    match resolver.resolver.lookup(name, family.rr()).await {
        Ok(lookup) => {
            let mut ttl = None::<u32>;
            let mut ips = Vec::new();
            for record in lookup.answers() {
                // CNAMEs on the way count toward the TTL too.
                ttl = Some(ttl.map_or(record.ttl, |t| t.min(record.ttl)));
                match (&record.data, family) {
                    (RData::A(a), IpFamily::V4) => ips.push(IpAddr::V4(a.0)),
                    (RData::AAAA(a), IpFamily::V6) => ips.push(IpAddr::V6(a.0)),
                    _ => {}
                }
            }
            if ips.is_empty() {
                return Err(Failure {
                    error: ResolveError {
                        kind: FailureKind::NoData,
                        family: Some(family),
                        message: format!("{name} has no {} records", family.record_type()),
                    },
                    negative_ttl: None,
                });
            }
            ips.sort();
            ips.dedup();
            Ok(Answer {
                ips,
                ttl: Duration::from_secs(u64::from(ttl.unwrap_or(0))),
            })
        }
        Err(e) => {
            let mut kind = classify(&e);
            let mut message = e.to_string();
            // No server reachable while a TLS handshake failed: the handshake is why.
            let tls = resolver.connector.tls_failures();
            if kind == FailureKind::Network && tls.count != tls_before {
                kind = FailureKind::Tls;
                if let Some(last) = tls.last {
                    message = format!("{message}: TLS handshake failed: {last}");
                }
            }
            Err(Failure {
                negative_ttl: negative_ttl(&e),
                error: ResolveError {
                    kind,
                    family: Some(family),
                    message,
                },
            })
        }
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use hickory_resolver::proto::op::Query;

    use super::*;

    fn no_records(code: ResponseCode) -> NetError {
        NetError::Dns(DnsError::NoRecordsFound(NoRecords::new(Query::new(), code)))
    }

    #[test]
    fn kinds_come_from_codes_and_variants() {
        let cases = [
            (no_records(ResponseCode::NXDomain), FailureKind::NxDomain),
            (no_records(ResponseCode::NoError), FailureKind::NoData),
            (
                NetError::Dns(DnsError::ResponseCode(ResponseCode::ServFail)),
                FailureKind::ServFail,
            ),
            (
                NetError::Dns(DnsError::ResponseCode(ResponseCode::Refused)),
                FailureKind::Refused,
            ),
            (
                NetError::Dns(DnsError::ResponseCode(ResponseCode::NotImp)),
                FailureKind::Other,
            ),
            (NetError::Timeout, FailureKind::Timeout),
            (
                NetError::Io(Arc::new(std::io::ErrorKind::TimedOut.into())),
                FailureKind::Timeout,
            ),
            (
                NetError::Io(Arc::new(std::io::ErrorKind::ConnectionRefused.into())),
                FailureKind::Network,
            ),
            (NetError::NoConnections, FailureKind::Network),
            (
                NetError::Io(Arc::new(std::io::Error::new(
                    std::io::ErrorKind::InvalidData,
                    pool_rustls::rustls::Error::InvalidCertificate(
                        pool_rustls::rustls::CertificateError::NotValidForName,
                    ),
                ))),
                FailureKind::Tls,
            ),
            (
                NetError::Io(Arc::new(std::io::Error::new(
                    std::io::ErrorKind::InvalidData,
                    "certificate",
                ))),
                FailureKind::Network,
            ),
            // Text that looks like another kind changes nothing.
            (NetError::Msg("ServFail Timeout".into()), FailureKind::Other),
        ];
        for (error, kind) in cases {
            assert_eq!(classify(&error), kind, "{error:?}");
        }
    }

    #[test]
    fn every_kind_has_its_own_label_and_index() {
        for (i, kind) in FailureKind::ALL.iter().enumerate() {
            assert_eq!(kind.index(), i);
        }
        let mut labels: Vec<&str> = FailureKind::ALL.iter().map(|k| k.as_str()).collect();
        labels.sort();
        labels.dedup();
        assert_eq!(labels.len(), FailureKind::ALL.len());
    }
}
