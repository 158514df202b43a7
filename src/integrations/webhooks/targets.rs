//! Where a delivery may go: the documented URL form, and only public unicast addresses unless
//! private targets are allowed, checked on the addresses the name resolves to at delivery.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr, ToSocketAddrs};
use std::sync::Arc;
use std::time::Duration as StdDuration;

/// Whether a webhook may not be delivered to `ip` (unless private targets are allowed): anything
/// but a public unicast address. IPv6 forms that carry an IPv4 address (IPv4-mapped,
/// IPv4-compatible, NAT64, 6to4) are judged by the IPv4 address they lead to.
pub fn is_disallowed(ip: IpAddr) -> bool {
    match ip {
        IpAddr::V4(v4) => is_disallowed_v4(v4),
        IpAddr::V6(v6) => is_disallowed_v6(v6),
    }
}

fn is_disallowed_v4(v4: Ipv4Addr) -> bool {
    let o = v4.octets();
    v4.is_loopback()
        || v4.is_private()
        || v4.is_link_local()
        || v4.is_unspecified()
        || v4.is_broadcast()
        || v4.is_multicast()
        || v4.is_documentation()
        // "This network" 0/8, CGNAT 100.64/10, IETF protocol assignments 192.0.0/24,
        // benchmarking 198.18/15, reserved 240/4.
        || o[0] == 0
        || (o[0] == 100 && (64..128).contains(&o[1]))
        || (o[0] == 192 && o[1] == 0 && o[2] == 0)
        || (o[0] == 198 && (o[1] & 0xfe) == 18)
        || o[0] >= 240
}

fn is_disallowed_v6(v6: Ipv6Addr) -> bool {
    let s = v6.segments();
    let embedded_v4 = |hi: u16, lo: u16| {
        let [a, b] = hi.to_be_bytes();
        let [c, d] = lo.to_be_bytes();
        Ipv4Addr::new(a, b, c, d)
    };
    if v6.is_unspecified() || v6.is_loopback() {
        return true;
    }
    // ::ffff:a.b.c.d (IPv4-mapped) and ::a.b.c.d (IPv4-compatible, deprecated).
    if s[..5] == [0; 5] && (s[5] == 0xffff || s[5] == 0) {
        return is_disallowed_v4(embedded_v4(s[6], s[7]));
    }
    // NAT64 well-known prefix 64:ff9b::/96: the last 32 bits are the IPv4 destination.
    if s[..6] == [0x64, 0xff9b, 0, 0, 0, 0] {
        return is_disallowed_v4(embedded_v4(s[6], s[7]));
    }
    // 6to4 2002::/16: bits 16..48 are the IPv4 address of the relay site.
    if s[0] == 0x2002 {
        return is_disallowed_v4(embedded_v4(s[1], s[2]));
    }
    v6.is_multicast()
        // Local-use NAT64 64:ff9b:1::/48: its mapping to IPv4 is the operator's own.
        || (s[0] == 0x64 && s[1] == 0xff9b && s[2] == 1)
        // Unique local fc00::/7, link-local fe80::/10, deprecated site-local fec0::/10.
        || (s[0] & 0xfe00) == 0xfc00
        || (s[0] & 0xffc0) == 0xfe80
        || (s[0] & 0xffc0) == 0xfec0
        // Teredo 2001::/32 (tunnels to an obfuscated IPv4 address), documentation
        // 2001:db8::/32 and 3fff::/20, discard-only 100::/64.
        || (s[0] == 0x2001 && s[1] == 0)
        || (s[0] == 0x2001 && s[1] == 0x0db8)
        || (s[0] == 0x3fff && (s[1] & 0xf000) == 0)
        || s[..4] == [0x100, 0, 0, 0]
}

/// Turns a host name into addresses. Blocking; the delivery worker calls it once per attempt,
/// on the blocking pool and under `LOOKUP_TIMEOUT`. Tests inject their own.
pub trait Lookup: Send + Sync + 'static {
    fn lookup(&self, host: &str, port: u16) -> std::io::Result<Vec<SocketAddr>>;
}

/// The system resolver (`getaddrinfo`).
pub struct SystemLookup;

impl Lookup for SystemLookup {
    fn lookup(&self, host: &str, port: u16) -> std::io::Result<Vec<SocketAddr>> {
        Ok((host, port).to_socket_addrs()?.collect())
    }
}

/// How long a target's name may take to resolve.
const LOOKUP_TIMEOUT: StdDuration = StdDuration::from_secs(5);

/// Host and port of a target URL of the documented shape.
struct Target {
    host: String,
    port: u16,
}

