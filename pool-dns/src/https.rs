//! A host's HTTPS records (RFC 9460: the SVCB-compatible type 65): which protocols the
//! origin offers (`alpn`: `h3`, `h2`, …), on which port, and address hints, looked up with
//! the same resolver, deadline and typed errors as the host's A and AAAA records.
//!
//! The lookup only reads the records; what to do with them (HTTP/3 from the first request)
//! is the client's (`hotpool`, `docs/alt-svc.md`).

use std::net::{Ipv4Addr, Ipv6Addr};
use std::time::Duration;

use hickory_resolver::proto::rr::RData;
use hickory_resolver::proto::rr::RecordType;
use hickory_resolver::proto::rr::rdata::svcb::{SVCB, SvcParamKey, SvcParamValue};

use crate::resolve::{FailureKind, ResolveError, classify, fqdn};
use crate::servers::{DnsResolver, build_resolver};
use crate::{DnsOptions, SetupError};

/// The ALPN id every HTTPS service supports unless it says `no-default-alpn`
/// (RFC 9460 §7.1.2).
pub const DEFAULT_ALPN: &str = "http/1.1";

/// One ServiceMode HTTPS record: an endpoint of the origin and what it offers.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct HttpsService {
    /// SvcPriority (1 and up; a smaller one is preferred).
    pub priority: u16,
    /// The endpoint's host name: `None` when the record's TargetName is `.`, the origin
    /// itself (the usual case); otherwise another name, fully qualified, without the
    /// trailing dot.
    pub target: Option<String>,
    /// The `alpn` ids, in the record's order.
    pub alpn: Vec<String>,
    /// `no-default-alpn`: the endpoint does not offer [`DEFAULT_ALPN`].
    pub no_default_alpn: bool,
    /// `port`: the endpoint's port (`None`: the origin's).
    pub port: Option<u16>,
    /// `ipv4hint` (RFC 9460 §7.3: a client with the A records uses those instead).
    pub ipv4_hints: Vec<Ipv4Addr>,
    /// `ipv6hint`.
    pub ipv6_hints: Vec<Ipv6Addr>,
}

impl HttpsService {
    /// Whether the endpoint offers the ALPN id `protocol` (`h3`, `h2`, `http/1.1`).
    #[must_use]
    pub fn offers(&self, protocol: &str) -> bool {
        self.alpn.iter().any(|a| a == protocol)
            || (protocol == DEFAULT_ALPN && !self.no_default_alpn)
    }
}

/// The HTTPS records of an origin.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct HttpsRecords {
    /// The name queried (`host.` for port 443, `_PORT._https.host.` otherwise).
    pub name: String,
    /// The AliasMode target (SvcPriority 0), if the set is an alias: the origin is served
    /// under that name (its ServiceMode records, if any, are then ignored: RFC 9460
    /// §2.4.2). Not followed by this lookup.
    pub alias: Option<String>,
    /// The ServiceMode records the client can use, by priority (records naming a
    /// `mandatory` key this crate does not read are left out: RFC 9460 §8).
    pub services: Vec<HttpsService>,
    /// The smallest TTL of the records used.
    pub ttl: Duration,
}

impl HttpsRecords {
    /// The preferred service on the origin's own host (TargetName `.` or the host itself)
    /// that offers `protocol`.
    #[must_use]
    pub fn on_origin(&self, host: &str, protocol: &str) -> Option<&HttpsService> {
        let host = host.trim_end_matches('.');
        self.services.iter().find(|s| {
            s.offers(protocol)
                && s.target
                    .as_deref()
                    .is_none_or(|t| t.eq_ignore_ascii_case(host))
        })
    }
}

/// The name whose HTTPS records describe `https://host:port` (RFC 9460 §9.1): `host.` for
/// port 443, `_PORT._https.host.` for any other.
#[must_use]
pub fn https_query_name(host: &str, port: u16) -> String {
    let host = fqdn(host);
    if port == 443 {
        host
    } else {
        format!("_{port}._https.{host}")
    }
}

/// Keys whose meaning this crate reads: a record making another key `mandatory` is
/// skipped (`ech` included: no Encrypted ClientHello here).
fn understood(key: SvcParamKey) -> bool {
    matches!(
        key,
        SvcParamKey::Mandatory
            | SvcParamKey::Alpn
            | SvcParamKey::NoDefaultAlpn
            | SvcParamKey::Port
            | SvcParamKey::Ipv4Hint
            | SvcParamKey::Ipv6Hint
    )
}

