//! `[egress]` and `[tls] client_cert` carried into the TCP dialers' options.

use hotpool::ConfigOptions;
use pool_config::{Config, ConfigError};

fn load(text: &str) -> Result<Config, ConfigError> {
    Config::from_str_named(text, "hotpool.toml")
}

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
