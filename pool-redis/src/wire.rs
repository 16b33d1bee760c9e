//! The one text format of the fleet's messages (on the channel, and as the value of a ban
//! key), encoded and parsed strictly: a size cap, a version tag, an exact field count, and
//! each field checked. Anything else is rejected with the reason it is counted under.
//!
//! ```text
//! v1 ban <host> <ip:port> <reason> <ttl_ms> <worker>
//! v1 unban <host> <ip:port> <worker>
//! ```
//! `reason` is `failures`, `banned` (a validation answer; a re-test may lift it) or
//! `banned-probe` (a health probe's answer; only the expiry lifts it).

use std::net::SocketAddr;
use std::time::Duration;

use pool_core::{BlacklistReason, FleetBan, FleetEvent};

/// The largest message accepted (bytes); a longer one is dropped unread.
pub const MAX_MESSAGE: usize = 512;
/// The longest ban accepted: a week.
pub const MAX_TTL: Duration = Duration::from_secs(7 * 24 * 3600);
/// The version tag every message starts with.
const VERSION: &str = "v1";

/// Why a message was dropped (the `reason` label of `hotpool_fleet_dropped_total`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, thiserror::Error)]
pub enum Rejected {
    /// Longer than [`MAX_MESSAGE`].
    #[error("oversized")]
    Oversized,
    /// Not UTF-8, wrong version, verb, field count, or a field out of its rules.
    #[error("malformed")]
    Malformed,
    /// Well formed, for a host this pool does not know.
    #[error("unknown_host")]
    UnknownHost,
}

impl Rejected {
    /// The metric label.
    pub fn as_str(self) -> &'static str {
        match self {
            Rejected::Oversized => "oversized",
            Rejected::Malformed => "malformed",
            Rejected::UnknownHost => "unknown_host",
        }
    }
}

/// A parsed message: the event and the worker that published it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Message {
    /// The event.
    pub event: FleetEvent,
    /// The publishing worker's id.
    pub worker: String,
}

/// Whether `s` is a host name as the fleet carries it: 1–253 of `[A-Za-z0-9.-_]`.
pub fn valid_host(s: &str) -> bool {
    (1..=253).contains(&s.len())
        && s.bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'-' | b'_'))
}

/// Whether `s` is a worker id: 1–64 of `[A-Za-z0-9.-_]`.
pub fn valid_worker(s: &str) -> bool {
    (1..=64).contains(&s.len())
        && s.bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'-' | b'_'))
}

fn reason_str(reason: BlacklistReason, retestable: bool) -> &'static str {
    match (reason, retestable) {
        (BlacklistReason::Failures, _) => "failures",
        (_, false) => "banned-probe",
        _ => "banned",
    }
}

/// The message for `event`, from `worker`; `None` when a field cannot be carried (a host
/// outside [`valid_host`]): such an event is not shared.
pub fn encode(event: &FleetEvent, worker: &str) -> Option<String> {
    if !valid_host(event.host()) || !valid_worker(worker) {
        return None;
    }
    Some(match event {
        FleetEvent::Ban(ban) => {
            let ttl = ban.ttl.min(MAX_TTL).as_millis().max(1);
            let reason = reason_str(ban.reason, ban.retestable);
            format!(
                "{VERSION} ban {} {} {reason} {ttl} {worker}",
                ban.host, ban.addr
            )
        }
        FleetEvent::Unban { host, addr } => format!("{VERSION} unban {host} {addr} {worker}"),
    })
}

