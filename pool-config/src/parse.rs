//! Walks a span-preserving TOML tree (`toml::de::DeTable`) into a [`Config`], so every value
//! keeps its position for error messages; also applies environment overrides through the
//! same per-key code.
//!
//! Only types and formats are checked here (integer vs string, IP syntax, duration syntax,
//! enum names). Value rules (non-zero limits, consistency, known profiles, …) live in
//! `validate.rs`, so they apply equally to files, environment overrides and configs built in
//! code.

use std::borrow::Cow;
use std::net::{IpAddr, SocketAddr};
use std::ops::Range;
use std::path::PathBuf;
use std::time::Duration;

use toml::de::{DeTable, DeValue};

use crate::error::{ErrorKind, Report, line_col};
use crate::model::{
    Config, DnsProtocol, HostConfig, IpNet, IpPreference, Origin, ProbeKind, ProfileRotation,
    Transport,
};

/// Sections with plain keys, and their keys (`[[hosts]]` is handled on its own).
pub(crate) const SECTIONS: &[(&str, &[&str])] = &[
    (
        "pool",
        &[
            "max_connections",
            "max_conns_per_host",
            "max_idle_conns",
            "max_conns_per_ip",
            "conn_timeout",
            "idle_timeout",
            "max_lifetime",
            "test_timeout",
            "health_check_interval",
            "cleanup_interval",
            "blacklist_check_interval",
            "dns_update_interval",
            "max_retries",
            "max_errors",
            "checkout_timeout",
            "blacklist_timeout",
            "keep_warm",
            "warm_concurrency",
            "banned_status",
        ],
    ),
    ("whitelist", &["ips"]),
    ("blacklist", &["ips"]),
    (
        "dns",
        &["name_servers", "protocol", "prefer", "min_ttl", "timeout"],
    ),
    (
        "tls",
        &[
            "ca_files",
            "use_webpki_roots",
            "insecure_skip_verify",
            "profiles",
            "profile_rotation",
            "accept_languages",
        ],
    ),
    ("health", &["probe", "path", "method", "concurrency"]),
    ("validation", &["enabled", "method", "path", "body"]),
    ("source_addrs", &["addrs", "ipv6_prefix"]),
    ("metrics", &["enabled", "listen"]),
];

/// Keys of one `[[hosts]]` entry.
pub(crate) const HOST_KEYS: &[&str] = &["name", "port", "transport", "addrs", "alpn"];

/// A problem found while reading one value, before a location is attached.
pub(crate) struct Issue {
    kind: ErrorKind,
    reason: String,
    /// A narrower place than the whole value: an array element's span and its key suffix.
    sub: Option<(Range<usize>, String)>,
}

impl Issue {
    fn new(kind: ErrorKind, reason: impl Into<String>) -> Self {
        Self {
            kind,
            reason: reason.into(),
            sub: None,
        }
    }

    fn unknown() -> Self {
        Self::new(ErrorKind::UnknownKey, "")
    }
}

/// One value to read: from the file (with its span) or from an environment variable.
pub(crate) struct Val<'a, 'i> {
    v: &'a DeValue<'i>,
    span: Range<usize>,
    /// The raw text of an environment variable, for string-like fields.
    env_raw: Option<&'a str>,
}

/// Collects reports while reading one source.
pub(crate) struct Reader<'t> {
    pub(crate) file: Option<String>,
    pub(crate) text: Option<&'t str>,
    /// (sort position, report): file reports sort by offset, environment ones after them.
    pub(crate) reports: Vec<(usize, Report)>,
}

impl<'t> Reader<'t> {
    pub(crate) fn new(file: Option<String>, text: Option<&'t str>) -> Self {
        Self {
            file,
            text,
            reports: Vec::new(),
        }
    }

