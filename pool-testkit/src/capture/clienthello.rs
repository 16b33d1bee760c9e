//! A TLS ClientHello parser, just deep enough for fingerprints: versions, cipher suites,
//! extension types in wire order (GREASE kept), SNI, ALPN, supported versions and
//! signature algorithms (RFC 8446 §4.1.2, RFC 6066, RFC 7301).
//!
//! Input is either the handshake message (type `0x01`, 3-byte length, body) or the TLS
//! record(s) that carry it (content type `0x16`): records are unwrapped and their payloads
//! joined first, so a ClientHello split over several records parses too.

/// Why a byte string is not a ClientHello this parser understands.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ClientHelloError {
    /// The bytes end before the field named.
    #[error("ClientHello truncated in {0}")]
    Truncated(&'static str),
    /// The handshake message type is not ClientHello (1).
    #[error("handshake message type {0} is not a ClientHello (1)")]
    NotClientHello(u8),
    /// A TLS record that is not a handshake record (22).
    #[error("TLS record content type {0} is not a handshake (22)")]
    NotHandshakeRecord(u8),
    /// A length field disagrees with the data it frames.
    #[error("inconsistent length in {0}")]
    BadLength(&'static str),
}

/// Extension type of server_name (SNI).
pub const EXT_SERVER_NAME: u16 = 0x0000;
/// Extension type of application_layer_protocol_negotiation (ALPN).
pub const EXT_ALPN: u16 = 0x0010;
/// Extension type of signature_algorithms.
pub const EXT_SIGNATURE_ALGORITHMS: u16 = 0x000d;
/// Extension type of supported_versions.
pub const EXT_SUPPORTED_VERSIONS: u16 = 0x002b;

/// GREASE values (RFC 8701): `0x?a?a` with both bytes equal (0x0a0a, 0x1a1a, … 0xfafa).
pub fn is_grease(v: u16) -> bool {
    (v & 0x0f0f) == 0x0a0a && (v >> 8) == (v & 0xff)
}

/// The fields of a ClientHello that fingerprints use, in wire order, GREASE kept.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ClientHello {
    /// `legacy_version` of the hello (0x0303 for TLS 1.2 and 1.3 clients).
    pub legacy_version: u16,
    /// Cipher suites in wire order.
    pub cipher_suites: Vec<u16>,
    /// Extension types in wire order.
    pub extensions: Vec<u16>,
    /// The supported_versions list (empty without the extension).
    pub supported_versions: Vec<u16>,
    /// The first host_name of the server_name extension.
    pub server_name: Option<String>,
    /// The ALPN protocol names in wire order (empty without the extension).
    pub alpn: Vec<Vec<u8>>,
    /// The signature_algorithms list in wire order (empty without the extension).
    pub signature_algorithms: Vec<u16>,
}

/// A cursor over a byte slice; every read names the field for the error.
struct Reader<'a> {
    buf: &'a [u8],
}

impl<'a> Reader<'a> {
    fn new(buf: &'a [u8]) -> Self {
        Self { buf }
    }

