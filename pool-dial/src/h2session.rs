//! The state every HTTP/2 connection of an h2-like crate has, and what it does with it,
//! written once: [`H2Session`] (the request handle, PING, the closed flag, the GOAWAY
//! record, the driver task) for `pool_dial_rustls::H2Conn` (h2) and `pool-dial-boring`'s
//! `BoringH2Conn` (`http2`). See `docs/h2like.md`. h2's types implement the traits in
//! `crate::h2` (feature `h2`).

use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Duration;

use bytes::Bytes;
use http::uri::{Authority, Scheme};
use http::{Request, Response, Uri};
use pool_core::ProbeVerdict;
use pool_http::{BoxError, RequestError};
use tokio::sync::watch;
use tokio::task::AbortHandle;

use crate::bdp::{Grown, Sampler, WindowState};
use crate::goaway::GoAway;
use crate::h2like::{H2Body, H2LikeError, H2LikeRecv, H2LikeSend, PumpGuard, stream_error};
use crate::ping::{H2LikePing, h2_ping};
use crate::windows::{H2Windows, ReceiveWindow};

/// What [`H2Session`] needs of an h2-like crate's request handle (`SendRequest`).
pub trait H2LikeClient: Clone {
    /// The crate's error.
    type Error: H2LikeError;
    /// The receiving half of a stream.
    type Recv: H2LikeRecv + Unpin;
    /// The sending half of a stream.
    type Send: H2LikeSend + Send + 'static;
    /// The peer's `SETTINGS_MAX_CONCURRENT_STREAMS` as it is now.
    fn max_send_streams(&self) -> usize;
    /// Ready once a new stream may open.
    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>>;
    /// Opens a stream with `request`'s head (ending it if `end_of_stream`): the stream's
    /// id, the response to come, the sending half.
    #[allow(clippy::type_complexity)]
    fn send_request(
        &mut self,
        request: Request<()>,
        end_of_stream: bool,
    ) -> Result<
        (
            u32,
            impl Future<Output = Result<Response<Self::Recv>, Self::Error>> + Send + 'static,
            Self::Send,
        ),
        Self::Error,
    >;
}

/// An HTTP/2 connection's shared state: the request handle `C`, the PING handle `P`, the
/// closed flag (set by the driver when the connection ends, and by the GOAWAY record), the
/// peer's GOAWAY frames, and the driver task (aborted on drop: dropping the driver closes
/// the socket; leases are gone by then).
pub struct H2Session<C, P> {
    send: C,
    /// The one PING handle: shared by probes ([`h2_ping`]) and, with the adaptive
    /// window, the driver's BDP sampler (`crate::bdp`).
    ping: Arc<tokio::sync::Mutex<Option<P>>>,
    closed: watch::Sender<bool>,
    goaway: Arc<GoAway>,
    driver: AbortHandle,
    /// The receive windows in force, when this side chose them
    /// ([`start_with_windows`](Self::start_with_windows)); bodies record into it when
    /// adaptive.
    windows: Option<Arc<WindowState>>,
    /// Whether response bodies record their bytes (the adaptive window is on).
    adaptive: bool,
}

/// What the adaptive window needs of an h2-like crate's connection future: its windows
/// changed at run time.
pub trait H2LikeConnection: Future<Output = Result<(), Self::Error>> + Unpin {
    /// The crate's error.
    type Error: std::fmt::Display;
    /// Raises the connection's receive window to `size` (a WINDOW_UPDATE on stream 0).
    fn set_target_window_size(&mut self, size: u32);
    /// A new `SETTINGS_INITIAL_WINDOW_SIZE` for every stream, open ones included; an error
    /// (h2: a previous SETTINGS still awaits its ACK) leaves the connection as it was.
    fn set_initial_window_size(&mut self, size: u32) -> Result<(), Self::Error>;
}

/// The driver of a connection with the adaptive window: the BDP sampler polled first (it
/// may queue a PING or take its answer), the windows grown when it says so, then the
/// connection (which flushes the PING and reads the answer).
struct AdaptiveDriver<F, P> {
    connection: F,
    sampler: Sampler<P>,
    /// A stream window not yet applied: h2 refuses a SETTINGS frame while its previous
    /// one awaits the peer's ACK, so it is tried again at each poll (the ACK wakes it).
    stream_window: Option<u32>,
}

