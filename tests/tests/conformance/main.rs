//! The conformance suite: the behaviours every dialer promises, written once
//! (`cases.rs`, generic over [`rig::Rig`]) and run for each dialer against a real local
//! origin on 127.0.x.y: `H1Dialer`, `H2Dialer` and `HttpsDialer` (pool-dial-rustls),
//! `QuicDialer` (pool-dial-quic) and `BoringDialer` (pool-dial-boring). Where a transport
//! genuinely differs (HTTP/1.1's capacity of 1, a stalled HTTP/1.1 connection closed, QUIC
//! losing a connection without a proxy), `rig.rs` says so in one place.
//!
//! | behaviour | case |
//! |---|---|
//! | warm every IP, capacity, reuse | `warm_then_reuse` |
//! | drain on GOAWAY / close, re-warmed | `drains_on_goaway_and_close` |
//! | validation: 500 rejects, 403 bans the IP | `validation_bans_on_403` |
//! | a stall ends as `Timeout` by its deadline | `a_stall_times_out_typed` |
//! | bounded streaming, `BodyTooLarge` | `bounded_streaming` |
//! | retry where safe, `ConnectionLost` otherwise | `retried_only_where_safe` |
//! | a wrong or untrusted certificate is `Handshake`, the IP blacklisted | `a_wrong_certificate_is_a_handshake_failure` |
//! | after GOAWAY, `NotSent` (multiplexed only) | `goaway_refuses_what_follows` |

mod cases;
#[path = "../common/mod.rs"]
mod common;
mod rig;

/// One `#[tokio::test]` per case for a rig, each on its own `127.0.net.0/24`
/// (`net` = the rig's base + the case's index). Every rig runs every case; a multiplexed
/// one (`goaway`) also `goaway_refuses_what_follows` (HTTP/1.1 has no GOAWAY).
macro_rules! conformance {
    (@cases $rig:ty, $base:literal, [$($case:ident = $index:literal),+ $(,)?]) => {
        $(
            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn $case() {
                crate::cases::$case::<$rig>($base + $index).await;
            }
        )+
    };
    (@every $rig:ty, $base:literal) => {
        conformance!(@cases $rig, $base, [
            warm_then_reuse = 0,
            drains_on_goaway_and_close = 1,
            validation_bans_on_403 = 2,
            a_stall_times_out_typed = 3,
            bounded_streaming = 4,
            retried_only_where_safe = 5,
            a_wrong_certificate_is_a_handshake_failure = 7,
        ]);
    };
    ($module:ident, $rig:ty, $base:literal) => {
        mod $module {
            conformance!(@every $rig, $base);
        }
    };
    ($module:ident, $rig:ty, $base:literal, goaway) => {
        mod $module {
            conformance!(@every $rig, $base);
            conformance!(@cases $rig, $base, [goaway_refuses_what_follows = 6]);
        }
    };
}

conformance!(h1, crate::rig::H1, 100);
conformance!(h2, crate::rig::H2, 110, goaway);
conformance!(https, crate::rig::Https, 120, goaway);
conformance!(quic, crate::rig::Quic, 130, goaway);
conformance!(boring, crate::rig::Boring, 140, goaway);
