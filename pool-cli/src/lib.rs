//! The `hotpool` command line tool's library part.
//!
//! For now this holds [`local`]: the loopback-only test and demo servers (TLS + HTTP/2
//! origin, QUIC origin, authoritative DNS server, throw-away CA) used by `hotpool demo`
//! and by the workspace integration tests.

pub mod local;
