//! From an `application/x-www-form-urlencoded` body to a nested map.
//!
//! iugu sends Rails-style bracketed keys: `data[id]=X`, `data[credit_card][token]=Y`.
//! Decoding follows `form_urlencoded` (`&`/`=` splitting, `+` as space, percent escapes) but is
//! strict about UTF-8 (see [`decode`]); this module also nests the bracketed names and enforces
//! the bounds below. `form_urlencoded` itself encodes the bodies of the property tests.
//!
//! Rules, in the order they are checked:
//! - the body is at most [`MAX_BODY_BYTES`] and not empty;
//! - every `%` starts an escape of two hex digits (a bare `%` means a mangled body);
//! - once percent-decoded it is valid UTF-8 (a lossy decode would silently change data);
//! - at most [`MAX_FIELDS`] pairs; a name at most [`MAX_KEY_BYTES`]; no NUL anywhere;
//! - a name is `head[seg][seg]...`: `head` is not empty, segments hold no brackets, nothing
//!   follows the last `]`, at most [`MAX_DEPTH`] parts in all;
//! - `name[]` (a trailing empty segment) appends to a list, as Rails does for arrays;
//! - a pair without `=` has the empty value (`data[async_charged]` in iugu's split sample);
//! - the same name twice with the same value is one field; with two values it is refused,
//!   since we could not say which one iugu meant.

use std::collections::btree_map::Entry;
use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use crate::error::ParseError;

/// Largest body accepted. iugu bodies are under 2 KiB (the largest sample, invoice.split_released,
/// is about 1.3 KiB); 16 KiB leaves room for fields iugu adds without inviting abuse.
pub const MAX_BODY_BYTES: usize = 16 * 1024;
/// Most `name=value` pairs in one body. The largest sample has 29.
pub const MAX_FIELDS: usize = 256;
/// Most parts in one name: `data[credit_card][token]` has 3.
pub const MAX_DEPTH: usize = 6;
/// Longest name, in bytes, after decoding.
pub const MAX_KEY_BYTES: usize = 256;

/// A map of field names to values, sorted by name (so equal forms compare and hash equal).
pub type Fields = BTreeMap<String, Node>;

/// One value of a form: a string, a list of strings (`name[]=a&name[]=b`) or a nested map.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(untagged)]
pub enum Node {
    Text(String),
    List(Vec<String>),
    Map(Fields),
}

impl Node {
    /// The string value, if this node is one.
    pub fn as_text(&self) -> Option<&str> {
        match self {
            Node::Text(s) => Some(s),
            _ => None,
        }
    }

    /// The nested map, if this node is one.
    pub fn as_map(&self) -> Option<&Fields> {
        match self {
            Node::Map(m) => Some(m),
            _ => None,
        }
    }
}

