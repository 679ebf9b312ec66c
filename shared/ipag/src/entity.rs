//! Which entity an iPag notification is about: the key it is stored under and ordered by.
//!
//! iPag's webhook body is the v2 API resource: `{"id": <int>, "uuid": "<hex>", "resource":
//! "transactions", "attributes": {...}}` (documented for transactions only; see `super`).
//! Every key starts with `ipag-`, so no iPag key can meet an iugu key in the shared table.
//!
//! | family | events | entity type | id taken from (the first present) |
//! |---|---|---|---|
//! | transactions | `Transaction*` | `ipag-transaction` | `id`, `uuid` |
//! | subscriptions | `SubscriptionPayment*` | `ipag-subscription` | `attributes.subscription_id`, `attributes.subscription.id`; else `id`, `uuid` if `resource` is `subscriptions` or absent |
//! | payment-links | `PaymentLinkPayment*` | `ipag-payment-link` | `attributes.payment_link_id`, `attributes.payment_link.id`; else `id`, `attributes.uuid` if `resource` is `payment_links` or absent |
//! | charges | `ChargePayment*` | `ipag-charge` | `attributes.charge_id`, `attributes.charge.id`; else `id`, `uuid` if `resource` is `charges` or absent |
//! | transfers | `TransferPayment*` | `ipag-transfer` | `attributes.transfer_id`, `attributes.transfer.id`; else `id`, `uuid` if `resource` is `transfers` or absent |
//! | any of the four above | when `resource` names another resource | that resource's type (`transactions` → `ipag-transaction`) | `id`, `uuid` |
//! | other | any other name | `resource`'s type, else `ipag-resource` | `id`, `uuid`; neither: `ipag-notification#<dedup key>` |
//!
//! **Assumed, not documented:** iPag publishes no body for the payment-link, subscription,
//! charge and transfer events. A "payment" event most likely carries the resulting
//! transaction (`resource: "transactions"`), perhaps linking its parent; so the parent's id is
//! looked for first, then the body is taken as the parent itself if its `resource` says so.
//! When neither holds, the notification is keyed by the resource the body *is*
//! (`resource: "transactions"` → `ipag-transaction#<id>`, and so on), which still orders it with
//! that resource's other notifications. Only a body with no usable id at all is refused (422),
//! except for an unknown event, which then becomes its own entity (`ipag-notification#<dedup
//! key>`), as iugu's unknown events do: an unknown event is never refused.
//!
//! Ids: a JSON integer is written in decimal; a string must be printable ASCII without spaces;
//! `null` and `""` count as absent (iPag's PHP sends `""` for an empty field: `"seller_id": ""`
//! in its documented transaction). `<entity type>#<id>` is at most
//! [`MAX_ENTITY_KEY_BYTES`]: it is the SQS message group too.

use serde_json::{Map, Value};

use super::event::{IpagEvent, IpagFamily};
use webhook_core::envelope::{EntityRef, MAX_ENTITY_KEY_BYTES};
use webhook_core::error::ParseError;

/// A place an id may be: a path of object keys from the body's root.
type Path = &'static [&'static str];

const ID: Path = &["id"];
const UUID: Path = &["uuid"];

/// The entity type of each family, and of each `resource` value iPag uses.
fn kind_of_family(family: IpagFamily) -> &'static str {
    match family {
        IpagFamily::Transactions => "ipag-transaction",
        IpagFamily::PaymentLinks => "ipag-payment-link",
        IpagFamily::Subscriptions => "ipag-subscription",
        IpagFamily::Charges => "ipag-charge",
        IpagFamily::Transfers => "ipag-transfer",
        IpagFamily::Other => "ipag-resource",
    }
}

/// The family a body's `resource` names (`"transactions"`, `"payment_links"`...), if known.
fn family_of_resource(resource: &str) -> Option<IpagFamily> {
    match resource {
        "transactions" => Some(IpagFamily::Transactions),
        "payment_links" => Some(IpagFamily::PaymentLinks),
        "subscriptions" => Some(IpagFamily::Subscriptions),
        "charges" => Some(IpagFamily::Charges),
        "transfers" => Some(IpagFamily::Transfers),
        _ => None,
    }
}

