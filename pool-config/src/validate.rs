//! Value rules: non-zero limits, consistent limits, known names, well-formed hosts. They run on
//! the final [`Config`] (file + environment, or built in code) and locate each problem through
//! the origins recorded while reading.

use std::collections::HashMap;
use std::time::Duration;

use crate::error::{ErrorKind, Report, line_col};
use crate::model::{Config, KNOWN_TLS_PROFILES, Origin, Transport};

/// Result of validation: errors and warnings, each with a sort position.
pub(crate) struct Outcome {
    pub(crate) errors: Vec<(usize, Report)>,
    pub(crate) warnings: Vec<(usize, Report)>,
}

struct V<'c> {
    cfg: &'c Config,
    out: Outcome,
}

fn fmt_dur(d: Duration) -> String {
    humantime::format_duration(d).to_string()
}

impl V<'_> {
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

    fn at_least(&mut self, key: &str, value: u64, min: u64) {
        if value < min {
            let why = if min == 1 && value == 0 {
                "must not be zero".to_owned()
            } else {
                format!("must be at least {min}, got {value}")
            };
            self.error(key, ErrorKind::Value, why);
        }
    }

    fn nonzero(&mut self, key: &str, d: Duration) {
        if d.is_zero() {
            self.error(key, ErrorKind::Value, "must not be zero".to_owned());
        }
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

    fn http_path(&mut self, key: &str, path: &str) {
        if !path.starts_with('/') {
            self.error(
                key,
                ErrorKind::Value,
                format!("must start with '/', got {path:?}"),
            );
        } else if path.chars().any(|c| c.is_whitespace() || c.is_control()) {
            self.error(
                key,
                ErrorKind::Value,
                format!("must not contain spaces or control characters, got {path:?}"),
            );
        }
    }

    fn http_method(&mut self, key: &str, method: &str) {
        let token = |c: char| c.is_ascii_alphanumeric() || "!#$%&'*+-.^_`|~".contains(c);
        if method.is_empty() || !method.chars().all(token) {
            self.error(
                key,
                ErrorKind::Value,
                format!("not an HTTP method: {method:?}"),
            );
        }
    }
}