    fn at_span(
        &mut self,
        span: Range<usize>,
        key: Option<String>,
        kind: ErrorKind,
        reason: String,
    ) {
        let (line, column) = match self.text {
            Some(t) => {
                let (l, c) = line_col(t, span.start);
                (Some(l), Some(c))
            }
            None => (None, None),
        };
        self.reports.push((
            span.start,
            Report {
                kind,
                file: self.file.clone(),
                line,
                column,
                env_var: None,
                key,
                reason,
            },
        ));
    }

    fn at_env(&mut self, var: &str, key: Option<String>, kind: ErrorKind, reason: String) {
        self.reports.push((
            usize::MAX,
            Report {
                kind,
                file: None,
                line: None,
                column: None,
                env_var: Some(var.to_owned()),
                key,
                reason,
            },
        ));
    }

    /// Reads a whole document into `cfg`, recording each value's origin.
    pub(crate) fn read_document(&mut self, text: &str, cfg: &mut Config) {
        let root = match DeTable::parse(text) {
            Ok(root) => root,
            Err(e) => {
                let span = e.span().unwrap_or(0..0);
                let mut reason = e.message().trim().to_owned();
                // toml says "duplicate key" without naming it: quote the source text.
                if let Some(snippet) = text.get(span.clone()) {
                    let snippet = snippet.trim();
                    let short = !snippet.is_empty() && snippet.len() <= 60;
                    if short && !snippet.contains('\n') && !reason.contains(snippet) {
                        reason = format!("{reason}: `{snippet}`");
                    }
                }
                self.at_span(span, None, ErrorKind::Syntax, reason);
                return;
            }
        };
        for (k, v) in root.get_ref().iter() {
            let name: &str = k.get_ref();
            if name == "hosts" {
                self.read_hosts(v, cfg);
                continue;
            }
            let Some((section, _)) = SECTIONS.iter().find(|(s, _)| *s == name) else {
                let reason = unknown_top_reason(name);
                self.at_span(
                    k.span(),
                    Some(name.to_owned()),
                    ErrorKind::UnknownKey,
                    reason,
                );
                continue;
            };
            let Some(table) = v.get_ref().as_table() else {
                let reason = format!(
                    "expected a table [{section}], got {}",
                    v.get_ref().type_str()
                );
                self.at_span(v.span(), Some(name.to_owned()), ErrorKind::Type, reason);
                continue;
            };
            for (key, value) in table.iter() {
                let key_name: &str = key.get_ref();
                let dotted = format!("{section}.{key_name}");
                let val = Val {
                    v: value.get_ref(),
                    span: value.span(),
                    env_raw: None,
                };
                match set_field(cfg, section, key_name, &val) {
                    Ok(elems) => {
                        let origins = &mut cfg.meta.origins;
                        origins.insert(dotted.clone(), Origin::File(value.span()));
                        for (i, span) in elems.into_iter().enumerate() {
                            origins.insert(format!("{dotted}[{i}]"), Origin::File(span));
                        }
                    }
                    Err(issue) if issue.kind == ErrorKind::UnknownKey => {
                        let reason = unknown_key_reason(section, key_name);
                        self.at_span(key.span(), Some(dotted), ErrorKind::UnknownKey, reason);
                    }
                    Err(issue) => self.file_issue(dotted, val.span, issue),
                }
            }
        }
    }

    fn file_issue(&mut self, key: String, span: Range<usize>, issue: Issue) {
        match issue.sub {
            Some((sub_span, suffix)) => {
                self.at_span(
                    sub_span,
                    Some(format!("{key}{suffix}")),
                    issue.kind,
                    issue.reason,
                );
            }
            None => self.at_span(span, Some(key), issue.kind, issue.reason),
        }
    }

