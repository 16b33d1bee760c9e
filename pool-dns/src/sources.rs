//! Address sources besides the refresher's own DNS: the [`AddressSource`] trait, a static
//! list ([`StaticSource`]), a plain DNS source ([`DnsSource`]) and any user type (a "remote
//! IP pool": a service that maps a host name to its IP list). The refresher pulls each
//! source on its own schedule and feeds the pool the union of every source's last good
//! set, so sources never overwrite each other.

use std::error::Error as StdError;
use std::future::Future;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use tokio::sync::{oneshot, watch};
use tokio::time::Instant;

use crate::resolve::{fqdn, lookup};
use crate::servers::{DnsResolver, build_resolver};
use crate::{DnsOptions, IpFamily, SetupError};

/// A source of a host's addresses, pulled by the refresher
/// ([`DnsRefresher::add_source`](crate::DnsRefresher::add_source)) every
/// [`refresh_interval`](AddressSource::refresh_interval). A failure keeps the source's
/// last good set (until `stale_after`) and is retried with the refresher's backoff.
///
/// Implement it with `async fn addrs(&self, host: &str) -> Result<…, SourceError>`; the
/// future must be `Send` (the refresher runs it on a tokio task).
pub trait AddressSource: Send + Sync + 'static {
    /// The addresses of `host` now (an empty list is an answer: the source has none).
    fn addrs(
        &self,
        host: &str,
    ) -> impl Future<Output = Result<Vec<SocketAddr>, SourceError>> + Send;

    /// How long a good answer holds before the source is pulled again.
    fn refresh_interval(&self) -> Duration;
}

/// Why a source could not give addresses (the source's own error).
#[derive(Debug, thiserror::Error)]
#[error(transparent)]
pub struct SourceError(Box<dyn StdError + Send + Sync>);

impl SourceError {
    /// Wraps a source's error.
    pub fn new(error: impl Into<Box<dyn StdError + Send + Sync>>) -> Self {
        Self(error.into())
    }
}

/// A fixed address list (a host pinned in config, as a source).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct StaticSource {
    addrs: Vec<SocketAddr>,
}

impl StaticSource {
    /// A source that always answers `addrs`.
    pub fn new(addrs: impl IntoIterator<Item = SocketAddr>) -> Self {
        Self {
            addrs: addrs.into_iter().collect(),
        }
    }
}

impl AddressSource for StaticSource {
    async fn addrs(&self, _host: &str) -> Result<Vec<SocketAddr>, SourceError> {
        Ok(self.addrs.clone())
    }

    /// A day: the list never changes.
    fn refresh_interval(&self) -> Duration {
        Duration::from_secs(24 * 3600)
    }
}

/// Plain DNS as a source: A and AAAA looked up together, the union of what answered
/// (fails only when neither family gives addresses). The refresher's own
/// [`add_host`](crate::DnsRefresher::add_host) keeps more state (per family, per TTL);
/// this one is for a second resolver (other name servers) feeding the same host.
#[derive(Clone, Debug)]
pub struct DnsSource {
    resolver: DnsResolver,
    port: u16,
    interval: Duration,
    /// The name looked up instead of the host fed ([`DnsSource::resolving`]).
    name: Option<Arc<str>>,
}

impl DnsSource {
    /// Resolves with `options`' name servers; every address gets `port`; pulled every
    /// `dns_update_interval`.
    pub fn new(options: &DnsOptions, port: u16) -> Result<Self, SetupError> {
        Ok(Self {
            resolver: build_resolver(options)?,
            port,
            interval: options.dns_update_interval,
            name: None,
        })
    }

    /// Looks up `name` instead of the host it feeds: the host's pool dials `name`'s
    /// addresses while its connections keep the host's identity (SNI, certificate,
    /// authority) — an RFC 7838 alternative service on another host, whose addresses
    /// serve the origin.
    #[must_use]
    pub fn resolving(mut self, name: impl Into<Arc<str>>) -> Self {
        self.name = Some(name.into());
        self
    }
}

impl AddressSource for DnsSource {
    async fn addrs(&self, host: &str) -> Result<Vec<SocketAddr>, SourceError> {
        let name = fqdn(self.name.as_deref().unwrap_or(host));
        let (v4, v6) = tokio::join!(
            lookup(&self.resolver, &name, IpFamily::V4),
            lookup(&self.resolver, &name, IpFamily::V6)
        );
        if let (Err(e), Err(_)) = (&v4, &v6) {
            return Err(SourceError::new(e.error.clone()));
        }
        Ok([v4, v6]
            .into_iter()
            .flatten()
            .flat_map(|a| a.ips)
            .map(|ip| SocketAddr::new(ip, self.port))
            .collect())
    }

    fn refresh_interval(&self) -> Duration {
        self.interval
    }
}

/// What the refresher knows about one source of one host.
#[derive(Clone, Debug)]
#[non_exhaustive]
pub struct SourceStatus {
    /// The name the source was added under.
    pub name: Arc<str>,
    /// Its last good set (sorted), kept through failures until `stale_after`.
    pub addrs: Vec<SocketAddr>,
    /// When it last answered.
    pub last_success: Option<Instant>,
    /// The last pull's failure, if it failed.
    pub last_error: Option<Arc<SourceError>>,
    /// Failed pulls since the last good one (drives the backoff).
    pub consecutive_failures: u32,
    /// Pulls finished.
    pub pulls: u64,
    /// When it is pulled next.
    pub next_try: Option<Instant>,
}

