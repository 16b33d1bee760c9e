//! How a TOML value becomes a typed config value: one [`Read`] implementation per *type*
//! (integers, durations, addresses, lists, …), used through serde for file values
//! ([`Got`], the field type of every declared section's serde struct), for environment
//! overrides ([`from_env`]) and for the declared defaults ([`literal`]).
//!
//! Reading never fails the serde deserialization: a value of the wrong type or format
//! becomes an [`Issue`] inside [`Got`], so one pass reports every problem of a file.

use std::borrow::Cow;
use std::fmt;
use std::marker::PhantomData;
use std::net::{IpAddr, SocketAddr};
use std::ops::Range;
use std::path::PathBuf;
use std::time::Duration;

use pool_core::{IpRange, IpRangeError};
use serde::de::{self, Deserialize, Deserializer, MapAccess, SeqAccess, Visitor};
use serde::{Serialize, Serializer};
use toml::Spanned;
use toml::de::DeValue;

use crate::declare::Section;
use crate::error::ErrorKind;

/// The key serde's TOML deserializer uses to hand over a datetime as a map.
const DATETIME_KEY: &str = "$__toml_private_datetime";

/// A problem found while reading one value, before a location is attached.
#[derive(Debug)]
pub(crate) struct Issue {
    pub(crate) kind: ErrorKind,
    pub(crate) reason: String,
    /// A narrower place than the whole value: its key suffix (`[2]`, `[0].addr`) and span
    /// (`None`: the span of the element the suffix names, e.g. the table of a missing key).
    pub(crate) sub: Option<(Option<Range<usize>>, String)>,
}

impl Issue {
    pub(crate) fn new(kind: ErrorKind, reason: impl Into<String>) -> Self {
        Self {
            kind,
            reason: reason.into(),
            sub: None,
        }
    }

    fn value(reason: impl Into<String>) -> Self {
        Self::new(ErrorKind::Value, reason)
    }
}

/// What a TOML value turned out to be.
#[derive(Debug)]
pub(crate) enum Seen<'a> {
    Int(i128),
    Float(f64),
    Bool(bool),
    Str(&'a str),
    Array,
    Table,
    Datetime,
}

impl Seen<'_> {
    /// The TOML type's name.
    pub(crate) fn type_str(&self) -> &'static str {
        match self {
            Seen::Int(_) => "integer",
            Seen::Float(_) => "float",
            Seen::Bool(_) => "boolean",
            Seen::Str(_) => "string",
            Seen::Array => "array",
            Seen::Table => "table",
            Seen::Datetime => "datetime",
        }
    }

    fn describe(&self) -> String {
        match self {
            Seen::Str(s) => format!("string {s:?}"),
            Seen::Int(i) => format!("integer {i}"),
            Seen::Float(f) => format!("float {f}"),
            Seen::Bool(b) => format!("boolean {b}"),
            other => other.type_str().to_owned(),
        }
    }
}

fn mismatch(expected: &str, seen: &Seen<'_>) -> Issue {
    Issue::new(
        ErrorKind::Type,
        format!("expected {expected}, got {}", seen.describe()),
    )
}

/// Where the parts of a value were written: key suffix (`[0]`, `[0].addr`) → span.
pub(crate) type Parts = Vec<(String, Range<usize>)>;

/// What [`Read::read_array`] and [`Read::read_map`] return: the value or its problem, and
/// where its parts were written; or the deserializer's own error.
pub(crate) type ArrayRead<V, E> = Result<(Result<V, Issue>, Parts), E>;

/// A config value type, or a marker type naming how to read one (see [`NameServer`]).
pub(crate) trait Read {
    /// The type stored in the config.
    type Value;

    /// Reads a scalar (or learns that an array or table was written).
    fn read(seen: Seen<'_>) -> Result<Self::Value, Issue>;

    /// Reads an array; only lists accept one. Returns the element spans too.
    fn read_array<'de, A: SeqAccess<'de>>(_seq: A) -> ArrayRead<Self::Value, A::Error> {
        Ok((Self::read(Seen::Array), Vec::new()))
    }

    /// Reads a table (or a datetime, which serde hands over as one); only [`Entry`]
    /// accepts a table.
    fn read_map<'de, A: MapAccess<'de>>(mut map: A) -> ArrayRead<Self::Value, A::Error> {
        let first: Option<String> = map.next_key()?;
        let seen = if first.as_deref() == Some(DATETIME_KEY) {
            Seen::Datetime
        } else {
            Seen::Table
        };
        Ok((Self::read(seen), Vec::new()))
    }

    /// The TOML value an environment variable's text stands for: by default the text read
    /// as TOML (numbers, booleans, arrays), or a plain string when it is not valid TOML.
    fn env_value(raw: &str) -> DeValue<'_> {
        DeValue::parse(raw)
            .map(Spanned::into_inner)
            .unwrap_or(DeValue::String(Cow::Borrowed(raw)))
    }
}

