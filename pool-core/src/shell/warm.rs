//! [`Pool::warm`]: dial every allowed address of a host that has no connection yet, within
//! the limits, a bounded number at a time, and report what happened — including which
//! limit, if any, kept it from covering every address.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use super::Pool;
use super::inner::Inner;
use super::proto::DialRequest;
use super::rt::{self, TaskSet};
use crate::types::WarmLimit;
use crate::{DialError, Dialer};

impl<D: Dialer> Pool<D> {
    /// Dials every allowed address of `host` that has no connection yet (within the
    /// limits), `warm_concurrency` at a time, and reports a summary.
    pub async fn warm(&self, host: &str) -> WarmReport {
        self.warm_with_progress(host, |_| {}).await
    }

    /// Like [`Pool::warm`], calling `progress` after every finished dial.
    pub async fn warm_with_progress(
        &self,
        host: &str,
        mut progress: impl FnMut(&WarmProgress),
    ) -> WarmReport {
        let started = rt::now();
        let plan = {
            let mut shared = self.inner.lock();
            let plan = shared.core.plan_warm(host);
            self.inner.after(shared);
            plan
        };
        let mut report = WarmReport {
            host: host.into(),
            planned: plan.dials.len(),
            addresses: plan.allowed,
            capped_by: plan.capped_by,
            ..WarmReport::default()
        };
        // Dropping this future part-way must not leak the reservations: planned dials not
        // started yet are cancelled by `pending`'s drop, running ones by their own guard.
        let mut pending = PlannedDials {
            inner: self.inner.clone(),
            requests: plan.dials.into_iter(),
        };
        let mut running = TaskSet::new();
        let mut done = 0;
        loop {
            while running.len() < self.inner.warm_concurrency {
                let Some(request) = pending.requests.next() else {
                    break;
                };
                let inner = self.inner.clone();
                running.spawn(async move {
                    let addr = request.addr;
                    (addr, inner.dial(request).await)
                });
            }
            let Some(joined) = running.join_next().await else {
                break;
            };
            done += 1;
            let (addr, outcome) = match joined {
                Ok((addr, Ok(()))) => {
                    report.ok += 1;
                    (Some(addr), WarmOutcome::Connected)
                }
                Ok((addr, Err(error))) => {
                    report.failed += 1;
                    let blacklisted = self.inner.lock().core.blacklisted(addr.ip()).is_some();
                    report.blacklisted += usize::from(blacklisted);
                    (Some(addr), WarmOutcome::Failed(error))
                }
                Err(join_error) => {
                    report.failed += 1;
                    (None, WarmOutcome::Panicked(join_error))
                }
            };
            progress(&WarmProgress {
                done,
                total: report.planned,
                addr,
                outcome,
            });
        }
        report.elapsed = rt::elapsed(started);
        report
    }
}

/// Warm-up dials planned but not started yet; cancelled if `warm` is dropped part-way.
struct PlannedDials<D: Dialer> {
    inner: Arc<Inner<D>>,
    requests: std::vec::IntoIter<DialRequest>,
}

impl<D: Dialer> Drop for PlannedDials<D> {
    fn drop(&mut self) {
        if self.requests.len() > 0 {
            self.inner
                .cancel_dials(self.requests.by_ref().map(|request| request.id));
        }
    }
}

/// Progress of `warm`, reported after every finished dial.
#[derive(Debug)]
#[non_exhaustive]
pub struct WarmProgress {
    /// Dials finished so far.
    pub done: usize,
    /// Dials planned.
    pub total: usize,
    /// The address just dialed (none if the dial task panicked).
    pub addr: Option<SocketAddr>,
    /// How it went.
    pub outcome: WarmOutcome,
}

/// How one warm-up dial went.
#[derive(Debug)]
#[non_exhaustive]
pub enum WarmOutcome {
    /// Connected, validated and offered to the pool.
    Connected,
    /// The dial failed.
    Failed(DialError),
    /// The dial task panicked (a bug in the dialer).
    Panicked(String),
}

