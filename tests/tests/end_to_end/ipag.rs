//! iPag through the real handler and a local DynamoDB + SQS (moto), as iugu is covered in
//! `pipeline.rs` and `hostile.rs`: every `events/ipag/` file stored once and forwarded once,
//! resends and real changes, unknown events, `PUT`, each refusal with nothing written, and the
//! optional signature. Logs: `ipag_logs.rs`.

use aws_sdk_sqs::types::MessageSystemAttributeName;
use lambda_http::{Request, RequestExt};
use pipeline_tests::{answer, event_file, text, through_runtime, Local, TOKEN};
use serde_json::{json, Value};
use webhook_core::Envelope;
use webhook_ipag::{Ipag, SignatureKey};
use webhook_iugu::Iugu;

const KEY: &str = "merchant-ipag-api-key";

/// A request as the HTTP API (payload 2.0) hands iPag's webhook to the function.
fn request(method: &str, body: &str, headers: &[(&str, &str)], token: Option<&str>) -> Request {
    let length = body.len().to_string();
    let mut all = vec![("content-length", length.as_str())];
    all.extend_from_slice(headers);
    through_runtime(&pipeline_tests::ipag_event(method, body, &all, token).to_string())
}

/// A JSON POST naming `event` in `X-Ipag-Event`, with the token.
fn ipag_post(body: &str, event: &str) -> Request {
    request(
        "POST",
        body,
        &[
            ("Content-Type", "application/json"),
            ("X-Ipag-Event", event),
        ],
        Some(TOKEN),
    )
}

async fn send(local: &Local, request: Request) -> (u16, Value) {
    answer(&local.app(Ipag::UNSIGNED).handle(request).await)
}

fn fixture_names() -> Vec<String> {
    let dir = pipeline_tests::workspace().join("events/ipag");
    let mut names: Vec<String> = std::fs::read_dir(&dir)
        .expect("events/ipag")
        .map(|e| e.expect("entry").file_name().to_string_lossy().into_owned())
        .filter(|n| n.ends_with(".json"))
        .collect();
    names.sort();
    names
}

/// Every sample in `events/ipag/` (one per iPag event), as API Gateway delivers it.
#[tokio::test]
async fn every_event_file_is_stored_once_and_forwarded_once() {
    let names = fixture_names();
    assert_eq!(names.len(), 16, "one event file per iPag event: {names:?}");
    for name in names {
        let local = Local::new().await;
        let file: Value = serde_json::from_str(
            &std::fs::read_to_string(pipeline_tests::workspace().join("events/ipag").join(&name))
                .expect("read"),
        )
        .expect("json");
        let raw = file["body"].as_str().expect("body");
        let event = file["headers"]["x-ipag-event"]
            .as_str()
            .expect("event header");
        assert_eq!(format!("{event}.json"), name);
        let expected = webhook_ipag::parse(
            raw.as_bytes(),
            Some(event),
            time::OffsetDateTime::UNIX_EPOCH,
        )
        .unwrap_or_else(|e| panic!("{name}: {e}"));
        assert!(expected.entity_key.starts_with("ipag-"), "{name}");

        let (status, body) = send(&local, event_file(&format!("ipag/{name}"))).await;
        assert_eq!(
            (status, body["status"].as_str()),
            (200, Some("stored")),
            "{name}: {body}"
        );
        assert_eq!(body["dedup_key"], expected.dedup_key.as_str());
        let events = local.events().await;
        assert_eq!(events.len(), 1, "{name}");
        let item = &events[0];
        assert_eq!(text(item, "pk"), expected.entity_key, "{name}");
        assert_eq!(text(item, "provider"), "ipag");
        assert_eq!(text(item, "event"), event);
        assert_eq!(text(item, "family"), expected.family.as_str());
        assert_eq!(text(item, "raw_body"), raw, "{name}");
        assert_eq!(text(item, "dedup_key"), expected.dedup_key);
        assert_eq!(text(item, "sk"), webhook_aws::table::event_sk(1), "{name}");
        assert_eq!(
            local.head(&expected.entity_key).await.forwarded_sequence,
            1,
            "{name}: marked forwarded"
        );
        // The body is stored once, as sent (`raw_body`), not again as `data`: the stored
        // notification rebuilds the envelope's data from it, exactly.
        assert!(
            !item.contains_key("data") && !item.contains_key("extra"),
            "{name}"
        );
        let rebuilt = webhook_aws::table::stored_notification(item)
            .expect("a stored notification")
            .envelope(&webhook_gateways::ALL)
            .expect("rebuilt");
        assert_eq!(rebuilt.data, expected.data, "{name}");
        let messages = local.drain().await;
        assert_eq!(messages.len(), 1, "{name}");
        let m = &messages[0];
        let system = m.attributes().expect("system attributes");
        assert_eq!(
            system
                .get(&MessageSystemAttributeName::MessageGroupId)
                .map(String::as_str),
            Some(expected.entity_key.as_str())
        );
        assert_eq!(
            system
                .get(&MessageSystemAttributeName::MessageDeduplicationId)
                .map(String::as_str),
            Some(format!("{}-1", expected.dedup_key).as_str())
        );
        let attrs = m.message_attributes().expect("attributes");
        assert_eq!(attrs["provider"].string_value(), Some("ipag"));
        assert_eq!(attrs["event"].string_value(), Some(event));
        let forwarded: Envelope =
            serde_json::from_str(m.body().unwrap_or_default()).expect("envelope");
        assert_eq!(forwarded.data, expected.data, "{name}");
        assert_eq!(forwarded.entity_key, expected.entity_key);
        let json: Value = serde_json::from_str(m.body().unwrap_or_default()).expect("json");
        assert_eq!(json["provider"], "ipag");
        assert_eq!(json["event"], event);

        // iPag's retry: a duplicate, nothing new stored or sent.
        let (status, body) = send(&local, event_file(&format!("ipag/{name}"))).await;
        assert_eq!(
            (status, body["status"].as_str()),
            (200, Some("duplicate")),
            "{name}"
        );
        assert_eq!(local.events().await.len(), 1, "{name}");
        assert!(local.drain().await.is_empty(), "{name}");
    }
}