    fn read_hosts(&mut self, v: &toml::Spanned<DeValue<'_>>, cfg: &mut Config) {
        let Some(array) = v.get_ref().as_array() else {
            let reason = format!(
                "expected an array of tables ([[hosts]]), got {}",
                v.get_ref().type_str()
            );
            self.at_span(v.span(), Some("hosts".to_owned()), ErrorKind::Type, reason);
            return;
        };
        for (i, item) in array.iter().enumerate() {
            let prefix = format!("hosts[{i}]");
            let Some(table) = item.get_ref().as_table() else {
                let reason = format!("expected a table, got {}", item.get_ref().type_str());
                self.at_span(item.span(), Some(prefix), ErrorKind::Type, reason);
                continue;
            };
            let mut host = HostConfig::new("");
            let mut has_name = false;
            for (key, value) in table.iter() {
                let key_name: &str = key.get_ref();
                let dotted = format!("{prefix}.{key_name}");
                let val = Val {
                    v: value.get_ref(),
                    span: value.span(),
                    env_raw: None,
                };
                match set_host_field(&mut host, key_name, &val) {
                    Ok(elems) => {
                        has_name |= key_name == "name";
                        let origins = &mut cfg.meta.origins;
                        origins.insert(dotted.clone(), Origin::File(value.span()));
                        for (j, span) in elems.into_iter().enumerate() {
                            origins.insert(format!("{dotted}[{j}]"), Origin::File(span));
                        }
                    }
                    Err(issue) if issue.kind == ErrorKind::UnknownKey => {
                        let reason = unknown_in(key_name, HOST_KEYS, "[[hosts]]");
                        self.at_span(key.span(), Some(dotted), ErrorKind::UnknownKey, reason);
                    }
                    Err(issue) => self.file_issue(dotted, val.span, issue),
                }
            }
            if !has_name {
                let span = item.span();
                self.at_span(
                    span,
                    Some(format!("{prefix}.name")),
                    ErrorKind::Missing,
                    "missing required key `name` (the host name)".to_owned(),
                );
            }
            cfg.meta.origins.insert(prefix, Origin::File(item.span()));
            cfg.hosts.push(host);
        }
    }

    /// Applies one environment variable (already known to start with `HOTPOOL_`).
    pub(crate) fn read_env(&mut self, var: &str, raw: &str, cfg: &mut Config) {
        let Some(rest) = var.strip_prefix(crate::ENV_PREFIX) else {
            return;
        };
        let Some((section, key)) = rest.split_once("__") else {
            return;
        };
        let section = section.to_ascii_lowercase();
        let key = key.to_ascii_lowercase();
        let dotted = format!("{section}.{key}");
        if section == "hosts" {
            self.at_env(
                var,
                Some("hosts".to_owned()),
                ErrorKind::UnknownKey,
                "[[hosts]] cannot be set from the environment; use the config file".to_owned(),
            );
            return;
        }
        let Some((section, _)) = SECTIONS.iter().find(|(s, _)| *s == section) else {
            let reason = unknown_top_reason(&section);
            self.at_env(var, Some(section), ErrorKind::UnknownKey, reason);
            return;
        };
        // Numbers, booleans and arrays are read as TOML values; anything that is not valid
        // TOML is taken as a plain string (so `30s`, `h2` and `10.0.0.1` need no quotes).
        let parsed = DeValue::parse(raw).ok().map(toml::Spanned::into_inner);
        let value = parsed.unwrap_or(DeValue::String(Cow::Borrowed(raw)));
        let val = Val {
            v: &value,
            span: 0..raw.len(),
            env_raw: Some(raw),
        };
        match set_field(cfg, section, &key, &val) {
            Ok(_) => {
                let origins = &mut cfg.meta.origins;
                let elem_prefix = format!("{dotted}[");
                origins.retain(|k, _| !k.starts_with(&elem_prefix));
                origins.insert(dotted, Origin::Env(var.to_owned()));
            }
            Err(issue) if issue.kind == ErrorKind::UnknownKey => {
                let reason = unknown_key_reason(section, &key);
                self.at_env(var, Some(dotted), ErrorKind::UnknownKey, reason);
            }
            Err(issue) => {
                let key = match issue.sub {
                    Some((_, suffix)) => format!("{dotted}{suffix}"),
                    None => dotted,
                };
                self.at_env(var, Some(key), issue.kind, issue.reason);
            }
        }
    }
}

