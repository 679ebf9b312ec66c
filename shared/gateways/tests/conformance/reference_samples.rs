//! Every body sample in iugu's event reference (https://dev.iugu.com/docs/gatilhos-fatura and its sibling pages),
//! copied to `fixtures/iugu/`:
//! - `raw/`: each RAW BODY exactly as the reference prints it. The reference wraps long bodies
//!   after `&` for layout; the copies join those lines (a real body has no line breaks).
//! - `repaired/`: the raw samples the reference broke, mended as iugu really sends them.
//! - `constructed/`: events the reference documents only by table or `key: value` listing, and
//!   the events iugu documents beyond the reference, built from their pages' field tables
//!   (`withdraw_request.*`: https://dev.iugu.com/docs/saque; `automatic_pix.*`:
//!   https://dev.iugu.com/docs/pix-autom%C3%A1tico; `referrals.*`:
//!   https://dev.iugu.com/reference/ref-lista-de-gatilhos-kyc.md; ids and values invented).

use time::macros::datetime;
use time::OffsetDateTime;
use webhook_core::{Envelope, ErrorClass, Node, ParseError};
use webhook_iugu::typed::{
    BankSlipStatus, DepositStatus, InvoiceStatus, Lenient, PaymentMethod, TransferRequestStatus,
    TypedEvent,
};
use webhook_iugu::{EventName, Family, Typed};

const RECEIVED: OffsetDateTime = datetime!(2026-11-23 12:00:00 UTC);

fn body(dir: &str, name: &str) -> Vec<u8> {
    let path = format!(
        "{}/tests/fixtures/iugu/{dir}/{name}.body",
        env!("CARGO_MANIFEST_DIR")
    );
    std::fs::read(&path).unwrap_or_else(|e| panic!("{path}: {e}"))
}

fn parse(dir: &str, name: &str) -> Envelope {
    webhook_iugu::parse(&body(dir, name), RECEIVED).unwrap_or_else(|e| panic!("{dir}/{name}: {e}"))
}

fn refuse(dir: &str, name: &str) -> ParseError {
    match webhook_iugu::parse(&body(dir, name), RECEIVED) {
        Ok(env) => panic!("{dir}/{name} parsed, but must be refused: {env:?}"),
        Err(e) => e,
    }
}

fn data<'a>(env: &'a Envelope, name: &str) -> Option<&'a str> {
    env.data.get(name).and_then(Node::as_text)
}

/// What every good sample must show: its name, family, key, account and status.
fn check(
    env: &Envelope,
    event: &str,
    family: Family,
    key: &str,
    account: Option<&str>,
    status: Option<&str>,
) {
    assert_eq!(env.event.as_str(), event);
    assert!(
        EventName::from_name(env.event.as_str()).is_known(),
        "{event} must be a known event"
    );
    assert_eq!(env.family, family, "{event}");
    assert_eq!(env.entity_key, key, "{event}");
    assert_eq!(env.account_id.as_deref(), account, "{event}");
    assert_eq!(env.status.as_deref(), status, "{event}");
    assert_eq!(env.dedup_key.len(), 64, "{event}");
    assert!(env.extra.is_empty(), "{event}: {:?}", env.extra);
}

fn invoice(env: &Envelope) -> webhook_iugu::typed::InvoiceView<'_> {
    match env.typed() {
        TypedEvent::Invoice(v) => *v,
        other => panic!("expected an invoice view, got {other:?}"),
    }
}

const INVOICE: &str = "invoice#1757E1D7FD5E410A9C563024250015BF";
const ACCOUNT: &str = "70CA234077134ED0BF2E0E46B0EDC36F";
const SUBSCRIPTION: &str = "subscription#1757E1D7FD5E410A9C563024250015BF";

#[test]
fn invoice_created() {
    let env = parse("raw", "invoice.created");
    check(
        &env,
        "invoice.created",
        Family::Invoices,
        INVOICE,
        Some(ACCOUNT),
        Some("pending"),
    );
    let v = invoice(&env);
    assert_eq!(v.status, Some(InvoiceStatus::Pending));
    assert_eq!(v.subscription_id, Some("F4115E5E28AE4CCA941FCCCCCABE9A0A"));
}

