//! IP addresses and CIDR ranges: the whitelist, the static blacklist and the IPv6 prefix of
//! source addresses. The one IP-range type of the workspace (pool-config parses its files
//! into it through [`FromStr`]).

use std::fmt;
use std::net::IpAddr;
use std::str::FromStr;

/// One IP address or a CIDR range (`10.0.0.0/8`, `2001:db8::/32`).
///
/// A bare address is a range of one (`/32` or `/128`). Like Go's `net.ParseCIDR`, host bits
/// are masked off (`10.1.2.3/8` is `10.0.0.0/8`). Displays as the bare address for a range of
/// one, `network/len` otherwise; [`FromStr`] reads both forms back.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct IpRange {
    network: IpAddr,
    prefix_len: u8,
}

impl IpRange {
    /// The range `network/prefix_len`; host bits of `network` are cleared.
    ///
    /// Fails when `prefix_len` is longer than the address (32 for IPv4, 128 for IPv6).
    pub fn new(network: IpAddr, prefix_len: u8) -> Result<Self, IpRangeError> {
        let max = max_prefix(network);
        if prefix_len > max {
            return Err(IpRangeError::PrefixTooLong {
                len: prefix_len,
                max,
            });
        }
        Ok(Self {
            network: mask(network, prefix_len),
            prefix_len,
        })
    }

    /// Whether `ip` lies inside this range. IPv4 and IPv6 never match each other.
    pub fn contains(&self, ip: IpAddr) -> bool {
        match (self.network, ip) {
            (IpAddr::V4(_), IpAddr::V4(_)) | (IpAddr::V6(_), IpAddr::V6(_)) => {
                mask(ip, self.prefix_len) == self.network
            }
            _ => false,
        }
    }

    /// The first address of the range.
    pub fn network(&self) -> IpAddr {
        self.network
    }

    /// The number of leading bits that are fixed.
    pub fn prefix_len(&self) -> u8 {
        self.prefix_len
    }

    /// Whether this is an IPv6 range.
    pub fn is_ipv6(&self) -> bool {
        self.network.is_ipv6()
    }

    /// The address of this range whose host bits (those after the prefix) are `host_bits`'
    /// low bits: `host_bits` is masked to the host part, the network part is kept.
    pub fn with_host_bits(&self, host_bits: u128) -> IpAddr {
        match self.network {
            IpAddr::V4(v4) => {
                let host = u32::MAX
                    .checked_shr(u32::from(self.prefix_len))
                    .unwrap_or(0);
                let low = u32::try_from(host_bits & u128::from(u32::MAX)).unwrap_or(0);
                IpAddr::V4((u32::from(v4) | (low & host)).into())
            }
            IpAddr::V6(v6) => {
                let host = u128::MAX
                    .checked_shr(u32::from(self.prefix_len))
                    .unwrap_or(0);
                IpAddr::V6((u128::from(v6) | (host_bits & host)).into())
            }
        }
    }
}

fn max_prefix(ip: IpAddr) -> u8 {
    match ip {
        IpAddr::V4(_) => 32,
        IpAddr::V6(_) => 128,
    }
}

fn mask(ip: IpAddr, prefix_len: u8) -> IpAddr {
    match ip {
        IpAddr::V4(v4) => {
            let bits = u32::from(v4);
            let kept = if prefix_len == 0 {
                0
            } else {
                bits & (u32::MAX << (32 - u32::from(prefix_len)))
            };
            IpAddr::V4(kept.into())
        }
        IpAddr::V6(v6) => {
            let bits = u128::from(v6);
            let kept = if prefix_len == 0 {
                0
            } else {
                bits & (u128::MAX << (128 - u32::from(prefix_len)))
            };
            IpAddr::V6(kept.into())
        }
    }
}

impl From<IpAddr> for IpRange {
    fn from(ip: IpAddr) -> Self {
        Self {
            network: ip,
            prefix_len: max_prefix(ip),
        }
    }
}

impl FromStr for IpRange {
    type Err = IpRangeError;

    fn from_str(text: &str) -> Result<Self, Self::Err> {
        let text = text.trim();
        let (addr, prefix) = match text.split_once('/') {
            Some((addr, prefix)) => (addr, Some(prefix)),
            None => (text, None),
        };
        let ip: IpAddr = addr.parse().map_err(|_| IpRangeError::NotAnAddress {
            text: text.to_owned(),
        })?;
        let Some(prefix) = prefix else {
            return Ok(Self::from(ip));
        };
        let max = max_prefix(ip);
        let len = prefix
            .parse::<u8>()
            .ok()
            .filter(|len| *len <= max)
            .ok_or_else(|| IpRangeError::BadPrefix {
                text: text.to_owned(),
                max,
            })?;
        Self::new(ip, len)
    }
}

