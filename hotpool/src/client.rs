//! [`Client`]: requests to any `https://` URL, each host's pool started on first use.

use std::collections::HashMap;
use std::future::Future;
use std::path::Path;
use std::pin::Pin;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use bytes::Bytes;
use http::{Method, Request, Uri};
use pool_config::{Config, Transport};
use pool_core::Dialer;
use pool_http::{DecodeLimits, Full, HttpConnection, RedirectPolicy, RequestError};
use tokio::sync::OnceCell;

use crate::request::{Choices, RequestBuilder};
use crate::stack::{self, HostSpec, HostStack};
use crate::{Body, Error, Response};

/// What a URL without a scheme is told.
pub(crate) const NOT_ABSOLUTE: &str = "not an absolute URL (https://host/path or http://…)";

type BoxFuture<'a, T> = Pin<Box<dyn Future<Output = T> + Send + 'a>>;

/// One host's running pool, whatever its dialer.
trait HostPool: Send + Sync {
    /// Sends `request` (its URI: path and query) with the pool's retry policy, through the
    /// egress labelled `via` if given (`None` when the host has no such egress).
    fn send<'a>(
        &'a self,
        request: Request<Full<Bytes>>,
        via: Option<&'a str>,
    ) -> Option<BoxFuture<'a, Result<Response, RequestError>>>;
    /// Stops the host's helpers and closes its pool.
    fn stop(&self) -> BoxFuture<'_, ()>;
}

/// A [`HostStack`] and the host name its requests go to.
struct Running<D: Dialer> {
    host: String,
    stack: HostStack<D>,
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
        let (host, options) = (&self.host, &stack.request);
        Some(match via {
            None => Box::pin(async move {
                let response = pool_http::send_with(&stack.pools, host, request, options).await?;
                Ok(response.map(Body::new))
            }),
            Some(label) => {
                let (_, pool) = stack.egresses.iter().find(|(l, _)| l == label)?;
                Box::pin(async move {
                    let response = pool_http::send_with(pool, host, request, options).await?;
                    Ok(response.map(Body::new))
                })
            }
        })
    }

    fn stop(&self) -> BoxFuture<'_, ()> {
        Box::pin(self.stack.stop())
    }
}

/// Which pool a URL goes to: one per (scheme, host, port).
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
struct HostKey {
    /// `https` (true) or `http`.
    tls: bool,
    host: String,
    port: u16,
}

/// A host's pool, started once by the first request that needs it (concurrent first
/// requests wait for the same start; a failed start is tried again by the next request).
type HostSlot = Arc<OnceCell<Arc<dyn HostPool>>>;

pub(crate) struct Inner {
    config: Config,
    /// The transport of hosts without a `[[hosts]]` entry.
    transport: Transport,
    hosts: Mutex<HashMap<HostKey, HostSlot>>,
    /// Which redirects are followed.
    pub(crate) redirects: RedirectPolicy,
    /// How response bodies are decoded (`None`: not at all, no `Accept-Encoding` sent).
    pub(crate) decode: Option<DecodeLimits>,
}

/// An HTTP client over hot pools: one pool per host, started on first use (resolved by
/// pool-dns, health-checked, new addresses warmed in the background), every request sent
/// with the pool's retry policy within `pool.request_timeout`.
///
/// Cheap to clone (one shared state). Hosts in the config's `[[hosts]]` keep their
/// transport, port and addresses; others use the client's transport (default `auto`:
/// ALPN picks HTTP/2 or HTTP/1.1).
///
/// ```no_run
/// # async fn run() -> Result<(), hotpool::Error> {
/// let client = hotpool::Client::new()?;
/// let response = client.get("https://example.com/").send().await?;
/// println!("{} {}", response.status(), response.into_body().text().await?);
/// # Ok(()) }
/// ```
#[derive(Clone)]
pub struct Client {
    pub(crate) inner: Arc<Inner>,
}

impl std::fmt::Debug for Client {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let hosts = self
            .inner
            .hosts
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .len();
        f.debug_struct("Client")
            .field("transport", &self.inner.transport)
            .field("hosts", &hosts)
            .finish_non_exhaustive()
    }
}

impl Client {
    /// A client with the default configuration.
    ///
    /// # Errors
    /// Never with the defaults; kept fallible like [`ClientBuilder::build`].
    pub fn new() -> Result<Self, Error> {
        Self::builder().build()
    }

    /// A builder starting from the default configuration.
    pub fn builder() -> ClientBuilder {
        ClientBuilder {
            config: Config::default(),
            transport: Transport::Auto,
            redirects: RedirectPolicy::default(),
            decode: Some(DecodeLimits::default()),
        }
    }

