//! Value rules: non-zero limits, consistent limits, known names, well-formed hosts. They run on
//! the final [`Config`] (file + environment, or built in code) and locate each problem through
//! the origins recorded while reading.
//!
//! Three kinds: the `[pool]` limit rules are pool-core's ([`PoolOptions::problems`], rendered
//! here at the key that was set most explicitly); each key's own check is named in its
//! declaration (`model.rs`) and written below; rules across keys are in [`validate`].

use std::collections::HashMap;
use std::net::{IpAddr, SocketAddr};
use std::path::PathBuf;
use std::time::Duration;

use pool_core::{IpRange, OptionsError, PoolOptions};

use crate::error::{ErrorKind, Report, line_col};
use crate::model::{
    Config, DnsProtocol, DnsServerConfig, KNOWN_BORING_PROFILES, KNOWN_TLS_PROFILES, Origin,
    TlsEngine, Transport,
};

/// Result of validation: errors and warnings, each with a sort position.
pub(crate) struct Outcome {
    pub(crate) errors: Vec<(usize, Report)>,
    pub(crate) warnings: Vec<(usize, Report)>,
}

/// Runs the checks of one config, collecting errors and warnings at their keys.
pub(crate) struct Checker<'c> {
    cfg: &'c Config,
    out: Outcome,
}

fn fmt_dur(d: Duration) -> String {
    humantime::format_duration(d).to_string()
}

impl Checker<'_> {
    /// The origin of `key`, or of its nearest recorded parent (`hosts[0].port` → `hosts[0]`).
    fn locate(&self, key: &str) -> Option<&Origin> {
        let mut k = key;
        loop {
            if let Some(o) = self.cfg.meta.origins.get(k) {
                return Some(o);
            }
            let cut = k.rfind(['.', '['])?;
            k = &k[..cut];
        }
    }

    /// How explicitly `key` was set: 2 environment, 1 file, 0 default.
    fn rank(&self, key: &str) -> u8 {
        match self.cfg.meta.origins.get(key) {
            Some(Origin::Env(_)) => 2,
            Some(Origin::File(_)) => 1,
            None => 0,
        }
    }

    fn explicit(&self, key: &str) -> bool {
        self.rank(key) > 0
    }

    fn report(&self, key: &str, kind: ErrorKind, reason: String) -> (usize, Report) {
        let meta = &self.cfg.meta;
        let mut r = Report {
            kind,
            file: meta.file.clone(),
            line: None,
            column: None,
            env_var: None,
            key: Some(key.to_owned()),
            reason,
        };
        let pos = match self.locate(key) {
            Some(Origin::File(span)) => {
                if let Some(text) = &meta.text {
                    let (l, c) = line_col(text, span.start);
                    r.line = Some(l);
                    r.column = Some(c);
                }
                span.start
            }
            Some(Origin::Env(var)) => {
                r.env_var = Some(var.clone());
                r.file = None;
                usize::MAX
            }
            None => usize::MAX - 1,
        };
        (pos, r)
    }

    fn error(&mut self, key: &str, kind: ErrorKind, reason: String) {
        let r = self.report(key, kind, reason);
        self.out.errors.push(r);
    }

    fn warn(&mut self, key: &str, reason: String) {
        let r = self.report(key, ErrorKind::Inconsistent, reason);
        self.out.warnings.push(r);
    }

    fn shown(&self, key: &str, value: &str) -> String {
        if self.explicit(key) {
            value.to_owned()
        } else {
            format!("{value}, the default")
        }
    }

    /// `a <= b`, reported at whichever of the two was set most explicitly (`a` on a tie).
    fn not_above(
        &mut self,
        a: &str,
        av: u64,
        b: &str,
        bv: u64,
        warn: bool,
        show: fn(u64) -> String,
    ) {
        if av <= bv {
            return;
        }
        let (key, reason) = if self.rank(b) > self.rank(a) {
            let other = self.shown(a, &show(av));
            (
                b,
                format!("must be at least {a} ({other}), got {}", show(bv)),
            )
        } else {
            let other = self.shown(b, &show(bv));
            (
                a,
                format!("must not exceed {b} ({other}), got {}", show(av)),
            )
        };
        if warn {
            self.warn(key, reason);
        } else {
            self.error(key, ErrorKind::Inconsistent, reason);
        }
    }
}

fn plain(n: u64) -> String {
    n.to_string()
}

fn secs(n: u64) -> String {
    fmt_dur(Duration::from_secs(n))
}

fn dur_secs(d: Duration) -> u64 {
    d.as_secs()
}

