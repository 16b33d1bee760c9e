//! Looking into a [`Client`]'s running hosts: [`Client::host_handle`] starts (or finds) a
//! host's pool and returns a [`HostHandle`] showing its addresses, DNS state, pool
//! statistics and connections, warming it with per-address progress, and timing a
//! request on a fresh connection; [`Client::polite`] shows the pacing, throttles and
//! status retries. What the `hotpool` CLI's `warm`, `bench` and `demo` report.

use std::net::{IpAddr, SocketAddr};
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use http::{Request, Response};
use http_body_util::Full;
use pool_core::{ConnInfo, PoolOptions, Stats, WarmProgress, WarmReport};
#[cfg(feature = "dns")]
use pool_dns::FamilyStatus;
use pool_http::{Polite, RequestError};

use crate::hosts::HostPool;
use crate::{Client, Error};

/// One running host of a [`Client`] ([`Client::host_handle`]): its pool's state, a
/// warm-up with progress, a request on a fresh connection. Cheap to clone; it keeps the
/// host's pool alive but does not keep the host from being stopped when idle (or by
/// [`Client::close`]).
#[derive(Clone)]
pub struct HostHandle {
    pool: Arc<dyn HostPool>,
    host: String,
    port: u16,
}

impl std::fmt::Debug for HostHandle {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("HostHandle")
            .field("host", &self.host)
            .field("port", &self.port)
            .field("transport", &self.pool.transport())
            .finish_non_exhaustive()
    }
}

impl HostHandle {
    /// The host name.
    #[must_use]
    pub fn host(&self) -> &str {
        &self.host
    }

    /// The port dialed.
    #[must_use]
    pub fn port(&self) -> u16 {
        self.port
    }

    /// The transport (`auto`, `h2`, `h1`, `h3`).
    #[must_use]
    pub fn transport(&self) -> &'static str {
        self.pool.transport()
    }

    /// The addresses the host resolved to (or its static list).
    #[must_use]
    pub fn addrs(&self) -> Vec<SocketAddr> {
        self.pool.addrs()
    }

    /// Each resolved address family's DNS state (empty for a host with static addresses).
    #[must_use]
    #[cfg(feature = "dns")]
    pub fn dns_families(&self) -> Vec<FamilyStatus> {
        self.pool.dns_families()
    }

    /// The pool's statistics (leases, dials, connections, bans); with several proxies,
    /// the first egress's ([`HostHandle::egress_stats`] has each).
    #[must_use]
    pub fn stats(&self) -> Stats {
        self.pool
            .egress_stats()
            .into_iter()
            .next()
            .map(|(_, stats)| stats)
            .unwrap_or_default()
    }

    /// Each egress's label (`direct`, or the proxy's `scheme://host:port`) and statistics.
    #[must_use]
    pub fn egress_stats(&self) -> Vec<(String, Stats)> {
        self.pool.egress_stats()
    }

    /// The open connections, through every egress.
    #[must_use]
    pub fn connections(&self) -> Vec<ConnInfo> {
        self.pool.connections()
    }

    /// Whether `ip` is on the dynamic blacklist (a ban learnt from the fleet included).
    #[must_use]
    pub fn blacklisted(&self, ip: IpAddr) -> bool {
        self.pool.blacklisted(ip)
    }

    /// The options the pool runs with (limits resolved for the transport).
    #[must_use]
    pub fn options(&self) -> &PoolOptions {
        self.pool.options()
    }

    /// Dials every allowed address without a connection (within the limits), through
    /// every egress, calling `progress` after each dial; the reports summed.
    pub async fn warm_with_progress(
        &self,
        mut progress: impl FnMut(&WarmProgress) + Send,
    ) -> WarmReport {
        self.pool.warm_with_progress(&mut progress).await
    }

    /// Warms the host ([`HostHandle::warm_with_progress`]) within `limit`.
    ///
    /// # Errors
    /// The warm-up did not finish in time ([`RequestError::Timeout`], naming the host).
    pub async fn wait_warm(&self, limit: Duration) -> Result<WarmReport, Error> {
        tokio::time::timeout(limit, self.warm_with_progress(|_| {}))
            .await
            .map_err(|_| Error::Request {
                url: self.host.clone(),
                source: RequestError::Timeout(limit),
            })
    }

    /// `request` (its URI: path and query) on a new connection to `addr` made with the
    /// pool's dialer (same TLS settings, session resumption included), the body read
    /// whole, the connection closed: a request as a client without a pool sends it. Not
    /// counted in the pool's statistics.
    ///
    /// # Errors
    /// The dial or the request failed, or took longer than `limit`.
    pub async fn send_fresh(
        &self,
        addr: SocketAddr,
        request: Request<Bytes>,
        limit: Duration,
    ) -> Result<Response<Bytes>, RequestError> {
        self.pool
            .send_fresh(addr, request.map(Full::new), limit)
            .await
    }
}

impl Client {
    /// The running host of `url` (`https://host[:port]`, `http://…`; a path is ignored),
    /// started if it is not yet (resolved, its helpers running; its addresses dialed in
    /// the background unless the client's [`WarmPolicy`](crate::WarmPolicy) is
    /// `OnDemand`).
    ///
    /// # Errors
    /// A URL that cannot be requested, or a host that cannot be set up or resolved.
    pub async fn host_handle(&self, url: &str) -> Result<HostHandle, Error> {
        let uri: http::Uri = url
            .parse()
            .map_err(|e| Error::url(url, format!("not a URL: {e}")))?;
        let (key, _) = crate::client::target(&uri, url)?;
        let pool = self.host(&key, url).await?;
        Ok(HostHandle {
            pool,
            host: key.host,
            port: key.port,
        })
    }

    /// The client's pacing, adaptation and status retries, with their counters
    /// ([`Polite::stats`]; each host's rate and waits: `polite().rates()`).
    #[must_use]
    pub fn polite(&self) -> &Polite {
        &self.inner.polite
    }
}
