//! Reading a file: the TOML is parsed once (`toml::de::DeTable`, every value spanned), then
//! each section's keys are handed one by one to their declared reader, by default the
//! type's ordinary `Deserialize`. A problem is pushed with its span and reading goes on, so
//! one pass reports every problem. Keys are declared with [`section!`] (`model.rs`); see
//! `docs/config-reader.md`.

use std::collections::HashMap;
use std::fmt::Write as _;
use std::ops::Range;

use serde::de::DeserializeOwned;
use toml::Spanned;
use toml::de::{DeTable, DeValue};

use crate::error::{ConfigWarning, ErrorKind, Origin, Report, Source};

/// A value of the file (or of an environment variable) with its span.
pub(crate) type Value<'a> = Spanned<DeValue<'a>>;

/// A key's reader: the value at a dotted key, or `None` with its problems reported.
pub(crate) type ReadFn<T> = fn(&mut Reader, &str, &Value<'_>) -> Option<T>;

/// What every declared section can do; implemented by [`section!`].
pub(crate) trait Section {
    /// The keys, in declaration order.
    fn keys(&self) -> &'static [&'static str];
    /// Reads `key` (written at `dotted`) into `self`; false for an unknown key.
    fn read_key(&mut self, key: &str, dotted: &str, v: &Value<'_>, r: &mut Reader) -> bool;
    /// Required keys and what they are: reported when absent.
    fn required(&self) -> Vec<(&'static str, &'static str)>;
    /// Runs each key's declared check; `prefix` is `"pool"`, `"hosts[2]"`, ….
    fn check(&self, prefix: &str, c: &mut Checker<'_>);
    /// Writes each key with its default (or example) and note.
    fn write_default(&self, out: &mut DefaultFile);
}

/// Collects problems and origins while reading one source (the file, or one variable).
pub(crate) struct Reader {
    source: Source,
    /// Set while reading an environment variable: problems name it.
    pub(crate) env_var: Option<String>,
    /// (sort position, report): file problems sort by offset, environment ones after them.
    pub(crate) reports: Vec<(usize, Report)>,
    /// Dotted key → where its value came from.
    pub(crate) origins: HashMap<String, Origin>,
}

impl Reader {
    pub(crate) fn new(source: Source) -> Self {
        Self {
            source,
            env_var: None,
            reports: Vec::new(),
            origins: HashMap::new(),
        }
    }

    pub(crate) fn push(
        &mut self,
        span: Range<usize>,
        key: Option<String>,
        kind: ErrorKind,
        reason: String,
    ) {
        let origin = match &self.env_var {
            Some(var) => Origin::Env(var.clone()),
            None => Origin::File(span),
        };
        let found = self.source.report(Some(&origin), key, kind, reason);
        self.reports.push(found);
    }

    /// Reads `v` as a `T` through its `Deserialize`; a problem is reported at the part of
    /// `v` it concerns (`whitelist.ips[1]`).
    pub(crate) fn read<T: DeserializeOwned>(&mut self, key: &str, v: &Value<'_>) -> Option<T> {
        match T::deserialize(toml::de::ValueDeserializer::from(v.clone())) {
            Ok(t) => {
                self.record(key, v);
                Some(t)
            }
            Err(e) => {
                let span = e.span().unwrap_or_else(|| v.span());
                let (suffix, part) = part_at(v, &span);
                let (kind, reason) = translate(e.message(), part.get_ref());
                self.push(part.span(), Some(format!("{key}{suffix}")), kind, reason);
                None
            }
        }
    }

    /// Records where `v` and each of its parts were written.
    fn record(&mut self, key: &str, v: &Value<'_>) {
        match v.get_ref() {
            DeValue::Array(items) => {
                for (i, item) in items.iter().enumerate() {
                    self.record(&format!("{key}[{i}]"), item);
                }
            }
            DeValue::Table(t) => {
                for (k, item) in t {
                    self.record(&format!("{key}.{}", k.get_ref()), item);
                }
            }
            _ => {}
        }
        self.origins.insert(key.to_owned(), Origin::File(v.span()));
    }

    /// Reads one table into `target`: each key through the section's reader, unknown keys
    /// with `unknown`'s reason, absent required keys reported at the table.
    pub(crate) fn table(
        &mut self,
        prefix: &str,
        table: &Spanned<&DeTable<'_>>,
        target: &mut dyn Section,
        unknown: &dyn Fn(&str) -> String,
    ) {
        for (k, v) in table.get_ref().iter() {
            let dotted = format!("{prefix}.{}", k.get_ref());
            if !target.read_key(k.get_ref(), &dotted, v, self) {
                self.push(
                    k.span(),
                    Some(dotted),
                    ErrorKind::UnknownKey,
                    unknown(k.get_ref()),
                );
            }
        }
        for (key, what) in target.required() {
            if !table.get_ref().contains_key(key) {
                let reason = format!("missing required key `{key}` ({what})");
                self.push(
                    table.span(),
                    Some(format!("{prefix}.{key}")),
                    ErrorKind::Missing,
                    reason,
                );
            }
        }
    }

    /// Reads a list of tables (`[[hosts]]`, `[[dns.servers]]`), each entry a declared
    /// section; `None` when any entry has a problem.
    pub(crate) fn entries<S: Section + Default>(
        &mut self,
        key: &str,
        v: &Value<'_>,
    ) -> Option<Vec<S>> {
        let DeValue::Array(items) = v.get_ref() else {
            let got = describe(v.get_ref());
            let reason = format!("expected an array of tables ([[{key}]]), got {got}");
            self.push(v.span(), Some(key.to_owned()), ErrorKind::Type, reason);
            return None;
        };
        let before = self.reports.len();
        let mut out = Vec::new();
        for (i, item) in items.iter().enumerate() {
            let at = format!("{key}[{i}]");
            let DeValue::Table(t) = item.get_ref() else {
                let reason = format!("expected a table, got {}", describe(item.get_ref()));
                self.push(item.span(), Some(at), ErrorKind::Type, reason);
                continue;
            };
            let mut entry = S::default();
            let known = entry.keys();
            let place = format!("[[{}]]", strip_indices(key));
            self.table(&at, &Spanned::new(item.span(), t), &mut entry, &|k| {
                unknown_in(k, known, &place)
            });
            self.origins.insert(at, Origin::File(item.span()));
            out.push(entry);
        }
        self.origins.insert(key.to_owned(), Origin::File(v.span()));
        (self.reports.len() == before).then_some(out)
    }
}

/// The part of `v` (with its key suffix: `[1]`, `[0].addr`) whose span holds `span`.
fn part_at<'v, 'a>(v: &'v Value<'a>, span: &Range<usize>) -> (String, &'v Value<'a>) {
    let inside = |p: &Value<'_>| {
        p.span().start <= span.start && span.end <= p.span().end && p.span() != v.span()
    };
    let found = match v.get_ref() {
        DeValue::Array(items) => items
            .iter()
            .enumerate()
            .find(|(_, p)| inside(p))
            .map(|(i, p)| (format!("[{i}]"), p)),
        DeValue::Table(t) => t
            .iter()
            .find(|(_, p)| inside(p))
            .map(|(k, p)| (format!(".{}", k.get_ref()), p)),
        _ => None,
    };
    match found {
        Some((suffix, p)) => {
            let (rest, p) = part_at(p, span);
            (suffix + &rest, p)
        }
        None => (String::new(), v),
    }
}

/// A TOML value as problems show it: `string "x"`, `integer 5`, `table`, ….
pub(crate) fn describe(v: &DeValue<'_>) -> String {
    match v {
        DeValue::String(s) => format!("string {s:?}"),
        DeValue::Integer(n) => format!("integer {}", n.as_str()),
        DeValue::Float(n) => format!("float {}", n.as_str()),
        DeValue::Boolean(b) => format!("boolean {b}"),
        other => other.type_str().to_owned(),
    }
}

/// Serde's message as this crate words it: `expected an integer, got string "100"`.
fn translate(message: &str, got: &DeValue<'_>) -> (ErrorKind, String) {
    let message = message.trim();
    let expected = message.rsplit_once(", expected ").map(|(_, e)| e);
    let integer = matches!(expected, Some("usize" | "u64" | "u32" | "u16" | "u8"));
    if message.starts_with("invalid type: ") {
        let nice = match expected.unwrap_or("a value") {
            _ if integer => "an integer",
            "a boolean" => "a boolean (true or false)",
            "a sequence" => "an array",
            "f64" => "a number",
            other => other,
        };
        return (
            ErrorKind::Type,
            format!("expected {nice}, got {}", describe(got)),
        );
    }
    if let (true, Some(n)) = (
        integer && message.starts_with("invalid value: "),
        got.as_integer(),
    ) {
        let n = n.as_str();
        let reason = if n.starts_with('-') {
            format!("must not be negative, got {n}")
        } else {
            format!("{n} is too large")
        };
        return (ErrorKind::Value, reason);
    }
    if let Some((name, names)) = message
        .strip_prefix("unknown variant `")
        .and_then(|r| r.split_once("`, expected "))
    {
        let names: Vec<String> = names
            .split('`')
            .skip(1)
            .step_by(2)
            .map(|n| format!("{n:?}"))
            .collect();
        return (
            ErrorKind::Value,
            format!("expected one of {}, got {name:?}", names.join(", ")),
        );
    }
    // serde's own parse errors ("invalid IP address syntax") do not quote the value.
    match got.as_str() {
        Some(text) if !message.contains(text) => (ErrorKind::Value, format!("{message}: {text:?}")),
        _ => (ErrorKind::Value, message.to_owned()),
    }
}

/// `dns.servers[0]` → `dns.servers`.
fn strip_indices(key: &str) -> String {
    key.split('[').next().unwrap_or(key).to_owned()
}

/// The known word nearest to `word`, if near enough to be a typo.
pub(crate) fn nearest<'k>(word: &str, known: impl IntoIterator<Item = &'k str>) -> Option<&'k str> {
    let limit = (word.chars().count() / 3).max(2);
    known
        .into_iter()
        .map(|k| (strsim::levenshtein(word, k), k))
        .filter(|(d, _)| *d <= limit)
        .min_by_key(|(d, _)| *d)
        .map(|(_, k)| k)
}