/// Sets one `[section] key`. Returns the spans of array elements (for element-level origins).
fn set_field(
    c: &mut Config,
    section: &str,
    key: &str,
    v: &Val<'_, '_>,
) -> Result<Vec<Range<usize>>, Issue> {
    let mut elems = Vec::new();
    match (section, key) {
        ("pool", "max_connections") => c.pool.max_connections = uint(v)?,
        ("pool", "max_conns_per_host") => c.pool.max_conns_per_host = uint(v)?,
        ("pool", "max_idle_conns") => c.pool.max_idle_conns = uint(v)?,
        ("pool", "max_conns_per_ip") => c.pool.max_conns_per_ip = uint(v)?,
        ("pool", "conn_timeout") => c.pool.conn_timeout = duration(v)?,
        ("pool", "idle_timeout") => c.pool.idle_timeout = duration(v)?,
        ("pool", "max_lifetime") => c.pool.max_lifetime = duration(v)?,
        ("pool", "test_timeout") => c.pool.test_timeout = duration(v)?,
        ("pool", "health_check_interval") => c.pool.health_check_interval = duration(v)?,
        ("pool", "cleanup_interval") => c.pool.cleanup_interval = duration(v)?,
        ("pool", "blacklist_check_interval") => c.pool.blacklist_check_interval = duration(v)?,
        ("pool", "dns_update_interval") => c.pool.dns_update_interval = duration(v)?,
        ("pool", "max_retries") => c.pool.max_retries = uint(v)?,
        ("pool", "max_errors") => c.pool.max_errors = uint(v)?,
        ("pool", "checkout_timeout") => c.pool.checkout_timeout = duration(v)?,
        ("pool", "blacklist_timeout") => c.pool.blacklist_timeout = duration(v)?,
        ("pool", "keep_warm") => c.pool.keep_warm = boolean(v)?,
        ("pool", "warm_concurrency") => c.pool.warm_concurrency = uint(v)?,
        ("pool", "banned_status") => c.pool.banned_status = uint(v)?,
        ("whitelist", "ips") => c.whitelist.ips = list(v, &mut elems, net)?,
        ("blacklist", "ips") => c.blacklist.ips = list(v, &mut elems, net)?,
        ("dns", "name_servers") => c.dns.name_servers = list(v, &mut elems, name_server)?,
        ("dns", "protocol") => {
            c.dns.protocol = choice(v, &[("udp", DnsProtocol::Udp), ("tcp", DnsProtocol::Tcp)])?;
        }
        ("dns", "prefer") => {
            c.dns.prefer = choice(
                v,
                &[
                    ("ipv4", IpPreference::Ipv4),
                    ("ipv6", IpPreference::Ipv6),
                    ("both", IpPreference::Both),
                ],
            )?;
        }
        ("dns", "min_ttl") => c.dns.min_ttl = duration(v)?,
        ("dns", "timeout") => c.dns.timeout = duration(v)?,
        ("tls", "ca_files") => {
            c.tls.ca_files = list(v, &mut elems, |v| string(v).map(PathBuf::from))?;
        }
        ("tls", "use_webpki_roots") => c.tls.use_webpki_roots = boolean(v)?,
        ("tls", "insecure_skip_verify") => c.tls.insecure_skip_verify = boolean(v)?,
        ("tls", "profiles") => c.tls.profiles = list(v, &mut elems, string)?,
        ("tls", "profile_rotation") => {
            c.tls.profile_rotation = choice(
                v,
                &[
                    ("round-robin", ProfileRotation::RoundRobin),
                    ("random", ProfileRotation::Random),
                ],
            )?;
        }
        ("tls", "accept_languages") => c.tls.accept_languages = list(v, &mut elems, string)?,
        ("health", "probe") => {
            c.health.probe = choice(v, &[("ping", ProbeKind::Ping), ("http", ProbeKind::Http)])?;
        }
        ("health", "path") => c.health.path = string(v)?,
        ("health", "method") => c.health.method = string(v)?,
        ("health", "concurrency") => c.health.concurrency = uint(v)?,
        ("validation", "enabled") => c.validation.enabled = boolean(v)?,
        ("validation", "method") => c.validation.method = string(v)?,
        ("validation", "path") => c.validation.path = string(v)?,
        ("validation", "body") => c.validation.body = Some(string(v)?),
        ("source_addrs", "addrs") => c.source_addrs.addrs = list(v, &mut elems, ip)?,
        ("source_addrs", "ipv6_prefix") => c.source_addrs.ipv6_prefix = Some(net(v)?),
        ("metrics", "enabled") => c.metrics.enabled = boolean(v)?,
        ("metrics", "listen") => c.metrics.listen = socket_addr(v, None)?,
        _ => return Err(Issue::unknown()),
    }
    Ok(elems)
}

