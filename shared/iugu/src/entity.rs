//! Which entity a notification is about: the key it is stored under and ordered by.
//!
//! | family | events | entity type | id taken from | when the id is absent |
//! |---|---|---|---|---|
//! | invoices | `invoice.*` | `invoice` | `data[id]` | refused (422) |
//! | subscriptions | `subscription.*` | `subscription` | `data[id]` | refused (422) |
//! | payment-methods | `customer_payment_method.*` | `customer_payment_method` | `data[customer_payment_method_id]` | refused (422) |
//! | transfers | `transfer_request.*` | `transfer_request` | `data[id]` | refused (422) |
//! | transfers | `transfer.debited` | `account` | `data[sender_account_id]` | refused (422) |
//! | transfers | `transfer.credited` | `account` | `data[receiver_account_id]` | refused (422) |
//! | transfers | other `transfer.*` | `account` | `data[account_id]` | refused (422) |
//! | transfers | `withdraw_request.*` | `withdraw_request` | `data[withdraw_request_id]` | refused (422) |
//! | deposits | `deposit.*` | `deposit` | `data[deposit_id]` | refused (422) |
//! | payment-requests | `payment_request.*` | `payment_request` | `data[payment_request_id]` | refused (422) |
//! | advancements | `advancement_request.*` | `account` | `data[account_id]` | `notification`, the de-duplication key |
//! | other | `automatic_pix.*` | `automatic_pix` | `data[resource_id]` | `notification`, the de-duplication key |
//! | other | `referrals.*` | `account` | `data[account_id]` | `notification`, the de-duplication key |
//! | other | any other prefix `p.*` | `p` | `data[id]` | `notification`, the de-duplication key |
//!
//! Three prefixes iugu documents beyond the reference's list:
//! - `withdraw_request.created` and `.status_changed` ("Saque — Mesmo Domicílio Bancário",
//!   https://dev.iugu.com/docs/saque) carry the withdrawal's id in `data[withdraw_request_id]`,
//!   with `data[account_id]` and `data[status]`. A withdrawal moves money out of the account
//!   as a transfer does: the transfers route takes it too.
//! - `automatic_pix.authorization_changed` and `.payment_changed` ("Pix Automático",
//!   https://dev.iugu.com/docs/pix-autom%C3%A1tico) carry `data[resource_id]`, the recurrence's
//!   id at the Central Bank (`RR...`), on the authorization's events and on each payment's: it
//!   orders a recurrence's authorization and payments together.
//! - `referrals.verification` (account verification, KYC:
//!   https://dev.iugu.com/reference/ref-lista-de-gatilhos-kyc.md) carries the verification's
//!   `data[id]` and the verified account's `data[account_id]`; `referrals.document_status_change`
//!   (https://dev.iugu.com/reference/criar-e-verificar-subconta.md) is documented without its
//!   fields. An account's verifications (rejected, then accepted) are ordered by the account,
//!   with its transfers.
//!
//! Transfers between accounts and advancements carry no id of their own; the account they
//! move money on is what orders them. `advancement_request.simulation_status` carries not even
//! that (see iugu's sample): it is a one-off answer, so it becomes its own entity, keyed by its
//! de-duplication key. It is still stored once and forwarded once; it just has no siblings to
//! be ordered against.
//!
//! An id must be printable ASCII without spaces, and `<entity type>#<id>` at most
//! [`MAX_ENTITY_KEY_BYTES`]: it becomes the DynamoDB partition key and the SQS message group.

use super::event::{EventName, Family};
use webhook_core::envelope::{EntityRef, MAX_ENTITY_KEY_BYTES};
use webhook_core::error::ParseError;
use webhook_core::fields::{Fields, Node};

/// Where an event's id comes from.
struct Rule<'e> {
    kind: &'e str,
    field: &'static str,
    /// `true`: no id means a refused body. `false`: the notification becomes its own entity.
    required: bool,
}

fn rule(event: &EventName) -> Rule<'_> {
    let strict = |kind, field| Rule {
        kind,
        field,
        required: true,
    };
    let lenient = |kind, field| Rule {
        kind,
        field,
        required: false,
    };
    let prefix = event.as_str().split_once('.').map(|(p, _)| p);
    match event {
        EventName::TransferDebited => strict("account", "sender_account_id"),
        EventName::TransferCredited => strict("account", "receiver_account_id"),
        _ if prefix == Some("withdraw_request") => {
            strict("withdraw_request", "withdraw_request_id")
        }
        _ if prefix == Some("automatic_pix") => lenient("automatic_pix", "resource_id"),
        _ if prefix == Some("referrals") => lenient("account", "account_id"),
        _ => match event.family() {
            Family::Invoices => strict("invoice", "id"),
            Family::Subscriptions => strict("subscription", "id"),
            Family::PaymentMethods => {
                strict("customer_payment_method", "customer_payment_method_id")
            }
            Family::Transfers if event.as_str().starts_with("transfer_request.") => {
                strict("transfer_request", "id")
            }
            Family::Transfers => strict("account", "account_id"),
            Family::Deposits => strict("deposit", "deposit_id"),
            Family::PaymentRequests => strict("payment_request", "payment_request_id"),
            Family::Advancements => Rule {
                kind: "account",
                field: "account_id",
                required: false,
            },
            Family::Other => Rule {
                kind: other_kind(event.as_str()),
                field: "id",
                required: false,
            },
        },
    }
}

