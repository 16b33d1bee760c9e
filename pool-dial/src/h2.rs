//! `h2`'s client types as an h2-like crate (feature `h2`): the traits of the shared HTTP/2
//! path ([`H2LikeError`], [`H2LikeRecv`], [`H2LikeSend`], [`H2LikePing`],
//! [`H2LikeClient`], [`H2LikeConnection`]) implemented for them, here because the orphan
//! rule allows a foreign type's impl only beside the trait.

use std::future::Future;
use std::task::{Context, Poll, ready};

use bytes::Bytes;
use http::{HeaderMap, Request, Response};
use pool_http::BoxError;

use crate::h2like::{H2LikeError, H2LikeRecv, H2LikeSend};
use crate::h2session::{H2LikeClient, H2LikeConnection};
use crate::ping::H2LikePing;

impl H2LikeError for h2::Error {
    fn reason(&self) -> Option<u32> {
        h2::Error::reason(self).map(u32::from)
    }

    fn is_remote(&self) -> bool {
        h2::Error::is_remote(self)
    }

    fn is_go_away(&self) -> bool {
        h2::Error::is_go_away(self)
    }

    fn is_io(&self) -> bool {
        h2::Error::is_io(self)
    }

    fn into_source(self) -> BoxError {
        self.into()
    }
}

impl H2LikeRecv for h2::RecvStream {
    type Error = h2::Error;

    fn poll_data(&mut self, cx: &mut Context<'_>) -> Poll<Option<Result<Bytes, h2::Error>>> {
        h2::RecvStream::poll_data(self, cx)
    }

    fn release_capacity(&mut self, n: usize) {
        let _ = self.flow_control().release_capacity(n);
    }

    fn poll_trailers(
        &mut self,
        cx: &mut Context<'_>,
    ) -> Poll<Result<Option<HeaderMap>, h2::Error>> {
        h2::RecvStream::poll_trailers(self, cx)
    }

    fn is_end_stream(&self) -> bool {
        h2::RecvStream::is_end_stream(self)
    }
}

impl H2LikeSend for h2::SendStream<Bytes> {
    fn cancel(&mut self) {
        self.send_reset(h2::Reason::CANCEL);
    }

    fn send_trailers(&mut self, trailers: HeaderMap) {
        let _ = h2::SendStream::send_trailers(self, trailers);
    }

    fn reserve_capacity(&mut self, n: usize) {
        h2::SendStream::reserve_capacity(self, n);
    }

    fn poll_capacity(&mut self, cx: &mut Context<'_>) -> Poll<Option<usize>> {
        match ready!(h2::SendStream::poll_capacity(self, cx)) {
            Some(Ok(n)) => Poll::Ready(Some(n)),
            _ => Poll::Ready(None),
        }
    }

    fn send_data(&mut self, data: Bytes, end: bool) -> bool {
        h2::SendStream::send_data(self, data, end).is_ok()
    }
}

impl H2LikePing for h2::PingPong {
    type Error = h2::Error;

    fn internal_error() -> h2::Error {
        h2::Error::from(h2::Reason::INTERNAL_ERROR)
    }

    fn send_ping(&mut self) -> Result<(), h2::Error> {
        h2::PingPong::send_ping(self, h2::Ping::opaque())
    }

    fn poll_pong(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), h2::Error>> {
        h2::PingPong::poll_pong(self, cx).map_ok(|_| ())
    }
}

impl H2LikeClient for h2::client::SendRequest<Bytes> {
    type Error = h2::Error;
    type Recv = h2::RecvStream;
    type Send = h2::SendStream<Bytes>;

    fn max_send_streams(&self) -> usize {
        self.current_max_send_streams()
    }

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), h2::Error>> {
        h2::client::SendRequest::poll_ready(self, cx)
    }

    fn send_request(
        &mut self,
        request: Request<()>,
        end_of_stream: bool,
    ) -> Result<
        (
            u32,
            impl Future<Output = Result<Response<h2::RecvStream>, h2::Error>> + Send + 'static,
            h2::SendStream<Bytes>,
        ),
        h2::Error,
    > {
        let (response, stream) =
            h2::client::SendRequest::send_request(self, request, end_of_stream)?;
        Ok((u32::from(response.stream_id()), response, stream))
    }
}

impl<T, B> H2LikeConnection for h2::client::Connection<T, B>
where
    T: tokio::io::AsyncRead + tokio::io::AsyncWrite + Unpin,
    B: bytes::Buf,
{
    type Error = h2::Error;

    fn set_target_window_size(&mut self, size: u32) {
        h2::client::Connection::set_target_window_size(self, size);
    }

    fn set_initial_window_size(&mut self, size: u32) -> Result<(), h2::Error> {
        h2::client::Connection::set_initial_window_size(self, size)
    }
}
