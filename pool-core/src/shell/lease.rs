//! The guards that hand a connection out and bring it back: [`Lease`] (to a caller of
//! `get`) and [`ProbeTicket`] (to the health checker).

use std::net::SocketAddr;
use std::ops::Deref;
use std::sync::Arc;

use super::inner::{Inner, Shared};
use super::lane::LaneEntry;
use super::proto::ConnId;
use super::rt;
use crate::types::{Outcome, ProbeVerdict};
use crate::{Connection, Dialer};

/// A lease on a pooled connection: dereferences to the connection, and returns it to the
/// pool when dropped — also when dropped while unwinding from a panic.
///
/// The outcome reported decides what the pool does with the connection: success (the
/// default) counts as a health check, an error counts toward `max_errors`, broken removes
/// it. A lease dropped while panicking counts as an error.
///
/// A lease does not keep the pool alive: with every [`Pool`](crate::Pool) handle dropped,
/// the leased connection lives on until the lease is dropped, and its return goes nowhere.
pub struct Lease<D: Dialer> {
    entry: Arc<LaneEntry<D>>,
    outcome: Option<Outcome>,
}

impl<D: Dialer> Lease<D> {
    pub(super) fn new(entry: Arc<LaneEntry<D>>) -> Self {
        Self {
            entry,
            outcome: None,
        }
    }

    /// The leased connection.
    pub fn conn(&self) -> &D::Conn {
        &self.entry.conn
    }

    /// A shared handle to the leased connection (outliving the lease is allowed, but the
    /// pool may close it once the lease is returned).
    pub fn conn_arc(&self) -> Arc<D::Conn> {
        self.entry.conn.clone()
    }

    /// The address the connection is connected to.
    pub fn addr(&self) -> SocketAddr {
        self.entry.addr
    }

    /// The pool's id of the connection.
    pub fn conn_id(&self) -> ConnId {
        self.entry.id
    }

    /// Reports that the work done on the lease succeeded (the default).
    pub fn report_success(&mut self) {
        self.outcome = Some(Outcome::Success);
    }

    /// Reports that the work failed; counts toward the connection's `max_errors`.
    pub fn report_error(&mut self) {
        self.outcome = Some(Outcome::Error);
    }

    /// Reports that the connection is unusable: the pool removes it.
    pub fn mark_broken(&mut self) {
        self.outcome = Some(Outcome::Broken);
    }

    /// Reports that no work was done on the lease.
    pub fn report_unused(&mut self) {
        self.outcome = Some(Outcome::Unused);
    }
}

impl<D: Dialer> Deref for Lease<D> {
    type Target = D::Conn;

    fn deref(&self) -> &D::Conn {
        &self.entry.conn
    }
}

impl<D: Dialer> Drop for Lease<D> {
    fn drop(&mut self) {
        let outcome = match self.outcome {
            _ if self.entry.conn.is_closed() => Outcome::Broken,
            Some(outcome) => outcome,
            None if std::thread::panicking() => Outcome::Error,
            None => Outcome::Success,
        };
        self.entry.release(outcome, self.entry.conn.capacity());
    }
}

impl<D: Dialer> std::fmt::Debug for Lease<D> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Lease")
            .field("conn", &self.entry.id)
            .field("addr", &self.entry.addr)
            .finish()
    }
}

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
