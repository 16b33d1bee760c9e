//! The client side of an HTTP/2 connection as a fingerprint sees it: the frames a client
//! sends before and with its first request (RFC 9113 §3.4, §6), decoded from the recorded
//! plaintext, and the Akamai string (Black Hat EU 2017, "Passive Fingerprinting of HTTP/2
//! Clients"): `SETTINGS|WINDOW_UPDATE|PRIORITY|pseudo-header order`.

use std::fmt::Write as _;

/// The connection preface every HTTP/2 client sends first.
pub const CLIENT_PREFACE: &[u8] = b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n";

const FRAME_HEADERS: u8 = 0x1;
const FRAME_PRIORITY: u8 = 0x2;
const FRAME_SETTINGS: u8 = 0x4;
const FRAME_WINDOW_UPDATE: u8 = 0x8;
const FRAME_CONTINUATION: u8 = 0x9;
const FLAG_ACK: u8 = 0x1;
const FLAG_END_HEADERS: u8 = 0x4;
const FLAG_PADDED: u8 = 0x8;
const FLAG_PRIORITY: u8 = 0x20;

/// A stream priority, from a PRIORITY frame or a HEADERS frame with the PRIORITY flag.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Priority {
    /// The stream the priority is for.
    pub stream_id: u32,
    /// The exclusive bit.
    pub exclusive: bool,
    /// The stream it depends on.
    pub depends_on: u32,
    /// The weight, 1..=256 (the wire byte plus one).
    pub weight: u16,
}

/// What a client sent at the start of an HTTP/2 connection.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct H2Preface {
    /// The first SETTINGS frame (not an ACK): identifiers and values in wire order.
    pub settings: Vec<(u16, u32)>,
    /// The increment of the first WINDOW_UPDATE on stream 0, if one came before the
    /// first request.
    pub window_update: Option<u32>,
    /// PRIORITY frames sent before the first HEADERS, in wire order.
    pub priorities: Vec<Priority>,
    /// The first request's header block, decoded (HPACK), names and values in wire
    /// order, pseudo-headers included.
    pub headers: Vec<(String, String)>,
    /// The first HEADERS frame's priority fields, when its PRIORITY flag is set.
    pub headers_priority: Option<Priority>,
}

/// Why recorded bytes do not (yet) hold an HTTP/2 preface up to the first request.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum H2PrefaceError {
    /// The bytes end before the first header block is complete.
    #[error("the recording ends before the first complete HEADERS block")]
    Incomplete,
    /// The bytes do not start with the client connection preface.
    #[error("no HTTP/2 client connection preface")]
    NoPreface,
    /// A frame is malformed.
    #[error("malformed {0} frame")]
    Malformed(&'static str),
    /// The header block does not decode.
    #[error("HPACK: {0}")]
    Hpack(String),
}

fn be32(b: &[u8]) -> u32 {
    u32::from_be_bytes([b[0], b[1], b[2], b[3]])
}

fn priority_fields(stream_id: u32, b: &[u8]) -> Priority {
    let dep = be32(b);
    Priority {
        stream_id,
        exclusive: dep & 0x8000_0000 != 0,
        depends_on: dep & 0x7fff_ffff,
        weight: u16::from(b[4]) + 1,
    }
}

