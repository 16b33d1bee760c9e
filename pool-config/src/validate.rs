//! Value rules. They run on the final [`Config`] (file + environment, or built in code) and
//! locate each problem through the origins recorded while reading.
//!
//! Three kinds: the `[pool]` limit rules are pool-core's ([`PoolOptions::problems`], rendered
//! here at the key that was set most explicitly); each key's own check is named in its
//! declaration (`model.rs`) and written below; rules across keys are in [`validate`].

use std::collections::HashMap;
use std::net::{IpAddr, SocketAddr};
use std::path::PathBuf;
use std::time::Duration;

use pool_core::{IpRange, OptionsError};

use crate::error::{ErrorKind, Report, line_col};
use crate::keys::Section as _;
use crate::model::{Config, DnsProtocol, DnsServerConfig, Origin, TlsEngine, Transport};
use crate::{ByteSize, KNOWN_BORING_PROFILES, KNOWN_TLS_PROFILES};

/// Problems found, each with a sort position (its offset in the file).
pub(crate) type Found = Vec<(usize, Report)>;

/// Runs the checks of one config, collecting errors and warnings at their keys.
pub(crate) struct Checker<'c> {
    cfg: &'c Config,
    pub(crate) errors: Found,
    pub(crate) warnings: Found,
}

impl Checker<'_> {
    /// The origin of `key`, or of its nearest recorded parent (`hosts[0].port` → `hosts[0]`).
    fn locate(&self, key: &str) -> Option<&Origin> {
        let mut k = key;
        loop {
            if let Some(o) = self.cfg.meta.origins.get(k) {
                return Some(o);
            }
            k = &k[..k.rfind(['.', '['])?];
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
                    (r.line, r.column) = (Some(l), Some(c));
                }
                span.start
            }
            Some(Origin::Env(var)) => {
                (r.env_var, r.file) = (Some(var.clone()), None);
                usize::MAX
            }
            None => usize::MAX - 1,
        };
        (pos, r)
    }

    pub(crate) fn error(&mut self, key: &str, kind: ErrorKind, reason: impl Into<String>) {
        let r = self.report(key, kind, reason.into());
        self.errors.push(r);
    }

    fn value(&mut self, key: &str, reason: impl Into<String>) {
        self.error(key, ErrorKind::Value, reason);
    }

    fn warn(&mut self, key: &str, reason: impl Into<String>) {
        let r = self.report(key, ErrorKind::Inconsistent, reason.into());
        self.warnings.push(r);
    }

    /// `a <= b`, reported at whichever of the two was set most explicitly (`a` on a tie).
    fn not_above(&mut self, (a, av): (&str, String), (b, bv): (&str, String), warn: bool) {
        let shown = |key: &str, v: &str| match self.rank(key) {
            0 => format!("{v}, the default"),
            _ => v.to_owned(),
        };
        let (key, reason) = if self.rank(b) > self.rank(a) {
            (
                b,
                format!("must be at least {a} ({}), got {bv}", shown(a, &av)),
            )
        } else {
            (
                a,
                format!("must not exceed {b} ({}), got {av}", shown(b, &bv)),
            )
        };
        if warn {
            self.warn(key, reason);
        } else {
            self.error(key, ErrorKind::Inconsistent, reason);
        }
    }
}

