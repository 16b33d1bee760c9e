//! `[fleet] mode`: single (one URL), cluster (seed nodes) and sentinel (sentinels and the
//! master's name) converted into `pool_redis::FleetConfig`; a list of URLs with
//! `mode = "single"`, and a bad URL anywhere in a list, are reported at `fleet.url`, and no
//! password is shown.
#![cfg(feature = "redis")]

use hotpool::ConfigOptions;
use pool_config::Config;
use pool_redis::FleetMode;

fn config(fleet: &str) -> Config {
    Config::from_str_named(&format!("[fleet]\nbackend = \"redis\"\n{fleet}"), "t.toml").unwrap()
}

#[test]
fn each_mode_converts_with_its_servers() {
    let single = config("").fleet_config().unwrap().unwrap();
    assert_eq!(single.mode, FleetMode::Single);
    assert_eq!(single.url.expose(), "redis://127.0.0.1:6379/0");
    assert!(single.more_nodes.is_empty());

    let cluster =
        config("mode = \"cluster\"\nurl = \"redis://10.0.0.1:7000, redis://:pw@10.0.0.2:7000\"\n")
            .fleet_config()
            .unwrap()
            .unwrap();
    assert_eq!(cluster.mode, FleetMode::Cluster);
    let nodes: Vec<&str> = cluster.nodes().map(|u| u.expose()).collect();
    assert_eq!(
        nodes,
        ["redis://10.0.0.1:7000", "redis://:pw@10.0.0.2:7000"]
    );

    let sentinel = config(
        "mode = \"sentinel\"\nurl = \"redis://10.0.0.1:26379,redis://10.0.0.2:26379\"\n\
         sentinel_master = \"crawl\"\n",
    )
    .fleet_config()
    .unwrap()
    .unwrap();
    assert_eq!(
        sentinel.mode,
        FleetMode::Sentinel {
            master: "crawl".into()
        }
    );
    assert_eq!(sentinel.nodes().count(), 2);
    let default_name = config("mode = \"sentinel\"\n")
        .fleet_config()
        .unwrap()
        .unwrap();
    assert_eq!(
        default_name.mode,
        FleetMode::Sentinel {
            master: "mymaster".into()
        }
    );
}

#[test]
fn a_list_needs_a_mode_that_takes_one_and_bad_urls_are_reported() {
    let list = Config::from_str_named(
        "[fleet]\nbackend = \"redis\"\nurl = \"redis://a:1, redis://:s3cret@b:2\"\n",
        "t.toml",
    )
    .unwrap_err()
    .to_string();
    assert!(
        list.contains("fleet.url") && list.contains("fleet.mode"),
        "{list}"
    );
    assert!(!list.contains("s3cret"), "{list}");
    let bad = Config::from_str_named(
        "[fleet]\nbackend = \"redis\"\nmode = \"cluster\"\nurl = \"redis://a:1, rediss://\"\n",
        "t.toml",
    )
    .unwrap_err()
    .to_string();
    assert!(
        bad.contains("fleet.url") && bad.contains("no host"),
        "{bad}"
    );
    let mode = Config::from_str_named("[fleet]\nmode = \"ring\"\n", "t.toml")
        .unwrap_err()
        .to_string();
    assert!(mode.contains("fleet.mode"), "{mode}");
}

#[test]
fn a_written_url_list_shows_each_server_without_its_password() {
    let cfg = config(
        "mode = \"cluster\"\nurl = \"redis://:pw1@10.0.0.1:7000,redis://u:pw2@10.0.0.2:7000\"\n",
    );
    let text = cfg.to_toml_string().unwrap();
    assert!(!text.contains("pw1") && !text.contains("pw2"), "{text}");
    assert!(
        text.contains("10.0.0.1:7000") && text.contains("10.0.0.2:7000"),
        "{text}"
    );
}
