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

use webhook_core::error::ParseError;
pub use webhook_core::fields::{Fields, Node};

/// Largest body accepted. iugu bodies are under 2 KiB (the largest sample, invoice.split_released,
/// is about 1.3 KiB); 16 KiB leaves room for fields iugu adds without inviting abuse.
pub const MAX_BODY_BYTES: usize = 16 * 1024;
/// Most `name=value` pairs in one body. The largest sample has 29.
pub const MAX_FIELDS: usize = 256;
/// Most parts in one name: `data[credit_card][token]` has 3.
pub const MAX_DEPTH: usize = 6;
/// Longest name, in bytes, after decoding.
pub const MAX_KEY_BYTES: usize = 256;

mod decode;
mod name;

use decode::{decode, decode_owned};
use name::{split_key, split_raw, Segment};

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
    // A NUL comes from a raw NUL byte or from `%00`: a body with neither (one search each)
    // needs no look at its parts, and its names may take the fast path of `split_raw`.
    let may_hold_nul =
        memchr::memchr(0, body).is_some() || memchr::memmem::find(body, b"%00").is_some();

    let mut fields = Fields::new();
    let mut count = 0usize;
    // A group (`data[...]`) holds most of the pairs that follow its first one: made that
    // large, it never grows. Room is reserved from what is there, once: the pairs that carry
    // something (empty `&&` pairs do not), shared out among all the groups (`budget`), so
    // that the capacity reserved in all is at most one entry per pair. Before, each new group
    // got room for every `&` left: 250 groups padded with empty pairs to 16 KB reserved
    // 700 MB. Counting costs one vector search over the body.
    let pairs = non_empty_pairs(body);
    let mut budget = Budget(pairs);
    // Decoding buffer for names, reused across pairs.
    let mut name_buf = Vec::new();
    let mut at = 0usize;
    while at <= text.len() {
        let end = memchr::memchr(b'&', &body[at..]).map_or(text.len(), |i| at + i);
        let pair = &text[at..end];
        let offset = at;
        at = end + 1;
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
        // The checks below run in this order on either path, so a bad body gets the same
        // error whichever path its names take.
        if let Some((path, len)) = split_raw(raw_name).filter(|_| !may_hold_nul) {
            if len > MAX_KEY_BYTES {
                return Err(ParseError::KeyTooLong {
                    len,
                    max: MAX_KEY_BYTES,
                });
            }
            let value = decode_owned(raw_value, offset)?;
            let room = pairs.saturating_sub(count) + 1;
            insert(
                &mut fields,
                path.as_slice(),
                value,
                (room, &mut budget),
                || decoded_name(raw_name),
            )?;
            continue;
        }
        let name = decode(raw_name, &mut name_buf, offset)?;
        if name.is_empty() && raw_value.is_empty() {
            continue;
        }
        if name.len() > MAX_KEY_BYTES {
            return Err(ParseError::KeyTooLong {
                len: name.len(),
                max: MAX_KEY_BYTES,
            });
        }
        let value = decode_owned(raw_value, offset)?;
        if may_hold_nul && (name.contains('\0') || value.contains('\0')) {
            return Err(ParseError::NulByte { key: clip(name) });
        }
        let path = split_key(name)?;
        let room = pairs.saturating_sub(count) + 1;
        insert(
            &mut fields,
            path.as_slice(),
            value,
            (room, &mut budget),
            || name.to_owned(),
        )?;
    }
    if fields.is_empty() {
        return Err(ParseError::EmptyBody);
    }
    Ok(fields)
}

/// How many `&`-separated pairs of `body` are not empty.
fn non_empty_pairs(body: &[u8]) -> usize {
    let mut count = 0;
    let mut start = 0;
    for end in memchr::memchr_iter(b'&', body).chain(std::iter::once(body.len())) {
        count += usize::from(end > start);
        start = end + 1;
    }
    count
}

/// The entries still to be reserved for groups, over the whole body (see [`parse_form`]).
struct Budget(usize);

impl Budget {
    /// Room for a new group: what is wanted, as far as the budget goes.
    fn take(&mut self, wanted: usize) -> usize {
        let room = wanted.min(self.0);
        self.0 -= room;
        room
    }
}

/// The decoded form of a name `split_raw` took, for an error message.
fn decoded_name(raw: &str) -> String {
    let mut buf = Vec::new();
    decode(raw, &mut buf, 0).map_or_else(|_| raw.to_owned(), str::to_owned)
}

/// Stores `value` at `path`, making the groups it needs with room for up to `room` fields
/// each, taken from `budget`. `key` gives the whole name, for an error.
fn insert(
    fields: &mut Fields,
    path: &[Segment<'_>],
    value: String,
    room: (usize, &mut Budget),
    key: impl Fn() -> String,
) -> Result<(), ParseError> {
    let conflict = || ParseError::ConflictingKey { key: clip(&key()) };
    match path {
        // `name[]=v`: push onto the list held by `name`.
        [parents @ .., Segment::Name(name), Segment::Append] => {
            let map = descend(fields, parents, room).ok_or_else(conflict)?;
            match map.get_or_insert_with(name, || Node::List(Vec::new())) {
                Node::List(list) => {
                    list.push(value);
                    Ok(())
                }
                _ => Err(conflict()),
            }
        }
        [parents @ .., Segment::Name(name)] => {
            let map = descend(fields, parents, room).ok_or_else(conflict)?;
            match map.try_insert(name, Node::Text(value)) {
                Ok(()) => Ok(()),
                Err((new, old @ Node::Text(_))) if new == *old => Ok(()),
                Err((_, Node::Text(_))) => Err(ParseError::DuplicateKey { key: clip(&key()) }),
                Err(_) => Err(conflict()),
            }
        }
        // Both splits guarantee a leading name and `[]` only at the end.
        _ => Err(conflict()),
    }
}

/// Walks (creating as needed) the maps named by `path`; `None` where a value is in the way.
fn descend<'f>(
    fields: &'f mut Fields,
    path: &[Segment<'_>],
    (room, budget): (usize, &mut Budget),
) -> Option<&'f mut Fields> {
    let mut map = fields;
    for seg in path {
        let Segment::Name(name) = seg else {
            return None;
        };
        let make = || Node::Map(Fields::with_capacity(budget.take(room)));
        map = match map.get_or_insert_with(name, make) {
            Node::Map(m) => m,
            _ => return None,
        };
    }
    Some(map)
}

/// Names are echoed in error messages; keep those short whatever the input.
fn clip(s: &str) -> String {
    webhook_core::error::clip_key(s)
}
