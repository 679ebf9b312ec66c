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
    let mut h = Sha256::new();
    put_str(&mut h, provider);
    let counted: Vec<_> = fields
        .iter()
        .filter(|(name, _)| !DELIVERY_FIELDS.contains(&name.as_str()))
        .collect();
    put_map(&mut h, counted.len(), counted.into_iter());
    let mut key = String::with_capacity(64);
    for byte in h.finalize() {
        key.push(char::from(HEX[usize::from(byte >> 4)]));
        key.push(char::from(HEX[usize::from(byte & 0xf)]));
    }
    key
}

fn put_str(h: &mut Sha256, s: &str) {
    put_len(h, s.len());
    h.update(s.as_bytes());
}

/// A length as LEB128: one byte below 128, so short strings do not pay for 8.
fn put_len(h: &mut Sha256, mut n: usize) {
    let mut buf = [0u8; 10];
    let mut i = 0;
    loop {
        let low = (n & 0x7f) as u8;
        n >>= 7;
        if n == 0 {
            buf[i] = low;
            break;
        }
        buf[i] = low | 0x80;
        i += 1;
    }
    h.update(&buf[..=i]);
}

/// Every composite is prefixed by its tag and element count, every string by its length:
/// the encoding is prefix-free, so two different forms never give the same bytes.
fn put_map<'a>(h: &mut Sha256, len: usize, entries: impl Iterator<Item = (&'a String, &'a Node)>) {
    h.update(b"{");
    put_len(h, len);
    for (name, node) in entries {
        put_str(h, name);
        put_node(h, node);
    }
}

fn put_node(h: &mut Sha256, node: &Node) {
    match node {
        Node::Text(s) => {
            h.update(b"s");
            put_str(h, s);
        }
        Node::List(items) => {
            h.update(b"[");
            put_len(h, items.len());
            items.iter().for_each(|s| put_str(h, s));
        }
        Node::Map(map) => put_map(h, map.len(), map.iter()),
    }
}
