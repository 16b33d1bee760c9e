//! `http2`'s types in the shape `pool_dial`'s HTTP/2 response path needs
//! ([`pool_dial::H2LikeRecv`] and the rest): newtypes, as the traits and the types are both
//! other crates' (`docs/h2like.md`).

use std::future::Future;
use std::task::{Context, Poll, ready};

use bytes::Bytes;
use http::{HeaderMap, Request, Response};
use pool_dial::{H2LikeClient, H2LikeError, H2LikePing, H2LikeRecv, H2LikeSend};
use pool_http::BoxError;

/// An `http2` request handle.
#[derive(Clone)]
pub(crate) struct Http2Client(pub(crate) http2::client::SendRequest<Bytes>);

/// The receiving half of an `http2` stream: what a [`BoringH2Body`](crate::BoringH2Body)
/// reads.
#[derive(Debug)]
pub struct Http2Recv(http2::RecvStream);

/// The sending half of an `http2` stream, for the request-body pump.
pub(crate) struct Http2Send(http2::SendStream<Bytes>);

/// An `http2` PING handle.
pub(crate) struct Http2Ping(pub(crate) http2::PingPong);

impl H2LikeClient for Http2Client {
    type Error = Http2Error;
    type Recv = Http2Recv;
    type Send = Http2Send;

    fn max_send_streams(&self) -> usize {
        self.0.current_max_send_streams()
    }

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Http2Error>> {
        self.0.poll_ready(cx).map_err(Http2Error)
    }

    fn send_request(
        &mut self,
        request: Request<()>,
        end_of_stream: bool,
    ) -> Result<
        (
            u32,
            impl Future<Output = Result<Response<Http2Recv>, Http2Error>> + Send + 'static,
            Http2Send,
        ),
        Http2Error,
    > {
        let (response, stream) = self
            .0
            .send_request(request, end_of_stream)
            .map_err(Http2Error)?;
        let id = u32::from(response.stream_id());
        let response = async move { response.await.map(|r| r.map(Http2Recv)).map_err(Http2Error) };
        Ok((id, response, Http2Send(stream)))
    }
}

/// An `http2` error as [`Http2Recv`] reports it (the source of a `RequestError` stays the
/// `http2::Error` itself).
#[derive(Debug)]
pub struct Http2Error(http2::Error);

impl H2LikeError for Http2Error {
    fn reason(&self) -> Option<u32> {
        self.0.reason().map(u32::from)
    }

    fn is_remote(&self) -> bool {
        self.0.is_remote()
    }

    fn is_go_away(&self) -> bool {
        self.0.is_go_away()
    }

    fn is_io(&self) -> bool {
        self.0.is_io()
    }

    fn into_source(self) -> BoxError {
        self.0.into()
    }
}

impl H2LikeRecv for Http2Recv {
    type Error = Http2Error;

    fn poll_data(&mut self, cx: &mut Context<'_>) -> Poll<Option<Result<Bytes, Http2Error>>> {
        self.0
            .poll_data(cx)
            .map(|d| d.map(|r| r.map_err(Http2Error)))
    }

    fn release_capacity(&mut self, n: usize) {
        let _ = self.0.flow_control().release_capacity(n);
    }

    fn poll_trailers(
        &mut self,
        cx: &mut Context<'_>,
    ) -> Poll<Result<Option<HeaderMap>, Http2Error>> {
        self.0.poll_trailers(cx).map_err(Http2Error)
    }

    fn is_end_stream(&self) -> bool {
        self.0.is_end_stream()
    }
}

impl H2LikeSend for Http2Send {
    fn cancel(&mut self) {
        self.0.send_reset(http2::Reason::CANCEL);
    }

    fn send_trailers(&mut self, trailers: HeaderMap) {
        let _ = self.0.send_trailers(trailers);
    }

    fn reserve_capacity(&mut self, n: usize) {
        self.0.reserve_capacity(n);
    }

    fn poll_capacity(&mut self, cx: &mut Context<'_>) -> Poll<Option<usize>> {
        match ready!(self.0.poll_capacity(cx)) {
            Some(Ok(n)) => Poll::Ready(Some(n)),
            _ => Poll::Ready(None),
        }
    }

    fn send_data(&mut self, data: Bytes, end: bool) -> bool {
        self.0.send_data(data, end).is_ok()
    }
}

impl H2LikePing for Http2Ping {
    type Error = http2::Error;

    fn internal_error() -> http2::Error {
        http2::Error::from(http2::Reason::INTERNAL_ERROR)
    }

    fn send_ping(&mut self) -> Result<(), http2::Error> {
        self.0.send_ping(http2::Ping::opaque())
    }

    fn poll_pong(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), http2::Error>> {
        self.0.poll_pong(cx).map_ok(|_| ())
    }
}
