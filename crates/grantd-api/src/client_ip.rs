//! The caller's IP address for the session row: the TCP peer, or, when the peer is a configured
//! trusted proxy, the first untrusted address found walking `X-Forwarded-For` from the right.
//!
//! Only the right end of `X-Forwarded-For` can be believed: each trusted proxy appends the
//! address it received the request from, while everything to the left of the last trusted hop
//! is whatever the client chose to send. So the walk stops at the first address that is not a
//! trusted proxy, and a malformed entry ends the walk at the last trusted hop reached.

use std::net::{IpAddr, SocketAddr};

use crate::cidr::IpCidr;

fn is_trusted(trusted: &[IpCidr], ip: IpAddr) -> bool {
    trusted.iter().any(|net| net.contains(ip))
}

/// One `X-Forwarded-For` entry: an address, optionally with a port (`1.2.3.4:80`,
/// `[2001:db8::1]:80`), as some proxies write it.
fn parse_entry(entry: &str) -> Option<IpAddr> {
    let entry = entry.trim();
    if let Ok(ip) = entry.parse::<IpAddr>() {
        return Some(ip.to_canonical());
    }
    entry
        .parse::<SocketAddr>()
        .ok()
        .map(|a| a.ip().to_canonical())
}

/// The client address. `forwarded_for` are the raw `X-Forwarded-For` header values in the
/// order they appeared (several headers read as one comma-separated list); they are looked at
/// only when the peer is trusted.
pub(crate) fn client_ip<'a>(
    peer: Option<IpAddr>,
    forwarded_for: impl IntoIterator<Item = &'a [u8]>,
    trusted: &[IpCidr],
) -> Option<IpAddr> {
    let peer = peer?.to_canonical();
    if !is_trusted(trusted, peer) {
        return Some(peer);
    }
    // Entries in header order; a header that is not UTF-8 counts as one malformed entry.
    let mut entries: Vec<Option<&str>> = Vec::new();
    for value in forwarded_for {
        match std::str::from_utf8(value) {
            Ok(s) => entries.extend(s.split(',').map(Some)),
            Err(_) => entries.push(None),
        }
    }
    let mut last_trusted = peer;
    for entry in entries.into_iter().rev() {
        let Some(ip) = entry.and_then(parse_entry) else {
            break;
        };
        if !is_trusted(trusted, ip) {
            return Some(ip);
        }
        last_trusted = ip;
    }
    Some(last_trusted)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn nets(s: &[&str]) -> Vec<IpCidr> {
        s.iter().map(|n| n.parse().unwrap()).collect()
    }

    fn walk(peer: &str, xff: &[&str], trusted: &[&str]) -> Option<String> {
        client_ip(
            Some(peer.parse().unwrap()),
            xff.iter().map(|h| h.as_bytes()),
            &nets(trusted),
        )
        .map(|ip| ip.to_string())
    }

    #[test]
    fn walk_table() {
        let proxies = &["10.0.0.0/8", "fd00::/8"];
        let cases: &[(&str, &[&str], &[&str], &str)] = &[
            // no trusted proxies: the header is never read
            ("203.0.113.5", &["198.51.100.1"], &[], "203.0.113.5"),
            // untrusted peer: the header is a lie we ignore
            ("203.0.113.5", &["198.51.100.1"], proxies, "203.0.113.5"),
            // one trusted hop
            ("10.0.0.2", &["198.51.100.1"], proxies, "198.51.100.1"),
            // spoofed left part ignored: the first untrusted from the right wins
            (
                "10.0.0.2",
                &["1.1.1.1, 198.51.100.1, 10.0.0.3"],
                proxies,
                "198.51.100.1",
            ),
            // several headers are one list, in order
            (
                "10.0.0.2",
                &["1.1.1.1", "198.51.100.1, 10.0.0.3"],
                proxies,
                "198.51.100.1",
            ),
            // malformed entry stops the walk at the last trusted hop
            (
                "10.0.0.2",
                &["1.1.1.1, garbage, 10.0.0.3"],
                proxies,
                "10.0.0.3",
            ),
            ("10.0.0.2", &["1.1.1.1, garbage"], proxies, "10.0.0.2"),
            ("10.0.0.2", &["1.1.1.1,"], proxies, "10.0.0.2"),
            // every entry trusted: the leftmost one reached
            ("10.0.0.2", &["10.0.0.9, 10.0.0.3"], proxies, "10.0.0.9"),
            // trusted peer without the header
            ("10.0.0.2", &[], proxies, "10.0.0.2"),
            // ports and IPv6
            ("10.0.0.2", &["198.51.100.1:4711"], proxies, "198.51.100.1"),
            ("fd00::2", &["[2001:db8::7]:443"], proxies, "2001:db8::7"),
            ("::ffff:10.0.0.2", &["2001:db8::7"], proxies, "2001:db8::7"),
            // mapped peer reported canonically
            ("::ffff:203.0.113.5", &[], proxies, "203.0.113.5"),
        ];
        for (peer, xff, trusted, want) in cases {
            assert_eq!(
                walk(peer, xff, trusted).as_deref(),
                Some(*want),
                "peer {peer} xff {xff:?} trusted {trusted:?}"
            );
        }
    }

    #[test]
    fn non_utf8_header_stops_the_walk() {
        let trusted = nets(&["10.0.0.0/8"]);
        let headers: [&[u8]; 2] = [b"1.1.1.1, \xff", b"10.0.0.3"];
        let got = client_ip(Some("10.0.0.2".parse().unwrap()), headers, &trusted);
        assert_eq!(got, Some("10.0.0.3".parse().unwrap()));
    }

    #[test]
    fn no_peer_no_address() {
        assert_eq!(client_ip(None, [b"1.1.1.1".as_slice()], &[]), None);
    }
}
