//! Where memory-pressure shedding reads the process's resident memory from: a
//! [`MemorySource`]. [`ProcessMemory`] (the default) reads the OS; tests inject their own
//! reading with [`Pool::with_memory_source`](crate::Pool::with_memory_source).

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

/// A reading of the process's resident memory.
pub trait MemorySource: Send + Sync + 'static {
    /// Resident memory in bytes now; `None` when it cannot be read (shedding then waits
    /// for the next reading).
    fn resident_bytes(&self) -> Option<u64>;
}

/// The OS's figure for this process: on Linux the resident set size, `VmRSS` of
/// `/proc/self/status` (the same figure as `/proc/self/statm`'s resident pages times the
/// page size, already in kB, so no page-size call is needed and pool-core stays free of
/// `unsafe`/libc). Elsewhere `None`: shedding never triggers.
#[derive(Clone, Copy, Debug, Default)]
pub struct ProcessMemory;

impl MemorySource for ProcessMemory {
    fn resident_bytes(&self) -> Option<u64> {
        read_vm_rss(&std::fs::read_to_string("/proc/self/status").ok()?)
    }
}

/// The `VmRSS:` line of a `/proc/<pid>/status` text, in bytes (the kernel writes kB).
fn read_vm_rss(status: &str) -> Option<u64> {
    let line = status.lines().find(|l| l.starts_with("VmRSS:"))?;
    let mut words = line["VmRSS:".len()..].split_whitespace();
    let value: u64 = words.next()?.parse().ok()?;
    match words.next() {
        Some("kB") | None => value.checked_mul(1024),
        Some(_) => None,
    }
}

/// A reading set by hand (tests, or an application that measures memory its own way,
/// e.g. a cgroup's usage): [`FixedMemory::set`] changes what the pool reads next.
#[derive(Clone, Debug, Default)]
pub struct FixedMemory(Arc<AtomicU64>);

impl FixedMemory {
    /// A reading of `bytes`.
    pub fn new(bytes: u64) -> Self {
        Self(Arc::new(AtomicU64::new(bytes)))
    }

    /// What the next reading returns (every clone shares it).
    pub fn set(&self, bytes: u64) {
        self.0.store(bytes, Ordering::Relaxed);
    }
}

impl MemorySource for FixedMemory {
    fn resident_bytes(&self) -> Option<u64> {
        Some(self.0.load(Ordering::Relaxed))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn vm_rss_is_read_in_bytes() {
        let status = "Name:\tx\nVmPeak:\t  9000 kB\nVmRSS:\t    5124 kB\nThreads:\t2\n";
        assert_eq!(read_vm_rss(status), Some(5124 * 1024));
        assert_eq!(read_vm_rss("Name:\tx\n"), None);
        assert_eq!(read_vm_rss("VmRSS:\t12 MB\n"), None);
    }

    #[test]
    fn this_process_has_a_resident_size() {
        let rss = ProcessMemory.resident_bytes().expect("Linux /proc");
        assert!(rss > 1024 * 1024, "{rss}");
    }

    #[test]
    fn a_fixed_reading_is_shared_by_its_clones() {
        let m = FixedMemory::new(5);
        let c = m.clone();
        c.set(7);
        assert_eq!(m.resident_bytes(), Some(7));
    }
}
