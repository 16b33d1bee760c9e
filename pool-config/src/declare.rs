//! The declaration macros: every key is written once, in `model.rs`, with its type, default,
//! doc, default-file note and check; [`section!`] turns that into the public struct, its
//! default, the serde struct the file is read with, the environment setter, the checks and
//! the lines of `hotpool config default`. See `docs/config.md`.

use std::fmt::Write as _;

use crate::parse::{Place, Reader};
use crate::read::Issue;
use crate::validate::Checker;

/// What every declared section can do; implemented by [`section!`].
pub(crate) trait Section: Sized {
    /// The serde form of the section (`deny_unknown_fields`): each key optional and spanned,
    /// holding its value or its problem.
    type Raw: for<'de> serde::Deserialize<'de>;

    /// The keys, in declaration order.
    const KEYS: &'static [&'static str];

    /// Every key at its declared default.
    fn declared() -> Self;

    /// Moves the keys present in `raw` into `self`; problems and origins go to `reader`.
    fn apply(&mut self, raw: Self::Raw, at: &Place<'_>, reader: &mut Reader<'_>);

    /// Sets `key` from an environment variable's text; `None` when there is no such key.
    fn set_env(&mut self, key: &str, raw: &str) -> Option<Result<(), Issue>>;

    /// Runs each key's declared check; `prefix` is `"pool"`, `"hosts[2]"`, ….
    fn check(&self, prefix: &str, c: &mut Checker<'_>);

    /// Writes each key at its default, with its note.
    fn write_default(out: &mut DefaultFile);
}

