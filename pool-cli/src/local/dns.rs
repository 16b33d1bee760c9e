//! stub
pub struct DnsMode; pub struct DnsServer; pub struct DnsServerOptions;
