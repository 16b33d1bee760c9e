//! Every declared key: its line in the default file, its environment override (names in
//! any case), the `[[hosts]]` example; the value types with units.

use pool_config::{ByteSize, Config, ErrorKind, Fraction};

const NAME: &str = "hotpool.toml";

/// `(section, key, value)` of every key line of the default file, examples included.
fn key_lines(text: &str) -> Vec<(String, String, String)> {
    let mut section = String::new();
    let mut out = Vec::new();
    for line in text.lines() {
        let code = line.split(" # ").next().unwrap_or("").trim();
        let code = code.trim_start_matches("# ");
        if let Some(name) = code.strip_prefix('[') {
            section = name.trim_matches(|c| c == '[' || c == ']').to_owned();
        } else if let Some((key, value)) = code.split_once(" = ") {
            out.push((section.clone(), key.to_owned(), value.to_owned()));
        }
    }
    out
}

#[test]
fn every_default_line_is_a_key_its_variable_sets() {
    let lines = key_lines(Config::default_toml());
    assert!(lines.len() > 80, "{}", lines.len());
    let optional = [
        "body",
        "ipv6_prefix",
        "body_idle_timeout",
        "resolv_conf",
        "fleet_max_conns_per_host",
        "fill_streams",
        "memory_limit",
        "memory_low_water",
        "max_conns_per_ip",
        "client_cert",
        "client_key",
        "rate_limit",
    ];
    // Keys that need another one set with them.
    let partner = |key: &str| match key {
        "memory_low_water" => Some(("HOTPOOL_POOL__MEMORY_LIMIT", "\"512MiB\"")),
        "client_cert" => Some(("HOTPOOL_TLS__CLIENT_KEY", "\"client.key\"")),
        "client_key" => Some(("HOTPOOL_TLS__CLIENT_CERT", "\"client.pem\"")),
        _ => None,
    };
    for (section, key, value) in lines.iter().filter(|(s, _, _)| s != "hosts") {
        let var = format!("HOTPOOL_{}__{}", section.to_uppercase(), key.to_uppercase());
        let mut vars = vec![(var.clone(), value.clone())];
        if let Some((other, value)) = partner(key) {
            vars.push((other.into(), value.into()));
        }
        let cfg = Config::from_str_with_vars("", NAME, vars)
            .unwrap_or_else(|e| panic!("{var}={value}: {e}"));
        // A default written back is the default; an optional key's example sets it.
        let changed = cfg != Config::default();
        assert_eq!(changed, optional.contains(&key.as_str()), "{section}.{key}");
        // The same key in the file reads the same.
        let text = format!("[{section}]\n{key} = {value}\n");
        let from_file = Config::check_str_named(&text, NAME);
        assert!(from_file.is_ok() || partner(key).is_some(), "{text}");
    }
    let e = Config::from_str_with_vars("", NAME, [("HOTPOOL_POOL__NOPE", "1")]).unwrap_err();
    assert_eq!(e.kind(), ErrorKind::UnknownKey);
}

#[test]
fn the_hosts_example_reads_as_a_host() {
    let mut text = String::from("[[hosts]]\n");
    for (_, key, value) in key_lines(Config::default_toml())
        .iter()
        .filter(|(s, _, _)| s == "hosts")
    {
        text.push_str(&format!("{key} = {value}\n"));
    }
    let cfg = Config::from_str_named(&text, NAME).unwrap();
    assert_eq!(cfg.hosts[0].name, "example.com");
    assert_eq!(cfg.hosts[0].alpn.as_deref(), Some(&["h2".to_owned()][..]));
}

/// Section and key of an override are case-insensitive; the `HOTPOOL_` prefix is not.
#[test]
fn env_override_names_are_case_insensitive() {
    let vars = [
        ("HOTPOOL_Pool__Max_Connections", "300"),
        ("HOTPOOL_pool__max_idle_conns", "30"),
        ("HOTPOOL_DNS__timeout", "2s"),
        ("hotpool_pool__max_retries", "9"),
    ];
    let cfg = Config::from_str_with_vars("", NAME, vars).unwrap();
    assert_eq!(cfg.pool.max_connections, 300);
    assert_eq!(cfg.pool.max_idle_conns, 30);
    assert_eq!(cfg.dns.timeout, std::time::Duration::from_secs(2));
    assert_eq!(cfg.pool.max_retries, 3, "a lowercase prefix is not ours");
    let e =
        Config::from_str_with_vars("", NAME, [("HOTPOOL_Pool__Max_Conections", "5")]).unwrap_err();
    assert_eq!(e.env_var(), Some("HOTPOOL_Pool__Max_Conections"));
    assert!(
        e.to_string().contains("did you mean `max_connections`?"),
        "{e}"
    );
}

#[test]
fn sizes_read_with_binary_and_decimal_units() {
    let ok = [
        ("512MiB", 512 << 20),
        (" 2GiB ", 2 << 30),
        ("64KiB", 64 << 10),
        ("500MB", 500_000_000),
        ("4096", 4096),
        ("4096B", 4096),
        ("1 GB", 1_000_000_000),
    ];
    for (text, bytes) in ok {
        assert_eq!(ByteSize::parse(text), Ok(ByteSize(bytes)), "{text}");
    }
    for bad in [
        "",
        "MiB",
        "12 parsecs",
        "-1MiB",
        "99999999999999999999TiB",
        "1.5GiB",
    ] {
        assert!(ByteSize::parse(bad).is_err(), "{bad}");
    }
}

#[test]
fn fractions_are_above_zero_and_at_most_one() {
    assert_eq!(Fraction::new(0.2).map(Fraction::get), Some(0.2));
    assert!(Fraction::new(1.0).is_some());
    for bad in [0.0, -0.1, 1.01, f64::NAN, f64::INFINITY] {
        assert!(Fraction::new(bad).is_none(), "{bad}");
    }
}
