//! Value types with their own file form, each an ordinary `Deserialize`: Go-compatible
//! durations ([`Secs`]), byte sizes ([`ByteSize`]), shares ([`Fraction`]) and name servers
//! (IP ranges read themselves: pool-core's `IpRange`); plus the `with` readers of `model.rs`.

use std::fmt;
use std::net::{IpAddr, SocketAddr};
use std::time::Duration;

use serde::Serialize;
use serde::de::{self, Deserialize, Deserializer, Visitor};

use crate::keys::{Reader, Value};

/// A duration as the Go system wrote it: an integer is seconds, a float fractional seconds,
/// a string a humantime duration (`"30s"`, `"1m30s"`, `"250ms"`) or plain digits (seconds).
pub(crate) struct Secs(pub(crate) Duration);

const HINT: &str = "use seconds (30) or a duration string (\"30s\", \"1m30s\", \"250ms\")";

impl<'de> Deserialize<'de> for Secs {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl Visitor<'_> for V {
            type Value = Secs;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                write!(f, "a duration; {HINT}")
            }
            fn visit_u64<E: de::Error>(self, n: u64) -> Result<Secs, E> {
                Ok(Secs(Duration::from_secs(n)))
            }
            fn visit_i64<E: de::Error>(self, n: i64) -> Result<Secs, E> {
                let n = u64::try_from(n)
                    .map_err(|_| E::custom(format!("must not be negative, got {n}")))?;
                self.visit_u64(n)
            }
            fn visit_f64<E: de::Error>(self, f: f64) -> Result<Secs, E> {
                Duration::try_from_secs_f64(f).map(Secs).map_err(|_| {
                    E::custom(format!(
                        "invalid duration {f}: must be a finite, non-negative number of seconds"
                    ))
                })
            }
            fn visit_str<E: de::Error>(self, s: &str) -> Result<Secs, E> {
                let s = s.trim();
                if !s.is_empty() && s.bytes().all(|b| b.is_ascii_digit()) {
                    let n = s
                        .parse()
                        .map_err(|_| E::custom(format!("duration {s:?} is too large")))?;
                    return self.visit_u64(n);
                }
                humantime::parse_duration(s)
                    .map(Secs)
                    .map_err(|e| E::custom(format!("invalid duration {s:?} ({e}); {HINT}")))
            }
        }
        d.deserialize_any(V)
    }
}

/// A number of bytes: an integer, or a string with a unit — `"512MiB"`, `"2GiB"`,
/// `"64KiB"` (binary, ×1024), `"500MB"`, `"1GB"`, `"64kB"` (decimal, ×1000), `"4096B"`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(transparent)]
pub struct ByteSize(pub u64);

impl ByteSize {
    /// Reads `"512MiB"`-style text (see the type's docs).
    ///
    /// # Errors
    /// No digits, an unknown unit, or a size past `u64`.
    pub fn parse(text: &str) -> Result<Self, String> {
        let s = text.trim();
        let split = s.find(|c: char| !c.is_ascii_digit()).unwrap_or(s.len());
        let (digits, unit) = s.split_at(split);
        let n: u64 = digits.parse().map_err(|_| {
            format!("invalid size {text:?}: expected digits then a unit, e.g. \"512MiB\"")
        })?;
        let scale: u64 = match unit.trim() {
            "" | "B" => 1,
            "KiB" | "K" | "k" => 1 << 10,
            "MiB" | "M" => 1 << 20,
            "GiB" | "G" => 1 << 30,
            "TiB" | "T" => 1 << 40,
            "kB" | "KB" => 1_000,
            "MB" => 1_000_000,
            "GB" => 1_000_000_000,
            "TB" => 1_000_000_000_000,
            other => {
                return Err(format!(
                    "unknown size unit {other:?} in {text:?} (B, KiB, MiB, GiB, TiB, kB, MB, GB, TB)"
                ));
            }
        };
        n.checked_mul(scale)
            .map(ByteSize)
            .ok_or_else(|| format!("size {text:?} is too large"))
    }
}

impl<'de> Deserialize<'de> for ByteSize {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl Visitor<'_> for V {
            type Value = ByteSize;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a size (bytes, or a string such as \"512MiB\")")
            }
            fn visit_u64<E: de::Error>(self, n: u64) -> Result<ByteSize, E> {
                Ok(ByteSize(n))
            }
            fn visit_i64<E: de::Error>(self, n: i64) -> Result<ByteSize, E> {
                u64::try_from(n)
                    .map(ByteSize)
                    .map_err(|_| E::custom(format!("{n} is not a size in bytes")))
            }
            fn visit_str<E: de::Error>(self, s: &str) -> Result<ByteSize, E> {
                ByteSize::parse(s).map_err(E::custom)
            }
        }
        d.deserialize_any(V)
    }
}