#[test]
fn invoice_status_changed() {
    let env = parse("raw", "invoice.status_changed");
    check(
        &env,
        "invoice.status_changed",
        Family::Invoices,
        "invoice#84F982E1A10F4FF1B483B829F4762C2C",
        Some("E6495D15290D47D3950C2A723D07A24E"),
        Some("paid"),
    );
    let v = invoice(&env);
    assert_eq!(v.status, Some(InvoiceStatus::Paid));
    assert_eq!(v.payment_method, Some(PaymentMethod::Pix));
    // `%3A` in the body decodes to `:`, and the timestamp parses as RFC 3339.
    assert_eq!(
        v.paid_at,
        Some(Lenient::Parsed(datetime!(2022-03-21 11:07:36.667 UTC)))
    );
    assert_eq!(data(&env, "payer_cpf_cnpj"), Some("66535209008"));
}

#[test]
fn invoice_bank_slip_status_uses_its_own_status_type() {
    // The reference prints this body without its "RAW BODY" heading; it is one all the same.
    let env = parse("raw", "invoice.bank_slip_status");
    check(
        &env,
        "invoice.bank_slip_status",
        Family::Invoices,
        INVOICE,
        Some(ACCOUNT),
        Some("processing"),
    );
    let v = invoice(&env);
    assert_eq!(v.bank_slip_status, Some(BankSlipStatus::Processing));
    assert_eq!(v.status, None, "a slip's state is not an invoice status");
}

#[test]
fn invoice_refund() {
    let env = parse("raw", "invoice.refund");
    check(
        &env,
        "invoice.refund",
        Family::Invoices,
        INVOICE,
        Some(ACCOUNT),
        Some("refunded"),
    );
    assert_eq!(invoice(&env).status, Some(InvoiceStatus::Refunded));
}

#[test]
fn invoice_payment_failed() {
    let env = parse("raw", "invoice.payment_failed");
    check(
        &env,
        "invoice.payment_failed",
        Family::Invoices,
        INVOICE,
        Some(ACCOUNT),
        Some("pending"),
    );
    assert_eq!(invoice(&env).lr, Some("51"));
}

#[test]
fn invoice_due() {
    let env = parse("raw", "invoice.due");
    check(
        &env,
        "invoice.due",
        Family::Invoices,
        INVOICE,
        Some(ACCOUNT),
        Some("pending"),
    );
}

#[test]
fn invoice_dunning_action() {
    let env = parse("raw", "invoice.dunning_action");
    check(
        &env,
        "invoice.dunning_action",
        Family::Invoices,
        INVOICE,
        Some(ACCOUNT),
        Some("pending"),
    );
    assert_eq!(invoice(&env).action, Some("charge"));
}

#[test]
fn invoice_installment_released() {
    let env = parse("raw", "invoice.installment_released");
    check(
        &env,
        "invoice.installment_released",
        Family::Invoices,
        INVOICE,
        Some(ACCOUNT),
        Some("paid"),
    );
    let v = invoice(&env);
    assert_eq!(v.installment, Some(Lenient::Parsed(1)));
    assert_eq!(v.number_of_installments, Some(Lenient::Parsed(12)));
    // `amount` is decimal reais, not cents: it stays in `data` as sent.
    assert_eq!(data(&env, "amount"), Some("10.00"));
}

#[test]
fn invoice_released() {
    let env = parse("raw", "invoice.released");
    check(
        &env,
        "invoice.released",
        Family::Invoices,
        INVOICE,
        Some(ACCOUNT),
        Some("paid"),
    );
    assert_eq!(invoice(&env).payment_method, Some(PaymentMethod::BankSlip));
}

