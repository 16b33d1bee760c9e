//! [`ProbeTicket`]: a connection held out of checkout for the health checker, and its way
//! back to the pool with the probe's verdict.

use std::net::SocketAddr;
use std::sync::Arc;

use super::inner::{Inner, Shared};
use super::proto::ConnId;
use super::rt;
use crate::Dialer;
use crate::types::ProbeVerdict;

/// A connection held out of checkout for a health probe. Report the verdict with
/// [`ProbeTicket::report`]; dropping it unreported returns the connection unchecked.
pub struct ProbeTicket<D: Dialer> {
    inner: Arc<Inner<D>>,
    id: ConnId,
    conn: Arc<D::Conn>,
    host: Arc<str>,
    addr: SocketAddr,
    verdict: Option<ProbeVerdict>,
}

impl<D: Dialer> ProbeTicket<D> {
    /// A ticket for `id`, just taken for a probe (none if it is no longer pooled).
    pub(super) fn new(inner: &Arc<Inner<D>>, shared: &Shared<D>, id: ConnId) -> Option<Self> {
        let conn = shared.core.handle(id)?.conn.clone();
        let info = shared.core.conn_info(id)?;
        Some(Self {
            inner: inner.clone(),
            id,
            conn,
            host: info.host,
            addr: info.addr,
            verdict: None,
        })
    }

    /// The connection to probe.
    pub fn conn(&self) -> &D::Conn {
        &self.conn
    }

    /// The host the connection was made for.
    pub fn host(&self) -> &str {
        &self.host
    }

    /// The pool's id of the connection (stable for its lifetime, never reused).
    pub fn conn_id(&self) -> ConnId {
        self.id
    }

    /// The address the connection is connected to.
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// Reports the probe's verdict and returns the connection to the pool (or closes it).
    pub fn report(mut self, verdict: ProbeVerdict) {
        self.verdict = Some(verdict);
    }
}

impl<D: Dialer> Drop for ProbeTicket<D> {
    fn drop(&mut self) {
        let verdict = self.verdict.unwrap_or(ProbeVerdict::Skipped);
        let mut shared = self.inner.lock();
        shared.core.handle_probe_result(self.id, verdict, rt::now());
        self.inner.after(shared);
    }
}