/// The same JSON with keys in another order and other whitespace is a duplicate; a real
/// change is a new notification of the same entity (same FIFO group).
#[tokio::test]
async fn resends_are_duplicates_and_real_changes_are_not() {
    let local = Local::new().await;
    let sent = std::fs::read_to_string(
        pipeline_tests::workspace()
            .join("shared/gateways/tests/fixtures/ipag/TransactionCaptured.json"),
    )
    .expect("fixture");
    let (status, first) = send(&local, ipag_post(&sent, "TransactionCaptured")).await;
    assert_eq!((status, first["status"].as_str()), (200, Some("stored")));

    // Keys reversed at every level, pretty-printed, `/` no longer escaped.
    fn reversed(v: &Value, out: &mut String, depth: usize) {
        let pad = "  ".repeat(depth + 1);
        match v {
            Value::Object(map) => {
                out.push_str("{\n");
                let entries: Vec<_> = map.iter().rev().collect();
                for (i, (k, v)) in entries.iter().enumerate() {
                    out.push_str(&format!("{pad}{} :  ", Value::String((*k).clone())));
                    reversed(v, out, depth + 1);
                    out.push_str(if i + 1 < entries.len() { ",\n" } else { "\n" });
                }
                out.push('}');
            }
            Value::Array(items) => {
                out.push_str("[ ");
                for (i, item) in items.iter().enumerate() {
                    if i > 0 {
                        out.push_str(" ,\t");
                    }
                    reversed(item, out, depth + 1);
                }
                out.push_str(" ]");
            }
            leaf => out.push_str(&leaf.to_string()),
        }
    }
    let value: Value = serde_json::from_str(&sent).expect("json");
    let mut resent = String::new();
    reversed(&value, &mut resent, 0);
    assert_ne!(resent, sent);
    let (status, again) = send(&local, ipag_post(&resent, "TransactionCaptured")).await;
    assert_eq!((status, again["status"].as_str()), (200, Some("duplicate")));
    assert_eq!(again["dedup_key"], first["dedup_key"]);
    assert_eq!(local.events().await.len(), 1);
    assert_eq!(local.drain().await.len(), 1);

    // Chargeback of the same transaction: a new notification, same entity.
    let mut changed = value.clone();
    changed["attributes"]["status"] = json!({"code": 9, "message": "CHARGEDBACK"});
    let (status, third) = send(
        &local,
        ipag_post(&changed.to_string(), "TransactionChargedback"),
    )
    .await;
    assert_eq!((status, third["status"].as_str()), (200, Some("stored")));
    assert_ne!(third["dedup_key"], first["dedup_key"]);
    let events = local.events().await;
    assert_eq!(events.len(), 2);
    assert!(events
        .iter()
        .all(|e| text(e, "pk") == "ipag-transaction#3012161"));
    let messages = local.drain().await;
    assert_eq!(messages.len(), 1);
    assert_eq!(
        messages[0]
            .attributes()
            .and_then(|a| a.get(&MessageSystemAttributeName::MessageGroupId))
            .map(String::as_str),
        Some("ipag-transaction#3012161")
    );
}

