//! IP addresses and CIDR ranges, for the whitelist and the static blacklist.

use std::fmt;
use std::net::IpAddr;
use std::str::FromStr;

/// One IP address or a CIDR range (`10.0.0.0/8`, `2001:db8::/32`).
///
/// A bare address is a range of one (`/32` or `/128`).
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
            return Err(IpRangeError(format!(
                "prefix length {prefix_len} is longer than {max} bits"
            )));
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
        let ip: IpAddr = addr
            .parse()
            .map_err(|_| IpRangeError(format!("`{addr}` is not an IP address")))?;
        match prefix {
            None => Ok(Self::from(ip)),
            Some(prefix) => {
                let len: u8 = prefix
                    .parse()
                    .map_err(|_| IpRangeError(format!("`{prefix}` is not a prefix length")))?;
                Self::new(ip, len)
            }
        }
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

/// Why a text is not an IP address or CIDR range.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("invalid IP range: {0}")]
pub struct IpRangeError(String);

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
}
