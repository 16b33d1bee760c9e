//! Per-connection rotation of a dialer's choices (TLS profile, `Accept-Language`).

use std::collections::hash_map::RandomState;
use std::hash::{BuildHasher, Hasher};
use std::sync::atomic::{AtomicUsize, Ordering};

use pool_rustls::Rotation;

/// Picks one of `len` choices per call: round-robin or random.
#[derive(Debug)]
pub(crate) struct Rotor {
    mode: Rotation,
    next: AtomicUsize,
    random: RandomState,
}

impl Rotor {
    pub(crate) fn new(mode: Rotation) -> Self {
        Self {
            mode,
            next: AtomicUsize::new(0),
            random: RandomState::new(),
        }
    }

    /// An index below `len` (`len` must be at least 1).
    pub(crate) fn pick(&self, len: usize) -> usize {
        let n = self.next.fetch_add(1, Ordering::Relaxed);
        match self.mode {
            Rotation::RoundRobin => n % len,
            Rotation::Random => {
                let mut h = self.random.build_hasher();
                h.write_usize(n);
                (h.finish() % len as u64) as usize
            }
        }
    }
}
