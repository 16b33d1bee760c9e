//! `[egress]`: the proxy of TCP dials, read with curl's URL rules, errors at their line,
//! credentials never written back.

use pool_config::{Config, ConfigError};

const NAME: &str = "hotpool.toml";

fn load(text: &str) -> Result<Config, ConfigError> {
    Config::from_str_named(text, NAME)
}

#[test]
fn a_proxy_url_is_read_and_its_credentials_never_written_back() {
    let c = load("[egress]\nproxies = [\"socks5://alice:s3cret@127.0.0.1:1080\"]\n").unwrap();
    let proxy = &c.egress.proxies[0].0;
    assert_eq!(proxy.endpoint(), "127.0.0.1:1080");
    assert_eq!(proxy.credentials().map(|c| c.password()), Some("s3cret"));
    let out = c.to_toml_string().unwrap();
    assert!(out.contains("socks5://127.0.0.1:1080"), "{out}");
    assert!(!out.contains("s3cret") && !out.contains("alice"), "{out}");
    assert!(!format!("{c:?}").contains("s3cret"));
}

#[test]
fn bad_proxies_are_errors_at_their_line() {
    let e = load("[egress]\n\nproxies = [\"ftp://u:s3cret@h:1\"]\n").unwrap_err();
    let msg = e.to_string();
    assert_eq!(
        (e.line(), e.key()),
        (Some(3), Some("egress.proxies")),
        "{msg}"
    );
    assert!(msg.contains("unknown proxy scheme \"ftp\""), "{msg}");
    assert!(!msg.contains("s3cret"), "{msg}");

    let e = load("[egress]\nproxies = [\"https://proxy.test:443\"]\n").unwrap_err();
    assert!(e.to_string().contains("not supported yet"), "{e}");

    let e = load("[egress]\nproxies = [\"http://a:1\", \"http://b:2\"]\n").unwrap_err();
    assert_eq!(e.key(), Some("egress.proxies[1]"), "{e}");

    let e = load("[egress]\nconnect_by = \"dns\"\n").unwrap_err();
    assert!(e.to_string().contains("\"ip\""), "{e}");
}

#[test]
fn http3_cannot_go_through_a_proxy() {
    let text = "[egress]\nproxies = [\"http://127.0.0.1:3128\"]\n\n[[hosts]]\nname = \"a.test\"\ntransport = \"h3\"\n";
    let e = load(text).unwrap_err();
    assert_eq!(
        (e.line(), e.key()),
        (Some(6), Some("hosts[0].transport")),
        "{e}"
    );
    let auto = text.replace("\"h3\"", "\"auto\"");
    assert!(load(&auto).is_ok(), "auto stays on TCP");
}

#[test]
fn a_client_certificate_needs_both_files() {
    let e = load("[tls]\nclient_cert = \"c.pem\"\n").unwrap_err();
    assert_eq!(e.key(), Some("tls.client_cert"), "{e}");
    assert!(e.to_string().contains("needs tls.client_key"), "{e}");
}
