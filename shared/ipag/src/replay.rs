//! What stops a captured iPag delivery from being replayed as something else.
//!
//! iPag's signature (`signature`) covers the body only: the event name travels in the
//! `X-Ipag-Event` header, outside it. Whoever captured one signed delivery (and knows the
//! token) could send the same body again under another event name, and since the name is part
//! of the de-duplication key (`dedup`), it would be stored and forwarded as a new notification:
//! a declined payment announced as `TransactionCaptured`, a capture as `TransactionChargedback`.
//!
//! Two checks narrow that:
//!
//! - **The event must agree with the body** ([`check_event_against_body`]). A transaction's
//!   status is `attributes.status.code`, from iPag's payment status table ([`STATUS_TABLE`]);
//!   each documented event allows only the codes that mean what its name says
//!   ([`allowed_codes`]). A body whose code contradicts the header is refused (422
//!   `event_mismatch`) and nothing is stored.
//! - **A timestamp header, if present, must be recent** ([`check_timestamp`]). iPag does not
//!   document one; third-party integrations read `X-Ipag-Timestamps` (plural). When it is
//!   present and readable it must lie within [`MAX_AGE`] in the past and [`MAX_AHEAD`] in the
//!   future of the arrival time.
//!
//! What is **not** covered, said plainly (docs/ipag.md, "What the signature does not cover"):
//! - A body whose status fits several events can still be replayed under each of them: a
//!   capture (code 8) as `TransactionCaptured` and as the three `...PaymentSucceeded`. They
//!   announce the same fact; consumers should act on `status`, not on the event name alone.
//! - Codes outside the table (iPag may add some), bodies without a status, unknown event names
//!   and the transfer events' string statuses other than the documented `failed` are not judged:
//!   refusing them could refuse real deliveries, which iPag gives up on after three attempts.
//! - The timestamp header is not signed either (as far as anyone outside iPag knows): it stops
//!   a replay that copies the captured headers verbatim, not one that rewrites or drops them. A
//!   value we cannot read is not refused (the format is undocumented) but logged as such.
//! - All of this assumes the signature check is on (`signing_key` in iPag's secret); without
//!   it, whoever has the token can post any body at all.

use serde_json::{Map, Value};
use time::{Duration, OffsetDateTime};

use super::event::IpagEvent;
use webhook_core::envelope::{Data, Envelope};
use webhook_core::error::ParseError;

/// iPag's payment status table: code and message. Source: iPag's API reference, "Status de
/// Pagamento" (developers.ipag.com.br; copies in github.com/Assinaclub/docs
/// `pt-br/payment_status.md` and `en-us/payment_status.md`, whose messages differ slightly:
/// 2 is `WAITING PAYMENT` or `PRINTED BOLETO`, 5 `AUTHORIZED` or `PRE AUTHORIZED`, 6
/// `PARTIAL CAPTURED` or "authorized, partial amount", 7 `DECLINED` or `DENIED`).
pub const STATUS_TABLE: [(u8, &str); 10] = [
    (1, "CREATED"),
    (2, "WAITING PAYMENT"),
    (3, "CANCELED"),
    (4, "IN ANALYSIS"),
    (5, "PRE AUTHORIZED"),
    (6, "PARTIAL CAPTURED"),
    (7, "DECLINED"),
    (8, "CAPTURED"),
    (9, "CHARGEDBACK"),
    (10, "IN DISPUTE"),
];

/// The status codes a documented event may carry, or `None` when the event's status is not
/// judged (transfers, unknown events).
///
/// Where the table is ambiguous the set is wide rather than narrow: a refused real delivery is
/// a lost notification. 6 is "partial" in both readings, so it fits both a pre-authorisation
/// and a capture; a transaction created under anti-fraud analysis is 4; a payment that
/// "succeeded" is authorised or captured, one that "failed" is declined or cancelled.
pub fn allowed_codes(event: &IpagEvent) -> Option<&'static [u8]> {
    use IpagEvent::*;
    Some(match event {
        TransactionCreated => &[1, 4],
        TransactionWaitingPayment => &[2],
        TransactionCanceled => &[3],
        TransactionPreAuthorized => &[5, 6],
        TransactionCaptured => &[6, 8],
        TransactionDenied => &[7],
        TransactionChargedback => &[9],
        TransactionDisputed => &[10],
        PaymentLinkPaymentSucceeded | SubscriptionPaymentSucceeded | ChargePaymentSucceeded => {
            &[5, 6, 8]
        }
        PaymentLinkPaymentFailed | SubscriptionPaymentFailed | ChargePaymentFailed => &[3, 7],
        TransferPaymentSucceeded | TransferPaymentFailed | Unknown(_) => return None,
    })
}

