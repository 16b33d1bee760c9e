//! A web server this project did not write: Debian's nginx, started on loopback for a
//! test, serving files over plain HTTP (`http://`): HTTP/1.1 with keep-alive on one port
//! and HTTP/2 with prior knowledge (h2c) on another, every given address. It runs in the
//! foreground (`daemon off`, one process) in a temporary directory and is killed when its
//! handle drops. `.ci/run` installs the `nginx` package; a missing binary is an error
//! naming it.
//!
//! With [`NginxOptions`] it also compresses (`gzip on`) and limits request rates the way a
//! site does (`limit_req`: 429 above the rate, or 503 with `Retry-After`); its access log
//! tells what it answered ([`NginxServer::statuses`]).

use std::collections::BTreeMap;
use std::io;
use std::net::{IpAddr, SocketAddr, TcpListener};
use std::path::{Path, PathBuf};
use std::process::{Child, Command};
use std::time::Duration;

use crate::process::{NotAccepting, spawn_quiet, wait_accepting};

/// `/whoami`'s location: the request as nginx read it (protocol, host with port, URI).
const WHOAMI: &str = "    location = /whoami {\n      return 200 \"$server_protocol $http_host|$host $request_uri\\n\";\n    }\n";

/// The rate-limited path prefix: requests under it are limited by
/// [`NginxOptions::rate_limit`] and answered `429 Too Many Requests` above the rate.
pub const NGINX_LIMITED_PREFIX: &str = "/limited/";

/// The second rate-limited prefix: the same limit (its own count), answered `503 Service
/// Unavailable` with `Retry-After: 1` above the rate.
pub const NGINX_BUSY_PREFIX: &str = "/busy/";

/// What an nginx does besides serving its files (all off by default).
#[derive(Clone, Copy, Debug, Default)]
pub struct NginxOptions {
    /// `gzip on` for every content type, for bodies of 256 bytes or more, on HTTP/1.1 and
    /// HTTP/2 alike (nginx compresses when the request's `Accept-Encoding` names gzip).
    pub gzip: bool,
    /// A request rate (nginx's `limit_req`, keyed by the client's address) on the files
    /// under [`NGINX_LIMITED_PREFIX`] (429 above it) and, counted apart, under
    /// [`NGINX_BUSY_PREFIX`] (503 with `Retry-After: 1`).
    pub rate_limit: Option<NginxRateLimit>,
}

/// nginx's `limit_req` settings: `rate=Nr/s`, `burst=B nodelay` (up to `burst` requests
/// over the rate are answered at once; more are refused).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct NginxRateLimit {
    /// Requests per second (nginx counts in milliseconds: one every `1000 / per_second` ms).
    pub per_second: u32,
    /// Requests beyond the rate answered anyway (0: none).
    pub burst: u32,
}

/// A running nginx.
pub struct NginxServer {
    addrs: Vec<IpAddr>,
    http1_port: u16,
    h2c_port: u16,
    child: Child,
    dir: PathBuf,
}

impl std::fmt::Debug for NginxServer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("NginxServer")
            .field("addrs", &self.addrs)
            .field("http1_port", &self.http1_port)
            .field("h2c_port", &self.h2c_port)
            .finish_non_exhaustive()
    }
}

impl NginxServer {
    /// Starts nginx on `addrs` serving `files` (path under the root, without the leading
    /// `/`; contents) and `/whoami` (the request as nginx read it: `HTTP/1.1
    /// host:port|host /whoami`, the `Host` header — on HTTP/2 nginx's copy of
    /// `:authority` — before the bar, the host name after it): HTTP/1.1 on [`http1_port`](Self::http1_port) (keep-alive, up to
    /// 1,000 requests a connection), h2c with prior knowledge on
    /// [`h2c_port`](Self::h2c_port). Waits (up to 10 s) until it accepts.
    pub fn start(addrs: &[IpAddr], files: &[(&str, &[u8])]) -> io::Result<Self> {
        Self::start_with(addrs, files, NginxOptions::default())
    }

    /// [`start`](Self::start) with gzip and rate limits as `options` say. The
    /// rate-limited files are the caller's: put them under `limited/` and `busy/` in
    /// `files`.
    pub fn start_with(
        addrs: &[IpAddr],
        files: &[(&str, &[u8])],
        options: NginxOptions,
    ) -> io::Result<Self> {
        let (http1_port, h2c_port) = (free_port()?, free_port()?);
        let dir =
            std::env::temp_dir().join(format!("hotpool-nginx-{}-{http1_port}", std::process::id()));
        let root = dir.join("html");
        std::fs::create_dir_all(&root).map_err(|e| named(&root, e))?;
        for (path, contents) in files {
            let file = root.join(path);
            if let Some(parent) = file.parent() {
                std::fs::create_dir_all(parent).map_err(|e| named(parent, e))?;
            }
            std::fs::write(&file, contents).map_err(|e| named(&file, e))?;
        }
        let listen = |port: u16, extra: &str| -> String {
            addrs
                .iter()
                .map(|ip| format!("    listen {}{extra};\n", SocketAddr::new(*ip, port)))
                .collect()
        };
        let d = dir.display();
        let (http_extra, locations) = extras(&options);
        let conf = format!(
            "daemon off;\nmaster_process off;\nworker_processes 1;\n\
             error_log {d}/error.log warn;\npid {d}/nginx.pid;\n\
             events {{ worker_connections 256; }}\n\
             http {{\n  log_format statuses '$status $uri';\n\
             access_log {d}/access.log statuses;\n  default_type application/octet-stream;\n\
             client_body_temp_path {d}/body;\n  proxy_temp_path {d}/proxy;\n\
             fastcgi_temp_path {d}/fastcgi;\n  uwsgi_temp_path {d}/uwsgi;\n\
             scgi_temp_path {d}/scgi;\n  keepalive_requests 1000;\n{http_extra}\
             server {{\n{}    root {d}/html;\n{WHOAMI}{locations}  }}\n\
             server {{\n{}    root {d}/html;\n{WHOAMI}{locations}  }}\n}}\n",
            listen(http1_port, ""),
            listen(h2c_port, " http2"),
        );
        let conf_file = dir.join("nginx.conf");
        std::fs::write(&conf_file, conf).map_err(|e| named(&conf_file, e))?;
        let mut command = Command::new(nginx_binary());
        command
            .arg("-p")
            .arg(&dir)
            .arg("-e")
            .arg(dir.join("error.log"))
            .arg("-c")
            .arg(&conf_file);
        let child = spawn_quiet(&mut command, "nginx", "nginx")?;
        let mut server = Self {
            addrs: addrs.to_vec(),
            http1_port,
            h2c_port,
            child,
            dir,
        };
        server.wait_accepting()?;
        Ok(server)
    }