/// One ServiceMode record as a service (`None`: it needs a key this crate ignores).
fn service(record: &SVCB) -> Option<HttpsService> {
    let target = record.target_name.to_ascii();
    let target = target.trim_end_matches('.');
    let mut out = HttpsService {
        priority: record.svc_priority,
        target: (!target.is_empty()).then(|| target.to_ascii_lowercase()),
        alpn: Vec::new(),
        no_default_alpn: false,
        port: None,
        ipv4_hints: Vec::new(),
        ipv6_hints: Vec::new(),
    };
    for (_, value) in &record.svc_params {
        match value {
            SvcParamValue::Mandatory(keys) if !keys.0.iter().all(|k| understood(*k)) => {
                return None;
            }
            SvcParamValue::Alpn(alpn) => out.alpn.clone_from(&alpn.0),
            SvcParamValue::NoDefaultAlpn => out.no_default_alpn = true,
            SvcParamValue::Port(port) => out.port = Some(*port),
            SvcParamValue::Ipv4Hint(hints) => {
                out.ipv4_hints = hints.0.iter().map(|a| a.0).collect()
            }
            SvcParamValue::Ipv6Hint(hints) => {
                out.ipv6_hints = hints.0.iter().map(|a| a.0).collect()
            }
            _ => {}
        }
    }
    Some(out)
}

/// The records of an answer: AliasMode wins over ServiceMode, services sorted by priority.
pub(crate) fn records<'a>(
    name: &str,
    answers: impl IntoIterator<Item = (&'a RData, u32)>,
) -> HttpsRecords {
    let mut out = HttpsRecords {
        name: name.to_owned(),
        alias: None,
        services: Vec::new(),
        ttl: Duration::ZERO,
    };
    let mut ttl = None::<u32>;
    for (data, record_ttl) in answers {
        // CNAMEs on the way count toward the TTL too.
        ttl = Some(ttl.map_or(record_ttl, |t| t.min(record_ttl)));
        let RData::HTTPS(https) = data else { continue };
        if https.svc_priority == 0 {
            let target = https.target_name.to_ascii();
            out.alias = Some(target.trim_end_matches('.').to_ascii_lowercase());
        } else if let Some(service) = service(&https.0) {
            out.services.push(service);
        }
    }
    if out.alias.is_some() {
        out.services.clear();
    }
    out.services.sort_by_key(|s| s.priority);
    out.ttl = Duration::from_secs(u64::from(ttl.unwrap_or(0)));
    out
}

/// How long one HTTPS lookup may take: every attempt's query timeout.
fn deadline(options: &DnsOptions) -> Duration {
    options
        .query_timeout
        .saturating_mul(u32::try_from(options.attempts.max(1)).unwrap_or(u32::MAX))
}

/// Looks up the HTTPS records of `https://host:port`, within `limit`.
pub(crate) async fn lookup_https(
    resolver: &DnsResolver,
    host: &str,
    port: u16,
    limit: Duration,
) -> Result<HttpsRecords, ResolveError> {
    let name = https_query_name(host, port);
    let failed = |kind: FailureKind, message: String| ResolveError {
        kind,
        family: None,
        message: format!("HTTPS records of {name}: {message}"),
    };
    let lookup = tokio::time::timeout(
        limit,
        resolver.resolver.lookup(name.as_str(), RecordType::HTTPS),
    );
    match lookup.await {
        Err(_) => Err(failed(
            FailureKind::Timeout,
            format!("no answer within {limit:?}"),
        )),
        Ok(Err(e)) => Err(failed(classify(&e), e.to_string())),
        Ok(Ok(lookup)) => {
            let records = records(&name, lookup.answers().iter().map(|r| (&r.data, r.ttl)));
            if records.alias.is_none() && records.services.is_empty() {
                return Err(failed(FailureKind::NoData, "no usable record".to_owned()));
            }
            Ok(records)
        }
    }
}

/// Looks up origins' HTTPS records on its own resolver, built from [`DnsOptions`] like a
/// [`DnsRefresher`](crate::DnsRefresher)'s (the same name servers, UDP, TCP, DoT or DoH,
/// trust, query timeout and attempts), for a caller that wants the records before (or
/// while) a host's refresher starts. Cheap to clone (the resolver is shared).
#[derive(Clone, Debug)]
pub struct HttpsLookup {
    resolver: DnsResolver,
    limit: Duration,
}

