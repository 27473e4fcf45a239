//! [`Subnet`]: the IPv4 network of the decoy LAN (`net=` in the INI).
//!
//! Only what the fleet needs: parse `a.b.c.d/p`, membership, the network and broadcast
//! addresses and the host range the allocator walks. No crate for this: it is a few shifts.

use std::fmt;
use std::net::Ipv4Addr;
use std::str::FromStr;

use serde::{Deserialize, Deserializer, Serialize, Serializer};

use crate::name::shown;

#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct SubnetError(String);

/// An IPv4 network with a prefix between [`Subnet::MIN_PREFIX`] and [`Subnet::MAX_PREFIX`].
///
/// Host bits given in the input are dropped (`192.168.1.7/24` is `192.168.1.0/24`), as
/// DECNET's `IPv4Network(strict=False)` did.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct Subnet {
    network: Ipv4Addr,
    prefix: u8,
}

impl Subnet {
    /// Wider than a /8 is not a LAN.
    pub const MIN_PREFIX: u8 = 8;
    /// A /31 or /32 has no host addresses besides network and broadcast to give deckies.
    pub const MAX_PREFIX: u8 = 30;

    /// `192.168.1.0/24`, used when the INI has no `net=` (with gateway `192.168.1.1`).
    pub const DEFAULT: Subnet = Subnet {
        network: Ipv4Addr::new(192, 168, 1, 0),
        prefix: 24,
    };

    pub fn new(addr: Ipv4Addr, prefix: u8) -> Result<Subnet, SubnetError> {
        if !(Self::MIN_PREFIX..=Self::MAX_PREFIX).contains(&prefix) {
            return Err(SubnetError(format!(
                "'{addr}/{prefix}' has an unsupported prefix: use /{} to /{}",
                Self::MIN_PREFIX,
                Self::MAX_PREFIX
            )));
        }
        let mask = mask(prefix);
        Ok(Subnet {
            network: Ipv4Addr::from(u32::from(addr) & mask),
            prefix,
        })
    }

    /// `a.b.c.d/p`.
    pub fn parse(s: &str) -> Result<Subnet, SubnetError> {
        let bad = || {
            SubnetError(format!(
                "'{}' is not a valid IPv4 network: use a.b.c.d/prefix, e.g. 192.168.1.0/24",
                shown(s)
            ))
        };
        let (addr, prefix) = s.split_once('/').ok_or_else(bad)?;
        let addr: Ipv4Addr = addr.parse().map_err(|_| bad())?;
        if prefix.is_empty() || prefix.len() > 2 || !prefix.bytes().all(|b| b.is_ascii_digit()) {
            return Err(bad());
        }
        let prefix: u8 = prefix.parse().map_err(|_| bad())?;
        Subnet::new(addr, prefix)
    }

    pub fn network(self) -> Ipv4Addr {
        self.network
    }

    pub fn prefix(self) -> u8 {
        self.prefix
    }

    pub fn broadcast(self) -> Ipv4Addr {
        Ipv4Addr::from(u32::from(self.network) | !mask(self.prefix))
    }

    pub fn contains(self, ip: Ipv4Addr) -> bool {
        u32::from(ip) & mask(self.prefix) == u32::from(self.network)
    }

    /// Inside the network and neither its network nor its broadcast address.
    pub fn is_host(self, ip: Ipv4Addr) -> bool {
        self.contains(ip) && ip != self.network && ip != self.broadcast()
    }

    /// The lowest host address: the conventional gateway when none is given.
    pub fn first_host(self) -> Ipv4Addr {
        // MAX_PREFIX <= 30 guarantees network + 1 < broadcast.
        Ipv4Addr::from(u32::from(self.network).saturating_add(1))
    }

    /// Host addresses, lowest first (lazy: a /8 is not materialised).
    pub fn hosts(self) -> impl Iterator<Item = Ipv4Addr> {
        let first = u32::from(self.network).saturating_add(1);
        let last = u32::from(self.broadcast()).saturating_sub(1);
        (first..=last).map(Ipv4Addr::from)
    }
}

fn mask(prefix: u8) -> u32 {
    u32::MAX
        .checked_shl(32 - u32::from(prefix.min(32)))
        .unwrap_or(0)
}

impl fmt::Display for Subnet {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{}", self.network, self.prefix)
    }
}

impl FromStr for Subnet {
    type Err = SubnetError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Subnet::parse(s)
    }
}

impl Serialize for Subnet {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(self)
    }
}

impl<'de> Deserialize<'de> for Subnet {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let raw = String::deserialize(d)?;
        Subnet::parse(&raw).map_err(serde::de::Error::custom)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn ip(s: &str) -> Ipv4Addr {
        s.parse().unwrap()
    }

    #[test]
    fn subnet_parses_and_normalises_host_bits() {
        let n = Subnet::parse("192.168.1.77/24").unwrap();
        assert_eq!(n.to_string(), "192.168.1.0/24");
        assert_eq!(n.broadcast(), ip("192.168.1.255"));
        assert_eq!(n.first_host(), ip("192.168.1.1"));
    }

    #[test]
    fn subnet_membership_and_hosts() {
        let n = Subnet::parse("10.0.0.0/30").unwrap();
        assert!(n.contains(ip("10.0.0.3")));
        assert!(!n.contains(ip("10.0.0.4")));
        assert!(!n.is_host(ip("10.0.0.0")));
        assert!(!n.is_host(ip("10.0.0.3")));
        assert_eq!(
            n.hosts().collect::<Vec<_>>(),
            vec![ip("10.0.0.1"), ip("10.0.0.2")]
        );
    }

    #[test]
    fn malformed_subnets_are_rejected() {
        for bad in [
            "",
            "192.168.1.0",
            "192.168.1.0/",
            "192.168.1.0/33",
            "192.168.1.0/31",
            "192.168.1.0/7",
            "192.168.1.0/+8",
            "192.168.1/24",
            "300.1.1.1/24",
            "a.b.c.d/24",
            "192.168.1.0/024",
            " 192.168.1.0/24",
        ] {
            assert!(Subnet::parse(bad).is_err(), "{bad:?}");
        }
    }

    proptest! {
        #[test]
        fn subnet_parse_never_panics(s in "\\PC{0,24}") {
            let _ = Subnet::parse(&s);
        }

        #[test]
        fn display_round_trips(a: u32, p in 8u8..=30) {
            let n = Subnet::new(Ipv4Addr::from(a), p).unwrap();
            prop_assert_eq!(Subnet::parse(&n.to_string()).unwrap(), n);
            prop_assert!(n.contains(Ipv4Addr::from(a)));
        }
    }
}