/// Parses a form body into nested [`Fields`].
pub fn parse_form(body: &[u8]) -> Result<Fields, ParseError> {
    if body.len() > MAX_BODY_BYTES {
        return Err(ParseError::BodyTooLarge {
            size: body.len(),
            max: MAX_BODY_BYTES,
        });
    }
    if body.iter().all(|b| b.is_ascii_whitespace()) {
        return Err(ParseError::EmptyBody);
    }
    // Raw bytes that are not UTF-8 stay so once decoded; refuse them up front. From here on
    // the body is a `&str`, and splitting it at the ASCII `&` and `=` keeps every part valid.
    let text = std::str::from_utf8(body).map_err(|e| ParseError::InvalidUtf8 {
        offset: e.valid_up_to(),
    })?;

    let mut fields = Fields::new();
    let mut count = 0usize;
    let mut offset = 0usize;
    // Decoding buffers reused across fields: a body costs one allocation per stored value.
    let (mut name_buf, mut value_buf) = (Vec::new(), Vec::new());
    for pair in text.split('&') {
        let at = offset;
        offset += pair.len() + 1;
        // `a&&b` and a trailing `&` give empty pairs; they carry nothing, skip them.
        if pair.is_empty() {
            continue;
        }
        count += 1;
        if count > MAX_FIELDS {
            return Err(ParseError::TooManyFields { max: MAX_FIELDS });
        }
        // A pair without `=` is a name with the empty value.
        let (raw_name, raw_value) = match memchr::memchr(b'=', pair.as_bytes()) {
            Some(i) => (&pair[..i], &pair[i + 1..]),
            None => (pair, ""),
        };
        let name = decode(raw_name, &mut name_buf, at)?;
        if name.is_empty() && raw_value.is_empty() {
            continue;
        }
        if name.len() > MAX_KEY_BYTES {
            return Err(ParseError::KeyTooLong {
                len: name.len(),
                max: MAX_KEY_BYTES,
            });
        }
        let value = decode(raw_value, &mut value_buf, at)?.to_owned();
        if name.contains('\0') || value.contains('\0') {
            return Err(ParseError::NulByte { key: clip(name) });
        }
        let path = split_key(name)?;
        insert(&mut fields, name, path.as_slice(), value)?;
    }
    if fields.is_empty() {
        return Err(ParseError::EmptyBody);
    }
    Ok(fields)
}

/// Decodes one name or value into `buf`: `+` is a space, `%XX` a byte, and an invalid escape
/// stays as it is — all as `form_urlencoded` does. Unlike `form_urlencoded`, whose decoding is
/// lossy (invalid UTF-8 becomes U+FFFD, silently changing a payment's data), the result must be
/// UTF-8 or the body is refused. Borrows `part` when there is nothing to decode.
fn decode<'a>(part: &'a str, buf: &'a mut Vec<u8>, offset: usize) -> Result<&'a str, ParseError> {
    let bytes = part.as_bytes();
    if memchr::memchr2(b'%', b'+', bytes).is_none() {
        return Ok(part);
    }
    buf.clear();
    let mut rest = bytes;
    // Copy the plain runs whole; only `%` and `+` need a look.
    while let Some(i) = memchr::memchr2(b'%', b'+', rest) {
        buf.extend_from_slice(&rest[..i]);
        let escaped = match rest[i..] {
            [b'%', hi, lo, ..] => hex(hi).zip(hex(lo)).map(|(h, l)| (h << 4 | l) as u8),
            _ => None,
        };
        match (rest[i], escaped) {
            (_, Some(byte)) => {
                buf.push(byte);
                rest = &rest[i + 3..];
            }
            (b'+', None) => {
                buf.push(b' ');
                rest = &rest[i + 1..];
            }
            // A `%` not followed by two hex digits. Encoders always write `%` as `%25`, so
            // the body was cut or mangled; reading it literally (as browsers do) would store
            // a value the sender did not send.
            (_, None) => return Err(ParseError::InvalidPercentEscape { offset }),
        }
    }
    buf.extend_from_slice(rest);
    std::str::from_utf8(buf).map_err(|_| ParseError::InvalidUtf8 { offset })
}

fn hex(digit: u8) -> Option<u32> {
    char::from(digit).to_digit(16)
}

/// One part of a bracketed name.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Segment<'a> {
    Name(&'a str),
    /// `[]`: append to a list.
    Append,
}

/// The parts of one name, on the stack: at most [`MAX_DEPTH`] of them.
struct Path<'a> {
    parts: [Segment<'a>; MAX_DEPTH],
    len: usize,
}

impl<'a> Path<'a> {
    fn push(&mut self, part: Segment<'a>) -> Result<(), ParseError> {
        let slot = self
            .parts
            .get_mut(self.len)
            .ok_or(ParseError::TooDeep { max: MAX_DEPTH })?;
        *slot = part;
        self.len += 1;
        Ok(())
    }

    fn as_slice(&self) -> &[Segment<'a>] {
        &self.parts[..self.len]
    }
}