/// Checks every value rule.
pub(crate) fn validate(cfg: &Config) -> Outcome {
    let mut c = Checker {
        cfg,
        out: Outcome {
            errors: Vec::new(),
            warnings: Vec::new(),
        },
    };
    // [pool] limits: pool-core's one set of rules.
    pool_limits(&mut c, &cfg.pool_options());
    for (name, _, section) in cfg.sections_with_notes() {
        section.check(name, &mut c);
    }
    for (i, host) in cfg.hosts.iter().enumerate() {
        crate::keys::Section::check(host, &format!("hosts[{i}]"), &mut c);
    }

    let p = &cfg.pool;
    // Allowed (a connection then simply expires before it can idle out), but likely a slip.
    if p.idle_timeout > p.max_lifetime {
        c.not_above(
            "pool.idle_timeout",
            dur_secs(p.idle_timeout).max(1),
            "pool.max_lifetime",
            dur_secs(p.max_lifetime),
            true,
            secs,
        );
    }
    if p.blacklist_check_interval > p.blacklist_timeout {
        c.not_above(
            "pool.blacklist_check_interval",
            dur_secs(p.blacklist_check_interval).max(1),
            "pool.blacklist_timeout",
            dur_secs(p.blacklist_timeout),
            true,
            secs,
        );
    }

    let dns = &cfg.dns;
    if dns.resolv_conf.is_some() && !(dns.name_servers.is_empty() && dns.servers.is_empty()) {
        c.warn(
            "dns.resolv_conf",
            "ignored: name servers are configured (dns.name_servers, [[dns.servers]])".to_owned(),
        );
    }

    let tls = &cfg.tls;
    if !tls.use_webpki_roots && tls.ca_files.is_empty() && !tls.insecure_skip_verify {
        c.error(
            "tls.use_webpki_roots",
            ErrorKind::Inconsistent,
            "no trust anchors: use_webpki_roots is false and ca_files is empty".to_owned(),
        );
    }

    // [h2]: the boring engine keeps its browser profile's windows (docs/h2-windows.md).
    if tls.engine == TlsEngine::Boring && cfg.h2 != crate::H2Config::default() {
        c.warn(
            "h2",
            "engine \"boring\" keeps its browser profile's HTTP/2 windows (part of the \
             fingerprint): [h2] applies to the rustls engine only"
                .to_owned(),
        );
    }

    // [metrics]: a non-loopback address is fine when written explicitly; say so once.
    if cfg.metrics.enabled && !cfg.metrics.listen.ip().is_loopback() {
        c.warn(
            "metrics.listen",
            format!(
                "metrics are served on {}, reachable from other machines",
                cfg.metrics.listen
            ),
        );
    }

    // [[hosts]]: names unique across entries; ALPN fitting the transport.
    let mut seen: HashMap<String, usize> = HashMap::new();
    for (i, h) in cfg.hosts.iter().enumerate() {
        if host_name_problem(&h.name).is_some() {
            continue;
        }
        if let Some(first) = seen.insert(h.name.to_ascii_lowercase(), i) {
            let first_at = match c.locate(&format!("hosts[{first}].name")) {
                Some(Origin::File(span)) => match &cfg.meta.text {
                    Some(t) => format!(" (first at line {})", line_col(t, span.start).0),
                    None => String::new(),
                },
                _ => String::new(),
            };
            c.error(
                &format!("hosts[{i}].name"),
                ErrorKind::Duplicate,
                format!("duplicate host name {:?}{first_at}", h.name),
            );
            // Keep the first one as the reference for later duplicates.
            seen.insert(h.name.to_ascii_lowercase(), first);
        }
    }
    for (i, h) in cfg.hosts.iter().enumerate() {
        let Some(alpn) = &h.alpn else { continue };
        let key = format!("hosts[{i}].alpn");
        let needs = match h.transport {
            Transport::H2 => Some("h2"),
            Transport::H1 | Transport::Auto => Some("http/1.1"),
            _ => None,
        };
        if let Some(needs) = needs
            && !alpn.iter().any(|p| p == needs)
        {
            c.error(
                &key,
                ErrorKind::Inconsistent,
                format!(
                    "transport {:?} needs {needs:?} in alpn",
                    h.transport.as_str()
                ),
            );
        }
        if alpn.is_empty() {
            c.error(
                &key,
                ErrorKind::Value,
                "must not be empty (leave `alpn` out for the transport's default)".to_owned(),
            );
        }
    }
    c.out
}

