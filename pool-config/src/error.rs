//! Errors and warnings, each with a location: file, line, column, dotted key, or the
//! environment variable a value came from.

use std::fmt;

/// What went wrong, broadly. The Display text is for people; match on this instead.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum ErrorKind {
    /// The file could not be read.
    Io,
    /// The text is not valid TOML.
    Syntax,
    /// A key or section this crate does not know.
    UnknownKey,
    /// A required key is missing.
    Missing,
    /// A value of the wrong TOML type (a string where an integer is expected, …).
    Type,
    /// A value of the right type that is not acceptable (zero limit, bad IP, unknown name, …).
    Value,
    /// Two values that contradict each other (`max_idle_conns > max_connections`, …).
    Inconsistent,
    /// The same host name twice in `[[hosts]]`.
    Duplicate,
}

/// Location and text shared by errors and warnings.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct Report {
    pub(crate) kind: ErrorKind,
    pub(crate) file: Option<String>,
    pub(crate) line: Option<usize>,
    pub(crate) column: Option<usize>,
    pub(crate) env_var: Option<String>,
    pub(crate) key: Option<String>,
    pub(crate) reason: String,
}

impl fmt::Display for Report {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if let Some(var) = &self.env_var {
            write!(f, "environment variable {var}: ")?;
        } else if let Some(file) = &self.file {
            let at = |n: Option<usize>| n.map(|n| format!(":{n}")).unwrap_or_default();
            let column = at(self.column.filter(|_| self.line.is_some()));
            write!(f, "{file}{}{column}: ", at(self.line))?;
        }
        if let Some(key) = &self.key {
            write!(f, "{key}: ")?;
        }
        // One line, whatever the underlying message looked like.
        let parts: Vec<_> = self
            .reason
            .lines()
            .map(str::trim)
            .filter(|l| !l.is_empty())
            .collect();
        f.write_str(&parts.join("; "))
    }
}

/// An error loading or validating a config (or a [warning](ConfigWarning)).
///
/// Displays as one line: `FILE:LINE:COL: KEY: REASON`, e.g.
/// `hotpool.toml:3:18: pool.max_idle_conns: must not exceed pool.max_connections (100), got 200`,
/// or `environment variable HOTPOOL_POOL__MAX_CONNECTIONS: pool.max_connections: …` for an
/// override. Parts that are unknown are left out.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub struct ConfigError(pub(crate) Box<Report>);

/// Something allowed but probably not meant (e.g. `idle_timeout > max_lifetime`,
/// `insecure_skip_verify = true`): located and shown like an error.
pub type ConfigWarning = ConfigError;

impl ConfigError {
    /// A problem about `key` with no location (found when the config is converted into a
    /// crate's options, e.g. by the `hotpool` crate).
    #[must_use]
    pub fn at_key(key: &str, reason: String) -> Self {
        let at_key = Source::default().report(None, Some(key.to_owned()), ErrorKind::Value, reason);
        ConfigError(Box::new(at_key.1))
    }

    pub(crate) fn io(file: &str, err: &std::io::Error) -> Self {
        let source = Source {
            file: Some(file.to_owned()),
            text: None,
        };
        let reason = format!("cannot read: {err}");
        ConfigError(Box::new(source.report(None, None, ErrorKind::Io, reason).1))
    }

    /// The broad kind of problem.
    #[must_use]
    pub fn kind(&self) -> ErrorKind {
        self.0.kind
    }

    /// Name of the config file, when the value came from one.
    #[must_use]
    pub fn file(&self) -> Option<&str> {
        self.0.file.as_deref()
    }

    /// 1-based line in the file, when known.
    #[must_use]
    pub fn line(&self) -> Option<usize> {
        self.0.line
    }

    /// 1-based column (in characters) in the file, when known.
    #[must_use]
    pub fn column(&self) -> Option<usize> {
        self.0.column
    }

    /// The environment variable the value came from, for overrides.
    #[must_use]
    pub fn env_var(&self) -> Option<&str> {
        self.0.env_var.as_deref()
    }

    /// The dotted key (`pool.max_idle_conns`, `hosts[1].name`), when the problem is about one.
    #[must_use]
    pub fn key(&self) -> Option<&str> {
        self.0.key.as_deref()
    }

    /// The reason alone, without location or key.
    #[must_use]
    pub fn reason(&self) -> &str {
        &self.0.reason
    }
}

impl fmt::Display for ConfigError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.0.fmt(f)
    }
}

impl std::error::Error for ConfigError {}

/// The text being read and its name: turns an [`Origin`] into a located [`Report`].
#[derive(Clone, Default)]
pub(crate) struct Source {
    /// The file's name (for messages).
    pub(crate) file: Option<String>,
    /// The file's text, to turn byte offsets into line and column numbers.
    pub(crate) text: Option<std::sync::Arc<str>>,
}

impl Source {
    /// A report at `origin` (none: a default value, located by key only), with its sort
    /// position: file order, then defaults, then the environment.
    pub(crate) fn report(
        &self,
        at: Option<&Origin>,
        key: Option<String>,
        kind: ErrorKind,
        reason: String,
    ) -> (usize, Report) {
        let mut r = Report {
            kind,
            file: self.file.clone(),
            line: None,
            column: None,
            env_var: None,
            key,
            reason,
        };
        let pos = match at {
            Some(Origin::File(span)) => {
                (r.line, r.column) = self
                    .text
                    .as_deref()
                    .map(|t| line_col(t, span.start))
                    .unzip();
                span.start
            }
            Some(Origin::Env(var)) => {
                (r.env_var, r.file) = (Some(var.clone()), None);
                usize::MAX
            }
            None => usize::MAX - 1,
        };
        (pos, r)
    }
}

impl fmt::Debug for Source {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let bytes = self.text.as_ref().map(|t| t.len());
        write!(f, "Source({:?}, {bytes:?} bytes)", self.file)
    }
}

/// Where a value came from.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) enum Origin {
    /// The config file, at this byte range of its text.
    File(std::ops::Range<usize>),
    /// An environment variable with this name.
    Env(String),
}

/// Converts a byte offset into a 1-based (line, column in chars).
pub(crate) fn line_col(text: &str, offset: usize) -> (usize, usize) {
    let mut offset = offset.min(text.len());
    while !text.is_char_boundary(offset) {
        offset -= 1;
    }
    let before = &text[..offset];
    let line = before.matches('\n').count() + 1;
    let line_start = before.rfind('\n').map_or(0, |i| i + 1);
    let column = before[line_start..].chars().count() + 1;
    (line, column)
}
