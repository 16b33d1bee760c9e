//! The properties the fuzz targets check, shared by the libFuzzer targets and the stable
//! random loop. Each function panics when a property fails (that is the finding).
//!
//! For any input text:
//! - parsing never panics, and `check_str_named` never returns an empty error list;
//! - `from_str_named` agrees with `check_str_named`: both accept, or it rejects with the
//!   first error of the list;
//! - every error names the file, points at a line inside the text (when it has one), and
//!   renders as one line;
//! - an accepted config converts into `PoolOptions` that pass `PoolOptions::validate`, and
//!   serializes to TOML that loads back to an equal config.

use pool_config::Config;

const NAME: &str = "fuzz.toml";

/// Checks the config-text properties on `data` (lossily decoded as UTF-8).
pub fn config_text(data: &[u8]) {
    let text = String::from_utf8_lossy(data);
    check_text(&text, &[]);
}

/// Checks the properties with `HOTPOOL_*` overrides: the input is split into the config
/// text (before the first NUL) and `NAME=value` lines (after it).
pub fn config_env(data: &[u8]) {
    let (text, vars) = match data.iter().position(|b| *b == 0) {
        Some(at) => (&data[..at], &data[at + 1..]),
        None => (data, &[][..]),
    };
    let text = String::from_utf8_lossy(text);
    let vars = String::from_utf8_lossy(vars);
    let vars: Vec<(String, String)> = vars
        .lines()
        .filter_map(|line| line.split_once('='))
        .map(|(k, v)| (format!("HOTPOOL_{k}"), v.to_owned()))
        .collect();
    check_text(&text, &vars);
}

fn check_text(text: &str, vars: &[(String, String)]) {
    let lines = text.lines().count().max(1) + 1;
    let first = Config::from_str_with_vars(text, NAME, vars.iter().cloned());
    if vars.is_empty() {
        let all = Config::check_str_named(text, NAME);
        match (&first, &all) {
            (Ok(a), Ok(b)) => assert_eq!(a, b, "the two entry points disagree"),
            (Err(e), Err(list)) => {
                assert!(!list.is_empty(), "an empty error list");
                assert_eq!(
                    e, &list[0],
                    "from_str_named is not the first of check_str_named"
                );
                for error in list {
                    check_error(error, lines);
                }
            }
            _ => panic!("from_str_named and check_str_named disagree: {first:?} / {all:?}"),
        }
    }
    match first {
        Ok(config) => check_accepted(&config),
        Err(error) => check_error(&error, lines),
    }
}

fn check_error(error: &pool_config::ConfigError, lines: usize) {
    let shown = error.to_string();
    assert!(!shown.contains('\n'), "a multi-line error: {shown:?}");
    assert!(!error.reason().is_empty(), "an error without a reason");
    if error.env_var().is_none() {
        assert_eq!(
            error.file(),
            Some(NAME),
            "an error without the file: {shown}"
        );
        if let Some(line) = error.line() {
            assert!(
                line >= 1 && line <= lines,
                "line {line} outside the text: {shown}"
            );
        }
    }
}

fn check_accepted(config: &Config) {
    let options = config.pool_options();
    if let Err(reason) = options.validate() {
        panic!("an accepted config gives invalid pool options: {reason}\n{options:?}");
    }
    let toml = config
        .to_toml_string()
        .unwrap_or_else(|e| panic!("an accepted config does not serialize: {e}"));
    match Config::from_str_named(&toml, NAME) {
        Ok(again) => assert_eq!(
            &again, config,
            "the TOML round trip changed the config:\n{toml}"
        ),
        Err(e) => panic!("serialized config does not load back: {e}\n{toml}"),
    }
}
