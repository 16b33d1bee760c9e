//! The soak over QUIC: HTTP/3 ([`QuicDialer`]) against an [`H3Origin`] listening on five
//! of the host's six addresses (the sixth is dead: nobody listens there). No TCP proxy
//! can touch QUIC, so the faults come from the origin: GOAWAY on every connection,
//! CONNECTION_CLOSE on every connection, a slow origin, a graceful reload, a restart;
//! and from DNS (answers that include the dead address).

use std::net::IpAddr;
use std::sync::Arc;
use std::time::{Duration, Instant};

use pool_dial_quic::{QuicDialer, QuicOptions, Trust};
use pool_testkit::{H3Origin, H3OriginOptions, TestCa};

use crate::dns::Dns;
use crate::load::{self, Baseline, Rig, Rng, run};

const HOST: &str = "www.soak.test";
const ZONE: &str = "soak.test";

/// The QUIC servers of a run.
struct QuicRig {
    origin: H3Origin,
    dns: Dns,
    /// The origin answers without delay again then.
    slow_until: Option<Instant>,
    /// The origin listens again then (a restart: down until then).
    down_until: Option<Instant>,
}

/// Runs the soak over HTTP/3 for `duration`.
pub(crate) async fn soak(duration: Duration) -> Result<(), String> {
    let start = Baseline::now();
    let ca = Arc::new(TestCa::new().map_err(|e| e.to_string())?);
    let ip = |last: u8| IpAddr::from([127, 0, 203, last]);
    let candidates: Vec<IpAddr> = (1..=6).map(ip).collect();
    let origin = H3Origin::start(H3OriginOptions {
        max_concurrent_bidi_streams: Some(16),
        ..H3OriginOptions::new(&candidates[..5], &[HOST], &ca)
    })
    .await
    .map_err(|e| e.to_string())?;
    let dns = Dns::start(ZONE, &[(HOST, candidates)]).await?;
    let rig = QuicRig {
        origin,
        dns,
        slow_until: None,
        down_until: None,
    };
    let quic = QuicOptions {
        trust: Trust {
            webpki_roots: false,
            extra_ca_certs: vec![ca.ca_cert_der().to_vec()],
            ..Trust::default()
        },
        conn_timeout: Duration::from_millis(500),
        test_timeout: Duration::from_millis(500),
        keep_alive_interval: Some(Duration::from_secs(1)),
        max_idle_timeout: Duration::from_secs(5),
        ..QuicOptions::default()
    };
    let options = load::pool_options();
    let dialer = QuicDialer::new(quic).map_err(|e| e.to_string())?;
    run(dialer, options, rig, start, duration).await
}

impl Rig for QuicRig {
    fn hosts(&self) -> Vec<(&'static str, u16)> {
        vec![(HOST, self.origin.port())]
    }

    fn dns(&mut self) -> &mut Dns {
        &mut self.dns
    }

    async fn inject(&mut self, rng: &mut Rng, later: Instant) -> &'static str {
        match rng.below(11) {
            0 | 1 => {
                self.origin.goaway_all();
                "goaway_all"
            }
            2 => {
                self.origin.close_all();
                "close_all"
            }
            3 if self.slow_until.is_none() => {
                self.origin.set_delay(Some(Duration::from_millis(100)));
                self.slow_until = Some(later);
                "slow_origin"
            }
            // A graceful reload: GOAWAY with the last stream id it will answer, in-flight
            // streams finished, then closed — on every connection at once.
            4 => {
                self.origin.reload();
                "reload"
            }
            // A restart: not listening (connections closed) until later.
            5 if self.down_until.is_none() => {
                self.origin.stop_listening().await;
                self.down_until = Some(later);
                "restart"
            }
            _ => "none",
        }
    }

    async fn restore(&mut self, now: Instant, all: bool) {
        if self.slow_until.is_some_and(|at| all || at <= now) {
            self.origin.set_delay(None);
            self.slow_until = None;
        }
        if self.down_until.is_some_and(|at| all || at <= now) {
            if let Err(e) = self.origin.resume_listening().await {
                eprintln!("soak: the origin could not listen again: {e}");
            }
            self.down_until = None;
        }
        self.dns.restore(now, all).await;
    }

    fn drained(&self) -> bool {
        self.origin.stats().open_connections == 0
    }

    fn report(&self) -> Vec<String> {
        let s = self.origin.stats();
        vec![format!(
            "{HOST}: origin (h3 on 5 of 6 addresses) handshakes {} ({} failed), requests {}, open {}",
            s.handshakes, s.handshake_failures, s.requests, s.open_connections
        )]
    }

    async fn shutdown(&self) {
        self.origin.shutdown().await;
        self.dns.server.shutdown().await;
    }
}
