//! The conversions into the pool crates' options, one module per target crate (each
//! behind the feature that builds the conversion).

mod pool_options {
    use std::time::Duration;

    use hotpool::ConfigOptions;
    use pool_config::*;
    use pool_core::PoolOptions;

    #[test]
    fn defaults_match_pool_core() {
        let opts = Config::default().pool_options();
        assert_eq!(opts, PoolOptions::default());
        assert!(opts.validate().is_ok());
    }

    /// `pool.banned_status`'s declared default is the request layer's one default.
    #[test]
    fn banned_status_default_is_pool_http_s() {
        assert_eq!(
            Config::default().pool.banned_status,
            pool_http::DEFAULT_BANNED_STATUS
        );
    }

    /// `pool.request_timeout`'s declared default is the request layer's one default; the
    /// two request keys are carried over.
    #[test]
    fn request_options_from_the_pool_section() {
        assert_eq!(
            Config::default().request_options(),
            pool_http::RequestOptions::default()
        );
        let cfg = Config::from_str_named(
            "[pool]\nrequest_timeout = \"2500ms\"\nbody_idle_timeout = 7\n",
            "t.toml",
        )
        .unwrap();
        let o = cfg.request_options();
        assert_eq!(o.timeout, std::time::Duration::from_millis(2500));
        assert_eq!(o.body_idle_timeout, Some(std::time::Duration::from_secs(7)));
        let zero = Config::from_str_named("[pool]\nbody_idle_timeout = 0\n", "t.toml").unwrap();
        assert_eq!(zero.request_options().body_idle_timeout, None);
    }

    /// `pool.max_response_header_size`: its declared default is pool-http's one default,
    /// and the one key reaches every transport (HTTP/1.1 + HTTP/2 through `TlsOptions`,
    /// HTTP/3 through `QuicOptions`).
    #[cfg(feature = "h3")]
    #[test]
    fn max_response_header_size_reaches_every_transport() {
        let default = Config::default();
        assert_eq!(
            default.pool.max_response_header_size,
            pool_http::DEFAULT_MAX_RESPONSE_HEADER_SIZE
        );
        assert_eq!(
            default.tls_options().unwrap().max_response_header_size,
            pool_http::DEFAULT_MAX_RESPONSE_HEADER_SIZE
        );
        let cfg =
            Config::from_str_named("[pool]\nmax_response_header_size = 9000\n", "t.toml").unwrap();
        assert_eq!(cfg.tls_options().unwrap().max_response_header_size, 9000);
        assert_eq!(
            cfg.h2_options(None).unwrap().tls.max_response_header_size,
            9000
        );
        assert_eq!(
            cfg.quic_options(None).unwrap().max_response_header_size,
            9000
        );
        assert!(
            Config::from_str_named("[pool]\nmax_response_header_size = 0\n", "t.toml").is_err()
        );
    }

    /// An absent `max_conns_per_ip` resolves per transport: 1 for the multiplexed ones, 6
    /// where connections may be exclusive HTTP/1.1, capped by `max_conns_per_host`; a value
    /// written wins for every transport; the resolved options always validate.
    #[test]
    fn conns_per_ip_default_depends_on_the_transport() {
        let per_ip = |cfg: &Config, t| cfg.pool_options_for(t).max_conns_per_ip;
        let default = Config::default();
        assert_eq!(default.pool.max_conns_per_ip, None);
        for (t, want) in [
            (Transport::H2, 1),
            (Transport::H3, 1),
            (Transport::H1, 6),
            (Transport::Auto, 6),
            (Transport::Tls, 6),
        ] {
            assert_eq!(per_ip(&default, t), want, "{t:?}");
            assert!(default.pool_options_for(t).validate().is_ok(), "{t:?}");
        }
        assert_eq!(
            default.pool_options(),
            default.pool_options_for(Transport::H2)
        );

        let small = Config::from_str_named("[pool]\nmax_conns_per_host = 4\n", "t.toml").unwrap();
        assert_eq!(per_ip(&small, Transport::H1), 4);
        assert!(small.pool_options_for(Transport::H1).validate().is_ok());
        assert_eq!(per_ip(&small, Transport::H2), 1);

        let explicit = Config::from_str_named("[pool]\nmax_conns_per_ip = 3\n", "t.toml").unwrap();
        for t in [Transport::H1, Transport::H2, Transport::H3, Transport::Auto] {
            assert_eq!(per_ip(&explicit, t), 3, "{t:?}");
        }
        let one = Config::from_str_named("[pool]\nmax_conns_per_ip = 1\n", "t.toml").unwrap();
        assert_eq!(per_ip(&one, Transport::H1), 1);
        // An explicit value is still checked against max_conns_per_host.
        assert!(Config::from_str_named("[pool]\nmax_conns_per_ip = 11\n", "t.toml").is_err());
    }

