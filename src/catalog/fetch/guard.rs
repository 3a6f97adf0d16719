//! Keeping fetches off internal networks: which addresses are internal
//! (IPv4 carried in IPv6 judged as the IPv4), and a resolver that drops
//! them unless the host's entry allows it — the addresses it returns are
//! the ones connected to, so there is no window for a name to resolve
//! differently in between.

use std::collections::HashSet;
use std::net::{IpAddr, SocketAddr};
use std::sync::Arc;

/// Whether an address is inside a host's own network: loopback, private,
/// link-local, unique-local, carrier-grade NAT, unspecified, broadcast or
/// multicast (IPv4-mapped IPv6 addresses judged as the IPv4 they carry).
pub fn is_internal(ip: IpAddr) -> bool {
    match ip {
        IpAddr::V4(v4) => {
            let [a, b, ..] = v4.octets();
            v4.is_loopback()
                || v4.is_private()
                || v4.is_link_local()
                || v4.is_unspecified()
                || v4.is_broadcast()
                || v4.is_multicast()
                || a == 0
                || a >= 240
                || (a == 100 && (64..128).contains(&b))
                || (a == 192 && b == 0 && v4.octets()[2] == 0)
                || (a == 198 && (b == 18 || b == 19))
        }
        IpAddr::V6(v6) => {
            if let Some(v4) = v6.to_ipv4_mapped() {
                return is_internal(IpAddr::V4(v4));
            }
            let segments = v6.segments();
            let first = segments[0];
            // IPv4 inside IPv6: NAT64 (64:ff9b::/96), 6to4 (2002::/16),
            // IPv4-compatible (::/96) — judged by the IPv4 they carry.
            let carried = match segments {
                [0x64, 0xff9b, 0, 0, 0, 0, hi, lo] | [0, 0, 0, 0, 0, 0, hi, lo] => Some((hi, lo)),
                [0x2002, hi, lo, ..] => Some((hi, lo)),
                _ => None,
            };
            if let Some((hi, lo)) = carried
                && !(hi == 0 && lo <= 1)
            {
                let [a, b] = hi.to_be_bytes();
                let [c, d] = lo.to_be_bytes();
                return is_internal(IpAddr::V4(std::net::Ipv4Addr::new(a, b, c, d)));
            }
            v6.is_loopback()
                || v6.is_unspecified()
                || v6.is_multicast()
                || (first & 0xfe00) == 0xfc00
                || (first & 0xffc0) == 0xfe80
                || (first & 0xffc0) == 0xfec0
        }
    }
}

/// Why a name was not resolved: every address it has is internal.
#[derive(Debug)]
pub(super) struct InternalAddress(String);

impl std::fmt::Display for InternalAddress {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "{} resolves to an internal address; set allow_private = true on its [[catalog.hosts]] entry if usher is meant to reach it",
            self.0
        )
    }
}

impl std::error::Error for InternalAddress {}

/// DNS for the fetcher: the system resolver, with internal addresses
/// dropped unless the name's host entry allows them. The client connects
/// to what this returns, so the check and the connection see one answer.
#[derive(Debug, Clone)]
pub(super) struct GuardedResolver {
    pub(super) private_ok: Arc<HashSet<String>>,
}

impl reqwest::dns::Resolve for GuardedResolver {
    fn resolve(&self, name: reqwest::dns::Name) -> reqwest::dns::Resolving {
        let private_ok = self.private_ok.clone();
        Box::pin(async move {
            let host = name.as_str().to_ascii_lowercase();
            let all: Vec<SocketAddr> = tokio::net::lookup_host((host.as_str(), 0)).await?.collect();
            let allowed: Vec<SocketAddr> = if private_ok.contains(&host) {
                all
            } else {
                all.into_iter().filter(|a| !is_internal(a.ip())).collect()
            };
            if allowed.is_empty() {
                return Err(Box::new(InternalAddress(host)) as _);
            }
            Ok(Box::new(allowed.into_iter()) as reqwest::dns::Addrs)
        })
    }
}

/// The host part of a `host` or `host:port` entry (IPv6 brackets kept off).
pub(super) fn bare_host(host: &str) -> String {
    let host = host.to_ascii_lowercase();
    if let Some(rest) = host.strip_prefix('[') {
        return rest.split(']').next().unwrap_or_default().to_string();
    }
    host.rsplit_once(':')
        .filter(|(_, port)| port.chars().all(|c| c.is_ascii_digit()))
        .map(|(h, _)| h.to_string())
        .unwrap_or(host)
}