/// An event iPag adds later is stored and forwarded, never refused; `PUT` (iPag's other
/// registrable method) and the body's `event` (no header) are accepted too.
#[tokio::test]
async fn unknown_events_put_and_the_body_event_are_accepted() {
    let local = Local::new().await;
    let body = r#"{"id": 991, "resource": "refunds", "attributes": {"amount": 10}}"#;
    let (status, answer_) = send(&local, ipag_post(body, "RefundSucceeded")).await;
    assert_eq!(
        (status, answer_["status"].as_str()),
        (200, Some("stored")),
        "{answer_}"
    );
    let put = request(
        "PUT",
        r#"{"id": 992, "uuid": "abc", "resource": "transactions"}"#,
        &[
            ("Content-Type", "application/json; charset=utf-8"),
            ("Ipag-Event", "TransactionCreated"),
        ],
        Some(TOKEN),
    );
    assert_eq!(send(&local, put).await.0, 200);
    let no_header = request(
        "POST",
        r#"{"event": "TransactionDenied", "id": 993}"#,
        &[("Content-Type", "application/json")],
        Some(TOKEN),
    );
    assert_eq!(send(&local, no_header).await.0, 200);
    let events = local.events().await;
    let mut seen: Vec<(String, String)> = events
        .iter()
        .map(|e| (text(e, "pk"), text(e, "event")))
        .collect();
    seen.sort();
    assert_eq!(
        seen,
        [
            ("ipag-resource#991".to_owned(), "RefundSucceeded".to_owned()),
            (
                "ipag-transaction#992".to_owned(),
                "TransactionCreated".to_owned()
            ),
            (
                "ipag-transaction#993".to_owned(),
                "TransactionDenied".to_owned()
            ),
        ]
    );
    assert_eq!(local.drain().await.len(), 3);
}

