//! The parts of a host's stack that a feature can leave out, under the names
//! [`HostStack`](crate::HostStack) uses either way:
//! - `dns` (default): [`pool_dns::DnsRefresher`] resolves hosts with hickory (the config's
//!   name servers, DoT, DoH, per-family TTLs). Without it, [`SystemResolver`] takes its
//!   place: the system's resolver (`tokio::net::lookup_host`, i.e. getaddrinfo) at start
//!   and every `pool.dns_update_interval`, or a host's static `addrs`; `[dns]` servers are
//!   not used.
//! - `health` (default): `pool_health::HealthChecker` probes idle connections. Without
//!   it, no checker runs (a broken idle connection is found when a request takes it).

#[cfg(feature = "dns")]
pub(crate) use pool_dns::DnsRefresher;
#[cfg(not(feature = "dns"))]
pub use system::{DnsOptions, ResolveError, SystemResolver, SystemResolver as DnsRefresher};

#[cfg(not(feature = "health"))]
pub(crate) use no_health::{HealthChecker, HealthOptions, RequestProbe, TransportProbe};
#[cfg(feature = "health")]
pub(crate) use pool_health::{HealthChecker, RequestProbe, TransportProbe};

/// `Config::dns_options()` and `Config::health_options()` for the parts a feature left
/// out (with the feature, [`ConfigOptions`](crate::ConfigOptions) has them).
#[cfg(not(all(feature = "dns", feature = "health")))]
pub(crate) trait PartOptions {
    /// What the system resolver reads: `pool.dns_update_interval`, `dns.timeout`,
    /// `dns.prefer`.
    #[cfg(not(feature = "dns"))]
    fn dns_options(&self) -> DnsOptions;
    /// Nothing: no checker runs.
    #[cfg(not(feature = "health"))]
    fn health_options(&self) -> HealthOptions;
}

#[cfg(not(all(feature = "dns", feature = "health")))]
impl PartOptions for pool_config::Config {
    #[cfg(not(feature = "dns"))]
    fn dns_options(&self) -> DnsOptions {
        DnsOptions {
            warm_new_addrs: true,
            dns_update_interval: self.pool.dns_update_interval,
            query_timeout: self.dns.timeout,
            prefer: self.dns.prefer,
        }
    }

    #[cfg(not(feature = "health"))]
    fn health_options(&self) -> HealthOptions {
        HealthOptions
    }
}

/// Stand-ins with the health checker's shape that do nothing.
#[cfg(not(feature = "health"))]
mod no_health {
    use pool_core::{Dialer, Pool};

    /// No options.
    pub(crate) struct HealthOptions;

    /// No checker.
    pub(crate) struct HealthChecker;

    impl HealthChecker {
        pub(crate) fn start<D: Dialer, P>(_pool: &Pool<D>, _probe: P, _o: HealthOptions) -> Self {
            Self
        }

        #[allow(clippy::unused_async)]
        pub(crate) async fn stop(&self) {}
    }

    /// No request probe.
    pub(crate) struct RequestProbe;

    impl RequestProbe {
        pub(crate) fn new(_validation: pool_http::Validation) -> Self {
            Self
        }
    }

    /// No transport probe.
    pub(crate) struct TransportProbe;
}

#[cfg(not(feature = "dns"))]
mod system {
    use std::net::{IpAddr, SocketAddr};
    use std::sync::{Arc, Mutex, PoisonError};
    use std::time::Duration;

    use pool_config::IpPreference;
    use pool_core::{Dialer, Pool};
    use tokio::task::JoinHandle;

    /// What [`SystemResolver`] reads of the config.
    #[derive(Clone, Debug)]
    pub struct DnsOptions {
        /// New addresses are warmed (every pool) as they appear.
        pub warm_new_addrs: bool,
        /// How often a resolved host is looked up again (`pool.dns_update_interval`).
        pub dns_update_interval: Duration,
        /// The bound of one lookup (`dns.timeout`).
        pub query_timeout: Duration,
        /// Which families are kept (`dns.prefer`).
        pub prefer: IpPreference,
    }

    /// A host the system resolver could not resolve: the lookup failed, timed out, or
    /// gave no address of the preferred families.
    #[derive(Debug, thiserror::Error)]
    #[error("{0}")]
    pub struct ResolveError(String);