    #[test]
    fn every_pool_key_is_carried_over() {
        let cfg = Config::from_str_named(
            r#"
[pool]
max_connections = 50
max_conns_per_host = 8
max_idle_conns = 7
max_conns_per_ip = 2
idle_timeout = "90s"
max_lifetime = 40
max_errors = 4
max_retries = 5
blacklist_check_interval = 11
blacklist_timeout = 12
health_check_interval = 13
checkout_timeout = "250ms"
keep_warm = false
warm_concurrency = 3

[whitelist]
ips = ["10.1.2.3/8", "192.0.2.1"]

[blacklist]
ips = ["2001:db8::/32"]
"#,
            "t.toml",
        )
        .unwrap();
        let o = cfg.pool_options();
        assert_eq!(
            (o.max_connections, o.max_conns_per_host, o.max_idle_conns),
            (50, 8, 7)
        );
        assert_eq!(o.max_conns_per_ip, 2);
        assert_eq!(o.idle_timeout, Duration::from_secs(90));
        assert_eq!(o.max_lifetime, Duration::from_secs(40));
        assert_eq!(o.keep_warm_lead, Duration::from_secs(10));
        assert_eq!((o.max_errors, o.max_retries), (4, 5));
        assert_eq!(o.blacklist_check_interval, Duration::from_secs(11));
        assert_eq!(o.blacklist_timeout, Duration::from_secs(12));
        assert_eq!(o.health_check_interval, Some(Duration::from_secs(13)));
        assert_eq!(o.checkout_timeout, Duration::from_millis(250));
        assert!(!o.keep_warm);
        assert_eq!(o.warm_concurrency, 3);
        let w: Vec<String> = o.whitelist.iter().map(ToString::to_string).collect();
        assert_eq!(w, ["10.0.0.0/8", "192.0.2.1"]);
        assert!(o.blacklist[0].contains("2001:db8::1".parse().unwrap()));
        assert!(o.validate().is_ok());
    }
}

mod tls {
    use std::time::Duration;

    use hotpool::ConfigOptions;
    use pool_config::*;
    use pool_dial_rustls::{H2Windows, Rotation, TlsVersion};

    /// `[tcp]` reaches the TLS options (h1, h2, auto share `tls_options`); zeros turn
    /// keepalive and the user timeout off; the defaults are pool-dial-rustls' own.
    #[test]
    fn tcp_keys_are_carried_over() {
        assert_eq!(
            Config::default().tls_options().unwrap().tcp,
            pool_dial_rustls::TcpOptions::default()
        );
        let cfg = Config::from_str_named(
            "[tcp]\nkeepalive_idle = 30\nkeepalive_interval = 7\nkeepalive_retries = 4\n\
             user_timeout = \"45s\"\n",
            "t.toml",
        )
        .unwrap();
        let tcp = cfg.h2_options(None).unwrap().tls.tcp;
        assert_eq!(
            tcp.keepalive,
            Some(pool_dial_rustls::TcpKeepalive {
                idle: Duration::from_secs(30),
                interval: Duration::from_secs(7),
                retries: 4,
            })
        );
        assert_eq!(tcp.user_timeout, Some(Duration::from_secs(45)));
        let off = Config::from_str_named("[tcp]\nkeepalive_idle = 0\nuser_timeout = 0\n", "t.toml")
            .unwrap();
        assert_eq!(
            off.tls_options().unwrap().tcp,
            pool_dial_rustls::TcpOptions::off()
        );
        for bad in [
            "keepalive_retries = 0",
            "keepalive_retries = 128",
            "keepalive_interval = 0",
        ] {
            assert!(
                Config::from_str_named(&format!("[tcp]\n{bad}\n"), "t.toml").is_err(),
                "{bad}"
            );
        }
    }

