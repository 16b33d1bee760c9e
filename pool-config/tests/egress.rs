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

#[cfg(feature = "tls")]
#[test]
fn the_dialers_get_the_proxy() {
    use pool_dial_rustls::{ConnectBy, ProxyScheme};
    let c = load("[egress]\nproxies = [\"http://u:p@127.0.0.1:3128\"]\nconnect_by = \"name\"\n")
        .unwrap();
    let proxy = c.h2_options(None).unwrap().tls.proxy.expect("a proxy");
    assert_eq!(proxy.scheme(), ProxyScheme::Http);
    assert_eq!(proxy.connect_by(), ConnectBy::Name);
    let off = load("[egress]\nfrom_env = false\n").unwrap();
    assert_eq!(off.h1_options(None).unwrap().proxy, None);
}

#[test]
fn a_client_certificate_needs_both_files() {
    let e = load("[tls]\nclient_cert = \"c.pem\"\n").unwrap_err();
    assert_eq!(e.key(), Some("tls.client_cert"), "{e}");
    assert!(e.to_string().contains("needs tls.client_key"), "{e}");
}

#[cfg(feature = "tls")]
#[test]
fn client_certificate_files_are_read_relative_to_the_config() {
    let dir = std::env::temp_dir().join(format!("hotpool-egress-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    std::fs::write(dir.join("c.pem"), "CHAIN").unwrap();
    std::fs::write(dir.join("c.key"), "KEY").unwrap();
    let file = dir.join("hotpool.toml");
    std::fs::write(
        &file,
        "[tls]\nclient_cert = \"c.pem\"\nclient_key = \"c.key\"\n",
    )
    .unwrap();
    let c = Config::from_file(&file).unwrap();
    let cert = c
        .h2_options(None)
        .unwrap()
        .tls
        .trust
        .client_cert
        .expect("a client cert");
    assert_eq!(
        (&cert.chain_pem[..], &cert.key_pem[..]),
        (&b"CHAIN"[..], &b"KEY"[..])
    );
    assert!(!format!("{cert:?}").contains("KEY"), "{cert:?}");

    std::fs::remove_file(dir.join("c.key")).unwrap();
    let err = Config::from_file(&file)
        .unwrap()
        .h2_options(None)
        .unwrap_err();
    assert!(err.to_string().contains("c.key"), "{err}");
    std::fs::remove_dir_all(&dir).unwrap();
}
