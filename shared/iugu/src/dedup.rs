//! The de-duplication key: one notification, one key, however often and however iugu sends it.
//!
//! The key is the SHA-256 (hex) of a canonical form of the *parsed* body: the provider, then
//! every field in name order (a `BTreeMap` is sorted at every level), each name and value
//! length-prefixed so no two different forms can encode to the same bytes. Computed from the
//! parsed fields, it does not depend on field order, on `+` versus `%20`, or on which characters
//! were percent-escaped. Top-level delivery counters ([`DELIVERY_FIELDS`], e.g. `retry_count`)
//! are left out: iugu changes them on every retry of the same notification. Every other field
//! is in, so any real change (another status, another `paid_at`, another amount) gives another key.

use webhook_core::canonical::{put_len, put_str, sha256_hex};
use webhook_core::fields::{Fields, Node};

/// Top-level fields that describe the delivery, not the notification.
pub const DELIVERY_FIELDS: &[&str] = &["retry_count"];

/// A 64-character lowercase hex SHA-256: also a valid SQS `MessageDeduplicationId`.
pub fn dedup_key(provider: &str, fields: &Fields) -> String {
    // Encode into one buffer and hash it once: many small `update` calls cost more than
    // the copy.
    let mut out = Vec::with_capacity(1024);
    put_str(&mut out, provider);
    let counted = |(name, _): &(&String, &Node)| !DELIVERY_FIELDS.contains(&name.as_str());
    let len = fields.iter().filter(counted).count();
    put_map(&mut out, len, fields.iter().filter(counted));
    sha256_hex(&out)
}

/// Every composite is prefixed by its tag and element count, every string by its length:
/// the encoding is prefix-free, so two different forms never give the same bytes.
fn put_map<'a>(
    out: &mut Vec<u8>,
    len: usize,
    entries: impl Iterator<Item = (&'a String, &'a Node)>,
) {
    out.push(b'{');
    put_len(out, len);
    for (name, node) in entries {
        put_str(out, name);
        put_node(out, node);
    }
}

fn put_node(out: &mut Vec<u8>, node: &Node) {
    match node {
        Node::Text(s) => {
            out.push(b's');
            put_str(out, s);
        }
        Node::List(items) => {
            out.push(b'[');
            put_len(out, items.len());
            items.iter().for_each(|s| put_str(out, s));
        }
        Node::Map(map) => put_map(out, map.len(), map.iter()),
    }
}
