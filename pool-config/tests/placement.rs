//! `[pool] placement` and `fill_streams`: read, carried into `PoolOptions::placement`, and
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