fn message_of(code: u8) -> Option<&'static str> {
    STATUS_TABLE
        .iter()
        .find(|(c, _)| *c == code)
        .map(|(_, message)| *message)
}

/// The body's status: a transaction's numeric `attributes.status.code` (a JSON number or a
/// string of digits), or a plain string `attributes.status` (transfers).
enum BodyStatus<'b> {
    Code(u64),
    Text(&'b str),
    None,
}

fn body_status(body: &Map<String, Value>) -> BodyStatus<'_> {
    let Some(status) = body.get("attributes").and_then(|a| a.get("status")) else {
        return BodyStatus::None;
    };
    match status {
        Value::String(text) => BodyStatus::Text(text),
        Value::Object(status) => match status.get("code") {
            Some(Value::Number(n)) => n.as_u64().map_or(BodyStatus::None, BodyStatus::Code),
            Some(Value::String(s)) => s.trim().parse().map_or(BodyStatus::None, BodyStatus::Code),
            _ => BodyStatus::None,
        },
        _ => BodyStatus::None,
    }
}

/// [`check_event_against_body`] on a parsed iPag notification; anything else passes. The
/// handler runs it on every delivery. It is not part of parsing (`ipag::parse`): `recover
/// replay` rebuilds stored notifications with the parser, and one stored before this check
/// existed must still replay as it was.
pub fn check_envelope(envelope: &Envelope) -> Result<(), ParseError> {
    match &envelope.data {
        Data::Json(Value::Object(body)) if envelope.provider == super::PROVIDER => {
            check_event_against_body(&IpagEvent::from_name(envelope.event.as_str()), body)
        }
        _ => Ok(()),
    }
}

/// Refuses an event name the body contradicts (see the module documentation).
pub fn check_event_against_body(
    event: &IpagEvent,
    body: &Map<String, Value>,
) -> Result<(), ParseError> {
    let mismatch = |why: String| ParseError::EventMismatch {
        event: event.as_str().to_owned(),
        why,
    };
    match (event, body_status(body)) {
        // The transfer resource documents `"status": "failed"` (pt-br/transfers.md).
        (IpagEvent::TransferPaymentSucceeded, BodyStatus::Text(text))
            if text.eq_ignore_ascii_case("failed") =>
        {
            Err(mismatch(
                "the body's attributes.status is `failed`: that is TransferPaymentFailed"
                    .to_owned(),
            ))
        }
        (_, BodyStatus::Code(code)) => {
            let (Some(allowed), Some(found)) = (
                allowed_codes(event),
                u8::try_from(code).ok().and_then(message_of),
            ) else {
                return Ok(());
            };
            if allowed.iter().any(|c| u64::from(*c) == code) {
                return Ok(());
            }
            let wanted = allowed
                .iter()
                .map(|c| format!("{c} ({})", message_of(*c).unwrap_or("?")))
                .collect::<Vec<_>>()
                .join(" or ");
            Err(mismatch(format!(
                "it means attributes.status.code {wanted}, and the body says {code} ({found})"
            )))
        }
        _ => Ok(()),
    }
}

/// The timestamp header third-party integrations read (`X-Ipag-Timestamps`, plural). Not in
/// iPag's documentation.
pub const TIMESTAMP_HEADER: &str = "X-Ipag-Timestamps";

/// The oldest a delivery's timestamp may be. iPag retries twice, 5 and then 15 minutes after
/// the first attempt, with response timeouts of 5, 10 and 20 s (its support article,
/// "Funcionamento dos Webhooks iPag"); a retry that carries the first attempt's timestamp
/// arrives about 20.6 minutes after it, so an hour leaves room for iPag's queue and for clocks.
pub const MAX_AGE: Duration = Duration::hours(1);

/// How far in the future a timestamp may be (clock skew between iPag and AWS).
pub const MAX_AHEAD: Duration = Duration::minutes(5);

/// What the timestamp header said.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Timestamp {
    /// No header (or only blank values): nothing to bound.
    Absent,
    /// A value in a format we do not know: not refused, since iPag does not document one.
    Unreadable,
    /// Every value read, and within bounds.
    Recent,
}

/// Why a timestamp is refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TimestampError {
    /// Older than [`MAX_AGE`]; the age in whole seconds.
    TooOld { age_seconds: i64 },
    /// Further ahead than [`MAX_AHEAD`].
    InTheFuture { ahead_seconds: i64 },
}

