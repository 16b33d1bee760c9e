//! [`Client`]: requests to any `https://` URL, each host's pool started on first use.

use std::collections::HashMap;
use std::path::Path;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, PoisonError, Weak};
use std::time::Duration;

use bytes::Bytes;
use http::{Method, Request, Uri};
use pool_config::{Config, Transport};
use pool_http::{DecodeLimits, Polite, RedirectPolicy, RequestError};
use tokio::time::Instant;

use crate::altsvc::{AltSvcCache, AltSvcStats, AltSvcStatus, Origin, Route};
use crate::error::NOT_ABSOLUTE;
use crate::hosts::{
    self, DEFAULT_IDLE_HOST_TIMEOUT, HostInfo, HostKey, HostPool, HostSlot, StartWith, WarmPolicy,
    copy, running, send_on,
};
use crate::request::{Choices, RequestBuilder};
use crate::stack::{self, HostSpec};
use crate::{ConfigOptions, Error, Response};

pub(crate) struct Inner {
    config: Config,
    /// The transport of hosts without a `[[hosts]]` entry.
    transport: Transport,
    hosts: Mutex<HashMap<HostKey, Arc<HostSlot>>>,
    /// Whether `auto` hosts move to HTTP/3 learned from Alt-Svc.
    alt_svc_enabled: bool,
    /// What each origin's Alt-Svc said, and whether its HTTP/3 works.
    alt_svc: AltSvcCache,
    /// A host's pool unused this long is stopped (by the sweeper).
    idle_host_timeout: Duration,
    /// Whether the idle-host sweeper runs.
    sweeper: AtomicBool,
    /// How hosts' addresses are dialed when they start.
    warm: WarmPolicy,
    /// The cookie jar, when the client keeps cookies.
    #[cfg(feature = "cookies")]
    pub(crate) cookies: Option<crate::cookies::Jar>,
    /// Which redirects are followed.
    pub(crate) redirects: RedirectPolicy,
    /// How response bodies are decoded (`None`: not at all, no `Accept-Encoding` sent).
    pub(crate) decode: Option<DecodeLimits>,
    /// Per-host pacing, adaptation to 429/503 and their retries (`docs/rate-limits.md`).
    pub(crate) polite: Arc<Polite>,
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
/// # async fn run() -> Result<(), Box<dyn std::error::Error>> {
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
        let hosts = self.inner.lock_hosts().len();
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
            alt_svc: true,
            idle_host_timeout: DEFAULT_IDLE_HOST_TIMEOUT,
            polite: None,
            warm: WarmPolicy::AllAddresses,
            #[cfg(feature = "cookies")]
            cookies: false,
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

    /// One request on the pool of its URL's host (through the egress `via`, if given):
    /// over HTTP/3 when the origin's Alt-Svc moved it there (`docs/alt-svc.md`).
    pub(crate) async fn send_once(
        &self,
        request: Request<Bytes>,
        via: Option<&str>,
    ) -> Result<Response, Error> {
        let url = request.uri().to_string();
        let (mut parts, body) = request.into_parts();
        let (key, path) = target(&parts.uri, &url)?;
        parts.uri = path;
        let request = Request::from_parts(parts, body);
        let pool = self.host(&key, &url).await?;
        if via.is_some() || !pool.alt_svc() || !self.inner.alt_svc_enabled {
            return send_on(&*pool, request, via, url).await;
        }
        let origin: Origin = (key.host.clone(), key.port);
        let cache = &self.inner.alt_svc;
        let request = match cache.route(&origin, now()) {
            Route::H3 { port } => match self.send_h3(&origin, port, &request, &url).await {
                Ok(response) => {
                    self.learn(&origin, &response, &url);
                    return Ok(response);
                }
                // Nothing was sent over HTTP/3: the request goes over TCP.
                Err((e, true)) => {
                    tracing::info!(url, error = %e, "HTTP/3 failed as a transport: back to TCP");
                    cache.mark_broken(&origin, now());
                    self.drop_host(&alt_key(&origin, port));
                    request
                }
                Err((e, false)) => return Err(e),
            },
            Route::Tcp { start } => {
                if let Some(port) = start {
                    self.start_h3(origin.clone(), port, url.clone());
                }
                request
            }
        };
        let response = send_on(&*pool, request, None, url.clone()).await?;
        self.learn(&origin, &response, &url);
        Ok(response)
    }

