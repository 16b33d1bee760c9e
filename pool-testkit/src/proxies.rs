//! Real proxies from Debian's packages, started on loopback for a test: squid (HTTP
//! CONNECT, Basic auth), tinyproxy (HTTP CONNECT, Basic auth), microsocks (SOCKS5,
//! username/password) and Dante (SOCKS4/4a/5); and an `https://` proxy: stunnel
//! (`stunnel4`) terminating TLS with a [`TestCa`] certificate in front of squid or
//! tinyproxy ([`ProxyServer::https`]). Each runs in the foreground in a temporary
//! directory and is killed when its handle drops. `.ci/run` installs them (`squid`,
//! `tinyproxy`, `microsocks`, `dante-server`, `stunnel4`); a missing one is an error naming
//! its package.
//!
//! Why stunnel rather than squid's own `https_port`: Debian's squid is built with GnuTLS
//! (`--with-gnutls`, not OpenSSL), whose `https_port` support squid documents as limited;
//! stunnel is the TLS front end that works the same in front of either CONNECT proxy.

use std::io;
use std::net::{SocketAddr, TcpListener};
use std::path::PathBuf;
use std::process::{Child, Command};
use std::time::Duration;

use crate::TestCa;
use crate::process::{NotAccepting, spawn_quiet, wait_accepting};

/// How long a proxy may take to start accepting: squid starting beside four others on a
/// loaded 2-core machine (a test binary's tests run at once) took more than 10 s.
pub const START_WAIT: Duration = Duration::from_secs(30);

/// Which proxy server.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ProxyKind {
    /// squid: HTTP CONNECT.
    Squid,
    /// tinyproxy: HTTP CONNECT.
    Tinyproxy,
    /// microsocks: SOCKS5.
    Microsocks,
    /// Dante (`danted`): SOCKS4, 4a and 5.
    Dante,
}

impl ProxyKind {
    /// The Debian package that ships it.
    fn package(self) -> &'static str {
        match self {
            ProxyKind::Squid => "squid",
            ProxyKind::Tinyproxy => "tinyproxy",
            ProxyKind::Microsocks => "microsocks",
            ProxyKind::Dante => "dante-server",
        }
    }
}

/// A running proxy server.
pub struct ProxyServer {
    kind: ProxyKind,
    addr: SocketAddr,
    child: Child,
    dir: PathBuf,
    /// For an `https://` proxy ([`ProxyServer::https`]), `child` is stunnel and this the
    /// CONNECT proxy behind it (dropped after stunnel).
    behind: Option<Box<ProxyServer>>,
}

impl ProxyServer {
    /// Starts `kind` on 127.0.0.1, requiring `credentials` (user, password) if given
    /// (Dante: none, it authenticates by system users). Waits (up to [`START_WAIT`]) until it accepts.
    pub fn start(kind: ProxyKind, credentials: Option<(&str, &str)>) -> io::Result<Self> {
        // A proxy that exits before accepting lost its port to another process between
        // `free_port` and its bind: start it again on another (a few times at most).
        let mut attempts = 3;
        loop {
            attempts -= 1;
            match Self::start_once(kind, credentials) {
                Err(Exited(why)) if attempts > 0 => eprintln!("{why}; starting it again"),
                Err(Exited(why) | Failed(why)) => return Err(why),
                Ok(server) => return Ok(server),
            }
        }
    }

