//! Arbitrary bytes as an iugu notification body: parsing may refuse them, but never panic, and
//! whatever it accepts must serialise (as the forwarder does) and type without panicking.
#![no_main]

use libfuzzer_sys::fuzz_target;
use webhook_iugu::Typed;
use time::OffsetDateTime;

fuzz_target!(|body: &[u8]| {
    match webhook_iugu::parse(body, OffsetDateTime::UNIX_EPOCH) {
        Ok(envelope) => {
            let json = serde_json::to_vec(&envelope).expect("an envelope always serialises");
            assert!(!json.is_empty());
            let _ = envelope.typed();
        }
        Err(err) => {
            assert!(!err.code().is_empty());
            let _ = err.to_string();
        }
    }
});