impl HttpsLookup {
    /// A lookup on `options`' name servers.
    ///
    /// # Errors
    /// The resolver cannot be built ([`SetupError`]).
    pub fn new(options: &DnsOptions) -> Result<Self, SetupError> {
        Ok(Self {
            resolver: build_resolver(options)?,
            limit: deadline(options),
        })
    }

    /// The HTTPS records of `https://host:port` (queried as [`https_query_name`]).
    ///
    /// # Errors
    /// Typed like an address lookup ([`ResolveError`], `family: None`): no records is
    /// [`FailureKind::NoData`] (or `NxDomain` when the `_PORT._https` name does not
    /// exist), no answer within every attempt's `query_timeout` is
    /// [`FailureKind::Timeout`].
    pub async fn lookup(&self, host: &str, port: u16) -> Result<HttpsRecords, ResolveError> {
        lookup_https(&self.resolver, host, port, self.limit).await
    }
}

impl crate::DnsRefresher {
    /// The HTTPS records of `https://host:port`, on this refresher's resolver (see
    /// [`HttpsLookup::lookup`]).
    ///
    /// # Errors
    /// As [`HttpsLookup::lookup`].
    pub async fn lookup_https(&self, host: &str, port: u16) -> Result<HttpsRecords, ResolveError> {
        let (resolver, options) = self.resolver();
        lookup_https(resolver, host, port, deadline(options)).await
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rdata(text: &str) -> RData {
        RData::try_from_str(RecordType::HTTPS, text).unwrap()
    }

    #[test]
    fn query_names_follow_rfc_9460() {
        assert_eq!(https_query_name("a.test", 443), "a.test.");
        assert_eq!(https_query_name("a.test.", 8443), "_8443._https.a.test.");
    }

    #[test]
    fn services_are_read_and_sorted() {
        let answers = [
            (rdata("2 alt.a.test. alpn=h2 port=8443"), 300),
            (
                rdata("1 . alpn=h3,h2 port=4433 ipv4hint=127.0.0.2,127.0.0.3 ipv6hint=::1"),
                60,
            ),
        ];
        let r = records("a.test.", answers.iter().map(|(d, t)| (d, *t)));
        assert_eq!(r.ttl, Duration::from_secs(60));
        assert_eq!(r.alias, None);
        assert_eq!(r.services.len(), 2);
        let first = &r.services[0];
        assert_eq!(first.priority, 1);
        assert_eq!(first.target, None);
        assert_eq!(first.alpn, ["h3", "h2"]);
        assert_eq!(first.port, Some(4433));
        assert_eq!(first.ipv4_hints.len(), 2);
        assert_eq!(first.ipv6_hints, [Ipv6Addr::LOCALHOST]);
        assert!(first.offers("h3") && first.offers("http/1.1"));
        assert_eq!(r.services[1].target.as_deref(), Some("alt.a.test"));
        assert_eq!(r.on_origin("a.test", "h3"), Some(first));
        // h2 on another host only from the second record; the first offers h2 too.
        assert_eq!(r.on_origin("a.test", "h2"), Some(first));
        assert_eq!(r.on_origin("b.test", "h3"), Some(first), "`.` is the owner");
    }

    #[test]
    fn an_alias_set_hides_service_records_and_unknown_mandatory_keys_skip_a_record() {
        let answers = [
            (rdata("0 cdn.example.test."), 30),
            (rdata("1 . alpn=h3"), 30),
        ];
        let r = records("a.test.", answers.iter().map(|(d, t)| (d, *t)));
        assert_eq!(r.alias.as_deref(), Some("cdn.example.test"));
        assert!(r.services.is_empty());

        let answers = [
            (rdata("1 . mandatory=ech alpn=h3 ech=AEX+DQBBpQAgACA="), 30),
            (rdata("2 . alpn=h2 no-default-alpn"), 30),
        ];
        let r = records("a.test.", answers.iter().map(|(d, t)| (d, *t)));
        assert_eq!(r.services.len(), 1);
        assert_eq!(r.on_origin("a.test", "h3"), None);
        assert!(!r.services[0].offers("http/1.1"));
        assert!(r.services[0].offers("h2"));
    }
}
