//! Tests of loading, defaults, durations and validation messages (files, environment
//! overrides and the reader's one pass: `reading.rs`).

use std::net::{IpAddr, SocketAddr};
use std::time::Duration;

use pool_config::{
    Config, DnsProtocol, ErrorKind, IpPreference, IpRange, KNOWN_TLS_PROFILES, ProbeKind,
    ProfileRotation, Transport,
};

mod common;
use common::*;

#[test]
fn every_default() {
    let c = Config::default();
    let p = &c.pool;
    assert_eq!(p.max_connections, 100);
    assert_eq!(p.max_conns_per_host, 10);
    assert_eq!(p.max_idle_conns, 20);
    // Absent: resolved per transport (1 for h2/h3, 6 for h1/auto/tls).
    assert_eq!(p.max_conns_per_ip, None);
    assert_eq!(p.conns_per_ip(pool_config::Transport::H2), 1);
    assert_eq!(p.conns_per_ip(pool_config::Transport::H1), 6);
    assert_eq!(p.conn_timeout, secs(30));
    assert_eq!(p.idle_timeout, secs(60));
    assert_eq!(p.max_lifetime, secs(300));
    assert_eq!(p.test_timeout, secs(15));
    assert_eq!(p.health_check_interval, secs(30));
    assert_eq!(p.cleanup_interval, secs(60));
    assert_eq!(p.blacklist_check_interval, secs(300));
    assert_eq!(p.dns_update_interval, secs(1800));
    assert_eq!(p.max_retries, 3);
    assert_eq!(p.max_errors, 10);
    assert_eq!(p.checkout_timeout, secs(10));
    assert_eq!(p.blacklist_timeout, secs(3600));
    assert!(p.keep_warm);
    assert_eq!(p.warm_concurrency, 64);
    assert_eq!(p.banned_status, 403);
    assert!(c.whitelist.ips.is_empty());
    assert!(c.blacklist.ips.is_empty());
    assert!(c.hosts.is_empty());
    assert!(c.dns.name_servers.is_empty());
    assert_eq!(c.dns.protocol, DnsProtocol::Udp);
    assert_eq!(c.dns.prefer, IpPreference::Both);
    assert_eq!(c.dns.min_ttl, secs(5));
    assert_eq!(c.dns.timeout, secs(5));
    assert!(c.tls.ca_files.is_empty());
    assert!(c.tls.use_webpki_roots);
    assert!(!c.tls.insecure_skip_verify);
    assert_eq!(c.tls.profiles, ["default"]);
    assert_eq!(c.tls.profile_rotation, ProfileRotation::RoundRobin);
    assert!(c.tls.accept_languages.is_empty());
    assert_eq!(c.health.probe, ProbeKind::Ping);
    assert_eq!(c.health.path, "/");
    assert_eq!(c.health.method, "GET");
    assert_eq!(c.health.concurrency, 32);
    assert!(!c.validation.enabled);
    assert_eq!(c.validation.method, "GET");
    assert_eq!(c.validation.path, "/");
    assert_eq!(c.validation.body, None);
    assert!(c.source_addrs.addrs.is_empty());
    assert_eq!(c.source_addrs.ipv6_prefix, None);
    assert!(!c.metrics.enabled);
    assert_eq!(
        c.metrics.listen,
        "127.0.0.1:9898".parse::<SocketAddr>().unwrap()
    );

    // An empty file is the default, and so is a file with only empty sections.
    assert_eq!(load(""), Config::default());
    assert_eq!(
        load("[pool]\n[dns]\n[tls]\n[health]\n[validation]\n[source_addrs]\n[metrics]\n"),
        Config::default()
    );
    let mut d = Config::default();
    assert!(d.validate().is_ok());
    assert!(d.warnings().is_empty());
}

#[test]
fn host_defaults() {
    let c = load("[[hosts]]\nname = \"example.com\"\n");
    let h = &c.hosts[0];
    assert_eq!(h.name, "example.com");
    assert_eq!(h.port, 443);
    assert_eq!(h.transport, Transport::H2);
    assert_eq!(h.addrs, None);
    assert_eq!(h.alpn, None);
}