fn parse_target(url: &str) -> Result<Target, String> {
    if !documented_shape(url) {
        return Err(
            "must be an http or https URL with a plain host name or IPv4 address".to_owned(),
        );
    }
    let uri: awc::http::Uri = url.parse().map_err(|_| "is not a valid URL".to_owned())?;
    let scheme = uri.scheme_str().unwrap_or_default();
    if scheme != "http" && scheme != "https" {
        return Err("must be an http or https URL".to_owned());
    }
    let host = uri.host().ok_or("must name a host")?;
    if url.len() > 2000 {
        return Err("must be at most 2000 characters".to_owned());
    }
    let port = uri
        .port_u16()
        .unwrap_or(if scheme == "https" { 443 } else { 80 });
    Ok(Target {
        host: host
            .trim_start_matches('[')
            .trim_end_matches(']')
            .to_owned(),
        port,
    })
}

const NOT_RESOLVED: &str = "names a host that does not resolve";
const PRIVATE: &str = "must not point to a loopback or private network address";

/// Every address must be allowed: a name that resolves to one public and one private address
/// could be connected to either.
fn vet(addrs: Vec<SocketAddr>) -> Result<Vec<SocketAddr>, String> {
    if addrs.is_empty() {
        return Err(NOT_RESOLVED.to_owned());
    }
    if addrs.iter().any(|a| is_disallowed(a.ip())) {
        return Err(PRIVATE.to_owned());
    }
    Ok(addrs)
}

/// Resolves a target once, with a timeout, and checks every address it resolves to. Returns the
/// checked addresses, which are the only ones the delivery may connect to; `None` when private
/// targets are allowed (nothing to check: the client resolves the name itself).
pub async fn resolve_checked(
    lookup: Arc<dyn Lookup>,
    url: &str,
    allow_private: bool,
) -> Result<Option<Vec<SocketAddr>>, String> {
    let target = parse_target(url)?;
    if allow_private {
        return Ok(None);
    }
    if let Ok(ip) = target.host.parse::<IpAddr>() {
        return vet(vec![SocketAddr::new(ip, target.port)]).map(Some);
    }
    let Target { host, port } = target;
    let resolving = actix_web::web::block(move || lookup.lookup(&host, port));
    match tokio::time::timeout(LOOKUP_TIMEOUT, resolving).await {
        Ok(Ok(Ok(addrs))) => vet(addrs).map(Some),
        Ok(Ok(Err(_)) | Err(_)) => Err(NOT_RESOLVED.to_owned()),
        Err(_) => Err("names a host that did not resolve in time".to_owned()),
    }
}

