//! HTTP/3 misbehaviour as raw frames on quinn streams: a well-formed control stream
//! (SETTINGS), the client's own streams drained, the answer on a request stream what the
//! script says.

use std::io;
use std::net::{IpAddr, SocketAddr};
use std::sync::Arc;
use std::time::Duration;

use quinn::crypto::rustls::QuicServerConfig;
use quinn::{Endpoint, VarInt};
use tokio::task::JoinSet;

use super::{Counters, HostileStats, prefixed_int};
use crate::TestCa;

/// What a [`HostileH3`] answers on every request stream.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum H3Script {
    /// A well-formed `200` with body `ok`: the control case.
    Ok,
    /// A `200` whose HEADERS frame carries about this many bytes of literal fields
    /// (QPACK, no dynamic table), then body `ok`.
    OversizedHeaders(usize),
    /// A HEADERS frame that announces 1 GiB and whose bytes never stop coming.
    EndlessHeaders,
    /// A `200`, then DATA frames forever.
    EndlessBody,
    /// Garbage on the request stream: a DATA frame before any HEADERS.
    Garbage,
    /// The request stream reset (`H3_INTERNAL_ERROR`) once the request was read.
    ResetStream,
    /// The first `n` requests of each connection answered like [`Ok`](Self::Ok); on the
    /// next, once it was read (the server processed it), the whole connection closed
    /// (`H3_INTERNAL_ERROR`): a connection cut mid-request.
    CloseConnectionAfter(u64),
}

/// QUIC variable-length integer (RFC 9000 §16).
fn varint(out: &mut Vec<u8>, n: u64) {
    match n {
        0..=63 => out.push(n as u8),
        64..=16_383 => out.extend_from_slice(&(n as u16 | 0x4000).to_be_bytes()),
        16_384..=1_073_741_823 => out.extend_from_slice(&(n as u32 | 0x8000_0000).to_be_bytes()),
        _ => out.extend_from_slice(&(n | 0xc000_0000_0000_0000).to_be_bytes()),
    }
}

fn frame(kind: u64, payload: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(payload.len() + 16);
    varint(&mut out, kind);
    varint(&mut out, payload.len() as u64);
    out.extend_from_slice(payload);
    out
}

/// A QPACK field section prefix (no dynamic table) and `:status: 200` (static index 25).
const STATUS_200: [u8; 3] = [0x00, 0x00, 0xc0 | 25];

/// One literal field with a literal name, 1 KiB encoded.
fn fill_field(n: usize) -> Vec<u8> {
    let name = format!("x-fill-{:06}", n % 1_000_000);
    let mut out = Vec::new();
    prefixed_int(&mut out, 0x20, 3, name.len());
    out.extend_from_slice(name.as_bytes());
    let value_len = 1024 - (out.len() + 3);
    prefixed_int(&mut out, 0, 7, value_len);
    out.resize(1024, b'v');
    out
}

fn ok_answer() -> Vec<u8> {
    let mut out = frame(0x1, &STATUS_200);
    out.extend(frame(0x0, b"ok"));
    out
}

/// A QUIC server (ALPN `h3`) on one address that follows an [`H3Script`] on every
/// request stream.
#[derive(Debug)]
pub struct HostileH3 {
    addr: SocketAddr,
    endpoint: Endpoint,
    counters: Arc<Counters>,
    task: tokio::task::JoinHandle<()>,
}

impl HostileH3 {
    /// Listens on `ip` (a free UDP port) with a certificate for `names` from `ca`.
    pub async fn start(
        ip: IpAddr,
        names: &[&str],
        ca: &TestCa,
        script: H3Script,
    ) -> io::Result<Self> {
        let tls = ca.server_config(names, &[b"h3".to_vec()], true)?;
        let crypto = QuicServerConfig::try_from(tls)
            .map_err(|e| io::Error::other(format!("HTTP/3 server TLS config: {e}")))?;
        let mut config = quinn::ServerConfig::with_crypto(Arc::new(crypto));
        let mut transport = quinn::TransportConfig::default();
        transport.max_concurrent_uni_streams(VarInt::from_u32(8));
        transport.initial_rtt(Duration::from_millis(10));
        // What an endless answer can queue in this process: small, so a test's heap
        // bound measures the client.
        transport.send_window(256 << 10);
        config.transport_config(Arc::new(transport));
        let endpoint = Endpoint::server(config, SocketAddr::new(ip, 0))?;
        let addr = endpoint.local_addr()?;
        let counters = Arc::new(Counters::default());
        let task = tokio::spawn(accept_loop(endpoint.clone(), script, Arc::clone(&counters)));
        Ok(Self {
            addr,
            endpoint,
            counters,
            task,
        })
    }

    /// The address it listens on.
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// What it counted so far.
    pub fn stats(&self) -> HostileStats {
        self.counters.stats()
    }