/// Read and written as its text (`"10.0.0.0/8"`, a bare address for a single one), as a
/// config file writes it (feature `serde`).
#[cfg(feature = "serde")]
impl<'de> serde::Deserialize<'de> for IpRange {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        // The text is parsed inside the visitor, so a reader that tracks where each value
        // was written (toml) places the error at this one.
        struct Text;
        impl serde::de::Visitor<'_> for Text {
            type Value = IpRange;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a string")
            }
            fn visit_str<E: serde::de::Error>(self, text: &str) -> Result<IpRange, E> {
                text.parse().map_err(E::custom)
            }
        }
        d.deserialize_str(Text)
    }
}

#[cfg(feature = "serde")]
impl serde::Serialize for IpRange {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(self)
    }
}

impl fmt::Display for IpRange {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.prefix_len == max_prefix(self.network) {
            write!(f, "{}", self.network)
        } else {
            write!(f, "{}/{}", self.network, self.prefix_len)
        }
    }
}

/// Why a text or an address and prefix length is not an [`IpRange`].
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum IpRangeError {
    /// The text before any `/` is not an IP address.
    #[error("not an IP address or CIDR range: {text:?}")]
    NotAnAddress {
        /// The text that was read.
        text: String,
    },
    /// The text after `/` is not a prefix length that fits the address.
    #[error("invalid prefix length in {text:?}: expected 0..={max}")]
    BadPrefix {
        /// The text that was read.
        text: String,
        /// The longest prefix of the address's family (32 or 128).
        max: u8,
    },
    /// [`IpRange::new`] was given a prefix longer than the address.
    #[error("prefix length {len} is longer than {max} bits")]
    PrefixTooLong {
        /// The prefix length given.
        len: u8,
        /// The longest prefix of the address's family (32 or 128).
        max: u8,
    },
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_addresses_and_ranges() {
        let one: IpRange = "127.0.0.2".parse().unwrap();
        assert!(one.contains("127.0.0.2".parse().unwrap()));
        assert!(!one.contains("127.0.0.3".parse().unwrap()));

        let net: IpRange = "10.1.2.3/8".parse().unwrap();
        assert_eq!(net.to_string(), "10.0.0.0/8");
        assert!(net.contains("10.255.0.1".parse().unwrap()));
        assert!(!net.contains("11.0.0.1".parse().unwrap()));
        assert!(!net.contains("::1".parse().unwrap()));

        let v6: IpRange = "2001:db8::/32".parse().unwrap();
        assert!(v6.contains("2001:db8:1::5".parse().unwrap()));
        assert!(!v6.contains("2001:db9::5".parse().unwrap()));

        let all: IpRange = "0.0.0.0/0".parse().unwrap();
        assert!(all.contains("8.8.8.8".parse().unwrap()));
    }

    #[test]
    fn rejects_bad_text() {
        assert!("10.0.0.0/33".parse::<IpRange>().is_err());
        assert!("nope".parse::<IpRange>().is_err());
        assert!("10.0.0.0/x".parse::<IpRange>().is_err());
    }

    #[test]
    fn typed_errors_say_what_is_wrong() {
        assert_eq!(
            "10.0.0.300".parse::<IpRange>(),
            Err(IpRangeError::NotAnAddress {
                text: "10.0.0.300".to_owned()
            })
        );
        let e = "10.0.0.0/33".parse::<IpRange>().unwrap_err();
        assert_eq!(
            e.to_string(),
            "invalid prefix length in \"10.0.0.0/33\": expected 0..=32"
        );
        let e = "::/129".parse::<IpRange>().unwrap_err();
        assert!(matches!(e, IpRangeError::BadPrefix { max: 128, .. }), "{e}");
        let e = IpRange::new("::1".parse().unwrap(), 200).unwrap_err();
        assert_eq!(e, IpRangeError::PrefixTooLong { len: 200, max: 128 });
    }

    #[test]
    fn display_reads_back() {
        for text in [
            "10.0.0.0/8",
            "192.0.2.1",
            "2001:db8::/32",
            "::1",
            "0.0.0.0/0",
        ] {
            let range: IpRange = text.parse().unwrap();
            assert_eq!(range.to_string(), text);
            assert_eq!(range.to_string().parse::<IpRange>().unwrap(), range);
        }
        let full: IpRange = "192.0.2.1/32".parse().unwrap();
        assert_eq!(full.to_string(), "192.0.2.1");
    }

    #[test]
    fn host_bits_stay_inside_the_range() {
        let v6: IpRange = "2001:db8:1:2::/64".parse().unwrap();
        assert_eq!(
            v6.with_host_bits(u128::MAX).to_string(),
            "2001:db8:1:2:ffff:ffff:ffff:ffff"
        );
        assert_eq!(v6.with_host_bits(5).to_string(), "2001:db8:1:2::5");
        let v4: IpRange = "10.1.0.0/16".parse().unwrap();
        assert_eq!(v4.with_host_bits(u128::MAX).to_string(), "10.1.255.255");
        let one: IpRange = "::1".parse().unwrap();
        assert_eq!(one.with_host_bits(u128::MAX).to_string(), "::1");
        let all: IpRange = "::/0".parse().unwrap();
        assert!(all.contains(all.with_host_bits(12345)));
    }
}
