//! [`RedisServer`]: a real `redis-server` (the Debian package) for the fleet tests, on a
//! free loopback port, without persistence (`--save "" --appendonly no`), in its own
//! temporary directory, killed on drop. It can be stopped and started again on the same
//! port (the "Redis went away" tests). The binary is `redis-server` on `PATH`, or
//! `$HOTPOOL_REDIS_SERVER`; a missing one is a clear [`RedisServerError::NotInstalled`].

use std::io::{self, Read, Write};
use std::net::{Ipv4Addr, SocketAddr, TcpListener, TcpStream};
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

/// How long a started server may take to answer `PING`.
const READY_WITHIN: Duration = Duration::from_secs(10);

/// Why a [`RedisServer`] could not run.
#[derive(Debug, thiserror::Error)]
pub enum RedisServerError {
    /// The binary is not installed.
    #[error(
        "`{binary}` not found: install the Debian package `redis-server` (apt-get install -y redis-server; .ci/run does) or set HOTPOOL_REDIS_SERVER"
    )]
    NotInstalled {
        /// The binary looked for.
        binary: String,
    },
    /// Starting it, or its directory, failed.
    #[error("redis-server: {0}")]
    Io(#[from] io::Error),
    /// A deployment of several servers (cluster, sentinel) did not settle in time.
    #[error("the redis deployment did not settle within {within:?}")]
    NotSettled {
        /// How long was waited.
        within: Duration,
    },
    /// It did not answer `PING` in time (or exited).
    #[error("redis-server on port {port} did not become ready within {within:?}")]
    NotReady {
        /// Its port.
        port: u16,
        /// How long was waited.
        within: Duration,
    },
}

/// A running (or stopped) `redis-server`; killed and its directory removed on drop.
pub struct RedisServer {
    binary: String,
    /// `--requirepass`, if any.
    password: Option<String>,
    port: u16,
    pub(crate) dir: PathBuf,
    /// A config file in `dir` given first (a sentinel's: it rewrites it), if any.
    pub(crate) conf: Option<String>,
    /// More arguments (cluster or sentinel mode, a replica's `--replicaof`).
    pub(crate) args: Vec<String>,
    child: Option<Child>,
}

/// The `redis-server` binary: `$HOTPOOL_REDIS_SERVER` or `redis-server` on `PATH`.
pub(crate) fn binary() -> String {
    std::env::var("HOTPOOL_REDIS_SERVER").unwrap_or_else(|_| "redis-server".into())
}

/// A free TCP port of 127.0.0.1 (free when asked).
pub(crate) fn free_port() -> io::Result<u16> {
    Ok(TcpListener::bind((Ipv4Addr::LOCALHOST, 0))?
        .local_addr()?
        .port())
}

impl RedisServer {
    /// Starts a server on a free port of 127.0.0.1 and waits until it answers `PING`.
    pub fn start() -> Result<Self, RedisServerError> {
        Self::start_binary(&binary())
    }

    /// [`RedisServer::start`] with a password (`--requirepass`): clients must send it
    /// (`redis://:PASSWORD@…`; [`RedisServer::ping`] works without it).
    pub fn start_with_password(password: &str) -> Result<Self, RedisServerError> {
        Self::start_inner(&binary(), Some(password.into()))
    }

    /// [`RedisServer::start`] with this binary.
    pub fn start_binary(binary: &str) -> Result<Self, RedisServerError> {
        Self::start_inner(binary, None)
    }

    fn start_inner(binary: &str, password: Option<String>) -> Result<Self, RedisServerError> {
        let mut server = Self::stopped(binary, password)?;
        server.restart()?;
        Ok(server)
    }

    /// A server not started yet, on a free port, with its (empty) directory: the caller
    /// sets `conf` and `args`, then [`RedisServer::restart`]s it.
    pub(crate) fn stopped(
        binary: &str,
        password: Option<String>,
    ) -> Result<Self, RedisServerError> {
        static NEXT: AtomicU64 = AtomicU64::new(0);
        let port = free_port()?;
        let n = NEXT.fetch_add(1, Ordering::Relaxed);
        let dir = std::env::temp_dir().join(format!("hotpool-redis-{}-{n}", std::process::id()));
        std::fs::create_dir_all(&dir)?;
        Ok(Self {
            binary: binary.into(),
            password,
            port,
            dir,
            conf: None,
            args: Vec::new(),
            child: None,
        })
    }

    /// The server's port (the same across restarts).
    pub fn port(&self) -> u16 {
        self.port
    }

    /// Its address.
    pub fn addr(&self) -> SocketAddr {
        SocketAddr::from((Ipv4Addr::LOCALHOST, self.port))
    }

