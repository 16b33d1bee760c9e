//! Unit tests of the ClientHello parser, JA4 and the HTTP/2 preface parser on
//! hand-built bytes. The JA4 vectors are published values: the FoxIO JA4 technical
//! details' example (Chrome with ALPS 0x4469) and a Chrome 143 capture (`ja4`, `ja4_r`,
//! `ja4_ro`, `akamai_text` as published by a TLS echo service); the HPACK block with
//! Huffman strings is RFC 7541 C.4.1.

use super::*;

const GREASE_A: u16 = 0x0a0a;
const GREASE_B: u16 = 0x3a3a;

/// The parts of a ClientHello a test chooses; everything else is fixed.
#[derive(Default)]
struct Hello {
    legacy_version: u16,
    ciphers: Vec<u16>,
    /// (type, data) in wire order.
    extensions: Vec<(u16, Vec<u8>)>,
}

fn u16s(values: &[u16]) -> Vec<u8> {
    values.iter().flat_map(|v| v.to_be_bytes()).collect()
}

fn with_len16(body: &[u8]) -> Vec<u8> {
    let mut out = u16::try_from(body.len()).unwrap().to_be_bytes().to_vec();
    out.extend_from_slice(body);
    out
}

fn with_len8(body: &[u8]) -> Vec<u8> {
    let mut out = vec![u8::try_from(body.len()).unwrap()];
    out.extend_from_slice(body);
    out
}

fn sni(host: &str) -> (u16, Vec<u8>) {
    let mut entry = vec![0u8];
    entry.extend(with_len16(host.as_bytes()));
    (0x0000, with_len16(&entry))
}

fn alpn(protocols: &[&str]) -> (u16, Vec<u8>) {
    let list: Vec<u8> = protocols
        .iter()
        .flat_map(|p| with_len8(p.as_bytes()))
        .collect();
    (0x0010, with_len16(&list))
}

fn sigalgs(values: &[u16]) -> (u16, Vec<u8>) {
    (0x000d, with_len16(&u16s(values)))
}

fn versions(values: &[u16]) -> (u16, Vec<u8>) {
    (0x002b, with_len8(&u16s(values)))
}

impl Hello {
    /// The handshake message.
    fn message(&self) -> Vec<u8> {
        let mut body = self.legacy_version.to_be_bytes().to_vec();
        body.extend([7u8; 32]); // random
        body.extend(with_len8(&[9u8; 32])); // legacy_session_id
        body.extend(with_len16(&u16s(&self.ciphers)));
        body.extend([1, 0]); // compression: null
        let exts: Vec<u8> = self
            .extensions
            .iter()
            .flat_map(|(ty, data)| {
                let mut e = ty.to_be_bytes().to_vec();
                e.extend(with_len16(data));
                e
            })
            .collect();
        body.extend(with_len16(&exts));
        let len = u32::try_from(body.len()).unwrap().to_be_bytes();
        let mut msg = vec![1, len[1], len[2], len[3]];
        msg.extend(body);
        msg
    }
}

/// The message in TLS records of at most `chunk` payload bytes each.
fn records(message: &[u8], chunk: usize) -> Vec<u8> {
    message
        .chunks(chunk)
        .flat_map(|c| {
            let mut r = vec![22, 3, 1];
            r.extend(with_len16(c));
            r
        })
        .collect()
}

const CHROME_CIPHERS: [u16; 15] = [
    0x1301, 0x1302, 0x1303, 0xc02b, 0xc02f, 0xc02c, 0xc030, 0xcca9, 0xcca8, 0xc013, 0xc014, 0x009c,
    0x009d, 0x002f, 0x0035,
];
const CHROME_SIGALGS: [u16; 8] = [
    0x0403, 0x0804, 0x0401, 0x0503, 0x0805, 0x0501, 0x0806, 0x0601,
];

/// A ClientHello with Chrome's lists: GREASE first in ciphers, versions and extensions
/// (and last in the extensions), extension types in `order`.
fn chrome_like(order: &[u16]) -> Hello {
    let mut ciphers = vec![GREASE_A];
    ciphers.extend(CHROME_CIPHERS);
    let mut extensions = vec![(GREASE_A, Vec::new())];
    for ty in order {
        extensions.push(match *ty {
            0x0000 => sni("tls.example.test"),
            0x0010 => alpn(&["h2", "http/1.1"]),
            0x000d => sigalgs(&CHROME_SIGALGS),
            0x002b => versions(&[GREASE_B, 0x0304, 0x0303]),
            other => (other, vec![0]),
        });
    }
    extensions.push((GREASE_B, vec![0]));
    Hello {
        legacy_version: 0x0303,
        ciphers,
        extensions,
    }
}

