//! `hotpool-tests` holds the workspace's end-to-end tests (`tests/tests/`), the soak and
//! other examples. This library holds nothing but the README's Rust examples, compiled by
//! `cargo test --doc -p hotpool-tests` so that they cannot rot; they are `no_run`, because
//! they name hosts that this workspace never contacts (the same flows run against local
//! origins in `tests/tests/`).
#![doc = include_str!("../../README.md")]