/// Renders pool-core's limit problems at `pool.<key>`, each inconsistent pair at the key
/// that was set more explicitly.
fn pool_limits(c: &mut Checker<'_>, options: &PoolOptions) {
    for problem in options.problems() {
        match problem {
            OptionsError::Zero { key } => c.error(
                &format!("pool.{key}"),
                ErrorKind::Value,
                "must not be zero".to_owned(),
            ),
            OptionsError::Exceeds {
                key,
                value,
                limit_key,
                limit,
            } => c.not_above(
                &format!("pool.{key}"),
                value,
                &format!("pool.{limit_key}"),
                limit,
                false,
                plain,
            ),
            other => c.error(
                &format!("pool.{}", other.key()),
                ErrorKind::Value,
                other.to_string(),
            ),
        }
    }
}

// ---------------------------------------------------------------------------------------
// Key checks, named in the declarations: `fn(&mut Checker, key, &value)`.

/// A value whose zero means "off" where that makes no sense.
pub(crate) trait Zero {
    fn is_zero(&self) -> bool;
}

impl Zero for Duration {
    fn is_zero(&self) -> bool {
        Duration::is_zero(self)
    }
}

impl Zero for u32 {
    fn is_zero(&self) -> bool {
        *self == 0
    }
}

impl Zero for u16 {
    fn is_zero(&self) -> bool {
        *self == 0
    }
}

impl Zero for usize {
    fn is_zero(&self) -> bool {
        *self == 0
    }
}

/// Must not be zero.
pub(crate) fn nonzero<T: Zero>(c: &mut Checker<'_>, key: &str, v: &T) {
    if v.is_zero() {
        c.error(key, ErrorKind::Value, "must not be zero".to_owned());
    }
}

/// An HTTP/2 flow-control window: within 65,535 ..= 2^31 - 1 (RFC 9113 §6.9).
pub(crate) fn h2_window(c: &mut Checker<'_>, key: &str, window: &crate::ByteSize) {
    const MIN: u64 = 65_535;
    const MAX: u64 = (1 << 31) - 1;
    if !(MIN..=MAX).contains(&window.0) {
        c.error(
            key,
            ErrorKind::Value,
            format!(
                "must be an HTTP/2 window, {MIN} ..= {MAX} bytes (64KiB - 1 ..= 2GiB - 1), got {}",
                window.0
            ),
        );
    }
}

/// A QUIC connection window (`h3.receive_window`, `h3.send_window`): at least 1 byte, at
/// most QUIC's largest variable-length integer (2^62 - 1).
pub(crate) fn quic_window(c: &mut Checker<'_>, key: &str, size: &crate::ByteSize) {
    if size.0 == 0 || size.0 >= 1 << 62 {
        c.error(
            key,
            ErrorKind::Value,
            format!("must be 1 byte to 2^62 - 1 bytes, got {}", size.0),
        );
    }
}

/// `h3.stream_receive_window`: 1 byte to 4 GiB - 1 (pool-dial-quic's `u32`).
pub(crate) fn quic_stream_window(c: &mut Checker<'_>, key: &str, size: &crate::ByteSize) {
    if size.0 == 0 || size.0 > u64::from(u32::MAX) {
        c.error(
            key,
            ErrorKind::Value,
            format!("must be 1 byte to 4GiB - 1 byte, got {}", size.0),
        );
    }
}

/// `tcp.keepalive_retries`: Linux's `TCP_KEEPCNT` takes 1-127.
pub(crate) fn keepalive_retries(c: &mut Checker<'_>, key: &str, n: &u32) {
    if !(1..=127).contains(n) {
        c.error(
            key,
            ErrorKind::Value,
            format!("must be 1-127 (TCP_KEEPCNT), got {n}"),
        );
    }
}

/// An HTTP status code.
pub(crate) fn http_status(c: &mut Checker<'_>, key: &str, status: &u16) {
    if !(100..=599).contains(status) {
        c.error(
            key,
            ErrorKind::Value,
            format!("must be an HTTP status code (100-599), got {status}"),
        );
    }
}

/// An absolute request path without spaces.
pub(crate) fn http_path(c: &mut Checker<'_>, key: &str, path: &str) {
    if !path.starts_with('/') {
        c.error(
            key,
            ErrorKind::Value,
            format!("must start with '/', got {path:?}"),
        );
    } else if path.chars().any(|ch| ch.is_whitespace() || ch.is_control()) {
        c.error(
            key,
            ErrorKind::Value,
            format!("must not contain spaces or control characters, got {path:?}"),
        );
    }
}

