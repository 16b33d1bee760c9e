//! One connection type for "HTTP/2 or HTTP/1.1, as ALPN chose" ([`AlpnConn`], its body
//! [`AlpnBody`]), generic over the engine's HTTP/2 connection: both TLS engines' auto mode.

use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll};

use bytes::Bytes;
use http::{Request, Response};
use http_body::{Body, Frame, SizeHint};
use pool_core::{Connection, ProbeVerdict};
use pool_http::{BoxError, HttpConnection, Protocol, RequestError};

use crate::h1::{H1Body, H1Conn};
use crate::info::{TlsConnection, TlsInfo};

/// A connection that is HTTP/2 or HTTP/1.1, as the server chose by ALPN (Envoy's mixed
/// pool): `pool-dial-rustls`'s `HttpsConn` and the inside of `pool-dial-boring`'s
/// `BoringConn`. `H` is the engine's HTTP/2 connection.
#[derive(Debug)]
#[allow(
    clippy::large_enum_variant,
    reason = "clippy sizes the generic H as 0 bytes; both engines' HTTP/2 connections are as large as H1Conn"
)]
pub enum AlpnConn<H> {
    /// HTTP/1.1 (exclusive).
    H1(H1Conn),
    /// HTTP/2 (shared by the peer's stream limit).
    H2(H),
}

impl<H: TlsConnection> AlpnConn<H> {
    /// What the connection was made under and negotiated.
    pub fn info(&self) -> &TlsInfo {
        match self {
            AlpnConn::H1(c) => c.info(),
            AlpnConn::H2(c) => c.info(),
        }
    }
}

impl<H: TlsConnection> TlsConnection for AlpnConn<H> {
    fn info(&self) -> &TlsInfo {
        AlpnConn::info(self)
    }
}

impl<H: Connection> Connection for AlpnConn<H> {
    fn protocol(&self) -> Protocol {
        match self {
            AlpnConn::H1(c) => c.protocol(),
            AlpnConn::H2(c) => c.protocol(),
        }
    }

    fn capacity(&self) -> usize {
        match self {
            AlpnConn::H1(c) => c.capacity(),
            AlpnConn::H2(c) => c.capacity(),
        }
    }

    fn is_closed(&self) -> bool {
        match self {
            AlpnConn::H1(c) => c.is_closed(),
            AlpnConn::H2(c) => c.is_closed(),
        }
    }

    fn closed(&self) -> impl Future<Output = ()> + Send + 'static {
        let (h1, h2) = match self {
            AlpnConn::H1(c) => (Some(c.closed()), None),
            AlpnConn::H2(c) => (None, Some(c.closed())),
        };
        async move {
            match (h1, h2) {
                (Some(f), _) => f.await,
                (_, Some(f)) => f.await,
                (None, None) => {}
            }
        }
    }

    fn close_reason(&self) -> pool_core::CloseReason {
        match self {
            AlpnConn::H1(c) => c.close_reason(),
            AlpnConn::H2(c) => c.close_reason(),
        }
    }

    async fn probe(&self) -> ProbeVerdict {
        match self {
            AlpnConn::H1(c) => c.probe().await,
            AlpnConn::H2(c) => c.probe().await,
        }
    }
}

impl<H: HttpConnection> HttpConnection for AlpnConn<H> {
    type ResponseBody = AlpnBody<H::ResponseBody>;

    async fn send<B>(
        &self,
        request: Request<B>,
    ) -> Result<Response<AlpnBody<H::ResponseBody>>, RequestError>
    where
        B: http_body::Body<Data = Bytes> + Send + Unpin + 'static,
        B::Error: Into<BoxError>,
    {
        Ok(match self {
            AlpnConn::H1(c) => c.send(request).await?.map(AlpnBody::H1),
            AlpnConn::H2(c) => c.send(request).await?.map(AlpnBody::H2),
        })
    }

    fn requests_sent(&self) -> u64 {
        match self {
            AlpnConn::H1(c) => c.requests_sent(),
            AlpnConn::H2(c) => c.requests_sent(),
        }
    }
}

/// The response body of an [`AlpnConn`]: the chosen protocol's. `B` is the engine's HTTP/2
/// body.
#[derive(Debug)]
pub enum AlpnBody<B> {
    /// An HTTP/1.1 body.
    H1(H1Body),
    /// An HTTP/2 body.
    H2(B),
}

impl<B> Body for AlpnBody<B>
where
    B: Body<Data = Bytes, Error = RequestError> + Unpin,
{
    type Data = Bytes;
    type Error = RequestError;

    fn poll_frame(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, RequestError>>> {
        match self.get_mut() {
            AlpnBody::H1(b) => Pin::new(b).poll_frame(cx),
            AlpnBody::H2(b) => Pin::new(b).poll_frame(cx),
        }
    }

    fn is_end_stream(&self) -> bool {
        match self {
            AlpnBody::H1(b) => b.is_end_stream(),
            AlpnBody::H2(b) => b.is_end_stream(),
        }
    }

    fn size_hint(&self) -> SizeHint {
        match self {
            AlpnBody::H1(b) => b.size_hint(),
            AlpnBody::H2(b) => b.size_hint(),
        }
    }
}
