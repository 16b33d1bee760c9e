//! A client's running hosts: one [`HostStack`] per (scheme, host, port) behind the
//! [`HostPool`] trait (whatever its dialer), the slot each is started in on first use, and
//! what [`Client::hosts`](crate::Client::hosts) and the idle-host sweeper read of them.

use std::collections::HashMap;
use std::future::Future;
use std::net::{IpAddr, SocketAddr};
use std::pin::Pin;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use bytes::Bytes;
use http::Request;
use http_body_util::BodyExt as _;
use pool_config::Config;
use pool_core::{ConnInfo, Dialer, PoolOptions, Stats, Target, WarmProgress, WarmReport};
#[cfg(feature = "dns")]
use pool_dns::FamilyStatus;
use pool_http::{Full, HttpConnection, RequestError};
use tokio::sync::OnceCell;
use tokio::time::Instant;

use crate::stack::{self, HostSpec, HostStack};
use crate::{Body, Error, Response};

pub(crate) type BoxFuture<'a, T> = Pin<Box<dyn Future<Output = T> + Send + 'a>>;

/// One host's running pool, whatever its dialer.
pub(crate) trait HostPool: Inspect {
    /// Sends `request` (its URI: path and query) with the pool's retry policy, through the
    /// egress labelled `via` if given (`None` when the host has no such egress).
    fn send<'a>(
        &'a self,
        request: Request<Full<Bytes>>,
        via: Option<&'a str>,
    ) -> Option<BoxFuture<'a, Result<Response, RequestError>>>;
    /// Stops the host's helpers and closes its pool.
    fn stop(&self) -> BoxFuture<'_, ()>;
    /// Dials the host's addresses (every one with `all`, else one connection at most);
    /// whether a connection could be had after.
    fn warm(&self, all: bool) -> BoxFuture<'_, bool>;
    /// Whether a lease is out (a request or a response body in flight).
    fn busy(&self) -> bool;
    /// The transport's name (`auto`, `h2`, `h1`, `h3`).
    fn transport(&self) -> &'static str;
    /// Whether the host's requests may move to HTTP/3 learned from Alt-Svc.
    fn alt_svc(&self) -> bool;
}

/// A [`HostStack`] and the host name its requests go to.
pub(crate) struct Running<D: Dialer> {
    pub(crate) host: String,
    pub(crate) stack: HostStack<D>,
    /// Whether Alt-Svc may move the host's requests to HTTP/3 (`alt_svc_applies` in `client.rs`).
    pub(crate) alt_svc: bool,
    /// The client's pacing, adaptation and status retries.
    pub(crate) polite: Arc<pool_http::Polite>,
}

impl<D> HostPool for Running<D>
where
    D: Dialer<Conn: HttpConnection> + 'static,
{
    fn send<'a>(
        &'a self,
        request: Request<Full<Bytes>>,
        via: Option<&'a str>,
    ) -> Option<BoxFuture<'a, Result<Response, RequestError>>> {
        let stack = &self.stack;
        let (host, options, polite) = (&self.host, &stack.request, &*self.polite);
        Some(match via {
            None => Box::pin(async move {
                let response =
                    pool_http::send_polite(&stack.pools, polite, host, request, options).await?;
                Ok(response.map(Body::new))
            }),
            Some(label) => {
                let (_, pool) = stack.egresses.iter().find(|(l, _)| l == label)?;
                Box::pin(async move {
                    let response =
                        pool_http::send_polite(pool, polite, host, request, options).await?;
                    Ok(response.map(Body::new))
                })
            }
        })
    }

    fn stop(&self) -> BoxFuture<'_, ()> {
        Box::pin(self.stack.stop())
    }

    fn warm(&self, all: bool) -> BoxFuture<'_, bool> {
        Box::pin(async move {
            if all {
                self.stack.warm_with_progress(&self.host, |_| {}).await;
            }
            // A lease (dropped at once) proves a connection: it waits for a dial the DNS
            // refresh's warming may have in flight (`checkout_timeout` at most).
            self.stack.pool.get(&self.host).await.is_ok()
        })
    }

    fn busy(&self) -> bool {
        self.stack.egresses.iter().any(|(_, p)| {
            let stats = p.stats();
            stats.leases_out > 0 || stats.waiters > 0
        })
    }

    fn transport(&self) -> &'static str {
        self.stack.transport
    }

    fn alt_svc(&self) -> bool {
        self.alt_svc
    }
}

/// Which pool a URL goes to: one per (scheme, host, port), and one per HTTP/3
/// alternative learned from Alt-Svc.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub(crate) struct HostKey {
    /// `https` (true) or `http`.
    pub(crate) tls: bool,
    pub(crate) host: String,
    pub(crate) port: u16,
    /// An HTTP/3 stack learned from Alt-Svc (`port`: the alternative's) for the origin on
    /// this port.
    pub(crate) alt_of: Option<u16>,
}

