//! The demo's local origins as it counts them: handshakes, requests and connections by
//! protocol, in total and per address, the same for every transport; and the TLS origins
//! of `--proto h2|h1|auto`.

use std::collections::BTreeMap;
use std::net::IpAddr;
use std::sync::Arc;

use pool_testkit::{H2Origin, H2OriginOptions, H3Origin, TestCa};
use tokio::runtime::Handle;

use super::{DEMO_HOST, on_servers};
use crate::Error;
use crate::args::DemoProto;

/// Counters of a local origin, the same for every transport.
#[derive(Clone, Copy, Debug, Default)]
pub(crate) struct OriginCounts {
    pub(crate) handshakes: u64,
    pub(crate) requests: u64,
    /// Connections that spoke HTTP/2, HTTP/1.1, HTTP/3.
    h2: u64,
    http1: u64,
    h3: u64,
}

impl OriginCounts {
    fn of_tls(s: &pool_testkit::OriginStats) -> Self {
        OriginCounts {
            handshakes: s.handshakes,
            requests: s.requests,
            h2: s.h2_connections,
            http1: s.http1_connections,
            h3: 0,
        }
    }

    fn add(&mut self, o: OriginCounts) {
        self.handshakes += o.handshakes;
        self.requests += o.requests;
        self.h2 += o.h2;
        self.http1 += o.http1;
        self.h3 += o.h3;
    }

    /// Connections by protocol from `base` to `self`, the protocols seen only.
    pub(crate) fn protocols_since(&self, base: &OriginCounts) -> BTreeMap<&'static str, u64> {
        [
            ("h2", self.h2 - base.h2),
            ("http/1.1", self.http1 - base.http1),
            ("h3", self.h3 - base.h3),
        ]
        .into_iter()
        .filter(|(_, n)| *n > 0)
        .collect()
    }
}

/// A local origin as the demo sees it.
pub(crate) trait DemoOrigin: Send + Sync + 'static {
    fn totals(&self) -> OriginCounts;
    fn per_addr(&self) -> BTreeMap<IpAddr, OriginCounts>;
}

/// The TLS origins of one demo run (one, or for `auto` two on the same port).
pub(crate) struct TlsOrigins(pub(crate) Vec<Arc<H2Origin>>);

impl TlsOrigins {
    /// The port every one of them listens on.
    pub(crate) fn port(&self) -> u16 {
        self.0[0].port()
    }
}

impl DemoOrigin for TlsOrigins {
    fn totals(&self) -> OriginCounts {
        let mut total = OriginCounts::default();
        for o in &self.0 {
            total.add(OriginCounts::of_tls(&o.stats()));
        }
        total
    }
    fn per_addr(&self) -> BTreeMap<IpAddr, OriginCounts> {
        self.0
            .iter()
            .flat_map(|o| o.per_addr_stats())
            .map(|(ip, s)| (ip, OriginCounts::of_tls(&s)))
            .collect()
    }
}

impl DemoOrigin for H3Origin {
    fn totals(&self) -> OriginCounts {
        let s = self.stats();
        OriginCounts {
            handshakes: s.handshakes,
            requests: s.requests,
            h3: s.handshakes,
            ..OriginCounts::default()
        }
    }
    fn per_addr(&self) -> BTreeMap<IpAddr, OriginCounts> {
        self.addrs()
            .iter()
            .filter_map(|ip| {
                let s = self.stats_for(*ip)?;
                let c = OriginCounts {
                    handshakes: s.handshakes,
                    requests: s.requests,
                    h3: s.handshakes,
                    ..OriginCounts::default()
                };
                Some((*ip, c))
            })
            .collect()
    }
}

/// Starts the TLS origins of `proto` on `ips`: HTTP/1.1 only for `h1`; ALPN `h2, http/1.1`
/// for `h2`; for `auto` the first half of the addresses (rounded up) speak `h2, http/1.1`
/// and the rest HTTP/1.1 only, on the same port.
pub(crate) async fn start_tls(
    servers: &Handle,
    proto: DemoProto,
    ca: &Arc<TestCa>,
    ips: &[IpAddr],
) -> Result<Arc<TlsOrigins>, Error> {
    let split = match proto {
        DemoProto::Auto => ips.len().div_ceil(2),
        _ => ips.len(),
    };
    let first = match proto {
        DemoProto::H1 => H2OriginOptions::h1_only(ips, &[DEMO_HOST], ca),
        _ => H2OriginOptions::new(&ips[..split], &[DEMO_HOST], ca),
    };
    let first = start(servers, first).await?;
    let mut origins = vec![first.clone()];
    if split < ips.len() {
        let rest = H2OriginOptions {
            port: first.port(),
            ..H2OriginOptions::h1_only(&ips[split..], &[DEMO_HOST], ca)
        };
        match start(servers, rest).await {
            Ok(o) => origins.push(o),
            Err(e) => {
                shutdown(servers, &origins).await;
                return Err(e);
            }
        }
    }
    Ok(Arc::new(TlsOrigins(origins)))
}

async fn start(servers: &Handle, options: H2OriginOptions) -> Result<Arc<H2Origin>, Error> {
    on_servers(servers, async move {
        H2Origin::start(options).await.map(Arc::new)
    })
    .await?
    .map_err(|e| Error::new(format!("demo origin: {e}")))
}

/// Shuts `origins` down on the servers' runtime.
pub(crate) async fn shutdown(servers: &Handle, origins: &[Arc<H2Origin>]) {
    for o in origins {
        let o = Arc::clone(o);
        let _ = on_servers(servers, async move { o.shutdown().await }).await;
    }
}