/// Environment text for string-like types: the text itself, unless written as a quoted
/// TOML string.
pub(crate) fn text_env(raw: &str) -> DeValue<'_> {
    match DeValue::parse(raw) {
        Ok(v) if v.get_ref().is_str() => v.into_inner(),
        _ => DeValue::String(Cow::Borrowed(raw)),
    }
}

/// One value as read from the file: the typed value or its problem, plus where its parts
/// (elements, an entry's keys) were written.
pub(crate) struct Got<R: Read> {
    pub(crate) value: Result<R::Value, Issue>,
    pub(crate) elems: Parts,
}

impl<R: Read> Got<R> {
    fn of(value: Result<R::Value, Issue>) -> Self {
        Self {
            value,
            elems: Vec::new(),
        }
    }
}

impl<'de, R: Read> Deserialize<'de> for Got<R> {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        d.deserialize_any(GotVisitor::<R>(PhantomData))
    }
}

struct GotVisitor<R>(PhantomData<R>);

impl<'de, R: Read> Visitor<'de> for GotVisitor<R> {
    type Value = Got<R>;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a TOML value")
    }

    fn visit_bool<E: de::Error>(self, v: bool) -> Result<Got<R>, E> {
        Ok(Got::of(R::read(Seen::Bool(v))))
    }

    fn visit_i64<E: de::Error>(self, v: i64) -> Result<Got<R>, E> {
        Ok(Got::of(R::read(Seen::Int(v.into()))))
    }

    fn visit_u64<E: de::Error>(self, v: u64) -> Result<Got<R>, E> {
        Ok(Got::of(R::read(Seen::Int(v.into()))))
    }

    fn visit_i128<E: de::Error>(self, v: i128) -> Result<Got<R>, E> {
        Ok(Got::of(R::read(Seen::Int(v))))
    }

    fn visit_u128<E: de::Error>(self, v: u128) -> Result<Got<R>, E> {
        Ok(Got::of(match i128::try_from(v) {
            Ok(v) => R::read(Seen::Int(v)),
            Err(_) => Err(Issue::value(format!("integer {v} is out of range"))),
        }))
    }

    fn visit_f64<E: de::Error>(self, v: f64) -> Result<Got<R>, E> {
        Ok(Got::of(R::read(Seen::Float(v))))
    }

    fn visit_str<E: de::Error>(self, v: &str) -> Result<Got<R>, E> {
        Ok(Got::of(R::read(Seen::Str(v))))
    }

    fn visit_seq<A: SeqAccess<'de>>(self, seq: A) -> Result<Got<R>, A::Error> {
        let (value, elems) = R::read_array(seq)?;
        Ok(Got { value, elems })
    }

    fn visit_map<A: MapAccess<'de>>(self, map: A) -> Result<Got<R>, A::Error> {
        let (value, elems) = R::read_map(map)?;
        Ok(Got { value, elems })
    }
}

/// Reads one value given as a TOML value (the environment, the declared defaults).
fn read_value<R: Read>(value: DeValue<'_>) -> Got<R> {
    let de = toml::de::ValueDeserializer::from(Spanned::new(0..0, value));
    Got::<R>::deserialize(de).unwrap_or_else(|e| Got::of(Err(Issue::value(e.message().to_owned()))))
}

/// Reads the text of an environment variable as a value of `R`.
pub(crate) fn from_env<R: Read>(raw: &str) -> Result<R::Value, Issue> {
    read_value::<R>(R::env_value(raw)).value
}

