//! Reading iPag's JSON body strictly: `serde_json` keeps the last of two equal keys in an object
//! and drops the first without a word; here a key sent twice is refused (as the iugu form parser
//! refuses a field sent twice with two values), since we could not say which value iPag meant.
//! An empty key is refused too: DynamoDB map keys may not be empty, and storing the `data` map
//! would fail on every retry. Depth is bounded by `serde_json`'s own limit (128 levels).

use std::cell::RefCell;
use std::fmt;

use serde::de::{DeserializeSeed, Error as _, MapAccess, SeqAccess, Visitor};
use serde_json::{Map, Value};

use webhook_core::error::ParseError;

/// What made a body unreadable beyond JSON syntax.
enum Fault {
    DuplicateKey(String),
    EmptyKey,
}

/// Parses `body` as JSON, refusing duplicate and empty object keys.
pub fn parse_strict(body: &[u8]) -> Result<Value, ParseError> {
    let fault = RefCell::new(None);
    let mut de = serde_json::Deserializer::from_slice(body);
    let parsed = Strict(&fault)
        .deserialize(&mut de)
        .and_then(|value| de.end().map(|()| value));
    match (parsed, fault.into_inner()) {
        (Ok(value), _) => Ok(value),
        // The key is echoed into the answer and the quarantine's message: clipped, as iugu's.
        (Err(_), Some(Fault::DuplicateKey(key))) => Err(ParseError::DuplicateKey {
            key: webhook_core::error::clip_key(&key),
        }),
        (Err(_), Some(Fault::EmptyKey)) => Err(ParseError::MalformedKey {
            key: String::new(),
            why: "a JSON object has an empty key",
        }),
        (Err(e), None) => Err(ParseError::InvalidJson {
            line: e.line(),
            column: e.column(),
        }),
    }
}

/// A seed that builds a [`Value`] and notes the first [`Fault`] it meets.
#[derive(Clone, Copy)]
struct Strict<'f>(&'f RefCell<Option<Fault>>);

impl<'de> DeserializeSeed<'de> for Strict<'_> {
    type Value = Value;

    fn deserialize<D: serde::Deserializer<'de>>(self, d: D) -> Result<Value, D::Error> {
        d.deserialize_any(self)
    }
}

impl<'de> Visitor<'de> for Strict<'_> {
    type Value = Value;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a JSON value")
    }

    fn visit_bool<E>(self, v: bool) -> Result<Value, E> {
        Ok(Value::Bool(v))
    }

    fn visit_i64<E>(self, v: i64) -> Result<Value, E> {
        Ok(Value::from(v))
    }

    fn visit_u64<E>(self, v: u64) -> Result<Value, E> {
        Ok(Value::from(v))
    }

    fn visit_f64<E>(self, v: f64) -> Result<Value, E> {
        // JSON has no NaN or infinity; `from_f64` refuses them, so `null` never stands in.
        Ok(serde_json::Number::from_f64(v).map_or(Value::Null, Value::Number))
    }

    fn visit_str<E>(self, v: &str) -> Result<Value, E> {
        Ok(Value::String(v.to_owned()))
    }

    fn visit_string<E>(self, v: String) -> Result<Value, E> {
        Ok(Value::String(v))
    }

    fn visit_unit<E>(self) -> Result<Value, E> {
        Ok(Value::Null)
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Value, A::Error> {
        let mut items = Vec::new();
        while let Some(item) = seq.next_element_seed(self)? {
            items.push(item);
        }
        Ok(Value::Array(items))
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Value, A::Error> {
        let mut out = Map::new();
        while let Some(key) = map.next_key::<String>()? {
            if key.is_empty() {
                *self.0.borrow_mut() = Some(Fault::EmptyKey);
                return Err(A::Error::custom("empty key"));
            }
            if out.contains_key(&key) {
                *self.0.borrow_mut() = Some(Fault::DuplicateKey(key));
                return Err(A::Error::custom("duplicate key"));
            }
            let value = map.next_value_seed(self)?;
            out.insert(key, value);
        }
        Ok(Value::Object(out))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_json_and_refuses_duplicate_or_empty_keys() {
        assert_eq!(
            parse_strict(br#" {"a": [1, -2, 1.5, "x", null, true]} "#),
            Ok(serde_json::json!({"a": [1, -2, 1.5, "x", null, true]}))
        );
        assert_eq!(
            parse_strict(br#"{"a": {"b": 1, "b": 1}}"#),
            Err(ParseError::DuplicateKey { key: "b".into() })
        );
        // Issue 24, item 5: a long key was echoed whole.
        let long = "k".repeat(10_000);
        let twice = format!(r#"{{"{long}": 1, "{long}": 2}}"#);
        let Err(ParseError::DuplicateKey { key }) = parse_strict(twice.as_bytes()) else {
            panic!("a duplicate key");
        };
        assert_eq!(key, format!("{}…", &long[..64]));
        assert!(matches!(
            parse_strict(br#"{"": 1}"#),
            Err(ParseError::MalformedKey { .. })
        ));
        assert!(matches!(
            parse_strict(br#"{"a": 1} x"#),
            Err(ParseError::InvalidJson { line: 1, .. })
        ));
        let deep = format!("{}{}", "[".repeat(200), "]".repeat(200));
        assert!(matches!(
            parse_strict(deep.as_bytes()),
            Err(ParseError::InvalidJson { .. })
        ));
    }
}