impl<F: H2LikeConnection, P: H2LikePing> Future for AdaptiveDriver<F, P> {
    type Output = Result<(), F::Error>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let this = self.get_mut();
        if let Some(Grown { stream, connection }) = this.sampler.poll(cx) {
            this.connection.set_target_window_size(connection);
            this.stream_window = Some(stream);
        }
        if let Some(stream) = this.stream_window
            && this.connection.set_initial_window_size(stream).is_ok()
        {
            this.stream_window = None;
        }
        Pin::new(&mut this.connection).poll(cx)
    }
}

impl<C: H2LikeClient, P: H2LikePing + Send> H2Session<C, P> {
    /// The session of a connection just through its handshake: `connection` (the
    /// crate's connection future) spawned as the driver, which sets `closed` when it ends;
    /// `goaway` is the record its [`Sniff`](crate::Sniff) fills (made on `closed`).
    pub fn start<F, E>(
        send: C,
        ping: Option<P>,
        connection: F,
        closed: watch::Sender<bool>,
        goaway: Arc<GoAway>,
    ) -> Self
    where
        F: Future<Output = Result<(), E>> + Send + 'static,
        E: std::fmt::Display,
    {
        let ping = Arc::new(tokio::sync::Mutex::new(ping));
        Self::spawn(send, ping, connection, closed, goaway, None, false)
    }

    /// [`start`](Self::start) for a connection whose handshake advertised `windows`
    /// (their values already clamped into HTTP/2's limits): read back by
    /// [`receive_window`](Self::receive_window), and with `windows.adaptive` grown by a
    /// BDP sampler in the driver (`crate::bdp`), sharing the PING handle with probes.
    pub fn start_with_windows<F>(
        send: C,
        ping: Option<P>,
        connection: F,
        closed: watch::Sender<bool>,
        goaway: Arc<GoAway>,
        windows: H2Windows,
    ) -> Self
    where
        F: H2LikeConnection + Send + 'static,
        P: 'static,
    {
        let ping = Arc::new(tokio::sync::Mutex::new(ping));
        let state = Arc::new(WindowState::new(windows));
        if windows.adaptive {
            let sampler = Sampler::new(ping.clone(), state.clone(), windows);
            let driver = AdaptiveDriver {
                connection,
                sampler,
                stream_window: None,
            };
            Self::spawn(send, ping, driver, closed, goaway, Some(state), true)
        } else {
            Self::spawn(send, ping, connection, closed, goaway, Some(state), false)
        }
    }

    fn spawn<F, E>(
        send: C,
        ping: Arc<tokio::sync::Mutex<Option<P>>>,
        connection: F,
        closed: watch::Sender<bool>,
        goaway: Arc<GoAway>,
        windows: Option<Arc<WindowState>>,
        adaptive: bool,
    ) -> Self
    where
        F: Future<Output = Result<(), E>> + Send + 'static,
        E: std::fmt::Display,
    {
        let driver_closed = closed.clone();
        let driver = tokio::spawn(async move {
            if let Err(e) = connection.await {
                tracing::debug!(error = %e, "HTTP/2 connection ended with an error");
            }
            driver_closed.send_replace(true);
        });
        Self {
            send,
            ping,
            closed,
            goaway,
            driver: driver.abort_handle(),
            windows,
            adaptive,
        }
    }

    /// Records `window` as the receive windows this session's handshake advertised
    /// (for a session [`start`](Self::start)ed by a crate whose builder chose them, such
    /// as a browser profile's), read back by [`receive_window`](Self::receive_window).
    #[must_use]
    pub fn with_receive_window(mut self, window: ReceiveWindow) -> Self {
        self.windows = Some(Arc::new(WindowState::new(H2Windows {
            stream: window.stream,
            connection: window.connection,
            adaptive: false,
        })));
        self.adaptive = false;
        self
    }

    /// The receive windows in force (the advertised ones, or what the adaptive mode grew
    /// them to); `None` for a session started without windows of this side's choosing
    /// ([`start`](Self::start)).
    pub fn receive_window(&self) -> Option<ReceiveWindow> {
        self.windows.as_deref().map(WindowState::windows)
    }

    /// Sends an HTTP/2 PING and waits for its answer; returns the round-trip time (also
    /// the adaptive window's measure of the path's delay: `crate::bdp`).
    pub async fn ping(&self) -> Result<Duration, P::Error> {
        let rtt = h2_ping(&self.ping).await?;
        if let Some(windows) = &self.windows {
            windows.observe_rtt(rtt);
        }
        Ok(rtt)
    }

    /// The peer's stream limit as it is now, within `1..=cap`.
    pub fn capacity(&self, cap: usize) -> usize {
        self.send.max_send_streams().clamp(1, cap)
    }