#[test]
fn seed_file_loads_unchanged() {
    let c = load(SEED);
    assert_eq!(c, Config::default());
    assert!(c.warnings().is_empty());
}

#[test]
fn default_toml_round_trips() {
    let text = Config::default_toml();
    let c = load(text);
    assert_eq!(c, Config::default());
    assert!(c.warnings().is_empty());
    // Every known key is written out (commented-out keys are the optional ones).
    for key in [
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
        "max_errors",
        "checkout_timeout",
        "blacklist_timeout",
        "keep_warm",
        "warm_concurrency",
        "banned_status",
        "ips",
        "name_servers",
        "protocol",
        "prefer",
        "min_ttl",
        "timeout",
        "ca_files",
        "use_webpki_roots",
        "insecure_skip_verify",
        "profiles",
        "profile_rotation",
        "accept_languages",
        "probe",
        "path",
        "method",
        "concurrency",
        "enabled",
        "body",
        "addrs",
        "ipv6_prefix",
        "listen",
        "name",
        "port",
        "transport",
        "alpn",
    ] {
        assert!(
            text.contains(&format!("{key} =")),
            "{key} missing from default_toml"
        );
    }
    // Un-commenting the optional examples still loads.
    let uncommented = text
        .lines()
        .map(|l| {
            let t = l.trim_start();
            let is_example = [
                "# [[hosts]]",
                "# name",
                "# port",
                "# transport",
                "# addrs",
                "# alpn",
                "# body",
                "# ipv6_prefix",
            ]
            .iter()
            .any(|p| t.starts_with(p));
            if is_example {
                t.trim_start_matches("# ").to_owned()
            } else {
                l.to_owned()
            }
        })
        .collect::<Vec<_>>()
        .join("\n");
    // [[hosts]] must come after the plain sections' keys in TOML; move it to the end.
    let (before, hosts) = split_hosts(&uncommented);
    let c = load(&format!("{before}\n{hosts}"));
    assert_eq!(c.hosts.len(), 1);
    assert_eq!(
        c.hosts[0].addrs.as_deref(),
        Some(&["192.0.2.10".parse::<IpAddr>().unwrap()][..])
    );
    assert_eq!(c.validation.body.as_deref(), Some(""));
    assert_eq!(
        c.source_addrs.ipv6_prefix,
        Some("2001:db8::/64".parse().unwrap())
    );
}

fn split_hosts(text: &str) -> (String, String) {
    let mut before = Vec::new();
    let mut hosts = Vec::new();
    let mut in_hosts = false;
    for l in text.lines() {
        if l.starts_with("[[hosts]]") {
            in_hosts = true;
        } else if l.starts_with('[') || l.starts_with('#') {
            in_hosts = false;
        }
        if in_hosts {
            hosts.push(l)
        } else {
            before.push(l)
        }
    }
    (before.join("\n"), hosts.join("\n"))
}

#[test]
fn effective_config_serializes_and_loads_back() {
    let text = r#"
[pool]
conn_timeout = "1m30s"
idle_timeout = "250ms"
[whitelist]
ips = ["10.0.0.0/8", "192.168.1.7", "2001:db8::/32"]
[[hosts]]
name = "a.example"
transport = "quic"
addrs = ["127.0.0.2", "::1"]
alpn = ["h3"]
[tls]
profiles = ["chrome-like", "firefox-like"]
profile_rotation = "random"
[dns]
name_servers = ["127.0.0.1:5353", "[::1]:53"]
[source_addrs]
ipv6_prefix = "2001:db8:1::/48"
[validation]
body = "ping"
"#;
    let c = load(text);
    let out = c.to_toml_string().unwrap();
    let back = load(&out);
    assert_eq!(back, c, "{out}");
}

// ---------------------------------------------------------------------------------------
// Durations

