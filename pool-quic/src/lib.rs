//! # pool-quic: QUIC transport for hotpool (in progress)
