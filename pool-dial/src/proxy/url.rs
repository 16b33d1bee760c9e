//! Proxy URLs, read as curl reads them.

use super::{ConnectBy, Credentials, Proxy, ProxyScheme};

/// Why a proxy URL was refused. The URL itself is never repeated (it may hold a password).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ProxyUrlError {
    /// The scheme is none of http, https, socks5, socks5h, socks4, socks4a.
    #[error(
        "unknown proxy scheme {0:?} (expected http, https, socks5, socks5h, socks4 or socks4a)"
    )]
    UnknownScheme(String),
    /// No host.
    #[error("the proxy URL has no host")]
    NoHost,
    /// The port is not a number in 1..=65535.
    #[error("the proxy URL's port {0:?} is not a port number")]
    BadPort(String),
    /// A path, query or fragment (a proxy URL names a host and port only).
    #[error("a proxy URL has no path, query or fragment")]
    HasPath,
    /// A `%` not followed by two hex digits, or credentials that are not UTF-8.
    #[error("the proxy URL's credentials are not valid percent-encoded UTF-8")]
    BadEscape,
    /// An unclosed `[` around an IPv6 address.
    #[error("the proxy URL's IPv6 address has no closing ']'")]
    BadIpv6,
}

pub(super) fn parse(url: &str) -> Result<Proxy, ProxyUrlError> {
    let url = url.trim();
    let (scheme, rest) = match url.split_once("://") {
        Some((scheme, rest)) => (scheme.to_ascii_lowercase(), rest),
        None => ("http".to_owned(), url),
    };
    let (scheme, connect_by, default_port) = match scheme.as_str() {
        "http" => (ProxyScheme::Http, ConnectBy::Ip, 1080),
        "https" => (ProxyScheme::Https, ConnectBy::Ip, 443),
        "socks5" => (ProxyScheme::Socks5, ConnectBy::Ip, 1080),
        "socks5h" => (ProxyScheme::Socks5, ConnectBy::Name, 1080),
        "socks4" => (ProxyScheme::Socks4, ConnectBy::Ip, 1080),
        "socks4a" => (ProxyScheme::Socks4, ConnectBy::Name, 1080),
        _ => return Err(ProxyUrlError::UnknownScheme(scheme)),
    };
    // A trailing "/" is allowed (curl writes it); anything after it is not.
    let rest = rest.strip_suffix('/').unwrap_or(rest);
    if rest.contains(['/', '?', '#']) {
        return Err(ProxyUrlError::HasPath);
    }
    let (userinfo, hostport) = match rest.rsplit_once('@') {
        Some((userinfo, hostport)) => (Some(userinfo), hostport),
        None => (None, rest),
    };
    let (host, port) = split_host_port(hostport, default_port)?;
    let mut proxy = Proxy::new(scheme, host, port).with_connect_by(connect_by);
    if let Some(userinfo) = userinfo {
        let (user, password) = userinfo.split_once(':').unwrap_or((userinfo, ""));
        proxy = proxy.with_credentials(Credentials::new(decode(user)?, decode(password)?));
    }
    Ok(proxy)
}

fn split_host_port(hostport: &str, default_port: u16) -> Result<(String, u16), ProxyUrlError> {
    let (host, port) = if let Some(v6) = hostport.strip_prefix('[') {
        let (host, after) = v6.split_once(']').ok_or(ProxyUrlError::BadIpv6)?;
        match after {
            "" => (host, None),
            _ => (
                host,
                Some(after.strip_prefix(':').ok_or(ProxyUrlError::BadIpv6)?),
            ),
        }
    } else {
        match hostport.rsplit_once(':') {
            Some((host, port)) => (host, Some(port)),
            None => (hostport, None),
        }
    };
    if host.is_empty() {
        return Err(ProxyUrlError::NoHost);
    }
    let port = match port {
        None => default_port,
        Some(text) => match text.parse::<u16>() {
            Ok(port) if port != 0 => port,
            _ => return Err(ProxyUrlError::BadPort(text.to_owned())),
        },
    };
    Ok((host.to_ascii_lowercase(), port))
}

