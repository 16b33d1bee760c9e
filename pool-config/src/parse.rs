//! Reads a file into a [`Config`]: TOML syntax (`toml::de::DeTable`, which keeps every
//! span), then the declared serde structs (`#[serde(deny_unknown_fields)]`, see
//! `declare.rs`), whose fields hold each value or its problem with its span; also applies
//! environment overrides through each key's declared setter.
//!
//! Only types and formats are checked here (integer vs string, IP syntax, duration syntax,
//! enum names). Value rules (non-zero limits, consistency, known profiles, …) live in
//! `validate.rs`, so they apply equally to files, environment overrides and configs built in
//! code.

use std::collections::HashMap;
use std::ops::Range;

use serde::Deserialize;
use toml::Spanned;
use toml::de::{DeTable, DeValue};

use crate::declare::Section;
use crate::error::{ErrorKind, Report, line_col};
use crate::model::{Config, ENTRY_LISTS, HostConfig, Origin, RawConfig, SECTIONS};
use crate::read::{Got, Issue, Parts, Read, Table, Tables};

/// Where a section's keys go: the dotted prefix (`pool`, `hosts[1]`) and the table's span.
pub(crate) struct Place<'a> {
    prefix: &'a str,
    span: Range<usize>,
}

/// Collects reports and origins while reading one source.
pub(crate) struct Reader<'t> {
    file: Option<String>,
    text: Option<&'t str>,
    /// (sort position, report): file reports sort by offset, environment ones after them.
    pub(crate) reports: Vec<(usize, Report)>,
    /// Dotted key → where its value came from.
    pub(crate) origins: HashMap<String, Origin>,
}

impl<'t> Reader<'t> {
    pub(crate) fn new(
        file: Option<String>,
        text: Option<&'t str>,
        origins: HashMap<String, Origin>,
    ) -> Self {
        Self {
            file,
            text,
            reports: Vec::new(),
            origins,
        }
    }

    fn at_span(
        &mut self,
        span: Range<usize>,
        key: Option<String>,
        kind: ErrorKind,
        reason: String,
    ) {
        let (line, column) = match self.text {
            Some(t) => {
                let (l, c) = line_col(t, span.start);
                (Some(l), Some(c))
            }
            None => (None, None),
        };
        self.reports.push((
            span.start,
            Report {
                kind,
                file: self.file.clone(),
                line,
                column,
                env_var: None,
                key,
                reason,
            },
        ));
    }

    fn at_env(&mut self, var: &str, key: Option<String>, kind: ErrorKind, reason: String) {
        self.reports.push((
            usize::MAX,
            Report {
                kind,
                file: None,
                line: None,
                column: None,
                env_var: Some(var.to_owned()),
                key,
                reason,
            },
        ));
    }

    /// Reads a whole document into `cfg`, recording each value's origin.
    pub(crate) fn read_document(&mut self, text: &str, cfg: &mut Config) {
        let mut root = match DeTable::parse(text) {
            Ok(root) => root,
            Err(e) => {
                let span = e.span().unwrap_or(0..0);
                let mut reason = e.message().trim().to_owned();
                // toml says "duplicate key" without naming it: quote the source text.
                if let Some(snippet) = text.get(span.clone()) {
                    let snippet = snippet.trim();
                    let short = !snippet.is_empty() && snippet.len() <= 60;
                    if short && !snippet.contains('\n') && !reason.contains(snippet) {
                        reason = format!("{reason}: `{snippet}`");
                    }
                }
                self.at_span(span, None, ErrorKind::Syntax, reason);
                return;
            }
        };
        // Every value's problem is kept inside the serde structs; what fails the
        // deserialization is a key the declarations do not know (or a value serde itself
        // cannot represent). Report it, drop it, and read again, so one pass lists all.
        loop {
            match RawConfig::deserialize(toml::de::Deserializer::from(root.clone())) {
                Ok(raw) => {
                    cfg.apply_raw(raw, self);
                    return;
                }
                Err(e) => {
                    let span = e.span().unwrap_or(0..0);
                    if !self.reject(&mut root, &span, e.message()) {
                        return;
                    }
                }
            }
        }
    }

