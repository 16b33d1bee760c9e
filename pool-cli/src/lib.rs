//! The `hotpool` command line tool's library part.
//!
//! The binary (`src/bin/hotpool/`: `demo`, `warm`, `bench`, `config check|default`, the
//! Prometheus exporter) is documented in the README. This library holds [`local`]: the
//! loopback-only test and demo servers (TLS + HTTP/2 origin, QUIC origin, authoritative DNS
//! server, throw-away CA) used by `hotpool demo` and by the workspace integration tests.
//! The binary's end-to-end tests are `pool-cli/tests/cli.rs` (there, not in the workspace
//! `tests` crate, because cargo gives `CARGO_BIN_EXE_hotpool` only to the binary's own
//! package).

pub mod local;
