//! Every gateway this product serves, in one list: what rebuilds a stored notification of any
//! of them ([`ALL`]: the sweeper and `recover` forward whatever the table holds). A function
//! that serves one gateway needs only that gateway's crate; adding a gateway adds its crate,
//! its function, and its line here.
//!
//! This crate also holds the gateways' conformance (its `tests/`: reference samples, golden
//! envelopes, fuzz seeds, properties, the core's ingest and sweep over both gateways), the
//! parsing benchmark (`benches/`, `examples/`) and the fuzz targets (`fuzz/`).

use webhook_core::stored::Parsers;
use webhook_ipag::Ipag;
use webhook_iugu::Iugu;

/// Each gateway's parser of stored notifications, chosen by the stored `provider`.
pub static ALL: [&dyn Parsers; 2] = [&Iugu::ALL_EVENTS, &Ipag::UNSIGNED];

#[cfg(test)]
mod tests {
    use super::ALL;
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
}
