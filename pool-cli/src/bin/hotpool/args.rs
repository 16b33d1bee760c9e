//! The command line: global options and subcommands (clap derive), and the parsers of
//! their values.

use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::path::PathBuf;
use std::time::Duration;

use clap::{Args, Parser, Subcommand, ValueEnum};

/// The default metrics port when `--metrics-addr` names only an address.
pub const DEFAULT_METRICS_PORT: u16 = 9898;

/// hotpool: a client-side hot connection pool (TLS/HTTP/2 and QUIC), and tools around it.
#[derive(Debug, Parser)]
#[command(name = "hotpool", version)]
pub struct Cli {
    #[command(flatten)]
    pub global: Global,
    #[command(subcommand)]
    pub command: Command,
}

/// Options every command takes (before or after the command name).
#[derive(Debug, Args)]
pub struct Global {
    /// Config file (TOML); HOTPOOL_<SECTION>__<KEY> environment variables override it.
    #[arg(long, global = true, value_name = "FILE")]
    pub config: Option<PathBuf>,

    /// Serve Prometheus metrics on ADDR while running: IP:PORT, IP (port 9898) or PORT
    /// (on 127.0.0.1). Port 0 picks a free port. Overrides [metrics] in the config.
    #[arg(long, global = true, value_name = "ADDR", value_parser = parse_metrics_addr)]
    pub metrics_addr: Option<SocketAddr>,

    /// Keep serving metrics this long after the command finished (e.g. "30s").
    #[arg(long, global = true, value_name = "DURATION", value_parser = parse_duration)]
    pub metrics_hold: Option<Duration>,

    /// Print reports as one JSON object per report on stdout.
    #[arg(long, global = true)]
    pub json: bool,

    /// Tracing output on stderr: -v info, -vv debug, -vvv trace (RUST_LOG overrides).
    #[arg(short, long, global = true, action = clap::ArgAction::Count)]
    pub verbose: u8,
}

/// The subcommands.
#[derive(Debug, Subcommand)]
pub enum Command {
    /// Local origins (HTTP/2, HTTP/1.1, auto ALPN or HTTP/3) and a local DNS server on
    /// 127.0.0.x, a pool warmed against them, cold vs hot latency. No network, no setup.
    Demo(DemoArgs),
    /// One request to URL through the pool; prints the body (`-o FILE`, `-i` for headers).
    Get(GetArgs),
    /// Resolve HOST, dial every address it has (within the limits), report.
    Warm(WarmArgs),
    /// Send requests to URL through the pool and print a latency histogram and req/s.
    Bench(BenchArgs),
    /// Check a config file, or print the documented default one.
    #[command(subcommand)]
    Config(ConfigCommand),
    /// The fleet of workers sharing `[fleet]`'s backend (read from Redis).
    #[command(subcommand)]
    Fleet(FleetCommand),
}

/// `hotpool fleet`.
#[derive(Debug, Subcommand)]
pub enum FleetCommand {
    /// The fleet's bans (with the time they have left), budgets and workers per host, as
    /// `[fleet]` (`--config FILE` or `HOTPOOL_FLEET__*`) names them; `--json` too.
    Status,
}

