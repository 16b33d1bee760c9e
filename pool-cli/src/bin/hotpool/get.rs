//! `hotpool get URL`: one request through [`hotpool::Client`], like `curl`: the body on
//! stdout (or `-o FILE`), `-i` for the status line and headers, `--json` for a report,
//! `-L` to follow redirects (at most `--max-redirs`). `https://` and `http://` URLs. It
//! sends `Accept-Encoding: gzip, deflate, br, zstd` and decodes the body (`--raw`: as
//! sent).

use std::io::Write;
use std::process::ExitCode;
use std::time::Instant;

use hotpool::http::{HeaderValue, Uri, header};
use hotpool::{Client, RedirectPolicy, ResponseUrl, Transport};
use pool_http::http_body_util::BodyExt;
use serde::Serialize;

use crate::args::{GetArgs, Global, Proto};
use crate::report::print_json;
use crate::target::{Url, parse_http_url};
use crate::{Error, load_config};
use hotpool::stack::{HostSpec, split_host_port};

/// The `--json` report of `get`.
#[derive(Debug, Serialize)]
struct GetJson {
    url: String,
    /// The URL that answered: `url` unless `-L` followed redirects.
    final_url: String,
    /// The transport of the URL's host (`--proto`, its `[[hosts]]` entry, else auto;
    /// `http://`: HTTP/1.1 over TCP, h2c for h2).
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

/// `hotpool get`'s request as the client is given it.
struct Target {
    /// The URL as the user wrote it (named in errors and reports).
    asked: String,
    /// The same URL with the port the host is dialed at (`--connect-to`, `--rtt`, a
    /// `[[hosts]]` port): the client dials the URL's port.
    sent: Uri,
}

impl Target {
    /// `uri` as shown to the user: the URL asked for when it is the one sent, else as the
    /// client requested it (a `--connect-to` or `--rtt` port included: what the server was
    /// asked for, and what its relative redirects resolve against).
    fn shown(&self, uri: &Uri) -> String {
        if uri == &self.sent {
            self.asked.clone()
        } else {
            uri.to_string()
        }
    }

