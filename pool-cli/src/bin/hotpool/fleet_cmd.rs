//! `hotpool fleet status`: what the `[fleet]` backend holds — every ban with the time it
//! has left, each host's budget claims, the live workers and the hosts they pool — as a
//! table, or with `--json` as one object. Read in the backend's `[fleet] mode`: one
//! server, every master of a Redis Cluster, or the master the sentinels name.

use hotpool::ConfigOptions;
use std::process::ExitCode;
use std::time::Duration;

use pool_config::FleetBackend;
use pool_core::{BlacklistReason, FleetEvent};
use pool_redis::{FleetConfig, FleetMode, FleetStatus};
use serde::Serialize;

use crate::{Error, load_config};

/// The deadline of each Redis call of the status read.
const CALL_TIMEOUT: Duration = Duration::from_secs(2);

#[derive(Debug, Serialize)]
struct BanJson {
    host: String,
    addr: String,
    reason: &'static str,
    ttl_ms: u128,
    worker: String,
}

#[derive(Debug, Serialize)]
struct BudgetJson {
    host: String,
    held: u64,
    max: Option<usize>,
    claims: Vec<(String, u64)>,
}

#[derive(Debug, Serialize)]
struct StatusJson {
    /// The server, or the seed nodes or sentinels, comma-separated.
    url: String,
    /// `single`, `cluster` or `sentinel`.
    mode: &'static str,
    prefix: String,
    bans: Vec<BanJson>,
    budgets: Vec<BudgetJson>,
    workers: Vec<(String, Vec<String>)>,
    workers_per_host: Vec<(String, usize)>,
    malformed: usize,
}

fn reason(reason: BlacklistReason, retestable: bool) -> &'static str {
    match (reason, retestable) {
        (BlacklistReason::Failures, _) => "failures",
        (_, false) => "banned by a probe",
        _ => "banned",
    }
}

fn to_json(status: &FleetStatus, fleet: &FleetConfig) -> StatusJson {
    let max = fleet.max_conns_per_host;
    let bans = status
        .bans
        .iter()
        .filter_map(|b| match &b.message.event {
            FleetEvent::Ban(ban) => Some(BanJson {
                host: ban.host.clone(),
                addr: ban.addr.to_string(),
                reason: reason(ban.reason, ban.retestable),
                ttl_ms: ban.ttl.as_millis(),
                worker: b.message.worker.clone(),
            }),
            FleetEvent::Unban { .. } => None,
        })
        .collect();
    let budgets = status
        .budgets
        .iter()
        .map(|b| BudgetJson {
            host: b.host.clone(),
            held: b.claims.iter().map(|(_, n)| n).sum(),
            max,
            claims: b.claims.clone(),
        })
        .collect();
    StatusJson {
        // Every server of the deployment, passwords redacted: the one server, the seed
        // nodes or the sentinels.
        url: fleet
            .nodes()
            .map(ToString::to_string)
            .collect::<Vec<_>>()
            .join(","),
        mode: match fleet.mode {
            FleetMode::Single => "single",
            FleetMode::Cluster => "cluster",
            FleetMode::Sentinel { .. } => "sentinel",
        },
        prefix: fleet.prefix.clone(),
        bans,
        budgets,
        workers: status
            .workers
            .iter()
            .map(|w| (w.worker.clone(), w.hosts.clone()))
            .collect(),
        workers_per_host: status.workers_per_host(),
        malformed: status.malformed,
    }
}

/// `fleet status`.
pub async fn status(global: &crate::args::Global) -> Result<ExitCode, Error> {
    let cfg = load_config(global)?;
    if cfg.fleet.backend != FleetBackend::Redis {
        return Err(Error::new(
            "no fleet backend: set [fleet] backend = \"redis\" (or HOTPOOL_FLEET__BACKEND=redis)",
        ));
    }
    let fleet = match cfg.fleet_config() {
        Some(Ok(fleet)) => fleet,
        Some(Err(e)) => return Err(Error::new(e.to_string())),
        None => return Err(Error::new("no fleet backend")),
    };
    let status = pool_redis::status_of(&fleet, CALL_TIMEOUT)
        .await
        .map_err(|e| Error::new(format!("fleet at {}: {e}", fleet.url)))?;
    let report = to_json(&status, &fleet);
    if global.json {
        let text =
            serde_json::to_string_pretty(&report).map_err(|e| Error::new(format!("json: {e}")))?;
        println!("{text}");
        return Ok(ExitCode::SUCCESS);
    }
    println!(
        "fleet {} ({}, prefix {:?})",
        report.url, report.mode, report.prefix
    );
    println!("bans: {}", report.bans.len());
    for b in &report.bans {
        let left = Duration::from_millis(u64::try_from(b.ttl_ms).unwrap_or(u64::MAX));
        println!(
            "  {:<30} {:<24} {:<18} {:>10} left  by {}",
            b.host,
            b.addr,
            b.reason,
            humantime::format_duration(Duration::from_secs(left.as_secs())).to_string(),
            b.worker
        );
    }
    println!("budgets: {}", report.budgets.len());
    for b in &report.budgets {
        let max = b.max.map_or("?".to_owned(), |m| m.to_string());
        println!("  {:<30} {}/{max} held", b.host, b.held);
    }
    println!("workers: {}", report.workers.len());
    for (host, n) in &report.workers_per_host {
        println!("  {host:<30} {n} worker(s)");
    }
    if report.malformed > 0 {
        println!("malformed keys under the prefix: {}", report.malformed);
    }
    Ok(ExitCode::SUCCESS)
}