#[test]
fn invoice_split_status_changed_keeps_a_valueless_key_and_drops_retry_count() {
    let env = parse("raw", "invoice.split_status_changed");
    check(
        &env,
        "invoice.split_status_changed",
        Family::Invoices,
        "invoice#713D1234567C45BD8F6114305E88365F",
        Some("C95D9BC7C34556B88DDF16990E9E3D51"),
        Some("paid"),
    );
    // `data%5Basync_charged%5D` has no `=`: the field is there, empty.
    assert_eq!(data(&env, "async_charged"), Some(""));
    // `+` is a space.
    assert_eq!(data(&env, "payer_name"), Some("Maria Silva"));
    let v = invoice(&env);
    assert_eq!(v.paid_cents, Some(Lenient::Parsed(300)));
    assert_eq!(v.amount_cents, Some(Lenient::Parsed(30)));
    // An empty boolean does not parse: kept raw, never a rejection.
    assert_eq!(v.async_charged, Some(Lenient::Raw("")));
    // `retry_count` is a delivery counter: not data, not in the envelope.
    assert!(!env.data.contains_key("retry_count"));
}

#[test]
fn invoice_split_released_constructed_from_the_listing() {
    let env = parse("constructed", "invoice.split_released");
    check(
        &env,
        "invoice.split_released",
        Family::Invoices,
        "invoice#8166A5675D8F42DCBDE72E7DF7EE16D5",
        Some("27016E1AD888499A98994E781B6C3762"),
        Some("paid"),
    );
    let v = invoice(&env);
    assert_eq!(v.total_cents, Some(Lenient::Parsed(400)));
    assert_eq!(
        v.occurrence_date,
        Some(Lenient::Parsed(time::macros::date!(2024 - 08 - 20)))
    );
    assert_eq!(data(&env, "discount_cents"), Some(""));
}

#[test]
fn subscription_suspended_and_activated() {
    for name in ["subscription.suspended", "subscription.activated"] {
        let env = parse("raw", name);
        check(
            &env,
            name,
            Family::Subscriptions,
            SUBSCRIPTION,
            Some(ACCOUNT),
            None,
        );
    }
}

/// The reference's subscription.expired/created/renewed/changed bodies went through an e-mail
/// obfuscator: `data%5Bcustomer_email%[email protected]` has lost its `%5D=`, so the name
/// opens a second `[` inside the first. We refuse it (400, naming the field) rather than guess
/// what the name was; the repaired body (`data%5Bcustomer_email%5D=john.doe%40example.com`)
/// is what iugu sends, and parses.
#[test]
fn subscription_samples_with_the_obfuscated_email_are_refused_and_their_repairs_parse() {
    for name in [
        "subscription.expired",
        "subscription.created",
        "subscription.renewed",
        "subscription.changed",
    ] {
        let err = refuse("raw", name);
        // The page's e-mail obfuscation left `data[customer_email%[email protected]]`: its `%[`
        // is no percent escape, so the body is refused before the key's brackets are read.
        assert!(
            matches!(&err, ParseError::InvalidPercentEscape { .. }),
            "{name}: {err:?}"
        );
        assert_eq!(err.class(), ErrorClass::Malformed);

        let env = parse("repaired", name);
        assert_eq!(env.entity_key, SUBSCRIPTION, "{name}");
        assert_eq!(data(&env, "customer_email"), Some("john.doe@example.com"));
        // `%20` is a space too.
        assert_eq!(data(&env, "customer_name"), Some("John Doe"));
    }
    let changed = parse("repaired", "subscription.changed");
    match changed.typed() {
        TypedEvent::Subscription(v) => {
            assert_eq!(v.plan_identifier, Some("basic_plan"));
            assert_eq!(
                v.expires_at,
                Some(Lenient::Parsed(time::macros::date!(2017 - 06 - 15)))
            );
        }
        other => panic!("{other:?}"),
    }
}

/// The reference's "Assinatura Criada" section prints a body that says
/// `event=subscription.expired`. The body is what iugu sends, so the body wins: we store it as
/// subscription.expired, and the two are the same notification (same de-duplication key).
#[test]
fn subscription_created_sample_is_really_an_expired_event() {
    let env = parse("repaired", "subscription.created");
    assert_eq!(env.event, EventName::SubscriptionExpired);
    let expired = parse("repaired", "subscription.expired");
    // The expired sample also sends `expires_at`, so it is a different notification.
    assert_ne!(env.dedup_key, expired.dedup_key);
    assert!(!env.data.contains_key("expires_at"));
}