impl TimestampError {
    pub fn message(self) -> String {
        match self {
            TimestampError::TooOld { age_seconds } => format!(
                "{TIMESTAMP_HEADER} is {age_seconds} s old; at most {} s is accepted",
                MAX_AGE.whole_seconds()
            ),
            TimestampError::InTheFuture { ahead_seconds } => format!(
                "{TIMESTAMP_HEADER} is {ahead_seconds} s in the future; at most {} s is accepted",
                MAX_AHEAD.whole_seconds()
            ),
        }
    }
}

/// Bounds every value of the timestamp header against `now` (the arrival time).
pub fn check_timestamp<'h>(
    values: impl IntoIterator<Item = &'h [u8]>,
    now: OffsetDateTime,
) -> Result<Timestamp, TimestampError> {
    let mut seen = Timestamp::Absent;
    for raw in values {
        let text = std::str::from_utf8(raw).unwrap_or("\u{0}").trim();
        if text.is_empty() {
            continue;
        }
        let Some(at) = parse_timestamp(text) else {
            seen = Timestamp::Unreadable;
            continue;
        };
        let age = now - at;
        if age > MAX_AGE {
            return Err(TimestampError::TooOld {
                age_seconds: age.whole_seconds(),
            });
        }
        if -age > MAX_AHEAD {
            return Err(TimestampError::InTheFuture {
                ahead_seconds: (-age).whole_seconds(),
            });
        }
        if seen == Timestamp::Absent {
            seen = Timestamp::Recent;
        }
    }
    Ok(seen)
}