    /// A client error as one line: `get URL: what failed` (the URL that failed named when
    /// a redirect led elsewhere).
    fn error(&self, e: hotpool::Error, max_redirs: usize) -> Error {
        let sent = self.sent.to_string();
        let message = match &e {
            hotpool::Error::Request { url, source } if *url == sent => source.to_string(),
            hotpool::Error::Url { url, reason } if *url == sent => reason.clone(),
            _ => e.to_string(),
        };
        let hint = match e.request_error() {
            Some(pool_http::RequestError::Redirect(pool_http::RedirectError::TooMany {
                ..
            })) => format!(" (--max-redirs {max_redirs})"),
            _ => String::new(),
        };
        Error::new(format!("get {}: {message}{hint}", self.asked))
    }
}

/// `hotpool get`. Exit status 0 for any HTTP response (as curl without `--fail`).
pub async fn run(global: &Global, args: &GetArgs) -> Result<ExitCode, Error> {
    let mut cfg = load_config(global)?;
    let url = parse_http_url(&args.url)?;
    let (name, port) = split_host_port(&url.authority)?;
    if !url.tls && args.target.proto == Some(Proto::H3) {
        return Err(Error::new(format!(
            "--proto h3: {} is an http:// URL (HTTP/1.1 over TCP, or h2c with --proto h2)",
            args.url
        )));
    }
    let configured = cfg.hosts.iter().any(|h| h.name.eq_ignore_ascii_case(&name));
    // `http://` without a port is port 80 (a `[[hosts]]` port is an https one).
    let authority = match port {
        None if !url.tls => format!("{}:80", url.authority),
        _ => url.authority.clone(),
    };
    // Hosts without `--proto` or a `[[hosts]]` entry: auto, as the client's default (ALPN
    // h2 or http/1.1 over TLS; HTTP/1.1 over TCP for `http://`, h2c only with
    // `--proto h2` or an `h2c` entry).
    let default = args.target.proto.map_or(Transport::Auto, Proto::transport);
    let mut host = if args.location {
        args.target.apply_following(&mut cfg, &authority, default)?
    } else {
        args.target.apply(&mut cfg, &authority)?
    };
    if !configured && args.target.proto.is_none() {
        // An entry the options above made has the config's default transport (h2).
        if let Some(entry) = cfg
            .hosts
            .iter_mut()
            .find(|h| h.name.eq_ignore_ascii_case(&host.name))
        {
            entry.transport = Transport::Auto;
        }
        host.transport = Transport::Auto;
        if let Some(entry) = &mut host.entry {
            entry.transport = Transport::Auto;
        }
    }
    if !url.tls && args.target.proto == Some(Proto::H2) {
        // `--proto h2` on an `http://` URL: HTTP/2 with prior knowledge (h2c).
        host.transport = Transport::H2c;
        for entry in cfg.hosts.iter_mut().chain(host.entry.as_mut()) {
            if entry.name.eq_ignore_ascii_case(&host.name) {
                entry.transport = Transport::H2c;
            }
        }
    }
    crate::client::check_transport(&host)?;
    // `--rtt`: kept until the command ends (dropping it stops the relay).
    let _relay = args.target.wan_relay(&mut cfg, &mut host).await?;
    let target = Target {
        asked: args.url.clone(),
        sent: sent_uri(&url, &host)?,
    };
    let redirects = if args.location {
        RedirectPolicy::limited(args.max_redirs)
    } else {
        RedirectPolicy::NONE
    };
    let client = Client::builder()
        .config(cfg)
        .transport(default)
        .redirects(redirects)
        // Decoded here, to show the headers as received and whether it decoded.
        .no_decode()
        .build()?;
    let started = Instant::now();
    let result = fetch(global, args, &client, &target).await;
    let elapsed = started.elapsed();
    client.close().await;
    let fetched = result?;
    if global.json {
        let parts = &fetched.parts;
        let out = GetJson {
            url: args.url.clone(),
            final_url: fetched.final_url,
            transport: host.transport.as_str(),
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
            body_bytes: fetched.written,
            decoded: fetched.decoded,
            output: args.output.as_ref().map(|p| p.display().to_string()),
            elapsed_ms: elapsed.as_secs_f64() * 1e3,
        };
        print_json(&out)?;
    }
    Ok(ExitCode::SUCCESS)
}

/// The URL the client is given: `url` at the port `host` is dialed at.
fn sent_uri(url: &Url, host: &HostSpec) -> Result<Uri, Error> {
    let text = format!("{}{}", crate::client::origin_url(host, url.tls), url.path);
    text.parse()
        .map_err(|e| Error::new(format!("{}: not a URL: {e}", url.authority)))
}

/// What [`fetch`] got.
struct Fetched {
    /// The head as received.
    parts: hotpool::http::response::Parts,
    /// The URL that answered, as shown.
    final_url: String,
    /// The bytes written.
    written: usize,
    /// Whether they were decoded.
    decoded: bool,
}

/// Sends the request and streams the body to `-o FILE` or stdout (with `--json`, only to
/// `-o`), chunk by chunk: a large body is never held whole, and no size limit applies
/// unless `--max-filesize` sets one (a `content-length` above it fails before anything is
/// written; a body growing past it — as sent, or decoded — fails there, the bytes written
/// so far left in place as curl does). Deadlines are the client's (`--timeout` /
/// `pool.request_timeout` for the headers, the body-idle timeout between chunks). The
/// body is decoded from its `content-encoding` unless `--raw` (`pool_http::decode_response`,
/// default bounds plus `--max-filesize`); `-i` and `--json` show the headers as received.
async fn fetch(
    global: &Global,
    args: &GetArgs,
    client: &Client,
    target: &Target,
) -> Result<Fetched, Error> {
    // Browser profiles carry no Accept-Encoding value of their own: Chrome, Edge and
    // Firefox send this same one (Safari omits zstd).
    let response = client
        .get(target.sent.to_string())
        .header(
            header::ACCEPT_ENCODING,
            HeaderValue::from_static(pool_http::DEFAULT_ACCEPT_ENCODING),
        )
        .send()
        .await
        .map_err(|e| target.error(e, args.max_redirs))?;
    let final_url = match response.extensions().get::<ResponseUrl>() {
        Some(ResponseUrl(uri)) => target.shown(uri),
        None => target.asked.clone(),
    };
    let failed = |e: &dyn std::fmt::Display| Error::new(format!("get {final_url}: {e}"));
    let received = response.headers().clone();
    let response = if args.raw {
        let (parts, body) = response.into_parts();
        hotpool::http::Response::from_parts(parts, pool_http::Decoded::pass(body))
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
            "get {final_url}: the body is larger than --max-filesize {limit} bytes"
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
            Err(pool_http::RequestError::Decode(pool_http::DecodeError::TooLarge { limit })) => {
                sink.flush().map_err(write_failed)?;
                return Err(too_large(limit));
            }
            Err(e) => return Err(failed(&e)),
        };
        if let Ok(data) = frame.into_data() {
            // `--max-filesize` on the bytes written (as sent with `--raw`, else decoded):
            // the chunk that would pass it is not written.
            if let Some(limit) = args.max_filesize
                && (written + data.len()) as u64 > limit
            {
                sink.flush().map_err(write_failed)?;
                return Err(too_large(limit));
            }
            sink.write_all(&data).map_err(write_failed)?;
            written += data.len();
        }
    }
    sink.flush().map_err(write_failed)?;
    Ok(Fetched {
        parts,
        final_url,
        written,
        decoded,
    })
}

/// The response's `content-length`, when it has a valid one.
fn content_length(headers: &hotpool::http::HeaderMap) -> Option<u64> {
    headers
        .get(header::CONTENT_LENGTH)?
        .to_str()
        .ok()?
        .trim()
        .parse()
        .ok()
}