/// The payment-method sample writes `%5` where it means `%5B`: `%5c` then decodes to `\`, so
/// the first name is `data\ustomer_payment_method_id]`, a `]` with no `[`. Refused (400).
#[test]
fn customer_payment_method_new_raw_is_refused_and_its_repair_parses() {
    let err = refuse("raw", "customer_payment_method.new");
    assert_eq!(
        err,
        ParseError::MalformedKey {
            key: "data\\ustomer_payment_method_id]".into(),
            why: "a ']' without its '['"
        }
    );
    let env = parse("repaired", "customer_payment_method.new");
    check(
        &env,
        "customer_payment_method.new",
        Family::PaymentMethods,
        "customer_payment_method#70CA234077134ED0BF2E0E46B0EDC36F",
        None,
        None,
    );
    let card = env
        .data
        .get("credit_card")
        .and_then(Node::as_map)
        .expect("credit_card group");
    assert_eq!(
        card.get("token").and_then(Node::as_text),
        Some("ad40638d-7060-4daa-b660-16a11387748a")
    );
    assert_eq!(card.get("holder").and_then(Node::as_text), Some("John Doe"));
    match env.typed() {
        TypedEvent::PaymentMethod(v) => {
            assert_eq!(v.customer_id, Some("D667CDDA99054178952E8AD74E31141D"));
            assert_eq!(v.card_year, Some(Lenient::Parsed(2028)));
            assert_eq!(v.card_brand, Some("Master"));
        }
        other => panic!("{other:?}"),
    }
}

/// `data%deposit_id%5D`: `%de` is a valid escape for the byte 0xDE, which alone is not UTF-8.
/// Refused (400) rather than decoded lossily; the repair (`data%5Bdeposit_id%5D`) parses.
#[test]
fn deposit_accepted_and_rejected_raw_are_refused_and_their_repairs_parse() {
    for (name, status) in [
        ("deposit.accepted", "accepted"),
        ("deposit.rejected", "rejected"),
    ] {
        let err = refuse("raw", name);
        assert!(
            matches!(err, ParseError::InvalidUtf8 { .. }),
            "{name}: {err:?}"
        );
        let env = parse("repaired", name);
        check(
            &env,
            name,
            Family::Deposits,
            "deposit#56CBD1D7FD5E410A9C563024252043CE",
            Some(ACCOUNT),
            Some(status),
        );
    }
}

#[test]
fn deposit_pix_status_changed_constructed_with_utf8_text() {
    let env = parse("constructed", "deposit.pix_status_changed");
    check(
        &env,
        "deposit.pix_status_changed",
        Family::Deposits,
        "deposit#2BF8A5636B2F47317864C9B3D4E629B6",
        Some("E6495D15290D47D3950C2A723D07A24E"),
        Some("pending"),
    );
    // `Doa%C3%A7%C3%A3o`
    assert_eq!(data(&env, "description"), Some("Doação"));
    match env.typed() {
        TypedEvent::Deposit(v) => {
            assert_eq!(v.status, Some(DepositStatus::Pending));
            assert_eq!(v.amount_cents, Some(Lenient::Parsed(10_000)));
            assert_eq!(
                v.transfered_at,
                Some(Lenient::Parsed(datetime!(2024-02-22 20:19:37.152 UTC)))
            );
        }
        other => panic!("{other:?}"),
    }
}

