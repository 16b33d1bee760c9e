//! The one counting global allocator of the workspace: live and peak heap bytes, with
//! per-thread exclusion.
//!
//! A binary (a bench, the `hotpool` CLI) installs it and reads [`live_bytes`] before and
//! after what it measures ([`peak_bytes`] / [`reset_peak`] for the high-water mark in
//! between):
//!
//! ```
//! use pool_testkit::alloc::{self, Counting};
//!
//! #[global_allocator]
//! static ALLOCATOR: Counting = Counting;
//!
//! fn main() {
//!     let before = alloc::live_bytes();
//!     alloc::reset_peak();
//!     let buffer = vec![0u8; 1 << 20];
//!     assert!(alloc::live_bytes() - before >= 1 << 20);
//!     drop(buffer);
//!     assert!(alloc::peak_bytes() - before >= 1 << 20);
//! }
//! ```
//!
//! A process has one global allocator, so the counters are process-wide statics; without
//! `Counting` installed they stay at 0.
//!
//! # What is counted
//! Bytes allocated minus bytes freed, by threads that have not called
//! [`exclude_current_thread`]. The demo runs its local servers on a runtime whose threads
//! call it, so only the client side of the same loopback connections is counted. Memory
//! allocated on a counted thread and freed on an excluded one (or the other way round) makes
//! the count drift, so exclusion is for threads that share no heap objects with the counted
//! ones. Kernel memory (socket buffers) is not heap and is not counted.
//!
//! # Why `unsafe` here
//! The workspace denies `unsafe_code`. A [`GlobalAlloc`] implementation is an `unsafe impl`
//! by definition, so this one module allows it. It adds no unsafe logic of its own: every
//! call is forwarded unchanged to [`System`] and only the sizes are counted.
#![allow(unsafe_code)]

use std::alloc::{GlobalAlloc, Layout, System};
use std::cell::Cell;
use std::sync::atomic::{AtomicI64, Ordering};

/// Live bytes of counted threads.
static LIVE: AtomicI64 = AtomicI64::new(0);
/// The highest value [`LIVE`] reached since the start or the last [`reset_peak`].
static PEAK: AtomicI64 = AtomicI64::new(0);

thread_local! {
    /// Whether this thread's allocations are left out.
    static EXCLUDED: Cell<bool> = const { Cell::new(false) };
}

/// The counting allocator: forwards to [`System`] and counts live bytes (see the module
/// docs).
#[derive(Debug, Clone, Copy, Default)]
pub struct Counting;

/// Live heap bytes allocated by counted threads (negative when counted threads freed more
/// than they allocated since the start, e.g. memory allocated before exclusion changed).
pub fn live_bytes() -> i64 {
    LIVE.load(Ordering::SeqCst)
}

/// The highest [`live_bytes`] seen since the start or the last [`reset_peak`].
pub fn peak_bytes() -> i64 {
    PEAK.load(Ordering::SeqCst)
}

/// Restarts the high-water mark at the current [`live_bytes`].
pub fn reset_peak() {
    PEAK.store(LIVE.load(Ordering::SeqCst), Ordering::SeqCst);
}

/// Leaves the calling thread's allocations out of the counts from now on (a runtime's
/// `on_thread_start` hook, for example).
pub fn exclude_current_thread() {
    EXCLUDED.with(|e| e.set(true));
}

fn count(delta: i64) {
    // `try_with`: during thread teardown the flag may be gone; count then.
    if EXCLUDED.try_with(Cell::get).unwrap_or(false) {
        return;
    }
    let now = LIVE.fetch_add(delta, Ordering::Relaxed) + delta;
    // A plain load first: the peak rarely moves, so most allocations only read it.
    if delta > 0 && now > PEAK.load(Ordering::Relaxed) {
        PEAK.fetch_max(now, Ordering::Relaxed);
    }
}

fn size(bytes: usize) -> i64 {
    i64::try_from(bytes).unwrap_or(i64::MAX)
}

// SAFETY: every method forwards to `System` with the caller's arguments unchanged, so the
// `GlobalAlloc` contract is `System`'s; the counting touches no allocated memory and does
// not allocate (the thread-local is a const-initialised `Cell`).
unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        // SAFETY: forwarded unchanged; the caller upholds `alloc`'s contract.
        let ptr = unsafe { System.alloc(layout) };
        if !ptr.is_null() {
            count(size(layout.size()));
        }
        ptr
    }

    unsafe fn alloc_zeroed(&self, layout: Layout) -> *mut u8 {
        // SAFETY: forwarded unchanged; the caller upholds `alloc_zeroed`'s contract.
        let ptr = unsafe { System.alloc_zeroed(layout) };
        if !ptr.is_null() {
            count(size(layout.size()));
        }
        ptr
    }

    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        // SAFETY: forwarded unchanged; `ptr` came from this allocator (i.e. `System`).
        unsafe { System.dealloc(ptr, layout) };
        count(-size(layout.size()));
    }

    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        // SAFETY: forwarded unchanged; the caller upholds `realloc`'s contract.
        let new = unsafe { System.realloc(ptr, layout, new_size) };
        if !new.is_null() {
            count(size(new_size) - size(layout.size()));
        }
        new
    }
}
