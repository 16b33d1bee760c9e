//! Small pieces every connection of the TCP dialers uses: the closed flag's future, the
//! dial deadline's error, the `host[:port]` authority.

use std::future::Future;
use std::time::Duration;

use pool_core::{DialError, DialErrorKind};
use tokio::sync::watch;

/// Completes once `flag` is set: the [`Connection::closed`](pool_core::Connection::closed)
/// of every connection of both TLS engines, whose driver or watcher sets the flag when the
/// connection ends.
pub fn when_closed(flag: &watch::Sender<bool>) -> impl Future<Output = ()> + Send + 'static {
    let mut rx = flag.subscribe();
    async move {
        let _ = rx.wait_for(|closed| *closed).await;
    }
}

/// The failure of a dial that ran past its deadline: `what` did not finish within `limit`
/// (`DialErrorKind::Timeout`).
pub fn dial_timeout(what: &str, limit: Duration) -> DialError {
    DialError::new(
        DialErrorKind::Timeout,
        format!("{what} did not finish within {limit:?}"),
    )
}

/// `host` or `host:port` (the port only when it is not 443): the `host` header and the
/// `:authority` of an `https` request that names none.
pub fn authority(host: &str, port: u16) -> String {
    authority_for(host, port, 443)
}

/// `host` or `host:port`, the port only when it is not the scheme's `default_port`; an
/// IPv6 literal in brackets (`[::1]:8443`).
pub fn authority_for(host: &str, port: u16, default_port: u16) -> String {
    let host = if host.contains(':') && !host.starts_with('[') {
        format!("[{host}]")
    } else {
        host.to_owned()
    };
    if port == default_port {
        host
    } else {
        format!("{host}:{port}")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_port_is_named_unless_it_is_443() {
        assert_eq!(authority("a.test", 443), "a.test");
        assert_eq!(authority("a.test", 8443), "a.test:8443");
    }

    #[tokio::test]
    async fn closed_completes_once_the_flag_is_set() {
        let flag = watch::Sender::new(false);
        let closed = tokio::spawn(when_closed(&flag));
        tokio::task::yield_now().await;
        assert!(!closed.is_finished());
        flag.send_replace(true);
        closed.await.unwrap();
        // Set before: completes at once.
        when_closed(&flag).await;
        let e = dial_timeout("connect", Duration::from_secs(1));
        assert_eq!(e.kind(), DialErrorKind::Timeout);
    }
}