const DURATION_KEYS: &[(&str, &str)] = &[
    ("pool", "conn_timeout"),
    ("pool", "idle_timeout"),
    ("pool", "max_lifetime"),
    ("pool", "test_timeout"),
    ("pool", "health_check_interval"),
    ("pool", "cleanup_interval"),
    ("pool", "blacklist_check_interval"),
    ("pool", "dns_update_interval"),
    ("pool", "checkout_timeout"),
    ("pool", "blacklist_timeout"),
    ("dns", "min_ttl"),
    ("dns", "timeout"),
    ("dns", "stale_after"),
];

fn duration_of(c: &Config, key: &str) -> Duration {
    match key {
        "conn_timeout" => c.pool.conn_timeout,
        "idle_timeout" => c.pool.idle_timeout,
        "max_lifetime" => c.pool.max_lifetime,
        "test_timeout" => c.pool.test_timeout,
        "health_check_interval" => c.pool.health_check_interval,
        "cleanup_interval" => c.pool.cleanup_interval,
        "blacklist_check_interval" => c.pool.blacklist_check_interval,
        "dns_update_interval" => c.pool.dns_update_interval,
        "checkout_timeout" => c.pool.checkout_timeout,
        "blacklist_timeout" => c.pool.blacklist_timeout,
        "min_ttl" => c.dns.min_ttl,
        "timeout" => c.dns.timeout,
        "stale_after" => c.dns.stale_after,
        _ => unreachable!("{key}"),
    }
}

#[test]
fn every_duration_accepts_integer_and_humantime() {
    for (section, key) in DURATION_KEYS {
        // Large enough for every ordering rule (idle_timeout <= max_lifetime is only a
        // warning anyway).
        for (written, expected) in [
            ("7", secs(7)),
            ("\"7s\"", secs(7)),
            ("\"1m30s\"", secs(90)),
            ("\"250ms\"", Duration::from_millis(250)),
            ("\"2h\"", secs(7200)),
            ("\"45\"", secs(45)),
            ("1.5", Duration::from_millis(1500)),
        ] {
            let text = format!("[{section}]\n{key} = {written}\n");
            let c = load(&text);
            assert_eq!(
                duration_of(&c, key),
                expected,
                "{section}.{key} = {written}"
            );
        }
    }
}

#[test]
fn bad_durations() {
    for (section, key) in DURATION_KEYS {
        let e = err(&format!("[{section}]\n{key} = \"soon\"\n"));
        assert_at(&e, 2, &format!("{section}.{key}"));
        assert!(e.to_string().contains("invalid duration \"soon\""), "{e}");
        assert_eq!(e.kind(), ErrorKind::Value);

        let e = err(&format!("[{section}]\n{key} = -1\n"));
        assert_at(&e, 2, &format!("{section}.{key}"));
        assert!(e.to_string().contains("must not be negative"), "{e}");

        let e = err(&format!("[{section}]\n{key} = true\n"));
        assert_at(&e, 2, &format!("{section}.{key}"));
        assert_eq!(e.kind(), ErrorKind::Type);

        // Zero: only dns.min_ttl may be zero.
        let zero = Config::from_str_named(&format!("[{section}]\n{key} = 0\n"), NAME);
        if *key == "min_ttl" {
            assert_eq!(zero.unwrap().dns.min_ttl, Duration::ZERO);
        } else {
            let e = zero.unwrap_err();
            assert_at(&e, 2, &format!("{section}.{key}"));
            assert!(e.to_string().ends_with("must not be zero"), "{e}");
        }
    }
}

// ---------------------------------------------------------------------------------------
// Validation messages

#[test]
fn the_example_message() {
    let text = "[pool]\nmax_connections = 100\nmax_idle_conns = 200\n";
    let e = err(text);
    assert_eq!(
        e.to_string(),
        "hotpool.toml:3:18: pool.max_idle_conns: must not exceed pool.max_connections (100), got 200"
    );
    assert_eq!(e.column(), Some(18));
    assert_eq!(e.kind(), ErrorKind::Inconsistent);
    assert_eq!(
        e.reason(),
        "must not exceed pool.max_connections (100), got 200"
    );
}