/// The summary of `warm`.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct WarmReport {
    /// The host warmed.
    pub host: String,
    /// Dials planned (allowed addresses without a connection, within the limits).
    pub planned: usize,
    /// Allowed addresses of the host (known, inside the whitelist, not blacklisted).
    pub addresses: usize,
    /// The limit that kept the warm-up from covering every allowed address, if one did
    /// (e.g. a host with 40 addresses and `max_conns_per_host = 10` warms only 10).
    pub capped_by: Option<WarmLimit>,
    /// Dials that succeeded.
    pub ok: usize,
    /// Dials that failed.
    pub failed: usize,
    /// Failed addresses that ended up blacklisted.
    pub blacklisted: usize,
    /// Time the whole warm-up took.
    pub elapsed: Duration,
}

#[cfg(all(test, not(hotpool_shuttle)))]
mod tests {
    use std::net::SocketAddr;

    use crate::WarmLimit;
    use crate::{Connection, DialError, Dialer, Pool, PoolOptions, Target};

    struct Conn;
    impl Connection for Conn {
        fn capacity(&self) -> usize {
            1
        }
        fn is_closed(&self) -> bool {
            false
        }
    }

    struct Accept;
    impl Dialer for Accept {
        type Conn = Conn;
        async fn dial(&self, _: &Target) -> Result<Conn, DialError> {
            Ok(Conn)
        }
    }

    fn addrs(n: u8) -> Vec<SocketAddr> {
        (1..=n)
            .map(|last| SocketAddr::from(([127, 0, 0, last], 443)))
            .collect()
    }

    #[tokio::test(flavor = "current_thread", start_paused = true)]
    async fn a_host_with_more_addresses_than_max_conns_per_host_says_so() {
        let options = PoolOptions {
            max_conns_per_host: 10,
            max_idle_conns: 100,
            ..PoolOptions::default()
        };
        let pool = Pool::new(Accept, options).unwrap();
        pool.set_addrs("many.test", addrs(40));
        let report = pool.warm("many.test").await;
        assert_eq!((report.planned, report.ok), (10, 10));
        assert_eq!(report.addresses, 40);
        assert_eq!(report.capped_by, Some(WarmLimit::MaxConnsPerHost(10)));
        assert_eq!(
            report.capped_by.unwrap().to_string(),
            "max_conns_per_host = 10"
        );
        pool.close().await;
    }

    #[tokio::test(flavor = "current_thread", start_paused = true)]
    async fn the_idle_and_total_limits_are_named_too() {
        let options = PoolOptions {
            max_idle_conns: 3,
            ..PoolOptions::default()
        };
        let pool = Pool::new(Accept, options).unwrap();
        pool.set_addrs("idle.test", addrs(5));
        let report = pool.warm("idle.test").await;
        assert_eq!((report.planned, report.addresses), (3, 5));
        assert_eq!(report.capped_by, Some(WarmLimit::MaxIdleConns(3)));
        pool.close().await;

        let options = PoolOptions {
            max_connections: 4,
            max_conns_per_host: 3,
            max_idle_conns: 4,
            max_conns_per_ip: 1,
            ..PoolOptions::default()
        };
        let pool = Pool::new(Accept, options).unwrap();
        pool.set_addrs("busy.test", addrs(2));
        assert_eq!(pool.warm("busy.test").await.capped_by, None);
        // Both leased, so the idle limit is far; the pool's total is what stops the next.
        let leases = [
            pool.get("busy.test").await.unwrap(),
            pool.get("busy.test").await.unwrap(),
        ];
        pool.set_addrs("total.test", addrs(4));
        let report = pool.warm("total.test").await;
        assert_eq!((report.planned, report.addresses), (2, 4));
        assert_eq!(report.capped_by, Some(WarmLimit::MaxConnections(4)));
        drop(leases);
        pool.close().await;
    }

    #[tokio::test(flavor = "current_thread", start_paused = true)]
    async fn an_uncapped_warm_up_names_no_limit_even_when_run_again() {
        let pool = Pool::new(Accept, PoolOptions::default()).unwrap();
        pool.set_addrs("few.test", addrs(4));
        let first = pool.warm("few.test").await;
        assert_eq!(
            (first.planned, first.addresses, first.capped_by),
            (4, 4, None)
        );
        let again = pool.warm("few.test").await;
        assert_eq!(
            (again.planned, again.addresses, again.capped_by),
            (0, 4, None)
        );
        pool.close().await;
    }
}