impl SourceStatus {
    pub(crate) fn new(name: Arc<str>) -> Self {
        Self {
            name,
            addrs: Vec::new(),
            last_success: None,
            last_error: None,
            consecutive_failures: 0,
            pulls: 0,
            next_try: None,
        }
    }

    /// Applies one pull at `now`; returns the delay before the next.
    fn record(
        &mut self,
        result: Result<Vec<SocketAddr>, SourceError>,
        interval: Duration,
        now: Instant,
        options: &DnsOptions,
    ) -> Duration {
        self.pulls += 1;
        let delay = match result {
            Ok(mut addrs) => {
                addrs.sort();
                addrs.dedup();
                self.addrs = addrs;
                self.last_success = Some(now);
                self.last_error = None;
                self.consecutive_failures = 0;
                interval
            }
            Err(error) => {
                self.consecutive_failures = self.consecutive_failures.saturating_add(1);
                self.last_error = Some(Arc::new(error));
                if self
                    .last_success
                    .is_some_and(|t| now.saturating_duration_since(t) > options.stale_after)
                {
                    self.addrs.clear();
                }
                options.retry_delay(self.consecutive_failures).min(interval)
            }
        }
        .max(crate::options::MIN_DELAY);
        self.next_try = Some(now + delay);
        delay
    }
}

/// What a source's task needs of the refresher that runs it (the refresher's shared state
/// implements it): its options, its stop signal, and where each pull's status goes.
pub(crate) trait SourceSink: Send + Sync + 'static {
    /// The refresher's options (a failing source's backoff and staleness).
    fn options(&self) -> &DnsOptions;

    /// Becomes true when the refresher stops.
    fn stop_signal(&self) -> watch::Receiver<bool>;

    /// Feeds a source's new status to its host (its set joins the host's union). Returns
    /// `false` when the source was removed or replaced, or the refresher stopped.
    fn apply_source(&self, host: &str, name: &str, generation: u64, status: &SourceStatus) -> bool;
}

/// One source of one host: pulls it, feeds its set, sleeps.
pub(crate) async fn run_source<S: AddressSource>(
    shared: Arc<impl SourceSink>,
    host: Arc<str>,
    name: Arc<str>,
    generation: u64,
    source: S,
    first: oneshot::Sender<SourceStatus>,
) {
    let mut stop = shared.stop_signal();
    let mut first = Some(first);
    let mut status = SourceStatus::new(name.clone());
    loop {
        let result = tokio::select! {
            biased;
            _ = stop.wait_for(|stop| *stop) => return,
            result = source.addrs(&host) => result,
        };
        if let Err(e) = &result {
            tracing::warn!(%host, source = %name, error = %e, "address source failed; keeping its last good set");
        }
        let delay = status.record(
            result,
            source.refresh_interval(),
            Instant::now(),
            shared.options(),
        );
        if !shared.apply_source(&host, &name, generation, &status) {
            return; // removed, replaced or stopped meanwhile
        }
        if let Some(first) = first.take() {
            let _ = first.send(status.clone());
        }
        tokio::select! {
            biased;
            _ = stop.wait_for(|stop| *stop) => return,
            () = tokio::time::sleep(delay) => {}
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test(start_paused = true)]
    async fn a_failing_source_keeps_its_set_until_stale() {
        let options = DnsOptions {
            retry_backoff: Duration::from_secs(1),
            max_retry_backoff: Duration::from_secs(60),
            stale_after: Duration::from_secs(100),
            ..DnsOptions::default()
        };
        let interval = Duration::from_secs(30);
        let t0 = Instant::now();
        let mut s = SourceStatus::new("pool".into());
        let a: SocketAddr = "127.0.0.2:443".parse().unwrap();
        assert_eq!(s.record(Ok(vec![a, a]), interval, t0, &options), interval);
        assert_eq!(s.addrs, vec![a]);
        let err = || Err(SourceError::new("down"));
        assert_eq!(
            s.record(err(), interval, t0, &options),
            Duration::from_secs(1)
        );
        assert_eq!(
            s.record(err(), interval, t0, &options),
            Duration::from_secs(2)
        );
        assert_eq!(s.addrs, vec![a], "kept through failures");
        assert_eq!(s.consecutive_failures, 2);
        // Backoff never longer than the interval.
        for _ in 0..10 {
            s.record(err(), interval, t0, &options);
        }
        assert_eq!(s.next_try, Some(t0 + interval));
        s.record(err(), interval, t0 + Duration::from_secs(101), &options);
        assert!(s.addrs.is_empty(), "stale");
    }

    #[tokio::test]
    async fn static_source_answers_its_list() {
        let a: SocketAddr = "[::1]:443".parse().unwrap();
        let s = StaticSource::new([a]);
        assert_eq!(s.addrs("x.test").await.unwrap(), vec![a]);
        assert!(s.refresh_interval() >= Duration::from_secs(3600));
    }
}