#[test]
fn transfers_between_accounts_are_keyed_by_the_account_they_move_money_on() {
    let debited = parse("constructed", "transfer.debited");
    check(
        &debited,
        "transfer.debited",
        Family::Transfers,
        "account#27016E1AD888499A98994E781B6C3762",
        None,
        None,
    );
    let credited = parse("constructed", "transfer.credited");
    check(
        &credited,
        "transfer.credited",
        Family::Transfers,
        "account#5D1A0C1E2B3F4A5B8C9D0E1F2A3B4C5D",
        None,
        None,
    );
    match credited.typed() {
        TypedEvent::Transfer(v) => assert_eq!(v.amount_cents, Some(Lenient::Parsed(10_000))),
        other => panic!("{other:?}"),
    }
}

#[test]
fn transfer_request_status_changed() {
    let env = parse("raw", "transfer_request.status_changed");
    check(
        &env,
        "transfer_request.status_changed",
        Family::Transfers,
        "transfer_request#A480797C10D84053A480D7C37C6F3521",
        Some("E6495D15290D47D3950C2A723D07A24E"),
        Some("done"),
    );
    match env.typed() {
        TypedEvent::TransferRequest(v) => assert_eq!(v.status, Some(TransferRequestStatus::Done)),
        other => panic!("{other:?}"),
    }
}

/// The simulation sample carries no id and no account: it becomes its own entity, keyed by
/// its de-duplication key (stored once, forwarded once, no siblings to order against).
#[test]
fn advancement_simulation_has_no_id_and_is_keyed_by_itself() {
    let env = parse("raw", "advancement_request.simulation_status");
    assert_eq!(env.family, Family::Advancements);
    assert_eq!(env.entity_type, "notification");
    assert_eq!(env.entity_id, env.dedup_key);
    assert_eq!(env.status.as_deref(), Some("done"));
    match env.typed() {
        TypedEvent::Advancement(v) => {
            assert_eq!(v.reached_amount_cents, Some(Lenient::Parsed(14_587)));
            assert_eq!(v.average_days, Some(Lenient::Parsed(3)));
        }
        other => panic!("{other:?}"),
    }
}

#[test]
fn advancement_status_is_keyed_by_its_account() {
    let env = parse("constructed", "advancement_request.advancement_status");
    check(
        &env,
        "advancement_request.advancement_status",
        Family::Advancements,
        "account#E6495D15290D47D3950C2A723D07A24E",
        Some("E6495D15290D47D3950C2A723D07A24E"),
        Some("done"),
    );
}

#[test]
fn payment_request_status_changed() {
    let env = parse("constructed", "payment_request.status_changed");
    check(
        &env,
        "payment_request.status_changed",
        Family::PaymentRequests,
        "payment_request#A123B4C5D6E7F8G9H1I2J3K4L5M6N7O",
        Some("A123B4C5D6789E2F5G6H7I8J9K8L9M8N8O8"),
        Some("done"),
    );
    match env.typed() {
        TypedEvent::PaymentRequest(v) => {
            assert_eq!(v.amount_cents, Some(Lenient::Parsed(156_250)));
            assert_eq!(
                v.done_at,
                Some(Lenient::Parsed(datetime!(2024-10-07 19:46:12.397 UTC)))
            );
        }
        other => panic!("{other:?}"),
    }
}

/// Every known event has a sample, so no event of the reference goes untested.
#[test]
fn every_known_event_has_a_good_sample() {
    let mut covered = std::collections::BTreeSet::new();
    for dir in ["raw", "repaired", "constructed"] {
        let path = format!("{}/tests/fixtures/iugu/{dir}", env!("CARGO_MANIFEST_DIR"));
        for entry in std::fs::read_dir(&path).expect("fixture dir") {
            let file = entry.expect("entry").path();
            let bytes = std::fs::read(&file).expect("read");
            if let Ok(env) = webhook_iugu::parse(&bytes, RECEIVED) {
                covered.insert(env.event.as_str().to_owned());
            }
        }
    }
    // subscription.created is the one exception: its only sample says subscription.expired
    // (see `subscription_created_sample_is_really_an_expired_event`).
    let missing: Vec<_> = EventName::KNOWN
        .iter()
        .filter(|e| !covered.contains(**e) && **e != "subscription.created")
        .collect();
    assert!(missing.is_empty(), "no good sample for {missing:?}");
}
