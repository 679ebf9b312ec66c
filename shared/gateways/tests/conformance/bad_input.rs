//! Every refusal the parsing core promises, each with its precise error and HTTP class,
//! and the edge cases it must accept.

use time::OffsetDateTime;
use webhook_core::{Envelope, ErrorClass, Node, ParseError};
use webhook_iugu::form::{parse_form, MAX_BODY_BYTES, MAX_DEPTH, MAX_FIELDS, MAX_KEY_BYTES};

fn parse(body: &str) -> Result<Envelope, ParseError> {
    webhook_iugu::parse(body.as_bytes(), OffsetDateTime::UNIX_EPOCH)
}

fn refused(body: &[u8]) -> ParseError {
    match webhook_iugu::parse(body, OffsetDateTime::UNIX_EPOCH) {
        Ok(env) => panic!("{:?} was accepted: {env:?}", String::from_utf8_lossy(body)),
        Err(e) => e,
    }
}

const GOOD: &str = "event=invoice.status_changed&data[id]=A1&data[status]=paid";

#[test]
fn a_good_body_parses() {
    let env = parse(GOOD).expect("good body");
    assert_eq!(env.entity_key, "invoice#A1");
}

#[test]
fn empty_bodies() {
    for body in ["", "   ", "\n", "&&&"] {
        assert_eq!(refused(body.as_bytes()), ParseError::EmptyBody, "{body:?}");
    }
    assert_eq!(ParseError::EmptyBody.class(), ErrorClass::Malformed);
}

#[test]
fn missing_event() {
    let err = refused(b"data[id]=A1&data[status]=paid");
    assert_eq!(err, ParseError::MissingEvent { field: "event" });
    assert_eq!(err.class(), ErrorClass::Unprocessable);
    assert_eq!(err.to_string(), "the body has no `event` field");
}

#[test]
fn blank_or_grouped_event() {
    assert!(matches!(
        refused(b"event=&data[id]=A1"),
        ParseError::InvalidEvent { .. }
    ));
    assert!(matches!(
        refused(b"event[x]=invoice.created&data[id]=A1"),
        ParseError::InvalidEvent { .. }
    ));
}

#[test]
fn missing_key_id_for_a_known_family() {
    let err = refused(b"event=invoice.status_changed&data[status]=paid");
    assert_eq!(
        err,
        ParseError::MissingEntityId {
            event: "invoice.status_changed".into(),
            field: "data[id]".into()
        }
    );
    assert_eq!(err.class(), ErrorClass::Unprocessable);
    // Also for an event of a known family that we have never seen.
    assert!(matches!(
        refused(b"event=deposit.new_thing&data[id]=X"),
        ParseError::MissingEntityId { .. }
    ));
    // A blank id is no id.
    assert!(matches!(
        refused(b"event=invoice.due&data[id]=+"),
        ParseError::InvalidEntityId { .. }
    ));
    // Nor is a group of fields.
    assert!(matches!(
        refused(b"event=invoice.due&data[id][x]=1"),
        ParseError::InvalidEntityId { .. }
    ));
}

#[test]
fn an_unknown_event_is_valid_data() {
    let env = parse("event=charge.created&data[id]=C9&data[status]=ok").expect("unknown event");
    assert!(!webhook_iugu::EventName::from_name(env.event.as_str()).is_known());
    assert_eq!(env.entity_key, "charge#C9");
    // With no id at all it is still kept, keyed by itself.
    let env = parse("event=something&data[foo]=bar").expect("unknown event, no id");
    assert_eq!(env.entity_key, format!("notification#{}", env.dedup_key));
    // An unknown event of a known family is kept with its family's key.
    let env = parse("event=invoice.brand_new&data[id]=A1").expect("new invoice event");
    assert_eq!(env.entity_key, "invoice#A1");
}

#[test]
fn invalid_utf8_after_decoding() {
    let err = refused(b"event=invoice.due&data[id]=A1&data[name]=%C3%28");
    assert!(matches!(err, ParseError::InvalidUtf8 { .. }), "{err:?}");
    assert_eq!(err.class(), ErrorClass::Malformed);
    // Raw (unescaped) invalid bytes too.
    assert!(matches!(
        refused(b"event=invoice.due&data[id]=A\xff1"),
        ParseError::InvalidUtf8 { .. }
    ));
}

#[test]
fn unbalanced_brackets() {
    for key in [
        "data[id",
        "data]id[",
        "data[a]]",
        "data[a[b]]",
        "data[a]x",
        "[id]",
        "[]",
        "]",
    ] {
        let body = format!("event=invoice.due&data[id]=A1&{key}=v");
        let err = refused(body.as_bytes());
        assert!(
            matches!(err, ParseError::MalformedKey { .. }),
            "{key}: {err:?}"
        );
        assert_eq!(err.code(), "malformed_key");
    }
}

#[test]
fn nesting_deeper_than_the_bound() {
    let deep = format!("data{}", "[a]".repeat(MAX_DEPTH));
    let err = refused(format!("event=invoice.due&data[id]=A1&{deep}=v").as_bytes());
    assert_eq!(err, ParseError::TooDeep { max: MAX_DEPTH });
    // One level less is fine.
    let ok = format!("data{}", "[a]".repeat(MAX_DEPTH - 2));
    parse(&format!("event=invoice.due&data[id]=A1&{ok}=v")).expect("within bound");
}

