//! The client a request counts against: the peer, or what trusted proxies say the client was,
//! with IPv6 addresses cut to their /64.

use std::net::{IpAddr, Ipv6Addr};

use actix_web::http::header::{HeaderMap, HeaderName};
use ipnet::IpNet;

/// The rate-limit key of a request: the client's address (see `client_addr`), with
/// IPv6 addresses cut to their /64. Requests without a peer address share one bucket.
pub fn client_key(peer: Option<IpAddr>, headers: &HeaderMap, trusted: &[IpNet]) -> IpAddr {
    bucket(client_addr(peer, headers, trusted))
}

/// The client's address. Only a trusted peer's forwarding headers are read, and they are walked
/// from the right (the hop nearest to us) past trusted proxies: the first address that is not a
/// trusted proxy is the client. Values further left were written by the client itself and are
/// never believed. `X-Forwarded-For` is used when present, else RFC 7239 `Forwarded`.
pub fn client_addr(peer: Option<IpAddr>, headers: &HeaderMap, trusted: &[IpNet]) -> IpAddr {
    let Some(peer) = peer.map(canonical) else {
        return IpAddr::from([0, 0, 0, 0]);
    };
    let is_trusted = |ip: &IpAddr| trusted.iter().any(|net| net.contains(ip));
    if !is_trusted(&peer) {
        return peer;
    }
    let hops = forwarded_hops(headers);
    let mut client = peer;
    for hop in hops.iter().rev() {
        match hop {
            // A trusted proxy wrote a value it did not know (`unknown`, an obfuscated name):
            // the nearest trusted hop is the best we know.
            None => return client,
            Some(ip) => {
                client = canonical(*ip);
                if !is_trusted(&client) {
                    return client;
                }
            }
        }
    }
    client
}

/// The hops recorded by proxies, leftmost (claimed original client) first; `None` for a value
/// that is not an address.
fn forwarded_hops(headers: &HeaderMap) -> Vec<Option<IpAddr>> {
    let values = |name: HeaderName| -> Vec<String> {
        headers
            .get_all(name)
            .filter_map(|v| v.to_str().ok())
            .flat_map(|v| v.split(','))
            .map(|v| v.trim().to_owned())
            .collect()
    };
    let xff = values(HeaderName::from_static("x-forwarded-for"));
    if !xff.is_empty() {
        return xff.iter().map(|v| parse_node(v)).collect();
    }
    values(HeaderName::from_static("forwarded"))
        .iter()
        .filter_map(|element| {
            element.split(';').find_map(|pair| {
                let (name, value) = pair.split_once('=')?;
                name.trim()
                    .eq_ignore_ascii_case("for")
                    .then(|| parse_node(value.trim()))
            })
        })
        .collect()
}

/// An address as proxies write it: `192.0.2.1`, `192.0.2.1:4711`, `2001:db8::1`,
/// `[2001:db8::1]:4711`, optionally in double quotes (RFC 7239).
fn parse_node(value: &str) -> Option<IpAddr> {
    let value = value.trim().trim_matches('"');
    if let Some(rest) = value.strip_prefix('[') {
        let (ip, _) = rest.split_once(']')?;
        return ip.parse::<Ipv6Addr>().ok().map(IpAddr::V6);
    }
    if let Ok(ip) = value.parse::<IpAddr>() {
        return Some(ip);
    }
    // IPv4 with a port.
    let (ip, port) = value.rsplit_once(':')?;
    port.parse::<u16>().ok()?;
    ip.parse::<std::net::Ipv4Addr>().ok().map(IpAddr::V4)
}

/// IPv4-mapped IPv6 addresses (a dual-stack socket's view of IPv4 clients) as plain IPv4.
fn canonical(ip: IpAddr) -> IpAddr {
    match ip {
        IpAddr::V6(v6) => v6.to_ipv4_mapped().map_or(ip, IpAddr::V4),
        IpAddr::V4(_) => ip,
    }
}

