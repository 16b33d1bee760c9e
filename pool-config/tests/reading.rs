//! Tests of reading: files (names, relative paths), environment overrides, and the serde
//! reader's one pass over every problem of a file.

use std::net::{IpAddr, SocketAddr};
use std::path::PathBuf;
use std::time::Duration;

use pool_config::{Config, DnsProtocol, ErrorKind, IpRange, Transport};

mod common;
use common::*;

// ---------------------------------------------------------------------------------------
// Files

#[test]
fn from_file_names_the_file_and_resolves_ca_files() {
    let dir = std::env::temp_dir().join(format!("pool-config-test-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let path = dir.join("hotpool.toml");
    std::fs::write(
        &path,
        "[tls]\nca_files = [\"ca.pem\", \"/etc/ssl/x.pem\"]\n",
    )
    .unwrap();
    let c = Config::from_file(&path).unwrap();
    assert_eq!(
        c.tls.ca_files,
        [dir.join("ca.pem"), PathBuf::from("/etc/ssl/x.pem")]
    );

    std::fs::write(
        &path,
        SEED.replace("max_idle_conns = 20", "max_idle_conns = 200"),
    )
    .unwrap();
    let e = Config::from_file(&path).unwrap_err();
    let file = path.display().to_string();
    assert_eq!(e.file(), Some(file.as_str()));
    assert_eq!(
        e.to_string(),
        format!(
            "{file}:4:18: pool.max_idle_conns: must not exceed pool.max_connections (100), got 200"
        )
    );

    std::fs::write(&path, SEED).unwrap();
    let c = Config::from_file_with_vars(&path, [("HOTPOOL_POOL__MAX_RETRIES", "7")]).unwrap();
    assert_eq!(c.pool.max_retries, 7);
    let e = Config::from_file_with_vars(&path, [("HOTPOOL_POOL__MAX_RETRIES", "0")]).unwrap_err();
    assert_eq!(e.env_var(), Some("HOTPOOL_POOL__MAX_RETRIES"));
    // The real process environment normally has no HOTPOOL_*__* variables.
    let ours = std::env::vars_os().any(|(k, _)| {
        k.to_str()
            .is_some_and(|k| k.starts_with("HOTPOOL_") && k.contains("__"))
    });
    if !ours {
        assert_eq!(
            Config::from_file_with_env(&path).unwrap(),
            Config::default()
        );
    }
    std::fs::write(&path, "[tls]\nca_files = [\"a.pem\"]\n").unwrap();
    let c = Config::from_file_with_vars(&path, [("HOTPOOL_TLS__CA_FILES", "b.pem")]).unwrap();
    assert_eq!(c.tls.ca_files, [PathBuf::from("b.pem")]);
    let c = Config::from_file(&path).unwrap();
    assert_eq!(c.tls.ca_files, [dir.join("a.pem")]);

    let e = Config::from_file(dir.join("missing.toml")).unwrap_err();
    assert_eq!(e.kind(), ErrorKind::Io);
    assert!(e.to_string().contains("missing.toml: cannot read"), "{e}");
    std::fs::remove_dir_all(&dir).unwrap();
}

// ---------------------------------------------------------------------------------------
// Environment

#[test]
fn env_overrides() {
    let vars = [
        ("HOTPOOL_POOL__MAX_CONNECTIONS", "200"),
        ("HOTPOOL_POOL__CONN_TIMEOUT", "1m30s"),
        ("HOTPOOL_POOL__IDLE_TIMEOUT", "45"),
        ("HOTPOOL_POOL__KEEP_WARM", "false"),
        ("HOTPOOL_WHITELIST__IPS", "10.0.0.0/8, 192.168.1.1"),
        ("HOTPOOL_BLACKLIST__IPS", "[\"::1\"]"),
        ("HOTPOOL_DNS__PROTOCOL", "tcp"),
        ("HOTPOOL_DNS__NAME_SERVERS", "127.0.0.1:5353"),
        ("HOTPOOL_TLS__PROFILES", "chrome-like,firefox-like"),
        ("HOTPOOL_METRICS__LISTEN", "[::1]:9000"),
        ("HOTPOOL_VALIDATION__BODY", "hello world"),
        ("HOTPOOL_SOURCE_ADDRS__IPV6_PREFIX", "2001:db8::/64"),
        ("hotpool_health__method", "HEAD"), // lowercase prefix: not ours
        ("HOTPOOL_LOG", "debug"),           // no `__`: not config, ignored
        ("PATH", "/usr/bin"),               // not ours
    ];
    let c = Config::from_str_with_vars(SEED, NAME, vars).unwrap();
    assert_eq!(c.pool.max_connections, 200);
    assert_eq!(c.pool.conn_timeout, secs(90));
    assert_eq!(c.pool.idle_timeout, secs(45));
    assert!(!c.pool.keep_warm);
    assert_eq!(c.whitelist.ips.len(), 2);
    assert_eq!(c.blacklist.ips, ["::1".parse::<IpRange>().unwrap()]);
    assert_eq!(c.dns.protocol, DnsProtocol::Tcp);
    assert_eq!(c.dns.name_servers.len(), 1);
    assert_eq!(c.tls.profiles, ["chrome-like", "firefox-like"]);
    assert_eq!(
        c.metrics.listen,
        "[::1]:9000".parse::<SocketAddr>().unwrap()
    );
    assert_eq!(c.validation.body.as_deref(), Some("hello world"));
    assert!(c.source_addrs.ipv6_prefix.is_some());
    // The prefix is case-sensitive: a lowercase `hotpool_` variable is not ours.
    assert_eq!(c.health.method, "GET");

    // apply_env on an existing config.
    let mut c = load(SEED);
    c.apply_env([("HOTPOOL_POOL__MAX_IDLE_CONNS", "50")])
        .unwrap();
    assert_eq!(c.pool.max_idle_conns, 50);
}

#[test]
fn env_errors_name_the_variable() {
    let mut c = load(SEED);
    let before = c.clone();

    let e = c
        .apply_env([("HOTPOOL_POOL__MAX_CONNECTIONS", "lots")])
        .unwrap_err();
    assert_eq!(e.env_var(), Some("HOTPOOL_POOL__MAX_CONNECTIONS"));
    assert_eq!(e.key(), Some("pool.max_connections"));
    assert_eq!(e.file(), None);
    assert_eq!(
        e.to_string(),
        "environment variable HOTPOOL_POOL__MAX_CONNECTIONS: pool.max_connections: expected an integer, got string \"lots\""
    );
    assert_eq!(c, before, "unchanged on error");

    let e = c
        .apply_env([("HOTPOOL_POOL__CONN_TIMEOUT", "soon")])
        .unwrap_err();
    assert!(e.to_string().contains("invalid duration \"soon\""), "{e}");

    let e = c
        .apply_env([("HOTPOOL_POOL__MAX_CONECTIONS", "5")])
        .unwrap_err();
    assert_eq!(e.kind(), ErrorKind::UnknownKey);
    assert!(
        e.to_string().contains("did you mean `max_connections`?"),
        "{e}"
    );

    let e = c
        .apply_env([("HOTPOOL_POOLS__MAX_CONNECTIONS", "5")])
        .unwrap_err();
    assert!(e.to_string().contains("did you mean [pool]?"), "{e}");

    let e = c.apply_env([("HOTPOOL_HOSTS__NAME", "x")]).unwrap_err();
    assert!(
        e.to_string().contains("cannot be set from the environment"),
        "{e}"
    );

    let e = c
        .apply_env([("HOTPOOL_WHITELIST__IPS", "10.0.0.1,bogus")])
        .unwrap_err();
    assert_eq!(e.key(), Some("whitelist.ips[1]"));

    // A value rule broken by the environment is reported at the variable.
    let e = c
        .apply_env([("HOTPOOL_POOL__MAX_CONNECTIONS", "5")])
        .unwrap_err();
    assert_eq!(e.env_var(), Some("HOTPOOL_POOL__MAX_CONNECTIONS"));
    assert!(
        e.to_string()
            .contains("must be at least pool.max_idle_conns (20), got 5"),
        "{e}"
    );
    let e = c
        .apply_env([("HOTPOOL_POOL__TEST_TIMEOUT", "0")])
        .unwrap_err();
    assert_eq!(e.env_var(), Some("HOTPOOL_POOL__TEST_TIMEOUT"));
    assert!(e.to_string().ends_with("must not be zero"), "{e}");
    let e = c
        .apply_env([("HOTPOOL_TLS__PROFILES", "default,edge")])
        .unwrap_err();
    assert_eq!(e.env_var(), Some("HOTPOOL_TLS__PROFILES"));
    assert_eq!(e.key(), Some("tls.profiles[1]"));
    assert_eq!(c, before);

    // The environment can repair what the file alone would break.
    let text = "[pool]\nmax_connections = 5\n";
    assert!(Config::from_str_named(text, NAME).is_err());
    let c = Config::from_str_with_vars(
        text,
        NAME,
        [
            ("HOTPOOL_POOL__MAX_CONNS_PER_HOST", "5"),
            ("HOTPOOL_POOL__MAX_IDLE_CONNS", "5"),
        ],
    )
    .unwrap();
    assert_eq!(c.pool.max_connections, 5);
}

#[test]
fn validate_in_code() {
    let mut c = Config::default();
    c.pool.max_idle_conns = 1000;
    let e = c.validate().unwrap_err();
    assert_eq!(e.key(), Some("pool.max_idle_conns"));
    assert_eq!(e.line(), None);
    assert_eq!(
        e.to_string(),
        "pool.max_idle_conns: must not exceed pool.max_connections (100, the default), got 1000"
    );
}

// ---------------------------------------------------------------------------------------
// The serde reader: every problem of a file in one pass, unusual values.

#[test]
fn every_unknown_key_is_reported_with_the_other_problems() {
    let text = "colour = 1\n[pool]\nmax_conections = 5\nmax_connections = \"x\"\nmax_idle_con = 3\n\
                [dns]\nprotocol = \"icmp\"\n[[hosts]]\nname = \"a\"\nprot = 80\n";
    let errors = Config::check_str_named(text, NAME).unwrap_err();
    let found: Vec<(usize, &str)> = errors
        .iter()
        .map(|e| (e.line().unwrap(), e.key().unwrap()))
        .collect();
    assert_eq!(
        found,
        [
            (1, "colour"),
            (3, "pool.max_conections"),
            (4, "pool.max_connections"),
            (5, "pool.max_idle_con"),
            (7, "dns.protocol"),
            (10, "hosts[0].prot"),
        ]
    );
    assert_eq!(errors[0].kind(), ErrorKind::UnknownKey);
    assert_eq!(errors[2].kind(), ErrorKind::Type);
    assert!(
        errors[3]
            .to_string()
            .contains("did you mean `max_idle_conns`?")
    );
}

#[test]
fn datetimes_and_tables_where_a_value_belongs() {
    let e = err("[pool]\nmax_connections = 1979-05-27\n");
    assert_at(&e, 2, "pool.max_connections");
    assert!(
        e.to_string().ends_with("expected an integer, got datetime"),
        "{e}"
    );
    let e = err("[pool]\nconn_timeout = { secs = 3 }\n");
    assert_at(&e, 2, "pool.conn_timeout");
    assert!(e.to_string().contains("got table"), "{e}");
    let e = err("pool = 1979-05-27\n");
    assert_at(&e, 1, "pool");
    assert!(
        e.to_string()
            .contains("expected a table [pool], got datetime"),
        "{e}"
    );
    let e = err("hosts = [1]\n");
    assert_at(&e, 1, "hosts[0]");
    assert!(
        e.to_string().contains("expected a table, got integer"),
        "{e}"
    );
    let e = err("[[pool]]\nmax_connections = 1\n");
    assert_eq!(e.key(), Some("pool"));
    assert!(e.to_string().contains("got array"), "{e}");
}

#[test]
fn env_sets_every_declared_kind() {
    let c = Config::from_str_with_vars(
        "",
        NAME,
        [
            ("HOTPOOL_TLS__CA_FILES", "a.pem,b.pem"),
            ("HOTPOOL_TLS__ACCEPT_LANGUAGES", "[\"de\", \"fr\"]"),
            ("HOTPOOL_DNS__MIN_TTL", "1.5"),
            ("HOTPOOL_HEALTH__METHOD", "\"HEAD\""),
            ("HOTPOOL_METRICS__ENABLED", "true"),
            ("HOTPOOL_SOURCE_ADDRS__ADDRS", "10.0.0.1"),
            ("HOTPOOL_POOL__BANNED_STATUS", "451"),
        ],
    )
    .unwrap();
    assert_eq!(
        c.tls.ca_files,
        [PathBuf::from("a.pem"), PathBuf::from("b.pem")]
    );
    assert_eq!(c.tls.accept_languages, ["de", "fr"]);
    assert_eq!(c.dns.min_ttl, Duration::from_millis(1500));
    assert_eq!(c.health.method, "HEAD");
    assert!(c.metrics.enabled);
    assert_eq!(
        c.source_addrs.addrs,
        ["10.0.0.1".parse::<IpAddr>().unwrap()]
    );
    assert_eq!(c.pool.banned_status, 451);
    let e =
        Config::from_str_with_vars("", NAME, [("HOTPOOL_METRICS__ENABLED", "yes")]).unwrap_err();
    assert_eq!(
        e.to_string(),
        "environment variable HOTPOOL_METRICS__ENABLED: metrics.enabled: expected a boolean \
         (true or false), got string \"yes\""
    );
}

#[test]
fn the_default_file_is_generated_from_the_declarations() {
    let text = Config::default_toml();
    // Each section header once, in the order of the struct, [[hosts]] as a commented example.
    let headers: Vec<&str> = text.lines().filter(|l| l.starts_with('[')).collect();
    let names: Vec<&str> = headers
        .iter()
        .map(|h| h.split_whitespace().next().unwrap())
        .collect();
    assert_eq!(
        names,
        [
            "[pool]",
            "[whitelist]",
            "[blacklist]",
            "[dns]",
            "[tls]",
            "[h2]",
            "[health]",
            "[validation]",
            "[h3]",
            "[tcp]",
            "[source_addrs]",
            "[egress]",
            "[metrics]",
            "[fleet]"
        ]
    );
    assert!(text.contains("\n# [[hosts]]\n"), "{text}");
    // Every line is one line of TOML or a comment, and every key has its note.
    for line in text.lines().filter(|l| l.contains(" = ")) {
        assert!(line.contains(" # "), "no note: {line}");
    }
    // The defaults in it are the defaults of the structs (`hotpool`'s conversions test
    // that these are pool-core's options).
    let written = |c: &Config| c.to_toml_string().unwrap();
    assert_eq!(written(&load(text)), written(&Config::default()));
}

#[test]
fn transport_h3_has_the_alias_quic_and_is_written_h3() {
    let c = load(
        "[[hosts]]\nname = \"a\"\ntransport = \"h3\"\n[[hosts]]\nname = \"b\"\ntransport = \"quic\"\n",
    );
    assert_eq!(c.hosts[0].transport, Transport::H3);
    assert_eq!(c.hosts[1].transport, Transport::H3);
    assert_eq!(Transport::H3.as_str(), "h3");
    let e = err("[[hosts]]\nname = \"a\"\ntransport = \"h4\"\n");
    assert!(e.to_string().contains("\"h3\""), "{e}");
}
