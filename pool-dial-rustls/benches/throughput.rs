//! Hot throughput: 64 concurrent requests (64 tasks, each sending one request after
//! another) on a 2-thread client runtime against a local TLS + HTTP/2 origin on 16
//! addresses of one host, hotpool vs reqwest, and the client's CPU time per request.
//!
//! The origin runs in a child process, so `getrusage(RUSAGE_SELF)` measures the client
//! alone. Each round sends `N` requests per client, clients alternating round by round;
//! the figures are the medians over the rounds. Variants:
//! - `hotpool`: a warm `Pool<H2Dialer>` over the host's 16 addresses (one connection
//!   each, leases spread by load);
//! - `hotpool_1_addr`: the same pool given only the first address (one connection, like
//!   reqwest), to separate "spreading over addresses" from "the client stack";
//! - `reqwest`: a `reqwest::Client` (rustls + ring, HTTP/2 by ALPN) with the host resolved
//!   to the same 16 addresses; it keeps one HTTP/2 connection per host, as it does.
//!
//! Writes `throughput.jsonl` (see `common::out_dir`) for `cargo xtask bench`.

mod common;

use std::sync::Arc;

use bytes::Bytes;
use common::{HOST, OriginProcess};
use pool_core::{Pool, PoolOptions};
use pool_dial_rustls::H2Dialer;
use pool_http::{Empty, HttpLeaseExt};

const CONCURRENCY: usize = 64;
const ADDRS: usize = 16;

async fn hot_pool(origin: &OriginProcess, addrs: usize) -> Arc<Pool<H2Dialer>> {
    let options = PoolOptions {
        max_connections: 1000,
        max_conns_per_host: 1000,
        max_idle_conns: 1000,
        ..PoolOptions::default()
    };
    let dialer = H2Dialer::new(origin.h2_options()).expect("dialer");
    let pool = Pool::new(dialer, options).expect("pool");
    pool.set_addrs(HOST, origin.addrs[..addrs].iter().copied());
    assert_eq!(pool.warm(HOST).await.ok, addrs, "warm-up");
    Arc::new(pool)
}

fn main() {
    common::origin_main_if_child();
    let quick = common::quick();
    let (n, rounds) = if quick { (4_000, 3) } else { (20_000, 7) };
    let origin = OriginProcess::start(ADDRS);
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("runtime");

    let pool = rt.block_on(hot_pool(&origin, ADDRS));
    let pool_1 = rt.block_on(hot_pool(&origin, 1));
    let client = common::reqwest_client(&origin, &origin.addrs, false);
    let url: Arc<str> = format!("https://{HOST}:{}/", origin.addrs[0].port()).into();

    let via_pool = |pool: Arc<Pool<H2Dialer>>| {
        move || {
            let pool = Arc::clone(&pool);
            async move {
                let lease = pool.get(HOST).await.expect("lease");
                let response = lease
                    .request(http::Request::new(Empty::<Bytes>::new()))
                    .await
                    .expect("request");
                let body = response.into_body().bytes().await.expect("body");
                assert!(!body.is_empty());
            }
        }
    };
    let via_reqwest = {
        let client = client.clone();
        let url = Arc::clone(&url);
        move || {
            let client = client.clone();
            let url = Arc::clone(&url);
            async move { common::reqwest_get(&client, &url, http::Version::HTTP_2).await }
        }
    };

    let variants: [&str; 3] = ["hotpool", "hotpool_1_addr", "reqwest"];
    let mut rps: [Vec<f64>; 3] = Default::default();
    let mut cpu_ns: [Vec<f64>; 3] = Default::default();
    // Round 0 warms every client (reqwest dials its connection there) and is not kept.
    for r in 0..=rounds {
        for (i, name) in variants.iter().enumerate() {
            let measured = rt.block_on(async {
                match *name {
                    "hotpool" => common::round(n, CONCURRENCY, via_pool(Arc::clone(&pool))).await,
                    "hotpool_1_addr" => {
                        common::round(n, CONCURRENCY, via_pool(Arc::clone(&pool_1))).await
                    }
                    _ => common::round(n, CONCURRENCY, via_reqwest.clone()).await,
                }
            });
            if r > 0 {
                rps[i].push(n as f64 / measured.wall.as_secs_f64());
                cpu_ns[i].push(measured.cpu.as_nanos() as f64 / n as f64);
            }
        }
    }
    let mut lines = Vec::new();
    for (i, name) in variants.iter().enumerate() {
        let line = format!(
            "{{\"bench\":\"throughput\",\"client\":\"{name}\",\"concurrency\":{CONCURRENCY},\"addresses\":{},\"requests_per_round\":{n},\"rounds\":{rounds},\"requests_per_sec\":{:.0},\"cpu_ns_per_request\":{:.0}}}",
            if *name == "hotpool_1_addr" { 1 } else { ADDRS },
            common::median(&mut rps[i]),
            common::median(&mut cpu_ns[i]),
        );
        println!("{line}");
        lines.push(line);
    }
    common::write_jsonl("throughput", &lines);
    rt.block_on(async {
        pool.close().await;
        pool_1.close().await;
    });
    drop(client);
    drop(rt);
    drop(origin);
}
