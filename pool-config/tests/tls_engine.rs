//! `[tls] engine`: rustls by default, `"boring"` only in a build with the `boring` feature;
//! `profiles` are checked against the engine's names.

use pool_config::{
    Config, ConfigError, ErrorKind, KNOWN_BORING_PROFILES, KNOWN_TLS_PROFILES, TlsEngine,
};

const NAME: &str = "engine.toml";

fn err(text: &str) -> ConfigError {
    match Config::from_str_named(text, NAME) {
        Ok(c) => panic!("expected an error for {text:?}, got {c:?}"),
        Err(e) => e,
    }
}

fn assert_at(e: &ConfigError, line: usize, key: &str) {
    let msg = e.to_string();
    assert_eq!(e.file(), Some(NAME), "{msg}");
    assert_eq!(e.line(), Some(line), "{msg}");
    assert_eq!(e.key(), Some(key), "{msg}");
    assert!(msg.starts_with(&format!("{NAME}:{line}:")), "{msg}");
}

#[test]
fn rustls_is_the_default_engine_and_its_profiles_are_checked() {
    let cfg = Config::from_str_named("", NAME).unwrap();
    assert_eq!(cfg.tls.engine, TlsEngine::Rustls);
    assert_eq!(cfg.tls.profiles, ["default"]);
    // A browser name is not a rustls profile: the hint names the rustls one.
    let e = err("[tls]\nprofiles = [\"chrome\"]\n");
    assert_at(&e, 2, "tls.profiles[0]");
    assert_eq!(e.kind(), ErrorKind::Value);
    let msg = e.to_string();
    assert!(msg.contains("unknown TLS profile \"chrome\""), "{msg}");
    assert!(msg.contains("did you mean \"chrome-like\"?"), "{msg}");
    for name in KNOWN_TLS_PROFILES {
        assert!(msg.contains(name), "{msg}");
    }
}

#[test]
fn an_unknown_engine_is_a_value_error_naming_both() {
    let e = err("[tls]\nengine = \"openssl\"\n");
    assert_at(&e, 2, "tls.engine");
    let msg = e.to_string();
    assert!(
        msg.contains("\"rustls\"") && msg.contains("\"boring\""),
        "{msg}"
    );
}

#[test]
fn the_default_file_documents_the_engine_and_both_profile_lists() {
    let text = Config::default_toml();
    assert!(text.contains("engine = \"rustls\""), "{text}");
    for name in KNOWN_BORING_PROFILES {
        assert!(text.contains(&format!("{name:?}")), "{name}");
    }
}

#[cfg(not(feature = "boring"))]
#[test]
fn boring_without_the_feature_is_a_config_error_at_its_line() {
    let e = err("[pool]\nmax_retries = 2\n\n[tls]\nengine = \"boring\"\nprofiles = [\"chrome\"]\n");
    assert_at(&e, 5, "tls.engine");
    assert_eq!(e.kind(), ErrorKind::Value);
    assert!(
        e.to_string().contains("built without the boring feature"),
        "{e}"
    );
    // The environment says where it came from instead of a line.
    let mut cfg = Config::default();
    let e = cfg
        .apply_env([("HOTPOOL_TLS__ENGINE", "boring")])
        .unwrap_err();
    assert_eq!(e.env_var(), Some("HOTPOOL_TLS__ENGINE"), "{e}");
    assert!(
        e.to_string().contains("built without the boring feature"),
        "{e}"
    );
}

#[cfg(feature = "boring")]
#[test]
fn boring_names_browser_profiles() {
    let cfg = Config::from_str_named(
        "[tls]\nengine = \"boring\"\nprofiles = [\"chrome\", \"firefox\"]\n",
        NAME,
    )
    .unwrap();
    assert_eq!(cfg.tls.engine, TlsEngine::Boring);
    assert_eq!(cfg.tls.profiles, ["chrome", "firefox"]);
    // "default" is the engine's default (Chrome) and stays valid.
    Config::from_str_named("[tls]\nengine = \"boring\"\n", NAME).unwrap();
    // A rustls profile is not a browser profile.
    let e = err("[tls]\nengine = \"boring\"\nprofiles = [\"chrome\", \"chrome-like\"]\n");
    assert_at(&e, 3, "tls.profiles[1]");
    let msg = e.to_string();
    assert!(
        msg.contains("unknown browser profile (engine boring) \"chrome-like\""),
        "{msg}"
    );
    assert!(msg.contains("did you mean \"chrome\"?"), "{msg}");
}