/// Each refusal, its status and code, and nothing stored or sent.
#[tokio::test]
async fn bad_input_is_refused_and_nothing_is_written() {
    let local = Local::new().await;
    let good = r#"{"id": 1, "resource": "transactions"}"#;
    let large = format!(
        r#"{{"id": 1, "pad": "{}"}}"#,
        "x".repeat(webhook_ipag::MAX_BODY_BYTES)
    );
    let json = [
        ("Content-Type", "application/json"),
        ("X-Ipag-Event", "TransactionCaptured"),
    ];
    let cases: Vec<(&str, Request, u16, &str)> = vec![
        (
            "not JSON",
            ipag_post("id=1&status=8", "TransactionCaptured"),
            400,
            "invalid_json",
        ),
        (
            "XML (iPag v1)",
            ipag_post(
                "<retorno><id_transacao>1</id_transacao></retorno>",
                "TransactionCaptured",
            ),
            400,
            "invalid_json",
        ),
        (
            "an array",
            ipag_post("[{\"id\": 1}]", "TransactionCaptured"),
            400,
            "not_an_object",
        ),
        (
            "a string",
            ipag_post("\"x\"", "TransactionCaptured"),
            400,
            "not_an_object",
        ),
        (
            "a key twice",
            ipag_post(r#"{"id": 1, "id": 2}"#, "TransactionCaptured"),
            400,
            "duplicate_key",
        ),
        (
            "empty",
            ipag_post("", "TransactionCaptured"),
            400,
            "empty_body",
        ),
        (
            "no event name",
            request(
                "POST",
                good,
                &[("Content-Type", "application/json")],
                Some(TOKEN),
            ),
            422,
            "missing_event",
        ),
        (
            "event headers disagree",
            request(
                "POST",
                good,
                &[
                    ("Content-Type", "application/json"),
                    ("X-Ipag-Event", "TransactionCaptured"),
                    ("Ipag-Event", "TransactionDenied"),
                ],
                Some(TOKEN),
            ),
            422,
            "invalid_event",
        ),
        (
            "no id",
            ipag_post(r#"{"resource": "transactions"}"#, "TransactionCaptured"),
            422,
            "missing_entity_id",
        ),
        (
            "too large",
            ipag_post(&large, "TransactionCaptured"),
            413,
            "body_too_large",
        ),
        (
            "form content type",
            request(
                "POST",
                good,
                &[
                    ("Content-Type", "application/x-www-form-urlencoded"),
                    ("X-Ipag-Event", "TransactionCaptured"),
                ],
                Some(TOKEN),
            ),
            415,
            "unsupported_media_type",
        ),
        (
            "no content type",
            request(
                "POST",
                good,
                &[("X-Ipag-Event", "TransactionCaptured")],
                Some(TOKEN),
            ),
            415,
            "unsupported_media_type",
        ),
        (
            "no token",
            request("POST", good, &json, None),
            401,
            "unauthorized",
        ),
        (
            "wrong token",
            request("POST", good, &json, Some("wrong-token-0123456789")),
            401,
            "unauthorized",
        ),
        (
            "GET",
            request("GET", good, &json, Some(TOKEN)),
            405,
            "method_not_allowed",
        ),
    ];
    let mut quarantined = 0;
    for (what, request, status, code) in cases {
        let (got, body) = send(&local, request).await;
        assert_eq!(
            (got, body["error"].as_str()),
            (status, Some(code)),
            "{what}: {body}"
        );
        assert!(body["message"].is_string(), "{what}");
        // With the token, a 400/413/422 is kept in the quarantine; 401, 405, 415 never.
        if matches!(got, 400 | 413 | 422) {
            quarantined += 1;
        }
    }
    let items = local.items().await;
    assert!(
        items.iter().all(|i| text(i, "kind") == "quarantine"),
        "nothing stored but the quarantine: {items:?}"
    );
    let kept: u64 = items
        .iter()
        .map(|i| webhook_aws::table::number(i, "deliveries").unwrap_or(0))
        .sum();
    assert_eq!(kept, quarantined);
    assert!(local.drain().await.is_empty());

    // An iugu route does not take iPag's JSON.
    let iugu = local
        .app(Iugu::ALL_EVENTS)
        .handle(ipag_post(good, "TransactionCaptured").with_raw_http_path("/iugu/events"))
        .await;
    assert_eq!(answer(&iugu).0, 415);
    assert_eq!(local.items().await, items, "a 415 is not kept");
    // Nor does an iugu function answer on iPag's path (API Gateway routes it to iPag's).
    let misrouted = local
        .app(Iugu::ALL_EVENTS)
        .handle(ipag_post(good, "TransactionCaptured"))
        .await;
    assert_eq!(answer(&misrouted).0, 404);
    assert_eq!(local.items().await, items, "a 404 is not kept");
}

/// With a signing key configured (`signing_key` in iPag's secret): a missing or wrong `X-Ipag-Signature` is 401, nothing
/// written; the right one (either header spelling) is stored.
#[tokio::test]
async fn the_signature_is_checked_when_a_secret_is_set() {
    let local = Local::new().await;
    let mut app = local.app(Ipag::UNSIGNED);
    let key = SignatureKey::new(Some(KEY)).expect("key");
    app.gateway = std::sync::Arc::new(Ipag {
        signing_key: Some(key.clone()),
    });
    let body =
        r#"{"id":7,"uuid":"u7","resource":"transactions","attributes":{"status":{"code":8}}}"#;
    let good = key.sign(body.as_bytes());
    let wrong = SignatureKey::new(Some("another-key"))
        .expect("key")
        .sign(body.as_bytes());
    let other_body = key.sign(br#"{"id":8}"#);
    let with = |signature: Option<(&'static str, &str)>| {
        let mut headers = vec![
            ("Content-Type", "application/json"),
            ("X-Ipag-Event", "TransactionCaptured"),
        ];
        headers.extend(signature);
        request("POST", body, &headers, Some(TOKEN))
    };
    for (what, request) in [
        ("no signature", with(None)),
        ("wrong key", with(Some(("X-Ipag-Signature", &wrong)))),
        (
            "another body's",
            with(Some(("X-Ipag-Signature", &other_body))),
        ),
        (
            "not hex",
            with(Some(("X-Ipag-Signature", "not-a-signature"))),
        ),
    ] {
        let (status, answer_) = answer(&app.handle(request).await);
        assert_eq!(
            (status, answer_["error"].as_str()),
            (401, Some("invalid_signature")),
            "{what}"
        );
        assert!(!answer_.to_string().contains(KEY));
    }
    assert!(local.items().await.is_empty());
    assert!(local.drain().await.is_empty());

    // Without the token, a good signature is not enough: both locks hold.
    let no_token = request(
        "POST",
        body,
        &[
            ("Content-Type", "application/json"),
            ("X-Ipag-Event", "TransactionCaptured"),
            ("X-Ipag-Signature", &good),
        ],
        None,
    );
    assert_eq!(answer(&app.handle(no_token).await).0, 401);

    let (status, _) = answer(&app.handle(with(Some(("X-Ipag-Signature", &good)))).await);
    assert_eq!(status, 200);
    let (status, again) = answer(&app.handle(with(Some(("Ipag-Signature", &good)))).await);
    assert_eq!((status, again["status"].as_str()), (200, Some("duplicate")));
    assert_eq!(local.events().await.len(), 1);

    // Without a secret (the default) the signature is not looked at.
    let (status, _) = send(&local, with(Some(("X-Ipag-Signature", "whatever")))).await;
    assert_eq!(status, 200);
}