    #[test]
    fn tls_keys_are_carried_over() {
        let cfg = Config::from_str_named(
            r#"
[pool]
conn_timeout = 7
test_timeout = "1500ms"
banned_status = 451

[tls]
ca_files = ["/etc/extra-ca.pem"]
use_webpki_roots = false
profiles = ["chrome-like", "tls13-only"]
profile_rotation = "random"
accept_languages = ["de-DE", "fr-FR"]

[validation]
enabled = true
method = "HEAD"
path = "/check"

[source_addrs]
addrs = ["127.0.0.9"]
ipv6_prefix = "2001:db8::/64"

[[hosts]]
name = "a.test"
alpn = ["h2", "http/1.1"]
"#,
            "t.toml",
        )
        .unwrap();
        let t = cfg.tls_options().unwrap();
        assert_eq!(t.conn_timeout, Duration::from_secs(7));
        assert_eq!(t.test_timeout, Duration::from_millis(1500));
        assert!(!t.trust.webpki_roots);
        assert_eq!(t.trust.extra_ca_files.len(), 1);
        let names: Vec<&str> = t.profiles.iter().map(|p| p.name.as_str()).collect();
        assert_eq!(names, ["chrome-like", "tls13-only"]);
        assert_eq!(t.profiles[1].versions, [TlsVersion::Tls13]);
        assert_eq!(t.profile_rotation, Rotation::Random);
        assert_eq!(t.accept_languages, ["de-DE", "fr-FR"]);
        let v = t.validation.unwrap();
        assert_eq!(v.method, http::Method::HEAD);
        assert_eq!(v.path, "/check");
        assert_eq!(v.banned_statuses, [451]);
        assert_eq!(t.source_addrs.addrs().len(), 1);
        assert_eq!(t.source_addrs.prefix().map(|p| p.prefix_len()), Some(64));
        assert!(!t.trust.danger_accept_invalid_certs);

        let h2 = cfg.h2_options(None).unwrap();
        assert_eq!(h2.tls.alpn, ["h2"]);
        let h2 = cfg.h2_options(Some(&cfg.hosts[0])).unwrap();
        assert_eq!(h2.tls.alpn, ["h2", "http/1.1"]);
    }

    #[test]
    fn h1_and_auto_transports_convert_and_check_alpn() {
        let cfg = Config::from_str_named(
            "[[hosts]]\nname = \"a.test\"\ntransport = \"h1\"\n\n\
             [[hosts]]\nname = \"b.test\"\ntransport = \"auto\"\n\n\
             [[hosts]]\nname = \"c.test\"\ntransport = \"auto\"\nalpn = [\"http/1.1\"]\n",
            "t.toml",
        )
        .unwrap();
        assert_eq!(cfg.hosts[0].transport, Transport::H1);
        assert_eq!(cfg.hosts[1].transport, Transport::Auto);
        assert_eq!(
            cfg.h1_options(Some(&cfg.hosts[0])).unwrap().alpn,
            ["http/1.1"]
        );
        assert_eq!(
            cfg.https_options(Some(&cfg.hosts[1])).unwrap().tls.alpn,
            ["h2", "http/1.1"]
        );
        assert_eq!(
            cfg.https_options(Some(&cfg.hosts[2])).unwrap().tls.alpn,
            ["http/1.1"]
        );
        for transport in ["h1", "auto"] {
            let err = Config::from_str_named(
                &format!(
                    "[[hosts]]\nname = \"a.test\"\ntransport = \"{transport}\"\nalpn = [\"h2\"]\n"
                ),
                "t.toml",
            )
            .unwrap_err()
            .to_string();
            assert!(
                err.contains("needs \"http/1.1\" in alpn"),
                "{transport}: {err}"
            );
        }
    }

