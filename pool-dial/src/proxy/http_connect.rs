//! HTTP `CONNECT` (RFC 9110 §9.3.6), with Basic proxy authentication.

use std::net::SocketAddr;

use base64::Engine as _;
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};

use super::{MAX_REPLY_HEAD, Proxy, ProxyError, target_text};

pub(super) async fn open<S>(
    io: &mut S,
    proxy: &Proxy,
    host: &str,
    addr: SocketAddr,
) -> Result<(), ProxyError>
where
    S: AsyncRead + AsyncWrite + Unpin,
{
    let target = target_text(proxy, host, addr);
    let mut request = format!("CONNECT {target} HTTP/1.1\r\nHost: {target}\r\n");
    if let Some(credentials) = proxy.credentials() {
        let pair = format!("{}:{}", credentials.user(), credentials.password());
        let token = base64::engine::general_purpose::STANDARD.encode(pair);
        request.push_str("Proxy-Authorization: Basic ");
        request.push_str(&token);
        request.push_str("\r\n");
    }
    request.push_str("\r\n");
    io.write_all(request.as_bytes())
        .await
        .map_err(|e| ProxyError::io(proxy, e))?;
    io.flush().await.map_err(|e| ProxyError::io(proxy, e))?;

    let (head, trailing) = read_head(io, proxy).await?;
    let status = status_of(&head).ok_or_else(|| {
        ProxyError::malformed(
            proxy,
            "the reply does not start with an HTTP/1.x status line",
        )
    })?;
    match status {
        // The proxy sends nothing after a 2xx head until the origin speaks, and the origin
        // speaks only after our ClientHello (or request): a byte there is a protocol error,
        // not data to keep. (A refusal's body is dropped with the connection.)
        200..=299 if trailing => Err(ProxyError::malformed(
            proxy,
            "bytes after the reply head of a 2xx",
        )),
        200..=299 => Ok(()),
        407 => Err(ProxyError::AuthRequired {
            proxy: proxy.endpoint(),
            rejected: proxy.credentials().is_some(),
        }),
        status => Err(ProxyError::Refused {
            proxy: proxy.endpoint(),
            target,
            status,
        }),
    }
}

/// Reads the reply head up to its blank line, and says whether bytes followed it.
async fn read_head<S>(io: &mut S, proxy: &Proxy) -> Result<(Vec<u8>, bool), ProxyError>
where
    S: AsyncRead + Unpin,
{
    let mut head = Vec::with_capacity(256);
    let mut chunk = [0u8; 1024];
    loop {
        let n = io
            .read(&mut chunk)
            .await
            .map_err(|e| ProxyError::io(proxy, e))?;
        if n == 0 {
            let eof = std::io::Error::new(
                std::io::ErrorKind::UnexpectedEof,
                "the proxy closed the connection before the end of its reply",
            );
            return Err(ProxyError::io(proxy, eof));
        }
        let searched_from = head.len().saturating_sub(3);
        head.extend_from_slice(&chunk[..n]);
        if let Some(end) = find_blank_line(&head[searched_from..]) {
            let end = searched_from + end;
            let trailing = end != head.len();
            head.truncate(end);
            return Ok((head, trailing));
        }
        if head.len() > MAX_REPLY_HEAD {
            return Err(ProxyError::malformed(
                proxy,
                format!("reply head longer than {MAX_REPLY_HEAD} bytes"),
            ));
        }
    }
}

/// The index just past the first `\r\n\r\n`.
fn find_blank_line(bytes: &[u8]) -> Option<usize> {
    bytes
        .windows(4)
        .position(|w| w == b"\r\n\r\n")
        .map(|at| at + 4)
}

/// The status code of an `HTTP/1.x NNN reason` line.
fn status_of(head: &[u8]) -> Option<u16> {
    let line = head.split(|&b| b == b'\r').next()?;
    let line = std::str::from_utf8(line).ok()?;
    let mut parts = line.splitn(3, ' ');
    let version = parts.next()?;
    if version != "HTTP/1.1" && version != "HTTP/1.0" {
        return None;
    }
    let code = parts.next()?;
    if code.len() != 3 || !code.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    code.parse().ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn status_lines() {
        assert_eq!(
            status_of(b"HTTP/1.1 200 Connection established\r\n\r\n"),
            Some(200)
        );
        assert_eq!(
            status_of(b"HTTP/1.0 407 Proxy Authentication Required\r\n"),
            Some(407)
        );
        assert_eq!(status_of(b"HTTP/1.1 200\r\n\r\n"), Some(200));
        assert_eq!(status_of(b"HTTP/2 200\r\n"), None);
        assert_eq!(status_of(b"SSH-2.0-OpenSSH\r\n"), None);
        assert_eq!(status_of(b"HTTP/1.1 20 x\r\n"), None);
    }
}
