//! TCP + rustls: the connect path of this crate's dialers ([`TlsCore`]: `pool-dial`'s TCP
//! connect, the rustls handshake, the ALPN check), and the exclusive [`TlsDialer`] /
//! [`TlsConn`].

use std::io;
use std::pin::Pin;
use std::task::{Context, Poll};

use http::HeaderValue;
use pool_core::{Connection, DialError, DialErrorKind, Dialer, Target};
use pool_dial::metrics::TlsMetrics;
use pool_dial::{
    Rotation, RoundRobin, TlsConnection, TlsInfo, dial_tcp, dial_timeout, validate_on_stream,
    warn_insecure_dial, when_closed,
};
use rustls_pki_types::ServerName;
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite};
use tokio::sync::{mpsc, oneshot, watch};
use tokio::task::AbortHandle;
use tokio::time::Instant;
use tokio_rustls::TlsConnector;

use pool_rustls::{BuiltProfile, ConfigError, build_profiles};

use crate::options::TlsOptions;
use crate::proxy_tls::{DialedTls, RustlsProxyTls};

/// What a dialer accepts as the negotiated ALPN protocol.
#[derive(Clone, Copy, Debug)]
pub(crate) enum AlpnRule {
    /// Whatever was offered ([`TlsDialer`]): when something was offered, the server must
    /// choose one (none: `Protocol`).
    Offered,
    /// Exactly this protocol (HTTP/2): another one negotiated is `Unsupported`, none is
    /// `Protocol`. Every profile must offer it.
    Require(&'static str),
    /// The dialer speaks these (HTTP/1.1; auto): another one negotiated is `Unsupported`;
    /// none negotiated means HTTP/1.1 (a server without ALPN), accepted when `http/1.1` is
    /// in the list. Every profile must offer the last (the fallback, `http/1.1`).
    Speaks(&'static [&'static str]),
}

/// The ALPN name of HTTP/1.1.
pub(crate) const HTTP1_ALPN: &str = "http/1.1";

impl AlpnRule {
    /// The negotiated `got` against this rule and what was `offered`: `None` when fine,
    /// else the failure's kind.
    fn check(self, got: Option<&[u8]>, offered: &[Vec<u8>]) -> Option<DialErrorKind> {
        let fail = |unsupported| {
            Some(if unsupported {
                DialErrorKind::Unsupported
            } else {
                DialErrorKind::Protocol
            })
        };
        match (self, got) {
            (AlpnRule::Offered, got) => {
                (!offered.is_empty() && got.is_none()).then_some(DialErrorKind::Protocol)
            }
            (AlpnRule::Require(r), Some(got)) => {
                (got != r.as_bytes()).then_some(DialErrorKind::Unsupported)
            }
            (AlpnRule::Require(_), None) => fail(false),
            (AlpnRule::Speaks(list), Some(got)) => {
                (!list.iter().any(|p| p.as_bytes() == got)).then_some(DialErrorKind::Unsupported)
            }
            (AlpnRule::Speaks(list), None) => {
                (!list.contains(&HTTP1_ALPN)).then_some(DialErrorKind::Protocol)
            }
        }
    }

    fn required(self) -> Option<&'static str> {
        match self {
            AlpnRule::Offered => None,
            AlpnRule::Require(r) => Some(r),
            AlpnRule::Speaks(list) => list.last().copied(),
        }
    }
}

/// A failed TLS handshake as a dial failure: the server's `no_application_protocol` alert
/// (it speaks none of the offered ALPN protocols) is `Unsupported` (a healthy server, a
/// configuration mismatch), anything else `Handshake`.
fn handshake_error(e: io::Error) -> DialError {
    let no_alpn = e
        .get_ref()
        .and_then(|inner| inner.downcast_ref::<rustls::Error>())
        .is_some_and(|r| {
            matches!(
                r,
                rustls::Error::AlertReceived(rustls::AlertDescription::NoApplicationProtocol)
                    | rustls::Error::NoApplicationProtocol
            )
        });
    let kind = if no_alpn {
        DialErrorKind::Unsupported
    } else {
        DialErrorKind::Handshake
    };
    DialError::new(kind, e)
}