    fn start_once(kind: ProxyKind, credentials: Option<(&str, &str)>) -> Result<Self, StartError> {
        let port = free_port();
        let addr: SocketAddr = format!("127.0.0.1:{port}").parse().expect("an address");
        let dir = std::env::temp_dir().join(format!(
            "hotpool-proxy-{kind:?}-{}-{port}",
            std::process::id()
        ));
        std::fs::create_dir_all(&dir)
            .map_err(|e| io::Error::other(format!("{}: {e}", dir.display())))?;
        // squid and Dante drop privileges when started as root: let them write here.
        set_mode(&dir, 0o777);
        let d = dir.display();
        let mut command = match kind {
            ProxyKind::Squid => {
                let mut conf = format!(
                    "http_port 127.0.0.1:{port}\ncache deny all\naccess_log none\n\
                     cache_log {d}/cache.log\npid_filename {d}/squid.pid\ncoredump_dir {d}\n\
                     shutdown_lifetime 0 seconds\n"
                );
                if let Some((user, password)) = credentials {
                    let hash = apr1(password)?;
                    write(&dir.join("passwd"), &format!("{user}:{hash}\n"))?;
                    set_mode(&dir.join("passwd"), 0o644);
                    conf.push_str(&format!(
                        "auth_param basic program /usr/lib/squid/basic_ncsa_auth {d}/passwd\n\
                         acl users proxy_auth REQUIRED\nhttp_access allow users\n\
                         http_access deny all\n"
                    ));
                } else {
                    conf.push_str("http_access allow all\n");
                }
                write(&dir.join("squid.conf"), &conf)?;
                let mut c = Command::new("squid");
                // Its own service name: squids share shared-memory segments by name
                // (`/dev/shm/squid-cf__*.shm`), and one stopping removes another's.
                c.args(["-N", "-n", &squid_service(port), "-f"])
                    .arg(dir.join("squid.conf"));
                c
            }
            ProxyKind::Tinyproxy => {
                let mut conf = format!(
                    "Port {port}\nListen 127.0.0.1\nTimeout 30\nMaxClients 64\nAllow 127.0.0.1\n\
                     LogLevel Critical\nPidFile \"{d}/tinyproxy.pid\"\n"
                );
                if let Some((user, password)) = credentials {
                    conf.push_str(&format!("BasicAuth {user} {password}\n"));
                }
                write(&dir.join("tinyproxy.conf"), &conf)?;
                let mut c = Command::new("tinyproxy");
                c.args(["-d", "-c"]).arg(dir.join("tinyproxy.conf"));
                c
            }
            ProxyKind::Microsocks => {
                let mut c = Command::new("microsocks");
                c.args(["-i", "127.0.0.1", "-p", &port.to_string()]);
                if let Some((user, password)) = credentials {
                    c.args(["-u", user, "-P", password]);
                }
                c
            }
            ProxyKind::Dante => {
                let conf = format!(
                    "logoutput: {d}/danted.log\ninternal: 127.0.0.1 port = {port}\n\
                     external: 127.0.0.1\nclientmethod: none\nsocksmethod: none\n\
                     user.privileged: root\nuser.unprivileged: nobody\n\
                     client pass {{ from: 127.0.0.0/8 to: 0.0.0.0/0 }}\n\
                     socks pass {{ from: 127.0.0.0/8 to: 0.0.0.0/0 protocol: tcp }}\n"
                );
                write(&dir.join("danted.conf"), &conf)?;
                let mut c = Command::new("danted");
                c.arg("-f")
                    .arg(dir.join("danted.conf"))
                    .args(["-p"])
                    .arg(dir.join("danted.pid"));
                c
            }
        };
        let child = spawn_quiet(&mut command, &format!("{kind:?}"), kind.package())?;
        let mut server = Self {
            kind,
            addr,
            child,
            dir,
            behind: None,
        };
        // Dante forks to the background: its exit says nothing.
        let watch = kind != ProxyKind::Dante;
        match wait_accepting(&[addr], START_WAIT, watch.then_some(&mut server.child)) {
            Ok(()) => Ok(server),
            Err(NotAccepting::Exited(status)) => Err(Exited(io::Error::other(format!(
                "{kind:?} exited ({status}) before accepting on {addr}"
            )))),
            Err(NotAccepting::TimedOut) => Err(Failed(server.not_accepting())),
        }
    }