#[test]
fn inconsistent_limits_point_at_the_written_key() {
    // Only max_connections is written: the error is on its line.
    let e = err("[pool]\nmax_connections = 5\n");
    assert_at(&e, 2, "pool.max_connections");
    assert!(
        e.to_string()
            .contains("must be at least pool.max_idle_conns (20, the default), got 5"),
        "{e}"
    );
    let all = Config::check_str_named("[pool]\nmax_connections = 5\n", NAME).unwrap_err();
    assert_eq!(all.len(), 2);
    assert!(
        all[1]
            .to_string()
            .contains("must be at least pool.max_conns_per_host (10, the default), got 5")
    );

    let e = err("[pool]\nmax_conns_per_host = 101\n");
    assert_at(&e, 2, "pool.max_conns_per_host");
    assert!(
        e.to_string()
            .contains("must not exceed pool.max_connections (100, the default)"),
        "{e}"
    );

    let e = err("[pool]\nmax_conns_per_ip = 11\n");
    assert_at(&e, 2, "pool.max_conns_per_ip");
    assert!(e.to_string().contains("pool.max_conns_per_host"), "{e}");

    // All consistent at the edges.
    load(
        "[pool]\nmax_connections = 10\nmax_idle_conns = 10\nmax_conns_per_host = 10\nmax_conns_per_ip = 10\n",
    );
}

#[test]
fn zero_limits() {
    for key in [
        "max_connections",
        "max_conns_per_host",
        "max_idle_conns",
        "max_conns_per_ip",
        "max_retries",
        "warm_concurrency",
    ] {
        let e = err(&format!("# comment\n[pool]\n{key} = 0\n"));
        assert_at(&e, 3, &format!("pool.{key}"));
        assert!(e.to_string().ends_with("must not be zero"), "{e}");
    }
    let e = err("[dns]\nnxdomain_confirmations = 0\n");
    assert_at(&e, 2, "dns.nxdomain_confirmations");
    assert!(e.to_string().ends_with("must not be zero"), "{e}");
    assert_eq!(
        load("[dns]\nnxdomain_confirmations = 3\n")
            .dns
            .nxdomain_confirmations,
        3
    );
    // max_errors = 0 is meaningful: the first error closes the connection.
    assert_eq!(load("[pool]\nmax_errors = 0\n").pool.max_errors, 0);
    let e = err("[health]\nconcurrency = 0\n");
    assert_at(&e, 2, "health.concurrency");
}

#[test]
fn wrong_types() {
    let e = err("[pool]\nmax_connections = \"100\"\n");
    assert_at(&e, 2, "pool.max_connections");
    assert_eq!(e.kind(), ErrorKind::Type);
    assert!(
        e.to_string()
            .contains("expected an integer, got string \"100\""),
        "{e}"
    );

    let e = err("[pool]\nkeep_warm = \"yes\"\n");
    assert_at(&e, 2, "pool.keep_warm");
    assert!(e.to_string().contains("expected a boolean"), "{e}");

    let e = err("[whitelist]\nips = \"10.0.0.1\"\n");
    assert_at(&e, 2, "whitelist.ips");
    assert!(e.to_string().contains("expected an array"), "{e}");

    let e = err("[whitelist]\nips = [\"10.0.0.1\", 7]\n");
    assert_at(&e, 2, "whitelist.ips[1]");
    assert_eq!(e.column(), Some(20));

    let e = err("pool = 3\n");
    assert_at(&e, 1, "pool");
    assert!(e.to_string().contains("expected a table [pool]"), "{e}");

    let e = err("[pool]\nmax_connections = -4\n");
    assert_at(&e, 2, "pool.max_connections");
    assert!(
        e.to_string().contains("must not be negative, got -4"),
        "{e}"
    );

    let e = err("[pool]\nbanned_status = 70000\n");
    assert_at(&e, 2, "pool.banned_status");
    assert!(e.to_string().contains("too large"), "{e}");

    let e = err("[pool]\nbanned_status = 42\n");
    assert_at(&e, 2, "pool.banned_status");
    assert!(e.to_string().contains("100-599"), "{e}");
}

