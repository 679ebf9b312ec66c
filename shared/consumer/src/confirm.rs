//! The doubt resolved: which notifications are confirmed with the gateway's API before they are
//! booked, what is asked, and whether the answer agrees.
//!
//! Confirmed: a message whose `repeat_of.reason` says it may be a copy (`possible_retry`,
//! `resend_unmatched`, `after_window`), and every money-moving event (iugu: an invoice event
//! that says `paid`, `partially_paid`, `refunded`, `chargeback`, `in_protest` or
//! `externally_paid`, and `invoice.refund`; iPag: a transaction captured, cancelled (refunded)
//! or charged back, and a subscription's, charge's or payment link's payment that succeeded).
//! What is asked (docs/consumers.md has the sources):
//!
//! | entity | call |
//! |---|---|
//! | iugu invoice | `GET https://api.iugu.com/v1/invoices/{id}` |
//! | iugu subscription | `GET https://api.iugu.com/v1/subscriptions/{id}` |
//! | iPag transaction | `GET https://api.ipag.com.br/service/resources/transactions?id={id}` |
//!
//! The API's answer is the resource's state *now*, which may be later than the notification:
//! a "paid" is confirmed by an invoice that is paid, refunded, in protest or charged back (each
//! implies it was paid), and contradicted by one that is pending, canceled or expired. What the
//! answer means for the message ([`crate::consumer`]): it agrees, the message is booked; it
//! disagrees and the message may be a copy (its `repeat_of.reason` says so), it is a copy of
//! an earlier state, not booked; it disagrees otherwise (a "paid" the API calls pending), it
//! is contradicted: not booked, kept aside with both versions, counted and alarmed. An API that
//! cannot be asked fails the message (it is retried): nothing is booked unconfirmed.

use std::collections::BTreeSet;
use std::future::Future;

use serde::Serialize;
use serde_json::Value;
use webhook_core::{Envelope, RepeatReason};

/// What to ask the gateway's API.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize)]
#[serde(tag = "resource", content = "id", rename_all = "snake_case")]
pub enum Lookup {
    IuguInvoice(String),
    IuguSubscription(String),
    IpagTransaction(String),
}

impl Lookup {
    pub fn resource(&self) -> &'static str {
        match self {
            Lookup::IuguInvoice(_) => "iugu invoice",
            Lookup::IuguSubscription(_) => "iugu subscription",
            Lookup::IpagTransaction(_) => "iPag transaction",
        }
    }
}

/// What the API said: only the fields compared (never a person's data).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(tag = "resource", rename_all = "snake_case")]
pub enum Snapshot {
    /// The API has no such resource.
    Missing,
    IuguInvoice {
        status: String,
        #[serde(skip_serializing_if = "Option::is_none")]
        paid_cents: Option<i64>,
        #[serde(skip_serializing_if = "Option::is_none")]
        total_cents: Option<i64>,
    },
    IuguSubscription {
        #[serde(skip_serializing_if = "Option::is_none")]
        active: Option<bool>,
        #[serde(skip_serializing_if = "Option::is_none")]
        suspended: Option<bool>,
        #[serde(skip_serializing_if = "Option::is_none")]
        expires_at: Option<String>,
    },
    IpagTransaction {
        #[serde(skip_serializing_if = "Option::is_none")]
        status_code: Option<u32>,
        #[serde(skip_serializing_if = "Option::is_none")]
        captured_cents: Option<i64>,
    },
}

impl Snapshot {
    /// The state, in a word, for the ledger row (`paid`, `suspended`, `8`, `missing`).
    pub fn status(&self) -> String {
        match self {
            Snapshot::Missing => "missing".to_owned(),
            Snapshot::IuguInvoice { status, .. } => status.clone(),
            Snapshot::IuguSubscription {
                active, suspended, ..
            } => match (active, suspended) {
                (_, Some(true)) => "suspended".to_owned(),
                (Some(false), _) => "inactive".to_owned(),
                (Some(true), _) => "active".to_owned(),
                _ => "unknown".to_owned(),
            },
            Snapshot::IpagTransaction { status_code, .. } => {
                status_code.map_or_else(|| "unknown".to_owned(), |c| c.to_string())
            }
        }
    }
}

