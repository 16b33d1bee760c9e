//! # hotpool: hot connection pools, one dependency
//!
//! The crate a user adds. It builds the pool crates' options from a configuration
//! ([`ConfigOptions`], the keys of `hotpool.toml` read by [`pool_config`]).
#![forbid(unsafe_code)]
#![warn(missing_docs)]

mod options;
#[cfg(feature = "boring")]
mod options_boring;

pub use options::ConfigOptions;
pub use pool_config::{Config, ConfigError};