/// Chrome 143's extension order from the published `ja4_ro` (GREASE left out there).
const CHROME_143_ORDER: [u16; 16] = [
    0x002d, 0x0033, 0x0010, 0xfe0d, 0x0017, 0x44cd, 0x0000, 0x000b, 0x000a, 0x002b, 0xff01, 0x0023,
    0x0012, 0x0005, 0x000d, 0x001b,
];

#[test]
fn grease_values_are_recognised() {
    let grease: Vec<u16> = (0..16u16)
        .map(|i| (i << 12) | 0x0a00 | (i << 4) | 0x0a)
        .collect();
    assert_eq!(grease[0], 0x0a0a);
    assert_eq!(grease[15], 0xfafa);
    assert!(grease.iter().all(|g| is_grease(*g)));
    for not in [
        0x0000, 0x0a1a, 0x1a0a, 0x4469, 0x44cd, 0xfe0d, 0xff01, 0x0aaa,
    ] {
        assert!(!is_grease(not), "{not:04x}");
    }
}

#[test]
fn chrome_143_capture_gives_its_published_ja4() {
    let msg = chrome_like(&CHROME_143_ORDER).message();
    let got = ja4(&msg).unwrap();
    assert_eq!(got.to_string(), "t13d1516h2_8daaf6152771_d8a2da3f94cd");
    assert_eq!(
        got.raw(),
        "t13d1516h2_002f,0035,009c,009d,1301,1302,1303,c013,c014,c02b,c02c,c02f,c030,cca8,cca9_\
         0005,000a,000b,000d,0012,0017,001b,0023,002b,002d,0033,44cd,fe0d,ff01_\
         0403,0804,0401,0503,0805,0501,0806,0601"
    );
    assert_eq!(got.a, "t13d1516h2");
    assert_eq!(got.b, "8daaf6152771");
    assert_eq!(got.c, "d8a2da3f94cd");
}

#[test]
fn a_permuted_extension_order_changes_the_order_but_not_the_ja4() {
    let mut permuted = CHROME_143_ORDER;
    permuted.reverse();
    let a = chrome_like(&CHROME_143_ORDER).message();
    let b = chrome_like(&permuted).message();
    assert_ne!(extension_order(&a).unwrap(), extension_order(&b).unwrap());
    assert_eq!(ja4(&a).unwrap(), ja4(&b).unwrap());
    // Wire order, GREASE kept at both ends.
    let order = extension_order(&a).unwrap();
    assert_eq!(order.len(), 18);
    assert_eq!(order[0], GREASE_A);
    assert_eq!(order[17], GREASE_B);
    assert_eq!(&order[1..17], &CHROME_143_ORDER);
}

#[test]
fn foxio_spec_example_gives_its_published_ja4() {
    // The JA4 technical details' example: ALPS on the old codepoint 0x4469, padding 0x0015.
    let order = [
        0x001b, 0x0000, 0x0033, 0x0010, 0x4469, 0x0017, 0x002d, 0x000d, 0x0005, 0x0023, 0x0012,
        0x002b, 0xff01, 0x000b, 0x000a, 0x0015,
    ];
    let got = ja4(&chrome_like(&order).message()).unwrap();
    assert_eq!(got.to_string(), "t13d1516h2_8daaf6152771_e5627efa2ab1");
    assert_eq!(
        got.raw_c,
        "0005,000a,000b,000d,0012,0015,0017,001b,0023,002b,002d,0033,4469,ff01_\
         0403,0804,0401,0503,0805,0501,0806,0601"
    );
}

#[test]
fn without_signature_algorithms_the_extension_hash_has_no_underscore_part() {
    // The spec's example: the same extensions, no signature_algorithms contents.
    let order = [
        0x001b, 0x0000, 0x0033, 0x0010, 0x4469, 0x0017, 0x002d, 0x000d, 0x0005, 0x0023, 0x0012,
        0x002b, 0xff01, 0x000b, 0x000a, 0x0015,
    ];
    let mut hello = chrome_like(&order);
    for (ty, data) in &mut hello.extensions {
        if *ty == 0x000d {
            *data = with_len16(&[]);
        }
    }
    let got = ja4(&hello.message()).unwrap();
    assert_eq!(
        got.raw_c,
        "0005,000a,000b,000d,0012,0015,0017,001b,0023,002b,002d,0033,4469,ff01"
    );
    assert_eq!(got.c, "6d807ffa2a79");
}