    /// The pools fed with the same answers (one per egress), not generic over the dialer.
    trait Sink: Send + Sync + 'static {
        /// Sets `host`'s addresses in every pool; whether the first pool got new ones.
        fn set_addrs(&self, host: &str, addrs: &[SocketAddr]) -> bool;
        fn spawn_warm(&self, host: &str);
    }

    struct Pools<D: Dialer>(Vec<Pool<D>>);

    impl<D: Dialer> Sink for Pools<D> {
        fn set_addrs(&self, host: &str, addrs: &[SocketAddr]) -> bool {
            let mut added = false;
            for (i, pool) in self.0.iter().enumerate() {
                let change = pool.set_addrs(host, addrs.iter().copied());
                added |= i == 0 && !change.added.is_empty();
            }
            added
        }

        fn spawn_warm(&self, host: &str) {
            for pool in &self.0 {
                let (pool, host) = (pool.clone(), host.to_owned());
                // Detached: a warm-up runs to its end (each dial bounded by the dialer).
                tokio::spawn(async move { drop(pool.warm(&host).await) });
            }
        }
    }

    /// A host's addresses from the system's resolver (built without the `dns` feature):
    /// looked up when the host is added and every `dns_update_interval` after (a failed
    /// lookup keeps the last answer), or pinned with [`SystemResolver::add_static`].
    pub struct SystemResolver {
        sink: Arc<dyn Sink>,
        options: DnsOptions,
        refreshing: Mutex<Vec<JoinHandle<()>>>,
    }

    impl std::fmt::Debug for SystemResolver {
        fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
            f.debug_struct("SystemResolver")
                .field("options", &self.options)
                .finish_non_exhaustive()
        }
    }

    impl SystemResolver {
        /// A resolver feeding `pools` (one per egress of a host).
        ///
        /// # Errors
        /// Never; fallible like `pool_dns::DnsRefresher::start_for_pools`.
        pub fn start_for_pools<D: Dialer>(
            pools: &[Pool<D>],
            options: DnsOptions,
        ) -> Result<Self, std::convert::Infallible> {
            Ok(Self {
                sink: Arc::new(Pools(pools.to_vec())),
                options,
                refreshing: Mutex::new(Vec::new()),
            })
        }

        /// Pins `host` to `addrs` (no lookup); new addresses are warmed.
        pub fn add_static(&self, host: &str, addrs: impl IntoIterator<Item = SocketAddr>) {
            let addrs: Vec<SocketAddr> = addrs.into_iter().collect();
            feed(&*self.sink, &self.options, host, &addrs);
        }

        /// Looks `host` up (port `port` on every address), feeds the answer to the pools
        /// and looks it up again every `dns_update_interval` until stopped.
        ///
        /// # Errors
        /// The first lookup failed, timed out or gave no usable address.
        pub async fn add_host(
            &self,
            host: &str,
            port: u16,
        ) -> Result<Vec<SocketAddr>, ResolveError> {
            let addrs = lookup(&self.options, host, port).await?;
            feed(&*self.sink, &self.options, host, &addrs);
            let (sink, options, name) = (self.sink.clone(), self.options.clone(), host.to_owned());
            let task = tokio::spawn(async move {
                loop {
                    tokio::time::sleep(options.dns_update_interval).await;
                    match lookup(&options, &name, port).await {
                        Ok(addrs) => feed(&*sink, &options, &name, &addrs),
                        Err(e) => {
                            tracing::info!(host = name, error = %e, "lookup failed: last addresses kept")
                        }
                    }
                }
            });
            self.tasks().push(task);
            Ok(addrs)
        }

        /// Stops looking hosts up.
        #[allow(clippy::unused_async)]
        pub async fn stop(&self) {
            for task in self.tasks().drain(..) {
                task.abort();
            }
        }

        fn tasks(&self) -> std::sync::MutexGuard<'_, Vec<JoinHandle<()>>> {
            self.refreshing
                .lock()
                .unwrap_or_else(PoisonError::into_inner)
        }
    }

    impl Drop for SystemResolver {
        fn drop(&mut self) {
            for task in self.tasks().drain(..) {
                task.abort();
            }
        }
    }

    fn feed(sink: &dyn Sink, options: &DnsOptions, host: &str, addrs: &[SocketAddr]) {
        if sink.set_addrs(host, addrs) && options.warm_new_addrs {
            sink.spawn_warm(host);
        }
    }

    /// One lookup of `host`, bounded by `query_timeout`, filtered by `prefer`.
    async fn lookup(
        options: &DnsOptions,
        host: &str,
        port: u16,
    ) -> Result<Vec<SocketAddr>, ResolveError> {
        let found =
            tokio::time::timeout(options.query_timeout, tokio::net::lookup_host((host, port)))
                .await
                .map_err(|_| ResolveError(format!("no answer within {:?}", options.query_timeout)))?
                .map_err(|e| ResolveError(e.to_string()))?;
        let keep = |ip: &IpAddr| match options.prefer {
            IpPreference::Ipv4 => ip.is_ipv4(),
            IpPreference::Ipv6 => ip.is_ipv6(),
            IpPreference::Both => true,
        };
        let mut addrs: Vec<SocketAddr> = found.filter(|a| keep(&a.ip())).collect();
        addrs.sort();
        addrs.dedup();
        if addrs.is_empty() {
            return Err(ResolveError(
                "no address of the preferred families".to_owned(),
            ));
        }
        Ok(addrs)
    }
}
