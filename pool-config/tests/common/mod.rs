//! What the config test files share: the file name errors name, the original system's
//! file, and loading helpers.
#![allow(dead_code, reason = "each test file uses a part")]

use std::time::Duration;

use pool_config::{Config, ConfigError};

pub const NAME: &str = "hotpool.toml";

/// The original system's file, byte for byte.
pub const SEED: &str = r#"[pool]
max_connections = 100
max_conns_per_host = 10
max_idle_conns = 20
conn_timeout = 30            # seconds; "30s" / "1m30s" also accepted
idle_timeout = 60
max_lifetime = 300
test_timeout = 15
health_check_interval = 30
cleanup_interval = 60
blacklist_check_interval = 300
dns_update_interval = 1800
max_retries = 3

[whitelist]
ips = []                     # IPs or CIDRs

[blacklist]
ips = []
"#;

pub fn load(text: &str) -> Config {
    match Config::from_str_named(text, NAME) {
        Ok(c) => c,
        Err(e) => panic!("unexpected error: {e}"),
    }
}

pub fn err(text: &str) -> ConfigError {
    match Config::from_str_named(text, NAME) {
        Ok(c) => panic!("expected an error for {text:?}, got {c:?}"),
        Err(e) => e,
    }
}

/// Asserts the error is at `line`, about `key`, and its one-line message says all of it.
pub fn assert_at(e: &ConfigError, line: usize, key: &str) {
    let msg = e.to_string();
    assert_eq!(e.file(), Some(NAME), "{msg}");
    assert_eq!(e.line(), Some(line), "{msg}");
    assert_eq!(e.key(), Some(key), "{msg}");
    assert!(msg.starts_with(&format!("{NAME}:{line}:")), "{msg}");
    assert!(msg.contains(&format!(": {key}: ")), "{msg}");
    assert!(!msg.contains('\n'), "{msg}");
}

pub fn secs(n: u64) -> Duration {
    Duration::from_secs(n)
}
