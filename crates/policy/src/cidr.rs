//! Networks a tenant may connect from: `203.0.113.0/24`, `2001:db8::/32`, or one address.

use std::fmt;
use std::net::IpAddr;

use crate::PolicyError;

/// An IP network: an address and how many of its leading bits count.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Cidr {
    network: IpAddr,
    prefix: u8,
}

impl Cidr {
    /// Reads `ADDRESS/PREFIX` or a single address; host bits set after the prefix are refused
    /// (`10.1.2.3/8` is more likely a mistake than `10.0.0.0/8`).
    pub fn parse(text: &str) -> Result<Self, PolicyError> {
        let bad = |reason: String| PolicyError::Cidr {
            input: text.to_string(),
            reason,
        };
        let t = text.trim();
        let (addr, prefix) = match t.split_once('/') {
            Some((a, p)) => (a, Some(p)),
            None => (t, None),
        };
        let network: IpAddr = addr
            .parse()
            .map_err(|_| bad("not an IPv4 or IPv6 address".into()))?;
        let max = if network.is_ipv4() { 32 } else { 128 };
        let prefix = match prefix {
            None => max,
            Some(p) => p
                .parse::<u8>()
                .ok()
                .filter(|p| *p <= max)
                .ok_or_else(|| bad(format!("the prefix length is 0 to {max}")))?,
        };
        let cidr = Cidr { network, prefix };
        if cidr.masked(network) != bits(network) {
            return Err(bad(format!(
                "bits are set after the first {prefix}; did you mean {}?",
                Cidr {
                    network: from_bits(cidr.masked(network), network.is_ipv4()),
                    prefix
                }
            )));
        }
        Ok(cidr)
    }

    /// Reads a comma-separated list (spaces allowed).
    pub fn parse_list(text: &str) -> Result<Vec<Self>, PolicyError> {
        let mut out: Vec<Cidr> = text
            .split(',')
            .filter(|s| !s.trim().is_empty())
            .map(Cidr::parse)
            .collect::<Result<_, _>>()?;
        out.sort();
        out.dedup();
        Ok(out)
    }

    /// Whether `ip` is in the network; an IPv4 address written as IPv6 (`::ffff:a.b.c.d`, as a
    /// dual-stack socket reports it) counts as the IPv4 address.
    pub fn contains(&self, ip: IpAddr) -> bool {
        let ip = match ip {
            IpAddr::V6(v6) => v6.to_ipv4_mapped().map_or(ip, IpAddr::V4),
            v4 => v4,
        };
        ip.is_ipv4() == self.network.is_ipv4() && self.masked(ip) == bits(self.network)
    }

    fn masked(&self, ip: IpAddr) -> u128 {
        let width = if ip.is_ipv4() { 32 } else { 128 };
        let keep = u32::from(self.prefix);
        let mask = if keep == 0 {
            0
        } else {
            (u128::MAX << (128 - keep)) >> (128 - width)
        };
        bits(ip) & mask
    }
}

fn bits(ip: IpAddr) -> u128 {
    match ip {
        IpAddr::V4(v4) => u128::from(u32::from(v4)),
        IpAddr::V6(v6) => u128::from(v6),
    }
}

fn from_bits(b: u128, v4: bool) -> IpAddr {
    if v4 {
        IpAddr::V4((b as u32).into())
    } else {
        IpAddr::V6(b.into())
    }
}

impl fmt::Display for Cidr {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{}", self.network, self.prefix)
    }
}

impl serde::Serialize for Cidr {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(self)
    }
}

impl<'de> serde::Deserialize<'de> for Cidr {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let text = String::deserialize(d)?;
        Cidr::parse(&text).map_err(serde::de::Error::custom)
    }
}

/// Whether `ip` may connect under `allowed` (every address when the list is empty).
pub fn allowed(allowed: &[Cidr], ip: IpAddr) -> bool {
    allowed.is_empty() || allowed.iter().any(|c| c.contains(ip))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ip(s: &str) -> IpAddr {
        s.parse().unwrap()
    }

    #[test]
    fn networks_hold_their_addresses_and_no_others() {
        let net = Cidr::parse("203.0.113.0/24").unwrap();
        assert!(net.contains(ip("203.0.113.7")));
        assert!(
            net.contains(ip("::ffff:203.0.113.7")),
            "IPv4 seen through a dual-stack socket"
        );
        assert!(!net.contains(ip("203.0.114.7")));
        assert!(!net.contains(ip("2001:db8::1")));
        let v6 = Cidr::parse("2001:db8::/32").unwrap();
        assert!(v6.contains(ip("2001:db8:1::5")));
        assert!(!v6.contains(ip("2001:db9::5")));
        let one = Cidr::parse("198.51.100.4").unwrap();
        assert_eq!(one.to_string(), "198.51.100.4/32");
        assert!(one.contains(ip("198.51.100.4")) && !one.contains(ip("198.51.100.5")));
        assert!(Cidr::parse("0.0.0.0/0").unwrap().contains(ip("8.8.8.8")));
    }

    #[test]
    fn mistakes_are_refused_with_the_fix() {
        let e = Cidr::parse("10.1.2.3/8").unwrap_err().to_string();
        assert!(e.contains("did you mean 10.0.0.0/8"), "{e}");
        assert!(Cidr::parse("10.0.0.0/33").is_err());
        assert!(Cidr::parse("example.com").is_err());
        assert!(Cidr::parse("10.0.0.0/x").is_err());
    }

    #[test]
    fn a_list_is_sorted_without_repeats_and_empty_allows_all() {
        let l = Cidr::parse_list("10.0.0.0/8, 192.0.2.1,10.0.0.0/8").unwrap();
        assert_eq!(l.len(), 2);
        assert!(allowed(&l, ip("10.9.9.9")) && !allowed(&l, ip("192.0.2.2")));
        assert!(allowed(&[], ip("192.0.2.2")));
    }
}
