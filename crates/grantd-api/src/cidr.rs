//! `IpCidr`: an IP network (`10.0.0.0/8`, `fd00::/8`, or a bare address) naming trusted proxies.
//!
//! A tiny own type instead of a dependency: the API needs parsing, display and `contains`, no
//! more. IPv4-mapped IPv6 addresses (`::ffff:10.0.0.1`, what a dual-stack socket reports for an
//! IPv4 peer) are treated as the IPv4 address they carry, on both sides of `contains`.

use std::fmt;
use std::net::IpAddr;
use std::str::FromStr;

/// An IP network: an address with its host bits cleared and a prefix length.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct IpCidr {
    network: IpAddr,
    prefix: u8,
}

/// Why a string is not an IP network.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct InvalidCidr(String);

impl fmt::Display for InvalidCidr {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for InvalidCidr {}

fn mask_v4(bits: u32, prefix: u8) -> u32 {
    if prefix == 0 {
        0
    } else {
        bits & (u32::MAX << (32 - u32::from(prefix)))
    }
}

fn mask_v6(bits: u128, prefix: u8) -> u128 {
    if prefix == 0 {
        0
    } else {
        bits & (u128::MAX << (128 - u32::from(prefix)))
    }
}

impl IpCidr {
    /// The network of `addr` with `prefix` bits (host bits are cleared, so `10.1.2.3/8` is
    /// `10.0.0.0/8`). An IPv4-mapped IPv6 network of prefix ≥ 96 becomes the IPv4 network.
    pub fn new(addr: IpAddr, prefix: u8) -> Result<Self, InvalidCidr> {
        let (addr, prefix) = match addr {
            IpAddr::V6(v6) => match v6.to_ipv4_mapped() {
                Some(v4) if prefix >= 96 => (IpAddr::V4(v4), prefix - 96),
                _ => (addr, prefix),
            },
            IpAddr::V4(_) => (addr, prefix),
        };
        let network = match addr {
            IpAddr::V4(v4) if prefix <= 32 => IpAddr::V4(mask_v4(v4.to_bits(), prefix).into()),
            IpAddr::V6(v6) if prefix <= 128 => IpAddr::V6(mask_v6(v6.to_bits(), prefix).into()),
            _ => {
                return Err(InvalidCidr(format!(
                    "prefix length /{prefix} is too long for {addr}"
                )));
            }
        };
        Ok(Self { network, prefix })
    }

    /// A single address (`/32` or `/128`).
    pub fn host(addr: IpAddr) -> Self {
        match addr.to_canonical() {
            a @ IpAddr::V4(_) => Self {
                network: a,
                prefix: 32,
            },
            a @ IpAddr::V6(_) => Self {
                network: a,
                prefix: 128,
            },
        }
    }

    pub fn network(&self) -> IpAddr {
        self.network
    }

    pub fn prefix(&self) -> u8 {
        self.prefix
    }

    /// Whether `ip` lies in this network.
    pub fn contains(&self, ip: IpAddr) -> bool {
        match (self.network, ip.to_canonical()) {
            (IpAddr::V4(net), IpAddr::V4(ip)) => {
                mask_v4(ip.to_bits(), self.prefix) == net.to_bits()
            }
            (IpAddr::V6(net), IpAddr::V6(ip)) => {
                mask_v6(ip.to_bits(), self.prefix) == net.to_bits()
            }
            _ => false,
        }
    }
}

impl FromStr for IpCidr {
    type Err = InvalidCidr;

    /// `addr/prefix` or a bare `addr`.
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let s = s.trim();
        let bad = || InvalidCidr(format!("{s:?} is not an IP address or network (a.b.c.d/n)"));
        match s.split_once('/') {
            Some((addr, prefix)) => {
                let addr: IpAddr = addr.parse().map_err(|_| bad())?;
                // Only plain decimal digits: `u8::from_str` would also take "+8".
                if prefix.is_empty() || !prefix.bytes().all(|b| b.is_ascii_digit()) {
                    return Err(bad());
                }
                let prefix: u8 = prefix.parse().map_err(|_| bad())?;
                Self::new(addr, prefix)
            }
            None => s.parse::<IpAddr>().map(Self::host).map_err(|_| bad()),
        }
    }
}

impl fmt::Display for IpCidr {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{}", self.network, self.prefix)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ip(s: &str) -> IpAddr {
        s.parse().unwrap()
    }

    #[test]
    fn parses_networks_and_hosts() {
        let cases: &[(&str, Option<&str>)] = &[
            ("10.0.0.0/8", Some("10.0.0.0/8")),
            ("10.1.2.3/8", Some("10.0.0.0/8")),
            ("192.168.1.7", Some("192.168.1.7/32")),
            (" 0.0.0.0/0 ", Some("0.0.0.0/0")),
            ("fd00::1/8", Some("fd00::/8")),
            ("::1", Some("::1/128")),
            ("::ffff:10.0.0.0/104", Some("10.0.0.0/8")),
            ("::ffff:10.0.0.9", Some("10.0.0.9/32")),
            ("10.0.0.0/33", None),
            ("::/129", None),
            ("10.0.0.0/", None),
            ("10.0.0.0/+8", None),
            ("10.0.0/8", None),
            ("localhost", None),
            ("", None),
        ];
        for (s, want) in cases {
            let got = s.parse::<IpCidr>().ok().map(|c| c.to_string());
            assert_eq!(got.as_deref(), *want, "{s:?}");
        }
    }

    #[test]
    fn containment() {
        let net: IpCidr = "10.0.0.0/8".parse().unwrap();
        assert!(net.contains(ip("10.255.0.1")));
        assert!(net.contains(ip("::ffff:10.1.1.1")), "mapped v4 peer");
        assert!(!net.contains(ip("11.0.0.1")));
        assert!(!net.contains(ip("fd00::1")));
        let all: IpCidr = "0.0.0.0/0".parse().unwrap();
        assert!(all.contains(ip("203.0.113.9")));
        assert!(!all.contains(ip("2001:db8::1")));
        let v6: IpCidr = "2001:db8::/32".parse().unwrap();
        assert!(v6.contains(ip("2001:db8:ffff::1")));
        assert!(!v6.contains(ip("2001:db9::1")));
        let host: IpCidr = "127.0.0.1".parse().unwrap();
        assert!(host.contains(ip("127.0.0.1")));
        assert!(!host.contains(ip("127.0.0.2")));
    }
}