/// Reads a declared default (TOML text). A bad declaration is a bug caught by every test.
pub(crate) fn literal<R: Read>(text: &str, key: &str) -> R::Value {
    let value = DeValue::parse(text).map(Spanned::into_inner);
    match value.map(read_value::<R>).map(|got| got.value) {
        Ok(Ok(v)) => v,
        Ok(Err(issue)) => panic!("declared default of {key} ({text}): {}", issue.reason),
        Err(e) => panic!("declared default of {key} ({text}): {}", e.message()),
    }
}

// ---------------------------------------------------------------------------------------
// One implementation per type.

macro_rules! read_uint {
    ($($t:ty),*) => {$(
        impl Read for $t {
            type Value = $t;

            fn read(seen: Seen<'_>) -> Result<$t, Issue> {
                match seen {
                    Seen::Int(n) if n < 0 => {
                        Err(Issue::value(format!("must not be negative, got {n}")))
                    }
                    Seen::Int(n) => {
                        <$t>::try_from(n).map_err(|_| Issue::value(format!("{n} is too large")))
                    }
                    other => Err(mismatch("an integer", &other)),
                }
            }
        }
    )*};
}

read_uint!(usize, u32, u16);

impl Read for bool {
    type Value = bool;

    fn read(seen: Seen<'_>) -> Result<bool, Issue> {
        match seen {
            Seen::Bool(b) => Ok(b),
            other => Err(mismatch("a boolean (true or false)", &other)),
        }
    }
}

fn text<'a>(seen: Seen<'a>) -> Result<&'a str, Issue> {
    match seen {
        Seen::Str(s) => Ok(s),
        other => Err(mismatch("a string", &other)),
    }
}

impl Read for String {
    type Value = String;

    fn read(seen: Seen<'_>) -> Result<String, Issue> {
        text(seen).map(str::to_owned)
    }

    fn env_value(raw: &str) -> DeValue<'_> {
        text_env(raw)
    }
}

impl Read for PathBuf {
    type Value = PathBuf;

    fn read(seen: Seen<'_>) -> Result<PathBuf, Issue> {
        text(seen).map(PathBuf::from)
    }

    fn env_value(raw: &str) -> DeValue<'_> {
        text_env(raw)
    }
}

/// An integer or float is seconds; a string is a humantime duration (`"30s"`, `"1m30s"`,
/// `"250ms"`) or plain digits (seconds).
impl Read for Duration {
    type Value = Duration;

    fn read(seen: Seen<'_>) -> Result<Duration, Issue> {
        const HINT: &str = "use seconds (30) or a duration string (\"30s\", \"1m30s\", \"250ms\")";
        match seen {
            Seen::Int(n) => u64::try_from(n).map(Duration::from_secs).map_err(|_| {
                Issue::value(if n < 0 {
                    format!("must not be negative, got {n}")
                } else {
                    format!("{n} is too large")
                })
            }),
            Seen::Float(f) => Duration::try_from_secs_f64(f).map_err(|_| {
                Issue::value(format!(
                    "invalid duration {f}: must be a finite, non-negative number of seconds"
                ))
            }),
            Seen::Str(s) => {
                let s = s.trim();
                if !s.is_empty() && s.bytes().all(|b| b.is_ascii_digit()) {
                    return s
                        .parse()
                        .map(Duration::from_secs)
                        .map_err(|_| Issue::value(format!("duration {s:?} is too large")));
                }
                humantime::parse_duration(s)
                    .map_err(|e| Issue::value(format!("invalid duration {s:?} ({e}); {HINT}")))
            }
            other => Err(mismatch(&format!("a duration; {HINT}"), &other)),
        }
    }
}

impl Read for IpAddr {
    type Value = IpAddr;

    fn read(seen: Seen<'_>) -> Result<IpAddr, Issue> {
        let s = text(seen)?;
        s.trim()
            .parse()
            .map_err(|_| Issue::value(format!("not an IP address: {s:?}")))
    }

    fn env_value(raw: &str) -> DeValue<'_> {
        text_env(raw)
    }
}

/// An address (a /32 or /128) or a CIDR range; host bits are masked (`10.1.2.3/8` is
/// `10.0.0.0/8`).
impl Read for IpRange {
    type Value = IpRange;

    fn read(seen: Seen<'_>) -> Result<IpRange, Issue> {
        text(seen)?
            .trim()
            .parse()
            .map_err(|e: IpRangeError| Issue::value(e.to_string()))
    }

    fn env_value(raw: &str) -> DeValue<'_> {
        text_env(raw)
    }
}