    /// Reports the entry of `root` a deserialization error points at and removes it.
    /// Returns false when no entry matches (the error is then reported where it points).
    fn reject(
        &mut self,
        root: &mut Spanned<DeTable<'_>>,
        span: &Range<usize>,
        message: &str,
    ) -> bool {
        let hit = |k: &Spanned<std::borrow::Cow<'_, str>>, v: &Spanned<DeValue<'_>>| {
            k.span() == *span || (v.span().start <= span.start && span.end <= v.span().end)
        };
        if let Some(done) = self.reject_in_entries(root.get_mut(), &hit, message) {
            return done;
        }
        for (name, value) in root.get_mut().iter_mut() {
            let place = name.get_ref().to_string();
            match value.get_mut() {
                DeValue::Table(table) => {
                    if let Some(key) = find(table, &hit) {
                        let known = SECTIONS
                            .iter()
                            .find(|(s, _)| *s == place)
                            .map_or(&[][..], |(_, keys)| *keys);
                        let unknown =
                            |k: &str| (!known.contains(&k)).then(|| unknown_key_reason(&place, k));
                        return self.drop_key(table, key, format!("{place}."), unknown, message);
                    }
                }
                DeValue::Array(items) if place == "hosts" => {
                    for (i, item) in items.iter_mut().enumerate() {
                        if let DeValue::Table(table) = item.get_mut() {
                            if let Some(key) = find(table, &hit) {
                                let unknown = |k: &str| {
                                    (!HostConfig::KEYS.contains(&k))
                                        .then(|| unknown_in(k, HostConfig::KEYS, "[[hosts]]"))
                                };
                                let prefix = format!("hosts[{i}].");
                                return self.drop_key(table, key, prefix, unknown, message);
                            }
                        }
                    }
                }
                _ => {}
            }
        }
        let table = root.get_mut();
        let Some(key) = find(table, &hit) else {
            self.at_span(span.clone(), None, ErrorKind::Value, message.to_owned());
            return false;
        };
        let name = key.get_ref().clone();
        let value = table.get(name.as_str());
        let at = value.map_or(key.span(), Spanned::span);
        let ty = value.map_or("value", |v| v.get_ref().type_str());
        if name == "hosts" {
            let reason = format!("expected an array of tables ([[hosts]]): {message}");
            self.at_span(at, Some(name.clone()), ErrorKind::Type, reason);
        } else if SECTIONS.iter().any(|(s, _)| *s == name) {
            // A section of a shape the section types could not even visit (a datetime).
            let reason = format!("expected a table [{name}], got {ty}");
            self.at_span(at, Some(name.clone()), ErrorKind::Type, reason);
        } else {
            let reason = unknown_top_reason(&name);
            self.at_span(
                key.span(),
                Some(name.clone()),
                ErrorKind::UnknownKey,
                reason,
            );
        }
        table.remove(name.as_str());
        true
    }

    /// Reports and removes the key of a list-of-tables entry (`[[dns.servers]]`) the
    /// error points at; `None` when it points at none. (The spans of the implicit tables
    /// around such entries do not cover them, so each entry is searched.)
    fn reject_in_entries(
        &mut self,
        root: &mut DeTable<'_>,
        hit: &impl Fn(&Spanned<std::borrow::Cow<'_, str>>, &Spanned<DeValue<'_>>) -> bool,
        message: &str,
    ) -> Option<bool> {
        for (section, list, known) in ENTRY_LISTS {
            let Some(DeValue::Table(table)) = root.get_mut(*section).map(Spanned::get_mut) else {
                continue;
            };
            let Some(DeValue::Array(items)) = table.get_mut(*list).map(Spanned::get_mut) else {
                continue;
            };
            for (i, item) in items.iter_mut().enumerate() {
                if let DeValue::Table(entry) = item.get_mut()
                    && let Some(key) = find(entry, hit)
                {
                    let place = format!("[[{section}.{list}]]");
                    let unknown =
                        |k: &str| (!known.contains(&k)).then(|| unknown_in(k, known, &place));
                    let prefix = format!("{section}.{list}[{i}].");
                    return Some(self.drop_key(entry, key, prefix, unknown, message));
                }
            }
        }
        None
    }

    /// Reports `key` of a section's `table` (at `prefix`) and removes it: an unknown key, or
    /// a known key whose value serde could not represent.
    fn drop_key(
        &mut self,
        table: &mut DeTable<'_>,
        key: Spanned<String>,
        prefix: String,
        unknown: impl FnOnce(&str) -> Option<String>,
        message: &str,
    ) -> bool {
        let name = key.get_ref().clone();
        let dotted = format!("{prefix}{name}");
        match unknown(&name) {
            Some(reason) => self.at_span(key.span(), Some(dotted), ErrorKind::UnknownKey, reason),
            None => {
                let at = table.get(name.as_str()).map_or(key.span(), Spanned::span);
                self.at_span(at, Some(dotted), ErrorKind::Value, message.to_owned());
            }
        }
        table.remove(name.as_str());
        true
    }