#[test]
fn more_fields_than_the_bound() {
    let mut body = String::from("event=invoice.due&data[id]=A1");
    for i in 0..MAX_FIELDS {
        body.push_str(&format!("&f{i}=1"));
    }
    let err = refused(body.as_bytes());
    assert_eq!(err, ParseError::TooManyFields { max: MAX_FIELDS });
    assert_eq!(err.class(), ErrorClass::TooLarge);
}

#[test]
fn a_body_over_the_size_bound() {
    let body = format!("{GOOD}&data[pad]={}", "x".repeat(MAX_BODY_BYTES));
    let err = refused(body.as_bytes());
    assert_eq!(
        err,
        ParseError::BodyTooLarge {
            size: body.len(),
            max: MAX_BODY_BYTES
        }
    );
    assert_eq!(err.class(), ErrorClass::TooLarge);
}

#[test]
fn a_key_over_the_length_bound() {
    let body = format!("{GOOD}&{}=1", "k".repeat(MAX_KEY_BYTES + 1));
    assert!(matches!(
        refused(body.as_bytes()),
        ParseError::KeyTooLong { .. }
    ));
}

#[test]
fn nul_bytes() {
    assert!(matches!(
        refused(format!("{GOOD}&data[x]=a%00b").as_bytes()),
        ParseError::NulByte { .. }
    ));
    assert!(matches!(
        refused(format!("{GOOD}&data[x%00]=ab").as_bytes()),
        ParseError::NulByte { .. }
    ));
}

#[test]
fn a_key_repeated_with_two_values_is_refused_with_one_value_accepted() {
    let err = refused(b"event=invoice.due&event=invoice.created&data[id]=A1");
    assert_eq!(
        err,
        ParseError::DuplicateKey {
            key: "event".into()
        }
    );
    assert!(matches!(
        refused(b"event=invoice.due&data[id]=A1&data[id]=A2"),
        ParseError::DuplicateKey { .. }
    ));
    let env = parse("event=invoice.due&data[id]=A1&data[id]=A1").expect("same value twice");
    assert_eq!(env.entity_id, "A1");
}

#[test]
fn a_key_used_as_value_and_group_is_refused() {
    assert!(matches!(
        refused(b"event=invoice.due&data[id]=A1&data[x]=1&data[x][y]=2"),
        ParseError::ConflictingKey { .. }
    ));
    assert!(matches!(
        refused(b"event=invoice.due&data=flat"),
        ParseError::ConflictingKey { .. }
    ));
}

#[test]
fn form_details() {
    let fields = parse_form(b"a=1&b&c=x+y&d=%2B&e[]=1&e[]=2&f[g][h]=%C3%A7&=&").expect("form");
    assert_eq!(fields["a"], Node::Text("1".into()));
    assert_eq!(fields["b"], Node::Text(String::new()), "a key with no `=`");
    assert_eq!(fields["c"], Node::Text("x y".into()), "`+` is a space");
    assert_eq!(fields["d"], Node::Text("+".into()), "`%2B` is a plus");
    assert_eq!(fields["e"], Node::List(vec!["1".into(), "2".into()]));
    let g = fields["f"]
        .as_map()
        .and_then(|f| f.get("g"))
        .and_then(Node::as_map)
        .expect("f[g]");
    assert_eq!(g["h"], Node::Text("ç".into()));
    assert_eq!(fields.len(), 6, "empty pairs are skipped: {fields:?}");
}

#[test]
fn a_percent_without_two_hex_digits_is_refused() {
    // An encoder writes `%` as `%25`; a bare one means the body was cut or mangled, and reading
    // it literally would store a value iugu did not send.
    for body in [
        "event=invoice.due&data[id]=A1&data[note]=100%zz",
        "event=invoice.due&data[id]=A1&data[note]=100%",
        "event=invoice.due&data[id]=A1&data[note]=100%2",
        "event=invoice.due&data%5id]=A1",
    ] {
        let err = parse(body).expect_err(body);
        assert_eq!(err.code(), "invalid_percent_escape", "{body}");
        assert!(
            matches!(err, ParseError::InvalidPercentEscape { .. }),
            "{body}"
        );
    }
    let env = parse("event=invoice.due&data[id]=A1&data[note]=100%25").expect("an escaped %");
    assert_eq!(env.data.get("note"), Some(&Node::Text("100%".into())));
}

#[test]
fn every_error_has_a_distinct_code_and_a_message() {
    let errors = [
        ParseError::EmptyBody,
        ParseError::BodyTooLarge { size: 1, max: 0 },
        ParseError::TooManyFields { max: 0 },
        ParseError::InvalidPercentEscape { offset: 0 },
        ParseError::InvalidUtf8 { offset: 0 },
        ParseError::KeyTooLong { len: 1, max: 0 },
        ParseError::NulByte { key: "k".into() },
        ParseError::MalformedKey {
            key: "k".into(),
            why: "w",
        },
        ParseError::TooDeep { max: 0 },
        ParseError::DuplicateKey { key: "k".into() },
        ParseError::ConflictingKey { key: "k".into() },
        ParseError::MissingEvent { field: "event" },
        ParseError::InvalidEvent { why: "w" },
        ParseError::MissingEntityId {
            event: "e".into(),
            field: "f".into(),
        },
        ParseError::InvalidEntityId {
            event: "e".into(),
            field: "f".into(),
            why: "w",
        },
    ];
    let codes: std::collections::BTreeSet<_> = errors.iter().map(ParseError::code).collect();
    assert_eq!(codes.len(), errors.len());
    assert!(errors.iter().all(|e| !e.to_string().is_empty()));
}
