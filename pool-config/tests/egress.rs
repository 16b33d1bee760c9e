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
fn an_https_proxy_is_read_with_its_default_port() {
    let c = load("[egress]\nproxies = [\"https://bob:s3cret@proxy.test\"]\n").unwrap();
    let proxy = &c.egress.proxies[0].0;
    assert_eq!(proxy.scheme(), pool_dial::ProxyScheme::Https);
    assert_eq!(proxy.endpoint(), "proxy.test:443");
    let out = c.to_toml_string().unwrap();
    assert!(out.contains("https://proxy.test:443"), "{out}");
    assert!(!out.contains("s3cret"), "{out}");
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

#[test]
fn several_proxies_a_rotation_and_a_hosts_own_list() {
    let text = "[egress]\nproxies = [\"http://a:1\", \"socks5://b:2\"]\nrotation = \"sticky\"\n\n\
                [[hosts]]\nname = \"direct.test\"\nproxies = []\n\n\
                [[hosts]]\nname = \"own.test\"\nproxies = [\"socks5://c:3\"]\n";
    let c = load(text).unwrap();
    assert_eq!(c.egress.proxies.len(), 2);
    assert_eq!(c.egress.rotation, pool_config::EgressRotation::Sticky);
    assert_eq!(c.hosts[0].proxies.as_deref().map(<[_]>::len), Some(0));
    assert_eq!(c.hosts[1].proxies.as_ref().unwrap()[0].0.port(), 3);
    assert_eq!(
        load("[egress]\nrotation = \"round_robin\"\n")
            .unwrap()
            .egress
            .rotation,
        pool_config::EgressRotation::RoundRobin
    );
    let e = load("[egress]\nrotation = \"fastest\"\n").unwrap_err();
    assert_eq!(
        (e.line(), e.key()),
        (Some(2), Some("egress.rotation")),
        "{e}"
    );

    // HTTP/3 with the host's own proxies is refused too; its own `[]` lets it be HTTP/3.
    let h3 = "[[hosts]]\nname = \"a.test\"\ntransport = \"h3\"\nproxies = [\"http://a:1\"]\n";
    assert_eq!(load(h3).unwrap_err().key(), Some("hosts[0].transport"));
    let h3_direct = "[egress]\nproxies = [\"http://a:1\"]\n[[hosts]]\nname = \"a.test\"\ntransport = \"h3\"\nproxies = []\n";
    assert!(load(h3_direct).is_ok());
}
