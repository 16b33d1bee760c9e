//! A bounded random-input loop over the same properties as the libFuzzer targets, for
//! machines without a nightly toolchain or cargo-fuzz: not coverage-guided, but it mutates
//! the seed configs with TOML and config-key tokens, so most inputs reach the validator.
//!
//! `stable_loop [--secs N] [--seed S] [--target config_text|config_env]`

use std::time::{Duration, Instant};

const TOKENS: &[&str] = &[
    "[pool]",
    "[whitelist]",
    "[blacklist]",
    "[dns]",
    "[tls]",
    "[health]",
    "[metrics]",
    "[[hosts]]",
    "max_connections",
    "max_conns_per_host",
    "max_idle_conns",
    "max_conns_per_ip",
    "conn_timeout",
    "idle_timeout",
    "max_lifetime",
    "test_timeout",
    "health_check_interval",
    "cleanup_interval",
    "blacklist_check_interval",
    "dns_update_interval",
    "max_retries",
    "ips",
    "name",
    "port",
    "transport",
    " = ",
    "=",
    "\n",
    "\"",
    "'",
    "[",
    "]",
    "{",
    "}",
    ",",
    ".",
    "0",
    "1",
    "-1",
    "18446744073709551616",
    "1.5",
    "1s",
    "1m30s",
    "\"30s\"",
    "\"1h\"",
    "\"\"",
    "true",
    "nan",
    "inf",
    "\"10.0.0.0/8\"",
    "\"::1/129\"",
    "\"256.1.1.1\"",
    "1979-05-27T07:32:00Z",
    "#",
    "\\u0000",
    "\u{feff}",
    "\r\n",
    "\t",
];

struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }

    fn below(&mut self, n: usize) -> usize {
        (self.next() % n.max(1) as u64) as usize
    }
}

fn mutate(rng: &mut Rng, seeds: &[&[u8]]) -> Vec<u8> {
    let mut data = match rng.below(8) {
        0 => (0..rng.below(256)).map(|_| rng.next() as u8).collect(),
        _ => seeds[rng.below(seeds.len())].to_vec(),
    };
    for _ in 0..1 + rng.below(8) {
        let at = rng.below(data.len() + 1);
        match rng.below(5) {
            0 => {
                let token = TOKENS[rng.below(TOKENS.len())].as_bytes();
                data.splice(at..at, token.iter().copied());
            }
            1 if at < data.len() => {
                let end = (at + 1 + rng.below(16)).min(data.len());
                data.drain(at..end);
            }
            2 if at < data.len() => data[at] = rng.next() as u8,
            3 => {
                // Replace a value after an `=` with a token.
                if let Some(eq) = data[at..].iter().position(|b| *b == b'=') {
                    let start = at + eq + 1;
                    let end = data[start..]
                        .iter()
                        .position(|b| *b == b'\n')
                        .map_or(data.len(), |n| start + n);
                    let token = TOKENS[rng.below(TOKENS.len())].as_bytes();
                    data.splice(start..end, token.iter().copied());
                }
            }
            _ => {
                let line = b"\n"
                    .iter()
                    .chain(TOKENS[rng.below(TOKENS.len())].as_bytes());
                data.splice(at..at, line.copied());
            }
        }
    }
    data
}

fn main() {
    let mut secs = 10u64;
    let mut seed = 0x0123_4567_89ab_cdefu64;
    let mut target = "config_text".to_owned();
    let mut args = std::env::args().skip(1);
    while let Some(arg) = args.next() {
        let value = args.next().unwrap_or_default();
        match arg.as_str() {
            "--secs" => secs = value.parse().expect("--secs N"),
            "--seed" => seed = value.parse().expect("--seed S"),
            "--target" => target = value,
            other => panic!("unknown argument {other}"),
        }
    }
    let check: fn(&[u8]) = match target.as_str() {
        "config_text" => hotpool_fuzz::config_text,
        "config_env" => hotpool_fuzz::config_env,
        other => panic!("unknown target {other}"),
    };
    let seeds: [&[u8]; 3] = [
        include_bytes!("../../seeds/config_text/default.toml"),
        include_bytes!("../../seeds/config_text/small.toml"),
        b"[pool]\nmax_connections = 5\0POOL__MAX_IDLE_CONNS=9\nPOOL__IDLE_TIMEOUT=1s\n",
    ];
    let mut rng = Rng(seed | 1);
    let started = Instant::now();
    let mut runs = 0u64;
    while started.elapsed() < Duration::from_secs(secs) {
        let data = mutate(&mut rng, &seeds);
        let result = std::panic::catch_unwind(|| check(&data));
        if result.is_err() {
            let path = format!("stable-crash-{target}-{seed}-{runs}");
            let _ = std::fs::write(&path, &data);
            eprintln!("{target}: property failed after {runs} inputs; input saved to {path}");
            std::process::exit(1);
        }
        runs += 1;
    }
    println!("{target}: {runs} inputs in {secs} s (seed {seed}), no property failed");
}