/// The connect path shared by every dialer of this crate.
pub(crate) struct TlsCore {
    pub(crate) opts: TlsOptions,
    profiles: RoundRobin<BuiltProfile>,
    profile_rotation: Rotation,
    languages: RoundRobin<HeaderValue>,
    language_rotation: Rotation,
    alpn_rule: AlpnRule,
    metrics: TlsMetrics,
    /// The TLS handshake with an `https://` proxy (inert for other proxies and none).
    proxy_tls: RustlsProxyTls,
}

impl TlsCore {
    pub(crate) fn new(
        opts: TlsOptions,
        required_alpn: Option<&'static str>,
    ) -> Result<Self, ConfigError> {
        Self::with_rule(
            opts,
            required_alpn.map_or(AlpnRule::Offered, AlpnRule::Require),
        )
    }

    pub(crate) fn with_rule(opts: TlsOptions, alpn_rule: AlpnRule) -> Result<Self, ConfigError> {
        let profiles = build_profiles(
            &opts.trust,
            &opts.profiles,
            &opts.alpn,
            alpn_rule.required(),
        )?;
        let languages = opts
            .accept_languages
            .iter()
            .map(|l| {
                HeaderValue::from_str(l).map_err(|e| ConfigError::Option {
                    option: "accept_languages",
                    source: e.into(),
                })
            })
            .collect::<Result<_, _>>()?;
        Ok(Self {
            profiles: RoundRobin::new(profiles),
            profile_rotation: opts.profile_rotation,
            languages: RoundRobin::new(languages),
            language_rotation: opts.accept_language_rotation,
            alpn_rule,
            proxy_tls: RustlsProxyTls::new(&opts)?,
            opts,
            metrics: TlsMetrics::new(),
        })
    }

    /// TCP connect (from a rotated source address, TCP_NODELAY on; through the proxy if
    /// any, for an `https://` one inside TLS to it), then the TLS handshake
    /// for `target.host` with the next profile (resuming a session of the profile's store
    /// when it has one for the name; counted in [`TlsMetrics`]); checks the negotiated
    /// ALPN. No timeout here: callers bound the whole dial with `conn_timeout`.
    pub(crate) async fn connect(
        &self,
        target: &Target,
        deadline: Instant,
    ) -> Result<(DialedTls, TlsInfo), DialError> {
        let profile = self
            .profile_rotation
            .pick(&self.profiles)
            .ok_or_else(|| DialError::new(DialErrorKind::Handshake, "no TLS profile configured"))?;
        let server_name = ServerName::try_from(target.host.to_string())
            .map_err(|e| DialError::new(DialErrorKind::Handshake, e))?;
        if self.opts.trust.danger_accept_invalid_certs {
            warn_insecure_dial("tls", &target.host, target.addr);
        }
        let opts = &self.opts;
        let proxy = opts.proxy.as_ref();
        let tcp = dial_tcp(
            target,
            proxy,
            &self.proxy_tls,
            &opts.source_addrs,
            &opts.tcp,
            deadline,
        )
        .await?;
        let local_addr = tcp.local_addr();
        let tls = TlsConnector::from(profile.config.clone())
            .connect(server_name, tcp)
            .await
            .map_err(handshake_error)?;
        let session = tls.get_ref().1;
        let resumed = session.handshake_kind() == Some(rustls::HandshakeKind::Resumed);
        self.metrics.handshake(resumed);
        let alpn = session.alpn_protocol().map(<[u8]>::to_vec);
        let offered = &profile.config.alpn_protocols;
        if let Some(kind) = self.alpn_rule.check(alpn.as_deref(), offered) {
            return Err(DialError::new(
                kind,
                format!(
                    "ALPN mismatch: offered {:?}, accepting {:?}, server chose {:?}",
                    offered
                        .iter()
                        .map(|a| String::from_utf8_lossy(a))
                        .collect::<Vec<_>>(),
                    self.alpn_rule,
                    alpn.as_deref().map(String::from_utf8_lossy)
                ),
            ));
        }
        let accept_language = self.language_rotation.pick(&self.languages).cloned();
        let info = TlsInfo::new(
            target.host.clone(),
            target.addr,
            local_addr,
            profile.name.clone(),
            alpn,
            session.protocol_version().map(u16::from),
            session
                .negotiated_cipher_suite()
                .map(|s| u16::from(s.suite())),
            accept_language,
            self.opts.trust.danger_accept_invalid_certs,
            resumed,
        );
        Ok((tls, info))
    }
}