/// IPv4 addresses as they are; IPv6 addresses cut to their /64, the smallest block a subscriber
/// is usually given (one client can otherwise rotate through 2^64 addresses).
pub fn bucket(ip: IpAddr) -> IpAddr {
    match canonical(ip) {
        IpAddr::V6(v6) => {
            let prefix = u128::from(v6) & !((1u128 << 64) - 1);
            IpAddr::V6(Ipv6Addr::from(prefix))
        }
        v4 => v4,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ip(s: &str) -> IpAddr {
        s.parse().unwrap()
    }

    fn nets(list: &[&str]) -> Vec<IpNet> {
        list.iter().map(|n| n.parse().unwrap()).collect()
    }

    fn headers(pairs: &[(&'static str, &str)]) -> HeaderMap {
        let mut map = HeaderMap::new();
        for (name, value) in pairs {
            map.append(
                HeaderName::from_static(name),
                actix_web::http::header::HeaderValue::from_str(value).unwrap(),
            );
        }
        map
    }

    #[test]
    fn the_peer_is_the_client_unless_it_is_a_trusted_proxy() {
        let trusted = nets(&["10.0.0.0/8", "fd00::/8"]);
        let h = headers(&[("x-forwarded-for", "198.51.100.1")]);
        assert_eq!(
            client_addr(Some(ip("203.0.113.1")), &h, &trusted),
            ip("203.0.113.1")
        );
        assert_eq!(
            client_addr(Some(ip("10.1.2.3")), &h, &trusted),
            ip("198.51.100.1")
        );
        assert_eq!(
            client_addr(Some(ip("fd00::1")), &h, &trusted),
            ip("198.51.100.1")
        );
        // No header: the proxy itself.
        assert_eq!(
            client_addr(Some(ip("10.1.2.3")), &HeaderMap::new(), &trusted),
            ip("10.1.2.3")
        );
        // No peer at all: one shared bucket.
        assert_eq!(client_addr(None, &h, &trusted), ip("0.0.0.0"));
    }

    #[test]
    fn forwarded_chains_are_walked_from_the_right() {
        let trusted = nets(&["10.0.0.0/8"]);
        let proxy = Some(ip("10.0.0.1"));
        let cases = [
            (("x-forwarded-for", "1.1.1.1, 198.51.100.1"), "198.51.100.1"),
            (
                ("x-forwarded-for", "1.1.1.1, 198.51.100.1, 10.9.9.9"),
                "198.51.100.1",
            ),
            (("x-forwarded-for", "10.0.0.7, 10.9.9.9"), "10.0.0.7"),
            (("x-forwarded-for", "198.51.100.1, unknown"), "10.0.0.1"),
            (("x-forwarded-for", "198.51.100.1:4711"), "198.51.100.1"),
            (("x-forwarded-for", "[2001:db8::1]:4711"), "2001:db8::1"),
            (("x-forwarded-for", "2001:db8::1"), "2001:db8::1"),
            (
                ("forwarded", r#"for="[2001:db8::1]:4711";proto=https"#),
                "2001:db8::1",
            ),
            (
                ("forwarded", "for=1.1.1.1, For=198.51.100.1;by=10.0.0.1"),
                "198.51.100.1",
            ),
            (("forwarded", "for=198.51.100.1, for=_hidden"), "10.0.0.1"),
            (("forwarded", "proto=https"), "10.0.0.1"),
        ];
        for ((name, value), expected) in cases {
            assert_eq!(
                client_addr(proxy, &headers(&[(name, value)]), &trusted),
                ip(expected),
                "{name}: {value}"
            );
        }
        // Several header lines form one list, in order.
        let h = headers(&[
            ("x-forwarded-for", "1.1.1.1"),
            ("x-forwarded-for", "198.51.100.1"),
        ]);
        assert_eq!(client_addr(proxy, &h, &trusted), ip("198.51.100.1"));
    }

    #[test]
    fn ipv6_is_bucketed_by_64_and_mapped_ipv4_is_ipv4() {
        assert_eq!(bucket(ip("2001:db8:1:2:3:4:5:6")), ip("2001:db8:1:2::"));
        assert_eq!(bucket(ip("::ffff:192.0.2.1")), ip("192.0.2.1"));
        assert_eq!(bucket(ip("192.0.2.1")), ip("192.0.2.1"));
    }
}