#[test]
fn unknown_keys_suggest() {
    let e = err("[pool]\nmax_conections = 5\n");
    assert_at(&e, 2, "pool.max_conections");
    assert_eq!(e.kind(), ErrorKind::UnknownKey);
    assert_eq!(e.column(), Some(1));
    assert!(
        e.to_string().contains("did you mean `max_connections`?"),
        "{e}"
    );

    let e = err("[poool]\nmax_connections = 5\n");
    assert_at(&e, 1, "poool");
    assert!(e.to_string().contains("did you mean [pool]?"), "{e}");

    let e = err("max_connections = 5\n");
    assert_at(&e, 1, "max_connections");
    assert!(e.to_string().contains("under [pool]"), "{e}");

    let e = err("[dns]\nmax_retries = 5\n");
    assert_at(&e, 2, "dns.max_retries");
    assert!(e.to_string().contains("belongs in [pool]"), "{e}");

    let e = err("[validation]\nbanned_status = 451\n");
    assert_at(&e, 2, "validation.banned_status");
    assert!(e.to_string().contains("in [pool]"), "{e}");

    let e = err("[[hosts]]\nname = \"a\"\nprot = 80\n");
    assert_at(&e, 3, "hosts[0].prot");
    assert!(e.to_string().contains("did you mean `port`?"), "{e}");

    let e = err("[metrics]\nzzzzzzzzzz = 1\n");
    assert!(e.to_string().contains("known keys: enabled, listen"), "{e}");
}

#[test]
fn syntax_errors_have_a_line() {
    let e = err("[pool]\nmax_connections = = 5\n");
    assert_eq!(e.kind(), ErrorKind::Syntax);
    assert_eq!(e.line(), Some(2));
    assert_eq!(e.key(), None);
    let msg = e.to_string();
    assert!(msg.starts_with("hotpool.toml:2:"), "{msg}");
    assert!(!msg.contains('\n'), "{msg}");

    let e = err("[pool]\nmax_connections = 5\nmax_connections = 6\n");
    assert_eq!(e.kind(), ErrorKind::Syntax);
    assert_eq!(e.line(), Some(3), "{e}");
    assert!(e.to_string().contains("max_connections"), "{e}");
}

#[test]
fn addresses() {
    let c = load(
        "[whitelist]\nips = [\"10.1.2.3/8\", \"192.168.0.1\", \"2001:db8::1/32\"]\n\
         [blacklist]\nips = [\"::1\"]\n",
    );
    let expect: Vec<IpRange> = ["10.0.0.0/8", "192.168.0.1/32", "2001:db8::/32"]
        .iter()
        .map(|s| s.parse().unwrap())
        .collect();
    assert_eq!(c.whitelist.ips, expect);
    assert!(c.whitelist.ips[0].contains("10.200.0.1".parse().unwrap()));
    assert!(!c.whitelist.ips[0].contains("11.0.0.1".parse().unwrap()));
    assert!(!c.whitelist.ips[0].contains("::1".parse().unwrap()));
    assert_eq!(c.blacklist.ips[0].prefix_len(), 128);

    let e = err("[whitelist]\nips = [\"10.0.0.0/8\",\n  \"10.0.0.300\"]\n");
    assert_at(&e, 3, "whitelist.ips[1]");
    assert_eq!(e.column(), Some(3));
    assert!(
        e.to_string().contains("not an IP address or CIDR range"),
        "{e}"
    );

    let e = err("[blacklist]\nips = [\"10.0.0.0/33\"]\n");
    assert_at(&e, 2, "blacklist.ips[0]");
    assert!(e.to_string().contains("prefix length"), "{e}");

    let c = load("[dns]\nname_servers = [\"127.0.0.1:5353\", \"1.1.1.1\", \"[::1]:53\"]\n");
    assert_eq!(
        c.dns.name_servers[1],
        "1.1.1.1:53".parse::<SocketAddr>().unwrap()
    );
    let e = err("[dns]\nname_servers = [\"localhost:53\"]\n");
    assert_at(&e, 2, "dns.name_servers[0]");
    assert!(e.to_string().contains("not a socket address"), "{e}");
    let e = err("[dns]\nname_servers = [\"1.1.1.1:0\"]\n");
    assert_at(&e, 2, "dns.name_servers[0]");

    let e = err("[metrics]\nlisten = \"127.0.0.1\"\n");
    assert_at(&e, 2, "metrics.listen");
    let e = err("[source_addrs]\naddrs = [\"10.0.0.1\", \"nope\"]\n");
    assert_at(&e, 2, "source_addrs.addrs[1]");
    let e = err("[source_addrs]\nipv6_prefix = \"10.0.0.0/8\"\n");
    assert_at(&e, 2, "source_addrs.ipv6_prefix");
    assert!(e.to_string().contains("must be an IPv6 prefix"), "{e}");
}

