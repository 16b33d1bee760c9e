//! Value rules, run on the final [`Config`] and located through the origins recorded while
//! reading: pool-core's `[pool]` limits ([`PoolOptions::problems`], at the key set most
//! explicitly), each key's own check (`checks.rs`) and the rules across keys, here.

use std::collections::HashMap;
use std::net::IpAddr;
use std::time::Duration;

use pool_core::OptionsError;

use crate::checks::{host_name, host_name_problem};
use crate::error::{ErrorKind, Origin, line_col};
use crate::keys::{Checker, Found, Section as _};
use crate::model::{Config, DnsServerConfig, H2Config};
use crate::names::{KNOWN_BORING_PROFILES, KNOWN_TLS_PROFILES, TlsEngine, Transport};

/// Checks every value rule: errors and warnings, in file order.
pub(crate) fn validate(cfg: &Config) -> (Found, Found) {
    let mut c = Checker::new(&cfg.meta);
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
    profiles(&mut c, "tls.profiles", &cfg.tls.profiles, cfg.tls.engine);
    dns_servers(&mut c, "dns.servers", &cfg.dns.servers);

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
        let reason = "ignored: name servers are configured (dns.name_servers, [[dns.servers]])";
        c.warn("dns.resolv_conf", reason);
    }
    let tls = &cfg.tls;
    if !tls.use_webpki_roots && tls.ca_files.is_empty() && !tls.insecure_skip_verify {
        let reason = "no trust anchors: use_webpki_roots is false and ca_files is empty";
        c.error("tls.use_webpki_roots", ErrorKind::Inconsistent, reason);
    }
    if tls.client_cert.is_some() != tls.client_key.is_some() {
        let (set, unset) = match tls.client_cert {
            Some(_) => ("tls.client_cert", "tls.client_key"),
            None => ("tls.client_key", "tls.client_cert"),
        };
        c.error(set, ErrorKind::Inconsistent, format!("needs {unset} too"));
    }
    // [h2]: the boring engine keeps its browser profile's windows (docs/h2-windows.md).
    if tls.engine == TlsEngine::Boring && cfg.h2 != H2Config::default() {
        c.warn(
            "h2",
            "engine \"boring\" keeps its browser profile's HTTP/2 windows (part of the \
             fingerprint): [h2] applies to the rustls engine only",
        );
    }
    // [metrics]: a non-loopback address is fine when written explicitly; say so once.
    if cfg.metrics.enabled && !cfg.metrics.listen.ip().is_loopback() {
        let listen = cfg.metrics.listen;
        let reason = format!("metrics are served on {listen}, reachable from other machines");
        c.warn("metrics.listen", reason);
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
            let first_at = match (
                c.locate(&format!("hosts[{first}].name")),
                &cfg.meta.source.text,
            ) {
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
        let proxies = h.proxies.as_ref().unwrap_or(&cfg.egress.proxies);
        if h.transport == Transport::H3 && !proxies.is_empty() {
            let reason = "HTTP/3 cannot go through proxies (they carry TCP): use h2, h1 or auto";
            c.error(
                &format!("hosts[{i}].transport"),
                ErrorKind::Inconsistent,
                reason,
            );
        }
    }
    for (i, h) in cfg.hosts.iter().enumerate() {
        let Some(alpn) = &h.alpn else { continue };
        let key = format!("hosts[{i}].alpn");
        let needs = match h.transport {
            Transport::H2 | Transport::H2c => Some("h2"),
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

/// At least one profile, each known to the configured `tls.engine`.
fn profiles(c: &mut Checker<'_>, key: &str, profiles: &[String], engine: TlsEngine) {
    let (known, what) = match engine {
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

/// Each `[[dns.servers]]` entry's own keys, and its TLS name: required for `tls` and
/// `https` (a DNS name or an IP address), refused for `udp` and `tcp`.
fn dns_servers(c: &mut Checker<'_>, key: &str, servers: &[DnsServerConfig]) {
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
