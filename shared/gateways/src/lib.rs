//! Every gateway this product serves, in one list ([`ALL`]): what rebuilds a stored
//! notification of any of them (the sweeper and `recover` forward whatever the table holds),
//! and what finds the route a kept request came in on ([`route_of`]: `recover quarantine
//! retry`). A function that serves one gateway needs only that gateway's crate. Adding a
//! gateway is its crate, its function, its line here and its resources in `template.yaml`
//! (docs/architecture.md; `tests/conformance/gateway_checklist.rs` fails on a fifth place).
//!
//! This crate also holds the gateways' conformance (its `tests/`: reference samples, golden
//! envelopes, fuzz seeds, properties, the core's sweep over both gateways), the parsing
//! benchmark (`benches/`, `examples/`) and the fuzz targets (`fuzz/`).

use webhook_core::gateway::Gateway;
use webhook_ipag::Ipag;
use webhook_iugu::Iugu;

/// Every gateway, as a route of each serves it: each one's parser of stored notifications
/// (chosen by the stored `provider`), and its routes.
pub static ALL: [&dyn Gateway; 2] = [&Iugu::ALL_EVENTS, &Ipag::UNSIGNED];

/// The gateway, as its route serves it, of the route whose path `path` ends in (after any
/// stage or base-path prefix), among [`ALL`]'s.
pub fn route_of(path: &str) -> Option<Box<dyn Gateway>> {
    ALL.iter().find_map(|gateway| gateway.route_of(path))
}

#[cfg(test)]
mod tests {
    use super::{route_of, ALL};
    use webhook_core::stored::Parsers;

    #[test]
    fn every_gateway_is_in_the_list_and_an_unknown_one_is_not() {
        let now = time::OffsetDateTime::UNIX_EPOCH;
        for provider in [webhook_iugu::NAME, webhook_ipag::NAME] {
            assert!(
                ALL.parse_stored(provider, "x", b"", now).is_some(),
                "{provider}"
            );
        }
        assert!(ALL.parse_stored("stripe", "x", b"", now).is_none());
    }

    #[test]
    fn every_route_is_found_by_its_path_and_no_other() {
        for gateway in ALL {
            for path in gateway.paths() {
                for seen in [path.to_string(), format!("/Prod{path}/")] {
                    let route = route_of(&seen).expect("a route");
                    assert_eq!(route.provider(), gateway.provider(), "{seen}");
                    assert_eq!(route.path(), *path, "{seen}");
                }
            }
        }
        assert!(route_of("/somewhere/else").is_none());
        assert!(route_of("/iugu/invoices/extra").is_none());
    }
}
