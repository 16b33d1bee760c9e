//! SOCKS5 (RFC 1928, username/password RFC 1929) and SOCKS4/4a.

use std::net::{IpAddr, SocketAddr};

use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};

use super::{ConnectBy, Proxy, ProxyError, target_text};

const NO_AUTH: u8 = 0x00;
const USER_PASSWORD: u8 = 0x02;
const NO_ACCEPTABLE_METHOD: u8 = 0xff;

pub(super) async fn open_v5<S>(
    io: &mut S,
    proxy: &Proxy,
    host: &str,
    addr: SocketAddr,
) -> Result<(), ProxyError>
where
    S: AsyncRead + AsyncWrite + Unpin,
{
    let target = target_text(proxy, host, addr);
    let unsupported = |reason| ProxyError::Unsupported {
        proxy: proxy.endpoint(),
        target: target.clone(),
        reason,
    };
    // Everything is checked before the first byte is sent.
    let mut request = vec![5, 1, 0];
    match (proxy.connect_by(), addr.ip()) {
        (ConnectBy::Ip, IpAddr::V4(ip)) => {
            request.push(1);
            request.extend_from_slice(&ip.octets());
        }
        (ConnectBy::Ip, IpAddr::V6(ip)) => {
            request.push(4);
            request.extend_from_slice(&ip.octets());
        }
        (ConnectBy::Name, _) => {
            let name = u8::try_from(host.len())
                .map_err(|_| unsupported("a host name longer than 255 bytes"))?;
            request.push(3);
            request.push(name);
            request.extend_from_slice(host.as_bytes());
        }
    }
    request.extend_from_slice(&addr.port().to_be_bytes());
    let login = match proxy.credentials() {
        None => None,
        Some(c) => {
            let user = u8::try_from(c.user().len());
            let password = u8::try_from(c.password().len());
            let (Ok(user), Ok(password)) = (user, password) else {
                return Err(unsupported("a user name or password longer than 255 bytes"));
            };
            let mut login = vec![1, user];
            login.extend_from_slice(c.user().as_bytes());
            login.push(password);
            login.extend_from_slice(c.password().as_bytes());
            Some(login)
        }
    };

    let greeting: &[u8] = if login.is_some() {
        &[5, 2, NO_AUTH, USER_PASSWORD]
    } else {
        &[5, 1, NO_AUTH]
    };
    send(io, proxy, greeting).await?;
    let [version, method] = read_array(io, proxy).await?;
    if version != 5 {
        return Err(ProxyError::malformed(
            proxy,
            format!("SOCKS version {version} in reply to 5"),
        ));
    }
    match (method, &login) {
        (NO_AUTH, _) => {}
        (USER_PASSWORD, Some(login)) => {
            send(io, proxy, login).await?;
            let [_, status] = read_array(io, proxy).await?;
            if status != 0 {
                return Err(ProxyError::AuthRequired {
                    proxy: proxy.endpoint(),
                    rejected: true,
                });
            }
        }
        (NO_ACCEPTABLE_METHOD, _) => {
            return Err(ProxyError::AuthRequired {
                proxy: proxy.endpoint(),
                rejected: login.is_some(),
            });
        }
        (method, _) => {
            return Err(ProxyError::malformed(
                proxy,
                format!(
                    "the proxy chose authentication method {method:#04x}, which was not offered"
                ),
            ));
        }
    }

    send(io, proxy, &request).await?;
    let [version, code, _reserved, address_type] = read_array(io, proxy).await?;
    if version != 5 {
        return Err(ProxyError::malformed(
            proxy,
            format!("SOCKS version {version} in reply to 5"),
        ));
    }
    if code != 0 {
        return Err(ProxyError::SocksRefused {
            proxy: proxy.endpoint(),
            target,
            code,
            reason: v5_reason(code),
        });
    }
    // The bound address: read and dropped, so the next byte is the origin's.
    let address_len = match address_type {
        1 => 4,
        4 => 16,
        3 => usize::from(read_array::<_, 1>(io, proxy).await?[0]),
        other => {
            return Err(ProxyError::malformed(
                proxy,
                format!("unknown address type {other}"),
            ));
        }
    };
    let mut bound = [0u8; 255 + 2];
    io.read_exact(&mut bound[..address_len + 2])
        .await
        .map_err(|e| ProxyError::io(proxy, e))?;
    Ok(())
}

pub(super) async fn open_v4<S>(
    io: &mut S,
    proxy: &Proxy,
    host: &str,
    addr: SocketAddr,
) -> Result<(), ProxyError>
where
    S: AsyncRead + AsyncWrite + Unpin,
{
    let target = target_text(proxy, host, addr);
    let mut request = vec![4, 1];
    request.extend_from_slice(&addr.port().to_be_bytes());
    match (proxy.connect_by(), addr.ip()) {
        (ConnectBy::Ip, IpAddr::V4(ip)) => request.extend_from_slice(&ip.octets()),
        (ConnectBy::Ip, IpAddr::V6(_)) => {
            return Err(ProxyError::Unsupported {
                proxy: proxy.endpoint(),
                target,
                reason: "SOCKS4 carries IPv4 addresses only (socks4a:// or socks5:// can)",
            });
        }
        // SOCKS4a: the address 0.0.0.x (x != 0) says "the name follows the user id".
        (ConnectBy::Name, _) => request.extend_from_slice(&[0, 0, 0, 1]),
    }
    // SOCKS4 has a user id and no password.
    if let Some(credentials) = proxy.credentials() {
        request.extend_from_slice(credentials.user().as_bytes());
    }
    request.push(0);
    if proxy.connect_by() == ConnectBy::Name {
        request.extend_from_slice(host.as_bytes());
        request.push(0);
    }
    send(io, proxy, &request).await?;
    let reply: [u8; 8] = read_array(io, proxy).await?;
    match [reply[0], reply[1]] {
        [0, 0x5a] => Ok(()),
        [0, code @ 0x5b..=0x5d] => Err(ProxyError::SocksRefused {
            proxy: proxy.endpoint(),
            target,
            code,
            reason: match code {
                0x5b => "rejected or failed",
                0x5c => "identd unreachable",
                _ => "identd user mismatch",
            },
        }),
        [version, code] => Err(ProxyError::malformed(
            proxy,
            format!("SOCKS4 reply version {version} code {code:#04x}"),
        )),
    }
}

fn v5_reason(code: u8) -> &'static str {
    match code {
        1 => "general failure",
        2 => "not allowed by ruleset",
        3 => "network unreachable",
        4 => "host unreachable",
        5 => "connection refused",
        6 => "TTL expired",
        7 => "command not supported",
        8 => "address type not supported",
        _ => "unassigned code",
    }
}

async fn send<S: AsyncWrite + Unpin>(
    io: &mut S,
    proxy: &Proxy,
    bytes: &[u8],
) -> Result<(), ProxyError> {
    io.write_all(bytes)
        .await
        .map_err(|e| ProxyError::io(proxy, e))?;
    io.flush().await.map_err(|e| ProxyError::io(proxy, e))
}

async fn read_array<S: AsyncRead + Unpin, const N: usize>(
    io: &mut S,
    proxy: &Proxy,
) -> Result<[u8; N], ProxyError> {
    let mut bytes = [0u8; N];
    io.read_exact(&mut bytes)
        .await
        .map_err(|e| ProxyError::io(proxy, e))?;
    Ok(bytes)
}
