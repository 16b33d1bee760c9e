//! The counting allocator, installed in this test binary as it is in the benches and the
//! CLI.

use pool_testkit::alloc::{self, Counting};

#[global_allocator]
static ALLOCATOR: Counting = Counting;

/// Far above what the test harness allocates concurrently.
const BIG: usize = 64 << 20;

/// The counters are process-wide: one test at a time.
static SERIAL: std::sync::Mutex<()> = std::sync::Mutex::new(());

fn serial() -> std::sync::MutexGuard<'static, ()> {
    SERIAL
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner)
}

#[test]
fn counts_live_and_peak_bytes_of_counted_threads_only() {
    let _serial = serial();
    let before = alloc::live_bytes();
    alloc::reset_peak();
    let big = vec![0u8; BIG];
    let during = alloc::live_bytes();
    drop(big);
    let after = alloc::live_bytes();
    assert!(
        during - before > (BIG as i64) - (4 << 20),
        "{before} -> {during}"
    );
    assert!(after - before < 4 << 20, "freed: {before} -> {after}");
    assert!(
        alloc::peak_bytes() >= during,
        "peak {}",
        alloc::peak_bytes()
    );

    let (excluded, peak_moved) = std::thread::spawn(|| {
        alloc::exclude_current_thread();
        alloc::reset_peak();
        let peak = alloc::peak_bytes();
        let before = alloc::live_bytes();
        let big = vec![1u8; BIG];
        let during = alloc::live_bytes();
        drop(big);
        (during - before, alloc::peak_bytes() - peak)
    })
    .join()
    .unwrap();
    assert!(excluded < 32 << 20, "excluded thread counted {excluded}");
    assert!(
        peak_moved < 32 << 20,
        "excluded thread moved the peak by {peak_moved}"
    );
}

#[test]
fn realloc_counts_the_difference() {
    let _serial = serial();
    let mut v: Vec<u8> = Vec::with_capacity(1 << 20);
    let before = alloc::live_bytes();
    v.reserve_exact(BIG);
    let grown = alloc::live_bytes();
    drop(v);
    assert!(
        grown - before > (BIG as i64) - (4 << 20),
        "{before} -> {grown}"
    );
}
