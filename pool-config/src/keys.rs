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

use crate::error::{ErrorKind, Report, line_col};
use crate::model::{Config, Origin};
use crate::validate::Checker;

/// A value of the file (or of an environment variable) with its span.
pub(crate) type Value<'a> = Spanned<DeValue<'a>>;

/// What every declared section can do; implemented by [`section!`].
pub(crate) trait Section {
    /// The keys, in declaration order.
    fn keys(&self) -> &'static [&'static str];
    /// Reads `key` (written at `dotted`) into `self`; false for an unknown key.
    fn read_key(&mut self, key: &str, dotted: &str, v: &Value<'_>, r: &mut Reader<'_>) -> bool;
    /// Required keys and what they are: reported when absent.
    fn required(&self) -> &'static [(&'static str, &'static str)];
    /// Runs each key's declared check; `prefix` is `"pool"`, `"hosts[2]"`, ….
    fn check(&self, prefix: &str, c: &mut Checker<'_>);
    /// Writes each key with its default (or example) and note.
    fn write_default(&self, out: &mut DefaultFile);
}

/// Collects problems and origins while reading one source (the file, or one variable).
pub(crate) struct Reader<'t> {
    file: Option<String>,
    text: Option<&'t str>,
    /// Set while reading an environment variable: problems name it.
    env_var: Option<String>,
    /// (sort position, report): file problems sort by offset, environment ones after them.
    pub(crate) reports: Vec<(usize, Report)>,
    /// Dotted key → where its value came from.
    pub(crate) origins: HashMap<String, Origin>,
}

impl<'t> Reader<'t> {
    pub(crate) fn new(file: Option<String>, text: Option<&'t str>) -> Self {
        Self {
            file,
            text,
            env_var: None,
            reports: Vec::new(),
            origins: HashMap::new(),
        }
    }

