//! A typed view of iPag's notification bodies, as `webhook_iugu::typed` is for iugu's: the v2
//! API resource (`{"id", "uuid", "resource", "attributes": {...}}`, documented for transactions:
//! https://developers.ipag.com.br/pt-br/payment), amounts in cents, the status code and message.
//! A value that does not read as its type is left out, never a rejection; the customer, the
//! card and the addresses stay in `data` only.

use serde_json::Value;
use webhook_core::Envelope;
use webhook_ipag::{IpagEvent, IpagFamily};

/// An iPag notification's documented fields.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct IpagView<'a> {
    pub event: IpagEvent,
    pub family: IpagFamily,
    /// `resource`: `transactions`, `transfers`, ...
    pub resource: Option<&'a str>,
    /// `id`, written in decimal when iPag sends a number.
    pub id: Option<String>,
    pub uuid: Option<&'a str>,
    pub order_id: Option<&'a str>,
    /// `attributes.status.code` (1 created, 3 canceled, 5 authorized, 7 denied, 8 captured, 9
    /// charged back, 10 in dispute: `pt-br/payment_status.md` of iPag's documentation).
    pub status_code: Option<u32>,
    pub status_message: Option<&'a str>,
    /// `attributes.amount` in cents (iPag sends reais as a JSON number: `529.19`).
    pub amount_cents: Option<i64>,
    pub captured_cents: Option<i64>,
    pub method: Option<&'a str>,
    pub installments: Option<u32>,
    /// The parent a payment event is about, when the body names it.
    pub subscription_id: Option<String>,
}

impl<'a> IpagView<'a> {
    /// The view of an iPag envelope's body; `None` for another gateway's or a gap record.
    pub fn of(envelope: &'a Envelope) -> Option<IpagView<'a>> {
        if envelope.provider != webhook_ipag::PROVIDER {
            return None;
        }
        let body = envelope.data.as_json()?.as_object()?;
        let attributes = body.get("attributes").and_then(Value::as_object);
        let attr = |name: &str| attributes.and_then(|a| a.get(name));
        let status = attr("status");
        let event = IpagEvent::from_name(envelope.event.as_str());
        Some(IpagView {
            family: event.family(),
            event,
            resource: body.get("resource").and_then(Value::as_str),
            id: body.get("id").and_then(id_text),
            uuid: body.get("uuid").and_then(Value::as_str),
            order_id: attr("order_id").and_then(Value::as_str),
            status_code: status
                .and_then(|s| s.get("code"))
                .and_then(Value::as_u64)
                .and_then(|c| u32::try_from(c).ok()),
            status_message: status
                .and_then(|s| s.get("message"))
                .and_then(Value::as_str),
            amount_cents: attr("amount").and_then(cents),
            captured_cents: attr("captured_amount").and_then(cents),
            method: attr("method").and_then(Value::as_str),
            installments: attr("installments")
                .and_then(Value::as_u64)
                .and_then(|n| u32::try_from(n).ok()),
            subscription_id: attr("subscription_id").and_then(id_text).or_else(|| {
                attr("subscription")
                    .and_then(|s| s.get("id"))
                    .and_then(id_text)
            }),
        })
    }
}

fn id_text(value: &Value) -> Option<String> {
    match value {
        Value::Number(n) if n.is_u64() || n.is_i64() => Some(n.to_string()),
        Value::String(s) if !s.is_empty() => Some(s.clone()),
        _ => None,
    }
}

/// Reais as iPag writes them (`529.19`, `100`, `"10.50"`) in cents, from the decimal text, so
/// no binary fraction creeps in; more than two decimals is not an amount.
pub fn cents(value: &Value) -> Option<i64> {
    let text = match value {
        Value::Number(n) => n.to_string(),
        Value::String(s) => s.trim().to_owned(),
        _ => return None,
    };
    let (negative, digits) = match text.strip_prefix('-') {
        Some(rest) => (true, rest),
        None => (false, text.as_str()),
    };
    let (whole, fraction) = digits.split_once('.').unwrap_or((digits, ""));
    if whole.is_empty()
        || fraction.len() > 2
        || !whole.bytes().all(|b| b.is_ascii_digit())
        || !fraction.bytes().all(|b| b.is_ascii_digit())
    {
        return None;
    }
    let whole: i64 = whole.parse().ok()?;
    let fraction: i64 = match fraction.len() {
        0 => 0,
        1 => fraction.parse::<i64>().ok()? * 10,
        _ => fraction.parse().ok()?,
    };
    let total = whole.checked_mul(100)?.checked_add(fraction)?;
    Some(if negative { -total } else { total })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn amounts_are_read_as_cents_from_their_decimal_text() {
        for (json, want) in [
            ("529.19", Some(52919)),
            ("100", Some(10000)),
            ("150.5", Some(15050)),
            ("0.07", Some(7)),
            ("\"10.50\"", Some(1050)),
            ("1.005", None),
            ("\"abc\"", None),
            ("null", None),
        ] {
            let value: Value = serde_json::from_str(json).expect("json");
            assert_eq!(cents(&value), want, "{json}");
        }
    }

    #[test]
    fn the_view_of_a_captured_transaction_leaves_the_customer_out() {
        let envelope: Envelope = serde_json::from_value(serde_json::json!({
            "schema_version": 2, "provider": "ipag", "event": "SubscriptionPaymentSucceeded",
            "family": "subscriptions", "entity_type": "ipag-subscription", "entity_id": "1501",
            "entity_key": "ipag-subscription#1501", "dedup_key": "k", "sequence": 1,
            "received_at": "2026-11-20T13:00:00Z",
            "data": {"id": 3012170, "uuid": "u", "resource": "transactions", "attributes": {
                "order_id": "1012170", "amount": 100, "captured_amount": 100,
                "status": {"code": 8, "message": "CAPTURED"}, "method": "visa",
                "subscription": {"id": 1501}, "customer": {"name": "Fulano"}}}
        }))
        .expect("an envelope");
        let view = IpagView::of(&envelope).expect("iPag");
        assert_eq!(view.family, IpagFamily::Subscriptions);
        assert_eq!(view.id.as_deref(), Some("3012170"));
        assert_eq!(
            (view.status_code, view.amount_cents, view.captured_cents),
            (Some(8), Some(10000), Some(10000))
        );
        assert_eq!(view.subscription_id.as_deref(), Some("1501"));
        assert!(!format!("{view:?}").contains("Fulano"));
    }
}
