//! Reads the peer's `initial_max_streams_bidi` transport parameter during the handshake.
//!
//! quinn 0.11 does not expose the peer's stream limit. The transport parameters pass
//! through the crypto session, so a thin wrapper around quinn's rustls session reads them
//! when the handshake delivers them, and stores the limit for the connection's capacity.

use std::any::Any;
use std::sync::{Arc, OnceLock};

use quinn::crypto::rustls::QuicClientConfig;
use quinn::crypto::{
    ClientConfig, ExportKeyingMaterialError, HeaderKey, KeyPair, Keys, PacketKey, Session,
};
use quinn_proto::transport_parameters::TransportParameters;
use quinn_proto::{ConnectError, ConnectionId, Side, TransportError};

/// The transport parameter id of `initial_max_streams_bidi` (RFC 9000, 18.2).
const INITIAL_MAX_STREAMS_BIDI: u64 = 0x08;

/// quinn's rustls client config, recording the peer's bidi stream limit into `slot`.
pub(crate) struct Capture {
    inner: Arc<QuicClientConfig>,
    slot: Arc<OnceLock<u64>>,
}

impl Capture {
    pub(crate) fn new(inner: Arc<QuicClientConfig>, slot: Arc<OnceLock<u64>>) -> Self {
        Self { inner, slot }
    }
}

impl ClientConfig for Capture {
    fn start_session(
        self: Arc<Self>,
        version: u32,
        server_name: &str,
        params: &TransportParameters,
    ) -> Result<Box<dyn Session>, ConnectError> {
        let inner = self
            .inner
            .clone()
            .start_session(version, server_name, params)?;
        Ok(Box::new(CaptureSession {
            inner,
            slot: self.slot.clone(),
        }))
    }
}

struct CaptureSession {
    inner: Box<dyn Session>,
    slot: Arc<OnceLock<u64>>,
}

impl Session for CaptureSession {
    fn initial_keys(&self, dst_cid: &ConnectionId, side: Side) -> Keys {
        self.inner.initial_keys(dst_cid, side)
    }

    fn handshake_data(&self) -> Option<Box<dyn Any>> {
        self.inner.handshake_data()
    }

    fn peer_identity(&self) -> Option<Box<dyn Any>> {
        self.inner.peer_identity()
    }

    fn early_crypto(&self) -> Option<(Box<dyn HeaderKey>, Box<dyn PacketKey>)> {
        self.inner.early_crypto()
    }

    fn early_data_accepted(&self) -> Option<bool> {
        self.inner.early_data_accepted()
    }

    fn is_handshaking(&self) -> bool {
        self.inner.is_handshaking()
    }

    fn read_handshake(&mut self, buf: &[u8]) -> Result<bool, TransportError> {
        self.inner.read_handshake(buf)
    }

    fn transport_parameters(&self) -> Result<Option<TransportParameters>, TransportError> {
        let params = self.inner.transport_parameters()?;
        if let Some(params) = &params
            && self.slot.get().is_none()
        {
            let mut wire = Vec::new();
            params.write(&mut wire);
            if let Some(limit) = find_param(&wire, INITIAL_MAX_STREAMS_BIDI) {
                let _ = self.slot.set(limit);
            } else {
                // Absent means 0 (RFC 9000): the peer allows no streams yet.
                let _ = self.slot.set(0);
            }
        }
        Ok(params)
    }

    fn write_handshake(&mut self, buf: &mut Vec<u8>) -> Option<Keys> {
        self.inner.write_handshake(buf)
    }

    fn next_1rtt_keys(&mut self) -> Option<KeyPair<Box<dyn PacketKey>>> {
        self.inner.next_1rtt_keys()
    }

    fn is_valid_retry(&self, orig_dst_cid: &ConnectionId, header: &[u8], payload: &[u8]) -> bool {
        self.inner.is_valid_retry(orig_dst_cid, header, payload)
    }

    fn export_keying_material(
        &self,
        output: &mut [u8],
        label: &[u8],
        context: &[u8],
    ) -> Result<(), ExportKeyingMaterialError> {
        self.inner.export_keying_material(output, label, context)
    }
}

/// A QUIC variable-length integer at the start of `buf`: (value, length).
fn varint(buf: &[u8]) -> Option<(u64, usize)> {
    let first = *buf.first()?;
    let len = 1usize << (first >> 6);
    let bytes = buf.get(..len)?;
    let mut value = u64::from(first & 0x3f);
    for b in &bytes[1..] {
        value = (value << 8) | u64::from(*b);
    }
    Some((value, len))
}

/// The integer value of transport parameter `id` in its wire encoding (id, length, value).
fn find_param(mut wire: &[u8], id: u64) -> Option<u64> {
    while !wire.is_empty() {
        let (param, n) = varint(wire)?;
        wire = &wire[n..];
        let (len, n) = varint(wire)?;
        wire = &wire[n..];
        let len = usize::try_from(len).ok()?;
        let value = wire.get(..len)?;
        if param == id {
            return varint(value).map(|(v, _)| v);
        }
        wire = &wire[len..];
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn finds_the_bidi_limit_in_wire_parameters() {
        // max_idle_timeout (0x01) = 30000, initial_max_streams_bidi (0x08) = 4,
        // initial_max_streams_uni (0x09) = 100.
        let wire = [
            0x01, 0x04, 0x80, 0x00, 0x75, 0x30, //
            0x08, 0x01, 0x04, //
            0x09, 0x02, 0x40, 0x64,
        ];
        assert_eq!(find_param(&wire, 0x08), Some(4));
        assert_eq!(find_param(&wire, 0x09), Some(100));
        assert_eq!(find_param(&wire, 0x01), Some(30000));
        assert_eq!(find_param(&wire, 0x05), None);
        assert_eq!(find_param(&[0x08, 0x05, 0x01], 0x08), None, "truncated");
    }
}