#[test]
fn the_readable_part_follows_sni_alpn_and_version() {
    // TLS 1.2 only (no supported_versions), no SNI, no ALPN.
    let plain = Hello {
        legacy_version: 0x0303,
        ciphers: vec![0xc02f, 0xc030, GREASE_A],
        extensions: vec![sigalgs(&[0x0401]), (0x000a, vec![0])],
    };
    assert_eq!(ja4(&plain.message()).unwrap().a, "t12i020200");
    // http/1.1 first: "h1"; SNI: "d".
    let h1 = Hello {
        extensions: vec![sni("a.test"), alpn(&["http/1.1", "h2"])],
        ..Hello {
            legacy_version: 0x0301,
            ciphers: vec![0x002f],
            extensions: vec![],
        }
    };
    assert_eq!(ja4(&h1.message()).unwrap().a, "t10d0102h1");
    // A first ALPN value whose ends are not alphanumeric: the first and last digit of
    // its hex form (7f782f).
    let odd = Hello {
        legacy_version: 0x0303,
        ciphers: vec![0x002f],
        extensions: vec![alpn(&["\u{7f}x/"])],
    };
    assert_eq!(ja4(&odd.message()).unwrap().a, "t12i01017f");
    // No cipher suites, no extensions: zero hashes.
    let empty = Hello {
        legacy_version: 0x0303,
        ciphers: vec![],
        extensions: vec![],
    };
    let got = ja4(&empty.message()).unwrap();
    assert_eq!(got.to_string(), "t12i000000_000000000000_000000000000");
}

#[test]
fn records_are_unwrapped_even_when_the_hello_spans_several() {
    let msg = chrome_like(&CHROME_143_ORDER).message();
    let expected = ja4(&msg).unwrap();
    assert_eq!(ja4(&records(&msg, 16384)).unwrap(), expected);
    assert_eq!(ja4(&records(&msg, 100)).unwrap(), expected);
    let parsed = parse_client_hello(&records(&msg, 7)).unwrap();
    assert_eq!(parsed.server_name.as_deref(), Some("tls.example.test"));
    assert_eq!(parsed.alpn, vec![b"h2".to_vec(), b"http/1.1".to_vec()]);
    assert_eq!(parsed.supported_versions, vec![GREASE_B, 0x0304, 0x0303]);
}

#[test]
fn malformed_hellos_are_typed_errors() {
    let msg = chrome_like(&CHROME_143_ORDER).message();
    assert_eq!(ja4(&[]), Err(ClientHelloError::Truncated("handshake type")));
    assert_eq!(
        ja4(&msg[..msg.len() - 1]),
        Err(ClientHelloError::Truncated("handshake body"))
    );
    let mut server_hello = msg.clone();
    server_hello[0] = 2;
    assert_eq!(ja4(&server_hello), Err(ClientHelloError::NotClientHello(2)));
    // A handshake record followed by an application-data record.
    assert_eq!(
        ja4(&[22, 3, 1, 0, 1, 1, 23, 3, 3, 0, 0]),
        Err(ClientHelloError::NotHandshakeRecord(23))
    );
    let mut odd_ciphers = Hello {
        legacy_version: 0x0303,
        ..Hello::default()
    }
    .message();
    // cipher_suites length 0 -> 1 (odd) and one byte more in the message.
    let at = 4 + 2 + 32 + 33;
    odd_ciphers[at + 1] = 1;
    odd_ciphers.insert(at + 2, 0x13);
    odd_ciphers[3] += 1;
    assert_eq!(
        ja4(&odd_ciphers),
        Err(ClientHelloError::BadLength("cipher_suites"))
    );
}

/// An HTTP/2 frame.
fn frame(ty: u8, flags: u8, stream: u32, payload: &[u8]) -> Vec<u8> {
    let len = u32::try_from(payload.len()).unwrap().to_be_bytes();
    let mut f = vec![len[1], len[2], len[3], ty, flags];
    f.extend(stream.to_be_bytes());
    f.extend_from_slice(payload);
    f
}

fn settings(pairs: &[(u16, u32)]) -> Vec<u8> {
    let payload: Vec<u8> = pairs
        .iter()
        .flat_map(|(id, v)| {
            let mut s = id.to_be_bytes().to_vec();
            s.extend(v.to_be_bytes());
            s
        })
        .collect();
    frame(4, 0, 0, &payload)
}

