//! `hotpool get URL`: one request through the pool, like `curl`: the body on stdout (or
//! `-o FILE`), `-i` for the status line and headers, `--json` for a report.

use std::io::Write;
use std::process::ExitCode;
use std::time::Instant;

use pool_core::Dialer;
use pool_http::HttpConnection;
use serde::Serialize;

use crate::args::{GetArgs, Global};
use crate::report::print_json;
use crate::stack::{self, HostSpec, Stack, with_dialer};
use crate::target::{Url, parse_url};
use crate::{Error, load_config};

/// The `--json` report of `get`.
#[derive(Debug, Serialize)]
struct GetJson {
    url: String,
    transport: &'static str,
    status: u16,
    version: String,
    headers: Vec<(String, String)>,
    body_bytes: usize,
    /// Where the body went (`-o`), if anywhere.
    output: Option<String>,
    elapsed_ms: f64,
}

/// `hotpool get URL`. Exit status 0 for any HTTP response (as curl without `--fail`).
pub async fn run(global: &Global, args: &GetArgs) -> Result<ExitCode, Error> {
    let mut cfg = load_config(global)?;
    let url = parse_url(&args.url)?;
    let host = args.target.apply(&mut cfg, &url.authority)?;
    with_dialer!(&cfg, &host, |dialer| {
        get_with(global, args, &cfg, dialer, &host, &url).await
    })
}

async fn get_with<D: Dialer<Conn: HttpConnection>>(
    global: &Global,
    args: &GetArgs,
    cfg: &pool_config::Config,
    dialer: D,
    host: &HostSpec,
    url: &Url,
) -> Result<ExitCode, Error> {
    let deadline = args.target.deadline();
    let started = Instant::now();
    let stack = Stack::start(cfg, dialer, host).await?;
    let sent = tokio::time::timeout(deadline, stack::get(&stack.pool, &host.name, &url.path)).await;
    let elapsed = started.elapsed();
    stack.stop().await;
    let response = match sent {
        Err(_) => {
            return Err(Error::new(format!(
                "get {}: no response within {} (--timeout)",
                args.url,
                humantime::format_duration(deadline)
            )));
        }
        Ok(Err(e)) => return Err(Error::new(format!("get {}: {e}", args.url))),
        Ok(Ok(response)) => response,
    };
    let (parts, body) = response.into_parts();
    if let Some(path) = &args.output {
        std::fs::write(path, &body)
            .map_err(|e| Error::new(format!("-o {}: {e}", path.display())))?;
    }
    if global.json {
        let out = GetJson {
            url: args.url.clone(),
            transport: stack.transport,
            status: parts.status.as_u16(),
            version: format!("{:?}", parts.version),
            headers: parts
                .headers
                .iter()
                .map(|(k, v)| {
                    (
                        k.to_string(),
                        String::from_utf8_lossy(v.as_bytes()).into_owned(),
                    )
                })
                .collect(),
            body_bytes: body.len(),
            output: args.output.as_ref().map(|p| p.display().to_string()),
            elapsed_ms: elapsed.as_secs_f64() * 1e3,
        };
        print_json(&out)?;
        return Ok(ExitCode::SUCCESS);
    }
    let mut stdout = std::io::stdout().lock();
    let written = (|| -> std::io::Result<()> {
        if args.include {
            writeln!(stdout, "{:?} {}", parts.version, parts.status)?;
            for (name, value) in &parts.headers {
                stdout.write_all(name.as_str().as_bytes())?;
                stdout.write_all(b": ")?;
                stdout.write_all(value.as_bytes())?;
                stdout.write_all(b"\n")?;
            }
            stdout.write_all(b"\n")?;
        }
        if args.output.is_none() {
            stdout.write_all(&body)?;
        }
        stdout.flush()
    })();
    written.map_err(|e| Error::new(format!("cannot write the response: {e}")))?;
    Ok(ExitCode::SUCCESS)
}