/// The URL form the OpenAPI document promises (`CreateWebhook.url`'s pattern):
/// `http(s)://host[:port][path/query/fragment]`, a host of letters, digits, dots and hyphens (no
/// user info, no IPv6 literal), a port of 1 to 5 digits, and only URL-safe characters after it.
fn documented_shape(url: &str) -> bool {
    let Some(rest) = url
        .strip_prefix("https://")
        .or_else(|| url.strip_prefix("http://"))
    else {
        return false;
    };
    let (authority, tail) = rest.split_at(rest.find(['/', '?', '#']).unwrap_or(rest.len()));
    let (host, port) = match authority.split_once(':') {
        Some((host, port)) => (host, Some(port)),
        None => (authority, None),
    };
    !host.is_empty()
        && host
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'.' || b == b'-')
        && port.is_none_or(|p| (1..=5).contains(&p.len()) && p.bytes().all(|b| b.is_ascii_digit()))
        && tail
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"._~:/?#@!$&'()*+,;=%-".contains(&b))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn targets_must_have_the_documented_shape() {
        for good in [
            "https://crm.example.com/hooks/inspine",
            "http://127.0.0.1:8080",
            "https://a-b.example?x=1&y=%20#frag",
        ] {
            assert!(documented_shape(good), "{good}");
        }
        for bad in [
            "http://6B2zz*",
            "https://user:pw@example.com/",
            "https://[::1]/hook",
            "ftp://example.com/",
            "HTTP://example.com/",
            "https://:443/",
            "https://example.com:123456/",
            "https://example.com/a b",
        ] {
            assert!(!documented_shape(bad), "{bad}");
        }
    }

    #[actix_web::test]
    async fn private_targets_are_refused_unless_allowed() {
        let system = || -> Arc<dyn Lookup> { Arc::new(SystemLookup) };
        for url in [
            "http://127.0.0.1:9000/hook",
            "http://10.1.2.3/hook",
            "http://192.168.0.10/hook",
            "http://169.254.169.254/latest/meta-data",
            "http://localhost/hook",
        ] {
            assert!(
                resolve_checked(system(), url, false).await.is_err(),
                "{url}"
            );
            assert_eq!(
                resolve_checked(system(), url, true).await,
                Ok(None),
                "{url}"
            );
        }
        // IPv6 literals are outside the documented URL form, private or not.
        for url in ["http://[::1]/hook", "ftp://example.com/x", "not a url"] {
            assert!(resolve_checked(system(), url, true).await.is_err(), "{url}");
        }
        let public: SocketAddr = "93.184.216.34:443".parse().unwrap();
        assert_eq!(
            resolve_checked(system(), "https://93.184.216.34/hook", false).await,
            Ok(Some(vec![public]))
        );
    }

    fn disallowed(ip: &str) -> bool {
        is_disallowed(ip.parse().unwrap())
    }

    #[test]
    fn ipv4_ranges_that_are_not_public_are_refused() {
        for ip in [
            "127.0.0.1",
            "127.255.0.9",
            "10.1.2.3",
            "172.16.0.1",
            "172.31.255.255",
            "192.168.1.1",
            "169.254.169.254",
            "100.64.0.1",
            "100.127.255.254",
            "0.0.0.0",
            "0.1.2.3",
            "255.255.255.255",
            "224.0.0.1",
            "239.1.2.3",
            "240.0.0.1",
            "192.0.0.8",
            "192.0.2.10",
            "198.51.100.7",
            "203.0.113.200",
            "198.18.0.1",
            "198.19.255.1",
        ] {
            assert!(disallowed(ip), "{ip}");
        }
        for ip in [
            "93.184.216.34",
            "8.8.8.8",
            "100.63.255.255",
            "100.128.0.1",
            "172.32.0.1",
            "198.20.0.1",
            "1.1.1.1",
        ] {
            assert!(!disallowed(ip), "{ip}");
        }
    }

    #[test]
    fn ipv6_ranges_that_are_not_public_are_refused() {
        for ip in [
            "::",
            "::1",
            "ff02::1",
            "fc00::1",
            "fd12:3456::1",
            "fe80::1",
            "fec0::1",
            "2001:db8::1",
            "3fff::1",
            "3fff:fff::1",
            "2001:0:4136:e378::1",
            "100::1",
            "64:ff9b:1::a00:1",
            "64:ff9b:1:ffff::808:808",
        ] {
            assert!(disallowed(ip), "{ip}");
        }
        for ip in [
            "2606:4700:4700::1111",
            "2a00:1450:4001::200e",
            "3fff:1000::1",
        ] {
            assert!(!disallowed(ip), "{ip}");
        }
    }

    #[test]
    fn ipv6_forms_of_ipv4_addresses_are_judged_by_their_ipv4_address() {
        for ip in [
            // IPv4-mapped
            "::ffff:127.0.0.1",
            "::ffff:10.0.0.1",
            "::ffff:169.254.169.254",
            // IPv4-compatible
            "::127.0.0.1",
            "::192.168.0.1",
            "::100.64.0.1",
            // NAT64 well-known prefix
            "64:ff9b::127.0.0.1",
            "64:ff9b::10.0.0.1",
            "64:ff9b::a9fe:a9fe",
            // 6to4
            "2002:7f00:1::1",
            "2002:a00:1::1",
            "2002:c0a8:101::1",
        ] {
            assert!(disallowed(ip), "{ip}");
        }
        for ip in [
            "::ffff:93.184.216.34",
            "::8.8.8.8",
            "64:ff9b::808:808",
            "2002:808:808::1",
        ] {
            assert!(!disallowed(ip), "{ip}");
        }
    }

    /// Answers a fixed list, whatever the name.
    struct Fixed(Vec<SocketAddr>);

    impl Lookup for Fixed {
        fn lookup(&self, _: &str, _: u16) -> std::io::Result<Vec<SocketAddr>> {
            Ok(self.0.clone())
        }
    }

    #[actix_web::test]
    async fn a_name_is_refused_if_any_of_its_addresses_is_private() {
        let public: SocketAddr = "93.184.216.34:443".parse().unwrap();
        let loopback: SocketAddr = "127.0.0.1:443".parse().unwrap();
        let mixed = Arc::new(Fixed(vec![public, loopback]));
        let url = "https://hooks.example/x";
        assert!(resolve_checked(mixed.clone(), url, false).await.is_err());
        assert_eq!(resolve_checked(mixed, url, true).await, Ok(None));
        let only_public = Arc::new(Fixed(vec![public]));
        assert_eq!(
            resolve_checked(only_public, url, false).await,
            Ok(Some(vec![public]))
        );
        let none = Arc::new(Fixed(Vec::new()));
        assert!(resolve_checked(none, url, false).await.is_err());
    }
}