/// Sets one key of a `[[hosts]]` entry.
fn set_host_field(
    h: &mut HostConfig,
    key: &str,
    v: &Val<'_, '_>,
) -> Result<Vec<Range<usize>>, Issue> {
    let mut elems = Vec::new();
    match key {
        "name" => h.name = string(v)?,
        "port" => h.port = uint(v)?,
        "transport" => {
            h.transport = choice(
                v,
                &[
                    ("tls", Transport::Tls),
                    ("h2", Transport::H2),
                    ("quic", Transport::Quic),
                ],
            )?;
        }
        "addrs" => h.addrs = Some(list(v, &mut elems, ip)?),
        "alpn" => h.alpn = Some(list(v, &mut elems, string)?),
        _ => return Err(Issue::unknown()),
    }
    Ok(elems)
}

fn describe(v: &DeValue<'_>) -> String {
    match v {
        DeValue::String(s) => format!("string {s:?}"),
        DeValue::Integer(i) => format!("integer {i}"),
        DeValue::Float(f) => format!("float {f}"),
        DeValue::Boolean(b) => format!("boolean {b}"),
        other => other.type_str().to_owned(),
    }
}

fn type_err(expected: &str, v: &Val<'_, '_>) -> Issue {
    Issue::new(
        ErrorKind::Type,
        format!("expected {expected}, got {}", describe(v.v)),
    )
}

fn int(v: &Val<'_, '_>) -> Result<i128, Issue> {
    match v.v {
        DeValue::Integer(i) => i128::from_str_radix(i.as_str(), i.radix())
            .map_err(|_| Issue::new(ErrorKind::Value, format!("integer {i} is out of range"))),
        _ => Err(type_err("an integer", v)),
    }
}

/// A non-negative integer that fits `T`.
fn uint<T: TryFrom<i128>>(v: &Val<'_, '_>) -> Result<T, Issue> {
    let n = int(v)?;
    if n < 0 {
        return Err(Issue::new(
            ErrorKind::Value,
            format!("must not be negative, got {n}"),
        ));
    }
    T::try_from(n).map_err(|_| Issue::new(ErrorKind::Value, format!("{n} is too large")))
}

