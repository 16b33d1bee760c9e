//! HTTP/2 over a BoringSSL stream with the `http2` crate (the h2 fork that orders SETTINGS
//! and pseudo-headers and sends priorities): [`BoringH2Conn`], which carries `pool-http`'s
//! request API. Its core is `pool_dial::H2Session` (the same as `pool_dial_rustls::H2Conn`'s) over
//! `http2`'s types, through the newtypes of `crate::http2like` (`docs/h2like.md`).

use std::future::Future;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use bytes::Bytes;
use http::uri::Authority;
use http::{HeaderMap, HeaderName, HeaderValue, Request, Response, header};
use http2::frame::{
    Priorities, Priority, PseudoId, PseudoOrder, SettingId, SettingsOrder, StreamDependency,
    StreamId,
};
use pool_core::{Connection, DialError, DialErrorKind, ProbeVerdict};
use pool_dial::{
    GoAway, H2Body, H2Session, ReceiveWindow, Sniff, TlsConnection, TlsInfo, authority,
    complete_uri,
};
use pool_http::{BoxError, HttpConnection, Protocol, RequestError};
use tokio::sync::watch;

use crate::error::BoringError;
use crate::http2like::{Http2Client, Http2Ping, Http2Recv};
use crate::profiles::{H2Fingerprint, Pseudo};
use crate::tls::{BoringStream, BuiltProfile};

/// A profile's HTTP/2 fingerprint as an `http2` client builder.
pub(crate) fn builder(
    profile: &str,
    h2: &H2Fingerprint,
) -> Result<http2::client::Builder, BoringError> {
    let mut b = http2::client::Builder::new();
    let mut order = SettingsOrder::builder();
    for &(id, value) in &h2.settings {
        let setting = match id {
            1 => {
                b.header_table_size(value);
                SettingId::HeaderTableSize
            }
            2 => {
                b.enable_push(value != 0);
                SettingId::EnablePush
            }
            3 => {
                b.max_concurrent_streams(value);
                SettingId::MaxConcurrentStreams
            }
            4 => {
                b.initial_window_size(value);
                SettingId::InitialWindowSize
            }
            5 => {
                b.max_frame_size(value);
                SettingId::MaxFrameSize
            }
            6 => {
                b.max_header_list_size(value);
                SettingId::MaxHeaderListSize
            }
            8 => {
                b.enable_connect_protocol(value != 0);
                SettingId::EnableConnectProtocol
            }
            9 => {
                b.no_rfc7540_priorities(value != 0);
                SettingId::NoRfc7540Priorities
            }
            _ => {
                return Err(BoringError::Unsupported {
                    profile: profile.to_owned(),
                    field: "h2.settings",
                    value: id,
                });
            }
        };
        order = order.push(setting);
    }
    b.settings_order(order.build());
    if h2.window_update > 0 {
        b.initial_connection_window_size(h2.window_update.saturating_add(65_535));
    }
    let pseudo = h2.pseudo_order.iter().map(|p| match p {
        Pseudo::Method => PseudoId::Method,
        Pseudo::Scheme => PseudoId::Scheme,
        Pseudo::Authority => PseudoId::Authority,
        Pseudo::Path => PseudoId::Path,
    });
    b.headers_pseudo_order(PseudoOrder::builder().extend(pseudo).build());
    if let Some(p) = h2.headers_priority {
        b.headers_stream_dependency(StreamDependency::new(
            StreamId::from(p.depends_on),
            p.weight,
            p.exclusive,
        ));
    }
    if !h2.priorities.is_empty() {
        let mut list = Priorities::builder();
        for &(id, p) in &h2.priorities {
            list = list.push(Priority::new(
                StreamId::from(id),
                StreamDependency::new(StreamId::from(p.depends_on), p.weight, p.exclusive),
            ));
        }
        b.priorities(list.build());
    }
    Ok(b)
}

/// The headers a profile adds and the order it sends them in.
#[derive(Clone, Debug)]
pub(crate) struct HeaderShape {
    user_agent: HeaderValue,
    accept_language: HeaderValue,
    accept_encoding: HeaderValue,
    order: Arc<[HeaderName]>,
}

impl HeaderShape {
    pub(crate) fn of(profile: &BuiltProfile) -> Self {
        let order = profile
            .profile
            .h2
            .header_order
            .iter()
            .filter_map(|n| HeaderName::from_bytes(n.as_bytes()).ok())
            .collect();
        Self {
            user_agent: profile.user_agent.clone(),
            accept_language: profile.accept_language.clone(),
            accept_encoding: profile.accept_encoding.clone(),
            order,
        }
    }