/// A share above 0 and at most 1 (e.g. `0.2`); never NaN.
#[derive(Clone, Copy, Debug, PartialEq, Serialize)]
#[serde(transparent)]
pub struct Fraction(f64);

// Never NaN (reading refuses it), so equality is total.
impl Eq for Fraction {}

impl Fraction {
    /// `value` when it lies in (0, 1].
    #[must_use]
    pub fn new(value: f64) -> Option<Self> {
        (value > 0.0 && value <= 1.0).then_some(Self(value))
    }

    /// The share.
    #[must_use]
    pub fn get(self) -> f64 {
        self.0
    }
}

impl<'de> Deserialize<'de> for Fraction {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let v = f64::deserialize(d)?;
        Fraction::new(v)
            .ok_or_else(|| de::Error::custom(format!("must be above 0 and at most 1, got {v}")))
    }
}

/// Reads a string with `parse`, its problem kept at the value's span.
fn parse_str<'de, D: Deserializer<'de>, T>(
    d: D,
    parse: impl FnOnce(&str) -> Result<T, String>,
) -> Result<T, D::Error> {
    struct V<F>(F);
    impl<T, F: FnOnce(&str) -> Result<T, String>> Visitor<'_> for V<F> {
        type Value = T;
        fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
            f.write_str("a string")
        }
        fn visit_str<E: de::Error>(self, s: &str) -> Result<T, E> {
            (self.0)(s).map_err(E::custom)
        }
    }
    d.deserialize_str(V(parse))
}

/// A name server: `"ip:port"` or a bare `"ip"` (port 53).
struct NameServer(SocketAddr);

impl<'de> Deserialize<'de> for NameServer {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        parse_str(d, |s| {
            let s = s.trim();
            let expected = "expected \"ip:port\" or \"ip\" (IPv6 as \"[::1]:53\")";
            let with_port = |ip| SocketAddr::new(ip, 53);
            let addr = s.parse().or_else(|_| s.parse::<IpAddr>().map(with_port));
            addr.map(NameServer)
                .map_err(|_| format!("not a socket address: {s:?}; {expected}"))
        })
    }
}

// The `with` readers of `model.rs`: a value read through one of the types above.

pub(crate) fn duration(r: &mut Reader, key: &str, v: &Value<'_>) -> Option<Duration> {
    r.read::<Secs>(key, v).map(|s| s.0)
}

pub(crate) fn opt_duration(r: &mut Reader, key: &str, v: &Value<'_>) -> Option<Option<Duration>> {
    duration(r, key, v).map(Some)
}

pub(crate) fn name_servers(r: &mut Reader, key: &str, v: &Value<'_>) -> Option<Vec<SocketAddr>> {
    let list = r.read::<Vec<NameServer>>(key, v)?;
    Some(list.into_iter().map(|x| x.0).collect())
}

// Output forms serde does not know.

/// Serializes `fleet.url` without its password: pool-redis's redaction with the `fleet`
/// feature; without it, a URL with user info (`@`) is written as `***` whole.
pub(crate) fn hidden_url<S: serde::Serializer>(url: &str, s: S) -> Result<S::Ok, S::Error> {
    #[cfg(feature = "fleet")]
    if let Ok(url) = pool_redis::RedisUrl::parse(url) {
        return s.serialize_str(&url.to_string());
    }
    s.serialize_str(if url.contains('@') { "***" } else { url })
}

/// A proxy URL of `[egress] proxies`, read with [`pool_dial::Proxy::parse`] (curl's rules)
/// and written back **without its credentials** (so `hotpool config` output never shows
/// them). `https://` proxies are refused for now (`docs/egress.md`).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ProxyUrl(pub pool_dial::Proxy);

impl ProxyUrl {
    /// Reads a proxy URL (the error never repeats it: it may hold a password).
    ///
    /// # Errors
    /// What [`pool_dial::Proxy::parse`] refuses. Every scheme it reads is accepted,
    /// `https://` included (TLS to the proxy, verified for the proxy's host with the
    /// dialer's trust: `docs/egress.md`).
    pub fn parse(text: &str) -> Result<Self, String> {
        pool_dial::Proxy::parse(text)
            .map(Self)
            .map_err(|e| e.to_string())
    }
}

impl<'de> Deserialize<'de> for ProxyUrl {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        Self::parse(&String::deserialize(d)?).map_err(de::Error::custom)
    }
}

impl serde::Serialize for ProxyUrl {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(&self.0)
    }
}

/// A request rate (`"150/s"`, `"600/m"`, `"60/h"`): pool-core's
/// [`RateLimit`](pool_core::RateLimit), read with its `FromStr` and written back as text.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Rate(pub pool_core::RateLimit);

impl<'de> Deserialize<'de> for Rate {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let text = String::deserialize(d)?;
        text.parse()
            .map(Self)
            .map_err(|e| de::Error::custom(format!("{e}: {text:?}")))
    }
}

impl serde::Serialize for Rate {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(&self.0)
    }
}
