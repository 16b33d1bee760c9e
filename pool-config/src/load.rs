//! Loading: a document read section by section into a [`Config`], environment overrides,
//! the "unknown key" reasons that need every section's keys, and the default file.

use toml::Spanned;
use toml::de::{DeTable, DeValue};

use crate::error::{ErrorKind, Origin, Report, Source};
use crate::keys::{DefaultFile, Reader, Section, describe, nearest, unknown_in};
use crate::model::Config;

/// Reads a whole document into `cfg`.
pub(crate) fn document(r: &mut Reader, text: &str, cfg: &mut Config) {
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
            r.push(span, None, ErrorKind::Syntax, reason);
            return;
        }
    };
    for (k, v) in root.get_ref() {
        let name = k.get_ref().as_ref();
        if name == "hosts" {
            if let Some(hosts) = r.entries("hosts", v) {
                cfg.hosts = hosts;
            }
            continue;
        }
        let Some(section) = cfg.section_mut(name) else {
            r.push(
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
                r.table(name, &Spanned::new(v.span(), t), section, &unknown);
            }
            other => {
                let reason = format!("expected a table [{name}], got {}", describe(other));
                r.push(v.span(), Some(name.into()), ErrorKind::Type, reason);
            }
        }
    }
}

/// Applies one environment variable (others than `HOTPOOL_<SECTION>__<KEY>` are
/// ignored); section and key are case-insensitive.
pub(crate) fn env(r: &mut Reader, var: &str, raw: &str, cfg: &mut Config) {
    let Some((section, key)) = var
        .strip_prefix(crate::ENV_PREFIX)
        .and_then(|r| r.split_once("__"))
    else {
        return;
    };
    let (section, key) = (section.to_ascii_lowercase(), key.to_ascii_lowercase());
    let dotted = format!("{section}.{key}");
    r.env_var = Some(var.to_owned());
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
                env_value(r, s, &key, &dotted, raw);
                None
            }
        }
    };
    if let Some((at, reason)) = problem {
        r.push(0..0, Some(at), ErrorKind::UnknownKey, reason);
    }
    r.env_var = None;
}

/// Sets one key from a variable's text. The text is read as TOML (numbers, booleans,
/// arrays), else as a plain string, else as a comma-separated list; the first that
/// reads wins, else the problem of the first that is not a type mismatch.
fn env_value(r: &mut Reader, s: &mut dyn Section, key: &str, dotted: &str, raw: &str) {
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
        let mut scratch = Reader::new(Source::default());
        scratch.env_var.clone_from(&r.env_var);
        s.read_key(key, dotted, &v, &mut scratch);
        if scratch.reports.is_empty() {
            r.origins
                .retain(|k, _| !k.starts_with(&format!("{dotted}[")));
            let var = r.env_var.clone().unwrap_or_default();
            r.origins.insert(dotted.to_owned(), Origin::Env(var));
            return;
        }
        problems.push(scratch.reports);
    }
    let type_only = |r: &Vec<(usize, Report)>| r.iter().all(|(_, r)| r.kind == ErrorKind::Type);
    let pick = problems.iter().position(|r| !type_only(r)).unwrap_or(0);
    r.reports.append(&mut problems[pick]);
}

/// The plain sections and their keys (for "did you mean").
fn sections() -> Vec<(&'static str, &'static [&'static str])> {
    Config::default()
        .sections_with_notes()
        .iter()
        .map(|(name, _, s)| (*name, s.keys()))
        .collect()
}

fn unknown_key(section: &str, key: &str) -> String {
    if section == "validation" && key == "banned_status" {
        return "unknown key in [validation]; `banned_status` is set once, in [pool] \
                (it applies to validation and to HTTP health probes)"
            .to_owned();
    }
    let sections = sections();
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
    let sections = sections();
    if let Some((section, _)) = sections.iter().find(|(_, keys)| keys.contains(&name)) {
        return format!("unknown top-level key; did you mean `{name}` under [{section}]?");
    }
    let names = sections.iter().map(|(s, _)| *s).chain(["hosts"]);
    match nearest(name, names.clone()) {
        Some(s) => format!("unknown section; did you mean [{s}]?"),
        None => {
            format!(
                "unknown section; known sections: {}",
                names.collect::<Vec<_>>().join(", ")
            )
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
    crate::model::HostConfig::default().write_default(&mut out);
    out.text
}