fn socket_addr(seen: Seen<'_>, default_port: Option<u16>) -> Result<SocketAddr, Issue> {
    let s = text(seen)?.trim();
    if let Ok(addr) = s.parse::<SocketAddr>() {
        return Ok(addr);
    }
    if let (Some(port), Ok(ip)) = (default_port, s.parse::<IpAddr>()) {
        return Ok(SocketAddr::new(ip, port));
    }
    let form = if default_port.is_some() {
        "\"ip:port\" or \"ip\" (IPv6 as \"[::1]:53\")"
    } else {
        "\"ip:port\" (IPv6 as \"[::1]:9898\")"
    };
    Err(Issue::value(format!(
        "not a socket address: {s:?}; expected {form}"
    )))
}

/// `"ip:port"`, the port required.
impl Read for SocketAddr {
    type Value = SocketAddr;

    fn read(seen: Seen<'_>) -> Result<SocketAddr, Issue> {
        socket_addr(seen, None)
    }

    fn env_value(raw: &str) -> DeValue<'_> {
        text_env(raw)
    }
}

/// Reads a name server: `"ip:port"` or a bare `"ip"` (port 53).
pub(crate) enum NameServer {}

impl Read for NameServer {
    type Value = SocketAddr;

    fn read(seen: Seen<'_>) -> Result<SocketAddr, Issue> {
        socket_addr(seen, Some(53))
    }

    fn env_value(raw: &str) -> DeValue<'_> {
        text_env(raw)
    }
}

/// Reads one table of a list of tables (`[[dns.servers]]`) as a declared section `S`:
/// each key read and reported as in any section (`dns.servers[0].addr`), unknown keys
/// refused.
pub(crate) struct Entry<S>(PhantomData<S>);

impl<S: Section> Read for Entry<S> {
    type Value = S;

    fn read(seen: Seen<'_>) -> Result<S, Issue> {
        Err(mismatch("a table", &seen))
    }

    fn read_map<'de, A: MapAccess<'de>>(map: A) -> ArrayRead<S, A::Error> {
        let raw = S::Raw::deserialize(de::value::MapAccessDeserializer::new(map))?;
        Ok(crate::parse::Reader::entry::<S>(raw))
    }
}

/// Reads an enum's name (`names` lists each name with its value).
pub(crate) fn choice<T: Copy>(
    seen: Seen<'_>,
    names: &[(&str, T)],
    aliases: &[(&str, T)],
) -> Result<T, Issue> {
    let s = text(seen)?;
    names
        .iter()
        .chain(aliases)
        .find(|(n, _)| *n == s)
        .map(|(_, t)| *t)
        .ok_or_else(|| {
            let names: Vec<String> = names.iter().map(|(n, _)| format!("{n:?}")).collect();
            Issue::value(format!("expected one of {}, got {s:?}", names.join(", ")))
        })
}

/// A TOML array (or, from the environment, a comma-separated list) of items.
impl<R: Read> Read for Vec<R> {
    type Value = Vec<R::Value>;

    fn read(seen: Seen<'_>) -> Result<Self::Value, Issue> {
        Err(mismatch("an array", &seen))
    }

    fn read_array<'de, A: SeqAccess<'de>>(mut seq: A) -> ArrayRead<Self::Value, A::Error> {
        let mut out = Vec::new();
        let mut spans = Vec::new();
        let mut problem = None;
        let mut index = 0;
        while let Some(item) = seq.next_element::<Spanned<Got<R>>>()? {
            let span = item.span();
            let at = format!("[{index}]");
            index += 1;
            let got = item.into_inner();
            match got.value {
                Ok(v) => out.push(v),
                Err(mut issue) => {
                    // The element's own part (an entry's key) within element `at`.
                    let (sub_span, suffix) = issue.sub.take().unwrap_or((None, String::new()));
                    issue.sub = Some((
                        Some(sub_span.unwrap_or(span.clone())),
                        format!("{at}{suffix}"),
                    ));
                    problem.get_or_insert(issue);
                }
            }
            spans.extend(got.elems.into_iter().map(|(k, v)| (format!("{at}{k}"), v)));
            spans.push((at, span));
        }
        Ok((problem.map_or(Ok(out), Err), spans))
    }