/// Why the API could not answer. Each fails the message: it is retried, and nothing is booked
/// unconfirmed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ApiError {
    /// Down, timed out, 5xx, or still rate-limiting after the retries the time allows.
    #[error("the {0} API is unavailable: {1}")]
    Unavailable(&'static str, String),
    /// It refused our credentials (401, 403) or answered something we cannot read.
    #[error("the {0} API refused the request: {1}")]
    Refused(&'static str, String),
    /// The merchant's secret has no credentials for this gateway.
    #[error("no API credentials for {0} in the consumer's secret")]
    NoCredentials(&'static str),
}

/// The gateways' APIs. `webhook_consumer::api` asks them over HTTPS (with backoff on 429 and
/// 5xx); [`crate::memory::FixedApi`] answers from a table.
pub trait GatewayApi {
    fn lookup(&self, lookup: &Lookup) -> impl Future<Output = Result<Snapshot, ApiError>>;
}

/// Which events are confirmed (configuration: `CONFIRMATION`, `CONFIRMATION_OFF_FOR`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Policy {
    /// Confirmation at all (`CONFIRMATION=off` turns it off everywhere).
    pub enabled: bool,
    /// Events never confirmed (`CONFIRMATION_OFF_FOR=invoice.refund,TransactionCanceled`).
    pub off_for: BTreeSet<String>,
}

impl Default for Policy {
    fn default() -> Self {
        Policy {
            enabled: true,
            off_for: BTreeSet::new(),
        }
    }
}

impl Policy {
    /// From `CONFIRMATION` (`on`, the default, or `off`) and `CONFIRMATION_OFF_FOR` (event
    /// names, separated by commas).
    pub fn from_values(
        confirmation: Option<&str>,
        off_for: Option<&str>,
    ) -> Result<Policy, String> {
        let enabled = match confirmation.map(str::trim).unwrap_or("") {
            "" | "on" => true,
            "off" => false,
            other => return Err(format!("CONFIRMATION is `{other}`: `on` or `off`")),
        };
        let off_for = off_for
            .unwrap_or("")
            .split(',')
            .map(str::trim)
            .filter(|e| !e.is_empty())
            .map(str::to_owned)
            .collect();
        Ok(Policy { enabled, off_for })
    }
}

/// What the business code is told about the API.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(tag = "confirmation", content = "api", rename_all = "snake_case")]
pub enum Confirmation {
    /// Nothing to confirm: no doubt, no money moved.
    NotNeeded,
    /// It would be confirmed, but confirmation is off for this event (configuration).
    Off,
    /// It would be confirmed, but the kit knows no API call for its entity (a deposit, a
    /// transfer): booked as received; the business code decides.
    NotConfirmable,
    /// The API agrees with it.
    Confirmed(Snapshot),
    /// The API was asked and answered, with nothing to compare (a gap record: the entity's
    /// state now; an event with no rule): its answer.
    Fetched(Snapshot),
}

impl Confirmation {
    pub fn as_str(&self) -> &'static str {
        match self {
            Confirmation::NotNeeded => "not_needed",
            Confirmation::Off => "off",
            Confirmation::NotConfirmable => "not_confirmable",
            Confirmation::Confirmed(_) => "confirmed",
            Confirmation::Fetched(_) => "fetched",
        }
    }

    pub fn snapshot(&self) -> Option<&Snapshot> {
        match self {
            Confirmation::Confirmed(s) | Confirmation::Fetched(s) => Some(s),
            _ => None,
        }
    }
}

/// What to do about the API for one message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Need {
    /// Book it as it is, with this confirmation (`NotNeeded`, `Off`, `NotConfirmable`).
    Nothing(Confirmation),
    /// Ask the API; compare its answer with the notification unless `compare` is false (a gap
    /// record: the state is for the business code).
    Ask { lookup: Lookup, compare: bool },
}

/// The `repeat_of` reasons that say the message may be a copy.
pub fn may_be_a_copy(envelope: &Envelope) -> bool {
    matches!(
        envelope.repeat_of.and_then(|r| r.reason),
        Some(
            RepeatReason::PossibleRetry | RepeatReason::ResendUnmatched | RepeatReason::AfterWindow
        )
    )
}

