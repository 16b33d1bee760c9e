//! `hotpool warm HOST`: resolve, dial every address (within the limits), report.

use std::net::SocketAddr;
use std::process::ExitCode;

use pool_dns::FamilyStatus;
use serde::Serialize;

use crate::args::{Global, WarmArgs};
use crate::progress::{WarmBar, cap_note};
use crate::report::{print_json, table};
use crate::{Error, load_config};
use hotpool::stack::HostSpec;

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
    /// Each resolved address family's state (empty for static hosts).
    dns: Vec<FamilyJson>,
}

/// One address family's DNS state, as `warm` reports it.
#[derive(Debug, Serialize)]
struct FamilyJson {
    family: &'static str,
    /// Addresses of the family's last good answer.
    addresses: usize,
    ttl_s: Option<u64>,
    /// The failure kind of the last lookup (`refused`, `servfail`, `timeout`, ...), if it
    /// gave no addresses.
    error_kind: Option<&'static str>,
    error: Option<String>,
    /// Seconds until the family is looked up again.
    next_lookup_s: Option<f64>,
}

impl FamilyJson {
    fn new(f: &FamilyStatus) -> Self {
        let now = tokio::time::Instant::now();
        Self {
            family: f.family.as_str(),
            addresses: f.ips.len(),
            ttl_s: f.ttl.map(|t| t.as_secs()),
            error_kind: f.last_error.as_ref().map(|e| e.kind.as_str()),
            error: f.last_error.as_ref().map(|e| e.message.clone()),
            next_lookup_s: f
                .next_try
                .map(|t| t.saturating_duration_since(now).as_secs_f64()),
        }
    }
}

/// One line per family that failed (NODATA is an answer, not a failure), and with `-v`
/// each family's state.
fn report_families(global: &Global, host: &str, families: &[FamilyStatus]) {
    for f in families.iter().filter(|f| f.failing()) {
        if let Some(e) = &f.last_error {
            let using = if f.ips.is_empty() {
                "no address from it"
            } else {
                "keeping its last good answer"
            };
            eprintln!(
                "hotpool: warning: {host}: {} lookup failed: {} ({}); {using}",
                f.family,
                e.kind.as_str(),
                e.message
            );
        }
    }
    if global.verbose > 0 {
        for f in families.iter().map(FamilyJson::new) {
            eprintln!(
                "dns {host} {}: {} addresses, ttl {}, last error {}, next lookup in {}",
                f.family,
                f.addresses,
                f.ttl_s.map_or("-".to_owned(), |t| format!("{t}s")),
                f.error_kind.unwrap_or("none"),
                f.next_lookup_s
                    .map_or("-".to_owned(), |t| format!("{t:.1}s")),
            );
        }
    }
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
    /// The protocols those connections speak (`h1`, `h2`, `h3`, `stream`), each once.
    protocols: Vec<&'static str>,
}

/// `hotpool warm HOST`. Exit status 0 when at least one address connected.
pub async fn run(global: &Global, args: &WarmArgs) -> Result<ExitCode, Error> {
    let mut cfg = load_config(global)?;
    let mut host = args.target.apply(&mut cfg, &args.host)?;
    // `--rtt`: kept until the command ends (dropping it stops the relay).
    let _relay = args.target.wan_relay(&mut cfg, &mut host).await?;
    let client = crate::client::for_host(cfg, &host)?;
    let result = warm_with(global, &client, &host).await;
    client.close().await;
    result
}

async fn warm_with(
    global: &Global,
    client: &hotpool::Client,
    host: &HostSpec,
) -> Result<ExitCode, Error> {
    let handle = client
        .host_handle(&crate::client::origin_url(host, true))
        .await?;
    let families = handle.dns_families();
    report_families(global, &host.name, &families);
    let addresses = handle.addrs();
    let mut bar = WarmBar::new(&host.name);
    let report = handle.warm_with_progress(|p| bar.update(p)).await;
    let failures = bar.finish(&report);
    let mut per_addr: Vec<AddrConns> = addresses
        .iter()
        .map(|a| AddrConns {
            address: *a,
            connections: 0,
            protocols: Vec::new(),
        })
        .collect();
    // Addresses on the dynamic blacklist before or during the warm-up (a ban learnt from the
    // fleet included), so that "nothing to dial" says why.
    let banned = addresses
        .iter()
        .filter(|a| handle.blacklisted(a.ip()))
        .count();
    for c in handle.connections() {
        if let Some(row) = per_addr.iter_mut().find(|r| r.address == c.addr) {
            row.connections += 1;
            let protocol = c.protocol.as_str();
            if !row.protocols.contains(&protocol) {
                row.protocols.push(protocol);
            }
        }
    }
    let out = WarmJson {
        host: host.name.clone(),
        port: host.port,
        transport: handle.transport(),
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
        dns: families.iter().map(FamilyJson::new).collect(),
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
            .map(|r| {
                vec![
                    r.address.to_string(),
                    r.connections.to_string(),
                    r.protocols.join(","),
                ]
            })
            .collect();
        print!("{}", table(&["address", "connections", "protocol"], &rows));
        for f in &out.failures {
            println!("  failed {f}");
        }
    }
    if out.ok == 0 {
        let why = out
            .failures
            .first()
            .cloned()
            .unwrap_or_else(|| match (out.addresses.len(), banned) {
                (0, _) => "no address to dial".to_owned(),
                (n, b) if b == n => format!("all {n} addresses are blacklisted"),
                (n, b) => format!(
                    "none of {n} addresses may be dialed ({b} blacklisted, the rest outside the whitelist or in the static blacklist)"
                ),
            });
        return Err(Error::new(format!(
            "warm {}: no connection made ({why})",
            out.host
        )));
    }
    Ok(ExitCode::SUCCESS)
}