/// An integer or float is seconds; a string is a humantime duration (`"30s"`, `"1m30s"`,
/// `"250ms"`) or plain digits (seconds).
fn duration(v: &Val<'_, '_>) -> Result<Duration, Issue> {
    const HINT: &str = "use seconds (30) or a duration string (\"30s\", \"1m30s\", \"250ms\")";
    match v.v {
        DeValue::Integer(_) => {
            let n = int(v)?;
            let secs = u64::try_from(n).map_err(|_| {
                let reason = if n < 0 {
                    format!("must not be negative, got {n}")
                } else {
                    format!("{n} is too large")
                };
                Issue::new(ErrorKind::Value, reason)
            })?;
            Ok(Duration::from_secs(secs))
        }
        DeValue::Float(f) => {
            let secs: f64 = f.as_str().parse().unwrap_or(f64::NAN);
            Duration::try_from_secs_f64(secs).map_err(|_| {
                Issue::new(
                    ErrorKind::Value,
                    format!(
                        "invalid duration {f}: must be a finite, non-negative number of seconds"
                    ),
                )
            })
        }
        DeValue::String(s) => {
            let s = s.trim();
            if !s.is_empty() && s.bytes().all(|b| b.is_ascii_digit()) {
                return s.parse().map(Duration::from_secs).map_err(|_| {
                    Issue::new(ErrorKind::Value, format!("duration {s:?} is too large"))
                });
            }
            humantime::parse_duration(s).map_err(|e| {
                Issue::new(
                    ErrorKind::Value,
                    format!("invalid duration {s:?} ({e}); {HINT}"),
                )
            })
        }
        _ => Err(type_err(&format!("a duration; {HINT}"), v)),
    }
}

fn boolean(v: &Val<'_, '_>) -> Result<bool, Issue> {
    match v.v {
        DeValue::Boolean(b) => Ok(*b),
        _ => Err(type_err("a boolean (true or false)", v)),
    }
}

fn string(v: &Val<'_, '_>) -> Result<String, Issue> {
    if let Some(raw) = v.env_raw {
        // From the environment: the raw text, unless it was written as a quoted TOML string.
        return Ok(match v.v {
            DeValue::String(s) => s.to_string(),
            _ => raw.to_owned(),
        });
    }
    match v.v {
        DeValue::String(s) => Ok(s.to_string()),
        _ => Err(type_err("a string", v)),
    }
}

fn choice<T: Copy>(v: &Val<'_, '_>, options: &[(&str, T)]) -> Result<T, Issue> {
    let s = string(v)?;
    let names = options
        .iter()
        .map(|(n, _)| format!("{n:?}"))
        .collect::<Vec<_>>()
        .join(", ");
    options
        .iter()
        .find(|(n, _)| *n == s)
        .map(|(_, t)| *t)
        .ok_or_else(|| {
            Issue::new(
                ErrorKind::Value,
                format!("expected one of {names}, got {s:?}"),
            )
        })
}

fn ip(v: &Val<'_, '_>) -> Result<IpAddr, Issue> {
    let s = string(v)?;
    s.trim()
        .parse()
        .map_err(|_| Issue::new(ErrorKind::Value, format!("not an IP address: {s:?}")))
}

fn net(v: &Val<'_, '_>) -> Result<IpNet, Issue> {
    let s = string(v)?;
    s.trim()
        .parse()
        .map_err(|e: crate::model::IpNetParseError| Issue::new(ErrorKind::Value, e.to_string()))
}

fn socket_addr(v: &Val<'_, '_>, default_port: Option<u16>) -> Result<SocketAddr, Issue> {
    let s = string(v)?;
    let s = s.trim();
    if let Ok(addr) = s.parse::<SocketAddr>() {
        return Ok(addr);
    }
    if let (Some(port), Ok(ip)) = (default_port, s.parse::<IpAddr>()) {
        return Ok(SocketAddr::new(ip, port));
    }
    let form = if default_port.is_some() {
        "\"ip:port\" or \"ip\" (IPv6 as \"[::1]:53\")"
    } else {
        "\"ip:port\" (IPv6 as \"[::1]:9898\")"
    };
    Err(Issue::new(
        ErrorKind::Value,
        format!("not a socket address: {s:?}; expected {form}"),
    ))
}

fn name_server(v: &Val<'_, '_>) -> Result<SocketAddr, Issue> {
    socket_addr(v, Some(53))
}

