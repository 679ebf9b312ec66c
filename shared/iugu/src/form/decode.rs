//! Percent-decoding of one name or value: `+` is a space and `%XX` a byte, as `form_urlencoded`
//! does. Unlike `form_urlencoded`, two things are refused rather than passed on: a `%` not
//! followed by two hex digits (encoders always write `%` as `%25`, so the body was cut or
//! mangled; reading it literally would store a value the sender did not send), and a result
//! that is not UTF-8 (`form_urlencoded`'s lossy decode turns it into U+FFFD, silently changing
//! a payment's data).
//!
//! Parts are split from a body that is valid UTF-8 at ASCII bytes (`&`, `=`), so each part is
//! valid UTF-8 and so is every run of it between escapes. Only an escape of a byte above
//! 0x7F can make the result invalid; without one, decoding needs no validation.

use webhook_core::error::ParseError;

/// `part` decoded into `buf`, or `part` itself when there is nothing to decode.
/// `offset` (where the pair starts in the body) is for the error.
pub(super) fn decode<'a>(
    part: &'a str,
    buf: &'a mut Vec<u8>,
    offset: usize,
) -> Result<&'a str, ParseError> {
    let bytes = part.as_bytes();
    let Some(first) = memchr::memchr2(b'%', b'+', bytes) else {
        return Ok(part);
    };
    buf.clear();
    buf.extend_from_slice(&bytes[..first]);
    // Parts are short (a name, an id, a date): one pass byte by byte beats a search per escape.
    let mut i = first;
    while let Some(&byte) = bytes.get(i) {
        i += 1;
        match byte {
            b'+' => buf.push(b' '),
            b'%' => match escaped(bytes, i) {
                Some(decoded) => {
                    buf.push(decoded);
                    i += 2;
                }
                None => return Err(ParseError::InvalidPercentEscape { offset }),
            },
            other => buf.push(other),
        }
    }
    std::str::from_utf8(buf).map_err(|_| ParseError::InvalidUtf8 { offset })
}

/// `part` decoded, as an owned string: what a stored value needs. Builds the string directly
/// (no second copy) unless an escape is of a non-ASCII byte, which [`decode`] then validates.
pub(super) fn decode_owned(part: &str, offset: usize) -> Result<String, ParseError> {
    let bytes = part.as_bytes();
    let Some(first) = memchr::memchr2(b'%', b'+', bytes) else {
        return Ok(part.to_owned());
    };
    let mut out = String::with_capacity(part.len());
    out.push_str(&part[..first]);
    let mut i = first;
    while let Some(&byte) = bytes.get(i) {
        match byte {
            b'+' => out.push(' '),
            b'%' => match escaped(bytes, i + 1) {
                Some(decoded) if decoded.is_ascii() => {
                    out.push(char::from(decoded));
                    i += 2;
                }
                Some(_) => return decode(part, &mut Vec::new(), offset).map(str::to_owned),
                None => return Err(ParseError::InvalidPercentEscape { offset }),
            },
            // A run of plain text, copied whole. It ends at an ASCII byte, so on a char boundary.
            _ => {
                let run = memchr::memchr2(b'%', b'+', &bytes[i..]).map_or(bytes.len(), |n| i + n);
                out.push_str(&part[i..run]);
                i = run;
                continue;
            }
        }
        i += 1;
    }
    Ok(out)
}

/// The byte that the two hex digits at `at` stand for, if they are two hex digits.
fn escaped(bytes: &[u8], at: usize) -> Option<u8> {
    let hi = hex(*bytes.get(at)?)?;
    let lo = hex(*bytes.get(at + 1)?)?;
    Some(hi << 4 | lo)
}

fn hex(digit: u8) -> Option<u8> {
    match digit {
        b'0'..=b'9' => Some(digit - b'0'),
        b'a'..=b'f' => Some(digit - b'a' + 10),
        b'A'..=b'F' => Some(digit - b'A' + 10),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Both decoders agree with each other on every shape of escape.
    #[test]
    fn owned_and_borrowed_decoding_agree() {
        let cases = [
            ("", Ok("")),
            ("plain", Ok("plain")),
            ("a+b", Ok("a b")),
            ("%2B%2b", Ok("++")),
            (
                "2022-03-21T11%3A07%3A36.667Z",
                Ok("2022-03-21T11:07:36.667Z"),
            ),
            ("%C3%A7%c3%a3", Ok("çã")),
            (
                "100%zz",
                Err(ParseError::InvalidPercentEscape { offset: 7 }),
            ),
            ("%", Err(ParseError::InvalidPercentEscape { offset: 7 })),
            ("%4", Err(ParseError::InvalidPercentEscape { offset: 7 })),
            ("x%4g", Err(ParseError::InvalidPercentEscape { offset: 7 })),
            ("çã+%41", Ok("çã A")),
            ("%00", Ok("\0")),
            ("%C3", Err(ParseError::InvalidUtf8 { offset: 7 })),
            ("a%FFb", Err(ParseError::InvalidUtf8 { offset: 7 })),
        ];
        for (raw, want) in cases {
            let mut buf = Vec::new();
            let borrowed = decode(raw, &mut buf, 7).map(str::to_owned);
            let want = want.map(str::to_owned);
            assert_eq!(borrowed, want, "{raw:?}");
            assert_eq!(decode_owned(raw, 7), want, "{raw:?}");
        }
    }
}