/// `data[credit_card][token]` → `["data", "credit_card", "token"]`.
fn split_key(key: &str) -> Result<Path<'_>, ParseError> {
    let bad = |why: &'static str| ParseError::MalformedKey {
        key: clip(key),
        why,
    };
    let (head, mut rest) = match memchr::memchr2(b'[', b']', key.as_bytes()) {
        None => (key, ""),
        Some(i) if key.as_bytes()[i] == b']' => return Err(bad("a ']' without its '['")),
        Some(i) => (&key[..i], &key[i..]),
    };
    if head.is_empty() {
        return Err(bad("the name before the first '[' is empty"));
    }
    let mut path = Path {
        parts: [Segment::Append; MAX_DEPTH],
        len: 0,
    };
    path.push(Segment::Name(head))?;
    while !rest.is_empty() {
        // `rest` starts with '[' here: the loop leaves it either empty or at the next '['.
        let inner = &rest[1..];
        let close = memchr::memchr2(b'[', b']', inner.as_bytes())
            .filter(|&i| inner.as_bytes()[i] == b']')
            .ok_or_else(|| bad("a '[' without its ']'"))?;
        let seg = &inner[..close];
        path.push(if seg.is_empty() {
            Segment::Append
        } else {
            Segment::Name(seg)
        })?;
        rest = &inner[close + 1..];
        if !rest.is_empty() && !rest.starts_with('[') {
            return Err(bad("text after the last ']'"));
        }
    }
    let parts = path.as_slice();
    if parts[..parts.len() - 1].contains(&Segment::Append) {
        return Err(bad("'[]' is only allowed at the end of a name"));
    }
    Ok(path)
}

fn insert(
    fields: &mut Fields,
    key: &str,
    path: &[Segment<'_>],
    value: String,
) -> Result<(), ParseError> {
    let conflict = || ParseError::ConflictingKey { key: clip(key) };
    match path {
        // `name[]=v`: push onto the list held by `name`.
        [parents @ .., Segment::Name(name), Segment::Append] => {
            match descend(fields, parents, key)?
                .entry((*name).to_owned())
                .or_insert_with(|| Node::List(Vec::new()))
            {
                Node::List(list) => {
                    list.push(value);
                    Ok(())
                }
                _ => Err(conflict()),
            }
        }
        [parents @ .., Segment::Name(name)] => {
            match descend(fields, parents, key)?.entry((*name).to_owned()) {
                Entry::Vacant(slot) => {
                    slot.insert(Node::Text(value));
                    Ok(())
                }
                Entry::Occupied(slot) => match slot.get() {
                    Node::Text(old) if *old == value => Ok(()),
                    Node::Text(_) => Err(ParseError::DuplicateKey { key: clip(key) }),
                    _ => Err(conflict()),
                },
            }
        }
        // `split_key` guarantees a leading name and `[]` only at the end.
        _ => Err(conflict()),
    }
}

/// Walks (creating as needed) the maps named by `path`.
fn descend<'f>(
    fields: &'f mut Fields,
    path: &[Segment<'_>],
    key: &str,
) -> Result<&'f mut Fields, ParseError> {
    let mut map = fields;
    for seg in path {
        let Segment::Name(name) = seg else {
            return Err(ParseError::ConflictingKey { key: clip(key) });
        };
        // Look up before inserting: most names exist already (`data`), and an entry would
        // allocate the name either way.
        if !map.contains_key(*name) {
            map.insert((*name).to_owned(), Node::Map(Fields::new()));
        }
        map = match map.get_mut(*name) {
            Some(Node::Map(m)) => m,
            _ => return Err(ParseError::ConflictingKey { key: clip(key) }),
        };
    }
    Ok(map)
}

/// Names are echoed in error messages; keep those short whatever the input.
fn clip(s: &str) -> String {
    const MAX: usize = 64;
    if s.len() <= MAX {
        return s.to_owned();
    }
    let mut end = MAX;
    while !s.is_char_boundary(end) {
        end -= 1;
    }
    format!("{}…", &s[..end])
}
