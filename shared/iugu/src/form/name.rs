//! Bracketed names: `data[credit_card][token]` → `["data", "credit_card", "token"]`.
//!
//! [`split_key`] splits a decoded name and says precisely what is wrong with a bad one.
//! [`split_raw`] is the fast path for names as iugu sends them (`data%5Bid%5D`): it splits the
//! still-encoded name when its only escapes are brackets, so the parts borrow the body and
//! nothing is decoded or copied. Any other name goes the general way: decode, then split.

use super::clip;
use super::MAX_DEPTH;
use webhook_core::error::ParseError;

/// One part of a bracketed name.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Segment<'a> {
    Name(&'a str),
    /// `[]`: append to a list.
    Append,
}

/// The parts of one name, on the stack: at most [`MAX_DEPTH`] of them.
pub(super) struct Path<'a> {
    parts: [Segment<'a>; MAX_DEPTH],
    len: usize,
}

impl<'a> Path<'a> {
    fn new() -> Self {
        Path {
            parts: [Segment::Append; MAX_DEPTH],
            len: 0,
        }
    }

    fn push(&mut self, part: Segment<'a>) -> Result<(), ParseError> {
        self.try_push(part)
            .ok_or(ParseError::TooDeep { max: MAX_DEPTH })
    }

    /// `None` when the name is too deep.
    fn try_push(&mut self, part: Segment<'a>) -> Option<()> {
        *self.parts.get_mut(self.len)? = part;
        self.len += 1;
        Some(())
    }

    pub(super) fn as_slice(&self) -> &[Segment<'a>] {
        &self.parts[..self.len]
    }
}