    /// Waits (at most `timeout`) until `cond` holds on the counters; whether it did.
    pub async fn wait_until(
        &self,
        timeout: Duration,
        cond: impl FnMut(HostileStats) -> bool,
    ) -> bool {
        self.counters.wait_until(timeout, cond).await
    }

    /// Closes every connection and the endpoint, and waits (bounded) for it to drain.
    pub async fn shutdown(self) {
        self.task.abort();
        let _ = self.task.await;
        self.endpoint.close(VarInt::from_u32(0), b"shutdown");
        let _ = tokio::time::timeout(Duration::from_secs(2), self.endpoint.wait_idle()).await;
    }
}

async fn accept_loop(endpoint: Endpoint, script: H3Script, counters: Arc<Counters>) {
    let mut conns = JoinSet::new();
    loop {
        tokio::select! {
            incoming = endpoint.accept() => {
                let Some(incoming) = incoming else { break };
                let guard = counters.opened();
                let script = script.clone();
                let counters = Arc::clone(&counters);
                conns.spawn(async move {
                    let _guard = guard;
                    let Ok(conn) = incoming.await else { return };
                    if let Err(e) = serve(conn, script, &counters).await {
                        tracing::debug!(error = %e, "hostile HTTP/3 connection ended");
                    }
                });
            }
            Some(_) = conns.join_next(), if !conns.is_empty() => {}
        }
    }
}

async fn serve(conn: quinn::Connection, script: H3Script, counters: &Counters) -> io::Result<()> {
    let mut tasks = JoinSet::new();
    // The control stream: type 0x00, an empty SETTINGS frame; kept open (closing it is a
    // connection error).
    let mut control = conn.open_uni().await.map_err(io::Error::other)?;
    let mut hello = vec![0x00];
    hello.extend(frame(0x4, &[]));
    control.write_all(&hello).await.map_err(io::Error::other)?;
    let mut served = 0;
    loop {
        tokio::select! {
            uni = conn.accept_uni() => {
                let Ok(mut recv) = uni else { return Ok(()) };
                // The client's control and QPACK streams: read and dropped.
                tasks.spawn(async move {
                    let mut buf = vec![0u8; 4096];
                    while let Ok(Some(_)) = recv.read(&mut buf).await {}
                    Ok::<(), io::Error>(())
                });
            }
            bi = conn.accept_bi() => {
                let Ok((send, recv)) = bi else { return Ok(()) };
                counters.request();
                tasks.spawn(answer(script.clone(), served, conn.clone(), send, recv));
                served += 1;
            }
        }
    }
}

/// The answer to the `served`-th request (0-based) of `conn`.
async fn answer(
    script: H3Script,
    served: u64,
    conn: quinn::Connection,
    mut send: quinn::SendStream,
    mut recv: quinn::RecvStream,
) -> io::Result<()> {
    // The request: headers, then FIN (the pool's GETs have no body).
    recv.read_to_end(1 << 20).await.map_err(io::Error::other)?;
    let write = |e: quinn::WriteError| io::Error::other(e);
    match script {
        H3Script::Ok => send.write_all(&ok_answer()).await.map_err(write)?,
        H3Script::OversizedHeaders(size) => {
            let mut block = STATUS_200.to_vec();
            let mut n = 0;
            while block.len() < size {
                block.extend(fill_field(n));
                n += 1;
            }
            send.write_all(&frame(0x1, &block)).await.map_err(write)?;
            send.write_all(&frame(0x0, b"ok")).await.map_err(write)?;
        }
        H3Script::EndlessHeaders => {
            let mut head = Vec::new();
            varint(&mut head, 0x1);
            varint(&mut head, 1 << 30);
            head.extend_from_slice(&STATUS_200);
            send.write_all(&head).await.map_err(write)?;
            let chunk: Vec<u8> = (0..16).flat_map(fill_field).collect();
            loop {
                send.write_all(&chunk).await.map_err(write)?;
            }
        }
        H3Script::EndlessBody => {
            send.write_all(&frame(0x1, &STATUS_200))
                .await
                .map_err(write)?;
            let data = frame(0x0, &[b'b'; 16_384]);
            loop {
                send.write_all(&data).await.map_err(write)?;
            }
        }
        H3Script::Garbage => {
            send.write_all(&frame(0x0, b"xx")).await.map_err(write)?;
            send.write_all(&ok_answer()).await.map_err(write)?;
        }
        H3Script::CloseConnectionAfter(n) if served < n => {
            send.write_all(&ok_answer()).await.map_err(write)?;
        }
        H3Script::CloseConnectionAfter(_) => {
            conn.close(VarInt::from_u32(0x102), b"cut mid-request");
            return Ok(());
        }
        H3Script::ResetStream => {
            // H3_INTERNAL_ERROR.
            let _ = send.reset(VarInt::from_u32(0x102));
            return Ok(());
        }
    }
    let _ = send.finish();
    // Keep the stream until the peer has it all (or goes away).
    let _ = send.stopped().await;
    Ok(())
}
