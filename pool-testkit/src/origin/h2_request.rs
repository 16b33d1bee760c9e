//! One HTTP/2 request of the [`H2Origin`](super::H2Origin): the shared route
//! (`routes.rs`) answered in HTTP/2 frames, bodies sent under the client's flow control.

use std::net::IpAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use bytes::Bytes;

use super::routes::{self, Reply};
use super::{SERVED_BY, Shared};

/// One stream counted as active on its connection: released just before its last frame is
/// queued (the client may open the next stream the moment it reads that frame, before this
/// task ends), or when the handler ends without one.
pub(super) struct ActiveStream(Option<Arc<AtomicU64>>);

impl ActiveStream {
    pub(super) fn new(active: &Arc<AtomicU64>) -> (Self, u64) {
        let now = active.fetch_add(1, Ordering::SeqCst) + 1;
        (Self(Some(active.clone())), now)
    }

    fn end(&mut self) {
        if let Some(active) = self.0.take() {
            active.fetch_sub(1, Ordering::SeqCst);
        }
    }
}

impl Drop for ActiveStream {
    fn drop(&mut self) {
        self.end();
    }
}

pub(super) async fn handle_h2_request(
    shared: &Shared,
    local_ip: IpAddr,
    req: http::Request<h2::RecvStream>,
    mut respond: h2::server::SendResponse<Bytes>,
    mut active: ActiveStream,
) -> Result<(), h2::Error> {
    let (parts, mut body) = req.into_parts();
    shared.record_languages(
        local_ip,
        parts.headers.get_all(http::header::ACCEPT_LANGUAGE),
    );
    while let Some(chunk) = body.data().await {
        let chunk = chunk?;
        let _ = body.flow_control().release_capacity(chunk.len());
    }
    let (status, headers, body) = match routes::answer(
        &shared.responses,
        routes::Asked {
            method: &parts.method,
            uri: &parts.uri,
            headers: &parts.headers,
        },
    )
    .settle()
    .await
    {
        Reply::Full {
            status,
            headers,
            body,
        } => (status, headers, H2Reply::Full(body)),
        Reply::Stream {
            status,
            headers,
            len,
            chunk,
        } => (status, headers, H2Reply::Stream(len, chunk)),
        Reply::StallBody {
            status,
            headers,
            first,
        } => (status, headers, H2Reply::StallBody(first)),
        // Headers never sent: wait until the client resets the stream (or the connection
        // goes away, which drops this task).
        Reply::Refuse => {
            respond.send_reset(h2::Reason::REFUSED_STREAM);
            return Ok(());
        }
        Reply::Stall | Reply::Delayed { .. } => {
            let _ = std::future::poll_fn(|cx| respond.poll_reset(cx)).await;
            shared.count_reset(local_ip);
            return Ok(());
        }
    };
    let mut response = http::Response::new(());
    *response.status_mut() = status;
    *response.headers_mut() = headers;
    if let Ok(v) = http::HeaderValue::from_str(&shared.served_by(local_ip)) {
        response.headers_mut().insert(SERVED_BY, v);
    }
    shared.count_request(local_ip);
    match body {
        H2Reply::Full(body) => {
            let mut send = respond.send_response(response, false)?;
            active.end();
            send.send_data(body, true)?;
        }
        H2Reply::StallBody(first) => {
            let mut send = respond.send_response(response, false)?;
            send.send_data(first, false)?;
            let _ = std::future::poll_fn(|cx| send.poll_reset(cx)).await;
            shared.count_reset(local_ip);
        }
        H2Reply::Stream(len, chunk) => {
            if len == 0 {
                active.end();
            }
            let mut send = respond.send_response(response, len == 0)?;
            if len > 0
                && stream_chunks(&mut send, routes::stream_chunks(len, chunk), &mut active)
                    .await
                    .is_err()
            {
                shared.count_reset(local_ip);
            }
        }
    }
    Ok(())
}

/// The body of an HTTP/2 answer, from the route's [`Reply`].
enum H2Reply {
    Full(Bytes),
    Stream(u64, usize),
    StallBody(Bytes),
}

/// Sends `chunks` on `send` as the client's flow-control window allows (never queued whole
/// in h2's send buffer), ending the stream with the last; `Err` when the client reset the
/// stream (stopped reading).
async fn stream_chunks(
    send: &mut h2::SendStream<Bytes>,
    chunks: impl Iterator<Item = Bytes>,
    active: &mut ActiveStream,
) -> Result<(), h2::Reason> {
    let mut chunks = chunks.peekable();
    while let Some(mut data) = chunks.next() {
        while !data.is_empty() {
            send.reserve_capacity(data.len());
            let granted = std::future::poll_fn(|cx| {
                if let std::task::Poll::Ready(reset) = send.poll_reset(cx) {
                    return std::task::Poll::Ready(Err(reset.unwrap_or(h2::Reason::CANCEL)));
                }
                send.poll_capacity(cx)
                    .map(|cap| cap.and_then(Result::ok).ok_or(h2::Reason::CANCEL))
            })
            .await?;
            let len = granted.min(data.len());
            if len == 0 {
                continue;
            }
            let part = data.split_to(len);
            let end = data.is_empty() && chunks.peek().is_none();
            if end {
                active.end();
            }
            if send.send_data(part, end).is_err() {
                return Err(h2::Reason::CANCEL);
            }
        }
    }
    Ok(())
}
