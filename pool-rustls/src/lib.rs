//! # pool-rustls: the rustls plumbing of hotpool's dialers
//!
//! Everything rustls that the TLS dialers (`pool-dial-rustls`) and the QUIC dialer (`pool-dial-quic`)
//! share, written once:
//!
//! - [`provider`]: the one crypto provider of the workspace, ring (see
//!   `docs/crypto-provider.md`); every config is built with `builder_with_provider`;
//! - [`root_store`]: `pool-dial`'s [`Trust`] (webpki-roots, extra CA files and
//!   certificates) → a [`rustls::RootCertStore`];
//! - the insecure verifier (`danger_accept_invalid_certs`), logged loudly when a config is
//!   built and by the dialers at every dial ([`warn_insecure_dial`]);
//! - the key log ([`Trust::key_log`], off by default): session secrets written to the
//!   file named by `SSLKEYLOGFILE`, for Wireshark;
//! - [`TlsProfile`] (+ [`TlsVersion`], [`Rotation`]) → a [`rustls::ClientConfig`]
//!   ([`client_config`], [`build_profiles`]);
//! - session resumption: every config gets its own [`SessionStore`] (TLS 1.3 tickets
//!   used once, sized for one host of ~1,600 addresses; see `docs/tls-resumption.md`);
//!   its tickets in `pool-dial`'s bounded single-use [`TicketStore`], which the BoringSSL
//!   dialer uses too;
//! - one error type, [`ConfigError`].
//!
//! ## Example
//! ```
//! use pool_rustls::{TlsProfile, TlsVersion, Trust, client_config, root_store};
//!
//! let trust = Trust::default(); // webpki roots, verification on, no key log
//! let roots = std::sync::Arc::new(root_store(&trust)?);
//! let quic_like = TlsProfile { versions: vec![TlsVersion::Tls13], ..TlsProfile::named("quic") };
//! let config = client_config(&trust, &roots, &quic_like, &["h3".to_owned()], None)?;
//! assert_eq!(config.alpn_protocols, [b"h3".to_vec()]);
//! # Ok::<(), pool_rustls::ConfigError>(())
//! ```
#![forbid(unsafe_code)]
#![deny(unused_must_use)]
#![warn(missing_docs)]

mod config;
mod error;
mod profile;
pub mod session;
mod trust;
mod verifier;

pub use config::{BuiltProfile, build_profiles, client_config, provider};
pub use error::{AlpnError, CaFileError, ConfigError, ProfileError};
pub use profile::{TlsProfile, TlsVersion};
pub use session::{SessionStore, TicketStore};
pub use trust::root_store;

/// Re-exported from `pool-dial`, where what both TLS engines share lives: the trust
/// options (plain data; [`root_store`] loads them for rustls), the per-connection
/// rotation, the insecure dial's warning.
pub use pool_dial::{ClientCert, Rotation, Trust, warn_insecure_dial};

/// The rustls version this crate builds configs for.
pub use rustls;
