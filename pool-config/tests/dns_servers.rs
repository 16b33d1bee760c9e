//! `[[dns.servers]]` (name servers with their own transport and TLS name) and
//! `dns.resolv_conf`: reading, defaults, and every problem at its file, line and key.

use std::net::SocketAddr;
use std::path::PathBuf;

use pool_config::{Config, ConfigError, DnsProtocol, ErrorKind};

const NAME: &str = "hotpool.toml";

fn load(text: &str) -> Config {
    match Config::from_str_named(text, NAME) {
        Ok(c) => c,
        Err(e) => panic!("unexpected error: {e}"),
    }
}

fn err(text: &str) -> ConfigError {
    match Config::from_str_named(text, NAME) {
        Ok(c) => panic!("expected an error for {text:?}, got {c:?}"),
        Err(e) => e,
    }
}

/// Asserts the error is at `line`, about `key`, of `kind`, in one line naming all of it.
fn assert_at(e: &ConfigError, line: usize, key: &str, kind: ErrorKind) {
    let msg = e.to_string();
    assert_eq!(e.file(), Some(NAME), "{msg}");
    assert_eq!(e.line(), Some(line), "{msg}");
    assert_eq!(e.key(), Some(key), "{msg}");
    assert_eq!(e.kind(), kind, "{msg}");
    assert!(msg.starts_with(&format!("{NAME}:{line}:")), "{msg}");
    assert!(!msg.contains('\n'), "{msg}");
}

fn addr(s: &str) -> SocketAddr {
    s.parse().unwrap()
}

#[test]
fn servers_are_read_with_their_protocols_and_names() {
    let c = load(
        r#"[dns]
prefer = "ipv4"

[[dns.servers]]
addr = "127.0.0.1:853"
protocol = "tls"
tls_name = "dns.example.test"

[[dns.servers]]
addr = "[::1]:443"
protocol = "https"
tls_name = "::1"

[[dns.servers]]
addr = "127.0.0.2:53"
"#,
    );
    let s = &c.dns.servers;
    assert_eq!(s.len(), 3);
    assert_eq!(
        (s[0].addr, s[0].protocol, s[0].tls_name.as_deref()),
        (
            addr("127.0.0.1:853"),
            DnsProtocol::Tls,
            Some("dns.example.test")
        )
    );
    assert_eq!(
        (s[1].addr, s[1].protocol, s[1].tls_name.as_deref()),
        (addr("[::1]:443"), DnsProtocol::Https, Some("::1"))
    );
    assert_eq!(
        (s[2].addr, s[2].protocol, &s[2].tls_name),
        (addr("127.0.0.2:53"), DnsProtocol::Udp, &None)
    );
    // The rest of [dns] still reads around the entries.
    assert_eq!(c.dns.prefer, pool_config::IpPreference::Ipv4);
    // No servers, no resolv.conf: the system configuration.
    let d = Config::default();
    assert!(d.dns.servers.is_empty() && d.dns.name_servers.is_empty());
    assert_eq!(d.dns.resolv_conf, None);
}

#[test]
fn bad_entries_are_reported_at_their_line_and_key() {
    let head = "[dns]\ntimeout = 2\n\n[[dns.servers]]\n";
    let cases: &[(&str, usize, &str, ErrorKind)] = &[
        // addr
        (
            "protocol = \"udp\"\n",
            4,
            "dns.servers[0].addr",
            ErrorKind::Missing,
        ),
        (
            "addr = \"127.0.0.1\"\n",
            5,
            "dns.servers[0].addr",
            ErrorKind::Value,
        ),
        (
            "addr = \"dns.example:853\"\n",
            5,
            "dns.servers[0].addr",
            ErrorKind::Value,
        ),
        ("addr = 853\n", 5, "dns.servers[0].addr", ErrorKind::Type),
        (
            "addr = \"127.0.0.1:0\"\n",
            5,
            "dns.servers[0].addr",
            ErrorKind::Value,
        ),
        // protocol
        (
            "addr = \"127.0.0.1:853\"\nprotocol = \"dot\"\n",
            6,
            "dns.servers[0].protocol",
            ErrorKind::Value,
        ),
        // tls_name: required for tls and https, refused for udp and tcp, a valid name
        (
            "addr = \"127.0.0.1:853\"\nprotocol = \"tls\"\n",
            4,
            "dns.servers[0].tls_name",
            ErrorKind::Missing,
        ),
        (
            "addr = \"127.0.0.1:443\"\nprotocol = \"https\"\n",
            4,
            "dns.servers[0].tls_name",
            ErrorKind::Missing,
        ),
        (
            "addr = \"127.0.0.1:53\"\ntls_name = \"dns.example\"\n",
            6,
            "dns.servers[0].tls_name",
            ErrorKind::Inconsistent,
        ),
        (
            "addr = \"127.0.0.1:53\"\nprotocol = \"tcp\"\ntls_name = \"dns.example\"\n",
            7,
            "dns.servers[0].tls_name",
            ErrorKind::Inconsistent,
        ),
        (
            "addr = \"127.0.0.1:853\"\nprotocol = \"tls\"\ntls_name = \"not a name\"\n",
            7,
            "dns.servers[0].tls_name",
            ErrorKind::Value,
        ),
        (
            "addr = \"127.0.0.1:853\"\nprotocol = \"tls\"\ntls_name = 7\n",
            7,
            "dns.servers[0].tls_name",
            ErrorKind::Type,
        ),
        // unknown keys, with a suggestion
        (
            "addr = \"127.0.0.1:853\"\nprotocl = \"tls\"\n",
            6,
            "dns.servers[0].protocl",
            ErrorKind::UnknownKey,
        ),
    ];
    for (body, line, key, kind) in cases {
        let e = err(&format!("{head}{body}"));
        assert_at(&e, *line, key, *kind);
    }
    let e = err(&format!(
        "{head}addr = \"127.0.0.1:853\"\nprotocl = \"tls\"\n"
    ));
    assert!(e.reason().contains("did you mean `protocol`"), "{e}");

    // The second entry's problem names the second entry.
    let e = err(&format!(
        "{head}addr = \"127.0.0.1:53\"\n\n[[dns.servers]]\naddr = \"127.0.0.1:853\"\n\
         protocol = \"tls\"\n"
    ));
    assert_at(&e, 7, "dns.servers[1].tls_name", ErrorKind::Missing);
    // Not an array of tables; an array of something else.
    let e = err("[dns]\nservers = \"127.0.0.1:53\"\n");
    assert_at(&e, 2, "dns.servers", ErrorKind::Type);
    let e = err("[dns]\nservers = [\"127.0.0.1:53\"]\n");
    assert_at(&e, 2, "dns.servers[0]", ErrorKind::Type);
}

