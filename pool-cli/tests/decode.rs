//! `hotpool get` decodes a body from its `Content-Encoding` (gzip, deflate, br, zstd), sends
//! `Accept-Encoding`, prints the bytes as sent with `--raw`, and stops a decompression
//! bomb with a clear error.

mod common;

use std::net::{IpAddr, Ipv4Addr};
use std::path::Path;
use std::sync::Arc;

use common::{RUN_LIMIT, json, run_hotpool, stderr, temp_dir};
use pool_testkit::origin::{CODINGS, encode, encoded_content};
use pool_testkit::{H2Origin, H2OriginOptions, TestCa};

const HOST: &str = "decode.cli.test";

/// An origin on 127.0.0.`last` and the `--resolve` / `--cacert` arguments that reach it,
/// then its base URL.
async fn origin(last: u8, dir: &Path) -> (H2Origin, Vec<String>, String) {
    let ip = IpAddr::V4(Ipv4Addr::new(127, 0, 0, last));
    let ca = Arc::new(TestCa::new().unwrap());
    let origin = H2Origin::start(H2OriginOptions::new(&[ip], &[HOST], &ca))
        .await
        .unwrap();
    let ca_file = dir.join("ca.pem");
    ca.write_ca_pem(&ca_file).unwrap();
    let port = origin.port();
    let args = vec![
        "--resolve".to_owned(),
        format!("{HOST}:{port}:{ip}"),
        "--cacert".to_owned(),
        ca_file.to_str().unwrap().to_owned(),
    ];
    (origin, args, format!("https://{HOST}:{port}"))
}

/// `hotpool get URL target... extra...`.
async fn get(url: &str, target: &[String], extra: &[&str]) -> std::process::Output {
    let mut args = vec!["get", url];
    args.extend(target.iter().map(String::as_str));
    args.extend_from_slice(extra);
    run_hotpool(&args, &[], RUN_LIMIT).await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn get_decodes_every_coding_and_raw_prints_the_bytes_as_sent() {
    let dir = temp_dir("cli-decode", "codings");
    let (origin, target, base) = origin(91, &dir).await;
    const N: usize = 100_000;
    let content = encoded_content(N);
    for (coding, header) in CODINGS {
        let url = format!("{base}/encoded/{coding}/{N}");
        let file = dir.join(format!("{coding}.out"));
        let file = file.to_str().unwrap();

        let out = get(&url, &target, &["-o", file, "--json"]).await;
        assert!(out.status.success(), "{coding}: {}", stderr(&out));
        assert!(std::fs::read(file).unwrap() == content, "{coding}: decoded");
        let report = json(&out);
        assert_eq!(report["decoded"], true, "{coding}");
        assert_eq!(report["body_bytes"], N, "{coding}");
        // The headers as received.
        let headers = report["headers"].as_array().unwrap();
        assert!(
            headers
                .iter()
                .any(|h| h[0] == "content-encoding" && h[1] == header),
            "{coding}: {headers:?}"
        );

        let out = get(&url, &target, &["-o", file, "--raw", "--json"]).await;
        assert!(out.status.success(), "{coding}: {}", stderr(&out));
        let sent = encode(coding, &content).unwrap();
        assert!(std::fs::read(file).unwrap() == sent, "{coding}: as sent");
        assert_eq!(json(&out)["decoded"], false, "{coding}");
    }
    // What was asked for.
    let out = get(&format!("{base}/echo"), &target, &[]).await;
    assert!(out.status.success(), "{}", stderr(&out));
    let echo = String::from_utf8_lossy(&out.stdout);
    assert!(
        echo.lines()
            .any(|l| l == "accept-encoding: gzip, deflate, br, zstd"),
        "{echo}"
    );
    origin.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_bomb_and_max_filesize_stop_the_decoding_with_a_clear_error() {
    let dir = temp_dir("cli-decode", "bomb");
    let (origin, target, base) = origin(92, &dir).await;
    let file = dir.join("bomb.out");
    let file = file.to_str().unwrap();
    let out = get(&format!("{base}/bomb/gzip"), &target, &["-o", file]).await;
    let err = stderr(&out);
    assert!(!out.status.success(), "{err}");
    assert!(err.contains("decompression bomb"), "{err}");
    assert!(err.contains("/bomb/gzip"), "the error names the URL: {err}");
    // The bytes before the bound were written: a little over 1 MiB, not 1 GiB.
    let written = std::fs::metadata(file).unwrap().len();
    assert!(written <= 2 << 20, "{written}");

    // `--max-filesize` bounds the decoded size too.
    let url = format!("{base}/encoded/br/3000000");
    let out = get(&url, &target, &["-o", file, "--max-filesize", "1000000"]).await;
    let err = stderr(&out);
    assert!(!out.status.success(), "{err}");
    assert!(
        err.contains("larger than --max-filesize 1000000 bytes"),
        "{err}"
    );
    origin.shutdown().await;
}