    /// `User-Agent` and `Accept-Language` added when missing, the client's default
    /// `Accept-Encoding` replaced by the browser's; then (HTTP/2) the headers
    /// put in the browser's order: the named ones first, in order, the rest after.
    pub(crate) fn apply(&self, headers: &mut HeaderMap, reorder: bool) {
        if !headers.contains_key(header::USER_AGENT) {
            headers.insert(header::USER_AGENT, self.user_agent.clone());
        }
        if !headers.contains_key(header::ACCEPT_LANGUAGE) {
            headers.insert(header::ACCEPT_LANGUAGE, self.accept_language.clone());
        }
        // The client's default offer (`hotpool::Client` decoding) becomes the browser's own;
        // a caller's own value, or none (a caller that does not decode), is left alone.
        if headers
            .get(header::ACCEPT_ENCODING)
            .map(HeaderValue::as_bytes)
            == Some(pool_http::DEFAULT_ACCEPT_ENCODING.as_bytes())
        {
            headers.insert(header::ACCEPT_ENCODING, self.accept_encoding.clone());
        }
        if !reorder {
            return;
        }
        let mut old = std::mem::take(headers);
        let mut ordered = HeaderMap::with_capacity(old.len());
        for name in self.order.iter() {
            for value in old.get_all(name) {
                ordered.append(name.clone(), value.clone());
            }
            old.remove(name);
        }
        let mut last: Option<HeaderName> = None;
        for (name, value) in old {
            let name = match name {
                Some(n) => {
                    last = Some(n.clone());
                    n
                }
                None => match &last {
                    Some(n) => n.clone(),
                    None => continue,
                },
            };
            ordered.append(name, value);
        }
        *headers = ordered;
    }
}

/// The HTTP/2 handshake on an established stream (ALPN `h2` checked by the caller), the
/// driver spawned, one PING round trip (so the peer's SETTINGS are known when the pool
/// reads the capacity).
pub(crate) async fn establish(
    tls: BoringStream,
    info: TlsInfo,
    profile: &BuiltProfile,
    builder: &http2::client::Builder,
    limits: Limits,
) -> Result<BoringH2Conn, DialError> {
    let closed = watch::Sender::new(false);
    let goaway = GoAway::new(closed.clone());
    let (send, mut connection) = builder
        .handshake::<_, Bytes>(Sniff::new(tls, goaway.clone()))
        .await
        .map_err(|e| DialError::new(DialErrorKind::Protocol, e))?;
    let ping = connection.ping_pong().map(Http2Ping);
    let authority = Authority::try_from(authority(&info.host, info.addr.port()))
        .map_err(|e| DialError::new(DialErrorKind::Handshake, e))?;
    let conn = BoringH2Conn {
        session: H2Session::start(Http2Client(send), ping, connection, closed, goaway)
            .with_receive_window(advertised_window(&profile.profile.h2)),
        info,
        authority,
        shape: HeaderShape::of(profile),
        limits,
        requests: AtomicU64::new(0),
    };
    conn.ping()
        .await
        .map_err(|e| DialError::new(DialErrorKind::Protocol, e))?;
    Ok(conn)
}

/// The receive windows a profile's preface advertises: its
/// `SETTINGS_INITIAL_WINDOW_SIZE` (65,535 when it sends none) and 65,535 plus its first
/// WINDOW_UPDATE. They are part of the browser's fingerprint, so `pool_dial::H2Windows`
/// (the config's `[h2]`) does not change them, and no adaptive mode grows them: no
/// browser sends a second SETTINGS or grows its windows mid-connection, and Chrome's
/// 6 MiB / 15 MiB already carry a 20 MB body at 50 ms in a few round trips
/// (`docs/h2-windows.md`).
pub(crate) fn advertised_window(h2: &H2Fingerprint) -> ReceiveWindow {
    let stream = h2
        .settings
        .iter()
        .find(|(id, _)| *id == 4)
        .map_or(65_535, |(_, v)| *v);
    ReceiveWindow {
        stream,
        connection: h2.window_update.saturating_add(65_535),
    }
}

/// The per-connection bounds of an HTTP/2 connection.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Limits {
    pub(crate) test_timeout: Duration,
    pub(crate) max_streams_cap: usize,
    pub(crate) max_response_body: usize,
    /// `max_response_header_size`: checked on every response head (the SETTINGS carry
    /// the profile's value, or none, as the browser sends).
    pub(crate) max_header_list: usize,
}

