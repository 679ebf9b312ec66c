//! A stored notification rebuilt into the envelope its first forward sent (`webhook_core::stored`,
//! with both gateways' parsers).

use time::macros::datetime;
use time::OffsetDateTime;
use webhook_core::stored::StoredNotification;
use webhook_core::{Envelope, RepeatOf};

use webhook_gateways::ALL;

const PAID: &str = "event=invoice.status_changed&data%5Bid%5D=84F982E1A10F4FF1B483B829F4762C2C&data%5Bstatus%5D=paid";
const AT: OffsetDateTime = datetime!(2026-11-20 10:00:26.398562 UTC);

fn stored(body: &str, provider: &str, event: &str) -> (Envelope, StoredNotification) {
    let mut original = match provider {
        "ipag" => webhook_ipag::parse(body.as_bytes(), Some(event), AT),
        _ => webhook_iugu::parse(body.as_bytes(), AT),
    }
    .expect("parses");
    original.sequence = Some(3);
    original.repeat_of = Some(RepeatOf {
        sequence: Some(1),
        received_at: datetime!(2026-11-19 10:00 UTC),
        reason: Some(webhook_core::RepeatReason::AfterOther),
    });
    let stored = StoredNotification {
        provider: provider.to_owned(),
        event: event.to_owned(),
        family: original.family.to_string(),
        raw_body: body.to_owned(),
        received_at: AT,
        dedup_key: original.dedup_key.clone(),
        entity_key: original.entity_key.clone(),
        sequence: original.sequence,
        repeat_of: original.repeat_of,
        expires_at: None,
        aside: None,
    };
    (original, stored)
}

#[test]
fn the_envelope_is_rebuilt_exactly() {
    let (original, stored) = stored(PAID, "iugu", "invoice.status_changed");
    let rebuilt = stored.envelope(&ALL).expect("rebuilt");
    assert_eq!(rebuilt, original);
    assert_eq!(
        serde_json::to_string(&rebuilt).expect("json"),
        serde_json::to_string(&original).expect("json")
    );
    assert_eq!(
        rebuilt.message_deduplication_id(),
        format!("{}-3", original.dedup_key)
    );
}

/// iPag's event name comes from a header: the stored `event` carries it back.
#[test]
fn an_ipag_envelope_is_rebuilt_from_its_body_and_event() {
    let body = r#"{"id":3012161,"uuid":"178dea199ac2071615afc44551baf794","resource":"transactions","attributes":{"status":{"code":8,"message":"CAPTURED"}}}"#;
    let (original, mut stored) = stored(body, "ipag", "TransactionCaptured");
    assert_eq!(stored.entity_key, "ipag-transaction#3012161");
    assert_eq!(stored.envelope(&ALL).expect("rebuilt"), original);
    // Another event name is another notification (another key): refused, not resent.
    stored.event = "TransactionDenied".to_owned();
    let err = stored.envelope(&ALL).expect_err("other key");
    assert!(err.contains("another key"), "{err}");
}

#[test]
fn an_unknown_provider_or_a_changed_key_is_refused() {
    let (_, mut s) = stored(PAID, "iugu", "invoice.status_changed");
    s.provider = "stripe".to_owned();
    assert_eq!(
        s.envelope(&ALL).expect_err("unknown"),
        "unknown provider `stripe`"
    );
    let (_, mut s) = stored(PAID, "iugu", "invoice.status_changed");
    s.dedup_key = "0".repeat(64);
    assert!(s
        .envelope(&ALL)
        .expect_err("other key")
        .contains("another key"));
    let (_, mut s) = stored(PAID, "iugu", "invoice.status_changed");
    s.raw_body = "event=".to_owned();
    assert!(s
        .envelope(&ALL)
        .expect_err("no longer parses")
        .starts_with("its raw body no longer parses"));
}