    /// A client configured by a `hotpool.toml` (every key, `HOTPOOL_*` environment
    /// overrides applied).
    ///
    /// # Errors
    /// The file cannot be read or is refused ([`Error::Config`], at its file:line).
    pub fn from_config(path: impl AsRef<Path>) -> Result<Self, Error> {
        Self::builder()
            .config(Config::from_file_with_env(path)?)
            .build()
    }

    /// The configuration the client runs with.
    #[must_use]
    pub fn config(&self) -> &Config {
        &self.inner.config
    }

    /// A `GET` of `url`.
    pub fn get(&self, url: impl AsRef<str>) -> RequestBuilder {
        self.request_builder(Method::GET, url.as_ref())
    }

    /// A `POST` of `url`.
    pub fn post(&self, url: impl AsRef<str>) -> RequestBuilder {
        self.request_builder(Method::POST, url.as_ref())
    }

    /// A request with `method` to `url`.
    pub fn request_builder(&self, method: Method, url: &str) -> RequestBuilder {
        RequestBuilder {
            client: self.clone(),
            url: url.to_owned(),
            request: Request::builder().method(method),
            body: Bytes::new(),
            choices: Choices::default(),
        }
    }

    /// Sends `request` (its URI absolute: `https://host[:port]/path` or `http://…`):
    /// redirects followed and the body decoded as the client is configured.
    ///
    /// # Errors
    /// A URL that cannot be requested, a host that cannot be set up or resolved, or the
    /// request layer's error (a redirect or decoding problem included).
    pub async fn request<B: Into<Bytes>>(&self, request: Request<B>) -> Result<Response, Error> {
        let (parts, body) = request.into_parts();
        let request = Request::from_parts(parts, body.into());
        self.send(request, &Choices::default()).await
    }

    /// One request on the pool of its URL's host (through the egress `via`, if given).
    pub(crate) async fn send_once(
        &self,
        request: Request<Bytes>,
        via: Option<&str>,
    ) -> Result<Response, Error> {
        let url = request.uri().to_string();
        let (mut parts, body) = request.into_parts();
        let (key, path) = target(&parts.uri, &url)?;
        parts.uri = path;
        let pool = self.host(&key, &url).await?;
        let request = Request::from_parts(parts, Full::new(body));
        let Some(sending) = pool.send(request, via) else {
            let egress = via.unwrap_or_default().to_owned();
            return Err(Error::Egress { url, egress });
        };
        sending
            .await
            .map_err(|source| Error::Request { url, source })
    }

    /// The running pool of `key`, started on first use.
    async fn host(&self, key: &HostKey, url: &str) -> Result<Arc<dyn HostPool>, Error> {
        let slot = {
            let mut hosts = self
                .inner
                .hosts
                .lock()
                .unwrap_or_else(PoisonError::into_inner);
            hosts.entry(key.clone()).or_default().clone()
        };
        let start = || self.start(key);
        // The start (DNS answer, fleet sync) is bounded by the request deadline too.
        let limit = self.inner.config.pool.request_timeout;
        match tokio::time::timeout(limit, slot.get_or_try_init(start)).await {
            Ok(pool) => pool.cloned(),
            Err(_) => Err(Error::Request {
                url: url.to_owned(),
                source: RequestError::Timeout(limit),
            }),
        }
    }

    /// Starts the pool of `key`: its `[[hosts]]` entry or the client's transport.
    async fn start(&self, key: &HostKey) -> Result<Arc<dyn HostPool>, Error> {
        let cfg = &self.inner.config;
        let mut spec = HostSpec::new(key.host.clone(), Some(key.port), cfg);
        if spec.entry.is_none() {
            spec.transport = self.inner.transport;
        }
        if !key.tls {
            // `http://`: HTTP/1.1 over TCP, or h2c for a `[[hosts]]` entry with `h2`.
            return running(cfg, stack::plain_dialers(cfg, &spec)?, &spec).await;
        }
        #[cfg(feature = "boring")]
        if stack::uses_boring(cfg)
            && matches!(
                spec.transport,
                Transport::H2 | Transport::H2c | Transport::H1 | Transport::Auto
            )
        {
            return running(cfg, stack::boring_dialers(cfg, &spec)?, &spec).await;
        }
        match spec.transport {
            // `h2c` names HTTP/2 for `http://` URLs; over TLS it is `h2`.
            Transport::H2 | Transport::H2c => {
                running(cfg, stack::h2_dialers(cfg, &spec)?, &spec).await
            }
            Transport::H1 => running(cfg, stack::h1_dialers(cfg, &spec)?, &spec).await,
            Transport::Auto => running(cfg, stack::https_dialers(cfg, &spec)?, &spec).await,
            #[cfg(feature = "h3")]
            Transport::H3 => running(cfg, stack::quic_dialers(cfg, &spec)?, &spec).await,
            #[cfg(not(feature = "h3"))]
            Transport::H3 => Err(Error::setup(
                &spec.name,
                "transport h3: built without the h3 feature",
            )),
            Transport::Tls => Err(Error::setup(
                &spec.name,
                "transport \"tls\" carries no HTTP: use h2, h1, auto or h3",
            )),
        }
    }