pub(crate) fn unknown_in(word: &str, known: &[&str], place: &str) -> String {
    match nearest(word, known.iter().copied()) {
        Some(s) => format!("unknown key in {place}; did you mean `{s}`?"),
        None => format!("unknown key in {place}; known keys: {}", known.join(", ")),
    }
}

/// Reads a declared default (TOML text) with the key's reader. A bad declaration is a bug
/// every test catches.
pub(crate) fn literal<T>(text: &str, key: &str, read: ReadFn<T>) -> T {
    let value = DeValue::parse(text).unwrap_or_else(|e| panic!("default of {key} ({text}): {e}"));
    let mut r = Reader::new(Source::default());
    read(&mut r, key, &value)
        .unwrap_or_else(|| panic!("default of {key} ({text}): {:?}", r.reports))
}

/// The text of `hotpool config default`, written section by section.
pub(crate) struct DefaultFile {
    pub(crate) text: String,
    /// Every line commented out (the `[[hosts]]` example).
    pub(crate) commented: bool,
}

impl DefaultFile {
    /// One line, with its note aligned as a comment.
    pub(crate) fn line(&mut self, code: &str, note: &str) {
        let prefix = if self.commented { "# " } else { "" };
        let _ = match note {
            "" => writeln!(self.text, "{prefix}{code}"),
            note => writeln!(self.text, "{prefix}{code:<38} # {note}"),
        };
    }