/// `hotpool demo`.
#[derive(Debug, Args)]
pub struct DemoArgs {
    /// The protocol of the local origins and the pool: h2 (TLS + HTTP/2), h1 (HTTP/1.1),
    /// auto (ALPN h2 or http/1.1, chosen by each origin) or h3 (HTTP/3 over QUIC).
    #[arg(long, value_enum, default_value_t = DemoProto::H2)]
    pub proto: DemoProto,
    /// The same as `--proto h3`.
    #[arg(long, conflicts_with = "proto")]
    pub quic: bool,
    /// Requests sent through the warm pool (default 5000; 200 with `--rtt`, where each
    /// takes a round trip).
    #[arg(long, value_parser = clap::value_parser!(u64).range(1..))]
    pub requests: Option<u64>,
    /// Requests in flight at once through the warm pool.
    #[arg(short = 'c', long, default_value_t = 1, value_parser = clap::value_parser!(u64).range(1..=1024))]
    pub concurrency: u64,
    /// Cold samples: a new connection (connect + handshake) plus one request, each
    /// (default 200; 20 with `--rtt`).
    #[arg(long, value_parser = clap::value_parser!(u64).range(1..))]
    pub cold: Option<u64>,
    /// Loopback addresses the demo host resolves to (127.0.0.2, 127.0.0.3, ...).
    #[arg(long, default_value_t = 8, value_parser = clap::value_parser!(u8).range(1..=200))]
    pub addresses: u8,
    /// Instead of the latency demo: one request to a local capture origin with the rustls
    /// engine and one with BoringSSL as BROWSER; prints the JA4 and HTTP/2 fingerprint the
    /// origin saw for each. Needs a hotpool built with the `boring` feature.
    #[arg(long, value_enum, value_name = "BROWSER")]
    pub profile: Option<Browser>,
    /// Put the local origins behind a WAN relay with this round-trip time (e.g. 50ms): a
    /// loopback path with a real RTT, where a cold request pays its handshakes' round trips.
    #[arg(long, value_name = "DURATION", value_parser = parse_duration)]
    pub rtt: Option<Duration>,
}

impl DemoArgs {
    /// Hot requests to send: `--requests`, else 5000 on loopback and 200 with `--rtt`
    /// (at concurrency 1 each pays a round trip: 5000 at 50 ms would take 4 minutes).
    pub fn hot_requests(&self) -> u64 {
        self.requests
            .unwrap_or(if self.rtt.is_some() { 200 } else { 5000 })
    }

    /// Cold samples to take: `--cold`, else 200 on loopback and 20 with `--rtt`.
    pub fn cold_samples(&self) -> u64 {
        self.cold
            .unwrap_or(if self.rtt.is_some() { 20 } else { 200 })
    }
}

/// The protocols `hotpool demo` runs.
#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
pub enum DemoProto {
    /// HTTP/1.1 over TLS (exclusive connections).
    H1,
    /// TLS + HTTP/2.
    H2,
    /// ALPN `h2, http/1.1`: half the origins speak both (HTTP/2 chosen), half HTTP/1.1.
    Auto,
    /// HTTP/3 over QUIC.
    H3,
}

impl DemoArgs {
    /// The protocol asked for (`--quic` is `--proto h3`).
    pub fn proto(&self) -> DemoProto {
        if self.quic { DemoProto::H3 } else { self.proto }
    }
}

/// `hotpool warm`.
#[derive(Debug, Args)]
pub struct WarmArgs {
    /// Host to warm, optionally with a port (HOST:PORT). Port and transport default to the
    /// host's [[hosts]] entry, else 443 and h2.
    pub host: String,
    #[command(flatten)]
    pub target: TargetArgs,
}

