//! `cargo run -p hotpool --example client`: the client against local origins (no network):
//! an HTTPS host on two addresses (HTTP/2), a redirect to it from a plain `http://` one, and
//! a gzip body decoded on the way.

use std::sync::Arc;

use hotpool::{Client, Config, ResponseUrl};
use pool_testkit::TestCa;
use pool_testkit::origin::{H2Origin, H2OriginOptions};

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    // Two local origins: HTTPS on 127.0.0.2 and .3 (a test CA), plain HTTP on 127.0.0.4.
    let ca = Arc::new(TestCa::new()?);
    let addrs = ["127.0.0.2".parse()?, "127.0.0.3".parse()?];
    let https = H2Origin::start(H2OriginOptions::new(&addrs, &["example.test"], &ca)).await?;
    let plain = H2Origin::start(H2OriginOptions::plain(&["127.0.0.4".parse()?])).await?;
    let dir = std::env::temp_dir().join(format!("hotpool-example-{}", std::process::id()));
    std::fs::create_dir_all(&dir)?;
    ca.write_ca_pem(dir.join("ca.pem"))?;
    let config = "[tls]\nca_files = [\"ca.pem\"]\nuse_webpki_roots = false\n\n\
         [[hosts]]\nname = \"example.test\"\ntransport = \"auto\"\naddrs = [\"127.0.0.2\", \"127.0.0.3\"]\n";
    std::fs::write(dir.join("hotpool.toml"), config)?;

    let client = Client::builder()
        .config(Config::from_file(dir.join("hotpool.toml"))?)
        .build()?;
    let target = format!("https://example.test:{}/encoded/gzip/2000", https.port());
    let start = format!(
        "http://127.0.0.4:{}/redirect-to?status=301&url={target}",
        plain.port()
    );
    let response = client.get(&start).send().await?;
    let landed = response
        .extensions()
        .get::<ResponseUrl>()
        .map(|u| u.0.to_string());
    println!(
        "{} {:?} from {}",
        response.status(),
        response.version(),
        landed.unwrap_or_default()
    );
    let body = response.into_body().bytes().await?;
    println!("{} bytes, decoded from gzip", body.len());
    for _ in 0..3 {
        let response = client
            .get(format!("https://example.test:{}/", https.port()))
            .send()
            .await?;
        println!("served by {:?}", response.headers().get("x-served-by"));
    }
    client.close().await;
    std::fs::remove_dir_all(dir)?;
    Ok(())
}