/// Dials exclusive TLS streams (capacity 1): TCP connect within `conn_timeout`, rustls
/// handshake with SNI and verification for the host name, ALPN as configured, then the
/// optional HTTP/1.1 validation request.
pub struct TlsDialer {
    core: TlsCore,
}

impl TlsDialer {
    /// A dialer with these options. Fails on unreadable CA files, unknown profile
    /// entries, or no trust roots.
    pub fn new(options: TlsOptions) -> Result<Self, ConfigError> {
        Ok(Self {
            core: TlsCore::new(options, None)?,
        })
    }

    /// The options this dialer runs with.
    pub fn options(&self) -> &TlsOptions {
        &self.core.opts
    }
}

impl std::fmt::Debug for TlsDialer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TlsDialer").finish_non_exhaustive()
    }
}

impl Dialer for TlsDialer {
    type Conn = TlsConn;

    async fn dial(&self, target: &Target) -> Result<TlsConn, DialError> {
        let opts = &self.core.opts;
        let deadline = Instant::now() + opts.conn_timeout;
        let connect = self.core.connect(target, deadline);
        let (mut stream, info) = tokio::time::timeout_at(deadline, connect)
            .await
            .map_err(|_| dial_timeout("connect + TLS handshake", opts.conn_timeout))??;
        if let Some(validation) = &opts.validation {
            let exchange = validate_on_stream(
                &mut stream,
                validation,
                target,
                info.accept_language.as_ref(),
                opts.max_response_header_size,
            );
            validation.check(opts.test_timeout, exchange).await?;
        }
        Ok(TlsConn::new(stream, info))
    }
}

/// Messages between a [`TlsConn`] and its idle watcher.
enum Hand {
    /// Lend the stream to a lease.
    Take(oneshot::Sender<Box<DialedTls>>),
    /// The lease gives it back.
    Give(Box<DialedTls>),
}

/// An exclusive TLS stream in the pool (capacity 1).
///
/// While idle, a watcher task holds the stream and reads from it: EOF (the peer closed),
/// an error (reset) or any byte (stale data nobody asked for) closes the connection, so it
/// is never handed out with stale data. [`TlsConn::io`] borrows the stream for a lease.
pub struct TlsConn {
    info: TlsInfo,
    hand: mpsc::UnboundedSender<Hand>,
    closed: watch::Sender<bool>,
    watcher: AbortHandle,
}

impl TlsConn {
    fn new(stream: DialedTls, info: TlsInfo) -> Self {
        let (hand, rx) = mpsc::unbounded_channel();
        let closed = watch::Sender::new(false);
        let task = tokio::spawn(watch_idle(Box::new(stream), rx, closed.clone()));
        Self {
            info,
            hand,
            closed,
            watcher: task.abort_handle(),
        }
    }

    /// What the connection was made under and negotiated.
    pub fn info(&self) -> &TlsInfo {
        &self.info
    }

    /// Borrows the stream (only one borrower at a time: the lease). Fails when the
    /// connection is closed or the stream is already borrowed.
    pub async fn io(&self) -> io::Result<TlsIo<'_>> {
        let (tx, rx) = oneshot::channel();
        let gone = || io::Error::new(io::ErrorKind::NotConnected, "TLS connection closed");
        self.hand.send(Hand::Take(tx)).map_err(|_| gone())?;
        let stream = rx.await.map_err(|_| gone())?;
        Ok(TlsIo {
            stream: Some(stream),
            conn: self,
        })
    }
}