/// A host's pool, started once by the first request that needs it (concurrent first
/// requests wait for the same start; a failed start is tried again by the next request),
/// and when a request last took it (for [`ClientBuilder::idle_host_timeout`](crate::ClientBuilder::idle_host_timeout)).
pub(crate) struct HostSlot {
    pub(crate) pool: OnceCell<Arc<dyn HostPool>>,
    pub(crate) last_used: Mutex<Instant>,
}

/// How a host's addresses are dialed when the host starts ([`ClientBuilder::warm`](crate::ClientBuilder::warm)).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
#[non_exhaustive]
pub enum WarmPolicy {
    /// Every address the host resolves to gets a connection in the background as soon as
    /// the host starts (and new ones as DNS gives them), and the configured `[[hosts]]` are
    /// started and warmed when the client is built: later requests find hot connections.
    #[default]
    AllAddresses,
    /// One-shot use: a host's first request dials only the connection it needs; nothing is
    /// dialed in the background (no warming of other addresses, of new DNS answers, of an
    /// HTTP/3 alternative beyond its first connection, nor of `[[hosts]]` at build time).
    OnDemand,
}

/// How long a host's pool is kept without a request, by default.
pub const DEFAULT_IDLE_HOST_TIMEOUT: Duration = Duration::from_secs(10 * 60);

/// One running host of a [`Client`](crate::Client) ([`Client::hosts`](crate::Client::hosts)).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct HostInfo {
    /// `https` or `http`.
    pub scheme: &'static str,
    /// The host name.
    pub host: String,
    /// The port dialed.
    pub port: u16,
    /// The transport (`auto`, `h2`, `h1`, `h3`).
    pub transport: &'static str,
    /// For an HTTP/3 stack learned from Alt-Svc: the origin's port (its requests were
    /// sent to `https://host:origin_port`).
    pub alt_svc_for: Option<u16>,
    /// How long since a request last took it.
    pub idle: Duration,
}

/// What every host's start shares: the config, pacing and warming policy.
pub(crate) struct StartWith<'a> {
    pub(crate) cfg: &'a Config,
    pub(crate) polite: &'a Arc<pool_http::Polite>,
    pub(crate) warm: WarmPolicy,
}

/// Starts `spec`'s stack with `dialers`, new addresses warmed in the background unless
/// the policy is [`WarmPolicy::OnDemand`]; `alt_svc`: whether Alt-Svc may move its
/// requests to HTTP/3.
pub(crate) async fn running<D>(
    with: &StartWith<'_>,
    dialers: stack::Dialers<D>,
    spec: &HostSpec,
    alt_svc: bool,
) -> Result<Arc<dyn HostPool>, Error>
where
    D: Dialer<Conn: HttpConnection> + 'static,
{
    let warm = with.warm == WarmPolicy::AllAddresses;
    let stack = HostStack::start(with.cfg, dialers, spec, warm).await?;
    Ok(Arc::new(Running {
        host: spec.name.clone(),
        stack,
        alt_svc,
        polite: with.polite.clone(),
    }))
}

/// A copy of `request` (its body is shared bytes).
pub(crate) fn copy(request: &Request<Bytes>) -> Request<Bytes> {
    let mut out = Request::new(request.body().clone());
    *out.method_mut() = request.method().clone();
    *out.uri_mut() = request.uri().clone();
    *out.version_mut() = request.version();
    *out.headers_mut() = request.headers().clone();
    *out.extensions_mut() = request.extensions().clone();
    out
}

/// `request` on `pool` (through the egress `via`), its errors naming `url`.
pub(crate) async fn send_on(
    pool: &dyn HostPool,
    request: Request<Bytes>,
    via: Option<&str>,
    url: String,
) -> Result<Response, Error> {
    let request = request.map(Full::new);
    let Some(sending) = pool.send(request, via) else {
        let egress = via.unwrap_or_default().to_owned();
        return Err(Error::Egress { url, egress });
    };
    sending
        .await
        .map_err(|source| Error::Request { url, source })
}

/// What [`Client::hosts`](crate::Client::hosts) shows of `hosts`.
pub(crate) fn infos(hosts: &HashMap<HostKey, Arc<HostSlot>>) -> Vec<HostInfo> {
    let now = Instant::now();
    let mut out: Vec<HostInfo> = hosts
        .iter()
        .filter_map(|(key, slot)| {
            let pool = slot.pool.get()?;
            Some(HostInfo {
                scheme: if key.tls { "https" } else { "http" },
                host: key.host.clone(),
                port: key.port,
                transport: pool.transport(),
                alt_svc_for: key.alt_of,
                idle: now.saturating_duration_since(slot.last_used()),
            })
        })
        .collect();
    out.sort_by(|a, b| (&a.host, a.port).cmp(&(&b.host, b.port)));
    out
}

impl Default for HostSlot {
    /// An empty slot, used now.
    fn default() -> Self {
        Self {
            pool: OnceCell::new(),
            last_used: Mutex::new(Instant::now()),
        }
    }
}