/// How a key's line in the default file looks.
pub(crate) enum Example {
    /// The key at its default.
    Default(&'static str),
    /// An optional key: commented out, with an example value.
    Optional(&'static str),
    /// A required key, with an example value.
    Required(&'static str),
}

/// The text of `hotpool config default`, written section by section.
pub(crate) struct DefaultFile {
    pub(crate) text: String,
    /// Every line commented out (the `[[hosts]]` example).
    pub(crate) commented: bool,
}

/// Comments start in this column, as far as the key fits.
const NOTE_COLUMN: usize = 30;

impl DefaultFile {
    pub(crate) fn line(&mut self, code: &str, note: &str) {
        let hash = if self.commented { "# " } else { "" };
        let code = format!("{hash}{code}");
        let _ = if note.is_empty() {
            writeln!(self.text, "{code}")
        } else {
            writeln!(self.text, "{code:<NOTE_COLUMN$} # {note}")
        };
    }

    pub(crate) fn key(&mut self, key: &str, example: Example, note: &str) {
        match example {
            Example::Default(v) | Example::Required(v) => self.line(&format!("{key} = {v}"), note),
            // Inside a commented-out example every key is an example already.
            Example::Optional(v) if self.commented => self.line(&format!("{key} = {v}"), note),
            Example::Optional(v) => self.line(&format!("# {key} = {v}"), note),
        }
    }
}

/// Declares one section: see `model.rs` for the form and `docs/config.md` for what comes
/// out. Each key reads
/// `DOC ATTRS key: Type [as Reader] = (default "toml") | (optional "example") |
/// (required "what", "example"), note [, check path];`
/// where `Reader` (default: `Type`) is the [`Read`](crate::read::Read) that parses it and
/// `check` is `fn(&mut Checker, key: &str, &Type)`; the note (a `&str` or `String`) is the
/// key's comment in the default file.
macro_rules! section {
    (@reader $ty:ty) => { $ty };
    (@reader $ty:ty, $reader:ty) => { $reader };
    (@value (default $lit:literal), $reader:ty, $key:expr) => {
        crate::read::literal::<$reader>($lit, $key)
    };
    (@value (optional $ex:literal), $reader:ty, $key:expr) => { None };
    // A required key starts at its example (never seen: its absence is an error).
    (@value (required $what:literal, $ex:literal), $reader:ty, $key:expr) => {
        crate::read::literal::<$reader>($ex, $key)
    };
    (@doc (default $lit:literal)) => { concat!("Default: `", $lit, "`.") };
    (@doc (optional $ex:literal)) => { concat!("Optional, absent by default (e.g. `", $ex, "`).") };
    (@doc (required $what:literal, $ex:literal)) => { concat!("Required (e.g. `", $ex, "`).") };
    (@example (default $lit:literal)) => { crate::declare::Example::Default($lit) };
    (@example (optional $ex:literal)) => { crate::declare::Example::Optional($ex) };
    (@example (required $what:literal, $ex:literal)) => { crate::declare::Example::Required($ex) };
    (@absent (required $what:literal, $ex:literal), $reader:ident, $at:ident, $key:expr) => {
        $reader.missing($at, $key, $what)
    };
    (@absent $other:tt, $reader:ident, $at:ident, $key:expr) => {
        ()
    };
    (
        $(#[$meta:meta])*
        pub struct $name:ident (raw $raw:ident) {
            $(
                $(#[$fmeta:meta])*
                $key:ident: $ty:ty $(as $reader:ty)? = $default:tt, $note:expr
                    $(, check $check:path)?;
            )*
        }
    ) => {
        $(#[$meta])*
        pub struct $name {
            $(
                $(#[$fmeta])*
                #[doc = ""]
                #[doc = section!(@doc $default)]
                pub $key: $ty,
            )*
        }

        /// The serde form of the section: see [`Section::Raw`](crate::declare::Section::Raw).
        #[derive(serde::Deserialize)]
        #[serde(deny_unknown_fields)]
        pub(crate) struct $raw {
            $(
                $key: Option<toml::Spanned<crate::read::Got<section!(@reader $ty $(, $reader)?)>>>,
            )*
        }

        impl crate::declare::Section for $name {
            type Raw = $raw;

            const KEYS: &'static [&'static str] = &[$(stringify!($key)),*];

            fn declared() -> Self {
                static DECLARED: std::sync::LazyLock<$name> = std::sync::LazyLock::new(|| $name {
                    $(
                        $key: section!(
                            @value $default,
                            section!(@reader $ty $(, $reader)?),
                            concat!(stringify!($name), ".", stringify!($key))
                        ),
                    )*
                });
                DECLARED.clone()
            }

            fn apply(
                &mut self,
                raw: $raw,
                at: &crate::parse::Place<'_>,
                reader: &mut crate::parse::Reader<'_>,
            ) {
                $(
                    match raw.$key {
                        Some(v) => reader.take(at, stringify!($key), v, &mut self.$key),
                        None => section!(@absent $default, reader, at, stringify!($key)),
                    }
                )*
            }

            fn set_env(&mut self, key: &str, raw: &str) -> Option<Result<(), crate::read::Issue>> {
                $(
                    if key == stringify!($key) {
                        let value = crate::read::from_env::<section!(@reader $ty $(, $reader)?)>(raw);
                        return Some(value.map(|v| self.$key = v));
                    }
                )*
                None
            }

            fn check(&self, prefix: &str, c: &mut crate::validate::Checker<'_>) {
                $($(
                    $check(c, &format!("{prefix}.{}", stringify!($key)), &self.$key);
                )?)*
                let _ = (prefix, c);
            }

            fn write_default(out: &mut crate::declare::DefaultFile) {
                $(
                    out.key(stringify!($key), section!(@example $default), &$note);
                )*
            }
        }
    };
}

/// Declares [`Config`](crate::Config): its plain sections, in file order, each with the note
/// on its header line in the default file; `[[hosts]]` comes last. Generates the struct, the
/// serde struct of the whole file, the section list (for suggestions) and the dispatch to
/// each section's declared code.
macro_rules! config {
    (
        $(#[$meta:meta])*
        pub struct Config {
            $(
                $(#[$fmeta:meta])*
                $section:ident: $ty:ty, $note:literal;
            )*
        }
    ) => {
        $(#[$meta])*
        pub struct Config {
            $(
                $(#[$fmeta])*
                pub $section: $ty,
            )*
            /// `[[hosts]]`: the hosts kept warm.
            pub hosts: Vec<HostConfig>,
            /// Where each explicitly set key came from, and the warnings of the last validation.
            #[serde(skip)]
            pub(crate) meta: Meta,
        }

        /// The serde form of a whole file.
        #[derive(serde::Deserialize)]
        #[serde(deny_unknown_fields)]
        pub(crate) struct RawConfig {
            $(
                $section: Option<toml::Spanned<
                    crate::read::Table<<$ty as crate::declare::Section>::Raw>,
                >>,
            )*
            hosts: Option<toml::Spanned<
                crate::read::Tables<<HostConfig as crate::declare::Section>::Raw>,
            >>,
        }

        /// The plain sections and their keys.
        pub(crate) const SECTIONS: &[(&str, &[&str])] = &[
            $((stringify!($section), <$ty as crate::declare::Section>::KEYS),)*
        ];

        impl Config {
            /// Moves what the file set into `self`.
            pub(crate) fn apply_raw(&mut self, raw: RawConfig, reader: &mut crate::parse::Reader<'_>) {
                $(
                    if let Some(table) = raw.$section {
                        reader.section(stringify!($section), table, &mut self.$section);
                    }
                )*
                if let Some(hosts) = raw.hosts {
                    reader.hosts(hosts, &mut self.hosts);
                }
            }

            /// Sets `section.key` from an environment variable's text: `None` for an unknown
            /// section, `Some(None)` for an unknown key.
            pub(crate) fn set_env(
                &mut self,
                section: &str,
                key: &str,
                raw: &str,
            ) -> Option<Option<Result<(), crate::read::Issue>>> {
                use crate::declare::Section as _;
                match section {
                    $(stringify!($section) => Some(self.$section.set_env(key, raw)),)*
                    _ => None,
                }
            }

            /// Runs every declared key check.
            pub(crate) fn check_keys(&self, c: &mut crate::validate::Checker<'_>) {
                use crate::declare::Section as _;
                $(self.$section.check(stringify!($section), c);)*
                for (i, host) in self.hosts.iter().enumerate() {
                    host.check(&format!("hosts[{i}]"), c);
                }
            }

            /// Writes the default file.
            pub(crate) fn write_default(out: &mut crate::declare::DefaultFile) {
                use crate::declare::Section as _;
                $(
                    out.text.push('\n');
                    out.line(concat!("[", stringify!($section), "]"), $note);
                    <$ty>::write_default(out);
                )*
            }
        }
    };
}

/// Declares an enum written as a name in the file: each variant with its name, once. Gives
/// `as_str`, `Serialize` (the name) and [`Read`](crate::read::Read) (one of the names).
macro_rules! names {
    (
        $(#[$meta:meta])*
        pub enum $name:ident {
            $( $(#[$vmeta:meta])* $variant:ident = $text:literal $(| $alias:literal)*, )*
        }
    ) => {
        $(#[$meta])*
        pub enum $name {
            $( $(#[$vmeta])* $variant, )*
        }

        impl $name {
            const NAMES: &'static [(&'static str, $name)] = &[$(($text, $name::$variant)),*];
            /// Other names accepted when reading (`"b" | "old-b"`: read as `"b"`), never
            /// written.
            const ALIASES: &'static [(&'static str, $name)] =
                &[$($(($alias, $name::$variant),)*)*];

            /// The name used in the config file.
            #[must_use]
            pub fn as_str(self) -> &'static str {
                match self {
                    $($name::$variant => $text,)*
                }
            }

            /// The names, quoted, for the default file: `"a", "b" or "c"`.
            pub(crate) fn choices() -> String {
                crate::declare::either(Self::NAMES.iter().map(|(n, _)| format!("{n:?}")))
            }
        }

        impl serde::Serialize for $name {
            fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
                s.serialize_str(self.as_str())
            }
        }

        impl crate::read::Read for $name {
            type Value = $name;

            fn read(seen: crate::read::Seen<'_>) -> Result<$name, crate::read::Issue> {
                crate::read::choice(seen, Self::NAMES, Self::ALIASES)
            }

            fn env_value(raw: &str) -> toml::de::DeValue<'_> {
                crate::read::text_env(raw)
            }
        }
    };
}

pub(crate) use {config, names, section};

/// `a, b or c`.
pub(crate) fn either(items: impl IntoIterator<Item = String>) -> String {
    let items: Vec<String> = items.into_iter().collect();
    match items.split_last() {
        Some((last, rest)) if !rest.is_empty() => format!("{} or {last}", rest.join(", ")),
        _ => items.concat(),
    }
}

/// The default file: a header, every section at its defaults, and a commented
/// `[[hosts]]` example.
pub(crate) fn default_file() -> String {
    let mut out = DefaultFile {
        text: String::from(
            "# hotpool configuration — every key at its default.\n\
             #\n\
             # Durations: an integer is seconds (30), a float fractional seconds (1.5); a string\n\
             # is a duration (\"30s\", \"1m30s\", \"250ms\").\n\
             # Environment overrides: HOTPOOL_<SECTION>__<KEY>=value, e.g. \
             HOTPOOL_POOL__MAX_CONNECTIONS=200.\n",
        ),
        commented: false,
    };
    crate::Config::write_default(&mut out);
    out.text
        .push_str("\n# Hosts kept warm (none by default). One [[hosts]] table per host:\n");
    out.commented = true;
    out.line("[[hosts]]", "");
    <crate::HostConfig as Section>::write_default(&mut out);
    out.text
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::Config;
    use crate::model::SECTIONS;

    /// `(section, key, value)` of every key line of the default file, examples included.
    fn key_lines(text: &str) -> Vec<(String, String, String)> {
        let mut section = String::new();
        let mut out = Vec::new();
        for line in text.lines() {
            let code = line.split(" # ").next().unwrap_or("").trim();
            let code = code.trim_start_matches("# ");
            if let Some(name) = code.strip_prefix('[') {
                section = name.trim_matches(|c| c == '[' || c == ']').to_owned();
            } else if let Some((key, value)) = code.split_once(" = ") {
                out.push((section.clone(), key.to_owned(), value.to_owned()));
            }
        }
        out
    }

    #[test]
    fn every_declared_key_has_one_default_line_and_an_env_setter() {
        let lines = key_lines(&default_file());
        let mut expected: Vec<(String, String)> = SECTIONS
            .iter()
            .flat_map(|(s, keys)| keys.iter().map(move |k| ((*s).to_owned(), (*k).to_owned())))
            .collect();
        let host_keys = <crate::HostConfig as Section>::KEYS;
        expected.extend(
            host_keys
                .iter()
                .map(|k| ("hosts".to_owned(), (*k).to_owned())),
        );
        let found: Vec<(String, String)> = lines
            .iter()
            .map(|(s, k, _)| (s.clone(), k.clone()))
            .collect();
        assert_eq!(found, expected);

        // Each value written in the file, set from the environment, reads; a default value
        // read that way is the default itself.
        for (section, key, value) in lines.iter().filter(|(s, _, _)| s != "hosts") {
            let mut cfg = Config::default();
            let set = cfg.set_env(section, key, value);
            assert!(
                matches!(set, Some(Some(Ok(())))),
                "{section}.{key} = {value}"
            );
            let optional = [
                "body",
                "ipv6_prefix",
                "body_idle_timeout",
                "resolv_conf",
                "fleet_max_conns_per_host",
                "fill_streams",
                "memory_limit",
                "memory_low_water",
                "max_conns_per_ip",
            ]
            .contains(&key.as_str());
            assert_eq!(cfg == Config::default(), !optional, "{section}.{key}");
        }
        let mut cfg = Config::default();
        assert!(matches!(cfg.set_env("pool", "nope", "1"), Some(None)));
        assert!(cfg.set_env("nope", "max_connections", "1").is_none());
    }

    #[test]
    fn hosts_example_reads_as_a_host() {
        let mut host = crate::HostConfig::new("x");
        for (_, key, value) in key_lines(&default_file())
            .iter()
            .filter(|(s, _, _)| s == "hosts")
        {
            assert!(
                matches!(host.set_env(key, value), Some(Ok(()))),
                "hosts.{key} = {value}"
            );
        }
        assert_eq!(host.name, "example.com");
        assert_eq!(host.alpn.as_deref(), Some(&["h2".to_owned()][..]));
    }
}
