//! Value types with units: [`ByteSize`] (`memory_limit`) and [`Fraction`]
//! (`shed_fraction`), each with its [`Read`].

use serde::Serialize;

use crate::error::ErrorKind;
use crate::read::{Issue, Read, Seen};

/// A number of bytes: an integer, or a string with a unit — `"512MiB"`, `"2GiB"`,
/// `"64KiB"` (binary, ×1024), `"500MB"`, `"1GB"`, `"64kB"` (decimal, ×1000), `"4096B"`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(transparent)]
pub struct ByteSize(pub u64);

impl ByteSize {
    /// Reads `"512MiB"`-style text (see the type's docs).
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

impl Read for ByteSize {
    type Value = ByteSize;

    fn read(seen: Seen<'_>) -> Result<ByteSize, Issue> {
        match seen {
            Seen::Int(n) => u64::try_from(n)
                .map(ByteSize)
                .map_err(|_| Issue::new(ErrorKind::Value, format!("{n} is not a size in bytes"))),
            Seen::Str(s) => ByteSize::parse(s).map_err(|e| Issue::new(ErrorKind::Value, e)),
            other => Err(Issue::new(
                ErrorKind::Type,
                format!(
                    "expected a size (bytes, or a string such as \"512MiB\"), got {}",
                    other.type_str()
                ),
            )),
        }
    }

    fn env_value(raw: &str) -> toml::de::DeValue<'_> {
        crate::read::text_env(raw)
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
    pub fn new(value: f64) -> Option<Self> {
        (value > 0.0 && value <= 1.0).then_some(Self(value))
    }

    /// The share.
    pub fn get(self) -> f64 {
        self.0
    }
}

impl Read for Fraction {
    type Value = Fraction;

    fn read(seen: Seen<'_>) -> Result<Fraction, Issue> {
        let value = match seen {
            Seen::Float(f) => f,
            Seen::Int(n) => n as f64,
            other => {
                return Err(Issue::new(
                    ErrorKind::Type,
                    format!("expected a number in (0, 1], got {}", other.type_str()),
                ));
            }
        };
        Fraction::new(value).ok_or_else(|| {
            Issue::new(
                ErrorKind::Value,
                format!("must be above 0 and at most 1, got {value}"),
            )
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sizes_read_with_binary_and_decimal_units() {
        let ok = [
            ("512MiB", 512 << 20),
            (" 2GiB ", 2 << 30),
            ("64KiB", 64 << 10),
            ("500MB", 500_000_000),
            ("4096", 4096),
            ("4096B", 4096),
            ("1 GB", 1_000_000_000),
        ];
        for (text, bytes) in ok {
            assert_eq!(ByteSize::parse(text), Ok(ByteSize(bytes)), "{text}");
        }
        for bad in [
            "",
            "MiB",
            "12 parsecs",
            "-1MiB",
            "99999999999999999999TiB",
            "1.5GiB",
        ] {
            assert!(ByteSize::parse(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn fractions_are_above_zero_and_at_most_one() {
        assert_eq!(Fraction::new(0.2).map(Fraction::get), Some(0.2));
        assert!(Fraction::new(1.0).is_some());
        for bad in [0.0, -0.1, 1.01, f64::NAN, f64::INFINITY] {
            assert!(Fraction::new(bad).is_none(), "{bad}");
        }
    }

    #[test]
    fn shedding_keys_reach_the_pool_options_and_are_checked() {
        let off = crate::Config::default().pool_options();
        assert_eq!((off.memory_limit, off.shed_fraction), (None, 0.2));
        let text = "[pool]\nmemory_limit = \"512MiB\"\nshed_fraction = 0.5\nmemory_check_interval = \"250ms\"\n";
        let o = crate::Config::from_str_named(text, "t.toml")
            .unwrap()
            .pool_options();
        assert_eq!(o.memory_limit, Some(512 << 20));
        assert_eq!(o.memory_low_water_or_default(), Some((512 << 20) / 10 * 9));
        assert_eq!(o.shed_fraction, 0.5);
        assert_eq!(
            o.memory_check_interval,
            std::time::Duration::from_millis(250)
        );
        let bad = [
            (
                "memory_limit = 1000\nmemory_low_water = 2000\n",
                "pool.memory_low_water",
            ),
            ("shed_fraction = 0\n", "pool.shed_fraction"),
            ("memory_limit = \"12 parsecs\"\n", "pool.memory_limit"),
            ("memory_check_interval = 0\n", "pool.memory_check_interval"),
        ];
        for (body, key) in bad {
            let err = crate::Config::from_str_named(&format!("[pool]\n{body}"), "t.toml")
                .expect_err(body)
                .to_string();
            assert!(err.contains(key), "{body}: {err}");
            assert!(err.contains("t.toml:"), "{body}: {err}");
        }
    }
}