impl Drop for TlsConn {
    fn drop(&mut self) {
        self.watcher.abort();
    }
}

impl std::fmt::Debug for TlsConn {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TlsConn")
            .field("info", &self.info)
            .field("closed", &*self.closed.borrow())
            .finish()
    }
}

impl TlsConnection for TlsConn {
    fn info(&self) -> &TlsInfo {
        &self.info
    }
}

impl Connection for TlsConn {
    fn capacity(&self) -> usize {
        1
    }

    fn is_closed(&self) -> bool {
        *self.closed.borrow()
    }

    fn closed(&self) -> impl Future<Output = ()> + Send + 'static {
        when_closed(&self.closed)
    }

    /// A TLS stream or an HTTP/1.1 connection that ends on its own was closed or reset by
    /// the peer (this side never closes one without the pool knowing).
    fn close_reason(&self) -> pool_core::CloseReason {
        pool_core::CloseReason::PeerClosed
    }
}

/// The idle watcher: holds the stream while idle and reads it; lends it on request.
async fn watch_idle(
    mut stream: Box<DialedTls>,
    mut hand: mpsc::UnboundedReceiver<Hand>,
    closed: watch::Sender<bool>,
) {
    let mut byte = [0u8; 1];
    loop {
        tokio::select! {
            msg = hand.recv() => match msg {
                Some(Hand::Take(reply)) => {
                    if let Err(returned) = reply.send(stream) {
                        stream = returned;
                        continue;
                    }
                    // Lent: wait for it to come back (or the connection to go away).
                    loop {
                        match hand.recv().await {
                            Some(Hand::Give(back)) => {
                                stream = back;
                                break;
                            }
                            // Only one lease at a time: a second taker gets nothing.
                            Some(Hand::Take(_)) => {}
                            None => return,
                        }
                    }
                }
                Some(Hand::Give(_)) => {}
                None => return,
            },
            read = stream.read(&mut byte) => {
                let why = match read {
                    Ok(0) => "peer closed".to_owned(),
                    Ok(_) => "unexpected data while idle".to_owned(),
                    Err(e) => format!("read error while idle: {e}"),
                };
                tracing::debug!(reason = %why, "idle TLS connection closed");
                closed.send_replace(true);
                return;
            }
        }
    }
}

/// The stream of a [`TlsConn`], borrowed for a lease. Reads and writes go to the TLS
/// stream; dropping it hands the stream back to the idle watcher.
pub struct TlsIo<'a> {
    stream: Option<Box<DialedTls>>,
    conn: &'a TlsConn,
}

impl TlsIo<'_> {
    /// The TLS stream itself.
    pub fn stream(&mut self) -> &mut DialedTls {
        self.stream
            .as_mut()
            .expect("the stream is present until drop")
    }

    /// Closes the connection instead of returning the stream (e.g. after a protocol
    /// error): it is marked closed and the pool removes it.
    pub fn close(mut self) {
        self.stream = None;
        self.conn.closed.send_replace(true);
    }
}

impl Drop for TlsIo<'_> {
    fn drop(&mut self) {
        if let Some(stream) = self.stream.take() {
            // The watcher is gone only when the connection is being dropped.
            let _ = self.conn.hand.send(Hand::Give(stream));
        }
    }
}

impl AsyncRead for TlsIo<'_> {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut tokio::io::ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        Pin::new(self.get_mut().stream()).poll_read(cx, buf)
    }
}

impl AsyncWrite for TlsIo<'_> {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        Pin::new(self.get_mut().stream()).poll_write(cx, buf)
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(self.get_mut().stream()).poll_flush(cx)
    }

    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(self.get_mut().stream()).poll_shutdown(cx)
    }
}