/// An HTTP method token.
pub(crate) fn http_method(c: &mut Checker<'_>, key: &str, method: &str) {
    let token = |ch: char| ch.is_ascii_alphanumeric() || "!#$%&'*+-.^_`|~".contains(ch);
    if method.is_empty() || !method.chars().all(token) {
        c.error(
            key,
            ErrorKind::Value,
            format!("not an HTTP method: {method:?}"),
        );
    }
}

/// Name servers with a port.
pub(crate) fn name_servers(c: &mut Checker<'_>, key: &str, servers: &[SocketAddr]) {
    for (i, ns) in servers.iter().enumerate() {
        if ns.port() == 0 {
            c.error(
                &format!("{key}[{i}]"),
                ErrorKind::Value,
                format!("port must not be 0, got {ns}"),
            );
        }
    }
}

/// A name server's port is not 0.
pub(crate) fn server_addr(c: &mut Checker<'_>, key: &str, addr: &SocketAddr) {
    if addr.port() == 0 {
        c.error(
            key,
            ErrorKind::Value,
            format!("port must not be 0, got {addr}"),
        );
    }
}

/// `name_servers` have no TLS name: their protocol is UDP or TCP.
pub(crate) fn plain_dns_protocol(c: &mut Checker<'_>, key: &str, protocol: &DnsProtocol) {
    if protocol.is_encrypted() {
        c.error(
            key,
            ErrorKind::Value,
            format!(
                "{:?} needs a TLS name: list such servers as [[dns.servers]] with addr, \
                 protocol and tls_name (dns.protocol is \"udp\" or \"tcp\")",
                protocol.as_str()
            ),
        );
    }
}

/// Each `[[dns.servers]]` entry's own keys, and its TLS name: required for `tls` and
/// `https` (a DNS name or an IP address), refused for `udp` and `tcp`.
pub(crate) fn dns_servers(c: &mut Checker<'_>, key: &str, servers: &[DnsServerConfig]) {
    use crate::keys::Section as _;
    for (i, server) in servers.iter().enumerate() {
        let at = format!("{key}[{i}]");
        server.check(&at, c);
        let protocol = server.protocol.as_str();
        match (&server.tls_name, server.protocol.is_encrypted()) {
            (None, true) => c.error(
                &format!("{at}.tls_name"),
                ErrorKind::Missing,
                format!(
                    "missing required key `tls_name` (protocol = {protocol:?}: the name the \
                     server's certificate must be valid for)"
                ),
            ),
            (Some(_), false) => c.error(
                &format!("{at}.tls_name"),
                ErrorKind::Inconsistent,
                format!("only for protocol = \"tls\" or \"https\", got protocol = {protocol:?}"),
            ),
            (Some(name), true) if name.parse::<IpAddr>().is_err() => {
                if let Some(reason) = host_name_problem(name) {
                    c.error(&format!("{at}.tls_name"), ErrorKind::Value, reason);
                }
            }
            _ => {}
        }
    }
}

/// At least one profile, each known to the configured `tls.engine`.
pub(crate) fn profiles(c: &mut Checker<'_>, key: &str, profiles: &[String]) {
    let (known, what) = match c.cfg.tls.engine {
        TlsEngine::Boring => (KNOWN_BORING_PROFILES, "browser profile (engine boring)"),
        _ => (KNOWN_TLS_PROFILES, "TLS profile"),
    };
    if profiles.is_empty() {
        c.error(
            key,
            ErrorKind::Value,
            format!(
                "must name at least one profile (known: {})",
                known.join(", ")
            ),
        );
    }
    for (i, name) in profiles.iter().enumerate() {
        if !known.contains(&name.as_str()) {
            let hint = match nearest_profile(known, name) {
                Some(s) => format!("; did you mean {s:?}?"),
                None => String::new(),
            };
            c.error(
                &format!("{key}[{i}]"),
                ErrorKind::Value,
                format!(
                    "unknown {what} {name:?} (known: {}){hint}",
                    known.join(", ")
                ),
            );
        }
    }
}

/// `"boring"` needs a build with the `boring` feature.
pub(crate) fn engine(c: &mut Checker<'_>, key: &str, engine: &TlsEngine) {
    if *engine == TlsEngine::Boring && !cfg!(feature = "boring") {
        c.error(
            key,
            ErrorKind::Value,
            "\"boring\" is not available: built without the boring feature (rebuild with \
             `--features boring`; BoringSSL needs cmake and libclang)"
                .to_owned(),
        );
    }
}

