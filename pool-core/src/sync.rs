//! The sync primitives shared by the state machine's lease gauges and the shell: std's,
//! or shuttle's when built with `--cfg hotpool_shuttle` (so the model checker interleaves
//! every lock and atomic, see `shell/rt.rs`).

#[cfg(not(hotpool_shuttle))]
pub(crate) use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize};
#[cfg(not(hotpool_shuttle))]
pub(crate) use std::sync::{Mutex, MutexGuard, RwLock};

#[cfg(hotpool_shuttle)]
pub(crate) use shuttle::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize};
#[cfg(hotpool_shuttle)]
pub(crate) use shuttle::sync::{Mutex, MutexGuard, RwLock};
