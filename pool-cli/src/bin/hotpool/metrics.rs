//! The process's `metrics` recorders: the Prometheus exporter (metrics-exporter-prometheus)
//! behind `--metrics-addr`, and always the tally of the polite metrics (`tally.rs`).

use std::net::{SocketAddr, TcpListener};

use metrics_exporter_prometheus::PrometheusBuilder;
use metrics_util::layers::FanoutBuilder;

use crate::Error;
use crate::tally::Tally;

/// Installs the process's `metrics` recorder: the [`Tally`] of the polite metrics (for
/// `bench`'s report), and with `prometheus` the Prometheus recorder too, served over HTTP
/// on that address (any path answers). Port 0 is replaced by a free port first, because
/// the exporter cannot report the port it bound. Returns the address served.
///
/// Must run inside the tokio runtime the commands use, and before any pool is built
/// (pool-core resolves its metric handles when a pool is created).
pub fn install(prometheus: Option<SocketAddr>) -> Result<Option<SocketAddr>, Error> {
    let Some(tally) = Tally::new_global() else {
        return Err(Error::new("internal: metrics installed twice"));
    };
    let Some(addr) = prometheus else {
        metrics::set_global_recorder(tally).map_err(|e| Error::new(format!("metrics: {e}")))?;
        return Ok(None);
    };
    let addr = if addr.port() == 0 {
        let probe = TcpListener::bind(addr)
            .map_err(|e| Error::new(format!("metrics: cannot bind {addr}: {e}")))?;
        let picked = probe
            .local_addr()
            .map_err(|e| Error::new(format!("metrics: {e}")))?;
        drop(probe);
        picked
    } else {
        addr
    };
    let (recorder, exporter) = PrometheusBuilder::new()
        .with_http_listener(addr)
        .build()
        .map_err(|e| Error::new(format!("metrics: cannot serve on {addr}: {e}")))?;
    tokio::spawn(async move {
        if let Err(e) = exporter.await {
            tracing::warn!(error = ?e, "metrics: the exporter stopped");
        }
    });
    let both = FanoutBuilder::default()
        .add_recorder(recorder)
        .add_recorder(tally)
        .build();
    metrics::set_global_recorder(both).map_err(|e| Error::new(format!("metrics: {e}")))?;
    describe();
    Ok(Some(addr))
}

/// HELP texts of the pool's metrics.
fn describe() {
    use metrics::{describe_counter, describe_gauge, describe_histogram};
    use pool_core::metrics as m;
    describe_counter!(m::LEASES_TOTAL, "Leases handed out.");
    describe_counter!(m::DIALS_TOTAL, "Dials finished (successful or not).");
    describe_counter!(m::DIAL_FAILURES_TOTAL, "Failed dials, by kind.");
    describe_counter!(m::CLOSED_TOTAL, "Connections closed, by reason.");
    describe_gauge!(m::CONNECTIONS, "Connections, by state.");
    describe_gauge!(m::BLACKLISTED, "Addresses on the dynamic blacklist.");
    describe_gauge!(m::WAITERS, "Callers waiting for a connection.");
    describe_gauge!(
        m::REUSE_RATE,
        "(leases - dials) / leases since the pool started."
    );
    describe_counter!(m::PROBES_TOTAL, "Health probes completed.");
    describe_counter!(m::PROBE_FAILURES_TOTAL, "Health probes that failed.");
    describe_counter!(
        m::SHED_TOTAL,
        "Connections closed by memory-pressure shedding (memory_limit)."
    );
    describe_histogram!(
        m::CHECKOUT_WAIT_SECONDS,
        metrics::Unit::Seconds,
        "How long get() waited, for calls that had to wait."
    );
    describe_histogram!(
        m::DIAL_SECONDS,
        metrics::Unit::Seconds,
        "Dial time: connect + handshake + validation."
    );
}
