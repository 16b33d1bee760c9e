//! Each key's own rule, named by `check` in its declaration (`model.rs`):
//! `fn(&mut Checker, dotted_key, &value)`. Rules across keys are in `validate.rs`.

use std::fmt::Display;
use std::net::{IpAddr, SocketAddr};
use std::ops::RangeInclusive;
use std::path::PathBuf;

use pool_core::IpRange;

use crate::keys::Checker;
use crate::names::{DnsProtocol, TlsEngine};
use crate::values::ByteSize;

/// Must not be zero (a zero duration, count or port).
pub(crate) fn nonzero<T: Default + PartialEq>(c: &mut Checker<'_>, key: &str, v: &T) {
    if *v == T::default() {
        c.value(key, "must not be zero");
    }
}

/// `v` within `range`, else "must be {what}, got {v}".
fn within<T: PartialOrd + Display>(
    c: &mut Checker<'_>,
    key: &str,
    v: T,
    ok: RangeInclusive<T>,
    what: &str,
) {
    if !ok.contains(&v) {
        c.value(key, format!("must be {what}, got {v}"));
    }
}

/// An HTTP/2 flow-control window: within 65,535 ..= 2^31 - 1 (RFC 9113 §6.9).
pub(crate) fn h2_window(c: &mut Checker<'_>, key: &str, window: &ByteSize) {
    let what = "an HTTP/2 window, 65535 ..= 2147483647 bytes (64KiB - 1 ..= 2GiB - 1)";
    within(c, key, window.0, 65_535..=(1 << 31) - 1, what);
}

/// A QUIC connection window (`h3.receive_window`, `h3.send_window`): at least 1 byte, at
/// most QUIC's largest variable-length integer.
pub(crate) fn quic_window(c: &mut Checker<'_>, key: &str, size: &ByteSize) {
    let (max, what) = ((1 << 62) - 1, "1 byte to 2^62 - 1 bytes");
    within(c, key, size.0, 1..=max, what);
}

/// `h3.stream_receive_window`: 1 byte to 4 GiB - 1 (pool-dial-quic's `u32`).
pub(crate) fn quic_stream_window(c: &mut Checker<'_>, key: &str, size: &ByteSize) {
    let what = "1 byte to 4GiB - 1 byte";
    within(c, key, size.0, 1..=u32::MAX.into(), what);
}

/// `tcp.keepalive_retries`: Linux's `TCP_KEEPCNT` takes 1-127.
pub(crate) fn keepalive_retries(c: &mut Checker<'_>, key: &str, n: &u32) {
    within(c, key, *n, 1..=127, "1-127 (TCP_KEEPCNT)");
}

/// An HTTP status code.
pub(crate) fn http_status(c: &mut Checker<'_>, key: &str, status: &u16) {
    within(c, key, *status, 100..=599, "an HTTP status code (100-599)");
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
            let reason = format!("not a valid Accept-Language header value: {lang:?}");
            c.value(&format!("{key}[{i}]"), reason);
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

/// `fleet.url`: a Redis URL (pool-redis's own rule, with the `fleet` feature; without it
/// no backend can use the URL, so nothing is checked).
pub(crate) fn fleet_url(c: &mut Checker<'_>, key: &str, url: &str) {
    #[cfg(feature = "fleet")]
    if let Err(e) = pool_redis::RedisUrl::parse(url) {
        c.value(key, e.to_string());
    }
    let _ = (c, key, url);
}

/// `fleet.prefix`: a key prefix (pool-redis's own rule, with the `fleet` feature).
pub(crate) fn fleet_prefix(c: &mut Checker<'_>, key: &str, prefix: &str) {
    #[cfg(feature = "fleet")]
    if let Err(e) = pool_redis::check_prefix(prefix) {
        c.value(key, e.to_string());
    }
    let _ = (c, key, prefix);
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
            let reason = format!("an ALPN protocol id must be 1-255 bytes, got {proto:?}");
            c.value(&format!("{key}[{j}]"), reason);
        }
    }
}

pub(crate) fn host_name_problem(name: &str) -> Option<String> {
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
