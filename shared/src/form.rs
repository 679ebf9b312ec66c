//! From an `application/x-www-form-urlencoded` body to a nested map.
//!
//! iugu sends Rails-style bracketed keys: `data[id]=X`, `data[credit_card][token]=Y`.
//! `form_urlencoded` does the decoding (`&`/`=` splitting, `+` as space, percent escapes);
//! this module only nests the bracketed names and enforces the bounds below.
//!
//! Rules, in the order they are checked:
//! - the body is at most [`MAX_BODY_BYTES`] and not empty;
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
    check_utf8(body)?;

    let mut fields = Fields::new();
    let mut count = 0usize;
    for (name, value) in form_urlencoded::parse(body) {
        // `a&&b` and a trailing `&` give empty pairs; they carry nothing, skip them.
        if name.is_empty() && value.is_empty() {
            continue;
        }
        count += 1;
        if count > MAX_FIELDS {
            return Err(ParseError::TooManyFields { max: MAX_FIELDS });
        }
        if name.len() > MAX_KEY_BYTES {
            return Err(ParseError::KeyTooLong {
                len: name.len(),
                max: MAX_KEY_BYTES,
            });
        }
        if name.contains('\0') || value.contains('\0') {
            return Err(ParseError::NulByte { key: clip(&name) });
        }
        let path = split_key(&name)?;
        insert(&mut fields, &name, &path, value.into_owned())?;
    }
    if fields.is_empty() {
        return Err(ParseError::EmptyBody);
    }
    Ok(fields)
}

/// `form_urlencoded` decodes invalid UTF-8 lossily (to U+FFFD). A payment body changed that
/// way would be stored wrong, so we refuse it instead. Percent-decoding the whole body at once
/// is equivalent to decoding each part: `&`, `=` and `+` are ASCII and never inside an escape.
fn check_utf8(body: &[u8]) -> Result<(), ParseError> {
    let decoded: Vec<u8> = percent_encoding::percent_decode(body).collect();
    std::str::from_utf8(&decoded)
        .map(|_| ())
        .map_err(|e| ParseError::InvalidUtf8 {
            offset: e.valid_up_to(),
        })
}

/// One part of a bracketed name.
#[derive(Debug, PartialEq, Eq)]
enum Segment<'a> {
    Name(&'a str),
    /// `[]`: append to a list.
    Append,
}

/// `data[credit_card][token]` → `["data", "credit_card", "token"]`.
fn split_key(key: &str) -> Result<Vec<Segment<'_>>, ParseError> {
    let bad = |why: &'static str| ParseError::MalformedKey {
        key: clip(key),
        why,
    };
    let (head, mut rest) = match key.find(['[', ']']) {
        None => (key, ""),
        Some(i) if key.as_bytes()[i] == b']' => return Err(bad("a ']' without its '['")),
        Some(i) => (&key[..i], &key[i..]),
    };
    if head.is_empty() {
        return Err(bad("the name before the first '[' is empty"));
    }
    let mut path = vec![Segment::Name(head)];
    while !rest.is_empty() {
        // `rest` starts with '[' here: the loop leaves it either empty or at the next '['.
        let inner = &rest[1..];
        let close = inner
            .find(['[', ']'])
            .filter(|&i| inner.as_bytes()[i] == b']')
            .ok_or_else(|| bad("a '[' without its ']'"))?;
        let seg = &inner[..close];
        path.push(if seg.is_empty() {
            Segment::Append
        } else {
            Segment::Name(seg)
        });
        if path.len() > MAX_DEPTH {
            return Err(ParseError::TooDeep { max: MAX_DEPTH });
        }
        rest = &inner[close + 1..];
        if !rest.is_empty() && !rest.starts_with('[') {
            return Err(bad("text after the last ']'"));
        }
    }
    if path[..path.len() - 1].contains(&Segment::Append) {
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
        let node = map
            .entry((*name).to_owned())
            .or_insert_with(|| Node::Map(Fields::new()));
        map = match node {
            Node::Map(m) => m,
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
