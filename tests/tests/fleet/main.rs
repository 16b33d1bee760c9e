//! The fleet on a real `redis-server` (pool-testkit's `RedisServer`, one per test) with real
//! HTTP/1.1 origins on 127.0.0.16x-17x, one module per behaviour:
//! - [`bans`]: a ban reaches the other pools and a new worker loads it, an expired ban lifts
//!   on every pool and in Redis, garbage on the channel changes nothing and is counted;
//! - [`outage`]: killing Redis mid-load loses no request and the pools re-sync when it
//!   returns; a frozen (`SIGSTOP`) Redis is noticed and re-synced with when it thaws;
//! - [`budget`]: the fleet-wide connection budget caps two pools together, and a crashed
//!   worker's share returns by itself;
//! - [`leases`]: one re-test of a banned address per interval across three pools;
//! - [`publish`]: the bounded publish queue drops (and counts) what does not fit;
//! - [`cluster`]: the same on a three-master Redis Cluster, and a killed node (fail open,
//!   counted, loaded again when it returns);
//! - [`sentinel`]: on Redis Sentinel, through a master failover;
//! - [`processes`]: two processes (the test re-executes itself as worker B) on a cluster.
//!
//! How fast a ban propagates is measured, not asserted: `pool-redis/benches/fleet.rs`.
//! The fleet in the sans-IO core is `pool-core/src/proto/tests/fleet.rs`; the pool's runtime
//! with an in-memory fleet `pool-core/tests/fleet.rs`; the CLI's `[fleet]` and `hotpool
//! fleet status` `pool-cli/tests/fleet.rs`; the `[fleet]` config keys pool-config's tests.

mod bans;
mod budget;
mod cluster;
mod egress;
mod leases;
mod outage;
mod processes;
mod publish;
mod rig;
mod sentinel;
