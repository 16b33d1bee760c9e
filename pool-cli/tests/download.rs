//! `hotpool get -o FILE` of a large body: streamed to the file with bounded memory (no
//! buffering limit applies to a stream), and `--max-filesize` stops it with a clear error
//! (issue 24).
// `getrusage` is a foreign function, so `unsafe` to call; the one call passes a zeroed
// struct it fills.
#![allow(unsafe_code)]

mod common;

use std::net::{IpAddr, Ipv4Addr};
use std::path::{Path, PathBuf};
use std::process::Output;
use std::sync::Arc;
use std::time::Duration;

use pool_testkit::{H2Origin, H2OriginOptions, TestCa};

/// Upper bound of one run (debug build, 2 cores, other tests running).
const RUN_LIMIT: Duration = Duration::from_secs(240);
/// The body of the large download: 200 MiB, far past the 64 MiB a buffered body may hold.
const LARGE: u64 = 200 << 20;
/// The most a child may have had resident: far below the body (a buffering client holds
/// all 200 MiB), with room for a debug binary, its runtime and its buffers.
const RSS_CEILING_KIB: i64 = 64 << 10;

fn ip(last: u8) -> IpAddr {
    IpAddr::V4(Ipv4Addr::new(127, 0, 0, last))
}

/// A fresh directory for one test's files.
fn dir(name: &str) -> PathBuf {
    let dir = Path::new(env!("CARGO_TARGET_TMPDIR"))
        .join(format!("cli-{}-download-{name}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

/// Runs `hotpool args...` with a clean environment, killed after [`RUN_LIMIT`].
async fn run(args: &[&str]) -> Output {
    common::run_hotpool(args, &[], RUN_LIMIT).await
}

/// The peak resident set of the children this process has waited for, in KiB (Linux:
/// `ru_maxrss` of `RUSAGE_CHILDREN`, the largest of them).
fn children_peak_rss_kib() -> i64 {
    let mut usage: libc::rusage = unsafe { std::mem::zeroed() };
    let rc = unsafe { libc::getrusage(libc::RUSAGE_CHILDREN, &mut usage) };
    assert_eq!(rc, 0, "getrusage: {}", std::io::Error::last_os_error());
    usage.ru_maxrss
}

/// An origin on `ip(last)` answering `/bytes/{n}` by streaming, and the `--resolve` /
/// `--cacert` arguments that reach it.
async fn origin(
    last: u8,
    options: impl FnOnce(H2OriginOptions) -> H2OriginOptions,
    dir: &Path,
) -> (H2Origin, Vec<String>) {
    let host = "download.cli.test";
    let ca = Arc::new(TestCa::new().unwrap());
    let origin = H2Origin::start(options(H2OriginOptions::new(&[ip(last)], &[host], &ca)))
        .await
        .unwrap();
    let ca_file = dir.join("ca.pem");
    ca.write_ca_pem(&ca_file).unwrap();
    let port = origin.port();
    let args = vec![
        "--resolve".to_owned(),
        format!("{host}:{port}:{}", ip(last)),
        "--cacert".to_owned(),
        ca_file.to_str().unwrap().to_owned(),
        format!("https://{host}:{port}"),
    ];
    (origin, args)
}

/// `get URL args...` where URL is the origin's base followed by `path`.
fn get_args<'a>(target: &'a [String], path: &str, extra: &[&'a str]) -> Vec<String> {
    let (url, rest) = target.split_last().unwrap();
    let mut args = vec!["get".to_owned(), format!("{url}{path}")];
    args.extend(rest.iter().cloned());
    args.extend(extra.iter().map(|s| (*s).to_owned()));
    args
}

/// 200 MiB over HTTP/2 to a file: complete, and the binary's peak memory stays far below
/// the body (a stream is not buffered, and not capped by the 64 MiB buffering limit).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_200_mib_body_streams_to_a_file_with_bounded_memory() {
    let dir = dir("large");
    let (origin, target) = origin(77, |o| o, &dir).await;
    let file = dir.join("large.bin");
    let file_arg = file.to_str().unwrap();
    let args = get_args(
        &target,
        &format!("/bytes/{LARGE}"),
        &["-o", file_arg, "--json"],
    );
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    let out = run(&args).await;
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "exit {:?}: {stderr}", out.status);
    assert_eq!(std::fs::metadata(&file).unwrap().len(), LARGE);
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        stdout.contains(&format!("\"body_bytes\":{LARGE}")),
        "{stdout}"
    );
    let peak = children_peak_rss_kib();
    eprintln!("peak RSS of hotpool get of {LARGE} bytes: {peak} KiB");
    assert!(peak < RSS_CEILING_KIB, "peak RSS {peak} KiB");
    std::fs::remove_file(&file).unwrap();
    origin.shutdown().await;
}

/// `--max-filesize`: a `content-length` above it fails before anything is written
/// (HTTP/1.1 announces the length); a body without one (the origin's HTTP/2 stream) that
/// grows past it stops there, the bytes written so far left in the file (as curl does).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn max_filesize_stops_a_larger_body_with_a_clear_error() {
    let dir = dir("max");
    let limit = 1_000_000u64;
    let limit_arg = limit.to_string();
    let too_large = "larger than --max-filesize 1000000 bytes";

    // Announced by content-length (HTTP/1.1).
    let (h1, target) = origin(
        78,
        |o| H2OriginOptions {
            alpn: vec![b"http/1.1".to_vec()],
            ..o
        },
        &dir,
    )
    .await;
    let file = dir.join("announced.bin");
    let file_arg = file.to_str().unwrap();
    let extra = [
        "--proto",
        "h1",
        "-o",
        file_arg,
        "--max-filesize",
        &limit_arg,
    ];
    let args = get_args(&target, "/bytes/3000000", &extra);
    let out = run(&args.iter().map(String::as_str).collect::<Vec<_>>()).await;
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success(), "{stderr}");
    assert!(stderr.contains(too_large), "{stderr}");
    assert!(!file.exists(), "nothing written");
    // Within the limit: the whole body.
    let extra = ["--proto", "h1", "-o", file_arg, "--max-filesize", "3000000"];
    let args = get_args(&target, "/bytes/3000000", &extra);
    let out = run(&args.iter().map(String::as_str).collect::<Vec<_>>()).await;
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(std::fs::metadata(&file).unwrap().len(), 3_000_000);
    h1.shutdown().await;

    // Not announced (HTTP/2 without content-length): stopped as it grows past the limit.
    let (h2, target) = origin(79, |o| o, &dir).await;
    let file = dir.join("grown.bin");
    let extra = ["-o", file.to_str().unwrap(), "--max-filesize", &limit_arg];
    let args = get_args(&target, "/bytes/3000000", &extra);
    let out = run(&args.iter().map(String::as_str).collect::<Vec<_>>()).await;
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success(), "{stderr}");
    assert!(stderr.contains(too_large), "{stderr}");
    let written = std::fs::metadata(&file).unwrap().len();
    assert!(written <= limit, "{written} bytes written");
    h2.shutdown().await;
}