/// A pooled HTTP/2 connection of a [`BoringDialer`](crate::BoringDialer): the `http2`
/// `SendRequest` handle plus the task driving the connection; capacity = the peer's
/// `SETTINGS_MAX_CONCURRENT_STREAMS` (capped), closed on GOAWAY (the pool drains it) or
/// when the driver ends, probe = an HTTP/2 PING within `test_timeout`.
pub struct BoringH2Conn {
    session: H2Session<Http2Client, Http2Ping>,
    info: TlsInfo,
    authority: Authority,
    shape: HeaderShape,
    limits: Limits,
    requests: AtomicU64,
}

impl BoringH2Conn {
    /// What the connection was made under and negotiated.
    pub fn info(&self) -> &TlsInfo {
        &self.info
    }

    /// Sends an HTTP/2 PING and waits for its answer; returns the round-trip time.
    pub async fn ping(&self) -> Result<Duration, http2::Error> {
        self.session.ping().await
    }

    /// The receive windows the profile's preface advertised (fixed for the connection's
    /// life: see `docs/h2-windows.md`).
    pub fn receive_window(&self) -> ReceiveWindow {
        self.session.receive_window().unwrap_or(ReceiveWindow {
            stream: 65_535,
            connection: 65_535,
        })
    }
}

impl std::fmt::Debug for BoringH2Conn {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("BoringH2Conn")
            .field("info", &self.info)
            .field("closed", &self.session.is_closed())
            .finish_non_exhaustive()
    }
}

impl Connection for BoringH2Conn {
    fn protocol(&self) -> Protocol {
        Protocol::Http2
    }

    fn capacity(&self) -> usize {
        self.session.capacity(self.limits.max_streams_cap)
    }

    fn is_closed(&self) -> bool {
        self.session.is_closed()
    }

    fn closed(&self) -> impl Future<Output = ()> + Send + 'static {
        self.session.closed()
    }

    fn close_reason(&self) -> pool_core::CloseReason {
        self.session.close_reason()
    }

    async fn probe(&self) -> ProbeVerdict {
        self.session.probe(self.limits.test_timeout).await
    }
}

impl TlsConnection for BoringH2Conn {
    fn info(&self) -> &TlsInfo {
        &self.info
    }
}

impl HttpConnection for BoringH2Conn {
    type ResponseBody = BoringH2Body;

    /// Sends `request` on a new stream (its body pumped as flow control allows) and
    /// resolves with the response headers. A relative URI gets scheme `https` and the
    /// connection's host; `User-Agent` / `Accept-Language` come from the profile when the
    /// request sets none; headers go out in the profile's order.
    async fn send<B>(&self, request: Request<B>) -> Result<Response<BoringH2Body>, RequestError>
    where
        B: http_body::Body<Data = Bytes> + Send + Unpin + 'static,
        B::Error: Into<BoxError>,
    {
        let (mut parts, body) = request.into_parts();
        parts.uri = complete_uri(parts.uri, &self.authority)?;
        self.shape.apply(&mut parts.headers, true);
        let request = Request::from_parts(parts, ());
        self.requests.fetch_add(1, Ordering::Relaxed);
        let (parts, body) = self
            .session
            .send(request, body, self.limits.max_response_body)
            .await?
            .into_parts();
        let size: usize = parts
            .headers
            .iter()
            .map(|(k, v)| k.as_str().len() + v.len() + 32)
            .sum();
        if size > self.limits.max_header_list {
            return Err(RequestError::PeerLimit {
                limit: pool_http::PeerLimit::HeaderList,
                source: format!(
                    "response header list of {size} bytes, over {}",
                    self.limits.max_header_list
                )
                .into(),
            });
        }
        Ok(Response::from_parts(parts, body))
    }

    fn requests_sent(&self) -> u64 {
        self.requests.load(Ordering::Relaxed)
    }
}

/// The streamed body of an HTTP/2 response on a [`BoringH2Conn`]: `pool_dial::H2Body` over
/// `http2`'s stream (data as it arrives, flow-control capacity released as it is handed
/// out, then the trailers; at most `max_response_body` bytes; dropping it early resets the
/// stream).
pub type BoringH2Body = H2Body<Http2Recv>;

#[cfg(test)]
mod tests {
    use super::*;
    use crate::BrowserProfile;

    #[test]
    fn a_profile_advertises_its_browser_windows() {
        let chrome = advertised_window(&BrowserProfile::chrome().h2);
        assert_eq!(
            chrome,
            ReceiveWindow {
                stream: 6 << 20,
                connection: 15 << 20
            }
        );
        for profile in [BrowserProfile::firefox(), BrowserProfile::safari()] {
            let w = advertised_window(&profile.h2);
            assert!(w.stream >= 65_535 && w.connection > 65_535, "{w:?}");
        }
    }
}