    /// `request` over the origin's HTTP/3 stack on `port`; an error says whether nothing
    /// was sent (the stack could not start again after an idle stop, or no connection
    /// could be had: [`nothing_sent`]).
    async fn send_h3(
        &self,
        origin: &Origin,
        port: u16,
        request: &Request<Bytes>,
        url: &str,
    ) -> Result<Response, (Error, bool)> {
        let h3 = self
            .host(&alt_key(origin, port), url)
            .await
            .map_err(|e| (e, true))?;
        let mut request = copy(request);
        *request.uri_mut() = origin_uri(origin, request.uri()).map_err(|e| (e, false))?;
        send_on(&*h3, request, None, url.to_owned())
            .await
            .map_err(|e| {
                let unsent = nothing_sent(&e);
                (e, unsent)
            })
    }

    /// Reads a response's `alt-svc` fields; a new HTTP/3 alternative is started in the
    /// background.
    fn learn(&self, origin: &Origin, response: &Response, url: &str) {
        if let Some(port) = self.inner.alt_svc.learn(origin, response.headers(), now()) {
            self.start_h3(origin.clone(), port, url.to_owned());
        }
    }

    /// Starts and warms `origin`'s HTTP/3 stack on `port` in the background; new
    /// requests move to it once a connection is open, or HTTP/3 is marked broken.
    fn start_h3(&self, origin: Origin, port: u16, url: String) {
        let client = self.clone();
        tokio::spawn(async move {
            let key = alt_key(&origin, port);
            let ok = match client.host(&key, &url).await {
                Ok(h3) => h3.warm(client.inner.warm == WarmPolicy::AllAddresses).await,
                Err(e) => {
                    tracing::info!(url, error = %e, "HTTP/3 from Alt-Svc did not start");
                    false
                }
            };
            if !ok {
                client.drop_host(&key);
            }
            client.inner.alt_svc.started(&origin, port, ok, now());
        });
    }

    /// Removes `key`'s pool and stops it in the background.
    fn drop_host(&self, key: &HostKey) {
        let slot = self.inner.lock_hosts().remove(key);
        if let Some(pool) = slot.and_then(|s| s.pool.get().cloned()) {
            tokio::spawn(async move { pool.stop().await });
        }
    }

    /// The running pool of `key`, started on first use.
    pub(crate) async fn host(&self, key: &HostKey, url: &str) -> Result<Arc<dyn HostPool>, Error> {
        let slot = {
            let mut hosts = self.inner.lock_hosts();
            let slot = hosts.entry(key.clone()).or_default();
            slot.touch();
            slot.clone()
        };
        if !self.inner.sweeper.swap(true, Ordering::Relaxed) {
            tokio::spawn(sweep(Arc::downgrade(&self.inner)));
        }
        // A started host: no timer on the request's path.
        if let Some(pool) = slot.pool.get() {
            return Ok(pool.clone());
        }
        let start = || self.start(key);
        // The start (DNS answer, fleet sync) is bounded by the request deadline too.
        let limit = self.inner.config.pool.request_timeout;
        match tokio::time::timeout(limit, slot.pool.get_or_try_init(start)).await {
            Ok(pool) => pool.cloned(),
            Err(_) => Err(Error::Request {
                url: url.to_owned(),
                source: RequestError::Timeout(limit),
            }),
        }
    }

    /// The `Cookie` field the client would send to `url` now (`None`: no cookie matches,
    /// the client keeps no cookies, or `url` is not an absolute URL).
    #[cfg(feature = "cookies")]
    #[must_use]
    pub fn cookies_for(&self, url: &str) -> Option<http::HeaderValue> {
        let jar = self.inner.cookies.as_ref()?;
        let uri: Uri = url.parse().ok()?;
        jar.header_for(&crate::cookies::to_url(&uri)?)
    }

    /// The running hosts: transport, and for how long each was not used.
    pub fn hosts(&self) -> Vec<HostInfo> {
        hosts::infos(&self.inner.lock_hosts())
    }

    /// What the Alt-Svc step knows of `https://host:port` (`None`: nothing): the HTTP/3
    /// alternative, whether new requests use it, whether it is marked broken.
    #[must_use]
    pub fn alt_svc(&self, host: &str, port: u16) -> Option<AltSvcStatus> {
        let origin = (host.to_ascii_lowercase(), port);
        self.inner.alt_svc.status(&origin, now())
    }