/// Reads the forms a timestamp header commonly takes: Unix seconds, Unix milliseconds (13
/// digits or more), or RFC 3339 (`2024-06-17T12:00:00-03:00`). Anything else is `None`.
pub fn parse_timestamp(text: &str) -> Option<OffsetDateTime> {
    if !text.is_empty() && text.bytes().all(|b| b.is_ascii_digit()) {
        let n: i64 = text.parse().ok()?;
        return if text.len() >= 13 {
            OffsetDateTime::from_unix_timestamp_nanos(i128::from(n) * 1_000_000).ok()
        } else {
            OffsetDateTime::from_unix_timestamp(n).ok()
        };
    }
    OffsetDateTime::parse(text, &time::format_description::well_known::Rfc3339).ok()
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;
    use time::macros::datetime;

    fn body(status: Value) -> Map<String, Value> {
        match json!({"id": 1, "resource": "transactions", "attributes": {"status": status}}) {
            Value::Object(map) => map,
            _ => unreachable!(),
        }
    }

    fn check(event: &str, status: Value) -> Result<(), ParseError> {
        check_event_against_body(&IpagEvent::from_name(event), &body(status))
    }

    #[test]
    fn every_documented_transaction_event_takes_its_own_code_only() {
        // The one code each `Transaction*` event names, from the table.
        let own = [
            ("TransactionCreated", 1),
            ("TransactionWaitingPayment", 2),
            ("TransactionCanceled", 3),
            ("TransactionPreAuthorized", 5),
            ("TransactionDenied", 7),
            ("TransactionCaptured", 8),
            ("TransactionChargedback", 9),
            ("TransactionDisputed", 10),
        ];
        for (event, code) in own {
            assert_eq!(check(event, json!({"code": code})), Ok(()), "{event}");
            assert_eq!(check(event, json!({"code": code.to_string()})), Ok(()));
            for (other, other_code) in own {
                let allowed = allowed_codes(&IpagEvent::from_name(event)).unwrap_or(&[]);
                if other != event && !allowed.contains(&other_code) {
                    let refused = check(event, json!({"code": other_code}));
                    assert!(
                        matches!(&refused, Err(e) if e.code() == "event_mismatch"),
                        "{event} with {other_code}: {refused:?}"
                    );
                }
            }
        }
    }

    #[test]
    fn a_declined_payment_cannot_be_announced_as_captured() {
        let refused = check(
            "TransactionCaptured",
            json!({"code": 7, "message": "DENIED"}),
        );
        let Err(e) = refused else { panic!("accepted") };
        assert_eq!(e.code(), "event_mismatch");
        assert_eq!(e.class(), webhook_core::ErrorClass::Unprocessable);
        assert_eq!(
            e.to_string(),
            "event `TransactionCaptured` does not match the body: it means \
             attributes.status.code 6 (PARTIAL CAPTURED) or 8 (CAPTURED), and the body says 7 \
             (DECLINED)"
        );
        assert!(check("TransactionChargedback", json!({"code": 8})).is_err());
        assert!(check("ChargePaymentSucceeded", json!({"code": 7})).is_err());
        assert!(check("SubscriptionPaymentFailed", json!({"code": 8})).is_err());
        assert!(check("PaymentLinkPaymentSucceeded", json!({"code": 8})).is_ok());
        assert!(check("PaymentLinkPaymentFailed", json!({"code": 3})).is_ok());
    }

    #[test]
    fn what_is_not_judged_passes() {
        // Codes outside the table, no status, odd shapes, unknown events.
        assert!(check("TransactionCaptured", json!({"code": 11})).is_ok());
        assert!(check("TransactionCaptured", json!({"code": -1})).is_ok());
        assert!(check("TransactionCaptured", json!({"code": "x"})).is_ok());
        assert!(check("TransactionCaptured", json!({"message": "CAPTURED"})).is_ok());
        assert!(check("TransactionCaptured", Value::Null).is_ok());
        assert!(check("TransactionSomethingNew", json!({"code": 7})).is_ok());
        let no_attributes = Map::new();
        assert!(check_event_against_body(&IpagEvent::TransactionCaptured, &no_attributes).is_ok());
        // Transfers: only the documented `failed` under the success event is a contradiction.
        assert!(check("TransferPaymentSucceeded", json!("failed")).is_err());
        assert!(check("TransferPaymentSucceeded", json!("FAILED")).is_err());
        assert!(check("TransferPaymentSucceeded", json!("succeeded")).is_ok());
        assert!(check("TransferPaymentFailed", json!("failed")).is_ok());
        assert!(check("TransferPaymentFailed", json!("pending")).is_ok());
        assert!(check("TransferPaymentFailed", json!({"code": 8})).is_ok());
    }

    const NOW: OffsetDateTime = datetime!(2026-11-23 10:00:00 UTC);

    fn at(values: &[&str]) -> Result<Timestamp, TimestampError> {
        check_timestamp(values.iter().map(|v| v.as_bytes()), NOW)
    }

    #[test]
    fn a_timestamp_is_bounded_when_present_and_readable() {
        let now = NOW.unix_timestamp();
        assert_eq!(at(&[]), Ok(Timestamp::Absent));
        assert_eq!(at(&[" "]), Ok(Timestamp::Absent));
        assert_eq!(at(&[&now.to_string()]), Ok(Timestamp::Recent));
        assert_eq!(at(&[&(now * 1000).to_string()]), Ok(Timestamp::Recent));
        assert_eq!(at(&["2026-11-23T06:40:00-03:00"]), Ok(Timestamp::Recent));
        // iPag's last retry, 20 min 35 s after the first attempt.
        assert_eq!(at(&[&(now - 1235).to_string()]), Ok(Timestamp::Recent));
        assert_eq!(at(&[&(now - 3600).to_string()]), Ok(Timestamp::Recent));
        assert_eq!(
            at(&[&(now - 3601).to_string()]),
            Err(TimestampError::TooOld { age_seconds: 3601 })
        );
        assert_eq!(
            at(&["2026-11-23T08:00:00Z"]),
            Err(TimestampError::TooOld { age_seconds: 7200 })
        );
        assert_eq!(at(&[&(now + 300).to_string()]), Ok(Timestamp::Recent));
        assert_eq!(
            at(&[&(now + 301).to_string()]),
            Err(TimestampError::InTheFuture { ahead_seconds: 301 })
        );
        // Every value counts: one stale value of two is refused.
        assert!(at(&[&now.to_string(), "0"]).is_err());
        // Unreadable values are not refused; a readable one is still bounded.
        assert_eq!(at(&["yesterday"]), Ok(Timestamp::Unreadable));
        assert_eq!(at(&["17/06/2024 12:00"]), Ok(Timestamp::Unreadable));
        assert!(at(&["yesterday", "0"]).is_err());
        assert_eq!(
            check_timestamp([&b"\xff\xfe"[..]], NOW),
            Ok(Timestamp::Unreadable)
        );
        assert_eq!(at(&["99999999999999999999999"]), Ok(Timestamp::Unreadable));
    }

    #[test]
    fn refusals_say_how_far_off_without_echoing_the_value() {
        let message = TimestampError::TooOld { age_seconds: 7200 }.message();
        assert_eq!(
            message,
            "X-Ipag-Timestamps is 7200 s old; at most 3600 s is accepted"
        );
    }
}