/// iugu's invoice statuses that say money moved.
const IUGU_MONEY_STATUSES: [&str; 6] = [
    "paid",
    "partially_paid",
    "refunded",
    "chargeback",
    "in_protest",
    "externally_paid",
];

/// iPag's events that say money moved.
const IPAG_MONEY_EVENTS: [&str; 6] = [
    "TransactionCaptured",
    "TransactionCanceled",
    "TransactionChargedback",
    "SubscriptionPaymentSucceeded",
    "ChargePaymentSucceeded",
    "PaymentLinkPaymentSucceeded",
];

/// `invoice.bank_slip_status` uses `data[status]` for the slip's registration, not the invoice.
const IUGU_SLIP_EVENT: &str = "invoice.bank_slip_status";

/// Whether the notification says money moved.
pub fn moves_money(envelope: &Envelope) -> bool {
    if envelope.provider == webhook_iugu::PROVIDER {
        envelope.entity_type == "invoice"
            && envelope.event != IUGU_SLIP_EVENT
            && (envelope.event == "invoice.refund"
                || iugu_status(envelope).is_some_and(|s| IUGU_MONEY_STATUSES.contains(&s)))
    } else if envelope.provider == webhook_ipag::PROVIDER {
        IPAG_MONEY_EVENTS.contains(&envelope.event.as_str())
    } else {
        false
    }
}

fn iugu_status(envelope: &Envelope) -> Option<&str> {
    envelope
        .status
        .as_deref()
        .or_else(|| envelope.data.get("status").and_then(|n| n.as_text()))
}

/// The API call that tells this entity's state, if the kit knows one.
pub fn lookup_for(envelope: &Envelope) -> Option<Lookup> {
    if envelope.provider == webhook_iugu::PROVIDER {
        match envelope.entity_type.as_str() {
            "invoice" => Some(Lookup::IuguInvoice(envelope.entity_id.clone())),
            "subscription" => Some(Lookup::IuguSubscription(envelope.entity_id.clone())),
            _ => None,
        }
    } else if envelope.provider == webhook_ipag::PROVIDER {
        let body = envelope.data.as_json()?;
        let is_transaction = body.get("resource").and_then(Value::as_str) == Some("transactions")
            || envelope.entity_type == "ipag-transaction";
        if !is_transaction {
            return None;
        }
        match body.get("id")? {
            Value::Number(n) if n.is_u64() => Some(Lookup::IpagTransaction(n.to_string())),
            Value::String(s) if !s.is_empty() => Some(Lookup::IpagTransaction(s.clone())),
            _ => None,
        }
    } else {
        None
    }
}

/// What to do about the API for `envelope` under `policy`.
pub fn need(policy: &Policy, envelope: &Envelope) -> Need {
    let gap = envelope.gap.is_some();
    if !(gap || may_be_a_copy(envelope) || moves_money(envelope)) {
        return Need::Nothing(Confirmation::NotNeeded);
    }
    if !policy.enabled || policy.off_for.contains(envelope.event.as_str()) {
        return Need::Nothing(Confirmation::Off);
    }
    let lookup = if gap {
        // A gap record keeps the names and keys: an iugu entity can still be looked up; an
        // iPag transaction's id is in the body, which a gap record does not carry.
        (envelope.provider == webhook_iugu::PROVIDER)
            .then(|| lookup_for(envelope))
            .flatten()
    } else {
        lookup_for(envelope)
    };
    match lookup {
        Some(lookup) => Need::Ask {
            lookup,
            compare: !gap,
        },
        None if gap => Need::Nothing(Confirmation::NotNeeded),
        None => Need::Nothing(Confirmation::NotConfirmable),
    }
}

/// The API's answer against the notification.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Verdict {
    Agrees,
    /// The API's state cannot follow from what the notification says.
    Disagrees(String),
    /// No rule compares this event with this answer.
    Unjudged,
}

