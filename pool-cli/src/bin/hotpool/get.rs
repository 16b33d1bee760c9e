//! `hotpool get URL`: one request through the pool, like `curl`: the body on stdout (or
//! `-o FILE`), `-i` for the status line and headers, `--json` for a report. It sends
//! `Accept-Encoding: gzip, deflate, br, zstd` and decodes the body (`--raw`: as sent).

use std::io::Write;
use std::process::ExitCode;
use std::time::Instant;

use pool_core::Dialer;
use pool_http::HttpConnection;
use pool_http::http_body_util::BodyExt;
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
    /// The response headers as received (`content-encoding` included).
    headers: Vec<(String, String)>,
    /// The body's bytes as written (decoded unless `--raw`).
    body_bytes: usize,
    /// Whether the body was decoded from its `content-encoding`.
    decoded: bool,
    /// Where the body went (`-o`), if anywhere.
    output: Option<String>,
    elapsed_ms: f64,
}

/// `hotpool get URL`. Exit status 0 for any HTTP response (as curl without `--fail`).
pub async fn run(global: &Global, args: &GetArgs) -> Result<ExitCode, Error> {
    let mut cfg = load_config(global)?;
    let url = parse_url(&args.url)?;
    let mut host = args.target.apply(&mut cfg, &url.authority)?;
    // `--rtt`: kept until the command ends (dropping it stops the relay).
    let _relay = args.target.wan_relay(&mut cfg, &mut host).await?;
    with_dialer!(&cfg, &host, |dialer| {
        get_with(global, args, &cfg, dialer, &host, &url).await
    })
}

async fn get_with<D: Dialer<Conn: HttpConnection>>(
    global: &Global,
    args: &GetArgs,
    cfg: &pool_config::Config,
    dialer: hotpool::stack::Dialers<D>,
    host: &HostSpec,
    url: &Url,
) -> Result<ExitCode, Error> {
    let started = Instant::now();
    let stack = Stack::start(cfg, dialer, host, false).await?;
    let result = fetch(global, args, &stack, host, url).await;
    let elapsed = started.elapsed();
    stack.stop().await;
    let (parts, body_bytes, decoded) = result?;
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
            body_bytes,
            decoded,
            output: args.output.as_ref().map(|p| p.display().to_string()),
            elapsed_ms: elapsed.as_secs_f64() * 1e3,
        };
        print_json(&out)?;
    }
    Ok(ExitCode::SUCCESS)
}

/// Sends the request and streams the body to `-o FILE` or stdout (with `--json`, only to
/// `-o`), chunk by chunk: a large body is never held whole, and no size limit applies
/// unless `--max-filesize` sets one (a `content-length` above it fails before anything is
/// written; a body growing past it — as sent, or decoded — fails there, the bytes written
/// so far left in place as curl does). Deadlines are pool-http's (`--timeout` /
/// `pool.request_timeout` for the headers, the body-idle timeout between chunks). The
/// body is decoded from its `content-encoding` unless `--raw` (`pool_http::decode_response`,
/// default bounds plus `--max-filesize`); `-i` and `--json` show the headers as received.
/// Returns the head as received, the bytes written, and whether they were decoded.
async fn fetch<D: Dialer<Conn: HttpConnection>>(
    global: &Global,
    args: &GetArgs,
    stack: &Stack<D>,
    host: &HostSpec,
    url: &Url,
) -> Result<(http::response::Parts, usize, bool), Error> {
    let failed = |e: &dyn std::fmt::Display| Error::new(format!("get {}: {e}", args.url));
    let mut request = stack::get_request(&url.path).map_err(|e| failed(&e))?;
    // Browser profiles carry no Accept-Encoding value of their own: Chrome, Edge and
    // Firefox send this same one (Safari omits zstd).
    request.headers_mut().insert(
        http::header::ACCEPT_ENCODING,
        http::HeaderValue::from_static(pool_http::DEFAULT_ACCEPT_ENCODING),
    );
    let max = args
        .max_filesize
        .map(|m| usize::try_from(m).unwrap_or(usize::MAX));
    let options = stack.request.clone().with_max_response_body(max);
    let response = pool_http::send_with(&stack.pools, &host.name, request, &options)
        .await
        .map_err(|e| failed(&e))?;
    let received = response.headers().clone();
    let response = if args.raw {
        let (parts, body) = response.into_parts();
        http::Response::from_parts(parts, pool_http::Decoded::pass(body))
    } else {
        let limits = pool_http::DecodeLimits {
            max_decoded: args.max_filesize,
            ..pool_http::DecodeLimits::default()
        };
        pool_http::decode_response(response, limits)
    };
    let (mut parts, mut body) = response.into_parts();
    let decoded = body.is_decoding();
    parts.headers = received;
    let too_large = |limit: u64| {
        Error::new(format!(
            "get {}: the body is larger than --max-filesize {limit} bytes",
            args.url
        ))
    };
    if let (Some(limit), Some(length)) = (args.max_filesize, content_length(&parts.headers))
        && length > limit
    {
        return Err(too_large(limit));
    }
    let mut sink: Box<dyn Write> = match &args.output {
        Some(path) => Box::new(std::io::BufWriter::new(
            std::fs::File::create(path)
                .map_err(|e| Error::new(format!("-o {}: {e}", path.display())))?,
        )),
        None if global.json => Box::new(std::io::sink()),
        None => Box::new(std::io::stdout().lock()),
    };
    let write_failed = |e: std::io::Error| Error::new(format!("cannot write the response: {e}"));
    if args.include && !global.json {
        let mut head = format!("{:?} {}\n", parts.version, parts.status);
        for (name, value) in &parts.headers {
            head.push_str(&format!(
                "{name}: {}\n",
                String::from_utf8_lossy(value.as_bytes())
            ));
        }
        head.push('\n');
        let mut stdout = std::io::stdout().lock();
        stdout.write_all(head.as_bytes()).map_err(write_failed)?;
        stdout.flush().map_err(write_failed)?;
    }
    let mut written = 0;
    while let Some(frame) = body.frame().await {
        let frame = match frame {
            Ok(frame) => frame,
            Err(pool_http::RequestError::BodyTooLarge { limit }) => {
                sink.flush().map_err(write_failed)?;
                return Err(too_large(limit as u64));
            }
            Err(pool_http::RequestError::Decode(pool_http::DecodeError::TooLarge { limit })) => {
                sink.flush().map_err(write_failed)?;
                return Err(too_large(limit));
            }
            Err(e) => return Err(failed(&e)),
        };
        if let Ok(data) = frame.into_data() {
            sink.write_all(&data).map_err(write_failed)?;
            written += data.len();
        }
    }
    sink.flush().map_err(write_failed)?;
    Ok((parts, written, decoded))
}

/// The response's `content-length`, when it has a valid one.
fn content_length(headers: &http::HeaderMap) -> Option<u64> {
    headers
        .get(http::header::CONTENT_LENGTH)?
        .to_str()
        .ok()?
        .trim()
        .parse()
        .ok()
}