/// Splits a decoded name; the error says what is malformed.
pub(super) fn split_key(key: &str) -> Result<Path<'_>, ParseError> {
    let bad = |why: &'static str| ParseError::MalformedKey {
        key: clip(key),
        why,
    };
    // Names are short: a plain scan finds the brackets sooner than a vector search would.
    let bracket = |s: &str| s.bytes().position(|b| b == b'[' || b == b']');
    let (head, mut rest) = match bracket(key) {
        None => (key, ""),
        Some(i) if key.as_bytes()[i] == b']' => return Err(bad("a ']' without its '['")),
        Some(i) => (&key[..i], &key[i..]),
    };
    if head.is_empty() {
        return Err(bad("the name before the first '[' is empty"));
    }
    let mut path = Path::new();
    path.push(Segment::Name(head))?;
    while !rest.is_empty() {
        // `rest` starts with '[' here: the loop leaves it either empty or at the next '['.
        let inner = &rest[1..];
        let close = bracket(inner)
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

/// A bracket of a raw name, plain (`[`) or escaped (`%5B`, `%5b`).
#[derive(Clone, Copy, PartialEq, Eq)]
enum Bracket {
    Open,
    Close,
}

/// Splits a raw, still-encoded name whose only escapes are brackets, and gives its decoded
/// length. `None` for anything else — another escape, a `+`, or a shape [`split_key`] would
/// refuse — and the caller then decodes and splits it the general way, which gives the same
/// parts for every name this accepts (a decoded `[` or `]` only ever comes from one of these
/// brackets) and the precise error for the others.
pub(super) fn split_raw(raw: &str) -> Option<(Path<'_>, usize)> {
    let bytes = raw.as_bytes();
    let mut path = Path::new();
    let mut escapes = 0;
    let mut start = 0; // Where the current part's text starts.
    let mut open = false; // Inside `[...]`.
    let mut closed = false; // Right after a `]`: only `[` or the end may follow.
    let mut i = 0;
    loop {
        // Skip the plain text of a part in one tight loop.
        let run = bytes[i..]
            .iter()
            .position(|&b| NOT_PLAIN[usize::from(b)])
            .map_or(bytes.len(), |n| i + n);
        if closed && run > i {
            return None;
        }
        i = run;
        let Some(&byte) = bytes.get(i) else { break };
        let (bracket, width) = match byte {
            b'[' => (Bracket::Open, 1),
            b']' => (Bracket::Close, 1),
            b'%' => match bytes.get(i + 1..i + 3)? {
                b"5B" | b"5b" => (Bracket::Open, 3),
                b"5D" | b"5d" => (Bracket::Close, 3),
                _ => return None,
            },
            _ => return None, // `+`
        };
        let text = raw.get(start..i)?;
        match (bracket, open) {
            // The head, before the first `[`, or a `]` right after a `]`.
            (Bracket::Open, false) if path.len == 0 => path.try_push(Segment::Name(text))?,
            (Bracket::Open, false) if closed => {}
            (Bracket::Close, true) if text.is_empty() => path.try_push(Segment::Append)?,
            (Bracket::Close, true) => path.try_push(Segment::Name(text))?,
            _ => return None,
        }
        // An empty head, or `[]` anywhere but at the end: the general way says which.
        if matches!(
            path.as_slice(),
            [Segment::Name(""), ..] | [.., Segment::Append, _]
        ) {
            return None;
        }
        open = bracket == Bracket::Open;
        closed = bracket == Bracket::Close;
        escapes += usize::from(width == 3);
        i += width;
        start = i;
    }
    if open {
        return None;
    }
    if path.len == 0 {
        // No bracket at all: the whole name is the head.
        if raw.is_empty() {
            return None;
        }
        path.try_push(Segment::Name(raw))?;
    }
    Some((path, raw.len() - 2 * escapes))
}

/// The bytes [`split_raw`] stops at: brackets, escapes and `+`.
static NOT_PLAIN: [bool; 256] = {
    let mut table = [false; 256];
    table[b'[' as usize] = true;
    table[b']' as usize] = true;
    table[b'%' as usize] = true;
    table[b'+' as usize] = true;
    table
};

#[cfg(test)]
mod tests {
    use super::super::decode::decode;
    use super::*;

    fn raw(name: &str) -> Option<(Vec<Segment<'_>>, usize)> {
        split_raw(name).map(|(path, len)| (path.as_slice().to_vec(), len))
    }

    /// Where the fast path accepts a name, it gives what decoding and splitting give.
    #[test]
    fn the_raw_split_agrees_with_decode_then_split() {
        let names = [
            "event",
            "data%5Bid%5D",
            "data%5bid%5d",
            "data[id]",
            "data%5Bcredit_card%5D%5Btoken%5D",
            "data[credit_card]%5Btoken%5D",
            "data%5Bitems%5D%5B%5D",
            "a[b][c][d][e][f]",
            "çã[x]",
            "a[b][c][d][e][f][g]",
            "a[]",
            "a[][b]",
            "[a]",
            "",
            "a]",
            "a[b",
            "a[b]c",
            "a[b]]",
            "a[[b]",
            "a%5Bb%5Dc",
            "a+b",
            "a%20b",
            "a%5",
            "a%5Bb%5",
            "a[b%5D%5D",
        ];
        for name in names {
            let Some((parts, len)) = raw(name) else {
                continue;
            };
            let mut buf = Vec::new();
            let decoded = decode(name, &mut buf, 0).expect("accepted names decode");
            assert_eq!(len, decoded.len(), "{name}");
            let path = split_key(decoded).expect("accepted names split");
            assert_eq!(parts, path.as_slice(), "{name}");
        }
    }

    #[test]
    fn the_raw_split_leaves_the_rest_to_the_general_way() {
        let general = [
            "",
            "[a]",
            "a]",
            "a[b",
            "a[b]c",
            "a[b]]",
            "a[[b]",
            "a[][b]",
            "a+b",
            "a%20b",
            "a%5",
            "a%5Bb%5",
            "a%5Bb%5Dc",
            "a[b][c][d][e][f][g]",
        ];
        for name in general {
            assert!(split_raw(name).is_none(), "{name}");
        }
        assert_eq!(
            raw("data%5Bid%5D"),
            Some((vec![Segment::Name("data"), Segment::Name("id")], 8))
        );
        assert_eq!(
            raw("e[]"),
            Some((vec![Segment::Name("e"), Segment::Append], 3))
        );
    }
}