#[test]
fn metrics_listen_anywhere_is_allowed_with_a_warning() {
    let c = load("[metrics]\nenabled = true\nlisten = \"0.0.0.0:9898\"\n");
    assert_eq!(c.metrics.listen.port(), 9898);
    assert_eq!(c.warnings().len(), 1);
    assert_eq!(c.warnings()[0].key(), Some("metrics.listen"));
    assert_eq!(c.warnings()[0].line(), Some(3));
}

#[test]
fn warnings_not_errors() {
    let c = load("[pool]\nidle_timeout = 600\n");
    let w = c.warnings();
    assert_eq!(w.len(), 1, "{w:?}");
    assert_eq!(w[0].key(), Some("pool.idle_timeout"));
    assert_eq!(w[0].line(), Some(2));
    assert!(
        w[0].to_string()
            .contains("must not exceed pool.max_lifetime (5m, the default), got 10m"),
        "{}",
        w[0]
    );

    let c = load("[pool]\nblacklist_check_interval = \"2h\"\n");
    assert_eq!(c.warnings()[0].key(), Some("pool.blacklist_check_interval"));

    let c = load("[tls]\ninsecure_skip_verify = true\n");
    assert_eq!(c.warnings()[0].key(), Some("tls.insecure_skip_verify"));
}

#[test]
fn hosts() {
    let text = r#"
[[hosts]]
name = "a.example"
port = 8443
transport = "tls"
addrs = ["127.0.0.2", "::1"]
alpn = ["http/1.1"]

[[hosts]]
name = "b.example"
transport = "quic"
"#;
    let c = load(text);
    assert_eq!(c.hosts.len(), 2);
    assert_eq!(c.hosts[0].port, 8443);
    assert_eq!(c.hosts[0].transport, Transport::Tls);
    assert_eq!(c.hosts[0].addrs.as_ref().unwrap().len(), 2);
    assert_eq!(
        c.hosts[0].alpn.as_deref(),
        Some(&["http/1.1".to_owned()][..])
    );
    assert_eq!(c.hosts[1].transport, Transport::H3);

    let e = err("[[hosts]]\nname = \"a\"\n[[hosts]]\nname = \"A\"\n");
    assert_at(&e, 4, "hosts[1].name");
    assert_eq!(e.kind(), ErrorKind::Duplicate);
    assert!(
        e.to_string()
            .contains("duplicate host name \"A\" (first at line 2)"),
        "{e}"
    );

    let e = err("[[hosts]]\nport = 443\n");
    assert_eq!(e.kind(), ErrorKind::Missing);
    assert_eq!(e.key(), Some("hosts[0].name"));
    assert!(e.line().is_some(), "{e}");

    let e = err("[[hosts]]\nname = \"a\"\ntransport = \"http3\"\n");
    assert_at(&e, 3, "hosts[0].transport");
    assert!(
        e.to_string().contains(
            "expected one of \"tls\", \"h1\", \"h2\", \"auto\", \"h3\", \"h2c\", got \"http3\""
        ),
        "{e}"
    );

    let e = err("[[hosts]]\nname = \"https://a.example/\"\n");
    assert_at(&e, 2, "hosts[0].name");
    let e = err("[[hosts]]\nname = \"a.example:443\"\n");
    assert_at(&e, 2, "hosts[0].name");
    assert!(e.to_string().contains("use `port`"), "{e}");
    let e = err("[[hosts]]\nname = \"a\"\nport = 0\n");
    assert_at(&e, 3, "hosts[0].port");
    let e = err("[[hosts]]\nname = \"a\"\nport = 65536\n");
    assert_at(&e, 3, "hosts[0].port");
    let e = err("[[hosts]]\nname = \"a\"\naddrs = []\n");
    assert_at(&e, 3, "hosts[0].addrs");
    let e = err("[[hosts]]\nname = \"a\"\naddrs = [\"a.b.c.d\"]\n");
    assert_at(&e, 3, "hosts[0].addrs[0]");
    let e = err("[[hosts]]\nname = \"a\"\nalpn = [\"http/1.1\"]\n");
    assert_at(&e, 3, "hosts[0].alpn");
    assert!(e.to_string().contains("needs \"h2\""), "{e}");
    let e = err("hosts = 1\n");
    assert_at(&e, 1, "hosts");
}