/// The `pk` prefixes of the table's other kinds of item (`webhook_aws::table`): an event
/// named after one must not put its entity in their partitions (`dedup.x` would have made
/// `dedup#<id>`, beside the markers; the sweeper's role may not write there either).
const RESERVED_KINDS: [&str; 5] = ["dedup", "resend", "quarantine", "aside", "sweeper"];

/// The entity type of an event we know nothing of: its prefix when that is a plain word that
/// names no other kind of item.
fn other_kind(event: &str) -> &str {
    let prefix = event.split_once('.').map_or(event, |(p, _)| p);
    let plain = !prefix.is_empty()
        && !RESERVED_KINDS.contains(&prefix)
        && prefix
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_');
    if plain {
        prefix
    } else {
        "event"
    }
}

/// Finds the entity of a notification from its `data` fields. `dedup_key` names the
/// notification itself, for events that carry no id.
pub fn resolve(
    event: &EventName,
    data: Option<&Fields>,
    dedup_key: &str,
) -> Result<EntityRef, ParseError> {
    let rule = rule(event);
    match data.and_then(|d| d.get(rule.field)) {
        Some(Node::Text(id)) => {
            let why = if id.is_empty() {
                Some("it is blank")
            } else if rule.kind.len() + 1 + id.len() > MAX_ENTITY_KEY_BYTES {
                Some("it is too long to be a key (128 bytes with its type)")
            } else if !id.bytes().all(|b| b.is_ascii_graphic()) {
                Some("it has characters other than printable ASCII without spaces")
            } else {
                None
            };
            match why {
                None => Ok(EntityRef {
                    kind: rule.kind.to_owned(),
                    id: id.clone(),
                }),
                Some(why) => Err(ParseError::InvalidEntityId {
                    event: event.to_string(),
                    field: format!("data[{}]", rule.field),
                    why,
                }),
            }
        }
        Some(_) => Err(ParseError::InvalidEntityId {
            event: event.to_string(),
            field: format!("data[{}]", rule.field),
            why: "it is a group of fields, not a value",
        }),
        None if rule.required => Err(ParseError::MissingEntityId {
            event: event.to_string(),
            field: format!("data[{}]", rule.field),
        }),
        None => Ok(EntityRef {
            kind: "notification".to_owned(),
            id: dedup_key.to_owned(),
        }),
    }
}

#[cfg(test)]
mod tests {
    use time::macros::datetime;

    fn entity(body: &str) -> Result<String, String> {
        super::super::parse(body.as_bytes(), datetime!(2026-11-23 12:00 UTC))
            .map(|e| format!("{} {}", e.family, e.entity_key))
            .map_err(|e| format!("{} {e}", e.code()))
    }

    #[test]
    fn iugus_newer_events_are_keyed_by_their_own_ids() {
        assert_eq!(
            entity("event=withdraw_request.created&data[withdraw_request_id]=W1&data[account_id]=A&data[status]=pending"),
            Ok("transfers withdraw_request#W1".to_owned())
        );
        assert_eq!(
            entity("event=withdraw_request.status_changed&data[withdraw_request_id]=W1&data[status]=accepted"),
            Ok("transfers withdraw_request#W1".to_owned())
        );
        assert_eq!(
            entity("event=automatic_pix.payment_changed&data[resource_id]=RR123&data[status]=paid&data[end_to_end_id]=E1"),
            Ok("other automatic_pix#RR123".to_owned())
        );
        assert_eq!(
            entity("event=automatic_pix.authorization_changed&data[resource_id]=RR123&data[status]=active"),
            Ok("other automatic_pix#RR123".to_owned())
        );
        assert_eq!(
            entity("event=referrals.verification&data[id]=V1&data[account_id]=A9&data[status]=accepted"),
            Ok("other account#A9".to_owned())
        );
        // Issue 24: an event named after another kind of item keeps out of its partitions.
        for kind in ["dedup", "resend", "quarantine", "aside", "sweeper"] {
            assert_eq!(
                entity(&format!("event={kind}.x&data[id]=2026-11-23")),
                Ok("other event#2026-11-23".to_owned())
            );
        }
    }

    #[test]
    fn without_their_id_a_withdrawal_is_refused_and_the_others_stand_alone() {
        let err = entity("event=withdraw_request.created&data[account_id]=A")
            .expect_err("no withdrawal id");
        assert!(err.starts_with("missing_entity_id "), "{err}");
        assert!(err.contains("data[withdraw_request_id]"), "{err}");
        for body in [
            "event=automatic_pix.payment_changed&data[status]=paid",
            "event=referrals.document_status_change&data[reason]=x",
        ] {
            let got = entity(body).expect("stored, never refused");
            assert!(got.starts_with("other notification#"), "{got}");
        }
    }
}