    #[test]
    fn h2_windows_are_carried_to_both_http2_dialers() {
        assert_eq!(Config::default().h2_windows(), H2Windows::default());
        let cfg = Config::from_str_named(
            "[h2]\nstream_window = \"6MiB\"\nconnection_window = 16777216\n\
             adaptive_window = false\n",
            "t.toml",
        )
        .unwrap();
        let windows = H2Windows {
            stream: 6 << 20,
            connection: 16 << 20,
            adaptive: false,
        };
        assert_eq!(cfg.h2_options(None).unwrap().windows, windows);
        assert_eq!(cfg.https_options(None).unwrap().h2_windows, windows);
    }

    #[cfg(feature = "boring")]
    #[test]
    fn the_boring_engine_is_told_h2_windows_do_not_apply() {
        let text = "[tls]\nengine = \"boring\"\nprofiles = [\"chrome\"]\n\n\
                    [h2]\nadaptive_window = false\n";
        let cfg = Config::from_str_named(text, "t.toml").unwrap();
        let warned = cfg.warnings().iter().any(|w| {
            w.to_string()
                .contains("[h2] applies to the rustls engine only")
        });
        assert!(warned, "{:?}", cfg.warnings());
        let cfg = Config::from_str_named(
            &text
                .replace("[h2]", "[dns]")
                .replace("adaptive_window = false", ""),
            "t.toml",
        );
        assert!(cfg.unwrap().warnings().is_empty());
    }

    #[test]
    fn h2_windows_outside_http2_limits_are_refused() {
        for (key, value) in [
            ("stream_window", "65534"),
            ("connection_window", "\"2GiB\""),
            ("stream_window", "0"),
        ] {
            let err =
                Config::from_str_named(&format!("[h2]\n{key} = {value}\n"), "t.toml").unwrap_err();
            assert_eq!(err.key(), Some(format!("h2.{key}").as_str()), "{err}");
            assert!(
                err.to_string().contains("must be an HTTP/2 window"),
                "{err}"
            );
        }
        // The limits themselves are fine.
        Config::from_str_named(
            "[h2]\nstream_window = 65535\nconnection_window = 2147483647\n",
            "t.toml",
        )
        .unwrap();
    }

    #[test]
    fn defaults() {
        let t = Config::default().tls_options().unwrap();
        assert!(t.trust.webpki_roots);
        assert!(t.validation.is_none());
        assert!(t.source_addrs.is_empty());
        assert_eq!(t.profiles.len(), 1);
        assert_eq!(t.profiles[0].name, "default");
        assert!(t.profiles[0].versions.is_empty());
    }

    #[test]
    fn every_known_profile_converts() {
        for name in KNOWN_TLS_PROFILES {
            let cfg = Config::from_str_named(&format!("[tls]\nprofiles = [{name:?}]\n"), "t.toml");
            let t = cfg.unwrap().tls_options().unwrap();
            assert_eq!(t.profiles.len(), 1, "{name}");
        }
    }
}

#[cfg(feature = "dns")]
mod dns {
    use std::time::Duration;

    use hotpool::ConfigOptions;
    use pool_config::*;
    use pool_dns::{DnsOptions, NameServer};