    /// A key's line; an optional key's is commented out (unless every line already is).
    pub(crate) fn key(&mut self, key: &str, (value, optional): (&str, bool), note: &str) {
        let hash = if optional && !self.commented {
            "# "
        } else {
            ""
        };
        self.line(&format!("{hash}{key} = {value}"), note);
    }
}

/// Declares one section: see `docs/config-reader.md`. Each key reads
/// `DOC ATTRS key: Type [as reader] = (default "toml") | (optional "example") |
/// (required "what", "example"), note [, check path];` where `reader` (default: the type's
/// `Deserialize`) is `fn(&mut Reader, dotted_key, &Value) -> Option<Type>` and `check` is
/// `fn(&mut Checker, dotted_key, &Type)`; the note is the key's comment in the default file.
macro_rules! section {
    (@read) => { |r, k, v| r.read(k, v) };
    (@read $with:path) => { |r, k, v| $with(r, k, v) };
    (@init (default $lit:literal), $key:expr, $read:expr) => { crate::keys::literal($lit, $key, $read) };
    (@init (optional $ex:literal), $key:expr, $read:expr) => {{ let _ = $read; None }};
    // A required key starts at its example (never seen: its absence is an error).
    (@init (required $what:literal, $ex:literal), $key:expr, $read:expr) => { crate::keys::literal($ex, $key, $read) };
    (@doc (default $lit:literal)) => { concat!("Default: `", $lit, "`.") };
    (@doc (optional $ex:literal)) => { concat!("Optional, absent by default (e.g. `", $ex, "`).") };
    (@doc (required $what:literal, $ex:literal)) => { concat!("Required (e.g. `", $ex, "`).") };
    (@example (default $lit:literal)) => { ($lit, false) };
    (@example (optional $ex:literal)) => { ($ex, true) };
    (@example (required $what:literal, $ex:literal)) => { ($ex, false) };
    (@required $key:ident (required $what:literal, $ex:literal)) => { Some((stringify!($key), $what)) };
    (@required $key:ident $other:tt) => { None };
    (
        $(#[$meta:meta])*
        pub struct $name:ident {
            $(
                $(#[$fmeta:meta])*
                $key:ident: $ty:ty $(as $with:path)? = $default:tt, $note:literal $(, check $check:path)?;
            )*
        }
    ) => {
        $(#[$meta])*
        #[derive(Clone, Debug, PartialEq, Eq, serde::Serialize)]
        #[non_exhaustive]
        pub struct $name {
            $(
                #[doc = $note]
                #[doc = ""]
                #[doc = section!(@doc $default)]
                $(#[$fmeta])*
                pub $key: $ty,
            )*
        }

        impl Default for $name {
            fn default() -> Self {
                static DECLARED: std::sync::LazyLock<$name> = std::sync::LazyLock::new(|| $name {
                    $($key: {
                        let read: crate::keys::ReadFn<$ty> = section!(@read $($with)?);
                        section!(@init $default, concat!(stringify!($name), ".", stringify!($key)), read)
                    },)*
                });
                DECLARED.clone()
            }
        }

        impl crate::keys::Section for $name {
            fn keys(&self) -> &'static [&'static str] {
                &[$(stringify!($key)),*]
            }

            fn read_key(
                &mut self,
                key: &str,
                dotted: &str,
                v: &crate::keys::Value<'_>,
                r: &mut crate::keys::Reader,
            ) -> bool {
                match key {
                    $(stringify!($key) => {
                        let read: crate::keys::ReadFn<$ty> = section!(@read $($with)?);
                        if let Some(value) = read(r, dotted, v) {
                            self.$key = value;
                        }
                        true
                    })*
                    _ => false,
                }
            }

            fn required(&self) -> Vec<(&'static str, &'static str)> {
                [$(section!(@required $key $default)),*].into_iter().flatten().collect()
            }

            fn check(&self, prefix: &str, c: &mut crate::keys::Checker<'_>) {
                $($($check(c, &format!("{prefix}.{}", stringify!($key)), &self.$key);)?)*
                let _ = (prefix, c);
            }

            fn write_default(&self, out: &mut crate::keys::DefaultFile) {
                $(out.key(stringify!($key), section!(@example $default), $note);)*
            }
        }
    };
}

pub(crate) use section;

/// Bookkeeping that is not configuration: ignored by `PartialEq`; its `Debug` leaves out
/// the file's text (it may hold secrets: proxy credentials, a Redis password).
#[derive(Clone, Debug, Default)]
pub(crate) struct Meta {
    /// The file the config was read from, to locate problems.
    pub(crate) source: Source,
    /// Dotted key → where its value came from. Keys absent here have their default.
    pub(crate) origins: std::collections::HashMap<String, Origin>,
    /// Warnings of the last validation.
    pub(crate) warnings: Vec<ConfigWarning>,
}

impl PartialEq for Meta {
    fn eq(&self, _: &Self) -> bool {
        true
    }
}

/// Problems found, each with a sort position (its offset in the file).
pub(crate) type Found = Vec<(usize, Report)>;

/// Runs the checks of one config, collecting errors and warnings at their keys.
pub(crate) struct Checker<'c> {
    meta: &'c Meta,
    pub(crate) errors: Found,
    pub(crate) warnings: Found,
}

impl<'c> Checker<'c> {
    pub(crate) fn new(meta: &'c Meta) -> Self {
        Self {
            meta,
            errors: Vec::new(),
            warnings: Vec::new(),
        }
    }

    /// The origin of `key`, or of its nearest recorded parent (`hosts[0].port` → `hosts[0]`).
    pub(crate) fn locate(&self, key: &str) -> Option<&Origin> {
        let mut k = key;
        loop {
            if let Some(o) = self.meta.origins.get(k) {
                return Some(o);
            }
            k = &k[..k.rfind(['.', '['])?];
        }
    }

    /// How explicitly `key` was set: 2 environment, 1 file, 0 default.
    fn rank(&self, key: &str) -> u8 {
        match self.meta.origins.get(key) {
            Some(Origin::Env(_)) => 2,
            Some(Origin::File(_)) => 1,
            None => 0,
        }
    }

    fn report(&self, key: &str, kind: ErrorKind, reason: String) -> (usize, Report) {
        let key_owned = Some(key.to_owned());
        self.meta
            .source
            .report(self.locate(key), key_owned, kind, reason)
    }

    pub(crate) fn error(&mut self, key: &str, kind: ErrorKind, reason: impl Into<String>) {
        self.errors.push(self.report(key, kind, reason.into()));
    }

    pub(crate) fn value(&mut self, key: &str, reason: impl Into<String>) {
        self.error(key, ErrorKind::Value, reason);
    }

    pub(crate) fn warn(&mut self, key: &str, reason: impl Into<String>) {
        self.warnings
            .push(self.report(key, ErrorKind::Inconsistent, reason.into()));
    }

    /// `a <= b`, reported at whichever of the two was set most explicitly (`a` on a tie).
    pub(crate) fn not_above(
        &mut self,
        (a, av): (&str, String),
        (b, bv): (&str, String),
        warn: bool,
    ) {
        let shown = |key: &str, v: &str| match self.rank(key) {
            0 => format!("{v}, the default"),
            _ => v.to_owned(),
        };
        let (key, reason) = if self.rank(b) > self.rank(a) {
            (
                b,
                format!("must be at least {a} ({}), got {bv}", shown(a, &av)),
            )
        } else {
            (
                a,
                format!("must not exceed {b} ({}), got {av}", shown(b, &bv)),
            )
        };
        if warn {
            self.warn(key, reason);
        } else {
            self.error(key, ErrorKind::Inconsistent, reason);
        }
    }
}
