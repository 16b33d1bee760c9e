//! What the commands need from a transport, implemented for HTTP/2 (pool-tls) and QUIC
//! (pool-quic): one request on a pooled connection.

use std::future::Future;

use bytes::Bytes;
use pool_core::{Dialer, Pool};
use pool_quic::QuicDialer;
use pool_tls::H2Dialer;

/// The largest QUIC answer read.
const MAX_QUIC_RESPONSE: usize = 1 << 20;

/// A response, reduced to what the reports use.
#[derive(Clone, Copy, Debug)]
pub struct Reply {
    /// HTTP status (QUIC demo protocol: 200 for an answer).
    pub status: u16,
    /// Response body length.
    pub body_len: usize,
}

/// A failed request.
#[derive(Debug)]
pub struct RequestFailed {
    /// What went wrong, one line.
    pub message: String,
    /// The connection is unusable (reset, GOAWAY, closed): the lease marks it broken.
    pub broken: bool,
}

impl std::fmt::Display for RequestFailed {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.message)
    }
}

/// A pooled transport the CLI can send requests over.
pub trait Transport: Dialer + Sized {
    /// Short name for reports ("h2", "quic").
    const NAME: &'static str;

    /// Sends `GET path` for `host` on `conn` and waits for the whole response.
    fn get(
        conn: &Self::Conn,
        host: &str,
        path: &str,
    ) -> impl Future<Output = Result<Reply, RequestFailed>> + Send;
}

impl Transport for H2Dialer {
    const NAME: &'static str = "h2";

    async fn get(conn: &Self::Conn, _host: &str, path: &str) -> Result<Reply, RequestFailed> {
        let request = http::Request::get(path)
            .body(Bytes::new())
            .map_err(|e| RequestFailed {
                message: format!("bad request path {path:?}: {e}"),
                broken: false,
            })?;
        match conn.send(request).await {
            Ok(response) => Ok(Reply {
                status: response.status().as_u16(),
                body_len: response.body().len(),
            }),
            Err(e) => Err(RequestFailed {
                message: e.to_string(),
                broken: e.is_connection_error(),
            }),
        }
    }
}

/// QUIC carries no HTTP here: a request is one bidirectional stream carrying
/// `GET <path>`, answered with `<status> <body>` (the protocol of `pool_cli::local`'s QUIC
/// origin, which answers `200 ` plus an echo). An answer that does not start with a
/// three-digit status counts as 200.
impl Transport for QuicDialer {
    const NAME: &'static str = "quic";

    async fn get(conn: &Self::Conn, _host: &str, path: &str) -> Result<Reply, RequestFailed> {
        let body = format!("GET {path}");
        match conn.request(body.as_bytes(), MAX_QUIC_RESPONSE).await {
            Ok(answer) => {
                let status = std::str::from_utf8(answer.get(..3).unwrap_or_default())
                    .ok()
                    .and_then(|s| s.parse().ok())
                    .unwrap_or(200);
                Ok(Reply {
                    status,
                    body_len: answer.len(),
                })
            }
            Err(e) => Err(RequestFailed {
                message: e.to_string(),
                broken: e.is_connection_error(),
            }),
        }
    }
}

/// One request through `pool`: takes a lease for `host`, sends `GET path`, reports the
/// outcome on the lease (success; error; broken connection), returns the lease.
pub async fn request<D: Transport>(
    pool: &Pool<D>,
    host: &str,
    path: &str,
) -> Result<Reply, RequestFailed> {
    let mut lease = pool.get(host).await.map_err(|e| RequestFailed {
        message: format!("no connection: {e}"),
        broken: false,
    })?;
    let result = D::get(lease.conn(), host, path).await;
    match &result {
        Ok(reply) if reply.status < 500 => lease.report_success(),
        Ok(_) => lease.report_error(),
        Err(e) if e.broken => lease.mark_broken(),
        Err(_) => lease.report_error(),
    }
    result
}