    /// An `https://` proxy: `kind` (squid or tinyproxy, requiring `credentials` if given)
    /// behind stunnel, which listens on 127.0.0.1 and terminates TLS with a certificate
    /// `ca` issues for `names` (an IP literal becomes an IP SAN: `["127.0.0.1"]` for a
    /// proxy URL naming the address). Waits (up to [`START_WAIT`] each) until both accept.
    pub fn https(
        kind: ProxyKind,
        credentials: Option<(&str, &str)>,
        ca: &TestCa,
        names: &[&str],
    ) -> io::Result<Self> {
        if !matches!(kind, ProxyKind::Squid | ProxyKind::Tinyproxy) {
            return Err(io::Error::other(format!(
                "an https:// proxy is an HTTP CONNECT proxy behind TLS: {kind:?} is not one"
            )));
        }
        let behind = Self::start(kind, credentials)?;
        let port = free_port();
        let addr: SocketAddr = format!("127.0.0.1:{port}").parse().expect("an address");
        let dir = std::env::temp_dir().join(format!(
            "hotpool-proxy-stunnel-{}-{port}",
            std::process::id()
        ));
        std::fs::create_dir_all(&dir)
            .map_err(|e| io::Error::other(format!("{}: {e}", dir.display())))?;
        let (chain, key) = ca.issue_pem(names)?;
        write(&dir.join("proxy.pem"), &chain)?;
        write(&dir.join("proxy.key"), &key)?;
        let d = dir.display();
        let conf = format!(
            "foreground = yes\npid =\noutput = {d}/stunnel.log\n\n[https-proxy]\n\
             accept = 127.0.0.1:{port}\nconnect = {}\ncert = {d}/proxy.pem\n\
             key = {d}/proxy.key\n",
            behind.addr()
        );
        write(&dir.join("stunnel.conf"), &conf)?;
        let mut stunnel = Command::new("stunnel4");
        stunnel.arg(dir.join("stunnel.conf"));
        let child = spawn_quiet(&mut stunnel, "stunnel4", "stunnel4")?;
        let mut server = Self {
            kind,
            addr,
            child,
            dir,
            behind: Some(Box::new(behind)),
        };
        server.wait_accepting()?;
        Ok(server)
    }

    /// Where it listens.
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    fn wait_accepting(&mut self) -> io::Result<()> {
        match wait_accepting(&[self.addr], START_WAIT, Some(&mut self.child)) {
            Ok(()) => Ok(()),
            Err(_) => Err(self.not_accepting()),
        }
    }

    fn not_accepting(&self) -> io::Error {
        let what = if self.behind.is_some() {
            format!("stunnel in front of {:?}", self.kind)
        } else {
            format!("{:?}", self.kind)
        };
        io::Error::other(format!(
            "{what} did not accept on {} within {START_WAIT:?}",
            self.addr
        ))
    }
}

impl Drop for ProxyServer {
    fn drop(&mut self) {
        // Dante forks children: end them while they are still the parent's.
        if self.kind == ProxyKind::Dante && self.behind.is_none() {
            let _ = Command::new("pkill")
                .args(["-P", &self.child.id().to_string()])
                .status();
        }
        let _ = self.child.kill();
        let _ = self.child.wait();
        let _ = std::fs::remove_dir_all(&self.dir);
        if self.kind == ProxyKind::Squid && self.behind.is_none() {
            // Killed, squid leaves its shared-memory segments behind.
            let prefix = format!("{}-", squid_service(self.addr.port()));
            for entry in std::fs::read_dir("/dev/shm")
                .into_iter()
                .flatten()
                .flatten()
            {
                if entry.file_name().to_string_lossy().starts_with(&prefix) {
                    let _ = std::fs::remove_file(entry.path());
                }
            }
        }
    }
}

/// Why one start failed: [`Exited`] is worth another port, [`Failed`] is not.
enum StartError {
    Exited(io::Error),
    Failed(io::Error),
}
use StartError::{Exited, Failed};

impl From<io::Error> for StartError {
    fn from(e: io::Error) -> Self {
        Failed(e)
    }
}

/// The squid service name of the proxy on `port` (names its shared-memory segments).
fn squid_service(port: u16) -> String {
    format!("hotpool{port}")
}

fn free_port() -> u16 {
    let listener = TcpListener::bind("127.0.0.1:0").expect("a free port");
    listener.local_addr().expect("its address").port()
}

fn write(path: &std::path::Path, text: &str) -> io::Result<()> {
    std::fs::write(path, text).map_err(|e| io::Error::other(format!("{}: {e}", path.display())))
}

fn set_mode(path: &std::path::Path, mode: u32) {
    use std::os::unix::fs::PermissionsExt;
    let _ = std::fs::set_permissions(path, std::fs::Permissions::from_mode(mode));
}

/// An Apache MD5 (`$apr1$`) password hash for squid's `basic_ncsa_auth`, by `openssl passwd`.
fn apr1(password: &str) -> io::Result<String> {
    let out = Command::new("openssl")
        .args(["passwd", "-apr1", password])
        .output()
        .map_err(|e| io::Error::other(format!("openssl passwd: {e}")))?;
    Ok(String::from_utf8_lossy(&out.stdout).trim().to_owned())
}