/// `hotpool get`.
#[derive(Debug, Args)]
pub struct GetArgs {
    /// https://HOST[:PORT]/PATH, or http://HOST[:PORT]/PATH (plain HTTP/1.1 over TCP; h2c
    /// with prior knowledge with `--proto h2`). A host without `--proto` or a `[[hosts]]`
    /// entry is reached over `auto` (ALPN h2 or http/1.1), as the hotpool client does.
    pub url: String,
    /// Follow redirects (curl's -L): 301, 302, 303, 307 and 308, to any host and scheme, up
    /// to --max-redirs; a 303 becomes a GET, `Authorization` and `Cookie` are dropped when
    /// the origin changes; `--resolve` entries for the hosts it leads to apply there. Without
    /// it a 3xx is printed as received (curl's default); `-i` shows the last response only.
    #[arg(short = 'L', long = "location")]
    pub location: bool,
    /// The most redirects -L follows (default 10, as the hotpool client; curl's is 50); one
    /// more is an error naming the URL. No effect without -L.
    #[arg(
        long = "max-redirs",
        value_name = "N",
        default_value_t = pool_http::DEFAULT_MAX_REDIRECTS
    )]
    pub max_redirs: usize,
    /// Write the body to FILE instead of stdout.
    #[arg(short = 'o', long = "output", value_name = "FILE")]
    pub output: Option<PathBuf>,
    /// Print the status line and the response headers before the body.
    #[arg(short = 'i', long = "include")]
    pub include: bool,
    /// The largest body accepted, in bytes (curl's option). A larger `content-length` fails
    /// before anything is written; a body that grows past it stops there with an error
    /// (exit status 1), and what was written so far stays (as curl leaves it). Default: no
    /// limit — the body is streamed, never held whole.
    #[arg(long = "max-filesize", value_name = "BYTES")]
    pub max_filesize: Option<u64>,
    /// Print the body as the server sent it: not decoded from its `Content-Encoding`
    /// (gzip, deflate, br, zstd). By default the body is decoded, within a 100:1 ratio
    /// after its first MiB (a decompression bomb is an error) and `--max-filesize` for the
    /// decoded size. `Accept-Encoding` is sent either way.
    #[arg(long = "raw")]
    pub raw: bool,
    #[command(flatten)]
    pub target: TargetArgs,
}

/// The protocol spoken to the origin.
#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub enum Proto {
    /// Offer h2 and http/1.1 by ALPN, pool each connection as what the origin chose.
    Auto,
    /// HTTP/1.1 over TLS.
    H1,
    /// HTTP/2 over TLS.
    H2,
    /// HTTP/3 over QUIC.
    H3,
}

/// Where and how `get`, `warm` and `bench` connect, with curl's option names. They override
/// the config file for the command's host.
#[derive(Debug, Default, Args)]
pub struct TargetArgs {
    /// Protocol (default: the host's [[hosts]] transport, else h2).
    #[arg(long, value_enum, value_name = "PROTO")]
    pub proto: Option<Proto>,
    /// HOST:PORT:ADDR[,ADDR...]: use these addresses for HOST at PORT instead of DNS
    /// (repeatable).
    #[arg(long, value_name = "HOST:PORT:ADDR", value_parser = parse_resolve)]
    pub resolve: Vec<Resolve>,
    /// HOST:PORT:ADDR:PORT2: connect to ADDR at PORT2 for HOST at PORT; the certificate is
    /// still verified for HOST (repeatable; empty HOST or PORT matches any).
    #[arg(long = "connect-to", value_name = "HOST:PORT:ADDR:PORT", value_parser = parse_connect_to)]
    pub connect_to: Vec<ConnectTo>,
    /// Trust the CA certificates in FILE (PEM) instead of the bundled roots (repeatable).
    #[arg(long, value_name = "FILE")]
    pub cacert: Vec<PathBuf>,
    /// Do not verify the server's certificate (testing only; warned loudly).
    #[arg(short = 'k', long)]
    pub insecure: bool,
    /// Deadline of each request (and of connecting): e.g. 5s, 500ms (default 30s).
    #[arg(long, value_name = "DURATION", value_parser = parse_duration)]
    pub timeout: Option<Duration>,
    /// Dial with BoringSSL as this browser (its ClientHello and HTTP/2 preface): the same
    /// as `[tls] engine = "boring"`, `profiles = ["BROWSER"]`. Needs a hotpool built with
    /// the `boring` feature.
    #[arg(long, value_enum, value_name = "BROWSER")]
    pub profile: Option<Browser>,
    /// Go through a WAN relay on loopback with this round-trip time (e.g. 50ms): relay
    /// fronts 127.0.77.x forward to the host's addresses (`--resolve`/`--connect-to`, else
    /// the system resolver), the certificate is still verified for the host.
    #[arg(long, value_name = "DURATION", value_parser = parse_duration)]
    pub rtt: Option<Duration>,
    /// While the host is down (every address failing at once: a restart), wait for it to
    /// come back, up to the request's deadline (`--timeout`), instead of failing at once.
    /// The same as `[pool] wait_for_host = true`.
    #[arg(long)]
    pub wait_for_host: bool,
    /// Go through this proxy (curl's -x): http://, https:// (TLS to the proxy, verified for
    /// its name with the same roots as the origin; --insecure does not apply to it),
    /// socks5://, socks5h://, socks4:// or socks4a://, with an optional USER:PASSWORD@.
    /// Repeat it for several proxies, each its own pool, a request's proxy picked by
    /// --proxy-rotation. Replaces `[egress] proxies` and the proxy environment variables.
    /// HTTP/3 cannot go through it.
    /// (Read in `TargetArgs::apply`, not by clap, whose error would repeat the password.)
    #[arg(short = 'x', long, value_name = "URL")]
    pub proxy: Vec<String>,
    /// Requests per second (or /m, /h) to the host, e.g. 150/s: paced, and adapted on
    /// 429/503 (the same as `[pool] rate_limit`; without it the pace adapts from the first
    /// 429).
    #[arg(long, value_name = "RATE")]
    pub rate: Option<String>,
    /// With several --proxy: round-robin (default), random, or sticky (a host always
    /// leaves by the same proxy while it is usable). The same as `[egress] rotation`.
    #[arg(long, value_name = "POLICY", requires = "proxy")]
    pub proxy_rotation: Option<ProxyRotation>,
    /// USER:PASSWORD for the proxies (curl's --proxy-user), replacing any in their URLs.
    #[arg(long, value_name = "USER:PASSWORD", requires = "proxy")]
    pub proxy_user: Option<String>,
}

