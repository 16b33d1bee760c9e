//! libFuzzer target: arbitrary config text (see `hotpool_fuzz::config_text`).
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| hotpool_fuzz::config_text(data));