    /// What the Alt-Svc step did: alternatives learned and cleared, malformed values
    /// ignored, HTTP/3 marked broken.
    #[must_use]
    pub fn alt_svc_stats(&self) -> AltSvcStats {
        self.inner.alt_svc.stats()
    }

    /// Starts the pool of `key`: its `[[hosts]]` entry or the client's transport.
    async fn start(&self, key: &HostKey) -> Result<Arc<dyn HostPool>, Error> {
        let cfg = &self.inner.config;
        let with = StartWith {
            cfg,
            polite: &self.inner.polite,
            warm: self.inner.warm,
        };
        // The URL's port wins over the entry's (`docs/client.md`); the entry's other
        // settings apply on every port of its host.
        let mut spec = HostSpec::new(key.host.clone(), Some(key.port), cfg);
        if spec.entry.is_none() {
            spec.transport = self.inner.transport;
        }
        #[cfg(feature = "h3")]
        if let Some(origin_port) = key.alt_of {
            // The origin's HTTP/3 alternative: same name (SNI, certificate, DNS), its port;
            // on another host, that host's addresses (`alt_host.rs`).
            spec.transport = Transport::H3;
            let origin = (key.host.clone(), origin_port);
            let cache = &self.inner.alt_svc;
            #[cfg(feature = "dns")]
            crate::alt_host::pin_alternative_addrs(cfg, cache, &origin, &mut spec).await?;
            // Without pool-dns the alternative host is not resolved: its start fails, so
            // the request goes over TCP and HTTP/3 is marked broken.
            #[cfg(not(feature = "dns"))]
            if let Some(alt) = cache.alternative_host(&origin) {
                return Err(Error::setup(
                    &spec.name,
                    format!(
                        "HTTP/3 alternative on another host ({alt}): built without the dns feature"
                    ),
                ));
            }
            if let Some(entry) = &mut spec.entry {
                (entry.port, entry.transport, entry.alpn) = (key.port, Transport::H3, None);
            }
            return running(&with, stack::quic_dialers(cfg, &spec)?, &spec, false).await;
        }
        let alt_svc = key.tls && alt_svc_applies(cfg, &spec)?;
        if !key.tls {
            // `http://`: HTTP/1.1 over TCP, or h2c for a `[[hosts]]` entry with `h2`.
            return running(&with, stack::plain_dialers(cfg, &spec)?, &spec, false).await;
        }
        #[cfg(feature = "boring")]
        if stack::uses_boring(cfg)
            && matches!(
                spec.transport,
                Transport::H2 | Transport::H2c | Transport::H1 | Transport::Auto
            )
        {
            return running(&with, stack::boring_dialers(cfg, &spec)?, &spec, false).await;
        }
        match spec.transport {
            // `h2c` names HTTP/2 for `http://` URLs; over TLS it is `h2`.
            Transport::H2 | Transport::H2c => {
                running(&with, stack::h2_dialers(cfg, &spec)?, &spec, false).await
            }
            Transport::H1 => running(&with, stack::h1_dialers(cfg, &spec)?, &spec, false).await,
            Transport::Auto => {
                let start = running(&with, stack::https_dialers(cfg, &spec)?, &spec, alt_svc);
                // With the A/AAAA answers, the HTTPS records: `h3` moves the origin to
                // HTTP/3 from its first request (`docs/alt-svc.md`; pool-dns: `dns` feature).
                #[cfg(feature = "dns")]
                let start = {
                    let cache =
                        (alt_svc && self.inner.alt_svc_enabled).then_some(&self.inner.alt_svc);
                    crate::https_records::start_with_records(cfg, &spec, cache, start)
                };
                start.await
            }
            #[cfg(feature = "h3")]
            Transport::H3 => running(&with, stack::quic_dialers(cfg, &spec)?, &spec, false).await,
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

    /// Starts every `[[hosts]]` entry in the background (`https://name:port`, or
    /// `http://` for an `h2c` entry), which warms its addresses; a failure is logged, and
    /// the host's first request tries again. Needs a tokio runtime: built outside one, the
    /// entries start on first use.
    fn warm_configured_hosts(&self) {
        let Ok(runtime) = tokio::runtime::Handle::try_current() else {
            if !self.inner.config.hosts.is_empty() {
                tracing::debug!(
                    "client built outside a tokio runtime: [[hosts]] start on first use"
                );
            }
            return;
        };
        for entry in &self.inner.config.hosts {
            let key = HostKey {
                tls: entry.transport != Transport::H2c,
                host: entry.name.to_ascii_lowercase(),
                port: entry.port,
                alt_of: None,
            };
            let scheme = if key.tls { "https" } else { "http" };
            let url = format!("{scheme}://{}:{}/", entry.name, entry.port);
            let client = self.clone();
            // The start warms every address (the DNS refresh's warming of new addresses):
            // a second warm-up here would race it and dial some twice.
            runtime.spawn(async move {
                if let Err(e) = client.host(&key, &url).await {
                    tracing::info!(url, error = %e, "[[hosts]] entry did not start: tried again on first use");
                }
            });
        }
    }

    /// Closes every host's pool (their helpers stopped, the fleet's queue flushed). A
    /// response still held keeps its connection: the close waits for it at most
    /// [`CLOSE_WAIT`](crate::stack::CLOSE_WAIT) per pool.
    pub async fn close(&self) {
        let slots: Vec<Arc<HostSlot>> = {
            let mut hosts = self.inner.lock_hosts();
            hosts.drain().map(|(_, slot)| slot).collect()
        };
        for slot in slots {
            if let Some(pool) = slot.pool.get() {
                pool.stop().await;
            }
        }
    }
}

/// Whether Alt-Svc may move `spec`'s requests to HTTP/3: its transport is `auto` (the
/// client's default, or its `[[hosts]]` entry's), it has no proxy (QUIC does not go
/// through one), and the TLS engine is rustls (a BoringSSL browser profile would show a
/// different fingerprint over QUIC). Built without the `h3` feature: never.
fn alt_svc_applies(cfg: &Config, spec: &HostSpec) -> Result<bool, Error> {
    if !cfg!(feature = "h3") || spec.transport != Transport::Auto {
        return Ok(false);
    }
    #[cfg(feature = "boring")]
    if stack::uses_boring(cfg) {
        return Ok(false);
    }
    let entry = spec
        .entry
        .clone()
        .unwrap_or_else(|| pool_config::HostConfig::new(&spec.name));
    Ok(cfg.proxies_for(Some(&entry))?.is_empty())
}

/// The pool key of `origin`'s HTTP/3 alternative on `port`.
fn alt_key(origin: &Origin, port: u16) -> HostKey {
    HostKey {
        tls: true,
        host: origin.0.clone(),
        port,
        alt_of: Some(origin.1),
    }
}

/// The absolute URI of `path` (a path and query) at `origin`: what a request sent over an
/// HTTP/3 alternative carries, so that its `:authority` is the origin's host and port, not
/// the alternative's (RFC 7838 §2: the alternative serves the origin's resources under the
/// origin's authority). A relative URI would be completed by the QUIC connection with the
/// port it dialed. Port 443 is left out, as the origin's own URL would.
fn origin_uri(origin: &Origin, path: &Uri) -> Result<Uri, Error> {
    let authority = pool_dial::authority(&origin.0, origin.1);
    let path = path.path_and_query().map_or("/", |p| p.as_str());
    let text = format!("https://{authority}{path}");
    text.parse().map_err(|e| Error::url(&text, format!("{e}")))
}

/// The clock of the Alt-Svc cache (tokio's, so a paused runtime moves it).
fn now() -> std::time::Instant {
    Instant::now().into_std()
}

/// Whether a failed HTTP/3 request never reached the server: no connection could be had
/// (dial failed or timed out, host down), or it was refused unprocessed every time. Such
/// a request is sent again over TCP, and HTTP/3 is marked broken.
fn nothing_sent(e: &Error) -> bool {
    match e {
        Error::Request { source, .. } => matches!(
            source,
            RequestError::Pool(_) | RequestError::NotSent(_) | RequestError::RefusedTooOften { .. }
        ),
        _ => false,
    }
}

impl Inner {
    fn lock_hosts(&self) -> std::sync::MutexGuard<'_, HashMap<HostKey, Arc<HostSlot>>> {
        self.hosts.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

/// The idle-host sweeper of a client, started with its first host: every quarter of
/// `idle_host_timeout` (at least 10 ms), the hosts unused that long and with nothing in
/// flight are removed and stopped (the next request starts them again). Ends when the
/// client is dropped.
async fn sweep(inner: Weak<Inner>) {
    let period = match inner.upgrade() {
        Some(inner) => (inner.idle_host_timeout / 4).max(Duration::from_millis(10)),
        None => return,
    };
    loop {
        tokio::time::sleep(period).await;
        let Some(inner) = inner.upgrade() else { return };
        let idle = {
            let mut hosts = inner.lock_hosts();
            let idle = hosts::take_idle(&mut hosts, inner.idle_host_timeout);
            // Under the table's lock: no request sees the stack gone but still "ready".
            for (key, _) in &idle {
                if let Some(origin_port) = key.alt_of {
                    inner.alt_svc.forget_h3(&(key.host.clone(), origin_port));
                }
            }
            idle
        };
        for (key, pool) in idle {
            tracing::debug!(host = %key.host, port = key.port, "host idle: its pool stops");
            pool.stop().await;
        }
    }
}

/// The pool a URL goes to and the URI sent on it (path and query).
pub(crate) fn target(uri: &Uri, url: &str) -> Result<(HostKey, Uri), Error> {
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
        alt_of: None,
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
    alt_svc: bool,
    idle_host_timeout: Duration,
    polite: Option<Polite>,
    warm: WarmPolicy,
    #[cfg(feature = "cookies")]
    cookies: bool,
}

impl ClientBuilder {
    /// Pacing, adaptation and status retries of its own, instead of the config's
    /// (`pool.rate_limit`, `[[hosts]] rate_limit`, `pool.adaptive_rate`,
    /// `pool.status_retries`; `docs/rate-limits.md`).
    pub fn polite(mut self, polite: Polite) -> Self {
        self.polite = Some(polite);
        self
    }

    /// Whether `auto` hosts move to HTTP/3 when their responses advertise it with
    /// `Alt-Svc` (default true; `docs/alt-svc.md`).
    pub fn alt_svc(mut self, enabled: bool) -> Self {
        self.alt_svc = enabled;
        self
    }

    /// How long a host's pool is kept without a request before it is stopped (default
    /// [`DEFAULT_IDLE_HOST_TIMEOUT`], 10 minutes); the next request starts it again.
    pub fn idle_host_timeout(mut self, timeout: Duration) -> Self {
        self.idle_host_timeout = timeout;
        self
    }

    /// How a host's addresses are dialed when it starts: every one in the background
    /// ([`WarmPolicy::AllAddresses`], the default; configured `[[hosts]]` warmed when the
    /// client is built), or only what a request needs ([`WarmPolicy::OnDemand`]: one-shot
    /// use, nothing dialed in the background).
    pub fn warm(mut self, policy: WarmPolicy) -> Self {
        self.warm = policy;
        self
    }

    /// Whether the client keeps cookies (default false; feature `cookies`): every
    /// response's `Set-Cookie` stored by RFC 6265's rules, and the matching cookies sent
    /// as one `Cookie` field on later requests and redirect hops, unless a request sets
    /// its own. With a browser profile (`[tls] engine = "boring"`) the field takes the
    /// profile's place in the header order, like every other header.
    #[cfg(feature = "cookies")]
    pub fn cookie_store(mut self, enabled: bool) -> Self {
        self.cookies = enabled;
        self
    }

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

    /// The client. With [`WarmPolicy::AllAddresses`] (the default) and a tokio runtime,
    /// every `[[hosts]]` entry starts and warms in the background now (a failure is
    /// logged and tried again on the host's first request; it never fails the build).
    ///
    /// # Errors
    /// A configuration changed in code that its checks refuse ([`Error::Config`]).
    pub fn build(mut self) -> Result<Client, Error> {
        self.config.validate()?;
        let client = Client {
            inner: Arc::new(Inner {
                transport: self.transport,
                hosts: Mutex::new(HashMap::new()),
                alt_svc_enabled: self.alt_svc,
                alt_svc: AltSvcCache::default(),
                idle_host_timeout: self.idle_host_timeout,
                sweeper: AtomicBool::new(false),
                redirects: self.redirects,
                decode: self.decode,
                polite: Arc::new(self.polite.unwrap_or_else(|| self.config.polite())),
                warm: self.warm,
                #[cfg(feature = "cookies")]
                cookies: self.cookies.then(crate::cookies::Jar::default),
                config: self.config,
            }),
        };
        if client.inner.warm == WarmPolicy::AllAddresses {
            client.warm_configured_hosts();
        }
        Ok(client)
    }
}
