//! `cargo run -p hotpool --example redirects`: redirects followed by the client.
//!
//! Two local origins (pool-testkit, no network): plain HTTP on 127.0.0.3 and HTTPS on
//! 127.0.0.2. The client follows a chain across both and says where it landed
//! ([`ResponseUrl`]); a 303 turns a POST into a GET; a chain longer than the limit is a
//! typed error; and [`RedirectPolicy::NONE`] hands back the 3xx itself.

use std::sync::Arc;

use hotpool::{Client, RedirectPolicy, RequestError, ResponseUrl};
use pool_testkit::TestCa;
use pool_testkit::origin::{H2Origin, H2OriginOptions};

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    // HTTPS on 127.0.0.2 (a certificate for that IP from a test CA the client trusts), and
    // plain HTTP/1.1 on 127.0.0.3.
    let ca = Arc::new(TestCa::new()?);
    let https = H2Origin::start(H2OriginOptions::new(
        &["127.0.0.2".parse()?],
        &["127.0.0.2"],
        &ca,
    ))
    .await?;
    let plain = H2Origin::start(H2OriginOptions::plain(&["127.0.0.3".parse()?])).await?;
    let dir = std::env::temp_dir().join(format!("hotpool-redirects-{}", std::process::id()));
    std::fs::create_dir_all(&dir)?;
    ca.write_ca_pem(dir.join("ca.pem"))?;
    let secure = format!("https://127.0.0.2:{}", https.port());

    // The default policy follows up to 10 redirects.
    let client = Client::builder().ca_file(dir.join("ca.pem")).build()?;

    // `http://…/redirect-to?url=U` answers 301 to U; on the HTTPS origin `/redirect/302/3`
    // redirects three times (`/redirect/302/2`, `/1`, `/0`) and `/redirect/302/0` echoes
    // the request it got.
    let start = format!(
        "http://127.0.0.3:{}/redirect-to?status=301&url={secure}/redirect/302/3",
        plain.port()
    );
    let response = client.get(&start).send().await?;
    let landed = response.extensions().get::<ResponseUrl>().cloned();
    println!("GET {start}");
    println!(
        "  -> {} {:?}, landed at {}",
        response.status(),
        response.version(),
        landed.map(|u| u.0.to_string()).unwrap_or_default()
    );
    let echo = response.into_body().text().await?;
    println!("  the last request: {}", echo.lines().next().unwrap_or(""));

    // A 303 is followed with a GET (the POST body is not sent again).
    let response = client
        .post(format!("{secure}/redirect/303/1"))
        .body("form=data")
        .send()
        .await?;
    let echo = response.into_body().text().await?;
    println!(
        "POST answered 303 -> the next request: {}",
        echo.lines().next().unwrap_or("")
    );

    // A client that follows at most 2: a chain of 5 stops with a typed error.
    let short = Client::builder()
        .ca_file(dir.join("ca.pem"))
        .redirects(RedirectPolicy::limited(2))
        .build()?;
    let err = short
        .get(format!("{secure}/redirect/301/5"))
        .send()
        .await
        .expect_err("5 redirects are more than 2");
    match err.request_error() {
        Some(RequestError::Redirect(e)) => println!("limit of 2: {e}"),
        _ => return Err(format!("expected a redirect error, got {err}").into()),
    }

    // `RedirectPolicy::NONE`: the 3xx is the response; its `location` is for the caller.
    let none = Client::builder()
        .ca_file(dir.join("ca.pem"))
        .redirects(RedirectPolicy::NONE)
        .build()?;
    let response = none.get(format!("{secure}/redirect/307/1")).send().await?;
    println!(
        "NONE: {} with location {:?}",
        response.status(),
        response.headers().get("location")
    );
    // Read (or drop) every response before `close`, which waits for bodies still open.
    response.into_body().bytes().await?;

    for c in [client, short, none] {
        c.close().await;
    }
    https.shutdown().await;
    plain.shutdown().await;
    std::fs::remove_dir_all(dir)?;
    Ok(())
}