impl HostSlot {
    /// When a request last took it.
    pub(crate) fn last_used(&self) -> Instant {
        *self
            .last_used
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
    }

    /// A request takes it now.
    pub(crate) fn touch(&self) {
        *self
            .last_used
            .lock()
            .unwrap_or_else(PoisonError::into_inner) = Instant::now();
    }
}

/// Removes from `hosts` the running ones unused for `timeout` with nothing in flight.
pub(crate) fn take_idle(
    hosts: &mut HashMap<HostKey, Arc<HostSlot>>,
    timeout: Duration,
) -> Vec<(HostKey, Arc<dyn HostPool>)> {
    let now = Instant::now();
    let due: Vec<HostKey> = hosts
        .iter()
        .filter(|(_, slot)| {
            now.saturating_duration_since(slot.last_used()) >= timeout
                && slot.pool.get().is_some_and(|p| !p.busy())
        })
        .map(|(key, _)| key.clone())
        .collect();
    due.into_iter()
        .filter_map(|key| {
            let pool = hosts.remove(&key)?.pool.get()?.clone();
            Some((key, pool))
        })
        .collect()
}

/// What a host's running pool shows, whatever its dialer (a supertrait of the client's
/// `HostPool`).
pub(crate) trait Inspect: Send + Sync {
    /// The addresses the host resolved to (or its static list).
    fn addrs(&self) -> Vec<SocketAddr>;
    #[cfg(feature = "dns")]
    /// Each resolved address family's DNS state (empty for static hosts).
    fn dns_families(&self) -> Vec<FamilyStatus>;
    /// The statistics of each egress's pool, labelled (`direct`, or the proxy).
    fn egress_stats(&self) -> Vec<(String, Stats)>;
    /// The open connections of every egress.
    fn connections(&self) -> Vec<ConnInfo>;
    /// Whether `ip` is on the dynamic blacklist of the first egress's pool.
    fn blacklisted(&self, ip: IpAddr) -> bool;
    /// The options the pools run with.
    fn options(&self) -> &PoolOptions;
    /// Dials every address without a connection, through every egress, `progress` told
    /// of each dial.
    fn warm_with_progress<'a>(
        &'a self,
        progress: &'a mut (dyn FnMut(&WarmProgress) + Send),
    ) -> BoxFuture<'a, WarmReport>;
    /// `request` on a new connection to `addr`, made with the pool's dialer and closed
    /// after the body was read: what a client without a pool pays.
    fn send_fresh(
        &self,
        addr: SocketAddr,
        request: Request<Full<Bytes>>,
        limit: Duration,
    ) -> BoxFuture<'_, Result<http::Response<Bytes>, RequestError>>;
}

impl<D> Inspect for Running<D>
where
    D: Dialer<Conn: HttpConnection> + 'static,
{
    fn addrs(&self) -> Vec<SocketAddr> {
        self.stack.pool.addrs(&self.host)
    }

    #[cfg(feature = "dns")]
    fn dns_families(&self) -> Vec<FamilyStatus> {
        self.stack
            .dns
            .host_status(&self.host)
            .map(|s| s.families)
            .unwrap_or_default()
    }

    fn egress_stats(&self) -> Vec<(String, Stats)> {
        let egresses = &self.stack.egresses;
        egresses
            .iter()
            .map(|(l, p)| (l.clone(), p.stats()))
            .collect()
    }

    fn connections(&self) -> Vec<ConnInfo> {
        let egresses = &self.stack.egresses;
        egresses.iter().flat_map(|(_, p)| p.connections()).collect()
    }

    fn blacklisted(&self, ip: IpAddr) -> bool {
        self.stack.pool.blacklisted(ip).is_some()
    }

    fn options(&self) -> &PoolOptions {
        &self.stack.options
    }

    fn warm_with_progress<'a>(
        &'a self,
        progress: &'a mut (dyn FnMut(&WarmProgress) + Send),
    ) -> BoxFuture<'a, WarmReport> {
        Box::pin(self.stack.warm_with_progress(&self.host, progress))
    }

    fn send_fresh(
        &self,
        addr: SocketAddr,
        request: Request<Full<Bytes>>,
        limit: Duration,
    ) -> BoxFuture<'_, Result<http::Response<Bytes>, RequestError>> {
        let target = Target {
            host: Arc::from(self.host.as_str()),
            addr,
        };
        Box::pin(async move {
            let exchange = async {
                let dialed = self.stack.pool.dialer().dial(&target).await;
                let conn = dialed.map_err(|last| pool_core::Error::Dial {
                    host: target.host.clone(),
                    last,
                })?;
                let (parts, body) = conn.send(request).await?.into_parts();
                let body = body.collect().await?.to_bytes();
                // The connection closes here, after its one request.
                drop(conn);
                Ok(http::Response::from_parts(parts, body))
            };
            tokio::time::timeout(limit, exchange)
                .await
                .unwrap_or(Err(RequestError::Timeout(limit)))
        })
    }
}