    fn push(&mut self, span: Range<usize>, key: Option<String>, kind: ErrorKind, reason: String) {
        let at = self.text.map(|t| line_col(t, span.start));
        let report = Report {
            kind,
            file: self.env_var.is_none().then(|| self.file.clone()).flatten(),
            line: at.map(|a| a.0),
            column: at.map(|a| a.1),
            env_var: self.env_var.clone(),
            key,
            reason,
        };
        let pos = if self.env_var.is_some() {
            usize::MAX
        } else {
            span.start
        };
        self.reports.push((pos, report));
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
            if !table.get_ref().contains_key(*key) {
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
            let reason = format!("expected an array of tables, got {}", describe(v.get_ref()));
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

    /// Reads a whole document into `cfg`.
    pub(crate) fn document(&mut self, text: &str, cfg: &mut Config) {
        let root = match DeTable::parse(text) {
            Ok(root) => root,
            Err(e) => {
                let span = e.span().unwrap_or(0..0);
                let mut reason = e.message().trim().to_owned();
                // toml says "duplicate key" without naming it: quote the source text.
                if let Some(snippet) = text.get(span.clone()).map(str::trim)
                    && !snippet.is_empty()
                    && snippet.len() <= 60
                    && !snippet.contains('\n')
                    && !reason.contains(snippet)
                {
                    reason = format!("{reason}: `{snippet}`");
                }
                self.push(span, None, ErrorKind::Syntax, reason);
                return;
            }
        };
        for (k, v) in root.get_ref() {
            let name = k.get_ref().as_ref();
            if name == "hosts" {
                if v.get_ref().is_array() {
                    if let Some(hosts) = self.entries("hosts", v) {
                        cfg.hosts = hosts;
                    }
                } else {
                    let reason = format!(
                        "expected an array of tables ([[hosts]]), got {}",
                        describe(v.get_ref())
                    );
                    self.push(v.span(), Some("hosts".into()), ErrorKind::Type, reason);
                }
                continue;
            }
            let Some(section) = cfg.section_mut(name) else {
                self.push(
                    k.span(),
                    Some(name.into()),
                    ErrorKind::UnknownKey,
                    unknown_top(name),
                );
                continue;
            };
            match v.get_ref() {
                DeValue::Table(t) => {
                    let unknown = |key: &str| unknown_key(name, key);
                    self.table(name, &Spanned::new(v.span(), t), section, &unknown);
                }
                other => {
                    let reason = format!("expected a table [{name}], got {}", describe(other));
                    self.push(v.span(), Some(name.into()), ErrorKind::Type, reason);
                }
            }
        }
    }

    /// Applies one environment variable (others than `HOTPOOL_<SECTION>__<KEY>` are
    /// ignored); section and key are case-insensitive.
    pub(crate) fn env(&mut self, var: &str, raw: &str, cfg: &mut Config) {
        let Some((section, key)) = var
            .strip_prefix(crate::ENV_PREFIX)
            .and_then(|r| r.split_once("__"))
        else {
            return;
        };
        let (section, key) = (section.to_ascii_lowercase(), key.to_ascii_lowercase());
        let dotted = format!("{section}.{key}");
        self.env_var = Some(var.to_owned());
        let problem = if section == "hosts" {
            let reason = "[[hosts]] cannot be set from the environment; use the config file";
            Some((section.clone(), reason.to_owned()))
        } else {
            match cfg.section_mut(&section) {
                None => Some((section.clone(), unknown_top(&section))),
                Some(s) if !s.keys().contains(&key.as_str()) => {
                    Some((dotted.clone(), unknown_key(&section, &key)))
                }
                Some(s) => {
                    self.env_value(s, &key, &dotted, raw);
                    None
                }
            }
        };
        if let Some((at, reason)) = problem {
            self.push(0..0, Some(at), ErrorKind::UnknownKey, reason);
        }
        self.env_var = None;
    }

    /// Sets one key from a variable's text. The text is read as TOML (numbers, booleans,
    /// arrays), else as a plain string, else as a comma-separated list; the first that
    /// reads wins, else the problem of the first that is not a type mismatch.
    fn env_value(&mut self, s: &mut dyn Section, key: &str, dotted: &str, raw: &str) {
        // Made-up spans, distinct per element, so a problem names its element (`[1]`).
        let text = |i: usize, t: &str| Spanned::new(i..i + 1, DeValue::String(t.to_owned().into()));
        let list: Vec<_> = raw
            .split(',')
            .map(str::trim)
            .filter(|p| !p.is_empty())
            .collect();
        let list = list
            .iter()
            .enumerate()
            .map(|(i, p)| text(i + 1, p))
            .collect::<Vec<_>>();
        let list = Spanned::new(
            0..list.len() + 2,
            DeValue::Array(list.into_iter().collect()),
        );
        let tries = DeValue::parse(raw)
            .ok()
            .into_iter()
            .chain([text(0, raw), list]);
        let mut problems = Vec::new();
        for v in tries {
            let mut scratch = Reader {
                env_var: self.env_var.clone(),
                ..Reader::new(None, None)
            };
            s.read_key(key, dotted, &v, &mut scratch);
            if scratch.reports.is_empty() {
                self.origins
                    .retain(|k, _| !k.starts_with(&format!("{dotted}[")));
                let var = self.env_var.clone().unwrap_or_default();
                self.origins.insert(dotted.to_owned(), Origin::Env(var));
                return;
            }
            problems.push(scratch.reports);
        }
        let type_only = |r: &Vec<(usize, Report)>| r.iter().all(|(_, r)| r.kind == ErrorKind::Type);
        let pick = problems.iter().position(|r| !type_only(r)).unwrap_or(0);
        self.reports.append(&mut problems[pick]);
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
fn describe(v: &DeValue<'_>) -> String {
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
    (ErrorKind::Value, message.to_owned())
}

/// `dns.servers[0]` → `dns.servers`.
fn strip_indices(key: &str) -> String {
    key.split('[').next().unwrap_or(key).to_owned()
}

/// The known word nearest to `word`, if near enough to be a typo.
fn nearest<'k>(word: &str, known: impl IntoIterator<Item = &'k str>) -> Option<&'k str> {
    let limit = (word.chars().count() / 3).max(2);
    known
        .into_iter()
        .map(|k| (strsim::levenshtein(word, k), k))
        .filter(|(d, _)| *d <= limit)
        .min_by_key(|(d, _)| *d)
        .map(|(_, k)| k)
}

fn unknown_in(word: &str, known: &[&str], place: &str) -> String {
    match nearest(word, known.iter().copied()) {
        Some(s) => format!("unknown key in {place}; did you mean `{s}`?"),
        None => format!("unknown key in {place}; known keys: {}", known.join(", ")),
    }
}

fn unknown_key(section: &str, key: &str) -> String {
    if section == "validation" && key == "banned_status" {
        return "unknown key in [validation]; `banned_status` is set once, in [pool] \
                (it applies to validation and to HTTP health probes)"
            .to_owned();
    }
    let sections = Config::sections();
    // A key that exists in another section is most likely in the wrong place.
    if let Some((other, _)) = sections.iter().find(|(_, keys)| keys.contains(&key)) {
        return format!("unknown key in [{section}]; `{key}` belongs in [{other}]");
    }
    let known = sections
        .iter()
        .find(|(s, _)| *s == section)
        .map_or(&[][..], |(_, k)| *k);
    unknown_in(key, known, &format!("[{section}]"))
}

fn unknown_top(name: &str) -> String {
    let sections = Config::sections();
    if let Some((section, _)) = sections.iter().find(|(_, keys)| keys.contains(&name)) {
        return format!("unknown top-level key; did you mean `{name}` under [{section}]?");
    }
    let names = sections.iter().map(|(s, _)| *s).chain(["hosts"]);
    match nearest(name, names.clone()) {
        Some(s) => format!("unknown section; did you mean [{s}]?"),
        None => format!(
            "unknown section; known sections: {}",
            names.collect::<Vec<_>>().join(", ")
        ),
    }
}

/// Reads a declared default (TOML text) with the key's reader. A bad declaration is a bug
/// every test catches.
pub(crate) fn literal<T>(
    text: &str,
    key: &str,
    read: fn(&mut Reader<'_>, &str, &Value<'_>) -> Option<T>,
) -> T {
    let value = DeValue::parse(text).unwrap_or_else(|e| panic!("default of {key} ({text}): {e}"));
    let mut r = Reader::new(None, None);
    read(&mut r, key, &value)
        .unwrap_or_else(|| panic!("default of {key} ({text}): {:?}", r.reports))
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

impl DefaultFile {
    /// One line, with its note aligned as a comment.
    pub(crate) fn line(&mut self, code: &str, note: &str) {
        let prefix = if self.commented { "# " } else { "" };
        let _ = match note {
            "" => writeln!(self.text, "{prefix}{code}"),
            note => writeln!(self.text, "{prefix}{code:<38} # {note}"),
        };
    }

    /// A key's line.
    pub(crate) fn key(&mut self, key: &str, example: &Example, note: &str) {
        match example {
            Example::Default(v) | Example::Required(v) => self.line(&format!("{key} = {v}"), note),
            // Inside a commented-out example every key is an example already.
            Example::Optional(v) if self.commented => self.line(&format!("{key} = {v}"), note),
            Example::Optional(v) => self.line(&format!("# {key} = {v}"), note),
        }
    }
}

/// The default file: a header, every section at its defaults, a commented `[[hosts]]`.
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
    let cfg = Config::default();
    for (name, note, section) in cfg.sections_with_notes() {
        out.text.push('\n');
        out.line(&format!("[{name}]"), note);
        section.write_default(&mut out);
    }
    out.text
        .push_str("\n# Hosts kept warm (none by default). One [[hosts]] table per host:\n");
    out.commented = true;
    out.line("[[hosts]]", "");
    crate::HostConfig::default().write_default(&mut out);
    out.text
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
    (@example (default $lit:literal)) => { crate::keys::Example::Default($lit) };
    (@example (optional $ex:literal)) => { crate::keys::Example::Optional($ex) };
    (@example (required $what:literal, $ex:literal)) => { crate::keys::Example::Required($ex) };
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
                        let read: fn(&mut crate::keys::Reader<'_>, &str, &crate::keys::Value<'_>) -> Option<$ty> =
                            section!(@read $($with)?);
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
                r: &mut crate::keys::Reader<'_>,
            ) -> bool {
                match key {
                    $(stringify!($key) => {
                        let read: fn(&mut crate::keys::Reader<'_>, &str, &crate::keys::Value<'_>) -> Option<$ty> =
                            section!(@read $($with)?);
                        if let Some(value) = read(r, dotted, v) {
                            self.$key = value;
                        }
                        true
                    })*
                    _ => false,
                }
            }

            fn required(&self) -> &'static [(&'static str, &'static str)] {
                const REQUIRED: &[Option<(&str, &str)>] = &[$(section!(@required $key $default)),*];
                static FOUND: std::sync::LazyLock<Vec<(&str, &str)>> =
                    std::sync::LazyLock::new(|| REQUIRED.iter().flatten().copied().collect());
                &FOUND
            }

            fn check(&self, prefix: &str, c: &mut crate::validate::Checker<'_>) {
                $($($check(c, &format!("{prefix}.{}", stringify!($key)), &self.$key);)?)*
                let _ = (prefix, c);
            }

            fn write_default(&self, out: &mut crate::keys::DefaultFile) {
                $(out.key(stringify!($key), &section!(@example $default), $note);)*
            }
        }
    };
}

pub(crate) use section;