/// `--proxy-rotation`: how a request picks its proxy.
#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
pub enum ProxyRotation {
    /// Each request the next proxy, in turn.
    RoundRobin,
    /// Each request a proxy at random.
    Random,
    /// Each host always the same proxy while it is usable.
    Sticky,
}

/// A browser profile of the BoringSSL engine (`--profile`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub enum Browser {
    /// Chrome (current stable).
    Chrome,
    /// Firefox.
    Firefox,
    /// Safari.
    Safari,
    /// Edge.
    Edge,
}

impl Browser {
    /// The profile's name in `[tls] profiles`.
    pub fn name(self) -> &'static str {
        match self {
            Browser::Chrome => "chrome",
            Browser::Firefox => "firefox",
            Browser::Safari => "safari",
            Browser::Edge => "edge",
        }
    }
}

/// `hotpool bench`.
#[derive(Debug, Args)]
pub struct BenchArgs {
    /// https://HOST[:PORT]/PATH (TLS + HTTP/2; the host's [[hosts]] entry or --proto
    /// decides the transport, "h3" sends HTTP/3 over QUIC).
    pub url: String,
    #[command(flatten)]
    pub target: TargetArgs,
    /// Requests in total.
    #[arg(short = 'n', long = "requests", default_value_t = 1000, value_parser = clap::value_parser!(u64).range(1..))]
    pub requests: u64,
    /// Requests in flight at once.
    #[arg(short = 'c', long, default_value_t = 10, value_parser = clap::value_parser!(u64).range(1..=10_000))]
    pub concurrency: u64,
}

/// `hotpool config ...`.
#[derive(Debug, Subcommand)]
pub enum ConfigCommand {
    /// Validate FILE: every problem on its own line (file:line:column: key: reason); exit
    /// status 1 when there is any.
    Check {
        /// The config file.
        file: PathBuf,
    },
    /// Print the default config file: every key at its default, with a comment.
    Default,
}

/// `--resolve HOST:PORT:ADDR[,ADDR...]`: HOST at PORT is at these addresses (no DNS).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Resolve {
    /// HOST, lowercased.
    pub host: String,
    /// PORT.
    pub port: u16,
    /// The addresses HOST at PORT is at.
    pub addrs: Vec<IpAddr>,
}

