//! The [`hotpool::Client`] the commands run on, and what they share about it: the URL of
//! a host's origin, `--profile`.

use hotpool::stack::HostSpec;
use hotpool::{Client, ClientBuilder};
use pool_config::Config;

use crate::Error;

/// The client of `warm`, `bench` and `demo`: `cfg` as the command line completed it,
/// `host`'s transport for hosts without a `[[hosts]]` entry, no background warm-up (the
/// command warms with a progress bar), redirects returned as they are and bodies as sent
/// (like h2load: what the origin answered is what is measured).
pub fn for_host(cfg: Config, host: &HostSpec) -> Result<Client, Error> {
    check_transport(host)?;
    Ok(builder(cfg, host).build()?)
}

/// Refuses, before any dial, a host whose transport carries no HTTP (`tls`).
pub fn check_transport(host: &HostSpec) -> Result<(), Error> {
    use pool_config::Transport;
    if matches!(
        host.transport,
        Transport::H1 | Transport::H2 | Transport::Auto | Transport::H3 | Transport::H2c
    ) {
        return Ok(());
    }
    Err(Error::new(format!(
        "transport {:?} of {} is not supported by the CLI (it sends requests over h1, h2, auto or h3)",
        host.transport.as_str(),
        host.name
    )))
}

/// [`for_host`]'s builder, for a command that sets more.
pub fn builder(cfg: Config, host: &HostSpec) -> ClientBuilder {
    Client::builder()
        .config(cfg)
        .transport(host.transport)
        .warm(hotpool::WarmPolicy::OnDemand)
        .redirects(hotpool::RedirectPolicy::NONE)
        .no_decode()
}

/// `https://name:port` (or `http://`) of `host`, at the port it is dialed at; an IPv6
/// literal in brackets.
pub fn origin_url(host: &HostSpec, tls: bool) -> String {
    let scheme = if tls { "https" } else { "http" };
    if host.name.contains(':') {
        format!("{scheme}://[{}]:{}", host.name, host.port)
    } else {
        format!("{scheme}://{}:{}", host.name, host.port)
    }
}

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