    /// Whether the connection ended or the peer sent GOAWAY.
    pub fn is_closed(&self) -> bool {
        *self.closed.borrow()
    }

    /// Completes once [`is_closed`](Self::is_closed).
    pub fn closed(&self) -> impl Future<Output = ()> + Send + 'static {
        crate::conn::when_closed(&self.closed)
    }

    /// Why the connection closed on its own: the peer's GOAWAY, or else the peer closing or
    /// resetting it (`Connection::close_reason`).
    pub fn close_reason(&self) -> pool_core::CloseReason {
        if self.goaway.received() {
            pool_core::CloseReason::GoAway
        } else {
            pool_core::CloseReason::PeerClosed
        }
    }

    /// Healthy when open and a PING is answered within `timeout`.
    pub async fn probe(&self, timeout: Duration) -> ProbeVerdict {
        if self.is_closed() {
            return ProbeVerdict::Unhealthy;
        }
        match tokio::time::timeout(timeout, self.ping()).await {
            Ok(Ok(_)) => ProbeVerdict::Healthy,
            _ => ProbeVerdict::Unhealthy,
        }
    }

    /// Sends `request` (its URI complete) on a new stream, its body pumped into the stream
    /// as flow control allows (by a task that ends with the body, or when the response is
    /// dropped), and resolves with the response headers and the streamed body (at most
    /// `limit` bytes).
    pub async fn send<B>(
        &self,
        request: Request<()>,
        body: B,
        limit: usize,
    ) -> Result<Response<H2Body<C::Recv>>, RequestError>
    where
        B: http_body::Body<Data = Bytes> + Send + Unpin + 'static,
        B::Error: Into<BoxError>,
    {
        if self.goaway.received() {
            // h2 would open the stream, and the peer ignore it.
            return Err(RequestError::NotSent("the peer sent GOAWAY".into()));
        }
        let mut send = self.send.clone();
        std::future::poll_fn(|cx| send.poll_ready(cx))
            .await
            .map_err(|e| RequestError::NotSent(e.into_source()))?;
        let end_of_stream = body.is_end_stream();
        let (stream_id, response, stream) = send
            .send_request(request, end_of_stream)
            .map_err(|e| RequestError::NotSent(e.into_source()))?;
        // Aborted when the exchange is abandoned (this future or the response body
        // dropped), so the stream's last handle goes and h2 resets it.
        let pump = (!end_of_stream).then(|| PumpGuard::spawn(body, stream));
        let (parts, recv) = response
            .await
            .map_err(|e| stream_error(&self.goaway, e, stream_id))?
            .into_parts();
        let recorder = self.adaptive.then(|| self.windows.clone()).flatten();
        let body = H2Body::new(recv, limit, pump).recording(recorder);
        Ok(Response::from_parts(parts, body))
    }
}

impl<C, P> Drop for H2Session<C, P> {
    fn drop(&mut self) {
        self.driver.abort();
    }
}

/// Completes a relative URI (`/path`): scheme `https`, `authority` (the connection's host),
/// path `/` when it has none.
pub fn complete_uri(uri: Uri, authority: &Authority) -> Result<Uri, RequestError> {
    if uri.scheme().is_some() && uri.authority().is_some() {
        return Ok(uri);
    }
    let mut uri = uri.into_parts();
    uri.scheme.get_or_insert(Scheme::HTTPS);
    uri.authority.get_or_insert_with(|| authority.clone());
    if uri.path_and_query.is_none() {
        uri.path_and_query = Some(http::uri::PathAndQuery::from_static("/"));
    }
    Ok(Uri::from_parts(uri).map_err(http::Error::from)?)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn host() -> Authority {
        Authority::from_static("example.com:8443")
    }

    #[test]
    fn a_relative_uri_gets_https_and_the_host() {
        let uri = complete_uri(Uri::from_static("/a?b=1"), &host()).unwrap();
        assert_eq!(uri, "https://example.com:8443/a?b=1");
    }

    #[test]
    fn an_absolute_uri_is_kept() {
        let uri = complete_uri(Uri::from_static("http://other.test/x"), &host()).unwrap();
        assert_eq!(uri, "http://other.test/x");
    }

    #[test]
    fn an_authority_alone_gets_the_root_path() {
        let uri = complete_uri(Uri::from_static("other.test:1"), &host()).unwrap();
        assert_eq!(uri, "https://other.test:1/");
    }
}