/// Checks every value rule: errors and warnings, in file order.
pub(crate) fn validate(cfg: &Config) -> (Found, Found) {
    let mut c = Checker {
        cfg,
        errors: Vec::new(),
        warnings: Vec::new(),
    };
    // [pool] limits: pool-core's one set of rules.
    for problem in cfg.pool_options().problems() {
        match problem {
            OptionsError::Zero { key } => c.value(&format!("pool.{key}"), "must not be zero"),
            OptionsError::Exceeds {
                key,
                value,
                limit_key,
                limit,
            } => c.not_above(
                (&format!("pool.{key}"), value.to_string()),
                (&format!("pool.{limit_key}"), limit.to_string()),
                false,
            ),
            other => c.value(&format!("pool.{}", other.key()), other.to_string()),
        }
    }
    for (name, _, section) in cfg.sections_with_notes() {
        section.check(name, &mut c);
    }
    for (i, host) in cfg.hosts.iter().enumerate() {
        host.check(&format!("hosts[{i}]"), &mut c);
    }

    // Allowed (the shorter one then never fires), but likely a slip.
    let p = &cfg.pool;
    let secs =
        |d: Duration| humantime::format_duration(Duration::from_secs(d.as_secs())).to_string();
    for (a, av, b, bv) in [
        (
            "pool.idle_timeout",
            p.idle_timeout,
            "pool.max_lifetime",
            p.max_lifetime,
        ),
        (
            "pool.blacklist_check_interval",
            p.blacklist_check_interval,
            "pool.blacklist_timeout",
            p.blacklist_timeout,
        ),
    ] {
        if av > bv {
            c.not_above(
                (a, secs(av.max(Duration::from_secs(1)))),
                (b, secs(bv)),
                true,
            );
        }
    }
    let dns = &cfg.dns;
    if dns.resolv_conf.is_some() && !(dns.name_servers.is_empty() && dns.servers.is_empty()) {
        c.warn(
            "dns.resolv_conf",
            "ignored: name servers are configured (dns.name_servers, [[dns.servers]])",
        );
    }
    let tls = &cfg.tls;
    if !tls.use_webpki_roots && tls.ca_files.is_empty() && !tls.insecure_skip_verify {
        let reason = "no trust anchors: use_webpki_roots is false and ca_files is empty";
        c.error("tls.use_webpki_roots", ErrorKind::Inconsistent, reason);
    }
    // [h2]: the boring engine keeps its browser profile's windows (docs/h2-windows.md).
    if tls.engine == TlsEngine::Boring && cfg.h2 != crate::H2Config::default() {
        c.warn(
            "h2",
            "engine \"boring\" keeps its browser profile's HTTP/2 windows (part of the \
             fingerprint): [h2] applies to the rustls engine only",
        );
    }
    // [metrics]: a non-loopback address is fine when written explicitly; say so once.
    if cfg.metrics.enabled && !cfg.metrics.listen.ip().is_loopback() {
        let listen = cfg.metrics.listen;
        c.warn(
            "metrics.listen",
            format!("metrics are served on {listen}, reachable from other machines"),
        );
    }
    hosts(&mut c, cfg);
    (c.errors, c.warnings)
}