/// `--connect-to HOST:PORT:ADDR:PORT2`: connections for HOST at PORT go to ADDR at PORT2
/// (the certificate is still verified for HOST). An empty HOST or PORT matches any.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ConnectTo {
    /// HOST, lowercased (`None`: any).
    pub host: Option<String>,
    /// PORT (`None`: any).
    pub port: Option<u16>,
    /// ADDR: where connections go instead.
    pub addr: IpAddr,
    /// PORT2: the port dialed at ADDR.
    pub to_port: u16,
}

/// An IP literal, IPv6 in brackets or bare.
fn parse_ip(text: &str, what: &str) -> Result<IpAddr, String> {
    let bare = text
        .strip_prefix('[')
        .and_then(|t| t.strip_suffix(']'))
        .unwrap_or(text);
    bare.parse().map_err(|_| {
        format!("{what}: {text:?} is not an IP address (host names are not supported here)")
    })
}

fn parse_port(text: &str, what: &str) -> Result<u16, String> {
    match text.parse::<u16>() {
        Ok(0) | Err(_) => Err(format!("{what}: {text:?} is not a port (1-65535)")),
        Ok(port) => Ok(port),
    }
}

/// Splits `a:b:rest` where `rest` may hold colons (IPv6) — the first two fields never do.
fn split3(text: &str) -> Option<(&str, &str, &str)> {
    let (a, rest) = text.split_once(':')?;
    let (b, rest) = rest.split_once(':')?;
    Some((a, b, rest))
}

/// Parses one `--resolve` value.
pub fn parse_resolve(text: &str) -> Result<Resolve, String> {
    let what = "--resolve";
    let (host, port, addrs) = split3(text)
        .ok_or_else(|| format!("{what}: expected HOST:PORT:ADDR[,ADDR...], got {text:?}"))?;
    if host.is_empty() {
        return Err(format!("{what}: no host in {text:?}"));
    }
    let addrs = addrs
        .split(',')
        .map(|a| parse_ip(a.trim(), what))
        .collect::<Result<Vec<_>, _>>()?;
    Ok(Resolve {
        host: host.to_ascii_lowercase(),
        port: parse_port(port, what)?,
        addrs,
    })
}

/// Parses one `--connect-to` value.
pub fn parse_connect_to(text: &str) -> Result<ConnectTo, String> {
    let what = "--connect-to";
    let bad = || format!("{what}: expected HOST:PORT:ADDR:PORT, got {text:?}");
    let (host, port, rest) = split3(text).ok_or_else(bad)?;
    let (addr, to_port) = rest.rsplit_once(':').ok_or_else(bad)?;
    Ok(ConnectTo {
        host: (!host.is_empty()).then(|| host.to_ascii_lowercase()),
        port: if port.is_empty() {
            None
        } else {
            Some(parse_port(port, what)?)
        },
        addr: parse_ip(addr, what)?,
        to_port: parse_port(to_port, what)?,
    })
}

/// `ADDR` of `--metrics-addr`: `IP:PORT`, `IP` or `PORT`.
pub fn parse_metrics_addr(s: &str) -> Result<SocketAddr, String> {
    if let Ok(addr) = s.parse::<SocketAddr>() {
        return Ok(addr);
    }
    if let Ok(ip) = s.parse::<IpAddr>() {
        return Ok(SocketAddr::new(ip, DEFAULT_METRICS_PORT));
    }
    if let Ok(port) = s.trim_start_matches(':').parse::<u16>() {
        return Ok(SocketAddr::new(IpAddr::V4(Ipv4Addr::LOCALHOST), port));
    }
    Err(format!("expected IP:PORT, IP or PORT, got {s:?}"))
}

