//! A counting global allocator: the live heap bytes of the *client side* of this process,
//! for the demo's "memory per connection".
//!
//! # Why `unsafe` here
//! The workspace denies `unsafe_code`. A [`GlobalAlloc`] implementation is an
//! `unsafe impl` by definition, so this one module allows it. It adds no unsafe logic of
//! its own: every call is forwarded unchanged to [`System`] and only the sizes are counted.
//!
//! # What is counted
//! Bytes allocated minus bytes freed, by threads that have not called
//! [`exclude_current_thread`]. The demo runs its local origin and DNS servers on a separate
//! runtime whose threads call it, so the server side of the same loopback connections is not
//! counted. Client and server share no heap objects (they only talk through sockets), so
//! nothing allocated on one side is freed on the other. Kernel memory (socket buffers) is
//! not heap and is not counted.
//!
//! RSS deltas (`/proc/self/statm`) were the alternative; with a handful of connections they
//! are dominated by allocator arenas and page granularity, so they say little.
#![allow(unsafe_code)]

use std::alloc::{GlobalAlloc, Layout, System};
use std::cell::Cell;
use std::sync::atomic::{AtomicI64, Ordering};

/// Live bytes of counted threads.
static LIVE: AtomicI64 = AtomicI64::new(0);

thread_local! {
    /// Whether this thread's allocations are left out (server side of the demo).
    static EXCLUDED: Cell<bool> = const { Cell::new(false) };
}

/// The allocator installed by `main`.
pub struct Counting;

fn count(delta: i64) {
    // `try_with`: during thread teardown the flag may be gone; count then.
    let excluded = EXCLUDED.try_with(Cell::get).unwrap_or(false);
    if !excluded {
        LIVE.fetch_add(delta, Ordering::Relaxed);
    }
}

fn size(layout: Layout) -> i64 {
    i64::try_from(layout.size()).unwrap_or(i64::MAX)
}

// SAFETY: every method forwards to `System` with the caller's arguments unchanged, so the
// `GlobalAlloc` contract is `System`'s; the counting touches no allocated memory.
unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        // SAFETY: forwarded unchanged; the caller upholds `alloc`'s contract.
        let ptr = unsafe { System.alloc(layout) };
        if !ptr.is_null() {
            count(size(layout));
        }
        ptr
    }

    unsafe fn alloc_zeroed(&self, layout: Layout) -> *mut u8 {
        // SAFETY: forwarded unchanged; the caller upholds `alloc_zeroed`'s contract.
        let ptr = unsafe { System.alloc_zeroed(layout) };
        if !ptr.is_null() {
            count(size(layout));
        }
        ptr
    }

    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        // SAFETY: forwarded unchanged; `ptr` came from this allocator (i.e. `System`).
        unsafe { System.dealloc(ptr, layout) };
        count(-size(layout));
    }

    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        // SAFETY: forwarded unchanged; the caller upholds `realloc`'s contract.
        let new = unsafe { System.realloc(ptr, layout, new_size) };
        if !new.is_null() {
            count(i64::try_from(new_size).unwrap_or(i64::MAX) - size(layout));
        }
        new
    }
}

/// Live heap bytes allocated by counted (client-side) threads.
pub fn live_bytes() -> i64 {
    LIVE.load(Ordering::Relaxed)
}

/// Leaves the calling thread's allocations out of [`live_bytes`] from now on.
pub fn exclude_current_thread() {
    EXCLUDED.with(|e| e.set(true));
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn counts_live_bytes_of_counted_threads_only() {
        // Other tests allocate concurrently: compare with a margin far above their noise.
        let before = live_bytes();
        let big = vec![0u8; 64 << 20];
        let during = live_bytes();
        drop(big);
        assert!(during - before > 60 << 20, "{before} -> {during}");
        let excluded = std::thread::spawn(|| {
            exclude_current_thread();
            let before = live_bytes();
            let big = vec![1u8; 64 << 20];
            let during = live_bytes();
            drop(big);
            during - before
        })
        .join()
        .unwrap();
        assert!(excluded < 32 << 20, "excluded thread counted {excluded}");
    }
}