    #[test]
    fn dns_keys_are_carried_over() {
        let cfg = Config::from_str_named(
            "[pool]\ndns_update_interval = 120\n[dns]\nname_servers = [\"127.0.0.1:5300\", \
             \"127.0.0.2\"]\nprotocol = \"tcp\"\nprefer = \"ipv4\"\nmin_ttl = 0\ntimeout = \
             \"2s\"\nstale_after = \"1h\"\nnxdomain_confirmations = 5\n",
            "t.toml",
        )
        .unwrap();
        let d = cfg.dns_options();
        assert_eq!(
            d.name_servers,
            [
                NameServer::tcp("127.0.0.1:5300".parse().unwrap()),
                NameServer::tcp("127.0.0.2:53".parse().unwrap())
            ]
        );
        assert_eq!(d.prefer, pool_dns::IpPreference::Ipv4);
        assert_eq!(d.dns_update_interval, Duration::from_secs(120));
        assert_eq!(d.min_ttl, Duration::ZERO);
        assert_eq!(d.query_timeout, Duration::from_secs(2));
        assert_eq!(d.stale_after, Duration::from_secs(3600));
        assert_eq!(d.nxdomain_confirmations, 5);
    }

    #[test]
    fn defaults() {
        let d = Config::default().dns_options();
        assert_eq!(d, DnsOptions::default());
    }

    #[test]
    fn servers_resolv_conf_and_trust_are_carried_over() {
        let cfg = Config::from_str_named(
            "[dns]\nname_servers = [\"127.0.0.1\"]\nresolv_conf = \"/tmp/r.conf\"\n\
             [[dns.servers]]\naddr = \"127.0.0.2:853\"\nprotocol = \"tls\"\n\
             tls_name = \"dns.test\"\n[[dns.servers]]\naddr = \"[::1]:443\"\n\
             protocol = \"https\"\ntls_name = \"::1\"\n[[dns.servers]]\n\
             addr = \"127.0.0.3:53\"\nprotocol = \"tcp\"\n\
             [tls]\nca_files = [\"/etc/ca.pem\"]\nuse_webpki_roots = false\n",
            "t.toml",
        )
        .unwrap();
        let d = cfg.dns_options();
        assert_eq!(
            d.name_servers,
            [
                NameServer::udp("127.0.0.1:53".parse().unwrap()),
                NameServer::tls("127.0.0.2:853".parse().unwrap(), "dns.test"),
                NameServer::https("[::1]:443".parse().unwrap(), "::1"),
                NameServer::tcp("127.0.0.3:53".parse().unwrap()),
            ]
        );
        assert_eq!(
            d.resolv_conf.as_deref(),
            Some(std::path::Path::new("/tmp/r.conf"))
        );
        assert!(!d.tls.webpki_roots);
        assert_eq!(
            d.tls.extra_ca_files,
            [std::path::PathBuf::from("/etc/ca.pem")]
        );
    }
}

#[cfg(feature = "health")]
mod health {
    use hotpool::ConfigOptions;
    use pool_config::*;
    use pool_health::HealthOptions;

    #[test]
    fn health_keys_are_carried_over() {
        assert_eq!(Config::default().health_options(), HealthOptions::default());
        let cfg = Config::from_str_named(
            "[pool]\ntest_timeout = 3\n[health]\nconcurrency = 4\n",
            "t.toml",
        )
        .unwrap();
        let h = cfg.health_options();
        assert_eq!(h.test_timeout, std::time::Duration::from_secs(3));
        assert_eq!(h.concurrency, 4);
    }
}

#[cfg(feature = "h3")]
mod quic {
    use std::time::Duration;

    use hotpool::ConfigOptions;
    use pool_config::*;
    use pool_dial_quic::QuicOptions;

