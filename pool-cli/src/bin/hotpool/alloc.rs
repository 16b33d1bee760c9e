//! The demo's heap counter: `pool_testkit::alloc`'s counting allocator (installed in
//! `main`), whose live bytes are those of the *client side* of this process, for the demo's
//! "memory per connection". The demo runs its local origin and DNS servers on a separate
//! runtime whose threads call [`exclude_current_thread`], so the server side of the same
//! loopback connections is not counted (client and server share no heap objects; they only
//! talk through sockets).
//!
//! RSS deltas (`/proc/self/statm`) were the alternative; with a handful of connections they
//! are dominated by allocator arenas and page granularity, so they say little.

pub use pool_testkit::alloc::{Counting, exclude_current_thread, live_bytes};
