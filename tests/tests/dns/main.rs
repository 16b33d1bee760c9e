//! DNS: the refresher, address families, resolv.conf, sources, DoT/DoH (one binary).
//! Each module was its own test binary; grouped by behaviour (docs/architecture.md,
//! "Behaviour → its tests").

mod encrypted;
mod families;
mod https;
mod refresh;
mod resolv_conf;
mod sources;
