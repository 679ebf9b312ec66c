//! An optional allow-list of the addresses notifications may come from (`ALLOWED_SOURCE_IPS`).
//!
//! The address is the one API Gateway saw the connection come from (the request context),
//! never a header such as `X-Forwarded-For`, which any client can write. The list is
//! configuration, not code: iugu's egress address has changed before (54.207.210.151 in the
//! reference, 98.82.243.132 since 2025-08-04).

use std::net::IpAddr;
use std::str::FromStr;

use ipnet::IpNet;

/// Comma-separated IPs and CIDRs; empty means every source is allowed.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct SourceAllowList {
    nets: Vec<IpNet>,
}

impl FromStr for SourceAllowList {
    type Err = String;

    fn from_str(list: &str) -> Result<Self, String> {
        let nets = list
            .split(',')
            .map(str::trim)
            .filter(|entry| !entry.is_empty())
            .map(|entry| {
                IpNet::from_str(entry)
                    .or_else(|_| IpAddr::from_str(entry).map(IpNet::from))
                    .map_err(|_| {
                        format!("ALLOWED_SOURCE_IPS: `{entry}` is neither an IP nor a CIDR")
                    })
            })
            .collect::<Result<_, _>>()?;
        Ok(SourceAllowList { nets })
    }
}

impl SourceAllowList {
    pub fn is_active(&self) -> bool {
        !self.nets.is_empty()
    }

    /// Whether a request from `source` may pass. With the list active, an unknown source does
    /// not: failing closed is the point of having a list.
    pub fn allows(&self, source: Option<&str>) -> bool {
        if !self.is_active() {
            return true;
        }
        source
            .and_then(|s| IpAddr::from_str(s.trim()).ok())
            .is_some_and(|ip| self.nets.iter().any(|net| net.contains(&ip)))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn empty_means_off() {
        for list in ["", " ", ",,"] {
            let allow: SourceAllowList = list.parse().expect("valid");
            assert!(!allow.is_active());
            assert!(allow.allows(None));
            assert!(allow.allows(Some("203.0.113.9")));
        }
    }

    #[test]
    fn ips_and_cidrs() {
        let allow: SourceAllowList = "54.207.210.151, 98.82.243.0/24,2001:db8::/32"
            .parse()
            .expect("valid");
        assert!(allow.allows(Some("54.207.210.151")));
        assert!(allow.allows(Some("98.82.243.132")));
        assert!(allow.allows(Some("2001:db8::1")));
        assert!(!allow.allows(Some("54.207.210.152")));
        assert!(!allow.allows(Some("not an ip")));
        assert!(!allow.allows(None), "no known source: refused");
    }

    #[test]
    fn a_bad_entry_is_a_configuration_error() {
        let err = "54.207.210.151,iugu.com"
            .parse::<SourceAllowList>()
            .expect_err("invalid");
        assert!(err.contains("`iugu.com`"), "{err}");
    }
}