fn priority_payload(exclusive: bool, depends_on: u32, wire_weight: u8) -> Vec<u8> {
    let dep = depends_on | if exclusive { 0x8000_0000 } else { 0 };
    let mut p = dep.to_be_bytes().to_vec();
    p.push(wire_weight);
    p
}

/// `:method GET`, `:authority a.test`, `:scheme https`, `:path /` (static table indices and
/// one literal with an indexed name, no Huffman).
fn masp_block() -> Vec<u8> {
    let mut b = vec![0x82, 0x41, 6];
    b.extend(b"a.test");
    b.extend([0x87, 0x84]);
    b
}

#[test]
fn chrome_h2_preface_gives_the_published_akamai_string() {
    let mut bytes = CLIENT_PREFACE.to_vec();
    bytes.extend(settings(&[
        (1, 65536),
        (2, 0),
        (4, 6_291_456),
        (6, 262_144),
    ]));
    bytes.extend(frame(8, 0, 0, &15_663_105u32.to_be_bytes()));
    // HEADERS with the PRIORITY flag (Chrome: exclusive, depends on 0, weight 256).
    let mut headers = priority_payload(true, 0, 255);
    headers.extend(masp_block());
    bytes.extend(frame(1, 0x4 | 0x1 | 0x20, 1, &headers));
    let preface = parse_h2_preface(&bytes).unwrap();
    assert_eq!(
        akamai_h2(&preface),
        "1:65536;2:0;4:6291456;6:262144|15663105|0|m,a,s,p"
    );
    assert_eq!(
        preface.headers_priority,
        Some(Priority {
            stream_id: 1,
            exclusive: true,
            depends_on: 0,
            weight: 256
        })
    );
    assert_eq!(
        preface.headers[1],
        (":authority".to_owned(), "a.test".to_owned())
    );
    // Anything shorter is incomplete, never an error.
    for cut in [0, 10, CLIENT_PREFACE.len(), bytes.len() - 1] {
        assert_eq!(
            parse_h2_preface(&bytes[..cut]),
            Err(H2PrefaceError::Incomplete),
            "{cut}"
        );
    }
    assert_eq!(
        parse_h2_preface(b"GET / HTTP/1.1\r\n"),
        Err(H2PrefaceError::NoPreface)
    );
}

#[test]
fn priority_frames_continuation_padding_and_huffman() {
    let mut bytes = CLIENT_PREFACE.to_vec();
    bytes.extend(settings(&[(1, 65536), (4, 131_072), (5, 16384)]));
    bytes.extend(frame(8, 0, 0, &12_517_377u32.to_be_bytes()));
    // Firefox-style PRIORITY frames (wire weight 200 = weight 201).
    bytes.extend(frame(2, 0, 3, &priority_payload(false, 0, 200)));
    bytes.extend(frame(2, 0, 9, &priority_payload(false, 7, 0)));
    bytes.extend(frame(6, 0, 0, &[0; 8])); // a PING is skipped
    bytes.extend(frame(4, 1, 0, &[])); // a SETTINGS ACK is skipped
    // RFC 7541 C.4.1: :method GET, :scheme http, :path /, :authority www.example.com
    // (Huffman), split over a padded HEADERS and a CONTINUATION.
    let block = [
        0x82, 0x86, 0x84, 0x41, 0x8c, 0xf1, 0xe3, 0xc2, 0xe5, 0xf2, 0x3a, 0x6b, 0xa0, 0xab, 0x90,
        0xf4, 0xff,
    ];
    let mut first = vec![3u8];
    first.extend(&block[..5]);
    first.extend([0, 0, 0]);
    bytes.extend(frame(1, 0x8, 13, &first));
    bytes.extend(frame(9, 0x4, 13, &block[5..]));
    let preface = parse_h2_preface(&bytes).unwrap();
    assert_eq!(
        akamai_h2(&preface),
        "1:65536;4:131072;5:16384|12517377|3:0:0:201,9:0:7:1|m,s,p,a"
    );
    assert_eq!(preface.headers.last().unwrap().1, "www.example.com");
    assert_eq!(preface.headers_priority, None);
    // No WINDOW_UPDATE, no PRIORITY: "00" and "0".
    let mut bare = CLIENT_PREFACE.to_vec();
    bare.extend(settings(&[(2, 0)]));
    bare.extend(frame(1, 0x4, 1, &masp_block()));
    assert_eq!(
        akamai_h2(&parse_h2_preface(&bare).unwrap()),
        "2:0|00|0|m,a,s,p"
    );
}
