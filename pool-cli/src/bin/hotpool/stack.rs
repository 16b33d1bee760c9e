//! The CLI's use of `hotpool`'s per-host stack: the dialer of a host's transport picked
//! once for a command written generically ([`with_dialer!`]), and `GET` as the commands
//! send it. The stack itself (pool, DNS refresh, health checks, fleet) is
//! [`hotpool::HostStack`].

use bytes::Bytes;
use pool_config::Config;
use pool_core::{Dialer, LeaseSource};
use pool_http::{Empty, HttpConnection, RequestError, RequestOptions};

pub use hotpool::stack::{HostSpec, split_host_port};

use crate::Error;

/// A host's running pool, as the commands start it (new addresses warmed by the command,
/// with a progress bar, not by the DNS refresh).
pub type Stack<D> = hotpool::HostStack<D>;

/// `--profile BROWSER`: the BoringSSL engine with that one profile (an error in a build
/// without the `boring` feature).
pub fn use_profile(cfg: &mut Config, browser: crate::args::Browser) -> Result<(), Error> {
    if !cfg!(feature = "boring") {
        return Err(Error::new(format!(
            "--profile {}: this hotpool is built without the boring feature (build it with \
             `--features boring`; BoringSSL needs cmake and libclang)",
            browser.name()
        )));
    }
    cfg.tls.engine = pool_config::TlsEngine::Boring;
    cfg.tls.profiles = vec![browser.name().to_owned()];
    Ok(())
}

/// Evaluates `$body` with `$dialer` bound to the dialer of `$host`'s transport — one arm per
/// transport that speaks HTTP, and the BoringSSL dialer for h2, h1 and auto with
/// `[tls] engine = "boring"` — so a command is written once, generic over the dialer.
macro_rules! with_dialer {
    ($cfg:expr, $host:expr, |$dialer:ident| $body:expr) => {
        match $host.transport {
            #[cfg(feature = "boring")]
            pool_config::Transport::H2 | pool_config::Transport::H2c | pool_config::Transport::H1 | pool_config::Transport::Auto
                if hotpool::stack::uses_boring($cfg) =>
            {
                let $dialer = hotpool::stack::boring_dialers($cfg, $host).map_err($crate::Error::from)?;
                $body
            }
            // `h2c` is HTTP/2 over TLS on an https:// URL.
            pool_config::Transport::H2 | pool_config::Transport::H2c => {
                let $dialer = hotpool::stack::h2_dialers($cfg, $host).map_err($crate::Error::from)?;
                $body
            }
            pool_config::Transport::H1 => {
                let $dialer = hotpool::stack::h1_dialers($cfg, $host).map_err($crate::Error::from)?;
                $body
            }
            pool_config::Transport::Auto => {
                let $dialer = hotpool::stack::https_dialers($cfg, $host).map_err($crate::Error::from)?;
                $body
            }
            pool_config::Transport::H3 => {
                let $dialer = hotpool::stack::quic_dialers($cfg, $host).map_err($crate::Error::from)?;
                $body
            }
            other => Err($crate::Error::new(format!(
                "transport {:?} of {} is not supported by the CLI (it sends requests over h1, h2, auto or h3)",
                other.as_str(),
                $host.name
            ))),
        }
    };
}
pub(crate) use with_dialer;

/// `GET path`, as the commands send it.
pub fn get_request(path: &str) -> Result<http::Request<Empty<Bytes>>, RequestError> {
    Ok(http::Request::get(path).body(Empty::new())?)
}

/// `GET path` to `host` through `pool`, over any transport whose connections speak HTTP:
/// `pool-http`'s [`send_polite`](pool_http::send_polite) under `options` (the config's
/// `request_timeout` / `body_idle_timeout`; paced and retried as `polite` says, retried
/// once when safe), the body read whole (at most [`pool_http::DEFAULT_COLLECT_LIMIT`]).
pub async fn get<S>(
    pool: &S,
    polite: &pool_http::Polite,
    host: &str,
    path: &str,
    options: &RequestOptions,
) -> Result<http::Response<Bytes>, RequestError>
where
    S: LeaseSource<Dialer: Dialer<Conn: HttpConnection>>,
{
    let request = get_request(path)?;
    let response = pool_http::send_polite(pool, polite, host, request, options).await?;
    let (parts, body) = response.into_parts();
    Ok(http::Response::from_parts(parts, body.bytes().await?))
}