    /// Closes every host's pool (their helpers stopped, the fleet's queue flushed). A
    /// response still held keeps its connection: the close waits for it at most
    /// [`CLOSE_WAIT`](crate::stack::CLOSE_WAIT) per pool.
    pub async fn close(&self) {
        let slots: Vec<HostSlot> = {
            let mut hosts = self
                .inner
                .hosts
                .lock()
                .unwrap_or_else(PoisonError::into_inner);
            hosts.drain().map(|(_, slot)| slot).collect()
        };
        for slot in slots {
            if let Some(pool) = slot.get() {
                pool.stop().await;
            }
        }
    }
}

/// Starts `spec`'s stack with `dialer`, new addresses warmed in the background.
async fn running<D>(
    cfg: &Config,
    dialers: stack::Dialers<D>,
    spec: &HostSpec,
) -> Result<Arc<dyn HostPool>, Error>
where
    D: Dialer<Conn: HttpConnection> + 'static,
{
    let stack = HostStack::start(cfg, dialers, spec, true).await?;
    Ok(Arc::new(Running {
        host: spec.name.clone(),
        stack,
    }))
}

/// The pool a URL goes to and the URI sent on it (path and query).
fn target(uri: &Uri, url: &str) -> Result<(HostKey, Uri), Error> {
    let (tls, port) = match uri.scheme_str() {
        Some("https") => (true, 443),
        Some("http") => (false, 80),
        Some(other) => return Err(Error::url(url, format!("unsupported scheme {other:?}"))),
        None => return Err(Error::url(url, NOT_ABSOLUTE)),
    };
    let authority = uri.authority().ok_or_else(|| Error::url(url, "no host"))?;
    let host = authority
        .host()
        .trim_start_matches('[')
        .trim_end_matches(']');
    if host.is_empty() {
        return Err(Error::url(url, "no host"));
    }
    let key = HostKey {
        tls,
        host: host.to_ascii_lowercase(),
        port: authority.port_u16().unwrap_or(port),
    };
    let path = uri.path_and_query().map_or("/", |p| p.as_str());
    let path = path.parse().map_err(|e| Error::url(url, format!("{e}")))?;
    Ok((key, path))
}

/// Builds a [`Client`].
#[derive(Debug)]
#[must_use]
pub struct ClientBuilder {
    config: Config,
    transport: Transport,
    redirects: RedirectPolicy,
    decode: Option<DecodeLimits>,
}

impl ClientBuilder {
    /// Every setting of a [`Config`] (e.g. one read with [`Config::from_file`]).
    pub fn config(mut self, config: Config) -> Self {
        self.config = config;
        self
    }

    /// The transport of hosts without a `[[hosts]]` entry: `auto` (default), `h2`, `h1`
    /// or `h3`.
    pub fn transport(mut self, transport: Transport) -> Self {
        self.transport = transport;
        self
    }

    /// The deadline of a request's response head (`pool.request_timeout`).
    pub fn request_timeout(mut self, limit: Duration) -> Self {
        self.config.pool.request_timeout = limit;
        self
    }

    /// Trusts the CA certificates of a PEM file besides the system's roots
    /// (`tls.ca_files`).
    pub fn ca_file(mut self, path: impl AsRef<Path>) -> Self {
        self.config.tls.ca_files.push(path.as_ref().to_path_buf());
        self
    }

    /// Which redirects are followed: by default up to 10 (`RedirectPolicy::default()`),
    /// `RedirectPolicy::NONE` returns every 3xx as it is (`docs/redirects.md`).
    pub fn redirects(mut self, policy: RedirectPolicy) -> Self {
        self.redirects = policy;
        self
    }

    /// Response bodies decoded (gzip, deflate, br, zstd) within `limits`, and
    /// `Accept-Encoding: gzip, deflate, br, zstd` sent unless a request sets its own
    /// (the default, with `DecodeLimits::default()`: at most 100:1 after 1 MiB;
    /// `docs/decompression.md`).
    pub fn decode(mut self, limits: DecodeLimits) -> Self {
        self.decode = Some(limits);
        self
    }

    /// Bodies returned as sent, no `Accept-Encoding` added.
    pub fn no_decode(mut self) -> Self {
        self.decode = None;
        self
    }

    /// The client.
    ///
    /// # Errors
    /// A configuration changed in code that its checks refuse ([`Error::Config`]).
    pub fn build(mut self) -> Result<Client, Error> {
        self.config.validate()?;
        Ok(Client {
            inner: Arc::new(Inner {
                config: self.config,
                transport: self.transport,
                hosts: Mutex::new(HashMap::new()),
                redirects: self.redirects,
                decode: self.decode,
            }),
        })
    }
}