/// Parses one message strictly.
pub fn parse(bytes: &[u8]) -> Result<Message, Rejected> {
    if bytes.len() > MAX_MESSAGE {
        return Err(Rejected::Oversized);
    }
    let text = std::str::from_utf8(bytes).map_err(|_| Rejected::Malformed)?;
    let fields: Vec<&str> = text.split(' ').collect();
    let host_addr = |host: &str, addr: &str| -> Result<(String, SocketAddr), Rejected> {
        if !valid_host(host) {
            return Err(Rejected::Malformed);
        }
        let addr: SocketAddr = addr.parse().map_err(|_| Rejected::Malformed)?;
        Ok((host.to_string(), addr))
    };
    let worker = |w: &str| -> Result<String, Rejected> {
        valid_worker(w)
            .then(|| w.to_string())
            .ok_or(Rejected::Malformed)
    };
    match fields.as_slice() {
        [VERSION, "ban", host, addr, reason, ttl, w] => {
            let (host, addr) = host_addr(host, addr)?;
            let (reason, retestable) = match *reason {
                "failures" => (BlacklistReason::Failures, true),
                "banned" => (BlacklistReason::Banned, true),
                "banned-probe" => (BlacklistReason::Banned, false),
                _ => return Err(Rejected::Malformed),
            };
            let digits =
                !ttl.is_empty() && ttl.len() <= 12 && ttl.bytes().all(|b| b.is_ascii_digit());
            let ttl = digits
                .then(|| ttl.parse::<u64>().ok())
                .flatten()
                .map(Duration::from_millis)
                .filter(|t| !t.is_zero() && *t <= MAX_TTL)
                .ok_or(Rejected::Malformed)?;
            Ok(Message {
                event: FleetEvent::Ban(FleetBan {
                    host,
                    addr,
                    reason,
                    retestable,
                    ttl,
                }),
                worker: worker(w)?,
            })
        }
        [VERSION, "unban", host, addr, w] => {
            let (host, addr) = host_addr(host, addr)?;
            Ok(Message {
                event: FleetEvent::Unban { host, addr },
                worker: worker(w)?,
            })
        }
        _ => Err(Rejected::Malformed),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ban() -> FleetEvent {
        FleetEvent::Ban(FleetBan {
            host: "example.test".into(),
            addr: "127.0.0.2:443".parse().unwrap(),
            reason: BlacklistReason::Banned,
            retestable: false,
            ttl: Duration::from_millis(1500),
        })
    }

    #[test]
    fn events_round_trip() {
        let unban = FleetEvent::Unban {
            host: "example.test".into(),
            addr: "[::1]:8443".parse().unwrap(),
        };
        for event in [ban(), unban] {
            let text = encode(&event, "w-1").unwrap();
            let parsed = parse(text.as_bytes()).unwrap();
            assert_eq!((parsed.event, parsed.worker.as_str()), (event, "w-1"));
        }
        assert_eq!(
            encode(&ban(), "w-1").unwrap(),
            "v1 ban example.test 127.0.0.2:443 banned-probe 1500 w-1"
        );
    }

    #[test]
    fn anything_else_is_rejected() {
        let malformed = [
            "",
            "v1",
            "v2 ban example.test 127.0.0.2:443 banned 1500 w",
            "v1 ban example.test 127.0.0.2:443 banned 1500 w extra",
            "v1 ban example.test 127.0.0.2:443 banned 1500",
            "v1 ban example.test 127.0.0.2 banned 1500 w",
            "v1 ban example.test 127.0.0.2:443 hated 1500 w",
            "v1 ban example.test 127.0.0.2:443 banned 0 w",
            "v1 ban example.test 127.0.0.2:443 banned -5 w",
            "v1 ban example.test 127.0.0.2:443 banned +5 w",
            "v1 ban example.test 127.0.0.2:443 banned 999999999999 w",
            "v1 ban exa/mple 127.0.0.2:443 banned 1500 w",
            "v1 ban example.test  127.0.0.2:443 banned 1500 w",
            "v1 unban example.test 127.0.0.2:443 w!",
            "v1 kick example.test 127.0.0.2:443 w",
            "V1 unban example.test 127.0.0.2:443 w",
        ];
        for text in malformed {
            assert_eq!(parse(text.as_bytes()), Err(Rejected::Malformed), "{text:?}");
        }
        assert_eq!(parse(&[0xff, 0xfe]), Err(Rejected::Malformed));
        let long = format!("v1 unban {} 127.0.0.2:443 w", "a".repeat(600));
        assert_eq!(parse(long.as_bytes()), Err(Rejected::Oversized));
        let mut event = ban();
        if let FleetEvent::Ban(b) = &mut event {
            b.host = "bad host".into();
        }
        assert_eq!(encode(&event, "w"), None, "not carried");
        assert_eq!(encode(&ban(), "bad worker"), None);
    }
}