fn as_u64(n: usize) -> u64 {
    u64::try_from(n).unwrap_or(u64::MAX)
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
    let mut v = V {
        cfg,
        out: Outcome {
            errors: Vec::new(),
            warnings: Vec::new(),
        },
    };
    let p = &cfg.pool;

    // [pool] limits: zero makes no sense for any of these (max_errors = 0 does: first error
    // closes the connection).
    v.at_least("pool.max_connections", as_u64(p.max_connections), 1);
    v.at_least("pool.max_conns_per_host", as_u64(p.max_conns_per_host), 1);
    v.at_least("pool.max_idle_conns", as_u64(p.max_idle_conns), 1);
    v.at_least("pool.max_conns_per_ip", as_u64(p.max_conns_per_ip), 1);
    v.at_least("pool.max_retries", u64::from(p.max_retries), 1);
    v.at_least("pool.warm_concurrency", as_u64(p.warm_concurrency), 1);
    for (key, d) in [
        ("pool.conn_timeout", p.conn_timeout),
        ("pool.idle_timeout", p.idle_timeout),
        ("pool.max_lifetime", p.max_lifetime),
        ("pool.test_timeout", p.test_timeout),
        ("pool.health_check_interval", p.health_check_interval),
        ("pool.cleanup_interval", p.cleanup_interval),
        ("pool.blacklist_check_interval", p.blacklist_check_interval),
        ("pool.dns_update_interval", p.dns_update_interval),
        ("pool.checkout_timeout", p.checkout_timeout),
        ("pool.blacklist_timeout", p.blacklist_timeout),
    ] {
        v.nonzero(key, d);
    }
    if !(100..=599).contains(&p.banned_status) {
        v.error(
            "pool.banned_status",
            ErrorKind::Value,
            format!(
                "must be an HTTP status code (100-599), got {}",
                p.banned_status
            ),
        );
    }
    v.not_above(
        "pool.max_idle_conns",
        as_u64(p.max_idle_conns),
        "pool.max_connections",
        as_u64(p.max_connections),
        false,
        plain,
    );
    v.not_above(
        "pool.max_conns_per_host",
        as_u64(p.max_conns_per_host),
        "pool.max_connections",
        as_u64(p.max_connections),
        false,
        plain,
    );
    v.not_above(
        "pool.max_conns_per_ip",
        as_u64(p.max_conns_per_ip),
        "pool.max_conns_per_host",
        as_u64(p.max_conns_per_host),
        false,
        plain,
    );
    // Allowed (a connection then simply expires before it can idle out), but likely a slip.
    if p.idle_timeout > p.max_lifetime {
        v.not_above(
            "pool.idle_timeout",
            dur_secs(p.idle_timeout).max(1),
            "pool.max_lifetime",
            dur_secs(p.max_lifetime),
            true,
            secs,
        );
    }
    if p.blacklist_check_interval > p.blacklist_timeout {
        v.not_above(
            "pool.blacklist_check_interval",
            dur_secs(p.blacklist_check_interval).max(1),
            "pool.blacklist_timeout",
            dur_secs(p.blacklist_timeout),
            true,
            secs,
        );
    }

    // [dns]
    v.nonzero("dns.timeout", cfg.dns.timeout);
    for (i, ns) in cfg.dns.name_servers.iter().enumerate() {
        if ns.port() == 0 {
            v.error(
                &format!("dns.name_servers[{i}]"),
                ErrorKind::Value,
                format!("port must not be 0, got {ns}"),
            );
        }
    }

    // [tls]
    let tls = &cfg.tls;
    if tls.profiles.is_empty() {
        v.error(
            "tls.profiles",
            ErrorKind::Value,
            format!(
                "must name at least one profile (known: {})",
                KNOWN_TLS_PROFILES.join(", ")
            ),
        );
    }
    for (i, name) in tls.profiles.iter().enumerate() {
        if !KNOWN_TLS_PROFILES.contains(&name.as_str()) {
            let hint = match nearest_profile(name) {
                Some(s) => format!("; did you mean {s:?}?"),
                None => String::new(),
            };
            v.error(
                &format!("tls.profiles[{i}]"),
                ErrorKind::Value,
                format!(
                    "unknown TLS profile {name:?} (known: {}){hint}",
                    KNOWN_TLS_PROFILES.join(", ")
                ),
            );
        }
    }
    for (i, f) in tls.ca_files.iter().enumerate() {
        if f.as_os_str().is_empty() {
            v.error(
                &format!("tls.ca_files[{i}]"),
                ErrorKind::Value,
                "must not be empty".to_owned(),
            );
        }
    }
    if !tls.use_webpki_roots && tls.ca_files.is_empty() && !tls.insecure_skip_verify {
        v.error(
            "tls.use_webpki_roots",
            ErrorKind::Inconsistent,
            "no trust anchors: use_webpki_roots is false and ca_files is empty".to_owned(),
        );
    }
    if tls.insecure_skip_verify {
        v.warn(
            "tls.insecure_skip_verify",
            "certificate verification is OFF: any server can impersonate every host".to_owned(),
        );
    }
    for (i, lang) in tls.accept_languages.iter().enumerate() {
        let ok = !lang.trim().is_empty() && lang.chars().all(|c| c == ' ' || c.is_ascii_graphic());
        if !ok {
            v.error(
                &format!("tls.accept_languages[{i}]"),
                ErrorKind::Value,
                format!("not a valid Accept-Language header value: {lang:?}"),
            );
        }
    }

    // [health] and [validation]
    v.http_path("health.path", &cfg.health.path);
    v.http_method("health.method", &cfg.health.method);
    v.at_least("health.concurrency", as_u64(cfg.health.concurrency), 1);
    v.http_path("validation.path", &cfg.validation.path);
    v.http_method("validation.method", &cfg.validation.method);

    // [source_addrs]
    if let Some(prefix) = cfg.source_addrs.ipv6_prefix {
        if prefix.addr().is_ipv4() {
            v.error(
                "source_addrs.ipv6_prefix",
                ErrorKind::Value,
                format!("must be an IPv6 prefix, got {prefix}"),
            );
        }
    }

    // [metrics]: a non-loopback address is fine when written explicitly; say so once.
    if cfg.metrics.enabled && !cfg.metrics.listen.ip().is_loopback() {
        v.warn(
            "metrics.listen",
            format!(
                "metrics are served on {}, reachable from other machines",
                cfg.metrics.listen
            ),
        );
    }

    // [[hosts]]
    let mut seen: HashMap<String, usize> = HashMap::new();
    for (i, h) in cfg.hosts.iter().enumerate() {
        let key = |k: &str| format!("hosts[{i}].{k}");
        if let Some(reason) = host_name_problem(&h.name) {
            v.error(&key("name"), ErrorKind::Value, reason);
        } else if let Some(first) = seen.insert(h.name.to_ascii_lowercase(), i) {
            let first_at = match v.locate(&format!("hosts[{first}].name")) {
                Some(Origin::File(span)) => match &cfg.meta.text {
                    Some(t) => format!(" (first at line {})", line_col(t, span.start).0),
                    None => String::new(),
                },
                _ => String::new(),
            };
            v.error(
                &key("name"),
                ErrorKind::Duplicate,
                format!("duplicate host name {:?}{first_at}", h.name),
            );
            // Keep the first one as the reference for later duplicates.
            seen.insert(h.name.to_ascii_lowercase(), first);
        }
        if h.port == 0 {
            v.error(
                &key("port"),
                ErrorKind::Value,
                "must not be zero".to_owned(),
            );
        }
        if h.addrs.as_ref().is_some_and(Vec::is_empty) {
            v.error(
                &key("addrs"),
                ErrorKind::Value,
                "must not be empty (leave `addrs` out to resolve the host with DNS)".to_owned(),
            );
        }
        if let Some(alpn) = &h.alpn {
            for (j, proto) in alpn.iter().enumerate() {
                if proto.is_empty() || proto.len() > 255 {
                    v.error(
                        &format!("hosts[{i}].alpn[{j}]"),
                        ErrorKind::Value,
                        format!("an ALPN protocol id must be 1-255 bytes, got {proto:?}"),
                    );
                }
            }
            if h.transport == Transport::H2 && !alpn.iter().any(|p| p == "h2") {
                v.error(
                    &key("alpn"),
                    ErrorKind::Inconsistent,
                    "transport \"h2\" needs \"h2\" in alpn".to_owned(),
                );
            }
            if alpn.is_empty() {
                v.error(
                    &key("alpn"),
                    ErrorKind::Value,
                    "must not be empty (leave `alpn` out for the transport's default)".to_owned(),
                );
            }
        }
    }
    v.out
}

fn nearest_profile(name: &str) -> Option<&'static str> {
    let lower = name.to_ascii_lowercase();
    KNOWN_TLS_PROFILES
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
