//! A web server this project did not write: Debian's nginx, started on loopback for a
//! test, serving files over plain HTTP (`http://`): HTTP/1.1 with keep-alive on one port
//! and HTTP/2 with prior knowledge (h2c) on another, every given address. It runs in the
//! foreground (`daemon off`, one process) in a temporary directory and is killed when its
//! handle drops. `.ci/run` installs the `nginx` package; a missing binary is an error
//! naming it.

use std::io;
use std::net::{IpAddr, SocketAddr, TcpListener};
use std::path::{Path, PathBuf};
use std::process::{Child, Command};
use std::time::Duration;

use crate::process::{NotAccepting, spawn_quiet, wait_accepting};

/// `/whoami`'s location: the request as nginx read it (protocol, host with port, URI).
const WHOAMI: &str = "    location = /whoami {\n      return 200 \"$server_protocol $http_host|$host $request_uri\\n\";\n    }\n";

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
        let conf = format!(
            "daemon off;\nmaster_process off;\nworker_processes 1;\n\
             error_log {d}/error.log warn;\npid {d}/nginx.pid;\n\
             events {{ worker_connections 256; }}\n\
             http {{\n  access_log off;\n  default_type application/octet-stream;\n\
             client_body_temp_path {d}/body;\n  proxy_temp_path {d}/proxy;\n\
             fastcgi_temp_path {d}/fastcgi;\n  uwsgi_temp_path {d}/uwsgi;\n\
             scgi_temp_path {d}/scgi;\n  keepalive_requests 1000;\n\
             server {{\n{}    root {d}/html;\n{WHOAMI}  }}\n\
             server {{\n{}    root {d}/html;\n{WHOAMI}  }}\n}}\n",
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