    /// Its URL, database 0: `redis://127.0.0.1:PORT/0`.
    pub fn url(&self) -> String {
        format!("redis://127.0.0.1:{}/0", self.port)
    }

    /// Whether it is running.
    pub fn is_running(&self) -> bool {
        self.child.is_some()
    }

    /// Kills the server (as a crash would: no shutdown) and waits for it to exit.
    pub fn stop(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }

    /// Freezes the server (`SIGSTOP`): connections stay open and nothing answers, as with
    /// a hung Redis. [`RedisServer::resume`] thaws it.
    pub fn pause(&self) -> Result<(), RedisServerError> {
        self.signal("-STOP")
    }

    /// Thaws a paused server (`SIGCONT`).
    pub fn resume(&self) -> Result<(), RedisServerError> {
        self.signal("-CONT")
    }

    fn signal(&self, signal: &str) -> Result<(), RedisServerError> {
        let Some(child) = &self.child else {
            return Ok(());
        };
        let status = Command::new("kill")
            .args([signal, &child.id().to_string()])
            .status()?;
        if status.success() {
            Ok(())
        } else {
            Err(io::Error::other(format!("kill {signal} failed: {status}")).into())
        }
    }

    /// Starts it (again) on the same port, empty (a cluster node keeps its `nodes.conf`,
    /// so it rejoins), and waits until it answers `PING`.
    pub fn restart(&mut self) -> Result<(), RedisServerError> {
        self.stop();
        let mut command = Command::new(&self.binary);
        if let Some(conf) = &self.conf {
            command.arg(self.dir.join(conf));
        }
        if let Some(password) = &self.password {
            command.args(["--requirepass", password]);
        }
        let spawned = command
            .args(["--port", &self.port.to_string()])
            .args(["--bind", "127.0.0.1"])
            .args(["--save", ""])
            .args(["--appendonly", "no"])
            .arg("--dir")
            .arg(&self.dir)
            .args(&self.args)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn();
        let child = match spawned {
            Ok(child) => child,
            Err(e) if e.kind() == io::ErrorKind::NotFound => {
                let binary = self.binary.clone();
                return Err(RedisServerError::NotInstalled { binary });
            }
            Err(e) => return Err(e.into()),
        };
        self.child = Some(child);
        let started = Instant::now();
        while started.elapsed() < READY_WITHIN {
            if self.ping() {
                return Ok(());
            }
            let exited = self
                .child
                .as_mut()
                .is_some_and(|c| c.try_wait().ok().flatten().is_some());
            if exited {
                break;
            }
            std::thread::sleep(Duration::from_millis(10));
        }
        self.stop();
        Err(RedisServerError::NotReady {
            port: self.port,
            within: READY_WITHIN,
        })
    }

    /// Whether the server answers `PING` (`+PONG`, or `-NOAUTH` when it has a password;
    /// one short blocking round trip).
    pub fn ping(&self) -> bool {
        let attempt = || -> io::Result<bool> {
            let mut s = TcpStream::connect_timeout(&self.addr(), Duration::from_millis(200))?;
            s.set_read_timeout(Some(Duration::from_millis(500)))?;
            s.write_all(b"PING\r\n")?;
            let mut buf = [0u8; 7];
            s.read_exact(&mut buf)?;
            // `-NOAUTH …`: up, and asking for the password.
            Ok(&buf == b"+PONG\r\n" || buf.starts_with(b"-NOAUTH"))
        };
        attempt().unwrap_or(false)
    }
}

impl Drop for RedisServer {
    fn drop(&mut self) {
        self.stop();
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn starts_stops_and_restarts_on_the_same_port() {
        let mut server = RedisServer::start().expect("redis-server runs");
        assert!(server.ping());
        let port = server.port();
        server.stop();
        assert!(!server.ping() && !server.is_running());
        server.restart().unwrap();
        assert_eq!((server.port(), server.ping()), (port, true));
        let dir = server.dir.clone();
        drop(server);
        assert!(!dir.exists(), "its directory is removed");
    }

    #[test]
    fn a_missing_binary_says_what_to_install() {
        let err = match RedisServer::start_binary("hotpool-no-such-redis-server") {
            Err(err @ RedisServerError::NotInstalled { .. }) => err,
            Err(other) => panic!("unexpected {other}"),
            Ok(_) => panic!("started a binary that does not exist"),
        };
        let text = err.to_string();
        assert!(text.contains("hotpool-no-such-redis-server"), "{text}");
        assert!(text.contains("apt-get install -y redis-server"), "{text}");
    }
}