/// Where the parent resource's id may sit in a body that is something else (a transaction).
fn parent_paths(family: IpagFamily) -> &'static [Path] {
    match family {
        IpagFamily::Subscriptions => &[
            &["attributes", "subscription_id"],
            &["attributes", "subscription", "id"],
        ],
        IpagFamily::PaymentLinks => &[
            &["attributes", "payment_link_id"],
            &["attributes", "payment_link", "id"],
        ],
        IpagFamily::Charges => &[
            &["attributes", "charge_id"],
            &["attributes", "charge", "id"],
        ],
        IpagFamily::Transfers => &[
            &["attributes", "transfer_id"],
            &["attributes", "transfer", "id"],
        ],
        IpagFamily::Transactions | IpagFamily::Other => &[],
    }
}

/// Where a resource's own id sits: `id`, then its unique id (top-level `uuid` on transactions,
/// `attributes.uuid` on payment links).
fn own_paths(family: IpagFamily) -> &'static [Path] {
    match family {
        IpagFamily::PaymentLinks => &[ID, &["attributes", "uuid"]],
        _ => &[ID, UUID],
    }
}

fn lookup(body: &Map<String, Value>, path: Path) -> Option<&Value> {
    let (first, rest) = path.split_first()?;
    rest.iter()
        .try_fold(body.get(*first)?, |value, key| value.as_object()?.get(*key))
}

/// `None` when absent (missing, `null` or `""`), else the id or why it is unusable.
fn id_at(
    body: &Map<String, Value>,
    path: Path,
    kind: &str,
) -> Option<Result<String, &'static str>> {
    let id = match lookup(body, path)? {
        Value::Null => return None,
        Value::String(s) if s.is_empty() => return None,
        Value::String(s) => s.clone(),
        Value::Number(n) if n.is_u64() || n.is_i64() => n.to_string(),
        Value::Number(_) => return Some(Err("it is a number but not an integer")),
        Value::Bool(_) | Value::Array(_) | Value::Object(_) => {
            return Some(Err("it is neither a string nor an integer"))
        }
    };
    Some(if kind.len() + 1 + id.len() > MAX_ENTITY_KEY_BYTES {
        Err("it is too long to be a key (128 bytes with its type)")
    } else if !id.bytes().all(|b| b.is_ascii_graphic()) {
        Err("it has characters other than printable ASCII without spaces")
    } else {
        Ok(id)
    })
}

/// The first usable id among `paths`, keyed as `kind`. A present but unusable id is an error,
/// not a reason to look further: the body says something we cannot key by.
fn first_id(
    event: &IpagEvent,
    body: &Map<String, Value>,
    kind: &'static str,
    paths: &[Path],
) -> Result<Option<EntityRef>, ParseError> {
    for path in paths {
        match id_at(body, path, kind) {
            None => continue,
            Some(Ok(id)) => {
                return Ok(Some(EntityRef {
                    kind: kind.to_owned(),
                    id,
                }))
            }
            Some(Err(why)) => {
                return Err(ParseError::InvalidEntityId {
                    event: event.to_string(),
                    field: path.join("."),
                    why,
                })
            }
        }
    }
    Ok(None)
}

/// Finds the entity of an iPag notification (see the module documentation for the rules).
/// `dedup_key` names the notification itself, for an unknown event that carries no id.
pub fn resolve(
    event: &IpagEvent,
    body: &Map<String, Value>,
    dedup_key: &str,
) -> Result<EntityRef, ParseError> {
    let family = event.family();
    let resource = body.get("resource").and_then(Value::as_str);
    let body_family = resource.and_then(family_of_resource);
    // 1. The parent named inside the body (a transaction paid through a subscription, say).
    if let Some(entity) = first_id(event, body, kind_of_family(family), parent_paths(family))? {
        return Ok(entity);
    }
    // 2. The body as the event's own resource (a transaction event always is one), unless
    //    `resource` says the body is another resource: 3. then it is keyed as that one. An
    //    unknown event is keyed by the resource the body says it is.
    let kind_family = match (family, body_family) {
        (IpagFamily::Transactions, _) | (_, None) => family,
        (_, Some(said)) => said,
    };
    let kind = kind_of_family(kind_family);
    if let Some(entity) = first_id(event, body, kind, own_paths(kind_family))? {
        return Ok(entity);
    }
    if event.is_known() {
        let wanted = parent_paths(family)
            .iter()
            .chain(own_paths(family))
            .map(|p| p.join("."))
            .collect::<Vec<_>>()
            .join(" or ");
        return Err(ParseError::MissingEntityId {
            event: event.to_string(),
            field: wanted,
        });
    }
    Ok(EntityRef {
        kind: "ipag-notification".to_owned(),
        id: dedup_key.to_owned(),
    })
}
