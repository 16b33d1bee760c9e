//! `[pool]` carried into `PoolOptions` (placement, shedding, pool-core's limit rules),
//! checked with the file and line of the key.

use pool_config::Config;
use pool_core::Placement;

fn read(text: &str) -> Result<Config, pool_config::ConfigError> {
    Config::from_str_named(text, "t.toml")
}

fn placement(text: &str) -> Placement {
    read(text).unwrap().pool_options().placement
}

#[test]
fn placement_and_fill_streams_are_carried_over() {
    assert_eq!(placement(""), Placement::Spread);
    assert_eq!(
        placement("[pool]\nplacement = \"fill\"\nfill_streams = 4\n"),
        Placement::Fill { streams: 4 }
    );
    assert_eq!(
        placement("[pool]\nplacement = \"fill\"\n"),
        Placement::Fill {
            streams: usize::MAX
        },
        "absent: each connection's capacity"
    );
    assert_eq!(placement("[pool]\nfill_streams = 4\n"), Placement::Spread);
}

#[test]
fn bad_placement_values_name_their_line_and_key() {
    let zero = read("[pool]\nplacement = \"fill\"\nfill_streams = 0\n").unwrap_err();
    assert_eq!(
        (zero.line(), zero.key()),
        (Some(3), Some("pool.fill_streams"))
    );
    assert!(zero.to_string().contains("must not be zero"), "{zero}");
    let unknown = read("[pool]\nplacement = \"pack\"\n").unwrap_err();
    assert_eq!(
        (unknown.line(), unknown.key()),
        (Some(2), Some("pool.placement"))
    );
    assert!(unknown.to_string().contains("\"fill\""), "{unknown}");
}

#[test]
fn shedding_keys_reach_the_pool_options_and_are_checked() {
    let off = Config::default().pool_options();
    assert_eq!((off.memory_limit, off.shed_fraction), (None, 0.2));
    let text = "[pool]\nmemory_limit = \"512MiB\"\nshed_fraction = 0.5\nmemory_check_interval = \"250ms\"\n";
    let o = Config::from_str_named(text, "t.toml")
        .unwrap()
        .pool_options();
    assert_eq!(o.memory_limit, Some(512 << 20));
    assert_eq!(o.memory_low_water_or_default(), Some((512 << 20) / 10 * 9));
    assert_eq!(o.shed_fraction, 0.5);
    assert_eq!(
        o.memory_check_interval,
        std::time::Duration::from_millis(250)
    );
    let bad = [
        (
            "memory_limit = 1000\nmemory_low_water = 2000\n",
            "pool.memory_low_water",
        ),
        ("shed_fraction = 0\n", "pool.shed_fraction"),
        ("memory_limit = \"12 parsecs\"\n", "pool.memory_limit"),
        ("memory_check_interval = 0\n", "pool.memory_check_interval"),
    ];
    for (body, key) in bad {
        let err = Config::from_str_named(&format!("[pool]\n{body}"), "t.toml")
            .expect_err(body)
            .to_string();
        assert!(err.contains(key), "{body}: {err}");
        assert!(err.contains("t.toml:"), "{body}: {err}");
    }
}

#[test]
fn pool_limits_are_pool_cores_rules() {
    // Every [pool] limit problem pool-core knows is reported by the loader, at its key.
    let mut c = Config::default();
    c.pool.max_conns_per_ip = Some(11);
    let opts = c.pool_options();
    let problems = opts.problems();
    assert_eq!(problems.len(), 1);
    let e = c.validate().unwrap_err();
    assert_eq!(
        e.key(),
        Some(format!("pool.{}", problems[0].key()).as_str())
    );
    assert_eq!(
        e.reason(),
        "must not exceed pool.max_conns_per_host (10, the default), got 11"
    );
    let mut c = Config::default();
    c.pool.warm_concurrency = 0;
    assert_eq!(
        c.validate().unwrap_err().to_string(),
        "pool.warm_concurrency: must not be zero"
    );
}