    /// The listening addresses, in the order given.
    pub fn addrs(&self) -> &[IpAddr] {
        &self.addrs
    }

    /// The HTTP/1.1 port (every address).
    pub fn http1_port(&self) -> u16 {
        self.http1_port
    }

    /// The h2c (HTTP/2 with prior knowledge) port (every address).
    pub fn h2c_port(&self) -> u16 {
        self.h2c_port
    }

    /// Every address with `port`.
    pub fn socket_addrs(&self, port: u16) -> Vec<SocketAddr> {
        self.addrs
            .iter()
            .map(|ip| SocketAddr::new(*ip, port))
            .collect()
    }

    /// How many requests nginx answered with each status, of those whose path starts
    /// with `prefix` (from its access log, written as each request ends: a response the
    /// client has just read may be logged a moment later).
    pub fn statuses(&self, prefix: &str) -> io::Result<BTreeMap<u16, usize>> {
        let file = self.dir.join("access.log");
        let log = std::fs::read_to_string(&file).map_err(|e| named(&file, e))?;
        let mut counts = BTreeMap::new();
        for line in log.lines() {
            let Some((status, uri)) = line.split_once(' ') else {
                continue;
            };
            if let (Ok(status), true) = (status.parse::<u16>(), uri.starts_with(prefix)) {
                *counts.entry(status).or_insert(0) += 1;
            }
        }
        Ok(counts)
    }

    fn wait_accepting(&mut self) -> io::Result<()> {
        let ports = [self.http1_port, self.h2c_port];
        let addrs: Vec<SocketAddr> = ports.iter().flat_map(|p| self.socket_addrs(*p)).collect();
        match wait_accepting(&addrs, Duration::from_secs(10), Some(&mut self.child)) {
            Ok(()) => Ok(()),
            Err(NotAccepting::Exited(status)) => {
                let log = std::fs::read_to_string(self.dir.join("error.log")).unwrap_or_default();
                Err(io::Error::other(format!("nginx exited ({status}): {log}")))
            }
            Err(NotAccepting::TimedOut) => Err(io::Error::other(format!(
                "nginx did not accept on {:?} ports {ports:?} within 10 s",
                self.addrs
            ))),
        }
    }
}

impl Drop for NginxServer {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

/// The `http` block's lines and each server's `location`s for `options`.
fn extras(options: &NginxOptions) -> (String, String) {
    let mut http = String::new();
    let mut locations = String::new();
    if options.gzip {
        http.push_str(
            "  gzip on;\n  gzip_types *;\n  gzip_min_length 256;\n  gzip_http_version 1.1;\n",
        );
    }
    if let Some(NginxRateLimit { per_second, burst }) = options.rate_limit {
        // `limit_req` acts before the content phase: the locations serve files (a
        // `return` would answer before the limit is looked at).
        for (zone, prefix, status, extra) in [
            ("limited", NGINX_LIMITED_PREFIX, 429, ""),
            (
                "busy",
                NGINX_BUSY_PREFIX,
                503,
                "      add_header Retry-After 1 always;\n",
            ),
        ] {
            http.push_str(&format!(
                "  limit_req_zone $binary_remote_addr zone={zone}:1m rate={per_second}r/s;\n"
            ));
            locations.push_str(&format!(
                "    location {prefix} {{\n      limit_req zone={zone} burst={burst} nodelay;\n      \
                 limit_req_status {status};\n{extra}    }}\n"
            ));
        }
    }
    (http, locations)
}

/// `nginx` on the `PATH`, else Debian's `/usr/sbin/nginx` (not on a user's `PATH`).
fn nginx_binary() -> PathBuf {
    let sbin = Path::new("/usr/sbin/nginx");
    let on_path = std::env::var_os("PATH")
        .is_some_and(|path| std::env::split_paths(&path).any(|dir| dir.join("nginx").is_file()));
    if !on_path && sbin.is_file() {
        sbin.to_owned()
    } else {
        PathBuf::from("nginx")
    }
}

fn free_port() -> io::Result<u16> {
    Ok(TcpListener::bind("127.0.0.1:0")?.local_addr()?.port())
}

fn named(path: &Path, e: io::Error) -> io::Error {
    io::Error::new(e.kind(), format!("{}: {e}", path.display()))
}
