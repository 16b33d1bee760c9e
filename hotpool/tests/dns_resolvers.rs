//! A config's `[[dns.servers]]` and `[tls]` trust, end to end: `Config::dns_options()`
//! resolves through the testkit zone over DNS-over-TLS and DNS-over-HTTPS, trusting the
//! test CA through `tls.ca_files` exactly as the dialers would.

#![cfg(feature = "dns")]

use std::net::{IpAddr, SocketAddr};
use std::sync::Arc;

use hotpool::ConfigOptions;
use pool_config::Config;
use pool_dns::{AddressSource, DnsSource};
use pool_testkit::{DnsServer, DnsServerOptions, DnsTlsOptions, TestCa};

const HOST: &str = "www.hotpool.test";

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn dns_servers_resolve_with_the_tls_sections_trust() {
    let ca = Arc::new(TestCa::new().unwrap());
    let dns = DnsServer::start(DnsServerOptions {
        zones: vec!["hotpool.test".to_owned()],
        tls: Some(DnsTlsOptions::new(&ca, &["dns.hotpool.test"])),
        ..DnsServerOptions::default()
    })
    .await
    .unwrap();
    let ip: IpAddr = "127.0.0.2".parse().unwrap();
    dns.set_addrs(HOST, &[ip], 60).await.unwrap();
    let dir = std::env::temp_dir().join(format!("pool-config-dns-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    ca.write_ca_pem(dir.join("ca.pem")).unwrap();

    for (protocol, addr) in [
        ("tls", dns.tls_addr().unwrap()),
        ("https", dns.https_addr().unwrap()),
    ] {
        for (ca_file, trusted) in [("ca.pem", true), ("", false)] {
            let tls = if trusted {
                format!("[tls]\nca_files = [\"{ca_file}\"]\nuse_webpki_roots = false\n")
            } else {
                // The bundled roots only: the test CA is unknown.
                String::new()
            };
            let file = dir.join("hotpool.toml");
            std::fs::write(
                &file,
                format!(
                    "[dns]\ntimeout = \"3s\"\n\n[[dns.servers]]\naddr = \"{addr}\"\n\
                     protocol = \"{protocol}\"\ntls_name = \"dns.hotpool.test\"\n\n{tls}"
                ),
            )
            .unwrap();
            let options = Config::from_file(&file).unwrap().dns_options();
            let source = DnsSource::new(&options, 443).unwrap();
            let got = source.addrs(HOST).await;
            if trusted {
                assert_eq!(got.unwrap(), [SocketAddr::new(ip, 443)], "{protocol}");
            } else {
                assert!(got.is_err(), "{protocol}: an unknown CA must not resolve");
            }
        }
    }
    let _ = std::fs::remove_dir_all(&dir);
    dns.shutdown().await;
}