    fn env_value(raw: &str) -> DeValue<'_> {
        match DeValue::parse(raw) {
            Ok(v) if v.get_ref().is_array() => v.into_inner(),
            _ => DeValue::Array(
                raw.split(',')
                    .map(str::trim)
                    .filter(|p| !p.is_empty())
                    .map(|p| Spanned::new(0..0, DeValue::String(Cow::Borrowed(p))))
                    .collect(),
            ),
        }
    }
}

/// An optional key: present means `Some`.
impl<R: Read> Read for Option<R> {
    type Value = Option<R::Value>;

    fn read(seen: Seen<'_>) -> Result<Self::Value, Issue> {
        R::read(seen).map(Some)
    }

    fn read_array<'de, A: SeqAccess<'de>>(seq: A) -> ArrayRead<Self::Value, A::Error> {
        let (value, spans) = R::read_array(seq)?;
        Ok((value.map(Some), spans))
    }

    fn env_value(raw: &str) -> DeValue<'_> {
        R::env_value(raw)
    }
}

// ---------------------------------------------------------------------------------------
// Sections: a table of keys, or what was written instead.

/// A `[section]` (or one `[[hosts]]` entry): its keys, or the TOML type found instead.
pub(crate) enum Table<T> {
    Keys(T),
    Not(&'static str),
}

impl<'de, T: Deserialize<'de>> Deserialize<'de> for Table<T> {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        d.deserialize_any(TableVisitor(PhantomData))
    }
}

struct TableVisitor<T>(PhantomData<T>);

macro_rules! not_a {
    ($($visit:ident($t:ty) => $name:literal),*) => {$(
        fn $visit<E: de::Error>(self, _: $t) -> Result<Self::Value, E> {
            Ok(Self::Value::not($name))
        }
    )*};
}

impl<T> Table<T> {
    fn not(ty: &'static str) -> Self {
        Table::Not(ty)
    }
}

impl<'de, T: Deserialize<'de>> Visitor<'de> for TableVisitor<T> {
    type Value = Table<T>;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a table")
    }

    not_a!(visit_bool(bool) => "boolean", visit_i64(i64) => "integer", visit_u64(u64) => "integer",
           visit_f64(f64) => "float", visit_str(&str) => "string");

    fn visit_seq<A: SeqAccess<'de>>(self, _: A) -> Result<Table<T>, A::Error> {
        Ok(Table::Not("array"))
    }

    fn visit_map<A: MapAccess<'de>>(self, map: A) -> Result<Table<T>, A::Error> {
        T::deserialize(de::value::MapAccessDeserializer::new(map)).map(Table::Keys)
    }
}

/// `[[hosts]]`: the entries, or the TOML type found instead of an array.
pub(crate) enum Tables<T> {
    Items(Vec<Spanned<Table<T>>>),
    Not(&'static str),
}

impl<'de, T: Deserialize<'de>> Deserialize<'de> for Tables<T> {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        d.deserialize_any(TablesVisitor(PhantomData))
    }
}

struct TablesVisitor<T>(PhantomData<T>);

impl<T> Tables<T> {
    fn not(ty: &'static str) -> Self {
        Tables::Not(ty)
    }
}

impl<'de, T: Deserialize<'de>> Visitor<'de> for TablesVisitor<T> {
    type Value = Tables<T>;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("an array of tables")
    }

    not_a!(visit_bool(bool) => "boolean", visit_i64(i64) => "integer", visit_u64(u64) => "integer",
           visit_f64(f64) => "float", visit_str(&str) => "string");

    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Tables<T>, A::Error> {
        let mut items = Vec::new();
        while let Some(item) = seq.next_element()? {
            items.push(item);
        }
        Ok(Tables::Items(items))
    }

    fn visit_map<A: MapAccess<'de>>(self, _: A) -> Result<Tables<T>, A::Error> {
        Ok(Tables::Not("table"))
    }
}

// ---------------------------------------------------------------------------------------
// Serialization of types serde does not know.

/// Serializes a list of ranges as strings (`"10.0.0.0/8"`, a bare address for one).
pub(crate) fn ranges<S: Serializer>(v: &[IpRange], s: S) -> Result<S::Ok, S::Error> {
    s.collect_seq(v.iter().map(ToString::to_string))
}

/// Serializes an optional range as a string.
pub(crate) fn range<S: Serializer>(v: &Option<IpRange>, s: S) -> Result<S::Ok, S::Error> {
    v.map(|r| r.to_string()).serialize(s)
}
