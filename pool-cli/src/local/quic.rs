//! stub
pub struct QuicOrigin; pub struct QuicOriginOptions; pub struct QuicStats;
