//! The de-duplication key of an iPag notification: the SHA-256 (hex) of a canonical form of
//! the provider, the event name and the *parsed* JSON body. Object keys are sorted at every
//! level and every string and composite is length-prefixed, so the key does not depend on key
//! order, whitespace or how a string was escaped (`"\u00e9"` is `"é"`), while any real change
//! (another status, amount or id) gives another key.
//!
//! The event name is in the key because iPag sends it in a header, outside the body: the same
//! transaction body announced as `TransactionCaptured` and as `ChargePaymentSucceeded` is two
//! notifications. Numbers are compared as written once parsed: `100` and `100.0` differ.
//! iPag sends no delivery counter in the body, so every field counts.

use serde_json::Value;

use webhook_core::canonical::{put_len, put_str, sha256_hex};

/// A 64-character lowercase hex SHA-256: also a valid SQS `MessageDeduplicationId`.
pub fn dedup_key(provider: &str, event: &str, body: &Value) -> String {
    let mut out = Vec::with_capacity(2048);
    put_str(&mut out, provider);
    put_str(&mut out, event);
    put_value(&mut out, body);
    sha256_hex(&out)
}

/// Each value is tagged and each string and composite length-prefixed: prefix-free, so two
/// different values never encode to the same bytes.
fn put_value(out: &mut Vec<u8>, value: &Value) {
    match value {
        Value::Null => out.push(b'n'),
        Value::Bool(false) => out.push(b'f'),
        Value::Bool(true) => out.push(b't'),
        Value::Number(n) => {
            out.push(b'#');
            put_str(out, &n.to_string());
        }
        Value::String(s) => {
            out.push(b's');
            put_str(out, s);
        }
        Value::Array(items) => {
            out.push(b'[');
            put_len(out, items.len());
            items.iter().for_each(|item| put_value(out, item));
        }
        Value::Object(map) => {
            // Sorted here, not by trusting the map's order (a `preserve_order` feature turned
            // on anywhere in the build would keep the sender's order).
            let mut entries: Vec<_> = map.iter().collect();
            entries.sort_unstable_by(|a, b| a.0.cmp(b.0));
            out.push(b'{');
            put_len(out, entries.len());
            for (key, value) in entries {
                put_str(out, key);
                put_value(out, value);
            }
        }
    }
}
