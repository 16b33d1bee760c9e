//! The HTTP/2 PING of both engines (`pool_dial_rustls::H2Conn` on h2, `pool_dial_boring::BoringH2Conn`
//! on `http2`, one code path: `pool_dial::h2_ping`) leaves no waker of the task that waited
//! for the answer inside the HTTP/2 crate, which would keep that task's allocation alive
//! for the connection's life (`docs/idle-memory.md`). Against the testkit h2 origin.

use std::future::Future;
use std::sync::Arc;
use std::task::{Context, Wake, Waker};
use std::time::Duration;

use pool_core::Dialer;
use pool_dial_boring::{BoringDialer, BoringOptions};
use pool_dial_rustls::{H2Dialer, H2Options};
use pool_testkit::{H2Origin, H2OriginOptions, TestCa};
use tokio::sync::Notify;

mod common;
use common::{ips, target, trust};

/// A waker whose clones can be counted.
struct Counted(Notify);

impl Wake for Counted {
    fn wake(self: Arc<Self>) {
        self.0.notify_one();
    }

    fn wake_by_ref(self: &Arc<Self>) {
        self.0.notify_one();
    }
}

/// Drives `ping` to its end with a counted waker, drops it, and returns how many handles
/// to the waker are left besides this function's own once the driver's wake has finished.
async fn wakers_left_after<F, T, E>(ping: F) -> usize
where
    F: Future<Output = Result<T, E>>,
    E: std::fmt::Debug,
{
    let counted = Arc::new(Counted(Notify::new()));
    let waker = Waker::from(counted.clone());
    let mut ping = Box::pin(ping);
    loop {
        if let std::task::Poll::Ready(r) = ping.as_mut().poll(&mut Context::from_waker(&waker)) {
            r.expect("the PING is answered");
            break;
        }
        // notify_one keeps a permit when nobody waits yet: no wake-up is lost.
        tokio::time::timeout(Duration::from_secs(5), counted.0.notified())
            .await
            .expect("woken within 5 s");
    }
    drop(ping);
    drop(waker);
    // The HTTP/2 driver, on another worker thread, may still be inside the wake that
    // answered the PING (it drops its taken waker after `wake` returns): wait, bounded,
    // for that handle to go. A waker h2 kept stays, and the bound runs out.
    let _ = pool_testkit::eventually(
        "the driver's wake to finish",
        Duration::from_secs(2),
        || Arc::strong_count(&counted) == 1,
    )
    .await;
    Arc::strong_count(&counted) - 1
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_h2_ping_forgets_its_waiter() {
    let ca = Arc::new(TestCa::new().unwrap());
    let origin = H2Origin::start(H2OriginOptions::new(&ips(&[90]), &["a.test"], &ca))
        .await
        .unwrap();
    let mut options = H2Options::default();
    options.tls.trust = trust(&ca);
    let dialer = H2Dialer::new(options).unwrap();
    let conn = dialer
        .dial(&target("a.test", origin.socket_addrs()[0]))
        .await
        .unwrap();
    assert_eq!(wakers_left_after(conn.ping()).await, 0);
    drop(conn);
    origin.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_http2_ping_forgets_its_waiter_too() {
    let ca = Arc::new(TestCa::new().unwrap());
    let origin = H2Origin::start(H2OriginOptions::new(&ips(&[91]), &["a.test"], &ca))
        .await
        .unwrap();
    let dialer = BoringDialer::new(BoringOptions {
        trust: trust(&ca),
        ..BoringOptions::default()
    })
    .unwrap();
    let conn = dialer
        .dial(&target("a.test", origin.socket_addrs()[0]))
        .await
        .unwrap();
    let h2 = conn.as_h2().expect("HTTP/2 negotiated");
    assert_eq!(wakers_left_after(h2.ping()).await, 0);
    drop(conn);
    origin.shutdown().await;
}