/// Parses the client's bytes of an HTTP/2 connection (plaintext, starting with the
/// preface) up to the end of the first header block.
pub fn parse_h2_preface(bytes: &[u8]) -> Result<H2Preface, H2PrefaceError> {
    let Some(mut rest) = bytes.strip_prefix(CLIENT_PREFACE) else {
        return Err(if CLIENT_PREFACE.starts_with(bytes) {
            H2PrefaceError::Incomplete
        } else {
            H2PrefaceError::NoPreface
        });
    };
    let mut preface = H2Preface::default();
    let mut settings_seen = false;
    let mut block: Option<Vec<u8>> = None;
    loop {
        if rest.len() < 9 {
            return Err(H2PrefaceError::Incomplete);
        }
        let len = (usize::from(rest[0]) << 16) | (usize::from(rest[1]) << 8) | usize::from(rest[2]);
        let (ty, flags, stream) = (rest[3], rest[4], be32(&rest[5..9]) & 0x7fff_ffff);
        if rest.len() < 9 + len {
            return Err(H2PrefaceError::Incomplete);
        }
        let payload = &rest[9..9 + len];
        rest = &rest[9 + len..];
        if let Some(fragments) = block.as_mut() {
            if ty != FRAME_CONTINUATION {
                return Err(H2PrefaceError::Malformed("CONTINUATION"));
            }
            fragments.extend_from_slice(payload);
            if flags & FLAG_END_HEADERS != 0 {
                preface.headers = decode_block(fragments)?;
                return Ok(preface);
            }
            continue;
        }
        match ty {
            FRAME_SETTINGS if flags & FLAG_ACK == 0 && !settings_seen => {
                if len % 6 != 0 {
                    return Err(H2PrefaceError::Malformed("SETTINGS"));
                }
                settings_seen = true;
                preface.settings = payload
                    .chunks_exact(6)
                    .map(|s| (u16::from_be_bytes([s[0], s[1]]), be32(&s[2..6])))
                    .collect();
            }
            FRAME_WINDOW_UPDATE if stream == 0 && preface.window_update.is_none() => {
                if len != 4 {
                    return Err(H2PrefaceError::Malformed("WINDOW_UPDATE"));
                }
                preface.window_update = Some(be32(payload) & 0x7fff_ffff);
            }
            FRAME_PRIORITY => {
                if len != 5 {
                    return Err(H2PrefaceError::Malformed("PRIORITY"));
                }
                preface.priorities.push(priority_fields(stream, payload));
            }
            FRAME_HEADERS => {
                let mut p = payload;
                let mut pad = 0;
                if flags & FLAG_PADDED != 0 {
                    let (&n, tail) = p
                        .split_first()
                        .ok_or(H2PrefaceError::Malformed("HEADERS"))?;
                    pad = usize::from(n);
                    p = tail;
                }
                if flags & FLAG_PRIORITY != 0 {
                    if p.len() < 5 {
                        return Err(H2PrefaceError::Malformed("HEADERS"));
                    }
                    preface.headers_priority = Some(priority_fields(stream, p));
                    p = &p[5..];
                }
                let fragment = p
                    .len()
                    .checked_sub(pad)
                    .map(|n| &p[..n])
                    .ok_or(H2PrefaceError::Malformed("HEADERS"))?;
                if flags & FLAG_END_HEADERS != 0 {
                    preface.headers = decode_block(fragment)?;
                    return Ok(preface);
                }
                block = Some(fragment.to_vec());
            }
            _ => {}
        }
    }
}

fn decode_block(block: &[u8]) -> Result<Vec<(String, String)>, H2PrefaceError> {
    let mut decoder = loona_hpack::Decoder::new();
    let list = decoder
        .decode(block)
        .map_err(|e| H2PrefaceError::Hpack(e.to_string()))?;
    Ok(list
        .into_iter()
        .map(|(n, v)| {
            (
                String::from_utf8_lossy(&n).into_owned(),
                String::from_utf8_lossy(&v).into_owned(),
            )
        })
        .collect())
}

/// The Akamai HTTP/2 fingerprint string: `id:value;…` of the SETTINGS in wire order, `|`,
/// the WINDOW_UPDATE increment (`00` when none), `|`, the PRIORITY frames as
/// `stream:exclusive:depends_on:weight` joined by `,` (`0` when none), `|`, the first
/// letters of the pseudo-headers in wire order (`m,a,s,p` for Chrome).
pub fn akamai_h2(preface: &H2Preface) -> String {
    let settings: Vec<String> = preface
        .settings
        .iter()
        .map(|(id, v)| format!("{id}:{v}"))
        .collect();
    let window = preface
        .window_update
        .map_or_else(|| "00".to_owned(), |w| w.to_string());
    let priorities = if preface.priorities.is_empty() {
        "0".to_owned()
    } else {
        let list: Vec<String> = preface
            .priorities
            .iter()
            .map(|p| {
                format!(
                    "{}:{}:{}:{}",
                    p.stream_id,
                    u8::from(p.exclusive),
                    p.depends_on,
                    p.weight
                )
            })
            .collect();
        list.join(",")
    };
    let mut pseudo = String::new();
    for (name, _) in preface.headers.iter().filter(|(n, _)| n.starts_with(':')) {
        if !pseudo.is_empty() {
            pseudo.push(',');
        }
        if let Some(c) = name.chars().nth(1) {
            let _ = write!(pseudo, "{c}");
        }
    }
    format!("{}|{window}|{priorities}|{pseudo}", settings.join(";"))
}
