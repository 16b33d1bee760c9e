//! The proxy environment variables, read as curl reads them.
//!
//! - an `https://` URL: `https_proxy`, else `HTTPS_PROXY`; an `http://` URL: `http_proxy`
//!   only (curl ignores the upper-case form, which a CGI server may set from a request's
//!   `Proxy:` header);
//! - else `all_proxy`, else `ALL_PROXY`;
//! - `no_proxy`, else `NO_PROXY`: a comma-separated list of host names (matching the name
//!   and its subdomains, with or without a leading dot), IP addresses and CIDR ranges; `*`
//!   alone means no proxy for any host. Ports in entries are ignored. An empty value
//!   counts as unset.

use std::net::IpAddr;

use super::{Proxy, ProxyUrlError};

/// The proxy for a URL to `host` (`https` or not) under the variables `var` gives, as curl
/// picks it; `None`: direct. `var` is `|name| std::env::var(name).ok()` outside tests.
///
/// # Errors
/// The chosen variable's value is not a proxy URL (the error never repeats it).
pub fn proxy_from_env(
    var: impl Fn(&str) -> Option<String>,
    https: bool,
    host: &str,
) -> Result<Option<Proxy>, ProxyUrlError> {
    let set = |name: &str| var(name).filter(|v| !v.trim().is_empty());
    let no_proxy = set("no_proxy").or_else(|| set("NO_PROXY"));
    if no_proxy.is_some_and(|list| excluded(&list, host)) {
        return Ok(None);
    }
    let chosen = if https {
        set("https_proxy").or_else(|| set("HTTPS_PROXY"))
    } else {
        set("http_proxy")
    };
    match chosen
        .or_else(|| set("all_proxy"))
        .or_else(|| set("ALL_PROXY"))
    {
        Some(url) => Proxy::parse(&url).map(Some),
        None => Ok(None),
    }
}

/// Whether `host` is in a `no_proxy` list.
fn excluded(list: &str, host: &str) -> bool {
    let host = host
        .trim_start_matches('[')
        .trim_end_matches(']')
        .to_ascii_lowercase();
    let host = host.trim_end_matches('.');
    let ip: Option<IpAddr> = host.parse().ok();
    list.split(',')
        .map(str::trim)
        .filter(|e| !e.is_empty())
        .any(|entry| {
            if entry == "*" {
                return true;
            }
            let entry = entry.to_ascii_lowercase();
            if let Some((net, bits)) = entry.split_once('/') {
                return match (ip, net.parse::<IpAddr>(), bits.parse::<u8>()) {
                    (Some(ip), Ok(net), Ok(bits)) => in_range(ip, net, bits),
                    _ => false,
                };
            }
            let name = strip_port(&entry);
            if let (Some(ip), Ok(listed)) = (ip, name.parse::<IpAddr>()) {
                return ip == listed;
            }
            let name = name.trim_start_matches('.').trim_end_matches('.');
            !name.is_empty()
                && (host == name || host.strip_suffix(name).is_some_and(|s| s.ends_with('.')))
        })
}

/// `name:port` or `[v6]:port` without the port.
fn strip_port(entry: &str) -> &str {
    if let Some(v6) = entry.strip_prefix('[') {
        return v6.split(']').next().unwrap_or(v6);
    }
    match entry.rsplit_once(':') {
        Some((name, port)) if !name.contains(':') && port.parse::<u16>().is_ok() => name,
        _ => entry,
    }
}

fn in_range(ip: IpAddr, net: IpAddr, bits: u8) -> bool {
    match (ip, net) {
        (IpAddr::V4(ip), IpAddr::V4(net)) if bits <= 32 => {
            let mask = u32::MAX.checked_shl(32 - u32::from(bits)).unwrap_or(0);
            u32::from(ip) & mask == u32::from(net) & mask
        }
        (IpAddr::V6(ip), IpAddr::V6(net)) if bits <= 128 => {
            let mask = u128::MAX.checked_shl(128 - u32::from(bits)).unwrap_or(0);
            u128::from(ip) & mask == u128::from(net) & mask
        }
        _ => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::proxy::ProxyScheme;

    fn env(pairs: &[(&str, &str)]) -> impl Fn(&str) -> Option<String> {
        let pairs: Vec<(String, String)> = pairs
            .iter()
            .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
            .collect();
        move |name| {
            pairs
                .iter()
                .find(|(k, _)| k == name)
                .map(|(_, v)| v.clone())
        }
    }

    fn endpoint(vars: &[(&str, &str)], https: bool, host: &str) -> Option<String> {
        proxy_from_env(env(vars), https, host)
            .unwrap()
            .map(|p| p.to_string())
    }

    #[test]
    fn the_variable_curl_would_pick() {
        let vars = [
            ("https_proxy", "http://low:1"),
            ("HTTPS_PROXY", "http://up:2"),
        ];
        assert_eq!(
            endpoint(&vars, true, "a.test").as_deref(),
            Some("http://low:1")
        );
        assert_eq!(
            endpoint(&vars[1..], true, "a.test").as_deref(),
            Some("http://up:2")
        );
        assert_eq!(
            endpoint(&vars, false, "a.test"),
            None,
            "https_proxy is not for http://"
        );
        let vars = [
            ("HTTP_PROXY", "http://cgi:1"),
            ("ALL_PROXY", "socks5h://all:3"),
        ];
        assert_eq!(
            endpoint(&vars, false, "a.test").as_deref(),
            Some("socks5h://all:3"),
            "upper-case HTTP_PROXY is ignored, ALL_PROXY applies"
        );
        assert_eq!(
            endpoint(&[("https_proxy", "  ")], true, "a.test"),
            None,
            "empty is unset"
        );
        let p = proxy_from_env(env(&[("ALL_PROXY", "socks5://u:pw@h:9")]), true, "x").unwrap();
        assert_eq!(p.unwrap().scheme(), ProxyScheme::Socks5);
    }

    #[test]
    fn no_proxy_as_curl_reads_it() {
        let with = |list: &str, host: &str| {
            endpoint(
                &[("https_proxy", "http://p:1"), ("no_proxy", list)],
                true,
                host,
            )
            .is_none()
        };
        assert!(with("example.com", "example.com"));
        assert!(with("example.com", "www.example.com"));
        assert!(with(".example.com", "www.example.com"));
        assert!(!with("example.com", "notexample.com"));
        assert!(
            with("a.test, example.com:443", "www.example.com"),
            "ports are ignored"
        );
        assert!(with("*", "anything.test"));
        assert!(
            !with("*.example.com", "www.example.com"),
            "no wildcards but `*` alone"
        );
        assert!(with("10.0.0.0/8", "10.1.2.3"));
        assert!(!with("10.0.0.0/8", "11.1.2.3"));
        assert!(with("192.0.2.7", "192.0.2.7"));
        assert!(with("2001:db8::/32", "[2001:db8::1]"));
        assert!(with("[::1]:8080", "::1"));
        let upper = [("https_proxy", "http://p:1"), ("NO_PROXY", "a.test")];
        assert_eq!(endpoint(&upper, true, "a.test"), None);
    }

    #[test]
    fn a_bad_url_in_the_environment_is_a_typed_error() {
        let err = proxy_from_env(env(&[("https_proxy", "ftp://u:secret@h")]), true, "a.test");
        assert_eq!(err.unwrap_err(), ProxyUrlError::UnknownScheme("ftp".into()));
    }
}