    /// Stores one value read from the file at `at.key`, or reports its problem.
    pub(crate) fn take<R: Read>(
        &mut self,
        at: &Place<'_>,
        key: &str,
        value: Spanned<Got<R>>,
        slot: &mut R::Value,
    ) {
        let dotted = format!("{}.{key}", at.prefix);
        let span = value.span();
        let got = value.into_inner();
        match got.value {
            Ok(v) => {
                *slot = v;
                for (suffix, part) in got.elems {
                    self.origins
                        .insert(format!("{dotted}{suffix}"), Origin::File(part));
                }
                self.origins.insert(dotted, Origin::File(span));
            }
            Err(issue) => self.file_issue(dotted, span, issue),
        }
    }

    /// Reports a required key missing from the table at `at`.
    pub(crate) fn missing(&mut self, at: &Place<'_>, key: &str, what: &str) {
        self.at_span(
            at.span.clone(),
            Some(format!("{}.{key}", at.prefix)),
            ErrorKind::Missing,
            format!("missing required key `{key}` ({what})"),
        );
    }

    fn file_issue(&mut self, key: String, span: Range<usize>, issue: Issue) {
        match issue.sub {
            Some((sub_span, suffix)) => {
                self.at_span(
                    sub_span.unwrap_or(span),
                    Some(format!("{key}{suffix}")),
                    issue.kind,
                    issue.reason,
                );
            }
            None => self.at_span(span, Some(key), issue.kind, issue.reason),
        }
    }

    /// Reads one plain `[section]` into `target`.
    pub(crate) fn section<S: Section>(
        &mut self,
        name: &str,
        table: Spanned<Table<S::Raw>>,
        target: &mut S,
    ) {
        let span = table.span();
        match table.into_inner() {
            Table::Keys(raw) => target.apply(raw, &Place { prefix: name, span }, self),
            Table::Not(ty) => {
                let reason = format!("expected a table [{name}], got {ty}");
                self.at_span(span, Some(name.to_owned()), ErrorKind::Type, reason);
            }
        }
    }

    /// Reads one entry of a list of tables (`[[dns.servers]]`) on its own: the entry, or
    /// its first problem (at the entry's key, as a suffix `.key`), and where its keys were
    /// written.
    pub(crate) fn entry<S: Section>(raw: S::Raw) -> (Result<S, Issue>, Parts) {
        let mut entry = S::declared();
        let mut reader = Reader::new(None, None, HashMap::new());
        entry.apply(
            raw,
            &Place {
                prefix: "",
                span: 0..0,
            },
            &mut reader,
        );
        let parts = reader
            .origins
            .into_iter()
            .filter_map(|(key, origin)| match origin {
                Origin::File(span) => Some((key, span)),
                Origin::Env(_) => None,
            })
            .collect();
        reader.reports.sort_by_key(|(at, _)| *at);
        let value = match reader.reports.into_iter().next() {
            None => Ok(entry),
            Some((at, report)) => {
                // A missing key is reported at the entry's table.
                let span = (report.kind != ErrorKind::Missing).then_some(at..at);
                let mut issue = Issue::new(report.kind, report.reason);
                issue.sub = Some((span, report.key.unwrap_or_default()));
                Err(issue)
            }
        };
        (value, parts)
    }

    /// Reads the `[[hosts]]` entries into `hosts`.
    pub(crate) fn hosts(
        &mut self,
        tables: Spanned<Tables<<HostConfig as Section>::Raw>>,
        hosts: &mut Vec<HostConfig>,
    ) {
        let span = tables.span();
        let items = match tables.into_inner() {
            Tables::Items(items) => items,
            Tables::Not(ty) => {
                let reason = format!("expected an array of tables ([[hosts]]), got {ty}");
                self.at_span(span, Some("hosts".to_owned()), ErrorKind::Type, reason);
                return;
            }
        };
        for (i, item) in items.into_iter().enumerate() {
            let prefix = format!("hosts[{i}]");
            let span = item.span();
            match item.into_inner() {
                Table::Keys(raw) => {
                    let mut host = HostConfig::declared();
                    let at = Place {
                        prefix: &prefix,
                        span: span.clone(),
                    };
                    host.apply(raw, &at, self);
                    self.origins.insert(prefix, Origin::File(span));
                    hosts.push(host);
                }
                Table::Not(ty) => {
                    let reason = format!("expected a table, got {ty}");
                    self.at_span(span, Some(prefix), ErrorKind::Type, reason);
                }
            }
        }
    }