/// Whether `snapshot` (the API's state now) agrees with what `envelope` says happened.
pub fn judge(envelope: &Envelope, snapshot: &Snapshot) -> Verdict {
    match snapshot {
        Snapshot::Missing => Verdict::Disagrees("the API has no such resource".to_owned()),
        Snapshot::IuguInvoice { status, .. } => judge_invoice(envelope, status),
        Snapshot::IuguSubscription {
            active,
            suspended,
            expires_at,
        } => judge_subscription(envelope, *active, *suspended, expires_at.as_deref()),
        Snapshot::IpagTransaction {
            status_code,
            captured_cents,
        } => judge_transaction(envelope, *status_code, *captured_cents),
    }
}

/// iugu invoice statuses the API may show once the notified one happened
/// (https://dev.iugu.com/docs/faturas lists the statuses and the next ones each may take).
fn invoice_states_after(notified: &str) -> &'static [&'static str] {
    match notified {
        "paid" => &["paid", "refunded", "in_protest", "chargeback"],
        "partially_paid" => &["partially_paid", "paid", "refunded"],
        "refunded" => &["refunded"],
        "chargeback" => &["chargeback"],
        "in_protest" => &["in_protest", "chargeback", "paid"],
        "externally_paid" => &["externally_paid"],
        _ => &[],
    }
}

fn judge_invoice(envelope: &Envelope, api: &str) -> Verdict {
    if envelope.event == IUGU_SLIP_EVENT {
        return Verdict::Unjudged;
    }
    let notified = match (iugu_status(envelope), envelope.event.as_str()) {
        (Some(s), _) => s,
        (None, "invoice.refund") => "refunded",
        (None, _) => return Verdict::Unjudged,
    };
    let after = invoice_states_after(notified);
    let agrees = if after.is_empty() {
        api == notified
    } else {
        after.contains(&api)
    };
    if agrees {
        Verdict::Agrees
    } else {
        Verdict::Disagrees(format!(
            "the notification says `{notified}`, the API says the invoice is `{api}`"
        ))
    }
}

fn judge_subscription(
    envelope: &Envelope,
    active: Option<bool>,
    suspended: Option<bool>,
    expires_at: Option<&str>,
) -> Verdict {
    let disagree = |said: &str| {
        Verdict::Disagrees(format!(
            "the notification says `{}`, the API says the subscription is {said}",
            envelope.event
        ))
    };
    let state = match (active, suspended) {
        (_, Some(true)) => "suspended",
        (Some(false), _) => "inactive",
        (Some(true), _) => "active",
        _ => return Verdict::Unjudged,
    };
    match envelope.event.as_str() {
        "subscription.suspended" if suspended == Some(true) => Verdict::Agrees,
        "subscription.suspended" => disagree(state),
        "subscription.activated" if suspended == Some(false) && active != Some(false) => {
            Verdict::Agrees
        }
        "subscription.activated" => disagree(state),
        "subscription.renewed" => {
            let notified = envelope.data.get("expires_at").and_then(|n| n.as_text());
            match (notified, expires_at) {
                (Some(n), Some(api)) if n != api => Verdict::Disagrees(format!(
                    "the renewal says it expires on {n}, the API on {api}: a later renewal came since"
                )),
                _ if active == Some(false) => disagree(state),
                _ => Verdict::Agrees,
            }
        }
        _ => Verdict::Unjudged,
    }
}

/// iPag's status codes (1 created, 2 waiting payment, 3 canceled, 4 in analysis, 5 authorized,
/// 6 partially authorized, 7 denied, 8 captured, 9 charged back, 10 in dispute).
fn ipag_code_of(envelope: &Envelope) -> Option<u32> {
    let from_body = envelope
        .data
        .as_json()
        .and_then(|b| b.pointer("/attributes/status/code"))
        .and_then(Value::as_u64)
        .and_then(|c| u32::try_from(c).ok());
    from_body.or(match envelope.event.as_str() {
        "TransactionCaptured"
        | "SubscriptionPaymentSucceeded"
        | "ChargePaymentSucceeded"
        | "PaymentLinkPaymentSucceeded" => Some(8),
        "TransactionCanceled" => Some(3),
        "TransactionChargedback" => Some(9),
        "TransactionDisputed" => Some(10),
        _ => None,
    })
}

