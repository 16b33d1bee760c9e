//! An HTTP/3 alternative on another host (`alt-svc: h3="alt.example:443"`, RFC 7838; or
//! an HTTPS record's TargetName, RFC 9460): the origin's HTTP/3 stack dials the
//! alternative host's addresses, and stays the origin's in every other respect — the
//! QUIC handshake's SNI and the certificate checked are the origin's name, requests carry
//! the origin's host as their authority, and the pool is the origin's (one per
//! alternative port, `Client::hosts` shows it under the origin's name). A server that
//! cannot prove it is the origin fails the handshake, which is a transport failure: the
//! request goes over TCP and HTTP/3 is marked broken. `docs/alt-svc.md`.

use std::net::IpAddr;

use pool_config::{Config, HostConfig};
use pool_dns::{AddressSource, DnsSource};

use crate::altsvc::{AltSvcCache, Origin};
use crate::stack::HostSpec;
use crate::{ConfigOptions, Error};

/// Pins the addresses of `origin`'s alternative host into `spec` (the origin's HTTP/3
/// stack about to start: its name stays the origin's) when the alternative names another
/// host: an IP literal as it is, a name resolved once now (A and AAAA on the client's
/// name servers, bounded by their query timeout). The stack keeps these addresses until
/// it stops (idle, or HTTP/3 marked broken); the next start resolves them again. Nothing
/// changes when the alternative is on the origin's own host.
///
/// # Errors
/// The alternative's name does not resolve ([`Error::Resolve`], naming it), or the
/// resolver cannot be built ([`Error::Setup`]): the start fails, so the request goes over
/// TCP and HTTP/3 is marked broken, as for any HTTP/3 start that fails.
pub(crate) async fn pin_alternative_addrs(
    cfg: &Config,
    cache: &AltSvcCache,
    origin: &Origin,
    spec: &mut HostSpec,
) -> Result<(), Error> {
    let Some(alt_host) = cache.alternative_host(origin) else {
        return Ok(());
    };
    let ips: Vec<IpAddr> = match alt_host.parse::<IpAddr>() {
        Ok(ip) => vec![ip],
        Err(_) => {
            let source = DnsSource::new(&cfg.dns_options(), spec.port)
                .map_err(|e| Error::setup(&spec.name, format!("DNS: {e}")))?
                .resolving(alt_host.as_str());
            let resolved = source.addrs(&origin.0).await;
            let addrs = resolved.map_err(|e| Error::Resolve {
                host: alt_host.clone(),
                reason: format!("alternative service of {}: {e}", origin.0),
            })?;
            if addrs.is_empty() {
                return Err(Error::Resolve {
                    host: alt_host,
                    reason: format!("alternative service of {}: no addresses", origin.0),
                });
            }
            addrs.into_iter().map(|a| a.ip()).collect()
        }
    };
    tracing::debug!(host = %origin.0, alternative = %alt_host, ?ips, "HTTP/3 alternative on another host");
    spec.entry
        .get_or_insert_with(|| HostConfig::new(&spec.name))
        .addrs = Some(ips);
    Ok(())
}
