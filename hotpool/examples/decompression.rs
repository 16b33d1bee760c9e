//! `cargo run -p hotpool --example decompression`: response bodies decoded by the client.
//!
//! A local HTTPS origin (pool-testkit, on 127.0.0.2: no network) serves the same page
//! encoded in gzip, br and zstd. The client asks for them with `Accept-Encoding` (set by
//! default) and hands back the decoded bytes; [`DecodedFrom`] says what came over the
//! wire, `.raw()` returns the bytes as sent, and [`DecodeLimits`] bounds what a body may
//! decode to (a decompression bomb is an error, not an out-of-memory).

use std::sync::Arc;

use hotpool::{Client, DecodeLimits, DecodedFrom, RequestError};
use pool_testkit::TestCa;
use pool_testkit::origin::{H2Origin, H2OriginOptions};

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    // The origin: its certificate is for the IP 127.0.0.2, issued by a throwaway test CA
    // that the client is told to trust (a PEM file in a temporary directory).
    let ca = Arc::new(TestCa::new()?);
    let origin = H2Origin::start(H2OriginOptions::new(
        &["127.0.0.2".parse()?],
        &["127.0.0.2"],
        &ca,
    ))
    .await?;
    let dir = std::env::temp_dir().join(format!("hotpool-decompression-{}", std::process::id()));
    std::fs::create_dir_all(&dir)?;
    ca.write_ca_pem(dir.join("ca.pem"))?;
    let base = format!("https://127.0.0.2:{}", origin.port());

    // A client with the default limits: decoding on, no size bound, at most 100:1.
    let client = Client::builder().ca_file(dir.join("ca.pem")).build()?;

    // `/encoded/{coding}/{n}`: the first n bytes of a text page, encoded in {coding}.
    for coding in ["gzip", "br", "zstd"] {
        let response = client
            .get(format!("{base}/encoded/{coding}/20000"))
            .send()
            .await?;
        // Decoding removed `content-encoding` (and the encoded `content-length`, when the
        // server sent one) from the headers; they are kept in the response's extensions.
        let from = response
            .extensions()
            .get::<DecodedFrom>()
            .cloned()
            .ok_or("the body was not decoded")?;
        let body = response.into_body().bytes().await?;
        println!(
            "{coding:>4}: {} bytes, decoded from content-encoding {:?}",
            body.len(),
            from.content_encoding
        );
    }

    // `.raw()`: no `Accept-Encoding` added and nothing decoded, the bytes as the server
    // sent them (here it encodes whatever is asked, so it still sends gzip).
    let raw = client
        .get(format!("{base}/encoded/gzip/20000"))
        .raw()
        .send()
        .await?;
    let encoding = raw.headers().get("content-encoding").cloned();
    let bytes = raw.into_body().bytes().await?;
    println!(
        " raw: {} bytes as sent, content-encoding {encoding:?}, starting {:02x?} (the gzip magic)",
        bytes.len(),
        &bytes[..2]
    );

    // A bound on the decoded size: a 60 KB page is too big for a client that accepts 16 KiB.
    let small = Client::builder()
        .ca_file(dir.join("ca.pem"))
        .decode(DecodeLimits {
            max_decoded: Some(16 << 10),
            ..DecodeLimits::default()
        })
        .build()?;
    let response = small
        .get(format!("{base}/encoded/zstd/60000"))
        .send()
        .await?;
    match response.into_body().bytes().await {
        Err(RequestError::Decode(e)) => println!("limit: {e}"),
        other => return Err(format!("expected a decode error, got {other:?}").into()),
    }

    // A decompression bomb (`/bomb/br`: a few bytes that decode to 1 GiB of zeros): the
    // default ratio bound (100:1 past the first MiB) stops it early.
    let response = client.get(format!("{base}/bomb/br")).send().await?;
    match response.into_body().bytes().await {
        Err(RequestError::Decode(e)) => println!("bomb: {e}"),
        other => return Err(format!("expected a decode error, got {other:?}").into()),
    }

    client.close().await;
    small.close().await;
    origin.shutdown().await;
    std::fs::remove_dir_all(dir)?;
    Ok(())
}