    fn take(&mut self, n: usize, what: &'static str) -> Result<&'a [u8], ClientHelloError> {
        if self.buf.len() < n {
            return Err(ClientHelloError::Truncated(what));
        }
        let (head, rest) = self.buf.split_at(n);
        self.buf = rest;
        Ok(head)
    }

    fn u8(&mut self, what: &'static str) -> Result<u8, ClientHelloError> {
        Ok(self.take(1, what)?[0])
    }

    fn u16(&mut self, what: &'static str) -> Result<u16, ClientHelloError> {
        let b = self.take(2, what)?;
        Ok(u16::from_be_bytes([b[0], b[1]]))
    }

    fn u24(&mut self, what: &'static str) -> Result<usize, ClientHelloError> {
        let b = self.take(3, what)?;
        Ok((usize::from(b[0]) << 16) | (usize::from(b[1]) << 8) | usize::from(b[2]))
    }

    /// A vector with a 1- or 2-byte length prefix.
    fn vec8(&mut self, what: &'static str) -> Result<&'a [u8], ClientHelloError> {
        let n = self.u8(what)?;
        self.take(usize::from(n), what)
    }

    fn vec16(&mut self, what: &'static str) -> Result<&'a [u8], ClientHelloError> {
        let n = self.u16(what)?;
        self.take(usize::from(n), what)
    }

    fn is_empty(&self) -> bool {
        self.buf.is_empty()
    }
}

/// A list of big-endian u16 (cipher suites, versions, signature schemes).
fn u16_list(bytes: &[u8], what: &'static str) -> Result<Vec<u16>, ClientHelloError> {
    if bytes.len() % 2 != 0 {
        return Err(ClientHelloError::BadLength(what));
    }
    Ok(bytes
        .chunks_exact(2)
        .map(|c| u16::from_be_bytes([c[0], c[1]]))
        .collect())
}

/// Joins the payloads of the handshake records at the start of `bytes`.
fn unwrap_records(bytes: &[u8]) -> Result<Vec<u8>, ClientHelloError> {
    let mut r = Reader::new(bytes);
    let mut out = Vec::with_capacity(bytes.len());
    while !r.is_empty() {
        let ty = r.u8("record header")?;
        if ty != 22 {
            return Err(ClientHelloError::NotHandshakeRecord(ty));
        }
        r.u16("record version")?;
        out.extend_from_slice(r.vec16("record payload")?);
    }
    Ok(out)
}

/// Parses a ClientHello (handshake message or the records that carry it).
pub fn parse_client_hello(bytes: &[u8]) -> Result<ClientHello, ClientHelloError> {
    let joined;
    let msg = if bytes.first() == Some(&22) {
        joined = unwrap_records(bytes)?;
        &joined[..]
    } else {
        bytes
    };
    let mut r = Reader::new(msg);
    let ty = r.u8("handshake type")?;
    if ty != 1 {
        return Err(ClientHelloError::NotClientHello(ty));
    }
    let len = r.u24("handshake length")?;
    let mut body = Reader::new(r.take(len, "handshake body")?);
    let mut hello = ClientHello {
        legacy_version: body.u16("legacy_version")?,
        ..ClientHello::default()
    };
    body.take(32, "random")?;
    body.vec8("legacy_session_id")?;
    hello.cipher_suites = u16_list(body.vec16("cipher_suites")?, "cipher_suites")?;
    body.vec8("legacy_compression_methods")?;
    if body.is_empty() {
        return Ok(hello); // no extensions at all (old clients)
    }
    let mut exts = Reader::new(body.vec16("extensions")?);
    while !exts.is_empty() {
        let ty = exts.u16("extension type")?;
        let data = exts.vec16("extension data")?;
        hello.extensions.push(ty);
        parse_extension(&mut hello, ty, data)?;
    }
    Ok(hello)
}

fn parse_extension(hello: &mut ClientHello, ty: u16, data: &[u8]) -> Result<(), ClientHelloError> {
    let mut d = Reader::new(data);
    match ty {
        EXT_SERVER_NAME if !data.is_empty() => {
            let mut list = Reader::new(d.vec16("server_name list")?);
            while !list.is_empty() {
                let name_type = list.u8("server_name type")?;
                let name = list.vec16("server_name")?;
                if name_type == 0 && hello.server_name.is_none() {
                    hello.server_name = Some(String::from_utf8_lossy(name).into_owned());
                }
            }
        }
        EXT_ALPN => {
            let mut list = Reader::new(d.vec16("alpn list")?);
            while !list.is_empty() {
                hello.alpn.push(list.vec8("alpn protocol")?.to_vec());
            }
        }
        EXT_SIGNATURE_ALGORITHMS => {
            hello.signature_algorithms =
                u16_list(d.vec16("signature_algorithms")?, "signature_algorithms")?;
        }
        EXT_SUPPORTED_VERSIONS => {
            hello.supported_versions =
                u16_list(d.vec8("supported_versions")?, "supported_versions")?;
        }
        _ => {}
    }
    Ok(())
}

/// The extension types of a ClientHello in wire order, GREASE kept (what a Chrome-style
/// permutation changes and JA4 does not see).
pub fn extension_order(client_hello: &[u8]) -> Result<Vec<u16>, ClientHelloError> {
    Ok(parse_client_hello(client_hello)?.extensions)
}