    /// `[h3]` reaches `QuicOptions`; its declared defaults are pool-dial-quic's own.
    #[test]
    fn h3_keys_are_carried_over() {
        let d = Config::default().quic_options(None).unwrap();
        let want = QuicOptions::default();
        assert_eq!(
            (d.stream_receive_window, d.receive_window, d.send_window),
            (
                want.stream_receive_window,
                want.receive_window,
                want.send_window
            )
        );
        assert_eq!(
            (d.initial_rtt, d.congestion),
            (want.initial_rtt, want.congestion)
        );
        let cfg = Config::from_str_named(
            "[h3]\nstream_receive_window = \"2MiB\"\nreceive_window = 8000000\n\
             send_window = \"1MB\"\ninitial_rtt = \"250ms\"\ncongestion = \"bbr\"\n",
            "t.toml",
        )
        .unwrap();
        let q = cfg.quic_options(None).unwrap();
        assert_eq!(q.stream_receive_window, 2 << 20);
        assert_eq!((q.receive_window, q.send_window), (8_000_000, 1_000_000));
        assert_eq!(q.initial_rtt, Duration::from_millis(250));
        assert_eq!(q.congestion, pool_dial_quic::Congestion::Bbr);
        for bad in [
            "stream_receive_window = 0",
            "stream_receive_window = \"4GiB\"",
            "receive_window = 0",
            "initial_rtt = 0",
            "congestion = \"vegas\"",
        ] {
            assert!(
                Config::from_str_named(&format!("[h3]\n{bad}\n"), "t.toml").is_err(),
                "{bad}"
            );
        }
    }

    #[test]
    fn quic_keys_are_carried_over() {
        let cfg = Config::from_str_named(
            "[pool]\nconn_timeout = 4\n[tls]\nca_files = [\"/ca.pem\"]\n\n[[hosts]]\nname = \
             \"q.test\"\ntransport = \"h3\"\nalpn = [\"h3\", \"hotpool\"]\n",
            "t.toml",
        )
        .unwrap();
        let q = cfg.quic_options(cfg.hosts.first()).unwrap();
        assert_eq!(q.conn_timeout, Duration::from_secs(4));
        assert_eq!(q.alpn, ["h3", "hotpool"]);
        assert_eq!(q.trust.extra_ca_files.len(), 1);
        assert!(q.trust.webpki_roots);
        assert!(q.validation.is_none());
        let q = cfg.quic_options(None).unwrap();
        assert_eq!(q.alpn, QuicOptions::default().alpn);
    }

    #[test]
    fn quic_gets_the_validation_request_and_test_timeout() {
        let cfg = Config::from_str_named(
            "[pool]\ntest_timeout = 3\nbanned_status = 451\n[validation]\nenabled = true\npath = \"/hot\"\n",
            "t.toml",
        )
        .unwrap();
        let q = cfg.quic_options(None).unwrap();
        assert_eq!(q.test_timeout, Duration::from_secs(3));
        let v = q.validation.unwrap();
        assert_eq!(
            (v.path.as_str(), v.banned_statuses.as_slice()),
            ("/hot", &[451][..])
        );
    }
}

#[cfg(feature = "boring")]
mod boring {
    use std::time::Duration;

    use pool_dial_boring::{BrowserProfile, Mode, Rotation};

    use hotpool::ConfigOptions;
    use pool_config::*;

    #[test]
    fn every_known_name_is_a_pool_dial_boring_profile() {
        for name in KNOWN_BORING_PROFILES {
            let text = format!("[tls]\nengine = \"boring\"\nprofiles = [{name:?}]\n");
            let cfg = Config::from_str_named(&text, "t.toml").unwrap();
            assert!(cfg.boring_options(None).is_ok(), "{name}");
        }
        // And every pool-dial-boring profile has a name here.
        for name in BrowserProfile::NAMES {
            assert!(KNOWN_BORING_PROFILES.contains(&name), "{name}");
        }
    }

    #[test]
    fn versioned_browser_profiles_are_accepted() {
        for name in BrowserProfile::VERSIONED {
            assert!(BrowserProfile::by_name(name).is_ok(), "{name}");
            assert!(KNOWN_BORING_PROFILES.contains(&name), "{name}");
            let text = format!("[tls]\nengine = \"boring\"\nprofiles = [{name:?}]\n");
            let cfg = Config::from_str_named(&text, "t.toml").unwrap();
            let opts = cfg.boring_options(None).unwrap();
            assert_eq!(opts.profiles[0].name, name);
        }
    }

