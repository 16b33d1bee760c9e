//! libFuzzer target: config text plus `HOTPOOL_*` overrides (see `hotpool_fuzz::config_env`).
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| hotpool_fuzz::config_env(data));
