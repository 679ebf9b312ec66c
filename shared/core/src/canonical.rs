//! Canonical hashing, for every gateway's de-duplication key: a prefix-free encoding (every
//! string and composite prefixed by its length) hashed with SHA-256, written as hex. Each
//! gateway encodes its parsed body with these (`iugu::dedup`, `ipag::dedup`).

use sha2::{Digest, Sha256};

const HEX: &[u8; 16] = b"0123456789abcdef";

/// The SHA-256 of `bytes` as 64 lowercase hex characters (every provider's key is one): also
/// a valid SQS `MessageDeduplicationId`.
pub fn sha256_hex(bytes: &[u8]) -> String {
    let mut key = String::with_capacity(64);
    for byte in Sha256::digest(bytes) {
        key.push(char::from(HEX[usize::from(byte >> 4)]));
        key.push(char::from(HEX[usize::from(byte & 0xf)]));
    }
    key
}

/// A string, prefixed by its length.
pub fn put_str(out: &mut Vec<u8>, s: &str) {
    put_len(out, s.len());
    out.extend_from_slice(s.as_bytes());
}

/// A length as LEB128: one byte below 128, so short strings do not pay for 8.
pub fn put_len(out: &mut Vec<u8>, mut n: usize) {
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