#[test]
fn the_shared_protocol_of_name_servers_stays_plain() {
    let e = err("[dns]\nname_servers = [\"127.0.0.1:853\"]\nprotocol = \"tls\"\n");
    assert_at(&e, 3, "dns.protocol", ErrorKind::Value);
    assert!(e.reason().contains("[[dns.servers]]"), "{e}");
}

/// Every unknown key and the first unreadable value are listed in one pass; rules across
/// an entry's keys (`tls_name` vs `protocol`) run once the list reads.
#[test]
fn problems_of_several_entries_are_listed() {
    let text = "[[dns.servers]]\naddr = \"x\"\n[[dns.servers]]\naddr = \"127.0.0.1:853\"\n\
                protocol = \"https\"\n[[dns.servers]]\nport = 53\naddr = \"127.0.0.1:53\"\n";
    let errors = Config::check_str_named(text, NAME).unwrap_err();
    let keys: Vec<&str> = errors.iter().filter_map(|e| e.key()).collect();
    assert_eq!(errors[1].kind(), ErrorKind::UnknownKey);
    assert_eq!(
        keys,
        ["dns.servers[0].addr", "dns.servers[2].port"],
        "{errors:?}"
    );
}

#[test]
fn servers_from_the_environment() {
    let c = Config::from_str_with_vars(
        "",
        NAME,
        [(
            "HOTPOOL_DNS__SERVERS",
            r#"[{ addr = "127.0.0.1:853", protocol = "tls", tls_name = "dns.test" }]"#,
        )],
    )
    .unwrap();
    assert_eq!(c.dns.servers.len(), 1);
    assert_eq!(c.dns.servers[0].tls_name.as_deref(), Some("dns.test"));
    let e = Config::from_str_with_vars(
        "",
        NAME,
        [(
            "HOTPOOL_DNS__SERVERS",
            r#"[{ addr = "127.0.0.1:853", protocol = "tls" }]"#,
        )],
    )
    .unwrap_err();
    assert_eq!(e.env_var(), Some("HOTPOOL_DNS__SERVERS"), "{e}");
    assert_eq!(e.key(), Some("dns.servers[0].tls_name"), "{e}");
}

#[test]
fn resolv_conf_is_relative_to_the_file_and_ignored_with_servers() {
    let dir = std::env::temp_dir().join(format!("pool-config-resolv-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let file = dir.join("hotpool.toml");
    std::fs::write(&file, "[dns]\nresolv_conf = \"test-resolv.conf\"\n").unwrap();
    let c = Config::from_file(&file).unwrap();
    assert_eq!(c.dns.resolv_conf, Some(dir.join("test-resolv.conf")));
    assert!(c.warnings().is_empty());
    let _ = std::fs::remove_dir_all(&dir);

    let c = load("[dns]\nname_servers = [\"127.0.0.1\"]\nresolv_conf = \"/etc/resolv.conf\"\n");
    assert_eq!(c.dns.resolv_conf, Some(PathBuf::from("/etc/resolv.conf")));
    let w = c.warnings();
    assert_eq!(w.len(), 1, "{w:?}");
    assert_eq!(w[0].key(), Some("dns.resolv_conf"));
    assert_eq!(w[0].line(), Some(3));
}

#[test]
fn servers_round_trip_through_toml() {
    let text = "[dns]\nresolv_conf = \"/tmp/resolv.conf\"\n\n[[dns.servers]]\n\
                addr = \"127.0.0.1:853\"\nprotocol = \"tls\"\ntls_name = \"dns.test\"\n\n\
                [[dns.servers]]\naddr = \"[::1]:53\"\nprotocol = \"tcp\"\n";
    let c = load(text);
    let written = c.to_toml_string().unwrap();
    assert_eq!(load(&written), c, "{written}");
}