/// No empty paths.
pub(crate) fn ca_files(c: &mut Checker<'_>, key: &str, files: &[PathBuf]) {
    for (i, f) in files.iter().enumerate() {
        if f.as_os_str().is_empty() {
            c.error(
                &format!("{key}[{i}]"),
                ErrorKind::Value,
                "must not be empty".to_owned(),
            );
        }
    }
}

/// Allowed, and warned.
pub(crate) fn insecure(c: &mut Checker<'_>, key: &str, on: &bool) {
    if *on {
        c.warn(
            key,
            "certificate verification is OFF: any server can impersonate every host".to_owned(),
        );
    }
}

/// Printable header values.
pub(crate) fn accept_languages(c: &mut Checker<'_>, key: &str, langs: &[String]) {
    for (i, lang) in langs.iter().enumerate() {
        let ok =
            !lang.trim().is_empty() && lang.chars().all(|ch| ch == ' ' || ch.is_ascii_graphic());
        if !ok {
            c.error(
                &format!("{key}[{i}]"),
                ErrorKind::Value,
                format!("not a valid Accept-Language header value: {lang:?}"),
            );
        }
    }
}

/// An IPv6 range.
pub(crate) fn ipv6_prefix(c: &mut Checker<'_>, key: &str, prefix: &Option<IpRange>) {
    if let Some(prefix) = prefix.filter(|p| !p.is_ipv6()) {
        c.error(
            key,
            ErrorKind::Value,
            format!("must be an IPv6 prefix, got {prefix}"),
        );
    }
}

/// A bare host name (or IP address).
pub(crate) fn host_name(c: &mut Checker<'_>, key: &str, name: &str) {
    if let Some(reason) = host_name_problem(name) {
        c.error(key, ErrorKind::Value, reason);
    }
}

/// `fleet.url`: a Redis URL (checked by pool-redis itself, with the `fleet` feature).
pub(crate) fn fleet_url(c: &mut Checker<'_>, key: &str, url: &str) {
    if let Some(problem) = crate::fleet::url_problem(url) {
        c.error(key, ErrorKind::Value, problem);
    }
}

/// `fleet.prefix`: a key prefix (checked by pool-redis itself, with the `fleet` feature).
pub(crate) fn fleet_prefix(c: &mut Checker<'_>, key: &str, prefix: &str) {
    if let Some(problem) = crate::fleet::prefix_problem(prefix) {
        c.error(key, ErrorKind::Value, problem);
    }
}

/// Present means non-empty.
pub(crate) fn host_addrs(c: &mut Checker<'_>, key: &str, addrs: &Option<Vec<IpAddr>>) {
    if addrs.as_ref().is_some_and(Vec::is_empty) {
        c.error(
            key,
            ErrorKind::Value,
            "must not be empty (leave `addrs` out to resolve the host with DNS)".to_owned(),
        );
    }
}

/// Each ALPN id 1-255 bytes (the list as a whole is checked with the transport).
pub(crate) fn alpn_ids(c: &mut Checker<'_>, key: &str, alpn: &Option<Vec<String>>) {
    for (j, proto) in alpn.iter().flatten().enumerate() {
        if proto.is_empty() || proto.len() > 255 {
            c.error(
                &format!("{key}[{j}]"),
                ErrorKind::Value,
                format!("an ALPN protocol id must be 1-255 bytes, got {proto:?}"),
            );
        }
    }
}

fn nearest_profile(known: &[&'static str], name: &str) -> Option<&'static str> {
    let lower = name.to_ascii_lowercase();
    known
        .iter()
        .copied()
        .find(|k| lower.contains(k.trim_end_matches("-like")) || k.starts_with(&lower))
}

fn host_name_problem(name: &str) -> Option<String> {
    if name.is_empty() {
        return Some("must not be empty".to_owned());
    }
    if name.contains("://") || name.contains('/') {
        return Some(format!(
            "must be a bare host name, not a URL, got {name:?} (set `port` and `transport` separately)"
        ));
    }
    if name.parse::<std::net::IpAddr>().is_ok() {
        return None;
    }
    let ok = name.split('.').enumerate().all(|(i, label)| {
        (!label.is_empty() || i > 0 && name.ends_with('.'))
            && label.len() <= 63
            && label
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_')
    }) && name.len() <= 253;
    if ok {
        None
    } else if name.contains(':') {
        Some(format!(
            "must be a host name without a port, got {name:?} (use `port`)"
        ))
    } else {
        Some(format!("not a valid host name: {name:?}"))
    }
}
