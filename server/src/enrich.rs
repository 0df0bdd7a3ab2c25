use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

/// How the client's address is recorded.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct AddressPolicy {
    /// Believe the last `X-Forwarded-For` entry (the nearest proxy's view).
    pub trust_forwarded: bool,
    /// Zero the host part before recording.
    pub anonymize: bool,
}

/// The address to record for a request: the TCP peer, or with
/// `trust_forwarded` the entry the nearest proxy appended to
/// `X-Forwarded-For`. Entries further left were written by the client and
/// prove nothing, so they are never used.
pub fn client_address(
    peer: Option<IpAddr>,
    forwarded_for: Option<&str>,
    policy: AddressPolicy,
) -> Option<IpAddr> {
    let forwarded = forwarded_for
        .filter(|_| policy.trust_forwarded)
        .and_then(|header| header.rsplit(',').next())
        .and_then(|last| parse_forwarded_entry(last.trim()));
    let address = forwarded.or(peer)?;
    Some(if policy.anonymize {
        anonymize(address)
    } else {
        address
    })
}

/// Accepts `1.2.3.4`, `1.2.3.4:5678`, `2001:db8::1` and `[2001:db8::1]:443`.
fn parse_forwarded_entry(entry: &str) -> Option<IpAddr> {
    if let Ok(ip) = entry.parse() {
        return Some(ip);
    }
    entry.parse::<std::net::SocketAddr>().ok().map(|s| s.ip())
}

/// IPv4 to its /24, IPv6 to its /48: enough for coarse geography, not
/// enough to single out a household.
pub fn anonymize(address: IpAddr) -> IpAddr {
    match address {
        IpAddr::V4(v4) => {
            let [a, b, c, _] = v4.octets();
            IpAddr::V4(Ipv4Addr::new(a, b, c, 0))
        }
        IpAddr::V6(v6) => {
            let s = v6.segments();
            IpAddr::V6(Ipv6Addr::new(s[0], s[1], s[2], 0, 0, 0, 0, 0))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ip(s: &str) -> IpAddr {
        s.parse().unwrap()
    }

    const PEER: &str = "10.0.0.7";

    #[test]
    fn by_default_it_records_the_peer_and_ignores_forwarded_headers() {
        let got = client_address(
            Some(ip(PEER)),
            Some("203.0.113.9"),
            AddressPolicy::default(),
        );
        assert_eq!(got, Some(ip(PEER)));
    }

    #[test]
    fn when_trusted_it_takes_the_entry_the_nearest_proxy_appended() {
        let policy = AddressPolicy {
            trust_forwarded: true,
            anonymize: false,
        };
        let got = client_address(Some(ip(PEER)), Some("6.6.6.6, 203.0.113.9"), policy);
        assert_eq!(got, Some(ip("203.0.113.9")));
        let got = client_address(Some(ip(PEER)), Some("[2001:db8::1]:443"), policy);
        assert_eq!(got, Some(ip("2001:db8::1")));
    }

    #[test]
    fn a_garbled_forwarded_header_falls_back_to_the_peer() {
        let policy = AddressPolicy {
            trust_forwarded: true,
            anonymize: false,
        };
        assert_eq!(
            client_address(Some(ip(PEER)), Some("unknown"), policy),
            Some(ip(PEER))
        );
    }

    #[test]
    fn anonymisation_keeps_only_the_network_part() {
        assert_eq!(anonymize(ip("203.0.113.9")), ip("203.0.113.0"));
        assert_eq!(anonymize(ip("2001:db8:abcd:12::1")), ip("2001:db8:abcd::"));
        let policy = AddressPolicy {
            trust_forwarded: false,
            anonymize: true,
        };
        assert_eq!(
            client_address(Some(ip("198.51.100.77")), None, policy),
            Some(ip("198.51.100.0"))
        );
    }
}
