//! The bounded soak: mixed load with injected faults against local origins, on every
//! protocol — HTTP/1.1, HTTP/2, HTTP/3 and auto ALPN (an h1 host and an h2 host in one
//! pool) — for a fixed time; prints what happened per protocol and checks that no failure
//! was one a safe retry could have saved and that nothing leaked.
//!
//! Run it as `cargo xtask soak --secs 60 [--proto h1|h2|h3|auto|all]` (which runs
//! `cargo run --release -p hotpool-tests --example soak -- …`). With `--proto all` (the
//! default) the protocols run one after the other, each for an equal share of `--secs`
//! (at least 5 s each), each with its own servers and pool, in one process.
//!
//! Set-up per protocol ([`tcp`] for h1, h2 and auto; [`quic`] for h3): origins on
//! `127.0.20x.0/24`, a DNS server whose answer for each host is four of six addresses and
//! changes, a pool with `pool-dns` refreshing it and `pool-health` probing it. Sixteen
//! workers send requests through `pool_http::send_with_attempts` (one in ten a POST)
//! while an injector cycles through faults every 400 ms — over TCP through a
//! [`FaultProxy`](pool_testkit::FaultProxy): reset, GOAWAY, handshake stall, black hole,
//! refused address, close after N bytes, responses held then reset, slow link, frozen
//! PINGs; over QUIC at the origin: GOAWAY, CONNECTION_CLOSE, an answer that includes an
//! address nobody listens on, a slow origin; everywhere: DNS changes, SERVFAIL, NXDOMAIN,
//! a silent DNS server, shedding.
//!
//! Every failed request is classified ([`load::Tally`]): *a retry could have saved it*
//! (`pool_http::Attempts::retry_could_have_saved`: the retry policy would have retried
//! the last attempt's error — never sent, refused, or an idempotent request that lost a
//! reused connection — but attempts ran out) versus *failed by its own cause* (every
//! address down, deadline passed, a non-idempotent request on a lost connection, a
//! fresh connection lost under it, …).
//!
//! Checks per protocol (any failure exits non-zero): no failure a retry could have saved;
//! requests succeed most of the time (at least 50 %); no worker panics; the pool's stats
//! are consistent after `close()`; the open fds return to the baseline; RSS does not grow
//! after warm-up by more than `max(16 MiB, 25 % of the warm-up RSS)`.

mod dns;
mod load;
mod quic;
mod tcp;

use std::process::ExitCode;
use std::time::Duration;

/// A protocol the soak runs on.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Proto {
    H1,
    H2,
    H3,
    Auto,
}

impl Proto {
    const ALL: [Proto; 4] = [Proto::H1, Proto::H2, Proto::H3, Proto::Auto];

    fn name(self) -> &'static str {
        match self {
            Proto::H1 => "h1",
            Proto::H2 => "h2",
            Proto::H3 => "h3",
            Proto::Auto => "auto",
        }
    }
}

/// The command line: `--secs N` and `--proto h1|h2|h3|auto|all`, both optional.
fn parse_args() -> Result<(u64, Vec<Proto>), String> {
    let usage = "usage: soak [--secs N] [--proto h1|h2|h3|auto|all]";
    let mut secs = 60;
    let mut protos = Proto::ALL.to_vec();
    let mut args = std::env::args().skip(1);
    while let Some(flag) = args.next() {
        let value = args.next().ok_or_else(|| usage.to_owned())?;
        match flag.as_str() {
            "--secs" => {
                secs = value
                    .parse()
                    .ok()
                    .filter(|n| *n > 0)
                    .ok_or_else(|| format!("--secs wants a positive number, got `{value}`"))?;
            }
            "--proto" => {
                protos = match value.as_str() {
                    "all" => Proto::ALL.to_vec(),
                    name => vec![
                        *Proto::ALL
                            .iter()
                            .find(|p| p.name() == name)
                            .ok_or_else(|| format!("unknown protocol `{name}`; {usage}"))?,
                    ],
                };
            }
            _ => return Err(usage.to_owned()),
        }
    }
    Ok((secs, protos))
}

fn main() -> ExitCode {
    let (secs, protos) = match parse_args() {
        Ok(args) => args,
        Err(e) => {
            eprintln!("soak: {e}");
            return ExitCode::FAILURE;
        }
    };
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("a tokio runtime");
    let share = Duration::from_secs(secs / protos.len() as u64).max(Duration::from_secs(5));
    let names: Vec<&str> = protos.iter().map(|p| p.name()).collect();
    println!(
        "soak: {} for {:.0} s each, one after the other ({secs} s split between them)",
        names.join(", "),
        share.as_secs_f64()
    );
    let mut verdicts = Vec::new();
    for proto in protos {
        println!();
        println!("== {} ==", proto.name());
        let result = runtime.block_on(async {
            match proto {
                Proto::H1 => tcp::soak(tcp::Kind::H1, share).await,
                Proto::H2 => tcp::soak(tcp::Kind::H2, share).await,
                Proto::Auto => tcp::soak(tcp::Kind::Auto, share).await,
                Proto::H3 => quic::soak(share).await,
            }
        });
        match &result {
            Ok(()) => println!("{}: PASS", proto.name()),
            Err(e) => println!("{}: FAILED: {e}", proto.name()),
        }
        verdicts.push((proto, result));
    }
    println!();
    let failed: Vec<String> = verdicts
        .iter()
        .filter_map(|(p, r)| r.as_ref().err().map(|e| format!("{}: {e}", p.name())))
        .collect();
    if failed.is_empty() {
        println!("soak: PASS");
        ExitCode::SUCCESS
    } else {
        eprintln!("soak: FAILED: {}", failed.join(" | "));
        ExitCode::FAILURE
    }
}