#[test]
fn tls_and_http_values() {
    let c = load(
        "[tls]\nprofiles = [\"chrome-like\", \"tls13-only\"]\naccept_languages = [\"en-US,en;q=0.9\", \"de\"]\n",
    );
    assert_eq!(c.tls.profiles, ["chrome-like", "tls13-only"]);
    for p in KNOWN_TLS_PROFILES {
        load(&format!("[tls]\nprofiles = [{p:?}]\n"));
    }
    let e = err("[tls]\nprofiles = [\"default\",\n  \"chrome\"]\n");
    assert_at(&e, 3, "tls.profiles[1]");
    assert!(
        e.to_string().contains("did you mean \"chrome-like\"?"),
        "{e}"
    );
    let e = err("[tls]\nprofiles = []\n");
    assert_at(&e, 2, "tls.profiles");
    let e = err("[tls]\nprofile_rotation = \"shuffle\"\n");
    assert_at(&e, 2, "tls.profile_rotation");
    let e = err("[tls]\nuse_webpki_roots = false\n");
    assert_at(&e, 2, "tls.use_webpki_roots");
    load("[tls]\nuse_webpki_roots = false\nca_files = [\"ca.pem\"]\n");
    let e = err("[tls]\naccept_languages = [\"\"]\n");
    assert_at(&e, 2, "tls.accept_languages[0]");

    let e = err("[health]\npath = \"health\"\n");
    assert_at(&e, 2, "health.path");
    let e = err("[validation]\nmethod = \"GE T\"\n");
    assert_at(&e, 2, "validation.method");
    let e = err("[health]\nprobe = \"tcp\"\n");
    assert_at(&e, 2, "health.probe");
    let c = load(
        "[validation]\nenabled = true\nmethod = \"POST\"\npath = \"/check\"\nbody = \"{}\"\n[health]\nprobe = \"http\"\n",
    );
    assert!(c.validation.enabled);
    assert_eq!(c.validation.body.as_deref(), Some("{}"));
    assert_eq!(c.health.probe, ProbeKind::Http);
}

#[test]
fn check_reports_every_problem_in_order() {
    let text = "[pool]\nmax_connections = \"x\"\nkeep_warm = 1\n[dns]\nprotocol = \"icmp\"\n";
    let errors = Config::check_str_named(text, NAME).unwrap_err();
    let lines: Vec<_> = errors.iter().map(|e| e.line().unwrap()).collect();
    assert_eq!(lines, [2, 3, 5]);
}