/// A TOML array (or, from the environment, a comma-separated list) of items.
fn list<T>(
    v: &Val<'_, '_>,
    elems: &mut Vec<Range<usize>>,
    item: impl Fn(&Val<'_, '_>) -> Result<T, Issue>,
) -> Result<Vec<T>, Issue> {
    match (v.v, v.env_raw) {
        (DeValue::Array(array), _) => {
            let mut out = Vec::with_capacity(array.len());
            for (i, e) in array.iter().enumerate() {
                let ev = Val {
                    v: e.get_ref(),
                    span: e.span(),
                    env_raw: None,
                };
                match item(&ev) {
                    Ok(t) => out.push(t),
                    Err(mut issue) => {
                        issue.sub.get_or_insert((e.span(), format!("[{i}]")));
                        return Err(issue);
                    }
                }
                elems.push(e.span());
            }
            Ok(out)
        }
        (_, Some(raw)) => {
            let mut out = Vec::new();
            for (i, part) in raw
                .split(',')
                .map(str::trim)
                .filter(|p| !p.is_empty())
                .enumerate()
            {
                let value = DeValue::String(Cow::Borrowed(part));
                let ev = Val {
                    v: &value,
                    span: v.span.clone(),
                    env_raw: None,
                };
                match item(&ev) {
                    Ok(t) => out.push(t),
                    Err(mut issue) => {
                        issue.sub = Some((v.span.clone(), format!("[{i}]")));
                        return Err(issue);
                    }
                }
            }
            Ok(out)
        }
        _ => Err(type_err("an array", v)),
    }
}

/// Levenshtein distance, for "did you mean" suggestions.
fn distance(a: &str, b: &str) -> usize {
    let b: Vec<char> = b.chars().collect();
    let mut prev: Vec<usize> = (0..=b.len()).collect();
    for (i, ca) in a.chars().enumerate() {
        let mut cur = vec![i + 1; b.len() + 1];
        for (j, cb) in b.iter().enumerate() {
            let sub = prev[j] + usize::from(ca != *cb);
            cur[j + 1] = sub.min(prev[j + 1] + 1).min(cur[j] + 1);
        }
        prev = cur;
    }
    prev[b.len()]
}

fn nearest<'k>(word: &str, candidates: impl IntoIterator<Item = &'k str>) -> Option<&'k str> {
    let limit = (word.chars().count() / 3).max(2);
    candidates
        .into_iter()
        .map(|c| (distance(word, c), c))
        .filter(|(d, _)| *d <= limit)
        .min_by_key(|(d, _)| *d)
        .map(|(_, c)| c)
}

fn unknown_in(word: &str, known: &[&str], place: &str) -> String {
    match nearest(word, known.iter().copied()) {
        Some(s) => format!("unknown key in {place}; did you mean `{s}`?"),
        None => format!("unknown key in {place}; known keys: {}", known.join(", ")),
    }
}

fn unknown_key_reason(section: &str, key: &str) -> String {
    if section == "validation" && key == "banned_status" {
        return "unknown key in [validation]; `banned_status` is set once, in [pool] \
                (it applies to validation and to HTTP health probes)"
            .to_owned();
    }
    // A key that exists in another section is most likely in the wrong place.
    if let Some((other, _)) = SECTIONS.iter().find(|(_, keys)| keys.contains(&key)) {
        return format!("unknown key in [{section}]; `{key}` belongs in [{other}]");
    }
    let known = SECTIONS
        .iter()
        .find(|(s, _)| *s == section)
        .map_or(&[][..], |(_, k)| *k);
    unknown_in(key, known, &format!("[{section}]"))
}

fn unknown_top_reason(name: &str) -> String {
    if let Some((section, _)) = SECTIONS.iter().find(|(_, keys)| keys.contains(&name)) {
        return format!("unknown top-level key; did you mean `{name}` under [{section}]?");
    }
    let names = SECTIONS.iter().map(|(s, _)| *s).chain(["hosts"]);
    match nearest(name, names.clone()) {
        Some(s) => format!("unknown section; did you mean [{s}]?"),
        None => format!(
            "unknown section; known sections: {}",
            names.collect::<Vec<_>>().join(", ")
        ),
    }
}
