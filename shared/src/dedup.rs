//! The de-duplication key: one notification, one key, however often and however iugu sends it.
//!
//! The key is the SHA-256 (hex) of a canonical form of the *parsed* body: the provider, then
//! every field in name order (a `BTreeMap` is sorted at every level), each name and value
//! length-prefixed so no two different forms can encode to the same bytes. Computed from the
//! parsed fields, it does not depend on field order, on `+` versus `%20`, or on which characters
//! were percent-escaped. Top-level delivery counters ([`DELIVERY_FIELDS`], e.g. `retry_count`)
//! are left out: iugu changes them on every retry of the same notification. Every other field
//! is in, so any real change (another status, another `paid_at`, another amount) gives another key.

use sha2::{Digest, Sha256};

use crate::form::{Fields, Node};

/// Top-level fields that describe the delivery, not the notification.
pub const DELIVERY_FIELDS: &[&str] = &["retry_count"];

const HEX: &[u8; 16] = b"0123456789abcdef";

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

/// The SHA-256 of `bytes` as 64 lowercase hex characters (every provider's key is one).
pub(crate) fn sha256_hex(bytes: &[u8]) -> String {
    let mut key = String::with_capacity(64);
    for byte in Sha256::digest(bytes) {
        key.push(char::from(HEX[usize::from(byte >> 4)]));
        key.push(char::from(HEX[usize::from(byte & 0xf)]));
    }
    key
}

/// A string, prefixed by its length.
pub(crate) fn put_str(out: &mut Vec<u8>, s: &str) {
    put_len(out, s.len());
    out.extend_from_slice(s.as_bytes());
}

/// A length as LEB128: one byte below 128, so short strings do not pay for 8.
pub(crate) fn put_len(out: &mut Vec<u8>, mut n: usize) {
    loop {
        let low = (n & 0x7f) as u8;
        n >>= 7;
        if n == 0 {
            out.push(low);
            return;
        }
        out.push(low | 0x80);
    }
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