    #[test]
    fn boring_keys_are_carried_over() {
        let cfg = Config::from_str_named(
            r#"
[pool]
conn_timeout = 7
test_timeout = "1500ms"

[tls]
engine = "boring"
profiles = ["chrome", "firefox"]
profile_rotation = "random"
ca_files = ["/etc/extra-ca.pem"]
use_webpki_roots = false

[[hosts]]
name = "a.test"
transport = "auto"

[[hosts]]
name = "b.test"
transport = "h3"
"#,
            "boring.toml",
        )
        .unwrap();
        let o = cfg.boring_options(Some(&cfg.hosts[0])).unwrap();
        let names: Vec<&str> = o.profiles.iter().map(|p| p.name.as_str()).collect();
        assert_eq!(names, ["chrome", "firefox"]);
        assert_eq!(o.profile_rotation, Rotation::Random);
        assert_eq!(o.mode, Mode::Auto);
        assert_eq!(o.conn_timeout, Duration::from_secs(7));
        assert_eq!(o.test_timeout, Duration::from_millis(1500));
        assert!(!o.trust.webpki_roots);
        assert_eq!(o.trust.extra_ca_files.len(), 1);
        assert_eq!(cfg.boring_options(None).unwrap().mode, Mode::H2);
        let err = cfg.boring_options(Some(&cfg.hosts[1])).unwrap_err();
        assert_eq!(err.key(), Some("tls.engine"));
        // "default" is Chrome with engine boring.
        let default = Config::from_str_named("[tls]\nengine = \"boring\"\n", "d.toml").unwrap();
        let o = default.boring_options(None).unwrap();
        assert_eq!(o.profiles.len(), 1);
        assert_eq!(o.profiles[0].name, "chrome");
    }
}

#[cfg(feature = "redis")]
mod fleet {
    use hotpool::ConfigOptions;
    use pool_config::*;

    #[test]
    fn fleet_keys_are_carried_over_and_the_password_is_not_shown() {
        let cfg = Config::from_str_named(
            "[fleet]\nbackend = \"redis\"\nurl = \"redis://w:s3cret@127.0.0.1:6390/2\"\n\
             prefix = \"crawl:\"\nshare = [\"blacklist\", \"budgets\"]\n\
             fleet_max_conns_per_host = 12\n",
            "t.toml",
        )
        .unwrap();
        let f = cfg.fleet_config().unwrap().unwrap();
        assert_eq!(f.url.expose(), "redis://w:s3cret@127.0.0.1:6390/2");
        assert_eq!(f.prefix, "crawl:");
        assert!(f.share_blacklist && !f.share_stats);
        assert_eq!(f.max_conns_per_host, Some(12));
        let shown = cfg.to_toml_string().unwrap();
        assert!(!shown.contains("s3cret"), "{shown}");
        assert!(shown.contains("redis://w:***@127.0.0.1:6390/2"), "{shown}");
        assert!(
            Config::default().fleet_config().is_none(),
            "no backend by default"
        );
    }

    #[test]
    fn bad_urls_and_prefixes_are_reported_at_their_key() {
        let err = |text: &str| {
            Config::from_str_named(text, "t.toml")
                .unwrap_err()
                .to_string()
        };
        let url = err("[fleet]\nbackend = \"redis\"\nurl = \"http://u:s3cret@h\"\n");
        assert!(url.contains("fleet.url") && url.contains("scheme"), "{url}");
        assert!(!url.contains("s3cret"), "{url}");
        let prefix = err("[fleet]\nprefix = \"a b\"\n");
        assert!(prefix.contains("fleet.prefix"), "{prefix}");
    }
}