/// A duration: `"30s"`, `"1m30s"`, `"250ms"`, or a number of seconds.
pub fn parse_duration(s: &str) -> Result<Duration, String> {
    if let Ok(secs) = s.parse::<u64>() {
        return Ok(Duration::from_secs(secs));
    }
    humantime::parse_duration(s).map_err(|e| format!("{e} (expected e.g. 30s, 1m30s, 250ms)"))
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::CommandFactory;

    #[test]
    fn cli_definition_is_consistent() {
        Cli::command().debug_assert();
    }

    #[test]
    fn metrics_addr_forms() {
        assert_eq!(
            parse_metrics_addr("127.0.0.3:9000").unwrap(),
            "127.0.0.3:9000".parse::<SocketAddr>().unwrap()
        );
        assert_eq!(
            parse_metrics_addr("127.0.0.3").unwrap(),
            "127.0.0.3:9898".parse::<SocketAddr>().unwrap()
        );
        assert_eq!(
            parse_metrics_addr("9000").unwrap(),
            "127.0.0.1:9000".parse::<SocketAddr>().unwrap()
        );
        assert_eq!(
            parse_metrics_addr(":9000").unwrap(),
            "127.0.0.1:9000".parse::<SocketAddr>().unwrap()
        );
        assert!(parse_metrics_addr("localhost:x").is_err());
    }

    #[test]
    fn globals_go_anywhere() {
        let cli = Cli::try_parse_from(["hotpool", "config", "default", "--json", "-vv"]).unwrap();
        assert!(cli.global.json);
        assert_eq!(cli.global.verbose, 2);
        let cli = Cli::try_parse_from([
            "hotpool",
            "--config",
            "x.toml",
            "bench",
            "https://a.test/",
            "-n",
            "5",
            "-c",
            "2",
        ])
        .unwrap();
        match cli.command {
            Command::Bench(b) => assert_eq!((b.requests, b.concurrency), (5, 2)),
            other => panic!("{other:?}"),
        }
        assert_eq!(cli.global.config.unwrap(), PathBuf::from("x.toml"));
    }

    #[test]
    fn demo_proto_h3_and_its_quic_alias() {
        let demo = |args: &[&str]| match Cli::try_parse_from(args).unwrap().command {
            Command::Demo(d) => d.proto(),
            other => panic!("{other:?}"),
        };
        assert_eq!(demo(&["hotpool", "demo"]), DemoProto::H2);
        assert_eq!(demo(&["hotpool", "demo", "--proto", "h3"]), DemoProto::H3);
        assert_eq!(demo(&["hotpool", "demo", "--quic"]), DemoProto::H3);
        assert!(Cli::try_parse_from(["hotpool", "demo", "--quic", "--proto", "h2"]).is_err());
    }

    #[test]
    fn resolve_forms() {
        let r = parse_resolve("A.test:8443:127.0.0.2,[::1]").unwrap();
        assert_eq!(r.host, "a.test");
        assert_eq!(r.port, 8443);
        assert_eq!(
            r.addrs,
            [
                "127.0.0.2".parse::<IpAddr>().unwrap(),
                "::1".parse().unwrap()
            ]
        );
        assert!(parse_resolve("a.test:443").is_err());
        assert!(parse_resolve("a.test:0:127.0.0.2").is_err());
        let e = parse_resolve("a.test:443:origin.test").unwrap_err();
        assert!(e.contains("not an IP address"), "{e}");
    }

    #[test]
    fn connect_to_forms() {
        let c = parse_connect_to("a.test:443:127.0.0.3:8443").unwrap();
        assert_eq!(c.host.as_deref(), Some("a.test"));
        assert_eq!((c.port, c.to_port), (Some(443), 8443));
        let c = parse_connect_to("::[::1]:9000").unwrap();
        assert_eq!((c.host, c.port), (None, None));
        assert_eq!(c.addr, "::1".parse::<IpAddr>().unwrap());
        assert!(parse_connect_to("a.test:443:127.0.0.3").is_err());
    }

    #[test]
    fn durations() {
        assert_eq!(parse_duration("30").unwrap(), Duration::from_secs(30));
        assert_eq!(parse_duration("1m30s").unwrap(), Duration::from_secs(90));
        assert!(parse_duration("soon").is_err());
    }
}