fn judge_transaction(envelope: &Envelope, api: Option<u32>, captured: Option<i64>) -> Verdict {
    let (Some(notified), Some(api)) = (ipag_code_of(envelope), api) else {
        return Verdict::Unjudged;
    };
    let agrees = match notified {
        // Captured: still captured, or disputed, charged back, or cancelled after the capture
        // (a refund keeps the captured amount).
        8 => matches!(api, 8..=10) || (api == 3 && captured.is_some_and(|c| c > 0)),
        10 => matches!(api, 8..=10),
        other => api == other,
    };
    if agrees {
        Verdict::Agrees
    } else {
        Verdict::Disagrees(format!(
            "the notification says status {notified}, the API says the transaction is {api}"
        ))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use webhook_core::RepeatOf;

    fn iugu(event: &str, entity_type: &str, status: Option<&str>) -> Envelope {
        let mut data = serde_json::json!({"id": "X1"});
        if let Some(s) = status {
            data["status"] = s.into();
        }
        serde_json::from_value(serde_json::json!({
            "schema_version": 2, "provider": "iugu", "event": event, "family": "f",
            "entity_type": entity_type, "entity_id": "X1",
            "entity_key": format!("{entity_type}#X1"), "status": status, "dedup_key": "k",
            "sequence": 1, "received_at": "2026-11-20T13:00:00Z", "data": data
        }))
        .expect("an envelope")
    }

    fn ipag(event: &str, code: u64) -> Envelope {
        serde_json::from_value(serde_json::json!({
            "schema_version": 2, "provider": "ipag", "event": event, "family": "transactions",
            "entity_type": "ipag-transaction", "entity_id": "3012161",
            "entity_key": "ipag-transaction#3012161", "dedup_key": "k", "sequence": 1,
            "received_at": "2026-11-20T13:00:00Z",
            "data": {"id": 3012161, "resource": "transactions",
                     "attributes": {"status": {"code": code, "message": "x"}, "amount": 10.5}}
        }))
        .expect("an envelope")
    }

    fn invoice_api(status: &str) -> Snapshot {
        Snapshot::IuguInvoice {
            status: status.to_owned(),
            paid_cents: None,
            total_cents: None,
        }
    }

    fn repeat(mut e: Envelope, reason: RepeatReason) -> Envelope {
        e.repeat_of = Some(RepeatOf {
            sequence: Some(1),
            received_at: e.received_at,
            reason: Some(reason),
        });
        e
    }

    #[test]
    fn money_and_doubt_are_asked_about_and_nothing_else() {
        let policy = Policy::default();
        let paid = iugu("invoice.status_changed", "invoice", Some("paid"));
        assert_eq!(
            need(&policy, &paid),
            Need::Ask {
                lookup: Lookup::IuguInvoice("X1".to_owned()),
                compare: true
            }
        );
        let created = iugu("invoice.created", "invoice", Some("pending"));
        assert_eq!(
            need(&policy, &created),
            Need::Nothing(Confirmation::NotNeeded)
        );
        let slip = iugu("invoice.bank_slip_status", "invoice", Some("paid"));
        assert_eq!(need(&policy, &slip), Need::Nothing(Confirmation::NotNeeded));
        let suspended = iugu("subscription.suspended", "subscription", None);
        assert_eq!(
            need(&policy, &suspended),
            Need::Nothing(Confirmation::NotNeeded)
        );
        for reason in [
            RepeatReason::PossibleRetry,
            RepeatReason::ResendUnmatched,
            RepeatReason::AfterWindow,
        ] {
            assert_eq!(
                need(&policy, &repeat(suspended.clone(), reason)),
                Need::Ask {
                    lookup: Lookup::IuguSubscription("X1".to_owned()),
                    compare: true
                },
                "{reason:?}"
            );
        }
        assert_eq!(
            need(&policy, &repeat(suspended, RepeatReason::AfterOther)),
            Need::Nothing(Confirmation::NotNeeded),
            "a new occurrence, and no money"
        );
        let deposit = repeat(
            iugu("deposit.accepted", "deposit", Some("accepted")),
            RepeatReason::PossibleRetry,
        );
        assert_eq!(
            need(&policy, &deposit),
            Need::Nothing(Confirmation::NotConfirmable)
        );
        assert_eq!(
            need(&policy, &ipag("TransactionCaptured", 8)),
            Need::Ask {
                lookup: Lookup::IpagTransaction("3012161".to_owned()),
                compare: true
            }
        );
        assert_eq!(
            need(&policy, &ipag("TransactionCreated", 1)),
            Need::Nothing(Confirmation::NotNeeded)
        );
    }

    #[test]
    fn confirmation_turns_off_per_event_or_everywhere() {
        let paid = iugu("invoice.status_changed", "invoice", Some("paid"));
        let off_for =
            Policy::from_values(None, Some(" invoice.status_changed , TransactionCanceled"))
                .expect("valid");
        assert_eq!(need(&off_for, &paid), Need::Nothing(Confirmation::Off));
        let off = Policy::from_values(Some("off"), None).expect("valid");
        assert_eq!(need(&off, &paid), Need::Nothing(Confirmation::Off));
        assert!(Policy::from_values(Some("maybe"), None).is_err());
    }

    #[test]
    fn an_invoice_state_agrees_when_it_can_follow_from_the_notified_one() {
        let paid = iugu("invoice.status_changed", "invoice", Some("paid"));
        for api in ["paid", "refunded", "in_protest", "chargeback"] {
            assert_eq!(judge(&paid, &invoice_api(api)), Verdict::Agrees, "{api}");
        }
        for api in ["pending", "canceled", "expired", "draft"] {
            assert!(
                matches!(judge(&paid, &invoice_api(api)), Verdict::Disagrees(_)),
                "{api}"
            );
        }
        let refund = iugu("invoice.refund", "invoice", None);
        assert_eq!(judge(&refund, &invoice_api("refunded")), Verdict::Agrees);
        assert!(matches!(
            judge(&refund, &invoice_api("paid")),
            Verdict::Disagrees(_)
        ));
        let failed = iugu("invoice.payment_failed", "invoice", Some("pending"));
        assert_eq!(judge(&failed, &invoice_api("pending")), Verdict::Agrees);
        assert!(matches!(
            judge(&failed, &invoice_api("paid")),
            Verdict::Disagrees(_)
        ));
        assert!(matches!(
            judge(&paid, &Snapshot::Missing),
            Verdict::Disagrees(_)
        ));
    }

    #[test]
    fn a_subscription_state_agrees_with_what_the_event_says() {
        let api = |active, suspended| Snapshot::IuguSubscription {
            active: Some(active),
            suspended: Some(suspended),
            expires_at: None,
        };
        let suspended = iugu("subscription.suspended", "subscription", None);
        assert_eq!(judge(&suspended, &api(true, true)), Verdict::Agrees);
        assert!(matches!(
            judge(&suspended, &api(true, false)),
            Verdict::Disagrees(_)
        ));
        let activated = iugu("subscription.activated", "subscription", None);
        assert_eq!(judge(&activated, &api(true, false)), Verdict::Agrees);
        let renewed = iugu("subscription.renewed", "subscription", None);
        assert_eq!(judge(&renewed, &api(true, false)), Verdict::Agrees);
        let changed = iugu("subscription.changed", "subscription", None);
        assert_eq!(judge(&changed, &api(true, false)), Verdict::Unjudged);
    }

    #[test]
    fn an_ipag_transaction_agrees_when_its_code_can_follow_from_the_notified_one() {
        let api = |code, captured| Snapshot::IpagTransaction {
            status_code: Some(code),
            captured_cents: Some(captured),
        };
        let captured = ipag("TransactionCaptured", 8);
        assert_eq!(judge(&captured, &api(8, 100)), Verdict::Agrees);
        assert_eq!(judge(&captured, &api(9, 100)), Verdict::Agrees);
        assert_eq!(
            judge(&captured, &api(3, 100)),
            Verdict::Agrees,
            "refunded after"
        );
        assert!(matches!(
            judge(&captured, &api(3, 0)),
            Verdict::Disagrees(_)
        ));
        assert!(matches!(
            judge(&captured, &api(5, 0)),
            Verdict::Disagrees(_)
        ));
        let canceled = ipag("TransactionCanceled", 3);
        assert_eq!(judge(&canceled, &api(3, 0)), Verdict::Agrees);
    }
}