    /// Applies one environment variable (others than `HOTPOOL_<SECTION>__<KEY>` are ignored).
    pub(crate) fn read_env(&mut self, var: &str, raw: &str, cfg: &mut Config) {
        let Some(rest) = var.strip_prefix(crate::ENV_PREFIX) else {
            return;
        };
        let Some((section, key)) = rest.split_once("__") else {
            return;
        };
        let section = section.to_ascii_lowercase();
        let key = key.to_ascii_lowercase();
        let dotted = format!("{section}.{key}");
        if section == "hosts" {
            self.at_env(
                var,
                Some("hosts".to_owned()),
                ErrorKind::UnknownKey,
                "[[hosts]] cannot be set from the environment; use the config file".to_owned(),
            );
            return;
        }
        match cfg.set_env(&section, &key, raw) {
            None => {
                let reason = unknown_top_reason(&section);
                self.at_env(var, Some(section), ErrorKind::UnknownKey, reason);
            }
            Some(None) => {
                let reason = unknown_key_reason(&section, &key);
                self.at_env(var, Some(dotted), ErrorKind::UnknownKey, reason);
            }
            Some(Some(Ok(()))) => {
                let elem_prefix = format!("{dotted}[");
                self.origins.retain(|k, _| !k.starts_with(&elem_prefix));
                self.origins.insert(dotted, Origin::Env(var.to_owned()));
            }
            Some(Some(Err(issue))) => {
                let key = match issue.sub {
                    Some((_, suffix)) => format!("{dotted}{suffix}"),
                    None => dotted,
                };
                self.at_env(var, Some(key), issue.kind, issue.reason);
            }
        }
    }
}

/// The key of `table` whose key or value `hit` matches (an owned copy).
fn find(
    table: &DeTable<'_>,
    hit: &impl Fn(&Spanned<std::borrow::Cow<'_, str>>, &Spanned<DeValue<'_>>) -> bool,
) -> Option<Spanned<String>> {
    table
        .iter()
        .find(|(k, v)| hit(k, v))
        .map(|(k, _)| Spanned::new(k.span(), k.get_ref().to_string()))
}

/// Levenshtein distance, for "did you mean" suggestions.
fn distance(a: &str, b: &str) -> usize {
    let b: Vec<char> = b.chars().collect();
    let mut prev: Vec<usize> = (0..=b.len()).collect();
    for (i, ca) in a.chars().enumerate() {
        let mut cur = vec![i + 1; b.len() + 1];
        for (j, cb) in b.iter().enumerate() {
            let sub = prev[j] + usize::from(ca != *cb);
            cur[j + 1] = sub.min(prev[j + 1] + 1).min(cur[j] + 1);
        }
        prev = cur;
    }
    prev[b.len()]
}

fn nearest<'k>(word: &str, candidates: impl IntoIterator<Item = &'k str>) -> Option<&'k str> {
    let limit = (word.chars().count() / 3).max(2);
    candidates
        .into_iter()
        .map(|c| (distance(word, c), c))
        .filter(|(d, _)| *d <= limit)
        .min_by_key(|(d, _)| *d)
        .map(|(_, c)| c)
}

fn unknown_in(word: &str, known: &[&str], place: &str) -> String {
    match nearest(word, known.iter().copied()) {
        Some(s) => format!("unknown key in {place}; did you mean `{s}`?"),
        None => format!("unknown key in {place}; known keys: {}", known.join(", ")),
    }
}

fn unknown_key_reason(section: &str, key: &str) -> String {
    if section == "validation" && key == "banned_status" {
        return "unknown key in [validation]; `banned_status` is set once, in [pool] \
                (it applies to validation and to HTTP health probes)"
            .to_owned();
    }
    // A key that exists in another section is most likely in the wrong place.
    if let Some((other, _)) = SECTIONS.iter().find(|(_, keys)| keys.contains(&key)) {
        return format!("unknown key in [{section}]; `{key}` belongs in [{other}]");
    }
    let known = SECTIONS
        .iter()
        .find(|(s, _)| *s == section)
        .map_or(&[][..], |(_, k)| *k);
    unknown_in(key, known, &format!("[{section}]"))
}

fn unknown_top_reason(name: &str) -> String {
    if let Some((section, _)) = SECTIONS.iter().find(|(_, keys)| keys.contains(&name)) {
        return format!("unknown top-level key; did you mean `{name}` under [{section}]?");
    }
    let names = SECTIONS.iter().map(|(s, _)| *s).chain(["hosts"]);
    match nearest(name, names.clone()) {
        Some(s) => format!("unknown section; did you mean [{s}]?"),
        None => format!(
            "unknown section; known sections: {}",
            names.collect::<Vec<_>>().join(", ")
        ),
    }
}
