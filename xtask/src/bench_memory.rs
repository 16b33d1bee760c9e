//! Section 6 of `BENCHMARKS.md`: memory per idle connection, per protocol
//! (`pool-dial-rustls/benches/memory.rs` → `memory.jsonl`), and the pool's own bookkeeping
//! (`pool-core/benches/bookkeeping.rs` → `bookkeeping.jsonl`).

use std::fmt::Write as _;

use serde_json::Value;

use super::{Figures, Row, fmt_bytes, table, verdict};

/// The sizes the memory benches may have measured.
const SIZES: [u64; 5] = [1, 100, 1_000, 5_000, 10_000];

/// One protocol's rows: (JSON `transport`, label, its no-pool floor's `transport`, target
/// in KiB — `None`: reported only).
const PROTOCOLS: &[(&str, &str, Option<&str>, Option<f64>)] = &[
    ("h1", "HTTP/1.1 (`H1Dialer`)", Some("raw_h1"), Some(16.0)),
    ("tls_h2", "HTTP/2 (`H2Dialer`)", Some("raw_h2"), Some(40.0)),
    ("h3", "HTTP/3 (`QuicDialer`)", None, None),
    ("tls", "TLS only (`TlsDialer`)", Some("raw_tls"), None),
];

/// Writes section `number` and pushes its summary lines.
pub(super) fn render(
    out: &mut String,
    f: &Figures,
    number: u32,
    summary: &mut Vec<(String, String)>,
) {
    let _ = writeln!(
        out,
        "## {number}. Memory per idle connection (`pool-dial-rustls/benches/memory.rs`, \
         `pool-core/benches/bookkeeping.rs`)\n"
    );
    out.push_str(
        "Client heap measured with a counting global allocator (origin in a child process): \
         heap after warming n connections and letting them idle, minus heap before, over n — \
         the pool's entry, rustls' connection and buffers, the protocol's codec and state, \
         the driver task and tokio's I/O registration. Peer column: the same protocol stack \
         with no pool (`raw_*`: bare tokio-rustls streams, under hyper's HTTP/1.1 connection \
         or an `h2` connection, their futures spawned), so hotpool − peer is the pool's and \
         the transport wrapper's share. HTTP/3's figure includes its share of the one UDP \
         endpoint (≈ 3 MB of quinn buffers, so it falls with n). The breakdown is in \
         `docs/idle-memory.md`; the patched-h2 figure (not shipped) in \
         `docs/h2-buffer-option.md`. Bookkeeping: the sans-IO core alone, transport handle \
         `()`.\n\n",
    );
    let per = |transport: &str, n: u64| {
        f.field(
            "memory",
            &[
                ("transport", Value::from(transport)),
                ("connections", Value::from(n)),
            ],
            "bytes_per_connection",
        )
    };
    let mut rows = Vec::new();
    for &(transport, label, floor, target) in PROTOCOLS {
        // Worst figure from 100 connections up (at 1, one-time costs dominate).
        let mut worst: Option<f64> = None;
        for n in SIZES {
            let Some(bytes) = per(transport, n) else {
                continue;
            };
            let mut r = Row::new(format!("per idle {label} connection at {n}"));
            r.hotpool = fmt_bytes(Some(bytes));
            if let Some(floor) = floor {
                r.peer = format!("no pool: {}", fmt_bytes(per(floor, n)));
            }
            if n >= 100 {
                worst = Some(worst.map_or(bytes, |w: f64| w.max(bytes)));
            }
            match target {
                Some(kib) if n >= 100 => {
                    r.target = format!("≤ {kib:.0} KiB");
                    r.verdict = verdict(Some(bytes <= kib * 1024.0));
                }
                Some(_) => r.target = "(one-time costs dominate)".into(),
                None => r.verdict = "reported".into(),
            }
            rows.push(r);
        }
        if transport == "tls" {
            continue;
        }
        let verdict = match target {
            Some(kib) => verdict(worst.map(|b| b <= kib * 1024.0)),
            None if worst.is_some() => "reported".into(),
            None => verdict(None),
        };
        summary.push((
            format!("memory per idle {label} connection (100 and up)"),
            verdict,
        ));
    }
    bookkeeping(f, &mut rows, summary);
    table(out, &rows);
    if let Some(lines) = f.lines.get("memory") {
        let left: Vec<String> = lines
            .iter()
            .filter_map(|l| {
                Some(format!(
                    "{} × {}: {}",
                    l["connections"].as_u64()?,
                    l["transport"].as_str()?,
                    fmt_bytes(l["bytes_left_after_close"].as_f64())
                ))
            })
            .collect();
        let _ = writeln!(
            out,
            "Heap left after closing each pool, against the heap before it was built \
             (leak check: it stays near zero whatever the size; negative values are buffers \
             of earlier rounds freed meanwhile; QUIC connections linger in quinn's endpoint \
             for a while after the pool closed them): {}.\n",
            left.join(", ")
        );
    }
}

/// The bookkeeping rows (the sans-IO core per connection and per address).
fn bookkeeping(f: &Figures, rows: &mut Vec<Row>, summary: &mut Vec<(String, String)>) {
    let mut worst: Option<f64> = None;
    for n in SIZES {
        let filter = [("connections", Value::from(n))];
        let Some(conn) = f.field("bookkeeping", &filter, "bytes_per_connection") else {
            continue;
        };
        let addr = f.field("bookkeeping", &filter, "bytes_per_address");
        let mut r = Row::new(format!("pool bookkeeping per connection at {n}"));
        r.hotpool = format!(
            "{} (+ {} per address)",
            fmt_bytes(Some(conn)),
            fmt_bytes(addr)
        );
        if n >= 100 {
            worst = Some(worst.map_or(conn, |w: f64| w.max(conn)));
            r.target = "≤ 256 B".into();
            r.verdict = verdict(Some(conn <= 256.0));
        } else {
            r.target = "(fixed costs of an empty pool dominate)".into();
        }
        rows.push(r);
    }
    summary.push((
        "bookkeeping per connection (100 … 10,000)".into(),
        verdict(worst.map(|b| b <= 256.0)),
    ));
}
