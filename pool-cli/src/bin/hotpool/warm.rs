//! `hotpool warm HOST`: resolve, dial every address (within the limits), report.

use std::net::SocketAddr;
use std::process::ExitCode;

use pool_config::Transport as TransportKind;
use pool_core::Dialer;
use pool_http::HttpConnection;
use serde::Serialize;

use crate::args::{Global, WarmArgs};
use crate::progress::{WarmBar, cap_note};
use crate::report::{print_json, table};
use crate::stack::{HostSpec, Stack};
use crate::{Error, load_config};

/// The `--json` report of `warm`.
#[derive(Debug, Serialize)]
struct WarmJson {
    host: String,
    port: u16,
    transport: &'static str,
    /// Addresses the host resolved to (or its static list).
    addresses: Vec<SocketAddr>,
    planned: usize,
    /// Addresses that may be dialed (inside the whitelist, not blacklisted).
    allowed_addresses: usize,
    /// The limit that kept the warm-up from dialing every allowed address, if one did.
    capped_by: Option<LimitJson>,
    ok: usize,
    failed: usize,
    blacklisted: usize,
    elapsed_ms: f64,
    /// Open connections per address after the warm-up.
    connections: Vec<AddrConns>,
    /// One line per failed dial.
    failures: Vec<String>,
}

/// A pool limit and its value, as named in the configuration file.
#[derive(Debug, Serialize)]
struct LimitJson {
    key: &'static str,
    value: usize,
}

#[derive(Debug, Serialize)]
struct AddrConns {
    address: SocketAddr,
    connections: usize,
}

/// `hotpool warm HOST`. Exit status 0 when at least one address connected.
pub async fn run(global: &Global, args: &WarmArgs) -> Result<ExitCode, Error> {
    let cfg = load_config(global)?;
    let host = HostSpec::parse(&args.host, &cfg)?;
    match host.transport {
        TransportKind::H2 => {
            let dialer = crate::stack::h2_dialer(&cfg, &host)?;
            warm_with(global, &cfg, dialer, &host).await
        }
        TransportKind::H1 => {
            let dialer = crate::stack::h1_dialer(&cfg, &host)?;
            warm_with(global, &cfg, dialer, &host).await
        }
        TransportKind::Auto => {
            let dialer = crate::stack::https_dialer(&cfg, &host)?;
            warm_with(global, &cfg, dialer, &host).await
        }
        TransportKind::H3 => {
            let dialer = crate::stack::quic_dialer(&cfg, &host)?;
            warm_with(global, &cfg, dialer, &host).await
        }
        other => Err(Error::new(format!(
            "warm: transport {:?} of {} is not supported by the CLI (it sends requests over h1, h2, auto or h3)",
            other.as_str(),
            host.name
        ))),
    }
}

async fn warm_with<D: Dialer<Conn: HttpConnection>>(
    global: &Global,
    cfg: &pool_config::Config,
    dialer: D,
    host: &HostSpec,
) -> Result<ExitCode, Error> {
    let stack = Stack::start(cfg, dialer, host).await?;
    let addresses = stack.pool.addrs(&host.name);
    let mut bar = WarmBar::new(&host.name);
    let report = stack
        .pool
        .warm_with_progress(&host.name, |p| bar.update(p))
        .await;
    let failures = bar.finish(&report);
    let mut per_addr: Vec<AddrConns> = addresses
        .iter()
        .map(|a| AddrConns {
            address: *a,
            connections: 0,
        })
        .collect();
    for c in stack.pool.connections() {
        if let Some(row) = per_addr.iter_mut().find(|r| r.address == c.addr) {
            row.connections += 1;
        }
    }
    stack.stop().await;
    let out = WarmJson {
        host: host.name.clone(),
        port: host.port,
        transport: stack.transport,
        addresses,
        planned: report.planned,
        allowed_addresses: report.addresses,
        capped_by: report.capped_by.map(|limit| LimitJson {
            key: limit.key(),
            value: limit.value(),
        }),
        ok: report.ok,
        failed: report.failed,
        blacklisted: report.blacklisted,
        elapsed_ms: report.elapsed.as_secs_f64() * 1e3,
        connections: per_addr,
        failures,
    };
    if global.json {
        print_json(&out)?;
    } else {
        println!(
            "{} ({}, port {}): {} addresses, {} connected, {} failed, {} blacklisted in {:.1}ms{}",
            out.host,
            out.transport,
            out.port,
            out.addresses.len(),
            out.ok,
            out.failed,
            out.blacklisted,
            out.elapsed_ms,
            cap_note(&report)
        );
        let rows: Vec<Vec<String>> = out
            .connections
            .iter()
            .map(|r| vec![r.address.to_string(), r.connections.to_string()])
            .collect();
        print!("{}", table(&["address", "connections"], &rows));
        for f in &out.failures {
            println!("  failed {f}");
        }
    }
    if out.ok == 0 {
        let why = out
            .failures
            .first()
            .cloned()
            .unwrap_or_else(|| "no address to dial".to_owned());
        return Err(Error::new(format!(
            "warm {}: no connection made ({why})",
            out.host
        )));
    }
    Ok(ExitCode::SUCCESS)
}
