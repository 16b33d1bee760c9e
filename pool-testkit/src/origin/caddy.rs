//! A second web server this project did not write: Debian's Caddy, started on loopback
//! for a test, serving files over HTTPS with the test CA's certificate: HTTP/1.1 and
//! HTTP/2 over TCP and HTTP/3 over UDP on the same port, advertised with `alt-svc:
//! h3=":PORT"` on every TCP response (Caddy 2.6's default), and bodies compressed with
//! zstd or gzip (`encode zstd gzip`: zstd when the request accepts it). Its admin API is off
//! (`admin off`), it redirects nothing (`auto_https disable_redirects`), and it keeps its
//! state (storage, autosaved config) in a temporary directory removed with it. It runs in
//! the foreground and is killed when its handle drops. `.ci/run` installs the `caddy`
//! package; a missing binary is an error naming it.

use std::io;
use std::net::{IpAddr, SocketAddr, TcpListener, UdpSocket};
use std::path::{Path, PathBuf};
use std::process::{Child, Command};
use std::time::Duration;

use crate::ca::TestCa;
use crate::process::{NotAccepting, spawn_quiet, wait_accepting};

/// How long Caddy may take to accept (it starts in well under a second alone; a loaded
/// 2-core machine is slower).
const START_WAIT: Duration = Duration::from_secs(30);

/// A running Caddy.
pub struct CaddyServer {
    addr: IpAddr,
    port: u16,
    child: Child,
    dir: PathBuf,
}

impl std::fmt::Debug for CaddyServer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("CaddyServer")
            .field("addr", &self.addr)
            .field("port", &self.port)
            .finish_non_exhaustive()
    }
}

impl CaddyServer {
    /// Starts Caddy on `addr` as `https://host:PORT` (a port free for both TCP and UDP),
    /// with a certificate for `host` from `ca`, serving `files` (path under the root,
    /// without the leading `/`; contents). Caddy compresses bodies of 512 bytes or more.
    /// Waits until its TCP port accepts (its HTTP/3 listener is opened just before).
    pub fn start(
        addr: IpAddr,
        host: &str,
        ca: &TestCa,
        files: &[(&str, &[u8])],
    ) -> io::Result<Self> {
        let port = free_tcp_and_udp_port(addr)?;
        let dir = std::env::temp_dir().join(format!("hotpool-caddy-{}-{port}", std::process::id()));
        let root = dir.join("html");
        std::fs::create_dir_all(&root).map_err(|e| named(&root, e))?;
        for (path, contents) in files {
            let file = root.join(path);
            if let Some(parent) = file.parent() {
                std::fs::create_dir_all(parent).map_err(|e| named(parent, e))?;
            }
            std::fs::write(&file, contents).map_err(|e| named(&file, e))?;
        }
        let (chain, key) = ca.issue_pem(&[host])?;
        let (cert_file, key_file) = (dir.join("cert.pem"), dir.join("key.pem"));
        std::fs::write(&cert_file, chain).map_err(|e| named(&cert_file, e))?;
        std::fs::write(&key_file, key).map_err(|e| named(&key_file, e))?;
        let d = dir.display();
        let caddyfile = format!(
            "{{\n\tadmin off\n\tauto_https disable_redirects\n\
             \tstorage file_system {d}/data\n\
             \tlog {{\n\t\toutput file {d}/caddy.log\n\t}}\n}}\n\
             https://{host}:{port} {{\n\tbind {addr}\n\
             \ttls {d}/cert.pem {d}/key.pem\n\tencode zstd gzip\n\
             \troot * {d}/html\n\tfile_server\n}}\n"
        );
        let config = dir.join("Caddyfile");
        std::fs::write(&config, caddyfile).map_err(|e| named(&config, e))?;
        let mut command = Command::new("caddy");
        command
            .args(["run", "--adapter", "caddyfile", "--config"])
            .arg(&config)
            // Caddy's own state (autosaved config, storage defaults) stays in `dir`.
            .env("HOME", &dir)
            .env("XDG_DATA_HOME", dir.join("xdg"))
            .env("XDG_CONFIG_HOME", dir.join("xdg"));
        let child = spawn_quiet(&mut command, "caddy", "caddy")?;
        let mut server = Self {
            addr,
            port,
            child,
            dir,
        };
        let at = [SocketAddr::new(addr, port)];
        match wait_accepting(&at, START_WAIT, Some(&mut server.child)) {
            Ok(()) => Ok(server),
            Err(NotAccepting::Exited(status)) => Err(io::Error::other(format!(
                "caddy exited ({status}): {}",
                server.log()
            ))),
            Err(NotAccepting::TimedOut) => Err(io::Error::other(format!(
                "caddy did not accept on {addr}:{port} within {START_WAIT:?}: {}",
                server.log()
            ))),
        }
    }

    /// The listening address.
    pub fn addr(&self) -> IpAddr {
        self.addr
    }

    /// The port: HTTPS over TCP and HTTP/3 over UDP.
    pub fn port(&self) -> u16 {
        self.port
    }

    /// Caddy's log (JSON lines), for a failure's message.
    pub fn log(&self) -> String {
        std::fs::read_to_string(self.dir.join("caddy.log")).unwrap_or_default()
    }
}

impl Drop for CaddyServer {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

/// A port of `addr` free for TCP and for UDP (Caddy serves HTTP/3 on the HTTPS port).
fn free_tcp_and_udp_port(addr: IpAddr) -> io::Result<u16> {
    for _ in 0..50 {
        let tcp = TcpListener::bind(SocketAddr::new(addr, 0))?;
        let port = tcp.local_addr()?.port();
        if UdpSocket::bind(SocketAddr::new(addr, port)).is_ok() {
            return Ok(port);
        }
    }
    Err(io::Error::other(format!(
        "no port of {addr} free for both TCP and UDP in 50 tries"
    )))
}

fn named(path: &Path, e: io::Error) -> io::Error {
    io::Error::new(e.kind(), format!("{}: {e}", path.display()))
}