/// Percent-decoding of a URL's user or password.
fn decode(text: &str) -> Result<String, ProxyUrlError> {
    let bytes = text.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'%' {
            let hex = bytes.get(i + 1..i + 3).ok_or(ProxyUrlError::BadEscape)?;
            let hex = std::str::from_utf8(hex).map_err(|_| ProxyUrlError::BadEscape)?;
            out.push(u8::from_str_radix(hex, 16).map_err(|_| ProxyUrlError::BadEscape)?);
            i += 3;
        } else {
            out.push(bytes[i]);
            i += 1;
        }
    }
    String::from_utf8(out).map_err(|_| ProxyUrlError::BadEscape)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn urls_read_as_curl_reads_them() {
        let p = parse("http://proxy.example:3128").unwrap();
        assert_eq!(
            (p.scheme(), p.host(), p.port()),
            (ProxyScheme::Http, "proxy.example", 3128)
        );
        assert_eq!(p.connect_by(), ConnectBy::Ip);
        assert!(p.credentials().is_none());

        let p = parse("proxy.example").unwrap();
        assert_eq!(
            (p.scheme(), p.port()),
            (ProxyScheme::Http, 1080),
            "no scheme is http://"
        );
        assert_eq!(parse("https://p").unwrap().port(), 443);

        let p = parse("socks5h://u%40x:p%3Aw@[::1]:1081/").unwrap();
        assert_eq!(
            (p.scheme(), p.host(), p.port()),
            (ProxyScheme::Socks5, "::1", 1081)
        );
        assert_eq!(p.connect_by(), ConnectBy::Name);
        let c = p.credentials().unwrap();
        assert_eq!((c.user(), c.password()), ("u@x", "p:w"));
        assert_eq!(p.endpoint(), "[::1]:1081");

        let p = parse("SOCKS4A://10.0.0.1").unwrap();
        assert_eq!(
            (p.scheme(), p.connect_by()),
            (ProxyScheme::Socks4, ConnectBy::Name)
        );
        let p = parse("socks5://user@h:9").unwrap();
        assert_eq!(p.credentials().unwrap().password(), "");
    }

    #[test]
    fn bad_urls_are_typed_errors_that_never_repeat_the_password() {
        assert_eq!(
            parse("ftp://u:secret@h:1").unwrap_err(),
            ProxyUrlError::UnknownScheme("ftp".into())
        );
        assert_eq!(parse("http://:3128").unwrap_err(), ProxyUrlError::NoHost);
        assert_eq!(
            parse("http://h:0").unwrap_err(),
            ProxyUrlError::BadPort("0".into())
        );
        assert_eq!(
            parse("http://h:99999").unwrap_err(),
            ProxyUrlError::BadPort("99999".into())
        );
        assert_eq!(
            parse("http://h:1/path").unwrap_err(),
            ProxyUrlError::HasPath
        );
        assert_eq!(
            parse("http://u:%zz@h").unwrap_err(),
            ProxyUrlError::BadEscape
        );
        assert_eq!(
            parse("http://[::1:3128").unwrap_err(),
            ProxyUrlError::BadIpv6
        );
        for url in [
            "ftp://u:secret@h:1",
            "http://u:secret@h:1/x",
            "http://u:%zsecret@h",
        ] {
            let err = parse(url).unwrap_err().to_string();
            assert!(!err.contains("secret"), "{err}");
        }
    }

    #[test]
    fn display_and_debug_never_show_credentials() {
        let p = parse("socks5h://alice:s3cret@127.0.0.1:1080").unwrap();
        assert_eq!(p.to_string(), "socks5h://127.0.0.1:1080");
        let debug = format!("{p:?}");
        assert!(
            !debug.contains("s3cret") && !debug.contains("alice"),
            "{debug}"
        );
    }
}