/// `[[hosts]]`: names unique across entries (case-insensitively); ALPN fitting the transport.
fn hosts(c: &mut Checker<'_>, cfg: &Config) {
    let mut seen: HashMap<String, usize> = HashMap::new();
    for (i, h) in cfg.hosts.iter().enumerate() {
        if host_name_problem(&h.name).is_some() {
            continue;
        }
        // The first one stays the reference for later duplicates.
        let first = *seen.entry(h.name.to_ascii_lowercase()).or_insert(i);
        if first != i {
            let first_at = match (c.locate(&format!("hosts[{first}].name")), &cfg.meta.text) {
                (Some(Origin::File(span)), Some(t)) => {
                    format!(" (first at line {})", line_col(t, span.start).0)
                }
                _ => String::new(),
            };
            let reason = format!("duplicate host name {:?}{first_at}", h.name);
            c.error(&format!("hosts[{i}].name"), ErrorKind::Duplicate, reason);
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
        if let Some(needs) = needs.filter(|n| !alpn.iter().any(|p| p == n)) {
            let reason = format!(
                "transport {:?} needs {needs:?} in alpn",
                h.transport.as_str()
            );
            c.error(&key, ErrorKind::Inconsistent, reason);
        }
        if alpn.is_empty() {
            c.value(
                &key,
                "must not be empty (leave `alpn` out for the transport's default)",
            );
        }
    }
}

// ---------------------------------------------------------------------------------------
// Key checks, named in the declarations: `fn(&mut Checker, key, &value)`.

/// Must not be zero (a zero duration, count or port).
pub(crate) fn nonzero<T: Default + PartialEq>(c: &mut Checker<'_>, key: &str, v: &T) {
    if *v == T::default() {
        c.value(key, "must not be zero");
    }
}

/// An HTTP/2 flow-control window: within 65,535 ..= 2^31 - 1 (RFC 9113 §6.9).
pub(crate) fn h2_window(c: &mut Checker<'_>, key: &str, window: &ByteSize) {
    const MIN: u64 = 65_535;
    const MAX: u64 = (1 << 31) - 1;
    if !(MIN..=MAX).contains(&window.0) {
        let got = window.0;
        c.value(key, format!("must be an HTTP/2 window, {MIN} ..= {MAX} bytes (64KiB - 1 ..= 2GiB - 1), got {got}"));
    }
}

/// A QUIC connection window (`h3.receive_window`, `h3.send_window`): at least 1 byte, at
/// most QUIC's largest variable-length integer (2^62 - 1).
pub(crate) fn quic_window(c: &mut Checker<'_>, key: &str, size: &ByteSize) {
    if size.0 == 0 || size.0 >= 1 << 62 {
        c.value(
            key,
            format!("must be 1 byte to 2^62 - 1 bytes, got {}", size.0),
        );
    }
}

/// `h3.stream_receive_window`: 1 byte to 4 GiB - 1 (pool-dial-quic's `u32`).
pub(crate) fn quic_stream_window(c: &mut Checker<'_>, key: &str, size: &ByteSize) {
    if size.0 == 0 || size.0 > u64::from(u32::MAX) {
        c.value(
            key,
            format!("must be 1 byte to 4GiB - 1 byte, got {}", size.0),
        );
    }
}

/// `tcp.keepalive_retries`: Linux's `TCP_KEEPCNT` takes 1-127.
pub(crate) fn keepalive_retries(c: &mut Checker<'_>, key: &str, n: &u32) {
    if !(1..=127).contains(n) {
        c.value(key, format!("must be 1-127 (TCP_KEEPCNT), got {n}"));
    }
}

/// An HTTP status code.
pub(crate) fn http_status(c: &mut Checker<'_>, key: &str, status: &u16) {
    if !(100..=599).contains(status) {
        c.value(
            key,
            format!("must be an HTTP status code (100-599), got {status}"),
        );
    }
}

/// An absolute request path without spaces.
pub(crate) fn http_path(c: &mut Checker<'_>, key: &str, path: &str) {
    if !path.starts_with('/') {
        c.value(key, format!("must start with '/', got {path:?}"));
    } else if path.chars().any(|ch| ch.is_whitespace() || ch.is_control()) {
        c.value(
            key,
            format!("must not contain spaces or control characters, got {path:?}"),
        );
    }
}

/// An HTTP method token.
pub(crate) fn http_method(c: &mut Checker<'_>, key: &str, method: &str) {
    let token = |ch: char| ch.is_ascii_alphanumeric() || "!#$%&'*+-.^_`|~".contains(ch);
    if method.is_empty() || !method.chars().all(token) {
        c.value(key, format!("not an HTTP method: {method:?}"));
    }
}

/// Name servers with a port.
pub(crate) fn name_servers(c: &mut Checker<'_>, key: &str, servers: &[SocketAddr]) {
    for (i, ns) in servers.iter().enumerate() {
        server_addr(c, &format!("{key}[{i}]"), ns);
    }
}

/// A name server's port is not 0.
pub(crate) fn server_addr(c: &mut Checker<'_>, key: &str, addr: &SocketAddr) {
    if addr.port() == 0 {
        c.value(key, format!("port must not be 0, got {addr}"));
    }
}

/// `name_servers` have no TLS name: their protocol is UDP or TCP.
pub(crate) fn plain_dns_protocol(c: &mut Checker<'_>, key: &str, protocol: &DnsProtocol) {
    if protocol.is_encrypted() {
        c.value(
            key,
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
    for (i, server) in servers.iter().enumerate() {
        let at = format!("{key}[{i}]");
        server.check(&at, c);
        let (name_key, protocol) = (format!("{at}.tls_name"), server.protocol.as_str());
        match (&server.tls_name, server.protocol.is_encrypted()) {
            (None, true) => c.error(
                &name_key,
                ErrorKind::Missing,
                format!(
                    "missing required key `tls_name` (protocol = {protocol:?}: the name the \
                     server's certificate must be valid for)"
                ),
            ),
            (Some(_), false) => c.error(
                &name_key,
                ErrorKind::Inconsistent,
                format!("only for protocol = \"tls\" or \"https\", got protocol = {protocol:?}"),
            ),
            (Some(name), true) if name.parse::<IpAddr>().is_err() => host_name(c, &name_key, name),
            _ => {}
        }
    }
}

/// At least one profile, each known to the configured `tls.engine`.
pub(crate) fn profiles(c: &mut Checker<'_>, key: &str, profiles: &[String]) {
    let (known, what) = match c.cfg.tls.engine {
        TlsEngine::Boring => (KNOWN_BORING_PROFILES, "browser profile (engine boring)"),
        TlsEngine::Rustls => (KNOWN_TLS_PROFILES, "TLS profile"),
    };
    if profiles.is_empty() {
        c.value(
            key,
            format!(
                "must name at least one profile (known: {})",
                known.join(", ")
            ),
        );
    }
    for (i, name) in profiles
        .iter()
        .enumerate()
        .filter(|(_, n)| !known.contains(&n.as_str()))
    {
        let lower = name.to_ascii_lowercase();
        let near = known
            .iter()
            .find(|k| lower.contains(k.trim_end_matches("-like")) || k.starts_with(&lower));
        let hint = near
            .map(|s| format!("; did you mean {s:?}?"))
            .unwrap_or_default();
        let reason = format!(
            "unknown {what} {name:?} (known: {}){hint}",
            known.join(", ")
        );
        c.value(&format!("{key}[{i}]"), reason);
    }
}

/// `"boring"` needs a build with the `boring` feature.
pub(crate) fn engine(c: &mut Checker<'_>, key: &str, engine: &TlsEngine) {
    if *engine == TlsEngine::Boring && !cfg!(feature = "boring") {
        c.value(
            key,
            "\"boring\" is not available: built without the boring feature (rebuild with \
             `--features boring`; BoringSSL needs cmake and libclang)",
        );
    }
}

/// No empty paths.
pub(crate) fn ca_files(c: &mut Checker<'_>, key: &str, files: &[PathBuf]) {
    for (i, _) in files
        .iter()
        .enumerate()
        .filter(|(_, f)| f.as_os_str().is_empty())
    {
        c.value(&format!("{key}[{i}]"), "must not be empty");
    }
}

/// Allowed, and warned.
pub(crate) fn insecure(c: &mut Checker<'_>, key: &str, on: &bool) {
    if *on {
        c.warn(
            key,
            "certificate verification is OFF: any server can impersonate every host",
        );
    }
}

/// Printable header values.
pub(crate) fn accept_languages(c: &mut Checker<'_>, key: &str, langs: &[String]) {
    for (i, lang) in langs.iter().enumerate() {
        if lang.trim().is_empty() || !lang.chars().all(|ch| ch == ' ' || ch.is_ascii_graphic()) {
            c.value(
                &format!("{key}[{i}]"),
                format!("not a valid Accept-Language header value: {lang:?}"),
            );
        }
    }
}

/// An IPv6 range.
pub(crate) fn ipv6_prefix(c: &mut Checker<'_>, key: &str, prefix: &Option<IpRange>) {
    if let Some(prefix) = prefix.filter(|p| !p.is_ipv6()) {
        c.value(key, format!("must be an IPv6 prefix, got {prefix}"));
    }
}

/// A bare host name (or IP address).
pub(crate) fn host_name(c: &mut Checker<'_>, key: &str, name: &str) {
    if let Some(reason) = host_name_problem(name) {
        c.value(key, reason);
    }
}

/// `fleet.url`: a Redis URL (checked by pool-redis itself, with the `fleet` feature).
pub(crate) fn fleet_url(c: &mut Checker<'_>, key: &str, url: &str) {
    if let Some(problem) = crate::fleet::url_problem(url) {
        c.value(key, problem);
    }
}

/// `fleet.prefix`: a key prefix (checked by pool-redis itself, with the `fleet` feature).
pub(crate) fn fleet_prefix(c: &mut Checker<'_>, key: &str, prefix: &str) {
    if let Some(problem) = crate::fleet::prefix_problem(prefix) {
        c.value(key, problem);
    }
}

/// Present means non-empty.
pub(crate) fn host_addrs(c: &mut Checker<'_>, key: &str, addrs: &Option<Vec<IpAddr>>) {
    if addrs.as_ref().is_some_and(Vec::is_empty) {
        c.value(
            key,
            "must not be empty (leave `addrs` out to resolve the host with DNS)",
        );
    }
}

/// Each ALPN id 1-255 bytes (the list as a whole is checked with the transport).
pub(crate) fn alpn_ids(c: &mut Checker<'_>, key: &str, alpn: &Option<Vec<String>>) {
    for (j, proto) in alpn.iter().flatten().enumerate() {
        if proto.is_empty() || proto.len() > 255 {
            c.value(
                &format!("{key}[{j}]"),
                format!("an ALPN protocol id must be 1-255 bytes, got {proto:?}"),
            );
        }
    }
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
    if name.parse::<IpAddr>().is_ok() {
        return None;
    }
    let label_ok = |(i, label): (usize, &str)| {
        (!label.is_empty() || i > 0 && name.ends_with('.'))
            && label.len() <= 63
            && label
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_')
    };
    if name.len() <= 253 && name.split('.').enumerate().all(label_ok) {
        None
    } else if name.contains(':') {
        Some(format!(
            "must be a host name without a port, got {name:?} (use `port`)"
        ))
    } else {
        Some(format!("not a valid host name: {name:?}"))
    }
}
